//! Tests of the commands in `health.rs` (compiled as
//! `cxl::mailbox::health::tests`).

use super::*;
use crate::cxl::mailbox::testing::test_memdev;
use crate::cxl::mailbox::Opcode;
use crate::cxl::memdev::health::{HEALTH_STATUS_MAINTENANCE_NEEDED, MEDIA_STATUS_NORMAL};

#[test]
fn get_health_info_fields() {
    let mut m = test_memdev();
    m.set_health(HealthInfo {
        health_status: HEALTH_STATUS_MAINTENANCE_NEEDED,
        media_status: MEDIA_STATUS_NORMAL,
        additional_status: 0x10,
        life_used: 7,
        device_temperature: -5,
        dirty_shutdown_count: 0x0102_0304,
        corrected_volatile_error_count: 0x1112_1314,
        corrected_persistent_error_count: 0x2122_2324,
    });
    let (rc, out) = m.execute(Opcode::GetHealthInfo as u16, &[]);
    assert_eq!(rc, RetCode::Success);
    assert_eq!(out.len(), 0x12);
    assert_eq!(out[0], 1);
    assert_eq!(out[1], 0);
    assert_eq!(out[2], 0x10);
    assert_eq!(out[3], 7);
    assert_eq!(&out[4..6], &(-5i16).to_le_bytes());
    assert_eq!(&out[6..10], &0x0102_0304u32.to_le_bytes());
    assert_eq!(&out[10..14], &0x1112_1314u32.to_le_bytes());
    assert_eq!(&out[14..18], &0x2122_2324u32.to_le_bytes());
}

#[test]
fn get_health_info_defaults_are_sane() {
    let mut m = test_memdev();
    let (rc, out) = m.execute(Opcode::GetHealthInfo as u16, &[]);
    assert_eq!(rc, RetCode::Success);
    assert_eq!(&out[0..4], &[0, 0, 0, 0]);
    assert_eq!(i16::from_le_bytes([out[4], out[5]]), 35);
    assert!(out[6..].iter().all(|&b| b == 0));
}

#[test]
fn get_health_info_rejects_input() {
    let mut m = test_memdev();
    let (rc, out) = m.execute(Opcode::GetHealthInfo as u16, &[0]);
    assert_eq!(rc, RetCode::InvalidPayloadLength);
    assert!(out.is_empty());
}
