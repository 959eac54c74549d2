//! Dynamic Capacity end to end on this machine's KVM, without nesting: the
//! operator API adds tagged capacity, a "driver" answers through the
//! device's registers on the MMIO bus (the path vCPU exits take), the
//! accepted extent becomes a real memslot that a vCPU program reads at its
//! HPA, and release takes it away again.

use api::{
    AddRequest, ApiRequest, ApiResponse, BackendConfig, DcReleaseStatusQuery, ExtentState,
    ExtentStatus, HpaRangeInfo, MemoryPath, ReleaseRequest, ReleaseSelector, RemovalPolicy,
    RequestedExtent, SelectionPolicy,
};
use uuid::Uuid;
use vmm::api_handler::ApiContext;
use vmm::config::VmConfig;
use vmm::cxl_config::{parse_host_bridge, parse_root_port, parse_type3, parse_window, CxlConfig};

use crate::dcd_guest::{api, config, update_list, Regs, ADD_DC_RESPONSE, MIB, RELEASE_DC, WINDOW};
use crate::harness::{vm_config, Asm, TestVm, RAM_SIZE};

const TAG: &str = "5be13bce-ae34-4a77-b6c3-16df975fcf1a";

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

    // Firmware-assigned BAR 0; the guest side programs decoder 0 over the
    // DC partition and enables it.
    let r = Regs::guest_setup(&t.mmio);
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
        ApiRequest::BackendAdd(BackendConfig {
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
        request: AddRequest {
            host_id: 0,
            selection_policy: SelectionPolicy::Prescriptive,
            region: 0,
            tag: Some(tag),
            extents: vec![RequestedExtent {
                offset: 2 * MIB,
                len: 2 * MIB,
            }],
            backend: None,
        },
    };
    let ApiResponse::DcExtents(offered) = api(&ctx, add.clone()) else {
        panic!("add");
    };
    assert_eq!(offered.extents[0].state, ExtentStatus::Pending);
    assert!(t.memory.slot_at(hpa).is_none(), "no slot before acceptance");
    // The same backend cannot be offered twice.
    assert!(ctx.handle(add).is_err());

    // The driver reads the Add Capacity event and accepts.
    let (dpa, len) = r.take_dc_event();
    assert_eq!((dpa, len), (2 * MIB, 2 * MIB));
    assert_eq!(r.mbox(ADD_DC_RESPONSE, &update_list(dpa, len)).0, 0);
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
    assert_eq!(list[0].info.state, ExtentState::Accepted);
    assert_eq!((list[0].hpa, list[0].mapped), (Some(hpa), true));
    assert_eq!(list[0].backend.as_deref(), Some("tm0"));

    // A vCPU reads the backend's bytes at the HPA, natively (no MMIO exit).
    let path = devices.cxl.path.clone().unwrap();
    assert_eq!(t.run(100), Ok(0xa5));
    assert_eq!(path.stats().emulated + path.stats().unrouted, 0);

    // Release by tag: the driver answers Release DC and the slot goes.
    let release = ApiRequest::DcRelease {
        device: "dcd0".into(),
        request: ReleaseRequest {
            host_id: 0,
            removal_policy: RemovalPolicy::TagBased,
            forced: false,
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
    assert_eq!(r.mbox(RELEASE_DC, &update_list(dpa, len)).0, 0);
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
    assert_eq!(s.status, ExtentStatus::Released);

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
        request: AddRequest {
            host_id: 0,
            selection_policy: SelectionPolicy::Prescriptive,
            region: 0,
            tag: Some(tag),
            extents: extents
                .iter()
                .map(|&(offset, len)| RequestedExtent { offset, len })
                .collect(),
            backend: None,
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
    assert!(offered.extents.iter().all(|e| e.extent.tag == tag));
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
