//! Tests of the event logs and event record formats.

use super::*;

fn logs() -> EventLogs {
    let depths = EventLogDepths {
        informational: 2,
        warning: 3,
        failure: 1,
        fatal: 1,
        dynamic_capacity: 64,
    };
    EventLogs::new(&depths, 5)
}

fn rec(tag: u8) -> EventRecord {
    EventRecord::raw(Uuid::from_u128(0x1234), &EventHeader::default(), &[tag])
}

#[test]
fn raw_record_layout() {
    let header = EventHeader {
        severity: EventSeverity::Failure,
        flags: EventRecordFlags(EventRecordFlags::PERMANENT_CONDITION | 0x3),
        related_handle: 0xBEEF,
        maintenance_operation_class: 0x12,
        maintenance_operation_subclass: Some(0x34),
    };
    let uuid = Uuid::from_u128(0x00112233_4455_6677_8899_aabbccddeeff);
    let r = EventRecord::raw(uuid, &header, &[0xAA; 0x60]);
    let b = r.as_bytes();
    assert_eq!(&b[0..16], uuid.as_bytes());
    assert_eq!(b[0x00], 0x00);
    assert_eq!(b[0x0F], 0xFF);
    assert_eq!(b[0x10], 0x80);
    // Severity 10b, Permanent (bit 2), Subclass Valid (bit 6); the
    // severity bits passed in flags are ignored.
    assert_eq!(&b[0x11..0x14], &[0x46, 0, 0]);
    assert_eq!(r.flags(), 0x46);
    assert_eq!(&b[0x14..0x16], &[0, 0]);
    assert_eq!(&b[0x16..0x18], &[0xEF, 0xBE]);
    assert_eq!(&b[0x18..0x20], &[0; 8]);
    assert_eq!(b[0x20], 0x12);
    assert_eq!(b[0x21], 0x34);
    assert_eq!(&b[0x22..0x30], &[0; 14]);
    assert!(b[0x30..].iter().all(|&x| x == 0xAA));
    assert_eq!(r.uuid(), uuid);
    assert_eq!(r.related_handle(), 0xBEEF);
    assert_eq!(r.maintenance_operation_class(), 0x12);
    assert_eq!(r.maintenance_operation_subclass(), 0x34);
    assert_eq!(r.data().len(), EVENT_RECORD_DATA_SIZE);
}

#[test]
fn general_media_layout() {
    let r = EventRecord::general_media(&GeneralMediaEvent {
        physical_address: 0x1234_5678_9ABF,
        volatile: true,
        memory_event_descriptor: 0x1,
        memory_event_type: 0x2,
        transaction_type: 0x3,
        validity_flags: 0x0405,
        channel: 6,
        rank: 7,
        device: 0x0A0B0C,
        component_id: [0x5A; 16],
        ..Default::default()
    });
    let b = r.as_bytes();
    assert_eq!(r.uuid(), GENERAL_MEDIA_EVENT_UUID);
    assert_eq!(
        &b[0..16],
        &[
            0xfb, 0xcd, 0x0a, 0x77, 0xc2, 0x60, 0x41, 0x7f, 0x85, 0xa9, 0x08, 0x8b, 0x16, 0x21,
            0xeb, 0xa6
        ]
    );
    assert_eq!(
        u64::from_le_bytes(b[0x30..0x38].try_into().unwrap()),
        0x1234_5678_9A81
    );
    assert_eq!(&b[0x38..0x3F], &[1, 2, 3, 0x05, 0x04, 6, 7]);
    assert_eq!(&b[0x3F..0x42], &[0x0C, 0x0B, 0x0A]);
    assert_eq!(&b[0x42..0x52], &[0x5A; 16]);
    assert!(b[0x52..].iter().all(|&x| x == 0));
}

#[test]
fn dram_layout() {
    let r = EventRecord::dram(&DramEvent {
        physical_address: 0x4000,
        nibble_mask: 0x112233,
        bank_group: 4,
        bank: 5,
        row: 0x667788,
        column: 0x99AA,
        correction_mask: [0xC3; 32],
        ..Default::default()
    });
    let b = r.as_bytes();
    assert_eq!(r.uuid(), DRAM_EVENT_UUID);
    assert_eq!(&b[0x30..0x38], &0x4000u64.to_le_bytes());
    assert_eq!(&b[0x3F..0x42], &[0x33, 0x22, 0x11]);
    assert_eq!(b[0x42], 4);
    assert_eq!(b[0x43], 5);
    assert_eq!(&b[0x44..0x47], &[0x88, 0x77, 0x66]);
    assert_eq!(&b[0x47..0x49], &[0xAA, 0x99]);
    assert_eq!(&b[0x49..0x69], &[0xC3; 32]);
    assert!(b[0x69..].iter().all(|&x| x == 0));
}

