//! Dynamic Capacity at scale: the operator -> guest -> memory path cycle
//! with thousands of accepted extents, driven through the public devices
//! API the way the VMM and a guest drive it.
//!
//! One fixed memory window, one host bridge (passthrough), one Type 3
//! device with a single 16 GiB DC region of 2 MiB blocks, statically backed
//! by a (lazily allocated) memfd. Endpoint HDM decoder 0 is committed over
//! the whole region and Mem_Enable set through configuration space, so
//! every accepted extent becomes exactly one `map()` on the
//! [`GuestMemoryMapper`], which records it in a `BTreeMap`.
//!
//! With `N` extents already accepted (at even block indexes), each group
//! measures:
//!
//! - `offer_accept`: `Type3::dc_add` (prescriptive, one 2 MiB block) plus
//!   the guest's Get Event Records, Add Dynamic Capacity Response (4802h)
//!   and Clear Event Records, all through the mailbox registers in BAR 0;
//! - `release`: `Type3::dc_release` (prescriptive) plus Get Event Records,
//!   Release Dynamic Capacity (4803h) and Clear Event Records;
//! - `extent_list`: Get Dynamic Capacity Extent List (4801h), 50 extents
//!   from index `N - 50`;
//! - `mapped_hpa`: `CxlMemoryPath::mapped_hpa` on accepted extents.
//!
//! The first two run as one add/release cycle per iteration (so `N` stays
//! constant) and time only their own half. Speed goals live here, not in
//! timed tests: per-operation cost should grow no faster than O(log N).
//!
//! The `dcd_chain` group adds N = 1, 16, 256 extents as ONE request (one
//! More chain of N records; the guest answers in 85-extent parts with
//! More): the whole add, from the operator's call to N memslots.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use devices::cxl::component::hdm::{
    CTRL_COMMIT, CTRL_COMMITTED, DECODER_BASE_HIGH, DECODER_BASE_LOW, DECODER_CONTROL,
    DECODER_REGS_START, DECODER_SIZE_HIGH, DECODER_SIZE_LOW, HDM_DECODER_ENABLE,
    HDM_DECODER_GLOBAL_CONTROL,
};
use devices::cxl::component::{CACHEMEM_OFFSET, HDM_POINTER};
use devices::cxl::dcd::{
    AddRequest, DcConfig, DcRegions, ReleaseRequest, RemovalPolicy, RequestedExtent,
    SelectionPolicy,
};
use devices::cxl::device_regs::layout::MAILBOX_OFFSET;
use devices::cxl::device_regs::mailbox::{
    COMMAND, COMMANDS_PAYLOAD, CONTROL_DOORBELL, MAILBOX_CONTROL, MAILBOX_STATUS,
};
use devices::cxl::dvsec::{CXL_VENDOR_ID, DEV_CONTROL, DEV_CTRL_MEM_ENABLE, DVSEC_CXL_DEVICE};
use devices::cxl::memdev::events::EVENT_RECORD_SIZE;
use devices::cxl::memdev::MemdevConfig;
use devices::cxl::test_rig::{memfd, one_window, RecordingMapper, WINDOW};
use devices::cxl::type3::{Type3, Type3Config, DEVICE_REGS_OFFSET, MSIX_VECTORS, REGS_BAR};
use devices::interrupt::RecordingMsiGroup;
use devices::pci::PciDevice;

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
/// The DC region (and the window and decoder over it).
const DC_BYTES: u64 = 16 * GIB;
const BLOCK: u64 = 2 * MIB;
const MAX_EXTENTS: u32 = 8192;
/// Accepted extents before each measurement.
const SIZES: [usize; 3] = [256, 1024, 4096];
/// Extents the setup offers per Add Capacity chain (a response of this
/// many fits the 2 KiB payload; the DC event log holds this many records).
const SETUP_CHAIN: usize = 64;
/// Extents in one Add Capacity request, one More chain each.
const CHAIN_SIZES: [usize; 3] = [1, 16, 256];
/// The Dynamic Capacity Event Log's depth (cxlvmm's default).
const DC_LOG_DEPTH: u16 = 256;
/// Updated extents one 2 KiB 4802h/4803h payload carries: (2048 - 8) / 24.
const EXTENTS_PER_RESPONSE: usize = 85;
/// Extents one Get Dynamic Capacity Extent List reads.
const LIST_COUNT: u32 = 50;

const MAILBOX: u64 = DEVICE_REGS_OFFSET + MAILBOX_OFFSET;
const OP_GET_EVENT_RECORDS: u16 = 0x0100;
const OP_CLEAR_EVENT_RECORDS: u16 = 0x0101;
const OP_GET_DC_EXTENT_LIST: u16 = 0x4801;
const OP_ADD_DC_RESPONSE: u16 = 0x4802;
const OP_RELEASE_DC: u16 = 0x4803;
/// Event Log selector of the Dynamic Capacity Event Log.
const DC_EVENT_LOG: u8 = 4;
/// Get Event Records output: record count and first record.
const EVENTS_COUNT: usize = 0x14;
const EVENTS_FIRST: usize = 0x20;
/// Event Record Handle inside a record.
const RECORD_HANDLE: usize = 0x14;

