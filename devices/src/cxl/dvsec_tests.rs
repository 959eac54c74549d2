use super::*;

const GIB: u64 = 1 << 30;

/// The generic config space's write semantics on a body.
fn guest_write(b: &mut DvsecBody, cap_offset: usize, value: u64, width: usize) {
    let locked = b
        .lock
        .as_ref()
        .is_some_and(|l| b.bytes.get(l.offset - 4).is_some_and(|v| v & l.bit != 0));
    for i in 0..width {
        let idx = cap_offset + i - 4;
        let v = (value >> (8 * i)) as u8;
        let mut w = b.write_mask[idx];
        if locked {
            w &= !b.lock.as_ref().unwrap().locked_mask[idx];
        }
        b.bytes[idx] = ((b.bytes[idx] & !w) | (v & w)) & !(v & b.w1c_mask[idx]);
    }
}

fn header_ok(b: &DvsecBody, id: u16, rev: u8, len: u16) {
    let h1 = b.get(4, 4) as u32;
    assert_eq!(h1 & 0xffff, 0x1e98);
    assert_eq!((h1 >> 16) & 0xf, u32::from(rev));
    assert_eq!(h1 >> 20, u32::from(len));
    assert_eq!(b.get(8, 2) as u16, id);
    assert_eq!(b.length(), len);
    assert_eq!(
        (b.write_mask.len(), b.w1c_mask.len()),
        (b.bytes.len(), b.bytes.len())
    );
    // Headers are never writable.
    assert_eq!(b.wmask(4, 6), 0);
}

#[test]
fn device_dvsec_as_linux_decodes_it() {
    let sizes = [4 * GIB + (1 << 28), 2 * GIB];
    let ranges = sizes.map(DvsecRange::cdat_described).to_vec();
    let cfg = CxlDeviceDvsec {
        ranges,
        mem_hwinit_mode: false,
        viral_capable: false,
    };
    let mut b = cxl_device_dvsec(&cfg).unwrap();
    header_ok(&b, DVSEC_CXL_DEVICE, 3, 0x3c);
    let cap = b.get(0x0a, 2) as u16;
    assert_ne!(cap & (1 << 2), 0, "Mem_Capable");
    assert_ne!(cap & (1 << 1), 0, "IO_Capable");
    assert_eq!(cap & DEV_CAP_CACHE_CAPABLE, 0);
    assert_eq!((cap >> 4) & 3, 2, "HDM_Count");
    assert_eq!(b.get(0x0c, 2) as u16, DEV_CTRL_IO_ENABLE);
    for (i, want) in sizes.iter().enumerate() {
        let low = b.get(0x1c + 0x10 * i, 4) as u32;
        assert_ne!(low & 1, 0, "Memory_Info_Valid");
        assert_ne!(low & 2, 0, "Memory_Active");
        assert_eq!((low >> 2) & 7, 2, "Media_Type CDAT");
        assert_eq!((low >> 5) & 7, 2, "Memory_Class CDAT");
        let size = (b.get(0x18 + 0x10 * i, 4) << 32) | u64::from(low & 0xf000_0000);
        assert_eq!(size, *want);
    }
    // Linux's cxl_set_mem_enable: word read-modify-write of Control.
    let ctrl = b.get(0x0c, 2) | u64::from(DEV_CTRL_MEM_ENABLE);
    guest_write(&mut b, 0x0c, ctrl, 2);
    assert_eq!(
        b.get(0x0c, 2) as u16,
        DEV_CTRL_IO_ENABLE | DEV_CTRL_MEM_ENABLE
    );
    // Everything but Mem_Enable in Control is read-only.
    guest_write(&mut b, 0x0c, 0, 2);
    assert_eq!(b.get(0x0c, 2) as u16, DEV_CTRL_IO_ENABLE);
    // Range base is RWL, size RO.
    guest_write(&mut b, 0x20, 0x1234_5678, 4);
    guest_write(&mut b, 0x24, 0xffff_ffff, 4);
    assert_eq!(b.get(0x20, 4), 0x1234_5678);
    assert_eq!(b.get(0x24, 4), 0xf000_0000);
    guest_write(&mut b, 0x18, 0, 4);
    assert_eq!(b.get(0x18, 4), 1);
    assert_eq!(b.wmask(0x0a, 2), 0);
}

