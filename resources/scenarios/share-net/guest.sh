# shellcheck shell=sh
# share-net/guest.sh - runs inside the L2 guest (sourced by /init, busybox
# ash). The network part, then (from the --share work) the shared directory.
#
# Network: finds the virtio-net interface by the MAC on the command line
# (e2e.net_mac), brings it up with e2e.net_l2, says "E2E-NET ready" and waits
# for the host's "net-go" (the host pings it meanwhile); pings L1, fetches
# L1's payload and compares its md5 with e2e.net_l1_md5; serves 1 MiB of its
# own (md5 on an E2E-VALUE line), says "E2E-NET serving" and waits for
# "net-done".

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

if net_find_interface; then
    net_up
    net_traffic
fi
