# shellcheck shell=sh
# rootfs/guest.sh - in the L2 guest's busybox initramfs (sourced by /init,
# PID 1, once virtio_blk and ext4 are loaded): what a distribution's initramfs
# does for root=/dev/vda. Mounts the Debian root from the virtio-blk disk,
# installs the scenario's checks in it (rootfs-checks.sh, run by a systemd
# unit on the serial console before the getty), and hands over to the image's
# own /sbin/init (systemd) with switch_root. From there on every command is
# the image's. If the root cannot be mounted, /init reports and powers off.
# shellcheck source=resources/lib/cxl.sh
. /lib/cxl.sh

root=$(e2e_arg root)
mkdir -p /newroot
if check root-device wait_for "$root" 20 &&
    check mount-root mount -t ext4 -o rw "$root" /newroot &&
    check root-has-systemd test -x /newroot/sbin/init; then
    lib=/newroot/usr/local/lib/cxlvmm-e2e
    units=/newroot/etc/systemd/system
    mkdir -p "$lib" "$units/multi-user.target.wants"
    cp /lib/check.sh /lib/cxl.sh /scenario/rootfs-checks.sh "$lib/"
    cp /scenario/rootfs-checks.service "$units/cxlvmm-e2e.service"
    ln -sf ../cxlvmm-e2e.service "$units/multi-user.target.wants/cxlvmm-e2e.service"
    echo "E2E-ROOTFS: switching to the Debian root on $root"
    # The image's systemd finds /dev, /proc, /sys and /run mounted, as after
    # any initramfs.
    for m in /dev /proc /sys /run; do mount --move "$m" "/newroot$m"; done
    umount /tmp 2>/dev/null
    exec switch_root /newroot /sbin/init
fi
