//! The Scan Media operations of [`Memdev`] (CXL 3.1 8.2.9.9.4.4-6). The
//! state and what a scan does are `scan_media.rs`.

use std::ops::Range;

use super::background::BackgroundWork;
use super::poison::{PoisonRecord, POISON_GRANULE};
use super::scan_media::{scan_ms, ScanMedia, ScanMediaPage, OPCODE_SCAN_MEDIA};
use super::Memdev;
use crate::cxl::retcode::RetCode;

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
        if end > self.capacity_bytes() {
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

    /// Starts Scan Media over `start` and `units` 64-byte units; the last
    /// scan's results are discarded. Busy while a background operation
    /// runs; Media Disabled unless the media is ready.
    pub fn start_scan_media(&mut self, start: u64, units: u64) -> Result<(), RetCode> {
        let dpa = self.scan_range(start, units)?;
        if self.background.is_running() {
            return Err(RetCode::Busy);
        }
        self.check_media_ready()?;
        let ms = scan_ms(dpa.end - dpa.start);
        self.start_background(OPCODE_SCAN_MEDIA, ms, BackgroundWork::ScanMedia { dpa })?;
        self.scan = ScanMedia::default();
        Ok(())
    }

    /// Scan Media's work at completion: the poisoned ranges in `dpa`
    /// become the results.
    pub(super) fn finish_scan_media(&mut self, dpa: Range<u64>) -> RetCode {
        let results = self
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
        self.scan = ScanMedia {
            ran: true,
            results,
            returned: 0,
        };
        RetCode::Success
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