#[test]
fn device_dvsec_config_lock() {
    let mut b = cxl_device_dvsec(&CxlDeviceDvsec {
        ranges: vec![DvsecRange::cdat_described(GIB)],
        mem_hwinit_mode: true,
        viral_capable: true,
    })
    .unwrap();
    assert_eq!(
        b.get(0x0a, 2) as u16 & (DEV_CAP_MEM_HWINIT_MODE | DEV_CAP_VIRAL_CAPABLE),
        DEV_CAP_MEM_HWINIT_MODE | DEV_CAP_VIRAL_CAPABLE
    );
    assert_eq!((b.get(0x0a, 2) >> 4) & 3, 1);
    assert_eq!(
        b.wmask(0x0c, 2),
        u64::from(DEV_CTRL_MEM_ENABLE | DEV_CTRL_VIRAL_ENABLE)
    );
    assert_eq!(b.w1c(0x0e, 2), u64::from(DEV_STATUS_VIRAL));
    // Range 2 registers are not writable with HDM_Count 1.
    assert_eq!(b.wmask(0x30, 8), 0);
    guest_write(&mut b, 0x24, 0x1000_0000, 4);
    guest_write(&mut b, 0x14, 1, 2);
    assert_eq!(b.get(0x14, 2), 1);
    // Locked: base, control and the lock bit itself are frozen.
    guest_write(&mut b, 0x24, 0x2000_0000, 4);
    guest_write(&mut b, 0x0c, u64::from(DEV_CTRL_MEM_ENABLE), 2);
    guest_write(&mut b, 0x14, 0, 2);
    assert_eq!(b.get(0x24, 4), 0x1000_0000);
    assert_eq!(b.get(0x0c, 2) as u16 & DEV_CTRL_MEM_ENABLE, 0);
    assert_eq!(b.get(0x14, 2), 1);
    // Status RW1C still works.
    b.bytes[0x0e - 4 + 1] = 0x40;
    guest_write(&mut b, 0x0e, u64::from(DEV_STATUS_VIRAL), 2);
    assert_eq!(b.get(0x0e, 2), 0);
}

#[test]
fn device_dvsec_refusals() {
    let mut wide = DvsecRange::cdat_described(GIB);
    wide.desired_interleave = 0x20;
    let odd = DvsecRange::cdat_described(GIB + 4096);
    for (ranges, err) in [
        (vec![], DvsecError::RangeCount(0)),
        (vec![wide; 3], DvsecError::RangeCount(3)),
        (vec![odd], DvsecError::RangeSize(GIB + 4096)),
        (vec![wide], DvsecError::FieldValue),
    ] {
        let cfg = CxlDeviceDvsec {
            ranges,
            mem_hwinit_mode: false,
            viral_capable: false,
        };
        assert_eq!(cxl_device_dvsec(&cfg), Err(err));
    }
}

#[test]
fn port_extensions_layout_and_masks() {
    let mut b = port_extensions_dvsec();
    header_ok(&b, DVSEC_PORT_EXTENSIONS, 0, 0x28);
    assert_eq!(b.get(0x0a, 2), 1, "PM init complete");
    assert_eq!(b.w1c(0x0a, 2), 1 << 14);
    assert_eq!(b.wmask(0x0c, 2), 0x400f);
    // Linux cxl_reset_bus_function sets Unmask SBR.
    guest_write(&mut b, 0x0c, u64::from(PORT_EXT_CTRL_UNMASK_SBR), 2);
    assert_eq!(b.get(0x0c, 2), 1);
    assert_eq!(b.wmask(0x0e, 2), 0xffff);
    assert_eq!(b.wmask(0x10, 8), 0xfff0_fff0_fff0_fff0);
    assert_eq!(b.wmask(0x18, 8), u64::MAX);
    assert_eq!(b.wmask(PORT_EXT_RCRB_BASE, 8), 0);
}

