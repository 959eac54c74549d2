//! Mailbox faults as the guest sees them through the registers: an
//! injected return code, and a doorbell left set until the hold ends.

use super::layout::*;
use super::mailbox::*;
use super::*;
use crate::cxl::mailbox::{Opcode, RetCode};
use crate::cxl::memdev::faults::FaultRequest;
use crate::cxl::memdev::tests::{test_memdev_with_clock, FakeClock};
use crate::trace::{capture, Kind};

const MS: u64 = 1_000_000;
const IDENTIFY: u16 = Opcode::IdentifyMemoryDevice as u16;

struct Regs {
    regs: DeviceRegisters,
    memdev: Memdev,
    clock: FakeClock,
}

fn regs() -> Regs {
    let (memdev, clock) = test_memdev_with_clock();
    Regs {
        regs: DeviceRegisters::new(&memdev),
        memdev,
        clock,
    }
}

impl Regs {
    fn readq(&self, off: u64) -> u64 {
        let mut b = [0u8; 8];
        self.regs.read(&self.memdev, MAILBOX_OFFSET + off, &mut b);
        u64::from_le_bytes(b)
    }

    fn doorbell(&self) -> bool {
        let mut b = [0u8; 4];
        self.regs
            .read(&self.memdev, MAILBOX_OFFSET + MAILBOX_CONTROL, &mut b);
        u32::from_le_bytes(b) & CONTROL_DOORBELL != 0
    }

    /// Writes the command and rings; the doorbell interrupt is enabled.
    fn ring(&mut self, opcode: u16) -> RegisterWrite {
        self.regs.write(
            &mut self.memdev,
            MAILBOX_OFFSET + COMMAND,
            &u64::from(opcode).to_le_bytes(),
        );
        let ctl = CONTROL_DOORBELL | CONTROL_MB_DOORBELL_INTERRUPT;
        self.regs.write(
            &mut self.memdev,
            MAILBOX_OFFSET + MAILBOX_CONTROL,
            &ctl.to_le_bytes(),
        )
    }

    fn return_code(&self) -> u16 {
        (self.readq(MAILBOX_STATUS) >> 32) as u16
    }

    fn out_len(&self) -> u64 {
        (self.readq(COMMAND) >> 16) & 0x1F_FFFF
    }
}

#[test]
fn return_code_fault_answers_without_running_then_runs_normally() {
    let mut r = regs();
    r.memdev
        .fault_add(FaultRequest::ReturnCode {
            opcode: IDENTIFY,
            return_code: RetCode::Busy.code(),
            count: 1,
        })
        .unwrap();
    // Another command is not touched.
    r.ring(Opcode::GetHealthInfo as u16);
    assert_eq!(r.return_code(), RetCode::Success.code());

    let done = r.ring(IDENTIFY);
    assert!(!r.doorbell());
    assert_eq!(r.return_code(), RetCode::Busy.code());
    assert_eq!(r.out_len(), 0, "no output payload");
    assert!(done.msi.contains(1), "the completion interrupt still comes");

    r.ring(IDENTIFY);
    assert_eq!(r.return_code(), RetCode::Success.code());
    assert!(r.out_len() > 0);
}

#[test]
fn a_faulted_command_is_traced_with_the_injected_answer() {
    let mut r = regs();
    r.memdev
        .fault_add(FaultRequest::ReturnCode {
            opcode: IDENTIFY,
            return_code: RetCode::InternalError.code(),
            count: 1,
        })
        .unwrap();
    let (_, records) = capture(|| r.ring(IDENTIFY));
    let mailbox: Vec<_> = records.iter().filter(|x| x.kind == Kind::Mailbox).collect();
    assert_eq!(mailbox.len(), 1, "{records:?}");
    assert_eq!(mailbox[0].fields["opcode"], IDENTIFY);
    assert_eq!(mailbox[0].fields["rc"], "InternalError");
    assert!(records
        .iter()
        .any(|x| x.kind == Kind::Fault && x.fields["event"] == "triggered"));
}

