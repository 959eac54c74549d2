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
//! - everything else in a window (interleaved paths, unbacked DPA) reaches
//!   [`CxlMemoryPath::read`] / [`CxlMemoryPath::write`] through the window's
//!   MMIO device, which routes every access by the same rules.
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

use super::component::hdm::{HdmDecoderInfo, HdmDecoderTarget};
use super::decode::Interleave;
use crate::memory::HostMemory;

/// The narrow door to guest memory slots (the VMM's memory manager).
pub trait GuestMemoryMapper: Send + Sync {
    /// Maps `len` bytes of `backend` from `offset` at guest address `gpa`.
    fn map(&self, gpa: u64, backend: &Arc<HostMemory>, offset: u64, len: u64)
        -> Result<(), String>;
    /// Removes the mapping that starts at `gpa`.
    fn unmap(&self, gpa: u64) -> Result<(), String>;
}

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

#[derive(Clone, Debug, Default)]
struct EndpointState {
    decoders: Vec<HdmDecoderInfo>,
    /// HDM Decoder Enable and the DVSEC's Mem_Enable both set.
    enabled: bool,
    /// Backed DPA ranges by start DPA.
    memory: BTreeMap<u64, MemoryRange>,
}

/// One installed memslot.
#[derive(Clone, Debug)]
struct Installed {
    len: u64,
    backend: Arc<HostMemory>,
    offset: u64,
    endpoint: EndpointId,
    dpa: u64,
}

impl Installed {
    fn same_as(&self, other: &Installed) -> bool {
        self.len == other.len
            && Arc::ptr_eq(&self.backend, &other.backend)
            && self.offset == other.offset
    }
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

struct State {
    topology: Topology,
    host_bridges: Vec<Vec<HdmDecoderInfo>>,
    endpoints: Vec<EndpointState>,
    installed: BTreeMap<u64, Installed>,
    /// The installed memslots by (endpoint, DPA): HPA.
    by_dpa: BTreeMap<(EndpointId, u64), u64>,
    /// The installed memslots are exactly the wanted ones: the last sync
    /// had no map or unmap refused and no two pieces wanting the same HPA.
    /// Only then may a change recompute just the memslots of the DPA it
    /// touched; otherwise the next change recomputes everything (which
    /// also retries what was refused).
    in_sync: bool,
    stats: PathStats,
}

/// The memory path of one VM's CXL hierarchy.
pub struct CxlMemoryPath {
    mapper: Arc<dyn GuestMemoryMapper>,
    state: Mutex<State>,
}

fn interleave(d: &HdmDecoderInfo) -> Option<Interleave> {
    Interleave::new(d.interleave_ways, d.interleave_granularity).ok()
}

fn contains(d: &HdmDecoderInfo, hpa: u64) -> bool {
    d.committed && d.base <= hpa && hpa - d.base < d.size
}

impl State {
    fn window(&self, hpa: u64) -> Option<&WindowDesc> {
        self.topology
            .windows
            .iter()
            .find(|w| w.base <= hpa && hpa - w.base < w.size)
    }

    /// The root port a host bridge sends `hpa` to.
    fn port_of(&self, hb: HostBridgeId, hpa: u64) -> Option<(u8, u32)> {
        let desc = self.topology.host_bridges.get(hb)?;
        if !desc.has_hdm {
            return desc.root_ports.first().map(|p| (p.0, 1));
        }
        let d = self
            .host_bridges
            .get(hb)?
            .iter()
            .find(|d| contains(d, hpa))?;
        let il = interleave(d)?;
        let HdmDecoderTarget::Ports(ports) = &d.target else {
            return None;
        };
        Some((il.target(ports, hpa - d.base)?, il.ways()))
    }

    /// The endpoint and DPA `hpa` decodes to, and whether every level of the
    /// path is 1-way.
    fn route(&self, hpa: u64) -> Option<(Route, bool)> {
        let w = self.window(hpa)?;
        let hb = w.interleave.target(&w.targets, hpa - w.base)?;
        let (port, hb_ways) = self.port_of(hb, hpa)?;
        let endpoint = self
            .topology
            .host_bridges
            .get(hb)?
            .root_ports
            .iter()
            .find(|p| p.0 == port)?
            .1?;
        let ep = self.endpoints.get(endpoint)?;
        if !ep.enabled {
            return None;
        }
        let d = ep.decoders.iter().find(|d| contains(d, hpa))?;
        let il = interleave(d)?;
        let HdmDecoderTarget::Dpa { dpa: Some(dpa), .. } = &d.target else {
            return None;
        };
        let dpa = dpa.start.checked_add(il.hpa_to_dpa(hpa - d.base))?;
        let direct = w.interleave.ways() == 1 && hb_ways == 1 && il.ways() == 1;
        Some((Route { endpoint, dpa }, direct))
    }

    fn backing(&self, endpoint: EndpointId, dpa: u64) -> Option<(&MemoryRange, u64)> {
        let (_, r) = self
            .endpoints
            .get(endpoint)?
            .memory
            .range(..=dpa)
            .next_back()?;
        (dpa - r.dpa < r.len).then(|| (r, r.offset + (dpa - r.dpa)))
    }

