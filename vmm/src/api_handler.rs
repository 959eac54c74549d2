//! Operator requests, applied by the VMM loop: each [`ApiRequest`] becomes
//! one call on the backend registry or a device, and one typed answer.
//! A refused request changes nothing.

use std::sync::{Arc, MutexGuard};

use api::{
    ApiError, ApiRequest, ApiResponse, ApiResult, BoundTo, CxlDeviceInfo, DcAddRequest,
    DcEventLogInfo, DcExtent, DcExtentList, DcRegionInfo, DcReleaseRequest, DcReleaseStatus,
    DcReleaseStatusQuery, ExtentInfo, ExtentRef, ExtentSpec, ExtentState, HpaRangeInfo,
    MemoryBackendConfig, MemoryBackendInfo, MemoryPath, ReleaseSelector, ReleaseStatus, VmInfo,
    VmState,
};
use devices::cxl::dcd::{
    AddRequest, DcExtent as DeviceExtent, DcdError, ExtentState as DeviceState, ExtentStatus,
    ReleaseRequest, RemovalPolicy, RequestedExtent, SelectionPolicy,
};
use devices::cxl::fabric::MemPath;
use devices::cxl::type3::Type3;
use devices::memory::{BackendConfig, BackendKind, HostMemory};

use crate::backends::{BackendRegistry, RegistryError};
use crate::cxl_devices::Type3Handle;
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

