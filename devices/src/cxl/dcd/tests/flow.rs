//! End-to-end flows as a guest driver and an operator drive them: offer,
//! respond, list, release, forced release, decline, reset, and scale.

use super::*;
use crate::cxl::mailbox::testing::TestMemdev;
use crate::cxl::memdev::tests::test_config;

const GET_RECORDS: u16 = Opcode::GetEventRecords as u16;
const CLEAR_RECORDS: u16 = Opcode::ClearEventRecords as u16;
const LIST: u16 = Opcode::GetDcExtentList as u16;

/// What a driver does on a DC interrupt: read the DC log, clear what it
/// read; returns the decoded records.
fn drain_log(m: &mut TestMemdev) -> Vec<DcEvent> {
    let mut all = Vec::new();
    loop {
        let (rc, out) = m.execute(GET_RECORDS, &[EventLogType::DynamicCapacity as u8]);
        assert_eq!(rc, RetCode::Success);
        assert_eq!(out[0] & 1, 0, "no overflow");
        let n = usize::from(u16::from_le_bytes([out[0x14], out[0x15]]));
        if n == 0 {
            return all;
        }
        let mut clear = vec![4, 0, n as u8, 0, 0, 0];
        for rec in out[0x20..].chunks(0x80) {
            let r = crate::cxl::memdev::events::EventRecord::from_bytes(rec.try_into().unwrap());
            all.push(DcEvent::from_record(&r).unwrap());
            clear.extend_from_slice(&r.handle().to_le_bytes());
        }
        assert_eq!(m.execute(CLEAR_RECORDS, &clear).0, RetCode::Success);
    }
}

/// Total extents and generation from Get Dynamic Capacity Extent List.
fn list_header(m: &mut TestMemdev) -> (u32, u32) {
    let (rc, out) = m.execute(LIST, &[0; 8]);
    assert_eq!(rc, RetCode::Success);
    (
        u32::from_le_bytes(out[4..8].try_into().unwrap()),
        u32::from_le_bytes(out[8..12].try_into().unwrap()),
    )
}

fn effect_kinds(fx: &[DcdEffect]) -> Vec<(&'static str, u64)> {
    fx.iter()
        .map(|e| match e {
            DcdEffect::Accepted { extent } => ("accepted", extent.dpa),
            DcdEffect::Declined { extent } => ("declined", extent.dpa),
            DcdEffect::Released { extent, .. } => ("released", extent.dpa),
        })
        .collect()
}

#[test]
fn nine_extent_offer_accept_five_release_by_tag() {
    let mut m = test_memdev();
    assert_eq!(
        m.events().log(EventLogType::DynamicCapacity).depth(),
        64,
        "default DC log depth"
    );
    let t = tag(0x99);
    let offsets: Vec<(u64, u64)> = (0..9).map(|i| (i * 8 * MIB, 2 * MIB)).collect();
    let mut req = add_req(SelectionPolicy::Prescriptive, 0, &offsets);
    req.tag = Some(t);
    let out = m.dcd_add_capacity(req).unwrap();
    assert_eq!(out.extents.len(), 9);
    // The driver reads one chain of 9, More on all but the last.
    let recs = drain_log(&mut m);
    assert_eq!(recs.len(), 9);
    let more: Vec<bool> = recs.iter().map(|r| r.more).collect();
    assert_eq!(more, [vec![true; 8], vec![false]].concat());
    assert!(recs
        .iter()
        .all(|r| r.event_type == DcEventType::AddCapacity && r.tag == t));
    // It accepts 5 of them (one response, the chain's end).
    let accept: Vec<(u64, u64)> = recs
        .iter()
        .step_by(2)
        .map(|r| (r.extent.dpa, r.extent.len))
        .collect();
    assert_eq!(accept.len(), 5);
    assert_eq!(respond(&mut m, &accept, false), RetCode::Success);
    let fx = m.take_dcd_effects();
    let kinds = effect_kinds(&fx);
    assert_eq!(kinds.iter().filter(|k| k.0 == "accepted").count(), 5);
    assert_eq!(kinds.iter().filter(|k| k.0 == "declined").count(), 4);
    assert_eq!(
        m.dcd_status_by_extent(0, 8 * MIB, 2 * MIB),
        ExtentStatus::Declined
    );
    assert_eq!(
        m.dcd_status_by_extent(0, 0, 2 * MIB),
        ExtentStatus::Accepted
    );
    assert_eq!(m.dcd_status_by_tag(t), ExtentStatus::Accepted);
    // Listing: 5 accepted, on the device and through the mailbox.
    let listed = m.dcd_extents();
    assert_eq!(listed.len(), 5);
    assert!(listed.iter().all(|i| i.state == ExtentState::Accepted
        && i.extent.tag == t
        && i.extent.region == 0
        && i.extent.backend.is_none()));
    assert_eq!(m.dcd_accepted_extents().len(), 5);
    let (total, gen) = list_header(&mut m);
    assert_eq!(total, 5);
    // The operator releases by tag: 5 Release Capacity records.
    let out = m
        .dcd_release_capacity(release_req(RemovalPolicy::TagBased, 0, Some(t), &[]))
        .unwrap();
    assert_eq!(out.extents.len(), 5);
    assert_eq!(m.dcd_status_by_tag(t), ExtentStatus::ReleasePending);
    let recs = drain_log(&mut m);
    assert_eq!(recs.len(), 5);
    assert!(recs
        .iter()
        .all(|r| r.event_type == DcEventType::ReleaseCapacity));
    assert_eq!(recs.iter().filter(|r| !r.more).count(), 1);
    // The driver gives each back.
    let back: Vec<(u64, u64)> = recs.iter().map(|r| (r.extent.dpa, r.extent.len)).collect();
    assert_eq!(host_release(&mut m, &back), RetCode::Success);
    let fx = m.take_dcd_effects();
    assert_eq!(effect_kinds(&fx).len(), 5);
    assert!(fx.iter().all(|e| matches!(
        e,
        DcdEffect::Released {
            sanitize: false,
            forced: false,
            ..
        }
    )));
    assert_eq!(m.dcd_status_by_tag(t), ExtentStatus::Released);
    assert_eq!(
        m.dcd_status_by_extent(0, 0, 2 * MIB),
        ExtentStatus::Released
    );
    assert!(m.dcd_extents().is_empty());
    let (total, gen2) = list_header(&mut m);
    assert_eq!(total, 0);
    assert_ne!(gen2, gen);
    // The history has 4 declined and 5 released entries.
    let outcomes: Vec<ExtentOutcome> = m.dcd().history().map(|h| h.outcome).collect();
    assert_eq!(outcomes.len(), 9);
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == ExtentOutcome::Released)
            .count(),
        5
    );
    assert!(m
        .events()
        .log(EventLogType::DynamicCapacity)
        .overflow()
        .is_none());
    // The tag is free again.
    let mut req = add_req(SelectionPolicy::Free, 0, &[(0, 2 * MIB)]);
    req.tag = Some(t);
    m.dcd_add_capacity(req).unwrap();
}

