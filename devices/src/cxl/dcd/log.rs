//! The Dynamic Capacity Event Log as the DC operations use it: how much
//! room it has and posting a chain of records to it.

use super::record::DcEvent;
use super::state::ChainRecord;
use crate::cxl::memdev::events::{EventLogType, EventLogs};
use crate::cxl::memdev::trace::event_posted;

/// Free entries in the Dynamic Capacity Event Log.
pub(crate) fn log_free(events: &EventLogs) -> usize {
    let log = events.log(EventLogType::DynamicCapacity);
    usize::from(log.depth()).saturating_sub(log.len())
}

/// Adds `records` to the Dynamic Capacity Event Log of device `dev` (room
/// was checked; each is traced); the message number to signal, if any,
/// and each record as posted.
pub(crate) fn post(
    dev: &str,
    events: &mut EventLogs,
    now: u64,
    records: &[DcEvent],
) -> (Option<u8>, Vec<ChainRecord>) {
    let mut msi = None;
    let mut posted = Vec::with_capacity(records.len());
    for r in records {
        let record = r.to_record();
        let added = events.add(EventLogType::DynamicCapacity, record, now);
        event_posted(dev, EventLogType::DynamicCapacity, &record, &added);
        match added.handle {
            Some(handle) => posted.push(ChainRecord {
                range: r.extent,
                handle,
            }),
            None => {
                crate::error_limited!(
                    "cxl dcd: dynamic capacity event log overflowed despite the room check"
                );
            }
        }
        msi = msi.or(added.msi);
    }
    (msi, posted)
}

/// How full the Dynamic Capacity Event Log is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DcEventLogStatus {
    /// Records it holds at most.
    pub depth: u16,
    /// Records in it (the host has not cleared them).
    pub used: usize,
    /// Of those, how many the host has read (Get Event Records).
    pub read: usize,
}

impl DcEventLogStatus {
    /// The status of the Dynamic Capacity Event Log in `events`.
    pub fn of(events: &EventLogs) -> Self {
        let log = events.log(EventLogType::DynamicCapacity);
        Self {
            depth: log.depth(),
            used: log.len(),
            read: log.seen(),
        }
    }

    /// True if no record fits: every add is refused until the host clears
    /// records (or the operator withdraws offers it has not read).
    pub fn full(&self) -> bool {
        self.used >= usize::from(self.depth)
    }
}
