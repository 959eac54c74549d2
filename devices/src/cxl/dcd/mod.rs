//! Dynamic Capacity for the Type 3 memory device (CXL 3.1 9.13.3,
//! 8.2.9.9.9, 8.2.9.2.1.6; FM API 7.6.7.6.5-6 for the operator side).
//!
//! - `region`: DC region configuration and DPA layout.
//! - `extent`: extents, their wire formats, states and effects.
//! - `record`: the Dynamic Capacity Event Record.
//! - `policy`: operator requests, selection and removal policies.
//! - `state`: [`DcdState`], the one owner of every extent's state.
//! - `host`: Add Dynamic Capacity Response and Release Dynamic Capacity.
//! - `operator`: add and release requests, planned then committed.
//! - `withdraw`: withdrawing offers the host has not accepted.
//! - `log`: the Dynamic Capacity Event Log's room and posting records.
//!
//! [`DcdState`] is one part of the memory device's state
//! ([`Memdev`](crate::cxl::memdev::Memdev)), which the device model, the
//! REST layer and the mailbox call.
//!
//! Extent life: Pending (offered in a More chain) -> Accepted (Add Dynamic
//! Capacity Response) -> ReleasePending (Release Capacity record) ->
//! Released (Release Dynamic Capacity); Pending -> Declined (not named in
//! the response that closes the chain); Accepted -> Released at once by a
//! Forced Capacity Release; Pending -> Withdrawn by a forced release of
//! the offer (never mapped). Every operation returns what it means for
//! memory as [`DcdEffect`]s.

pub mod error;
pub mod extent;
pub mod faults;
pub mod host;
pub mod log;
pub mod operator;
pub mod policy;
pub mod record;
pub mod region;
pub mod state;
pub mod withdraw;

#[cfg(test)]
pub(crate) mod tests;

pub use error::DcdError;
pub use extent::{
    DcExtent, DcdEffect, ExtentInfo, ExtentOutcome, ExtentRange, ExtentState, ExtentStatus,
    HistoryEntry,
};
pub use log::DcEventLogStatus;
pub use policy::{
    AddOutcome, AddRequest, ReleaseOutcome, ReleaseRequest, RemovalPolicy, RequestedExtent,
    SelectionPolicy,
};
pub use record::{DcEvent, DcEventType, DC_EVENT_UUID};
pub use region::{DcConfig, DcConfigError, DcRegion, DcRegionConfig, DcRegions};
pub use state::DcdState;

/// The only host of a single-host (SLD) device.
pub const HOST_ID: u16 = 0;
