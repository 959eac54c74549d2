#!/usr/bin/env bash
# e2e.sh - run one cxlvmm end-to-end scenario: cxlvmm boots a real Linux guest.
#
# Usage: scripts/e2e.sh SCENARIO        (resources/scenarios/SCENARIO/)
#
# Modes:
#   direct  the host has a real KVM: build cxlvmm and run the scenario's host.sh
#           here.
#   nested  /dev/kvm is kvm_pvm (or missing): boot an L1 Linux in QEMU (TCG,
#           nested SVM), load kvm-amd there and run host.sh inside L1, where
#           cxlvmm boots the L2 guest.
# Either way host.sh gets CXLVMM, CXLVMM_REMOTE, KERNEL (L2 bzImage), INITRAMFS
# (L2 initramfs), WORKDIR (scratch dir), LIB (check.sh), CXL_GUEST (the guest
# tool, also in the L2 initramfs as /bin/cxl-guest), E2E_MODE, SCENARIO,
# SCENARIO_DIR and E2E_DRIVES in its environment, and the L2 guest runs the
# scenario's guest.sh from its /init. A scenario's `needs` file names
# host-side tools it uses: `virtiofsd` (scripts/fetch-virtiofsd.sh; copied
# into L1 with its libraries when nested) is then in host.sh's environment
# as VIRTIOFSD. A scenario's `timeout` file (seconds, # comments) is its
# overall limit when CXLVMM_E2E_TIMEOUT is not set.
#
# Drives: a scenario's optional prepare.sh runs here first (bash, as this
# script's user) and names disk images on "DRIVE=PATH" lines; nested, each is
# a virtio drive of the L1 VM and host.sh finds them in E2E_DRIVES as
# "/dev/vda /dev/vdb ..." (direct: the image paths). A scenario's optional
# after.sh runs here once the run is over, with E2E_DRIVES the images, to
# check what they hold; its checks count for the verdict.
#
# Environment:
#   CXLVMM_E2E_MODE=nested|direct   force the mode (default: detected)
#   CXLVMM_E2E_TIMEOUT=900          overall limit in seconds (QEMU or host.sh;
#                                   default: the scenario's `timeout`, or 900)
#   CXLVMM_E2E_SMP=1 CXLVMM_E2E_MEM=4G   L1 vCPUs and memory (nested)
#   CXLVMM_E2E_L1_APPEND=...        extra L1 kernel command line (nested)
#   CXLVMM_E2E_VERBOSE=1            show the whole console, not just results
#   CXLVMM_E2E_CXLVMM=PATH          use this cxlvmm instead of building one
#   CXLVMM_E2E_CXLVMM_REMOTE=PATH   same for cxlvmm-remote
#   CXLVMM_E2E_L1_FILES="SRC:DEST ..."   extra files for the L1 image (nested)
#   CXLVMM_E2E_L1_COMPRESS=gzip|none    L1 initramfs compression (nested)
#   E2E_GUEST_TIMEOUT, RUST_LOG     passed through to host.sh
#   E2E_L2_APPEND                   replaces 'quiet loglevel=1' on the L2 cmdline
#   E2E_SHOW_CONSOLE=1              print the whole L2 console at the end
#   CXLVMM_GUEST_SUITE              Debian suite of the kernel (fetch-guest.sh)
#   CXLVMM_E2E_L2_KERNEL=bzImage    boot this kernel as the L2 guest instead of
#                                   Debian's (a kernel under test, e.g. with the
#                                   DCD driver; what the scenario needs must be
#                                   built in: no modules are loaded into it)
#
# Output: CHECK/E2E lines as they happen; the whole console goes to
# target/e2e/SCENARIO/console.log. Exit status 0 only when "E2E-RESULT: PASS"
# was printed and no check failed.
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

