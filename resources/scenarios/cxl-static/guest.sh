# shellcheck shell=sh
# cxl-static/guest.sh - inside the guest: the CXL hierarchy Linux found, a RAM
# region onlined as a NUMA node, and a pattern written into it.
# shellcheck source=resources/lib/cxl.sh
. /lib/cxl.sh

size=$(e2e_arg e2e.size)
serial=$(e2e_arg e2e.serial)
fw=$(e2e_arg e2e.fw)
seed=$(e2e_arg e2e.seed)
window=$(e2e_arg e2e.window)

check cxl-root0 wait_for $CXL/root0
check cxl-memdev wait_for $CXL/mem0
check cxl-host-bridge-port wait_for $CXL/port1
ep_dec=""
if wait_for $CXL/endpoint2; then
    check_pass cxl-endpoint
    ep_dec=$(endpoint_decoder mem0)
else
    check_fail cxl-endpoint "no endpoint port: $(ls $CXL | tr '\n' ' ')"
fi

check_eq memdev-ram-size "$(($(cat $CXL/mem0/ram/size 2>/dev/null || echo -1)))" "$size"
check_eq memdev-serial "$(cat $CXL/mem0/serial 2>/dev/null)" "$serial"
check_eq memdev-firmware-version "$(cat $CXL/mem0/firmware_version 2>/dev/null)" "$fw"
check_eq root-decoder-start "$(printf '%#x' "$(cat $CXL/decoder0.0/start 2>/dev/null)")" "$window"
check_eq root-decoder-size "$(($(cat $CXL/decoder0.0/size 2>/dev/null || echo -1)))" "$size"
qos=$(cat $CXL/mem0/ram/qos_class 2>/dev/null)
check cdat-qos-class test -n "$qos" -a "$qos" != "-1"
check_eq no-cxl-errors "$(cxl_errors)" ""
echo "E2E-INFO: /sys/bus/cxl/devices: $(ls $CXL | tr '\n' ' ')"
echo "E2E-INFO: mem0: ram/size=$(cat $CXL/mem0/ram/size) serial=$(cat $CXL/mem0/serial) firmware_version=$(cat $CXL/mem0/firmware_version) ram/qos_class=$qos"
echo "E2E-INFO: decoder0.0 (root, the CFMWS): start=$(cat $CXL/decoder0.0/start) size=$(cat $CXL/decoder0.0/size) interleave_ways=$(cat $CXL/decoder0.0/interleave_ways)"

region=$(create_ram_region decoder0.0 "$size" 256 "$ep_dec" 2>/tmp/region.err)
if [ -n "$region" ]; then
    check_pass region-created
else
    check_fail region-created "$(cat /tmp/region.err) $(dmesg | tail -n 5)"
fi
check_eq region-size "$(($(cat $CXL/$region/size 2>/dev/null || echo -1)))" "$size"
value region_start "$(cat $CXL/$region/resource 2>/dev/null)"

# dax_cxl hands the region to kmem, which hot-adds it as a CPU-less node.
check numa-node1 wait_for /sys/devices/system/node/node1/meminfo 20
for b in /sys/devices/system/node/node1/memory*; do
    [ "$(cat "$b/state" 2>/dev/null)" = offline ] && echo online_movable >"$b/state"
done
node_kb=$(sed -n 's/.*MemTotal: *\([0-9]*\) kB/\1/p' /sys/devices/system/node/node1/meminfo 2>/dev/null)
check_eq node1-memtotal-is-region-size "$node_kb" "$((size / 1024))"
echo "E2E-INFO: $region: $(cat $CXL/$region/resource 2>/dev/null)+$(cat $CXL/$region/size 2>/dev/null) -> $(ls /sys/bus/dax/devices 2>/dev/null | tr '\n' ' ') -> node1 MemTotal ${node_kb} kB"

# A program running from node 1 writes the pattern; it keeps the pages until
# the VM powers off so nothing reuses them.
cxl-guest numa-write 1 65536 "$seed" --hold >/tmp/pattern.out 2>&1 &
n=100
while ! grep -q HOLDING /tmp/pattern.out && [ $n -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
phys=$(sed -n 's/^PHYS=//p' /tmp/pattern.out)
if [ -n "$phys" ]; then
    check_pass pattern-written-on-node1
    value phys "$phys"
else
    check_fail pattern-written-on-node1 "$(cat /tmp/pattern.out)"
fi
