//! Withdrawing offers: a forced release naming pending extents, what it
//! does to the Dynamic Capacity Event Log and to the host's later Add
//! Dynamic Capacity Response (driven through the mailbox).

use super::*;

/// Get Event Records on the DC log, as a host reads it: the records' DPAs.
fn read_log(m: &mut TestMemdev) -> Vec<u64> {
    let (rc, out) = m.execute(Opcode::GetEventRecords as u16, &[4]);
    assert_eq!(rc, RetCode::Success);
    let n = usize::from(u16::from_le_bytes([out[0x14], out[0x15]]));
    (0..n)
        .map(|i| {
            let r = &out[0x20 + i * 0x80..];
            u64::from_le_bytes(r[0x38..0x40].try_into().unwrap())
        })
        .collect()
}

fn withdraw(m: &mut TestMemdev, region: u8, extents: &[(u64, u64)]) -> ReleaseOutcome {
    let mut req = release_req(RemovalPolicy::Prescriptive, region, None, extents);
    req.forced = true;
    m.dcd_release_capacity(req).unwrap()
}

fn withdraw_tag(m: &mut TestMemdev, t: Uuid) -> Result<ReleaseOutcome, DcdError> {
    let mut req = release_req(RemovalPolicy::TagBased, 0, Some(t), &[]);
    req.forced = true;
    m.dcd_release_capacity(req)
}

/// (DPA, More) of each DC record in the log.
fn chain_shape(m: &Memdev) -> Vec<(u64, bool)> {
    dc_records(m)
        .iter()
        .map(|r| (r.extent.dpa, r.more))
        .collect()
}

#[test]
fn withdrawn_offer_is_refused_when_the_host_answers_later() {
    let mut m = test_memdev();
    let b = backend("w0", 2 * MIB, Some(tag(1)));
    let req = AddRequest {
        backend: Some(b.clone()),
        ..add_req(SelectionPolicy::Prescriptive, 0, &[(4 * MIB, 2 * MIB)])
    };
    m.dcd_add_capacity(req).unwrap();
    // The host reads the offer, then sits on it.
    assert_eq!(read_log(&mut m), vec![R0 + 4 * MIB]);
    m.take_dcd_effects();

    let out = withdraw_tag(&mut m, tag(1)).unwrap();
    assert!(
        out.forced && out.extents.is_empty(),
        "no record for the host"
    );
    assert_eq!(out.withdrawn.len(), 1);
    assert_eq!(out.withdrawn[0].dpa, R0 + 4 * MIB);
    drop(out);
    assert!(m.dcd_extents().is_empty(), "left the pending list");
    assert_eq!(m.dcd_status_by_tag(tag(1)), ExtentStatus::Withdrawn);
    assert!(matches!(
        &m.take_dcd_effects()[..],
        [DcdEffect::Declined { extent }] if extent.dpa == R0 + 4 * MIB
    ));
    // Nothing but this test holds the backend: it is free.
    assert_eq!(Arc::strong_count(&b), 1);
    // The host read the record, so it stays for the host to clear.
    assert_eq!(dc_records(&m).len(), 1);

    // The host's answer names the withdrawn extent: refused, nothing held.
    let rc = respond(&mut m, &[(R0 + 4 * MIB, 2 * MIB)], false);
    assert_eq!(rc, RetCode::InvalidPhysicalAddress);
    assert!(m.take_dcd_effects().is_empty(), "nothing mapped");
    assert_eq!(m.dcd().held_count(), 0);
    assert_eq!(m.dcd().generation(), 0);
    // That answer closed the withdrawn offer: the next one works.
    assert_eq!(m.dcd().pending_chains(), 0);
    let req = AddRequest {
        backend: Some(b.clone()),
        ..add_req(SelectionPolicy::Prescriptive, 0, &[(4 * MIB, 2 * MIB)])
    };
    m.dcd_add_capacity(req).unwrap();
    assert_eq!(
        respond(&mut m, &[(R0 + 4 * MIB, 2 * MIB)], false),
        RetCode::Success
    );
    assert_eq!(m.dcd().held_count(), 1);
}

