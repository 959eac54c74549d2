//! The memory manager: guest RAM and every KVM memslot.
//!
//! Devices never touch KVM. Whatever needs guest-physical memory mapped (RAM
//! at start-up, CXL capacity when decoders commit or extents are accepted)
//! asks the memory manager, which owns slot numbers and
//! `KVM_SET_USER_MEMORY_REGION`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use devices::memory::composed::MapBudget;
use devices::memory::{ComposedMapping, ComposedPiece};
use devices::trace::json;
use kvm_bindings::kvm_userspace_memory_region;
use kvm_ioctls::VmFd;
use thiserror::Error;
use vm_memory::{GuestAddress, GuestMemoryBackend, GuestMemoryMmap, GuestMemoryRegion};

/// Errors from memory management.
#[derive(Debug, Error)]
pub enum MemoryError {
    /// Creating the RAM mappings failed.
    #[error("cannot allocate guest RAM: {0}")]
    Alloc(String),
    /// All memslots are in use.
    #[error("no free KVM memslot (limit {0})")]
    NoSlot(u32),
    /// The range overlaps an existing mapping.
    #[error("range {gpa:#x}+{len:#x} overlaps an existing memslot")]
    Overlap {
        /// Guest physical address.
        gpa: u64,
        /// Length.
        len: u64,
    },
    /// Zero length, unaligned or wrapping.
    #[error("invalid range {gpa:#x}+{len:#x}")]
    InvalidRange {
        /// Guest physical address.
        gpa: u64,
        /// Length.
        len: u64,
    },
    /// No mapping at this address.
    #[error("no memslot at {0:#x}")]
    NotMapped(u64),
    /// KVM refused.
    #[error("KVM_SET_USER_MEMORY_REGION: {0}")]
    Kvm(#[from] kvm_ioctls::Error),
}

/// Hands out memslot numbers below KVM's limit, reusing freed ones first.
#[derive(Debug)]
pub struct SlotAllocator {
    limit: u32,
    next: u32,
    free: Vec<u32>,
}

impl SlotAllocator {
    /// Slots `0..limit`.
    pub fn new(limit: u32) -> Self {
        Self {
            limit,
            next: 0,
            free: Vec::new(),
        }
    }

    /// A free slot number.
    pub fn allocate(&mut self) -> Option<u32> {
        if let Some(s) = self.free.pop() {
            return Some(s);
        }
        (self.next < self.limit).then(|| {
            self.next += 1;
            self.next - 1
        })
    }

    /// Returns `slot` to the pool.
    pub fn release(&mut self, slot: u32) {
        debug_assert!(slot < self.next && !self.free.contains(&slot));
        self.free.push(slot);
    }

    /// Slots in use.
    pub fn in_use(&self) -> u32 {
        self.next - self.free.len() as u32
    }

    /// The limit.
    pub fn limit(&self) -> u32 {
        self.limit
    }
}

/// One installed memslot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    /// KVM slot number.
    pub slot: u32,
    /// Guest physical address.
    pub gpa: u64,
    /// Length in bytes.
    pub len: u64,
    /// Host virtual address backing it.
    pub host_addr: u64,
}

struct State {
    slots: SlotAllocator,
    /// Installed slots by guest physical address.
    by_gpa: BTreeMap<u64, Slot>,
    /// Host ranges composed for interleaved memslots, by the slot's guest
    /// address: each lives exactly as long as its slot.
    composed: BTreeMap<u64, ComposedMapping>,
}

/// Owns guest RAM and the memslot table.
pub struct MemoryManager {
    vm: Arc<VmFd>,
    ram: GuestMemoryMmap,
    state: Mutex<State>,
    /// Room left under `vm.max_map_count` for composed interleaves; `None`
    /// if its files could not be opened (interleaves then stay trapped).
    map_budget: Option<MapBudget>,
}

/// How guest RAM is allocated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RamKind {
    /// Anonymous private memory (transparent huge pages as the host allows).
    Private,
    /// A memfd per range, mapped shared: a vhost-user backend maps the same
    /// pages from the descriptors.
    Shared,
}

