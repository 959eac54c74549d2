//! A [`GuestMemoryMapper`] that records memslots instead of installing them,
//! and holds the memory path to the rules the VMM's memory manager enforces
//! (page-aligned, non-empty, inside the backend, never overlapping, only
//! installed slots removed). A request that breaks one is a bug in the
//! memory path, so it panics and the fuzzer reports it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use devices::cxl::fabric::GuestMemoryMapper;
use devices::memory::HostMemory;

/// One recorded memslot.
#[derive(Clone, Debug)]
pub struct Slot {
    /// Guest physical address.
    pub gpa: u64,
    /// Length in bytes.
    pub len: u64,
    /// Offset into the backend.
    pub offset: u64,
    /// The backend behind it.
    pub backend: Arc<HostMemory>,
}

/// Memslots by guest physical address.
#[derive(Default)]
pub struct RecordingMapper {
    slots: Mutex<BTreeMap<u64, Slot>>,
}

const PAGE: u64 = 4096;

impl RecordingMapper {
    /// A new mapper with nothing mapped.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<u64, Slot>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every installed slot, in address order.
    pub fn slots(&self) -> Vec<Slot> {
        self.lock().values().cloned().collect()
    }

    /// (gpa, len) of every installed slot, in address order.
    pub fn ranges(&self) -> Vec<(u64, u64)> {
        self.lock().values().map(|s| (s.gpa, s.len)).collect()
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
        assert!(
            len > 0
                && gpa.is_multiple_of(PAGE)
                && len.is_multiple_of(PAGE)
                && offset.is_multiple_of(PAGE),
            "memory path asked for a bad memslot: gpa {gpa:#x} len {len:#x} offset {offset:#x}"
        );
        let end = gpa.checked_add(len).expect("memslot wraps");
        assert!(
            offset.checked_add(len).is_some_and(|e| e <= backend.size()),
            "memslot {gpa:#x}+{len:#x} reaches past backend '{}' ({offset:#x}, size {:#x})",
            backend.id(),
            backend.size()
        );
        let mut slots = self.lock();
        if let Some((_, prev)) = slots.range(..end).next_back() {
            assert!(
                prev.gpa + prev.len <= gpa,
                "memslot {gpa:#x}+{len:#x} overlaps {:#x}+{:#x}",
                prev.gpa,
                prev.len
            );
        }
        slots.insert(
            gpa,
            Slot {
                gpa,
                len,
                offset,
                backend: backend.clone(),
            },
        );
        Ok(())
    }

    fn unmap(&self, gpa: u64) -> Result<(), String> {
        let removed = self.lock().remove(&gpa);
        assert!(
            removed.is_some(),
            "memory path unmapped {gpa:#x}, not mapped"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use devices::memory::{BackendConfig, BackendKind};

    fn memfd(size: u64) -> Arc<HostMemory> {
        Arc::new(
            HostMemory::new(BackendConfig {
                id: "t".into(),
                kind: BackendKind::Memfd,
                path: None,
                size,
                share: true,
                prealloc: false,
                tag: None,
            })
            .unwrap(),
        )
    }

    #[test]
    fn records_maps_and_unmaps() {
        let m = RecordingMapper::new();
        let b = memfd(1 << 21);
        m.map(0x1000_0000, &b, 0, 1 << 20).unwrap();
        m.map(0x1010_0000, &b, 1 << 20, 1 << 20).unwrap();
        assert_eq!(
            m.ranges(),
            vec![(0x1000_0000, 1 << 20), (0x1010_0000, 1 << 20)]
        );
        m.unmap(0x1000_0000).unwrap();
        assert_eq!(m.ranges(), vec![(0x1010_0000, 1 << 20)]);
    }

    #[test]
    #[should_panic(expected = "overlaps")]
    fn overlap_is_a_bug() {
        let m = RecordingMapper::new();
        let b = memfd(1 << 21);
        m.map(0x1000_0000, &b, 0, 1 << 21).unwrap();
        m.map(0x1010_0000, &b, 0, 1 << 20).unwrap();
    }

    #[test]
    #[should_panic(expected = "past backend")]
    fn mapping_past_the_backend_is_a_bug() {
        let m = RecordingMapper::new();
        m.map(0, &memfd(1 << 20), 4096, 1 << 20).unwrap();
    }

    #[test]
    #[should_panic(expected = "not mapped")]
    fn unmapping_nothing_is_a_bug() {
        RecordingMapper::new().unmap(0).unwrap();
    }
}
