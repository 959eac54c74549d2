//! Dynamic Capacity faults: the records each kind posts, the host's
//! answers to them, and that the DC state never changes for them.

use super::*;
use crate::cxl::dcd::faults::{DcFaultRequest, FaultExtent, MAX_DC_FAULTS};
use crate::cxl::memdev::faults::FaultError;
use crate::cxl::memdev::tests::test_config;
use crate::cxl::memdev::FaultSelector;
use crate::trace::{capture, Kind};

fn post(m: &mut TestMemdev, req: DcFaultRequest) -> u32 {
    m.dc_fault_add(req).unwrap().0
}

fn parse(s: &str) -> Result<DcFaultRequest, serde_json::Error> {
    serde_json::from_str(s)
}

/// What the host's empty Add Dynamic Capacity Response (decline) and one
/// naming `named` answer.
fn answers(m: &mut TestMemdev, named: (u64, u64)) -> (RetCode, RetCode) {
    let named = respond(m, &[named], false);
    let empty = respond(m, &[], false);
    (named, empty)
}

#[test]
fn requests_parse_with_defaults_and_refuse_unknown_fields() {
    assert_eq!(
        parse(r#"{"kind":"misaligned"}"#).unwrap(),
        DcFaultRequest::Misaligned { region: 0 }
    );
    assert_eq!(
        parse(r#"{"kind":"endless-more","region":1,"records":3}"#).unwrap(),
        DcFaultRequest::EndlessMore {
            region: 1,
            records: 3
        }
    );
    assert_eq!(
        parse(r#"{"kind":"outside-region"}"#).unwrap(),
        DcFaultRequest::OutsideRegion {}
    );
    assert!(parse(r#"{"kind":"overlapping","region":0}"#).is_err());
    assert!(parse(r#"{"kind":"misaligned","extra":1}"#).is_err());
    assert!(parse(r#"{"kind":"nonsense"}"#).is_err());
    assert!(parse(r#"{"region":0}"#).is_err());
    for records in [0, MAX_ENDLESS + 1] {
        let r = DcFaultRequest::EndlessMore { region: 0, records };
        assert!(r.check().is_err(), "{records}");
    }
    let json = serde_json::to_value(DcFaultRequest::ReleaseUnaccepted { region: 1 }).unwrap();
    assert_eq!(json["kind"], "release-unaccepted");
    assert_eq!(json["region"], 1);
}

/// The fault records of a capture (the log's event records are traced too).
fn faults_only(records: Vec<crate::trace::Record>) -> Vec<crate::trace::Record> {
    records
        .into_iter()
        .filter(|r| r.kind == Kind::Fault)
        .collect()
}

const MAX_ENDLESS: u32 = crate::cxl::dcd::faults::MAX_ENDLESS_RECORDS;

#[test]
fn misaligned_is_refused_with_invalid_extent_list_then_declined() {
    let mut m = test_memdev();
    let before = snapshot(&m);
    let (id, records) = capture(|| post(&mut m, DcFaultRequest::Misaligned { region: 0 }));
    let records = faults_only(records);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].kind, Kind::Fault);
    assert_eq!(records[0].fields["event"], "armed");
    assert_eq!(records[0].fields["fault"]["kind"], "misaligned");
    let log = dc_records(&m);
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].event_type, DcEventType::AddCapacity);
    assert_eq!(log[0].extent, ExtentRange::new(R0 + MIB, 2 * MIB));
    assert!(!log[0].more);
    assert_eq!(m.dc_faults()[0].id, id);
    assert_eq!(
        m.dc_faults()[0].extents,
        vec![FaultExtent {
            dpa: R0 + MIB,
            len: 2 * MIB
        }]
    );
    // The DC state did not see it: no extent, no chain.
    assert_eq!(m.dcd().extents().len(), 0);
    assert_eq!(m.dcd().pending_chains(), 0);

    let ((named, empty), trace) = capture(|| answers(&mut m, (R0 + MIB, 2 * MIB)));
    let trace = faults_only(trace);
    assert_eq!(named, RetCode::InvalidExtentList);
    assert_eq!(empty, RetCode::Success);
    assert!(m.take_dcd_effects().is_empty(), "nothing mapped or freed");
    assert!(m.dc_faults().is_empty());
    let events: Vec<_> = trace.iter().map(|r| r.fields["event"].clone()).collect();
    assert_eq!(events, ["triggered", "triggered", "expired"]);
    assert_eq!(
        trace[0].fields["return-code"],
        RetCode::InvalidExtentList.code()
    );
    // With no offer left, a response is the DC state's again.
    assert_eq!(respond(&mut m, &[], false), RetCode::InvalidInput);
    // Only the log changed.
    let after = snapshot(&m);
    assert_eq!(before.replace("log=0", "log=1"), after);
}

#[test]
fn overlapping_needs_a_held_extent_and_is_refused() {
    let mut m = test_memdev();
    assert!(matches!(
        m.dc_fault_add(DcFaultRequest::Overlapping {}),
        Err(FaultError::Conflict(_))
    ));
    offer(&mut m, 0, &[(0, 4 * MIB)]);
    assert_eq!(respond(&mut m, &[(R0, 4 * MIB)], false), RetCode::Success);
    m.take_dcd_effects();
    let held = states(&m);
    post(&mut m, DcFaultRequest::Overlapping {});
    let rec = *dc_records(&m).last().unwrap();
    assert_eq!(rec.extent, ExtentRange::new(R0, 2 * MIB));
    let (named, empty) = answers(&mut m, (R0, 2 * MIB));
    assert_eq!(named, RetCode::InvalidPhysicalAddress);
    assert_eq!(empty, RetCode::Success);
    assert_eq!(states(&m), held, "the accepted extent is untouched");
    assert!(m.take_dcd_effects().is_empty());
}

#[test]
fn outside_region_lies_past_the_last_decode_range() {
    let mut m = test_memdev();
    post(&mut m, DcFaultRequest::OutsideRegion {});
    let rec = dc_records(&m)[0];
    // Region 1: C000_0000h, 512 MiB decoded, 4 MiB blocks.
    assert_eq!(rec.extent, ExtentRange::new(R1 + 512 * MIB, 4 * MIB));
    assert_eq!(rec.region, 1);
    let (named, empty) = answers(&mut m, (R1 + 512 * MIB, 4 * MIB));
    assert_eq!(named, RetCode::InvalidPhysicalAddress);
    assert_eq!(empty, RetCode::Success);
}

#[test]
fn endless_more_keeps_more_set_and_a_later_real_offer_still_works() {
    let mut m = test_memdev();
    post(
        &mut m,
        DcFaultRequest::EndlessMore {
            region: 0,
            records: 3,
        },
    );
    let recs = dc_records(&m);
    assert_eq!(recs.len(), 3);
    assert!(recs.iter().all(|r| r.more), "the chain never ends");
    let dpas: Vec<_> = recs.iter().map(|r| r.extent.dpa).collect();
    assert_eq!(dpas, [R0, R0 + 2 * MIB, R0 + 4 * MIB]);
    // A response part with More set leaves the fault offer open.
    assert_eq!(respond(&mut m, &[], true), RetCode::Success);
    assert_eq!(m.dc_faults().len(), 1);
    // Accepting a fault extent is refused: it was never offered.
    assert_eq!(
        respond(&mut m, &[(R0, 2 * MIB)], false),
        RetCode::InvalidPhysicalAddress
    );
    // A real offer after it takes the responses while it is pending.
    offer(&mut m, 0, &[(64 * MIB, 2 * MIB)]);
    assert_eq!(
        respond(&mut m, &[(R0, 2 * MIB), (R0 + 64 * MIB, 2 * MIB)], false),
        RetCode::InvalidPhysicalAddress,
        "a merged answer naming a fault extent"
    );
    assert_eq!(
        respond(&mut m, &[(R0 + 64 * MIB, 2 * MIB)], false),
        RetCode::Success
    );
    assert_eq!(states(&m).len(), 1);
    // The fault stays until the operator clears it.
    assert_eq!(m.dc_faults().len(), 1);
    assert_eq!(m.fault_clear(FaultSelector::All).unwrap().len(), 1);
    assert!(m.dc_faults().is_empty());
}

#[test]
fn release_unaccepted_is_refused_and_done() {
    let mut m = test_memdev();
    offer(&mut m, 0, &[(0, 4 * MIB)]);
    assert_eq!(respond(&mut m, &[(R0, 4 * MIB)], false), RetCode::Success);
    let held = states(&m);
    // The first free block after the held extent.
    post(&mut m, DcFaultRequest::ReleaseUnaccepted { region: 0 });
    let rec = *dc_records(&m).last().unwrap();
    assert_eq!(rec.event_type, DcEventType::ReleaseCapacity);
    assert_eq!(rec.extent, ExtentRange::new(R0 + 4 * MIB, 2 * MIB));
    // An Add response is not its answer.
    assert_eq!(respond(&mut m, &[], false), RetCode::InvalidInput);
    let (rc, trace) = capture(|| host_release(&mut m, &[(R0 + 4 * MIB, 2 * MIB)]));
    let trace = faults_only(trace);
    assert_eq!(rc, RetCode::InvalidPhysicalAddress);
    let events: Vec<_> = trace.iter().map(|r| r.fields["event"].clone()).collect();
    assert_eq!(events, ["triggered", "expired"]);
    assert!(m.dc_faults().is_empty());
    assert_eq!(states(&m), held);
}

#[test]
fn fault_blocks_avoid_each_other() {
    let mut m = test_memdev();
    post(&mut m, DcFaultRequest::ReleaseUnaccepted { region: 1 });
    post(&mut m, DcFaultRequest::ReleaseUnaccepted { region: 1 });
    let dpas: Vec<_> = dc_records(&m).iter().map(|r| r.extent.dpa).collect();
    assert_eq!(dpas, [R1, R1 + 4 * MIB]);
}

#[test]
fn refusals_change_nothing() {
    let mut m = test_memdev();
    let bad_region = m.dc_fault_add(DcFaultRequest::Misaligned { region: 5 });
    assert!(matches!(bad_region, Err(FaultError::Invalid(_))));
    let bad_count = m.dc_fault_add(DcFaultRequest::EndlessMore {
        region: 0,
        records: 0,
    });
    assert!(matches!(bad_count, Err(FaultError::Invalid(_))));
    // A real offer pending: the host's answer would be ambiguous.
    offer(&mut m, 0, &[(0, 2 * MIB)]);
    let before = snapshot(&m);
    assert!(matches!(
        m.dc_fault_add(DcFaultRequest::OutsideRegion {}),
        Err(FaultError::Conflict(_))
    ));
    assert_eq!(snapshot(&m), before);
    assert!(m.dc_faults().is_empty());

    // No DC at all.
    let mut cfg = test_config();
    cfg.dc = DcConfig::default();
    let mut plain = TestMemdev::new(cfg).unwrap();
    assert!(matches!(
        plain.dc_fault_add(DcFaultRequest::OutsideRegion {}),
        Err(FaultError::Invalid(_))
    ));
}

#[test]
fn outstanding_faults_and_log_room_are_bounded() {
    let mut m = test_memdev();
    for _ in 0..MAX_DC_FAULTS {
        post(&mut m, DcFaultRequest::OutsideRegion {});
    }
    assert!(matches!(
        m.dc_fault_add(DcFaultRequest::OutsideRegion {}),
        Err(FaultError::Conflict(_))
    ));
    m.fault_clear(FaultSelector::All).unwrap();
    // The log (64 records, 16 used) has room for 48 more.
    for _ in 0..3 {
        post(
            &mut m,
            DcFaultRequest::EndlessMore {
                region: 0,
                records: MAX_ENDLESS,
            },
        );
    }
    let log_before = dc_records(&m).len();
    assert_eq!(log_before, 64);
    assert!(matches!(
        m.dc_fault_add(DcFaultRequest::OutsideRegion {}),
        Err(FaultError::Conflict(_))
    ));
    assert_eq!(dc_records(&m).len(), log_before);
}

#[test]
fn clear_by_id_and_cold_reset() {
    let mut m = test_memdev();
    let a = post(&mut m, DcFaultRequest::OutsideRegion {});
    let b = post(&mut m, DcFaultRequest::ReleaseUnaccepted { region: 0 });
    assert_ne!(a, b);
    assert!(matches!(
        m.fault_clear(FaultSelector::Id(b + 100)),
        Err(FaultError::NotFound(_))
    ));
    let (ids, trace) = capture(|| m.fault_clear(FaultSelector::Id(a)).unwrap());
    let trace = faults_only(trace);
    assert_eq!(ids, [a]);
    assert_eq!(trace[0].fields["event"], "cleared");
    assert_eq!(m.dc_faults().len(), 1);
    m.cold_reset();
    assert!(m.dc_faults().is_empty(), "the reset emptied the log");
}
