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

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
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
use devices::cxl::decode::Interleave;
use devices::cxl::device_regs::layout::MAILBOX_OFFSET;
use devices::cxl::device_regs::mailbox::{
    COMMAND, COMMANDS_PAYLOAD, CONTROL_DOORBELL, MAILBOX_CONTROL, MAILBOX_STATUS,
};
use devices::cxl::dvsec::{CXL_VENDOR_ID, DEV_CONTROL, DEV_CTRL_MEM_ENABLE, DVSEC_CXL_DEVICE};
use devices::cxl::events::EVENT_RECORD_SIZE;
use devices::cxl::fabric::{
    CxlMemoryPath, GuestMemoryMapper, HostBridgeDesc, Topology, WindowDesc,
};
use devices::cxl::memdev::MemdevConfig;
use devices::cxl::type3::{Type3, Type3Config, DEVICE_REGS_OFFSET, MSIX_VECTORS, REGS_BAR};
use devices::interrupt::MsiGroup;
use devices::memory::{BackendConfig, BackendKind, HostMemory};
use devices::pci::PciDevice;

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
const WINDOW: u64 = 0x80_0000_0000;
/// The DC region (and the window and decoder over it).
const DC_BYTES: u64 = 16 * GIB;
const BLOCK: u64 = 2 * MIB;
const MAX_EXTENTS: u32 = 8192;
/// Accepted extents before each measurement.
const SIZES: [usize; 3] = [256, 1024, 4096];
/// Extents the setup offers per Add Capacity chain (a response of this
/// many fits the 2 KiB payload; the DC event log holds this many records).
const SETUP_CHAIN: usize = 64;
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

/// The VMM's memory manager as a recorder: installed slots by GPA, and
/// how many map / unmap calls it saw.
#[derive(Default)]
struct Recorder {
    slots: Mutex<BTreeMap<u64, u64>>,
    maps: AtomicU64,
    unmaps: AtomicU64,
}

impl GuestMemoryMapper for Recorder {
    fn map(&self, gpa: u64, _b: &Arc<HostMemory>, _offset: u64, len: u64) -> Result<(), String> {
        self.maps.fetch_add(1, Ordering::Relaxed);
        let old = self.slots.lock().unwrap().insert(gpa, len);
        assert!(old.is_none(), "double map at {gpa:#x}");
        Ok(())
    }

    fn unmap(&self, gpa: u64) -> Result<(), String> {
        self.unmaps.fetch_add(1, Ordering::Relaxed);
        self.slots
            .lock()
            .unwrap()
            .remove(&gpa)
            .map(|_| ())
            .ok_or_else(|| format!("{gpa:#x} not mapped"))
    }
}

impl Recorder {
    fn counts(&self) -> (u64, u64) {
        (
            self.maps.load(Ordering::Relaxed),
            self.unmaps.load(Ordering::Relaxed),
        )
    }

    fn len(&self) -> usize {
        self.slots.lock().unwrap().len()
    }
}

/// MSI-X vectors that go nowhere (the bench never enables them anyway).
struct NoMsi;

impl MsiGroup for NoMsi {
    fn len(&self) -> usize {
        usize::from(MSIX_VECTORS)
    }

    fn set_route(&self, _: usize, _: devices::interrupt::MsiMessage) -> std::io::Result<()> {
        Ok(())
    }

    fn trigger(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
}

struct Rig {
    dev: Type3,
    rec: Arc<Recorder>,
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

/// Updated Extent List input of 4802h / 4803h for the given blocks.
fn extent_list(blocks: &[u64]) -> Vec<u8> {
    let mut p = (blocks.len() as u32).to_le_bytes().to_vec();
    p.extend([0u8; 4]);
    for b in blocks {
        p.extend((b * BLOCK).to_le_bytes());
        p.extend(BLOCK.to_le_bytes());
        p.extend([0u8; 8]);
    }
    p
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
    mbox(&mut r.dev, OP_ADD_DC_RESPONSE, &extent_list(blocks), 0);
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
    mbox(&mut r.dev, OP_RELEASE_DC, &extent_list(blocks), 0);
    drain_dc_events(&mut r.dev);
}

/// A device with `n` accepted extents at blocks 0, 2, 4, ..., mapped.
fn rig(n: usize) -> Rig {
    let rec = Arc::new(Recorder::default());
    let path = Arc::new(CxlMemoryPath::new(
        Topology {
            windows: vec![WindowDesc {
                base: WINDOW,
                size: DC_BYTES,
                interleave: Interleave::new(1, 256).unwrap(),
                targets: vec![0],
            }],
            host_bridges: vec![HostBridgeDesc {
                root_ports: vec![(0, Some(0))],
                has_hdm: false,
            }],
            endpoints: 1,
        },
        rec.clone(),
    ));
    let backing = Arc::new(
        HostMemory::new(BackendConfig {
            id: "dc0".into(),
            kind: BackendKind::Memfd,
            path: None,
            size: DC_BYTES,
            share: true,
            prealloc: false,
            tag: None,
        })
        .expect("memfd backing"),
    );
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
    let mut dev = Type3::new(
        Type3Config {
            memdev,
            volatile: None,
            persistent: None,
            dc_backing: Some(backing),
        },
        Arc::new(NoMsi),
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

criterion_group!(benches, bench);
criterion_main!(benches);
