//! Tests of the Events command set.

use uuid::Uuid;

use super::*;
use crate::cxl::mailbox::testing::{test_memdev, test_memdev_with_clock, TestMemdev};
use crate::cxl::mailbox::Opcode;
use crate::cxl::memdev::events::{EventHeader, EventRecord, EventSeverity, InterruptMode};

const GET: u16 = Opcode::GetEventRecords as u16;
const CLEAR: u16 = Opcode::ClearEventRecords as u16;
const GET_POLICY: u16 = Opcode::GetEventInterruptPolicy as u16;
const SET_POLICY: u16 = Opcode::SetEventInterruptPolicy as u16;

fn record(tag: u8) -> EventRecord {
    let header = EventHeader {
        severity: EventSeverity::Warning,
        ..Default::default()
    };
    EventRecord::raw(Uuid::from_u128(0xABCD), &header, &[tag; 4])
}

fn clear_payload(log: u8, flags: u8, handles: &[u16]) -> Vec<u8> {
    let mut p = vec![log, flags, handles.len() as u8, 0, 0, 0];
    for h in handles {
        p.extend_from_slice(&h.to_le_bytes());
    }
    p
}

struct Got {
    flags: u8,
    overflow_count: u16,
    first_ts: u64,
    last_ts: u64,
    handles: Vec<u16>,
    records: Vec<Vec<u8>>,
}

fn get(m: &mut TestMemdev, log: u8) -> Got {
    let (rc, out) = m.execute(GET, &[log]);
    assert_eq!(rc, RetCode::Success);
    assert!(out.len() >= 0x20);
    let count = u16::from_le_bytes([out[0x14], out[0x15]]) as usize;
    assert_eq!(out.len(), 0x20 + count * 0x80);
    assert_eq!(out[1], 0, "reserved");
    assert!(out[0x16..0x20].iter().all(|&b| b == 0), "reserved");
    let records: Vec<Vec<u8>> = out[0x20..].chunks(0x80).map(<[u8]>::to_vec).collect();
    Got {
        flags: out[0],
        overflow_count: u16::from_le_bytes([out[2], out[3]]),
        first_ts: u64::from_le_bytes(out[4..12].try_into().unwrap()),
        last_ts: u64::from_le_bytes(out[12..20].try_into().unwrap()),
        handles: records
            .iter()
            .map(|r| u16::from_le_bytes([r[0x14], r[0x15]]))
            .collect(),
        records,
    }
}

#[test]
fn round_trip_add_get_clear() {
    let mut m = test_memdev();
    assert_eq!(m.events().event_status(), 0);
    assert_eq!(
        m.add_event(EventLogType::Warning, record(1)).handle,
        Some(1)
    );
    assert_eq!(
        m.add_event(EventLogType::Warning, record(2)).handle,
        Some(2)
    );
    assert_eq!(m.events().event_status(), 0b10);

    let got = get(&mut m, 1);
    assert_eq!(got.flags, 0);
    assert_eq!(got.handles, vec![1, 2]);
    assert_eq!(&got.records[0][0..16], Uuid::from_u128(0xABCD).as_bytes());
    assert_eq!(got.records[0][0x10], 0x80);
    assert_eq!(got.records[0][0x11], 0x01, "severity warning");
    assert_eq!(&got.records[1][0x30..0x34], &[2; 4]);
    // Get does not consume.
    assert_eq!(get(&mut m, 1).handles, vec![1, 2]);

    // Wrong handle, out of order, too many: Invalid Handle, nothing cleared.
    for bad in [&[2u16][..], &[2, 1], &[1, 2, 3], &[0]] {
        let (rc, out) = m.execute(CLEAR, &clear_payload(1, 0, bad));
        assert_eq!(rc, RetCode::InvalidHandle, "{bad:?}");
        assert!(out.is_empty());
    }
    // Right handles but the wrong log.
    assert_eq!(
        m.execute(CLEAR, &clear_payload(0, 0, &[1])).0,
        RetCode::InvalidHandle
    );
    assert_eq!(get(&mut m, 1).handles, vec![1, 2]);

    assert_eq!(
        m.execute(CLEAR, &clear_payload(1, 0, &[1])),
        (RetCode::Success, vec![])
    );
    assert_eq!(get(&mut m, 1).handles, vec![2]);
    assert_eq!(m.events().event_status(), 0b10);
    assert_eq!(
        m.execute(CLEAR, &clear_payload(1, 0, &[2])).0,
        RetCode::Success
    );
    assert_eq!(get(&mut m, 1).handles, Vec::<u16>::new());
    assert_eq!(m.events().event_status(), 0);
}

