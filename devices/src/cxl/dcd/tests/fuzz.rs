//! Random sequences of operator requests and the four DC commands (random
//! bytes and near-valid payloads): nothing panics, refusals change
//! nothing, and the effects always describe exactly the memory the host
//! holds.

use std::collections::BTreeMap;

use super::*;
use crate::cxl::mailbox::testing::TestMemdev;
use crate::cxl::memdev::tests::test_config;

/// A small deterministic xorshift generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<T: Clone>(&mut self, v: &[T]) -> Option<T> {
        if v.is_empty() {
            return None;
        }
        v.get(self.below(v.len() as u64) as usize).cloned()
    }
}

/// The mapped memory as the device model would track it from effects.
#[derive(Default)]
struct Mapped(BTreeMap<u64, u64>);

impl Mapped {
    fn map(&mut self, dpa: u64, len: u64) {
        let r = ExtentRange::new(dpa, len);
        assert!(
            !self
                .0
                .iter()
                .any(|(&d, &l)| ExtentRange::new(d, l).overlaps(&r)),
            "mapped twice: {r}"
        );
        self.0.insert(dpa, len);
    }

    fn unmap(&mut self, dpa: u64, len: u64) {
        let r = ExtentRange::new(dpa, len);
        let (&d, &l) = self
            .0
            .range(..=dpa)
            .next_back()
            .unwrap_or_else(|| panic!("unmapping unmapped {r}"));
        let held = ExtentRange::new(d, l);
        assert!(held.contains(&r), "unmapping {r} beyond {held}");
        self.0.remove(&d);
        if d < dpa {
            self.0.insert(d, dpa - d);
        }
        if r.end_sat() < held.end_sat() {
            self.0.insert(r.end_sat(), held.end_sat() - r.end_sat());
        }
    }

    /// Merged ranges.
    fn merged(iter: impl Iterator<Item = (u64, u64)>) -> Vec<(u64, u64)> {
        let mut v: Vec<(u64, u64)> = iter.collect();
        v.sort_unstable();
        let mut out: Vec<(u64, u64)> = Vec::new();
        for (d, l) in v {
            match out.last_mut() {
                Some((pd, pl)) if *pd + *pl == d => *pl += l,
                _ => out.push((d, l)),
            }
        }
        out
    }
}

fn check_invariants(m: &Memdev) {
    let d = m.dcd();
    let extents = d.extents();
    let mut prev_end = 0u64;
    let mut held = 0;
    for i in &extents {
        let e = &i.extent;
        assert!(e.dpa >= prev_end, "overlap at {:#x}", e.dpa);
        prev_end = e.dpa + e.len;
        let r = &d.regions()[usize::from(e.region)];
        assert!(r.contains(e.dpa, e.len));
        assert!(r.block_aligned(e.dpa) && r.block_aligned(e.len) && e.len > 0);
        assert_eq!(e.region_offset, e.dpa - r.base);
        if let Some(b) = &e.backend {
            assert_eq!(b.size(), e.len);
        }
        if i.state != ExtentState::Pending {
            held += 1;
        }
        if !e.tag.is_nil() {
            assert!(d
                .extents_by_tag(e.tag)
                .iter()
                .any(|x| x.extent.dpa == e.dpa));
        }
    }
    assert_eq!(d.held_count(), held);
    assert_eq!(d.accepted_extents().len(), held);
    assert!(d.live_count() <= d.max_extents() as usize);
    let log = m.events().log(EventLogType::DynamicCapacity);
    assert!(log.overflow().is_none(), "DC log overflowed");
}

fn random_range(rng: &mut Rng, m: &Memdev) -> (u64, u64) {
    let regions = m.dcd().regions();
    let r = regions[rng.below(regions.len() as u64) as usize];
    let blocks = r.length / r.block_size;
    let start = rng.below(blocks);
    let len = 1 + rng.below(4.min(blocks - start));
    let mut dpa = r.base + start * r.block_size;
    let mut len = len * r.block_size;
    match rng.below(12) {
        0 => dpa += 4096,
        1 => len = rng.below(8 * MIB),
        2 => dpa = rng.next(),
        _ => {}
    }
    (dpa, len)
}

