//! Tests of the commands in `identify_memdev.rs` (compiled as
//! `cxl::mailbox::identify_memdev::tests`).

use super::*;
use crate::cxl::mailbox::testing::{test_memdev, TestMemdev};
use crate::cxl::mailbox::Opcode;
use crate::cxl::memdev::tests::{dc_only_config, test_config};

#[test]
fn identify_memory_device_fields() {
    let mut m = test_memdev();
    let (rc, out) = m.execute(Opcode::IdentifyMemoryDevice as u16, &[]);
    assert_eq!(rc, RetCode::Success);
    assert_eq!(out.len(), 0x45);
    let u64_at = |o: usize| u64::from_le_bytes(out[o..o + 8].try_into().unwrap());
    let u16_at = |o: usize| u16::from_le_bytes([out[o], out[o + 1]]);
    assert_eq!(&out[0..8], b"FW-1.2.3");
    assert!(out[8..16].iter().all(|&b| b == 0));
    // 1 GiB + 512 MiB + 1 GiB = 10 x 256 MiB.
    assert_eq!(u64_at(0x10), 10);
    assert_eq!(u64_at(0x18), 4);
    assert_eq!(u64_at(0x20), 2);
    assert_eq!(u64_at(0x28), 1);
    assert_eq!(u16_at(0x30), 4);
    assert_eq!(u16_at(0x32), 3);
    assert_eq!(u16_at(0x34), 2);
    assert_eq!(u16_at(0x36), 1);
    assert_eq!(
        u32::from_le_bytes(out[0x38..0x3C].try_into().unwrap()),
        4096
    );
    assert_eq!(&out[0x3C..0x3F], &[8, 0, 0]);
    assert_eq!(u16_at(0x3F), 4);
    assert_eq!(out[0x41], 0);
    assert_eq!(out[0x42], 0);
    // Dynamic Capacity Event Log Size: the DC log depth.
    assert_eq!(u16_at(0x43), 64);
}

#[test]
fn identify_memory_device_dc_log_size() {
    let u16_at = |out: &[u8], o: usize| u16::from_le_bytes([out[o], out[o + 1]]);
    // Without DC regions the field is 0.
    let mut c = test_config();
    c.dc = Default::default();
    let mut m = TestMemdev::new(c).unwrap();
    let (_, out) = m.execute(Opcode::IdentifyMemoryDevice as u16, &[]);
    assert_eq!(u16_at(&out, 0x43), 0);
    // A DC-only device: no static capacity, a DC log of its depth.
    let mut c = dc_only_config();
    c.event_log_depths.dynamic_capacity = 100;
    let mut m = TestMemdev::new(c).unwrap();
    let (rc, out) = m.execute(Opcode::IdentifyMemoryDevice as u16, &[]);
    assert_eq!(rc, RetCode::Success);
    let u64_at = |o: usize| u64::from_le_bytes(out[o..o + 8].try_into().unwrap());
    assert_eq!(u64_at(0x10), 0);
    assert_eq!(u64_at(0x18), 0);
    assert_eq!(u64_at(0x20), 0);
    assert_eq!(u64_at(0x28), 0);
    assert_eq!(u16_at(&out, 0x43), 100);
}

#[test]
fn identify_memory_device_rejects_input() {
    let mut m = test_memdev();
    let (rc, out) = m.execute(Opcode::IdentifyMemoryDevice as u16, &[0; 4]);
    assert_eq!(rc, RetCode::InvalidPayloadLength);
    assert!(out.is_empty());
}