#[test]
fn unread_offer_leaves_the_log_and_the_chain_end_moves() {
    let mut m = test_memdev();
    let three = [(0, 2 * MIB), (4 * MIB, 2 * MIB), (8 * MIB, 2 * MIB)];
    offer(&mut m, 0, &three);
    let (a, b, c) = (R0, R0 + 4 * MIB, R0 + 8 * MIB);
    assert_eq!(chain_shape(&m), vec![(a, true), (b, true), (c, false)]);
    // The middle one: its record goes, the chain keeps its end.
    withdraw(&mut m, 0, &[(4 * MIB, 2 * MIB)]);
    assert_eq!(chain_shape(&m), vec![(a, true), (c, false)]);
    // The last one: the record before it becomes the end.
    withdraw(&mut m, 0, &[(8 * MIB, 2 * MIB)]);
    assert_eq!(chain_shape(&m), vec![(a, false)]);
    assert_eq!(m.dcd().pending_chains(), 1);
    // The host reads what is left and accepts it.
    assert_eq!(read_log(&mut m), vec![a]);
    assert_eq!(respond(&mut m, &[(a, 2 * MIB)], false), RetCode::Success);
    assert_eq!(states(&m), vec![(a, 2 * MIB, ExtentState::Accepted)]);

    // An offer withdrawn whole before the host read it leaves no trace.
    offer(&mut m, 0, &[(16 * MIB, 2 * MIB), (20 * MIB, 2 * MIB)]);
    withdraw(&mut m, 0, &[(16 * MIB, 2 * MIB), (20 * MIB, 2 * MIB)]);
    assert_eq!(chain_shape(&m), vec![(a, false)], "only the read record");
    assert_eq!(m.dcd().pending_chains(), 0);
    assert_eq!(respond(&mut m, &[], false), RetCode::InvalidInput);
}

#[test]
fn chain_end_stays_when_the_host_read_the_record_before_it() {
    let mut m = test_memdev();
    offer(&mut m, 0, &[(0, 2 * MIB), (4 * MIB, 2 * MIB)]);
    // The host has read the first record only (More set): it waits for
    // the end of the chain, so the last record must stay.
    m.read_event_records(EventLogType::DynamicCapacity, 1);
    withdraw(&mut m, 0, &[(4 * MIB, 2 * MIB)]);
    assert_eq!(
        chain_shape(&m),
        vec![(R0, true), (R0 + 4 * MIB, false)],
        "kept"
    );
    // Its answer naming both is refused; naming what is left works.
    let both = [(R0, 2 * MIB), (R0 + 4 * MIB, 2 * MIB)];
    assert_eq!(
        respond(&mut m, &both, false),
        RetCode::InvalidPhysicalAddress
    );
    assert_eq!(states(&m), vec![(R0, 2 * MIB, ExtentState::Pending)]);
    assert_eq!(respond(&mut m, &[(R0, 2 * MIB)], false), RetCode::Success);
    assert_eq!(states(&m), vec![(R0, 2 * MIB, ExtentState::Accepted)]);
}

#[test]
fn partly_withdrawn_chain_can_still_be_answered_in_parts() {
    let mut m = test_memdev();
    let three = [(0, 2 * MIB), (4 * MIB, 2 * MIB), (8 * MIB, 2 * MIB)];
    offer(&mut m, 0, &three);
    read_log(&mut m);
    withdraw(&mut m, 0, &[(4 * MIB, 2 * MIB)]);
    assert_eq!(dc_records(&m).len(), 3, "read records stay");
    // Part one accepts the first (More), part two the last.
    assert_eq!(respond(&mut m, &[(R0, 2 * MIB)], true), RetCode::Success);
    assert_eq!(
        respond(&mut m, &[(R0 + 4 * MIB, 2 * MIB)], false),
        RetCode::InvalidPhysicalAddress
    );
    assert_eq!(
        respond(&mut m, &[(R0 + 8 * MIB, 2 * MIB)], false),
        RetCode::Success
    );
    assert_eq!(
        states(&m),
        vec![
            (R0, 2 * MIB, ExtentState::Accepted),
            (R0 + 8 * MIB, 2 * MIB, ExtentState::Accepted)
        ]
    );
    assert_eq!(m.dcd().pending_chains(), 0);
}