#[test]
fn forced_release_takes_capacity_at_once() {
    let mut m = test_memdev();
    let b = backend("forced", 8 * MIB, Some(tag(1)));
    let mut req = add_req(SelectionPolicy::Contiguous, 1, &[]);
    req.backend = Some(b.clone());
    let out = m.dcd_add_capacity(req).unwrap();
    let e = out.extents[0].clone();
    assert_eq!(respond(&mut m, &[(e.dpa, e.len)], false), RetCode::Success);
    m.take_dcd_effects();
    drain_log(&mut m);
    let mut req = release_req(RemovalPolicy::TagBased, 1, Some(tag(1)), &[]);
    req.forced = true;
    let out = m.dcd_release_capacity(req).unwrap();
    assert!(out.forced);
    assert_eq!(out.extents.len(), 1);
    let fx = m.take_dcd_effects();
    // Region 1 sanitizes on release; the backend comes back.
    match &fx[..] {
        [DcdEffect::Released {
            extent,
            sanitize: true,
            forced: true,
        }] => {
            assert!(Arc::ptr_eq(extent.backend.as_ref().unwrap(), &b));
        }
        other => panic!("{other:?}"),
    }
    let recs = drain_log(&mut m);
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].event_type, DcEventType::ForcedCapacityRelease);
    assert_eq!(m.dcd_status_by_tag(tag(1)), ExtentStatus::Released);
    assert_eq!(
        m.dcd()
            .history()
            .last()
            .map(|h| (h.outcome, h.backend_id.clone())),
        Some((ExtentOutcome::ForcedReleased, Some("forced".to_string())))
    );
    // The host no longer holds it.
    assert_eq!(
        host_release(&mut m, &[(e.dpa, e.len)]),
        RetCode::InvalidPhysicalAddress
    );
    // The backend can back a new extent.
    let mut req = add_req(SelectionPolicy::Free, 1, &[]);
    req.backend = Some(b);
    m.dcd_add_capacity(req).unwrap();
}

