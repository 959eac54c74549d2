//! [`CxlMemoryPath::update_endpoint_memory`] against the full recompute of
//! [`CxlMemoryPath::set_endpoint_memory`]: the same mapper calls, in the
//! same order, for every change, including refused ones.

use std::sync::atomic::{AtomicBool, Ordering};

use super::tests::backend;
use super::*;
use crate::cxl::component::hdm::HdmDecoderTarget;

const BASE: u64 = 0x80_0000_0000;
const MIB: u64 = 1 << 20;
const BLOCK: u64 = 2 * MIB;
const BLOCKS: u64 = 256;

/// Logs every call, refused ones too.
#[derive(Default)]
struct Log {
    calls: Mutex<Vec<(bool, u64, u64, u64)>>,
    fail: AtomicBool,
}

impl GuestMemoryMapper for Log {
    fn map(&self, gpa: u64, _: &Arc<HostMemory>, offset: u64, len: u64) -> Result<(), String> {
        self.calls.lock().unwrap().push((true, gpa, offset, len));
        if self.fail.load(Ordering::SeqCst) {
            return Err("refused".into());
        }
        Ok(())
    }
    fn unmap(&self, gpa: u64) -> Result<(), String> {
        self.calls.lock().unwrap().push((false, gpa, 0, 0));
        if self.fail.load(Ordering::SeqCst) {
            return Err("refused".into());
        }
        Ok(())
    }
}

fn path(log: &Arc<Log>) -> CxlMemoryPath {
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
    let (full_log, part_log) = (Arc::new(Log::default()), Arc::new(Log::default()));
    let (full, part) = (path(&full_log), path(&part_log));
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
        full_log.fail.store(fail, Ordering::SeqCst);
        part_log.fail.store(fail, Ordering::SeqCst);
        full.set_endpoint_memory(0, model.values().cloned().collect());
        part.update_endpoint_memory(0, &[range], |w| {
            model
                .values()
                .filter(|r| r.dpa < w.end && w.start < r.dpa + r.len)
                .cloned()
                .collect()
        });
        assert_eq!(
            *full_log.calls.lock().unwrap(),
            *part_log.calls.lock().unwrap()
        );
        assert_eq!(full.mappings(), part.mappings());
    }
    assert!(full_log.calls.lock().unwrap().len() > 1000);
}
