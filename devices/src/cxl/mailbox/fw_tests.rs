//! Tests of the commands in `fw.rs` (compiled as
//! `cxl::mailbox::fw::tests`).

use super::*;
use crate::cxl::mailbox::testing::{test_memdev, test_memdev_with_clock, TestMemdev};
use crate::cxl::mailbox::Opcode;
use crate::cxl::memdev::firmware_ops::FW_STORE_MS;
use crate::cxl::memdev::tests::test_config;

const OP: u16 = Opcode::GetFwInfo as u16;
const TRANSFER: u16 = Opcode::TransferFw as u16;
const ACTIVATE: u16 = Opcode::ActivateFw as u16;
const MS: u64 = 1_000_000;

#[test]
fn get_fw_info_fields() {
    let mut m = test_memdev();
    let (rc, out) = m.execute(OP, &[]);
    assert_eq!(rc, RetCode::Success);
    assert_eq!(out.len(), 0x50);
    assert_eq!(out[0], 2);
    assert_eq!(out[1], 0x01);
    assert_eq!(out[2], FW_ACTIVATION_ONLINE_CAPABLE);
    assert!(out[3..0x10].iter().all(|&b| b == 0));
    assert_eq!(&out[0x10..0x18], b"FW-1.2.3");
    assert!(out[0x18..0x20].iter().all(|&b| b == 0));
    assert!(out[0x20..].iter().all(|&b| b == 0));
}

#[test]
fn full_length_revision() {
    let mut c = test_config();
    c.fw_revision = String::from("0123456789ABCDEF");
    let mut m = TestMemdev::new(c).unwrap();
    let (_, out) = m.execute(OP, &[]);
    assert_eq!(&out[0x10..0x20], b"0123456789ABCDEF");
    assert!(out[0x20..].iter().all(|&b| b == 0));
}

#[test]
fn get_fw_info_rejects_input() {
    let mut m = test_memdev();
    assert_eq!(m.execute(OP, &[0]).0, RetCode::InvalidPayloadLength);
}

fn transfer(action: FwTransferAction, slot: u8, offset: u32, data: &[u8]) -> Vec<u8> {
    TransferFwIn {
        action,
        slot,
        offset,
        data,
    }
    .encode()
}

fn image(len: usize) -> Vec<u8> {
    let mut v = vec![0x5A; len];
    v[..16].copy_from_slice(b"FW-2.0\0\0\0\0\0\0\0\0\0\0");
    v
}

#[test]
fn transfer_as_linux_does_then_activate_offline() {
    let (mut m, clock) = test_memdev_with_clock();
    let img = image(5000);
    // Parts of 2048 - 128 bytes.
    let chunk = 1920;
    let parts: Vec<&[u8]> = img.chunks(chunk).collect();
    for (i, part) in parts.iter().enumerate() {
        let offset = (i * chunk / 128) as u32;
        let (action, slot) = match i {
            0 => (FwTransferAction::Initiate, 0),
            i if i == parts.len() - 1 => (FwTransferAction::End, 2),
            _ => (FwTransferAction::Continue, 0),
        };
        let (rc, out) = m.execute(TRANSFER, &transfer(action, slot, offset, part));
        assert!(out.is_empty());
        let want = if action == FwTransferAction::End {
            RetCode::BackgroundCommandStarted
        } else {
            RetCode::Success
        };
        assert_eq!(rc, want, "part {i}");
    }
    // Activation waits for the store.
    let act = ActivateFwIn {
        online: false,
        slot: 2,
    }
    .encode();
    assert_eq!(m.execute(ACTIVATE, &act).0, RetCode::FwTransferInProgress);
    clock.advance(FW_STORE_MS * MS);
    assert_eq!(m.complete_background(), Some((TRANSFER, RetCode::Success)));
    let (_, info) = m.execute(OP, &[]);
    assert_eq!(&info[0x20..0x26], b"FW-2.0");
    assert_eq!(m.execute(ACTIVATE, &act).0, RetCode::Success);
    let (_, info) = m.execute(OP, &[]);
    assert_eq!(info[1], 1 | 2 << 3, "slot 1 active, slot 2 staged");
    m.cold_reset();
    let (_, info) = m.execute(OP, &[]);
    assert_eq!(info[1], 2);
}