[[ $# -eq 1 && $1 != -* ]] || {
    awk 'NR > 2 && !/^#/ { exit } NR > 2 { sub(/^# ?/, ""); print }' "$0" >&2
    exit 2
}
scenario=$1
scenario_dir=$ROOT/resources/scenarios/$scenario
if [[ ! -f $scenario_dir/host.sh ]]; then
    die "no scenario '$scenario' (have: $(cd "$ROOT/resources/scenarios" && echo */ | tr -d /))"
fi

timeout_s=900
if [[ -f $scenario_dir/timeout ]]; then
    timeout_s=$(sed 's/#.*//' "$scenario_dir/timeout" | tr -d ' \t\n')
    [[ $timeout_s =~ ^[1-9][0-9]*$ ]] || die "$scenario/timeout: '$timeout_s' is not a number of seconds"
fi
timeout_s=${CXLVMM_E2E_TIMEOUT:-$timeout_s}
out=$ROOT/target/e2e/$scenario
console=$out/console.log
mkdir -p "$out"
t_start=$SECONDS

# ---- mode ------------------------------------------------------------------
mode=${CXLVMM_E2E_MODE:-}
if [[ -z $mode ]]; then
    if [[ -d /sys/module/kvm_pvm || ! -c /dev/kvm ]]; then mode=nested; else mode=direct; fi
fi
[[ $mode == nested || $mode == direct ]] || die "CXLVMM_E2E_MODE must be nested or direct, not '$mode'"
log "scenario $scenario, mode $mode"

# ---- guest kernel and busybox --------------------------------------------------
KVER="" KERNEL="" MODDIR="" BUSYBOX=""
while IFS='=' read -r key value; do
    case $key in KVER | KERNEL | MODDIR | BUSYBOX) printf -v "$key" '%s' "$value" ;; esac
done < <("$ROOT/scripts/fetch-guest.sh")
[[ -f $KERNEL && -d $MODDIR && -x $BUSYBOX ]] || die "fetch-guest.sh gave no usable kernel"
# L1 always runs Debian's kernel (it needs its kvm-amd module); L2 runs the
# kernel under test when one is given.
L2_KERNEL=$KERNEL
if [[ -n ${CXLVMM_E2E_L2_KERNEL:-} ]]; then
    L2_KERNEL=$(realpath "$CXLVMM_E2E_L2_KERNEL") || die "no kernel '$CXLVMM_E2E_L2_KERNEL'"
    [[ -f $L2_KERNEL ]] || die "CXLVMM_E2E_L2_KERNEL: '$L2_KERNEL' is not a file"
    log "guest kernel $KVER (L1), $L2_KERNEL (L2)"
else
    log "guest kernel $KVER"
fi

# ---- cxlvmm binaries ---------------------------------------------------------
CXLVMM=${CXLVMM_E2E_CXLVMM:-}
CXLVMM_REMOTE=${CXLVMM_E2E_CXLVMM_REMOTE:-}
if [[ -z $CXLVMM ]]; then
    t=$SECONDS
    build_args=()
    [[ $mode == direct ]] && build_args=(--dynamic)
    built=$("$ROOT/scripts/build-static.sh" "${build_args[@]}") || die "building cxlvmm failed"
    while IFS='=' read -r key value; do
        case $key in CXLVMM | CXLVMM_REMOTE) printf -v "$key" '%s' "$value" ;; esac
    done <<<"$built"
    log "cxlvmm built in $((SECONDS - t))s: $CXLVMM"
fi
[[ -x $CXLVMM ]] || die "cxlvmm binary '$CXLVMM' is not executable"

# ---- guest tool (runs in L2, and on the host side for checks: always static) --
t=$SECONDS
guest_target=$ROOT/target/static
RUSTFLAGS='-C target-feature=+crt-static' cargo build --quiet --release \
    --target x86_64-unknown-linux-gnu --target-dir "$guest_target" \
    -p cxlvmm-guest-tool --bin cxl-guest || die "building cxl-guest failed"
CXL_GUEST=$guest_target/x86_64-unknown-linux-gnu/release/cxl-guest
log "cxl-guest built in $((SECONDS - t))s"

# ---- host-side tools the scenario needs ------------------------------------------
VIRTIOFSD=""
needs=""
[[ -f $scenario_dir/needs ]] && needs=$(sed 's/#.*//' "$scenario_dir/needs")
for tool in $needs; do
    case $tool in
    virtiofsd)
        VIRTIOFSD=$("$ROOT/scripts/fetch-virtiofsd.sh" | sed -n 's/^VIRTIOFSD=//p')
        [[ -x $VIRTIOFSD ]] || die "scripts/fetch-virtiofsd.sh gave no virtiofsd"
        ;;
    *) die "scenario $scenario needs '$tool', which e2e.sh cannot provide" ;;
    esac
done

