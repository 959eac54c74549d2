#!/bin/sh
# share-net/host.sh - what a kernel developer's guest is given besides its
# disk: a network link to the host (and a shared host directory: its checks
# join this scenario in sections of their own).
#
# Network: cxlvmm --net tap=tap0 creates the tap in L1 (no network device of
# its own; link-local addresses only). L1's tap gets 169.254.10.1/24, L2's
# eth0 169.254.10.2/24. Checked: bad --net values are refused with one line
# and exit status 2, creating nothing, and a tap that cannot be opened with
# one line and status 1; the tap cxlvmm made has the virtio-net
# header flags; the guest sees the link up with the configured MAC; ping
# both ways; 1 MiB of random data fetched over HTTP (busybox httpd and wget)
# each way arrives with the sender's md5; every cxlvmm thread runs under
# seccomp; the tap is gone once cxlvmm exits.
# shellcheck source=resources/lib/check.sh
. "$LIB"
# shellcheck source=resources/lib/vm.sh
. "$(dirname "$LIB")/vm.sh"

VM=share-net

# ---- network ------------------------------------------------------------------
NET_TAP=tap0
NET_MAC=52:54:00:e2:e0:0a
NET_L1_IP=169.254.10.1
NET_L2_IP=169.254.10.2
NET_PORT=8080
NET_WWW=$WORKDIR/net-www
NET_HTTPD=""

md5_of() { md5sum "$1" | cut -d' ' -f1; }

# net_bad_args: command-line mistakes are one line, exit status 2, no tap.
net_bad_args() {
    for bad in "tap=" "tap=abcdefghijklmnop" "tap=a/b" "tap=$NET_TAP,mac=01:00:5e:00:00:01" \
        "tap=$NET_TAP,mac=52:54:00:00:00" "tap=$NET_TAP,queues=2" "mac=$NET_MAC"; do
        out=$("$CXLVMM" --kernel "$KERNEL" --net "$bad" 2>&1)
        rc=$?
        name=net-bad-$(echo "$bad" | sed 's/[^a-z0-9]//g')
        check_eq "$name-exit" "$rc" 2
        check_eq "$name-one-line" "$(echo "$out" | wc -l)" 1
    done
    check net-bad-args-create-no-tap test ! -e "/sys/class/net/$NET_TAP"
    # A tap that cannot be opened (lo is no tap): one line, exit status 1.
    out=$("$CXLVMM" --kernel "$KERNEL" --serial null --net tap=lo 2>&1)
    rc=$?
    check_eq net-not-a-tap-exit "$rc" 1
    check_eq net-not-a-tap-one-line "$(echo "$out" | wc -l)" 1
    check net-not-a-tap-says-why has "$out" "tap 'lo': TUNSETIFF"
}

# net_prepare: the payload L1 serves.
net_prepare() {
    rm -rf "$NET_WWW"
    mkdir -p "$NET_WWW"
    dd if=/dev/urandom of="$NET_WWW/l1.bin" bs=64k count=16 2>/dev/null
    NET_L1_MD5=$(md5_of "$NET_WWW/l1.bin")
}

# net_cmdline: what guest.sh needs to know.
net_cmdline() {
    echo "e2e.net_mac=$NET_MAC e2e.net_l1=$NET_L1_IP e2e.net_l2=$NET_L2_IP" \
        "e2e.net_port=$NET_PORT e2e.net_l1_md5=$NET_L1_MD5"
}

# net_host_side: the tap cxlvmm created gets L1's address and a web server.
net_host_side() {
    i=0
    while [ ! -e "/sys/class/net/$NET_TAP" ] && [ "$i" -lt 300 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    if ! check net-tap-created test -e "/sys/class/net/$NET_TAP"; then
        return 1
    fi
    # IFF_TAP | IFF_NO_PI | IFF_VNET_HDR.
    check_eq net-tap-flags "$(cat "/sys/class/net/$NET_TAP/tun_flags")" 0x5002
    check net-l1-address ip addr add "$NET_L1_IP/24" dev "$NET_TAP"
    check net-l1-link-up ip link set "$NET_TAP" up
    httpd -f -p "$NET_L1_IP:$NET_PORT" -h "$NET_WWW" &
    NET_HTTPD=$!
}

# net_checks: ping the guest, let it fetch L1's payload, fetch its own.
net_checks() {
    if ! check net-guest-ready wait_console "$VM" 'E2E-NET ready' 1 240; then
        return 1
    fi
    check net-ping-l1-to-l2 ping -c 3 -W 10 "$NET_L2_IP"
    console_send net-go
    if ! check net-guest-serving wait_console "$VM" 'E2E-NET serving' 1 300; then
        return 1
    fi
    rm -f "$WORKDIR/l2.bin"
    check net-fetch-from-l2 wget -q -T 120 -O "$WORKDIR/l2.bin" "http://$NET_L2_IP:$NET_PORT/l2.bin"
    want=$(console_value "$VM" net_l2_md5)
    check net-l2-reported-md5 test -n "$want"
    check_eq net-l2-to-l1-payload "$(md5_of "$WORKDIR/l2.bin" 2>/dev/null)" "$want"
    check_eq net-l2-to-l1-size "$(wc -c <"$WORKDIR/l2.bin" 2>/dev/null | tr -d ' ')" 1048576
}

net_finish() {
    [ -n "$NET_HTTPD" ] && kill "$NET_HTTPD" 2>/dev/null
    # cxlvmm created the tap, so it went with cxlvmm's descriptor.
    check net-tap-removed-at-exit test ! -e "/sys/class/net/$NET_TAP"
}

# ---- the VM -------------------------------------------------------------------
net_bad_args
net_prepare
cmdline=$(l2_cmdline "$(net_cmdline)")
console_input "$VM"
start_vm "$VM" --kernel "$KERNEL" --initramfs "$INITRAMFS" --cmdline "$cmdline" \
    --cpus 2 --memory 512M \
    --net "tap=$NET_TAP,mac=$NET_MAC"
if net_host_side && net_checks; then
    # The device thread moved the traffic under its filter.
    check_seccomp seccomp-every-thread cxlvmm vcpu0 vcpu1 virtio-net0
fi
console_send net-done
finish_vm "$VM"
check_import "$WORKDIR/$VM-console.log" guest/
tr -d '\r' <"$WORKDIR/$VM-console.log" | sed -n 's/.*\(E2E-INFO: \)/\1/p'
net_finish

if ! check_summary host; then
    vm_failed "$VM"
    exit 1
fi
