//! Capacity partitioning: the device's partition layout and the Get/Set
//! Partition Info commands (CXL 3.1 8.2.9.9.2.1, 8.2.9.9.2.2).
//!
//! Capacity is volatile-only, persistent-only, or partitionable. The
//! partitionable part is split, at the partition alignment, between volatile
//! and persistent use. In DPA space the volatile capacity (volatile-only plus
//! the volatile share) comes first, the persistent capacity after it, as
//! Linux lays them out (`cxl_mem_dpa_fetch`). Dynamic Capacity regions
//! follow the static capacity and are not partitions: CXL 3.1's Get
//! Partition Info has no DC fields (DC is described by Get Dynamic Capacity
//! Configuration), so a DC-only device reports all zeros here.

use std::ops::Range;

use super::payload::{Input, Output};
use super::RetCode;
use crate::cxl::memdev::{Memdev, MemdevConfig, CAPACITY_MULTIPLIER};

/// Size of the Get Partition Info output payload.
pub const GET_PARTITION_INFO_SIZE: usize = 0x20;

// CXL 3.1 8.2.9.9.2.2 Set Partition Info (Flags)
/// Set Partition Info Flags: Immediate.
pub const SET_PARTITION_FLAG_IMMEDIATE: u8 = 1 << 0;

/// The device's current and pending capacity partitioning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartitionLayout {
    volatile_only: u64,
    persistent_only: u64,
    partitionable: u64,
    align: u64,
    volatile_share: u64,
    next_volatile_share: Option<u64>,
}

impl PartitionLayout {
    /// The power-on layout of `config` (assumed valid).
    pub fn new(config: &MemdevConfig) -> Self {
        Self {
            volatile_only: config.volatile_bytes,
            persistent_only: config.persistent_bytes,
            partitionable: config.partitionable_bytes,
            align: config.partition_align_bytes,
            volatile_share: config
                .initial_partition_volatile_bytes
                .min(config.partitionable_bytes),
            next_volatile_share: None,
        }
    }

    /// Active volatile capacity in bytes.
    pub fn active_volatile_bytes(&self) -> u64 {
        self.volatile_only.saturating_add(self.volatile_share)
    }

    /// Active persistent capacity in bytes.
    pub fn active_persistent_bytes(&self) -> u64 {
        self.persistent_only
            .saturating_add(self.partitionable.saturating_sub(self.volatile_share))
    }

    /// Volatile and persistent capacity in bytes after the next cold reset,
    /// if a change is pending.
    pub fn next(&self) -> Option<(u64, u64)> {
        self.next_volatile_share.map(|share| {
            (
                self.volatile_only.saturating_add(share),
                self.persistent_only
                    .saturating_add(self.partitionable.saturating_sub(share)),
            )
        })
    }

    /// DPA range of the active volatile capacity.
    pub fn volatile_dpa_range(&self) -> Range<u64> {
        0..self.active_volatile_bytes()
    }

    /// DPA range of the active persistent capacity.
    pub fn persistent_dpa_range(&self) -> Range<u64> {
        let start = self.active_volatile_bytes();
        start..start.saturating_add(self.active_persistent_bytes())
    }

    /// Assigns `volatile_bytes` of the partitionable capacity to volatile
    /// use, now (`immediate`) or at the next cold reset. Unsupported if
    /// nothing is partitionable; Invalid Input if not aligned or too large.
    pub fn set(&mut self, volatile_bytes: u64, immediate: bool) -> Result<(), RetCode> {
        if self.partitionable == 0 || self.align == 0 {
            return Err(RetCode::Unsupported);
        }
        if !volatile_bytes.is_multiple_of(self.align) || volatile_bytes > self.partitionable {
            return Err(RetCode::InvalidInput);
        }
        if immediate {
            self.volatile_share = volatile_bytes;
            self.next_volatile_share = None;
        } else {
            self.next_volatile_share = Some(volatile_bytes);
        }
        Ok(())
    }

    /// Makes a pending change active (cold reset).
    pub fn apply_pending(&mut self) {
        if let Some(share) = self.next_volatile_share.take() {
            self.volatile_share = share;
        }
    }
}

// CXL 3.1 8.2.9.9.2.1 Get Partition Info (Opcode 4100h)
/// Get Partition Info: no input; active and next volatile and persistent
/// capacity in 256 MiB units (next both 0 when no change is pending).
pub fn get_partition_info(memdev: &mut Memdev, input: Input) -> Result<Vec<u8>, RetCode> {
    input.expect_len(0)?;
    let p = memdev.partition();
    let (next_volatile, next_persistent) = p.next().unwrap_or((0, 0));
    let mut o = Output::zeroed(GET_PARTITION_INFO_SIZE);
    o.put_u64(0x00, p.active_volatile_bytes() / CAPACITY_MULTIPLIER);
    o.put_u64(0x08, p.active_persistent_bytes() / CAPACITY_MULTIPLIER);
    o.put_u64(0x10, next_volatile / CAPACITY_MULTIPLIER);
    o.put_u64(0x18, next_persistent / CAPACITY_MULTIPLIER);
    Ok(o.into_vec())
}

// CXL 3.1 8.2.9.9.2.2 Set Partition Info (Opcode 4101h)
/// Set Partition Info: Volatile Capacity (256 MiB units of partitionable
/// capacity) and Flags in; no output. The spec's payload is 9 bytes; Linux
/// lets user space send 0Ah (`CXL_CMD(SET_PARTITION_INFO, 0x0a, ...)`), so
/// both lengths are accepted.
pub fn set_partition_info(memdev: &mut Memdev, input: Input) -> Result<Vec<u8>, RetCode> {
    if input.len() != 9 && input.len() != 10 {
        return Err(RetCode::InvalidPayloadLength);
    }
    let units = input.u64(0).ok_or(RetCode::InvalidPayloadLength)?;
    let flags = input.u8(8).ok_or(RetCode::InvalidPayloadLength)?;
    if memdev.partition().partitionable == 0 {
        return Err(RetCode::Unsupported);
    }
    let bytes = units
        .checked_mul(CAPACITY_MULTIPLIER)
        .ok_or(RetCode::InvalidInput)?;
    memdev
        .partition_mut()
        .set(bytes, flags & SET_PARTITION_FLAG_IMMEDIATE != 0)?;
    Ok(Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cxl::mailbox::Opcode;
    use crate::cxl::memdev::tests::{dc_only_config, test_config, test_memdev};
    use crate::cxl::memdev::Memdev;

    const GET: u16 = Opcode::GetPartitionInfo as u16;
    const SET: u16 = Opcode::SetPartitionInfo as u16;
    const GIB: u64 = 1 << 30;

    fn get(m: &mut Memdev) -> [u64; 4] {
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
        let mut p = units.to_le_bytes().to_vec();
        p.push(flags);
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
        let mut m = Memdev::new(c).unwrap();
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
        let mut m = Memdev::new(dc_only_config()).unwrap();
        assert_eq!(get(&mut m), [0, 0, 0, 0]);
        assert_eq!(m.execute(SET, &set_input(0, 1)).0, RetCode::Unsupported);
        assert_eq!(m.partition().volatile_dpa_range(), 0..0);
        assert_eq!(m.partition().persistent_dpa_range(), 0..0);
    }

    #[test]
    fn nothing_partitionable_is_unsupported() {
        let mut m = Memdev::new(Default::default()).unwrap();
        assert_eq!(m.execute(SET, &set_input(0, 0)).0, RetCode::Unsupported);
        assert_eq!(get(&mut m), [1, 0, 0, 0]);
    }
}
