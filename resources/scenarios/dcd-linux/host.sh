#!/bin/sh
# dcd-linux/host.sh - Dynamic Capacity with Linux's own DCD driver: the guest
# kernel (CXLVMM_E2E_L2_KERNEL, with the DCD driver built in; Debian's
# kernels have none) owns the device. The guest creates a dynamic_ram_1
# region; the operator adds tagged capacity through the API; the driver
# accepts it, the guest claims it into a DAX device by tag and writes a
# pattern that must land in the tag's backend file. A release by tag while
# the DAX device holds the capacity is left unanswered by Linux; once the
# guest lets go, asking again releases it, the memslot goes and the backend
# is free. Then a tag group: three extents of the device's own DC memory
# under one tag (no backend carries it), claimed together into one DAX
# device; releasing one of them gives back the whole group (Linux releases
# by tag group).
# shellcheck source=resources/lib/check.sh
. "$LIB"
# shellcheck source=resources/lib/vm.sh
. "$(dirname "$LIB")/vm.sh"

sock=$WORKDIR/api.sock
window=0x8000000000
hpa0=549755813888 # the window base: the region starts there
seed=0x0dc11e5eed
tag=5be13bce-ae34-4a77-b6c3-16df975fcf1a
group=7be13bce-ae34-4a77-b6c3-16df975fcf1a
dc_size=$((256 << 20))
tm0=$WORKDIR/tm0.mem
dcm=$WORKDIR/dc.mem
rm -f "$tm0" "$dcm" "$sock"

r() { "$CXLVMM_REMOTE" --api-socket "$sock" --json "$@" 2>&1; }
expect_ok() {
    _n=$1
    shift
    if out=$(r "$@"); then check_pass "$_n"; else check_fail "$_n" "$out"; fi
}
# wait_status NAME TAG WANT SECONDS: until TAG's release status is WANT.
wait_status() {
    _ws_n=$(($4 * 10))
    while [ "$_ws_n" -gt 0 ]; do
        _ws=$(r dc-status dcd0 --region 0 --tag "$2")
        has "$_ws" "\"$3\"" && {
            check_pass "$1"
            return 0
        }
        sleep 0.1
        _ws_n=$((_ws_n - 1))
    done
    check_fail "$1" "status stayed $_ws"
    return 1
}
fail_now() {
    check_fail "$1" "$2"
    vm_failed dcdl
    kill "$VM_PID" 2>/dev/null
    check_summary host
    exit 1
}

console_input dcdl
cmdline=$(l2_cmdline e2e.seed=$seed e2e.tag=$tag e2e.group=$group e2e.dc_size=$dc_size)
start_vm dcdl --kernel "$KERNEL" --initramfs "$INITRAMFS" --cmdline "$cmdline" \
    --cpus 2 --memory 512M --api-socket "$sock" --hide-hypervisor \
    --memory-backend id=dcm,size=256M,kind=file,path="$dcm" \
    --cxl-host-bridge id=hb0 --cxl-root-port id=rp0,bus=hb0 \
    --cxl-type3 id=dcd0,port=rp0,dc-regions=1,dc-regions-total-size=256M,dc-memdev=dcm,serial=0xdcd \
    --cxl-fmw targets=hb0,size=256M

wait_console dcdl 'E2E-DCDL driver-ready' 1 300 ||
    fail_now guest-driver-ready "no 'E2E-DCDL driver-ready' on the console"
check_pass guest-driver-ready

# Before the guest has a region for it, Linux declines the offer (an empty
# Add DC Response): nothing is mapped and the backend is free again.
expect_ok backend-add-tm0 backend-add --id tm0 --size 2M --kind file --path "$tm0" --tag $tag
expect_ok add-before-region dc-add dcd0 --region 0 --tag $tag --extent 0:2M
check add-before-region-pending has "$out" '"state":"pending"'
wait_status linux-declined $tag not-found 60
expect_ok extents-after-decline dc-extents dcd0
check_eq no-extents-after-decline "$out" '[]'
expect_ok backend-free-after-decline backend-list
check tm0-unbound-after-decline sh -c "! echo '$out' | grep -q '\"bound-to\"'"

console_send region
wait_console dcdl 'E2E-DCDL region-ready' 1 120 ||
    fail_now guest-region-ready "no 'E2E-DCDL region-ready' on the console"
check_pass guest-region-ready

# Tagged capacity: the driver accepts it through its event interrupt.
expect_ok add-tm0 dc-add dcd0 --region 0 --tag $tag --extent 0:2M
wait_status linux-accepted $tag accepted 60
expect_ok extents-after-accept dc-extents dcd0
check tm0-hpa has "$out" "\"hpa\":$hpa0"
check tm0-mapped has "$out" '"mapped":true'
check guest-extent wait_console dcdl 'E2E-DCDL extent ' 1 60
check guest-wrote wait_console dcdl 'E2E-DCDL wrote' 1 60
check tm0-pattern-in-backend-file "$CXL_GUEST" file-check "$tm0" 0 65536 "$seed"

# Release while a DAX device holds the capacity: Linux leaves it unanswered.
expect_ok release-tm0 dc-release dcd0 --region 0 --tag $tag
check release-requested has "$out" '"state":"release-pending"'
sleep 5
expect_ok status-while-in-use dc-status dcd0 --region 0 --tag $tag
check still-release-pending-while-in-use has "$out" '"release-pending"'
# The guest lets go; asking again releases it.
console_send free
check guest-freed wait_console dcdl 'E2E-DCDL freed' 1 60
expect_ok release-tm0-again dc-release dcd0 --region 0 --tag $tag
wait_status linux-released $tag released 60
expect_ok extents-after-release dc-extents dcd0
check_eq no-extents-after-release "$out" '[]'
expect_ok backend-free-after-release backend-list
check tm0-unbound sh -c "! echo '$out' | grep -q '\"bound-to\"'"
check guest-extent-gone wait_console dcdl 'E2E-DCDL extent-gone' 1 60

# A tag group of three extents in one Add Capacity chain (More set on the
# first two records), backed by the device's DC memory file.
expect_ok add-group dc-add dcd0 --region 0 --tag $group --extent 4M:2M --extent 8M:2M --extent 12M:2M
wait_status linux-accepted-group $group accepted 60
expect_ok extents-group dc-extents dcd0
check_eq group-extents-accepted "$(echo "$out" | grep -o '"state":"accepted"' | wc -l)" 3
check guest-wrote-group wait_console dcdl 'E2E-DCDL wrote-group' 1 60
i=1
for off in 4 8 12; do
    check "group-pattern-$i-in-dc-file" "$CXL_GUEST" file-check "$dcm" $((off << 20)) 65536 $((seed + i))
    i=$((i + 1))
done
check guest-freed-group wait_console dcdl 'E2E-DCDL freed-group' 1 60
# Ask for one extent back: Linux gives back the whole tag group.
expect_ok release-one-of-group dc-release dcd0 --region 0 --policy prescriptive --extent 8M:2M
wait_status linux-released-group $group released 60
expect_ok extents-after-group-release dc-extents dcd0
check_eq no-extents-after-group-release "$out" '[]'
check guest-group-gone wait_console dcdl 'E2E-DCDL group-gone' 1 60

console_send done
finish_vm dcdl
check_import "$WORKDIR/dcdl-console.log" guest/
if ! check_summary host; then
    vm_failed dcdl
    exit 1
fi