#[test]
fn memory_module_layout() {
    let health = HealthInfo {
        life_used: 42,
        ..HealthInfo::default()
    };
    let r = EventRecord::memory_module(&MemoryModuleEvent {
        device_event_type: 3,
        health,
        ..Default::default()
    });
    let b = r.as_bytes();
    assert_eq!(r.uuid(), MEMORY_MODULE_EVENT_UUID);
    assert_eq!(b[0x30], 3);
    assert_eq!(&b[0x31..0x43], &health.to_bytes());
    assert!(b[0x43..].iter().all(|&x| x == 0));
}

#[test]
fn add_assigns_unique_nonzero_handles_and_timestamps() {
    let mut l = logs();
    let a = l.add(EventLogType::Warning, rec(1), 100);
    let b = l.add(EventLogType::Warning, rec(2), 200);
    assert_eq!(a.handle, Some(1));
    assert_eq!(b.handle, Some(2));
    let recs: Vec<_> = l.log(EventLogType::Warning).records().copied().collect();
    assert_eq!(recs[0].handle(), 1);
    assert_eq!(recs[0].timestamp(), 100);
    assert_eq!(recs[1].timestamp(), 200);
    assert_eq!(recs[1].data()[0], 2);
}

#[test]
fn handles_skip_zero_and_live_ones_on_wrap() {
    let mut l = logs();
    l.log_mut(EventLogType::Warning).next_handle = 0xFFFF;
    assert_eq!(l.add(EventLogType::Warning, rec(0), 0).handle, Some(0xFFFF));
    assert_eq!(l.add(EventLogType::Warning, rec(0), 0).handle, Some(1));
    l.log_mut(EventLogType::Warning).next_handle = 0xFFFF;
    assert_eq!(l.add(EventLogType::Warning, rec(0), 0).handle, Some(2));
}

#[test]
fn overflow_counts_and_timestamps() {
    let mut l = logs();
    assert!(l.add(EventLogType::Failure, rec(1), 10).handle.is_some());
    assert_eq!(l.add(EventLogType::Failure, rec(2), 20).handle, None);
    assert_eq!(l.add(EventLogType::Failure, rec(3), 30).handle, None);
    let o = l.log(EventLogType::Failure).overflow().unwrap();
    assert_eq!(o.error_count, 2);
    assert_eq!(o.first_timestamp, 20);
    assert_eq!(o.last_timestamp, 30);
    assert_eq!(l.log(EventLogType::Failure).len(), 1);
    // Clearing a record ends the overflow condition.
    l.clear(EventLogType::Failure, &[1]).unwrap();
    assert_eq!(l.log(EventLogType::Failure).overflow(), None);
}

#[test]
fn clear_checks_handles_in_order_atomically() {
    let mut l = logs();
    for i in 0..3 {
        l.add(EventLogType::Warning, rec(i), 0);
    }
    assert_eq!(
        l.clear(EventLogType::Warning, &[2]),
        Err(RetCode::InvalidHandle)
    );
    assert_eq!(
        l.clear(EventLogType::Warning, &[1, 3]),
        Err(RetCode::InvalidHandle)
    );
    assert_eq!(
        l.clear(EventLogType::Warning, &[0]),
        Err(RetCode::InvalidHandle)
    );
    assert_eq!(
        l.clear(EventLogType::Warning, &[1, 2, 3, 4]),
        Err(RetCode::InvalidHandle)
    );
    assert_eq!(l.log(EventLogType::Warning).len(), 3);
    assert_eq!(l.clear(EventLogType::Warning, &[1, 2]), Ok(()));
    assert_eq!(l.log(EventLogType::Warning).len(), 1);
    assert_eq!(
        l.log(EventLogType::Warning)
            .records()
            .next()
            .unwrap()
            .handle(),
        3
    );
    assert_eq!(l.clear(EventLogType::Warning, &[]), Ok(()));
}

#[test]
fn clear_all_only_after_overflow() {
    let mut l = logs();
    l.add(EventLogType::Fatal, rec(0), 0);
    assert_eq!(l.clear_all(EventLogType::Fatal), Err(RetCode::InvalidInput));
    l.add(EventLogType::Fatal, rec(0), 0);
    assert_eq!(l.clear_all(EventLogType::Fatal), Ok(()));
    assert!(l.log(EventLogType::Fatal).is_empty());
    assert_eq!(l.log(EventLogType::Fatal).overflow(), None);
}

