//! The static DPA layout of a Type 3 device and the memory behind it.
//!
//! In DPA space the active volatile capacity comes first (volatile-only,
//! then the volatile share of the partitionable capacity), the active
//! persistent capacity after it (persistent-only, then the rest of the
//! partitionable capacity), Dynamic Capacity regions above. Each part has
//! its own backend: the partitionable backend is cut in two at the
//! volatile share. When Set Partition Info changes the share immediately,
//! the device model (`type3_layout.rs`) lays memory, HDM partitions and
//! the CDAT out again.

use std::sync::Arc;

use crate::cxl::cdat::{DpaRange, DpaRangeKind, Performance};
use crate::cxl::component::hdm::DpaLayout;
use crate::cxl::dcd::DcRegion;
use crate::cxl::fabric::MemoryRange;
use crate::cxl::memdev::partition::PartitionLayout;
use crate::cxl::memdev::{Memdev, MemdevConfig};
use crate::memory::HostMemory;

/// The backends of the static capacity.
#[derive(Clone, Default)]
pub struct StaticBackends {
    /// Behind the volatile-only capacity.
    pub volatile: Option<Arc<HostMemory>>,
    /// Behind the persistent-only capacity.
    pub persistent: Option<Arc<HostMemory>>,
    /// Behind the partitionable capacity.
    pub partitionable: Option<Arc<HostMemory>>,
}

impl StaticBackends {
    /// Checks that each capacity of `m` has a backend at least as large,
    /// and that no backend is given for a capacity the device lacks.
    pub fn check(&self, m: &MemdevConfig) -> Result<(), String> {
        for (name, size, backend) in [
            ("volatile", m.volatile_bytes, &self.volatile),
            ("persistent", m.persistent_bytes, &self.persistent),
            ("partitionable", m.partitionable_bytes, &self.partitionable),
        ] {
            match (size, backend) {
                (0, None) => {}
                (0, Some(_)) => {
                    return Err(format!(
                        "a {name} backend was given but the device has no {name} capacity"
                    ))
                }
                (_, None) => return Err(format!("{name} capacity needs a backend")),
                (size, Some(b)) if b.size() < size => {
                    return Err(format!(
                        "{name} backend '{}' has {:#x} bytes, the partition needs {size:#x}",
                        b.id(),
                        b.size()
                    ))
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The memory behind the static capacity of `m` with `share` bytes of
    /// the partitionable capacity volatile (empty parts left out).
    pub fn memory(&self, m: &MemdevConfig, share: u64) -> Vec<MemoryRange> {
        let share = share.min(m.partitionable_bytes);
        let v = m.volatile_bytes;
        let p = m.persistent_bytes;
        let rest = m.partitionable_bytes - share;
        [
            (&self.volatile, 0, v, 0),
            (&self.partitionable, v, share, 0),
            (&self.persistent, v + share, p, 0),
            (&self.partitionable, v + share + p, rest, share),
        ]
        .into_iter()
        .filter(|(_, _, len, _)| *len > 0)
        .filter_map(|(b, dpa, len, offset)| {
            b.as_ref().map(|b| MemoryRange {
                dpa,
                len,
                backend: b.clone(),
                offset,
            })
        })
        .collect()
    }
}

/// The volatile share of the partitionable capacity in `layout`.
pub fn volatile_share(m: &MemdevConfig, layout: &PartitionLayout) -> u64 {
    layout
        .active_volatile_bytes()
        .saturating_sub(m.volatile_bytes)
}

/// The HDM partitions and CDAT ranges (with `performance`) of the active
/// static partitions (non-empty ones) and the DC regions.
pub fn dpa_ranges(
    layout: &PartitionLayout,
    dc: &[DcRegion],
    performance: Performance,
) -> (DpaLayoutParts, Vec<DpaRange>) {
    let mut partitions = Vec::new();
    let mut cdat = Vec::new();
    let vol = layout.volatile_dpa_range();
    let pmem = layout.persistent_dpa_range();
    for (kind, r) in [
        (DpaRangeKind::Volatile, vol),
        (DpaRangeKind::Persistent, pmem),
    ] {
        if r.end > r.start {
            cdat.push(DpaRange {
                kind,
                dpa_base: r.start,
                length: r.end - r.start,
                performance,
            });
            partitions.push(r);
        }
    }
    for r in dc {
        partitions.push(r.base..r.decode_end());
        cdat.push(DpaRange {
            kind: DpaRangeKind::DynamicCapacity,
            dpa_base: r.base,
            length: r.length,
            performance,
        });
    }
    (partitions, cdat)
}

/// HDM partitions: DPA ranges a decoder must not span.
pub type DpaLayoutParts = Vec<std::ops::Range<u64>>;

/// The HDM DPA layout of `memdev` with `partitions`.
pub fn hdm_layout(memdev: &Memdev, partitions: DpaLayoutParts) -> DpaLayout {
    DpaLayout {
        capacity: memdev.dpa_space_bytes(),
        partitions,
    }
}