    /// The parts of `hpa` (an endpoint decoder's range) that every level
    /// above sends 1-way to `endpoint`: cut at window and host bridge
    /// decoder boundaries, so a memslot never covers HPA that decodes to
    /// another device or to nothing.
    fn direct_spans(&self, endpoint: EndpointId, hpa: &Range<u64>) -> Vec<Range<u64>> {
        let mut spans = Vec::new();
        for w in &self.topology.windows {
            let start = hpa.start.max(w.base);
            let end = hpa.end.min(w.base.saturating_add(w.size));
            if start >= end || w.interleave.ways() != 1 {
                continue;
            }
            let Some(&hb) = w.targets.first() else {
                continue;
            };
            let Some(desc) = self.topology.host_bridges.get(hb) else {
                continue;
            };
            if !desc.has_hdm {
                // Passthrough: everything goes to the one root port.
                if desc
                    .root_ports
                    .first()
                    .is_some_and(|p| p.1 == Some(endpoint))
                {
                    spans.push(start..end);
                }
                continue;
            }
            let leads_here = |port: &u8| {
                desc.root_ports
                    .iter()
                    .any(|p| p.0 == *port && p.1 == Some(endpoint))
            };
            for d in self.host_bridges.get(hb).into_iter().flatten() {
                let s = start.max(d.base);
                let e = end.min(d.base.saturating_add(d.size));
                if !d.committed || s >= e || d.interleave_ways != 1 {
                    continue;
                }
                if let HdmDecoderTarget::Ports(ports) = &d.target {
                    if ports.first().is_some_and(leads_here) {
                        spans.push(s..e);
                    }
                }
            }
        }
        spans.sort_by_key(|r| r.start);
        spans
    }

    fn insert_installed(&mut self, hpa: u64, i: Installed) {
        self.remove_installed(hpa);
        self.by_dpa.insert((i.endpoint, i.dpa), hpa);
        self.installed.insert(hpa, i);
    }

    fn remove_installed(&mut self, hpa: u64) {
        if let Some(old) = self.installed.remove(&hpa) {
            self.by_dpa.remove(&(old.endpoint, old.dpa));
        }
    }

    /// The memslots the current state calls for, by HPA, added to `out`:
    /// all of them, or with `scope` only those of one endpoint whose first
    /// DPA lies in the given range. Returns true if two pieces asked for
    /// the same HPA (the later one wins).
    fn collect_wanted(
        &self,
        scope: Option<(EndpointId, &Range<u64>)>,
        out: &mut BTreeMap<u64, Installed>,
    ) -> bool {
        let mut clash = false;
        for (endpoint, ep) in self.endpoints.iter().enumerate() {
            let starts = match scope {
                None => 0..u64::MAX,
                Some((e, r)) if e == endpoint => r.clone(),
                Some(_) => continue,
            };
            if !ep.enabled {
                continue;
            }
            for d in ep.decoders.iter().filter(|d| d.committed) {
                let HdmDecoderTarget::Dpa { dpa: Some(dpa), .. } = &d.target else {
                    continue;
                };
                if d.interleave_ways != 1 || d.size == 0 {
                    continue;
                }
                let range = d.base..d.base.saturating_add(d.size);
                for span in self.direct_spans(endpoint, &range) {
                    // A 1-way endpoint decoder is linear: HPA - base = DPA - start.
                    let first = dpa.start.saturating_add(span.start - d.base);
                    let sub = first..first.saturating_add(span.end - span.start).min(dpa.end);
                    if sub.start >= sub.end {
                        continue;
                    }
                    for piece in pieces(ep, &sub, &starts) {
                        let old = out.insert(
                            span.start + (piece.dpa - sub.start),
                            Installed {
                                len: piece.len,
                                backend: piece.backend,
                                offset: piece.offset,
                                endpoint,
                                dpa: piece.dpa,
                            },
                        );
                        clash |= old.is_some();
                    }
                }
            }
        }
        clash
    }
}

/// `w` grown to whole ranges of `memory` that overlap it (the ranges of an
/// endpoint never overlap each other).
fn hull_with(memory: &BTreeMap<u64, MemoryRange>, w: &Range<u64>) -> Range<u64> {
    let mut out = w.clone();
    if let Some((_, r)) = memory.range(..w.start).next_back() {
        let end = r.dpa.saturating_add(r.len);
        if end > w.start {
            out.start = r.dpa;
            out.end = out.end.max(end);
        }
    }
    if let Some((_, r)) = memory.range(w.start..w.end).next_back() {
        out.end = out.end.max(r.dpa.saturating_add(r.len));
    }
    out
}

/// `ranges` sorted, with overlapping or touching ones merged and empty
/// ones dropped.
fn coalesce(mut ranges: Vec<Range<u64>>) -> Vec<Range<u64>> {
    ranges.retain(|r| r.start < r.end);
    ranges.sort_unstable_by_key(|r| r.start);
    let mut out: Vec<Range<u64>> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match out.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    out
}

/// Whether `x` lies in one of `ranges` (sorted, disjoint).
fn in_ranges(ranges: &[Range<u64>], x: u64) -> bool {
    let i = ranges.partition_point(|r| r.end <= x);
    ranges.get(i).is_some_and(|r| r.contains(&x))
}

/// The page-aligned parts of `ep`'s backed memory inside `dpa` that start
/// in `starts` (everything: `0..u64::MAX`).
fn pieces(ep: &EndpointState, dpa: &Range<u64>, starts: &Range<u64>) -> Vec<MemoryRange> {
    let mut v = Vec::new();
    let from = dpa.start.max(starts.start);
    let to = dpa.end.min(starts.end);
    if from >= to {
        return v;
    }
    let first = ep
        .memory
        .range(..=from)
        .next_back()
        .map_or(from, |(k, _)| *k);
    for r in ep.memory.range(first..to).map(|(_, r)| r) {
        let start = r.dpa.max(dpa.start);
        let end = (r.dpa + r.len).min(dpa.end);
        if start >= end
            || !starts.contains(&start)
            || !start.is_multiple_of(4096)
            || !end.is_multiple_of(4096)
        {
            continue;
        }
        v.push(MemoryRange {
            dpa: start,
            len: end - start,
            backend: r.backend.clone(),
            offset: r.offset + (start - r.dpa),
        });
    }
    v
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
        let done = self.apply(s, stale, wanted);
        s.in_sync = done && !clash;
    }

