//! Withdrawing offers: the operator takes back capacity offered to the host
//! that the host has not accepted, with a forced release naming it (the
//! FM API's Initiate Dynamic Capacity Release with Forced Removal, CXL 3.1
//! 7.6.7.6.6, applied to an extent still pending).
//!
//! - The extent leaves the device at once: no record goes to the host
//!   (it never had the capacity), nothing was mapped, its backend is free.
//! - Its Add Capacity record is taken back from the Dynamic Capacity Event
//!   Log if the host has not read it yet (Get Event Records has not
//!   returned it), so an offer the host never looked at vanishes and frees
//!   its log entry. A record the host has read stays: the host may be
//!   acting on it and clears it by handle. When the chain's last record
//!   goes, the record before it becomes the last (More cleared) if the host
//!   has not read that one either; otherwise the last record stays, so the
//!   host still sees the chain end.
//! - An Add Dynamic Capacity Response naming a withdrawn extent gets
//!   Invalid Physical Address (CXL 3.1 8.2.9.9.9.3: a range the device
//!   does not have pending) and accepts nothing. The rest of a partly
//!   withdrawn chain stays pending: the host may answer again with part of
//!   it (More) or with what is left, as the spec's one-response-per-chain
//!   rule expects.
//! - An offer withdrawn whole stays in the queue only if the host has read
//!   any of its records (it owes an answer); the next response answers it:
//!   an empty list closes it (Success), a list naming its withdrawn extents
//!   closes it with Invalid Physical Address, and a list naming the next
//!   offer skips it (the host has moved on). An offer withdrawn whole
//!   before the host read any record leaves no trace.

use super::extent::{DcExtent, DcdEffect, ExtentOutcome, ExtentRange};
use super::record::{clear_more_flag, DcEvent, DcEventType};
use super::state::{ChainRecord, DcdState, LiveState};
use crate::cxl::memdev::events::{EventLogType, EventLogs, EventRecord};
use crate::cxl::retcode::RetCode;

const LOG: EventLogType = EventLogType::DynamicCapacity;

/// Whether `record` is still the Add Capacity record `posted` (a handle is
/// only unique among the records a log holds).
fn unseen_offer_record(record: &EventRecord, posted: &ChainRecord) -> bool {
    DcEvent::from_record(record)
        .is_some_and(|e| e.event_type == DcEventType::AddCapacity && e.extent == posted.range)
}

/// Whether the log still holds `posted`, unread by the host.
fn unseen_offer(events: &EventLogs, posted: &ChainRecord) -> bool {
    let log = events.log(LOG);
    log.is_unseen(posted.handle) == Some(true)
        && log
            .get(posted.handle)
            .is_some_and(|r| unseen_offer_record(r, posted))
}

impl DcdState {
    /// Withdraws the offered extent at `dpa`: it leaves the device, nothing
    /// was mapped and its backend is free. `None` if no offered extent
    /// starts there. The freed backend is reported in `fx`.
    pub(crate) fn withdraw(&mut self, dpa: u64, fx: &mut Vec<DcdEffect>) -> Option<DcExtent> {
        let LiveState::Offered { chain } = self.extents.get(&dpa)?.state else {
            return None;
        };
        let live = self.remove(dpa)?;
        if let Some(c) = self.chains.iter_mut().find(|c| c.id == chain) {
            c.remaining.remove(&dpa);
            c.withdrawn.push(ExtentRange::new(dpa, live.len));
        }
        let extent = self.to_extent(dpa, &live);
        self.remember(&extent, ExtentOutcome::Withdrawn);
        fx.push(DcdEffect::Declined {
            extent: extent.clone(),
        });
        Some(extent)
    }

    /// Notes the records of the newest offer as posted to the log.
    pub(crate) fn note_offer_records(&mut self, records: Vec<ChainRecord>) {
        if let Some(c) = self.chains.back_mut() {
            c.records = records;
        }
    }

    /// Takes back from `events` the Add Capacity records of withdrawn
    /// extents that the host has not read, and forgets offers withdrawn
    /// whole that the host never saw.
    pub(crate) fn retract_withdrawn(&mut self, events: &mut EventLogs) {
        for chain in self.chains.iter_mut() {
            if chain.withdrawn.is_empty() || chain.records.is_empty() {
                continue;
            }
            let removable: Vec<bool> = chain
                .records
                .iter()
                .map(|r| chain.withdrawn.contains(&r.range) && unseen_offer(events, r))
                .collect();
            let last = chain.records.len() - 1;
            let mut keep_last = false;
            if removable.get(last).copied().unwrap_or(false) {
                let new_last = (0..last).rev().find(|i| !removable[*i]);
                if let Some(prev) = new_last.and_then(|i| chain.records.get(i)) {
                    match events.unseen_mut(LOG, prev.handle) {
                        Some(record) if unseen_offer_record(record, prev) => {
                            clear_more_flag(record)
                        }
                        // The host read it with More set: keep the end.
                        _ => keep_last = true,
                    }
                }
            }
            let mut kept = Vec::with_capacity(chain.records.len());
            for (i, r) in chain.records.iter().enumerate() {
                let take = removable[i] && !(i == last && keep_last);
                if !(take && events.retract_unseen(LOG, r.handle)) {
                    kept.push(*r);
                }
            }
            chain.records = kept;
        }
        // Withdrawn whole and never seen: no answer will come.
        self.chains
            .retain(|c| !(c.withdrawn_whole() && c.records.is_empty()));
    }

    /// An Add Dynamic Capacity Response while the oldest offer was
    /// withdrawn whole: `Some` answer if the response was for it, `None`
    /// to match the response against the (new) oldest offer.
    pub(crate) fn answer_withdrawn(
        &mut self,
        list: &[ExtentRange],
        more: bool,
    ) -> Option<Result<(), RetCode>> {
        let front = self.chains.front()?;
        if !front.withdrawn_whole() {
            return None;
        }
        if list.is_empty() {
            if !more {
                self.chains.pop_front();
            }
            return Some(Ok(()));
        }
        if list.iter().all(|r| front.names_withdrawn(*r)) {
            // Its one answer came; nothing of it can be accepted.
            self.chains.pop_front();
            return Some(Err(RetCode::InvalidPhysicalAddress));
        }
        // A response naming a later offer: skip the withdrawn ones before
        // it (if that offer is next in line after them).
        let target = list.first().and_then(|r| match self.containing(r.dpa) {
            Some((_, l)) => match l.state {
                LiveState::Offered { chain } => Some(chain),
                _ => None,
            },
            None => None,
        })?;
        let next = self.chains.iter().find(|c| !c.withdrawn_whole())?;
        if next.id == target {
            while self.chains.front().is_some_and(|c| c.withdrawn_whole()) {
                self.chains.pop_front();
            }
        }
        None
    }
}
