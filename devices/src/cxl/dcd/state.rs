//! The device's Dynamic Capacity state: every live extent with its one
//! owner state, the pending offer chains, the generation number and a
//! bounded history of extents that left (CXL 3.1 9.13.3). What a change
//! means for memory is returned to the caller as [`DcdEffect`]s.
//!
//! Live extents sit in a map keyed by starting DPA; they never overlap, so
//! "which extent holds DPA x" and "what overlaps this range" are ordered
//! map lookups. Host commands ([`super::host`]) and operator requests
//! ([`super::operator`]) validate everything first and only then mutate
//! through the helpers here.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use uuid::Uuid;

use super::extent::{
    DcExtent, DcdEffect, ExtentInfo, ExtentOutcome, ExtentRange, ExtentState, ExtentStatus,
    HistoryEntry,
};
use super::region::{DcConfig, DcRegion};
use crate::memory::HostMemory;

/// The state of a live extent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LiveState {
    /// Offered in chain `chain`.
    Offered {
        /// The chain's id.
        chain: u64,
    },
    /// Accepted by the host.
    Accepted,
    /// A Release Capacity record asked for it; `sanitize` applies when the
    /// host gives it back.
    ReleasePending {
        /// Sanitize requested by the operator.
        sanitize: bool,
    },
}

impl LiveState {
    pub(crate) fn public(self) -> ExtentState {
        match self {
            Self::Offered { .. } => ExtentState::Pending,
            Self::Accepted => ExtentState::Accepted,
            Self::ReleasePending { .. } => ExtentState::ReleasePending,
        }
    }

    /// Accepted or release pending: the host holds it.
    pub(crate) fn held(self) -> bool {
        matches!(self, Self::Accepted | Self::ReleasePending { .. })
    }
}

/// A live extent (its DPA is the map key).
#[derive(Clone, Debug)]
pub(crate) struct Live {
    pub(crate) len: u64,
    pub(crate) region: u8,
    pub(crate) tag: Uuid,
    pub(crate) shared_seq: u16,
    pub(crate) backend: Option<Arc<HostMemory>>,
    pub(crate) state: LiveState,
}

impl Live {
    pub(crate) fn range(&self, dpa: u64) -> ExtentRange {
        ExtentRange::new(dpa, self.len)
    }
}

/// An Add Capacity record of a chain as posted to the Dynamic Capacity
/// Event Log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ChainRecord {
    /// The extent it offers.
    pub(crate) range: ExtentRange,
    /// Its Event Record Handle in the log.
    pub(crate) handle: u16,
}

/// An Add Capacity offer: the records of one More chain.
#[derive(Clone, Debug)]
pub(crate) struct Chain {
    pub(crate) id: u64,
    /// Offered extents not yet answered (DPA keys).
    pub(crate) remaining: BTreeSet<u64>,
    /// Its records, in log order (those the device took back before the
    /// host read them are gone).
    pub(crate) records: Vec<ChainRecord>,
    /// Extents of it the operator withdrew.
    pub(crate) withdrawn: Vec<ExtentRange>,
}

impl Chain {
    /// Every extent of the offer was withdrawn or answered and some were
    /// withdrawn: all the host can still do is close it.
    pub(crate) fn withdrawn_whole(&self) -> bool {
        self.remaining.is_empty() && !self.withdrawn.is_empty()
    }

    /// Whether `range` lies in an extent of it the operator withdrew.
    pub(crate) fn names_withdrawn(&self, range: ExtentRange) -> bool {
        self.withdrawn.iter().any(|w| w.contains(&range))
    }
}

/// Part of a range that falls in one live extent.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Piece {
    /// The live extent's key.
    pub(crate) key: u64,
    /// The whole live extent.
    pub(crate) extent: ExtentRange,
    /// The part of the range inside it.
    pub(crate) cut: ExtentRange,
    pub(crate) state: LiveState,
    pub(crate) backed: bool,
}

impl Piece {
    pub(crate) fn partial(&self) -> bool {
        self.cut != self.extent
    }
}

