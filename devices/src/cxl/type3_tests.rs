//! A Type 3 device driven the way Linux's cxl_pci and cxl_mem drive it.

use std::collections::BTreeMap;

use super::testing::{build, commit_decoder0, dc_only, dc_response, mbox, read64, write32};
use super::*;
use crate::cxl::component::hdm::{
    CTRL_COMMIT, CTRL_COMMITTED, DECODER_BASE_HIGH, DECODER_BASE_LOW, DECODER_CONTROL,
    DECODER_REGS_START, DECODER_SIZE_HIGH, DECODER_SIZE_LOW, HDM_DECODER_ENABLE,
    HDM_DECODER_GLOBAL_CONTROL,
};
use crate::cxl::component::{CACHEMEM_OFFSET, HDM_POINTER};
use crate::cxl::device_regs::layout::{MAILBOX_OFFSET, MEMDEV_STATUS_OFFSET};
use crate::cxl::device_regs::mailbox::{
    COMMAND, COMMANDS_PAYLOAD, CONTROL_DOORBELL, CONTROL_MB_DOORBELL_INTERRUPT, MAILBOX_CONTROL,
    MAILBOX_STATUS,
};
use crate::cxl::doe::{DOE_CONTROL, DOE_READ_DATA_MAILBOX, DOE_STATUS, DOE_WRITE_DATA_MAILBOX};
use crate::cxl::dvsec::{CXL_VENDOR_ID, DVSEC_CXL_DEVICE, DVSEC_REGISTER_LOCATOR};
use crate::cxl::test_rig::{memfd, RecordingMapper, WINDOW};
use crate::interrupt::RecordingMsiGroup;
use crate::pci::caps::{find_dvsecs, CAP_ID_MSIX};

const SIZE: u64 = 256 << 20;
const SERIAL: u64 = 0xdead_beef_0001;

/// Memslots: GPA -> (backend offset, length).
fn slots(maps: &RecordingMapper) -> BTreeMap<u64, (u64, u64)> {
    maps.maps()
        .into_iter()
        .map(|(gpa, offset, len)| (gpa, (offset, len)))
        .collect()
}

struct Rig {
    dev: Type3,
    maps: Arc<RecordingMapper>,
    msi: Arc<RecordingMsiGroup>,
    backend: Arc<HostMemory>,
}

fn rig() -> Rig {
    let backend = memfd("vmem0", SIZE, None);
    let (dev, maps, msi) = build(
        Type3Config {
            memdev: MemdevConfig {
                serial: SERIAL,
                volatile_bytes: SIZE,
                ..MemdevConfig::default()
            },
            volatile: Some(backend.clone()),
            persistent: None,
            partitionable: None,
            dc_backing: None,
        },
        SIZE,
    );
    Rig {
        dev,
        maps,
        msi,
        backend,
    }
}

fn cfg_read32(d: &mut Type3, off: u16) -> u32 {
    let mut b = [0u8; 4];
    d.config_read(off, &mut b);
    u32::from_le_bytes(b)
}

#[test]
fn configuration_space_identifies_a_cxl_memory_device() {
    let mut r = rig();
    let d = &mut r.dev;
    assert_eq!(cfg_read32(d, 0x08) >> 8, CLASS_CXL_MEMORY);
    let cfg = d.function.config();
    assert_eq!(find_dvsecs(cfg, CXL_VENDOR_ID, DVSEC_CXL_DEVICE).len(), 1);
    let loc = find_dvsecs(cfg, CXL_VENDOR_ID, DVSEC_REGISTER_LOCATOR)[0];
    // Entry 1: BAR 0, component registers (1) at 0; entry 2: device regs (3) at 64 KiB.
    let e1 = cfg_read32(d, loc + 0x0c);
    let e2 = cfg_read32(d, loc + 0x14);
    assert_eq!((e1 & 0x7, (e1 >> 8) & 0xff, e1 & 0xffff_0000), (0, 1, 0));
    assert_eq!(
        (e2 & 0x7, (e2 >> 8) & 0xff, e2 & 0xffff_0000),
        (0, 3, 0x1_0000)
    );
    // The DSN carries the serial.
    let dsn = d
        .function
        .config()
        .ext_capabilities()
        .into_iter()
        .find(|c| c.id == 3)
        .unwrap()
        .offset;
    let lo = cfg_read32(d, dsn + 4);
    let hi = cfg_read32(d, dsn + 8);
    assert_eq!(u64::from(hi) << 32 | u64::from(lo), SERIAL);
}

