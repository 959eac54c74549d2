//! A mock VMM: an event loop that waits on the API receiver's eventfd and
//! answers from a small in-memory model of backends, one CXL device and
//! its extents. The mock guest accepts offered capacity at once and gives
//! released capacity back when its status is next asked.

use std::collections::BTreeMap;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use api::*;

pub const DEVICE: &str = "cxl-mem0";
const HPA_BASE: u64 = 0x10_0000_0000;

pub struct MockVmm {
    stop: Arc<AtomicBool>,
    /// Requests answered so far.
    pub answered: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl MockVmm {
    pub fn start(receiver: ApiReceiver) -> MockVmm {
        Self::start_slow(receiver, Duration::ZERO)
    }

    /// Like `start`, taking `delay` over each request.
    pub fn start_slow(receiver: ApiReceiver, delay: Duration) -> MockVmm {
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicUsize::new(0));
        let thread = {
            let (stop, answered) = (stop.clone(), answered.clone());
            std::thread::spawn(move || {
                let mut state = State::new();
                while !stop.load(Ordering::SeqCst) {
                    if !wait_readable(&receiver, 20) {
                        continue;
                    }
                    while let Some((request, responder)) = receiver.try_recv() {
                        std::thread::sleep(delay);
                        responder.respond(state.handle(request));
                        answered.fetch_add(1, Ordering::SeqCst);
                    }
                }
            })
        };
        MockVmm {
            stop,
            answered,
            thread: Some(thread),
        }
    }
}

impl Drop for MockVmm {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn wait_readable(fd: &impl AsRawFd, timeout_ms: i32) -> bool {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    unsafe { libc::poll(&mut pfd, 1, timeout_ms) == 1 }
}

struct State {
    shutting_down: bool,
    backends: BTreeMap<String, MemoryBackendInfo>,
    device: CxlDeviceInfo,
    extents: Vec<Rec>,
    released: Vec<Rec>,
    faults: Vec<ArmedFault>,
}

/// An extent of the mock device, with its backend's id.
#[derive(Clone)]
struct Rec {
    extent: DcExtent,
    backend: Option<String>,
    state: ExtentStatus,
}

impl Rec {
    fn change(&self) -> ExtentChange {
        ExtentChange {
            extent: self.extent.clone(),
            state: self.state,
        }
    }

    /// The listing's entry: the mock guest maps what it holds.
    fn entry(&self) -> ExtentEntry {
        let state = match self.state {
            ExtentStatus::Pending => ExtentState::Pending,
            ExtentStatus::ReleasePending => ExtentState::ReleasePending,
            _ => ExtentState::Accepted,
        };
        ExtentEntry {
            info: ExtentInfo {
                extent: self.extent.clone(),
                state,
            },
            hpa: Some(HPA_BASE + self.extent.dpa),
            backend: self.backend.clone(),
            mapped: true,
        }
    }

    fn tag(&self) -> Option<uuid::Uuid> {
        (!self.extent.tag.is_nil()).then_some(self.extent.tag)
    }

    fn at(&self) -> (u64, u64) {
        (self.extent.region_offset, self.extent.len)
    }
}

impl State {
    fn new() -> State {
        let region = |index: u8, base: u64| DcRegionInfo {
            index,
            base,
            length: 1 << 30,
            block_size: 2 << 20,
            dsmad_handle: u32::from(index) + 1,
            sanitize_on_release: (index == 0).then_some(false),
        };
        State {
            shutting_down: false,
            backends: BTreeMap::new(),
            device: CxlDeviceInfo {
                id: DEVICE.into(),
                serial: 0xc0ffee,
                static_capacity: 256 << 20,
                dc_regions: vec![region(0, 0x1000_0000), region(1, 0x5000_0000)],
                dc_event_log: Some(DcEventLogInfo {
                    depth: 256,
                    used: 0,
                    read: 0,
                    full: false,
                }),
                hpa_ranges: vec![
                    HpaRangeInfo {
                        hpa: 0x80_0000_0000,
                        len: 512 << 20,
                        path: MemoryPath::Composed,
                        reason: None,
                    },
                    HpaRangeInfo {
                        hpa: 0x80_2000_0000,
                        len: 512 << 20,
                        path: MemoryPath::Trapped,
                        reason: Some(
                            "interleave granularity 256 is below the 4096-byte host page".into(),
                        ),
                    },
                ],
            },
            extents: Vec::new(),
            released: Vec::new(),
            faults: Vec::new(),
        }
    }

