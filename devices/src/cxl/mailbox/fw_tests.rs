//! Tests of the commands in `fw.rs` (compiled as
//! `cxl::mailbox::fw::tests`).

use super::*;
use crate::cxl::mailbox::testing::{test_memdev, TestMemdev};
use crate::cxl::mailbox::Opcode;
use crate::cxl::memdev::tests::test_config;

const OP: u16 = Opcode::GetFwInfo as u16;

#[test]
fn get_fw_info_fields() {
    let mut m = test_memdev();
    let (rc, out) = m.execute(OP, &[]);
    assert_eq!(rc, RetCode::Success);
    assert_eq!(out.len(), 0x50);
    assert_eq!(out[0], 2);
    assert_eq!(out[1], 0x01);
    assert_eq!(out[2], 0);
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
