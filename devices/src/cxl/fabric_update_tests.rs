//! [`CxlMemoryPath::update_endpoint_memory`] against the full recompute of
//! [`CxlMemoryPath::set_endpoint_memory`]: the same mapper calls, in the
//! same order, for every change, including refused ones; with interleaved
//! regions composed from the backends too, whose every piece must be what
//! the decode routes its HPA to.

use super::tests::backend;
use super::*;
use crate::cxl::component::hdm::HdmDecoderTarget;
use crate::cxl::decode::Interleave;
use crate::cxl::test_rig::{RecordingMapper, WINDOW};

const BASE: u64 = WINDOW;
const MIB: u64 = 1 << 20;
const BLOCK: u64 = 2 * MIB;
const BLOCKS: u64 = 256;

fn path(log: &Arc<RecordingMapper>) -> CxlMemoryPath {
    let topo = Topology {
        windows: vec![WindowDesc {
            base: BASE,
            size: BLOCKS * BLOCK,
            interleave: Interleave::new(1, 256).unwrap(),
            targets: vec![0],
        }],
        host_bridges: vec![HostBridgeDesc {
            root_ports: vec![(0, Some(0))],
            has_hdm: false,
        }],
        endpoints: 1,
    };
    let p = CxlMemoryPath::new(topo, log.clone());
    // Two decoders, the second with a DPA skip: slots are cut at the
    // decoder boundary and part of the DPA is decoded nowhere.
    let half = BLOCKS / 2 * BLOCK;
    let decoder = |index, base, dpa: Range<u64>| HdmDecoderInfo {
        index,
        committed: true,
        locked: false,
        base,
        size: dpa.end - dpa.start,
        interleave_ways: 1,
        interleave_granularity: 256,
        host_only: true,
        target: HdmDecoderTarget::Dpa {
            skip: 0,
            dpa: Some(dpa),
        },
    };
    p.set_endpoint_decoders(
        0,
        vec![
            decoder(0, BASE, 0..half),
            decoder(1, BASE + half, half + 4 * BLOCK..2 * half),
        ],
        true,
    );
    p
}

#[test]
fn incremental_updates_make_the_same_calls_as_full_recomputes() {
    let (full_log, part_log) = (RecordingMapper::composing(), RecordingMapper::composing());
    let (full, part) = (path(&full_log), path(&part_log));
    full_log.log_calls(true);
    part_log.log_calls(true);
    let mut calls = 0;
    let statics = backend(BLOCKS * BLOCK);
    // The model: backed ranges by DPA.
    let mut model: BTreeMap<u64, MemoryRange> = BTreeMap::new();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    for _ in 0..3000 {
        let start = next(BLOCKS) * BLOCK;
        let len = (1 + next(4)) * BLOCK;
        let range = start..(start + len).min(BLOCKS * BLOCK);
        let overlapping: Vec<u64> = model
            .iter()
            .filter(|(_, r)| r.dpa < range.end && range.start < r.dpa + r.len)
            .map(|(k, _)| *k)
            .collect();
        if overlapping.is_empty() {
            // Add: the static backing, or a backend of its own.
            let (b, offset) = if next(2) == 0 {
                (statics.clone(), range.start)
            } else {
                (backend(range.end - range.start), 0)
            };
            model.insert(
                range.start,
                MemoryRange {
                    dpa: range.start,
                    len: range.end - range.start,
                    backend: b,
                    offset,
                },
            );
        } else {
            // Cut `range` out of what overlaps it; the rest stays as
            // separate ranges.
            for k in overlapping {
                let r = model.remove(&k).unwrap();
                for (s, e) in [(r.dpa, range.start), (range.end, r.dpa + r.len)] {
                    if s.max(r.dpa) < e.min(r.dpa + r.len) {
                        let (s, e) = (s.max(r.dpa), e.min(r.dpa + r.len));
                        let piece = MemoryRange {
                            dpa: s,
                            len: e - s,
                            backend: r.backend.clone(),
                            offset: r.offset + (s - r.dpa),
                        };
                        model.insert(s, piece);
                    }
                }
            }
        }
        // Now and then the mapper refuses everything for one change.
        let fail = next(16) == 0;
        for log in [&full_log, &part_log] {
            log.fail_maps(fail);
            log.fail_unmaps(fail);
        }
        full.set_endpoint_memory(0, model.values().cloned().collect());
        part.update_endpoint_memory(0, &[range], |w| {
            model
                .values()
                .filter(|r| r.dpa < w.end && w.start < r.dpa + r.len)
                .cloned()
                .collect()
        });
        let full_calls = full_log.take_calls();
        calls += full_calls.len();
        assert_eq!(full_calls, part_log.take_calls());
        assert_eq!(full.mappings(), part.mappings());
    }
    assert!(calls > 1000);
}

