//! Media and Poison Management: the poison list and the Get Poison List,
//! Inject Poison and Clear Poison commands (CXL 3.1 8.2.9.9.4.1-3).
//!
//! The poison list holds non-overlapping, 64-byte aligned DPA ranges with
//! the source of the poison, up to the Poison List Maximum Media Error
//! Records; a range that does not fit sets the overflow state. Get Poison
//! List returns the ranges overlapping the queried DPA range, clipped to it;
//! when they do not fit one payload it sets More Media Error Records and the
//! next identical query continues where the last one stopped.

use std::collections::BTreeMap;

use super::payload::{Input, Output};
use super::{RetCode, PAYLOAD_SIZE};
use crate::cxl::device_regs::memdev_status::MediaStatus;
use crate::cxl::memdev::Memdev;

/// Poison granule: one cacheline.
pub const POISON_GRANULE: u64 = 64;
/// Size of the Get Poison List output header (records follow it).
pub const POISON_LIST_HEADER_SIZE: usize = 0x20;
/// Size of one Media Error Record.
pub const MEDIA_ERROR_RECORD_SIZE: usize = 0x10;
/// Most Media Error Records one Get Poison List output carries.
pub const MAX_RECORDS_PER_GET: usize =
    (PAYLOAD_SIZE - POISON_LIST_HEADER_SIZE) / MEDIA_ERROR_RECORD_SIZE;

// CXL 3.1 8.2.9.9.4.1 Get Poison List (Poison List Flags)
/// More Media Error Records.
pub const POISON_FLAG_MORE_MEDIA_ERROR_RECORDS: u8 = 1 << 0;
/// Poison List Overflow.
pub const POISON_FLAG_POISON_LIST_OVERFLOW: u8 = 1 << 1;
/// Scan Media in Progress.
pub const POISON_FLAG_SCAN_MEDIA_IN_PROGRESS: u8 = 1 << 2;

// CXL 3.1 8.2.9.9.4.1 Get Poison List (Media Error Record, Error Source)
/// Where poison came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum PoisonSource {
    /// Unknown.
    Unknown = 0,
    /// External: received poison from the host.
    External = 1,
    /// Internal: the device detected the error.
    Internal = 2,
    /// Injected by Inject Poison.
    Injected = 3,
    /// Vendor specific.
    Vendor = 7,
}

/// A poisoned DPA range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoisonRecord {
    /// Start DPA (64-byte aligned).
    pub dpa: u64,
    /// Length in bytes (multiple of 64).
    pub length: u64,
    /// Source.
    pub source: PoisonSource,
}

/// Why [`PoisonList::add`] refused a range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoisonAddError {
    /// Unaligned, empty, wrapping or too long (over 2^32 granules).
    InvalidRange,
    /// Overlaps a range already in the list.
    Overlaps,
    /// The list is full; the overflow state is now set.
    Overflow,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cursor {
    start: u64,
    length: u64,
    next: usize,
}

/// The device's poison list.
#[derive(Clone, Debug)]
pub struct PoisonList {
    /// Start DPA -> (length in bytes, source).
    entries: BTreeMap<u64, (u64, PoisonSource)>,
    max_records: u32,
    overflow_timestamp: Option<u64>,
    cursor: Option<Cursor>,
}

impl PoisonList {
    /// An empty list holding at most `max_records` ranges.
    pub fn new(max_records: u32) -> Self {
        Self {
            entries: BTreeMap::new(),
            max_records,
            overflow_timestamp: None,
            cursor: None,
        }
    }