#[test]
fn mailbox_runs_commands_and_interrupts() {
    let mut r = rig();
    let d = &mut r.dev;
    // Media ready and mailbox ready (cxl_await_media_ready, cxl_pci_setup_mailbox).
    let status = read64(d, DEVICE_REGS_OFFSET + MEMDEV_STATUS_OFFSET);
    assert_eq!((status >> 2) & 3, 1, "media ready");
    assert_ne!(status & (1 << 4), 0, "mailbox ready");
    // Enable MSI-X with vector 0 unmasked.
    let msix = d.function.config().find_capability(CAP_ID_MSIX).unwrap();
    d.config_write(msix + 2, &0x8000u16.to_le_bytes());
    d.bar_write(MSIX_BAR, 0, &0xfee0_0000u32.to_le_bytes());
    d.bar_write(MSIX_BAR, 8, &0x40u32.to_le_bytes());
    d.bar_write(MSIX_BAR, 12, &0u32.to_le_bytes());
    // Identify (0001h) with the doorbell interrupt enabled.
    let mb = DEVICE_REGS_OFFSET + MAILBOX_OFFSET;
    d.bar_write(REGS_BAR, mb + COMMAND, &1u64.to_le_bytes());
    write32(
        d,
        mb + MAILBOX_CONTROL,
        CONTROL_DOORBELL | CONTROL_MB_DOORBELL_INTERRUPT,
    );
    assert_eq!(read64(d, mb + MAILBOX_CONTROL) & 1, 0, "doorbell cleared");
    assert_eq!(
        (read64(d, mb + MAILBOX_STATUS) >> 32) & 0xffff,
        0,
        "success"
    );
    let out_len = (read64(d, mb + COMMAND) >> 16) & 0x1f_ffff;
    assert_eq!(out_len, 0x12, "Identify output length");
    assert_eq!(r.msi.fired().len(), 1);
    let _ = COMMANDS_PAYLOAD;
}

#[test]
fn committed_decoder_and_mem_enable_map_the_backend() {
    let mut r = rig();
    let d = &mut r.dev;
    let hdm = CACHEMEM_OFFSET + HDM_POINTER;
    let dec = hdm + DECODER_REGS_START;
    write32(d, dec + DECODER_BASE_LOW, WINDOW as u32);
    write32(d, dec + DECODER_BASE_HIGH, (WINDOW >> 32) as u32);
    write32(d, dec + DECODER_SIZE_LOW, SIZE as u32);
    write32(d, dec + DECODER_SIZE_HIGH, (SIZE >> 32) as u32);
    write32(d, dec + DECODER_CONTROL, CTRL_COMMIT);
    let ctrl = read64(d, dec + DECODER_CONTROL) as u32;
    assert_ne!(ctrl & CTRL_COMMITTED, 0, "committed: {ctrl:#x}");
    assert!(r.maps.is_empty(), "decoding not enabled yet");
    write32(d, hdm + HDM_DECODER_GLOBAL_CONTROL, HDM_DECODER_ENABLE);
    assert!(r.maps.is_empty(), "Mem_Enable still clear");
    let dvsec = d.dvsec_offset + DEV_CONTROL as u16;
    d.config_write(dvsec, &DEV_CTRL_MEM_ENABLE.to_le_bytes());
    assert_eq!(slots(&r.maps), BTreeMap::from([(WINDOW, (0, SIZE))]));
    // Uncommit tears the slot down.
    write32(d, dec + DECODER_CONTROL, 0);
    assert!(r.maps.is_empty());
    let _ = &r.backend;
}

