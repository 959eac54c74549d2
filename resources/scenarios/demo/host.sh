#!/bin/sh
# demo/host.sh - the main job, shown step by step: Linux boots in cxlvmm
# with a DC-only CXL Type 3 device; an operator creates a tagged memory
# backend, adds it to the guest as Dynamic Capacity by tag, the guest's
# driver accepts it and writes to it at native speed, and the operator
# releases it again. Every step prints what the API and the guest said.
# shellcheck source=resources/lib/check.sh
. "$LIB"
# shellcheck source=resources/lib/vm.sh
. "$(dirname "$LIB")/vm.sh"

sock=$WORKDIR/api.sock
seed=0xde3000
tag=5be13bce-ae34-4a77-b6c3-16df975fcf1a
mem=$WORKDIR/tagged.mem
rm -f "$mem" "$sock"

say() { echo "E2E-DEMO: $*"; }
# show NAME WANT CMD...: run a cxlvmm-remote command, print its output, and
# check (as NAME) that it succeeded and said WANT (empty: anything).
show() {
    _name=$1 _want=$2
    shift 2
    say "\$ cxlvmm-remote $*"
    if out=$("$CXLVMM_REMOTE" --api-socket "$sock" "$@" 2>&1); then _rc=0; else _rc=$?; fi
    printf '%s\n' "$out" | while IFS= read -r l; do say "    $l"; done
    if [ "$_rc" -ne 0 ]; then
        check_fail "$_name" "cxlvmm-remote $1 exited $_rc"
    elif [ -n "$_want" ] && ! has "$out" "$_want"; then
        check_fail "$_name" "cxlvmm-remote $1 did not say '$_want'"
    else
        check_pass "$_name"
    fi
}
guest_line() { tr -d '\r' <"$WORKDIR/demo-console.log" | grep -E "$1" | tail -n 1; }

say "booting Linux in cxlvmm with a CXL Type 3 device: 1 GiB of Dynamic Capacity, no memory yet"
start_vm demo --kernel "$KERNEL" --initramfs "$INITRAMFS" \
    --cmdline "$(l2_cmdline e2e.window=0x8000000000 e2e.seed=$seed e2e.plan=accept)" \
    --cpus 2 --memory 512M --api-socket "$sock" \
    --cxl-host-bridge id=hb0 --cxl-root-port id=rp0,bus=hb0 \
    --cxl-type3 id=dcd0,port=rp0,dc-regions=1,dc-regions-total-size=1G,serial=0xdcd \
    --cxl-fmw targets=hb0,size=1G
check guest-driver-ready wait_console demo 'E2E-DCD ready' 1 240
say "guest: $(guest_line 'E2E-DCD ready')"
show api-info running info
show api-devices dcd0 devices

say "creating a 2 MiB file-backed memory backend tagged $tag"
show backend-created tagged0 backend-add --id tagged0 --size 2M --kind file --path "$mem" --tag "$tag"
say "offering it to the guest as Dynamic Capacity, by tag"
show offer-pending pending dc-add dcd0 --region 0 --tag "$tag" --extent 0:2M
check guest-accepted wait_console demo 'E2E-DCD accepted' 1
say "guest: $(guest_line 'E2E-DCD accepted')"
show extent-accepted accepted dc-extents dcd0
check pattern-in-backend-file "$CXL_GUEST" file-check "$mem" 0 65536 "$seed"
say "the bytes the guest wrote at that HPA are in $mem (checked: 64 KiB)"

say "releasing the capacity by tag"
show release-requested release-pending dc-release dcd0 --region 0 --tag "$tag"
check guest-released wait_console demo 'E2E-DCD released' 1
say "guest: $(guest_line 'E2E-DCD released')"
# After the release the HPA decodes to no memory: the guest reads all-ones.
check guest-reads-all-ones-after-release wait_console demo \
    'E2E-DCD released dpa=0x0 len=0x200000 read_after=0xffffffffffffffff' 1
say "the guest read all-ones there after the release: the memory is gone from the guest"
show extent-released released dc-status dcd0 --region 0 --tag "$tag"
show backend-listed tagged0 backend-list
check backend-unbound-after-release test -z "$(printf '%s\n' "$out" | grep 'dcd0 region')"
show api-shutdown "" shutdown
finish_vm demo
check_import "$WORKDIR/demo-console.log" guest/

if ! check_summary host; then
    vm_failed demo
    exit 1
fi
