//! Tests of the mailbox faults: requests and their checks, counting down,
//! clearing, and the trace.

use super::faults::*;
use super::tests::test_memdev;
use super::FaultSelector;
use crate::cxl::retcode::RetCode;
use crate::trace::{capture, Kind};

fn parse(s: &str) -> Result<FaultRequest, serde_json::Error> {
    serde_json::from_str(s)
}

fn rc(opcode: u16, return_code: u16, count: u32) -> FaultRequest {
    FaultRequest::ReturnCode {
        opcode,
        return_code,
        count,
    }
}

#[test]
fn requests_parse_with_defaults() {
    assert_eq!(
        parse(r#"{"kind":"return-code","opcode":1,"return-code":4}"#).unwrap(),
        rc(1, 4, 1)
    );
    assert_eq!(
        parse(r#"{"kind":"doorbell-stuck","count":2}"#).unwrap(),
        FaultRequest::DoorbellStuck {
            opcode: None,
            hold_ms: None,
            count: 2
        }
    );
    assert_eq!(
        parse(r#"{"kind":"background-hold","opcode":17408,"ms":500}"#).unwrap(),
        FaultRequest::BackgroundHold {
            opcode: 0x4400,
            ms: 500,
            count: 1
        }
    );
    let v = serde_json::to_value(rc(0x4100, 0x12, 3)).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"kind":"return-code","opcode":0x4100,"return-code":0x12,"count":3})
    );
}

#[test]
fn malformed_requests_are_refused() {
    for bad in [
        r#"{"kind":"return-code","opcode":1}"#,
        r#"{"kind":"return-code","opcode":65536,"return-code":4}"#,
        r#"{"kind":"return-code","opcode":-1,"return-code":4}"#,
        r#"{"kind":"return-code","opcode":1,"return-code":4,"bogus":1}"#,
        r#"{"kind":"doorbell-stuck","hold":5}"#,
        r#"{"kind":"stuck"}"#,
        r#"{"opcode":1}"#,
        r#"[]"#,
    ] {
        assert!(parse(bad).is_err(), "{bad}");
    }
    // Parsed, but values out of bounds.
    for bad in [
        rc(1, 0x21, 1),
        rc(1, 0xFFFF, 1),
        rc(1, 4, 0),
        rc(1, 4, MAX_FAULT_COUNT + 1),
        FaultRequest::DoorbellStuck {
            opcode: None,
            hold_ms: Some(MAX_HOLD_MS + 1),
            count: 1,
        },
        FaultRequest::BackgroundHold {
            opcode: 1,
            ms: MAX_HOLD_MS + 1,
            count: 1,
        },
    ] {
        assert!(bad.check().is_err(), "{bad:?}");
        let mut f = Faults::default();
        assert!(matches!(f.arm(bad), Err(FaultError::Invalid(_))));
        assert!(f.armed().is_empty());
    }
    // Edge values that pass.
    for good in [
        rc(0xFFFF, 0, 1),
        rc(1, 0x20, MAX_FAULT_COUNT),
        FaultRequest::DoorbellStuck {
            opcode: Some(1),
            hold_ms: Some(MAX_HOLD_MS),
            count: 1,
        },
        FaultRequest::DoorbellStuck {
            opcode: None,
            hold_ms: Some(0),
            count: 1,
        },
    ] {
        assert_eq!(good.check(), Ok(()), "{good:?}");
    }
}

#[test]
fn counts_down_oldest_first_and_expires() {
    let mut f = Faults::default();
    let a = f.arm(rc(0x0001, 0x0004, 2)).unwrap();
    let b = f.arm(rc(0x0001, 0x0005, 1)).unwrap();
    assert_ne!(a, b);
    assert_eq!(f.take(0x0002), None, "another opcode");
    assert_eq!(
        f.take(0x0001),
        Some((a, MailboxFault::ReturnCode(RetCode::InternalError), 1))
    );
    assert_eq!(f.armed()[0].remaining, 1);
    assert_eq!(
        f.take(0x0001),
        Some((a, MailboxFault::ReturnCode(RetCode::InternalError), 0))
    );
    assert_eq!(
        f.take(0x0001),
        Some((b, MailboxFault::ReturnCode(RetCode::RetryRequired), 0))
    );
    assert_eq!(f.take(0x0001), None);
    assert!(f.armed().is_empty());
}

