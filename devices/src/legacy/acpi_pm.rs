//! The hardware-reduced ACPI sleep control/status and reset register.
//!
//! One byte at [`layout::ACPI_SLEEP_PORT`] serves as the FADT's
//! SLEEP_CONTROL_REG, SLEEP_STATUS_REG and RESET_REG (ACPI 6.5 4.8.3.7 and
//! 4.8.3.6). The DSDT's `_S5` object must give SLP_TYP = [`SLP_TYP_S5`].

use arch::layout;

use super::exit::{ExitHandler, ExitRequest};
use crate::bus::BusDevice;

/// Sleep Control Register SLP_TYPx field shift (ACPI 6.5 4.8.3.7, bits 4:2).
pub const SLP_TYP_SHIFT: u8 = 2;
/// Sleep Control Register SLP_TYPx field mask (after shifting).
pub const SLP_TYP_MASK: u8 = 0x7;
/// Sleep Control Register SLP_EN bit (ACPI 6.5 4.8.3.7, bit 5).
pub const SLP_EN: u8 = 1 << 5;
/// The SLP_TYP value our `_S5` package advertises.
pub const SLP_TYP_S5: u8 = 5;

/// The sleep/reset register.
pub struct AcpiPmControl {
    exit: ExitHandler,
}

impl AcpiPmControl {
    /// A register that reports power-off and reset to `exit`.
    pub fn new(exit: ExitHandler) -> Self {
        Self { exit }
    }
}

impl BusDevice for AcpiPmControl {
    fn read(&mut self, _base: u64, _offset: u64, data: &mut [u8]) {
        // Sleep Status Register: WAK_STS clear ("not woken") is fine.
        data.fill(0);
    }

    fn write(&mut self, _base: u64, offset: u64, data: &[u8]) {
        if offset != 0 {
            return;
        }
        let Some(&value) = data.first() else {
            return;
        };
        if value == layout::ACPI_RESET_VALUE {
            (self.exit)(ExitRequest::Reset);
        } else if value & SLP_EN != 0 && (value >> SLP_TYP_SHIFT) & SLP_TYP_MASK == SLP_TYP_S5 {
            (self.exit)(ExitRequest::Poweroff);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::legacy::ExitRecorder;

    const BASE: u64 = layout::ACPI_SLEEP_PORT as u64;

    #[test]
    fn poweroff_and_reset() {
        let rec = ExitRecorder::new();
        let mut dev = AcpiPmControl::new(rec.handler());
        // SLP_TYP=5 without SLP_EN, and SLP_EN with another type: nothing.
        dev.write(BASE, 0, &[5 << 2]);
        dev.write(BASE, 0, &[(3 << 2) | SLP_EN]);
        dev.write(BASE, 1, &[(5 << 2) | SLP_EN]);
        dev.write(BASE, 0, &[]);
        assert!(rec.requests().is_empty());
        dev.write(BASE, 0, &[(5 << 2) | (1 << 5)]);
        dev.write(BASE, 0, &[layout::ACPI_RESET_VALUE]);
        assert_eq!(
            rec.requests(),
            vec![ExitRequest::Poweroff, ExitRequest::Reset]
        );
    }

    #[test]
    fn reads_zero() {
        let mut dev = AcpiPmControl::new(ExitRecorder::new().handler());
        let mut b = [0xffu8; 1];
        dev.read(BASE, 0, &mut b);
        assert_eq!(b, [0]);
    }
}
