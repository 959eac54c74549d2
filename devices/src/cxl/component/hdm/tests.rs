//! HDM decoder commit rules, driven through MMIO the way Linux's
//! `setup_hw_decoder` / `cxld_await_commit` / `cxl_decoder_reset` do.

use super::*;
use crate::cxl::component::tests::{endpoint, r32, w32};
use crate::cxl::component::{ComponentRegisters, CACHEMEM_OFFSET, HDM_POINTER};
use crate::cxl::decode::Interleave;

const GIB: u64 = 1 << 30;
const MIB256: u64 = 256 << 20;
const HDM: u64 = CACHEMEM_OFFSET + HDM_POINTER;

fn reg(n: usize, r: u64) -> u64 {
    HDM + DECODER_REGS_START + DECODER_STRIDE * n as u64 + r
}

fn ctrl(c: &ComponentRegisters, n: usize) -> u32 {
    r32(c, reg(n, DECODER_CONTROL))
}

/// Linux `setup_hw_decoder` + the Commit write; returns the events of the
/// Control write (the commit).
fn program(
    c: &mut ComponentRegisters,
    n: usize,
    base: u64,
    size: u64,
    eiw: u32,
    eig: u32,
    targets_or_skip: u64,
) -> Vec<HdmEvent> {
    let mut v = ctrl(c, n);
    v = (v & !0xff) | eig | (eiw << 4) | CTRL_COMMIT | CTRL_TARGET_RANGE_TYPE;
    w32(c, reg(n, DECODER_BASE_HIGH), (base >> 32) as u32);
    w32(c, reg(n, DECODER_BASE_LOW), base as u32);
    w32(c, reg(n, DECODER_SIZE_HIGH), (size >> 32) as u32);
    w32(c, reg(n, DECODER_SIZE_LOW), size as u32);
    w32(
        c,
        reg(n, DECODER_TARGET_LIST_HIGH),
        (targets_or_skip >> 32) as u32,
    );
    w32(c, reg(n, DECODER_TARGET_LIST_LOW), targets_or_skip as u32);
    w32(c, reg(n, DECODER_CONTROL), v)
}

/// Linux `cxld_await_commit` outcome after the Commit write.
fn committed(c: &ComponentRegisters, n: usize) -> bool {
    let v = ctrl(c, n);
    assert!(
        v & (CTRL_COMMITTED | CTRL_ERROR_NOT_COMMITTED) != 0,
        "neither Committed nor Error after commit"
    );
    v & CTRL_COMMITTED != 0
}

fn fails(c: &mut ComponentRegisters, n: usize, events: Vec<HdmEvent>, e: CommitError) {
    assert_eq!(events, vec![HdmEvent::CommitFailed(n, e)]);
    assert!(!committed(c, n));
    assert_ne!(ctrl(c, n) & CTRL_ERROR_NOT_COMMITTED, 0);
    // Linux clears Commit after an error; the error goes with it.
    let v = ctrl(c, n) & !CTRL_COMMIT;
    assert!(w32(c, reg(n, DECODER_CONTROL), v).is_empty());
    assert_eq!(ctrl(c, n) & (CTRL_COMMIT | CTRL_ERROR_NOT_COMMITTED), 0);
}

fn upstream(decoders: usize, targets: u8) -> ComponentRegisters {
    ComponentRegisters::host_bridge(HdmConfig::upstream(decoders, targets)).unwrap()
}

#[test]
fn good_commit_reads_committed_immediately() {
    let mut c = endpoint(4);
    let ev = program(&mut c, 0, 4 * GIB, GIB, 0, 0, 0);
    assert_eq!(ev, vec![HdmEvent::Committed(0)]);
    let v = ctrl(&c, 0);
    assert_ne!(v & CTRL_COMMITTED, 0);
    assert_eq!(v & CTRL_ERROR_NOT_COMMITTED, 0);
    let info = c.hdm().unwrap().decoder(0).unwrap();
    assert_eq!(
        info,
        HdmDecoderInfo {
            index: 0,
            committed: true,
            locked: false,
            base: 4 * GIB,
            size: GIB,
            interleave_ways: 1,
            interleave_granularity: 256,
            host_only: true,
            target: HdmDecoderTarget::Dpa {
                skip: 0,
                dpa: Some(0..GIB),
            },
        }
    );
    assert_eq!(
        c.hdm().unwrap().translate(4 * GIB + 0x1234),
        Some(HdmTranslation::Dpa {
            decoder: 0,
            dpa: 0x1234
        })
    );
    assert_eq!(c.hdm().unwrap().translate(5 * GIB), None);
}

