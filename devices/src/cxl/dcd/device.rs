//! The Dynamic Capacity API of [`Memdev`]: what the device model and the
//! REST layer call. Operator requests write their records to the Dynamic
//! Capacity Event Log and say which MSI/MSI-X message number, if any, the
//! device model must signal; memory changes are drained with
//! [`Memdev::take_dcd_effects`].

use uuid::Uuid;

use super::error::DcdError;
use super::extent::{DcExtent, DcdEffect, ExtentInfo, ExtentStatus};
use super::policy::{AddOutcome, AddRequest, ReleaseOutcome, ReleaseRequest};
use super::record::DcEvent;
use super::state::ChainRecord;
use crate::cxl::events::{EventLogType, EventLogs};
use crate::cxl::memdev::Memdev;

/// Free entries in the Dynamic Capacity Event Log.
fn log_free(events: &EventLogs) -> usize {
    let log = events.log(EventLogType::DynamicCapacity);
    usize::from(log.depth()).saturating_sub(log.len())
}

/// Adds `records` to the Dynamic Capacity Event Log (room was checked);
/// the message number to signal, if any, and each record as posted.
fn post(events: &mut EventLogs, now: u64, records: &[DcEvent]) -> (Option<u8>, Vec<ChainRecord>) {
    let mut msi = None;
    let mut posted = Vec::with_capacity(records.len());
    for r in records {
        let added = events.add(EventLogType::DynamicCapacity, r.to_record(), now);
        match added.handle {
            Some(handle) => posted.push(ChainRecord {
                range: r.extent,
                handle,
            }),
            None => {
                crate::error_limited!(
                    "cxl dcd: dynamic capacity event log overflowed despite the room check"
                );
            }
        }
        msi = msi.or(added.msi);
    }
    (msi, posted)
}

/// How full the Dynamic Capacity Event Log is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DcEventLogStatus {
    /// Records it holds at most.
    pub depth: u16,
    /// Records in it (the host has not cleared them).
    pub used: usize,
    /// Of those, how many the host has read (Get Event Records).
    pub read: usize,
}

impl DcEventLogStatus {
    /// True if no record fits: every add is refused until the host clears
    /// records (or the operator withdraws offers it has not read).
    pub fn full(&self) -> bool {
        self.used >= usize::from(self.depth)
    }
}

impl Memdev {
    /// Offers capacity to the host (Add Capacity records, one More chain).
    /// On error nothing changes.
    pub fn dcd_add_capacity(&mut self, req: AddRequest) -> Result<AddOutcome, DcdError> {
        let (dcd, events, now) = self.dcd_parts();
        let plan = dcd.plan_add(&req, log_free(events))?;
        let (extents, records) = dcd.commit_add(&plan);
        let (msi, posted) = post(events, now, &records);
        dcd.note_offer_records(posted);
        Ok(AddOutcome { extents, msi })
    }

    /// Asks the host for capacity back (Release Capacity records; the
    /// extents become release-pending) or, forced, takes it (Forced
    /// Capacity Release records; the extents are released at once; offered
    /// extents are withdrawn, see [`super::withdraw`]). On error nothing
    /// changes.
    pub fn dcd_release_capacity(
        &mut self,
        req: ReleaseRequest,
    ) -> Result<ReleaseOutcome, DcdError> {
        let (dcd, events, now) = self.dcd_parts();
        let plan = dcd.plan_release(&req, log_free(events))?;
        let (extents, records, withdrawn) = dcd.commit_release(&plan);
        if !withdrawn.is_empty() {
            dcd.retract_withdrawn(events);
        }
        let (msi, _) = post(events, now, &records);
        Ok(ReleaseOutcome {
            extents,
            forced: plan.forced(),
            withdrawn,
            msi,
        })
    }

    /// How full the Dynamic Capacity Event Log is.
    pub fn dc_event_log_status(&self) -> DcEventLogStatus {
        let log = self.events().log(EventLogType::DynamicCapacity);
        DcEventLogStatus {
            depth: log.depth(),
            used: log.len(),
            read: log.seen(),
        }
    }

    /// Memory changes since the last call, oldest first: map accepted
    /// extents, unmap (and sanitize) released ones, free declined backends.
    pub fn take_dcd_effects(&mut self) -> Vec<DcdEffect> {
        self.dcd_mut().take_effects()
    }

    /// The extents the host holds (accepted or release pending), in DPA
    /// order.
    pub fn dcd_accepted_extents(&self) -> Vec<DcExtent> {
        self.dcd().accepted_extents()
    }

    /// Every live extent with its state, in DPA order.
    pub fn dcd_extents(&self) -> Vec<ExtentInfo> {
        self.dcd().extents()
    }

    /// Status of the extents tagged `tag`.
    pub fn dcd_status_by_tag(&self, tag: Uuid) -> ExtentStatus {
        self.dcd().status_by_tag(tag)
    }

    /// Status of the extent at `offset` of region `region`, `len` bytes.
    pub fn dcd_status_by_extent(&self, region: u8, offset: u64, len: u64) -> ExtentStatus {
        self.dcd().status_by_extent(region, offset, len)
    }
}
