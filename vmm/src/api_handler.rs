//! Operator requests, applied by the VMM loop: each [`ApiRequest`] becomes
//! one call on the CXL hierarchy (`cxl_ops.rs`, which owns the backends,
//! the devices and the rules between them) and one typed answer. The
//! request was checked when it was parsed; a refused request changes
//! nothing.

use std::sync::Arc;

use api::{
    ApiError, ApiRequest, ApiResponse, ApiResult, DcExtentList, DcReleaseStatus, FaultId,
    FaultsCleared, VmInfo, VmState,
};
use devices::cxl::dcd::DcdError;

use crate::cxl_ops::OpError;
use crate::device_manager::DeviceManager;
use crate::exit::{ExitReason, ExitState};

/// What the handler needs of the running VM.
pub struct ApiContext {
    /// The devices.
    pub devices: Arc<DeviceManager>,
    /// Exit requests (shutdown).
    pub exit: Arc<ExitState>,
    /// vCPUs.
    pub cpus: u32,
    /// RAM bytes.
    pub memory: u64,
}

/// 404 and 409 as the operation says, 400 for a backend that cannot be
/// created; a device's refusal by its kind.
fn api_error(e: OpError) -> ApiError {
    match e {
        OpError::NotFound(m) => ApiError::NotFound(m),
        OpError::Conflict(m) => ApiError::Conflict(m),
        OpError::Invalid(m) => ApiError::BadRequest(m),
        OpError::Device(e) => dcd_error(e),
    }
}

/// 409 for state conflicts, 503 while the guest has not drained the DC
/// event log, 400 for requests that can never succeed.
fn dcd_error(e: DcdError) -> ApiError {
    let msg = e.to_string();
    match e {
        // Temporary, and up to the guest (or a withdrawal of unread
        // offers): try again later.
        DcdError::LogFull { .. } => ApiError::Unavailable(msg),
        DcdError::InUse { .. }
        | DcdError::ExtentLimit { .. }
        | DcdError::BackendInUse(_)
        | DcdError::TagInUse(_)
        | DcdError::TagPending(_)
        | DcdError::NotAccepted { .. }
        | DcdError::NoSpace { .. } => ApiError::Conflict(msg),
        _ => ApiError::BadRequest(msg),
    }
}

impl ApiContext {
    /// Applies one request.
    pub fn handle(&self, req: ApiRequest) -> ApiResult {
        if self.exit.stopping() && !matches!(req, ApiRequest::VmInfo) {
            return Err(ApiError::shutting_down());
        }
        let cxl = &self.devices.cxl;
        let answer = match req {
            ApiRequest::VmInfo => ApiResponse::VmInfo(self.vm_info()),
            ApiRequest::VmShutdown => {
                self.exit.request(ExitReason::Shutdown);
                ApiResponse::Done
            }
            ApiRequest::BackendList => ApiResponse::Backends(cxl.backend_list()),
            ApiRequest::BackendAdd(config) => {
                ApiResponse::BackendCreated(cxl.backend_create(config).map_err(api_error)?)
            }
            ApiRequest::BackendRemove { id } => {
                cxl.backend_remove(&id).map_err(api_error)?;
                ApiResponse::Done
            }
            ApiRequest::DeviceList => ApiResponse::Devices(cxl.device_list()),
            ApiRequest::DcAdd { device, request } => ApiResponse::DcExtents(DcExtentList {
                extents: cxl.dc_add(&device, request).map_err(api_error)?,
            }),
            ApiRequest::DcRelease { device, request } => ApiResponse::DcExtents(DcExtentList {
                extents: cxl.dc_release(&device, request).map_err(api_error)?,
            }),
            ApiRequest::DcReleaseStatus { device, query } => {
                ApiResponse::ReleaseStatus(DcReleaseStatus {
                    status: cxl.dc_status(&device, query).map_err(api_error)?,
                })
            }
            ApiRequest::DcExtents { device } => {
                ApiResponse::Extents(cxl.dc_extents(&device).map_err(api_error)?)
            }
            ApiRequest::Inject { device, injection } => {
                cxl.inject(&device, &injection).map_err(api_error)?;
                ApiResponse::Done
            }
            ApiRequest::FaultAdd { device, fault } => ApiResponse::FaultCreated(FaultId {
                id: cxl.fault_add(&device, fault).map_err(api_error)?,
            }),
            ApiRequest::DcFaultAdd { device, fault } => ApiResponse::FaultCreated(FaultId {
                id: cxl.dc_fault_add(&device, fault).map_err(api_error)?,
            }),
            ApiRequest::FaultList { device } => {
                ApiResponse::Faults(cxl.fault_list(&device).map_err(api_error)?)
            }
            ApiRequest::FaultClear { device, fault } => ApiResponse::FaultsCleared(FaultsCleared {
                cleared: cxl.fault_clear(&device, fault).map_err(api_error)?,
            }),
            // The API thread serves the stream from the trace's ring.
            ApiRequest::Events { .. } => {
                return Err(ApiError::Internal(
                    "the event stream is served by the API thread".into(),
                ))
            }
        };
        Ok(answer)
    }

    fn vm_info(&self) -> VmInfo {
        VmInfo {
            state: if self.exit.stopping() {
                VmState::ShuttingDown
            } else {
                VmState::Running
            },
            cpus: self.cpus,
            memory: self.memory,
            version: env!("CARGO_PKG_VERSION").to_string(),
            devices: self.devices.cxl.device_count() as u32,
        }
    }
}
