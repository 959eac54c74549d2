//! Dynamic Capacity faults: records an operator posts on purpose that a
//! host must reject (`POST /devices/{id}/dc-faults`), to test a DCD
//! driver's checks (CXL 3.1 8.2.9.2.1.6, 8.2.9.9.9.3-4).
//!
//! - `misaligned`: an Add Capacity record whose extent starts half a block
//!   off the region's block size;
//! - `overlapping`: an Add Capacity record for the first block of an
//!   extent the host already holds;
//! - `outside-region`: an Add Capacity record for the block past the last
//!   DC region's decode range;
//! - `endless-more`: `records` Add Capacity records for free blocks, every
//!   one with More set: the chain never ends;
//! - `release-unaccepted`: a Release Capacity record for a free block the
//!   host never accepted.
//!
//! The records are built here and go straight to the Dynamic Capacity
//! Event Log: [`DcdState`] does not know them, so no extent changes state
//! and nothing is ever mapped for them. The host's answers are still
//! checked as the specification says:
//!
//! - an Add Dynamic Capacity Response while a fault offer is outstanding
//!   and no real offer is pending goes to the oldest fault offer:
//!   an empty list declines it (Success, the fault is done), a list naming
//!   extents is refused as [`DcdState`] refuses any extent it did not
//!   offer: Invalid Physical Address outside every region, Invalid Extent
//!   List off the block size, Invalid Physical Address otherwise (nothing
//!   changes, the offer stays);
//! - a Release Dynamic Capacity goes to [`DcdState`], which refuses an
//!   extent the host does not hold (Invalid Physical Address); one naming
//!   a `release-unaccepted` record's extent completes that fault.
//!
//! Fault offers are posted only while no real offer is pending. A real
//! offer made after one (an endless chain the host is still waiting on)
//! takes the responses while it is pending: a host that merged the fault
//! chain into the real one that followed answers the real one, and
//! [`DcdState`] refuses any fault extent it names.
//!
//! Linux's DCD driver (v11 series) checks each offered extent when the
//! chain ends: one outside a DC partition ("not in a valid DC partition")
//! or overlapping an extent it holds is dropped from its response (an
//! empty list if none is left); it does not check the block size, so it
//! names a misaligned extent and gets Invalid Extent List; it waits for
//! the end of an endless chain; and it answers a release of an extent it
//! has no region for with Release Dynamic Capacity, refused here.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::extent::ExtentRange;
use super::record::{DcEvent, DcEventType};
use super::state::DcdState;
use super::HOST_ID;
use crate::cxl::retcode::RetCode;

/// Records of one `endless-more` fault, at most.
pub const MAX_ENDLESS_RECORDS: u32 = 16;
/// DC faults outstanding at once on one device, at most.
pub const MAX_DC_FAULTS: usize = 16;

/// A fault's count when the operator gives none: one (the mailbox faults
/// of `memdev/faults.rs` share it).
pub(crate) fn one() -> u32 {
    1
}

/// A Dynamic Capacity fault as the operator asks for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "kebab-case",
    rename_all_fields = "kebab-case",
    deny_unknown_fields
)]
pub enum DcFaultRequest {
    /// An extent off the region's block size.
    Misaligned {
        /// The region (default 0).
        #[serde(default)]
        region: u8,
    },
    /// An extent overlapping one the host holds.
    Overlapping {},
    /// An extent outside every DC region.
    OutsideRegion {},
    /// A More chain whose last record keeps More set.
    EndlessMore {
        /// The region (default 0).
        #[serde(default)]
        region: u8,
        /// How many records (1 to 16).
        #[serde(default = "one")]
        records: u32,
    },
    /// A Release Capacity record for an extent never accepted.
    ReleaseUnaccepted {
        /// The region (default 0).
        #[serde(default)]
        region: u8,
    },
}

