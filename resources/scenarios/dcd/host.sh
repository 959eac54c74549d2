#!/bin/sh
# dcd/host.sh - Dynamic Capacity with tagged host memory, driven through the
# REST API while a user-space driver in the guest answers the device.
#
# A DC-only Type 3 device (1 GiB of DC, no memory at start-up) and an API
# socket. Tagged backends are created through the API and offered as
# capacity by tag; the guest accepts, writes a pattern at the extent's HPA,
# and the pattern must be in the backend's file. Then: release by tag (the
# guest answers Release DC; the memslot goes, the backend is free), forced
# release, a declined offer, and bad requests that must fail and change
# nothing. The VM is shut down through the API. `cxlvmm-remote events`,
# started before the first add, sees the offer and the guest's accept as
# they happen, and the `--trace` file decodes with `cxlvmm-remote trace`.
# shellcheck source=resources/lib/check.sh
. "$LIB"
# shellcheck source=resources/lib/vm.sh
. "$(dirname "$LIB")/vm.sh"

sock=$WORKDIR/api.sock
window=0x8000000000
hpa0=549755813888 # the window base: DPA 0 of the DC region
seed=0x0dcd0dcd1234
t0=5be13bce-ae34-4a77-b6c3-16df975fcf1a
t1=6be13bce-ae34-4a77-b6c3-16df975fcf1a
t2=7be13bce-ae34-4a77-b6c3-16df975fcf1a
nobody=8be13bce-ae34-4a77-b6c3-16df975fcf1a
tm0=$WORKDIR/tm0.mem
trace=$WORKDIR/trace.jsonl
events=$WORKDIR/events.jsonl
rm -f "$tm0" "$sock" "$trace" "$events"

r() { "$CXLVMM_REMOTE" --api-socket "$sock" --json "$@" 2>&1; }
# expect_ok NAME CMD...: the API call succeeds; its JSON is in $out.
expect_ok() {
    _n=$1
    shift
    if out=$(r "$@"); then check_pass "$_n"; else check_fail "$_n" "$out"; fi
}
# expect_err NAME TEXT CMD...: the API call fails with TEXT in the message,
# and the extent list is unchanged.
expect_err() {
    _n=$1 _t=$2
    shift 2
    _before=$(r dc-extents dcd0)
    if out=$(r "$@"); then
        check_fail "$_n" "succeeded: $out"
    else
        case $out in
        *"$_t"*) check_pass "$_n" ;;
        *) check_fail "$_n" "wrong error: $out" ;;
        esac
    fi
    check_eq "$_n-changes-nothing" "$(r dc-extents dcd0)" "$_before"
}

cmdline=$(l2_cmdline e2e.window=$window e2e.seed=$seed e2e.plan=accept,accept,decline,slow)
start_vm dcd --kernel "$KERNEL" --initramfs "$INITRAMFS" --cmdline "$cmdline" \
    --cpus 2 --memory 512M --api-socket "$sock" --trace "$trace" \
    --cxl-host-bridge id=hb0 --cxl-root-port id=rp0,bus=hb0 \
    --cxl-type3 id=dcd0,port=rp0,dc-regions=1,dc-regions-total-size=1G,serial=0xdcd \
    --cxl-fmw targets=hb0,size=1G

if ! wait_console dcd 'E2E-DCD ready' 1 240; then
    check_fail guest-driver-ready "no 'E2E-DCD ready' on the console"
    vm_failed dcd
    kill "$VM_PID" 2>/dev/null
    exit 1
fi
check_pass guest-driver-ready
check_eq api-socket-mode "$(stat -c %a "$sock")" 600
expect_ok api-devices devices
check dc-only-device has "$out" '"static-capacity":0'

# Tagged backends, created at run time.
expect_ok backend-add-tm0 backend-add --id tm0 --size 2M --kind file --path "$tm0" --tag $t0
expect_ok backend-add-tm1 backend-add --id tm1 --size 2M --tag $t1
expect_ok backend-add-tm2 backend-add --id tm2 --size 4M --tag $t2

# wait_line NAME FILE TEXT: FILE gets a line with TEXT within 20 s.
wait_line() {
    _wl_n=200
    until grep -q -- "$3" "$2" 2>/dev/null || [ "$_wl_n" -eq 0 ]; do
        sleep 0.1
        _wl_n=$((_wl_n - 1))
    done
    if grep -q -- "$3" "$2" 2>/dev/null; then check_pass "$1"; else check_fail "$1" "no '$3' in $2"; fi
}

# The operator's event stream, from before the first add.
"$CXLVMM_REMOTE" --api-socket "$sock" events --json >"$events" 2>&1 &
events_pid=$!
wait_line events-stream-open "$trace" '"path":"/api/v1/events","query":null,"status":200'

