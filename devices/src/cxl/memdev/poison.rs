//! The poison list of Media and Poison Management (CXL 3.1
//! 8.2.9.9.4.1-3).
//!
//! The poison list holds non-overlapping, 64-byte aligned DPA ranges with
//! the source of the poison, up to the Poison List Maximum Media Error
//! Records; a range that does not fit sets the overflow state. Get Poison
//! List returns the ranges overlapping the queried DPA range, clipped to it;
//! when they do not fit one payload it sets More Media Error Records and the
//! next identical query continues where the last one stopped.

use std::collections::BTreeMap;

/// Poison granule: one cacheline.
pub const POISON_GRANULE: u64 = 64;

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

/// One page of a poison list query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoisonListPage {
    /// The ranges, clipped to the query, in DPA order.
    pub records: Vec<PoisonRecord>,
    /// More ranges remain: the same query continues after these.
    pub more: bool,
    /// Time of the first overflow, if the list has overflowed.
    pub overflow_timestamp: Option<u64>,
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

    /// Empties the list (the media was erased); the overflow state stays.
    pub fn clear_all(&mut self) {
        self.entries.clear();
        self.cursor = None;
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
    pub(crate) fn query(&mut self, start: u64, length: u64, max: usize) -> PoisonListPage {
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
        PoisonListPage {
            records: page,
            more,
            overflow_timestamp: self.overflow_timestamp,
        }
    }
}
