//! Composed interleaves: which granule of which backend lands where (checked
//! against the decode arithmetic of `decode.rs`), when a range falls back to
//! the trapped path and why, teardown and rebuild, and that both paths see
//! the same bytes.

use super::tests::{backend, ep_decoder, hb_decoder, mem};
use super::*;
use crate::cxl::decode::Interleave;
use crate::cxl::test_rig::{MapperCall, RecordingMapper, WINDOW};
use crate::memory::{BackendConfig, BackendKind};

const BASE: u64 = WINDOW;
const MIB: u64 = 1 << 20;
/// Region size: small, so a 4 KiB composition is 512 pieces.
const REGION: u64 = 2 * MIB;

/// Two devices below one host bridge, a 2-way region at `gran` over a
/// 1-way window (the `cxl-interleave` topology), programmed as Linux does:
/// endpoints first, then the host bridge.
fn two_way(
    gran: u64,
    b0: &Arc<HostMemory>,
    b1: &Arc<HostMemory>,
) -> (Arc<RecordingMapper>, CxlMemoryPath) {
    let rec = RecordingMapper::composing();
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
    let path = CxlMemoryPath::new(topo, rec.clone());
    path.set_endpoint_memory(0, vec![mem(0, b0.size(), b0, 0)]);
    path.set_endpoint_memory(1, vec![mem(0, b1.size(), b1, 0)]);
    for ep in 0..2 {
        let d = ep_decoder(BASE, REGION, 2, gran, 0..REGION / 2);
        path.set_endpoint_decoders(ep, vec![d], true);
    }
    path.set_host_bridge_decoders(0, vec![hb_decoder(BASE, REGION, gran, vec![0, 1])]);
    (rec, path)
}

fn trapped(path: &CxlMemoryPath, endpoint: EndpointId) -> Option<TrapReason> {
    match path.paths(endpoint).first().map(|r| r.path.clone()) {
        Some(MemPath::Trapped(r)) => Some(r),
        _ => None,
    }
}

#[test]
fn granules_land_where_the_decode_arithmetic_puts_them() {
    for gran in [4096, 8192, 16384] {
        let (b0, b1) = (backend(MIB), backend(MIB));
        let (rec, path) = two_way(gran, &b0, &b1);
        let composed = rec.composed();
        let (len, pieces) = composed.get(&BASE).expect("composed at the region's base");
        assert_eq!(*len, REGION);
        assert_eq!(pieces.len() as u64, REGION / gran, "one mapping a granule");
        let il = Interleave::new(2, gran).unwrap();
        let devices = [b0.host_addr(), b1.host_addr()];
        let mut at = 0;
        for &(p_at, p_len, dev, offset) in pieces {
            assert_eq!((p_at, p_len), (at, gran));
            // The host bridge sends position p to port p, endpoint p.
            assert_eq!(dev, devices[il.position(p_at) as usize], "{gran} {p_at:#x}");
            assert_eq!(offset, il.hpa_to_dpa(p_at));
            assert_eq!(il.dpa_to_hpa(offset, il.position(p_at)), Some(p_at));
            at += p_len;
        }
        assert_eq!(at, REGION);
        assert_eq!(path.mappings(), vec![(BASE, REGION)]);
        for ep in 0..2 {
            assert_eq!(
                path.paths(ep),
                vec![RangePath {
                    hpa: BASE,
                    len: REGION,
                    path: MemPath::Composed {
                        mappings: REGION / gran
                    },
                }]
            );
        }
    }
}

#[test]
fn both_paths_see_the_same_bytes() {
    let (b0, b1) = (backend(MIB), backend(MIB));
    let (rec, path) = two_way(4096, &b0, &b1);
    let (_, pieces) = rec.composed()[&BASE].clone();
    // Whatever a composed piece maps, the trapped path reads at its HPA.
    for (i, &(at, _, dev, offset)) in pieces.iter().enumerate() {
        let b = if dev == b0.host_addr() { &b0 } else { &b1 };
        b.write(offset + 8, &(i as u64).to_le_bytes()).unwrap();
        let mut got = [0u8; 8];
        path.read(BASE + at + 8, &mut got);
        assert_eq!(u64::from_le_bytes(got), i as u64, "piece {i}");
    }
}

