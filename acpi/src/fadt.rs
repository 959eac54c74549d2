//! The Fixed ACPI Description Table "FACP" (ACPI 6.5 5.2.9), hardware-reduced.
//!
//! No fixed hardware exists: sleep (only S5, power off) and reset go through
//! one byte-wide I/O register at [`layout::ACPI_SLEEP_PORT`]. OSPM writes
//! `SLP_TYP << 2 | SLP_EN` (ACPI 6.5 4.8.3.7) with SLP_TYP from the DSDT's
//! `_S5`, and [`layout::ACPI_RESET_VALUE`] to reset (4.8.3.6).

use acpi_tables::fadt::{FADTBuilder, Flags, FADT};
use acpi_tables::gas::{AccessSize, AddressSpace, GAS};
use arch::layout;

use crate::sdt::{bytes_of, OEM_ID, OEM_REVISION, OEM_TABLE_ID};

/// IAPC_BOOT_ARCH LEGACY_DEVICES: ISA devices (COM1, CMOS RTC) exist (ACPI 6.5 5.2.9.3).
const LEGACY_DEVICES: u16 = 1 << 0;
/// IAPC_BOOT_ARCH VGA Not Present (ACPI 6.5 5.2.9.3).
const VGA_NOT_PRESENT: u16 = 1 << 2;
/// IAPC_BOOT_ARCH: no 8042 (bit 1 clear), MSI supported (bit 3 clear),
/// CMOS RTC present (bit 5 clear).
const IAPC_BOOT_ARCH: u16 = LEGACY_DEVICES | VGA_NOT_PRESENT;

const _: () = assert!(layout::ACPI_SCI_IRQ <= u16::MAX as u32);
/// SCI_INT (ACPI 6.5 5.2.9).
const SCI_INT: u16 = layout::ACPI_SCI_IRQ as u16;

/// Total FADT length (revision 6.5).
pub(crate) fn len() -> usize {
    FADT::len()
}

/// An 8-bit register in system I/O space (ACPI 6.5 5.2.3.2).
fn io_byte(port: u16) -> GAS {
    GAS::new(
        AddressSpace::SystemIo,
        8,
        0,
        AccessSize::ByteAccess,
        u64::from(port),
    )
}

/// The FADT, with X_DSDT pointing at `dsdt_addr`.
pub(crate) fn build(dsdt_addr: u64) -> Vec<u8> {
    let mut fadt = FADTBuilder::new(OEM_ID, OEM_TABLE_ID, OEM_REVISION)
        .dsdt_64(dsdt_addr)
        .flag(Flags::HwReducedAcpi)
        .flag(Flags::ResetRegSup)
        // No fixed-feature power or sleep button (ACPI 6.5 5.2.9, flags bits 4, 5).
        .flag(Flags::PwrButton)
        .flag(Flags::SlpButton);
    fadt.sci_int = SCI_INT.into();
    fadt.iapc_boot_arch = IAPC_BOOT_ARCH.into();
    fadt.reset_reg = io_byte(layout::ACPI_SLEEP_PORT);
    fadt.reset_value = layout::ACPI_RESET_VALUE;
    fadt.sleep_control_reg = io_byte(layout::ACPI_SLEEP_PORT);
    fadt.sleep_status_reg = io_byte(layout::ACPI_SLEEP_PORT);
    bytes_of(&fadt.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdt::tests::{checksum_ok, u16_at, u32_at, u64_at};

    // Field offsets from ACPI 6.5 5.2.9 (FADT Format).
    const SCI_INT_OFF: usize = 46;
    const IAPC_BOOT_ARCH_OFF: usize = 109;
    const FLAGS_OFF: usize = 112;
    const RESET_REG_OFF: usize = 116;
    const RESET_VALUE_OFF: usize = 128;
    const FADT_MINOR_VERSION_OFF: usize = 131;
    const X_DSDT_OFF: usize = 140;
    const SLEEP_CONTROL_REG_OFF: usize = 244;
    const SLEEP_STATUS_REG_OFF: usize = 256;

    /// Asserts a byte-wide system I/O GAS at `off` for the sleep port.
    fn assert_io_byte_gas(b: &[u8], off: usize) {
        assert_eq!(b[off], 1, "Address Space ID: system I/O");
        assert_eq!(b[off + 1], 8, "Register Bit Width");
        assert_eq!(b[off + 2], 0, "Register Bit Offset");
        assert_eq!(b[off + 3], 1, "Access Size: byte");
        assert_eq!(u64_at(b, off + 4), u64::from(layout::ACPI_SLEEP_PORT));
    }

    #[test]
    fn header_and_length() {
        let b = build(0xe_1230);
        assert_eq!(&b[..4], b"FACP");
        assert_eq!(b.len(), 276);
        assert_eq!(len(), 276);
        assert_eq!(u32_at(&b, 4), 276);
        assert_eq!(b[8], 6, "major revision");
        assert_eq!(b[FADT_MINOR_VERSION_OFF], 5);
        assert!(checksum_ok(&b));
    }

    #[test]
    fn dsdt_pointer_is_64_bit_only() {
        let b = build(0xe_1230);
        assert_eq!(u32_at(&b, 40), 0, "32-bit DSDT");
        assert_eq!(u64_at(&b, X_DSDT_OFF), 0xe_1230);
    }

    #[test]
    fn hardware_reduced_sleep_and_reset() {
        let b = build(0);
        let flags = u32_at(&b, FLAGS_OFF);
        assert_ne!(flags & (1 << 20), 0, "HW_REDUCED_ACPI");
        assert_ne!(flags & (1 << 10), 0, "RESET_REG_SUP");
        assert_io_byte_gas(&b, RESET_REG_OFF);
        assert_eq!(b[RESET_VALUE_OFF], layout::ACPI_RESET_VALUE);
        assert_io_byte_gas(&b, SLEEP_CONTROL_REG_OFF);
        assert_io_byte_gas(&b, SLEEP_STATUS_REG_OFF);
        assert_eq!(u16_at(&b, SCI_INT_OFF), 9);
    }

    #[test]
    fn boot_arch_flags() {
        let arch = u16_at(&build(0), IAPC_BOOT_ARCH_OFF);
        assert_eq!(arch & (1 << 1), 0, "8042 not present");
        assert_ne!(arch & (1 << 2), 0, "VGA not present");
        assert_eq!(arch & (1 << 3), 0, "MSI supported");
        assert_eq!(arch & (1 << 5), 0, "CMOS RTC present");
    }
}