impl MemoryManager {
    /// Allocates private RAM for `regions` (`(gpa, len)` pairs) and
    /// installs it.
    pub fn new(
        vm: Arc<VmFd>,
        regions: &[(u64, u64)],
        slot_limit: u32,
    ) -> Result<Self, MemoryError> {
        Self::with_ram(vm, regions, slot_limit, RamKind::Private)
    }

    /// Allocates RAM of `kind` for `regions` and installs it. The machine
    /// calls it before the irqchip exists (`Vm::new_with`), where a
    /// memslot is cheap.
    pub fn with_ram(
        vm: Arc<VmFd>,
        regions: &[(u64, u64)],
        slot_limit: u32,
        kind: RamKind,
    ) -> Result<Self, MemoryError> {
        let mm = Self::allocate(vm, regions, slot_limit, kind)?;
        mm.install_ram()?;
        Ok(mm)
    }

    /// Allocates RAM of `kind` for `regions` (`(gpa, len)` pairs) without
    /// installing it: [`MemoryManager::install_ram`] does.
    ///
    /// The RAM is advised for transparent huge pages (MADV_HUGEPAGE, as
    /// QEMU does): loading a kernel then faults a few 2 MiB pages instead
    /// of thousands of 4 KiB ones, and the guest's TLB misses are cheaper.
    fn allocate(
        vm: Arc<VmFd>,
        regions: &[(u64, u64)],
        slot_limit: u32,
        kind: RamKind,
    ) -> Result<Self, MemoryError> {
        let ranges: Vec<(GuestAddress, usize)> = regions
            .iter()
            .map(|(a, l)| (GuestAddress(*a), *l as usize))
            .collect();
        let ram = match kind {
            RamKind::Private => GuestMemoryMmap::<()>::from_ranges(&ranges)
                .map_err(|e| MemoryError::Alloc(format!("{e:?}")))?,
            RamKind::Shared => devices::memory::shared_guest_ram(&ranges)
                .map_err(|e| MemoryError::Alloc(format!("shared memory: {e}")))?,
        };
        for region in ram.iter() {
            // SAFETY: advice on a mapping this process owns; it changes no
            // contents. A kernel without THP refuses it, which is harmless.
            let rc = unsafe {
                libc::madvise(
                    region.as_ptr().cast(),
                    region.len() as usize,
                    libc::MADV_HUGEPAGE,
                )
            };
            if rc != 0 {
                log::debug!(
                    "guest RAM at {:#x}: no transparent huge pages ({})",
                    region.start_addr().0,
                    std::io::Error::last_os_error()
                );
            }
        }
        let map_budget = MapBudget::open()
            .map_err(|e| log::warn!("cannot read the host's mapping limit ({e}): interleaved CXL regions will take the emulated path"))
            .ok();
        Ok(Self {
            vm,
            ram,
            map_budget,
            state: Mutex::new(State {
                slots: SlotAllocator::new(slot_limit),
                by_gpa: BTreeMap::new(),
                composed: BTreeMap::new(),
            }),
        })
    }

    /// Installs every RAM region as a memslot.
    fn install_ram(&self) -> Result<(), MemoryError> {
        for region in self.ram.iter() {
            let host = region.as_ptr() as u64;
            let (gpa, len) = (region.start_addr().0, region.len());
            // SAFETY: the RAM mappings live as long as `self.ram`, which
            // lives as long as the VM (the memory manager is dropped with it).
            let r = unsafe { self.map(gpa, len, host) };
            trace_memslot(
                "map",
                gpa,
                len,
                r.as_ref().map(|s| s.slot),
                || json!({ "ram": true }),
            );
            r?;
        }
        Ok(())
    }