#[test]
fn empty_response_declines_the_whole_offer() {
    let mut m = test_memdev();
    let b = backend("declined", 4 * MIB, Some(tag(4)));
    let mut req = add_req(SelectionPolicy::Free, 0, &[]);
    req.backend = Some(b.clone());
    m.dcd_add_capacity(req).unwrap();
    offer(&mut m, 0, &[(100 * MIB, 2 * MIB), (200 * MIB, 2 * MIB)]);
    // First chain: declined with no extents.
    assert_eq!(respond(&mut m, &[], false), RetCode::Success);
    let fx = m.take_dcd_effects();
    match &fx[..] {
        [DcdEffect::Declined { extent }] => {
            assert!(Arc::ptr_eq(extent.backend.as_ref().unwrap(), &b));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(m.dcd_status_by_tag(tag(4)), ExtentStatus::Declined);
    // Second chain: declined too.
    assert_eq!(respond(&mut m, &[], false), RetCode::Success);
    assert_eq!(effect_kinds(&m.take_dcd_effects()).len(), 2);
    assert!(m.dcd_extents().is_empty());
    assert_eq!(m.dcd().generation(), 0, "nothing was ever accepted");
    // No offer left: a response is Invalid Input.
    assert_eq!(respond(&mut m, &[], false), RetCode::InvalidInput);
}

#[test]
fn cold_reset_declines_offers_and_withdraws_release_requests() {
    let mut m = test_memdev();
    offer(&mut m, 0, &[(0, 2 * MIB)]);
    assert_eq!(respond(&mut m, &[(R0, 2 * MIB)], false), RetCode::Success);
    m.dcd_release_capacity(release_req(
        RemovalPolicy::Prescriptive,
        0,
        None,
        &[(0, 2 * MIB)],
    ))
    .unwrap();
    offer(&mut m, 0, &[(4 * MIB, 2 * MIB)]);
    m.take_dcd_effects();
    m.cold_reset();
    assert_eq!(
        effect_kinds(&m.take_dcd_effects()),
        vec![("declined", R0 + 4 * MIB)]
    );
    assert_eq!(states(&m), vec![(R0, 2 * MIB, ExtentState::Accepted)]);
    assert_eq!(m.dcd().pending_chains(), 0);
    assert!(dc_records(&m).is_empty());
}

#[test]
fn release_sanitize_flags() {
    let mut m = test_memdev();
    offer(&mut m, 0, &[(0, 2 * MIB), (2 * MIB, 2 * MIB)]);
    assert_eq!(
        respond(&mut m, &[(R0, 2 * MIB), (R0 + 2 * MIB, 2 * MIB)], false),
        RetCode::Success
    );
    let mut req = release_req(RemovalPolicy::Prescriptive, 0, None, &[(0, 2 * MIB)]);
    req.sanitize_on_release = true;
    m.dcd_release_capacity(req).unwrap();
    m.take_dcd_effects();
    // Requested with sanitize: the effect says so; region 0 itself does not.
    assert_eq!(
        host_release(&mut m, &[(R0, 2 * MIB), (R0 + 2 * MIB, 2 * MIB)]),
        RetCode::Success
    );
    let fx = m.take_dcd_effects();
    let san: Vec<bool> = fx
        .iter()
        .map(|e| matches!(e, DcdEffect::Released { sanitize: true, .. }))
        .collect();
    assert_eq!(san, vec![true, false]);
}

#[test]
fn thousands_of_extents() {
    let mut c = test_config();
    c.dc.regions = DcRegions::Explicit(vec![DcRegionConfig::new(16 << 30)]);
    c.dc.max_extents = 8192;
    c.event_log_depths.dynamic_capacity = 8000;
    let mut m = TestMemdev::new(c).unwrap();
    let base = m.dcd().regions()[0].base;
    let started = std::time::Instant::now();
    // 40 chains of 100 extents, every other 2 MiB block.
    for chain in 0..40u64 {
        let ex: Vec<(u64, u64)> = (0..100)
            .map(|i| ((chain * 100 + i) * 4 * MIB, 2 * MIB))
            .collect();
        offer(&mut m, 0, &ex);
        let abs: Vec<(u64, u64)> = ex.iter().map(|&(o, l)| (base + o, l)).collect();
        // Payloads hold 85 extents: two parts, More on the first.
        assert_eq!(respond(&mut m, &abs[..85], true), RetCode::Success);
        assert_eq!(respond(&mut m, &abs[85..], false), RetCode::Success);
    }
    assert_eq!(m.dcd().held_count(), 4000);
    assert_eq!(m.take_dcd_effects().len(), 4000);
    // Page through the list; the generation holds still.
    let (total, gen) = list_header(&mut m);
    assert_eq!(total, 4000);
    let mut seen = 0u32;
    while seen < total {
        let mut input = 50u32.to_le_bytes().to_vec();
        input.extend_from_slice(&seen.to_le_bytes());
        let (rc, out) = m.execute(LIST, &input);
        assert_eq!(rc, RetCode::Success);
        assert_eq!(u32::from_le_bytes(out[8..12].try_into().unwrap()), gen);
        let n = u32::from_le_bytes(out[0..4].try_into().unwrap());
        let first = u64::from_le_bytes(out[0x10..0x18].try_into().unwrap());
        assert_eq!(first, base + u64::from(seen) * 4 * MIB);
        seen += n;
    }
    // Give everything back, 85 at a time.
    let all: Vec<(u64, u64)> = m
        .dcd_accepted_extents()
        .iter()
        .map(|e| (e.dpa, e.len))
        .collect();
    for part in all.chunks(85) {
        assert_eq!(host_release(&mut m, part), RetCode::Success);
    }
    assert_eq!(m.dcd().held_count(), 0);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}
