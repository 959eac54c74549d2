//! Tests of the commands in `timestamp.rs` (compiled as
//! `cxl::mailbox::timestamp::tests`).

use super::*;
use crate::cxl::mailbox::testing::{test_memdev, test_memdev_with_clock, TestMemdev};
use crate::cxl::mailbox::Opcode;

const GET: u16 = Opcode::GetTimestamp as u16;
const SET: u16 = Opcode::SetTimestamp as u16;

fn get(m: &mut TestMemdev) -> u64 {
    let (rc, out) = m.execute(GET, &[]);
    assert_eq!(rc, RetCode::Success);
    assert_eq!(out.len(), 8);
    u64::from_le_bytes(out.try_into().unwrap())
}

#[test]
fn unset_timestamp_reads_zero() {
    let (mut m, clock) = test_memdev_with_clock();
    clock.advance(1000);
    assert_eq!(get(&mut m), 0);
}

#[test]
fn set_then_advance() {
    let (mut m, clock) = test_memdev_with_clock();
    clock.advance(77);
    let t0 = 1_700_000_000_000_000_000u64;
    let (rc, out) = m.execute(SET, &SetTimestampIn { timestamp: t0 }.encode());
    assert_eq!(rc, RetCode::Success);
    assert!(out.is_empty());
    assert_eq!(get(&mut m), t0);
    clock.advance(1_234);
    assert_eq!(get(&mut m), t0 + 1_234);
    // Setting again rebases.
    m.execute(SET, &5u64.to_le_bytes());
    clock.advance(10);
    assert_eq!(get(&mut m), 15);
}

#[test]
fn malformed_payloads() {
    let mut m = test_memdev();
    assert_eq!(m.execute(SET, &[0; 7]).0, RetCode::InvalidPayloadLength);
    assert_eq!(m.execute(SET, &[0; 9]).0, RetCode::InvalidPayloadLength);
    assert_eq!(m.execute(SET, &[]).0, RetCode::InvalidPayloadLength);
    assert_eq!(m.execute(GET, &[0]).0, RetCode::InvalidPayloadLength);
    assert_eq!(get(&mut m), 0);
}