#[test]
fn adjacent_granules_of_one_device_share_a_mapping() {
    // A 2-way window whose two positions name the same passthrough host
    // bridge: every granule goes to the one device, contiguously.
    let rec = RecordingMapper::composing();
    let topo = Topology {
        windows: vec![WindowDesc {
            base: BASE,
            size: 256 * MIB,
            interleave: Interleave::new(2, 4096).unwrap(),
            targets: vec![0, 0],
        }],
        host_bridges: vec![HostBridgeDesc {
            root_ports: vec![(0, Some(0))],
            has_hdm: false,
        }],
        endpoints: 1,
    };
    let path = CxlMemoryPath::new(topo, rec.clone());
    let b = backend(MIB);
    path.set_endpoint_memory(0, vec![mem(0, MIB, &b, 0)]);
    path.set_endpoint_decoders(0, vec![ep_decoder(BASE, MIB, 1, 256, 0..MIB)], true);
    let composed = rec.composed();
    assert_eq!(composed[&BASE], (MIB, vec![(0, MIB, b.host_addr(), 0)]));
}

#[test]
fn fine_granularity_stays_trapped() {
    let (b0, b1) = (backend(MIB), backend(MIB));
    let (rec, path) = two_way(256, &b0, &b1);
    assert!(rec.composed().is_empty());
    assert!(path.mappings().is_empty());
    let why = trapped(&path, 1).unwrap();
    assert_eq!(why, TrapReason::Granularity(256));
    assert!(
        why.to_string().contains("below the 4096-byte host page"),
        "{why}"
    );
    // 2 KiB too: half a page cannot be mapped on its own.
    let (rec, path) = two_way(2048, &b0, &b1);
    assert!(rec.composed().is_empty());
    assert_eq!(trapped(&path, 0), Some(TrapReason::Granularity(2048)));
}

#[test]
fn private_backends_stay_trapped() {
    let private = Arc::new(
        HostMemory::new(BackendConfig {
            id: "priv".into(),
            kind: BackendKind::Memfd,
            path: None,
            size: MIB,
            share: false,
            prealloc: false,
            tag: None,
        })
        .unwrap(),
    );
    let (rec, path) = two_way(4096, &backend(MIB), &private);
    assert!(rec.composed().is_empty());
    assert_eq!(
        trapped(&path, 0),
        Some(TrapReason::NotShareable("priv".into()))
    );
}

#[test]
fn unbacked_or_undecoded_ranges_stay_trapped() {
    let (b0, b1) = (backend(MIB), backend(MIB));
    let (rec, path) = two_way(4096, &b0, &b1);
    // Endpoint 1 loses its memory: the composed slot goes.
    path.set_endpoint_memory(1, Vec::new());
    assert!(rec.composed().is_empty());
    assert_eq!(trapped(&path, 1), Some(TrapReason::Unbacked(BASE + 4096)));
    path.set_endpoint_memory(1, vec![mem(0, MIB, &b1, 0)]);
    assert_eq!(rec.composed().len(), 1);
    // No host bridge decoder: nothing routes.
    path.set_host_bridge_decoders(0, Vec::new());
    assert!(rec.composed().is_empty());
    assert_eq!(trapped(&path, 0), Some(TrapReason::Undecoded(BASE)));
}

#[test]
fn too_many_mappings_stay_trapped_and_compose_once_there_is_room() {
    let (b0, b1) = (backend(MIB), backend(MIB));
    let rec = RecordingMapper::composing();
    rec.set_mapping_budget(100);
    // The same topology as `two_way`, built on a recorder with a budget.
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
    let path = CxlMemoryPath::new(topo, rec.clone());
    path.set_endpoint_memory(0, vec![mem(0, MIB, &b0, 0)]);
    path.set_endpoint_memory(1, vec![mem(0, MIB, &b1, 0)]);
    for ep in 0..2 {
        path.set_endpoint_decoders(ep, vec![ep_decoder(BASE, REGION, 2, 4096, 0..MIB)], true);
    }
    let hb = vec![hb_decoder(BASE, REGION, 4096, vec![0, 1])];
    path.set_host_bridge_decoders(0, hb.clone());
    assert!(rec.composed().is_empty());
    assert_eq!(
        trapped(&path, 0),
        Some(TrapReason::TooManyMappings {
            needed: 512,
            budget: 100
        })
    );
    rec.set_mapping_budget(512);
    path.set_host_bridge_decoders(0, hb);
    assert_eq!(rec.composed().len(), 1);
}

