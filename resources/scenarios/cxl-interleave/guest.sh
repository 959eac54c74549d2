# shellcheck shell=sh
# cxl-interleave/guest.sh - inside the guest: a 2-way interleaved RAM region
# across two memdevs, written and read back through device-DAX.
# shellcheck source=resources/lib/cxl.sh
. /lib/cxl.sh

size=$(e2e_arg e2e.size)
gran=$(e2e_arg e2e.gran)
len=$(e2e_arg e2e.len)
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

region=$(create_ram_region decoder0.0 "$size" "$gran" "$dec0" "$dec1" 2>/tmp/region.err)
if [ -n "$region" ]; then
    check_pass region-created
else
    check_fail region-created "$(cat /tmp/region.err) $(dmesg | tail -n 5)"
fi
check_eq region-ways "$(cat $CXL/$region/interleave_ways 2>/dev/null)" 2
check_eq region-granularity "$(cat $CXL/$region/interleave_granularity 2>/dev/null)" "$gran"
value pos0_serial "$(cat $CXL/mem0/serial)"
value pos1_serial "$(cat $CXL/mem1/serial)"

# dax_cxl makes a device-DAX instance of the region.
dax=""
n=100
while [ -z "$dax" ] && [ $n -gt 0 ]; do
    dax=$(ls /dev/dax* 2>/dev/null | head -n 1)
    [ -n "$dax" ] || sleep 0.1
    n=$((n - 1))
done
# CXL RAM regions are meant for kmem; hand this one to device_dax instead, as
# `daxctl reconfigure-device --mode=devdax` does (unbind, new_id, bind).
name=${dax#/dev/}
driver_of() { basename "$(readlink -f "/sys/bus/dax/devices/$1/driver" 2>/dev/null)" 2>/dev/null; }
if [ -n "$name" ] && [ "$(driver_of "$name")" != device_dax ]; then
    drv=$(driver_of "$name")
    [ -n "$drv" ] && [ -d "/sys/bus/dax/drivers/$drv" ] &&
        echo "$name" >"/sys/bus/dax/drivers/$drv/unbind" 2>/dev/null
    echo "$name" >/sys/bus/dax/drivers/device_dax/new_id 2>/dev/null
    [ -e /sys/bus/dax/devices/$name/driver ] ||
        echo "$name" >/sys/bus/dax/drivers/device_dax/bind 2>/dev/null
fi
check_eq dax-device-bound "$(driver_of "$name")" device_dax
if check dax-device test -c "$dax"; then
    check pattern-written cxl-guest map-write "$dax" 0 "$len" "$seed" 2097152
    check pattern-read-back cxl-guest map-check "$dax" 0 "$len" "$seed" 2097152
fi