# l1_virtiofsd DIR: virtiofsd's wrapper, binary, loader and the libraries it
# links, laid out as fetch-virtiofsd.sh does (DIR/bin/virtiofsd finds
# DIR/virtiofsd/), and nothing else of the extracted packages.
l1_virtiofsd() {
    local dest=$1 src lib line name path
    src=$(dirname "$(readlink -f "$VIRTIOFSD")")/../virtiofsd
    lib=$src/usr/lib/x86_64-linux-gnu
    rm -rf "$dest"
    mkdir -p "$dest/bin" "$dest/virtiofsd/usr/libexec" "$dest/virtiofsd/usr/lib/x86_64-linux-gnu"
    cp "$VIRTIOFSD" "$dest/bin/virtiofsd"
    cp "$src/usr/libexec/virtiofsd" "$dest/virtiofsd/usr/libexec/virtiofsd"
    while read -r line; do
        name=${line%% *}
        path=$(awk '$2 == "=>" { print $3 }' <<<"$line")
        [[ -n $path ]] || continue
        cp -L "$path" "$dest/virtiofsd/usr/lib/x86_64-linux-gnu/${name##*/}"
    done < <("$lib/ld-linux-x86-64.so.2" --library-path "$lib" --list "$src/usr/libexec/virtiofsd")
    [[ -f $dest/virtiofsd/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 ]] ||
        die "no loader found for virtiofsd"
}

# ---- drives (prepare.sh) -------------------------------------------------------
drives=()
if [[ -f $scenario_dir/prepare.sh ]]; then
    t_prep=$SECONDS
    # prepare.sh gets the guest kernels and where to put what it makes.
    prepared=$(env ROOT="$ROOT" OUT="$out" KVER="$KVER" KERNEL="$KERNEL" MODDIR="$MODDIR" \
        L2_KERNEL="$L2_KERNEL" bash "$scenario_dir/prepare.sh") || die "$scenario/prepare.sh failed"
    while IFS='=' read -r key value; do
        [[ $key == DRIVE ]] || continue
        [[ -f $value || -b $value ]] || die "$scenario/prepare.sh: drive '$value' is not a file"
        drives+=("$(realpath "$value")")
    done <<<"$prepared"
    log "prepared in $((SECONDS - t_prep))s: ${#drives[@]} drive(s) ${drives[*]}"
fi
# What host.sh sees: the L1 VM's virtio disks (in order), or the images.
drive_names="" letters=abcdefghijklmnopqrstuvwxyz
for i in "${!drives[@]}"; do
    if [[ $mode == nested ]]; then
        drive_names+="${drive_names:+ }/dev/vd${letters:i:1}"
    else
        drive_names+="${drive_names:+ }${drives[i]}"
    fi
done

# ---- L2 initramfs -------------------------------------------------------------
t=$SECONDS
l2_initramfs=$out/l2-initramfs.cpio.gz
l2_args=(-o "$l2_initramfs" -i "$ROOT/resources/guest/init" -b "$BUSYBOX" -d "$MODDIR"
    -f "$ROOT/resources/lib:/lib" -f "$scenario_dir:/scenario"
    -f "$CXL_GUEST:/bin/cxl-guest")
if [[ -f $scenario_dir/modules && $L2_KERNEL == "$KERNEL" ]]; then
    l2_args+=(-M "$scenario_dir/modules")
fi
"$ROOT/scripts/build-initramfs.sh" "${l2_args[@]}"

