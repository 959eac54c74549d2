//! What must hold after every step of the `type3` target, checked from the
//! outside (the device's public state, the memory path, the recorded
//! memslots, the registry):
//!
//! - the memory path's installed mappings are exactly the recorded memslots,
//!   all inside the window, and none while HDM Decoder Enable or Mem_Enable
//!   is clear;
//! - every memslot maps memory the device holds: a static partition's
//!   backend within the partition, or an extent the host accepted (its
//!   tagged backend, or its DPA's part of the DC backing memory): nothing
//!   pending, declined or released is ever mapped;
//! - a tagged backend is held by the device only while a live extent names
//!   it, and is as long as that extent; otherwise only the registry holds it;
//! - extents are block-aligned, inside their region, never overlap; the
//!   extent limit holds and the DC event log never overflows;
//! - armed faults stay within their bounds, each with commands left, and
//!   outstanding DC faults too.

use std::sync::Arc;

use devices::cxl::dcd::faults::MAX_DC_FAULTS;
use devices::cxl::memdev::events::EventLogType;
use devices::cxl::memdev::faults::MAX_ARMED_FAULTS;
use devices::memory::HostMemory;

use super::guest;
use super::rig::{Rig, WINDOW, WINDOW_SIZE};
use crate::type3::operator::Operator;
use devices::cxl::test_rig::Slot;

/// Everything observable about the device's DC state and the memslots, to
/// check that a refused request changed nothing.
pub fn snapshot(rig: &Rig) -> String {
    let d = rig.dev.memdev().dcd();
    format!(
        "{:?} gen={} held={} chains={} log={} slots={:?}",
        d.extents(),
        d.generation(),
        d.held_count(),
        d.pending_chains(),
        rig.dev
            .memdev()
            .events()
            .log(EventLogType::DynamicCapacity)
            .len(),
        rig.mapper.ranges()
    )
}

/// A (backend, byte range) the device may have mapped.
struct Allowed {
    backend: Arc<HostMemory>,
    start: u64,
    end: u64,
}

/// The memory the device holds right now.
fn held_memory(rig: &Rig) -> Vec<Allowed> {
    let m = rig.dev.memdev();
    let mut v = Vec::new();
    let cfg = m.config();
    for b in &rig.static_backends {
        let len = match b.id() {
            "vmem" => cfg.volatile_bytes,
            "pmem" => cfg.persistent_bytes,
            _ => continue,
        };
        v.push(Allowed {
            backend: b.clone(),
            start: 0,
            end: len,
        });
    }
    for e in m.dcd_accepted_extents() {
        match (&e.backend, &rig.dc_backing) {
            (Some(b), _) => v.push(Allowed {
                backend: b.clone(),
                start: 0,
                end: e.len,
            }),
            (None, Some((b, base))) => v.push(Allowed {
                backend: b.clone(),
                start: e.dpa - base,
                end: e.dpa - base + e.len,
            }),
            (None, None) => panic!("accepted extent {e:?} has no memory behind it"),
        }
    }
    v
}

/// True if `[start, end)` of `backend` is covered by `allowed`.
fn covered(allowed: &[Allowed], backend: &Arc<HostMemory>, start: u64, end: u64) -> bool {
    let mut ranges: Vec<(u64, u64)> = allowed
        .iter()
        .filter(|a| Arc::ptr_eq(&a.backend, backend))
        .map(|a| (a.start, a.end))
        .collect();
    ranges.sort_unstable();
    let mut at = start;
    for (s, e) in ranges {
        if s <= at && at < e {
            at = e;
        }
        if at >= end {
            return true;
        }
    }
    at >= end
}

/// Every memslot maps memory the device holds.
pub fn check_slots_held(rig: &Rig, slots: &[Slot]) {
    let allowed = held_memory(rig);
    for s in slots {
        let backend = s
            .backend
            .as_ref()
            .expect("the harness's mapper does not compose: every memslot has one backend");
        assert!(
            covered(&allowed, backend, s.offset, s.offset + s.len),
            "memslot {:#x}+{:#x} maps {:#x}+{:#x} of backend '{}', which the device does not hold",
            s.gpa,
            s.len,
            s.offset,
            s.len,
            backend.id()
        );
    }
}

/// Checks every invariant; panics (a fuzzer finding) on the first broken.
pub fn check(rig: &mut Rig, op: &Operator) {
    let slots = rig.mapper.slots();
    let ranges = rig.mapper.ranges();
    assert_eq!(
        rig.dev.path().mappings(),
        ranges,
        "memory path and memslots disagree"
    );
    for s in &slots {
        assert!(
            s.gpa >= WINDOW && s.gpa + s.len <= WINDOW + WINDOW_SIZE,
            "memslot {:#x}+{:#x} outside the window",
            s.gpa,
            s.len
        );
    }
    if !slots.is_empty() {
        assert!(
            guest::decoding_enabled(&mut rig.dev),
            "memslots while HDM Decoder Enable or Mem_Enable is clear: {ranges:x?}"
        );
    }
    check_slots_held(rig, &slots);
    drop(slots);

    let m = rig.dev.memdev();
    let dcd = m.dcd();
    let live = dcd.extents();
    let mut prev_end = 0u64;
    for i in &live {
        let e = &i.extent;
        assert!(e.dpa >= prev_end, "extents overlap at {:#x}", e.dpa);
        prev_end = e.dpa + e.len;
        let r = &dcd.regions()[usize::from(e.region)];
        assert!(r.contains(e.dpa, e.len), "extent {e:?} outside its region");
        assert!(
            e.len > 0 && r.block_aligned(e.dpa - r.base) && r.block_aligned(e.len),
            "extent {e:?} not block-aligned"
        );
        if let Some(b) = &e.backend {
            assert_eq!(b.size(), e.len, "backend '{}' size", b.id());
        }
    }
    assert!(live.len() <= dcd.max_extents() as usize);
    assert!(
        m.events()
            .log(EventLogType::DynamicCapacity)
            .overflow()
            .is_none(),
        "DC event log overflowed"
    );
    let armed = m.faults_armed();
    assert!(armed.len() <= MAX_ARMED_FAULTS, "too many faults armed");
    for f in armed {
        assert!(
            f.remaining > 0 && f.remaining <= f.fault.count(),
            "fault {f:?} kept past its count"
        );
    }
    assert!(m.dc_faults().len() <= MAX_DC_FAULTS, "too many DC faults");
    for b in op.registry.list() {
        let bound = live.iter().any(|i| {
            i.extent
                .backend
                .as_ref()
                .is_some_and(|x| Arc::ptr_eq(x, &b))
        });
        if !bound {
            // The registry and `b` itself.
            assert_eq!(
                Arc::strong_count(&b),
                2,
                "backend '{}' is held though no extent names it",
                b.id()
            );
        }
    }
}