    /// Guest RAM.
    pub fn ram(&self) -> &GuestMemoryMmap {
        &self.ram
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Maps `len` bytes of host memory at `host_addr` at guest address `gpa`.
    ///
    /// # Safety
    /// `host_addr..host_addr+len` must stay mapped, readable and writable
    /// until [`MemoryManager::unmap`] is called for `gpa`.
    pub unsafe fn map(&self, gpa: u64, len: u64, host_addr: u64) -> Result<Slot, MemoryError> {
        if len == 0
            || !gpa.is_multiple_of(4096)
            || !len.is_multiple_of(4096)
            || gpa.checked_add(len).is_none()
        {
            return Err(MemoryError::InvalidRange { gpa, len });
        }
        let mut s = self.lock();
        if let Some((_, prev)) = s.by_gpa.range(..gpa + len).next_back() {
            if prev.gpa + prev.len > gpa {
                return Err(MemoryError::Overlap { gpa, len });
            }
        }
        let limit = s.slots.limit();
        let slot = s.slots.allocate().ok_or(MemoryError::NoSlot(limit))?;
        let region = kvm_userspace_memory_region {
            slot,
            flags: 0,
            guest_phys_addr: gpa,
            memory_size: len,
            userspace_addr: host_addr,
        };
        // SAFETY: the caller guarantees the host range outlives the slot.
        if let Err(e) = unsafe { self.vm.set_user_memory_region(region) } {
            s.slots.release(slot);
            return Err(e.into());
        }
        let entry = Slot {
            slot,
            gpa,
            len,
            host_addr,
        };
        s.by_gpa.insert(gpa, entry);
        Ok(entry)
    }

    /// Installs a memslot at `gpa` over a host range composed of `pieces`
    /// (see [`ComposedMapping`]); the range is unmapped when the slot is.
    /// On failure nothing stays mapped.
    pub fn map_composed(
        &self,
        gpa: u64,
        len: u64,
        pieces: &[ComposedPiece],
    ) -> Result<Slot, String> {
        let mapping = ComposedMapping::new(len, pieces)?;
        // SAFETY: the composed range stays mapped until `unmap` removes the
        // slot (it is kept below, under the slot's guest address); if the
        // slot is refused, dropping `mapping` unmaps it.
        let slot = unsafe { self.map(gpa, len, mapping.host_addr()) }.map_err(|e| e.to_string())?;
        self.lock().composed.insert(gpa, mapping);
        Ok(slot)
    }

    /// Removes the memslot that starts at `gpa` (and, after it, the host
    /// range composed for it, if any).
    pub fn unmap(&self, gpa: u64) -> Result<Slot, MemoryError> {
        let mut s = self.lock();
        let entry = *s.by_gpa.get(&gpa).ok_or(MemoryError::NotMapped(gpa))?;
        let region = kvm_userspace_memory_region {
            slot: entry.slot,
            flags: 0,
            guest_phys_addr: gpa,
            memory_size: 0,
            userspace_addr: entry.host_addr,
        };
        // SAFETY: deleting a slot (size 0) never lets KVM touch host memory.
        unsafe { self.vm.set_user_memory_region(region) }?;
        s.by_gpa.remove(&gpa);
        s.slots.release(entry.slot);
        // KVM no longer maps it: the host range may go.
        drop(s.composed.remove(&gpa));
        Ok(entry)
    }

    /// The memslot covering `gpa`, if any.
    pub fn slot_at(&self, gpa: u64) -> Option<Slot> {
        let s = self.lock();
        let (_, e) = s.by_gpa.range(..=gpa).next_back()?;
        (gpa < e.gpa + e.len).then_some(*e)
    }

    /// Carries out a guest access at `gpa` on the host memory of the
    /// memslot that covers it (all of it), under the lock that keeps the
    /// slot installed; false if no slot covers it. For an MMIO exit inside
    /// a memslot, which KVM gives on some hosts when it cannot fault the
    /// host page in: if the page is really gone the access raises SIGBUS
    /// (see `sigbus`); if a slot was just installed, the access is right.
    pub fn access_slot(&self, gpa: u64, data: &mut [u8], write: bool) -> bool {
        let s = self.lock();
        let Some((_, e)) = s.by_gpa.range(..=gpa).next_back() else {
            return false;
        };
        let inside = gpa
            .checked_add(data.len() as u64)
            .is_some_and(|end| end <= e.gpa + e.len);
        if !inside {
            return false;
        }
        let host = (e.host_addr + (gpa - e.gpa)) as *mut u8;
        for (i, b) in data.iter_mut().enumerate() {
            // SAFETY: the slot's host range stays mapped while it is
            // installed (the contract of `map`), and the lock held here
            // keeps it installed; volatile as the guest shares it.
            unsafe {
                if write {
                    std::ptr::write_volatile(host.add(i), *b);
                } else {
                    *b = std::ptr::read_volatile(host.add(i));
                }
            }
        }
        true
    }

    /// All installed memslots in address order.
    pub fn slots(&self) -> Vec<Slot> {
        self.lock().by_gpa.values().copied().collect()
    }
}

impl devices::cxl::fabric::GuestMemoryMapper for MemoryManager {
    fn map(
        &self,
        gpa: u64,
        backend: &std::sync::Arc<devices::memory::HostMemory>,
        offset: u64,
        len: u64,
    ) -> Result<(), String> {
        let end = offset.checked_add(len).filter(|e| *e <= backend.size());
        if end.is_none() {
            return Err(format!(
                "{offset:#x}+{len:#x} is outside backend '{}'",
                backend.id()
            ));
        }
        // SAFETY: the memory path holds an Arc of `backend` for as long as
        // the slot is installed, and unmaps before letting it go.
        let r = unsafe { MemoryManager::map(self, gpa, len, backend.host_addr() + offset) };
        trace_memslot(
            "map",
            gpa,
            len,
            r.as_ref().map(|s| s.slot),
            || json!({ "backend": backend.id(), "offset": offset }),
        );
        r.map(|_| ()).map_err(|e| e.to_string())
    }