    /// Number of ranges in the list.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if nothing is poisoned.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The ranges, in DPA order.
    pub fn records(&self) -> impl Iterator<Item = PoisonRecord> + '_ {
        self.entries
            .iter()
            .map(|(&dpa, &(length, source))| PoisonRecord {
                dpa,
                length,
                source,
            })
    }

    /// Time of the first overflow, if the list has overflowed.
    pub fn overflow_timestamp(&self) -> Option<u64> {
        self.overflow_timestamp
    }

    /// Ends the overflow state.
    pub fn reset_overflow(&mut self) {
        self.overflow_timestamp = None;
    }

    fn containing(&self, dpa: u64) -> Option<(u64, u64, PoisonSource)> {
        let (&start, &(len, source)) = self.entries.range(..=dpa).next_back()?;
        (dpa - start < len).then_some((start, len, source))
    }

    /// True if the cacheline at `dpa` is poisoned.
    pub fn is_poisoned(&self, dpa: u64) -> bool {
        self.containing(dpa).is_some()
    }

    fn full(&self) -> bool {
        self.entries.len() >= self.max_records as usize
    }

    fn note_overflow(&mut self, now: u64) {
        self.overflow_timestamp.get_or_insert(now);
    }

    /// Adds the range `dpa..dpa+length` from `source` at device time `now`.
    pub fn add(
        &mut self,
        dpa: u64,
        length: u64,
        source: PoisonSource,
        now: u64,
    ) -> Result<(), PoisonAddError> {
        let aligned = dpa.is_multiple_of(POISON_GRANULE) && length.is_multiple_of(POISON_GRANULE);
        let Some(end) = dpa.checked_add(length) else {
            return Err(PoisonAddError::InvalidRange);
        };
        if !aligned || length == 0 || length / POISON_GRANULE > u64::from(u32::MAX) {
            return Err(PoisonAddError::InvalidRange);
        }
        let overlaps = self
            .entries
            .range(..end)
            .next_back()
            .is_some_and(|(&s, &(l, _))| s.saturating_add(l) > dpa);
        if overlaps {
            return Err(PoisonAddError::Overlaps);
        }
        if self.full() {
            self.note_overflow(now);
            return Err(PoisonAddError::Overflow);
        }
        self.entries.insert(dpa, (length, source));
        self.cursor = None;
        Ok(())
    }

    /// Removes the cacheline at `dpa` (64-byte aligned) from the list,
    /// splitting the range holding it. True if it was poisoned.
    pub fn clear_cacheline(&mut self, dpa: u64, now: u64) -> bool {
        let Some((start, len, source)) = self.containing(dpa) else {
            return false;
        };
        self.entries.remove(&start);
        self.cursor = None;
        if dpa > start {
            self.entries.insert(start, (dpa - start, source));
        }
        let line_end = dpa.saturating_add(POISON_GRANULE);
        let end = start.saturating_add(len);
        if line_end < end {
            if self.full() {
                self.note_overflow(now);
            } else {
                self.entries.insert(line_end, (end - line_end, source));
            }
        }
        true
    }

    /// Number of ranges from Inject Poison.
    pub fn injected_count(&self) -> usize {
        self.entries
            .values()
            .filter(|(_, s)| *s == PoisonSource::Injected)
            .count()
    }

    /// The ranges overlapping `start..start+length`, clipped to it, at most
    /// `max` of them: continues an identical previous query that had more.
    /// Returns the records and whether more remain.
    fn query(&mut self, start: u64, length: u64, max: usize) -> (Vec<PoisonRecord>, bool) {
        let end = start.saturating_add(length);
        let matching: Vec<PoisonRecord> = self
            .records()
            .filter_map(|r| {
                let s = r.dpa.max(start);
                let e = r.dpa.saturating_add(r.length).min(end);
                (s < e).then(|| PoisonRecord {
                    dpa: s,
                    length: e - s,
                    source: r.source,
                })
            })
            .collect();
        let first = match self.cursor {
            Some(c) if c.start == start && c.length == length => c.next,
            _ => 0,
        };
        let page: Vec<PoisonRecord> = matching.iter().skip(first).take(max).copied().collect();
        let next = first.saturating_add(page.len());
        let more = next < matching.len();
        self.cursor = more.then_some(Cursor {
            start,
            length,
            next,
        });
        (page, more)
    }
}

/// Checks a command's DPA: 64-byte aligned (Invalid Input) and its
/// cacheline inside the device (Invalid Physical Address).
fn check_dpa(memdev: &Memdev, dpa: u64) -> Result<(), RetCode> {
    if !dpa.is_multiple_of(POISON_GRANULE) {
        return Err(RetCode::InvalidInput);
    }
    match dpa.checked_add(POISON_GRANULE) {
        Some(end) if end <= memdev.capacity_bytes() => Ok(()),
        _ => Err(RetCode::InvalidPhysicalAddress),
    }
}

