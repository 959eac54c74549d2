//! Tests of `scan_media.rs` (compiled as `cxl::mailbox::scan_media::tests`).

use super::*;
use crate::cxl::mailbox::poison::{GetPoisonListIn, POISON_FLAG_SCAN_MEDIA_IN_PROGRESS};
use crate::cxl::mailbox::testing::{test_memdev_with_clock, TestMemdev};
use crate::cxl::mailbox::Opcode;
use crate::cxl::memdev::poison::PoisonSource;
use crate::cxl::memdev::scan_media::{scan_ms, OPCODE_SCAN_MEDIA};
use crate::cxl::memdev::status::MediaStatus;
use crate::cxl::memdev::tests::FakeClock;

const CAPS: u16 = Opcode::GetScanMediaCapabilities as u16;
const SCAN: u16 = Opcode::ScanMedia as u16;
const RESULTS: u16 = Opcode::GetScanMediaResults as u16;
const MS: u64 = 1_000_000;

fn range(address: u64, length: u64) -> ScanRangeIn {
    ScanRangeIn { address, length }
}

fn scan(address: u64, length: u64) -> Vec<u8> {
    ScanMediaIn {
        range: range(address, length),
        flags: SCAN_MEDIA_FLAG_NO_EVENT_LOG,
    }
    .encode()
}

/// Scans and completes; the return code at completion.
fn scan_done(m: &mut TestMemdev, clock: &FakeClock, address: u64, length: u64) -> RetCode {
    assert_eq!(
        m.execute(SCAN, &scan(address, length)).0,
        RetCode::BackgroundCommandStarted
    );
    clock.advance(scan_ms(length * 64) * MS);
    m.complete_background().unwrap().1
}

fn records(out: &[u8]) -> Vec<(u64, u32)> {
    let n = u16::from_le_bytes([out[0x12], out[0x13]]) as usize;
    (0..n)
        .map(|i| {
            let at = 0x20 + 16 * i;
            (
                u64::from_le_bytes(out[at..at + 8].try_into().unwrap()),
                u32::from_le_bytes(out[at + 8..at + 12].try_into().unwrap()),
            )
        })
        .collect()
}

#[test]
fn capabilities_estimate_and_checks() {
    let (mut m, _) = test_memdev_with_clock();
    let (rc, out) = m.execute(CAPS, &range(0, 1 << 24).encode());
    assert_eq!(rc, RetCode::Success);
    assert_eq!(out, (scan_ms(1 << 30) as u32).to_le_bytes());
    assert_eq!(scan_ms(0), 1);
    assert_eq!(scan_ms(u64::MAX), 1000);
    assert_eq!(
        m.execute(CAPS, &range(1, 1).encode()).0,
        RetCode::InvalidInput
    );
    // The media: the static capacity, then the DC regions' capacity.
    let cap = m.capacity_bytes();
    let end = m.dcd().regions().last().unwrap().end();
    assert_eq!(
        m.execute(CAPS, &range(cap - 64, 2).encode()).0,
        RetCode::Success,
        "static capacity into DC region 0"
    );
    assert_eq!(
        m.execute(CAPS, &range(end - 64, 1).encode()).0,
        RetCode::Success
    );
    assert_eq!(
        m.execute(CAPS, &range(end - 64, 2).encode()).0,
        RetCode::InvalidPhysicalAddress,
        "past the last region's capacity (its decode range goes on)"
    );
    assert_eq!(
        m.execute(CAPS, &range(0, u64::MAX).encode()).0,
        RetCode::InvalidPhysicalAddress
    );
    assert_eq!(
        m.execute(CAPS, &range(0, 1).encode()[..15]).0,
        RetCode::InvalidPayloadLength
    );
}

#[test]
fn results_are_the_poison_in_the_range() {
    let (mut m, clock) = test_memdev_with_clock();
    assert_eq!(
        m.execute(RESULTS, &[]).0,
        RetCode::InvalidInput,
        "no scan yet"
    );
    m.add_media_error(0x1000, 0x100, PoisonSource::Internal)
        .unwrap();
    m.add_media_error(0x4000, 64, PoisonSource::External)
        .unwrap();
    m.add_media_error(0x10_0000, 64, PoisonSource::Internal)
        .unwrap();
    assert_eq!(
        m.execute(SCAN, &scan(0x1080, (0x5000 - 0x1080) / 64)).0,
        RetCode::BackgroundCommandStarted
    );
    // While it runs: results Busy, Get Poison List says so, another scan Busy.
    assert_eq!(m.execute(RESULTS, &[]).0, RetCode::Busy);
    let (rc, pl) = m.execute(
        Opcode::GetPoisonList as u16,
        &GetPoisonListIn {
            address: 0,
            length: 1 << 20,
        }
        .encode(),
    );
    assert_eq!(rc, RetCode::Success);
    assert_ne!(pl[0] & POISON_FLAG_SCAN_MEDIA_IN_PROGRESS, 0);
    assert_eq!(m.execute(SCAN, &scan(0, 1)).0, RetCode::Busy);
    clock.advance(MS);
    assert_eq!(
        m.complete_background(),
        Some((OPCODE_SCAN_MEDIA, RetCode::Success))
    );
    let (rc, out) = m.execute(RESULTS, &[]);
    assert_eq!(rc, RetCode::Success);
    assert_eq!(out[0x10], 0, "no more, not stopped");
    assert_eq!(&out[..0x10], &[0; 0x10], "restart address and length 0");
    // Clipped to the scanned range, with the error source.
    assert_eq!(
        records(&out),
        vec![
            (0x1080 | PoisonSource::Internal as u64, 2),
            (0x4000 | PoisonSource::External as u64, 1)
        ]
    );
    // Each record is returned once.
    let (_, out) = m.execute(RESULTS, &[]);
    assert!(records(&out).is_empty());
}