/// The Dynamic Capacity state of a device.
#[derive(Debug)]
pub struct DcdState {
    pub(crate) regions: Vec<DcRegion>,
    pub(crate) static_backing: bool,
    pub(crate) max_extents: u32,
    history_depth: usize,
    pub(crate) extents: BTreeMap<u64, Live>,
    tags: HashMap<Uuid, BTreeSet<u64>>,
    pub(crate) chains: VecDeque<Chain>,
    next_chain: u64,
    held: usize,
    generation: u32,
    history: VecDeque<HistoryEntry>,
    /// The held extents' keys in DPA order, for Get DC Extent List's
    /// Starting Extent Index: a host reads the list page by page, and a
    /// page's cost must not grow with its index. Rebuilt on the first read
    /// after the list changed (its generation or count differs).
    held_index: RefCell<HeldIndex>,
}

/// The held extents' keys as of one generation of the list.
#[derive(Debug, Default)]
struct HeldIndex {
    /// (generation, held count) the keys were taken at.
    taken_at: Option<(u32, usize)>,
    keys: Vec<u64>,
}

impl DcdState {
    /// State for the resolved `regions` of `config`, with no extents.
    pub fn new(regions: Vec<DcRegion>, config: &DcConfig) -> Self {
        Self {
            regions,
            static_backing: config.static_backing,
            max_extents: config.max_extents,
            history_depth: config.history_depth as usize,
            extents: BTreeMap::new(),
            tags: HashMap::new(),
            chains: VecDeque::new(),
            next_chain: 1,
            held: 0,
            generation: 0,
            history: VecDeque::new(),
            held_index: RefCell::new(HeldIndex::default()),
        }
    }

    /// The DC regions, in index (and DPA) order.
    pub fn regions(&self) -> &[DcRegion] {
        &self.regions
    }

    /// Region `index`.
    pub fn region(&self, index: u8) -> Option<&DcRegion> {
        self.regions.get(usize::from(index))
    }

    /// True if the device model backs the whole DC range with memory.
    pub fn has_static_backing(&self) -> bool {
        self.static_backing
    }

    /// End of the DC DPA space (end of the last region's decode range), or
    /// `None` without regions.
    pub fn dpa_end(&self) -> Option<u64> {
        self.regions.last().map(DcRegion::decode_end)
    }

    /// Total Number of Supported Extents.
    pub fn max_extents(&self) -> u32 {
        self.max_extents
    }

    /// Live extents (offered, accepted, release pending).
    pub fn live_count(&self) -> usize {
        self.extents.len()
    }

    /// Number of Available Extents: more extents the device can track.
    pub fn available_extents(&self) -> u32 {
        let used = u32::try_from(self.extents.len()).unwrap_or(u32::MAX);
        self.max_extents.saturating_sub(used)
    }

    /// Total Number of Supported Tags (one per extent at most).
    pub fn max_tags(&self) -> u32 {
        self.max_extents
    }

    /// Number of Available Tags.
    pub fn available_tags(&self) -> u32 {
        let used = u32::try_from(self.tags.len()).unwrap_or(u32::MAX);
        self.max_extents.saturating_sub(used)
    }

    /// Extents the host holds (accepted or release pending): the Total
    /// Extent Count of Get Dynamic Capacity Extent List.
    pub fn held_count(&self) -> usize {
        self.held
    }

    /// Extent List Generation Number: changes whenever the accepted list
    /// changes.
    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// Add Capacity chains waiting for the host's response.
    pub fn pending_chains(&self) -> usize {
        self.chains.len()
    }

    /// Every live extent with its state, in DPA order.
    pub fn extents(&self) -> Vec<ExtentInfo> {
        self.extents
            .iter()
            .map(|(k, l)| ExtentInfo {
                extent: self.to_extent(*k, l),
                state: l.state.public(),
            })
            .collect()
    }

    /// The extents the host holds (accepted or release pending) in DPA
    /// order: what the memory path must map.
    pub fn accepted_extents(&self) -> Vec<DcExtent> {
        self.held_extents(0, usize::MAX)
    }

