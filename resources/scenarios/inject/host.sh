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
# Then: a return-code fault on Set Alert Configuration that cxl reports
# (and the trace shows armed, triggered, expired); `cxl update-firmware -w`
# (Transfer FW; Linux activates offline, so the guest activates online with
# the mailbox while cxl_pci lets go, and Linux reads the new revision);
# a pattern written through a device-DAX region, Sanitize through sysfs,
# zeros read back (and in the backend file); the `--trace` file decoded by
# `cxlvmm-remote trace`. A second VM with a DC-only device answered from
# user space (Debian's kernel has no DCD driver) shows a DC offer and the
# accept on `cxlvmm-remote events`, started before the add.
# shellcheck source=resources/lib/check.sh
. "$LIB"
# shellcheck source=resources/lib/vm.sh
. "$(dirname "$LIB")/vm.sh"

# Nested, each VM takes about a minute; leave room on a loaded machine.
E2E_GUEST_TIMEOUT=${E2E_GUEST_TIMEOUT:-900}
sock=$WORKDIR/api.sock
mem=$WORKDIR/inj.mem
trace=$WORKDIR/inj.trace
rm -f "$sock" "$mem" "$trace"

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

drive=$(first_drive)
if ! check rootfs-drive test -n "$drive" -a \( -b "$drive" -o -f "$drive" \); then
    check_summary host
    exit 1
fi

console_input inj
start_vm inj --kernel "$KERNEL" --initramfs "$INITRAMFS" --cmdline "$(l2_cmdline)" \
    --cpus 2 --memory 512M --api-socket "$sock" --hide-hypervisor --trace "$trace" \
    --disk "path=$drive,readonly=on,id=rootfs" \
    --memory-backend id=vm0,size=256M,kind=file,path="$mem" \
    --cxl-host-bridge id=hb0 --cxl-root-port id=rp0,bus=hb0 \
    --cxl-type3 id=mem0,port=rp0,volatile-memdev=vm0,serial=0x17 \
    --cxl-fmw targets=hb0,size=256M

wait_console inj 'E2E-INJ ready' 1 600 ||
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

# Fault injection: the guest's next Set Alert Configuration (0x4202) is
# answered Internal Error (0x4); the fault is listed until its count runs out.
expect_ok fault-add fault-add mem0 --kind return-code --opcode 0x4202 --return-code 0x4 --count 1
expect_ok fault-listed fault-list mem0
check fault-listed-opcode has "$out" '16898'
console_send fault
wait_console inj 'E2E-INJ fault-seen' 1 120 ||
    fail_now guest-fault-seen "no 'E2E-INJ fault-seen' on the console"
expect_ok fault-list-after fault-list mem0
if has "$out" '16898'; then check_fail fault-gone-after-count "$out"; else check_pass fault-gone-after-count; fi

# The guest updates the firmware with cxl and sanitizes the device.
# The first Sanitize (the guest's own, while cxl_pci is unbound) is held
# in the background for 60 s; the guest aborts it with Request Abort
# Background Operation, and Linux's Sanitize later runs unheld.
expect_ok fault-hold-sanitize fault-add mem0 --kind background-hold --opcode 0x4400 --ms 60000 --count 1
console_send ops
if wait_console inj 'E2E-INJ pattern-written' 1 600; then
    check sanitize-pattern-in-backend "$CXL_GUEST" file-check "$mem" 0 65536 0x5a41712e
else
    check_fail sanitize-pattern-in-backend "no 'E2E-INJ pattern-written' on the console"
fi
console_send sanitize
wait_console inj 'E2E-INJ ops-done' 1 600 ||
    fail_now guest-ops-done "no 'E2E-INJ ops-done' on the console"

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

# The decoded trace (--trace): one JSON object per line. The fault was
# armed, triggered by the guest's command, and expired.
# trace_has NAME WORD...: a trace line holding every WORD.
trace_has() {
    _th_n=$1
    shift
    _th_l=$(cat "$trace" 2>/dev/null)
    for _th_w in "$@"; do _th_l=$(printf '%s\n' "$_th_l" | grep -F -- "$_th_w"); done
    if [ -n "$_th_l" ]; then
        check_pass "$_th_n"
        echo "E2E-INFO: trace: $(printf '%s\n' "$_th_l" | head -n 1)"
    else
        check_fail "$_th_n" "no trace line with $*"
    fi
}
echo "E2E-INFO: trace: $(grep -c . "$trace" 2>/dev/null) records"
# What Linux asked that the device refused (the injected fault aside).
echo "E2E-INFO: trace: mailbox answers other than Success: $(grep '"kind":"mailbox"' "$trace" |
    grep -v '"rc":"Success"' | sed -n 's/.*"name":"\([^"]*\)".*"rc":"\([^"]*\)".*/\1=\2/p' |
    sort | uniq -c | tr -s ' ' | tr '\n' ',')"