fn check_media(memdev: &Memdev) -> Result<(), RetCode> {
    match memdev.status().media_status {
        MediaStatus::Ready => Ok(()),
        _ => Err(RetCode::MediaDisabled),
    }
}

// CXL 3.1 8.2.9.9.4.1 Get Poison List (Opcode 4300h)
/// Get Poison List: Physical Address and Physical Address Length (64-byte
/// units) in; flags, overflow timestamp and Media Error Records out.
pub fn get_poison_list(memdev: &mut Memdev, input: Input) -> Result<Vec<u8>, RetCode> {
    input.expect_len(0x10)?;
    let start = input.u64(0).ok_or(RetCode::InvalidPayloadLength)?;
    let units = input.u64(8).ok_or(RetCode::InvalidPayloadLength)?;
    if !start.is_multiple_of(POISON_GRANULE) {
        return Err(RetCode::InvalidInput);
    }
    let length = units
        .checked_mul(POISON_GRANULE)
        .ok_or(RetCode::InvalidInput)?;
    match start.checked_add(length) {
        Some(end) if end <= memdev.capacity_bytes() => {}
        _ => return Err(RetCode::InvalidPhysicalAddress),
    }
    let (records, more) = memdev
        .poison_mut()
        .query(start, length, MAX_RECORDS_PER_GET);
    let mut o = Output::zeroed(POISON_LIST_HEADER_SIZE + records.len() * MEDIA_ERROR_RECORD_SIZE);
    let mut flags = 0;
    if more {
        flags |= POISON_FLAG_MORE_MEDIA_ERROR_RECORDS;
    }
    if let Some(ts) = memdev.poison().overflow_timestamp() {
        flags |= POISON_FLAG_POISON_LIST_OVERFLOW;
        o.put_u64(0x02, ts);
    }
    o.put_u8(0x00, flags);
    o.put_u16(0x0A, records.len() as u16);
    for (i, r) in records.iter().enumerate() {
        let at = POISON_LIST_HEADER_SIZE + i * MEDIA_ERROR_RECORD_SIZE;
        o.put_u64(at, r.dpa | r.source as u64);
        o.put_u32(at + 8, (r.length / POISON_GRANULE) as u32);
    }
    Ok(o.into_vec())
}

// CXL 3.1 8.2.9.9.4.2 Inject Poison (Opcode 4301h)
/// Inject Poison: the DPA of a cacheline in; no output. Injecting an
/// already poisoned line succeeds without change; past the Inject Poison
/// Limit it is Inject Poison Limit Reached.
pub fn inject_poison(memdev: &mut Memdev, input: Input) -> Result<Vec<u8>, RetCode> {
    input.expect_len(8)?;
    let dpa = input.u64(0).ok_or(RetCode::InvalidPayloadLength)?;
    check_dpa(memdev, dpa)?;
    check_media(memdev)?;
    if memdev.poison().is_poisoned(dpa) {
        return Ok(Vec::new());
    }
    let limit = usize::from(memdev.config().inject_poison_limit);
    if limit != 0 && memdev.poison().injected_count() >= limit {
        return Err(RetCode::InjectPoisonLimitReached);
    }
    let now = memdev.now();
    // A full list records the overflow; the injection itself still happens.
    let _ = memdev
        .poison_mut()
        .add(dpa, POISON_GRANULE, PoisonSource::Injected, now);
    Ok(Vec::new())
}

// CXL 3.1 8.2.9.9.4.3 Clear Poison (Opcode 4302h)
/// Clear Poison: a DPA and 64 bytes of Clear Poison Write Data in; no
/// output. The data is written to the media at the DPA (through the
/// device's media writer) and the line leaves the poison list.
pub fn clear_poison(memdev: &mut Memdev, input: Input) -> Result<Vec<u8>, RetCode> {
    input.expect_len(0x48)?;
    let dpa = input.u64(0).ok_or(RetCode::InvalidPayloadLength)?;
    let data = input.array::<64>(8).ok_or(RetCode::InvalidPayloadLength)?;
    check_dpa(memdev, dpa)?;
    check_media(memdev)?;
    memdev.write_media(dpa, data)?;
    let now = memdev.now();
    memdev.poison_mut().clear_cacheline(dpa, now);
    Ok(Vec::new())
}

#[cfg(test)]
#[path = "poison_tests.rs"]
mod tests;