    /// Up to `count` held extents starting at index `start` (DPA order).
    /// Costs the page's length, whatever `start` (see `held_index`).
    pub fn held_extents(&self, start: usize, count: usize) -> Vec<DcExtent> {
        let now = Some((self.generation, self.held));
        let mut index = self.held_index.borrow_mut();
        if index.taken_at != now {
            index.keys.clear();
            index.keys.extend(
                self.extents
                    .iter()
                    .filter(|(_, l)| l.state.held())
                    .map(|(k, _)| *k),
            );
            index.taken_at = now;
        }
        let end = start.saturating_add(count).min(index.keys.len());
        index
            .keys
            .get(start..end)
            .unwrap_or_default()
            .iter()
            .filter_map(|k| self.extents.get(k).map(|l| self.to_extent(*k, l)))
            .collect()
    }

    /// Released and declined extents remembered, oldest first.
    pub fn history(&self) -> impl Iterator<Item = &HistoryEntry> {
        self.history.iter()
    }

    /// The live extents carrying `tag`, in DPA order.
    pub fn extents_by_tag(&self, tag: Uuid) -> Vec<ExtentInfo> {
        self.tags
            .get(&tag)
            .into_iter()
            .flatten()
            .filter_map(|k| {
                self.extents.get(k).map(|l| ExtentInfo {
                    extent: self.to_extent(*k, l),
                    state: l.state.public(),
                })
            })
            .collect()
    }

    /// Status of the extents tagged `tag`: pending if any is offered, else
    /// release-pending if any is, else accepted; for a tag with no live
    /// extent, how its last extent left; not-found otherwise (and for the
    /// nil tag).
    pub fn status_by_tag(&self, tag: Uuid) -> ExtentStatus {
        if tag.is_nil() {
            return ExtentStatus::NotFound;
        }
        let states: Vec<ExtentState> = self
            .tags
            .get(&tag)
            .into_iter()
            .flatten()
            .filter_map(|k| self.extents.get(k).map(|l| l.state.public()))
            .collect();
        for s in [
            ExtentState::Pending,
            ExtentState::ReleasePending,
            ExtentState::Accepted,
        ] {
            if states.contains(&s) {
                return s.into();
            }
        }
        self.history
            .iter()
            .rev()
            .find(|h| h.tag == tag)
            .map_or(ExtentStatus::NotFound, |h| h.outcome.status())
    }

    /// Status of the extent at `offset` (from the base of region `region`)
    /// of exactly `len` bytes.
    pub fn status_by_extent(&self, region: u8, offset: u64, len: u64) -> ExtentStatus {
        let Some(dpa) = self.region(region).and_then(|r| r.base.checked_add(offset)) else {
            return ExtentStatus::NotFound;
        };
        if let Some(l) = self.extents.get(&dpa) {
            if l.len == len {
                return l.state.public().into();
            }
        }
        self.history
            .iter()
            .rev()
            .find(|h| h.dpa == dpa && h.len == len)
            .map_or(ExtentStatus::NotFound, |h| h.outcome.status())
    }

    /// Cold reset: the event log is lost, so pending offers are declined
    /// (no host will answer them) and extents waiting for a release go back
    /// to accepted (the host never saw the request; the operator may ask
    /// again). Accepted extents stay. Returns the declined offers.
    pub fn cold_reset(&mut self) -> Vec<DcdEffect> {
        let mut fx = Vec::new();
        while let Some(chain) = self.chains.pop_front() {
            self.decline_remaining(&chain, &mut fx);
        }
        for l in self.extents.values_mut() {
            if matches!(l.state, LiveState::ReleasePending { .. }) {
                l.state = LiveState::Accepted;
            }
        }
        fx
    }

    // ---- helpers for host commands and operator requests ----

    /// The extent as the outside sees it.
    pub(crate) fn to_extent(&self, dpa: u64, l: &Live) -> DcExtent {
        let base = self.region(l.region).map_or(0, |r| r.base);
        DcExtent {
            dpa,
            len: l.len,
            region: l.region,
            region_offset: dpa.saturating_sub(base),
            tag: l.tag,
            shared_seq: l.shared_seq,
            backend: l.backend.clone(),
        }
    }

    /// The region `range` lies entirely in.
    pub(crate) fn region_for(&self, range: ExtentRange) -> Option<&DcRegion> {
        self.regions
            .iter()
            .find(|r| r.contains(range.dpa, range.len))
    }

    /// The live extent holding `dpa`.
    pub(crate) fn containing(&self, dpa: u64) -> Option<(u64, &Live)> {
        let (k, l) = self.extents.range(..=dpa).next_back()?;
        (dpa < k.saturating_add(l.len)).then_some((*k, l))
    }