impl DcFaultRequest {
    /// The kind's name, as in JSON.
    pub fn name(&self) -> &'static str {
        match self {
            DcFaultRequest::Misaligned { .. } => "misaligned",
            DcFaultRequest::Overlapping {} => "overlapping",
            DcFaultRequest::OutsideRegion {} => "outside-region",
            DcFaultRequest::EndlessMore { .. } => "endless-more",
            DcFaultRequest::ReleaseUnaccepted { .. } => "release-unaccepted",
        }
    }

    /// The checks that need no device.
    pub fn check(&self) -> Result<(), String> {
        match *self {
            DcFaultRequest::EndlessMore { records, .. }
                if records == 0 || records > MAX_ENDLESS_RECORDS =>
            {
                Err(format!(
                    "records {records} is not in 1..={MAX_ENDLESS_RECORDS}"
                ))
            }
            _ => Ok(()),
        }
    }

    /// The region it names, if it names one.
    pub fn region(&self) -> Option<u8> {
        match *self {
            DcFaultRequest::Misaligned { region }
            | DcFaultRequest::EndlessMore { region, .. }
            | DcFaultRequest::ReleaseUnaccepted { region } => Some(region),
            DcFaultRequest::Overlapping {} | DcFaultRequest::OutsideRegion {} => None,
        }
    }

    /// Whether the host answers it with Release Dynamic Capacity (rather
    /// than Add Dynamic Capacity Response).
    fn is_release(&self) -> bool {
        matches!(self, DcFaultRequest::ReleaseUnaccepted { .. })
    }
}

/// A DPA range as the API shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct FaultExtent {
    /// Starting DPA.
    pub dpa: u64,
    /// Length in bytes.
    pub len: u64,
}

/// A DC fault whose records are in the log, waiting for the host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct DcFaultInfo {
    /// Its id on this device (shared with the mailbox faults).
    pub id: u32,
    /// What was asked for.
    pub fault: DcFaultRequest,
    /// The extents its records carry.
    pub extents: Vec<FaultExtent>,
}

/// The outstanding DC faults of a device.
#[derive(Debug, Default)]
pub struct DcFaults {
    /// Add Capacity fault offers, oldest first.
    offers: Vec<DcFaultInfo>,
    /// Release Capacity faults.
    releases: Vec<DcFaultInfo>,
}

/// What the host's Add Dynamic Capacity Response did to a fault offer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultAnswer {
    /// The fault offer it answered.
    pub id: u32,
    /// Success (the offer is declined and done) or the refusal.
    pub result: Result<(), RetCode>,
}

impl DcFaults {
    /// Every outstanding fault, offers first.
    pub fn list(&self) -> Vec<DcFaultInfo> {
        self.offers.iter().chain(&self.releases).cloned().collect()
    }