#[test]
fn clear_poison_writes_its_data_into_the_backing_memory() {
    let mut r = rig();
    let d = &mut r.dev;
    let mb = DEVICE_REGS_OFFSET + MAILBOX_OFFSET;
    // Clear Poison (4302h): DPA 0x1000, then 64 bytes of clear data.
    let mut input = 0x1000u64.to_le_bytes().to_vec();
    input.extend([0x5au8; 64]);
    for (i, c) in input.chunks(8).enumerate() {
        d.bar_write(REGS_BAR, mb + COMMANDS_PAYLOAD + 8 * i as u64, c);
    }
    let cmd = 0x4302u64 | ((input.len() as u64) << 16);
    d.bar_write(REGS_BAR, mb + COMMAND, &cmd.to_le_bytes());
    write32(d, mb + MAILBOX_CONTROL, CONTROL_DOORBELL);
    assert_eq!((read64(d, mb + MAILBOX_STATUS) >> 32) & 0xffff, 0);
    let mut b = [0u8; 64];
    r.backend.read(0x1000, &mut b).unwrap();
    assert_eq!(b, [0x5a; 64]);
}

#[test]
fn cdat_is_served_over_doe() {
    let mut r = rig();
    let d = &mut r.dev;
    let doe = d.doe_offset;
    // Read Entry request (CXL vendor 1E98h, type 2): table 0, handle 0.
    let req = [
        0x0002_1e98u32,
        3,
        0, // request code 0, table type 0, entry handle 0
    ];
    for w in req {
        d.config_write(doe + DOE_WRITE_DATA_MAILBOX as u16, &w.to_le_bytes());
    }
    d.config_write(doe + DOE_CONTROL as u16, &(1u32 << 31).to_le_bytes());
    assert_ne!(cfg_read32(d, doe + DOE_STATUS as u16) & (1 << 31), 0, "DOR");
    let mut words = vec![];
    while cfg_read32(d, doe + DOE_STATUS as u16) & (1 << 31) != 0 && words.len() < 64 {
        words.push(cfg_read32(d, doe + DOE_READ_DATA_MAILBOX as u16));
        d.config_write(doe + DOE_READ_DATA_MAILBOX as u16, &[0; 4]);
    }
    assert_eq!(words[0], 0x0002_1e98);
    // Response: header(2) + [req code, table, next handle] + CDAT header (16 bytes).
    let cdat_len = words[3];
    assert!(cdat_len > 16, "CDAT length {cdat_len}");
    assert_eq!(words.len(), 3 + 4);
}

#[test]
fn bad_accesses_never_panic() {
    let mut r = rig();
    let d = &mut r.dev;
    for off in (0..0x1000u16).step_by(3) {
        let mut b = [0u8; 4];
        d.config_read(off, &mut b[..(off % 4 + 1) as usize]);
        d.config_write(off, &[0xff; 2]);
    }
    for off in [
        0,
        0xffff,
        0x1_0000,
        0x1_0fff,
        0x1_1000,
        REGS_BAR_SIZE - 1,
        u64::MAX,
    ] {
        let mut b = [0u8; 8];
        d.bar_read(REGS_BAR, off, &mut b);
        d.bar_write(REGS_BAR, off, &b);
        d.bar_read(5, off, &mut b);
    }
}

// ---- Dynamic Capacity through the mailbox -----------------------------------

mod dcd {
    use super::*;
    use crate::cxl::dcd::{
        AddRequest, ReleaseRequest, RemovalPolicy, RequestedExtent, SelectionPolicy,
    };
    use uuid::Uuid;

    const MIB: u64 = 1 << 20;
    const TAG: &str = "5be13bce-ae34-4a77-b6c3-16df975fcf1a";

    fn dc_rig() -> (Type3, Arc<RecordingMapper>) {
        dc_rig_backed(None)
    }

    /// A DC-only device, or with `backing` behind its whole DC range.
    fn dc_rig_backed(backing: Option<Arc<HostMemory>>) -> (Type3, Arc<RecordingMapper>) {
        let (dev, maps, _) = build(dc_only(SIZE, backing), SIZE);
        (dev, maps)
    }

    fn commit_dc_decoder(d: &mut Type3) {
        commit_decoder0(d, SIZE);
    }

    fn tagged(size: u64) -> Arc<HostMemory> {
        memfd("t0", size, Some(Uuid::parse_str(TAG).unwrap()))
    }