    /// The first live extent overlapping `range`.
    pub(crate) fn first_overlap(&self, range: ExtentRange) -> Option<(u64, &Live)> {
        if let Some(hit) = self.containing(range.dpa) {
            return Some(hit);
        }
        self.extents
            .range(range.dpa..range.end_sat())
            .next()
            .map(|(k, l)| (*k, l))
    }

    /// The live extents covering `range` without a gap, cut to it; `None`
    /// if some byte of the range is in no live extent.
    pub(crate) fn cover(&self, range: ExtentRange) -> Option<Vec<Piece>> {
        let end = range.end()?;
        let (start, _) = self.containing(range.dpa)?;
        let mut cursor = range.dpa;
        let mut pieces = Vec::new();
        for (k, l) in self.extents.range(start..end) {
            if *k > cursor {
                return None;
            }
            let extent = l.range(*k);
            let cut_end = extent.end_sat().min(end);
            pieces.push(Piece {
                key: *k,
                extent,
                cut: ExtentRange::new(cursor, cut_end - cursor),
                state: l.state,
                backed: l.backend.is_some(),
            });
            cursor = cut_end;
        }
        (cursor == end).then_some(pieces)
    }

    /// New extents that cutting live extents to the pieces' cuts creates
    /// (each distinct cut point strictly inside an extent adds one).
    pub(crate) fn split_count(pieces: &[Piece]) -> usize {
        let mut points = BTreeSet::new();
        for p in pieces {
            if p.cut.dpa > p.extent.dpa {
                points.insert(p.cut.dpa);
            }
            if p.cut.end_sat() < p.extent.end_sat() {
                points.insert(p.cut.end_sat());
            }
        }
        points.len()
    }

    /// Whether the device can track `more` more extents.
    pub(crate) fn can_track(&self, more: usize) -> bool {
        self.extents.len().saturating_add(more) <= self.max_extents as usize
    }

    /// Inserts a live extent at `dpa`.
    pub(crate) fn insert(&mut self, dpa: u64, live: Live) {
        if !live.tag.is_nil() {
            self.tags.entry(live.tag).or_default().insert(dpa);
        }
        if live.state.held() {
            self.held += 1;
        }
        if let Some(old) = self.extents.insert(dpa, live) {
            crate::error_limited!("cxl dcd: extent at DPA {dpa:#x} inserted twice");
            self.unindex(dpa, &old);
        }
    }

    fn unindex(&mut self, dpa: u64, live: &Live) {
        if !live.tag.is_nil() {
            if let Some(set) = self.tags.get_mut(&live.tag) {
                set.remove(&dpa);
                if set.is_empty() {
                    self.tags.remove(&live.tag);
                }
            }
        }
        if live.state.held() {
            self.held = self.held.saturating_sub(1);
        }
    }

    /// Removes the live extent at `dpa`.
    pub(crate) fn remove(&mut self, dpa: u64) -> Option<Live> {
        let live = self.extents.remove(&dpa)?;
        self.unindex(dpa, &live);
        Some(live)
    }

    /// Changes the state of the extent at `dpa`.
    pub(crate) fn set_state(&mut self, dpa: u64, state: LiveState) {
        let Some(l) = self.extents.get_mut(&dpa) else {
            return;
        };
        let (was, now) = (l.state.held(), state.held());
        l.state = state;
        if was && !now {
            self.held = self.held.saturating_sub(1);
        } else if now && !was {
            self.held += 1;
        }
    }

    /// Splits the unbacked live extent holding `at` so that a new extent
    /// starts at `at` (no-op if one already does). Backed extents are never
    /// split; callers refuse partial ranges of them first.
    fn split_at(&mut self, at: u64) {
        let Some((key, l)) = self.containing(at) else {
            return;
        };
        if key == at {
            return;
        }
        if l.backend.is_some() {
            crate::error_limited!("cxl dcd: refusing to split backed extent at DPA {key:#x}");
            return;
        }
        let mut tail = l.clone();
        let head_len = at - key;
        tail.len = l.len.saturating_sub(head_len);
        if let Some(h) = self.extents.get_mut(&key) {
            h.len = head_len;
        }
        if let LiveState::Offered { chain } = tail.state {
            if let Some(c) = self.chains.iter_mut().find(|c| c.id == chain) {
                c.remaining.insert(at);
            }
        }
        self.insert(at, tail);
    }

