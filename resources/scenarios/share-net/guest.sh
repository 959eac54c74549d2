# shellcheck shell=sh
# share-net/guest.sh - runs inside the L2 guest (sourced by /init, busybox
# ash). The network part, then the shared directory.
#
# Network: finds the virtio-net interface by the MAC on the command line
# (e2e.net_mac), brings it up with e2e.net_l2, says "E2E-NET ready" and waits
# for the host's "net-go" (the host pings it meanwhile); pings L1, fetches
# L1's payload and compares its md5 with e2e.net_l1_md5; serves 1 MiB of its
# own (md5 on an E2E-VALUE line), says "E2E-NET serving" and waits for
# "net-done".
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

# wait_host WORD [SECONDS]: wait for the host to type WORD on the console.
wait_host() {
    while read -r -t "${2:-300}" _line; do
        [ "$_line" = "$1" ] && return 0
    done
    return 1
}

# ---- network ------------------------------------------------------------------
NET_IF=""

net_find_interface() {
    mac=$(e2e_arg e2e.net_mac)
    i=0
    while [ -z "$NET_IF" ] && [ "$i" -lt 40 ]; do
        for a in /sys/class/net/*/address; do
            [ "$(cat "$a")" = "$mac" ] && NET_IF=$(basename "$(dirname "$a")")
        done
        [ -n "$NET_IF" ] || sleep 0.25
        i=$((i + 1))
    done
    if [ -z "$NET_IF" ]; then
        check_fail net-interface-with-mac "no interface has $mac: $(cat /sys/class/net/*/address | tr '\n' ' ')"
        return 1
    fi
    check_pass net-interface-with-mac
    echo "E2E-INFO: $NET_IF has $mac"
    # The PCI function: virtio vendor, modern network device, Ethernet class.
    dev=$(readlink -f "/sys/class/net/$NET_IF/device/..")
    check_eq net-pci-ids "$(cat "$dev/vendor") $(cat "$dev/device") $(cat "$dev/class")" \
        "0x1af4 0x1041 0x020000"
    check_eq net-driver "$(basename "$(readlink "/sys/class/net/$NET_IF/device/driver")")" virtio_net
    return 0
}

net_up() {
    check net-l2-address ip addr add "$(e2e_arg e2e.net_l2)/24" dev "$NET_IF"
    check net-l2-link-up ip link set "$NET_IF" up
    # VIRTIO_NET_F_STATUS with LINK_UP: carrier on.
    i=0
    while [ "$(cat "/sys/class/net/$NET_IF/carrier" 2>/dev/null)" != 1 ] && [ "$i" -lt 20 ]; do
        sleep 0.25
        i=$((i + 1))
    done
    check_eq net-carrier "$(cat "/sys/class/net/$NET_IF/carrier" 2>/dev/null)" 1
    check_eq net-operstate "$(cat "/sys/class/net/$NET_IF/operstate")" up
}

net_traffic() {
    l1=$(e2e_arg e2e.net_l1)
    port=$(e2e_arg e2e.net_port)
    echo "E2E-NET ready"
    if ! wait_host net-go; then
        check_fail net-host-go "the host never said net-go"
        return 1
    fi
    check net-ping-l2-to-l1 ping -c 3 -W 10 "$l1"
    check net-fetch-from-l1 wget -q -T 120 -O /tmp/l1.bin "http://$l1:$port/l1.bin"
    check_eq net-l1-to-l2-payload "$(md5sum /tmp/l1.bin 2>/dev/null | cut -d' ' -f1)" \
        "$(e2e_arg e2e.net_l1_md5)"
    mkdir -p /tmp/www
    dd if=/dev/urandom of=/tmp/www/l2.bin bs=64k count=16 2>/dev/null
    echo "E2E-VALUE net_l2_md5=$(md5sum /tmp/www/l2.bin | cut -d' ' -f1)"
    httpd -p "$(e2e_arg e2e.net_l2):$port" -h /tmp/www
    echo "E2E-NET serving"
    wait_host net-done || check_fail net-host-done "the host never said net-done"
    s=/sys/class/net/$NET_IF/statistics
    echo "E2E-INFO: $NET_IF rx $(cat "$s/rx_packets") packets $(cat "$s/rx_bytes") bytes," \
        "tx $(cat "$s/tx_packets") packets $(cat "$s/tx_bytes") bytes," \
        "errors rx $(cat "$s/rx_errors") tx $(cat "$s/tx_errors")"
    check_eq net-no-rx-errors "$(cat "$s/rx_errors")" 0
}

# ---- share ------------------------------------------------------------------
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

if net_find_interface; then
    net_up
    net_traffic
fi
share_guest
