use super::*;
use crate::cxl::component::hdm::{HdmDecoderInfo, HdmDecoderTarget};
use crate::cxl::decode::Interleave;
use crate::cxl::test_rig::{memfd, one_window, RecordingMapper, WINDOW};

const BASE: u64 = WINDOW;
const MIB: u64 = 1 << 20;

/// A memfd backend of `size` bytes (also for the update tests).
pub(super) fn backend(size: u64) -> Arc<HostMemory> {
    memfd("t", size, None)
}

pub(super) fn ep_decoder(
    base: u64,
    size: u64,
    ways: u32,
    gran: u64,
    dpa: Range<u64>,
) -> HdmDecoderInfo {
    HdmDecoderInfo {
        index: 0,
        committed: true,
        locked: false,
        base,
        size,
        interleave_ways: ways,
        interleave_granularity: gran,
        host_only: true,
        target: HdmDecoderTarget::Dpa {
            skip: 0,
            dpa: Some(dpa),
        },
    }
}

pub(super) fn hb_decoder(base: u64, size: u64, gran: u64, ports: Vec<u8>) -> HdmDecoderInfo {
    HdmDecoderInfo {
        index: 0,
        committed: true,
        locked: false,
        base,
        size,
        interleave_ways: ports.len() as u32,
        interleave_granularity: gran,
        host_only: true,
        target: HdmDecoderTarget::Ports(ports),
    }
}

fn single(size: u64) -> (Arc<RecordingMapper>, CxlMemoryPath) {
    let rec = RecordingMapper::new();
    (rec.clone(), one_window(size, rec))
}

pub(super) fn mem(dpa: u64, len: u64, b: &Arc<HostMemory>, offset: u64) -> MemoryRange {
    MemoryRange {
        dpa,
        len,
        backend: b.clone(),
        offset,
    }
}

#[test]
fn direct_path_maps_only_when_committed_and_enabled() {
    let (rec, path) = single(1 << 30);
    let b = backend(256 * MIB);
    path.set_endpoint_memory(0, vec![mem(0, 256 * MIB, &b, 0)]);
    assert!(rec.maps().is_empty(), "no decoder yet");
    let d = ep_decoder(BASE, 256 * MIB, 1, 256, 0..256 * MIB);
    path.set_endpoint_decoders(0, vec![d.clone()], false);
    assert!(rec.maps().is_empty(), "decoding not enabled");
    path.set_endpoint_decoders(0, vec![d.clone()], true);
    assert_eq!(rec.maps(), vec![(BASE, 0, 256 * MIB)]);
    assert_eq!(path.mapped_hpa(0, 0x1234), Some(BASE + 0x1234));
    assert_eq!(
        path.route(BASE + 5),
        Some(Route {
            endpoint: 0,
            dpa: 5
        })
    );
    // Re-reporting the same state changes nothing.
    path.set_endpoint_decoders(0, vec![d.clone()], true);
    assert_eq!(rec.maps().len(), 1);
    // Uncommit.
    let mut u = d;
    u.committed = false;
    path.set_endpoint_decoders(0, vec![u], true);
    assert!(rec.maps().is_empty());
    assert_eq!(path.route(BASE), None);
}

#[test]
fn decoder_with_dpa_skip_maps_the_right_backend_offset() {
    let (rec, path) = single(1 << 30);
    let vol = backend(256 * MIB);
    let pmem = backend(512 * MIB);
    path.set_endpoint_memory(
        0,
        vec![
            mem(0, 256 * MIB, &vol, 0),
            mem(256 * MIB, 512 * MIB, &pmem, 0),
        ],
    );
    // A decoder for the second half of the persistent partition.
    let d = ep_decoder(BASE + 256 * MIB, 256 * MIB, 1, 256, 512 * MIB..768 * MIB);
    path.set_endpoint_decoders(0, vec![d], true);
    assert_eq!(rec.maps(), vec![(BASE + 256 * MIB, 256 * MIB, 256 * MIB)]);
}

#[test]
fn extents_become_separate_slots_and_go_away() {
    let (rec, path) = single(1 << 30);
    let d = ep_decoder(BASE, 1 << 30, 1, 256, 0..1 << 30);
    path.set_endpoint_decoders(0, vec![d], true);
    let e1 = backend(2 * MIB);
    let e2 = backend(4 * MIB);
    path.set_endpoint_memory(0, vec![mem(2 * MIB, 2 * MIB, &e1, 0)]);
    path.set_endpoint_memory(
        0,
        vec![
            mem(2 * MIB, 2 * MIB, &e1, 0),
            mem(64 * MIB, 4 * MIB, &e2, 0),
        ],
    );
    assert_eq!(
        rec.maps(),
        vec![(BASE + 2 * MIB, 0, 2 * MIB), (BASE + 64 * MIB, 0, 4 * MIB)]
    );
    path.set_endpoint_memory(0, vec![mem(64 * MIB, 4 * MIB, &e2, 0)]);
    assert_eq!(rec.maps(), vec![(BASE + 64 * MIB, 0, 4 * MIB)]);
    // A different backend at the same DPA replaces the slot.
    let e3 = backend(4 * MIB);
    path.set_endpoint_memory(0, vec![mem(64 * MIB, 4 * MIB, &e3, 0)]);
    assert_eq!(rec.maps(), vec![(BASE + 64 * MIB, 0, 4 * MIB)]);
    // Unbacked DPA: all-ones, counted.
    let mut buf = [0u8; 8];
    path.read(BASE, &mut buf);
    assert_eq!(buf, [0xff; 8]);
    assert_eq!(path.stats().unrouted, 1);
}

