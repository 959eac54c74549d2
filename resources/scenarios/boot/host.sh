#!/bin/sh
# boot/host.sh - boot Linux in cxlvmm and check the VM it sees.
#
# Runs where cxlvmm runs (inside L1 when nested, on the host when direct)
# with CXLVMM, KERNEL, INITRAMFS, WORKDIR and LIB set by scripts/e2e.sh.
# Boots the L2 guest with 2 vCPUs and 512 MiB, waits for it to power off,
# checks cxlvmm's exit status and imports the guest's CHECK lines
# (guest.sh: ACPI tables, PCI host bridge, CPUs, memory).
# shellcheck source=resources/lib/check.sh
. "$LIB"

cpus=2
mem_mib=512
tables=DSDT,FACP,APIC,MCFG
timeout_s=${E2E_GUEST_TIMEOUT:-300}
console=$WORKDIR/boot-console.log
vmmlog=$WORKDIR/boot-cxlvmm.log
rm -f "$console" "$vmmlog"

cmdline="console=ttyS0 ${E2E_L2_APPEND:-quiet loglevel=1} panic=-1"
cmdline="$cmdline e2e.cpus=$cpus e2e.mem_mib=$mem_mib e2e.acpi_tables=$tables"

start=$(date +%s)
timeout -k 10 "$timeout_s" "$CXLVMM" \
    --kernel "$KERNEL" --initramfs "$INITRAMFS" --cmdline "$cmdline" \
    --cpus "$cpus" --memory "${mem_mib}M" --serial "file:$console" \
    >"$vmmlog" 2>&1
rc=$?
end=$(date +%s)
echo "E2E-TIME: boot guest ran for $((end - start))s (cxlvmm exit $rc)"

if [ "$rc" -eq 124 ]; then
    check_fail cxlvmm-exit "timed out after ${timeout_s}s"
else
    check_eq cxlvmm-exit "$rc" 0
fi
check_import "$console" guest/

# A guest kernel panic ends the VM with the crash status (pvpanic), not a
# reboot or a hang.
pconsole=$WORKDIR/panic-console.log
timeout -k 10 "$timeout_s" "$CXLVMM" \
    --kernel "$KERNEL" --initramfs "$INITRAMFS" --cmdline "$cmdline e2e.panic=1" \
    --cpus "$cpus" --memory "${mem_mib}M" --serial "file:$pconsole" >"$WORKDIR/panic-cxlvmm.log" 2>&1
rc=$?
check_eq panic-exit-status "$rc" 4
check panic-message grep -q "guest kernel panicked" "$WORKDIR/panic-cxlvmm.log"
[ -n "${E2E_SHOW_CONSOLE:-}" ] && check_tail "$console" 100000 "guest console"

if ! check_summary host; then
    check_tail "$vmmlog" 30 "cxlvmm output (last 30 lines)"
    check_tail "$console" 60 "guest console (last 60 lines)"
    check_tail "$WORKDIR/panic-cxlvmm.log" 30 "panic run: cxlvmm output (last 30 lines)"
    check_tail "$pconsole" 60 "panic run: guest console (last 60 lines)"
    exit 1
fi