#[test]
fn many_results_come_in_pages() {
    let mut c = crate::cxl::memdev::tests::test_config();
    c.poison_list_max_records = 300;
    let clock = FakeClock::default();
    let mut m = TestMemdev::from(
        crate::cxl::memdev::Memdev::with_clock(c, Box::new(clock.clone())).unwrap(),
    );
    for i in 0..300u64 {
        m.add_media_error(i * 128, 64, PoisonSource::Internal)
            .unwrap();
    }
    assert_eq!(scan_done(&mut m, &clock, 0, 1 << 20), RetCode::Success);
    let mut seen = 0;
    loop {
        let (_, out) = m.execute(RESULTS, &[]);
        let n = records(&out).len();
        assert!(n <= MAX_SCAN_RECORDS_PER_GET);
        seen += n;
        if out[0x10] & SCAN_RESULTS_FLAG_MORE_MEDIA_ERROR_RECORDS == 0 {
            break;
        }
        assert_eq!(n, MAX_SCAN_RECORDS_PER_GET);
    }
    assert_eq!(seen, 300);
}

#[test]
fn refused_scans_start_nothing() {
    let (mut m, _) = test_memdev_with_clock();
    assert_eq!(m.execute(SCAN, &scan(3, 1)).0, RetCode::InvalidInput);
    let end = m.dcd().regions().last().unwrap().end();
    assert_eq!(
        m.execute(SCAN, &scan(end, 1)).0,
        RetCode::InvalidPhysicalAddress
    );
    assert_eq!(
        m.execute(SCAN, &scan(0, 1)[..16]).0,
        RetCode::InvalidPayloadLength
    );
    assert_eq!(m.execute(RESULTS, &[0]).0, RetCode::InvalidPayloadLength);
    let mut s = *m.status();
    s.media_status = MediaStatus::Disabled;
    m.set_status(s);
    assert_eq!(m.execute(SCAN, &scan(0, 1)).0, RetCode::MediaDisabled);
    assert!(!m.background().is_running());
}

#[test]
fn a_new_scan_discards_the_last_results() {
    let (mut m, clock) = test_memdev_with_clock();
    m.add_media_error(0x1000, 64, PoisonSource::Internal)
        .unwrap();
    assert_eq!(scan_done(&mut m, &clock, 0, 0x100), RetCode::Success);
    assert_eq!(scan_done(&mut m, &clock, 0x2000, 1), RetCode::Success);
    let (_, out) = m.execute(RESULTS, &[]);
    assert!(records(&out).is_empty());
    m.cold_reset();
    assert_eq!(m.execute(RESULTS, &[]).0, RetCode::InvalidInput);
}

#[test]
fn payloads_round_trip() {
    let s = ScanMediaIn {
        range: range(0x40, 7),
        flags: 1,
    };
    assert_eq!(ScanMediaIn::decode(Input::new(&s.encode())), Ok(s));
    let r = range(0x80, 9);
    assert_eq!(ScanRangeIn::decode(Input::new(&r.encode())), Ok(r));
}

#[test]
fn errors_found_are_posted_as_general_media_records_unless_no_event_log() {
    use crate::cxl::memdev::events::{EventLogType, GENERAL_MEDIA_EVENT_UUID};
    let (mut m, clock) = test_memdev_with_clock();
    m.add_media_error(0x1000, 64, PoisonSource::Internal)
        .unwrap();
    m.add_media_error(0x8000, 128, PoisonSource::External)
        .unwrap();
    // No Event Log set: nothing posted.
    assert_eq!(scan_done(&mut m, &clock, 0, 0x400), RetCode::Success);
    assert!(m
        .read_event_records(EventLogType::Failure, 8)
        .records
        .is_empty());
    // Clear: one record per error, at its DPA, Host Scan Media.
    let input = ScanMediaIn {
        range: range(0, 0x400),
        flags: 0,
    }
    .encode();
    assert_eq!(m.execute(SCAN, &input).0, RetCode::BackgroundCommandStarted);
    assert!(m
        .read_event_records(EventLogType::Failure, 8)
        .records
        .is_empty());
    clock.advance(MS);
    m.complete_background().unwrap();
    let page = m.read_event_records(EventLogType::Failure, 8);
    assert_eq!(page.records.len(), 2);
    for (r, dpa) in page.records.iter().zip([0x1000u64, 0x8000]) {
        let b = r.as_bytes();
        assert_eq!(&b[..16], GENERAL_MEDIA_EVENT_UUID.as_bytes());
        assert_eq!(
            u64::from_le_bytes(b[0x30..0x38].try_into().unwrap()) & !0x3F,
            dpa
        );
        assert_eq!(b[0x38] & 1, 1, "uncorrectable");
        assert_eq!(b[0x3A], 0x03, "Host Scan Media");
    }
}
