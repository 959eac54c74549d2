//! The one test rig for the CXL memory path, shared by the unit tests, the
//! benchmark (`benches/dcd_scale.rs`) and the fuzz harnesses (feature
//! `test-rig`).
//!
//! - [`RecordingMapper`]: a [`GuestMemoryMapper`] that records memslots
//!   instead of installing them and holds the memory path to the rules the
//!   VMM's memory manager enforces (non-empty, page-aligned, inside the
//!   backend, never overlapping, only installed slots removed): a request
//!   that breaks one panics. It counts calls and, when asked, logs them; it
//!   can be told to refuse maps or unmaps, composes interleaves only when
//!   asked to, and reports the mapping budget it is given.
//! - [`one_window`]: the memory path of one 1-way window over one host
//!   bridge with one root port and one endpoint.
//! - [`memfd`]: a shared memfd backend.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::decode::Interleave;
use super::fabric::{CxlMemoryPath, GuestMemoryMapper, HostBridgeDesc, Topology, WindowDesc};
use crate::memory::{BackendConfig, BackendKind, ComposedPiece, HostMemory};

/// Base HPA of the window [`one_window`] builds.
pub const WINDOW: u64 = 0x80_0000_0000;

const PAGE: u64 = 4096;

/// One piece of a composed memslot: (offset in the slot, length, the
/// backend's host address, offset in the backend).
pub type PieceRecord = (u64, u64, u64, u64);

/// One recorded memslot.
#[derive(Clone, Debug)]
pub struct Slot {
    /// Guest physical address.
    pub gpa: u64,
    /// Length in bytes.
    pub len: u64,
    /// Offset into the backend (0 for a composed slot).
    pub offset: u64,
    /// The backend behind it (`None` for a composed slot).
    pub backend: Option<Arc<HostMemory>>,
    /// The pieces of a composed slot (empty for a plain one).
    pub pieces: Vec<PieceRecord>,
}

/// A call the memory path made, refused ones included.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MapperCall {
    /// `map(gpa, _, offset, len)`.
    Map(u64, u64, u64),
    /// `map_composed(gpa, len, pieces)`.
    Compose(u64, u64, Vec<PieceRecord>),
    /// `unmap(gpa)`.
    Unmap(u64),
}

/// Memslots by guest physical address, and every call that asked for them.
pub struct RecordingMapper {
    slots: Mutex<BTreeMap<u64, Slot>>,
    calls: Mutex<Vec<MapperCall>>,
    log_calls: AtomicBool,
    compose: AtomicBool,
    fail_map: AtomicBool,
    fail_unmap: AtomicBool,
    maps: AtomicU64,
    unmaps: AtomicU64,
    budget: AtomicU64,
}