    /// [`Self::sync`] when only `endpoint`'s backed memory in `dpa` (sorted,
    /// disjoint ranges) changed: the same unmaps and maps, in the same
    /// order, found by looking only at the memslots whose first DPA lies in
    /// those ranges. Every other wanted memslot is unchanged and, with
    /// `in_sync`, installed as it is; where that cannot be shown (pieces
    /// clash over an HPA), the full sync runs instead.
    fn sync_dpa(&self, s: &mut State, endpoint: EndpointId, dpa: &[Range<u64>]) {
        if !s.in_sync {
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
        self.lock().route(hpa).map(|(r, _)| r)
    }

    /// The HPA at which `endpoint`'s `dpa` is directly mapped, if it is.
    pub fn mapped_hpa(&self, endpoint: EndpointId, dpa: u64) -> Option<u64> {
        let s = self.lock();
        let (&(ep, start), &hpa) = s.by_dpa.range(..=(endpoint, dpa)).next_back()?;
        let len = s.installed.get(&hpa)?.len;
        (ep == endpoint && dpa - start < len).then(|| hpa + (dpa - start))
    }

    /// Installed memslots: (HPA, length).
    pub fn mappings(&self) -> Vec<(u64, u64)> {
        self.lock()
            .installed
            .iter()
            .map(|(h, i)| (*h, i.len))
            .collect()
    }

    /// What the emulated path has done so far.
    pub fn stats(&self) -> PathStats {
        self.lock().stats
    }

    /// Emulated read at `hpa` (the window's MMIO exit).
    pub fn read(&self, hpa: u64, data: &mut [u8]) {
        let mut s = self.lock();
        let mut done = 0;
        while done < data.len() {
            let Some(addr) = hpa.checked_add(done as u64) else {
                data[done..].fill(0xff);
                break;
            };
            // Granularity is at least 256 bytes: a piece never crosses a
            // 256-byte boundary, so it stays on one device.
            let n = chunk(addr, data.len() - done);
            let piece = &mut data[done..done + n];
            let hit = s
                .route(addr)
                .and_then(|(r, _)| s.backing(r.endpoint, r.dpa))
                .map(|(m, off)| (m.backend.clone(), off, m.len - (off - m.offset)));
            match hit {
                Some((backend, off, left)) if left >= n as u64 => {
                    if backend.read(off, piece).is_err() {
                        piece.fill(0xff);
                    }
                    s.stats.emulated += 1;
                }
                _ => {
                    piece.fill(0xff);
                    s.stats.unrouted += 1;
                }
            }
            done += n;
        }
    }

    /// Emulated write at `hpa`.
    pub fn write(&self, hpa: u64, data: &[u8]) {
        let mut s = self.lock();
        let mut done = 0;
        while done < data.len() {
            let Some(addr) = hpa.checked_add(done as u64) else {
                break;
            };
            let n = chunk(addr, data.len() - done);
            let piece = &data[done..done + n];
            let hit = s
                .route(addr)
                .and_then(|(r, _)| s.backing(r.endpoint, r.dpa))
                .map(|(m, off)| (m.backend.clone(), off, m.len - (off - m.offset)));
            match hit {
                Some((backend, off, left)) if left >= n as u64 => {
                    let _ = backend.write(off, piece);
                    s.stats.emulated += 1;
                }
                _ => s.stats.unrouted += 1,
            }
            done += n;
        }
    }
}

/// How many bytes from `addr` stay within its 256-byte chunk (at most `left`).
fn chunk(addr: u64, left: usize) -> usize {
    let room = 256 - (addr % 256) as usize;
    room.min(left)
}

#[cfg(test)]
#[path = "fabric_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "fabric_update_tests.rs"]
mod update_tests;