#[test]
fn every_log_is_addressable() {
    let mut m = test_memdev();
    for t in EventLogType::ALL {
        m.add_event(t, record(t as u8));
    }
    assert_eq!(m.events().event_status(), 0b1_1111);
    for t in EventLogType::ALL {
        let got = get(&mut m, t as u8);
        assert_eq!(got.records.len(), 1);
        assert_eq!(got.records[0][0x30], t as u8);
        assert_eq!(
            m.execute(CLEAR, &clear_payload(t as u8, 0, &got.handles)).0,
            RetCode::Success
        );
    }
    assert_eq!(m.events().event_status(), 0);
}

#[test]
fn overflow_after_depth() {
    let (mut m, clock) = test_memdev_with_clock();
    m.execute(Opcode::SetTimestamp as u16, &1000u64.to_le_bytes());
    // The Failure log of the test device holds 2 records.
    m.add_event(EventLogType::Failure, record(1));
    m.add_event(EventLogType::Failure, record(2));
    clock.advance(10);
    assert_eq!(m.add_event(EventLogType::Failure, record(3)).handle, None);
    clock.advance(10);
    assert_eq!(m.add_event(EventLogType::Failure, record(4)).handle, None);
    let got = get(&mut m, 2);
    assert_eq!(got.flags, GET_EVENT_FLAG_OVERFLOW);
    assert_eq!(got.overflow_count, 2);
    assert_eq!(got.first_ts, 1010);
    assert_eq!(got.last_ts, 1020);
    assert_eq!(got.handles.len(), 2);
    // Clear All is allowed now and empties the log.
    assert_eq!(
        m.execute(
            CLEAR,
            &clear_payload(2, CLEAR_EVENT_FLAG_CLEAR_ALL_EVENTS, &[])
        ),
        (RetCode::Success, vec![])
    );
    let got = get(&mut m, 2);
    assert_eq!(
        (got.flags, got.handles.len(), got.overflow_count),
        (0, 0, 0)
    );
}

#[test]
fn clear_all_without_overflow_is_invalid_input() {
    let mut m = test_memdev();
    m.add_event(EventLogType::Informational, record(1));
    assert_eq!(
        m.execute(
            CLEAR,
            &clear_payload(0, CLEAR_EVENT_FLAG_CLEAR_ALL_EVENTS, &[])
        )
        .0,
        RetCode::InvalidInput
    );
    assert_eq!(get(&mut m, 0).handles, vec![1]);
}

#[test]
fn more_event_records_flag() {
    let mut c = crate::cxl::memdev::tests::test_config();
    c.event_log_depths.informational = 40;
    let mut m = TestMemdev::new(c).unwrap();
    for i in 0..(MAX_RECORDS_PER_GET + 2) {
        m.add_event(EventLogType::Informational, record(i as u8));
    }
    let got = get(&mut m, 0);
    assert_eq!(MAX_RECORDS_PER_GET, 15);
    assert_eq!(got.records.len(), 15);
    assert_eq!(got.flags, GET_EVENT_FLAG_MORE_EVENT_RECORDS);
    let (rc, _) = m.execute(CLEAR, &clear_payload(0, 0, &got.handles));
    assert_eq!(rc, RetCode::Success);
    let got = get(&mut m, 0);
    assert_eq!(got.records.len(), 2);
    assert_eq!(got.flags, 0);
    assert_eq!(got.handles, vec![16, 17]);
}

#[test]
fn get_event_records_malformed() {
    let mut m = test_memdev();
    assert_eq!(m.execute(GET, &[]).0, RetCode::InvalidPayloadLength);
    assert_eq!(m.execute(GET, &[0, 0]).0, RetCode::InvalidPayloadLength);
    assert_eq!(m.execute(GET, &[5]).0, RetCode::InvalidInput);
    assert_eq!(m.execute(GET, &[0xFF]).0, RetCode::InvalidInput);
}

