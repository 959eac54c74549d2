//! Tests of background operations through the registers, driven the way
//! Linux's `cxl_pci` drives them: Background Operation in Mailbox Status,
//! the Background Command Status Register polled to 100%, and the
//! Background Command Complete Interrupt.

use super::mailbox::*;
use super::*;
use crate::cxl::mailbox::{Opcode, RetCode};
use crate::cxl::memdev::background_ops::SANITIZE_MS;
use crate::cxl::memdev::tests::{test_config, FakeClock};

const MS: u64 = 1_000_000;

struct Regs {
    regs: DeviceRegisters,
    memdev: Memdev,
    clock: FakeClock,
}

impl Regs {
    fn new() -> Self {
        let clock = FakeClock::default();
        let memdev = Memdev::with_clock(test_config(), Box::new(clock.clone())).unwrap();
        Self {
            regs: DeviceRegisters::new(&memdev),
            memdev,
            clock,
        }
    }

    fn readq(&self, off: u64) -> u64 {
        let mut b = [0u8; 8];
        self.regs
            .read(&self.memdev, layout::MAILBOX_OFFSET + off, &mut b);
        u64::from_le_bytes(b)
    }

    fn write(&mut self, off: u64, v: &[u8]) -> RegisterWrite {
        self.regs
            .write(&mut self.memdev, layout::MAILBOX_OFFSET + off, v)
    }

    fn send(&mut self, opcode: u16) -> u16 {
        self.write(COMMAND, &u64::from(opcode).to_le_bytes());
        self.write(MAILBOX_CONTROL, &CONTROL_DOORBELL.to_le_bytes());
        (self.readq(MAILBOX_STATUS) >> STATUS_RETURN_CODE_SHIFT) as u16
    }
}

#[test]
fn capabilities_advertise_the_completion_interrupt() {
    let r = Regs::new();
    assert_ne!(
        r.readq(MAILBOX_CAPABILITIES) as u32 & CAP_BACKGROUND_COMMAND_COMPLETE_INTERRUPT_CAPABLE,
        0
    );
}

#[test]
fn sanitize_polled_to_completion() {
    let mut r = Regs::new();
    assert_eq!(r.readq(BACKGROUND_COMMAND_STATUS), 0);
    let rc = r.send(Opcode::Sanitize as u16);
    assert_eq!(rc, RetCode::BackgroundCommandStarted.code());
    assert_eq!(r.readq(MAILBOX_STATUS) & STATUS_BACKGROUND_OPERATION, 1);
    let bg = r.readq(BACKGROUND_COMMAND_STATUS);
    assert_eq!(bg & 0xFFFF, 0x4400);
    assert_eq!(bg >> 16 & 0x7F, 0);
    r.clock.advance(SANITIZE_MS * MS / 4);
    assert_eq!(r.readq(BACKGROUND_COMMAND_STATUS) >> 16 & 0x7F, 25);
    // A second background command is refused while it runs.
    assert_eq!(r.send(Opcode::SecureErase as u16), RetCode::Busy.code());
    r.clock.advance(SANITIZE_MS * MS);
    // Without a poll the register still shows progress below 100.
    assert_eq!(r.readq(BACKGROUND_COMMAND_STATUS) >> 16 & 0x7F, 99);
    let (msi, done) = r.regs.poll_background(&mut r.memdev).unwrap();
    assert!(msi.is_empty(), "the interrupt is not enabled");
    assert_eq!(done.rc, RetCode::Success);
    assert_eq!(done.effects.media_erases, vec![0..0xE000_0000]);
    let bg = r.readq(BACKGROUND_COMMAND_STATUS);
    assert_eq!(bg & 0xFFFF, 0x4400);
    assert_eq!(bg >> 16 & 0x7F, 100);
    assert_eq!(bg >> 32 & 0xFFFF, 0);
    assert_eq!(r.readq(MAILBOX_STATUS) & STATUS_BACKGROUND_OPERATION, 0);
    assert!(r.regs.poll_background(&mut r.memdev).is_none());
}

#[test]
fn completion_interrupt_when_enabled() {
    let mut r = Regs::new();
    let ctl = CONTROL_BACKGROUND_COMMAND_COMPLETE_INTERRUPT;
    assert!(r.write(MAILBOX_CONTROL, &ctl.to_le_bytes()).msi.is_empty());
    r.send(Opcode::Sanitize as u16);
    assert!(r.regs.poll_background(&mut r.memdev).is_none(), "not due");
    r.clock.advance(SANITIZE_MS * MS);
    let (msi, _) = r.regs.poll_background(&mut r.memdev).unwrap();
    // test_config's mailbox message number.
    assert_eq!(msi.iter().collect::<Vec<_>>(), vec![1]);
}

#[test]
fn the_registers_stay_read_only() {
    let mut r = Regs::new();
    r.send(Opcode::Sanitize as u16);
    let before = r.readq(BACKGROUND_COMMAND_STATUS);
    r.write(BACKGROUND_COMMAND_STATUS, &u64::MAX.to_le_bytes());
    assert_eq!(r.readq(BACKGROUND_COMMAND_STATUS), before);
    let status = r.readq(MAILBOX_STATUS);
    r.write(MAILBOX_STATUS, &0u64.to_le_bytes());
    assert_eq!(r.readq(MAILBOX_STATUS), status);
}

#[test]
fn a_doorbell_write_keeps_the_interrupt_enables() {
    let mut r = Regs::new();
    let ctl = CONTROL_BACKGROUND_COMMAND_COMPLETE_INTERRUPT;
    r.write(MAILBOX_CONTROL, &ctl.to_le_bytes());
    // As Linux rings: writel(DOORBELL) alone.
    r.send(Opcode::Identify as u16);
    assert_eq!(r.readq(MAILBOX_CAPABILITIES) >> 32, u64::from(ctl));
    // A write without the doorbell changes them.
    r.write(MAILBOX_CONTROL, &0u32.to_le_bytes());
    assert_eq!(r.readq(MAILBOX_CAPABILITIES) >> 32, 0);
}
