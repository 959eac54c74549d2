//! What an operator does with the CXL hierarchy: create and delete tagged
//! backends, offer and take back Dynamic Capacity, and look at it all.
//!
//! [`CxlDevices`] owns the backends and the devices, so the rules that span
//! them live here, not in the API handler: a tag names one allocation in
//! the whole VM, a tagged add is backed by the backend carrying the tag
//! (which must be free), and on a device with memory behind its whole DC
//! range a tag no backend carries only labels the extents.
//!
//! Locks: a device, then (inside it) its memory path and the memory
//! manager. The backend registry's lock is never held together with a
//! device's: what is needed of one is read and the lock let go before the
//! other is taken. At most one device is locked at a time.

use std::sync::{Arc, MutexGuard};

use api::{
    AddRequest, BackendConfig, BoundTo, CxlDeviceInfo, DcEventLogInfo, DcExtent, DcRegionInfo,
    DcReleaseStatusQuery, ExtentChange, ExtentEntry, ExtentInfo, ExtentRef, ExtentStatus,
    HpaRangeInfo, MemoryBackendInfo, MemoryPath, ReleaseRequest, ReleaseSelector,
};
use devices::cxl::dcd::DcdError;
use devices::cxl::fabric::MemPath;
use devices::cxl::type3::Type3;
use devices::memory::HostMemory;
use uuid::Uuid;

use crate::backends::{BackendRegistry, RegistryError};
use crate::cxl_devices::{CxlDevices, Type3Handle};

/// Why an operator request was refused; nothing changed.
#[derive(Debug)]
pub enum OpError {
    /// No such device, backend or tag.
    NotFound(String),
    /// Taken or in use.
    Conflict(String),
    /// A backend that cannot be created.
    Invalid(String),
    /// The device refused the request.
    Device(DcdError),
}

impl From<RegistryError> for OpError {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::NotFound(m) => OpError::NotFound(m),
            RegistryError::Conflict(m) => OpError::Conflict(m),
            RegistryError::Invalid(m) => OpError::Invalid(m),
        }
    }
}

impl From<DcdError> for OpError {
    fn from(e: DcdError) -> Self {
        OpError::Device(e)
    }
}

/// An extent as an answer carries it: without its backend, which stays
/// with the device (a response must not hold the backend busy, nor drop
/// the last reference on another thread).
fn detached(e: DcExtent) -> DcExtent {
    DcExtent { backend: None, ..e }
}

/// The free backend carrying `tag` for an add, on a device with
/// (`static_backing`) or without memory behind its whole DC range: with it,
/// a tag no backend carries only labels the extents (`None`); without it,
/// every tag needs its backend.
pub fn backend_for_tag(
    backends: &BackendRegistry,
    tag: Uuid,
    static_backing: bool,
) -> Result<Option<Arc<HostMemory>>, OpError> {
    match backends.by_tag(tag) {
        // The registry and this lookup hold it; anything else is a user.
        Some(b) if BackendRegistry::in_use(&b, 1) => Err(OpError::Conflict(format!(
            "memory backend '{}' (tag {tag}) is in use",
            b.id()
        ))),
        Some(b) => Ok(Some(b)),
        None if static_backing => Ok(None),
        None => Err(OpError::NotFound(format!(
            "no memory backend has tag {tag}"
        ))),
    }
}

fn changes(extents: Vec<DcExtent>, state: ExtentStatus) -> impl Iterator<Item = ExtentChange> {
    extents.into_iter().map(move |e| ExtentChange {
        extent: detached(e),
        state,
    })
}

impl CxlDevices {
    /// How many Type 3 devices there are.
    pub fn device_count(&self) -> usize {
        self.type3.len()
    }

    pub(crate) fn handle(&self, id: &str) -> Result<&Type3Handle, OpError> {
        self.type3
            .iter()
            .find(|h| h.id == id)
            .ok_or_else(|| OpError::NotFound(format!("unknown device '{id}'")))
    }

    pub(crate) fn lock(h: &Type3Handle) -> MutexGuard<'_, Type3> {
        h.device.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every backend with what it backs.
    pub fn backend_list(&self) -> Vec<MemoryBackendInfo> {
        let list = self.backends.list();
        list.iter().map(|b| self.backend_info(b)).collect()
    }

    /// Creates a backend (id, tag and file new to the VM).
    pub fn backend_create(&self, config: BackendConfig) -> Result<MemoryBackendInfo, OpError> {
        let b = self.backends.create(config)?;
        Ok(self.backend_info(&b))
    }

    /// Deletes a backend nothing uses.
    pub fn backend_remove(&self, id: &str) -> Result<(), OpError> {
        Ok(self.backends.remove(id)?)
    }

