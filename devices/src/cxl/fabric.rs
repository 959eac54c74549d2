//! The CXL memory path: from a fixed memory window through host bridge and
//! endpoint HDM decoders to the host memory behind a device's DPA.
//!
//! Devices never touch KVM. Each CXL component reports its decode state here
//! (host bridges their committed decoders; endpoints their decoders, whether
//! decoding is enabled, and which host memory backs which DPA range), and the
//! path recomputes what the guest sees:
//!
//! - where every level of the path is 1-way (window, host bridge decoder or
//!   passthrough, endpoint decoder), each backed piece of the endpoint's
//!   decoded DPA range is installed as a memslot at its HPA through the
//!   [`GuestMemoryMapper`], so the guest runs from it at native speed;
//! - where a level interleaves with granules of at least a page, the
//!   range's host view is composed from the devices' backends granule by
//!   granule and installed as one memslot (`compose.rs`);
//! - everything else in a window (finer interleaves, backends that cannot
//!   be mapped twice, unbacked DPA) reaches [`CxlMemoryPath::read`] /
//!   [`CxlMemoryPath::write`] through the window's MMIO device, which
//!   routes every access by the same rules (`emulated.rs`).
//!
//! Recomputing diffs the wanted mappings against the installed ones, so a
//! change touches only the memslots it affects. A change to some of an
//! endpoint's backed memory (a Dynamic Capacity extent accepted or
//! released, [`CxlMemoryPath::update_endpoint_memory`]) recomputes only the
//! memslots of the DPA it touched, so its cost does not grow with the
//! number of extents.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::{Arc, Mutex, MutexGuard};

use super::component::hdm::HdmDecoderInfo;
use crate::memory::{ComposedPiece, HostMemory};

mod compose;
mod emulated;
mod mem_path;
mod route;
mod state;
mod types;
mod wanted;

use mem_path::{Composed, Span};
pub use mem_path::{MemPath, RangePath, TrapReason, PAGE_SIZE};
use state::{EndpointState, Installed, State};
pub use types::{
    EndpointId, HostBridgeDesc, HostBridgeId, MemoryRange, PathStats, Route, Topology, WindowDesc,
};
use wanted::{coalesce, hull_with, in_ranges};

/// The narrow door to guest memory slots (the VMM's memory manager).
pub trait GuestMemoryMapper: Send + Sync {
    /// Maps `len` bytes of `backend` from `offset` at guest address `gpa`.
    fn map(&self, gpa: u64, backend: &Arc<HostMemory>, offset: u64, len: u64)
        -> Result<(), String>;
    /// Maps `len` bytes at `gpa` composed of `pieces` (offsets from `gpa`,
    /// together covering all of it) as one memslot; on failure nothing of
    /// it stays mapped. A mapper that cannot compose refuses, and the range
    /// stays on the trapped path.
    fn map_composed(&self, gpa: u64, len: u64, pieces: &[ComposedPiece]) -> Result<(), String> {
        let _ = (gpa, len, pieces);
        Err("this mapper does not compose mappings".into())
    }
    /// How many more host mappings a composition may use.
    fn mapping_budget(&self) -> u64 {
        u64::MAX
    }
    /// Removes the mapping that starts at `gpa` (composed ones too: the
    /// memslot first, then the host range).
    fn unmap(&self, gpa: u64) -> Result<(), String>;
}

pub struct CxlMemoryPath {
    mapper: Arc<dyn GuestMemoryMapper>,
    state: Mutex<State>,
}

