//! The Scan Media operations of [`Memdev`] (CXL 3.1 8.2.9.9.4.4-6). The
//! state and what a scan does are `scan_media.rs`.

use std::ops::Range;

use super::background::BackgroundWork;
use super::events::{EventHeader, EventLogType, EventRecord, EventSeverity, GeneralMediaEvent};
use super::poison::{PoisonRecord, POISON_GRANULE};
use super::scan_media::{scan_ms, ScanMedia, ScanMediaPage, OPCODE_SCAN_MEDIA};
use super::Memdev;
use crate::cxl::retcode::RetCode;

// CXL 3.1 8.2.9.2.1.1 General Media Event Record (field values)
/// Memory Event Descriptor: Uncorrectable Event.
const GM_DESCRIPTOR_UNCORRECTABLE: u8 = 1 << 0;
/// Memory Event Type: Media ECC Error.
const GM_TYPE_MEDIA_ECC_ERROR: u8 = 0x00;
/// Transaction Type: Host Scan Media.
const GM_TRANSACTION_HOST_SCAN_MEDIA: u8 = 0x03;

/// The General Media Event Record of an error Scan Media found at `dpa`.
fn scan_media_event(dpa: u64, volatile: bool) -> EventRecord {
    EventRecord::general_media(&GeneralMediaEvent {
        header: EventHeader {
            severity: EventSeverity::Failure,
            ..EventHeader::default()
        },
        physical_address: dpa,
        volatile,
        memory_event_descriptor: GM_DESCRIPTOR_UNCORRECTABLE,
        memory_event_type: GM_TYPE_MEDIA_ECC_ERROR,
        transaction_type: GM_TRANSACTION_HOST_SCAN_MEDIA,
        ..GeneralMediaEvent::default()
    })
}

impl Memdev {
    /// Checks a scan's range: `start` 64-byte aligned (Invalid Input), and
    /// `start..start + units * 64` inside the static capacity (Invalid
    /// Physical Address). The range in bytes.
    fn scan_range(&self, start: u64, units: u64) -> Result<Range<u64>, RetCode> {
        if !start.is_multiple_of(POISON_GRANULE) {
            return Err(RetCode::InvalidInput);
        }
        let end = units
            .checked_mul(POISON_GRANULE)
            .and_then(|len| start.checked_add(len))
            .ok_or(RetCode::InvalidPhysicalAddress)?;
        if !self.is_media_range(start, end) {
            return Err(RetCode::InvalidPhysicalAddress);
        }
        Ok(start..end)
    }

    /// Estimated Scan Media Time of `start` and `units` 64-byte units, in
    /// ms (Get Scan Media Capabilities).
    pub fn scan_media_estimate(&self, start: u64, units: u64) -> Result<u32, RetCode> {
        let r = self.scan_range(start, units)?;
        Ok(scan_ms(r.end - r.start) as u32)
    }

    /// Starts Scan Media over `start` and `units` 64-byte units, posting
    /// a General Media Event Record per error found if `event_log`; the
    /// last scan's results are discarded. Busy while a background operation
    /// runs; Media Disabled unless the media is ready.
    pub fn start_scan_media(
        &mut self,
        start: u64,
        units: u64,
        event_log: bool,
    ) -> Result<(), RetCode> {
        let dpa = self.scan_range(start, units)?;
        if self.background.is_running() {
            return Err(RetCode::Busy);
        }
        self.check_media_ready()?;
        let ms = scan_ms(dpa.end - dpa.start);
        self.start_background(
            OPCODE_SCAN_MEDIA,
            ms,
            BackgroundWork::ScanMedia { dpa, event_log },
        )?;
        self.scan = ScanMedia::default();
        Ok(())
    }

    /// Scan Media's work at completion: the poisoned ranges in `dpa`
    /// become the results and, with `event_log`, each is posted as a
    /// General Media Event Record (uncorrectable Media ECC Error found by a
    /// Host Scan Media) to the Failure log. The event interrupt to signal,
    /// if any.
    pub(super) fn finish_scan_media(&mut self, dpa: Range<u64>, event_log: bool) -> Option<u8> {
        let results: Vec<PoisonRecord> = self
            .poison
            .records()
            .filter_map(|r| {
                let s = r.dpa.max(dpa.start);
                let e = r.dpa.saturating_add(r.length).min(dpa.end);
                (s < e).then(|| PoisonRecord {
                    dpa: s,
                    length: e - s,
                    source: r.source,
                })
            })
            .collect();
        let mut msi = None;
        if event_log {
            let volatile = self.partition.volatile_dpa_range();
            let records: Vec<EventRecord> = results
                .iter()
                .map(|r| scan_media_event(r.dpa, volatile.contains(&r.dpa)))
                .collect();
            for record in records {
                msi = msi.or(self.add_event(EventLogType::Failure, record).msi);
            }
        }
        self.scan = ScanMedia {
            ran: true,
            results,
            returned: 0,
        };
        msi
    }

    /// The next `max` results of the last scan (Get Scan Media Results);
    /// each is returned once. Busy while a scan runs; Invalid Input if no
    /// scan completed since the last reset.
    pub fn scan_media_results(&mut self, max: usize) -> Result<ScanMediaPage, RetCode> {
        let scanning = self
            .background
            .running()
            .is_some_and(|op| matches!(op.work, BackgroundWork::ScanMedia { .. }));
        if scanning {
            return Err(RetCode::Busy);
        }
        if !self.scan.ran {
            return Err(RetCode::InvalidInput);
        }
        let rest = self.scan.results.get(self.scan.returned..).unwrap_or(&[]);
        let records: Vec<PoisonRecord> = rest.iter().take(max).copied().collect();
        self.scan.returned = self.scan.returned.saturating_add(records.len());
        Ok(ScanMediaPage {
            more: self.scan.returned < self.scan.results.len(),
            records,
        })
    }

    /// True while Scan Media runs (Get Poison List's Scan Media in
    /// Progress flag).
    pub fn scan_media_in_progress(&self) -> bool {
        self.background
            .running()
            .is_some_and(|op| matches!(op.work, BackgroundWork::ScanMedia { .. }))
    }
}
