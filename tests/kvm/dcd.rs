//! Dynamic Capacity end to end on this machine's KVM, without nesting: the
//! operator API adds tagged capacity, a "driver" answers through the
//! device's registers on the MMIO bus (the path vCPU exits take), the
//! accepted extent becomes a real memslot that a vCPU program reads at its
//! HPA, and release takes it away again.

use std::sync::Arc;

use api::{
    ApiRequest, ApiResponse, DcAddRequest, DcReleaseRequest, DcReleaseStatusQuery, ExtentSpec,
    ExtentState, HpaRangeInfo, MemoryBackendConfig, MemoryPath, ReleaseSelector, ReleaseStatus,
    RemovalPolicy, SelectionPolicy,
};
use arch::layout::{CXL_FMW_START, PCI_ECAM_START};
use devices::Bus;
use uuid::Uuid;
use vmm::api_handler::ApiContext;
use vmm::config::VmConfig;
use vmm::cxl_config::{parse_host_bridge, parse_root_port, parse_type3, parse_window, CxlConfig};

use crate::harness::{vm_config, Asm, TestVm, RAM_SIZE};

const MIB: u64 = 1 << 20;
const WINDOW: u64 = CXL_FMW_START;
const TAG: &str = "5be13bce-ae34-4a77-b6c3-16df975fcf1a";
/// The Type 3 device: bus 0x81 (below the root port on the CXL bridge's bus 0x80).
const TYPE3_ECAM: u64 = PCI_ECAM_START + (0x81 << 20);

fn config() -> VmConfig {
    let mut cxl = CxlConfig::default();
    cxl.host_bridges.push(parse_host_bridge("id=hb0").unwrap());
    cxl.root_ports
        .push(parse_root_port("id=rp0,bus=hb0").unwrap());
    cxl.devices.push(
        parse_type3("id=dcd0,port=rp0,dc-regions=1,dc-regions-total-size=256M,serial=9").unwrap(),
    );
    cxl.windows
        .push(parse_window("targets=hb0,size=256M").unwrap());
    vm_config(cxl)
}

/// Register access through the MMIO bus.
struct Regs {
    mmio: Arc<Bus>,
    bar0: u64,
}

impl Regs {
    fn read(&self, addr: u64, n: usize) -> u64 {
        let mut b = [0u8; 8];
        self.mmio.read(addr, &mut b[..n]).unwrap();
        u64::from_le_bytes(b)
    }
    fn write(&self, addr: u64, v: u64, n: usize) {
        self.mmio.write(addr, &v.to_le_bytes()[..n]).unwrap();
    }
    fn cfg_read(&self, off: u64) -> u32 {
        self.read(TYPE3_ECAM + off, 4) as u32
    }

    /// Runs a mailbox command; (return code, output).
    fn mbox(&self, opcode: u16, input: &[u8]) -> (u64, Vec<u8>) {
        let mb = self.bar0 + 0x1_0000 + 0x200;
        self.mmio.write(mb + 0x20, input).unwrap();
        self.write(
            mb + 0x08,
            u64::from(opcode) | ((input.len() as u64) << 16),
            8,
        );
        self.write(mb + 0x04, 1, 4); // doorbell
        assert_eq!(self.read(mb + 0x04, 4) & 1, 0, "doorbell still set");
        let rc = (self.read(mb + 0x10, 8) >> 32) & 0xffff;
        let len = ((self.read(mb + 0x08, 8) >> 16) & 0x1f_ffff) as usize;
        let mut out = vec![0u8; len];
        self.mmio.read(mb + 0x20, &mut out).unwrap();
        (rc, out)
    }

    /// The DPA and length of the first record in the DC event log, after
    /// clearing it: what a driver does with an Add or Release Capacity event.
    fn take_dc_event(&self) -> (u64, u64) {
        let (rc, out) = self.mbox(0x0100, &[4]);
        assert_eq!(rc, 0);
        assert!(
            u16::from_le_bytes([out[0x14], out[0x15]]) >= 1,
            "no DC event"
        );
        let rec = &out[0x20..];
        let handle = u16::from_le_bytes([rec[0x14], rec[0x15]]);
        let dpa = u64::from_le_bytes(rec[0x38..0x40].try_into().unwrap());
        let len = u64::from_le_bytes(rec[0x40..0x48].try_into().unwrap());
        let mut clear = vec![4, 0, 1, 0, 0, 0];
        clear.extend(handle.to_le_bytes());
        assert_eq!(self.mbox(0x0101, &clear).0, 0, "clear event");
        (dpa, len)
    }
}

fn update_list(dpa: u64, len: u64) -> Vec<u8> {
    let mut p = 1u32.to_le_bytes().to_vec();
    p.extend([0u8; 4]);
    p.extend(dpa.to_le_bytes());
    p.extend(len.to_le_bytes());
    p.extend([0u8; 8]);
    p
}

fn api(ctx: &ApiContext, req: ApiRequest) -> ApiResponse {
    ctx.handle(req).unwrap()
}