#[test]
fn full_transfer_and_online_activation_change_identify() {
    let (mut m, clock) = test_memdev_with_clock();
    let img = image(100);
    let (rc, _) = m.execute(TRANSFER, &transfer(FwTransferAction::Full, 2, 0, &img));
    assert_eq!(rc, RetCode::BackgroundCommandStarted);
    // Another background command while it runs is Busy.
    let (rc, _) = m.execute(TRANSFER, &transfer(FwTransferAction::Full, 2, 0, &img));
    assert_eq!(rc, RetCode::Busy);
    clock.advance(FW_STORE_MS * MS);
    m.complete_background().unwrap();
    let act = ActivateFwIn {
        online: true,
        slot: 2,
    };
    assert_eq!(m.execute(ACTIVATE, &act.encode()).0, RetCode::Success);
    let (_, id) = m.execute(Opcode::IdentifyMemoryDevice as u16, &[]);
    assert_eq!(&id[..16], b"FW-2.0\0\0\0\0\0\0\0\0\0\0");
    let (_, info) = m.execute(OP, &[]);
    assert_eq!(info[1], 2);
}

#[test]
fn a_bad_image_fails_verification_at_completion() {
    let (mut m, clock) = test_memdev_with_clock();
    let (rc, _) = m.execute(
        TRANSFER,
        &transfer(FwTransferAction::Full, 2, 0, &[0xFF; 64]),
    );
    assert_eq!(rc, RetCode::BackgroundCommandStarted);
    clock.advance(FW_STORE_MS * MS);
    assert_eq!(
        m.complete_background(),
        Some((TRANSFER, RetCode::FwVerificationFailed))
    );
}

#[test]
fn malformed_transfer_and_activate_payloads() {
    let mut m = test_memdev();
    assert_eq!(
        m.execute(TRANSFER, &[0; 0x7F]).0,
        RetCode::InvalidPayloadLength
    );
    let mut bad = transfer(FwTransferAction::Full, 2, 0, &image(32));
    bad[0] = 5;
    assert_eq!(m.execute(TRANSFER, &bad).0, RetCode::InvalidInput);
    // Abort without a transfer does nothing.
    let abort = transfer(FwTransferAction::Abort, 0, 0, &[]);
    assert_eq!(m.execute(TRANSFER, &abort).0, RetCode::Success);
    assert_eq!(m.execute(ACTIVATE, &[0]).0, RetCode::InvalidPayloadLength);
    assert_eq!(
        m.execute(ACTIVATE, &[0, 1, 0]).0,
        RetCode::InvalidPayloadLength
    );
    assert_eq!(m.execute(ACTIVATE, &[2, 1]).0, RetCode::InvalidInput);
    assert_eq!(m.execute(ACTIVATE, &[0, 0]).0, RetCode::InvalidSlot);
    assert_eq!(m.execute(ACTIVATE, &[0, 2]).0, RetCode::InvalidSlot);
    assert_eq!(m.execute(ACTIVATE, &[0, 3]).0, RetCode::InvalidSlot);
    assert_eq!(m.execute(ACTIVATE, &[0, 1]).0, RetCode::Success);
}

#[test]
fn payloads_round_trip() {
    let data = image(40);
    let t = TransferFwIn {
        action: FwTransferAction::End,
        slot: 2,
        offset: 0x1234_5678,
        data: &data,
    };
    let bytes = t.encode();
    assert_eq!(bytes.len(), 0x80 + 40);
    assert_eq!(TransferFwIn::decode(Input::new(&bytes)), Ok(t));
    let a = ActivateFwIn {
        online: false,
        slot: 2,
    };
    assert_eq!(a.encode(), vec![1, 2]);
    assert_eq!(ActivateFwIn::decode(Input::new(&a.encode())), Ok(a));
}
