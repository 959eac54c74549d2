//! The guest's side of Dynamic Capacity for KVM tests: a "driver" that
//! finds the Type 3 device through ECAM, programs its HDM decoder and runs
//! mailbox commands through its registers on the MMIO bus (the path vCPU
//! exits take), and the operator's side through the API handler.

use std::sync::Arc;

use api::{
    AddRequest, ApiRequest, ApiResponse, ApiResult, BackendConfig, CxlDeviceInfo, ExtentChange,
    ExtentEntry, MemoryBackendInfo, ReleaseRequest, RemovalPolicy, RequestedExtent,
    SelectionPolicy,
};
use arch::layout::{CXL_FMW_START, PCI_ECAM_START};
use devices::Bus;
use uuid::Uuid;
use vmm::api_handler::ApiContext;
use vmm::config::VmConfig;
use vmm::cxl_config::{parse_host_bridge, parse_root_port, parse_type3, parse_window, CxlConfig};

use crate::harness::{vm_config, TestVm, RAM_SIZE};

pub const MIB: u64 = 1 << 20;
pub const WINDOW: u64 = CXL_FMW_START;
/// The Type 3 device: bus 0x81 (below the root port on the CXL bridge's bus 0x80).
pub const TYPE3_ECAM: u64 = PCI_ECAM_START + (0x81 << 20);

/// Get Event Records, Clear Event Records.
pub const GET_EVENT_RECORDS: u16 = 0x0100;
pub const CLEAR_EVENT_RECORDS: u16 = 0x0101;
/// Add Dynamic Capacity Response, Release Dynamic Capacity.
pub const ADD_DC_RESPONSE: u16 = 0x4802;
pub const RELEASE_DC: u16 = 0x4803;
/// Invalid Physical Address (CXL 3.1 Table 8-34).
pub const RC_INVALID_PHYSICAL_ADDRESS: u64 = 0x0F;

/// One DC-only device `dcd0` with one 256 MiB region, in a 256 MiB window.
pub fn config() -> VmConfig {
    config_with("")
}

/// [`config`] with more `--cxl-type3` options (`,key=value...`).
pub fn config_with(extra: &str) -> VmConfig {
    let mut cxl = CxlConfig::default();
    cxl.host_bridges.push(parse_host_bridge("id=hb0").unwrap());
    cxl.root_ports
        .push(parse_root_port("id=rp0,bus=hb0").unwrap());
    cxl.devices.push(
        parse_type3(&format!(
            "id=dcd0,port=rp0,dc-regions=1,dc-regions-total-size=256M,serial=9{extra}"
        ))
        .unwrap(),
    );
    cxl.windows
        .push(parse_window("targets=hb0,size=256M").unwrap());
    vm_config(cxl)
}

/// The API handler of `t`.
pub fn api_context(t: &TestVm) -> ApiContext {
    ApiContext {
        devices: t.devices.clone().unwrap(),
        exit: t.exit.clone(),
        cpus: 1,
        memory: RAM_SIZE,
    }
}

/// Applies a request that must succeed.
pub fn api(ctx: &ApiContext, req: ApiRequest) -> ApiResponse {
    ctx.handle(req).unwrap()
}

/// A DC event record as the guest reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DcRecord {
    /// Dynamic Capacity Event Type (0 add, 1 release, 2 forced release).
    pub event_type: u8,
    pub dpa: u64,
    pub len: u64,
    pub more: bool,
}

/// Register access through the MMIO bus.
pub struct Regs {
    pub mmio: Arc<Bus>,
    pub bar0: u64,
}

impl Regs {
    pub fn read(&self, addr: u64, n: usize) -> u64 {
        let mut b = [0u8; 8];
        self.mmio.read(addr, &mut b[..n]).unwrap();
        u64::from_le_bytes(b)
    }
    pub fn write(&self, addr: u64, v: u64, n: usize) {
        self.mmio.write(addr, &v.to_le_bytes()[..n]).unwrap();
    }
    pub fn cfg_read(&self, off: u64) -> u32 {
        self.read(TYPE3_ECAM + off, 4) as u32
    }

    /// The firmware-assigned BAR 0 of the Type 3 device, found through
    /// ECAM; then the guest programs decoder 0 over the DC partition at
    /// [`WINDOW`], enables HDM decoding and Mem_Enable.
    pub fn guest_setup(mmio: &Arc<Bus>) -> Regs {
        let probe = Regs {
            mmio: mmio.clone(),
            bar0: 0,
        };
        assert_eq!(
            probe.cfg_read(0x08) >> 8,
            0x05_02_10,
            "CXL memory device class"
        );
        let bar0 = u64::from(probe.cfg_read(0x10) & !0xf) | (u64::from(probe.cfg_read(0x14)) << 32);
        let r = Regs {
            mmio: mmio.clone(),
            bar0,
        };
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
        r
    }

