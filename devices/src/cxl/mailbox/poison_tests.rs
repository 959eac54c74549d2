//! Tests of the poison list and the Media and Poison Management commands.

use super::*;
use crate::cxl::mailbox::testing::{test_memdev, test_memdev_with_clock, TestMemdev};
use crate::cxl::mailbox::Opcode;
use crate::cxl::memdev::poison::{PoisonAddError, PoisonList, PoisonSource};
use crate::cxl::memdev::status::{MediaStatus, MemdevStatus};
use crate::cxl::memdev::tests::test_config;
use crate::cxl::memdev::MediaWrite;

const GET: u16 = Opcode::GetPoisonList as u16;
const INJECT: u16 = Opcode::InjectPoison as u16;
const CLEAR: u16 = Opcode::ClearPoison as u16;
/// Capacity of the test device: 10 x 256 MiB.
const CAPACITY: u64 = 10 << 28;
/// End of its media: DC region 0 (512 MiB) then region 1 (256 MiB of a
/// 512 MiB decode range) follow the static capacity.
const MEDIA_END: u64 = CAPACITY + (768 << 20);

fn get_in(start: u64, units: u64) -> Vec<u8> {
    GetPoisonListIn {
        address: start,
        length: units,
    }
    .encode()
}

fn clear_in(dpa: u64, fill: u8) -> Vec<u8> {
    ClearPoisonIn {
        address: dpa,
        write_data: [fill; 64],
    }
    .encode()
}

struct List {
    flags: u8,
    overflow_ts: u64,
    /// (address field, length field).
    records: Vec<(u64, u32)>,
}

fn get(m: &mut TestMemdev, start: u64, units: u64) -> List {
    let (rc, out) = m.execute(GET, &get_in(start, units));
    assert_eq!(rc, RetCode::Success);
    let count = u16::from_le_bytes([out[0x0A], out[0x0B]]) as usize;
    assert_eq!(out.len(), 0x20 + 0x10 * count);
    assert_eq!(out[1], 0);
    assert!(out[0x0C..0x20].iter().all(|&b| b == 0));
    List {
        flags: out[0],
        overflow_ts: u64::from_le_bytes(out[2..10].try_into().unwrap()),
        records: out[0x20..]
            .chunks(0x10)
            .map(|r| {
                assert_eq!(&r[12..16], &[0; 4]);
                (
                    u64::from_le_bytes(r[0..8].try_into().unwrap()),
                    u32::from_le_bytes(r[8..12].try_into().unwrap()),
                )
            })
            .collect(),
    }
}

fn whole(m: &mut TestMemdev) -> List {
    get(m, 0, CAPACITY / 64)
}

#[test]
fn inject_then_list() {
    let mut m = test_memdev();
    assert_eq!(
        m.execute(INJECT, &0x1000u64.to_le_bytes()),
        (RetCode::Success, vec![])
    );
    assert_eq!(
        m.execute(INJECT, &0x40u64.to_le_bytes()).0,
        RetCode::Success
    );
    let l = whole(&mut m);
    assert_eq!(l.flags, 0);
    // DPA order, source Injected (3) in bits 2:0, length in 64-byte units.
    assert_eq!(l.records, vec![(0x43, 1), (0x1003, 1)]);
    // Injecting a poisoned line again changes nothing.
    assert_eq!(
        m.execute(INJECT, &0x1000u64.to_le_bytes()).0,
        RetCode::Success
    );
    assert_eq!(whole(&mut m).records.len(), 2);
}

#[test]
fn inject_checks_address() {
    let mut m = test_memdev();
    let inject = |m: &mut TestMemdev, dpa: u64| m.execute(INJECT, &dpa.to_le_bytes()).0;
    assert_eq!(inject(&mut m, 0x1001), RetCode::InvalidInput);
    assert_eq!(inject(&mut m, 0x1020), RetCode::InvalidInput);
    assert_eq!(inject(&mut m, MEDIA_END), RetCode::InvalidPhysicalAddress);
    assert_eq!(
        inject(&mut m, u64::MAX - 63),
        RetCode::InvalidPhysicalAddress
    );
    assert_eq!(inject(&mut m, CAPACITY - 64), RetCode::Success);
    // Dynamic Capacity is media too, whether an extent holds it or not.
    assert_eq!(inject(&mut m, MEDIA_END - 64), RetCode::Success);
    assert_eq!(m.execute(INJECT, &[0; 7]).0, RetCode::InvalidPayloadLength);
    assert_eq!(m.execute(INJECT, &[0; 9]).0, RetCode::InvalidPayloadLength);
    assert_eq!(whole(&mut m).records, vec![(CAPACITY - 64 + 3, 1)]);
    assert_eq!(
        get(&mut m, 0, MEDIA_END / 64).records,
        vec![(CAPACITY - 64 + 3, 1), (MEDIA_END - 64 + 3, 1)]
    );
}

