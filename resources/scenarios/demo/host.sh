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
# show CMD...: run a cxlvmm-remote command and print its output.
show() {
    say "\$ cxlvmm-remote $*"
    "$CXLVMM_REMOTE" --api-socket "$sock" "$@" 2>&1 | while IFS= read -r l; do say "    $l"; done
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
show info
show devices

say "creating a 2 MiB file-backed memory backend tagged $tag"
show backend-add --id tagged0 --size 2M --kind file --path "$mem" --tag "$tag"
say "offering it to the guest as Dynamic Capacity, by tag"
show dc-add dcd0 --region 0 --tag "$tag" --extent 0:2M
check guest-accepted wait_console demo 'E2E-DCD accepted' 1
say "guest: $(guest_line 'E2E-DCD accepted')"
show dc-extents dcd0
check pattern-in-backend-file "$CXL_GUEST" file-check "$mem" 0 65536 "$seed"
say "the bytes the guest wrote at that HPA are in $mem (checked: 64 KiB)"

say "releasing the capacity by tag"
show dc-release dcd0 --region 0 --tag "$tag"
check guest-released wait_console demo 'E2E-DCD released' 1
say "guest: $(guest_line 'E2E-DCD released') (all-ones: the memory is gone from the guest)"
show dc-status dcd0 --region 0 --tag "$tag"
show backend-list
show shutdown
finish_vm demo

if ! check_summary host; then
    vm_failed demo
    exit 1
fi