    fn handle(&mut self, request: ApiRequest) -> ApiResult {
        if self.shutting_down && request != ApiRequest::VmInfo {
            return Err(ApiError::shutting_down());
        }
        match request {
            ApiRequest::VmInfo => Ok(ApiResponse::VmInfo(VmInfo {
                state: if self.shutting_down {
                    VmState::ShuttingDown
                } else {
                    VmState::Running
                },
                cpus: 2,
                memory: 1 << 30,
                version: "0.1.0".into(),
                devices: 1,
            })),
            ApiRequest::VmShutdown => {
                self.shutting_down = true;
                Ok(ApiResponse::Done)
            }
            ApiRequest::BackendList => Ok(ApiResponse::Backends(
                self.backends.values().cloned().collect(),
            )),
            ApiRequest::BackendAdd(config) => {
                if self.backends.contains_key(&config.id) {
                    return Err(ApiError::Conflict(format!(
                        "backend '{}' exists",
                        config.id
                    )));
                }
                let info = MemoryBackendInfo::from(config);
                self.backends.insert(info.config.id.clone(), info.clone());
                Ok(ApiResponse::BackendCreated(info))
            }
            ApiRequest::BackendRemove { id } => match self.backends.get(&id) {
                None => Err(ApiError::NotFound(format!("unknown backend '{id}'"))),
                Some(b) if b.bound_to.is_some() => {
                    Err(ApiError::Conflict(format!("backend '{id}' is in use")))
                }
                Some(_) => {
                    self.backends.remove(&id);
                    Ok(ApiResponse::Done)
                }
            },
            ApiRequest::DeviceList => Ok(ApiResponse::Devices(vec![self.device.clone()])),
            ApiRequest::DcAdd { device, request } => {
                self.check_device(&device)?;
                self.add(&request).map(ApiResponse::DcExtents)
            }
            ApiRequest::DcRelease { device, request } => {
                self.check_device(&device)?;
                self.release(&request).map(ApiResponse::DcExtents)
            }
            ApiRequest::DcReleaseStatus { device, query } => {
                self.check_device(&device)?;
                Ok(ApiResponse::ReleaseStatus(DcReleaseStatus {
                    status: self.status(query),
                }))
            }
            ApiRequest::DcExtents { device } => {
                self.check_device(&device)?;
                Ok(ApiResponse::Extents(
                    self.extents.iter().map(Rec::entry).collect(),
                ))
            }
            ApiRequest::Inject { device, .. } => {
                self.check_device(&device)?;
                Ok(ApiResponse::Done)
            }
            ApiRequest::FaultAdd { device, fault } => {
                self.check_device(&device)?;
                self.faults.push(ArmedFault {
                    id: self.faults.len() as u32 + 1,
                    remaining: fault.count(),
                    fault,
                });
                Ok(ApiResponse::FaultCreated(FaultId {
                    id: self.faults.len() as u32,
                }))
            }
            ApiRequest::DcFaultAdd { device, .. } => {
                self.check_device(&device)?;
                Ok(ApiResponse::FaultCreated(FaultId { id: 100 }))
            }
            ApiRequest::FaultList { device } => {
                self.check_device(&device)?;
                Ok(ApiResponse::Faults(FaultList {
                    faults: self.faults.clone(),
                    dc_faults: vec![DcFaultInfo {
                        id: 100,
                        fault: DcFaultRequest::EndlessMore {
                            region: 0,
                            records: 2,
                        },
                        extents: vec![
                            FaultExtent {
                                dpa: 0x1000_0000,
                                len: 2 << 20,
                            },
                            FaultExtent {
                                dpa: 0x1020_0000,
                                len: 2 << 20,
                            },
                        ],
                    }],
                }))
            }
            ApiRequest::FaultClear { device, fault } => {
                self.check_device(&device)?;
                let cleared: Vec<u32> = match fault {
                    None => self.faults.drain(..).map(|f| f.id).collect(),
                    Some(id) if self.faults.iter().any(|f| f.id == id) => {
                        self.faults.retain(|f| f.id != id);
                        vec![id]
                    }
                    Some(id) => return Err(ApiError::NotFound(format!("no fault {id}"))),
                };
                Ok(ApiResponse::FaultsCleared(FaultsCleared { cleared }))
            }
            ApiRequest::Events { .. } => Err(ApiError::Internal(
                "the event stream is served by the API thread".into(),
            )),
        }
    }

    fn check_device(&self, id: &str) -> Result<(), ApiError> {
        if id == self.device.id {
            Ok(())
        } else {
            Err(ApiError::NotFound(format!("unknown device '{id}'")))
        }
    }

