//! The API's JSON documents. Field names are kebab-case and follow QEMU's
//! QMP commands (`cxl-add-dynamic-capacity`, `cxl-release-dynamic-capacity`,
//! `object-add memory-backend-*`), so operator scripts translate one to one.
//!
//! Request documents refuse unknown fields; response documents tolerate
//! them so that an older client keeps working against a newer VMM.
//!
//! The requests, extents, policies and states are the domain's own types
//! (`devices::memory`, `devices::cxl::dcd`), defined once with their serde
//! names; what lives here are the answers built around them and
//! [`Validate`], the checks a request passes before it reaches the VMM.

mod backend;
mod dc;
mod device;
mod fault;
mod inject;
mod validate;
mod vm;

pub use backend::{BackendConfig, BackendKind, BoundTo, MemoryBackendInfo};
pub use dc::{
    extent_end, AddRequest, DcExtent, DcExtentList, DcReleaseStatus, DcReleaseStatusQuery,
    ExtentChange, ExtentEntry, ExtentInfo, ExtentRef, ExtentState, ExtentStatus, ReleaseRequest,
    ReleaseSelector, RemovalPolicy, RequestedExtent, SelectionPolicy, EXTENT_STATES,
    RELEASE_STATUSES,
};
pub use device::{CxlDeviceInfo, DcEventLogInfo, DcRegionInfo, HpaRangeInfo, MemoryPath};
pub use fault::{
    ArmedFault, DcFaultInfo, DcFaultRequest, FaultExtent, FaultId, FaultList, FaultRequest,
    FaultsCleared, DEFAULT_FAULT_HOLD_MS,
};
pub use inject::{
    CorrectableErrorInjection, CorrectableErrorType, DramInjection, EventLogName,
    GeneralMediaInjection, HealthUpdate, Injection, MemoryModuleInjection, PoisonInjection,
    UncorrectableError, UncorrectableErrorType, UncorrectableErrorsInjection,
};
pub use validate::{validate_id, Validate, MAX_ID_LEN};
pub use vm::{VmInfo, VmState};