# ---- console filter ----------------------------------------------------------
verbose=${CXLVMM_E2E_VERBOSE:-0}
# show_console: copy stdin (a console) to $console without \r, echoing result
# lines (CHECK ..., E2E-...: ...) and the framed diagnostics of check_tail.
show_console() {
    local line framed=0
    exec 3>"$console"
    while IFS= read -r line || [[ -n $line ]]; do
        line=${line//$'\r'/}
        # Drop terminal control sequences (SeaBIOS clears the screen).
        while [[ $line =~ $'\e'(\[[0-9\;?]*[A-Za-z]|c) ]]; do
            line=${line/"${BASH_REMATCH[0]}"/}
        done
        printf '%s\n' "$line" >&3
        if [[ $verbose == 1 ]]; then
            printf '  | %s\n' "$line"
        elif [[ $line == "----- end -----" ]]; then
            framed=0
            printf '%s\n' "$line"
        elif [[ $framed == 1 || $line == "----- "*" -----" ]]; then
            framed=1
            printf '%s\n' "$line"
        elif [[ $line =~ (CHECK (PASS|FAIL): |CHECK-SUMMARY: |E2E-[A-Z0-9]+: ).* ]]; then
            printf '%s\n' "${BASH_REMATCH[0]}"
        fi
    done
    exec 3>&-
}

runner_pid=""
# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
    if [[ -n $runner_pid ]] && kill -0 "$runner_pid" 2>/dev/null; then
        kill -TERM "$runner_pid" 2>/dev/null || true
        wait "$runner_pid" 2>/dev/null || true
    fi
    rm -f "$out/console.fifo"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# run_filtered CMD...: run CMD under the overall timeout, its output through
# show_console; sets run_rc.
run_filtered() {
    local fifo=$out/console.fifo
    rm -f "$fifo"
    mkfifo "$fifo"
    timeout -k 10 "$timeout_s" "$@" </dev/null >"$fifo" 2>&1 &
    runner_pid=$!
    show_console <"$fifo"
    run_rc=0
    wait "$runner_pid" || run_rc=$?
    runner_pid=""
    if [[ $run_rc -eq 124 || $run_rc -eq 137 ]]; then
        echo "E2E-TIMEOUT: killed after ${timeout_s}s (CXLVMM_E2E_TIMEOUT)" | tee -a "$console"
    fi
}

env_assignments() {
    printf '%s\n' "SCENARIO=$scenario" "SCENARIO_DIR=$1" "CXLVMM=$2" "CXLVMM_REMOTE=$3" \
        "KERNEL=$4" "INITRAMFS=$5" "WORKDIR=$6" "LIB=$7" "CXL_GUEST=$8" "E2E_MODE=$mode" \
        "E2E_DRIVES=$drive_names"
    [[ -n ${E2E_GUEST_TIMEOUT:-} ]] && echo "E2E_GUEST_TIMEOUT=$E2E_GUEST_TIMEOUT"
    [[ -n ${RUST_LOG:-} ]] && echo "RUST_LOG=$RUST_LOG"
    [[ -n ${E2E_L2_APPEND:-} ]] && echo "E2E_L2_APPEND=$E2E_L2_APPEND"
    [[ -n ${E2E_SHOW_CONSOLE:-} ]] && echo "E2E_SHOW_CONSOLE=$E2E_SHOW_CONSOLE"
    [[ -n ${host_virtiofsd:-} ]] && echo "VIRTIOFSD=$host_virtiofsd"
    return 0
}

t_run=$SECONDS
if [[ $mode == nested ]]; then
    command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing (run scripts/setup-host.sh)"
    # Environment for host.sh inside L1 (sourced by busybox sh: quote values).
    env_file=$out/l1-env
    remote_dest=""
    [[ -n $CXLVMM_REMOTE ]] && remote_dest=/e2e/bin/cxlvmm-remote
    host_virtiofsd=""
    [[ -n $VIRTIOFSD ]] && host_virtiofsd=/e2e/tools/bin/virtiofsd
    env_assignments /e2e/scenario /e2e/bin/cxlvmm "$remote_dest" /e2e/l2/bzImage \
        /e2e/l2/initramfs.cpio.gz /tmp/work /e2e/lib/check.sh /e2e/bin/cxl-guest |
        sed "s/'/'\\\\''/g; s/=\(.*\)/='\1'/" >"$env_file"

    l1_initramfs=$out/l1-initramfs.cpio.gz
    l1_args=(-o "$l1_initramfs" -z "${CXLVMM_E2E_L1_COMPRESS:-gzip}"
        -i "$ROOT/resources/l1/init" -b "$BUSYBOX" -d "$MODDIR" -M "$ROOT/resources/l1/modules"
        -f "$CXLVMM:/e2e/bin/cxlvmm" -f "$CXL_GUEST:/e2e/bin/cxl-guest"
        -f "$L2_KERNEL:/e2e/l2/bzImage"
        -f "$l2_initramfs:/e2e/l2/initramfs.cpio.gz"
        -f "$ROOT/resources/lib/check.sh:/lib/check.sh"
        -f "$ROOT/resources/lib:/e2e/lib"
        -f "$scenario_dir:/e2e/scenario" -f "$env_file:/e2e/env")
    [[ -n $CXLVMM_REMOTE ]] && l1_args+=(-f "$CXLVMM_REMOTE:/e2e/bin/cxlvmm-remote")
    # Modules the scenario needs in L1 besides kvm-amd (tun for a tap).
    [[ -f $scenario_dir/l1-modules ]] && l1_args+=(-M "$scenario_dir/l1-modules")
    if [[ -n $VIRTIOFSD ]]; then
        l1_virtiofsd "$out/l1-virtiofsd"
        l1_args+=(-f "$out/l1-virtiofsd:/e2e/tools")
    fi
    # The drives are virtio disks in L1 (virtio_pci is built in).
    [[ ${#drives[@]} -gt 0 ]] && l1_args+=(-m virtio_blk)
    for spec in ${CXLVMM_E2E_L1_FILES:-}; do l1_args+=(-f "$spec"); done
    "$ROOT/scripts/build-initramfs.sh" "${l1_args[@]}"
    log "initramfs images built in $((SECONDS - t))s"

    # The verified recipe: nested SVM with NPT under TCG, one vCPU by default.
    cpu_model=EPYC-v4,+svm,+npt
    qemu=(qemu-system-x86_64 -accel tcg -cpu "$cpu_model" -machine pc
        -m "${CXLVMM_E2E_MEM:-4G}" -smp "${CXLVMM_E2E_SMP:-1}"
        -nographic -no-reboot -nic none
        -kernel "$KERNEL" -initrd "$l1_initramfs"
        -append "console=ttyS0 panic=-1 quiet${CXLVMM_E2E_L1_APPEND:+ $CXLVMM_E2E_L1_APPEND}")
    for d in "${drives[@]}"; do qemu+=(-drive "file=${d//,/,,},format=raw,if=virtio"); done
    printf '%q ' "${qemu[@]}" >"$out/qemu.cmd"
    echo >>"$out/qemu.cmd"
    log "booting L1 under QEMU TCG (timeout ${timeout_s}s; command in $out/qemu.cmd)"
    t_run=$SECONDS
    run_filtered "${qemu[@]}"
else
    log "initramfs built in $((SECONDS - t))s"
    workdir=$out/work
    rm -rf "$workdir"
    mkdir -p "$workdir"
    host_virtiofsd=$VIRTIOFSD
    env_args=()
    while IFS= read -r assignment; do env_args+=("$assignment"); done < <(
        env_assignments "$scenario_dir" "$CXLVMM" "$CXLVMM_REMOTE" "$L2_KERNEL" \
            "$l2_initramfs" "$workdir" "$ROOT/resources/lib/check.sh" "$CXL_GUEST"
    )
    log "running $scenario/host.sh on the host (timeout ${timeout_s}s)"
    cd "$workdir"
    t_run=$SECONDS
    run_filtered env "${env_args[@]}" sh "$scenario_dir/host.sh"
    if [[ $run_rc -eq 0 ]]; then result=PASS; else result=FAIL; fi
    echo "E2E-RESULT: $result" | tee -a "$console"
fi
t_end=$SECONDS

# ---- after.sh: what the drives hold once the run is over -------------------------
after_rc=0
if [[ -f $scenario_dir/after.sh ]]; then
    log "running $scenario/after.sh on the host"
    env SCENARIO="$scenario" SCENARIO_DIR="$scenario_dir" E2E_MODE="$mode" \
        E2E_DRIVES="${drives[*]}" E2E_CONSOLE="$console" LIB="$ROOT/resources/lib/check.sh" \
        sh "$scenario_dir/after.sh" >"$out/after.log" 2>&1 || after_rc=$?
    cat "$out/after.log" >>"$console"
    cat "$out/after.log"
    [[ $after_rc -eq 0 ]] || log "$scenario/after.sh failed (exit $after_rc)"
fi

# ---- verdict -----------------------------------------------------------------
pass=0
if grep -q 'E2E-RESULT: PASS' "$console" && ! grep -q 'CHECK FAIL: ' "$console" && [[ $after_rc -eq 0 ]]; then
    pass=1
fi
summary="$scenario ($mode) in $((t_end - t_start))s (run $((t_end - t_run))s)"
if [[ $pass == 1 ]]; then
    log "PASS: $summary"
    log "console log: $console"
    exit 0
fi
if ! grep -q 'E2E-RESULT: ' "$console"; then
    echo "----- last 60 lines of $console -----"
    tail -n 60 "$console"
    echo "----- end -----"
fi
log "FAIL: $summary"
log "console log: $console"
exit 1