fn registry_error(e: RegistryError) -> ApiError {
    match e {
        RegistryError::NotFound(m) => ApiError::NotFound(m),
        RegistryError::Conflict(m) => ApiError::Conflict(m),
        RegistryError::Invalid(m) => ApiError::BadRequest(m),
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

fn requested(extents: &[ExtentSpec]) -> Vec<RequestedExtent> {
    extents
        .iter()
        .map(|e| RequestedExtent {
            offset: e.offset,
            len: e.len,
        })
        .collect()
}

fn state(s: DeviceState) -> ExtentState {
    match s {
        DeviceState::Pending => ExtentState::Pending,
        DeviceState::Accepted => ExtentState::Accepted,
        DeviceState::ReleasePending => ExtentState::ReleasePending,
    }
}

fn extent(e: &DeviceExtent, s: ExtentState) -> DcExtent {
    DcExtent {
        region: e.region,
        offset: e.region_offset,
        len: e.len,
        dpa: e.dpa,
        tag: (!e.tag.is_nil()).then_some(e.tag),
        state: s,
    }
}

impl ApiContext {
    /// Applies one request.
    pub fn handle(&self, req: ApiRequest) -> ApiResult {
        if self.exit.stopping() && !matches!(req, ApiRequest::VmInfo) {
            return Err(ApiError::shutting_down());
        }
        match req {
            ApiRequest::VmInfo => Ok(ApiResponse::VmInfo(self.vm_info())),
            ApiRequest::VmShutdown => {
                self.exit.request(ExitReason::Shutdown);
                Ok(ApiResponse::Done)
            }
            ApiRequest::BackendList => Ok(ApiResponse::Backends(
                self.registry()
                    .list()
                    .iter()
                    .map(|b| self.backend_info(b))
                    .collect(),
            )),
            ApiRequest::BackendAdd(cfg) => self.backend_add(cfg),
            ApiRequest::BackendRemove { id } => {
                self.registry().remove(&id).map_err(registry_error)?;
                Ok(ApiResponse::Done)
            }
            ApiRequest::DeviceList => Ok(ApiResponse::Devices(
                self.devices.cxl.type3.iter().map(device_info).collect(),
            )),
            ApiRequest::DcAdd { device, request } => self.dc_add(&device, request),
            ApiRequest::DcRelease { device, request } => self.dc_release(&device, request),
            ApiRequest::DcReleaseStatus { device, query } => self.dc_status(&device, query),
            ApiRequest::DcExtents { device } => self.dc_extents(&device),
        }
    }

    fn registry(&self) -> &BackendRegistry {
        &self.devices.cxl.backends
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
            devices: self.devices.cxl.type3.len() as u32,
        }
    }

    fn device(&self, id: &str) -> Result<MutexGuard<'_, Type3>, ApiError> {
        let h = self
            .devices
            .cxl
            .type3
            .iter()
            .find(|h| h.id == id)
            .ok_or_else(|| ApiError::NotFound(format!("unknown device '{id}'")))?;
        Ok(h.device.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn backend_info(&self, b: &Arc<HostMemory>) -> MemoryBackendInfo {
        let c = b.config();
        let (kind, path) = match &c.kind {
            BackendKind::Memfd => (api::BackendKind::Memfd, None),
            BackendKind::File(p) => (api::BackendKind::File, Some(p.clone())),
            BackendKind::Hugetlbfs(p) => (api::BackendKind::Hugetlbfs, Some(p.clone())),
        };
        MemoryBackendInfo {
            id: c.id.clone(),
            kind,
            path,
            size: c.size,
            share: c.share,
            prealloc: c.prealloc,
            tag: c.tag,
            bound_to: self.bound_to(b),
        }
    }

    /// The DC extent a backend backs, if any.
    fn bound_to(&self, b: &Arc<HostMemory>) -> Option<BoundTo> {
        for h in &self.devices.cxl.type3 {
            let dev = h.device.lock().unwrap_or_else(|e| e.into_inner());
            for e in dev.memdev().dcd_extents() {
                if e.extent.backend.as_ref().is_some_and(|x| Arc::ptr_eq(x, b)) {
                    return Some(BoundTo {
                        device: h.id.clone(),
                        extent: ExtentRef {
                            region: e.extent.region,
                            offset: e.extent.region_offset,
                            len: e.extent.len,
                        },
                    });
                }
            }
        }
        None
    }

    fn backend_add(&self, cfg: MemoryBackendConfig) -> ApiResult {
        cfg.validate().map_err(ApiError::BadRequest)?;
        let kind = match (cfg.kind, cfg.path.clone()) {
            (api::BackendKind::Memfd, _) => BackendKind::Memfd,
            (api::BackendKind::File, Some(p)) => BackendKind::File(p),
            (api::BackendKind::Hugetlbfs, Some(p)) => BackendKind::Hugetlbfs(p),
            (_, None) => {
                return Err(ApiError::BadRequest(
                    "this backend kind needs a path".into(),
                ))
            }
        };
        let b = self
            .registry()
            .create(BackendConfig {
                id: cfg.id,
                kind,
                size: cfg.size,
                share: cfg.share,
                prealloc: cfg.prealloc,
                tag: cfg.tag,
            })
            .map_err(registry_error)?;
        Ok(ApiResponse::BackendCreated(self.backend_info(&b)))
    }

    fn dc_add(&self, device: &str, r: DcAddRequest) -> ApiResult {
        r.validate().map_err(ApiError::BadRequest)?;
        if let Some(tag) = r.tag {
            self.tag_free_elsewhere(device, tag)?;
        }
        let mut dev = self.device(device)?;
        let static_backing = dev.memdev().dcd().has_static_backing();
        let backend = match r.tag {
            None => None,
            Some(tag) => match self.registry().by_tag(tag) {
                // The registry and this lookup hold it; anything else is a user.
                Some(b) if BackendRegistry::in_use(&b, 1) => {
                    return Err(ApiError::Conflict(format!(
                        "memory backend '{}' (tag {tag}) is in use",
                        b.id()
                    )));
                }
                Some(b) => Some(b),
                // On a device with memory behind its whole DC range a tag
                // without a backend only labels the extents.
                None if static_backing => None,
                None => {
                    return Err(ApiError::NotFound(format!(
                        "no memory backend has tag {tag}"
                    )))
                }
            },
        };
        let policy = match r.selection_policy {
            api::SelectionPolicy::Free => SelectionPolicy::Free,
            api::SelectionPolicy::Contiguous => SelectionPolicy::Contiguous,
            api::SelectionPolicy::Prescriptive => SelectionPolicy::Prescriptive,
            api::SelectionPolicy::EnableSharedAccess => SelectionPolicy::EnableSharedAccess,
        };
        let out = dev
            .dc_add(AddRequest {
                host_id: r.host_id,
                selection_policy: policy,
                region: r.region,
                tag: r.tag,
                extents: requested(&r.extents),
                backend,
            })
            .map_err(dcd_error)?;
        Ok(ApiResponse::DcExtents(DcExtentList {
            extents: out
                .extents
                .iter()
                .map(|e| extent(e, ExtentState::Pending))
                .collect(),
        }))
    }

    /// Refuses `tag` while extents of another device carry it: a tag names
    /// one allocation in the whole VM (Linux keeps one registry of live tags
    /// per host and drops a group whose tag is live elsewhere).
    fn tag_free_elsewhere(&self, device: &str, tag: uuid::Uuid) -> Result<(), ApiError> {
        for h in self.devices.cxl.type3.iter().filter(|h| h.id != device) {
            let dev = h.device.lock().unwrap_or_else(|e| e.into_inner());
            if dev.memdev().dcd().tag_in_use(tag) {
                return Err(ApiError::Conflict(format!(
                    "tag {tag} is in use by extents of device '{}'",
                    h.id
                )));
            }
        }
        Ok(())
    }

    fn dc_release(&self, device: &str, r: DcReleaseRequest) -> ApiResult {
        r.validate().map_err(ApiError::BadRequest)?;
        let mut dev = self.device(device)?;
        let out = dev
            .dc_release(ReleaseRequest {
                host_id: r.host_id,
                removal_policy: match r.removal_policy {
                    api::RemovalPolicy::TagBased => RemovalPolicy::TagBased,
                    api::RemovalPolicy::Prescriptive => RemovalPolicy::Prescriptive,
                },
                forced: r.forced_removal,
                sanitize_on_release: r.sanitize_on_release,
                region: r.region,
                tag: r.tag,
                extents: requested(&r.extents),
            })
            .map_err(dcd_error)?;
        let s = if out.forced {
            ExtentState::Released
        } else {
            ExtentState::ReleasePending
        };
        let mut extents: Vec<DcExtent> = out.extents.iter().map(|e| extent(e, s)).collect();
        extents.extend(
            out.withdrawn
                .iter()
                .map(|e| extent(e, ExtentState::Withdrawn)),
        );
        extents.sort_by_key(|e| e.dpa);
        Ok(ApiResponse::DcExtents(DcExtentList { extents }))
    }

    fn dc_status(&self, device: &str, q: DcReleaseStatusQuery) -> ApiResult {
        let dev = self.device(device)?;
        let m = dev.memdev();
        let status = match q.selector {
            ReleaseSelector::Tag(tag) => m.dcd_status_by_tag(tag),
            ReleaseSelector::Extent(e) => m.dcd_status_by_extent(q.region, e.offset, e.len),
        };
        let status = match status {
            ExtentStatus::Pending => ReleaseStatus::Pending,
            ExtentStatus::Accepted => ReleaseStatus::Accepted,
            ExtentStatus::ReleasePending => ReleaseStatus::ReleasePending,
            ExtentStatus::Released => ReleaseStatus::Released,
            ExtentStatus::Withdrawn => ReleaseStatus::Withdrawn,
            // A declined offer never became capacity: nothing to find.
            ExtentStatus::Declined | ExtentStatus::NotFound => ReleaseStatus::NotFound,
        };
        Ok(ApiResponse::ReleaseStatus(DcReleaseStatus { status }))
    }

    fn dc_extents(&self, device: &str) -> ApiResult {
        let dev = self.device(device)?;
        let path = dev.path().clone();
        let endpoint = dev.endpoint();
        let list = dev
            .memdev()
            .dcd_extents()
            .into_iter()
            .map(|i| {
                let hpa = path.mapped_hpa(endpoint, i.extent.dpa);
                ExtentInfo {
                    region: i.extent.region,
                    offset: i.extent.region_offset,
                    len: i.extent.len,
                    dpa: i.extent.dpa,
                    hpa,
                    state: state(i.state),
                    tag: (!i.extent.tag.is_nil()).then_some(i.extent.tag),
                    backend: i.extent.backend_id().map(str::to_string),
                    mapped: hpa.is_some(),
                }
            })
            .collect();
        Ok(ApiResponse::Extents(list))
    }
}

fn device_info(h: &Type3Handle) -> CxlDeviceInfo {
    let dev = h.device.lock().unwrap_or_else(|e| e.into_inner());
    let m = dev.memdev();
    let log = m.dc_event_log_status();
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    CxlDeviceInfo {
        id: h.id.clone(),
        serial: m.config().serial,
        static_capacity: m.capacity_bytes(),
        dc_regions: m
            .dcd()
            .regions()
            .iter()
            .map(|r| DcRegionInfo {
                index: r.index,
                base: r.base,
                length: r.length,
                block_size: r.block_size,
                dsmad_handle: u32::from(r.dsmad_handle),
                sanitize_on_release: Some(r.sanitize_on_release),
            })
            .collect(),
        dc_event_log: m.config().has_dynamic_capacity().then(|| DcEventLogInfo {
            depth: u32::from(log.depth),
            used: count(log.used),
            read: count(log.read),
            full: log.full(),
        }),
        hpa_ranges: dev
            .path()
            .paths(dev.endpoint())
            .into_iter()
            .map(|r| {
                let (path, reason) = match r.path {
                    MemPath::Direct => (MemoryPath::Direct, None),
                    MemPath::Composed { .. } => (MemoryPath::Composed, None),
                    MemPath::Trapped(why) => (MemoryPath::Trapped, Some(why.to_string())),
                };
                HpaRangeInfo {
                    hpa: r.hpa,
                    len: r.len,
                    path,
                    reason,
                }
            })
            .collect(),
    }
}