#[test]
fn misaligned_base_and_size() {
    let mut c = endpoint(2);
    // Bits 27:0 of Base Low / Size Low are reserved: the value reads aligned.
    w32(&mut c, reg(0, DECODER_BASE_LOW), 0x1234_5678);
    w32(&mut c, reg(0, DECODER_SIZE_LOW), 0x0fff_ffff);
    assert_eq!(r32(&c, reg(0, DECODER_BASE_LOW)), 0x1000_0000);
    assert_eq!(r32(&c, reg(0, DECODER_SIZE_LOW)), 0);
    // Firmware programming cannot sneak misaligned values in either.
    let hdm = c.hdm_mut().unwrap();
    let mut p = DecoderProgram {
        base: 4 * GIB + 0x1000,
        size: GIB,
        interleave: Interleave::NONE,
        targets_or_skip: 0,
        lock: false,
        host_only: true,
    };
    assert_eq!(
        hdm.program_committed(0, &p),
        Err(CommitError::MisalignedBase)
    );
    p.base = 4 * GIB;
    p.size = GIB + 0x10_0000;
    assert_eq!(
        hdm.program_committed(0, &p),
        Err(CommitError::MisalignedSize)
    );
    p.size = GIB;
    p.targets_or_skip = 0x1000;
    assert_eq!(
        hdm.program_committed(0, &p),
        Err(CommitError::MisalignedSkip)
    );
    assert!(!hdm.decoder(0).unwrap().committed);
}

#[test]
fn out_of_order_commit_fails() {
    let mut c = endpoint(4);
    let ev = program(&mut c, 1, 4 * GIB, GIB, 0, 0, 0);
    fails(&mut c, 1, ev, CommitError::PreviousNotCommitted);
    // In order it works.
    assert_eq!(
        program(&mut c, 0, 4 * GIB, GIB, 0, 0, 0),
        vec![HdmEvent::Committed(0)]
    );
    assert_eq!(
        program(&mut c, 1, 5 * GIB, GIB, 0, 0, 0),
        vec![HdmEvent::Committed(1)]
    );
    // Recommitting 0 while 1 is committed is out of order too.
    let v = ctrl(&c, 0) & !CTRL_COMMIT;
    assert_eq!(
        w32(&mut c, reg(0, DECODER_CONTROL), v),
        vec![HdmEvent::Uncommitted(0)]
    );
    let ev = program(&mut c, 0, 4 * GIB, GIB, 0, 0, 0);
    fails(&mut c, 0, ev, CommitError::LaterDecoderCommitted);
}

#[test]
fn overlapping_or_decreasing_hpa_fails() {
    let mut c = endpoint(4);
    assert_eq!(
        program(&mut c, 0, 4 * GIB, GIB, 0, 0, 0),
        vec![HdmEvent::Committed(0)]
    );
    let ev = program(&mut c, 1, 4 * GIB + MIB256, GIB, 0, 0, 0);
    fails(&mut c, 1, ev, CommitError::HpaOrder);
    let ev = program(&mut c, 1, 2 * GIB, GIB, 0, 0, 0);
    fails(&mut c, 1, ev, CommitError::HpaOrder);
    // Adjacent is fine.
    assert_eq!(
        program(&mut c, 1, 5 * GIB, GIB, 0, 0, 0),
        vec![HdmEvent::Committed(1)]
    );
}

