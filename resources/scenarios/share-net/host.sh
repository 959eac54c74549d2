#!/bin/sh
# share-net/host.sh - what a kernel developer's guest is given besides its
# disk: a host directory shared with it (--share: virtio-fs served by the
# virtiofsd cxlvmm starts) and a network link to the host (--net on a tap).
#
# Share half (share_* functions): WORKDIR/share holds a 1 MiB random file,
# a text file and a subdirectory. cxlvmm runs with --share on it (tag
# `share`, --virtiofsd $VIRTIOFSD). guest.sh mounts it (`mount -t virtiofs
# share /mnt`), checks the listing, content and checksum of what L1 wrote,
# writes files of its own; while the VM runs, host.sh finds them with the
# guest's checksum and writes one more file, which the guest then reads.
# Then the host kills virtiofsd (the guest has unmounted): cxlvmm says once
# that the backend is gone and the VM runs on to a normal poweroff. After
# it: the guest's files are still there, no virtiofsd is left and its
# private directory is gone. Bad --fs/--share values are refused at
# start-up with one line and exit status 2; a backend that is not there with
# one line and exit status 1.
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

# ---- share half ------------------------------------------------------------

# The shared directory and what the guest must find in it.
share_prepare() {
    share_dir=$WORKDIR/share
    rm -rf "$share_dir"
    mkdir -p "$share_dir/sub"
    dd if=/dev/urandom of="$share_dir/host.bin" bs=64k count=16 2>/dev/null
    echo "written by L1 before boot" >"$share_dir/hello.txt"
    echo "nested file" >"$share_dir/sub/inner.txt"
    share_host_md5=$(md5sum <"$share_dir/host.bin" | cut -d' ' -f1)
    share_list=$(share_listing "$share_dir")
    check test-virtiofsd-given test -x "$VIRTIOFSD"
}

# share_listing DIR: the names and sizes under DIR, one digest.
share_listing() {
    (cd "$1" && find . -mindepth 1 | sort | while read -r f; do
        if [ -d "$f" ]; then echo "$f/"; else echo "$f $(wc -c <"$f")"; fi
    done) | md5sum | cut -d' ' -f1
}

# Start-up refusals: one line each, exit status 2 (bad values) or 1 (no
# backend behind a socket).
share_startup_errors() {
    touch "$WORKDIR/plain"
    long=0123456789012345678901234567890123456
    v="--virtiofsd $VIRTIOFSD"
    while read -r name args; do
        [ -n "$name" ] || continue
        # shellcheck disable=SC2086 # split into flags and values on purpose
        out=$("$CXLVMM" --kernel "$KERNEL" $args 2>&1)
        rc=$?
        check_eq "bad-$name-exit" "$rc" 2
        check_eq "bad-$name-one-line" "$(echo "$out" | wc -l)" 1
        echo "E2E-INFO: bad-$name: $out"
    done <<BAD
share-missing-dir --share $WORKDIR/missing $v
share-not-a-dir --share $WORKDIR/plain $v
share-long-tag --share $share_dir,tag=$long $v
share-unknown-key --share $share_dir,cache=none $v
share-bad-sandbox --share $share_dir,sandbox=jail $v
share-tag-twice --share $share_dir --share $share_dir,tag=share $v
share-virtiofsd-not-executable --share $share_dir --virtiofsd $WORKDIR/plain
virtiofsd-without-share $v
fs-not-a-socket --fs tag=x,socket=$WORKDIR/plain
fs-missing-socket --fs tag=x,socket=$WORKDIR/missing.sock
fs-no-tag --fs socket=$WORKDIR/plain
BAD
    # A socket whose virtiofsd was killed: nobody answers.
    "$VIRTIOFSD" --socket-path="$WORKDIR/dead.sock" --shared-dir="$share_dir" \
        --sandbox=none --log-level=error 2>/dev/null &
    vpid=$!
    i=0
    while [ ! -S "$WORKDIR/dead.sock" ] && [ "$i" -lt 100 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    kill -9 "$vpid" 2>/dev/null
    wait "$vpid" 2>/dev/null
    check test-dead-socket-left test -S "$WORKDIR/dead.sock"
    out=$("$CXLVMM" --kernel "$KERNEL" --fs "tag=x,socket=$WORKDIR/dead.sock" 2>&1)
    rc=$?
    check_eq dead-backend-exit "$rc" 1
    check_eq dead-backend-one-line "$(echo "$out" | wc -l)" 1
    case $out in
    *"cannot connect"*) check_pass dead-backend-says-why ;;
    *) check_fail dead-backend-says-why "$out" ;;
    esac
}

# share_virtiofsd_pids: the virtiofsd processes serving $share_dir (from
# their whole command lines: busybox's pgrep -f sees only the first 255
# bytes, and the wrapper's loader and library path come first).
share_virtiofsd_pids() {
    for _sv_c in /proc/[0-9]*/cmdline; do
        _sv_line=$(tr '\0' ' ' <"$_sv_c" 2>/dev/null) || continue
        case "$_sv_line" in
        *virtiofsd*" --shared-dir=$share_dir "*)
            _sv_p=${_sv_c#/proc/}
            echo "${_sv_p%/cmdline}"
            ;;
        esac
    done
}

