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

const ABORT: u16 = Opcode::RequestAbortBackgroundOperation as u16;

#[test]
fn abort_with_nothing_running_succeeds_and_changes_nothing() {
    let (mut m, _) = test_memdev_with_clock();
    assert_eq!(m.execute(ABORT, &[]), (RetCode::Success, Vec::new()));
    assert_eq!(bos(&mut m), vec![0; 8]);
    assert_eq!(m.execute(ABORT, &[0]).0, RetCode::InvalidPayloadLength);
}

#[test]
fn aborted_sanitize_ends_short_of_100_with_aborted_and_erases_nothing() {
    use crate::cxl::memdev::status::MediaStatus;
    let (mut m, clock) = test_memdev_with_clock();
    assert_eq!(
        m.execute(SANITIZE, &[]).0,
        RetCode::BackgroundCommandStarted
    );
    assert_eq!(m.status().media_status, MediaStatus::Disabled);
    clock.advance(SANITIZE_MS / 4 * MS);
    assert_eq!(m.execute(ABORT, &[]), (RetCode::Success, Vec::new()));
    let out = bos(&mut m);
    assert_eq!(out[0], 25 << 1, "not in progress, stopped at 25%");
    assert_eq!(u16::from_le_bytes([out[2], out[3]]), SANITIZE);
    assert_eq!(
        u16::from_le_bytes([out[4], out[5]]),
        RetCode::Aborted.code()
    );
    clock.advance(SANITIZE_MS * MS);
    assert_eq!(m.complete_background(), None, "it never completes");
    assert!(m.take_media_erases().is_empty(), "nothing erased");
    assert_eq!(m.status().media_status, MediaStatus::Ready);
    // The mailbox is free for the next background command.
    assert_eq!(
        m.execute(SANITIZE, &[]).0,
        RetCode::BackgroundCommandStarted
    );
}

#[test]
fn a_held_command_cannot_be_aborted() {
    let (mut m, clock) = test_memdev_with_clock();
    let health = Opcode::GetHealthInfo as u16;
    m.hold_in_background(health, 30);
    assert_eq!(m.execute(health, &[]).0, RetCode::BackgroundCommandStarted);
    assert_eq!(m.execute(ABORT, &[]).0, RetCode::RequestAbortNotSupported);
    assert!(m.background().is_running(), "still running");
    clock.advance(30 * MS);
    assert_eq!(m.complete_background(), Some((health, RetCode::Success)));
}

#[test]
fn aborted_transfer_fw_stores_nothing() {
    use crate::cxl::mailbox::fw::TransferFwIn;
    use crate::cxl::mailbox::payload::Encode;
    use crate::cxl::memdev::firmware_ops::FwTransferAction;
    let (mut m, clock) = test_memdev_with_clock();
    let mut image = vec![0x5A; 256];
    image[..6].copy_from_slice(b"FW-9.9");
    let input = TransferFwIn {
        action: FwTransferAction::Full,
        slot: 2,
        offset: 0,
        data: &image,
    }
    .encode();
    let transfer = Opcode::TransferFw as u16;
    assert_eq!(
        m.execute(transfer, &input).0,
        RetCode::BackgroundCommandStarted
    );
    assert_eq!(m.execute(ABORT, &[]).0, RetCode::Success);
    clock.advance(10_000 * MS);
    assert_eq!(m.complete_background(), None);
    assert_eq!(m.firmware().revision(2), None, "slot 2 stays empty");
    // A new transfer starts afresh.
    assert_eq!(
        m.execute(transfer, &input).0,
        RetCode::BackgroundCommandStarted
    );
}

#[test]
fn the_cel_says_which_commands_abort() {
    use crate::cxl::mailbox::effects::REQUEST_ABORT_BACKGROUND_OPERATION_SUPPORTED as ABORTS;
    use crate::cxl::mailbox::table::command_effects_log;
    let (m, _) = test_memdev_with_clock();
    let cel: Vec<(u16, u16)> = command_effects_log(&m)
        .chunks(4)
        .map(|e| {
            (
                u16::from_le_bytes([e[0], e[1]]),
                u16::from_le_bytes([e[2], e[3]]),
            )
        })
        .collect();
    assert!(cel.contains(&(ABORT, 0)), "0005h listed, no effects");
    for (opcode, fx) in cel {
        let background = fx & crate::cxl::mailbox::effects::BACKGROUND_OPERATION != 0;
        assert_eq!(
            fx & ABORTS != 0,
            background,
            "{opcode:#06x}: every background command here can be aborted, no other"
        );
    }
}