#[test]
fn withdrawn_offer_is_closed_by_an_empty_answer_or_skipped() {
    let mut m = test_memdev();
    offer(&mut m, 0, &[(0, 2 * MIB)]);
    offer(&mut m, 0, &[(4 * MIB, 2 * MIB)]);
    read_log(&mut m);
    withdraw(&mut m, 0, &[(0, 2 * MIB)]);
    assert_eq!(m.dcd().pending_chains(), 2, "the host owes an answer");
    // An empty answer is the host declining the withdrawn offer.
    assert_eq!(respond(&mut m, &[], false), RetCode::Success);
    assert_eq!(m.dcd().pending_chains(), 1);
    assert_eq!(
        states(&m),
        vec![(R0 + 4 * MIB, 2 * MIB, ExtentState::Pending)]
    );

    // A host that moves on to the next offer skips the withdrawn one.
    offer(&mut m, 0, &[(8 * MIB, 2 * MIB)]);
    read_log(&mut m);
    withdraw(&mut m, 0, &[(4 * MIB, 2 * MIB)]);
    assert_eq!(
        respond(&mut m, &[(R0 + 8 * MIB, 2 * MIB)], false),
        RetCode::Success
    );
    assert_eq!(
        states(&m),
        vec![(R0 + 8 * MIB, 2 * MIB, ExtentState::Accepted)]
    );
    assert_eq!(m.dcd().pending_chains(), 0);
}

#[test]
fn tag_group_half_accepted_is_taken_whole_by_a_forced_release() {
    let mut m = test_memdev();
    let req = AddRequest {
        tag: Some(tag(2)),
        ..add_req(
            SelectionPolicy::Prescriptive,
            0,
            &[(0, 2 * MIB), (4 * MIB, 2 * MIB)],
        )
    };
    m.dcd_add_capacity(req).unwrap();
    read_log(&mut m);
    assert_eq!(respond(&mut m, &[(R0, 2 * MIB)], true), RetCode::Success);
    let before = dc_records(&m).len();
    // Not forced: refused, pointing at forced removal.
    let err = m
        .dcd_release_capacity(release_req(RemovalPolicy::TagBased, 0, Some(tag(2)), &[]))
        .unwrap_err();
    assert_eq!(err, DcdError::TagPending(tag(2)));
    assert!(err.to_string().contains("forced removal"), "{err}");
    let out = withdraw_tag(&mut m, tag(2)).unwrap();
    assert_eq!(out.extents.len(), 1, "the accepted one: forced release");
    assert_eq!(out.withdrawn.len(), 1, "the pending one: withdrawn");
    let recs = dc_records(&m);
    assert_eq!(recs.len(), before + 1);
    assert_eq!(recs[before].event_type, DcEventType::ForcedCapacityRelease);
    assert_eq!(recs[before].extent.dpa, R0);
    assert!(m.dcd_extents().is_empty());
    // The host closes its chain with an empty last part.
    assert_eq!(respond(&mut m, &[], false), RetCode::Success);
    assert_eq!(m.dcd().pending_chains(), 0);
}

#[test]
fn withdrawal_names_whole_pending_extents() {
    let mut m = test_memdev();
    offer(&mut m, 0, &[(0, 4 * MIB)]);
    let before = snapshot(&m);
    let mut req = release_req(RemovalPolicy::Prescriptive, 0, None, &[(0, 2 * MIB)]);
    req.forced = true;
    let err = m.dcd_release_capacity(req.clone()).unwrap_err();
    assert!(matches!(err, DcdError::PartialWithdrawal { .. }), "{err}");
    req.forced = false;
    let err = m.dcd_release_capacity(req).unwrap_err();
    assert!(err.to_string().contains("forced removal"), "{err}");
    assert_eq!(snapshot(&m), before);
}

#[test]
fn withdrawing_unread_offers_frees_a_full_log() {
    let mut c = crate::cxl::memdev::tests::test_config();
    c.event_log_depths.dynamic_capacity = 4;
    let mut m = TestMemdev::new(c).unwrap();
    for i in 0..4 {
        offer(&mut m, 0, &[(i * 2 * MIB, 2 * MIB)]);
    }
    let status = m.dc_event_log_status();
    assert!(status.full() && status.used == 4 && status.depth == 4);
    let err = m
        .dcd_add_capacity(add_req(SelectionPolicy::Free, 0, &[(0, 2 * MIB)]))
        .unwrap_err();
    assert_eq!(err, DcdError::LogFull { needed: 1, free: 0 });
    assert!(err.to_string().contains("event log is full"), "{err}");
    withdraw(&mut m, 0, &[(0, 2 * MIB), (2 * MIB, 2 * MIB)]);
    assert_eq!(m.dc_event_log_status().used, 2);
    offer(&mut m, 0, &[(0, 2 * MIB)]);
    assert_eq!(m.dcd().pending_chains(), 3);
}