#[test]
fn a_refused_composition_stays_trapped_whole_and_is_retried() {
    let (b0, b1) = (backend(MIB), backend(MIB));
    let rec = RecordingMapper::composing();
    rec.fail_maps(true);
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
    let path = CxlMemoryPath::new(topo, rec.clone());
    path.set_endpoint_memory(0, vec![mem(0, MIB, &b0, 0)]);
    path.set_endpoint_memory(1, vec![mem(0, MIB, &b1, 0)]);
    for ep in 0..2 {
        path.set_endpoint_decoders(ep, vec![ep_decoder(BASE, REGION, 2, 4096, 0..MIB)], true);
    }
    path.set_host_bridge_decoders(0, vec![hb_decoder(BASE, REGION, 4096, vec![0, 1])]);
    assert!(matches!(trapped(&path, 0), Some(TrapReason::Failed(_))));
    assert!(path.mappings().is_empty());
    // Still served, access by access.
    path.write(BASE + 4096, &[5; 4]);
    let mut r = [0u8; 4];
    b1.read(0, &mut r).unwrap();
    assert_eq!(r, [5; 4]);
    rec.fail_maps(false);
    // Any change retries it (here: a DC-style update of endpoint 0).
    let changed = 0..MIB;
    path.update_endpoint_memory(0, &[changed], |_| vec![mem(0, MIB, &b0, 0)]);
    assert_eq!(path.mappings(), vec![(BASE, REGION)]);
}

#[test]
fn uncommit_unmaps_and_recommit_composes_again() {
    let (b0, b1) = (backend(MIB), backend(MIB));
    let (rec, path) = two_way(4096, &b0, &b1);
    rec.log_calls(true);
    let mut d = ep_decoder(BASE, REGION, 2, 4096, 0..REGION / 2);
    d.committed = false;
    path.set_endpoint_decoders(1, vec![d.clone()], true);
    assert!(rec.composed().is_empty());
    assert!(path.mappings().is_empty());
    assert!(path.paths(1).is_empty(), "endpoint 1 decodes nothing now");
    d.committed = true;
    path.set_endpoint_decoders(1, vec![d], true);
    assert_eq!(path.mappings(), vec![(BASE, REGION)]);
    let calls: Vec<String> = rec
        .take_calls()
        .iter()
        .map(|c| match c {
            MapperCall::Map(gpa, ..) => format!("map {gpa:#x}"),
            MapperCall::Compose(gpa, ..) => format!("compose {gpa:#x}"),
            MapperCall::Unmap(gpa) => format!("unmap {gpa:#x}"),
        })
        .collect();
    assert_eq!(
        calls,
        vec![format!("unmap {BASE:#x}"), format!("compose {BASE:#x}")]
    );
}

#[test]
fn direct_and_composed_ranges_side_by_side() {
    // Endpoint 0 also has a 1-way decoder through a 1-way host bridge
    // decoder: a direct memslot next to the composed one.
    let (b0, b1) = (backend(4 * MIB), backend(MIB));
    let (rec, path) = two_way(4096, &b0, &b1);
    path.set_endpoint_memory(0, vec![mem(0, 4 * MIB, &b0, 0)]);
    path.set_endpoint_decoders(
        0,
        vec![
            ep_decoder(BASE, REGION, 2, 4096, 0..REGION / 2),
            ep_decoder(BASE + REGION, 2 * MIB, 1, 256, 2 * MIB..4 * MIB),
        ],
        true,
    );
    path.set_host_bridge_decoders(
        0,
        vec![
            hb_decoder(BASE, REGION, 4096, vec![0, 1]),
            hb_decoder(BASE + REGION, 2 * MIB, 256, vec![0]),
        ],
    );
    assert_eq!(
        path.mappings(),
        vec![(BASE, REGION), (BASE + REGION, 2 * MIB)]
    );
    assert_eq!(rec.composed().len(), 1);
    let kinds: Vec<&str> = path.paths(0).iter().map(|r| r.path.name()).collect();
    assert_eq!(kinds, ["composed", "direct"]);
    assert_eq!(path.paths(1).len(), 1);
}
