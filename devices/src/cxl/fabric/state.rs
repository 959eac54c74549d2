//! What the CXL memory path knows: the decode state each component
//! reported and the memslots installed from it.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::mem_path::{Composed, Span};
use super::types::{EndpointId, MemoryRange, PathStats, Topology};
use crate::cxl::component::hdm::HdmDecoderInfo;
use crate::memory::HostMemory;

/// What an endpoint last reported.
#[derive(Clone, Debug, Default)]
pub(super) struct EndpointState {
    pub(super) decoders: Vec<HdmDecoderInfo>,
    /// HDM Decoder Enable and the DVSEC's Mem_Enable both set.
    pub(super) enabled: bool,
    /// Backed DPA ranges by start DPA.
    pub(super) memory: BTreeMap<u64, MemoryRange>,
}

/// One installed memslot.
#[derive(Clone, Debug)]
pub(super) struct Installed {
    pub(super) len: u64,
    pub(super) backend: Arc<HostMemory>,
    pub(super) offset: u64,
    pub(super) endpoint: EndpointId,
    pub(super) dpa: u64,
}

impl Installed {
    pub(super) fn same_as(&self, other: &Installed) -> bool {
        self.len == other.len
            && Arc::ptr_eq(&self.backend, &other.backend)
            && self.offset == other.offset
    }
}

/// The path's state, behind [`super::CxlMemoryPath`]'s lock.
pub(super) struct State {
    pub(super) topology: Topology,
    pub(super) host_bridges: Vec<Vec<HdmDecoderInfo>>,
    pub(super) endpoints: Vec<EndpointState>,
    pub(super) installed: BTreeMap<u64, Installed>,
    /// The installed composed memslots by HPA.
    pub(super) composed: BTreeMap<u64, Composed>,
    /// The interleaved ranges and the path each took, as of the last sync.
    pub(super) spans: BTreeMap<u64, Span>,
    /// The installed memslots by (endpoint, DPA): HPA.
    pub(super) by_dpa: BTreeMap<(EndpointId, u64), u64>,
    /// The installed memslots are exactly the wanted ones: the last sync
    /// had no map or unmap refused and no two pieces wanting the same HPA.
    /// Only then may a change recompute just the memslots of the DPA it
    /// touched; otherwise the next change recomputes everything (which
    /// also retries what was refused).
    pub(super) in_sync: bool,
    pub(super) stats: PathStats,
}
