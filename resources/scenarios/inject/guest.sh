# shellcheck shell=sh
# inject/guest.sh - inside the guest: the trace events Linux's CXL drivers
# emit for what the host injects, and what ndctl's `cxl` (from the Debian
# root on /dev/vda, run in a chroot: no systemd boot) reads and sets; then
# a fault cxl reports, a firmware update and a sanitize (see host.sh). The
# run's second VM (e2e.part=dcd) answers Dynamic Capacity from user space.
# shellcheck source=resources/lib/cxl.sh
. /lib/cxl.sh

T=/sys/kernel/tracing

# wait_input WORD: until the host types WORD on the console.
wait_input() {
    while read -r -t 300 _line; do
        [ "$_line" = "$1" ] && return 0
    done
    return 1
}

# traced NAME PATTERN: a trace line matching PATTERN within 10 s.
traced() {
    _t_n=100
    while ! grep -qE "$2" $T/trace && [ "$_t_n" -gt 0 ]; do
        sleep 0.1
        _t_n=$((_t_n - 1))
    done
    if grep -qE "$2" $T/trace; then
        check_pass "$1"
        echo "E2E-INFO: $(grep -E "$2" $T/trace | head -n 1)"
    else
        check_fail "$1" "no trace line matching '$2'"
    fi
}

# R: the Debian root, read-only, with this system's /proc, /sys, /dev and
# /tmp; cxl ARGS runs its ndctl `cxl`.
R=/debian
cxl() { chroot $R /usr/bin/cxl "$@"; }
mount_debian() {
    mkdir -p $R
    wait_for /dev/vda 20 && mount -t ext4 -o ro /dev/vda $R || return 1
    for _m in proc sys dev tmp run; do mount -o bind /$_m $R/$_m || return 1; done
    # libtracefs (cxl list -L) looks for tracefs under the chroot's /sys.
    mount -t tracefs nodev $R$T
}

