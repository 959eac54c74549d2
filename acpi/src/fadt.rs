//! The Fixed ACPI Description Table "FACP" (ACPI 6.5 5.2.9) and the
//! Firmware ACPI Control Structure "FACS" (5.2.10).
//!
//! The platform has ACPI fixed hardware (4.8) so that Linux keeps the
//! legacy PIC and PIT and can calibrate the TSC against the PIT and the PM
//! timer, which it must when the hypervisor CPUID bit is hidden (no
//! kvm-clock): PM1a event and control blocks and a 32-bit PM timer in the
//! I/O block at [`layout::ACPI_PM_PORT`]. The OS powers off by writing
//! SLP_TYP (from `_S5`) with SLP_EN to PM1a_CNT (4.8.3.2.1), and resets by
//! writing [`layout::ACPI_RESET_VALUE`] to RESET_REG (4.8.3.6). There is no
//! SMI command port: the system is in ACPI mode from the start.

use acpi_tables::facs::FACS;
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
/// PM1_EVT_LEN: PM1_STS + PM1_EN (ACPI 6.5 4.8.3.1).
const PM1_EVT_LEN: u8 = 4;
/// PM1_CNT_LEN (ACPI 6.5 4.8.3.2).
const PM1_CNT_LEN: u8 = 2;
/// PM_TMR_LEN (ACPI 6.5 4.8.3.3).
const PM_TMR_LEN: u8 = 4;
/// FACS alignment (ACPI 6.5 5.2.10: 64 bytes).
pub(crate) const FACS_ALIGN: u64 = 64;

/// Total FADT length (revision 6.5).
pub(crate) fn len() -> usize {
    FADT::len()
}

/// A register block of `bytes` bytes in system I/O space (ACPI 6.5 5.2.3.2).
fn io_block(port: u16, bytes: u8, access: AccessSize) -> GAS {
    GAS::new(
        AddressSpace::SystemIo,
        bytes * 8,
        0,
        access,
        u64::from(port),
    )
}

/// The FADT, with X_DSDT pointing at `dsdt_addr` and X_FIRMWARE_CTRL at
/// `facs_addr`.
pub(crate) fn build(dsdt_addr: u64, facs_addr: u64) -> Vec<u8> {
    let pm1a_evt = layout::ACPI_PM_PORT;
    let pm1a_cnt = layout::ACPI_PM_PORT + layout::ACPI_PM1_CNT_OFFSET;
    let pm_tmr = layout::ACPI_PM_PORT + layout::ACPI_PM_TMR_OFFSET;
    let mut fadt = FADTBuilder::new(OEM_ID, OEM_TABLE_ID, OEM_REVISION)
        .dsdt_64(dsdt_addr)
        .firmware_ctrl_64(facs_addr)
        .flag(Flags::Wbinvd)
        .flag(Flags::ProcC1)
        .flag(Flags::TmrValExt)
        .flag(Flags::ResetRegSup)
        // No fixed-feature power or sleep button (ACPI 6.5 5.2.9, flags bits 4, 5).
        .flag(Flags::PwrButton)
        .flag(Flags::SlpButton);
    fadt.sci_int = SCI_INT.into();
    fadt.iapc_boot_arch = IAPC_BOOT_ARCH.into();
    fadt.pm1a_evt_blk = u32::from(pm1a_evt).into();
    fadt.pm1a_cnt_blk = u32::from(pm1a_cnt).into();
    fadt.pm_tmr_blk = u32::from(pm_tmr).into();
    fadt.pm1_evt_len = PM1_EVT_LEN;
    fadt.pm1_cnt_len = PM1_CNT_LEN;
    fadt.pm_tmr_len = PM_TMR_LEN;
    fadt.x_pm1a_evt_blk = io_block(pm1a_evt, PM1_EVT_LEN, AccessSize::WordAccess);
    fadt.x_pm1a_cnt_blk = io_block(pm1a_cnt, PM1_CNT_LEN, AccessSize::WordAccess);
    fadt.x_pm_tmr_blk = io_block(pm_tmr, PM_TMR_LEN, AccessSize::DwordAccess);
    // No C2/C3 states (ACPI 6.5 5.2.9: latencies above 100/1000 us).
    fadt.p_lvl2_lat = 101u16.into();
    fadt.p_lvl3_lat = 1001u16.into();
    fadt.century = 0x32;
    fadt.reset_reg = io_block(layout::ACPI_RESET_PORT, 1, AccessSize::ByteAccess);
    fadt.reset_value = layout::ACPI_RESET_VALUE;
    bytes_of(&fadt.finalize())
}

/// Length of the FACS.
pub(crate) fn facs_len() -> usize {
    FACS::len()
}

