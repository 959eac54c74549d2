# shellcheck shell=sh
# dcd-linux/guest.sh - inside the guest: Linux's DCD driver (built into the
# kernel under test) with a dynamic_ram_1 region, capacity claimed into a
# DAX device by tag, and given back when the host asks.
# shellcheck source=resources/lib/cxl.sh
. /lib/cxl.sh

seed=$(e2e_arg e2e.seed)
tag=$(e2e_arg e2e.tag)
group=$(e2e_arg e2e.group)
dc_size=$(e2e_arg e2e.dc_size)
DAX=/sys/bus/dax

# wait_input WORD: until the host types WORD on the console.
wait_input() {
    while read -r -t 300 _line; do
        [ "$_line" = "$1" ] && return 0
    done
    return 1
}

check cxl-memdev wait_for $CXL/mem0 30
if ! wait_for $CXL/mem0/dynamic_ram_1/size 10; then
    check_fail dcd-driver "no $CXL/mem0/dynamic_ram_1: the kernel has no DCD driver, or it refused the device ($(dmesg | grep -i 'dynamic capacity\|dcd' | tail -n 3))"
    return 0 2>/dev/null || exit 0
fi
check_pass dcd-driver
check_eq dc-partition-size "$(($(cat $CXL/mem0/dynamic_ram_1/size)))" "$dc_size"
# Capacity offered before there is a region to put it in is declined.
echo "E2E-DCDL driver-ready"
wait_input region || check_fail host-region "the host never said 'region'"
ep_dec=$(endpoint_decoder mem0)
region=$(create_dc_region decoder0.0 "$dc_size" "$ep_dec" 2>/tmp/region.err)
if [ -n "$region" ]; then
    check_pass dc-region-created
else
    check_fail dc-region-created "$(cat /tmp/region.err) $(dmesg | tail -n 5)"
fi
dax_region=$CXL/$region/dax_$region
check dax-region wait_for "$dax_region" 20
echo "E2E-DCDL region-ready $region $(cat $CXL/$region/resource 2>/dev/null)"

# The host adds tagged capacity: an extent shows up under the DAX region.
n=600
while [ -z "$(ls -d "$dax_region"/extent* 2>/dev/null)" ] && [ $n -gt 0 ]; do
    sleep 0.1
    n=$((n - 1))
done
ext=$(ls -d "$dax_region"/extent* 2>/dev/null | head -n 1)
if [ -n "$ext" ]; then
    check_pass extent-appeared
    echo "E2E-DCDL extent ${ext##*/} offset=$(cat "$ext/offset") length=$(cat "$ext/length") uuid=$(cat "$ext/uuid" 2>/dev/null)"
    check_eq extent-length "$(($(cat "$ext/length")))" $((2 << 20))
    check_eq extent-uuid "$(cat "$ext/uuid" 2>/dev/null)" "$tag"
else
    check_fail extent-appeared "none in $dax_region: $(ls "$dax_region" | tr '\n' ' ') $(dmesg | grep -i 'cxl\|dcd' | tail -n 5)"
fi

# Claim it by tag into the seed DAX device, bind device_dax, write.
dax=$(basename "$(ls -d $DAX/devices/dax${region#region}.* 2>/dev/null | head -n 1)")
check dax-claim-by-tag _w "$DAX/devices/$dax/uuid" "$tag"
check_eq dax-size "$(($(cat "$DAX/devices/$dax/size" 2>/dev/null || echo -1)))" $((2 << 20))
# The seed has its character device already; opening it needs a driver.
check dax-bind _w "$DAX/drivers/device_dax/bind" "$dax"
check dax-char-device wait_for "/dev/$dax" 10
check dax-write cxl-guest map-write "/dev/$dax" 0 65536 "$seed" 2097152
echo "E2E-DCDL wrote $dax"

# The host asks for the capacity back: Linux will not release it while the
# DAX device holds it. The host says when to let go.
if wait_input free; then
    check dax-unbind _w "$DAX/drivers/device_dax/unbind" "$dax"
    check dax-unclaim _w "$DAX/devices/$dax/size" 0
    echo "E2E-DCDL freed"
else
    check_fail host-free "the host never said 'free'"
fi
n=600
while [ -e "$ext" ] && [ $n -gt 0 ]; do
    sleep 0.1
    n=$((n - 1))
done
if [ -e "$ext" ]; then
    check_fail extent-gone "${ext##*/} still there"
else
    check_pass extent-gone
    echo "E2E-DCDL extent-gone"
fi

# A tag group: three extents, one claim, one DAX device of 6 MiB whose
# 2 MiB pieces are the extents in order.
tagged() {
    _n=0
    for _e in "$dax_region"/extent*; do
        [ "$(cat "$_e/uuid" 2>/dev/null)" = "$1" ] && _n=$((_n + 1))
    done
    echo $_n
}
n=600
while [ "$(tagged "$group")" -lt 3 ] && [ $n -gt 0 ]; do
    sleep 0.1
    n=$((n - 1))
done
check_eq group-extents "$(tagged "$group")" 3
check group-claim-by-tag _w "$DAX/devices/$dax/uuid" "$group"
check_eq group-dax-size "$(($(cat "$DAX/devices/$dax/size" 2>/dev/null || echo -1)))" $((6 << 20))
check group-dax-bind _w "$DAX/drivers/device_dax/bind" "$dax"
i=1
for off in 0 2097152 4194304; do
    check "group-write-$i" cxl-guest map-write "/dev/$dax" $off 65536 $((seed + i)) 2097152
    i=$((i + 1))
done
echo "E2E-DCDL wrote-group"
check group-dax-unbind _w "$DAX/drivers/device_dax/unbind" "$dax"
check group-dax-unclaim _w "$DAX/devices/$dax/size" 0
echo "E2E-DCDL freed-group"
n=600
while [ "$(tagged "$group")" -gt 0 ] && [ $n -gt 0 ]; do
    sleep 0.1
    n=$((n - 1))
done
check_eq group-gone "$(tagged "$group")" 0
echo "E2E-DCDL group-gone"
check_eq no-cxl-errors "$(cxl_errors)" ""
wait_input done || check_fail host-done "the host never said 'done'"
