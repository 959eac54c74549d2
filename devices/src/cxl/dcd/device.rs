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
use crate::cxl::events::{EventLogType, EventLogs};
use crate::cxl::memdev::Memdev;

/// Free entries in the Dynamic Capacity Event Log.
fn log_free(events: &EventLogs) -> usize {
    let log = events.log(EventLogType::DynamicCapacity);
    usize::from(log.depth()).saturating_sub(log.len())
}

/// Adds `records` to the Dynamic Capacity Event Log (room was checked);
/// the message number to signal, if any.
fn post(events: &mut EventLogs, now: u64, records: &[DcEvent]) -> Option<u8> {
    let mut msi = None;
    for r in records {
        let added = events.add(EventLogType::DynamicCapacity, r.to_record(), now);
        if added.handle.is_none() {
            crate::error_limited!(
                "cxl dcd: dynamic capacity event log overflowed despite the room check"
            );
        }
        msi = msi.or(added.msi);
    }
    msi
}

impl Memdev {
    /// Offers capacity to the host (Add Capacity records, one More chain).
    /// On error nothing changes.
    pub fn dcd_add_capacity(&mut self, req: AddRequest) -> Result<AddOutcome, DcdError> {
        let (dcd, events, now) = self.dcd_parts();
        let plan = dcd.plan_add(&req, log_free(events))?;
        let (extents, records) = dcd.commit_add(&plan);
        let msi = post(events, now, &records);
        Ok(AddOutcome { extents, msi })
    }

    /// Asks the host for capacity back (Release Capacity records; the
    /// extents become release-pending) or, forced, takes it (Forced
    /// Capacity Release records; the extents are released at once). On
    /// error nothing changes.
    pub fn dcd_release_capacity(
        &mut self,
        req: ReleaseRequest,
    ) -> Result<ReleaseOutcome, DcdError> {
        let (dcd, events, now) = self.dcd_parts();
        let plan = dcd.plan_release(&req, log_free(events))?;
        let (extents, records) = dcd.commit_release(&plan);
        let msi = post(events, now, &records);
        Ok(ReleaseOutcome {
            extents,
            forced: plan.forced(),
            msi,
        })
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