#[test]
fn tagged_capacity_lands_in_a_memslot_the_vcpu_reads() {
    let hpa = WINDOW + 2 * MIB;
    // rax = [hpa + 0x10]; report al.
    let code = Asm::default().mov_rbx(hpa + 0x10).load_rax_rbx().finish();
    let mut t = TestVm::with_config(&code, &config());
    t.map_high_gib(WINDOW);
    let devices = t.devices.clone().unwrap();
    let ctx = ApiContext {
        devices: devices.clone(),
        exit: t.exit.clone(),
        cpus: 1,
        memory: RAM_SIZE,
    };
    let tag = Uuid::parse_str(TAG).unwrap();

    // Firmware-assigned BAR 0 of the Type 3 device, found through ECAM.
    let probe = Regs {
        mmio: t.mmio.clone(),
        bar0: 0,
    };
    assert_eq!(
        probe.cfg_read(0x08) >> 8,
        0x05_02_10,
        "CXL memory device class"
    );
    let bar0 = u64::from(probe.cfg_read(0x10) & !0xf) | (u64::from(probe.cfg_read(0x14)) << 32);
    let r = Regs {
        mmio: t.mmio.clone(),
        bar0,
    };

    // The guest side programs decoder 0 over the DC partition and enables it.
    let hdm = bar0 + 0x1100;
    r.write(hdm + 0x10, WINDOW & 0xffff_ffff, 4);
    r.write(hdm + 0x14, WINDOW >> 32, 4);
    r.write(hdm + 0x18, 256 * MIB, 4);
    r.write(hdm + 0x1c, 0, 4);
    r.write(hdm + 0x20, 1 << 9, 4); // Commit
    assert_ne!(r.read(hdm + 0x20, 4) & (1 << 10), 0, "committed");
    r.write(hdm + 0x04, 1 << 1, 4); // HDM Decoder Enable
    let mut cap = 0x100;
    let dvsec = loop {
        let h = r.cfg_read(cap);
        if h & 0xffff == 0x23
            && r.cfg_read(cap + 4) & 0xffff == 0x1e98
            && r.cfg_read(cap + 8) & 0xffff == 0
        {
            break cap;
        }
        cap = u64::from(h >> 20);
        assert_ne!(cap, 0, "no CXL device DVSEC");
    };
    r.write(TYPE3_ECAM + dvsec + 0x0c, 1 << 2, 2); // Mem_Enable
                                                   // The API shows where the device is decoded and how: 1-way, direct.
    let ApiResponse::Devices(list) = api(&ctx, ApiRequest::DeviceList) else {
        panic!("devices");
    };
    let direct = HpaRangeInfo {
        hpa: WINDOW,
        len: 256 * MIB,
        path: MemoryPath::Direct,
        reason: None,
    };
    assert_eq!(list[0].hpa_ranges, vec![direct]);

    // The operator creates a tagged backend and adds it as capacity.
    let resp = api(
        &ctx,
        ApiRequest::BackendAdd(MemoryBackendConfig {
            id: "tm0".into(),
            kind: api::BackendKind::Memfd,
            path: None,
            size: 2 * MIB,
            share: true,
            prealloc: false,
            tag: Some(tag),
        }),
    );
    assert!(matches!(resp, ApiResponse::BackendCreated(_)));
    let backend = devices.cxl.backends.get("tm0").unwrap();
    backend
        .write(0x10, &0x1122_3344_5566_77a5u64.to_le_bytes())
        .unwrap();
    // Holding it here would count as a use.
    drop(backend);
    let add = ApiRequest::DcAdd {
        device: "dcd0".into(),
        request: DcAddRequest {
            host_id: 0,
            selection_policy: SelectionPolicy::Prescriptive,
            region: 0,
            tag: Some(tag),
            extents: vec![ExtentSpec {
                offset: 2 * MIB,
                len: 2 * MIB,
            }],
        },
    };
    let ApiResponse::DcExtents(offered) = api(&ctx, add.clone()) else {
        panic!("add");
    };
    assert_eq!(offered.extents[0].state, ExtentState::Pending);
    assert!(t.memory.slot_at(hpa).is_none(), "no slot before acceptance");
    // The same backend cannot be offered twice.
    assert!(ctx.handle(add).is_err());

    // The driver reads the Add Capacity event and accepts.
    let (dpa, len) = r.take_dc_event();
    assert_eq!((dpa, len), (2 * MIB, 2 * MIB));
    assert_eq!(r.mbox(0x4802, &update_list(dpa, len)).0, 0);
    let slot = t.memory.slot_at(hpa).expect("memslot after acceptance");
    assert_eq!((slot.gpa, slot.len), (hpa, 2 * MIB));
    let ApiResponse::Extents(list) = api(
        &ctx,
        ApiRequest::DcExtents {
            device: "dcd0".into(),
        },
    ) else {
        panic!("extents");
    };
    assert_eq!(list[0].state, ExtentState::Accepted);
    assert_eq!((list[0].hpa, list[0].mapped), (Some(hpa), true));
    assert_eq!(list[0].backend.as_deref(), Some("tm0"));

    // A vCPU reads the backend's bytes at the HPA, natively (no MMIO exit).
    let path = devices.cxl.path.clone().unwrap();
    assert_eq!(t.run(100), Ok(0xa5));
    assert_eq!(path.stats().emulated + path.stats().unrouted, 0);

    // Release by tag: the driver answers Release DC and the slot goes.
    let release = ApiRequest::DcRelease {
        device: "dcd0".into(),
        request: DcReleaseRequest {
            host_id: 0,
            removal_policy: RemovalPolicy::TagBased,
            forced_removal: false,
            sanitize_on_release: false,
            tag: Some(tag),
            region: 0,
            extents: vec![],
        },
    };
    api(&ctx, release);
    assert!(
        t.memory.slot_at(hpa).is_some(),
        "kept until the guest answers"
    );
    let (dpa, len) = r.take_dc_event();
    assert_eq!(r.mbox(0x4803, &update_list(dpa, len)).0, 0);
    assert!(t.memory.slot_at(hpa).is_none(), "memslot gone");
    let status = ApiRequest::DcReleaseStatus {
        device: "dcd0".into(),
        query: DcReleaseStatusQuery {
            region: 0,
            selector: ReleaseSelector::Tag(tag),
        },
    };
    let ApiResponse::ReleaseStatus(s) = api(&ctx, status) else {
        panic!("status");
    };
    assert_eq!(s.status, ReleaseStatus::Released);

    // The vCPU's read now exits to the window and finds nothing there.
    t.vcpu.set_boot_state(crate::harness::CODE_ADDR).unwrap();
    assert_eq!(t.run(100), Ok(0xff));
    assert_eq!(path.stats().unrouted, 1);

    // The backend is free again and can be deleted.
    api(&ctx, ApiRequest::BackendRemove { id: "tm0".into() });
}