trace_has trace-fault-armed '"kind":"fault"' '"event":"armed"' '16898'
trace_has trace-fault-triggered '"kind":"fault"' '"event":"triggered"' '"opcode":16898' '"return-code":4'
trace_has trace-fault-expired '"kind":"fault"' '"event":"expired"'
trace_has trace-set-alert-config '"kind":"mailbox"' '"opcode":16898' '"rc":"Success"'
trace_has trace-injected-poison '"kind":"inject"'
trace_has trace-transfer-fw '"kind":"mailbox"' '"name":"Transfer FW"' '"rc":"BackgroundCommandStarted"'
trace_has trace-activate-fw '"kind":"mailbox"' '"name":"Activate FW"' '"rc":"Success"'
trace_has trace-sanitize '"kind":"mailbox"' '"name":"Sanitize"' '"rc":"BackgroundCommandStarted"'
trace_has trace-abort '"kind":"mailbox"' '"name":"Request Abort Background Operation"' '"rc":"Success"'
trace_has trace-aborted '"kind":"mailbox"' '"background":"aborted"' '"opcode":17408'
# cxlvmm-remote decodes the file into a table.
if table=$("$CXLVMM_REMOTE" trace "$trace" 2>&1); then
    check_pass trace-decodes
else
    check_fail trace-decodes "$table"
fi
echo "E2E-INFO: cxlvmm-remote trace: $(echo "$table" | grep -c .) lines; $(echo "$table" | grep -E 'Sanitize|fault' | head -n 3 | tr -s ' ' | tr '\n' '|')"
check trace-table-sanitize has "$table" 'Sanitize'
check trace-table-fault has "$table" 'triggered'
# Sanitize erased the media: the backend file's first 64 KiB (where the
# guest wrote its pattern) read zero.
check sanitize-backend-zero cmp -n 65536 "$mem" /dev/zero

# ---- the operator's event stream: a DC offer and the guest's accept ----------
# A second VM with a DC-only device, driven from user space in the guest
# (cxl-guest dcd-serve: Debian's kernel has no DCD driver). `cxlvmm-remote
# events` runs before the add and shows the offer and the accept as they
# happen.
dsock=$WORKDIR/dcd.sock
events=$WORKDIR/events.log
tag=5be13bce-ae34-4a77-b6c3-16df975fcf1a
rm -f "$dsock" "$events"
rd() { "$CXLVMM_REMOTE" --api-socket "$dsock" --json "$@" 2>&1; }
start_vm dcd --kernel "$KERNEL" --initramfs "$INITRAMFS" \
    --cmdline "$(l2_cmdline e2e.part=dcd e2e.window=0x8000000000 e2e.seed=0xdcde2e)" \
    --cpus 1 --memory 512M --api-socket "$dsock" \
    --cxl-host-bridge id=hb0 --cxl-root-port id=rp0,bus=hb0 \
    --cxl-type3 id=dcd0,port=rp0,dc-regions=1,dc-regions-total-size=256M,serial=0xdcd \
    --cxl-fmw targets=hb0,size=256M
if wait_console dcd 'E2E-DCD ready' 1 600; then
    check_pass dcd-guest-ready
    # Without --since the stream shows only what happens from now: a
    # harmless health injection (an operator record) shows it is live.
    "$CXLVMM_REMOTE" --api-socket "$dsock" events >"$events" 2>&1 &
    ev_pid=$!
    n=20
    while ! grep -q inject "$events" && [ $n -gt 0 ]; do
        rd cxl-inject-health dcd0 --temperature 25 >/dev/null
        sleep 0.5
        n=$((n - 1))
    done
    check events-stream-live grep -q inject "$events"
    if out=$(rd backend-add --id tm0 --size 2M --tag $tag); then check_pass dcd-backend-add; else check_fail dcd-backend-add "$out"; fi
    if out=$(rd dc-add dcd0 --region 0 --tag $tag --extent 0:2M); then check_pass dcd-add; else check_fail dcd-add "$out"; fi
    check dcd-guest-accepted wait_console dcd 'E2E-DCD accepted dpa=0x0 ' 1 120
    # The stream shows both while it runs.
    n=100
    while ! { grep -q offered "$events" && grep -q accepted "$events"; } && [ $n -gt 0 ]; do
        sleep 0.1
        n=$((n - 1))
    done
    kill "$ev_pid" 2>/dev/null
    wait "$ev_pid" 2>/dev/null
    echo "E2E-INFO: cxlvmm-remote events: $(grep -E 'offered|accepted' "$events" | tr -s ' ' | tr '\n' '|')"
    check events-show-offer grep -q offered "$events"
    check events-show-accept grep -q accepted "$events"
    check events-offer-before-accept sh -c "grep -nE 'offered|accepted' '$events' | head -n 1 | grep -q offered"
    if out=$(rd shutdown); then check_pass dcd-shutdown; else check_fail dcd-shutdown "$out"; fi
else
    check_fail dcd-guest-ready "no 'E2E-DCD ready' on the console"
    vm_failed dcd
    kill "$VM_PID" 2>/dev/null
fi
finish_vm dcd
check_import "$WORKDIR/dcd-console.log" dcd-guest/

if ! check_summary host; then
    vm_failed inj
    exit 1
fi
