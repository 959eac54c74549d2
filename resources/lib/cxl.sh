# shellcheck shell=sh
# cxl.sh - CXL helpers for guest.sh (busybox ash), sourced after check.sh.
#
#   e2e_arg NAME               value of NAME=... on the kernel command line
#   wait_for PATH [SECONDS]    wait until PATH exists (default 20 s)
#   value KEY VALUE            print "E2E-VALUE KEY=VALUE" for host.sh
#   endpoint_decoder MEMDEV    the first endpoint decoder of MEMDEV (decoderN.0)
#   create_ram_region ROOT_DECODER SIZE GRANULARITY EP_DECODER...
#                              create, size, target, commit and bind a RAM
#                              region the way `cxl create-region` does; prints
#                              its name, or fails with a message on stderr
#   create_dc_region ROOT_DECODER SIZE EP_DECODER
#                              the same for a Dynamic Capacity region
#                              (dynamic_ram_1, Linux's DCD driver)
#   driver_of DAX              the driver DAX (daxN.M) is bound to, if any
#   to_device_dax DAX          bind DAX to device_dax, as `daxctl
#                              reconfigure-device --mode=devdax` does (CXL
#                              RAM regions are meant for kmem)
#   cxl_errors                 CXL-related error lines in dmesg

CXL=/sys/bus/cxl/devices

e2e_arg() {
    tr ' ' '\n' </proc/cmdline | sed -n "s/^$1=//p" | tail -n 1
}

wait_for() {
    _w_n=$((${2:-20} * 10))
    while [ ! -e "$1" ] && [ "$_w_n" -gt 0 ]; do
        sleep 0.1
        _w_n=$((_w_n - 1))
    done
    [ -e "$1" ]
}

value() {
    echo "E2E-VALUE $1=$2"
}

endpoint_decoder() {
    _ep=$(basename "$(readlink -f "$CXL/$1")")
    for _p in "$CXL"/endpoint*; do
        [ -e "$_p/uport" ] || continue
        if [ "$(basename "$(readlink -f "$_p/uport")")" = "$_ep" ]; then
            _n=${_p##*/endpoint}
            echo "decoder$_n.0"
            return 0
        fi
    done
    return 1
}

# _w FILE VALUE: write VALUE to sysfs FILE, failing with a message.
_w() {
    if ! echo "$2" >"$1" 2>/tmp/cxl-write.err; then
        echo "writing '$2' to $1: $(cat /tmp/cxl-write.err)" >&2
        return 1
    fi
}

create_ram_region() {
    _create_region ram ram "$@"
}

create_dc_region() {
    _cdr_root=$1 _cdr_size=$2
    shift 2
    _create_region dynamic_ram_1 dynamic_ram_1 "$_cdr_root" "$_cdr_size" \
        "$(cat "$CXL/$_cdr_root/interleave_granularity")" "$@"
}

# _create_region KIND MODE ROOT SIZE GRANULARITY EP_DECODER...
_create_region() {
    _kind=$1 _mode=$2 _root=$3 _size=$4 _gran=$5
    shift 5
    _region=$(cat "$CXL/$_root/create_${_kind}_region") || return 1
    _w "$CXL/$_root/create_${_kind}_region" "$_region" || return 1
    _w "$CXL/$_region/interleave_granularity" "$_gran" || return 1
    _w "$CXL/$_region/interleave_ways" "$#" || return 1
    _w "$CXL/$_region/size" "$_size" || return 1
    _i=0
    for _dec in "$@"; do
        _w "$CXL/$_dec/mode" "$_mode" || return 1
        _w "$CXL/$_dec/dpa_size" "$((_size / $#))" || return 1
        _w "$CXL/$_region/target$_i" "$_dec" || return 1
        _i=$((_i + 1))
    done
    _w "$CXL/$_region/commit" 1 || return 1
    _w /sys/bus/cxl/drivers/cxl_region/bind "$_region" || return 1
    echo "$_region"
}

driver_of() { basename "$(readlink -f "/sys/bus/dax/devices/$1/driver" 2>/dev/null)" 2>/dev/null; }

to_device_dax() {
    [ "$(driver_of "$1")" = device_dax ] && return 0
    _td_drv=$(driver_of "$1")
    [ -n "$_td_drv" ] && [ -d "/sys/bus/dax/drivers/$_td_drv" ] &&
        echo "$1" >"/sys/bus/dax/drivers/$_td_drv/unbind" 2>/dev/null
    echo "$1" >/sys/bus/dax/drivers/device_dax/new_id 2>/dev/null
    [ -e "/sys/bus/dax/devices/$1/driver" ] ||
        echo "$1" >/sys/bus/dax/drivers/device_dax/bind 2>/dev/null
    return 0
}

cxl_errors() {
    dmesg | grep -iE 'cxl|dax|ACPI0016|ACPI0017' | grep -v '_OSC: OS supports' |
        grep -iE 'fail|error [-0-9]|err[ =]-|invalid|timeout|timed out|unable|not supported|-[0-9]+$' || true
}
