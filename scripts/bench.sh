#!/usr/bin/env bash
# bench.sh - cxlvmm against QEMU on the same machine, same guest, same CXL
# topology: read, write and memcpy bandwidth measured from inside the guest
# on guest RAM, static CXL memory, an accepted Dynamic Capacity extent and
# 2-way interleaves at 4 KiB and 256 B; the host's own memcpy as the limit;
# Add DC Response / Release DC times (2 MiB, 1 GiB); adding N extents.
#
# Usage: scripts/bench.sh
#
# Runs the `bench` scenario (resources/scenarios/bench/) through
# scripts/e2e.sh: nested (QEMU TCG boots an L1 Linux with kvm_amd; inside it
# cxlvmm and then QEMU with KVM each boot the L2 guest) or directly on a KVM
# host. Nested, this host's qemu-system-x86_64, its shared libraries (ldd) and
# the firmware it loads for -kernel boot are copied into the L1 image.
#
# Output: target/bench/results.json, results.md (also printed) and *.svg
# (drawn by tests/bench-report); the raw lines are in
# target/e2e/bench/console.log.
#
# Environment:
#   CXLVMM_BENCH_TINY=1           development sizes (1 MiB, 1 pass, N = 1 4,
#                                 one DC timing each)
#   CXLVMM_BENCH_MAXLEN=16M       the buffer of every path faster than 10 MB/s
#                                 (at most 256M, the static region's size;
#                                 nested, larger buffers measure TCG's TLB)
#   CXLVMM_BENCH_BUDGET_MS=400    time one pass of a slower (emulated) path
#                                 should take: its buffer scales to it
#   CXLVMM_BENCH_PASSES=7         timed passes per operation (median reported)
#   CXLVMM_BENCH_DC_REPS=3        repetitions of each DC add/release timing
#   CXLVMM_BENCH_DC_NS="1 16 256" extent counts for the end-to-end adds
#   CXLVMM_BENCH_VMMS="cxlvmm qemu"
#   CXLVMM_BENCH_QEMU=qemu-system-x86_64
#   CXLVMM_BENCH_PUBLISH=1        also copy results.json, results.md and the
#                                 plots to docs/perf/ (for docs/PERFORMANCE.md)
#   CXLVMM_E2E_MODE, CXLVMM_E2E_MEM, CXLVMM_E2E_TIMEOUT (default 3600) as for
#   e2e.sh
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

[[ $# -eq 0 ]] || {
    awk 'NR > 2 && !/^#/ { exit } NR > 2 { sub(/^# ?/, ""); print }' "$0" >&2
    exit 2
}
t_start=$SECONDS
out=$ROOT/target/bench
mkdir -p "$out"

# size_bytes 32M -> 33554432
size_bytes() {
    local s=${1^^} n
    n=${s%[KMG]}
    case $s in
    *K) echo $((n << 10)) ;;
    *M) echo $((n << 20)) ;;
    *G) echo $((n << 30)) ;;
    *) echo "$s" ;;
    esac
}

if [[ ${CXLVMM_BENCH_TINY:-0} == 1 ]]; then
    maxlen=1M budget=150 passes=1 ns="1 4" reps=1
else
    maxlen=16M budget=400 passes=7 ns="1 16 256"
fi
maxlen=$(size_bytes "${CXLVMM_BENCH_MAXLEN:-$maxlen}")
budget=${CXLVMM_BENCH_BUDGET_MS:-$budget}
passes=${CXLVMM_BENCH_PASSES:-$passes}
ns=${CXLVMM_BENCH_DC_NS:-$ns}
reps=${CXLVMM_BENCH_DC_REPS:-${reps:-3}}
vmms=${CXLVMM_BENCH_VMMS:-cxlvmm qemu}
qemu=${CXLVMM_BENCH_QEMU:-qemu-system-x86_64}
[[ $maxlen =~ ^[0-9]+$ && $maxlen -ge 8192 && $maxlen -le $((256 << 20)) ]] ||
    die "CXLVMM_BENCH_MAXLEN must be 8K to 256M"
# The DC extent measured: the buffer, in whole 2 MiB blocks.
dc_len=$(((maxlen + (2 << 20) - 1) / (2 << 20) * (2 << 20)))

mode=${CXLVMM_E2E_MODE:-}
if [[ -z $mode ]]; then
    if [[ -d /sys/module/kvm_pvm || ! -c /dev/kvm ]]; then mode=nested; else mode=direct; fi
