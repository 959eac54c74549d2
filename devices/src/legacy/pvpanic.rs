//! The pvpanic device (QEMU's `pvpanic` ISA device, ACPI ID QEMU0001): one
//! I/O port. Reading it gives the events the device supports; the guest
//! writes PVPANIC_PANICKED when its kernel panics, which ends the VM with a
//! crash status, and PVPANIC_CRASH_LOADED when a crash kernel takes over.

use super::exit::{ExitHandler, ExitRequest};
use crate::bus::BusDevice;

/// The guest panicked (bit 0).
pub const PVPANIC_PANICKED: u8 = 1 << 0;
/// A crash kernel was loaded and is taking over (bit 1).
pub const PVPANIC_CRASH_LOADED: u8 = 1 << 1;

/// The pvpanic port.
pub struct PvPanic {
    exit: ExitHandler,
}

impl PvPanic {
    /// A device reporting panics to `exit`.
    pub fn new(exit: ExitHandler) -> Self {
        Self { exit }
    }
}

impl BusDevice for PvPanic {
    fn read(&mut self, _base: u64, _offset: u64, data: &mut [u8]) {
        data.fill(0);
        if let Some(b) = data.first_mut() {
            *b = PVPANIC_PANICKED | PVPANIC_CRASH_LOADED;
        }
    }

    fn write(&mut self, _base: u64, offset: u64, data: &[u8]) {
        let v = if offset == 0 {
            data.first().copied().unwrap_or(0)
        } else {
            0
        };
        if v & PVPANIC_PANICKED != 0 {
            (self.exit)(ExitRequest::Panic);
        } else if v & PVPANIC_CRASH_LOADED != 0 {
            crate::warn_limited!("guest panicked; its crash kernel is taking over");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::legacy::ExitRecorder;

    #[test]
    fn panic_write_requests_a_crash_exit() {
        let rec = ExitRecorder::new();
        let mut d = PvPanic::new(rec.handler());
        let mut b = [0u8; 1];
        d.read(0, 0, &mut b);
        assert_eq!(b[0], 3);
        d.write(0, 0, &[PVPANIC_CRASH_LOADED]);
        d.write(0, 1, &[PVPANIC_PANICKED]);
        assert!(rec.requests().is_empty());
        d.write(0, 0, &[PVPANIC_PANICKED]);
        assert_eq!(rec.requests(), vec![ExitRequest::Panic]);
    }
}
