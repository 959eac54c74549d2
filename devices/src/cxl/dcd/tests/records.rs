//! The Dynamic Capacity Event Record at its spec offsets, the log and its
//! interrupt.

use super::*;
use crate::cxl::memdev::events::EVENT_RECORD_SIZE;

fn raw_records(m: &Memdev) -> Vec<[u8; EVENT_RECORD_SIZE]> {
    m.events()
        .log(EventLogType::DynamicCapacity)
        .records()
        .map(|r| *r.as_bytes())
        .collect()
}

#[test]
fn add_capacity_records_field_by_field() {
    let mut m = test_memdev();
    let mut req = add_req(
        SelectionPolicy::Prescriptive,
        0,
        &[(0, 2 * MIB), (8 * MIB, 4 * MIB), (64 * MIB, 2 * MIB)],
    );
    req.tag = Some(tag(7));
    let out = m.dcd_add_capacity(req).unwrap();
    assert_eq!(out.extents.len(), 3);
    let recs = raw_records(&m);
    assert_eq!(recs.len(), 3);
    let u64_at = |r: &[u8], o: usize| u64::from_le_bytes(r[o..o + 8].try_into().unwrap());
    let u32_at = |r: &[u8], o: usize| u32::from_le_bytes(r[o..o + 4].try_into().unwrap());
    let expected = [
        (R0, 2 * MIB, 1u8),
        (R0 + 8 * MIB, 4 * MIB, 1),
        (R0 + 64 * MIB, 2 * MIB, 0),
    ];
    for (r, (dpa, len, more)) in recs.iter().zip(expected) {
        // Common header: identifier, length, a handle, a timestamp field.
        assert_eq!(
            &r[0x00..0x10],
            &[
                0xca, 0x95, 0xaf, 0xa7, 0xf1, 0x83, 0x40, 0x18, 0x8c, 0x2f, 0x95, 0x26, 0x8e, 0x10,
                0x1a, 0x2a
            ]
        );
        assert_eq!(r[0x10], 0x80);
        assert_ne!(u16::from_le_bytes([r[0x14], r[0x15]]), 0);
        // Dynamic Capacity Event Type: Add Capacity.
        assert_eq!(r[0x30], 0x00);
        // Validity Flags: the region index is not an update.
        assert_eq!(r[0x31], 0);
        // Host ID.
        assert_eq!(&r[0x32..0x34], &[0, 0]);
        // Updated Region Index.
        assert_eq!(r[0x34], 0);
        // Flags: More on all but the last record.
        assert_eq!(r[0x35], more);
        assert_eq!(&r[0x36..0x38], &[0, 0]);
        // Dynamic Capacity Extent.
        assert_eq!(u64_at(r, 0x38), dpa);
        assert_eq!(u64_at(r, 0x40), len);
        assert_eq!(&r[0x48..0x58], tag(7).as_bytes());
        assert_eq!(&r[0x58..0x5A], &[0, 0], "shared extent sequence");
        assert!(r[0x5A..0x78].iter().all(|&b| b == 0), "reserved");
        // Number of Available Extents and Tags after the offer.
        assert_eq!(u32_at(r, 0x78), 4096 - 3);
        assert_eq!(u32_at(r, 0x7C), 4096 - 1);
    }
    // The decoded view agrees.
    let ev = dc_records(&m);
    assert_eq!(ev[2].event_type, DcEventType::AddCapacity);
    assert!(ev[0].more && ev[1].more && !ev[2].more);
    assert_eq!(ev[1].extent, ExtentRange::new(R0 + 8 * MIB, 4 * MIB));
}

