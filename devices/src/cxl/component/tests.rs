//! Component register block tests: layout as Linux parses it, RAS, access
//! widths. HDM commit rules are in `hdm_tests.rs`.

use super::hdm::*;
use super::ras::*;
use super::*;

const GIB: u64 = 1 << 30;

pub(super) fn r32(c: &ComponentRegisters, off: u64) -> u32 {
    let mut b = [0u8; 4];
    c.read(off, &mut b);
    u32::from_le_bytes(b)
}

pub(super) fn w32(c: &mut ComponentRegisters, off: u64, v: u32) -> Vec<HdmEvent> {
    c.write(off, &v.to_le_bytes())
}

pub(super) fn endpoint(decoders: usize) -> ComponentRegisters {
    let dpa = DpaLayout {
        capacity: 4 * GIB,
        partitions: vec![0..2 * GIB, 2 * GIB..4 * GIB],
    };
    ComponentRegisters::with_decoders(HdmConfig::endpoint(decoders, dpa)).unwrap()
}

/// What Linux's `cxl_probe_component_regs` finds: (cap id, offset within
/// the block, length it would map).
fn linux_probe(c: &ComponentRegisters) -> Vec<(u16, u64, u64)> {
    let base = CACHEMEM_OFFSET;
    let cap_array = r32(c, base);
    assert_eq!(cap_array & 0xffff, 1, "CM_CAP_HDR_CAP_ID");
    let count = u64::from(cap_array >> 24);
    let mut found = Vec::new();
    for cap in 1..=count {
        let hdr = r32(c, base + cap * 4);
        let id = (hdr & 0xffff) as u16;
        let offset = u64::from(hdr >> 20);
        let block_hdr = r32(c, base + offset);
        let length = match id {
            5 => {
                let v = block_hdr & 0xf;
                let n = if v == 0 { 1 } else { 2 * u64::from(v) };
                0x20 * n + 0x10
            }
            2 => 0x58,
            _ => 0,
        };
        found.push((id, CACHEMEM_OFFSET + offset, length));
    }
    found
}

#[test]
fn capability_header_array_as_linux_parses_it() {
    let c = endpoint(4);
    let hdr = r32(&c, CACHEMEM_OFFSET);
    assert_eq!(hdr & 0xffff, 1);
    assert_eq!((hdr >> 16) & 0xf, 1, "CXL_Capability_Version");
    assert_eq!((hdr >> 20) & 0xf, 1, "CXL.cache/mem version");
    assert_eq!(hdr >> 24, 2, "array size");
    let found = linux_probe(&c);
    assert_eq!(found, vec![(2, 0x1080, 0x58), (5, 0x1100, 0x20 * 4 + 0x10)]);
    // The versions in the headers.
    assert_eq!((r32(&c, 0x1004) >> 16) & 0xf, 3);
    assert_eq!((r32(&c, 0x1008) >> 16) & 0xf, 3);
    // Every capability lies inside CXL.cache/mem space and after the array.
    for (_, off, len) in &found {
        assert!(*off >= CACHEMEM_OFFSET + 0xc && off + len <= CACHEMEM_OFFSET + CACHEMEM_SIZE);
    }
    // The header after the array is not a capability.
    assert_eq!(r32(&c, 0x100c), 0);
}

#[test]
fn capabilities_per_component_kind() {
    let hb = ComponentRegisters::host_bridge(HdmConfig::upstream(1, 2)).unwrap();
    assert_eq!(linux_probe(&hb), vec![(5, 0x1100, 0x30)]);
    let rp = ComponentRegisters::downstream_port();
    assert_eq!(linux_probe(&rp), vec![(2, 0x1080, 0x58)]);
    let usp = ComponentRegisters::with_decoders(HdmConfig::upstream(16, 8)).unwrap();
    assert_eq!(
        linux_probe(&usp),
        vec![(2, 0x1080, 0x58), (5, 0x1100, 0x210)]
    );
    let none = ComponentRegisters::new(ComponentConfig {
        ras: false,
        hdm: None,
    })
    .unwrap();
    assert_eq!(r32(&none, CACHEMEM_OFFSET) >> 24, 0);
}

#[test]
fn linux_decoder_count_formula_matches() {
    for n in [1usize, 2, 4, 6, 8, 10] {
        let c = endpoint(n);
        let v = r32(&c, 0x1100) & 0xf;
        let linux = if v == 0 { 1 } else { 2 * v as usize };
        assert_eq!(linux, n);
    }
    for n in [12usize, 14, 16] {
        let c = ComponentRegisters::host_bridge(HdmConfig::upstream(n, 4)).unwrap();
        let v = r32(&c, 0x1100) & 0xf;
        assert_eq!(2 * v as usize, n);
    }
}