fn random_add(rng: &mut Rng, m: &Memdev, serial: &mut u32) -> AddRequest {
    let policy = match rng.below(10) {
        0..=3 => SelectionPolicy::Prescriptive,
        4..=6 => SelectionPolicy::Free,
        7..=8 => SelectionPolicy::Contiguous,
        _ => SelectionPolicy::EnableSharedAccess,
    };
    let region = rng.below(3) as u8;
    let n = rng.below(4);
    let mut extents = Vec::new();
    for _ in 0..n {
        let (dpa, len) = random_range(rng, m);
        let base = m.dcd().region(region).map_or(0, |r| r.base);
        extents.push(RequestedExtent::new(dpa.wrapping_sub(base), len));
    }
    let mut req = AddRequest {
        host_id: u16::from(rng.below(20) == 0),
        selection_policy: policy,
        region,
        tag: (rng.below(2) == 0).then(|| tag(u128::from(rng.below(8)))),
        extents,
        backend: None,
    };
    if rng.below(5) == 0 {
        *serial += 1;
        let size = (1 + rng.below(2)) * 4 * MIB;
        let t = (rng.below(2) == 0).then(|| tag(0x100 + u128::from(*serial)));
        req.backend = Some(backend(&format!("fz{serial}"), size, t));
        if rng.below(2) == 0 {
            req.extents.clear();
        }
    }
    req
}

fn random_release(rng: &mut Rng, m: &Memdev) -> ReleaseRequest {
    let held = m.dcd_accepted_extents();
    let pick = rng.pick(&held);
    let region = pick.as_ref().map_or(rng.below(2) as u8, |e| e.region);
    let mut extents = Vec::new();
    if let Some(e) = &pick {
        let block = m.dcd().regions()[usize::from(e.region)].block_size;
        match rng.below(3) {
            0 => extents.push(RequestedExtent::new(e.region_offset, e.len)),
            1 => extents.push(RequestedExtent::new(e.region_offset, block)),
            _ => extents.push(RequestedExtent::new(
                e.region_offset + block * rng.below(3),
                block,
            )),
        }
    }
    ReleaseRequest {
        host_id: 0,
        removal_policy: if rng.below(2) == 0 {
            RemovalPolicy::TagBased
        } else {
            RemovalPolicy::Prescriptive
        },
        forced: rng.below(4) == 0,
        sanitize_on_release: rng.below(2) == 0,
        region,
        tag: pick.map(|e| e.tag),
        extents,
    }
}

/// An Updated Extent List: near-valid ranges from live extents (mostly in
/// state `want`) or random.
fn random_update(rng: &mut Rng, m: &Memdev, want: ExtentState) -> Vec<u8> {
    if rng.below(6) == 0 {
        let len = rng.below(200) as usize;
        return (0..len).map(|_| rng.next() as u8).collect();
    }
    let mut live = m.dcd_extents();
    if rng.below(4) != 0 {
        live.retain(|i| i.state == want);
    }
    let n = rng.below(4);
    let mut list = Vec::new();
    for _ in 0..n {
        let r = match rng.pick(&live) {
            Some(i) if rng.below(4) != 0 => {
                let block = m.dcd().regions()[usize::from(i.extent.region)].block_size;
                if rng.below(3) == 0 && i.extent.len > block {
                    (i.extent.dpa + block, block)
                } else {
                    (i.extent.dpa, i.extent.len)
                }
            }
            _ => random_range(rng, m),
        };
        list.push(r);
    }
    let flags = u8::from(rng.below(4) == 0);
    let mut p = update_payload(&list, flags);
    if rng.below(10) == 0 {
        p.truncate(rng.below(p.len() as u64 + 1) as usize);
    }
    p
}