#[test]
fn release_and_forced_records() {
    let mut m = test_memdev();
    offer(&mut m, 1, &[(0, 4 * MIB), (8 * MIB, 4 * MIB)]);
    assert_eq!(
        respond(&mut m, &[(R1, 4 * MIB), (R1 + 8 * MIB, 4 * MIB)], false),
        RetCode::Success
    );
    let before = raw_records(&m).len();
    m.dcd_release_capacity(release_req(
        RemovalPolicy::Prescriptive,
        1,
        None,
        &[(0, 4 * MIB)],
    ))
    .unwrap();
    let mut forced = release_req(RemovalPolicy::Prescriptive, 1, None, &[(8 * MIB, 4 * MIB)]);
    forced.forced = true;
    m.dcd_release_capacity(forced).unwrap();
    let recs = raw_records(&m);
    assert_eq!(recs.len(), before + 2);
    let rel = &recs[before];
    assert_eq!(rel[0x30], 0x01, "Release Capacity");
    assert_eq!(rel[0x34], 1, "region index");
    assert_eq!(rel[0x35], 0, "single record: no More");
    assert_eq!(u64::from_le_bytes(rel[0x38..0x40].try_into().unwrap()), R1);
    let forced = &recs[before + 1];
    assert_eq!(forced[0x30], 0x02, "Forced Capacity Release");
    assert_eq!(
        u64::from_le_bytes(forced[0x38..0x40].try_into().unwrap()),
        R1 + 8 * MIB
    );
}

#[test]
fn region_configuration_updated_record() {
    let ev = DcEvent {
        event_type: DcEventType::RegionConfigurationUpdated,
        host_id: 0x1234,
        region: 5,
        more: false,
        extent: ExtentRange::default(),
        tag: Uuid::nil(),
        shared_seq: 0,
        available_extents: 9,
        available_tags: 8,
    };
    let rec = ev.to_record();
    let r = rec.as_bytes();
    assert_eq!(r[0x30], 3);
    assert_eq!(r[0x31], 1, "Updated Region Index valid");
    assert_eq!(&r[0x32..0x34], &[0x34, 0x12]);
    assert_eq!(r[0x34], 5);
    assert_eq!(DcEvent::from_record(&rec), Some(ev));
    // Other records and unknown types do not decode.
    let other = crate::cxl::memdev::events::EventRecord::raw(Uuid::nil(), &Default::default(), &[]);
    assert_eq!(DcEvent::from_record(&other), None);
    let mut bytes = *r;
    bytes[0x30] = 6;
    let bad = crate::cxl::memdev::events::EventRecord::from_bytes(bytes);
    assert_eq!(DcEvent::from_record(&bad), None);
    for t in 0..6u8 {
        assert_eq!(DcEventType::from_u8(t).map(|e| e as u8), Some(t));
    }
}

#[test]
fn interrupt_fires_once_per_empty_log() {
    let mut m = test_memdev();
    // No interrupt mode set: nothing to signal.
    assert_eq!(offer(&mut m, 0, &[(0, 2 * MIB)]).msi, None);
    // DC log to MSI/MSI-X (the 5-byte 3.1 form of the policy).
    let (rc, _) = m.execute(Opcode::SetEventInterruptPolicy as u16, &[0, 0, 0, 0, 1]);
    assert_eq!(rc, RetCode::Success);
    // The log is not empty: no new interrupt.
    assert_eq!(offer(&mut m, 0, &[(2 * MIB, 2 * MIB)]).msi, None);
    // Drain the log, then a new chain interrupts once (message number 2).
    let handles: Vec<u16> = m
        .events()
        .log(EventLogType::DynamicCapacity)
        .records()
        .map(|r| r.handle())
        .collect();
    let mut clear = vec![4, 0, handles.len() as u8, 0, 0, 0];
    for h in &handles {
        clear.extend_from_slice(&h.to_le_bytes());
    }
    assert_eq!(
        m.execute(Opcode::ClearEventRecords as u16, &clear).0,
        RetCode::Success
    );
    let out = offer(&mut m, 0, &[(4 * MIB, 2 * MIB), (6 * MIB, 2 * MIB)]);
    assert_eq!(out.msi, Some(2));
    // The Event Status Register shows the DC log.
    assert_eq!(m.events().event_status() & (1 << 4), 1 << 4);
    // Get Event Records on the DC log returns the records.
    let (rc, got) = m.execute(Opcode::GetEventRecords as u16, &[4]);
    assert_eq!(rc, RetCode::Success);
    assert_eq!(u16::from_le_bytes([got[0x14], got[0x15]]), 2);
}