#[test]
fn invalid_configs_are_refused() {
    let dpa = DpaLayout::default();
    for n in [0, 3, 5, 12, 16] {
        assert_eq!(
            HdmDecoderCapability::new(HdmConfig::endpoint(n, dpa.clone())),
            Err(HdmConfigError::DecoderCount(n))
        );
    }
    for n in [0, 3, 20, 32] {
        assert!(HdmDecoderCapability::new(HdmConfig::upstream(n, 2)).is_err());
    }
    assert_eq!(
        HdmDecoderCapability::new(HdmConfig::upstream(2, 3)),
        Err(HdmConfigError::TargetCount(3))
    );
    let mut c = HdmConfig::upstream(2, 8);
    c.interleave_16 = true;
    assert_eq!(
        HdmDecoderCapability::new(c),
        Err(HdmConfigError::SixteenWayUpstream)
    );
    let mut c = HdmConfig::endpoint(2, dpa);
    c.uio_decoders = 3;
    assert_eq!(
        HdmDecoderCapability::new(c),
        Err(HdmConfigError::UioDecoders(3))
    );
}

#[test]
fn hdm_capability_register_fields() {
    let c = endpoint(4);
    let cap = r32(&c, 0x1100);
    assert_eq!(cap & 0xf, 2);
    assert_eq!((cap >> 4) & 0xf, 0, "no target count for endpoints");
    for bit in [8, 9, 11, 12] {
        assert_ne!(cap & (1 << bit), 0, "bit {bit}");
    }
    assert_eq!(cap & (1 << 10), 0, "no poison on decode error");
    assert_eq!(cap & (1 << 13), 0, "not UIO capable");
    let hb = ComponentRegisters::host_bridge(HdmConfig::upstream(4, 8)).unwrap();
    let cap = r32(&hb, 0x1100);
    assert_eq!((cap >> 4) & 0xf, 8);
    assert_eq!(cap & (1 << 12), 0);
}

#[test]
fn cxl_io_and_unimplemented_space_read_zero() {
    let mut c = endpoint(2);
    for off in [
        0u64,
        0x10,
        0xffc,
        0x2000,
        0xe000,
        0xfffc,
        0x1_0000,
        u64::MAX - 3,
    ] {
        assert_eq!(r32(&c, off), 0, "{off:#x}");
        assert!(w32(&mut c, off, 0xffff_ffff).is_empty());
    }
    // Writes to the RO headers change nothing.
    let before = r32(&c, 0x1000);
    w32(&mut c, 0x1000, 0);
    w32(&mut c, 0x1004, 0);
    assert_eq!(r32(&c, 0x1000), before);
    assert_eq!(linux_probe(&c).len(), 2);
}

#[test]
fn odd_widths_and_offsets_never_panic() {
    let mut c = endpoint(10);
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..20_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let off = match x % 4 {
            0 => x >> 48,
            1 => 0x1000 + (x >> 52),
            2 => u64::MAX - (x >> 60),
            _ => 0x1100 + ((x >> 40) & 0x1ff),
        };
        let len = ((x >> 8) % 9) as usize;
        let mut buf = vec![0u8; len];
        c.read(off, &mut buf);
        let data: Vec<u8> = (0..len).map(|i| (x >> (i * 7)) as u8).collect();
        let _ = c.write(off, &data);
    }
}

#[test]
fn eight_byte_and_byte_accesses_compose() {
    let mut c = endpoint(2);
    // 8-byte write of Base Low + Base High of decoder 0.
    let base = 0x0000_0012_3000_0000u64;
    c.write(0x1110, &base.to_le_bytes());
    let mut b = [0u8; 8];
    c.read(0x1110, &mut b);
    assert_eq!(u64::from_le_bytes(b), base);
    // Byte read of the capability register's second byte.
    let mut one = [0u8; 1];
    c.read(0x1101, &mut one);
    assert_eq!(one[0], (r32(&c, 0x1100) >> 8) as u8);
    // A 2-byte read straddling two registers.
    let mut two = [0u8; 2];
    c.read(0x1113, &mut two);
    assert_eq!(two, [0x30, 0x12]);
}

const RAS: u64 = CACHEMEM_OFFSET + RAS_POINTER;

