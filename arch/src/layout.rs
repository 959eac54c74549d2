//! The guest physical address map and I/O port map.
//!
//! Every address constant the VMM uses lives here, so a reader can see the
//! whole map in one place:
//!
//! ```text
//! 0x0000_0000 .. 0x0009_fc00   low RAM (boot structures, real-mode area)
//!     0x0000_0500              GDT
//!     0x0000_0520              IDT (empty)
//!     0x0000_7000              boot_params ("zero page")
//!     0x0000_9000              PML4, then PDPTE (0xa000) and 4 PDs (0xb000..0xf000)
//!     0x0002_0000              kernel command line
//! 0x0009_fc00 .. 0x0010_0000   EBDA / legacy ROM area (reserved)
//!     0x000e_0000              ACPI tables (RSDP first)
//! 0x0010_0000 .. MMIO32_START  RAM (kernel loaded at 1 MiB)
//! 0xc000_0000 .. 0xe000_0000   PCI 32-bit MMIO window (BARs)
//! 0xe000_0000 .. 0xf000_0000   PCIe ECAM (segment 0, buses 0..=255)
//! 0xf000_0000 .. 0xf100_0000   CXL host bridge component registers (CHBS)
//! 0xfec0_0000                  IOAPIC
//! 0xfee0_0000                  local APIC
//! 0xfffb_c000 .. 0xfffc_0000   KVM identity map and TSS pages (Intel)
//! 0x1_0000_0000 .. RAM end     RAM above 4 GiB
//! 0x40_0000_0000 ..            PCI 64-bit MMIO window (64 GiB)
//! 0x80_0000_0000 ..            CXL fixed memory windows (256 GiB)
//! ```
//!
//! Everything stays below 1 TiB so that a guest with 40 physical address bits
//! (QEMU's default, and so the nested L1's) can reach all of it.

/// One KiB.
pub const KIB: u64 = 1 << 10;
/// One MiB.
pub const MIB: u64 = 1 << 20;
/// One GiB.
pub const GIB: u64 = 1 << 30;

// --- Low memory: boot structures -------------------------------------------

/// Global descriptor table for the 64-bit entry.
pub const BOOT_GDT_START: u64 = 0x500;
/// Interrupt descriptor table (left empty; the kernel installs its own).
pub const BOOT_IDT_START: u64 = 0x520;
/// Linux boot_params ("zero page").
pub const ZERO_PAGE_START: u64 = 0x7000;
/// Initial stack pointer for the boot vCPU.
pub const BOOT_STACK_POINTER: u64 = 0x8ff0;
/// Identity-mapping page tables: PML4, PDPTE, PDE (one 4 KiB page each).
pub const PML4_START: u64 = 0x9000;
/// Page-directory-pointer table.
pub const PDPTE_START: u64 = 0xa000;
/// Page directories (first 4 GiB in 2 MiB pages, four 4 KiB pages).
pub const PDE_START: u64 = 0xb000;
/// Kernel command line.
pub const CMDLINE_START: u64 = 0x20000;
/// Largest command line we accept (including the trailing NUL).
pub const CMDLINE_MAX_SIZE: usize = 0x10000;
/// End of usable low RAM (start of the EBDA).
pub const EBDA_START: u64 = 0x9fc00;
/// ACPI tables, RSDP first; Linux also scans 0xe0000..0x100000 for it.
pub const ACPI_TABLES_START: u64 = 0xe0000;
/// Room for all ACPI tables.
pub const ACPI_TABLES_SIZE: u64 = 0x20000;
/// Where the 64-bit kernel is loaded (1 MiB).
pub const HIMEM_START: u64 = 0x10_0000;

// --- 32-bit MMIO hole --------------------------------------------------------

