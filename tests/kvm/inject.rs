//! Injection end to end on this machine's KVM: the operator injects
//! through the API handler, and a "driver" reads the results through the
//! device's registers and configuration space on the MMIO bus (the path
//! vCPU exits take): event records, health, alert configuration, the RAS
//! capability, the endpoint's AER and the root port's Root Error Status.

use api::{
    ApiError, ApiRequest, ApiResponse, CorrectableErrorInjection, CorrectableErrorType,
    EventLogName, GeneralMediaInjection, HealthUpdate, Injection, PoisonInjection,
    UncorrectableError, UncorrectableErrorType, UncorrectableErrorsInjection,
};
use arch::layout::PCI_ECAM_START;
use devices::trace::{capture, Kind};

use crate::dcd_guest::{api_context, config, Regs, GET_EVENT_RECORDS, TYPE3_ECAM};
use crate::harness::TestVm;

/// The root port above the device: bus 0x80, device 0.
const ROOT_PORT_ECAM: u64 = PCI_ECAM_START + (0x80 << 20);
const GET_HEALTH_INFO: u16 = 0x4200;
const GET_ALERT_CONFIG: u16 = 0x4201;
const SET_ALERT_CONFIG: u16 = 0x4202;
const GET_POISON_LIST: u16 = 0x4300;
const GM_UUID: [u8; 16] = [
    0xfb, 0xcd, 0x0a, 0x77, 0xc2, 0x60, 0x41, 0x7f, 0x85, 0xa9, 0x08, 0x8b, 0x16, 0x21, 0xeb, 0xa6,
];

fn inject(device: &str, injection: Injection) -> ApiRequest {
    ApiRequest::Inject {
        device: device.into(),
        injection,
    }
}

/// The offset of extended capability `id` in the function at `ecam`.
fn ext_cap(r: &Regs, ecam: u64, id: u32) -> u64 {
    let mut at = 0x100;
    loop {
        let h = r.read(ecam + at, 4) as u32;
        if h & 0xffff == id {
            return at;
        }
        at = u64::from(h >> 20);
        assert_ne!(at, 0, "no extended capability {id:#x}");
    }
}

