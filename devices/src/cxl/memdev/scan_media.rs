//! Scan Media (CXL 3.1 8.2.9.9.4.4-6): the scan's state; the operations
//! of `Memdev` on it are `scan_media_ops.rs`.
//!
//! Scan Media runs in the background over a DPA range of the static
//! capacity; at completion the poisoned ranges there (the poison list,
//! clipped to the range) become its results, which Get Scan Media Results
//! hands out a page at a time, each record once. A new scan discards the
//! results of the last one. The device finds every error in one pass, so
//! a scan never stops prematurely and its restart address is 0.

use super::poison::PoisonRecord;

/// Opcode of Scan Media (CXL 3.1 8.2.9.9.4.5).
pub const OPCODE_SCAN_MEDIA: u16 = 0x4304;
/// Bytes scanned per millisecond of Scan Media (256 MiB/ms).
pub const SCAN_BYTES_PER_MS: u64 = 256 << 20;
/// Longest Scan Media, in ms.
pub const MAX_SCAN_MS: u64 = 1000;

/// The results of the last scan.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScanMedia {
    /// True once a scan completed since the last reset.
    pub(super) ran: bool,
    /// The records found, in DPA order (bounded by the poison list).
    pub(super) results: Vec<PoisonRecord>,
    /// How many of `results` were returned.
    pub(super) returned: usize,
}

/// One page of Get Scan Media Results.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScanMediaPage {
    /// The records, in DPA order.
    pub records: Vec<PoisonRecord>,
    /// More records remain for the next call.
    pub more: bool,
}

/// How long scanning `len` bytes takes, in ms (at least 1).
pub fn scan_ms(len: u64) -> u64 {
    (len / SCAN_BYTES_PER_MS).saturating_add(1).min(MAX_SCAN_MS)
}
