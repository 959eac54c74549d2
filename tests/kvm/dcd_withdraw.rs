//! Withdrawing offers the guest never answers, through the API handler,
//! with the guest's side driven through the device's registers and real
//! memslots: the backend is free at once, the guest's late acceptance is
//! refused and maps nothing, and a full DC event log is reported.

use api::{ExtentState, ExtentStatus};
use uuid::Uuid;

use crate::dcd_guest::*;
use crate::harness::{Asm, TestVm};

#[test]
fn withdrawn_offer_frees_its_backend_and_the_late_answer_maps_nothing() {
    let t = TestVm::with_config(&Asm::default().finish(), &config());
    let ctx = api_context(&t);
    let r = Regs::guest_setup(&t.mmio);
    let slots = t.memory.slots().len();
    let tag = Uuid::from_u128(0x51);
    backend_add(&ctx, "w0", 2 * MIB, tag).unwrap();
    let offered = extents_of(dc_add(&ctx, tag, 4 * MIB, 2 * MIB));
    assert_eq!(offered[0].state, ExtentStatus::Pending);
    // A plain release of an offer is refused, pointing at the way out.
    let e = dc_release(&ctx, tag, false).unwrap_err();
    assert_eq!(e.status(), 409, "{e}");
    assert!(e.to_string().contains("forced removal"), "{e}");
    assert_eq!(backend_remove(&ctx, "w0").unwrap_err().status(), 409);

    // The guest reads the Add Capacity record and sits on it.
    let events = r.read_dc_events();
    assert_eq!(events.len(), 1);
    assert_eq!((events[0].1.dpa, events[0].1.len), (4 * MIB, 2 * MIB));

    // The operator withdraws it and deletes its backend at once.
    let withdrawn = extents_of(dc_release(&ctx, tag, true));
    assert_eq!(withdrawn.len(), 1);
    assert_eq!(withdrawn[0].state, ExtentStatus::Withdrawn);
    assert_eq!(
        (withdrawn[0].extent.region_offset, withdrawn[0].extent.tag),
        (4 * MIB, tag)
    );
    assert!(dc_extents(&ctx).is_empty(), "left the pending list");
    backend_remove(&ctx, "w0").unwrap();
    assert!(backends(&ctx).is_empty());
    let status = api(
        &ctx,
        api::ApiRequest::DcReleaseStatus {
            device: "dcd0".into(),
            query: api::DcReleaseStatusQuery {
                region: 0,
                selector: api::ReleaseSelector::Tag(tag),
            },
        },
    );
    assert!(
        matches!(status, api::ApiResponse::ReleaseStatus(s) if s.status == ExtentStatus::Withdrawn)
    );

    // The guest's acceptance comes late: Invalid Physical Address, no slot.
    let (rc, _) = r.mbox(ADD_DC_RESPONSE, &update_list(4 * MIB, 2 * MIB));
    assert_eq!(rc, RC_INVALID_PHYSICAL_ADDRESS);
    assert_eq!(t.memory.slots().len(), slots);
    assert!(t.memory.slot_at(WINDOW + 4 * MIB).is_none());
    // It clears the record it read; the log is empty again.
    r.clear_dc_events(&[events[0].0]);
    let log = device_info(&ctx).dc_event_log.unwrap();
    assert_eq!((log.used, log.full), (0, false));

    // The same capacity can be offered again, and accepted.
    backend_add(&ctx, "w1", 2 * MIB, tag).unwrap();
    dc_add(&ctx, tag, 4 * MIB, 2 * MIB).unwrap();
    let add = r.drain_dc_events();
    assert_eq!(add.len(), 1);
    assert_eq!(
        r.mbox(ADD_DC_RESPONSE, &update_list(add[0].dpa, add[0].len))
            .0,
        0
    );
    assert!(t.memory.slot_at(WINDOW + 4 * MIB).is_some());
}

#[test]
fn full_event_log_is_reported_and_unread_offers_can_be_withdrawn() {
    let t = TestVm::with_config(
        &Asm::default().finish(),
        &config_with(",dc-event-log-depth=4"),
    );
    let ctx = api_context(&t);
    let tags: Vec<Uuid> = (1..=5).map(|i| Uuid::from_u128(0x70 + i)).collect();
    for (i, tag) in tags.iter().enumerate() {
        backend_add(&ctx, &format!("f{i}"), 2 * MIB, *tag).unwrap();
    }
    for (i, tag) in tags[..4].iter().enumerate() {
        dc_add(&ctx, *tag, i as u64 * 2 * MIB, 2 * MIB).unwrap();
    }
    // A guest that never reads its DC events: the log is full.
    let log = device_info(&ctx).dc_event_log.unwrap();
    assert_eq!((log.depth, log.used, log.read, log.full), (4, 4, 0, true));
    let e = dc_add(&ctx, tags[4], 8 * MIB, 2 * MIB).unwrap_err();
    assert_eq!(e.status(), 503, "{e}");
    assert!(e.to_string().contains("event log is full"), "{e}");
    // Withdrawing an offer the guest never read takes its record back.
    extents_of(dc_release(&ctx, tags[0], true));
    backend_remove(&ctx, "f0").unwrap();
    let log = device_info(&ctx).dc_event_log.unwrap();
    assert_eq!((log.used, log.full), (3, false));
    dc_add(&ctx, tags[4], 8 * MIB, 2 * MIB).unwrap();
    let pending = dc_extents(&ctx);
    assert_eq!(pending.len(), 4);
    assert!(pending.iter().all(|e| e.info.state == ExtentState::Pending));
}
