//! Tests of the commands in `partition.rs` (compiled as
//! `cxl::mailbox::partition::tests`).

use super::*;
use crate::cxl::mailbox::testing::{test_memdev, TestMemdev};
use crate::cxl::mailbox::Opcode;
use crate::cxl::memdev::tests::{dc_only_config, test_config};
use crate::cxl::memdev::MemdevConfig;

const GET: u16 = Opcode::GetPartitionInfo as u16;
const SET: u16 = Opcode::SetPartitionInfo as u16;
const GIB: u64 = 1 << 30;

fn get(m: &mut TestMemdev) -> [u64; 4] {
    let (rc, out) = m.execute(GET, &[]);
    assert_eq!(rc, RetCode::Success);
    assert_eq!(out.len(), 0x20);
    let mut v = [0u64; 4];
    for (i, c) in out.chunks(8).enumerate() {
        v[i] = u64::from_le_bytes(c.try_into().unwrap());
    }
    v
}

fn set_input(units: u64, flags: u8) -> Vec<u8> {
    let mut p = SetPartitionInfoIn {
        volatile_capacity: units,
        flags,
    }
    .encode();
    p.push(0);
    p
}

#[test]
fn get_partition_info_initial() {
    let mut m = test_memdev();
    // Volatile 4 + 2 of partitionable; persistent 2 + 2.
    assert_eq!(get(&mut m), [6, 4, 0, 0]);
    let p = m.partition();
    assert_eq!(p.volatile_dpa_range(), 0..(3 * GIB / 2));
    assert_eq!(p.persistent_dpa_range(), (3 * GIB / 2)..(5 * GIB / 2));
}

#[test]
fn set_partition_next_then_cold_reset() {
    let mut m = test_memdev();
    assert_eq!(m.execute(SET, &set_input(3, 0)), (RetCode::Success, vec![]));
    assert_eq!(get(&mut m), [6, 4, 7, 3]);
    m.cold_reset();
    assert_eq!(get(&mut m), [7, 3, 0, 0]);
}

#[test]
fn set_partition_immediate() {
    let mut m = test_memdev();
    m.execute(SET, &set_input(1, 0));
    // Nine-byte form, immediate: takes effect and cancels the pending.
    let mut p = set_input(4, SET_PARTITION_FLAG_IMMEDIATE);
    p.pop();
    assert_eq!(m.execute(SET, &p), (RetCode::Success, vec![]));
    assert_eq!(get(&mut m), [8, 2, 0, 0]);
    assert_eq!(m.execute(SET, &set_input(0, 1)).0, RetCode::Success);
    assert_eq!(get(&mut m), [4, 6, 0, 0]);
}

#[test]
fn set_partition_invalid() {
    let mut m = test_memdev();
    assert_eq!(m.execute(SET, &set_input(5, 0)).0, RetCode::InvalidInput);
    assert_eq!(
        m.execute(SET, &set_input(u64::MAX, 0)).0,
        RetCode::InvalidInput
    );
    assert_eq!(m.execute(SET, &[0; 8]).0, RetCode::InvalidPayloadLength);
    assert_eq!(m.execute(SET, &[0; 11]).0, RetCode::InvalidPayloadLength);
    assert_eq!(m.execute(SET, &[]).0, RetCode::InvalidPayloadLength);
    assert_eq!(get(&mut m), [6, 4, 0, 0]);
    assert_eq!(m.execute(GET, &[0]).0, RetCode::InvalidPayloadLength);
}

#[test]
fn set_partition_alignment() {
    let mut c = test_config();
    c.partition_align_bytes = 2 * CAPACITY_MULTIPLIER;
    let mut m = TestMemdev::new(c).unwrap();
    assert_eq!(m.execute(SET, &set_input(1, 1)).0, RetCode::InvalidInput);
    assert_eq!(m.execute(SET, &set_input(2, 1)).0, RetCode::Success);
    assert_eq!(get(&mut m), [6, 4, 0, 0]);
    assert_eq!(m.execute(SET, &set_input(4, 1)).0, RetCode::Success);
    assert_eq!(get(&mut m), [8, 2, 0, 0]);
}

#[test]
fn dc_capacity_is_not_partitioned() {
    // The test device has DC regions: the static partitions are as
    // before.
    let mut m = test_memdev();
    assert_eq!(get(&mut m), [6, 4, 0, 0]);
    let mut m = TestMemdev::new(dc_only_config()).unwrap();
    assert_eq!(get(&mut m), [0, 0, 0, 0]);
    assert_eq!(m.execute(SET, &set_input(0, 1)).0, RetCode::Unsupported);
    assert_eq!(m.partition().volatile_dpa_range(), 0..0);
    assert_eq!(m.partition().persistent_dpa_range(), 0..0);
}

#[test]
fn nothing_partitionable_is_unsupported() {
    let mut m = TestMemdev::new(MemdevConfig::default()).unwrap();
    assert_eq!(m.execute(SET, &set_input(0, 0)).0, RetCode::Unsupported);
    assert_eq!(get(&mut m), [1, 0, 0, 0]);
}

#[test]
fn immediate_change_may_not_empty_or_fill_a_partition() {
    let mut c = test_config();
    c.volatile_bytes = 0;
    c.persistent_bytes = 0;
    c.partitionable_bytes = 2 * CAPACITY_MULTIPLIER;
    c.initial_partition_volatile_bytes = CAPACITY_MULTIPLIER;
    c.dc = Default::default();
    let mut m = TestMemdev::new(c).unwrap();
    assert_eq!(get(&mut m), [1, 1, 0, 0]);
    for units in [0, 2] {
        assert_eq!(
            m.execute(SET, &set_input(units, SET_PARTITION_FLAG_IMMEDIATE))
                .0,
            RetCode::InvalidInput,
            "{units}"
        );
        assert_eq!(get(&mut m), [1, 1, 0, 0]);
    }
    // At the next reset it may.
    assert_eq!(m.execute(SET, &set_input(2, 0)).0, RetCode::Success);
    assert_eq!(get(&mut m), [1, 1, 2, 0]);
    m.cold_reset();
    assert_eq!(get(&mut m), [2, 0, 0, 0]);
}