# 1. Add by tag; the guest accepts; the API reports the HPA; the pattern the
#    guest wrote is in tm0's file.
expect_ok add-tm0 dc-add dcd0 --region 0 --tag $t0 --extent 0:2M
check add-tm0-pending has "$out" '"state":"pending"'
check guest-accepted-tm0 wait_console dcd 'E2E-DCD accepted dpa=0x0 ' 1
wait_line events-offer "$events" '"step":"offered"'
wait_line events-accept "$events" '"step":"accepted"'
expect_ok extents-after-accept dc-extents dcd0
check tm0-accepted has "$out" '"state":"accepted"'
check tm0-hpa has "$out" "\"hpa\":$hpa0"
check tm0-mapped has "$out" '"mapped":true'
check tm0-backend has "$out" '"backend":"tm0"'
check tm0-pattern-in-backend-file "$CXL_GUEST" file-check "$tm0" 0 65536 "$seed"
# Every cxlvmm thread (main, vCPUs, API and the threads it started to serve
# the requests above) runs under its seccomp filter (the default).
check_seccomp seccomp-every-thread cxlvmm vcpu0 vcpu1 api trace
expect_ok status-tm0-accepted dc-status dcd0 --region 0 --tag $t0
check status-accepted has "$out" '"accepted"'

# 2. Bad requests fail and change nothing.
expect_err bad-unknown-tag "no memory backend has tag" dc-add dcd0 --region 0 --tag $nobody --extent 4M:2M
expect_err bad-size-mismatch "size mismatch" dc-add dcd0 --region 0 --tag $t2 --extent 4M:2M
expect_err bad-overlap "overlap" dc-add dcd0 --region 0 --tag $t1 --extent 0:2M
expect_err bad-backend-in-use "in use" dc-add dcd0 --region 0 --tag $t0 --extent 8M:2M
expect_err bad-delete-bound-backend "in use" backend-del tm0
expect_err bad-unknown-device "unknown device" dc-extents nodev

# 3. Release by tag: the guest answers Release DC; the slot goes (a read at
#    the HPA now finds nothing), the backend is free again.
expect_ok release-tm0 dc-release dcd0 --region 0 --tag $t0
check release-tm0-pending has "$out" '"state":"release-pending"'
check guest-released-tm0 wait_console dcd 'E2E-DCD released dpa=0x0 len=0x200000 read_after=0xffffffffffffffff' 1
expect_ok status-tm0-released dc-status dcd0 --region 0 --tag $t0
check status-released has "$out" '"released"'
expect_ok extents-after-release dc-extents dcd0
check_eq no-extents-after-release "$out" '[]'
expect_ok backend-free-after-release backend-list
check tm0-unbound sh -c "! echo '$out' | grep -q '\"bound-to\"'"
expect_ok delete-released-backend backend-del tm0

# 4. Forced release: no guest answer needed; the device notifies it.
expect_ok add-tm1 dc-add dcd0 --region 0 --tag $t1 --extent 2M:2M
check guest-accepted-tm1 wait_console dcd 'E2E-DCD accepted dpa=0x200000 ' 1
expect_ok forced-release-tm1 dc-release dcd0 --region 0 --tag $t1 --forced --sanitize
check forced-released-at-once has "$out" '"state":"released"'
expect_ok status-tm1-released dc-status dcd0 --region 0 --tag $t1
check status-forced-released has "$out" '"released"'
check guest-saw-forced-release wait_console dcd 'E2E-DCD forced dpa=0x200000' 1

# 5. A declined offer leaves nothing and frees the backend.
expect_ok add-tm1-again dc-add dcd0 --region 0 --tag $t1 --extent 2M:2M
check guest-declined wait_console dcd 'E2E-DCD declined' 1
expect_ok status-declined dc-status dcd0 --region 0 --tag $t1
check declined-not-found has "$out" '"not-found"'
expect_ok delete-declined-backend backend-del tm1

# 6. A pending extent cannot be released; a backed extent cannot be released
#    in part.
expect_ok add-tm2 dc-add dcd0 --region 0 --tag $t2 --extent 4M:4M
check guest-holding wait_console dcd 'E2E-DCD holding' 1
expect_err bad-release-pending "not accepted" dc-release dcd0 --region 0 --policy prescriptive --extent 4M:4M
check guest-accepted-tm2 wait_console dcd 'E2E-DCD accepted dpa=0x400000 ' 1
expect_err bad-partial-release "partial release of a backed extent" dc-release dcd0 --region 0 --policy prescriptive --extent 4M:2M

# Shut down through the API.
expect_ok shutdown shutdown
finish_vm dcd
# The stream ends with the VMM, after its last record.
_ev_n=200
while kill -0 "$events_pid" 2>/dev/null && [ "$_ev_n" -gt 0 ]; do
    sleep 0.1
    _ev_n=$((_ev_n - 1))
done
if kill -0 "$events_pid" 2>/dev/null; then
    check_fail events-stream-ends "cxlvmm-remote events still running after the VMM stopped"
    kill "$events_pid" 2>/dev/null
else
    check_pass events-stream-ends
fi
check events-vm-stopping has "$(cat "$events")" '"state":"stopping"'
# The trace decodes: the guest's mailbox commands with their payloads.
if table=$("$CXLVMM_REMOTE" trace "$trace" 2>&1); then check_pass trace-decodes; else check_fail trace-decodes "$table"; fi
check trace-get-event-records has "$table" 'Get Event Records (0100h) in {"event_log":"DynamicCapacity"} -> Success'
check trace-add-dc-response has "$table" 'Add DC Response (4802h) in {'
check trace-memslot has "$table" 'memslot'
check trace-no-drops test -z "$(grep '"kind":"dropped"' "$trace")"
check_import "$WORKDIR/dcd-console.log" guest/

if ! check_summary host; then
    vm_failed dcd
    exit 1
fi
