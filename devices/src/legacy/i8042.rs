//! A minimal i8042 keyboard controller: only the CPU reset line.
//!
//! No controller answers: every read returns 0 (output buffer empty, input
//! buffer empty), so Linux's controller self-test times out quickly and the
//! driver gives up. Writing the "pulse output port" command 0xfe to the
//! command port pulses the reset line, which is how `reboot=k` resets a PC.

use arch::layout;

use super::exit::{ExitHandler, ExitRequest};
use crate::bus::BusDevice;

/// Controller command: pulse output line 0 (CPU reset) low.
pub const CMD_RESET_CPU: u8 = 0xfe;

/// The i8042 device. Register it twice on the PIO bus, one byte at
/// [`layout::I8042_DATA_PORT`] and one byte at [`layout::I8042_CMD_PORT`]; the
/// two are told apart by the base of the range an access hits.
pub struct I8042 {
    exit: ExitHandler,
}

impl I8042 {
    /// A controller that reports resets to `exit`.
    pub fn new(exit: ExitHandler) -> Self {
        Self { exit }
    }
}

impl BusDevice for I8042 {
    fn read(&mut self, _base: u64, _offset: u64, data: &mut [u8]) {
        data.fill(0);
    }

    fn write(&mut self, base: u64, offset: u64, data: &[u8]) {
        let port = base.checked_add(offset);
        if port == Some(u64::from(layout::I8042_CMD_PORT)) && data.first() == Some(&CMD_RESET_CPU) {
            (self.exit)(ExitRequest::Reset);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::legacy::ExitRecorder;

    #[test]
    fn reset_on_fe_to_command_port_only() {
        let rec = ExitRecorder::new();
        let mut dev = I8042::new(rec.handler());
        let data = u64::from(layout::I8042_DATA_PORT);
        let cmd = u64::from(layout::I8042_CMD_PORT);
        dev.write(data, 0, &[CMD_RESET_CPU]);
        dev.write(cmd, 0, &[0xaa]);
        dev.write(cmd, 0, &[]);
        assert!(rec.requests().is_empty());
        dev.write(cmd, 0, &[CMD_RESET_CPU]);
        assert_eq!(rec.requests(), vec![ExitRequest::Reset]);
    }

    #[test]
    fn reads_are_zero() {
        let mut dev = I8042::new(ExitRecorder::new().handler());
        let mut b = [0xffu8; 2];
        dev.read(u64::from(layout::I8042_CMD_PORT), 0, &mut b);
        assert_eq!(b, [0, 0]);
        dev.read(u64::from(layout::I8042_DATA_PORT), 0, &mut b[..1]);
        assert_eq!(b[0], 0);
    }
}
