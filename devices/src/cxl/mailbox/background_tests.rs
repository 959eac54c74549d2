//! Tests of `background.rs` (compiled as `cxl::mailbox::background::tests`):
//! Background Operation Status, the Busy rule and held commands.

use super::*;
use crate::cxl::mailbox::testing::test_memdev_with_clock;
use crate::cxl::mailbox::Opcode;
use crate::cxl::memdev::background_ops::SANITIZE_MS;

const BOS: u16 = Opcode::BackgroundOperationStatus as u16;
const SANITIZE: u16 = Opcode::Sanitize as u16;
const MS: u64 = 1_000_000;

fn bos(m: &mut crate::cxl::mailbox::testing::TestMemdev) -> Vec<u8> {
    let (rc, out) = m.execute(BOS, &[]);
    assert_eq!(rc, RetCode::Success);
    assert_eq!(out.len(), BACKGROUND_OPERATION_STATUS_SIZE);
    out
}

#[test]
fn nothing_ran_yet_reads_zero() {
    let (mut m, _) = test_memdev_with_clock();
    assert_eq!(bos(&mut m), vec![0; 8]);
}

#[test]
fn rejects_input() {
    let (mut m, _) = test_memdev_with_clock();
    assert_eq!(m.execute(BOS, &[0]).0, RetCode::InvalidPayloadLength);
}

#[test]
fn progress_then_completion_show() {
    let (mut m, clock) = test_memdev_with_clock();
    assert_eq!(
        m.execute(SANITIZE, &[]).0,
        RetCode::BackgroundCommandStarted
    );
    let out = bos(&mut m);
    assert_eq!(out[0], 1, "in progress, 0%");
    assert_eq!(u16::from_le_bytes([out[2], out[3]]), SANITIZE);
    clock.advance(SANITIZE_MS / 2 * MS);
    let out = bos(&mut m);
    assert_eq!(out[0], 1 | 50 << 1);
    assert_eq!(m.complete_background(), None, "not due yet");
    clock.advance(SANITIZE_MS * MS);
    assert_eq!(m.complete_background(), Some((SANITIZE, RetCode::Success)));
    let out = bos(&mut m);
    assert_eq!(out[0], 100 << 1, "done: 100%, not in progress");
    assert_eq!(u16::from_le_bytes([out[2], out[3]]), SANITIZE);
    assert_eq!(u16::from_le_bytes([out[4], out[5]]), 0);
    assert_eq!(m.complete_background(), None, "completes once");
}

#[test]
fn another_background_command_is_busy_others_run() {
    let (mut m, clock) = test_memdev_with_clock();
    assert_eq!(
        m.execute(SANITIZE, &[]).0,
        RetCode::BackgroundCommandStarted
    );
    assert_eq!(m.execute(SANITIZE, &[]).0, RetCode::Busy);
    assert_eq!(m.execute(Opcode::SecureErase as u16, &[]).0, RetCode::Busy);
    assert_eq!(m.execute(Opcode::Identify as u16, &[]).0, RetCode::Success);
    clock.advance(SANITIZE_MS * MS);
    m.complete_background().unwrap();
    assert_eq!(
        m.execute(SANITIZE, &[]).0,
        RetCode::BackgroundCommandStarted
    );
}

#[test]
fn held_command_completes_later_with_its_own_return_code() {
    let (mut m, clock) = test_memdev_with_clock();
    let health = Opcode::GetHealthInfo as u16;
    m.hold_in_background(health, 30);
    let (rc, out) = m.execute(health, &[]);
    assert_eq!(rc, RetCode::BackgroundCommandStarted);
    assert!(out.is_empty());
    // The hold is used once.
    assert_eq!(m.execute(health, &[]).0, RetCode::Success);
    clock.advance(29 * MS);
    assert_eq!(m.complete_background(), None);
    clock.advance(MS);
    assert_eq!(m.complete_background(), Some((health, RetCode::Success)));

    // A malformed one completes with its failure.
    m.hold_in_background(health, 5);
    assert_eq!(m.execute(health, &[1]).0, RetCode::BackgroundCommandStarted);
    clock.advance(5 * MS);
    assert_eq!(
        m.complete_background(),
        Some((health, RetCode::InvalidPayloadLength))
    );
    let out = bos(&mut m);
    assert_eq!(u16::from_le_bytes([out[4], out[5]]), 0x16);
}

#[test]
fn held_background_command_takes_the_hold_duration() {
    let (mut m, clock) = test_memdev_with_clock();
    m.hold_in_background(SANITIZE, 2000);
    assert_eq!(
        m.execute(SANITIZE, &[]).0,
        RetCode::BackgroundCommandStarted
    );
    clock.advance(SANITIZE_MS * MS);
    assert_eq!(m.complete_background(), None);
    clock.advance(2000 * MS);
    assert_eq!(m.complete_background(), Some((SANITIZE, RetCode::Success)));
}

#[test]
fn held_command_while_one_runs_is_busy_and_the_hold_stays() {
    let (mut m, clock) = test_memdev_with_clock();
    let health = Opcode::GetHealthInfo as u16;
    assert_eq!(
        m.execute(SANITIZE, &[]).0,
        RetCode::BackgroundCommandStarted
    );
    m.hold_in_background(health, 10);
    assert_eq!(m.execute(health, &[]).0, RetCode::Busy);
    clock.advance(SANITIZE_MS * MS);
    m.complete_background().unwrap();
    assert_eq!(m.execute(health, &[]).0, RetCode::BackgroundCommandStarted);
}

#[test]
fn unsupported_opcode_does_not_use_the_hold() {
    let (mut m, _) = test_memdev_with_clock();
    m.hold_in_background(0xCAFE, 10);
    assert_eq!(m.execute(0xCAFE, &[]).0, RetCode::Unsupported);
    assert_eq!(m.background().pending_hold(), Some((0xCAFE, 10)));
    m.clear_background_hold();
    assert_eq!(m.background().pending_hold(), None);
}