#[test]
fn bad_interleave_encodings_and_capabilities() {
    let mut c = endpoint(2);
    let ev = program(&mut c, 0, 4 * GIB, 3 * GIB, 5, 0, 0);
    fails(
        &mut c,
        0,
        ev,
        CommitError::Encoding(crate::cxl::decode::DecodeError::InvalidEiw(5)),
    );
    let ev = program(&mut c, 0, 4 * GIB, GIB, 0, 7, 0);
    fails(
        &mut c,
        0,
        ev,
        CommitError::Encoding(crate::cxl::decode::DecodeError::InvalidEig(7)),
    );
    // 3-way without 3/6/12 capability.
    let mut cfg = HdmConfig::endpoint(
        2,
        DpaLayout {
            capacity: 4 * GIB,
            partitions: vec![],
        },
    );
    cfg.interleave_3_6_12 = false;
    cfg.a11to8_interleave = false;
    let mut c = ComponentRegisters::with_decoders(cfg).unwrap();
    let ev = program(&mut c, 0, 4 * GIB, 3 * GIB, 8, 0, 0);
    fails(&mut c, 0, ev, CommitError::UnsupportedWays(3));
    // 2-way at 256 B selects on bit 8: needs A11to8.
    let ev = program(&mut c, 0, 4 * GIB, 2 * GIB, 1, 0, 0);
    fails(&mut c, 0, ev, CommitError::UnsupportedInterleaveBits);
    // 2-way at 4 KiB selects on bit 12: fine with A14to12.
    assert_eq!(
        program(&mut c, 0, 4 * GIB, 2 * GIB, 1, 4, 0),
        vec![HdmEvent::Committed(0)]
    );
    // Upstream: more ways than targets.
    let mut hb = upstream(2, 2);
    let ev = program(&mut hb, 0, 4 * GIB, 4 * GIB, 2, 0, 0x0403_0201);
    fails(&mut hb, 0, ev, CommitError::UnsupportedWays(4));
    let mut hb = upstream(2, 8);
    let ev = program(&mut hb, 0, 4 * GIB, 16 * GIB, 4, 0, 0);
    fails(&mut hb, 0, ev, CommitError::UnsupportedWays(16));
}

#[test]
fn endpoint_dpa_rules() {
    let mut c = endpoint(4);
    // 8 GiB 1-way on a 4 GiB device.
    let ev = program(&mut c, 0, 4 * GIB, 8 * GIB, 0, 0, 0);
    fails(&mut c, 0, ev, CommitError::DpaBeyondCapacity);
    // 2-way 8 GiB is 4 GiB of DPA: fits the capacity but crosses the
    // ram/pmem partition boundary at 2 GiB.
    let ev = program(&mut c, 0, 4 * GIB, 8 * GIB, 1, 0, 0);
    fails(&mut c, 0, ev, CommitError::DpaCrossesPartition);
    // 3-way needs a size divisible by 3.
    let ev = program(&mut c, 0, 4 * GIB, GIB, 8, 0, 0);
    fails(&mut c, 0, ev, CommitError::SizeNotDivisible);
    // RAM: 2-way 2 GiB -> DPA 0..1 GiB.
    assert_eq!(
        program(&mut c, 0, 4 * GIB, 2 * GIB, 1, 0, 0),
        vec![HdmEvent::Committed(0)]
    );
    // PMEM after skipping the rest of RAM: DPA 2..3 GiB.
    assert_eq!(
        program(&mut c, 1, 8 * GIB, GIB, 0, 0, GIB),
        vec![HdmEvent::Committed(1)]
    );
    let info = c.hdm().unwrap().decoder(1).unwrap();
    assert_eq!(
        info.target,
        HdmDecoderTarget::Dpa {
            skip: GIB,
            dpa: Some(2 * GIB..3 * GIB)
        }
    );
    // A skip that runs past the device.
    let ev = program(&mut c, 2, 12 * GIB, MIB256, 0, 0, GIB + MIB256);
    fails(&mut c, 2, ev, CommitError::DpaBeyondCapacity);
    // HPA -> DPA through the interleaved decoder: every other 256 B chunk.
    let hdm = c.hdm().unwrap();
    assert_eq!(
        hdm.translate(4 * GIB + 0x300),
        Some(HdmTranslation::Dpa {
            decoder: 0,
            dpa: 0x100
        })
    );
    assert_eq!(
        hdm.translate(8 * GIB + 5),
        Some(HdmTranslation::Dpa {
            decoder: 1,
            dpa: 2 * GIB + 5
        })
    );
    // Skip bits 27:0 are reserved.
    w32(&mut c, reg(2, DECODER_TARGET_LIST_LOW), 0xffff_ffff);
    assert_eq!(r32(&c, reg(2, DECODER_TARGET_LIST_LOW)), 0xf000_0000);
}