# The cxlvmm arguments of the share half.
share_args() {
    echo "--share $share_dir --virtiofsd $VIRTIOFSD"
}

# The kernel command line expectations of the share half.
share_cmdline() {
    echo "e2e.share_md5=$share_host_md5 e2e.share_list=$share_list"
}

# While the VM runs (called once the guest printed "E2E-SHARE written"):
# the guest's files are here, with its checksum; then a file for it to read.
share_while_running() {
    vfsd=$(share_virtiofsd_pids)
    check test-virtiofsd-running test -n "$vfsd"
    echo "E2E-INFO: virtiofsd pid(s) $vfsd: $(tr '\0' ' ' <"/proc/${vfsd%% *}/cmdline" 2>/dev/null | sed 's/.*virtiofsd //')"
    guest_md5=$(console_value "$1" share_guest_md5)
    if [ -z "$guest_md5" ]; then
        check_fail guest-reported-md5 "no share_guest_md5 on the guest console"
        return
    fi
    check_eq host-reads-guest-file "$(md5sum <"$share_dir/guest.bin" | cut -d' ' -f1)" "$guest_md5"
    check_eq host-reads-guest-text "$(cat "$share_dir/sub/guest.txt")" "written by L2"
    check_eq guest-mkdir-seen "$(ls -d "$share_dir/guestdir" 2>&1)" "$share_dir/guestdir"
    echo "written by L1 while mounted" >"$share_dir/late.txt"
}

# The guest has unmounted: virtiofsd dies under the running VM.
share_kill_backend() {
    killed=$(share_virtiofsd_pids)
    if [ -z "$killed" ]; then
        check_fail share-backend-killed "no virtiofsd to kill"
        return
    fi
    # shellcheck disable=SC2086 # one or more pids
    kill -9 $killed
    i=0
    while [ -n "$(share_virtiofsd_pids)" ] && [ "$i" -lt 50 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    check_eq share-backend-killed "$(share_virtiofsd_pids)" ""
    # The device thread notices the hang-up.
    i=0
    while ! grep -q 'closed the connection' "$WORKDIR/$VM-cxlvmm.log" && [ "$i" -lt 100 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    check test-vmm-alive-after-backend-death kill -0 "$VM_PID"
}

# After poweroff: what the guest wrote stays; virtiofsd and its directory
# are gone.
share_after() {
    if [ -n "${guest_md5:-}" ]; then
        check_eq guest-file-after-exit "$(md5sum <"$share_dir/guest.bin" | cut -d' ' -f1)" "$guest_md5"
    else
        check_fail guest-file-after-exit "the guest reported no checksum"
    fi
    check_eq guest-rename-done "$(cat "$share_dir/renamed.txt" 2>&1)" "to be renamed"
    check test-guest-removed-file test ! -e "$share_dir/hello.txt"
    check_eq virtiofsd-stopped "$(share_virtiofsd_pids)" ""
    # cxlvmm said exactly one thing about the share: that its backend went
    # away (it logs warnings and errors only).
    said=$(grep -iE 'virtio-fs|virtiofsd|vhost-user|share' "$WORKDIR/$VM-cxlvmm.log")
    check_eq share-one-warning "$(echo "$said" | grep -c .)" 1
    case $said in
    *"virtio-fs 'share': the vhost-user backend at "*"closed the connection"*) check_pass share-warning-says-why ;;
    *) check_fail share-warning-says-why "$said" ;;
    esac
    left=$(ls -d "${TMPDIR:-/tmp}"/cxlvmm-share.* 2>/dev/null)
    check_eq private-dir-removed "$left" ""
}

# ---- the run -------------------------------------------------------------------
net_bad_args
share_prepare
share_startup_errors
net_prepare
cmdline=$(l2_cmdline "$(net_cmdline) $(share_cmdline)")
console_input "$VM"
# shellcheck disable=SC2046 # the share half's arguments, split on purpose
start_vm "$VM" --kernel "$KERNEL" --initramfs "$INITRAMFS" --cmdline "$cmdline" \
    --cpus 2 --memory 512M \
    --net "tap=$NET_TAP,mac=$NET_MAC" $(share_args)
# Network first (the guest waits for net-go, then net-done).
if net_host_side && net_checks; then
    # The device thread moved the traffic under its filter.
    check_seccomp seccomp-every-thread cxlvmm vcpu0 vcpu1 virtio-net0 virtio-fs0
fi
console_send net-done
# Then the share.
if wait_console "$VM" 'E2E-SHARE written' 1 240; then
    check_pass guest-wrote-share
    share_while_running "$VM"
else
    check_fail guest-wrote-share "no 'E2E-SHARE written' on the guest console"
fi
console_send share-late
if wait_console "$VM" 'E2E-SHARE unmounted' 1 120; then
    share_kill_backend
else
    check_fail guest-unmounted-share "no 'E2E-SHARE unmounted' on the guest console"
fi
console_send share-killed
finish_vm "$VM"
check_import "$WORKDIR/$VM-console.log" guest/
tr -d '\r' <"$WORKDIR/$VM-console.log" | sed -n 's/.*\(E2E-INFO: \)/\1/p'
net_finish
share_after

if ! check_summary host; then
    vm_failed "$VM"
    exit 1
fi