#[test]
fn gpf_dvsecs() {
    let mut p =
        port_gpf_dvsec(GpfTime { base: 1, scale: 3 }, GpfTime { base: 5, scale: 6 }).unwrap();
    header_ok(&p, DVSEC_PORT_GPF, 0, 0x10);
    assert_eq!(p.get(0x0c, 2), 0x0301);
    assert_eq!(p.get(0x0e, 2), 0x0605);
    // update_gpf_port_dvsec: base 2, scale 7 (20 s).
    guest_write(&mut p, 0x0c, 0xf702, 2);
    guest_write(&mut p, 0x0e, 0x0702, 2);
    assert_eq!(p.get(0x0c, 2), 0x0702);
    assert_eq!(p.get(0x0e, 2), 0x0702);
    assert_eq!(p.wmask(0x0a, 2), 0);
    let d = device_gpf_dvsec(GpfTime { base: 2, scale: 4 }, 1500).unwrap();
    header_ok(&d, DVSEC_DEVICE_GPF, 0, 0x10);
    assert_eq!(d.get(0x0a, 2), 0x0402);
    assert_eq!(d.get(0x0c, 4), 1500);
    assert!(d.write_mask.iter().all(|&m| m == 0));
    assert_eq!(
        port_gpf_dvsec(GpfTime { base: 16, scale: 0 }, GpfTime::default()),
        Err(DvsecError::FieldValue)
    );
}

#[test]
fn flex_bus_port_dvsec_by_role() {
    let rp = flex_bus_port_dvsec(FlexBusRole::DownstreamPort, false);
    header_ok(&rp, DVSEC_FLEX_BUS_PORT, 2, 0x20);
    let want = u64::from(FLEX_BUS_IO | FLEX_BUS_MEM | FLEX_BUS_68B_FLIT_AND_VH);
    assert_eq!(rp.get(0x0a, 2), want);
    assert_eq!(rp.get(0x0c, 2), want);
    assert_eq!(rp.get(0x0e, 2), want);
    assert_eq!(rp.wmask(0x0c, 2) & u64::from(FLEX_BUS_IO), 0);
    assert_ne!(rp.wmask(0x0c, 2) & u64::from(FLEX_BUS_MEM), 0);
    assert_eq!(rp.w1c(0x0e, 2), 0x1f00);
    assert_eq!(rp.get(0x10, 16), 0);
    let ep = flex_bus_port_dvsec(FlexBusRole::UpstreamPortOrDevice, true);
    assert_eq!(ep.get(0x0a, 2), want | 1);
    assert_eq!(ep.wmask(0x0c, 2), 0);
}

#[test]
fn register_locator_as_linux_walks_it() {
    let entry = |bar, id, offset| RegisterBlockEntry { bar, id, offset };
    let blocks = [
        entry(0, RegisterBlockId::Component, 0),
        entry(2, RegisterBlockId::MemoryDevice, 0x1_0002_0000),
    ];
    let b = register_locator_dvsec(&blocks).unwrap();
    header_ok(&b, DVSEC_REGISTER_LOCATOR, 0, 0x1c);
    assert!(b.write_mask.iter().all(|&m| m == 0));
    // cxl_find_regblock_instance / cxl_decode_regblock.
    let len = (b.get(4, 4) >> 20) as usize;
    let n = (len - 0x0c) / 8;
    assert_eq!(n, 2);
    let decoded: Vec<(u8, u8, u64)> = (0..n)
        .map(|i| {
            let lo = b.get(0x0c + 8 * i, 4) as u32;
            let hi = b.get(0x10 + 8 * i, 4);
            let bar = (lo & REGLOC_BIR_MASK) as u8;
            let id = ((lo >> 8) & 0xff) as u8;
            (bar, id, (hi << 32) | u64::from(lo & 0xffff_0000))
        })
        .collect();
    assert_eq!(decoded, vec![(0, 1, 0), (2, 3, 0x1_0002_0000)]);
    let bad =
        |bar, offset| register_locator_dvsec(&[entry(bar, RegisterBlockId::Component, offset)]);
    assert_eq!(bad(6, 0), Err(DvsecError::Bar(6)));
    assert_eq!(bad(0, 0x8000), Err(DvsecError::BlockOffset(0x8000)));
    let many = vec![blocks[0]; 600];
    assert_eq!(
        register_locator_dvsec(&many),
        Err(DvsecError::TooManyBlocks)
    );
    assert_eq!(register_locator_dvsec(&[]).unwrap().length(), 0x0c);
}