#[test]
fn ras_defaults_and_masks() {
    let mut c = endpoint(1);
    assert_eq!(r32(&c, RAS + UNCORRECTABLE_ERROR_STATUS), 0);
    assert_eq!(r32(&c, RAS + UNCORRECTABLE_ERROR_MASK), 0x1cfff);
    assert_eq!(r32(&c, RAS + UNCORRECTABLE_ERROR_SEVERITY), 0x1cfff);
    assert_eq!(r32(&c, RAS + CORRECTABLE_ERROR_MASK), 0x7f);
    // Linux's cxl_pci_ras_unmask: clear the mask bits.
    let m = r32(&c, RAS + UNCORRECTABLE_ERROR_MASK);
    w32(&mut c, RAS + UNCORRECTABLE_ERROR_MASK, m & !0x1cfff);
    assert_eq!(r32(&c, RAS + UNCORRECTABLE_ERROR_MASK), 0);
    w32(&mut c, RAS + CORRECTABLE_ERROR_MASK, 0xffff_ffff);
    assert_eq!(
        r32(&c, RAS + CORRECTABLE_ERROR_MASK),
        0x7f,
        "reserved bits RO"
    );
    // Capabilities and control and the header log are read-only.
    w32(&mut c, RAS + ERROR_CAPABILITIES_AND_CONTROL, 0xffff_ffff);
    assert_eq!(r32(&c, RAS + ERROR_CAPABILITIES_AND_CONTROL), 0);
    w32(&mut c, RAS + HEADER_LOG, 0xffff_ffff);
    assert_eq!(r32(&c, RAS + HEADER_LOG), 0);
}

#[test]
fn ras_status_is_rw1c_with_first_error_pointer_and_log() {
    let mut c = endpoint(1);
    w32(&mut c, RAS + UNCORRECTABLE_ERROR_MASK, 0);
    w32(&mut c, RAS + UNCORRECTABLE_ERROR_SEVERITY, 1 << 14);
    let mut log = [0u32; HEADER_LOG_DWORDS];
    log[0] = 0xdead_beef;
    log[15] = 0x1234;
    let ras = c.ras_mut().unwrap();
    assert_eq!(
        ras.inject_uncorrectable(1 << 7, &log),
        RasSignal::UncorrectableNonFatal
    );
    assert_eq!(
        ras.inject_uncorrectable((1 << 14) | (1 << 2), &[7; 16]),
        RasSignal::UncorrectableFatal
    );
    assert_eq!(r32(&c, RAS), (1 << 14) | (1 << 7) | (1 << 2));
    // First error pointer names the first error; its header is kept.
    assert_eq!(r32(&c, RAS + ERROR_CAPABILITIES_AND_CONTROL) & 0x3f, 7);
    assert_eq!(r32(&c, RAS + HEADER_LOG), 0xdead_beef);
    assert_eq!(r32(&c, RAS + HEADER_LOG + 60), 0x1234);
    // Writing 0 changes nothing, writing 1 clears just that bit.
    w32(&mut c, RAS, 0);
    assert_eq!(r32(&c, RAS).count_ones(), 3);
    w32(&mut c, RAS, 1 << 7);
    assert_eq!(r32(&c, RAS), (1 << 14) | (1 << 2));
    // A byte write only clears bits of that byte.
    c.write(RAS + 2, &[0xff]);
    assert_eq!(r32(&c, RAS), (1 << 14) | (1 << 2));
    c.write(RAS, &[0xff]);
    assert_eq!(r32(&c, RAS), 1 << 14);
    // With the first error cleared, the next error takes the pointer.
    let ras = c.ras_mut().unwrap();
    ras.inject_uncorrectable(1 << 3, &[9; 16]);
    assert_eq!(r32(&c, RAS + ERROR_CAPABILITIES_AND_CONTROL) & 0x3f, 3);
    assert_eq!(r32(&c, RAS + HEADER_LOG + 4), 9);
    // Correctable side.
    let ras = c.ras_mut().unwrap();
    assert_eq!(ras.inject_correctable(1 << 1), RasSignal::None, "masked");
    w32(&mut c, RAS + CORRECTABLE_ERROR_MASK, 0);
    assert_eq!(
        c.ras_mut().unwrap().inject_correctable(1 << 6),
        RasSignal::Correctable
    );
    assert_eq!(r32(&c, RAS + CORRECTABLE_ERROR_STATUS), 0x42);
    w32(&mut c, RAS + CORRECTABLE_ERROR_STATUS, 0xffff_ffff);
    assert_eq!(r32(&c, RAS + CORRECTABLE_ERROR_STATUS), 0);
    assert_eq!(
        c.ras_mut().unwrap().inject_uncorrectable(1 << 20, &[0; 16]),
        RasSignal::None
    );
}

#[test]
fn masked_uncorrectable_errors_signal_nothing() {
    let mut ras = RasCapability::new();
    assert_eq!(ras.inject_uncorrectable(1, &[0; 16]), RasSignal::None);
    assert_eq!(ras.uncorrectable_pending(), 0);
    assert_eq!(ras.read32(UNCORRECTABLE_ERROR_STATUS), 1);
}