    /// Makes `range` exactly one live extent (splitting unbacked extents at
    /// its edges) and returns its key.
    pub(crate) fn isolate(&mut self, range: ExtentRange) -> u64 {
        self.split_at(range.dpa);
        self.split_at(range.end_sat());
        range.dpa
    }

    /// Starts a new chain and returns its id.
    pub(crate) fn open_chain(&mut self) -> u64 {
        let id = self.next_chain;
        self.next_chain = self.next_chain.wrapping_add(1);
        self.chains.push_back(Chain {
            id,
            remaining: BTreeSet::new(),
            records: Vec::new(),
            withdrawn: Vec::new(),
        });
        id
    }

    /// Declines every extent still offered in `chain`, adding what that
    /// means for memory to `fx`.
    pub(crate) fn decline_remaining(&mut self, chain: &Chain, fx: &mut Vec<DcdEffect>) {
        for dpa in &chain.remaining {
            let offered = matches!(
                self.extents.get(dpa).map(|l| l.state),
                Some(LiveState::Offered { chain: c }) if c == chain.id
            );
            if !offered {
                continue;
            }
            if let Some(l) = self.remove(*dpa) {
                let extent = self.to_extent(*dpa, &l);
                self.remember(&extent, ExtentOutcome::Declined);
                fx.push(DcdEffect::Declined { extent });
            }
        }
    }

    /// Takes the extent at `dpa` away from the host, adding the unmap to
    /// `fx`.
    pub(crate) fn release(
        &mut self,
        dpa: u64,
        forced: bool,
        fx: &mut Vec<DcdEffect>,
    ) -> Option<DcExtent> {
        let l = self.remove(dpa)?;
        let region_sanitize = self.region(l.region).is_some_and(|r| r.sanitize_on_release);
        let requested = matches!(l.state, LiveState::ReleasePending { sanitize: true });
        let extent = self.to_extent(dpa, &l);
        let outcome = if forced {
            ExtentOutcome::ForcedReleased
        } else {
            ExtentOutcome::Released
        };
        self.remember(&extent, outcome);
        fx.push(DcdEffect::Released {
            extent: extent.clone(),
            sanitize: region_sanitize || requested,
            forced,
        });
        Some(extent)
    }

    /// Marks the offered extent at `dpa` accepted, adding the map to `fx`.
    pub(crate) fn accept(&mut self, dpa: u64, fx: &mut Vec<DcdEffect>) {
        self.set_state(dpa, LiveState::Accepted);
        if let Some(l) = self.extents.get(&dpa) {
            let extent = self.to_extent(dpa, l);
            fx.push(DcdEffect::Accepted { extent });
        }
    }

    pub(crate) fn remember(&mut self, extent: &DcExtent, outcome: ExtentOutcome) {
        if self.history_depth == 0 {
            return;
        }
        while self.history.len() >= self.history_depth {
            self.history.pop_front();
        }
        self.history.push_back(HistoryEntry {
            dpa: extent.dpa,
            len: extent.len,
            region: extent.region,
            region_offset: extent.region_offset,
            tag: extent.tag,
            backend_id: extent.backend_id().map(str::to_string),
            outcome,
        });
    }

    /// Notes that the accepted list changed.
    pub(crate) fn bump_generation(&mut self) {
        self.generation = self.generation.wrapping_add(1);
    }

    /// True if a live extent is backed by `backend` (same memory or id).
    pub(crate) fn backend_in_use(&self, backend: &Arc<HostMemory>) -> bool {
        self.extents.values().any(|l| {
            l.backend
                .as_ref()
                .is_some_and(|b| Arc::ptr_eq(b, backend) || b.id() == backend.id())
        })
    }

    /// True if live extents carry `tag`.
    pub fn tag_in_use(&self, tag: Uuid) -> bool {
        self.tags.contains_key(&tag)
    }

    /// Keys of the live extents carrying `tag`, in DPA order.
    pub(crate) fn tag_keys(&self, tag: Uuid) -> Vec<u64> {
        self.tags
            .get(&tag)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default()
    }
}