#[test]
fn event_status_tracks_non_empty_logs() {
    let mut l = logs();
    assert_eq!(l.event_status(), 0);
    l.add(EventLogType::Informational, rec(0), 0);
    l.add(EventLogType::Fatal, rec(0), 0);
    l.add(EventLogType::DynamicCapacity, rec(0), 0);
    assert_eq!(l.event_status(), 0b11001);
    l.clear(EventLogType::Fatal, &[1]).unwrap();
    assert_eq!(l.event_status(), 0b10001);
    l.discard_all();
    assert_eq!(l.event_status(), 0);
}

#[test]
fn msi_only_on_empty_to_non_empty_with_msi_mode() {
    let mut l = logs();
    let msi = InterruptSetting {
        mode: InterruptMode::MsiMsix,
        fw_message_number: 0,
    };
    assert_eq!(l.add(EventLogType::Warning, rec(0), 0).msi, None);
    l.clear(EventLogType::Warning, &[1]).unwrap();
    l.set_interrupt(EventLogType::Warning, msi);
    assert_eq!(l.add(EventLogType::Warning, rec(0), 0).msi, Some(5));
    assert_eq!(l.add(EventLogType::Warning, rec(0), 0).msi, None);
    // Other logs keep their own setting.
    assert_eq!(l.add(EventLogType::Fatal, rec(0), 0).msi, None);
    let fw = InterruptSetting {
        mode: InterruptMode::FwInterrupt,
        fw_message_number: 7,
    };
    l.set_interrupt(EventLogType::Informational, fw);
    assert_eq!(l.add(EventLogType::Informational, rec(0), 0).msi, None);
}

#[test]
fn interrupt_setting_bytes() {
    assert_eq!(
        InterruptSetting::from_set_byte(0xF1),
        Some(InterruptSetting {
            mode: InterruptMode::MsiMsix,
            fw_message_number: 0
        })
    );
    assert_eq!(
        InterruptSetting::from_set_byte(0x32),
        Some(InterruptSetting {
            mode: InterruptMode::FwInterrupt,
            fw_message_number: 3
        })
    );
    assert_eq!(InterruptSetting::from_set_byte(0x03), None);
    let msi = InterruptSetting::from_set_byte(1).unwrap();
    assert_eq!(msi.to_get_byte(9), 0x91);
    let none = InterruptSetting::default();
    assert_eq!(none.to_get_byte(9), 0x00);
    let fw = InterruptSetting::from_set_byte(0x32).unwrap();
    assert_eq!(fw.to_get_byte(9), 0x32);
}

#[test]
fn log_type_encoding() {
    for (i, t) in EventLogType::ALL.iter().enumerate() {
        assert_eq!(EventLogType::from_u8(i as u8), Some(*t));
        assert_eq!(t.event_status_bit(), 1 << i);
    }
    assert_eq!(EventLogType::from_u8(5), None);
    assert_eq!(EventLogType::from_u8(0xFF), None);
}

#[test]
fn only_records_the_host_has_not_read_can_be_taken_back() {
    let mut l = logs();
    let t = EventLogType::DynamicCapacity;
    let h: Vec<u16> = (0..4)
        .map(|i| l.add(t, rec(i), 0).handle.unwrap())
        .collect();
    assert_eq!((l.log(t).seen(), l.log(t).is_unseen(h[0])), (0, Some(true)));
    // Get Event Records returned the oldest two.
    l.mark_seen(t, 2);
    assert_eq!(l.log(t).is_unseen(h[1]), Some(false));
    assert!(!l.retract_unseen(t, h[1]), "read: stays");
    assert!(l.unseen_mut(t, h[0]).is_none());
    assert!(l.unseen_mut(t, h[2]).is_some());
    assert!(l.retract_unseen(t, h[3]));
    assert!(!l.retract_unseen(t, h[3]), "gone");
    assert_eq!(l.log(t).is_unseen(h[3]), None);
    assert_eq!(l.log(t).len(), 3);
    // Clearing read records moves the mark with them.
    l.clear(t, &h[..2]).unwrap();
    assert_eq!((l.log(t).seen(), l.log(t).len()), (0, 1));
    assert!(!l.log(t).is_full());
    l.mark_seen(t, 10);
    assert_eq!(l.log(t).seen(), 1, "never beyond the records held");
    l.discard_all();
    assert_eq!(l.log(t).seen(), 0);
}