    fn map_composed(&self, gpa: u64, len: u64, pieces: &[ComposedPiece]) -> Result<(), String> {
        let r = MemoryManager::map_composed(self, gpa, len, pieces);
        trace_memslot(
            "map-composed",
            gpa,
            len,
            r.as_ref().map(|s| s.slot),
            || json!({ "pieces": pieces.len() }),
        );
        r.map(|_| ())
    }

    fn mapping_budget(&self) -> u64 {
        // Unknown limits compose nothing rather than risk failing halfway.
        self.map_budget
            .as_ref()
            .and_then(MapBudget::available)
            .unwrap_or(0)
    }

    fn unmap(&self, gpa: u64) -> Result<(), String> {
        let r = MemoryManager::unmap(self, gpa);
        let len = r.as_ref().map_or(0, |s| s.len);
        trace_memslot("unmap", gpa, len, r.as_ref().map(|s| s.slot), || json!({}));
        r.map(|_| ()).map_err(|e| e.to_string())
    }
}

/// One trace record for a memslot (guest RAM or CXL) mapped or unmapped (or refused:
/// `error`), with `extra` fields.
fn trace_memslot<E: std::fmt::Display>(
    op: &str,
    gpa: u64,
    len: u64,
    slot: Result<u32, &E>,
    extra: impl FnOnce() -> devices::trace::Value,
) {
    devices::trace::emit(devices::trace::Kind::Memslot, None, || {
        let mut v = json!({ "op": op, "gpa": gpa, "len": len });
        match slot {
            Ok(n) => v["slot"] = json!(n),
            Err(e) => v["error"] = json!(e.to_string()),
        }
        if let (Some(o), devices::trace::Value::Object(x)) = (v.as_object_mut(), extra()) {
            o.extend(x);
        }
        v
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_allocator_reuses_and_limits() {
        let mut a = SlotAllocator::new(3);
        assert_eq!(
            [a.allocate(), a.allocate(), a.allocate()],
            [Some(0), Some(1), Some(2)]
        );
        assert_eq!(a.allocate(), None);
        a.release(1);
        assert_eq!(a.in_use(), 2);
        assert_eq!(a.allocate(), Some(1));
        assert_eq!(a.allocate(), None);
    }

    #[test]
    fn slot_allocator_many() {
        let mut a = SlotAllocator::new(32764);
        let v: Vec<u32> = (0..32764).map(|_| a.allocate().unwrap()).collect();
        assert_eq!(v.last(), Some(&32763));
        assert_eq!(a.allocate(), None);
        for s in v.iter().step_by(2) {
            a.release(*s);
        }
        assert_eq!(a.in_use(), 32764 / 2);
    }
}