#[test]
fn events_and_health_reach_the_driver() {
    let t = TestVm::with_config(&[0xf4], &config());
    let ctx = api_context(&t);
    let r = Regs::guest_setup(&t.mmio);

    let gm = GeneralMediaInjection {
        log: EventLogName::Warning,
        flags: 1,
        dpa: 0x2000,
        descriptor: 1,
        event_type: 2,
        transaction_type: 3,
        channel: Some(1),
        rank: None,
        device: None,
        component_id: None,
    };
    let (answer, trace) = capture(|| ctx.handle(inject("dcd0", Injection::GeneralMedia(gm))));
    assert_eq!(answer, Ok(ApiResponse::Done));
    assert!(trace
        .iter()
        .any(|t| t.kind == Kind::Inject && t.fields["what"] == "general-media-event"));
    // Get Event Records on the Warning log: one General Media record.
    let (rc, out) = r.mbox(GET_EVENT_RECORDS, &[1]);
    assert_eq!(rc, 0);
    assert_eq!(
        u16::from_le_bytes([out[0x14], out[0x15]]),
        1,
        "record count"
    );
    let rec = &out[0x20..0xa0];
    assert_eq!(&rec[..16], &GM_UUID);
    // DC capacity is volatile: Physical Address bit 0.
    assert_eq!(
        u64::from_le_bytes(rec[0x30..0x38].try_into().unwrap()),
        0x2001
    );

    // The guest enables the life-used warning at 50% (ndctl's payload).
    let (rc, _) = r.mbox(SET_ALERT_CONFIG, &[1, 1, 50, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(rc, 0);
    let (_, cfg) = r.mbox(GET_ALERT_CONFIG, &[]);
    assert_eq!((cfg[0], cfg[3]), (1, 50));
    let health = HealthUpdate {
        life_used: Some(60),
        ..Default::default()
    };
    assert_eq!(
        ctx.handle(inject("dcd0", Injection::Health(health))),
        Ok(ApiResponse::Done)
    );
    let (_, h) = r.mbox(GET_HEALTH_INFO, &[]);
    assert_eq!((h[2] & 3, h[3]), (1, 60), "life used warning");
    // The Memory Module record behind the first one in the Warning log.
    let (_, out) = r.mbox(GET_EVENT_RECORDS, &[1]);
    assert_eq!(u16::from_le_bytes([out[0x14], out[0x15]]), 2);
    assert_eq!(out[0xa0 + 0x30], 0x02, "life used change");

    // Dynamic Capacity is media: poison there is listed by Get Poison
    // List (address 0x1000, source Internal 2; length 1 unit).
    let dc_poison = Injection::Poison(PoisonInjection {
        start: 0x1000,
        length: 64,
    });
    assert_eq!(ctx.handle(inject("dcd0", dc_poison)), Ok(ApiResponse::Done));
    let mut get = 0u64.to_le_bytes().to_vec();
    get.extend(((256u64 << 20) / 64).to_le_bytes());
    let (rc, out) = r.mbox(GET_POISON_LIST, &get);
    assert_eq!(rc, 0);
    assert_eq!(u16::from_le_bytes([out[0x0a], out[0x0b]]), 1);
    assert_eq!(
        &out[0x20..0x2c],
        &[0x02, 0x10, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]
    );

    // Refusals: unknown device, DPA past the device, poison past the DC
    // region's capacity.
    let bad = Injection::Poison(PoisonInjection {
        start: 256 << 20,
        length: 64,
    });
    assert!(matches!(
        ctx.handle(inject("nope", bad.clone())),
        Err(ApiError::NotFound(_))
    ));
    assert!(matches!(
        ctx.handle(inject("dcd0", bad)),
        Err(ApiError::BadRequest(_))
    ));
    let mut far = gm_at(1 << 40);
    far.log = EventLogName::Fatal;
    assert!(matches!(
        ctx.handle(inject("dcd0", Injection::GeneralMedia(far))),
        Err(ApiError::BadRequest(_))
    ));
}

fn gm_at(dpa: u64) -> GeneralMediaInjection {
    GeneralMediaInjection {
        log: EventLogName::Informational,
        flags: 0,
        dpa,
        descriptor: 0,
        event_type: 0,
        transaction_type: 0,
        channel: None,
        rank: None,
        device: None,
        component_id: None,
    }
}

#[test]
fn ras_errors_go_through_aer_to_the_root_port() {
    let t = TestVm::with_config(&[0xf4], &config());
    let ctx = api_context(&t);
    let r = Regs::guest_setup(&t.mmio);
    let ras = r.bar0 + 0x1000 + 0x80;
    let aer = ext_cap(&r, TYPE3_ECAM, 1);
    let rp_aer = ext_cap(&r, ROOT_PORT_ECAM, 1);

    // What Linux does: the AER driver enables the root port's error
    // interrupts, pci_aer_init the endpoint's reporting, cxl_pci unmasks
    // the RAS errors.
    r.write(ROOT_PORT_ECAM + rp_aer + 0x2c, 0x7, 4);
    let pcie = {
        let mut at = u64::from(r.cfg_read(0x34) & 0xff);
        while r.cfg_read(at) & 0xff != 0x10 {
            at = u64::from((r.cfg_read(at) >> 8) & 0xff);
        }
        at
    };
    let devctl = r.read(TYPE3_ECAM + pcie + 8, 2);
    r.write(TYPE3_ECAM + pcie + 8, devctl | 0x7, 2);
    r.write(ras + 0x04, 0, 4);
    r.write(ras + 0x10, 0, 4);

    let ue = Injection::Uncorrectable(UncorrectableErrorsInjection {
        errors: vec![
            UncorrectableError {
                error_type: UncorrectableErrorType::MemDataEcc,
                header: vec![0xfeed],
            },
            UncorrectableError {
                error_type: UncorrectableErrorType::Internal,
                header: vec![],
            },
        ],
    });
    let (answer, trace) = capture(|| ctx.handle(inject("dcd0", ue)));
    assert_eq!(answer, Ok(ApiResponse::Done));
    let irq = trace
        .iter()
        .find(|t| t.kind == Kind::Interrupt && t.fields["what"] == "aer")
        .expect("an AER record");
    assert_eq!(irq.fields["message"], "ERR_FATAL");
    assert_eq!(irq.fields["source"], "81:00.0");
    // cxl_pci's view: RAS status, First Error Pointer, Header Log.
    assert_eq!(r.read(ras, 4), (1 << 7) | (1 << 14));
    assert_eq!(r.read(ras + 0x14, 4) & 0x3f, 7);
    assert_eq!(r.read(ras + 0x18, 4), 0xfeed);
    // The AER driver's view: Root Error Status, the source, its status.
    let rsta = r.read(ROOT_PORT_ECAM + rp_aer + 0x30, 4);
    assert_eq!(rsta & 0x54, 0x54, "ERR_FATAL received, first fatal, fatal");
    assert_eq!(r.read(ROOT_PORT_ECAM + rp_aer + 0x34, 4) >> 16, 0x8100);
    assert_eq!(r.read(TYPE3_ECAM + aer + 0x04, 4), 1 << 22);

    let ce = Injection::Correctable(CorrectableErrorInjection {
        error_type: CorrectableErrorType::MemDataEcc,
    });
    assert_eq!(ctx.handle(inject("dcd0", ce)), Ok(ApiResponse::Done));
    assert_eq!(r.read(ras + 0x0c, 4), 1 << 1);
    assert_eq!(r.read(TYPE3_ECAM + aer + 0x10, 4), 1 << 14);
    assert_eq!(r.read(ROOT_PORT_ECAM + rp_aer + 0x30, 4) & 1, 1);
}
