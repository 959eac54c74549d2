#!/usr/bin/env bash
# build-static.sh - build statically linked cxlvmm binaries for the L1 VM.
#
# The nested e2e tests run cxlvmm inside a busybox-only L1 VM, so the binaries
# must not need a libc. Builds with crt-static for x86_64-unknown-linux-gnu in
# its own target dir (target/static) so it does not thrash the normal build
# cache, then prints one NAME=PATH line per binary on stdout:
#   CXLVMM=.../cxlvmm  [CXLVMM_REMOTE=.../cxlvmm-remote]
# Usage: build-static.sh [--dynamic]   (--dynamic: plain `cargo build --release`
# into target/, for running directly on the host)
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

mode=static
[[ ${1:-} == --dynamic ]] && mode=dynamic

cd "$ROOT"
# Binaries to build: cxlvmm, plus cxlvmm-remote once the workspace has it.
bins=(cxlvmm)
if cargo metadata --no-deps --format-version 1 2>/dev/null |
    grep -q '"kind":\["bin"\],[^{}]*"name":"cxlvmm-remote"'; then
    bins+=(cxlvmm-remote)
fi
bin_args=()
for b in "${bins[@]}"; do bin_args+=(--bin "$b"); done

start=$SECONDS
if [[ $mode == static ]]; then
    triple=x86_64-unknown-linux-gnu
    target_dir=${CXLVMM_STATIC_TARGET_DIR:-$ROOT/target/static}
    log "cargo build --release --target $triple (crt-static) ${bin_args[*]}"
    RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
        cargo build --quiet --release --target "$triple" --target-dir "$target_dir" "${bin_args[@]}"
    out=$target_dir/$triple/release
else
    log "cargo build --release ${bin_args[*]}"
    cargo build --quiet --release "${bin_args[@]}"
    out=${CARGO_TARGET_DIR:-$ROOT/target}/release
fi
log "built in $((SECONDS - start))s"

for b in "${bins[@]}"; do
    [[ -x $out/$b ]] || die "$out/$b was not built"
    if [[ $mode == static ]] && command -v readelf >/dev/null &&
        readelf -lW "$out/$b" | grep -q 'Requesting program interpreter'; then
        die "$out/$b is dynamically linked"
    fi
    var=${b^^}
    printf '%s=%s\n' "${var//-/_}" "$out/$b"
done
