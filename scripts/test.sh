#!/usr/bin/env bash
# test.sh - the project's complete test run (README's test command); stops
# at the first failure. Run as root on a fresh machine (it installs QEMU and
# the host tools the first time).
#
#   1. cargo fmt --all --check
#   2. cargo clippy --workspace --all-targets -- -D warnings
#   3. cargo test --workspace, with CXLVMM_IASL / CXLVMM_ACPIEXEC pointing at
#      the iasl/acpiexec wrappers of scripts/fetch-iasl.sh
#   4. the fuzz crate (fuzz/): fmt, its harness tests, then every
#      fuzz target for CXLVMM_FUZZ_SECONDS each (default 15; 0 skips this
#      step) through scripts/fuzz.sh, which installs cargo-fuzz if missing
#   5. scripts/e2e.sh for every scenario in CXLVMM_E2E_SCENARIOS (default:
#      "boot cxl-static cxl-interleave dcd"; set it to "" to skip them)
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ROOT"

SCENARIOS=${CXLVMM_E2E_SCENARIOS-boot cxl-static cxl-interleave dcd}
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

# Host preparation (apt sources, QEMU, tools; needs root the first time),
# iasl/acpiexec for the ACPI tests, the guest kernel and busybox: all
# idempotent and cached, so a rerun costs seconds.
if [[ $EUID -eq 0 ]]; then
    step setup-host "$ROOT/scripts/setup-host.sh"
elif [[ -n $SCENARIOS ]] && ! command -v qemu-system-x86_64 >/dev/null; then
    log "QEMU is missing: run as root once (sudo scripts/test.sh) to install it"
    exit 1
fi
# A hugetlbfs mount with a few 2 MiB pages for the hugetlbfs backend test.
if [[ $EUID -eq 0 && -z ${CXLVMM_HUGETLBFS:-} ]]; then
    hp=$CACHE/hugetlbfs
    mkdir -p "$hp"
    if (($(cat /proc/sys/vm/nr_hugepages) < 8)); then echo 8 >/proc/sys/vm/nr_hugepages; fi
    mountpoint -q "$hp" || mount -t hugetlbfs -o pagesize=2M none "$hp"
    export CXLVMM_HUGETLBFS=$hp
fi
export CXLVMM_IASL=${CXLVMM_IASL:-$CACHE/bin/iasl}
export CXLVMM_ACPIEXEC=${CXLVMM_ACPIEXEC:-$CACHE/bin/acpiexec}
step fetch-iasl "$ROOT/scripts/fetch-iasl.sh"
step fetch-guest "$ROOT/scripts/fetch-guest.sh"

step fmt cargo fmt --all --check
step clippy cargo clippy --workspace --all-targets -- -D warnings
step test cargo test --workspace
if [[ $FUZZ_SECONDS != 0 ]]; then
    # The fuzz crate is its own workspace, outside `--all`/`--workspace`.
    step fuzz-fmt cargo fmt --manifest-path fuzz/Cargo.toml --check
    # Its Cargo.lock pins the versions the main one does, so in the main
    # target directory the harness tests reuse most of what `test` built.
    step fuzz-harness cargo test --manifest-path fuzz/Cargo.toml --lib \
        --target-dir "${CARGO_TARGET_DIR:-$ROOT/target}"
    step fuzz "$ROOT/scripts/fuzz.sh" all "$FUZZ_SECONDS"
fi
for scenario in $SCENARIOS; do
    step "e2e-$scenario" "$ROOT/scripts/e2e.sh" "$scenario"
done
log "all tests passed"