    /// How many are outstanding.
    pub fn len(&self) -> usize {
        self.offers.len() + self.releases.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records an outstanding fault.
    pub(crate) fn push(&mut self, info: DcFaultInfo) {
        if info.fault.is_release() {
            self.releases.push(info);
        } else {
            self.offers.push(info);
        }
    }

    /// Forgets fault `id`; false if there is none.
    pub fn clear(&mut self, id: u32) -> bool {
        let before = self.len();
        self.offers.retain(|f| f.id != id);
        self.releases.retain(|f| f.id != id);
        self.len() != before
    }

    /// Forgets them all; returns their ids.
    pub fn clear_all(&mut self) -> Vec<u32> {
        let ids = self.list().iter().map(|f| f.id).collect();
        self.offers.clear();
        self.releases.clear();
        ids
    }

    /// Answers an Add Dynamic Capacity Response (`list`, `more`) if it is
    /// meant for a fault offer: one is outstanding and `dcd` has no real
    /// offer pending. `None` leaves the response to `dcd`.
    pub(crate) fn answer_add(
        &mut self,
        dcd: &DcdState,
        list: &[ExtentRange],
        more: bool,
    ) -> Option<FaultAnswer> {
        if dcd.pending_chains() > 0 {
            return None;
        }
        let id = self.offers.first()?.id;
        if !list.is_empty() {
            // Every extent of a fault offer is one the host must not take.
            let rc = dcd
                .check_updated_list(list)
                .err()
                .unwrap_or(RetCode::InvalidPhysicalAddress);
            return Some(FaultAnswer {
                id,
                result: Err(rc),
            });
        }
        if !more {
            self.offers.remove(0);
        }
        Some(FaultAnswer { id, result: Ok(()) })
    }

    /// After a Release Dynamic Capacity of `list` that `dcd` refused: the
    /// `release-unaccepted` faults whose extent it named are done; their
    /// ids.
    pub(crate) fn answer_release(&mut self, list: &[ExtentRange]) -> Vec<u32> {
        let mut done = Vec::new();
        self.releases.retain(|f| {
            let named = f.extents.iter().any(|e| {
                list.iter()
                    .any(|r| r.overlaps(&ExtentRange::new(e.dpa, e.len)))
            });
            if named {
                done.push(f.id);
            }
            !named
        });
        done
    }
}

/// The first `blocks` free blocks in a row of region `region` (no live
/// extent and no outstanding fault offer in them).
fn free_blocks(
    dcd: &DcdState,
    faults: &DcFaults,
    region: u8,
    blocks: u64,
) -> Result<(u64, u64), String> {
    let r = dcd
        .region(region)
        .ok_or_else(|| format!("the device has no DC region {region}"))?;
    let block = r.block_size;
    if block == 0 {
        return Err(format!("region {region} has no block size"));
    }
    let need = blocks.saturating_mul(block);
    let taken: Vec<ExtentRange> = faults
        .list()
        .iter()
        .flat_map(|f| f.extents.clone())
        .map(|e| ExtentRange::new(e.dpa, e.len))
        .collect();
    let mut at = r.base;
    loop {
        let want = ExtentRange::new(at, need);
        if !r.contains(at, need) {
            return Err(format!(
                "region {region} has no {need:#x} bytes free for the fault's records"
            ));
        }
        let hit = dcd
            .first_overlap(want)
            .map(|(k, l)| k.saturating_add(l.len))
            .or_else(|| {
                taken
                    .iter()
                    .filter(|t| t.overlaps(&want))
                    .map(ExtentRange::end_sat)
                    .max()
            });
        match hit {
            None => return Ok((at, block)),
            Some(end) => {
                // Round the next candidate up to the block size.
                let off = end.saturating_sub(r.base);
                at = r
                    .base
                    .saturating_add(off.div_ceil(block).saturating_mul(block));
            }
        }
    }
}

/// The records fault `req` posts (in order) and the extents they carry.
/// Refused if the device has nothing to build them from.
pub(crate) fn build(
    dcd: &DcdState,
    faults: &DcFaults,
    req: &DcFaultRequest,
) -> Result<Vec<DcEvent>, String> {
    req.check()?;
    let event = |event_type, region, more, extent| DcEvent {
        event_type,
        host_id: HOST_ID,
        region,
        more,
        extent,
        tag: Uuid::nil(),
        shared_seq: 0,
        available_extents: dcd.available_extents(),
        available_tags: dcd.available_tags(),
    };
    let add = DcEventType::AddCapacity;
    Ok(match *req {
        DcFaultRequest::Misaligned { region } => {
            let (at, block) = free_blocks(dcd, faults, region, 2)?;
            vec![event(
                add,
                region,
                false,
                ExtentRange::new(at + block / 2, block),
            )]
        }
        DcFaultRequest::Overlapping {} => {
            let (dpa, live) = dcd
                .extents
                .iter()
                .find(|(_, l)| l.state.held())
                .ok_or_else(|| "the host holds no extent to overlap".to_string())?;
            let block = dcd.region(live.region).map_or(live.len, |r| r.block_size);
            vec![event(
                add,
                live.region,
                false,
                ExtentRange::new(*dpa, block.min(live.len)),
            )]
        }
        DcFaultRequest::OutsideRegion {} => {
            let last = dcd
                .regions()
                .last()
                .ok_or_else(|| "the device has no DC regions".to_string())?;
            vec![event(
                add,
                last.index,
                false,
                ExtentRange::new(last.decode_end(), last.block_size),
            )]
        }
        DcFaultRequest::EndlessMore { region, records } => {
            let (at, block) = free_blocks(dcd, faults, region, u64::from(records))?;
            (0..u64::from(records))
                .map(|i| event(add, region, true, ExtentRange::new(at + i * block, block)))
                .collect()
        }
        DcFaultRequest::ReleaseUnaccepted { region } => {
            let (at, block) = free_blocks(dcd, faults, region, 1)?;
            vec![event(
                DcEventType::ReleaseCapacity,
                region,
                false,
                ExtentRange::new(at, block),
            )]
        }
    })
}
