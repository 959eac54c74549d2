//! Command line of `cxlvmm-remote`.

use std::path::PathBuf;

use api::{
    AddRequest, ApiRequest, BackendConfig, BackendKind, DcReleaseStatusQuery, ReleaseRequest,
    ReleaseSelector, RemovalPolicy, RequestedExtent, SelectionPolicy,
};
use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};
use uuid::Uuid;

use crate::parse::{parse_extent, parse_size};

use crate::fault_args::{DcFaultArgs, FaultAddArgs, FaultClearArgs};
use crate::inject_args::{
    CorrectableArgs, DramArgs, GeneralMediaArgs, HealthArgs, MemoryModuleArgs, PoisonArgs,
    UncorrectableArgs,
};

/// Drives a running cxlvmm through its API socket: memory backends and CXL
/// Dynamic Capacity.
#[derive(Parser, Debug)]
#[command(name = "cxlvmm-remote", version)]
pub struct Cli {
    /// The socket given to `cxlvmm --api-socket` (every command but
    /// `trace` needs it).
    #[arg(long, value_name = "PATH")]
    pub api_socket: Option<PathBuf>,
    /// Print the server's JSON answer on one line instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug, PartialEq, Eq)]
pub enum Command {
    /// Show the VM's state.
    Info,
    /// Stop the VM.
    Shutdown,
    /// Create a memory backend.
    BackendAdd(BackendAddArgs),
    /// List memory backends.
    BackendList,
    /// Remove an unused memory backend.
    BackendDel {
        /// The backend's id.
        id: String,
    },
    /// List CXL devices and their Dynamic Capacity regions.
    Devices,
    /// Offer Dynamic Capacity to the host (cxl-add-dynamic-capacity).
    DcAdd(DcAddArgs),
    /// Ask the host to give Dynamic Capacity back (cxl-release-dynamic-capacity).
    DcRelease(DcReleaseArgs),
    /// Withdraw offers the host has not accepted (a forced
    /// cxl-release-dynamic-capacity naming pending extents): they leave the
    /// pending list and their backends are free.
    DcWithdraw(DcWithdrawArgs),
    /// Show how a release is going.
    DcStatus(DcStatusArgs),
    /// List a device's Dynamic Capacity extents.
    DcExtents {
        /// The CXL device's id.
        device: String,
    },
    /// Poison a DPA range the device found bad (QMP cxl-inject-poison).
    CxlInjectPoison(PoisonArgs),
    /// Post a General Media Event Record (QMP cxl-inject-general-media-event).
    CxlInjectGeneralMediaEvent(GeneralMediaArgs),
    /// Post a DRAM Event Record (QMP cxl-inject-dram-event).
    CxlInjectDramEvent(DramArgs),
    /// Post a Memory Module Event Record (QMP cxl-inject-memory-module-event).
    CxlInjectMemoryModuleEvent(MemoryModuleArgs),
    /// Log uncorrectable RAS errors, reported through AER (QMP
    /// cxl-inject-uncorrectable-errors).
    CxlInjectUncorrectableErrors(UncorrectableArgs),
    /// Log a correctable RAS error, reported through AER (QMP
    /// cxl-inject-correctable-error).
    CxlInjectCorrectableError(CorrectableArgs),
    /// Change the device's health values (alerts follow).
    CxlInjectHealth(HealthArgs),
    /// Arm a mailbox fault: the device answers a command with a return
    /// code, or leaves Doorbell set, for the next --count commands.
    FaultAdd(FaultAddArgs),
    /// List a device's armed faults and outstanding DC faults.
    FaultList {
        /// The CXL device's id.
        device: String,
    },
    /// Clear a device's faults (all, or --id).
    FaultClear(FaultClearArgs),
    /// Post Dynamic Capacity records a host must reject.
    DcFault(DcFaultArgs),
    /// Send a QEMU QMP command as is, e.g. '{"execute":"cxl-inject-poison",
    /// "arguments":{"path":"/machine/peripheral/cxl-mem0","start":0,"length":64}}'
    /// (the device is the last component of "path").
    Qmp {
        /// The QMP command (JSON).
        command: String,
    },
    /// Print a `cxlvmm --trace` file as a table (--json: its lines).
    Trace {
        /// The trace file.
        path: PathBuf,
        /// Keep printing records as they are appended.
        #[arg(long)]
        follow: bool,
    },
    /// Follow the operator event stream (DC offers, accepts, releases,
    /// injections, faults, VM state) as it happens (--json: its lines).
    Events {
        /// Start after this sequence number (records still held are
        /// replayed); without it, only what happens from now.
        #[arg(long, value_name = "SEQ")]
        since: Option<u64>,
    },
}

#[derive(Args, Debug, PartialEq, Eq)]
pub struct BackendAddArgs {
    /// Backend id (a letter, then letters, digits, '-', '.', '_').
    #[arg(long)]
    pub id: String,
    /// Size in bytes; K, M, G, T suffixes.
    #[arg(long, value_parser = parse_size)]
    pub size: u64,
    #[arg(long, value_enum, default_value_t = Kind::Memfd)]
    pub kind: Kind,
    /// File (kind file) or hugetlbfs mount directory (kind hugetlbfs).
    #[arg(long)]
    pub path: Option<PathBuf>,
    /// Map shared (the default).
    #[arg(long, overrides_with = "no_share")]
    pub share: bool,
    /// Map private.
    #[arg(long, overrides_with = "share")]
    pub no_share: bool,
    /// Populate the memory now.
    #[arg(long)]
    pub prealloc: bool,
    /// Tag that Dynamic Capacity extents use to name this backend.
    #[arg(long, value_name = "UUID")]
    pub tag: Option<Uuid>,
}

#[derive(Args, Debug, PartialEq, Eq)]
pub struct DcAddArgs {
    /// The CXL device's id.
    pub device: String,
    /// Dynamic Capacity region number.
    #[arg(long)]
    pub region: u8,
    /// The host (QMP host-id).
    #[arg(long, default_value_t = 0)]
    pub host_id: u16,
    /// Selection policy.
    #[arg(long, value_enum, default_value_t = AddPolicy::Prescriptive)]
    pub policy: AddPolicy,
    /// Tag the capacity carries (and the backend providing it).
    #[arg(long, value_name = "UUID")]
    pub tag: Option<Uuid>,
    /// Offset in the region and length; K, M, G, T suffixes. Repeatable.
    #[arg(long = "extent", value_name = "OFFSET:LEN", value_parser = parse_extent, required = true)]
    pub extents: Vec<RequestedExtent>,
}

#[derive(Args, Debug, PartialEq, Eq)]
pub struct DcReleaseArgs {
    /// The CXL device's id.
    pub device: String,
    /// Dynamic Capacity region number.
    #[arg(long)]
    pub region: u8,
    /// The host (QMP host-id).
    #[arg(long, default_value_t = 0)]
    pub host_id: u16,
    /// Default: tag-based with --tag and no --extent, else prescriptive.
    #[arg(long, value_enum)]
    pub policy: Option<RemovePolicy>,
    /// Tag of the capacity to release.
    #[arg(long, value_name = "UUID")]
    pub tag: Option<Uuid>,
    /// Offset in the region and length; K, M, G, T suffixes. Repeatable.
    #[arg(long = "extent", value_name = "OFFSET:LEN", value_parser = parse_extent)]
    pub extents: Vec<RequestedExtent>,
    /// Remove without waiting for the host (QMP forced-removal); withdraws
    /// pending offers it names.
    #[arg(long, visible_alias = "forced-removal")]
    pub forced: bool,
    /// Sanitize the capacity once released (QMP sanitize-on-release).
    #[arg(long, visible_alias = "sanitize-on-release")]
    pub sanitize: bool,
}

#[derive(Args, Debug, PartialEq, Eq)]
#[command(group(ArgGroup::new("what").required(true).multiple(true).args(["tag", "extents"])))]
pub struct DcWithdrawArgs {
    /// The CXL device's id.
    pub device: String,
    /// Dynamic Capacity region number.
    #[arg(long)]
    pub region: u8,
    /// The host (QMP host-id).
    #[arg(long, default_value_t = 0)]
    pub host_id: u16,
    /// Tag of the offer (tag-based unless --extent is given).
    #[arg(long, value_name = "UUID")]
    pub tag: Option<Uuid>,
    /// An offered extent, whole: offset in the region and length; K, M, G,
    /// T suffixes. Repeatable.
    #[arg(long = "extent", value_name = "OFFSET:LEN", value_parser = parse_extent)]
    pub extents: Vec<RequestedExtent>,
}

#[derive(Args, Debug, PartialEq, Eq)]
#[command(group(ArgGroup::new("what").required(true).args(["tag", "extent"])))]
pub struct DcStatusArgs {
    /// The CXL device's id.
    pub device: String,
    /// Dynamic Capacity region number.
    #[arg(long)]
    pub region: u8,
    /// The released capacity's tag.
    #[arg(long, value_name = "UUID")]
    pub tag: Option<Uuid>,
    /// The released extent.
    #[arg(long, value_name = "OFFSET:LEN", value_parser = parse_extent)]
    pub extent: Option<RequestedExtent>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Memfd,
    File,
    Hugetlbfs,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddPolicy {
    Free,
    Contiguous,
    Prescriptive,
    EnableSharedAccess,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemovePolicy {
    TagBased,
    Prescriptive,
}

impl Command {
    /// The API request this command makes.
    pub fn request(&self) -> Result<ApiRequest, String> {
        Ok(match self {
            Command::Info => ApiRequest::VmInfo,
            Command::Shutdown => ApiRequest::VmShutdown,
            Command::BackendAdd(a) => ApiRequest::BackendAdd(BackendConfig {
                id: a.id.clone(),
                kind: match a.kind {
                    Kind::Memfd => BackendKind::Memfd,
                    Kind::File => BackendKind::File,
                    Kind::Hugetlbfs => BackendKind::Hugetlbfs,
                },
                path: a.path.clone(),
                size: a.size,
                share: !a.no_share,
                prealloc: a.prealloc,
                tag: a.tag,
            }),
            Command::BackendList => ApiRequest::BackendList,
            Command::BackendDel { id } => ApiRequest::BackendRemove { id: id.clone() },
            Command::Devices => ApiRequest::DeviceList,
            Command::DcAdd(a) => ApiRequest::DcAdd {
                device: a.device.clone(),
                request: AddRequest {
                    host_id: a.host_id,
                    selection_policy: match a.policy {
                        AddPolicy::Free => SelectionPolicy::Free,
                        AddPolicy::Contiguous => SelectionPolicy::Contiguous,
                        AddPolicy::Prescriptive => SelectionPolicy::Prescriptive,
                        AddPolicy::EnableSharedAccess => SelectionPolicy::EnableSharedAccess,
                    },
                    region: a.region,
                    tag: a.tag,
                    extents: a.extents.clone(),
                    backend: None,
                },
            },
            Command::DcRelease(a) => ApiRequest::DcRelease {
                device: a.device.clone(),
                request: ReleaseRequest {
                    host_id: a.host_id,
                    removal_policy: match a.policy {
                        Some(RemovePolicy::TagBased) => RemovalPolicy::TagBased,
                        Some(RemovePolicy::Prescriptive) => RemovalPolicy::Prescriptive,
                        None if a.tag.is_some() && a.extents.is_empty() => RemovalPolicy::TagBased,
                        None => RemovalPolicy::Prescriptive,
                    },
                    forced: a.forced,
                    sanitize_on_release: a.sanitize,
                    tag: a.tag,
                    region: a.region,
                    extents: a.extents.clone(),
                },
            },
            Command::DcWithdraw(a) => ApiRequest::DcRelease {
                device: a.device.clone(),
                request: ReleaseRequest {
                    host_id: a.host_id,
                    removal_policy: if a.extents.is_empty() {
                        RemovalPolicy::TagBased
                    } else {
                        RemovalPolicy::Prescriptive
                    },
                    forced: true,
                    sanitize_on_release: false,
                    tag: a.tag,
                    region: a.region,
                    extents: a.extents.clone(),
                },
            },
            Command::DcStatus(a) => ApiRequest::DcReleaseStatus {
                device: a.device.clone(),
                query: DcReleaseStatusQuery {
                    region: a.region,
                    selector: match (a.tag, a.extent) {
                        (Some(tag), None) => ReleaseSelector::Tag(tag),
                        (None, Some(e)) => ReleaseSelector::Extent(e),
                        _ => return Err("give either --tag or --extent".into()),
                    },
                },
            },
            Command::DcExtents { device } => ApiRequest::DcExtents {
                device: device.clone(),
            },
            Command::CxlInjectPoison(a) => a.request(),
            Command::CxlInjectGeneralMediaEvent(a) => a.request(),
            Command::CxlInjectDramEvent(a) => a.request(),
            Command::CxlInjectMemoryModuleEvent(a) => a.request(),
            Command::CxlInjectUncorrectableErrors(a) => a.request(),
            Command::CxlInjectCorrectableError(a) => a.request(),
            Command::CxlInjectHealth(a) => a.request(),
            Command::FaultAdd(a) => a.request()?,
            Command::FaultList { device } => ApiRequest::FaultList {
                device: device.clone(),
            },
            Command::FaultClear(a) => a.request(),
            Command::DcFault(a) => a.request()?,
            Command::Qmp { command } => api::qmp::translate(command)?,
            Command::Trace { .. } => return Err("trace reads a file, not the API".into()),
            Command::Events { since } => ApiRequest::Events { since: *since },
        })
    }
}

#[cfg(test)]
#[path = "args_tests.rs"]
mod tests;
