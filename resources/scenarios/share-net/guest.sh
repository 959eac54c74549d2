# shellcheck shell=sh
# share-net/guest.sh - runs inside the L2 guest (sourced by /init).
#
# Share half (share_guest): the host directory cxlvmm shares as `share`
# (virtio-fs) is mounted on /mnt; the listing, the host's files and their
# checksum match what the host computed (e2e.share_list, e2e.share_md5 on
# the command line); the guest writes a file, a text file in a
# subdirectory, a directory, renames and removes a file; after the host
# reads them it writes late.txt, which the guest then reads. After the
# guest unmounts, the host kills virtiofsd; the guest runs on.

e2e_arg() {
    tr ' ' '\n' </proc/cmdline | sed -n "s/^$1=//p" | tail -n 1
}
md5() { md5sum | cut -d' ' -f1; }

# share_listing DIR: the names and sizes under DIR, one digest (as host.sh).
share_listing() {
    (cd "$1" && find . -mindepth 1 | sort | while read -r f; do
        if [ -d "$f" ]; then echo "$f/"; else echo "$f $(wc -c <"$f")"; fi
    done) | md5sum | cut -d' ' -f1
}

share_guest() {
    # The virtio-fs function: virtio vendor, modern ID 0x1040 + 26.
    found=""
    for f in /sys/bus/pci/devices/*; do
        [ "$(cat "$f/vendor")" = 0x1af4 ] && [ "$(cat "$f/device")" = 0x105a ] && found=$f
    done
    check test-virtio-fs-function test -n "$found"
    [ -n "$found" ] && check_eq virtio-fs-driver "$(basename "$(readlink "$found/driver")")" virtio-pci
    mkdir -p /mnt
    if ! check mount-virtiofs mount -t virtiofs share /mnt; then
        return
    fi
    check_eq share-fstype "$(awk '$2 == "/mnt" { print $3 }' /proc/mounts)" virtiofs
    check_eq share-listing "$(share_listing /mnt)" "$(e2e_arg e2e.share_list)"
    check_eq share-host-md5 "$(md5 </mnt/host.bin)" "$(e2e_arg e2e.share_md5)"
    check_eq share-host-text "$(cat /mnt/hello.txt)" "written by L1 before boot"
    check_eq share-nested-text "$(cat /mnt/sub/inner.txt)" "nested file"
    echo "E2E-INFO: share: $(ls /mnt | tr '\n' ' ')($(df -k /mnt | awk 'NR == 2 { print $2 }') KiB)"

    # The guest's writes.
    dd if=/dev/urandom of=/tmp/guest.bin bs=64k count=8 2>/dev/null
    sum=$(md5 </tmp/guest.bin)
    check share-write cp /tmp/guest.bin /mnt/guest.bin
    check share-write-text sh -c 'echo "written by L2" >/mnt/sub/guest.txt'
    check share-mkdir mkdir /mnt/guestdir
    echo "to be renamed" >/mnt/rename-me.txt
    check share-rename mv /mnt/rename-me.txt /mnt/renamed.txt
    check share-remove rm /mnt/hello.txt
    check share-sync sync
    echo 3 >/proc/sys/vm/drop_caches
    check_eq share-read-back "$(md5 </mnt/guest.bin)" "$sum"
    echo "E2E-VALUE share_guest_md5=$sum"
    echo "E2E-SHARE written"

    # The host reads them and writes late.txt.
    while read -r -t 120 _line; do
        [ "$_line" = share-late ] && break
    done
    check_eq share-sees-host-late-file "$(cat /mnt/late.txt 2>&1)" "written by L1 while mounted"
    check share-umount umount /mnt

    # The host kills virtiofsd now: the device needs a reset, the guest
    # runs on and powers off normally.
    echo "E2E-SHARE unmounted"
    while read -r -t 120 _line; do
        [ "$_line" = share-killed ] && break
    done
    check_eq share-guest-runs-on "$(echo alive)" alive
}

share_guest
