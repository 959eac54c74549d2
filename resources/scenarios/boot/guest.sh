# shellcheck shell=sh
# boot/guest.sh - runs inside the L2 guest (sourced by /init, busybox ash).
#
# Checks what the guest kernel sees against the expectations host.sh passes
# on the kernel command line:
#   e2e.cpus=N                 online CPUs
#   e2e.mem_mib=N              RAM given to the VM, in MiB
#   e2e.acpi_tables=A,B,...    ACPI tables that must exist
# plus the PCI host bridge at 0000:00:00.0.

# e2e_arg NAME: value of NAME=... on the kernel command line.
e2e_arg() {
    tr ' ' '\n' </proc/cmdline | sed -n "s/^$1=//p" | tail -n 1
}

cpus=$(e2e_arg e2e.cpus)
mem_mib=$(e2e_arg e2e.mem_mib)
tables=$(e2e_arg e2e.acpi_tables)
check e2e-cmdline-args test -n "$cpus" -a -n "$mem_mib" -a -n "$tables"

# ACPI tables the VMM must provide.
for table in $(echo "$tables" | tr ',' ' '); do
    check "acpi-table-$table" test -e "/sys/firmware/acpi/tables/$table"
done

# PCI host bridge (class 0x0600xx) enumerated through MCFG/DSDT.
bridge=/sys/bus/pci/devices/0000:00:00.0
if check pci-host-bridge test -e "$bridge"; then
    class=$(cat "$bridge/class")
    check_eq pci-host-bridge-class "${class%??}" 0x0600
fi

# CPUs.
if [ "$cpus" -eq 1 ]; then want_online=0; else want_online="0-$((cpus - 1))"; fi
check_eq cpu-nproc "$(nproc)" "$cpus"
check_eq cpu-online "$(cat /sys/devices/system/cpu/online)" "$want_online"

# Memory: the kernel keeps some for itself, so MemTotal is a bit below the
# configured size; accept (85%, 100%].
mem_kib=$(sed -n 's/^MemTotal: *\([0-9]*\) kB/\1/p' /proc/meminfo)
given_kib=$((mem_mib * 1024))
if [ "$mem_kib" -gt $((given_kib * 85 / 100)) ] && [ "$mem_kib" -le "$given_kib" ]; then
    check_pass memtotal
else
    check_fail memtotal "MemTotal ${mem_kib} kB not in (85%, 100%] of ${given_kib} kB"
fi

# pvpanic bound to the DSDT's QEMU0001 device; with e2e.panic=1 the guest
# panics on purpose and cxlvmm must exit with its crash status.
check pvpanic-bound test -e /sys/bus/platform/drivers/pvpanic-mmio/QEMU0001:00
case " $(cat /proc/cmdline) " in
*" e2e.panic=1 "*)
    check_summary guest
    echo c >/proc/sysrq-trigger
    ;;
esac
