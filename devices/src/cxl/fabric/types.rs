//! The shapes the CXL memory path works with: the topology it is built
//! over, the host memory behind an endpoint's DPA, where an HPA routes.

use std::sync::Arc;

use crate::cxl::decode::Interleave;
use crate::memory::HostMemory;

/// Index of a host bridge in the topology.
pub type HostBridgeId = usize;
/// Index of an endpoint in the topology.
pub type EndpointId = usize;

/// A CXL fixed memory window (CFMWS).
#[derive(Clone, Debug)]
pub struct WindowDesc {
    /// Base HPA.
    pub base: u64,
    /// Size.
    pub size: u64,
    /// Host bridge interleave (ways = number of targets).
    pub interleave: Interleave,
    /// Host bridges by interleave position.
    pub targets: Vec<HostBridgeId>,
}

/// A host bridge and what hangs below it.
#[derive(Clone, Debug)]
pub struct HostBridgeDesc {
    /// Root ports: (port ID as the decoders' target lists name it, the
    /// endpoint below it if any).
    pub root_ports: Vec<(u8, Option<EndpointId>)>,
    /// Whether it has an HDM decoder capability; without one it must have a
    /// single root port and passes everything to it (Linux's passthrough).
    pub has_hdm: bool,
}

/// The static shape of the CXL hierarchy.
#[derive(Clone, Debug, Default)]
pub struct Topology {
    /// Fixed memory windows.
    pub windows: Vec<WindowDesc>,
    /// Host bridges.
    pub host_bridges: Vec<HostBridgeDesc>,
    /// Number of endpoints (ids `0..endpoints`).
    pub endpoints: usize,
}

/// Host memory behind a DPA range of an endpoint.
#[derive(Clone, Debug)]
pub struct MemoryRange {
    /// First DPA.
    pub dpa: u64,
    /// Length in bytes.
    pub len: u64,
    /// The backend.
    pub backend: Arc<HostMemory>,
    /// Offset into the backend of `dpa`.
    pub offset: u64,
}

/// Where an HPA goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    /// The endpoint.
    pub endpoint: EndpointId,
    /// The DPA in it.
    pub dpa: u64,
}

/// Counters of what the emulated path did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PathStats {
    /// Accesses that reached backing memory.
    pub emulated: u64,
    /// Accesses with no route or no backing (read all-ones, write dropped).
    pub unrouted: u64,
}