#[test]
fn lock_on_commit_freezes_until_reset() {
    let mut c = endpoint(2);
    w32(&mut c, reg(0, DECODER_CONTROL), CTRL_LOCK_ON_COMMIT);
    assert_eq!(
        program(&mut c, 0, 4 * GIB, GIB, 0, 0, 0),
        vec![HdmEvent::Committed(0)]
    );
    assert!(c.hdm().unwrap().decoder(0).unwrap().locked);
    let snapshot: Vec<u32> = (0..0x20).step_by(4).map(|r| r32(&c, reg(0, r))).collect();
    // Uncommit, base, size, skip writes: all ignored, no events.
    assert!(w32(&mut c, reg(0, DECODER_CONTROL), 0).is_empty());
    for r in [
        DECODER_BASE_LOW,
        DECODER_BASE_HIGH,
        DECODER_SIZE_LOW,
        DECODER_SIZE_HIGH,
    ] {
        assert!(w32(&mut c, reg(0, r), 0xffff_ffff).is_empty());
    }
    w32(&mut c, reg(0, DECODER_TARGET_LIST_LOW), 0xf000_0000);
    let after: Vec<u32> = (0..0x20).step_by(4).map(|r| r32(&c, reg(0, r))).collect();
    assert_eq!(snapshot, after);
    // Reset unlocks and reports the unmap.
    assert_eq!(c.reset(), vec![HdmEvent::Uncommitted(0)]);
    assert!(!c.hdm().unwrap().decoder(0).unwrap().locked);
    assert_eq!(ctrl(&c, 0), 0);
    assert_eq!(
        program(&mut c, 0, 4 * GIB, GIB, 0, 0, 0),
        vec![HdmEvent::Committed(0)]
    );
}

#[test]
fn committed_decoder_ignores_field_writes_and_uncommits() {
    let mut c = endpoint(2);
    assert_eq!(
        program(&mut c, 0, 4 * GIB, 2 * GIB, 1, 2, 0),
        vec![HdmEvent::Committed(0)]
    );
    // Base, size, IW, IG writes while committed are dropped.
    w32(&mut c, reg(0, DECODER_BASE_HIGH), 7);
    w32(&mut c, reg(0, DECODER_SIZE_LOW), 0x1000_0000);
    let v = ctrl(&c, 0);
    assert!(w32(&mut c, reg(0, DECODER_CONTROL), (v & !0xff) | 0x03).is_empty());
    let info = c.hdm().unwrap().decoder(0).unwrap();
    assert_eq!((info.base, info.size), (4 * GIB, 2 * GIB));
    assert_eq!(
        (info.interleave_ways, info.interleave_granularity),
        (2, 1024)
    );
    // Linux cxl_decoder_reset: clear Commit, then zero size and base.
    let v = ctrl(&c, 0) & !CTRL_COMMIT;
    assert_eq!(
        w32(&mut c, reg(0, DECODER_CONTROL), v),
        vec![HdmEvent::Uncommitted(0)]
    );
    for r in [
        DECODER_SIZE_HIGH,
        DECODER_SIZE_LOW,
        DECODER_BASE_HIGH,
        DECODER_BASE_LOW,
    ] {
        w32(&mut c, reg(0, r), 0);
    }
    let info = c.hdm().unwrap().decoder(0).unwrap();
    assert!(!info.committed);
    assert_eq!((info.base, info.size), (0, 0));
    assert_eq!(info.target, HdmDecoderTarget::Dpa { skip: 0, dpa: None });
    assert_eq!(ctrl(&c, 0) & (CTRL_COMMITTED | CTRL_ERROR_NOT_COMMITTED), 0);
    // Clearing Commit on an uncommitted decoder reports nothing.
    assert!(w32(&mut c, reg(0, DECODER_CONTROL), 0).is_empty());
}

