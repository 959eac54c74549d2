# shellcheck shell=sh
# bench/guest.sh - inside the guest (under cxlvmm or QEMU, same script):
# create the static and the two interleaved regions through Linux's CXL
# stack, measure read/write/memcpy bandwidth on each region (cxl-guest bench),
# then hand the DCD device to cxl-guest dcd-serve, wait for the host's extent,
# measure it through /dev/mem, measure guest RAM, and keep serving the host's
# Dynamic Capacity requests until the VMM is shut down.
# shellcheck source=resources/lib/cxl.sh
. /lib/cxl.sh

maxlen=$(e2e_arg bench.maxlen)
budget=$(e2e_arg bench.budget)
passes=$(e2e_arg bench.passes)

# bench LABEL TARGET OFFSET: one bandwidth line, or a note saying why not.
bench() {
    if ! out=$(cxl-guest bench "$1" "$2" "$3" "$maxlen" "$budget" "$passes" 2>&1); then
        out="E2E-BENCH: kind=note path=$1 text=$(echo "$out" | tr ' ' '_')"
    fi
    echo "$out"
}
note() {
    echo "E2E-BENCH: kind=note path=$1 text=$(echo "$2" | tr ' ' '_')"
}

memdev_by_serial() {
    for _m in "$CXL"/mem*; do
        [ "$(cat "$_m/serial" 2>/dev/null)" = "$1" ] && echo "${_m##*/}" && return 0
    done
    return 1
}

# region_devdax REGION: the region's DAX device, bound to device_dax (as
# `daxctl reconfigure-device --mode=devdax` does); prints /dev/daxN.M.
region_devdax() {
    _n=100
    _dax=""
    while [ -z "$_dax" ] && [ $_n -gt 0 ]; do
        for _d in "$CXL/$1/dax_$1"/dax*; do
            [ -e "$_d" ] && _dax=${_d##*/} && break
        done
        [ -n "$_dax" ] || sleep 0.1
        _n=$((_n - 1))
    done
    [ -n "$_dax" ] || return 1
    to_device_dax "$_dax"
    _n=50
    while [ ! -c "/dev/$_dax" ] && [ $_n -gt 0 ]; do
        sleep 0.1
        _n=$((_n - 1))
    done
    [ -c "/dev/$_dax" ] && echo "/dev/$_dax"
}

# region_bench LABEL REGION: bench the region's DAX device, print its HPA.
region_bench() {
    if [ -z "$2" ]; then
        note "$1" "region not created: $(cat /tmp/region.err 2>/dev/null) $(dmesg | grep -i cxl | tail -n 2)"
        return
    fi
    value "hpa_$1" "$(cat "$CXL/$2/resource")"
    if _dev=$(region_devdax "$2"); then
        bench "$1" "$_dev" 0
    else
        note "$1" "no device-DAX for $2"
    fi
}

check cxl-root0 wait_for $CXL/root0
n=200
while [ $n -gt 0 ]; do
    s=$(memdev_by_serial 0x5a) && i0=$(memdev_by_serial 0xa0) && i1=$(memdev_by_serial 0xa1) && break
    sleep 0.1
    n=$((n - 1))
done
check static-memdev test -n "$s"
check interleave-memdevs test -n "$i0" -a -n "$i1"
sleep 1

ds=$(endpoint_decoder "$s")
r=$(create_ram_region decoder0.0 $((256 << 20)) 256 "$ds" 2>/tmp/region.err)
region_bench static "$r"

d0=$(endpoint_decoder "$i0")
d1=$(endpoint_decoder "$i1")
r=$(create_ram_region decoder0.1 $((512 << 20)) 4096 "$d0" "$d1" 2>/tmp/region.err)
region_bench interleave_4k "$r"
r=$(create_ram_region decoder0.1 $((512 << 20)) 256 "${d0%.0}.1" "${d1%.0}.1" 2>/tmp/region.err)
region_bench interleave_256 "$r"

# The DCD device goes to the user-space driver: no kernel driver may hold it.
if dcd=$(memdev_by_serial 0xdcd); then
    pci=$(dirname "$(readlink -f "$CXL/$dcd")")
    echo "${pci##*/}" >/sys/bus/pci/drivers/cxl_pci/unbind
fi
window=$(cat $CXL/decoder0.2/start)
(
    CXL_GUEST_SERIAL=0xdcd cxl-guest dcd-serve "$window" 0x0dcd "bare*" 2>&1
    echo "E2E-DCD error: dcd-serve exited"
) | tee /tmp/dcd.log &

# The host offers the bandwidth extent at DPA 0 once the driver is ready.
n=3000
while ! grep -q 'E2E-DCD accepted dpa=0x0 ' /tmp/dcd.log 2>/dev/null && [ $n -gt 0 ]; do
    grep -q 'E2E-DCD error' /tmp/dcd.log 2>/dev/null && break
    sleep 0.1
    n=$((n - 1))
done
hpa=$(sed -n 's/.*E2E-DCD accepted dpa=0x0 .*hpa=\(0x[0-9a-f]*\).*/\1/p' /tmp/dcd.log | head -n 1)
if [ -n "$hpa" ]; then
    value hpa_dc "$hpa"
    bench dc /dev/mem "$hpa"
else
    note dc "no extent accepted: $(tail -n 1 /tmp/dcd.log)"
fi
# Guest RAM last, once the kernel's CXL probing has long settled.
bench ram anon 0
echo "E2E-DCD bench-done"
check_summary guest
# Serve the host's requests until it shuts the VM down.
wait