#[test]
fn inject_limit() {
    // The test device allows 4 injections.
    let mut m = test_memdev();
    for i in 0..4u64 {
        assert_eq!(
            m.execute(INJECT, &(i * 64).to_le_bytes()).0,
            RetCode::Success
        );
    }
    assert_eq!(
        m.execute(INJECT, &0x1000u64.to_le_bytes()).0,
        RetCode::InjectPoisonLimitReached
    );
    // Device-detected poison does not count against the limit.
    m.add_media_error(0x8000, 64, PoisonSource::Internal)
        .unwrap();
    // Clearing one frees a slot.
    assert_eq!(m.execute(CLEAR, &clear_in(0, 0)).0, RetCode::Success);
    assert_eq!(
        m.execute(INJECT, &0x1000u64.to_le_bytes()).0,
        RetCode::Success
    );
}

#[test]
fn list_is_clipped_to_the_query() {
    let mut m = test_memdev();
    m.add_media_error(0x1000, 0x400, PoisonSource::Internal)
        .unwrap();
    m.add_media_error(0x4000, 0x40, PoisonSource::External)
        .unwrap();
    let l = get(&mut m, 0x1100, 4);
    assert_eq!(l.records, vec![(0x1102, 4)]);
    let l = get(&mut m, 0x1300, 0x100);
    assert_eq!(l.records, vec![(0x1302, 4), (0x4001, 1)]);
    let l = get(&mut m, 0x1400, 0x100);
    assert_eq!(l.records, vec![(0x4001, 1)]);
    assert!(get(&mut m, 0x2000, 1).records.is_empty());
    assert!(get(&mut m, 0x1000, 0).records.is_empty());
}

#[test]
fn more_media_error_records_continues() {
    let mut c = test_config();
    c.poison_list_max_records = 300;
    let mut m = TestMemdev::new(c).unwrap();
    for i in 0..200u64 {
        m.add_media_error(i * 0x1000, 64, PoisonSource::Internal)
            .unwrap();
    }
    let first = whole(&mut m);
    assert_eq!(first.flags, POISON_FLAG_MORE_MEDIA_ERROR_RECORDS);
    assert_eq!(first.records.len(), MAX_RECORDS_PER_GET);
    assert_eq!(MAX_RECORDS_PER_GET, 126);
    assert_eq!(first.records[0], (0x2, 1));
    let second = whole(&mut m);
    assert_eq!(second.flags, 0);
    assert_eq!(second.records.len(), 200 - 126);
    assert_eq!(second.records[0], (126 * 0x1000 + 2, 1));
    // Done: the next query starts over.
    assert_eq!(whole(&mut m).records[0], (0x2, 1));
    // A different query does not continue the pending one, and ends it.
    assert_eq!(get(&mut m, 0, 0x1000 / 64 * 3).records.len(), 3);
    assert_eq!(whole(&mut m).records[0], (0x2, 1));
}

#[test]
fn overflow_is_reported() {
    let (mut m, clock) = test_memdev_with_clock();
    m.execute(Opcode::SetTimestamp as u16, &7000u64.to_le_bytes());
    // The test device's list holds 8 ranges.
    for i in 0..8u64 {
        m.add_media_error(i * 64, 64, PoisonSource::Internal)
            .unwrap();
    }
    clock.advance(5);
    assert_eq!(
        m.execute(INJECT, &0x10000u64.to_le_bytes()).0,
        RetCode::Success
    );
    let l = whole(&mut m);
    assert_eq!(l.flags, POISON_FLAG_POISON_LIST_OVERFLOW);
    assert_eq!(l.overflow_ts, 7005);
    assert_eq!(l.records.len(), 8);
    assert_eq!(
        m.add_media_error(0x20000, 64, PoisonSource::Internal),
        Err(PoisonAddError::Overflow)
    );
}

#[test]
fn add_rejects_bad_ranges() {
    let mut p = PoisonList::new(4);
    assert_eq!(
        p.add(1, 64, PoisonSource::Unknown, 0),
        Err(PoisonAddError::InvalidRange)
    );
    assert_eq!(
        p.add(0, 65, PoisonSource::Unknown, 0),
        Err(PoisonAddError::InvalidRange)
    );
    assert_eq!(
        p.add(0, 0, PoisonSource::Unknown, 0),
        Err(PoisonAddError::InvalidRange)
    );
    assert_eq!(
        p.add(u64::MAX - 63, 128, PoisonSource::Unknown, 0),
        Err(PoisonAddError::InvalidRange)
    );
    p.add(0x100, 0x100, PoisonSource::Vendor, 0).unwrap();
    assert_eq!(
        p.add(0x1C0, 64, PoisonSource::Unknown, 0),
        Err(PoisonAddError::Overlaps)
    );
    assert_eq!(
        p.add(0xC0, 0x80, PoisonSource::Unknown, 0),
        Err(PoisonAddError::Overlaps)
    );
    p.add(0xC0, 0x40, PoisonSource::Unknown, 0).unwrap();
    p.add(0x200, 0x40, PoisonSource::Unknown, 0).unwrap();
    assert_eq!(p.len(), 3);
}