/// Start of the 32-bit MMIO hole; RAM stops here and resumes at 4 GiB.
pub const MMIO32_START: u64 = 0xc000_0000;
/// End (exclusive) of the 32-bit MMIO hole.
pub const MMIO32_END: u64 = 0x1_0000_0000;
/// PCI 32-bit memory window for BARs.
pub const PCI_MMIO32_START: u64 = 0xc000_0000;
/// Size of the PCI 32-bit memory window.
pub const PCI_MMIO32_SIZE: u64 = 0x2000_0000;
/// PCIe enhanced configuration access mechanism (ECAM), segment 0.
pub const PCI_ECAM_START: u64 = 0xe000_0000;
/// ECAM size: 256 buses x 32 devices x 8 functions x 4 KiB.
pub const PCI_ECAM_SIZE: u64 = 0x1000_0000;
/// First bus number decoded by the ECAM region.
pub const PCI_ECAM_BUS_START: u8 = 0;
/// Last bus number decoded by the ECAM region.
pub const PCI_ECAM_BUS_END: u8 = 255;
/// First bus of the CXL host bridges when there are any (PCI0 keeps the
/// buses below).
pub const CXL_FIRST_BUS: u8 = 0x80;
/// Buses per CXL host bridge: its root bus and one per root port.
pub const CXL_BUSES_PER_BRIDGE: u8 = 0x10;
/// Most CXL host bridges (each gets its buses above `CXL_FIRST_BUS`).
pub const CXL_MAX_HOST_BRIDGES: usize = 8;
/// CXL host bridge component register blocks (one 64 KiB block per bridge,
/// CXL 3.1 9.17.1.2 CHBS).
pub const CXL_CHBS_START: u64 = 0xf000_0000;
/// Size of one CXL host bridge component register block.
pub const CXL_CHBS_SIZE: u64 = 0x1_0000;
/// Room for host bridge component register blocks.
pub const CXL_CHBS_AREA_SIZE: u64 = 0x100_0000;
/// IOAPIC MMIO base.
pub const IOAPIC_START: u64 = 0xfec0_0000;
/// Local APIC MMIO base.
pub const APIC_START: u64 = 0xfee0_0000;
/// Three pages KVM needs for the real-mode TSS on Intel (KVM_SET_TSS_ADDR).
pub const KVM_TSS_START: u64 = 0xfffb_d000;
/// One page KVM needs for the EPT identity map on Intel.
pub const KVM_IDENTITY_MAP_START: u64 = 0xfffb_c000;

// --- High memory -------------------------------------------------------------

/// RAM above the 32-bit hole starts at 4 GiB.
pub const RAM_64BIT_START: u64 = 0x1_0000_0000;
/// PCI 64-bit memory window for BARs.
pub const PCI_MMIO64_START: u64 = 0x40_0000_0000;
/// Size of the PCI 64-bit memory window.
pub const PCI_MMIO64_SIZE: u64 = 0x10_0000_0000;
/// Highest guest RAM end (RAM must not run into the 64-bit PCI window).
pub const RAM_MAX_END: u64 = PCI_MMIO64_START;
/// Largest guest RAM size we accept.
pub const RAM_MAX_SIZE: u64 = RAM_MAX_END - RAM_64BIT_START + MMIO32_START;
/// CXL fixed memory windows (CFMWS) are placed in this region.
pub const CXL_FMW_START: u64 = 0x80_0000_0000;
/// Size of the CXL fixed memory window region.
pub const CXL_FMW_SIZE: u64 = 0x40_0000_0000;
/// Alignment of each CXL fixed memory window (CXL 3.1 9.18.1.3: 256 MiB).
pub const CXL_FMW_ALIGN: u64 = 256 * MIB;

// --- I/O ports ---------------------------------------------------------------

