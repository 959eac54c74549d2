//! Tests of the commands in `identify.rs` (compiled as
//! `cxl::mailbox::identify::tests`).

use super::*;
use crate::cxl::mailbox::testing::test_memdev;
use crate::cxl::mailbox::Opcode;

#[test]
fn identify_fields() {
    let mut m = test_memdev();
    let (rc, out) = m.execute(Opcode::Identify as u16, &[]);
    assert_eq!(rc, RetCode::Success);
    assert_eq!(out.len(), 0x12);
    assert_eq!(&out[0..2], &0x1B36u16.to_le_bytes());
    assert_eq!(&out[2..4], &0x0D93u16.to_le_bytes());
    assert_eq!(&out[4..6], &0x1AF4u16.to_le_bytes());
    assert_eq!(&out[6..8], &0x1100u16.to_le_bytes());
    assert_eq!(&out[8..16], &0x0123_4567_89AB_CDEFu64.to_le_bytes());
    assert_eq!(out[0x10], 11);
    assert_eq!(out[0x11], 3);
}

#[test]
fn identify_rejects_input() {
    let mut m = test_memdev();
    assert_eq!(
        m.execute(Opcode::Identify as u16, &[0, 0]),
        (RetCode::InvalidPayloadLength, vec![])
    );
}