#[test]
fn clear_writes_data_and_splits() {
    let mut m = test_memdev();
    m.add_media_error(0x1000, 0x100, PoisonSource::Internal)
        .unwrap();
    assert_eq!(
        m.execute(CLEAR, &clear_in(0x1040, 0xAB)),
        (RetCode::Success, vec![])
    );
    assert_eq!(
        m.take_media_writes(),
        vec![MediaWrite {
            dpa: 0x1040,
            data: [0xAB; 64]
        }]
    );
    assert_eq!(whole(&mut m).records, vec![(0x1002, 1), (0x1082, 2)]);
    // Clearing the ends.
    m.execute(CLEAR, &clear_in(0x1000, 0));
    m.execute(CLEAR, &clear_in(0x10C0, 0));
    assert_eq!(whole(&mut m).records, vec![(0x1082, 1)]);
    // Clearing a clean line still writes the data.
    assert_eq!(m.execute(CLEAR, &clear_in(0x9000, 1)).0, RetCode::Success);
    assert_eq!(m.take_media_writes().len(), 3);
}

#[test]
fn clear_malformed() {
    let mut m = test_memdev();
    assert_eq!(
        m.execute(CLEAR, &[0; 0x47]).0,
        RetCode::InvalidPayloadLength
    );
    assert_eq!(
        m.execute(CLEAR, &[0; 0x49]).0,
        RetCode::InvalidPayloadLength
    );
    assert_eq!(
        m.execute(CLEAR, &clear_in(0x10, 0)).0,
        RetCode::InvalidInput
    );
    assert_eq!(
        m.execute(CLEAR, &clear_in(MEDIA_END, 0)).0,
        RetCode::InvalidPhysicalAddress
    );
    assert!(m.take_media_writes().is_empty());
}

#[test]
fn get_poison_list_malformed() {
    let mut m = test_memdev();
    assert_eq!(m.execute(GET, &[0; 15]).0, RetCode::InvalidPayloadLength);
    assert_eq!(m.execute(GET, &[0; 17]).0, RetCode::InvalidPayloadLength);
    assert_eq!(m.execute(GET, &get_in(0x20, 1)).0, RetCode::InvalidInput);
    assert_eq!(
        m.execute(GET, &get_in(0, u64::MAX)).0,
        RetCode::InvalidInput
    );
    assert_eq!(
        m.execute(GET, &get_in(0, MEDIA_END / 64 + 1)).0,
        RetCode::InvalidPhysicalAddress
    );
    assert_eq!(
        m.execute(GET, &get_in(u64::MAX - 63, 2)).0,
        RetCode::InvalidPhysicalAddress
    );
}

#[test]
fn media_not_ready_disables_inject_and_clear() {
    let mut m = test_memdev();
    m.set_status(MemdevStatus {
        media_status: MediaStatus::Disabled,
        ..MemdevStatus::default()
    });
    assert_eq!(
        m.execute(INJECT, &0u64.to_le_bytes()).0,
        RetCode::MediaDisabled
    );
    assert_eq!(m.execute(CLEAR, &clear_in(0, 0)).0, RetCode::MediaDisabled);
    assert!(m.take_media_writes().is_empty());
}

#[test]
fn media_is_the_static_capacity_and_the_dc_regions_capacity() {
    let m = test_memdev();
    assert!(m.is_media_range(0, CAPACITY));
    assert!(
        m.is_media_range(CAPACITY - 64, CAPACITY + 64),
        "static into DC"
    );
    assert!(m.is_media_range(0, MEDIA_END));
    assert!(!m.is_media_range(MEDIA_END - 64, MEDIA_END + 64));
    assert!(
        !m.is_media_range(MEDIA_END, CAPACITY + (1 << 30)),
        "region 1's decode range past its length"
    );
    assert!(!m.is_media_range(64, 0), "backwards");
    let dc_only = TestMemdev::new(crate::cxl::memdev::tests::dc_only_config()).unwrap();
    assert!(dc_only.is_media_range(0, 1 << 30));
    assert!(!dc_only.is_media_range(0, (1 << 30) + 64));
}
