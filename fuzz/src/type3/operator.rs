//! The operator's side: tagged backends in the VMM's own
//! [`BackendRegistry`], and Dynamic Capacity add and release requests made
//! the way the VMM's operator layer (`vmm/src/cxl_ops.rs`) makes them: a
//! tag names the backend it finds in the registry (`backend_for_tag`:
//! refused while the backend is in use; only a label on a device with DC
//! backing memory), and the device gets the request through
//! `Type3::dc_add` / `dc_release`. Faults are armed, posted and cleared
//! through `Type3::fault_add` / `dc_fault_add` / `fault_clear`, as
//! `vmm/src/cxl_faults.rs` does.

use std::sync::Arc;

use arbitrary::Arbitrary;
use devices::cxl::dcd::faults::DcFaultRequest;
use devices::cxl::dcd::{
    AddRequest, DcdError, ReleaseRequest, RemovalPolicy, RequestedExtent, SelectionPolicy,
};
use devices::cxl::mailbox::COMMANDS;
use devices::cxl::memdev::faults::FaultRequest;
use devices::cxl::memdev::FaultSelector;
use devices::cxl::type3::Type3;
use devices::memory::{BackendConfig, BackendKind, HostMemory};
use uuid::Uuid;
use vmm::backends::BackendRegistry;
use vmm::cxl_ops::backend_for_tag;

/// Tags come from a small set, so that requests name backends that exist.
pub const TAGS: u8 = 6;

/// Tag number `n` (modulo [`TAGS`]).
pub fn tag(n: u8) -> Uuid {
    Uuid::from_u128(0x5be1_3bce_ae34_4a77_b6c3_0000_0000_0000 | u128::from(n % TAGS))
}

/// A size or range in units of a DC region's blocks, or raw bytes.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Span {
    /// `count % 4 + 1` blocks from block `start` (modulo the region's
    /// blocks) of region `region` (modulo the device's regions).
    Blocks {
        /// Region whose blocks count.
        region: u8,
        /// First block.
        start: u8,
        /// Number of blocks, less one.
        count: u8,
    },
    /// Any offset and length.
    Raw {
        /// Offset.
        offset: u64,
        /// Length.
        len: u64,
    },
}

impl Span {
    /// (offset, len) in bytes on `dev`.
    pub fn resolve(self, dev: &Type3) -> (u64, u64) {
        match self {
            Span::Blocks {
                region,
                start,
                count,
            } => {
                // Inside the region, 1 to 4 blocks (mostly valid requests;
                // Raw gives the rest).
                let regions = dev.memdev().dcd().regions();
                let Some(r) = regions.get(usize::from(region) % regions.len().max(1)) else {
                    return (0, 0);
                };
                let blocks = (r.length / r.block_size).max(1);
                let start = u64::from(start) % blocks;
                (
                    start * r.block_size,
                    (1 + u64::from(count % 4)) * r.block_size,
                )
            }
            Span::Raw { offset, len } => (offset, len),
        }
    }
}

/// The operator requests.
#[derive(Arbitrary, Clone, Debug)]
pub enum OperatorOp {
    /// `POST /memory-backends`: a tagged (or untagged) memfd backend.
    BackendAdd {
        /// Tag number, or none.
        tag: Option<u8>,
        /// Size (the length of a [`Span`]).
        size: Span,
    },
    /// `DELETE /memory-backends/{id}` of the backend with this tag.
    BackendRemove {
        /// Tag number.
        tag: u8,
    },
    /// `POST /devices/{id}/dc/add`.
    DcAdd {
        /// Host ID (anything but 0 is refused).
        host_id: u8,
        /// Selection policy (0-3).
        policy: u8,
        /// Region.
        region: u8,
        /// Tag number, or none.
        tag: Option<u8>,
        /// Extents (offsets from the region base).
        extents: Vec<Span>,
    },
    /// `POST /devices/{id}/dc/release`.
    DcRelease {
        /// Host ID.
        host_id: u8,
        /// Tag-based (else prescriptive).
        tag_based: bool,
        /// Forced removal.
        forced: bool,
        /// Sanitize on release.
        sanitize: bool,
        /// Region.
        region: u8,
        /// Tag number, or none.
        tag: Option<u8>,
        /// Extents.
        extents: Vec<Span>,
    },
    /// `POST /devices/{id}/faults`.
    Fault(FaultOp),
    /// `POST /devices/{id}/dc-faults`.
    DcFault(DcFaultOp),
    /// `DELETE /devices/{id}/faults`: all, or the fault with this id.
    FaultClear {
        /// A fault id (small: ids count from 1).
        id: Option<u8>,
    },
}

/// `POST /devices/{id}/faults`: a mailbox fault.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub struct FaultOp {
    /// 0: return-code, 1: doorbell-stuck (any opcode), 2: doorbell-stuck
    /// (this opcode), 3: background-hold.
    pub kind: u8,
    /// An implemented opcode (by index) if `Some`, else `raw_opcode`.
    pub known: Option<u8>,
    /// Any opcode.
    pub raw_opcode: u16,
    /// Return code, modulo 0x22 (0x21 is no return code: refused).
    pub return_code: u8,
    /// Count (0 is refused).
    pub count: u8,
}

impl FaultOp {
    fn request(&self) -> FaultRequest {
        let opcode = match self.known {
            Some(n) => COMMANDS[usize::from(n) % COMMANDS.len()].opcode as u16,
            None => self.raw_opcode,
        };
        let count = u32::from(self.count % 8);
        match self.kind % 4 {
            0 => FaultRequest::ReturnCode {
                opcode,
                return_code: u16::from(self.return_code % 0x22),
                count,
            },
            // The hold is 0: the command is dropped at once (a real hold is
            // time, which the unit tests drive with their own clock).
            1 => FaultRequest::DoorbellStuck {
                opcode: None,
                hold_ms: Some(0),
                count,
            },
            2 => FaultRequest::DoorbellStuck {
                opcode: Some(opcode),
                hold_ms: Some(0),
                count,
            },
            _ => FaultRequest::BackgroundHold {
                opcode,
                ms: 0,
                count,
            },
        }
    }
}

