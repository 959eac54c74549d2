#!/bin/sh
# disk/host.sh - virtio-blk: two raw images on the guest's PCI bus.
#
# A read-write image (8 MiB) with 1 MiB of random data the host wrote at
# 1 MiB, and a read-only image (4 MiB) with a marker. guest.sh checks what
# Linux's virtio_blk sees (sizes, serials, read-only flag, write cache),
# reads the host's data, writes 2 MiB of its own at 4 MiB with fsync (a
# flush), discards 1 MiB at 6 MiB, and fails to write the read-only disk. Afterwards the host finds
# the guest's data in the image and the read-only image unchanged. Bad
# --disk values are refused at start-up with exit status 2.
# shellcheck source=resources/lib/check.sh
. "$LIB"
# shellcheck source=resources/lib/vm.sh
. "$(dirname "$LIB")/vm.sh"

rw=$WORKDIR/disk-rw.img
ro=$WORKDIR/disk-ro.img
rm -f "$rw" "$ro"
truncate -s 8M "$rw"
truncate -s 4M "$ro"
dd if=/dev/urandom of="$rw" bs=64k seek=16 count=16 conv=notrunc 2>/dev/null
host_md5=$(dd if="$rw" bs=64k skip=16 count=16 2>/dev/null | md5sum | cut -d' ' -f1)
printf 'cxlvmm-readonly-disk' | dd of="$ro" conv=notrunc 2>/dev/null
ro_md5=$(md5sum <"$ro" | cut -d' ' -f1)

# Start-up errors: one line, exit status 2.
for bad in "path=$WORKDIR/missing.img" "path=$WORKDIR" "path=$rw,cache=none" \
    "path=$rw,readonly=maybe"; do
    out=$("$CXLVMM" --kernel "$KERNEL" --disk "$bad" 2>&1)
    rc=$?
    name=bad-disk-$(echo "$bad" | sed 's/.*[/,]//; s/[^a-z=.]//g')
    check_eq "$name-exit" "$rc" 2
    check_eq "$name-one-line" "$(echo "$out" | wc -l)" 1
done

cmdline=$(l2_cmdline e2e.host_md5="$host_md5" e2e.rw_sectors=16384 e2e.ro_sectors=8192)
console_input disk
start_vm disk --kernel "$KERNEL" --initramfs "$INITRAMFS" --cmdline "$cmdline" \
    --cpus 2 --memory 256M \
    --disk "path=$rw,id=e2e-rw" --disk "path=$ro,readonly=on,id=e2e-ro"
# The disks' device threads ran the guest's I/O under their own filter.
if check guest-did-its-io wait_console disk 'E2E-DISK holding' 1 240; then
    check_seccomp seccomp-every-thread cxlvmm vcpu0 vcpu1 virtio-blk0 virtio-blk1
fi
console_send done
finish_vm disk
check_import "$WORKDIR/disk-console.log" guest/
tr -d '\r' <"$WORKDIR/disk-console.log" | sed -n 's/.*\(E2E-INFO: \)/\1/p'

# The guest's data is in the image after the VM exited.
guest_md5=$(console_value disk guest_md5)
check test-guest-reported-md5 test -n "$guest_md5"
got=$(dd if="$rw" bs=64k skip=64 count=32 2>/dev/null | md5sum | cut -d' ' -f1)
check_eq host-finds-guest-data "$got" "$guest_md5"
# The host's data is still there; the read-only image is untouched.
got=$(dd if="$rw" bs=64k skip=16 count=16 2>/dev/null | md5sum | cut -d' ' -f1)
check_eq host-data-kept "$got" "$host_md5"
check_eq readonly-image-unchanged "$(md5sum <"$ro" | cut -d' ' -f1)" "$ro_md5"

if ! check_summary host; then
    vm_failed disk
    exit 1
fi
