#!/bin/sh
# cxl-static/host.sh - a CXL Type 3 device with static volatile memory, used
# by Linux's own CXL stack.
#
# Boots the guest with one host bridge, root port, window and 256 MiB Type 3
# device (--cxl short form) whose memory is a shared file, hides the
# hypervisor CPUID bit (Linux refuses to commit regions in a VM otherwise),
# lets guest.sh check the hierarchy, create and online a region and write a
# pattern into it; then checks that the pattern is in the backing file at the
# offset the guest's physical address gives.
# shellcheck source=resources/lib/check.sh
. "$LIB"
# shellcheck source=resources/lib/vm.sh
. "$(dirname "$LIB")/vm.sh"

size=$((256 << 20))
serial=0x5eed0001cafe
fw=cxlvmm-e2e-7
seed=0x1234abcd5678
window=0x8000000000
mem=$WORKDIR/cxl-static.mem
rm -f "$mem"

cmdline=$(l2_cmdline memory_hotplug.memmap_on_memory=0 \
    e2e.size=$size e2e.serial=$serial e2e.fw=$fw e2e.seed=$seed e2e.window=$window)
run_vm static --kernel "$KERNEL" --initramfs "$INITRAMFS" --cmdline "$cmdline" \
    --cpus 2 --memory 512M --hide-hypervisor \
    --cxl "256M,serial=$serial,fw-version=$fw,memdev=file:$mem"

# Host side: the guest's pattern is in the backing file where its physical
# address says (region start = DPA 0 of the device: one device, 1-way).
phys=$(console_value static phys)
region_start=$(console_value static region_start)
if [ -n "$phys" ] && [ -n "$region_start" ]; then
    offset=$((phys - region_start))
    check host-pattern-in-backing-file "$CXL_GUEST" file-check "$mem" "$offset" 4096 "$seed"
else
    check_fail host-pattern-in-backing-file "guest reported no physical address"
fi

if ! check_summary host; then
    vm_failed static
    exit 1
fi