/// `POST /devices/{id}/dc-faults`.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub struct DcFaultOp {
    /// The kind, modulo 5.
    pub kind: u8,
    /// Region (modulo 3: one past the test devices' regions at times).
    pub region: u8,
    /// Records of an endless chain (modulo 20: 0 and over 16 are refused).
    pub records: u8,
}

impl DcFaultOp {
    fn request(&self) -> DcFaultRequest {
        let region = self.region % 3;
        match self.kind % 5 {
            0 => DcFaultRequest::Misaligned { region },
            1 => DcFaultRequest::Overlapping {},
            2 => DcFaultRequest::OutsideRegion {},
            3 => DcFaultRequest::EndlessMore {
                region,
                records: u32::from(self.records % 20),
            },
            _ => DcFaultRequest::ReleaseUnaccepted { region },
        }
    }
}

/// The operator's state: the registry and a counter for backend ids.
#[derive(Default)]
pub struct Operator {
    /// Backends by id, as the VMM keeps them.
    pub registry: BackendRegistry,
    next_id: u32,
}

fn selection(policy: u8) -> SelectionPolicy {
    match policy % 4 {
        0 => SelectionPolicy::Free,
        1 => SelectionPolicy::Contiguous,
        2 => SelectionPolicy::Prescriptive,
        _ => SelectionPolicy::EnableSharedAccess,
    }
}

fn requested(dev: &Type3, spans: &[Span]) -> Vec<RequestedExtent> {
    spans
        .iter()
        .take(8)
        .map(|s| {
            let (offset, len) = s.resolve(dev);
            RequestedExtent { offset, len }
        })
        .collect()
}

/// Why an operator request was refused (any error the API would answer).
#[derive(Debug)]
pub enum Refused {
    /// By the registry or the handler's own checks.
    Api(String),
    /// By the device.
    Device(DcdError),
}

impl Operator {
    /// Applies one request; `Err` means it was refused and must have
    /// changed nothing on the device.
    pub fn apply(&mut self, dev: &mut Type3, op: &OperatorOp) -> Result<(), Refused> {
        match op {
            OperatorOp::BackendAdd { tag: t, size } => {
                let (_, size) = size.resolve(dev);
                // memfd backends of up to 64 MiB: untouched pages cost nothing.
                let size = size.clamp(4096, 64 << 20) & !4095;
                self.next_id += 1;
                self.registry
                    .create(BackendConfig {
                        id: format!("fz{}", self.next_id),
                        kind: BackendKind::Memfd,
                        path: None,
                        size,
                        share: true,
                        prealloc: false,
                        tag: t.map(tag),
                    })
                    .map(drop)
                    .map_err(|e| Refused::Api(format!("{e:?}")))
            }
            OperatorOp::BackendRemove { tag: t } => {
                let b = self
                    .registry
                    .by_tag(tag(*t))
                    .ok_or_else(|| Refused::Api("no such tag".into()))?;
                let id = b.id().to_string();
                drop(b);
                self.registry
                    .remove(&id)
                    .map_err(|e| Refused::Api(format!("{e:?}")))
            }
            OperatorOp::DcAdd {
                host_id,
                policy,
                region,
                tag: t,
                extents,
            } => {
                let t = t.map(tag);
                let static_backing = dev.memdev().dcd().has_static_backing();
                let backend: Option<Arc<HostMemory>> = match t {
                    None => None,
                    Some(t) => backend_for_tag(&self.registry, t, static_backing)
                        .map_err(|e| Refused::Api(format!("{e:?}")))?,
                };
                let req = AddRequest {
                    host_id: u16::from(*host_id % 4 == 3),
                    selection_policy: selection(*policy),
                    region: *region % 3,
                    tag: t,
                    extents: requested(dev, extents),
                    backend,
                };
                dev.dc_add(req).map(drop).map_err(Refused::Device)
            }
            OperatorOp::DcRelease {
                host_id,
                tag_based,
                forced,
                sanitize,
                region,
                tag: t,
                extents,
            } => {
                let req = ReleaseRequest {
                    host_id: u16::from(*host_id % 4 == 3),
                    removal_policy: if *tag_based {
                        RemovalPolicy::TagBased
                    } else {
                        RemovalPolicy::Prescriptive
                    },
                    forced: *forced,
                    sanitize_on_release: *sanitize,
                    region: *region % 3,
                    tag: t.map(tag),
                    extents: requested(dev, extents),
                };
                dev.dc_release(req).map(drop).map_err(Refused::Device)
            }
            OperatorOp::Fault(f) => {
                let req = f.request();
                // What the API refuses at parse time never reaches the device.
                req.check().map_err(Refused::Api)?;
                dev.fault_add(req)
                    .map(drop)
                    .map_err(|e| Refused::Api(e.to_string()))
            }
            OperatorOp::DcFault(f) => {
                let req = f.request();
                req.check().map_err(Refused::Api)?;
                dev.dc_fault_add(req)
                    .map(drop)
                    .map_err(|e| Refused::Api(e.to_string()))
            }
            OperatorOp::FaultClear { id } => {
                let which = id.map_or(FaultSelector::All, |n| FaultSelector::Id(u32::from(n)));
                dev.fault_clear(which)
                    .map(drop)
                    .map_err(|e| Refused::Api(e.to_string()))
            }
        }
    }
}