#[test]
fn commit_by_byte_write_of_control() {
    let mut c = endpoint(1);
    w32(&mut c, reg(0, DECODER_BASE_HIGH), 1);
    w32(&mut c, reg(0, DECODER_SIZE_LOW), 0x4000_0000);
    // Byte 1 of Control: bit 9 (Commit) is bit 1 there.
    let ev = c.write(reg(0, DECODER_CONTROL) + 1, &[0x02]);
    assert_eq!(ev, vec![HdmEvent::Committed(0)]);
    assert_ne!(ctrl(&c, 0) & CTRL_COMMITTED, 0);
    // Committed and Error Not Committed are read-only.
    let ev = c.write(reg(0, DECODER_CONTROL) + 1, &[0x0a]);
    assert!(ev.is_empty());
    assert_ne!(ctrl(&c, 0) & CTRL_COMMITTED, 0);
    assert_eq!(ctrl(&c, 0) & CTRL_ERROR_NOT_COMMITTED, 0);
}

#[test]
fn global_control_enable_event() {
    let mut c = endpoint(1);
    let off = HDM + HDM_DECODER_GLOBAL_CONTROL;
    assert_eq!(
        w32(&mut c, off, 0xffff_ffff),
        vec![HdmEvent::DecodingEnabled(true)]
    );
    // Poison On Decode Error Enable is RO without the capability.
    assert_eq!(r32(&c, off), HDM_DECODER_ENABLE);
    assert!(w32(&mut c, off, HDM_DECODER_ENABLE).is_empty());
    assert_eq!(w32(&mut c, off, 0), vec![HdmEvent::DecodingEnabled(false)]);
    assert!(!c.hdm().unwrap().decoding_enabled());
    let mut cfg = HdmConfig::upstream(1, 1);
    cfg.poison_on_decode_error = true;
    let mut hb = ComponentRegisters::host_bridge(cfg).unwrap();
    w32(&mut hb, off, 3);
    assert_eq!(r32(&hb, off), 3);
    assert_eq!(hb.reset(), vec![HdmEvent::DecodingEnabled(false)]);
}

#[test]
fn upstream_targets_route_by_position() {
    let mut hb = upstream(4, 4);
    // 2-way at 1 KiB to ports 5 and 7.
    assert_eq!(
        program(&mut hb, 0, 16 * GIB, 4 * GIB, 1, 2, 0x0705),
        vec![HdmEvent::Committed(0)]
    );
    let hdm = hb.hdm().unwrap();
    let info = hdm.decoder(0).unwrap();
    assert_eq!(info.target, HdmDecoderTarget::Ports(vec![5, 7]));
    for (off, port) in [(0u64, 5u8), (0x3ff, 5), (0x400, 7), (0x800, 5), (0xc00, 7)] {
        assert_eq!(
            hdm.translate(16 * GIB + off),
            Some(HdmTranslation::Port {
                decoder: 0,
                port_id: port
            })
        );
    }
    // Target List is fully writable on upstream decoders.
    w32(&mut hb, reg(1, DECODER_TARGET_LIST_LOW), 0xffff_ffff);
    assert_eq!(r32(&hb, reg(1, DECODER_TARGET_LIST_LOW)), 0xffff_ffff);
    // 4-way with a 3-way capable host bridge: 3 targets.
    assert_eq!(
        program(&mut hb, 1, 20 * GIB, 3 * GIB, 8, 0, 0x0003_0201),
        vec![HdmEvent::Committed(1)]
    );
    assert_eq!(
        hb.hdm().unwrap().decoder(1).unwrap().target,
        HdmDecoderTarget::Ports(vec![1, 2, 3])
    );
}