impl Default for RecordingMapper {
    fn default() -> Self {
        Self {
            slots: Mutex::default(),
            calls: Mutex::default(),
            log_calls: AtomicBool::new(false),
            compose: AtomicBool::new(false),
            fail_map: AtomicBool::new(false),
            fail_unmap: AtomicBool::new(false),
            maps: AtomicU64::new(0),
            unmaps: AtomicU64::new(0),
            budget: AtomicU64::new(u64::MAX),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl RecordingMapper {
    /// A mapper with nothing mapped that refuses to compose (composed
    /// ranges stay on the trapped path).
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// A mapper with nothing mapped that composes interleaves.
    pub fn composing() -> Arc<Self> {
        let m = Self::default();
        m.compose.store(true, Ordering::SeqCst);
        Arc::new(m)
    }

    /// Log every call from now on (for [`Self::take_calls`]), or stop.
    pub fn log_calls(&self, on: bool) {
        self.log_calls.store(on, Ordering::SeqCst);
    }

    /// The host mappings a composition may use from now on (unlimited
    /// until set).
    pub fn set_mapping_budget(&self, budget: u64) {
        self.budget.store(budget, Ordering::SeqCst);
    }

    /// Refuse (or accept again) every map and composed map.
    pub fn fail_maps(&self, fail: bool) {
        self.fail_map.store(fail, Ordering::SeqCst);
    }

    /// Refuse (or accept again) every unmap.
    pub fn fail_unmaps(&self, fail: bool) {
        self.fail_unmap.store(fail, Ordering::SeqCst);
    }

    /// Every installed slot, in address order.
    pub fn slots(&self) -> Vec<Slot> {
        lock(&self.slots).values().cloned().collect()
    }

    /// (gpa, len) of every installed slot, in address order.
    pub fn ranges(&self) -> Vec<(u64, u64)> {
        lock(&self.slots).values().map(|s| (s.gpa, s.len)).collect()
    }

    /// (gpa, backend offset, len) of every installed slot, in address
    /// order.
    pub fn maps(&self) -> Vec<(u64, u64, u64)> {
        lock(&self.slots)
            .values()
            .map(|s| (s.gpa, s.offset, s.len))
            .collect()
    }

    /// The length and pieces of each installed composed slot, by address.
    pub fn composed(&self) -> BTreeMap<u64, (u64, Vec<PieceRecord>)> {
        lock(&self.slots)
            .values()
            .filter(|s| !s.pieces.is_empty())
            .map(|s| (s.gpa, (s.len, s.pieces.clone())))
            .collect()
    }

    /// Number of installed slots.
    pub fn len(&self) -> usize {
        lock(&self.slots).len()
    }

    /// True if nothing is mapped.
    pub fn is_empty(&self) -> bool {
        lock(&self.slots).is_empty()
    }

    /// The calls logged so far, oldest first, and forgets them.
    pub fn take_calls(&self) -> Vec<MapperCall> {
        std::mem::take(&mut *lock(&self.calls))
    }

    /// How many maps (plain or composed) and unmaps were asked for,
    /// refused ones included.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.maps.load(Ordering::Relaxed),
            self.unmaps.load(Ordering::Relaxed),
        )
    }

    fn note(&self, call: MapperCall) {
        match call {
            MapperCall::Unmap(_) => self.unmaps.fetch_add(1, Ordering::Relaxed),
            _ => self.maps.fetch_add(1, Ordering::Relaxed),
        };
        if self.log_calls.load(Ordering::SeqCst) {
            lock(&self.calls).push(call);
        }
    }

    /// Installs `slot` after the memory manager's checks.
    fn install(&self, slot: Slot) {
        let (gpa, len) = (slot.gpa, slot.len);
        assert!(
            len > 0 && gpa.is_multiple_of(PAGE) && len.is_multiple_of(PAGE),
            "memory path asked for a bad memslot: gpa {gpa:#x} len {len:#x}"
        );
        let end = gpa.checked_add(len).expect("memslot wraps");
        let mut slots = lock(&self.slots);
        assert!(!slots.contains_key(&gpa), "double map at {gpa:#x}");
        if let Some((_, prev)) = slots.range(..end).next_back() {
            assert!(
                prev.gpa + prev.len <= gpa,
                "memslot {gpa:#x}+{len:#x} overlaps {:#x}+{:#x}",
                prev.gpa,
                prev.len
            );
        }
        slots.insert(gpa, slot);
    }
}

impl GuestMemoryMapper for RecordingMapper {
    fn map(
        &self,
        gpa: u64,
        backend: &Arc<HostMemory>,
        offset: u64,
        len: u64,
    ) -> Result<(), String> {
        self.note(MapperCall::Map(gpa, offset, len));
        if self.fail_map.load(Ordering::SeqCst) {
            return Err("refused".into());
        }
        assert!(
            offset.is_multiple_of(PAGE),
            "memslot at {gpa:#x} from backend offset {offset:#x}, not page aligned"
        );
        assert!(
            offset.checked_add(len).is_some_and(|e| e <= backend.size()),
            "memslot {gpa:#x}+{len:#x} reaches past backend '{}' ({offset:#x}, size {:#x})",
            backend.id(),
            backend.size()
        );
        self.install(Slot {
            gpa,
            len,
            offset,
            backend: Some(backend.clone()),
            pieces: Vec::new(),
        });
        Ok(())
    }

