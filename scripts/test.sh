#!/usr/bin/env bash
# test.sh - the project's complete test run (README's test command); stops
# at the first failure. Run as root, or as a user with sudo, on a fresh
# machine: the first time it installs QEMU and the host tools (as root).
#
#   1. cargo fmt --all --check
#   2. cargo clippy --workspace --all-targets -- -D warnings
#   3. cargo test --workspace, with CXLVMM_IASL / CXLVMM_ACPIEXEC pointing at
#      the iasl/acpiexec wrappers of scripts/fetch-iasl.sh and CXLVMM_VIRTIOFSD
#      at the virtiofsd wrapper of scripts/fetch-virtiofsd.sh
#   4. the fuzz crate (fuzz/): fmt, its harness tests, then every
#      fuzz target through scripts/fuzz.sh (which installs cargo-fuzz if
#      missing) for CXLVMM_FUZZ_RUNS inputs (default 30000) from seed
#      CXLVMM_FUZZ_SEED (default 1), at most 4x CXLVMM_FUZZ_SECONDS each
#      (default 15; 0 skips this step)
#   5. scripts/e2e.sh for every scenario in CXLVMM_E2E_SCENARIOS (default:
#      "boot cxl-static cxl-interleave dcd demo disk share-net rootfs
#      inject"; set it to "" to skip them; demo is the README's first
#      command, rootfs boots the image of scripts/build-rootfs.sh, inject
#      runs its ndctl against injections, faults, FW update and Sanitize)
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ROOT"

# The KVM, hugetlbfs and tmpfs tests need root: a user with sudo runs the
# whole test run through it, with their own Rust toolchain.
if [[ $EUID -ne 0 ]]; then
    command -v sudo >/dev/null || die "the tests need root: run as root, or as a user with sudo"
    log "not root: running through sudo"
    keep=()
    while IFS= read -r v; do keep+=("$v=${!v}"); done < <(compgen -e | grep -E '^(CXLVMM_|E2E_|RUST_LOG$)')
    exec sudo -- env PATH="$PATH" RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}" \
        CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}" "${keep[@]}" "$0" "$@"
fi

SCENARIOS=${CXLVMM_E2E_SCENARIOS-boot cxl-static cxl-interleave dcd demo disk share-net rootfs inject}
FUZZ_SECONDS=${CXLVMM_FUZZ_SECONDS:-15}

step() {
    local name=$1 t=$SECONDS
    shift
    log "==> $name: $*"
    if ! "$@"; then
        log "FAILED at step '$name' ($*) after $((SECONDS - t))s"
        exit 1
    fi
    log "ok: $name ($((SECONDS - t))s)"
}

# Host preparation (apt sources, QEMU, tools; needs root, through sudo when
# we are not root), iasl/acpiexec for the ACPI tests, the guest kernel and
# busybox: all idempotent and cached, so a rerun costs seconds.
step setup-host as_root "$ROOT/scripts/setup-host.sh"
# A hugetlbfs mount with a few 2 MiB pages for the hugetlbfs backend test.
if [[ -z ${CXLVMM_HUGETLBFS:-} ]]; then
    hp=$CACHE/hugetlbfs
    mkdir -p "$hp"
    if (($(cat /proc/sys/vm/nr_hugepages) < 8)); then as_root sh -c 'echo 8 >/proc/sys/vm/nr_hugepages'; fi
    mountpoint -q "$hp" || as_root mount -t hugetlbfs -o "pagesize=2M,uid=$EUID" none "$hp"
    export CXLVMM_HUGETLBFS=$hp
fi
export CXLVMM_IASL=${CXLVMM_IASL:-$CACHE/bin/iasl}
export CXLVMM_ACPIEXEC=${CXLVMM_ACPIEXEC:-$CACHE/bin/acpiexec}
step fetch-iasl "$ROOT/scripts/fetch-iasl.sh"
export CXLVMM_VIRTIOFSD=${CXLVMM_VIRTIOFSD:-$CACHE/bin/virtiofsd}
step fetch-virtiofsd "$ROOT/scripts/fetch-virtiofsd.sh"
step fetch-guest "$ROOT/scripts/fetch-guest.sh"

step fmt cargo fmt --all --check
step clippy cargo clippy --workspace --all-targets --features devices/test-rig -- -D warnings
step test cargo test --workspace
if [[ $FUZZ_SECONDS != 0 ]]; then
    # The fuzz crate is its own workspace, outside `--all`/`--workspace`.
    step fuzz-fmt cargo fmt --manifest-path fuzz/Cargo.toml --check
    # Its Cargo.lock pins the versions the main one does, so in the main
    # target directory the harness tests reuse most of what `test` built.
    step fuzz-harness cargo test --manifest-path fuzz/Cargo.toml --lib \
        --target-dir "${CARGO_TARGET_DIR:-$ROOT/target}"
    # A fixed seed and input count: the step explores the same inputs on
    # every run, so it fails for a change, never for a lucky draw. Hunting
    # new bugs is for `scripts/fuzz.sh all SECONDS` runs without them.
    CXLVMM_FUZZ_SEED=${CXLVMM_FUZZ_SEED:-1} CXLVMM_FUZZ_RUNS=${CXLVMM_FUZZ_RUNS:-30000} \
        step fuzz "$ROOT/scripts/fuzz.sh" all "$((FUZZ_SECONDS * 4))"
fi
for scenario in $SCENARIOS; do
    step "e2e-$scenario" "$ROOT/scripts/e2e.sh" "$scenario"
done
log "all tests passed"