    #[test]
    fn tagged_extent_is_mapped_only_after_the_guest_accepts_it() {
        let (mut d, maps) = dc_rig();
        commit_dc_decoder(&mut d);
        assert!(maps.is_empty());

        // Get DC Config: one region of SIZE at DPA 0 with 2 MiB blocks.
        let (rc, out) = mbox(&mut d, 0x4800, &[8, 0]);
        assert_eq!(rc, 0);
        assert_eq!((out[0], out[1]), (1, 1));
        assert_eq!(
            u64::from_le_bytes(out[8..16].try_into().unwrap()),
            0,
            "base"
        );
        assert_eq!(
            u64::from_le_bytes(out[24..32].try_into().unwrap()),
            SIZE,
            "length"
        );
        assert_eq!(u64::from_le_bytes(out[32..40].try_into().unwrap()), 2 * MIB);

        let backend = tagged(2 * MIB);
        let out = d
            .dc_add(AddRequest {
                host_id: 0,
                selection_policy: SelectionPolicy::Prescriptive,
                region: 0,
                tag: None,
                extents: vec![RequestedExtent {
                    offset: 4 * MIB,
                    len: 2 * MIB,
                }],
                backend: Some(backend.clone()),
            })
            .unwrap();
        assert_eq!(out.extents.len(), 1);
        drop(out);
        assert!(maps.is_empty(), "offered, not accepted");

        // A response naming capacity never offered changes nothing.
        let (rc, _) = mbox(&mut d, 0x4802, &dc_response(&[(8 * MIB, 2 * MIB)]));
        assert_ne!(rc, 0);
        assert!(maps.is_empty());

        // Get Event Records on the DC log shows the offer.
        let (rc, ev) = mbox(&mut d, 0x0100, &[4]);
        assert_eq!(rc, 0);
        assert_eq!(u16::from_le_bytes([ev[0x14], ev[0x15]]), 1, "one record");

        let (rc, _) = mbox(&mut d, 0x4802, &dc_response(&[(4 * MIB, 2 * MIB)]));
        assert_eq!(rc, 0);
        assert_eq!(
            slots(&maps),
            BTreeMap::from([(WINDOW + 4 * MIB, (0, 2 * MIB))])
        );
        assert_eq!(d.path().mapped_hpa(0, 4 * MIB), Some(WINDOW + 4 * MIB));

        // Get DC Extent List reports it.
        let (rc, list) = mbox(&mut d, 0x4801, &[1, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(rc, 0);
        assert_eq!(u32::from_le_bytes(list[0..4].try_into().unwrap()), 1);

        // Release by tag: the slot stays until the guest answers Release DC.
        d.dc_release(ReleaseRequest {
            host_id: 0,
            removal_policy: RemovalPolicy::TagBased,
            forced: false,
            sanitize_on_release: false,
            region: 0,
            tag: Some(Uuid::parse_str(TAG).unwrap()),
            extents: vec![],
        })
        .unwrap();
        assert_eq!(maps.len(), 1);
        let (rc, _) = mbox(&mut d, 0x4803, &dc_response(&[(4 * MIB, 2 * MIB)]));
        assert_eq!(rc, 0);
        assert!(maps.is_empty());
        assert_eq!(Arc::strong_count(&backend), 1, "backend free again");
    }

    #[test]
    fn forced_release_with_sanitize_unmaps_and_zeroes_at_once() {
        let (mut d, maps) = dc_rig();
        commit_dc_decoder(&mut d);
        let backend = tagged(2 * MIB);
        backend.write(0, &[0xab; 16]).unwrap();
        d.dc_add(AddRequest {
            host_id: 0,
            selection_policy: SelectionPolicy::Prescriptive,
            region: 0,
            tag: None,
            extents: vec![RequestedExtent {
                offset: 0,
                len: 2 * MIB,
            }],
            backend: Some(backend.clone()),
        })
        .unwrap();
        let (rc, _) = mbox(&mut d, 0x4802, &dc_response(&[(0, 2 * MIB)]));
        assert_eq!(rc, 0);
        assert_eq!(maps.len(), 1);
        d.dc_release(ReleaseRequest {
            host_id: 0,
            removal_policy: RemovalPolicy::Prescriptive,
            forced: true,
            sanitize_on_release: true,
            region: 0,
            tag: None,
            extents: vec![RequestedExtent {
                offset: 0,
                len: 2 * MIB,
            }],
        })
        .unwrap();
        assert!(maps.is_empty());
        let mut b = [0xffu8; 16];
        backend.read(0, &mut b).unwrap();
        assert_eq!(b, [0; 16], "sanitized");
        assert_eq!(Arc::strong_count(&backend), 1);
    }

    #[test]
    fn declined_offer_leaves_no_slot_and_frees_the_backend() {
        let (mut d, maps) = dc_rig();
        commit_dc_decoder(&mut d);
        let backend = tagged(2 * MIB);
        d.dc_add(AddRequest {
            host_id: 0,
            selection_policy: SelectionPolicy::Prescriptive,
            region: 0,
            tag: None,
            extents: vec![RequestedExtent {
                offset: 0,
                len: 2 * MIB,
            }],
            backend: Some(backend.clone()),
        })
        .unwrap();
        assert!(Arc::strong_count(&backend) > 1);
        let (rc, _) = mbox(&mut d, 0x4802, &dc_response(&[]));
        assert_eq!(rc, 0);
        assert!(maps.is_empty());
        assert_eq!(Arc::strong_count(&backend), 1);
    }

    /// A withdrawn offer: the backend is free at once, and the guest's
    /// later acceptance is refused (Invalid Physical Address) with no slot.
    #[test]
    fn withdrawn_offer_frees_the_backend_and_is_never_mapped() {
        let (mut d, maps) = dc_rig();
        commit_dc_decoder(&mut d);
        let backend = tagged(2 * MIB);
        let tag = Uuid::parse_str(TAG).unwrap();
        d.dc_add(AddRequest {
            host_id: 0,
            selection_policy: SelectionPolicy::Prescriptive,
            region: 0,
            tag: None,
            extents: vec![RequestedExtent {
                offset: 6 * MIB,
                len: 2 * MIB,
            }],
            backend: Some(backend.clone()),
        })
        .unwrap();
        // The guest reads the Add Capacity record and sits on it.
        let (rc, ev) = mbox(&mut d, 0x0100, &[4]);
        assert_eq!((rc, u16::from_le_bytes([ev[0x14], ev[0x15]])), (0, 1));
        assert!(Arc::strong_count(&backend) > 1);
        let out = d
            .dc_release(ReleaseRequest {
                host_id: 0,
                removal_policy: RemovalPolicy::TagBased,
                forced: true,
                sanitize_on_release: false,
                region: 0,
                tag: Some(tag),
                extents: vec![],
            })
            .unwrap();
        assert_eq!((out.extents.len(), out.withdrawn.len()), (0, 1));
        drop(out);
        assert_eq!(Arc::strong_count(&backend), 1, "free at once");
        // The guest's acceptance comes late: refused, nothing mapped.
        let (rc, _) = mbox(&mut d, 0x4802, &dc_response(&[(6 * MIB, 2 * MIB)]));
        assert_eq!(
            rc,
            crate::cxl::mailbox::RetCode::InvalidPhysicalAddress as u64
        );
        assert!(maps.is_empty());
        assert_eq!(d.path().mapped_hpa(0, 6 * MIB), None);
        let (rc, list) = mbox(&mut d, 0x4801, &[1, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!((rc, &list[4..8]), (0, &[0u8; 4][..]), "no extent held");
    }

    /// Extents reach the memory path incrementally: a release that cuts a
    /// held extent leaves the rest of it mapped, with the slots a full
    /// recompute would give.
    #[test]
    fn a_cut_extent_keeps_its_remainders_mapped() {
        let (mut d, maps) = dc_rig_backed(Some(memfd("dc", SIZE, None)));
        commit_dc_decoder(&mut d);
        let slots = || slots(&maps);
        let full = |d: &Type3| -> BTreeMap<u64, (u64, u64)> {
            d.memory_ranges()
                .iter()
                .map(|r| (WINDOW + r.dpa, (r.offset, r.len)))
                .collect()
        };
        for (offset, len) in [(0, 8 * MIB), (16 * MIB, 2 * MIB)] {
            d.dc_add(AddRequest {
                host_id: 0,
                selection_policy: SelectionPolicy::Prescriptive,
                region: 0,
                tag: None,
                extents: vec![RequestedExtent { offset, len }],
                backend: None,
            })
            .unwrap();
            assert_eq!(mbox(&mut d, 0x4802, &dc_response(&[(offset, len)])).0, 0);
        }
        assert_eq!(
            slots(),
            BTreeMap::from([
                (WINDOW, (0, 8 * MIB)),
                (WINDOW + 16 * MIB, (16 * MIB, 2 * MIB))
            ])
        );
        // The host gives back the middle of the first extent.
        assert_eq!(
            mbox(&mut d, 0x4803, &dc_response(&[(2 * MIB, 2 * MIB)])).0,
            0
        );
        let want = BTreeMap::from([
            (WINDOW, (0, 2 * MIB)),
            (WINDOW + 4 * MIB, (4 * MIB, 4 * MIB)),
            (WINDOW + 16 * MIB, (16 * MIB, 2 * MIB)),
        ]);
        assert_eq!(slots(), want);
        assert_eq!(full(&d), want);
        // A forced release cuts the tail off the remainder.
        d.dc_release(ReleaseRequest {
            host_id: 0,
            removal_policy: RemovalPolicy::Prescriptive,
            forced: true,
            sanitize_on_release: false,
            region: 0,
            tag: None,
            extents: vec![RequestedExtent {
                offset: 6 * MIB,
                len: 2 * MIB,
            }],
        })
        .unwrap();
        let want = BTreeMap::from([
            (WINDOW, (0, 2 * MIB)),
            (WINDOW + 4 * MIB, (4 * MIB, 2 * MIB)),
            (WINDOW + 16 * MIB, (16 * MIB, 2 * MIB)),
        ]);
        assert_eq!(slots(), want);
        assert_eq!(full(&d), want);
        assert_eq!(d.path().mapped_hpa(0, 5 * MIB), Some(WINDOW + 5 * MIB));
        assert_eq!(d.path().mapped_hpa(0, 7 * MIB), None);
    }
}

#[test]
fn passphrase_secure_erase_zeroes_the_persistent_backend_only() {
    let vmem = memfd("vmem0", SIZE, None);
    let pmem = memfd("pmem0", SIZE, None);
    let (mut d, _, _) = build(
        Type3Config {
            memdev: MemdevConfig {
                volatile_bytes: SIZE,
                persistent_bytes: SIZE,
                ..MemdevConfig::default()
            },
            volatile: Some(vmem.clone()),
            persistent: Some(pmem.clone()),
            partitionable: None,
            dc_backing: None,
        },
        2 * SIZE,
    );
    vmem.write(0x2000, &[0x11; 64]).unwrap();
    pmem.write(0, &[0x22; 64]).unwrap();
    pmem.write(SIZE - 64, &[0x33; 64]).unwrap();
    let run = |d: &mut Type3, opcode: u16, input: &[u8]| mbox(d, opcode, input).0;
    // Set a user passphrase (4501h), then erase with a wrong one: nothing.
    let mut set = vec![0u8; 0x60];
    set[0] = 1;
    set[0x40..].fill(0x77);
    assert_eq!(run(&mut d, 0x4501, &set), 0);
    let mut erase = vec![0u8; 0x40];
    erase[0] = 1;
    erase[0x20..].fill(0x76);
    assert_eq!(
        run(&mut d, 0x4505, &erase),
        crate::cxl::retcode::RetCode::IncorrectPassphrase as u64
    );
    let mut b = [0u8; 64];
    pmem.read(0, &mut b).unwrap();
    assert_eq!(b, [0x22; 64]);
    // The right one erases the persistent capacity.
    erase[0x20..].fill(0x77);
    assert_eq!(run(&mut d, 0x4505, &erase), 0);
    pmem.read(0, &mut b).unwrap();
    assert_eq!(b, [0; 64]);
    pmem.read(SIZE - 64, &mut b).unwrap();
    assert_eq!(b, [0; 64]);
    vmem.read(0x2000, &mut b).unwrap();
    assert_eq!(b, [0x11; 64]);
    // And the user passphrase is gone (Get Security State, 4500h).
    let (rc, out) = mbox(&mut d, 0x4500, &[]);
    assert_eq!(rc, 0);
    assert_eq!(out, 0u32.to_le_bytes());
}