struct Rig {
    dev: Type3,
    rec: Arc<RecordingMapper>,
    /// Block indexes of the accepted extents, in DPA order.
    accepted: Vec<u64>,
}

fn read64(d: &mut Type3, off: u64) -> u64 {
    let mut b = [0u8; 8];
    d.bar_read(REGS_BAR, off, &mut b);
    u64::from_le_bytes(b)
}

fn write32(d: &mut Type3, off: u64, v: u32) {
    d.bar_write(REGS_BAR, off, &v.to_le_bytes());
}

fn cfg_read32(d: &mut Type3, off: u16) -> u32 {
    let mut b = [0u8; 4];
    d.config_read(off, &mut b);
    u32::from_le_bytes(b)
}

/// The PCIe DVSEC for CXL Devices, found the way a guest finds it: by
/// walking the extended capabilities (DVSEC is ID 23h).
fn cxl_device_dvsec(d: &mut Type3) -> u16 {
    let mut off = 0x100u16;
    while off != 0 {
        let hdr = cfg_read32(d, off);
        if hdr & 0xffff == 0x23 {
            let vendor = cfg_read32(d, off + 4) & 0xffff;
            let id = cfg_read32(d, off + 8) & 0xffff;
            if vendor == u32::from(CXL_VENDOR_ID) && id == u32::from(DVSEC_CXL_DEVICE) {
                return off;
            }
        }
        off = (hdr >> 20) as u16;
    }
    panic!("no PCIe DVSEC for CXL Devices");
}

/// Runs a mailbox command through BAR 0 as `cxl_pci` does: payload,
/// command register, doorbell. Returns the output payload's first
/// `out_len` bytes; panics on a non-zero return code.
fn mbox(d: &mut Type3, opcode: u16, input: &[u8], out_len: usize) -> Vec<u8> {
    d.bar_write(REGS_BAR, MAILBOX + COMMANDS_PAYLOAD, input);
    let cmd = u64::from(opcode) | ((input.len() as u64) << 16);
    d.bar_write(REGS_BAR, MAILBOX + COMMAND, &cmd.to_le_bytes());
    write32(d, MAILBOX + MAILBOX_CONTROL, CONTROL_DOORBELL);
    let rc = (read64(d, MAILBOX + MAILBOX_STATUS) >> 32) & 0xffff;
    assert_eq!(rc, 0, "mailbox command {opcode:#06x} failed");
    let mut out = vec![0u8; out_len];
    d.bar_read(REGS_BAR, MAILBOX + COMMANDS_PAYLOAD, &mut out);
    out
}

/// Updated Extent List inputs of 4802h / 4803h for the given blocks: as
/// many commands as the 2 KiB payload needs, More (Flags bit 0) on all but
/// the last, as Linux's driver splits them (CXL 3.1 8.2.9.9.9.3).
fn extent_lists(blocks: &[u64]) -> Vec<Vec<u8>> {
    let parts: Vec<&[u64]> = blocks.chunks(EXTENTS_PER_RESPONSE).collect();
    let last = parts.len().saturating_sub(1);
    parts
        .iter()
        .enumerate()
        .map(|(i, part)| {
            let mut p = (part.len() as u32).to_le_bytes().to_vec();
            p.extend([u8::from(i < last), 0, 0, 0]);
            for b in part.iter() {
                p.extend((b * BLOCK).to_le_bytes());
                p.extend(BLOCK.to_le_bytes());
                p.extend([0u8; 8]);
            }
            p
        })
        .collect()
}

/// The guest's event handling: reads the DC event log and clears what it
/// read, until the log is empty. Returns the number of records.
fn drain_dc_events(d: &mut Type3) -> usize {
    let mut total = 0;
    loop {
        let head = mbox(d, OP_GET_EVENT_RECORDS, &[DC_EVENT_LOG], EVENTS_FIRST);
        let n = usize::from(u16::from_le_bytes([
            head[EVENTS_COUNT],
            head[EVENTS_COUNT + 1],
        ]));
        if n == 0 {
            return total;
        }
        let mut clear = vec![DC_EVENT_LOG, 0, n as u8, 0, 0, 0];
        for i in 0..n {
            let at = MAILBOX
                + COMMANDS_PAYLOAD
                + (EVENTS_FIRST + i * EVENT_RECORD_SIZE + RECORD_HANDLE) as u64;
            let mut h = [0u8; 2];
            d.bar_read(REGS_BAR, at, &mut h);
            clear.extend(h);
        }
        mbox(d, OP_CLEAR_EVENT_RECORDS, &clear, 0);
        total += n;
    }
}