    fn add(&mut self, r: &AddRequest) -> Result<DcExtentList, ApiError> {
        let region = self
            .device
            .dc_regions
            .get(usize::from(r.region))
            .cloned()
            .ok_or_else(|| ApiError::BadRequest(format!("no region {}", r.region)))?;
        for e in &r.extents {
            if e.offset % region.block_size != 0 || e.len % region.block_size != 0 {
                return Err(ApiError::BadRequest("extent not block aligned".into()));
            }
            if e.offset + e.len > region.length {
                return Err(ApiError::BadRequest("extent beyond the region".into()));
            }
            let overlaps = self.extents.iter().any(|x| {
                let (offset, len) = x.at();
                x.extent.region == r.region && e.offset < offset + len && offset < e.offset + e.len
            });
            if overlaps {
                return Err(ApiError::Conflict("extent overlaps an existing one".into()));
            }
        }
        let backend = self
            .backends
            .values_mut()
            .find(|b| r.tag.is_some() && b.config.tag == r.tag && b.bound_to.is_none());
        let mut out = Vec::new();
        for e in &r.extents {
            let rec = Rec {
                extent: DcExtent {
                    region: r.region,
                    region_offset: e.offset,
                    len: e.len,
                    dpa: region.base + e.offset,
                    tag: r.tag.unwrap_or_default(),
                    shared_seq: 0,
                    backend: None,
                },
                backend: backend.as_ref().map(|b| b.config.id.clone()),
                state: ExtentStatus::Pending,
            };
            out.push(rec.change());
            // The mock guest accepts at once.
            self.extents.push(Rec {
                state: ExtentStatus::Accepted,
                ..rec
            });
        }
        if let (Some(b), Some(first)) = (backend, r.extents.first()) {
            b.bound_to = Some(BoundTo {
                device: DEVICE.into(),
                extent: ExtentRef {
                    region: r.region,
                    offset: first.offset,
                    len: first.len,
                },
            });
        }
        Ok(DcExtentList { extents: out })
    }

    fn release(&mut self, r: &ReleaseRequest) -> Result<DcExtentList, ApiError> {
        let selected = |x: &Rec| {
            x.extent.region == r.region
                && match r.removal_policy {
                    RemovalPolicy::TagBased => {
                        x.tag() == r.tag
                            && (r.extents.is_empty()
                                || r.extents.iter().any(|e| (e.offset, e.len) == x.at()))
                    }
                    RemovalPolicy::Prescriptive => {
                        r.extents.iter().any(|e| (e.offset, e.len) == x.at())
                    }
                }
        };
        let mut out = Vec::new();
        for x in self.extents.iter_mut().filter(|x| selected(x)) {
            x.state = if r.forced {
                ExtentStatus::Released
            } else {
                ExtentStatus::ReleasePending
            };
            out.push(x.change());
        }
        if out.is_empty() {
            return Err(ApiError::BadRequest("no such extent to release".into()));
        }
        self.settle();
        Ok(DcExtentList { extents: out })
    }

    /// Moves released extents out of the extent list.
    fn settle(&mut self) {
        let (gone, kept) = std::mem::take(&mut self.extents)
            .into_iter()
            .partition(|x| x.state == ExtentStatus::Released);
        self.extents = kept;
        for x in gone {
            self.unbind(&x);
            self.released.push(x);
        }
    }

    fn unbind(&mut self, x: &Rec) {
        for b in self.backends.values_mut() {
            if b.bound_to
                .as_ref()
                .is_some_and(|t| t.extent.offset == x.extent.region_offset)
            {
                b.bound_to = None;
            }
        }
    }

    fn status(&mut self, q: DcReleaseStatusQuery) -> ExtentStatus {
        let matches = |x: &Rec| {
            x.extent.region == q.region
                && match q.selector {
                    ReleaseSelector::Tag(t) => x.tag() == Some(t),
                    ReleaseSelector::Extent(e) => x.at() == (e.offset, e.len),
                }
        };
        let answer = match self.extents.iter().find(|x| matches(x)) {
            Some(x) => x.state,
            None if self.released.iter().any(matches) => ExtentStatus::Released,
            None => ExtentStatus::NotFound,
        };
        // The mock guest gives capacity back once someone asks.
        for x in &mut self.extents {
            if x.state == ExtentStatus::ReleasePending {
                x.state = ExtentStatus::Released;
            }
        }
        self.settle();
        answer
    }
}
