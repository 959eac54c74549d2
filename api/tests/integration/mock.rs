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
    extents: Vec<ExtentInfo>,
    released: Vec<ExtentInfo>,
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
                self.backends.insert(info.id.clone(), info.clone());
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
                Ok(ApiResponse::Extents(self.extents.clone()))
            }
        }
    }

    fn check_device(&self, id: &str) -> Result<(), ApiError> {
        if id == self.device.id {
            Ok(())
        } else {
            Err(ApiError::NotFound(format!("unknown device '{id}'")))
        }
    }

    fn add(&mut self, r: &DcAddRequest) -> Result<DcExtentList, ApiError> {
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
                x.region == r.region && e.offset < x.offset + x.len && x.offset < e.offset + e.len
            });
            if overlaps {
                return Err(ApiError::Conflict("extent overlaps an existing one".into()));
            }
        }
        let backend = self
            .backends
            .values_mut()
            .find(|b| r.tag.is_some() && b.tag == r.tag && b.bound_to.is_none());
        let mut out = Vec::new();
        for e in &r.extents {
            let dpa = region.base + e.offset;
            let backend_id = backend.as_ref().map(|b| b.id.clone());
            self.extents.push(ExtentInfo {
                region: r.region,
                offset: e.offset,
                len: e.len,
                dpa,
                hpa: Some(HPA_BASE + dpa),
                state: ExtentState::Accepted,
                tag: r.tag,
                backend: backend_id,
                mapped: true,
            });
            out.push(DcExtent {
                region: r.region,
                offset: e.offset,
                len: e.len,
                dpa,
                tag: r.tag,
                state: ExtentState::Pending,
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

    fn release(&mut self, r: &DcReleaseRequest) -> Result<DcExtentList, ApiError> {
        let selected = |x: &ExtentInfo| {
            x.region == r.region
                && match r.removal_policy {
                    RemovalPolicy::TagBased => {
                        x.tag == r.tag
                            && (r.extents.is_empty()
                                || r.extents
                                    .iter()
                                    .any(|e| (e.offset, e.len) == (x.offset, x.len)))
                    }
                    RemovalPolicy::Prescriptive => r
                        .extents
                        .iter()
                        .any(|e| (e.offset, e.len) == (x.offset, x.len)),
                }
        };
        let mut out = Vec::new();
        for x in self.extents.iter_mut().filter(|x| selected(x)) {
            x.state = if r.forced_removal {
                ExtentState::Released
            } else {
                ExtentState::ReleasePending
            };
            out.push(DcExtent {
                region: x.region,
                offset: x.offset,
                len: x.len,
                dpa: x.dpa,
                tag: x.tag,
                state: x.state,
            });
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
            .partition(|x| x.state == ExtentState::Released);
        self.extents = kept;
        for x in gone {
            self.unbind(&x);
            self.released.push(x);
        }
    }

    fn unbind(&mut self, x: &ExtentInfo) {
        for b in self.backends.values_mut() {
            if b.bound_to
                .as_ref()
                .is_some_and(|t| t.extent.offset == x.offset)
            {
                b.bound_to = None;
            }
        }
    }

    fn status(&mut self, q: DcReleaseStatusQuery) -> ReleaseStatus {
        let matches = |x: &ExtentInfo| {
            x.region == q.region
                && match q.selector {
                    ReleaseSelector::Tag(t) => x.tag == Some(t),
                    ReleaseSelector::Extent(e) => (x.offset, x.len) == (e.offset, e.len),
                }
        };
        let answer = match self.extents.iter().find(|x| matches(x)) {
            Some(x) => match x.state {
                ExtentState::Pending => ReleaseStatus::Pending,
                ExtentState::Accepted => ReleaseStatus::Accepted,
                ExtentState::ReleasePending => ReleaseStatus::ReleasePending,
                ExtentState::Released => ReleaseStatus::Released,
                ExtentState::Withdrawn => ReleaseStatus::Withdrawn,
            },
            None if self.released.iter().any(matches) => ReleaseStatus::Released,
            None => ReleaseStatus::NotFound,
        };
        // The mock guest gives capacity back once someone asks.
        for x in &mut self.extents {
            if x.state == ExtentState::ReleasePending {
                x.state = ExtentState::Released;
            }
        }
        self.settle();
        answer
    }
}
