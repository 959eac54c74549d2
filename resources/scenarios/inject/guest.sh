# shellcheck shell=sh
# inject/guest.sh - inside the guest: the trace events Linux's CXL drivers
# emit for what the host injects.
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

check cxl-memdev wait_for $CXL/mem0 30
[ -d $T/events ] || mount -t tracefs nodev $T
check cxl-trace-events test -d $T/events/cxl
echo 1 >$T/events/cxl/enable
echo "E2E-INJ ready"

wait_input injected
traced general-media-traced 'cxl_general_media:.*log=Warning'
traced dram-traced 'cxl_dram:.*log=Failure'
traced memory-module-traced 'cxl_memory_module:.*log=Informational'
traced health-alert-traced 'cxl_memory_module:.*log=Failure'
traced correctable-traced 'cxl_aer_correctable_error'
echo 1 >$CXL/mem0/trigger_poison_list
traced poison-internal-traced 'cxl_poison:.*source=Internal'
check_eq poison-ranges "$(grep -c 'cxl_poison:.*source=Internal' $T/trace)" 2
echo "E2E-INJ checked"

wait_input uncorrectable
traced uncorrectable-traced 'cxl_aer_uncorrectable_error'
echo "E2E-INFO: dmesg: $(dmesg | grep -iE 'aer|cxl' | tail -n 8 | tr '\n' '|')"
echo "E2E-INJ done"
wait_input done