#[test]
fn firmware_committed_decoders_look_like_linux_expects() {
    let mut c = endpoint(4);
    let hdm = c.hdm_mut().unwrap();
    let p = DecoderProgram {
        base: 8 * GIB,
        size: 2 * GIB,
        interleave: Interleave::new(2, 4096).unwrap(),
        targets_or_skip: 0,
        lock: true,
        host_only: true,
    };
    assert_eq!(hdm.program_committed(0, &p), Ok(HdmEvent::Committed(0)));
    assert_eq!(
        hdm.program_committed(0, &p),
        Err(CommitError::AlreadyCommitted)
    );
    assert_eq!(
        hdm.program_committed(9, &p),
        Err(CommitError::NoSuchDecoder)
    );
    hdm.set_decoding_enabled(true);
    // What init_hdm_decoder reads back.
    let v = ctrl(&c, 0);
    assert_ne!(v & CTRL_COMMITTED, 0);
    assert_ne!(v & CTRL_LOCK_ON_COMMIT, 0);
    assert_ne!(v & CTRL_TARGET_RANGE_TYPE, 0);
    assert_eq!((v >> 4) & 0xf, 1);
    assert_eq!(v & 0xf, 4);
    assert_eq!(r32(&c, reg(0, DECODER_BASE_HIGH)), 2);
    assert_eq!(r32(&c, reg(0, DECODER_SIZE_LOW)), 0x8000_0000);
    assert_ne!(
        r32(&c, HDM + HDM_DECODER_GLOBAL_CONTROL) & HDM_DECODER_ENABLE,
        0
    );
    // The next decoder must follow it.
    let mut q = p.clone();
    q.base = 9 * GIB;
    assert_eq!(
        c.hdm_mut().unwrap().program_committed(1, &q),
        Err(CommitError::HpaOrder)
    );
}

#[test]
fn uio_fields_only_with_capability() {
    let mut c = endpoint(2);
    w32(&mut c, reg(0, DECODER_CONTROL), CTRL_UIO_FIELDS);
    assert_eq!(ctrl(&c, 0) & CTRL_UIO_FIELDS, 0);
    let mut cfg = HdmConfig::endpoint(
        2,
        DpaLayout {
            capacity: 4 * GIB,
            partitions: vec![],
        },
    );
    cfg.uio_decoders = 1;
    let mut c = ComponentRegisters::with_decoders(cfg).unwrap();
    assert_ne!(r32(&c, HDM) & CAP_UIO_CAPABLE, 0);
    assert_eq!((r32(&c, HDM) >> 16) & 0xf, 1);
    // UIW reserved encoding 5.
    w32(
        &mut c,
        reg(0, DECODER_CONTROL),
        CTRL_UIO | (5 << CTRL_UIW_SHIFT),
    );
    let ev = program(&mut c, 0, 4 * GIB, GIB, 0, 0, 0);
    assert_eq!(ev, vec![HdmEvent::CommitFailed(0, CommitError::Uio)]);
    w32(
        &mut c,
        reg(0, DECODER_CONTROL),
        CTRL_UIO | (1 << CTRL_UIW_SHIFT) | (1 << CTRL_ISP_SHIFT),
    );
    assert_eq!(
        program(&mut c, 0, 4 * GIB, GIB, 0, 0, 0),
        vec![HdmEvent::Committed(0)]
    );
    // Decoder 1 is not UIO capable.
    w32(&mut c, reg(1, DECODER_CONTROL), CTRL_UIO);
    assert_eq!(ctrl(&c, 1) & CTRL_UIO, 0);
}

#[test]
fn zero_size_commit_and_dpa_layout_change() {
    let mut c = endpoint(2);
    assert_eq!(
        program(&mut c, 0, 4 * GIB, 0, 0, 0, 0),
        vec![HdmEvent::Committed(0)]
    );
    assert_eq!(c.hdm().unwrap().translate(4 * GIB), None);
    c.hdm_mut().unwrap().set_dpa_layout(DpaLayout {
        capacity: GIB,
        partitions: vec![],
    });
    let ev = program(&mut c, 1, 4 * GIB, 2 * GIB, 0, 0, 0);
    assert_eq!(
        ev,
        vec![HdmEvent::CommitFailed(1, CommitError::DpaBeyondCapacity)]
    );
}
