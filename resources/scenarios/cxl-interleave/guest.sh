# shellcheck shell=sh
# cxl-interleave/guest.sh - inside the guest: two 2-way interleaved RAM
# regions across two memdevs, one at 256 B (cxlvmm's trapped path) and one
# at 4 KiB (composed into a memslot), each written and read back through
# device-DAX; then a rough bandwidth figure for each and for RAM.
# shellcheck source=resources/lib/cxl.sh
. /lib/cxl.sh

size=$(e2e_arg e2e.size)
seed=$(e2e_arg e2e.seed)

check cxl-root0 wait_for $CXL/root0
check cxl-mem0 wait_for $CXL/mem0
check cxl-mem1 wait_for $CXL/mem1
wait_for $CXL/endpoint3 10 || true
check_eq host-bridge-decoders "$(ls -d $CXL/decoder1.* 2>/dev/null | wc -l)" 4
dec0=$(endpoint_decoder mem0)
dec1=$(endpoint_decoder mem1)
check endpoint-decoders test -n "$dec0" -a -n "$dec1"
check_eq no-cxl-errors "$(cxl_errors)" ""
value pos0_serial "$(cat $CXL/mem0/serial)"
value pos1_serial "$(cat $CXL/mem1/serial)"

# interleaved_region TAG GRANULARITY LEN EP_DECODER0 EP_DECODER1: create a
# 2-way region of $size, report where it is (HPA, each device's DPA) and
# write, then read back, LEN bytes of the pattern through device-DAX.
interleaved_region() {
    _t=$1 _gran=$2 _len=$3
    shift 3
    _region=$(create_ram_region decoder0.0 "$size" "$_gran" "$@" 2>/tmp/region.err)
    if [ -n "$_region" ]; then
        check_pass "$_t-region-created"
    else
        check_fail "$_t-region-created" "$(cat /tmp/region.err) $(dmesg | tail -n 5)"
        return 1
    fi
    check_eq "$_t-region-ways" "$(cat "$CXL/$_region/interleave_ways" 2>/dev/null)" 2
    check_eq "$_t-region-granularity" "$(cat "$CXL/$_region/interleave_granularity" 2>/dev/null)" "$_gran"
    value "${_t}_hpa" "$(cat "$CXL/$_region/resource")"
    value "${_t}_dpa0" "$(cat "$CXL/$1/dpa_resource")"
    value "${_t}_dpa1" "$(cat "$CXL/$2/dpa_resource")"
    # dax_cxl makes device-DAX instance N.0 of region N.
    _name=dax${_region#region}.0
    _n=100
    while [ ! -e "/sys/bus/dax/devices/$_name" ] && [ $_n -gt 0 ]; do
        sleep 0.1
        _n=$((_n - 1))
    done
    # CXL RAM regions are meant for kmem; this one goes to device_dax.
    to_device_dax "$_name"
    check_eq "$_t-dax-device-bound" "$(driver_of "$_name")" device_dax
    if check "$_t-dax-device" test -c "/dev/$_name"; then
        check "$_t-pattern-written" cxl-guest map-write "/dev/$_name" 0 "$_len" "$seed" 2097152
        check "$_t-pattern-read-back" cxl-guest map-check "/dev/$_name" 0 "$_len" "$seed" 2097152
        eval "${_t}_dax=/dev/$_name"
    fi
}

# The first region takes each endpoint's decoder .0, the second .1.
interleaved_region il256 256 65536 "$dec0" "$dec1"
interleaved_region il4k 4096 1048576 "${dec0%.0}.1" "${dec1%.0}.1"

# Rough bandwidth, 8-byte stores then loads, away from the patterns the
# host checks (the trapped path is slow: a few KiB are enough).
bench() {
    _b=$(cxl-guest map-bench "$@" 2>&1)
    echo "E2E-INFO: $_b"
}
bench ram 0 33554432
[ -n "${il4k_dax:-}" ] && bench "$il4k_dax" 0x4000000 33554432
[ -n "${il256_dax:-}" ] && bench "$il256_dax" 0x200000 16384 2097152
true