impl CxlMemoryPath {
    /// A path over `topology` that maps through `mapper`.
    pub fn new(topology: Topology, mapper: Arc<dyn GuestMemoryMapper>) -> Self {
        let hbs = topology.host_bridges.len();
        let eps = topology.endpoints;
        Self {
            mapper,
            state: Mutex::new(State {
                topology,
                host_bridges: vec![Vec::new(); hbs],
                endpoints: vec![EndpointState::default(); eps],
                installed: BTreeMap::new(),
                composed: BTreeMap::new(),
                spans: BTreeMap::new(),
                by_dpa: BTreeMap::new(),
                // Nothing installed, nothing wanted (no decoder yet).
                in_sync: true,
                stats: PathStats::default(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A host bridge's decoders changed.
    pub fn set_host_bridge_decoders(&self, hb: HostBridgeId, decoders: Vec<HdmDecoderInfo>) {
        let mut s = self.lock();
        if let Some(slot) = s.host_bridges.get_mut(hb) {
            *slot = decoders;
        }
        self.sync(&mut s);
    }

    /// An endpoint's decoders or enables changed.
    pub fn set_endpoint_decoders(
        &self,
        endpoint: EndpointId,
        decoders: Vec<HdmDecoderInfo>,
        enabled: bool,
    ) {
        let mut s = self.lock();
        if let Some(ep) = s.endpoints.get_mut(endpoint) {
            ep.decoders = decoders;
            ep.enabled = enabled;
        }
        self.sync(&mut s);
    }

    /// The host memory behind an endpoint's DPA space changed (static
    /// partitions at start-up; DC extents as they are accepted or released).
    pub fn set_endpoint_memory(&self, endpoint: EndpointId, memory: Vec<MemoryRange>) {
        let mut s = self.lock();
        if let Some(ep) = s.endpoints.get_mut(endpoint) {
            ep.memory = memory.into_iter().map(|r| (r.dpa, r)).collect();
        }
        self.sync(&mut s);
    }

    /// Part of an endpoint's backed memory changed (Dynamic Capacity
    /// extents accepted or released); every change lies in `changed`.
    ///
    /// Where [`Self::set_endpoint_memory`] replaces all of it and
    /// recomputes every memslot (cost linear in the extents), this touches
    /// only the DPA that changed. Each range of `changed` is widened to the
    /// whole backed ranges the path holds there; `current` returns the
    /// endpoint's backed memory overlapping a widened range (it is widened
    /// again, and asked again, until no returned range crosses its edges)
    /// and replaces what the path held in it. The memslots of that DPA are
    /// then brought in line exactly as [`Self::sync`] would: nothing else
    /// changed, so no other memslot would move.
    pub fn update_endpoint_memory(
        &self,
        endpoint: EndpointId,
        changed: &[Range<u64>],
        mut current: impl FnMut(&Range<u64>) -> Vec<MemoryRange>,
    ) {
        let mut s = self.lock();
        let Some(ep) = s.endpoints.get_mut(endpoint) else {
            return;
        };
        let mut windows = coalesce(changed.to_vec());
        let fresh = loop {
            windows = coalesce(windows.iter().map(|w| hull_with(&ep.memory, w)).collect());
            // Ranges that miss their window break `current`'s contract:
            // dropping them also keeps every round below growing.
            let fresh: Vec<Vec<MemoryRange>> = windows
                .iter()
                .map(|w| {
                    let mut f = current(w);
                    f.retain(|r| r.dpa < w.end && r.dpa.saturating_add(r.len) > w.start);
                    f
                })
                .collect();
            let crossing: Vec<Range<u64>> = windows
                .iter()
                .zip(&fresh)
                .flat_map(|(w, f)| {
                    f.iter()
                        .map(|r| r.dpa..r.dpa.saturating_add(r.len))
                        .filter(|r| !(w.contains(&r.start) && r.end <= w.end))
                })
                .collect();
            if crossing.is_empty() {
                break fresh;
            }
            windows = coalesce(windows.into_iter().chain(crossing).collect());
        };
        for (w, f) in windows.iter().zip(fresh) {
            let old: Vec<u64> = ep.memory.range(w.clone()).map(|(k, _)| *k).collect();
            for k in old {
                ep.memory.remove(&k);
            }
            ep.memory.extend(f.into_iter().map(|r| (r.dpa, r)));
        }
        self.sync_dpa(&mut s, endpoint, &windows);
    }

    /// Brings the installed memslots in line with the state.
    fn sync(&self, s: &mut State) {
        let mut wanted = BTreeMap::new();
        let clash = s.collect_wanted(None, &mut wanted);
        let stale: Vec<u64> = s
            .installed
            .iter()
            .filter(|(hpa, i)| !wanted.get(hpa).is_some_and(|w| w.same_as(i)))
            .map(|(hpa, _)| *hpa)
            .collect();
        let (mut spans, overlapping) = s.interleaved_spans();
        let mut composed = BTreeMap::new();
        for (&hpa, span) in spans.iter_mut() {
            match s.compose(&(hpa..hpa + span.len)) {
                Ok(pieces) => {
                    span.path = MemPath::Composed {
                        mappings: pieces.len() as u64,
                    };
                    composed.insert(
                        hpa,
                        Composed {
                            len: span.len,
                            pieces,
                        },
                    );
                }
                Err(reason) => span.path = MemPath::Trapped(reason),
            }
        }
        for r in overlapping {
            crate::debug_limited!(
                "CXL: {:#x}+{:#x} interleaved: trapped: overlaps another range",
                r.start,
                r.end - r.start
            );
        }
        let stale_composed: Vec<u64> = s
            .composed
            .iter()
            .filter(|(hpa, c)| !composed.get(hpa).is_some_and(|w| w.same_as(c)))
            .map(|(hpa, _)| *hpa)
            .collect();
        let mut done = self.unmap_all(s, stale, stale_composed);
        done &= self.apply(s, Vec::new(), wanted);
        done &= self.apply_composed(s, composed, &mut spans);
        for (hpa, span) in &spans {
            // Once per range and path (not again as more endpoints join it).
            if s.spans
                .get(hpa)
                .is_none_or(|old| old.len != span.len || old.path != span.path)
            {
                let how = match &span.path {
                    MemPath::Composed { mappings } => {
                        format!("composed from {mappings} host mappings into one memslot")
                    }
                    other => format!("{}: {}", other.name(), trap_text(other)),
                };
                crate::info_limited!(burst = crate::log_limit::VERBOSE_BURST; "CXL: {hpa:#x}+{:#x} interleaved: {how}", span.len);
            }
        }
        s.spans = spans;
        s.in_sync = done && !clash;
    }

    /// Unmaps the stale 1-way and composed memslots. Returns false if the
    /// mapper refused anything (the slot stays on the books).
    fn unmap_all(&self, s: &mut State, stale: Vec<u64>, stale_composed: Vec<u64>) -> bool {
        let mut done = self.apply(s, stale, BTreeMap::new());
        for hpa in stale_composed {
            match self.mapper.unmap(hpa) {
                Ok(()) => {
                    crate::info_limited!(burst = crate::log_limit::VERBOSE_BURST; "CXL: unmapped composed {hpa:#x}");
                    s.composed.remove(&hpa);
                }
                Err(e) => {
                    crate::warn_limited!("CXL: unmapping composed {hpa:#x}: {e}");
                    done = false;
                }
            }
        }
        done
    }

    /// Maps what of `wanted` has no composed memslot yet, within the host's
    /// mapping budget; what cannot be mapped stays trapped, its reason in
    /// `spans`. Returns false if the mapper refused anything.
    fn apply_composed(
        &self,
        s: &mut State,
        wanted: BTreeMap<u64, Composed>,
        spans: &mut BTreeMap<u64, Span>,
    ) -> bool {
        let mut done = true;
        for (hpa, c) in wanted {
            if s.composed.contains_key(&hpa) {
                continue;
            }
            let needed = c.pieces.len() as u64;
            let budget = self.mapper.mapping_budget();
            let result = if needed > budget {
                Err(TrapReason::TooManyMappings { needed, budget })
            } else {
                self.mapper
                    .map_composed(hpa, c.len, &c.pieces)
                    .map_err(|e| {
                        crate::warn_limited!("CXL: composing {hpa:#x}+{:#x}: {e}", c.len);
                        done = false;
                        TrapReason::Failed(e)
                    })
            };
            match result {
                Ok(()) => {
                    crate::info_limited!(burst = crate::log_limit::VERBOSE_BURST;
                        "CXL: mapped composed {hpa:#x}+{:#x} ({needed} host mappings)",
                        c.len
                    );
                    s.composed.insert(hpa, c);
                }
                // Accesses keep working through the trapped path.
                Err(reason) => {
                    if let Some(span) = spans.get_mut(&hpa) {
                        span.path = MemPath::Trapped(reason);
                    }
                }
            }
        }
        done
    }

    /// [`Self::sync`] when only `endpoint`'s backed memory in `dpa` (sorted,
    /// disjoint ranges) changed: the same unmaps and maps, in the same
    /// order, found by looking only at the memslots whose first DPA lies in
    /// those ranges. Every other wanted memslot is unchanged and, with
    /// `in_sync`, installed as it is; where that cannot be shown (pieces
    /// clash over an HPA), the full sync runs instead.
    fn sync_dpa(&self, s: &mut State, endpoint: EndpointId, dpa: &[Range<u64>]) {
        // An endpoint in an interleaved range may change its composition.
        if !s.in_sync || s.spans.values().any(|sp| sp.endpoints.contains(&endpoint)) {
            return self.sync(s);
        }
        let mut wanted = BTreeMap::new();
        let mut clash = false;
        for r in dpa {
            clash |= s.collect_wanted(Some((endpoint, r)), &mut wanted);
        }
        let in_scope = |i: &Installed| i.endpoint == endpoint && in_ranges(dpa, i.dpa);
        let taken = wanted
            .keys()
            .any(|hpa| s.installed.get(hpa).is_some_and(|i| !in_scope(i)));
        if clash || taken {
            return self.sync(s);
        }
        let mut stale: Vec<u64> = dpa
            .iter()
            .flat_map(|r| s.by_dpa.range((endpoint, r.start)..(endpoint, r.end)))
            .map(|(_, hpa)| *hpa)
            .filter(|hpa| {
                let w = wanted.get(hpa);
                !s.installed
                    .get(hpa)
                    .is_some_and(|i| w.is_some_and(|w| w.same_as(i)))
            })
            .collect();
        stale.sort_unstable();
        s.in_sync = self.apply(s, stale, wanted);
    }

    /// Unmaps `stale`, then maps what of `wanted` has no memslot yet.
    /// Returns false if the mapper refused anything.
    fn apply(&self, s: &mut State, stale: Vec<u64>, wanted: BTreeMap<u64, Installed>) -> bool {
        let mut done = true;
        for hpa in stale {
            match self.mapper.unmap(hpa) {
                Ok(()) => {
                    crate::info_limited!(burst = crate::log_limit::VERBOSE_BURST; "CXL: unmapped {hpa:#x}");
                    s.remove_installed(hpa);
                }
                // The slot may still be live: keep it (and its backend)
                // on the books and try again on the next change.
                Err(e) => {
                    crate::warn_limited!("CXL: unmapping {hpa:#x}: {e}");
                    done = false;
                }
            }
        }
        for (hpa, w) in wanted {
            if s.installed.contains_key(&hpa) {
                continue;
            }
            match self.mapper.map(hpa, &w.backend, w.offset, w.len) {
                Ok(()) => {
                    crate::info_limited!(burst = crate::log_limit::VERBOSE_BURST;
                        "CXL: mapped {hpa:#x}+{:#x} (endpoint {} DPA {:#x})",
                        w.len, w.endpoint, w.dpa
                    );
                    s.insert_installed(hpa, w);
                }
                // Accesses keep working through the emulated path.
                Err(e) => {
                    crate::warn_limited!("CXL: mapping {hpa:#x}+{:#x}: {e}", w.len);
                    done = false;
                }
            }
        }
        done
    }

    /// Where `hpa` goes, if anywhere.
    pub fn route(&self, hpa: u64) -> Option<Route> {
        self.lock().route(hpa).map(|(r, _, _)| r)
    }

    /// The HPA at which `endpoint`'s `dpa` is directly mapped, if it is.
    pub fn mapped_hpa(&self, endpoint: EndpointId, dpa: u64) -> Option<u64> {
        let s = self.lock();
        let (&(ep, start), &hpa) = s.by_dpa.range(..=(endpoint, dpa)).next_back()?;
        let len = s.installed.get(&hpa)?.len;
        (ep == endpoint && dpa - start < len).then(|| hpa + (dpa - start))
    }

    /// Installed memslots, 1-way and composed: (HPA, length).
    pub fn mappings(&self) -> Vec<(u64, u64)> {
        let s = self.lock();
        let mut v: Vec<(u64, u64)> = s.installed.iter().map(|(h, i)| (*h, i.len)).collect();
        v.extend(s.composed.iter().map(|(h, c)| (*h, c.len)));
        v.sort_unstable();
        v
    }

    /// The HPA ranges `endpoint`'s committed decoders decode it at and the
    /// path each takes: 1-way ranges are direct (memslots where backed),
    /// interleaved ones composed or trapped with the reason.
    pub fn paths(&self, endpoint: EndpointId) -> Vec<RangePath> {
        let s = self.lock();
        let mut v = Vec::new();
        if let Some(ep) = s.endpoints.get(endpoint).filter(|ep| ep.enabled) {
            for d in ep
                .decoders
                .iter()
                .filter(|d| d.committed && d.interleave_ways == 1)
            {
                let range = d.base..d.base.saturating_add(d.size);
                for span in s.direct_spans(endpoint, &range) {
                    v.push(RangePath {
                        hpa: span.start,
                        len: span.end - span.start,
                        path: MemPath::Direct,
                    });
                }
            }
        }
        for (&hpa, span) in s
            .spans
            .iter()
            .filter(|(_, sp)| sp.endpoints.contains(&endpoint))
        {
            v.push(RangePath {
                hpa,
                len: span.len,
                path: span.path.clone(),
            });
        }
        v.sort_unstable_by_key(|r| r.hpa);
        v
    }

    /// What the emulated path has done so far.
    pub fn stats(&self) -> PathStats {
        self.lock().stats
    }
}

/// The reason of a trapped path, empty for the others.
fn trap_text(p: &MemPath) -> String {
    match p {
        MemPath::Trapped(r) => r.to_string(),
        _ => String::new(),
    }
}

#[cfg(test)]
#[path = "fabric_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "fabric_update_tests.rs"]
mod update_tests;

#[cfg(test)]
#[path = "fabric_compose_tests.rs"]
mod compose_tests;
