#!/bin/sh
# rootfs/host.sh - boot Debian from a virtio-blk root filesystem built by
# scripts/build-rootfs.sh, with a static CXL Type 3 device, and use it with
# the image's own tools.
#
# The image is the run's first drive (E2E_DRIVES: L1's /dev/vda when nested,
# the image file when direct), given to the guest with --disk. The L2 kernel
# (Debian's) boots a busybox initramfs that loads virtio_blk and ext4, mounts
# root=/dev/vda and switch_roots to the image's systemd (guest.sh); a unit
# runs rootfs-checks.sh: cxl list, cxl create-region -t ram onlined as node 1,
# a pattern written through numactl --membind=1, cxl disable/destroy-region
# with the decoders back to zero, a file written on the root file system.
# Here: the pattern is looked for in the device's backend file while the VM
# runs, then the serial console's auto-login shell is used to run a command
# and power off. after.sh finds the guest's file in the image afterwards.
# shellcheck source=resources/lib/check.sh
. "$LIB"
# shellcheck source=resources/lib/vm.sh
. "$(dirname "$LIB")/vm.sh"

# systemd boots slower than the busybox guests.
E2E_GUEST_TIMEOUT=${E2E_GUEST_TIMEOUT:-600}
size=$((256 << 20))
serial=0x5eed0002cafe
mem=$WORKDIR/cxl-rootfs.mem
rm -f "$mem"
token=$(tr -d '-' </proc/sys/kernel/random/uuid)
echo "E2E-INFO: rootfs marker token $token"

drive=$(first_drive)
if ! check rootfs-drive test -n "$drive" -a \( -b "$drive" -o -f "$drive" \); then
    check_summary host
    exit 1
fi

cmdline=$(l2_cmdline root=/dev/vda rw memhp_default_state=online_movable \
    memory_hotplug.memmap_on_memory=0 e2e.token="$token" e2e.size=$size e2e.serial=$serial)
console_input rootfs
t0=$(date +%s)
start_vm rootfs --kernel "$KERNEL" --initramfs "$INITRAMFS" --cmdline "$cmdline" \
    --cpus 2 --memory 512M --hide-hypervisor --disk "path=$drive,id=rootfs" \
    --cxl "256M,serial=$serial,memdev=file:$mem"

# The pattern is in the backend file while the guest holds it.
if check guest-wrote-pattern wait_console rootfs 'E2E-ROOTFS: pattern written' 1 "$E2E_GUEST_TIMEOUT"; then
    echo "E2E-TIME: rootfs guest wrote the pattern $(($(date +%s) - t0))s after start"
    t=$(date +%s)
    # strings -t d: "OFFSET TEXT"; the text may begin before the block's
    # line (printable bytes ending the page before), so the line's own
    # offset is the string's plus where the line starts in it.
    found=$(strings -t d -n 20 "$mem" | awk -v want="cxlvmm-rootfs $token block " '{
        off = $1; text = $0; sub(/^ *[0-9]+ /, "", text)
        i = index(text, want)
        if (i > 0) print off + i - 1, substr(text, i + length(want))
    }')
    # Each of the 256 blocks is a page of the file on node 1: at a 4 KiB
    # boundary of the backend. (awk's own buffers, on node 1 too, may hold
    # more copies anywhere.)
    blocks=$(echo "$found" | awk '$1 % 4096 == 0 { print $2 }' | sort -u | grep -c .)
    echo "E2E-TIME: backend file searched in $(($(date +%s) - t))s"
    echo "E2E-INFO: backend file: $(echo "$found" | grep -c .) copies of the pattern's lines, $blocks distinct blocks at 4 KiB boundaries"
    check_eq backend-file-has-every-block "$blocks" 256
    console_send "host checked $blocks blocks"
fi
# The guest's checks end with its summary; then the getty starts.
if ! check guest-checks-done wait_console rootfs 'CHECK-SUMMARY: guest' 1 300; then
    kill "$VM_PID" 2>/dev/null
fi

# The serial getty logs root in: a shell runs what is typed on the console.
shell=0
i=0
while [ $i -lt 20 ] && kill -0 "$VM_PID" 2>/dev/null; do
    # shellcheck disable=SC2016 # expanded by the guest's shell
    console_send 'echo "E2E-SHELL: $((6 * 7)) $(id -un)@$(hostname)"'
    if wait_console rootfs 'E2E-SHELL: 42 root@cxlvmm-guest' 1 6; then
        echo "E2E-TIME: rootfs root shell on the console $(($(date +%s) - t0))s after start"
        shell=1
        break
    fi
    i=$((i + 1))
done
if [ $shell = 1 ]; then
    check_pass serial-autologin-shell
    console_send poweroff
else
    check_fail serial-autologin-shell "no shell answered on ttyS0"
    kill "$VM_PID" 2>/dev/null
fi
finish_vm rootfs
check_import "$WORKDIR/rootfs-console.log" guest/
tr -d '\r' <"$WORKDIR/rootfs-console.log" | sed -n 's/.*\(E2E-INFO: \)/\1/p'

if ! check_summary host; then
    vm_failed rootfs
    exit 1
fi