fn prescriptive(blocks: &[u64]) -> Vec<RequestedExtent> {
    blocks
        .iter()
        .map(|b| RequestedExtent::new(b * BLOCK, BLOCK))
        .collect()
}

/// Operator offers `blocks`; the guest reads the records, accepts them
/// all and clears the records.
fn offer_accept(r: &mut Rig, blocks: &[u64]) {
    r.dev
        .dc_add(AddRequest {
            host_id: 0,
            selection_policy: SelectionPolicy::Prescriptive,
            region: 0,
            tag: None,
            extents: prescriptive(blocks),
            backend: None,
        })
        .expect("dc_add");
    let head = mbox(
        &mut r.dev,
        OP_GET_EVENT_RECORDS,
        &[DC_EVENT_LOG],
        EVENTS_FIRST,
    );
    black_box(head);
    for p in extent_lists(blocks) {
        mbox(&mut r.dev, OP_ADD_DC_RESPONSE, &p, 0);
    }
    drain_dc_events(&mut r.dev);
}

/// Operator asks for `blocks` back; the guest reads the records, releases
/// them and clears the records.
fn release(r: &mut Rig, blocks: &[u64]) {
    r.dev
        .dc_release(ReleaseRequest {
            host_id: 0,
            removal_policy: RemovalPolicy::Prescriptive,
            forced: false,
            sanitize_on_release: false,
            region: 0,
            tag: None,
            extents: prescriptive(blocks),
        })
        .expect("dc_release");
    let head = mbox(
        &mut r.dev,
        OP_GET_EVENT_RECORDS,
        &[DC_EVENT_LOG],
        EVENTS_FIRST,
    );
    black_box(head);
    for p in extent_lists(blocks) {
        mbox(&mut r.dev, OP_RELEASE_DC, &p, 0);
    }
    drain_dc_events(&mut r.dev);
}

/// A device with `n` accepted extents at blocks 0, 2, 4, ..., mapped.
fn rig(n: usize) -> Rig {
    let rec = RecordingMapper::new();
    let path = Arc::new(one_window(DC_BYTES, rec.clone()));
    let backing = memfd("dc0", DC_BYTES, None);
    let memdev = MemdevConfig {
        volatile_bytes: 0,
        lsa_size: 0,
        dc: DcConfig {
            regions: DcRegions::Equal {
                count: 1,
                total_bytes: DC_BYTES,
                block_size: BLOCK,
                sanitize_on_release: false,
            },
            static_backing: true,
            max_extents: MAX_EXTENTS,
            ..DcConfig::default()
        },
        ..MemdevConfig::default()
    };
    let mut memdev = memdev;
    memdev.event_log_depths.dynamic_capacity = DC_LOG_DEPTH;
    let mut dev = Type3::new(
        Type3Config {
            memdev,
            volatile: None,
            persistent: None,
            partitionable: None,
            dc_backing: Some(backing),
        },
        Arc::new(RecordingMsiGroup::new(usize::from(MSIX_VECTORS))),
        path,
        0,
    )
    .expect("type 3 device");

    // Endpoint decoder 0 over the whole DC region, then decoding and
    // Mem_Enable, as Linux's cxl_port / cxl_pci do.
    let hdm = CACHEMEM_OFFSET + HDM_POINTER;
    let dec = hdm + DECODER_REGS_START;
    write32(&mut dev, dec + DECODER_BASE_LOW, WINDOW as u32);
    write32(&mut dev, dec + DECODER_BASE_HIGH, (WINDOW >> 32) as u32);
    write32(&mut dev, dec + DECODER_SIZE_LOW, DC_BYTES as u32);
    write32(&mut dev, dec + DECODER_SIZE_HIGH, (DC_BYTES >> 32) as u32);
    write32(&mut dev, dec + DECODER_CONTROL, CTRL_COMMIT);
    let ctrl = read64(&mut dev, dec + DECODER_CONTROL) as u32;
    assert_ne!(ctrl & CTRL_COMMITTED, 0, "decoder not committed: {ctrl:#x}");
    write32(
        &mut dev,
        hdm + HDM_DECODER_GLOBAL_CONTROL,
        HDM_DECODER_ENABLE,
    );
    let dvsec = cxl_device_dvsec(&mut dev);
    dev.config_write(
        dvsec + DEV_CONTROL as u16,
        &DEV_CTRL_MEM_ENABLE.to_le_bytes(),
    );

    let mut r = Rig {
        dev,
        rec,
        accepted: Vec::with_capacity(n),
    };
    let blocks: Vec<u64> = (0..n as u64).map(|i| 2 * i).collect();
    for chunk in blocks.chunks(SETUP_CHAIN) {
        offer_accept(&mut r, chunk);
    }
    r.accepted = blocks;
    assert_eq!(r.rec.len(), n, "one memslot per accepted extent");
    assert_eq!(r.rec.counts(), (n as u64, 0));
    r
}

