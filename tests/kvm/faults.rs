//! Faults end to end on this machine's KVM: the operator arms them through
//! the API handler, and a "driver" sees them through the device's mailbox
//! registers on the MMIO bus (the path vCPU exits take): an injected
//! return code, a stuck doorbell dropped after its hold, and Dynamic
//! Capacity records a host must reject, refused when it names them.

use api::{ApiError, ApiRequest, ApiResponse, DcFaultRequest, FaultId, FaultRequest};
use devices::trace::{capture, Kind};

use crate::dcd_guest::{api, api_context, config, update_list, Regs, ADD_DC_RESPONSE, MIB};
use crate::harness::TestVm;

const GET_HEALTH_INFO: u16 = 0x4200;
const RC_INTERNAL_ERROR: u64 = 0x04;
const RC_ABORTED: u64 = 0x12;
const RC_INVALID_EXTENT_LIST: u64 = 0x1E;

fn fault_add(fault: FaultRequest) -> ApiRequest {
    ApiRequest::FaultAdd {
        device: "dcd0".into(),
        fault,
    }
}

#[test]
fn an_injected_return_code_reaches_the_driver_and_the_trace() {
    let t = TestVm::with_config(&[0xf4], &config());
    let ctx = api_context(&t);
    let r = Regs::guest_setup(&t.mmio);

    let fault = FaultRequest::ReturnCode {
        opcode: GET_HEALTH_INFO,
        return_code: RC_INTERNAL_ERROR as u16,
        count: 2,
    };
    let (answer, trace) = capture(|| ctx.handle(fault_add(fault)));
    let Ok(ApiResponse::FaultCreated(FaultId { id })) = answer else {
        panic!("{answer:?}");
    };
    assert!(trace
        .iter()
        .any(|t| t.kind == Kind::Fault && t.fields["event"] == "armed"));
    let ApiResponse::Faults(list) = api(
        &ctx,
        ApiRequest::FaultList {
            device: "dcd0".into(),
        },
    ) else {
        panic!("not a fault list");
    };
    assert_eq!(list.faults.len(), 1);
    assert_eq!((list.faults[0].id, list.faults[0].remaining), (id, 2));

    let ((rc, out), trace) = capture(|| r.mbox(GET_HEALTH_INFO, &[]));
    assert_eq!(rc, RC_INTERNAL_ERROR);
    assert!(out.is_empty());
    let hit = trace
        .iter()
        .find(|t| t.kind == Kind::Fault && t.fields["event"] == "triggered")
        .expect("a triggered record");
    assert_eq!(hit.device.as_deref(), Some("dcd0"));
    assert_eq!(hit.fields["opcode"], GET_HEALTH_INFO);
    assert_eq!(hit.fields["action"]["return-code"], RC_INTERNAL_ERROR);
    let ((rc, _), trace) = capture(|| r.mbox(GET_HEALTH_INFO, &[]));
    assert_eq!(rc, RC_INTERNAL_ERROR);
    assert!(trace
        .iter()
        .any(|t| t.kind == Kind::Fault && t.fields["event"] == "expired"));
    // The count ran out: the command runs again.
    let (rc, out) = r.mbox(GET_HEALTH_INFO, &[]);
    assert_eq!(rc, 0);
    assert!(!out.is_empty());

    // A doorbell held 0 ms is dropped at once: Aborted, nothing run.
    api(
        &ctx,
        fault_add(FaultRequest::DoorbellStuck {
            opcode: None,
            hold_ms: Some(0),
            count: 1,
        }),
    );
    let (rc, out) = r.mbox(GET_HEALTH_INFO, &[]);
    assert_eq!((rc, out.len()), (RC_ABORTED, 0));
    assert_eq!(r.mbox(GET_HEALTH_INFO, &[]).0, 0);

    // Refusals: unknown device, not a return code; clearing what is gone.
    assert!(matches!(
        ctx.handle(ApiRequest::FaultAdd {
            device: "nope".into(),
            fault,
        }),
        Err(ApiError::NotFound(_))
    ));
    let bad = FaultRequest::ReturnCode {
        opcode: GET_HEALTH_INFO,
        return_code: 0x21,
        count: 1,
    };
    assert!(matches!(
        ctx.handle(fault_add(bad)),
        Err(ApiError::BadRequest(_))
    ));
    assert!(matches!(
        ctx.handle(ApiRequest::FaultClear {
            device: "dcd0".into(),
            fault: Some(id),
        }),
        Err(ApiError::NotFound(_))
    ));
}

#[test]
fn a_misaligned_offer_is_refused_when_the_host_accepts_it() {
    let t = TestVm::with_config(&[0xf4], &config());
    let ctx = api_context(&t);
    let r = Regs::guest_setup(&t.mmio);

    api(
        &ctx,
        ApiRequest::DcFaultAdd {
            device: "dcd0".into(),
            fault: DcFaultRequest::Misaligned { region: 0 },
        },
    );
    let events = r.drain_dc_events();
    assert_eq!(events.len(), 1);
    // Region 0 at DPA 0 in 2 MiB blocks: half a block off.
    assert_eq!((events[0].event_type, events[0].dpa), (0, MIB));
    assert_eq!((events[0].len, events[0].more), (2 * MIB, false));
    let (rc, _) = r.mbox(ADD_DC_RESPONSE, &update_list(MIB, 2 * MIB));
    assert_eq!(rc, RC_INVALID_EXTENT_LIST);
    // Declining it (an empty list) closes it; nothing was mapped.
    let (rc, _) = r.mbox(ADD_DC_RESPONSE, &[0; 8]);
    assert_eq!(rc, 0);
    let ApiResponse::Faults(list) = api(
        &ctx,
        ApiRequest::FaultList {
            device: "dcd0".into(),
        },
    ) else {
        panic!("not a fault list");
    };
    assert!(list.dc_faults.is_empty());
    assert!(crate::dcd_guest::dc_extents(&ctx).is_empty());

    // Overlapping needs an extent the host holds: 409.
    assert!(matches!(
        ctx.handle(ApiRequest::DcFaultAdd {
            device: "dcd0".into(),
            fault: DcFaultRequest::Overlapping {},
        }),
        Err(ApiError::Conflict(_))
    ));
}
