# shellcheck shell=sh
# inject/guest.sh - inside the guest: the trace events Linux's CXL drivers
# emit for what the host injects, and what ndctl's `cxl` (from the Debian
# root on /dev/vda, run in a chroot: no systemd boot) reads and sets.
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

wait_input uncorrectable
traced uncorrectable-traced "cxl_aer_uncorrectable_error: memdev=mem0 .*status: 'Memory Data ECC Error \\| Component Specific Error' first_error: 'Memory Data ECC Error'"
echo "E2E-INFO: dmesg: $(dmesg | grep -iE 'aer|cxl' | tail -n 8 | tr '\n' '|')"
echo "E2E-INJ done"
wait_input done
