# shellcheck shell=sh
# disk/guest.sh - runs inside the L2 guest (sourced by /init, busybox ash).
#
# Two virtio-blk disks: vda (read-write, id e2e-rw) and vdb (read-only, id
# e2e-ro). Expectations on the command line: e2e.host_md5 (the host's 1 MiB
# at 1 MiB of vda), e2e.rw_sectors, e2e.ro_sectors.

e2e_arg() {
    tr ' ' '\n' </proc/cmdline | sed -n "s/^$1=//p" | tail -n 1
}
md5() { md5sum | cut -d' ' -f1; }

i=0
while [ ! -b /dev/vdb ] && [ "$i" -lt 20 ]; do
    sleep 0.5
    i=$((i + 1))
done
check disks-present test -b /dev/vda -a -b /dev/vdb

# The PCI functions: virtio vendor, modern block device ID.
for f in /sys/bus/pci/devices/*; do
    [ "$(cat "$f/vendor")" = 0x1af4 ] || continue
    check_eq "pci-$(basename "$f")-device" "$(cat "$f/device")" 0x1042
    check_eq "pci-$(basename "$f")-driver" "$(basename "$(readlink "$f/driver")")" virtio-pci
done

check_eq vda-size "$(cat /sys/block/vda/size)" "$(e2e_arg e2e.rw_sectors)"
check_eq vdb-size "$(cat /sys/block/vdb/size)" "$(e2e_arg e2e.ro_sectors)"
check_eq vda-serial "$(cat /sys/block/vda/serial)" e2e-rw
check_eq vdb-serial "$(cat /sys/block/vdb/serial)" e2e-ro
check_eq vda-ro "$(cat /sys/block/vda/ro)" 0
check_eq vdb-ro "$(cat /sys/block/vdb/ro)" 1
# VIRTIO_BLK_F_FLUSH: Linux runs the disk as a write-back cache.
check_eq vda-write-cache "$(cat /sys/block/vda/queue/write_cache)" "write back"

# The host's data.
check_eq read-host-data "$(dd if=/dev/vda bs=64k skip=16 count=16 2>/dev/null | md5)" \
    "$(e2e_arg e2e.host_md5)"
check_eq read-readonly-marker "$(head -c 20 /dev/vdb)" cxlvmm-readonly-disk

# Write 2 MiB at 4 MiB; conv=fsync ends with a flush the device must answer.
dd if=/dev/urandom of=/tmp/data bs=64k count=32 2>/dev/null
sum=$(md5 </tmp/data)
check write-with-fsync dd if=/tmp/data of=/dev/vda bs=64k seek=64 conv=fsync
check flush-sync sync
check flush-blockdev blockdev --flushbufs /dev/vda
echo 3 >/proc/sys/vm/drop_caches
check_eq read-back-own-data "$(dd if=/dev/vda bs=64k skip=64 count=32 2>/dev/null | md5)" "$sum"
echo "E2E-VALUE guest_md5=$sum"

# Discard (VIRTIO_BLK_F_DISCARD, write-zeroes too) on the writable disk
# only; 6..7 MiB, past the data the host checks.
check vda-discard-offered test "$(cat /sys/block/vda/queue/discard_max_bytes)" -gt 0
check vda-write-zeroes-offered test "$(cat /sys/block/vda/queue/write_zeroes_max_bytes)" -gt 0
check_eq vdb-no-discard "$(cat /sys/block/vdb/queue/discard_max_bytes)" 0
check discard blkdiscard -o $((6 << 20)) -l $((1 << 20)) /dev/vda

# The read-only disk refuses writes.
if dd if=/tmp/data of=/dev/vdb bs=512 count=1 conv=fsync 2>/dev/null; then
    check_fail readonly-write-refused "a write to vdb succeeded"
else
    check_pass readonly-write-refused
fi
check_eq readonly-marker-kept "$(head -c 20 /dev/vdb)" cxlvmm-readonly-disk
echo "E2E-INFO: vda $(cat /sys/block/vda/size) sectors, vdb $(cat /sys/block/vdb/size) sectors (ro)"

# Hold until the host has looked at cxlvmm's threads (seccomp on the disk
# threads), so they are still there while it looks.
echo "E2E-DISK holding"
while read -r -t 120 _line; do
    [ "$_line" = done ] && break
done
