//! The DC steps and event records in the decoded trace.

use super::*;
use crate::trace::{capture, Kind, Record};

fn steps(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .filter(|r| r.kind == Kind::Dc)
        .map(|r| r.fields["step"].as_str().unwrap_or("?").to_string())
        .collect()
}

#[test]
fn an_offer_posts_its_records_then_says_what_was_offered() {
    let mut m = test_memdev();
    let (_, records) = capture(|| offer(&mut m, 0, &[(0, 2 * MIB), (4 * MIB, 2 * MIB)]));
    let kinds: Vec<Kind> = records.iter().map(|r| r.kind).collect();
    assert_eq!(kinds, [Kind::Event, Kind::Event, Kind::Dc]);
    assert_eq!(records[0].fields["op"], "posted");
    assert_eq!(records[0].fields["log"], "DynamicCapacity");
    assert_eq!(
        records[1].fields["handle"],
        records[0].fields["handle"].as_u64().unwrap() + 1
    );
    let o = &records[2];
    assert_eq!(o.device.as_deref(), Some("mem0"));
    assert_eq!(o.fields["step"], "offered");
    assert_eq!(o.fields["region"], 0);
    assert_eq!(o.fields["extents"][0]["dpa"], R0);
    assert_eq!(o.fields["extents"][1]["dpa"], R0 + 4 * MIB);
}

#[test]
fn a_refused_offer_is_traced_with_its_reason() {
    let mut m = test_memdev();
    let (r, records) =
        capture(|| m.dcd_add_capacity(add_req(SelectionPolicy::Prescriptive, 0, &[(1, 2 * MIB)])));
    assert!(r.is_err());
    assert_eq!(steps(&records), ["offer-refused"]);
    assert!(records[0].fields["error"]
        .as_str()
        .is_some_and(|e| !e.is_empty()));
}

#[test]
fn the_hosts_answers_and_the_operators_releases() {
    let mut m = test_memdev();
    offer(&mut m, 0, &[(0, 2 * MIB), (2 * MIB, 2 * MIB)]);
    let (rc, records) = capture(|| respond(&mut m, &[(R0, 2 * MIB)], false));
    assert_eq!(rc, RetCode::Success);
    assert_eq!(steps(&records), ["accepted"]);
    let a = records.iter().find(|r| r.kind == Kind::Dc).unwrap();
    assert_eq!(a.fields["accepted"][0]["dpa"], R0);
    assert_eq!(a.fields["declined"][0]["dpa"], R0 + 2 * MIB);
    // The command's own record follows, decoded.
    let cmd = records.iter().find(|r| r.kind == Kind::Mailbox).unwrap();
    assert_eq!(cmd.fields["name"], "Add DC Response");

    // A range never offered: refused, with the return code.
    let (rc, records) = capture(|| respond(&mut m, &[(R0 + 64 * MIB, 2 * MIB)], false));
    assert_ne!(rc, RetCode::Success);
    assert_eq!(steps(&records), ["accepted-refused"]);
    let d = &records.iter().find(|r| r.kind == Kind::Dc).unwrap().fields;
    assert_eq!(d["rc"], format!("{rc:?}"));
    assert_eq!(d["ranges"][0]["dpa"], R0 + 64 * MIB);

    let rel = release_req(RemovalPolicy::Prescriptive, 0, None, &[(0, 2 * MIB)]);
    let (_, records) = capture(|| m.dcd_release_capacity(rel.clone()).unwrap());
    assert_eq!(steps(&records), ["release-asked"]);
    let (rc, records) = capture(|| host_release(&mut m, &[(R0, 2 * MIB)]));
    assert_eq!(rc, RetCode::Success);
    assert_eq!(steps(&records), ["released"]);
    let r = records.iter().find(|r| r.kind == Kind::Dc).unwrap();
    assert_eq!(r.fields["released"][0]["dpa"], R0);
}

#[test]
fn forced_releases_and_withdrawn_offers() {
    let mut m = test_memdev();
    offer(&mut m, 0, &[(0, 2 * MIB)]);
    respond(&mut m, &[(R0, 2 * MIB)], false);
    offer(&mut m, 0, &[(2 * MIB, 2 * MIB)]);
    let mut rel = release_req(RemovalPolicy::Prescriptive, 0, None, &[(0, 4 * MIB)]);
    rel.forced = true;
    let (_, records) = capture(|| m.dcd_release_capacity(rel).unwrap());
    assert_eq!(steps(&records), ["forced-release", "withdrawn"]);
    let w = records.iter().rfind(|r| r.kind == Kind::Dc).unwrap();
    assert_eq!(w.fields["extents"][0]["dpa"], R0 + 2 * MIB);
}

#[test]
fn clearing_records_is_traced() {
    let mut m = test_memdev();
    offer(&mut m, 0, &[(0, 2 * MIB)]);
    let handle = m
        .events()
        .log(EventLogType::DynamicCapacity)
        .records()
        .next()
        .unwrap()
        .handle();
    let (r, records) = capture(|| m.clear_event_records(EventLogType::DynamicCapacity, &[handle]));
    assert!(r.is_ok());
    assert_eq!(records.len(), 1);
    let c = &records[0];
    assert_eq!(c.kind, Kind::Event);
    assert_eq!(c.fields["op"], "cleared");
    assert_eq!(c.fields["handles"][0], handle);
    assert_eq!(c.fields["rc"], serde_json::Value::Null);
    let (r, records) = capture(|| m.clear_event_records(EventLogType::DynamicCapacity, &[handle]));
    assert!(r.is_err());
    assert!(records[0].fields["rc"].is_string());
}