    fn backend_info(&self, b: &Arc<HostMemory>) -> MemoryBackendInfo {
        MemoryBackendInfo {
            config: b.config().clone(),
            bound_to: self.bound_to(b),
        }
    }

    /// The DC extent a backend backs, if any.
    fn bound_to(&self, b: &Arc<HostMemory>) -> Option<BoundTo> {
        self.type3.iter().find_map(|h| {
            let dev = Self::lock(h);
            let infos = dev.memdev().dcd_extents();
            let e = infos
                .iter()
                .map(|i| &i.extent)
                .find(|e| e.backend.as_ref().is_some_and(|x| Arc::ptr_eq(x, b)))?;
            Some(BoundTo {
                device: h.id.clone(),
                extent: ExtentRef {
                    region: e.region,
                    offset: e.region_offset,
                    len: e.len,
                },
            })
        })
    }

    /// Every Type 3 device, its DC regions and event log, and how the
    /// guest reaches its memory.
    pub fn device_list(&self) -> Vec<CxlDeviceInfo> {
        self.type3.iter().map(device_info).collect()
    }

    /// Offers capacity: the tag's backend (if any) is looked up and checked
    /// before any record reaches the guest. Answers the extents offered.
    pub fn dc_add(&self, device: &str, mut req: AddRequest) -> Result<Vec<ExtentChange>, OpError> {
        if let Some(tag) = req.tag {
            self.tag_free_elsewhere(device, tag)?;
        }
        let h = self.handle(device)?;
        req.backend = match req.tag {
            Some(tag) => {
                let static_backing = Self::lock(h).memdev().dcd().has_static_backing();
                backend_for_tag(&self.backends, tag, static_backing)?
            }
            None => None,
        };
        let out = Self::lock(h).dc_add(req)?;
        Ok(changes(out.extents, ExtentStatus::Pending).collect())
    }

    /// Refuses `tag` while extents of another device carry it: a tag names
    /// one allocation in the whole VM (Linux keeps one registry of live tags
    /// per host and drops a group whose tag is live elsewhere).
    fn tag_free_elsewhere(&self, device: &str, tag: Uuid) -> Result<(), OpError> {
        for h in self.type3.iter().filter(|h| h.id != device) {
            if Self::lock(h).memdev().dcd().tag_in_use(tag) {
                return Err(OpError::Conflict(format!(
                    "tag {tag} is in use by extents of device '{}'",
                    h.id
                )));
            }
        }
        Ok(())
    }

    /// Asks for capacity back (or takes it, forced). Answers the extents
    /// asked for or taken, and the offers withdrawn, by DPA.
    pub fn dc_release(
        &self,
        device: &str,
        req: ReleaseRequest,
    ) -> Result<Vec<ExtentChange>, OpError> {
        let out = Self::lock(self.handle(device)?).dc_release(req)?;
        let state = if out.forced {
            ExtentStatus::Released
        } else {
            ExtentStatus::ReleasePending
        };
        let mut list: Vec<ExtentChange> = changes(out.extents, state)
            .chain(changes(out.withdrawn, ExtentStatus::Withdrawn))
            .collect();
        list.sort_by_key(|c| c.extent.dpa);
        Ok(list)
    }

    /// Where the capacity a query names stands.
    pub fn dc_status(
        &self,
        device: &str,
        q: DcReleaseStatusQuery,
    ) -> Result<ExtentStatus, OpError> {
        let dev = Self::lock(self.handle(device)?);
        let m = dev.memdev();
        let status = match q.selector {
            ReleaseSelector::Tag(tag) => m.dcd_status_by_tag(tag),
            ReleaseSelector::Extent(e) => m.dcd_status_by_extent(q.region, e.offset, e.len),
        };
        Ok(match status {
            // A declined offer never became capacity: nothing to find.
            ExtentStatus::Declined => ExtentStatus::NotFound,
            s => s,
        })
    }

    /// Every live extent of a device, with where the guest reaches it.
    pub fn dc_extents(&self, device: &str) -> Result<Vec<ExtentEntry>, OpError> {
        let dev = Self::lock(self.handle(device)?);
        let path = dev.path().clone();
        let endpoint = dev.endpoint();
        let infos = dev.memdev().dcd_extents();
        Ok(infos
            .into_iter()
            .map(|i| {
                let hpa = path.mapped_hpa(endpoint, i.extent.dpa);
                let backend = i.extent.backend_id().map(str::to_string);
                ExtentEntry {
                    info: ExtentInfo {
                        extent: detached(i.extent),
                        state: i.state,
                    },
                    hpa,
                    backend,
                    mapped: hpa.is_some(),
                }
            })
            .collect())
    }
}

fn device_info(h: &Type3Handle) -> CxlDeviceInfo {
    let dev = CxlDevices::lock(h);
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