#[test]
fn fuzz_dcd_never_panics_and_stays_consistent() {
    let mut c = test_config();
    c.dc.max_extents = 64;
    c.event_log_depths.dynamic_capacity = 16;
    let mut m = TestMemdev::new(c).unwrap();
    let mut rng = Rng(0xD1CE_CAFE_F00D_0001);
    let mut mapped = Mapped::default();
    let mut serial = 0u32;
    let (mut ok_ops, mut ok_cmds) = (0, 0);
    for step in 0..20_000 {
        let before = snapshot(&m);
        let ok = match rng.below(10) {
            0 | 1 => {
                let req = random_add(&mut rng, &m, &mut serial);
                m.dcd_add_capacity(req).is_ok()
            }
            2 => {
                let req = random_release(&mut rng, &m);
                m.dcd_release_capacity(req).is_ok()
            }
            3..=5 => {
                let p = random_update(&mut rng, &m, ExtentState::Pending);
                let (rc, out) = m.execute(Opcode::AddDcResponse as u16, &p);
                assert!(out.is_empty());
                rc == RetCode::Success
            }
            6 | 7 => {
                let p = random_update(&mut rng, &m, ExtentState::Accepted);
                let (rc, out) = m.execute(Opcode::ReleaseDc as u16, &p);
                assert!(out.is_empty());
                rc == RetCode::Success
            }
            8 => {
                let op = 0x4800 + rng.below(2) as u16;
                let len = rng.below(12) as usize;
                let mut p: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                if rng.below(2) == 0 && p.len() == 8 {
                    p[4..8].copy_from_slice(&(rng.below(8) as u32).to_le_bytes());
                }
                let (rc, out) = m.execute(op, &p);
                assert!(out.len() <= crate::cxl::mailbox::PAYLOAD_SIZE);
                // Reads change nothing.
                assert_eq!(snapshot(&m), before);
                rc == RetCode::Success
            }
            _ => {
                // The driver drains the DC log; now and then a reset.
                let handles: Vec<u16> = m
                    .events()
                    .log(EventLogType::DynamicCapacity)
                    .records()
                    .map(|r| r.handle())
                    .collect();
                let mut clear = vec![4, 0, handles.len() as u8, 0, 0, 0];
                for h in &handles {
                    clear.extend_from_slice(&h.to_le_bytes());
                }
                m.execute(Opcode::ClearEventRecords as u16, &clear);
                if step % 997 == 0 {
                    m.cold_reset();
                }
                true
            }
        };
        let fx = m.take_dcd_effects();
        if !ok {
            assert_eq!(snapshot(&m), before, "step {step}");
            assert!(fx.is_empty(), "step {step}");
        } else if before != snapshot(&m) {
            ok_ops += 1;
        }
        for e in fx {
            match e {
                DcdEffect::Accepted { extent } => mapped.map(extent.dpa, extent.len),
                DcdEffect::Released { extent, .. } => mapped.unmap(extent.dpa, extent.len),
                DcdEffect::Declined { extent } => {
                    let r = extent.range();
                    assert!(
                        !mapped
                            .0
                            .iter()
                            .any(|(&d, &l)| ExtentRange::new(d, l).overlaps(&r)),
                        "declined mapped memory {r}"
                    );
                }
            }
        }
        if ok {
            ok_cmds += 1;
        }
        check_invariants(&m);
        let held = Mapped::merged(m.dcd_accepted_extents().iter().map(|e| (e.dpa, e.len)));
        assert_eq!(
            Mapped::merged(mapped.0.iter().map(|(&d, &l)| (d, l))),
            held,
            "step {step}"
        );
    }
    // The sequence did real work, not only refusals.
    assert!(ok_ops > 1000, "{ok_ops}");
    assert!(ok_cmds > 3000, "{ok_cmds}");
}
