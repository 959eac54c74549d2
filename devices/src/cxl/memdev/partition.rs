//! Capacity partitioning: the device's partition layout (CXL 3.1
//! 8.2.9.9.2.1, 8.2.9.9.2.2).
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

use super::config::MemdevConfig;
use crate::cxl::retcode::RetCode;

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

    /// True if some capacity can be assigned to either use.
    pub fn is_partitionable(&self) -> bool {
        self.partitionable != 0
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
    /// nothing is partitionable; Invalid Input if not aligned or too large,
    /// or if an immediate change would empty a partition or fill an empty
    /// one (the CDAT the host read at probe names each partition: such a
    /// change waits for the next reset).
    pub fn set(&mut self, volatile_bytes: u64, immediate: bool) -> Result<(), RetCode> {
        if self.partitionable == 0 || self.align == 0 {
            return Err(RetCode::Unsupported);
        }
        if !volatile_bytes.is_multiple_of(self.align) || volatile_bytes > self.partitionable {
            return Err(RetCode::InvalidInput);
        }
        let volatile = self.volatile_only.saturating_add(volatile_bytes);
        let persistent = self
            .persistent_only
            .saturating_add(self.partitionable - volatile_bytes);
        let same_partitions = (volatile == 0) == (self.active_volatile_bytes() == 0)
            && (persistent == 0) == (self.active_persistent_bytes() == 0);
        if immediate && !same_partitions {
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