#[test]
fn clear_event_records_malformed() {
    let mut m = test_memdev();
    m.add_event(EventLogType::Warning, record(1));
    // Short header.
    assert_eq!(
        m.execute(CLEAR, &[1, 0, 0]).0,
        RetCode::InvalidPayloadLength
    );
    // Count says 2 handles, payload carries 1.
    let mut p = clear_payload(1, 0, &[1]);
    p[2] = 2;
    assert_eq!(m.execute(CLEAR, &p).0, RetCode::InvalidPayloadLength);
    // Trailing bytes.
    let mut p = clear_payload(1, 0, &[1]);
    p.push(0);
    assert_eq!(m.execute(CLEAR, &p).0, RetCode::InvalidPayloadLength);
    // Bad log.
    assert_eq!(
        m.execute(CLEAR, &clear_payload(7, 0, &[1])).0,
        RetCode::InvalidInput
    );
    assert_eq!(m.events().event_status(), 0b10);
}

#[test]
fn linux_sized_clear_batch_of_255_handles() {
    // Linux sends up to 255 handles in one Clear (6 + 510 bytes).
    let mut m = test_memdev();
    let p = clear_payload(0, 0, &[7; 255]);
    assert_eq!(p.len(), 516);
    assert_eq!(m.execute(CLEAR, &p).0, RetCode::InvalidHandle);
}

#[test]
fn interrupt_policy_round_trip() {
    let mut m = test_memdev();
    // Reset state: no interrupts anywhere.
    assert_eq!(m.execute(GET_POLICY, &[]), (RetCode::Success, vec![0; 5]));
    // What Linux sends (cxl_event_config_msgnums): MSI/MSI-X on 4 logs.
    assert_eq!(
        m.execute(SET_POLICY, &[1, 1, 1, 1]),
        (RetCode::Success, vec![])
    );
    // The device reports its event message number (2) in bits 7:4.
    assert_eq!(
        m.execute(GET_POLICY, &[]),
        (RetCode::Success, vec![0x21, 0x21, 0x21, 0x21, 0])
    );
    // 5-byte form sets the Dynamic Capacity log too; FW mode keeps its
    // vector.
    assert_eq!(
        m.execute(SET_POLICY, &[0, 0x52, 1, 0, 1]).0,
        RetCode::Success
    );
    assert_eq!(
        m.execute(GET_POLICY, &[]).1,
        vec![0x00, 0x52, 0x21, 0x00, 0x21]
    );
    assert_eq!(
        m.events().log(EventLogType::Warning).interrupt().mode,
        InterruptMode::FwInterrupt
    );
}

#[test]
fn interrupt_policy_malformed() {
    let mut m = test_memdev();
    for len in [0, 1, 3, 6, 8] {
        assert_eq!(
            m.execute(SET_POLICY, &vec![1; len]).0,
            RetCode::InvalidPayloadLength,
            "{len}"
        );
    }
    // Reserved mode 11b anywhere: Invalid Input, nothing applied.
    assert_eq!(
        m.execute(SET_POLICY, &[1, 1, 1, 3]).0,
        RetCode::InvalidInput
    );
    assert_eq!(m.execute(GET_POLICY, &[]).1, vec![0; 5]);
    assert_eq!(m.execute(GET_POLICY, &[0]).0, RetCode::InvalidPayloadLength);
}

#[test]
fn policy_decides_the_returned_message_number() {
    let mut m = test_memdev();
    assert_eq!(m.add_event(EventLogType::Fatal, record(0)).msi, None);
    m.execute(CLEAR, &clear_payload(3, 0, &[1]));
    m.execute(SET_POLICY, &[1, 1, 1, 1]);
    assert_eq!(m.add_event(EventLogType::Fatal, record(0)).msi, Some(2));
    // Still non-empty: no new interrupt.
    m.execute(SET_POLICY, &[1, 1, 1, 1]);
    assert_eq!(m.add_event(EventLogType::Warning, record(0)).msi, Some(2));
    assert_eq!(m.add_event(EventLogType::Warning, record(0)).msi, None);
    // The DC log is not enabled by the 4-byte form.
    assert_eq!(
        m.add_event(EventLogType::DynamicCapacity, record(0)).msi,
        None
    );
}