#[test]
fn doorbell_stuck_holds_then_drops_the_command() {
    let mut r = regs();
    r.memdev
        .fault_add(FaultRequest::DoorbellStuck {
            opcode: None,
            hold_ms: Some(3000),
            count: 1,
        })
        .unwrap();
    let (done, records) = capture(|| r.ring(IDENTIFY));
    assert!(done.msi.is_empty(), "no completion interrupt");
    assert!(done.effects.is_empty());
    assert!(r.doorbell());
    // The dropped command is traced with the answer the driver will find
    // and the time Doorbell stays set.
    let mailbox: Vec<_> = records.iter().filter(|x| x.kind == Kind::Mailbox).collect();
    assert_eq!(mailbox.len(), 1, "{records:?}");
    assert_eq!(mailbox[0].fields["opcode"], IDENTIFY);
    assert_eq!(mailbox[0].fields["rc"], "Aborted");
    assert_eq!(mailbox[0].fields["ns"], 3_000_000_000u64);
    r.clock.advance(2999 * MS);
    assert!(r.doorbell(), "still held just before the end");
    // A host that rings again meanwhile gets nothing run.
    let again = r.ring(IDENTIFY);
    assert!(again.msi.is_empty());
    assert!(r.doorbell());

    r.clock.advance(MS);
    assert!(!r.doorbell(), "dropped after the hold");
    assert_eq!(r.return_code(), RetCode::Aborted.code());
    assert_eq!(r.out_len(), 0);
    // The next command runs as usual.
    let done = r.ring(IDENTIFY);
    assert!(done.msi.contains(1));
    assert_eq!(r.return_code(), RetCode::Success.code());
    assert!(r.out_len() > 0);
    assert!(r.memdev.faults_armed().is_empty(), "count ran out");
}

#[test]
fn doorbell_stuck_for_one_opcode_and_zero_hold() {
    let mut r = regs();
    r.memdev
        .fault_add(FaultRequest::DoorbellStuck {
            opcode: Some(IDENTIFY),
            hold_ms: Some(0),
            count: 2,
        })
        .unwrap();
    r.ring(Opcode::GetHealthInfo as u16);
    assert_eq!(r.return_code(), RetCode::Success.code());
    r.ring(IDENTIFY);
    assert!(!r.doorbell(), "a zero hold drops at once");
    assert_eq!(r.return_code(), RetCode::Aborted.code());
    assert_eq!(r.memdev.faults_armed()[0].remaining, 1);
}

#[test]
fn cold_reset_releases_a_stuck_doorbell() {
    let mut r = regs();
    r.memdev
        .fault_add(FaultRequest::DoorbellStuck {
            opcode: None,
            hold_ms: Some(60_000),
            count: 1,
        })
        .unwrap();
    r.ring(IDENTIFY);
    assert!(r.doorbell());
    r.regs.cold_reset(&mut r.memdev);
    assert!(!r.doorbell());
    r.ring(IDENTIFY);
    assert_eq!(r.return_code(), RetCode::Success.code());
}

#[test]
fn background_hold_runs_the_command_in_the_background() {
    let mut r = regs();
    r.memdev
        .fault_add(FaultRequest::BackgroundHold {
            opcode: IDENTIFY,
            ms: 500,
            count: 1,
        })
        .unwrap();
    r.ring(IDENTIFY);
    assert!(!r.doorbell());
    assert_eq!(r.return_code(), RetCode::BackgroundCommandStarted.code());
    assert_eq!(r.readq(MAILBOX_STATUS) & STATUS_BACKGROUND_OPERATION, 1);
    let bg = r.readq(BACKGROUND_COMMAND_STATUS);
    assert_eq!(bg & 0xFFFF, u64::from(IDENTIFY));
    // Another background-capable command is Busy meanwhile.
    r.ring(Opcode::Sanitize as u16);
    assert_eq!(r.return_code(), RetCode::Busy.code());
    r.clock.advance(499 * MS);
    assert!(r.regs.poll_background(&mut r.memdev).is_none(), "not due");
    r.clock.advance(MS);
    let (_, done) = r.regs.poll_background(&mut r.memdev).unwrap();
    assert_eq!(done.opcode, IDENTIFY);
    assert_eq!(done.rc, RetCode::Success);
    let bg = r.readq(BACKGROUND_COMMAND_STATUS);
    assert_eq!(bg >> 16 & 0x7F, 100);
    // The count ran out: the next one runs at once.
    r.ring(IDENTIFY);
    assert_eq!(r.return_code(), RetCode::Success.code());
    assert!(r.out_len() > 0);
}

#[test]
fn background_hold_on_an_unsupported_opcode_leaves_no_hold() {
    let mut r = regs();
    r.memdev
        .fault_add(FaultRequest::BackgroundHold {
            opcode: 0xBEEF,
            ms: 500,
            count: 1,
        })
        .unwrap();
    r.ring(0xBEEF);
    assert_eq!(r.return_code(), RetCode::Unsupported.code());
    assert_eq!(r.memdev.background().pending_hold(), None);
    assert!(!r.memdev.background().is_running());
}