/// i8042 data port.
pub const I8042_DATA_PORT: u16 = 0x60;
/// i8042 command/status port (0xfe written here resets the machine).
pub const I8042_CMD_PORT: u16 = 0x64;
/// CMOS/RTC index port (0x71 is data).
pub const CMOS_PORT: u16 = 0x70;
/// ACPI fixed hardware register block (ACPI 6.5 4.8): PM1a event block
/// (PM1_STS, PM1_EN) at +0, PM1a control block at +4, PM timer at +8.
pub const ACPI_PM_PORT: u16 = 0x600;
/// Offset of PM1a_CNT_BLK in the ACPI register block.
pub const ACPI_PM1_CNT_OFFSET: u16 = 4;
/// Offset of PM_TMR_BLK in the ACPI register block.
pub const ACPI_PM_TMR_OFFSET: u16 = 8;
/// Length of the ACPI register block.
pub const ACPI_PM_SIZE: u16 = 12;
/// SLP_TYP of S5 (soft off), as the DSDT's `_S5` package gives it.
pub const ACPI_SLP_TYP_S5: u8 = 5;
/// The FADT RESET_REG: one I/O byte.
pub const ACPI_RESET_PORT: u16 = 0x3c0;
/// Value written to [`ACPI_RESET_PORT`] to reset.
pub const ACPI_RESET_VALUE: u8 = 0x01;
/// pvpanic: the guest writes here when it panics (QEMU0001 in the DSDT).
pub const PVPANIC_PORT: u16 = 0x505;
/// COM1 16550 UART.
pub const COM1_PORT: u16 = 0x3f8;
/// COM1 interrupt line (ISA IRQ 4).
pub const COM1_IRQ: u32 = 4;
/// PCI configuration mechanism #1 address port (0xcfc..0xcff is data).
pub const PCI_CONFIG_IO_PORT: u16 = 0xcf8;
/// Size of the PCI configuration mechanism #1 port range.
pub const PCI_CONFIG_IO_SIZE: u16 = 8;
/// Legacy I/O port window handed to PCI devices.
pub const PCI_IO_START: u16 = 0x1000;
/// Size of the PCI I/O window.
pub const PCI_IO_SIZE: u16 = 0xf000;

// --- Interrupts --------------------------------------------------------------

/// ACPI system control interrupt.
pub const ACPI_SCI_IRQ: u32 = 9;
/// Number of IOAPIC pins (GSIs 0..24 are the IOAPIC's).
pub const IOAPIC_NUM_PINS: u32 = 24;
/// First GSI handed out for MSI/MSI-X routes.
pub const MSI_GSI_START: u32 = IOAPIC_NUM_PINS;
/// Largest number of vCPUs we create (one MADT LAPIC entry and APIC ID each).
pub const MAX_VCPUS: u32 = 254;

// Compile-time checks of the map.
const _: () = {
    assert!(PCI_MMIO32_START >= MMIO32_START);
    assert!(PCI_ECAM_START + PCI_ECAM_SIZE <= IOAPIC_START);
    assert!(CXL_CHBS_START + CXL_CHBS_AREA_SIZE <= IOAPIC_START);
    assert!(PCI_ECAM_SIZE == (PCI_ECAM_BUS_END as u64 - PCI_ECAM_BUS_START as u64 + 1) << 20);
    assert!(
        CXL_FIRST_BUS as usize + CXL_BUSES_PER_BRIDGE as usize * CXL_MAX_HOST_BRIDGES
            <= PCI_ECAM_BUS_END as usize + 1
    );
    assert!(CXL_FMW_START + CXL_FMW_SIZE <= 1 << 40);
    assert!(CXL_FMW_START.is_multiple_of(CXL_FMW_ALIGN));
    assert!(RAM_MAX_END <= PCI_MMIO64_START);
    assert!(PDE_START + 4 * 0x1000 <= CMDLINE_START);
    assert!(CMDLINE_START + CMDLINE_MAX_SIZE as u64 <= EBDA_START);
    assert!(ACPI_TABLES_START + ACPI_TABLES_SIZE <= HIMEM_START);
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_do_not_overlap() {
        let regions = [
            (PCI_MMIO32_START, PCI_MMIO32_SIZE),
            (PCI_ECAM_START, PCI_ECAM_SIZE),
            (CXL_CHBS_START, CXL_CHBS_AREA_SIZE),
            (IOAPIC_START, 0x1000),
            (APIC_START, 0x1000),
            (KVM_IDENTITY_MAP_START, 0x4000),
            (PCI_MMIO64_START, PCI_MMIO64_SIZE),
            (CXL_FMW_START, CXL_FMW_SIZE),
        ];
        for (i, a) in regions.iter().enumerate() {
            for b in regions.iter().skip(i + 1) {
                assert!(
                    a.0 + a.1 <= b.0 || b.0 + b.1 <= a.0,
                    "{:#x}+{:#x} overlaps {:#x}+{:#x}",
                    a.0,
                    a.1,
                    b.0,
                    b.1
                );
            }
        }
    }
}