# devdax_region: create a RAM region over all of mem0 with ndctl's cxl and
# hand its device-DAX instance to device_dax (CXL RAM regions are meant for
# kmem, not loaded here); prints "REGION DAX" (e.g. "region0 dax0.0").
devdax_region() {
    _out=$(cxl create-region -t ram -d decoder0.0 -m mem0 2>&1)
    _region=$(echo "$_out" | sed -n 's/.*"region":"\(region[0-9]*\)".*/\1/p' | head -n 1)
    if [ -z "$_region" ]; then
        echo "cxl create-region: $_out" >&2
        return 1
    fi
    _dax=dax${_region#region}.0
    wait_for "/sys/bus/dax/devices/$_dax" 30 || {
        echo "no /sys/bus/dax/devices/$_dax" >&2
        return 1
    }
    to_device_dax "$_dax"
    wait_for "/dev/$_dax" 10 || {
        echo "no /dev/$_dax (driver '$(driver_of "$_dax")')" >&2
        return 1
    }
    echo "$_region $_dax"
}

# The second VM of the run (e2e.part=dcd): a DC-only device driven from
# user space (Debian's kernel has no DCD driver), as in the dcd scenario:
# cxl_pci lets go of it and cxl-guest answers its Dynamic Capacity events.
if [ "$(e2e_arg e2e.part)" = dcd ]; then
    for _d in /sys/bus/pci/drivers/cxl_pci/0000:*; do
        [ -e "$_d" ] && echo "${_d##*/}" >/sys/bus/pci/drivers/cxl_pci/unbind
    done
    check dcd-device-unbound test ! -e "$(grep -l 0x050210 /sys/bus/pci/devices/*/class | head -n 1 | xargs dirname)/driver"
    check_summary guest
    cxl-guest dcd-serve "$(e2e_arg e2e.window)" "$(e2e_arg e2e.seed)" accept 2>&1 ||
        echo "E2E-DCD error: dcd-serve exited"
    return 0
fi

check cxl-memdev wait_for $CXL/mem0 30
[ -d $T/events ] || mount -t tracefs nodev $T
check cxl-trace-events test -d $T/events/cxl
echo 1 >$T/events/cxl/enable
check debian-root mount_debian
echo "E2E-INFO: ndctl cxl $(cxl version 2>&1)"

# Get/Set Alert Configuration through Linux's ioctl: the life-used warning
# threshold the host's health injection crosses later.
check cxl-set-alert-config cxl set-alert-config mem0 --life-used-threshold=30 --life-used-alert=on
alert=$(cxl list -m mem0 -A 2>&1)
echo "E2E-INFO: cxl list -A: $(echo "$alert" | tr -d ' \n')"
check cxl-list-alert-threshold has "$alert" '"life_used_prog_warn_threshold":30'
check cxl-list-alert-valid has "$alert" '"life_used_prog_warn_threshold_valid":true'
echo "E2E-INJ ready"

wait_input injected
# Each record as injected: its log, DPA and fields (Linux prints the DPA in hex).
traced general-media-traced "cxl_general_media:.*log=Warning .*flags='0x1' .*: dpa=2000 .*descriptor='UNCORRECTABLE_EVENT' type='ECC Error' transaction_type='Host Write' channel=3 "
traced dram-traced "cxl_dram:.*log=Failure .*: dpa=4000 .*descriptor='THRESHOLD_EVENT' .*transaction_type='Host Read' .*rank=1 .*bank=5 row=77 column=9 "
traced memory-module-traced 'cxl_memory_module:.*log=Informational .* life_used=10 device_temp=41 dirty_shutdown_cnt=1 '
# The device's own records for the health injections: the critical
# temperature (Failure log) and the life used past the guest's threshold.
traced health-alert-traced "cxl_memory_module:.*log=Failure .*event_type='Temperature Change' .*as_dev_temp=Critical .*device_temp=95 "
traced life-used-alert-traced "cxl_memory_module:.*log=Warning .*event_type='Life Used Change' .*as_life_used=Warning .*life_used=40 "
traced correctable-traced "cxl_aer_correctable_error: memdev=mem0 .*status: 'Memory Data ECC Error'"
echo 1 >$CXL/mem0/trigger_poison_list
traced poison-internal-traced 'cxl_poison: memdev=mem0 .*trace_type=List .*dpa=0x1000 dpa_length=0x80 source=Internal'
traced poison-qmp-traced 'cxl_poison: memdev=mem0 .*trace_type=List .*dpa=0x2000 dpa_length=0x40 source=Internal'
check_eq poison-ranges "$(grep -c 'cxl_poison:.*source=Internal' $T/trace)" 2
# ndctl reads the same list (it triggers it and parses the trace events).
media=$(cxl list -m mem0 -L 2>&1 | tr -d ' \n')
echo "E2E-INFO: cxl list -L: $media"
check cxl-list-media-errors has "$media" '"media_errors":'
check cxl-list-media-error-api has "$media" '{"offset":4096,"length":128,"source":"Internal"}'
check cxl-list-media-error-qmp has "$media" '{"offset":8192,"length":64,"source":"Internal"}'
echo "E2E-INJ checked"

# The host armed a return-code fault on Set Alert Configuration (0x4202):
# Internal Error (4) for one command, which the guest's cxl reports; the
# next one runs.
wait_input fault
if out=$(cxl set-alert-config mem0 --life-used-threshold=35 --life-used-alert=on 2>&1); then
    check_fail cxl-injected-rc-fails "succeeded: $out"
else
    check_pass cxl-injected-rc-fails
fi
echo "E2E-INFO: cxl set-alert-config with the fault armed: $(echo "$out" | tr '\n' ' ')"
check cxl-injected-rc-shown has "$out" 'mbox status: 4'
check cxl-fault-count-ran-out cxl set-alert-config mem0 --life-used-threshold=35 --life-used-alert=on
check cxl-list-alert-after-fault has "$(cxl list -m mem0 -A 2>&1 | tr -d ' \n')" '"life_used_prog_warn_threshold":35'
echo "E2E-INJ fault-seen"

# ---- Transfer FW / Activate FW: Linux's firmware upload through cxl -----------
wait_input ops
# An image: its first 16 bytes are the revision the device reports.
{
    printf 'e2e-fw-2.0'
    head -c 6 /dev/zero
    head -c 65520 /dev/urandom
} >/tmp/fw.bin
check cxl-update-firmware cxl update-firmware -w -F /tmp/fw.bin mem0
fw=$(cxl list -m mem0 -F 2>&1 | tr -d ' \n')
echo "E2E-INFO: cxl list -F after the update: $fw"
# Linux activates offline only (at the next cold reset): slot 2 is staged.
check fw-staged-slot-2 has "$fw" '"active_slot":1,"staged_slot":2'
check fw-new-version-in-slot-2 has "$fw" '"slot_2_version":"e2e-fw-2.0"'
check fw-old-version-kept has "$fw" '"slot_1_version":"cxlvmm-0.1"'
check fw-update-done has "$fw" '"fw_update_in_progress":false'
check fw-online-capable has "$fw" '"online_activate_capable":true'
# A reboot ends cxlvmm (no cold reset in place), so activate it online
# with the mailbox command Linux does not send (Activate FW, action 0,
# slot 2) while cxl_pci lets go of the device; bound again, Linux reads
# the new revision (Identify) and the active slot (Get FW Info).
bdf=$(basename "$(readlink -f /sys/bus/cxl/devices/mem0/..)")
if echo "$bdf" >/sys/bus/pci/drivers/cxl_pci/unbind; then
    check_pass fw-unbind-cxl-pci
    check fw-activate-online cxl-guest mbox 0x0202 0002
    # Request Abort Background Operation (0005h): a Sanitize the host holds
    # in the background for 60 s ends at once with Aborted, short of 100%
    # (Background Operation Status: in-progress bit clear, opcode 4400h,
    # return code 0012h), and the media is left as it was.
    out=$(cxl-guest mbox 0x4400 2>&1)
    check abort-sanitize-started has "$out" 'return code 0x1'
    check abort-request cxl-guest mbox 0x0005
    out=$(cxl-guest mbox 0x0002 2>&1)
    echo "E2E-INFO: Background Operation Status after the abort: $out"
    case $out in
    *"rc=0x0 out="[0-9a-f][02468ace]"00004412000000"*) check_pass abort-status-aborted ;;
    *) check_fail abort-status-aborted "$out" ;;
    esac
    check fw-rebind-cxl-pci sh -c "echo $bdf >/sys/bus/pci/drivers/cxl_pci/bind"
    check fw-memdev-back wait_for $CXL/mem0/firmware_version 30