/// A free block in the middle of the accepted ones.
fn probe_block(n: usize) -> u64 {
    2 * (n as u64 / 2) + 1
}

fn bench(c: &mut Criterion) {
    for n in SIZES {
        let mut r = rig(n);
        let probe = probe_block(n);

        // One cycle outside the timing: the extent is one map, then one
        // unmap, and nothing else moves.
        let before = r.rec.counts();
        offer_accept(&mut r, &[probe]);
        assert_eq!(r.rec.counts(), (before.0 + 1, before.1));
        assert_eq!(
            r.dev.path().mapped_hpa(0, probe * BLOCK + 0x1000),
            Some(WINDOW + probe * BLOCK + 0x1000)
        );
        release(&mut r, &[probe]);
        assert_eq!(r.rec.counts(), (before.0 + 1, before.1 + 1));
        assert_eq!(r.dev.path().mapped_hpa(0, probe * BLOCK), None);
        assert_eq!(r.rec.len(), n);

        let mut g = c.benchmark_group("dcd_scale");
        g.warm_up_time(Duration::from_millis(500));
        g.measurement_time(Duration::from_secs(3));
        g.sample_size(30);

        g.bench_function(BenchmarkId::new("offer_accept", n), |b| {
            b.iter_custom(|iters| {
                let mut t = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    offer_accept(&mut r, &[probe]);
                    t += start.elapsed();
                    release(&mut r, &[probe]);
                }
                t
            })
        });

        g.bench_function(BenchmarkId::new("release", n), |b| {
            b.iter_custom(|iters| {
                let mut t = Duration::ZERO;
                for _ in 0..iters {
                    offer_accept(&mut r, &[probe]);
                    let start = Instant::now();
                    release(&mut r, &[probe]);
                    t += start.elapsed();
                }
                t
            })
        });

        let start = (n as u32 - LIST_COUNT).to_le_bytes();
        let count = LIST_COUNT.to_le_bytes();
        let input = [count, start].concat();
        let out_len = 0x10 + LIST_COUNT as usize * 0x28;
        let list = mbox(&mut r.dev, OP_GET_DC_EXTENT_LIST, &input, out_len);
        assert_eq!(
            u32::from_le_bytes(list[0..4].try_into().unwrap()),
            LIST_COUNT
        );
        assert_eq!(u32::from_le_bytes(list[4..8].try_into().unwrap()), n as u32);
        let first = u64::from_le_bytes(list[0x10..0x18].try_into().unwrap());
        assert_eq!(first, r.accepted[n - LIST_COUNT as usize] * BLOCK);
        g.bench_function(BenchmarkId::new("extent_list", n), |b| {
            b.iter(|| black_box(mbox(&mut r.dev, OP_GET_DC_EXTENT_LIST, &input, out_len)))
        });

        // Lookups spread over every accepted extent (a fixed stride through
        // them so no single BTreeMap path stays hot).
        let dpas: Vec<u64> = (0..1024)
            .map(|i| r.accepted[(i * 997) % n] * BLOCK + 0x1000)
            .collect();
        let path = r.dev.path().clone();
        let mut i = 0;
        g.bench_function(BenchmarkId::new("mapped_hpa", n), |b| {
            b.iter(|| {
                let dpa = dpas[i % dpas.len()];
                i += 1;
                black_box(path.mapped_hpa(0, black_box(dpa)))
            })
        });
        g.finish();
        assert_eq!(r.rec.len(), n, "N stayed constant");
    }
}

/// Adding N extents as one request: one `Type3::dc_add` naming N blocks,
/// one More chain of N records, the guest's responses in payload-sized
/// parts; every extent ends up one memslot.
fn chain(c: &mut Criterion) {
    let mut r = rig(0);
    let mut g = c.benchmark_group("dcd_chain");
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(3));
    g.sample_size(20);
    for n in CHAIN_SIZES {
        let blocks: Vec<u64> = (0..n as u64).map(|i| 2 * i).collect();
        offer_accept(&mut r, &blocks);
        assert_eq!(r.rec.len(), n, "one request, {n} memslots");
        release(&mut r, &blocks);
        assert_eq!(r.rec.len(), 0);
        g.bench_function(BenchmarkId::new("add_one_request", n), |b| {
            b.iter_custom(|iters| {
                let mut t = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    offer_accept(&mut r, &blocks);
                    t += start.elapsed();
                    release(&mut r, &blocks);
                }
                t
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench, chain);
criterion_main!(benches);