#[test]
fn doorbell_stuck_matches_any_opcode_or_one() {
    let mut f = Faults::default();
    f.arm(FaultRequest::DoorbellStuck {
        opcode: Some(0x4000),
        hold_ms: None,
        count: 1,
    })
    .unwrap();
    assert_eq!(f.take(0x0001), None);
    assert_eq!(
        f.take(0x4000).map(|t| t.1),
        Some(MailboxFault::DoorbellStuck {
            hold_ms: DEFAULT_HOLD_MS
        })
    );
    f.arm(FaultRequest::DoorbellStuck {
        opcode: None,
        hold_ms: Some(10),
        count: 1,
    })
    .unwrap();
    assert_eq!(
        f.take(0x1234).map(|t| t.1),
        Some(MailboxFault::DoorbellStuck { hold_ms: 10 })
    );
}

#[test]
fn armed_faults_are_bounded_and_cleared() {
    let mut f = Faults::default();
    let ids: Vec<u32> = (0..MAX_ARMED_FAULTS)
        .map(|_| f.arm(rc(1, 4, 1)).unwrap())
        .collect();
    assert!(matches!(f.arm(rc(1, 4, 1)), Err(FaultError::Conflict(_))));
    assert!(f.clear(ids[3]));
    assert!(!f.clear(ids[3]));
    assert_eq!(f.armed().len(), MAX_ARMED_FAULTS - 1);
    assert_eq!(f.clear_all().len(), MAX_ARMED_FAULTS - 1);
    assert_eq!(f.take(1), None);
}

#[test]
fn memdev_traces_armed_triggered_expired_cleared() {
    let mut m = test_memdev();
    let (id, t) = capture(|| m.fault_add(rc(0x4000, 0x0004, 2)).unwrap());
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].kind, Kind::Fault);
    assert_eq!(t[0].device.as_deref(), Some("mem0"));
    assert_eq!(t[0].fields["event"], "armed");
    assert_eq!(t[0].fields["id"], id);
    assert_eq!(t[0].fields["fault"]["return-code"], 4);

    let (got, t) = capture(|| m.mailbox_fault(0x4000));
    assert_eq!(got, Some(MailboxFault::ReturnCode(RetCode::InternalError)));
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].fields["event"], "triggered");
    assert_eq!(t[0].fields["opcode"], 0x4000);
    assert_eq!(t[0].fields["remaining"], 1);
    assert_eq!(m.faults_armed()[0].remaining, 1);

    let (_, t) = capture(|| m.mailbox_fault(0x4000));
    let events: Vec<_> = t.iter().map(|r| r.fields["event"].clone()).collect();
    assert_eq!(events, ["triggered", "expired"]);
    assert!(m.faults_armed().is_empty());
    assert_eq!(m.mailbox_fault(0x4000), None);

    let id = m.fault_add(rc(1, 4, 5)).unwrap();
    let (ids, t) = capture(|| m.fault_clear(FaultSelector::Id(id)).unwrap());
    assert_eq!(ids, [id]);
    assert_eq!(t[0].fields["event"], "cleared");
    assert!(matches!(
        m.fault_clear(FaultSelector::Id(id)),
        Err(FaultError::NotFound(_))
    ));
    assert_eq!(
        m.fault_clear(FaultSelector::All).unwrap(),
        Vec::<u32>::new()
    );
}

#[test]
fn background_hold_is_armed_and_taken() {
    let mut m = test_memdev();
    let req = FaultRequest::BackgroundHold {
        opcode: 0x4400,
        ms: 10,
        count: 1,
    };
    let id = m.fault_add(req).unwrap();
    assert_eq!(m.faults_armed()[0].id, id);
    assert_eq!(m.mailbox_fault(0x4401), None);
    assert_eq!(
        m.mailbox_fault(0x4400),
        Some(MailboxFault::BackgroundHold { ms: 10 })
    );
    assert!(m.faults_armed().is_empty());
}
