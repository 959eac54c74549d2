#!/bin/sh
# inject/host.sh - errors, events and health injected through the API reach
# Linux's own CXL stack: cxl_pci's event interrupt handler traces the
# General Media, DRAM and Memory Module records (cxl_general_media,
# cxl_dram, cxl_memory_module), the poison list the memdev reads lists the
# injected poison with source Internal (cxl_poison), a correctable and an
# uncorrectable RAS error arrive through AER at the root port and cxl_pci's
# error handlers trace them (cxl_aer_correctable_error,
# cxl_aer_uncorrectable_error). One injection goes as a QMP command.
# The guest also runs ndctl's `cxl` from the Debian root (prepare.sh: the
# run's first drive, a read-only virtio disk here): set-alert-config, whose
# life-used threshold a health injection then crosses, and list -A / -L.
# shellcheck source=resources/lib/check.sh
. "$LIB"
# shellcheck source=resources/lib/vm.sh
. "$(dirname "$LIB")/vm.sh"

# Under nested TCG the guest takes minutes to boot.
E2E_GUEST_TIMEOUT=${E2E_GUEST_TIMEOUT:-1200}
sock=$WORKDIR/api.sock
mem=$WORKDIR/inj.mem
rm -f "$sock" "$mem"

r() { "$CXLVMM_REMOTE" --api-socket "$sock" --json "$@" 2>&1; }
expect_ok() {
    _n=$1
    shift
    if out=$(r "$@"); then check_pass "$_n"; else check_fail "$_n" "$out"; fi
}
fail_now() {
    check_fail "$1" "$2"
    vm_failed inj
    kill "$VM_PID" 2>/dev/null
    check_summary host
    exit 1
}

drive=${E2E_DRIVES%% *}
n=100
while [ -n "$drive" ] && [ ! -b "$drive" ] && [ ! -f "$drive" ] && [ $n -gt 0 ]; do
    sleep 0.1
    n=$((n - 1))
done
if ! check rootfs-drive test -n "$drive" -a \( -b "$drive" -o -f "$drive" \); then
    check_summary host
    exit 1
fi

console_input inj
start_vm inj --kernel "$KERNEL" --initramfs "$INITRAMFS" --cmdline "$(l2_cmdline)" \
    --cpus 2 --memory 512M --api-socket "$sock" --hide-hypervisor \
    --disk "path=$drive,readonly=on,id=rootfs" \
    --memory-backend id=vm0,size=256M,kind=file,path="$mem" \
    --cxl-host-bridge id=hb0 --cxl-root-port id=rp0,bus=hb0 \
    --cxl-type3 id=mem0,port=rp0,volatile-memdev=vm0,serial=0x17 \
    --cxl-fmw targets=hb0,size=256M

wait_console inj 'E2E-INJ ready' 1 900 ||
    fail_now guest-ready "no 'E2E-INJ ready' on the console"
check_pass guest-ready

expect_ok inject-poison cxl-inject-poison mem0 --start 0x1000 --length 128
expect_ok inject-poison-qmp qmp \
    '{"execute":"cxl-inject-poison","arguments":{"path":"/machine/peripheral/mem0","start":8192,"length":64}}'
expect_ok inject-general-media cxl-inject-general-media-event mem0 --log warning --flags 1 \
    --dpa 0x2000 --descriptor 1 --type 0 --transaction-type 2 --channel 3
expect_ok inject-dram cxl-inject-dram-event mem0 --log failure --flags 2 --dpa 0x4000 \
    --descriptor 2 --type 1 --transaction-type 1 --rank 1 --bank 5 --row 77 --column 9
expect_ok inject-memory-module cxl-inject-memory-module-event mem0 --log informational --flags 0 \
    --type 3 --health-status 0 --media-status 0 --additional-status 0 --life-used 10 \
    --temperature 41 --dirty-shutdown-count 1 --corrected-volatile-error-count 0 \
    --corrected-persistent-error-count 0
# A critical temperature: Additional Status and a Memory Module record of
# the device's own.
expect_ok inject-health cxl-inject-health mem0 --temperature 95
# Past the guest's life-used warning threshold (30): a Warning record.
expect_ok inject-life-used cxl-inject-health mem0 --life-used 40
expect_ok inject-correctable cxl-inject-correctable-error mem0 --type mem-data-ecc
# Refusals are the operator's errors, not the guest's.
if out=$(r cxl-inject-poison mem0 --start 0x1001 --length 64); then
    check_fail inject-unaligned-refused "$out"
else
    check inject-unaligned-refused has "$out" 'HTTP 400'
fi
console_send injected
wait_console inj 'E2E-INJ checked' 1 120 ||
    fail_now guest-checked "no 'E2E-INJ checked' on the console"

# Last: an uncorrectable error (fatal by AER's default severity), after
# which Linux resets the link and probes the device again.
expect_ok inject-uncorrectable cxl-inject-uncorrectable-errors mem0 --error mem-data-ecc:0x1,0x2 --error internal
console_send uncorrectable
wait_console inj 'E2E-INJ done' 1 120 || check_fail guest-done "no 'E2E-INJ done' on the console"
console_send done
finish_vm inj
check_import "$WORKDIR/inj-console.log" guest/
# What the guest saw (its trace lines, cxl's JSON), for the log.
tr -d '\r' <"$WORKDIR/inj-console.log" | sed -n 's/.*\(E2E-INFO: \)/\1/p'
if ! check_summary host; then
    vm_failed inj
    exit 1
fi