fn interleaved() -> (
    Arc<RecordingMapper>,
    CxlMemoryPath,
    Arc<HostMemory>,
    Arc<HostMemory>,
) {
    let rec = RecordingMapper::new();
    let topo = Topology {
        windows: vec![WindowDesc {
            base: BASE,
            size: 512 * MIB,
            interleave: Interleave::new(1, 256).unwrap(),
            targets: vec![0],
        }],
        host_bridges: vec![HostBridgeDesc {
            root_ports: vec![(0, Some(0)), (1, Some(1))],
            has_hdm: true,
        }],
        endpoints: 2,
    };
    let path = CxlMemoryPath::new(topo, rec.clone());
    let b0 = backend(256 * MIB);
    let b1 = backend(256 * MIB);
    path.set_endpoint_memory(0, vec![mem(0, 256 * MIB, &b0, 0)]);
    path.set_endpoint_memory(1, vec![mem(0, 256 * MIB, &b1, 0)]);
    path.set_host_bridge_decoders(0, vec![hb_decoder(BASE, 512 * MIB, 256, vec![0, 1])]);
    for ep in 0..2 {
        let d = ep_decoder(BASE, 512 * MIB, 2, 256, 0..256 * MIB);
        path.set_endpoint_decoders(ep, vec![d], true);
    }
    (rec, path, b0, b1)
}

#[test]
fn interleaved_path_is_emulated_granule_by_granule() {
    let (rec, path, b0, b1) = interleaved();
    assert!(rec.maps().is_empty(), "interleaved: no memslots");
    // Granules alternate: 0 -> ep0 dpa 0, 256 -> ep1 dpa 0, 512 -> ep0 dpa 256.
    path.write(BASE, &[1; 8]);
    path.write(BASE + 256, &[2; 8]);
    path.write(BASE + 512 + 8, &[3; 8]);
    let mut b = [0u8; 8];
    b0.read(0, &mut b).unwrap();
    assert_eq!(b, [1; 8]);
    b1.read(0, &mut b).unwrap();
    assert_eq!(b, [2; 8]);
    b0.read(256 + 8, &mut b).unwrap();
    assert_eq!(b, [3; 8]);
    // An access straddling a granule boundary is split between devices.
    path.write(BASE + 252, &[9; 8]);
    let mut four = [0u8; 4];
    b0.read(252, &mut four).unwrap();
    assert_eq!(four, [9; 4]);
    b1.read(0, &mut four).unwrap();
    assert_eq!(four, [9; 4]);
    let mut r = [0u8; 8];
    path.read(BASE + 252, &mut r);
    assert_eq!(r, [9; 8]);
    assert_eq!(
        path.route(BASE + 256 * 3 + 1),
        Some(Route {
            endpoint: 1,
            dpa: 257
        })
    );
}

#[test]
fn host_bridge_decoder_missing_means_no_route() {
    let (_, path, _, _) = interleaved();
    path.set_host_bridge_decoders(0, vec![]);
    assert_eq!(path.route(BASE), None);
    let mut b = [0u8; 4];
    path.read(BASE, &mut b);
    assert_eq!(b, [0xff; 4]);
}

#[test]
fn failed_map_falls_back_to_emulation_and_retries_later() {
    let (rec, path) = single(1 << 30);
    let b = backend(256 * MIB);
    rec.fail_maps(true);
    path.set_endpoint_memory(0, vec![mem(0, 256 * MIB, &b, 0)]);
    let d = ep_decoder(BASE, 256 * MIB, 1, 256, 0..256 * MIB);
    path.set_endpoint_decoders(0, vec![d.clone()], true);
    assert!(rec.maps().is_empty());
    path.write(BASE + 16, &[7; 4]);
    let mut r = [0u8; 4];
    b.read(16, &mut r).unwrap();
    assert_eq!(r, [7; 4]);
    rec.fail_maps(false);
    path.set_endpoint_decoders(0, vec![d], true);
    assert_eq!(rec.maps().len(), 1);
}