/// Two DC devices: `st` with memory behind its whole DC range, `only`
/// DC-only. A tag labels capacity across the VM.
fn two_devices() -> VmConfig {
    let mut cxl = CxlConfig::default();
    cxl.host_bridges.push(parse_host_bridge("id=hb0").unwrap());
    for (i, dev) in [
        "id=st,port=rp0,dc-regions=1,dc-regions-total-size=256M,dc-memdev=dcm",
        "id=only,port=rp1,dc-regions=1,dc-regions-total-size=256M",
    ]
    .into_iter()
    .enumerate()
    {
        cxl.root_ports
            .push(parse_root_port(&format!("id=rp{i},bus=hb0")).unwrap());
        cxl.devices.push(parse_type3(dev).unwrap());
    }
    cxl.backends
        .push(vmm::cxl_config::parse_backend("id=dcm,size=256M").unwrap());
    cxl.windows
        .push(parse_window("targets=hb0,size=512M").unwrap());
    vm_config(cxl)
}

fn add_tagged(device: &str, tag: Uuid, extents: &[(u64, u64)]) -> ApiRequest {
    ApiRequest::DcAdd {
        device: device.into(),
        request: DcAddRequest {
            host_id: 0,
            selection_policy: SelectionPolicy::Prescriptive,
            region: 0,
            tag: Some(tag),
            extents: extents
                .iter()
                .map(|&(offset, len)| ExtentSpec { offset, len })
                .collect(),
        },
    }
}

#[test]
fn tags_without_backends_label_static_capacity_and_are_unique_in_the_vm() {
    let t = TestVm::with_config(&Asm::default().finish(), &two_devices());
    let ctx = ApiContext {
        devices: t.devices.clone().unwrap(),
        exit: t.exit.clone(),
        cpus: 1,
        memory: RAM_SIZE,
    };
    let tag = Uuid::parse_str(TAG).unwrap();
    // A tag group of two extents on the statically backed device.
    let ApiResponse::DcExtents(offered) = api(
        &ctx,
        add_tagged("st", tag, &[(0, 2 * MIB), (8 * MIB, 2 * MIB)]),
    ) else {
        panic!("add");
    };
    assert_eq!(offered.extents.len(), 2);
    assert!(offered.extents.iter().all(|e| e.tag == Some(tag)));
    // The same tag on the other device is refused while it is live here.
    let e = ctx
        .handle(add_tagged("only", tag, &[(0, 2 * MIB)]))
        .unwrap_err();
    assert_eq!(e.status(), 409, "{e}");
    assert!(e.to_string().contains("device 'st'"), "{e}");
    // A DC-only device needs a backend behind a tag.
    let other = Uuid::from_u128(7);
    let e = ctx
        .handle(add_tagged("only", other, &[(0, 2 * MIB)]))
        .unwrap_err();
    assert_eq!(e.status(), 404, "{e}");
    let ApiResponse::Extents(list) = api(
        &ctx,
        ApiRequest::DcExtents {
            device: "only".into(),
        },
    ) else {
        panic!("extents");
    };
    assert!(list.is_empty(), "refused requests changed nothing");
}