    /// Runs a mailbox command; (return code, output).
    pub fn mbox(&self, opcode: u16, input: &[u8]) -> (u64, Vec<u8>) {
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

    /// Get Event Records on the DC log: the records and their handles.
    pub fn read_dc_events(&self) -> Vec<(u16, DcRecord)> {
        let (rc, out) = self.mbox(GET_EVENT_RECORDS, &[4]);
        assert_eq!(rc, 0, "get event records");
        let n = usize::from(u16::from_le_bytes([out[0x14], out[0x15]]));
        (0..n)
            .map(|i| {
                let rec = &out[0x20 + i * 0x80..0x20 + (i + 1) * 0x80];
                let word = |o: usize| u64::from_le_bytes(rec[o..o + 8].try_into().unwrap());
                let handle = u16::from_le_bytes([rec[0x14], rec[0x15]]);
                let r = DcRecord {
                    event_type: rec[0x30],
                    dpa: word(0x38),
                    len: word(0x40),
                    more: rec[0x35] & 1 != 0,
                };
                (handle, r)
            })
            .collect()
    }

    /// Clear Event Records of the DC log for `handles`.
    pub fn clear_dc_events(&self, handles: &[u16]) {
        let mut clear = vec![4, 0, handles.len() as u8, 0, 0, 0];
        for h in handles {
            clear.extend(h.to_le_bytes());
        }
        assert_eq!(self.mbox(CLEAR_EVENT_RECORDS, &clear).0, 0, "clear events");
    }

    /// What a driver does on a DC interrupt: read every record, then clear
    /// them.
    pub fn drain_dc_events(&self) -> Vec<DcRecord> {
        let events = self.read_dc_events();
        if !events.is_empty() {
            let handles: Vec<u16> = events.iter().map(|(h, _)| *h).collect();
            self.clear_dc_events(&handles);
        }
        events.into_iter().map(|(_, r)| r).collect()
    }

    /// The DPA and length of the first record in the DC event log, after
    /// clearing it: what a driver does with an Add or Release Capacity event.
    pub fn take_dc_event(&self) -> (u64, u64) {
        let (handle, r) = *self.read_dc_events().first().expect("no DC event");
        self.clear_dc_events(&[handle]);
        (r.dpa, r.len)
    }
}

/// An Updated Extent List of `extents` (DPA, length), flags clear.
pub fn update_list_of(extents: &[(u64, u64)]) -> Vec<u8> {
    let mut p = (extents.len() as u32).to_le_bytes().to_vec();
    p.extend([0u8; 4]);
    for (dpa, len) in extents {
        p.extend(dpa.to_le_bytes());
        p.extend(len.to_le_bytes());
        p.extend([0u8; 8]);
    }
    p
}

/// An Updated Extent List of one extent.
pub fn update_list(dpa: u64, len: u64) -> Vec<u8> {
    update_list_of(&[(dpa, len)])
}

// ---- the operator's side, through the API handler ---------------------------

/// `POST /memory-backends`: a memfd backend of `size` bytes tagged `tag`.
pub fn backend_add(ctx: &ApiContext, id: &str, size: u64, tag: Uuid) -> ApiResult {
    ctx.handle(ApiRequest::BackendAdd(BackendConfig {
        id: id.into(),
        kind: api::BackendKind::Memfd,
        path: None,
        size,
        share: true,
        prealloc: false,
        tag: Some(tag),
    }))
}

/// `DELETE /memory-backends/{id}`.
pub fn backend_remove(ctx: &ApiContext, id: &str) -> ApiResult {
    ctx.handle(ApiRequest::BackendRemove { id: id.into() })
}

/// `POST /devices/dcd0/dc/add`: the extent at `offset` of region 0,
/// prescriptive, tagged.
pub fn dc_add(ctx: &ApiContext, tag: Uuid, offset: u64, len: u64) -> ApiResult {
    ctx.handle(ApiRequest::DcAdd {
        device: "dcd0".into(),
        request: AddRequest {
            host_id: 0,
            selection_policy: SelectionPolicy::Prescriptive,
            region: 0,
            tag: Some(tag),
            extents: vec![RequestedExtent { offset, len }],
            backend: None,
        },
    })
}

/// `POST /devices/dcd0/dc/release` by tag, in region 0; `forced` takes the
/// capacity at once (and withdraws pending offers).
pub fn dc_release(ctx: &ApiContext, tag: Uuid, forced: bool) -> ApiResult {
    ctx.handle(ApiRequest::DcRelease {
        device: "dcd0".into(),
        request: ReleaseRequest {
            host_id: 0,
            removal_policy: RemovalPolicy::TagBased,
            forced,
            sanitize_on_release: false,
            tag: Some(tag),
            region: 0,
            extents: vec![],
        },
    })
}

/// The extents an add or a release answered with.
pub fn extents_of(r: ApiResult) -> Vec<ExtentChange> {
    match r {
        Ok(ApiResponse::DcExtents(l)) => l.extents,
        other => panic!("expected extents, got {other:?}"),
    }
}

/// `GET /devices`: device `dcd0`.
pub fn device_info(ctx: &ApiContext) -> CxlDeviceInfo {
    match api(ctx, ApiRequest::DeviceList) {
        ApiResponse::Devices(mut d) => d.remove(0),
        other => panic!("{other:?}"),
    }
}

/// `GET /devices/dcd0/dc/extents`.
pub fn dc_extents(ctx: &ApiContext) -> Vec<ExtentEntry> {
    match api(
        ctx,
        ApiRequest::DcExtents {
            device: "dcd0".into(),
        },
    ) {
        ApiResponse::Extents(l) => l,
        other => panic!("{other:?}"),
    }
}

/// `GET /memory-backends`.
pub fn backends(ctx: &ApiContext) -> Vec<MemoryBackendInfo> {
    match api(ctx, ApiRequest::BackendList) {
        ApiResponse::Backends(l) => l,
        other => panic!("{other:?}"),
    }
}