#[test]
fn accesses_outside_windows_and_at_the_top_never_panic() {
    let (_, path) = single(256 * MIB);
    let mut b = [0u8; 8];
    path.read(0, &mut b);
    path.read(u64::MAX - 3, &mut b);
    path.write(u64::MAX, &b);
    assert_eq!(b, [0xff; 8]);
}

/// One window, one host bridge with two root ports and HDM decoders, two
/// endpoints: the host bridge decoders decide which HPA goes where.
fn two_ports_one_way(window: u64) -> (Arc<RecordingMapper>, CxlMemoryPath) {
    let rec = RecordingMapper::new();
    let topo = Topology {
        windows: vec![WindowDesc {
            base: BASE,
            size: window,
            interleave: Interleave::new(1, 256).unwrap(),
            targets: vec![0],
        }],
        host_bridges: vec![HostBridgeDesc {
            root_ports: vec![(0, Some(0)), (1, Some(1))],
            has_hdm: true,
        }],
        endpoints: 2,
    };
    (rec.clone(), CxlMemoryPath::new(topo, rec))
}

#[test]
fn direct_slots_follow_every_host_bridge_decoder_not_just_the_ends() {
    let (rec, path) = two_ports_one_way(1 << 30);
    const G: u64 = 256 * MIB;
    // [B, B+G) -> port 0, [B+G, B+2G) -> port 1, [B+2G, B+3G) -> port 0.
    path.set_host_bridge_decoders(
        0,
        vec![
            hb_decoder(BASE, G, 256, vec![0]),
            hb_decoder(BASE + G, G, 256, vec![1]),
            hb_decoder(BASE + 2 * G, G, 256, vec![0]),
        ],
    );
    let (b0, b1) = (backend(3 * G), backend(G));
    path.set_endpoint_memory(0, vec![mem(0, 3 * G, &b0, 0)]);
    path.set_endpoint_memory(1, vec![mem(0, G, &b1, 0)]);
    path.set_endpoint_decoders(0, vec![ep_decoder(BASE, 3 * G, 1, 256, 0..3 * G)], true);
    path.set_endpoint_decoders(1, vec![ep_decoder(BASE + G, G, 1, 256, 0..G)], true);
    // Endpoint 0's decoder spans all three, but the middle belongs to
    // endpoint 1: three slots, each where the decode sends it.
    assert_eq!(
        rec.maps(),
        vec![(BASE, 0, G), (BASE + G, 0, G), (BASE + 2 * G, 2 * G, G)]
    );
    assert_eq!(path.route(BASE + G + 0x1000).map(|r| r.endpoint), Some(1));
    assert_eq!(path.mapped_hpa(1, 0x1000), Some(BASE + G + 0x1000));
    assert_eq!(path.mapped_hpa(0, G + 0x1000), None);
    assert_eq!(path.mapped_hpa(0, 2 * G + 8), Some(BASE + 2 * G + 8));
}

#[test]
fn hpa_no_host_bridge_decoder_covers_is_not_mapped() {
    let (rec, path) = two_ports_one_way(1 << 30);
    const G: u64 = 256 * MIB;
    path.set_host_bridge_decoders(
        0,
        vec![
            hb_decoder(BASE, G, 256, vec![0]),
            hb_decoder(BASE + 2 * G, G, 256, vec![0]),
        ],
    );
    let b0 = backend(3 * G);
    path.set_endpoint_memory(0, vec![mem(0, 3 * G, &b0, 0)]);
    path.set_endpoint_decoders(0, vec![ep_decoder(BASE, 3 * G, 1, 256, 0..3 * G)], true);
    assert_eq!(rec.maps(), vec![(BASE, 0, G), (BASE + 2 * G, 2 * G, G)]);
    let mut r = [0u8; 4];
    path.read(BASE + G + 64, &mut r);
    assert_eq!(r, [0xff; 4], "the gap decodes nowhere");
}

#[test]
fn a_slot_that_fails_to_unmap_stays_on_the_books_until_it_goes() {
    let (rec, path) = single(1 << 30);
    let b = backend(256 * MIB);
    path.set_endpoint_memory(0, vec![mem(0, 256 * MIB, &b, 0)]);
    let d = ep_decoder(BASE, 256 * MIB, 1, 256, 0..256 * MIB);
    path.set_endpoint_decoders(0, vec![d], true);
    assert_eq!(path.mappings(), vec![(BASE, 256 * MIB)]);
    rec.fail_unmaps(true);
    path.set_endpoint_decoders(0, vec![], true);
    assert_eq!(
        path.mappings(),
        vec![(BASE, 256 * MIB)],
        "still live in KVM"
    );
    rec.fail_unmaps(false);
    path.set_endpoint_decoders(0, vec![], true);
    assert!(path.mappings().is_empty());
    assert!(rec.maps().is_empty());
}