fi

# ---- QEMU for L1: binary, shared libraries, firmware ---------------------------
# stage_qemu DIR: DIR/bin/qemu-system-x86_64, DIR/lib/* (ld-linux first), and
# DIR/share with what -kernel boot of a q35 machine loads.
stage_qemu() {
    local dir=$1 bin lib f found
    bin=$(command -v "$qemu") || die "$qemu missing (run scripts/setup-host.sh)"
    rm -rf "$dir"
    mkdir -p "$dir/bin" "$dir/lib" "$dir/share"
    cp -L "$bin" "$dir/bin/qemu-system-x86_64"
    while read -r lib; do
        [[ -f $lib ]] && cp -L "$lib" "$dir/lib/"
    done < <(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
    [[ -f $dir/lib/ld-linux-x86-64.so.2 ]] || die "no ld-linux-x86-64.so.2 in ldd $bin"
    for f in bios-256k.bin linuxboot_dma.bin kvmvapic.bin; do
        found=""
        for d in /usr/share/qemu /usr/share/seabios /usr/lib/ipxe/qemu; do
            if [[ -f $d/$f ]]; then
                found=$d/$f
                break
            fi
        done
        [[ -n $found ]] || die "QEMU firmware $f not found"
        cp -L "$found" "$dir/share/"
    done
}

export BENCH_MAXLEN=$maxlen BENCH_BUDGET_MS=$budget BENCH_PASSES=$passes \
    BENCH_DC_LEN=$dc_len BENCH_DC_REPS=$reps BENCH_DC_NS=$ns BENCH_VMMS=$vmms BENCH_QEMU=$qemu
export E2E_GUEST_TIMEOUT=${E2E_GUEST_TIMEOUT:-1800}
export CXLVMM_E2E_TIMEOUT=${CXLVMM_E2E_TIMEOUT:-3600}
log "mode $mode; buffers up to $maxlen bytes, ${budget} ms per pass, $passes passes; N = $ns; VMMs: $vmms"
if [[ $mode == nested ]]; then
    t=$SECONDS
    stage_qemu "$out/qemu-l1"
    log "QEMU staged for L1 in $((SECONDS - t))s ($(du -sh "$out/qemu-l1" | cut -f1))"
    env_file=$out/bench.env
    {
        printf "BENCH_%s='%s'\n" MAXLEN "$maxlen" BUDGET_MS "$budget" PASSES "$passes" \
            DC_LEN "$dc_len" DC_REPS "$reps" DC_NS "$ns" VMMS "$vmms" QEMU_DATA /opt/qemu/share \
            QEMU "/opt/qemu/lib/ld-linux-x86-64.so.2 --library-path /opt/qemu/lib /opt/qemu/bin/qemu-system-x86_64"
    } >"$env_file"
    export CXLVMM_E2E_L1_FILES="${CXLVMM_E2E_L1_FILES:-} $out/qemu-l1:/opt/qemu $env_file:/e2e/bench.env"
    # An uncompressed L1 image: QEMU's libraries would take TCG long to inflate.
    export CXLVMM_E2E_L1_COMPRESS=${CXLVMM_E2E_L1_COMPRESS:-none}
fi

rc=0
CXLVMM_E2E_MODE=$mode "$ROOT/scripts/e2e.sh" bench || rc=$?
t_run=$((SECONDS - t_start))

# ---- report -------------------------------------------------------------------
t=$SECONDS
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
cargo build --quiet --release -p bench-report || die "building bench-report failed"
report=$CARGO_TARGET_DIR/release/bench-report
host_desc="$(nproc) CPU(s), $(uname -r), $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1)"
"$report" collect "$ROOT/target/e2e/bench/console.log" "$out/results.json" \
    --mode "$mode" --host "$host_desc" --seconds "$t_run"
"$report" render "$out/results.json" "$out"
log "report in $((SECONDS - t))s: $out/results.json, results.md, $(cd "$out" && echo ./*.svg)"
if [[ ${CXLVMM_BENCH_PUBLISH:-0} == 1 ]]; then
    mkdir -p "$ROOT/docs/perf"
    cp "$out/results.json" "$out/results.md" "$out"/*.svg "$ROOT/docs/perf/"
    log "copied to docs/perf/"
fi
echo
cat "$out/results.md"
echo
log "whole run $((SECONDS - t_start))s (e2e.sh exit $rc)"
exit "$rc"