/// Random DC-style changes on two endpoints that share a 2-way 4 KiB
/// region (composed when both back all of it) while endpoint 0 also has a
/// 1-way range, mixed with decoders committed and uncommitted.
#[test]
fn composed_regions_follow_updates_like_full_recomputes() {
    const REGION: u64 = 8 * MIB;
    let (full_log, part_log) = (RecordingMapper::composing(), RecordingMapper::composing());
    full_log.log_calls(true);
    part_log.log_calls(true);
    let topo = Topology {
        windows: vec![WindowDesc {
            base: BASE,
            size: 256 * MIB,
            interleave: Interleave::NONE,
            targets: vec![0],
        }],
        host_bridges: vec![HostBridgeDesc {
            root_ports: vec![(0, Some(0)), (1, Some(1))],
            has_hdm: true,
        }],
        endpoints: 2,
    };
    let full = CxlMemoryPath::new(topo.clone(), full_log.clone());
    let part = CxlMemoryPath::new(topo, part_log.clone());
    let dec = |index, base, size, ways, dpa: Range<u64>| HdmDecoderInfo {
        index,
        committed: true,
        locked: false,
        base,
        size,
        interleave_ways: ways,
        interleave_granularity: 4096,
        host_only: true,
        target: HdmDecoderTarget::Dpa {
            skip: 0,
            dpa: Some(dpa),
        },
    };
    let hb = |index, base, ports: Vec<u8>| HdmDecoderInfo {
        index,
        committed: true,
        locked: false,
        base,
        size: REGION,
        interleave_ways: ports.len() as u32,
        interleave_granularity: 4096,
        host_only: true,
        target: HdmDecoderTarget::Ports(ports),
    };
    // [endpoint 0's two decoders, endpoint 1's, the host bridge's two].
    let mut decoders = [
        vec![
            dec(0, BASE, REGION, 2, 0..REGION / 2),
            dec(1, BASE + REGION, REGION, 1, REGION / 2..REGION * 3 / 2),
        ],
        vec![dec(0, BASE, REGION, 2, 0..REGION / 2)],
        vec![hb(0, BASE, vec![0, 1]), hb(1, BASE + REGION, vec![0])],
    ];
    let push = |decoders: &[Vec<HdmDecoderInfo>; 3]| {
        for p in [&full, &part] {
            p.set_endpoint_decoders(0, decoders[0].clone(), true);
            p.set_endpoint_decoders(1, decoders[1].clone(), true);
            p.set_host_bridge_decoders(0, decoders[2].clone());
        }
    };
    push(&decoders);
    let dpa_size = [REGION * 3 / 2, REGION / 2];
    let statics = [backend(dpa_size[0]), backend(dpa_size[1])];
    let mut models: [BTreeMap<u64, MemoryRange>; 2] = [BTreeMap::new(), BTreeMap::new()];
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let mut composed_seen = 0;
    for _ in 0..1000 {
        let fail = next(16) == 0;
        for log in [&full_log, &part_log] {
            log.fail_maps(fail);
            log.fail_unmaps(fail);
        }
        if next(12) == 0 {
            // Commit or uncommit one decoder.
            let (i, j) = match next(4) {
                0 => (0, 0),
                1 => (0, 1),
                2 => (1, 0),
                _ => (2, 0),
            };
            decoders[i][j].committed = next(3) != 0;
            push(&decoders);
        } else {
            let ep = next(2) as usize;
            let blocks = dpa_size[ep] / MIB;
            let start = next(blocks) * MIB;
            let range = start..(start + (1 + next(3)) * MIB).min(dpa_size[ep]);
            let model = &mut models[ep];
            let overlapping: Vec<u64> = model
                .iter()
                .filter(|(_, r)| r.dpa < range.end && range.start < r.dpa + r.len)
                .map(|(k, _)| *k)
                .collect();
            // Cut `range` out of what overlaps it, then mostly back it anew.
            for k in overlapping {
                let r = model.remove(&k).unwrap();
                for (s, e) in [(r.dpa, range.start), (range.end, r.dpa + r.len)] {
                    let (s, e) = (s.max(r.dpa), e.min(r.dpa + r.len));
                    if s < e {
                        let piece = MemoryRange {
                            dpa: s,
                            len: e - s,
                            backend: r.backend.clone(),
                            offset: r.offset + (s - r.dpa),
                        };
                        model.insert(s, piece);
                    }
                }
            }
            if next(6) != 0 {
                let (b, offset) = if next(2) == 0 {
                    (statics[ep].clone(), range.start)
                } else {
                    (backend(range.end - range.start), 0)
                };
                let r = MemoryRange {
                    dpa: range.start,
                    len: range.end - range.start,
                    backend: b,
                    offset,
                };
                model.insert(range.start, r);
            }
            full.set_endpoint_memory(ep, model.values().cloned().collect());
            part.update_endpoint_memory(ep, &[range], |w| {
                model
                    .values()
                    .filter(|r| r.dpa < w.end && w.start < r.dpa + r.len)
                    .cloned()
                    .collect()
            });
        }
        assert_eq!(full_log.take_calls(), part_log.take_calls());
        assert_eq!(full.mappings(), part.mappings());
        // Every composed piece is what the decode routes its HPA to (a
        // refused unmap leaves the old memslot live, as for 1-way ones,
        // until the next change removes it).
        if fail {
            continue;
        }
        let s = part.lock();
        for (gpa, (_, pieces)) in part_log.composed().iter() {
            composed_seen += 1;
            for &(at, len, dev, offset) in pieces {
                for hpa in [gpa + at, gpa + at + len - 1] {
                    let (r, direct, _) = s.route(hpa).unwrap();
                    assert!(!direct);
                    let (m, off) = s.backing(r.endpoint, r.dpa).unwrap();
                    assert_eq!(m.backend.host_addr(), dev);
                    assert_eq!(off, offset + (hpa - gpa - at));
                }
            }
        }
    }
    assert!(composed_seen > 20, "composed only {composed_seen} times");
}
