//! Tests of the commands in `security.rs` (compiled as
//! `cxl::mailbox::security::tests`).

use super::*;
use crate::cxl::mailbox::testing::test_memdev;
use crate::cxl::mailbox::Opcode;

#[test]
fn no_passphrase_set() {
    let mut m = test_memdev();
    let op = Opcode::GetSecurityState as u16;
    assert_eq!(m.execute(op, &[]), (RetCode::Success, vec![0, 0, 0, 0]));
    assert_eq!(m.execute(op, &[1]).0, RetCode::InvalidPayloadLength);
}