else
    check_fail fw-unbind-cxl-pci "unbinding $bdf failed"
fi
fw=$(cxl list -m mem0 -F 2>&1 | tr -d ' \n')
echo "E2E-INFO: cxl list -F after online activation: $fw"
check fw-active-slot-2 has "$fw" '"active_slot":2'
check_eq fw-version-read "$(cat $CXL/mem0/firmware_version 2>&1)" e2e-fw-2.0

# ---- Sanitize: a pattern written through a region is gone ---------------------
seed=0x5a41712e
if rd=$(devdax_region 2>&1); then
    check_pass sanitize-region-before
    region=${rd% *} dax=${rd#* }
    check sanitize-pattern-written cxl-guest map-write "/dev/$dax" 0 65536 $seed 2097152
    check sanitize-pattern-read-back cxl-guest map-check "/dev/$dax" 0 65536 $seed 2097152
    # The host finds it in the backend file before the sanitize.
    echo "E2E-INJ pattern-written"
    wait_input sanitize
    # Linux sanitizes only a device no region decodes.
    check sanitize-disable-region cxl disable-region "$region"
    check sanitize-destroy-region cxl destroy-region "$region"
else
    check_fail sanitize-region-before "$rd"
    echo "E2E-INJ pattern-written"
fi
check sanitize-started sh -c "echo 1 >$CXL/mem0/security/sanitize"
n=600
while [ "$(cat $CXL/mem0/security/state)" = sanitize ] && [ $n -gt 0 ]; do
    sleep 0.1
    n=$((n - 1))
done
check_eq sanitize-completed "$(cat $CXL/mem0/security/state)" disabled
if rd=$(devdax_region 2>&1); then
    check_pass sanitize-region-after
    check sanitize-reads-zeros cxl-guest map-zero "/dev/${rd#* }" 0 65536 2097152
    check sanitize-disable-region-after cxl disable-region "${rd% *}"
    check sanitize-destroy-region-after cxl destroy-region "${rd% *}"
else
    check_fail sanitize-region-after "$rd"
fi
echo "E2E-INFO: dmesg after sanitize: $(dmesg | grep -i cxl | grep -iE 'sanitiz|firmware|fw' | tail -n 6 | tr '\n' '|')"
echo "E2E-INJ ops-done"

wait_input uncorrectable
traced uncorrectable-traced "cxl_aer_uncorrectable_error: memdev=mem0 .*status: 'Memory Data ECC Error \\| Component Specific Error' first_error: 'Memory Data ECC Error'"
echo "E2E-INFO: dmesg: $(dmesg | grep -iE 'aer|cxl' | tail -n 8 | tr '\n' '|')"
echo "E2E-INJ done"
wait_input done