/// The FACS (no global lock, no waking vector: S5 is the only sleep state).
pub(crate) fn facs() -> Vec<u8> {
    bytes_of(&FACS::new())
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
    const PM1A_EVT_BLK_OFF: usize = 56;
    const PM1A_CNT_BLK_OFF: usize = 64;
    const PM_TMR_BLK_OFF: usize = 76;
    const PM1_EVT_LEN_OFF: usize = 88;
    const X_FIRMWARE_CTRL_OFF: usize = 132;
    const X_PM1A_EVT_BLK_OFF: usize = 148;
    const X_PM1A_CNT_BLK_OFF: usize = 172;
    const X_PM_TMR_BLK_OFF: usize = 208;
    const FADT_MINOR_VERSION_OFF: usize = 131;
    const X_DSDT_OFF: usize = 140;
    const SLEEP_CONTROL_REG_OFF: usize = 244;
    const SLEEP_STATUS_REG_OFF: usize = 256;

    /// Asserts a system I/O GAS at `off`: `bits` wide, `access` size, at `port`.
    fn assert_io_gas(b: &[u8], off: usize, bits: u8, access: u8, port: u16) {
        assert_eq!(b[off], 1, "Address Space ID: system I/O");
        assert_eq!(b[off + 1], bits, "Register Bit Width");
        assert_eq!(b[off + 2], 0, "Register Bit Offset");
        assert_eq!(b[off + 3], access, "Access Size");
        assert_eq!(u64_at(b, off + 4), u64::from(port));
    }

    #[test]
    fn header_and_length() {
        let b = build(0xe_1230, 0xe_1000);
        assert_eq!(&b[..4], b"FACP");
        assert_eq!(b.len(), 276);
        assert_eq!(len(), 276);
        assert_eq!(u32_at(&b, 4), 276);
        assert_eq!(b[8], 6, "major revision");
        assert_eq!(b[FADT_MINOR_VERSION_OFF], 5);
        assert!(checksum_ok(&b));
    }

    #[test]
    fn dsdt_and_facs_pointers_are_64_bit_only() {
        let b = build(0xe_1230, 0xe_1000);
        assert_eq!(u32_at(&b, 36), 0, "32-bit FIRMWARE_CTRL");
        assert_eq!(u32_at(&b, 40), 0, "32-bit DSDT");
        assert_eq!(u64_at(&b, X_DSDT_OFF), 0xe_1230);
        assert_eq!(u64_at(&b, X_FIRMWARE_CTRL_OFF), 0xe_1000);
    }

    #[test]
    fn fixed_hardware_blocks() {
        let b = build(0, 0);
        let flags = u32_at(&b, FLAGS_OFF);
        assert_eq!(flags & (1 << 20), 0, "not HW_REDUCED_ACPI");
        assert_ne!(flags & (1 << 8), 0, "TMR_VAL_EXT");
        assert_ne!(flags & (1 << 10), 0, "RESET_REG_SUP");
        let base = layout::ACPI_PM_PORT;
        let cnt = base + layout::ACPI_PM1_CNT_OFFSET;
        let tmr = base + layout::ACPI_PM_TMR_OFFSET;
        assert_eq!(u32_at(&b, PM1A_EVT_BLK_OFF), u32::from(base));
        assert_eq!(u32_at(&b, PM1A_CNT_BLK_OFF), u32::from(cnt));
        assert_eq!(u32_at(&b, PM_TMR_BLK_OFF), u32::from(tmr));
        assert_eq!(&b[PM1_EVT_LEN_OFF..PM1_EVT_LEN_OFF + 4], &[4, 2, 0, 4]);
        assert_io_gas(&b, X_PM1A_EVT_BLK_OFF, 32, 2, base);
        assert_io_gas(&b, X_PM1A_CNT_BLK_OFF, 16, 2, cnt);
        assert_io_gas(&b, X_PM_TMR_BLK_OFF, 32, 3, tmr);
        assert_io_gas(&b, RESET_REG_OFF, 8, 1, layout::ACPI_RESET_PORT);
        assert_eq!(b[RESET_VALUE_OFF], layout::ACPI_RESET_VALUE);
        assert_eq!(
            &b[SLEEP_CONTROL_REG_OFF..SLEEP_STATUS_REG_OFF + 12],
            &[0; 24]
        );
        assert_eq!(u16_at(&b, SCI_INT_OFF), 9);
        assert_eq!(u32_at(&b, 48), 0, "no SMI_CMD: always in ACPI mode");
    }

    #[test]
    fn facs_layout() {
        let f = facs();
        assert_eq!(f.len(), facs_len());
        assert_eq!(&f[..4], b"FACS");
        assert_eq!(u32_at(&f, 4), 64);
    }

    #[test]
    fn boot_arch_flags() {
        let arch = u16_at(&build(0, 0), IAPC_BOOT_ARCH_OFF);
        assert_eq!(arch & (1 << 1), 0, "8042 not present");
        assert_ne!(arch & (1 << 2), 0, "VGA not present");
        assert_eq!(arch & (1 << 3), 0, "MSI supported");
        assert_eq!(arch & (1 << 5), 0, "CMOS RTC present");
    }
}