    fn map_composed(&self, gpa: u64, len: u64, pieces: &[ComposedPiece]) -> Result<(), String> {
        if !self.compose.load(Ordering::SeqCst) {
            return Err("this mapper does not compose mappings".into());
        }
        let pieces: Vec<PieceRecord> = pieces
            .iter()
            .map(|p| (p.at, p.len, p.backend.host_addr(), p.offset))
            .collect();
        self.note(MapperCall::Compose(gpa, len, pieces.clone()));
        if self.fail_map.load(Ordering::SeqCst) {
            return Err("refused".into());
        }
        self.install(Slot {
            gpa,
            len,
            offset: 0,
            backend: None,
            pieces,
        });
        Ok(())
    }

    fn mapping_budget(&self) -> u64 {
        self.budget.load(Ordering::SeqCst)
    }

    fn unmap(&self, gpa: u64) -> Result<(), String> {
        self.note(MapperCall::Unmap(gpa));
        if self.fail_unmap.load(Ordering::SeqCst) {
            return Err("refused".into());
        }
        let removed = lock(&self.slots).remove(&gpa);
        assert!(
            removed.is_some(),
            "memory path unmapped {gpa:#x}, not mapped"
        );
        Ok(())
    }
}

/// A shared memfd backend of `size` bytes.
pub fn memfd(id: &str, size: u64, tag: Option<uuid::Uuid>) -> Arc<HostMemory> {
    Arc::new(
        HostMemory::new(BackendConfig {
            id: id.into(),
            kind: BackendKind::Memfd,
            path: None,
            size,
            share: true,
            prealloc: false,
            tag,
        })
        .expect("a memfd backend"),
    )
}

/// The topology of [`one_window`].
pub fn one_window_topology(size: u64) -> Topology {
    Topology {
        windows: vec![WindowDesc {
            base: WINDOW,
            size,
            interleave: Interleave::new(1, 256).expect("1-way interleave"),
            targets: vec![0],
        }],
        host_bridges: vec![HostBridgeDesc {
            root_ports: vec![(0, Some(0))],
            has_hdm: false,
        }],
        endpoints: 1,
    }
}

/// The memory path of one 1-way window of `size` bytes at [`WINDOW`] over
/// one host bridge with one root port and endpoint 0, mapping through
/// `mapper`.
pub fn one_window(size: u64, mapper: Arc<RecordingMapper>) -> CxlMemoryPath {
    CxlMemoryPath::new(one_window_topology(size), mapper)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_maps_and_unmaps() {
        let m = RecordingMapper::new();
        m.log_calls(true);
        let b = memfd("t", 1 << 21, None);
        m.map(0x1000_0000, &b, 0, 1 << 20).unwrap();
        m.map(0x1010_0000, &b, 1 << 20, 1 << 20).unwrap();
        assert_eq!(
            m.ranges(),
            vec![(0x1000_0000, 1 << 20), (0x1010_0000, 1 << 20)]
        );
        m.unmap(0x1000_0000).unwrap();
        assert_eq!(m.maps(), vec![(0x1010_0000, 1 << 20, 1 << 20)]);
        assert_eq!(m.counts(), (2, 1));
        assert_eq!(m.take_calls().len(), 3);
        m.fail_maps(true);
        assert!(m.map(0x2000_0000, &b, 0, 4096).is_err());
        m.fail_unmaps(true);
        assert!(m.unmap(0x1010_0000).is_err());
        assert_eq!(m.len(), 1);
    }

    #[test]
    fn composes_only_when_asked() {
        assert!(RecordingMapper::new()
            .map_composed(0, 4096, &[])
            .unwrap_err()
            .contains("does not compose"));
    }

    #[test]
    #[should_panic(expected = "overlaps")]
    fn overlap_is_a_bug() {
        let m = RecordingMapper::new();
        let b = memfd("t", 1 << 21, None);
        m.map(0x1000_0000, &b, 0, 1 << 21).unwrap();
        m.map(0x1010_0000, &b, 0, 1 << 20).unwrap();
    }

    #[test]
    #[should_panic(expected = "past backend")]
    fn mapping_past_the_backend_is_a_bug() {
        let m = RecordingMapper::new();
        m.map(0, &memfd("t", 1 << 20, None), 4096, 1 << 20).unwrap();
    }

    #[test]
    #[should_panic(expected = "not mapped")]
    fn unmapping_nothing_is_a_bug() {
        RecordingMapper::new().unmap(0).unwrap();
    }
}
