//! The operator event stream's ring: the last records an operator cares
//! about (DC offers, accepts and releases, injections, faults, the VM's
//! state), each one JSON line with its trace sequence number, kept for
//! `GET /api/v1/events?since=SEQ` to replay and follow.
//!
//! The VMM's trace sink pushes lines in sequence order from whatever
//! thread made them (a vCPU, the VMM loop, the API thread): [`EventRing::push`]
//! only takes a mutex held for a copy, never waits on a reader. Readers
//! copy lines out under the same mutex and wait for more on a
//! [`Notify`], so a slow reader costs nothing but its own place in the
//! ring: once the ring has moved past it, it has missed records.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

/// How many records the ring keeps by default.
pub const DEFAULT_RING_RECORDS: usize = 4096;

/// One record in the ring: its sequence number and its JSON line (no
/// newline).
pub type Line = (u64, Arc<str>);

/// What a reader gets from [`EventRing::read_after`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    /// Records after the cursor, oldest first (at most the number asked).
    pub lines: Vec<Line>,
    /// Set when records after the cursor have already left the ring: the
    /// sequence number of the last record lost.
    pub missed_through: Option<u64>,
}

#[derive(Default)]
struct Inner {
    lines: VecDeque<Line>,
    /// The sequence number of the newest record pushed (0: none yet).
    last: u64,
    /// The sequence number of the newest record evicted (0: none).
    evicted: u64,
}

/// A bounded ring of operator records.
pub struct EventRing {
    capacity: usize,
    inner: Mutex<Inner>,
    /// Woken (all waiters) on every push.
    pushed: Notify,
}

impl EventRing {
    /// A ring that keeps the last `capacity` records (at least one).
    pub fn new(capacity: usize) -> Self {
        EventRing {
            capacity: capacity.max(1),
            inner: Mutex::new(Inner::default()),
            pushed: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Nothing panics while holding it; a poisoned lock is still sound.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds record `seq` (JSON, no newline). Sequence numbers must grow; a
    /// record not newer than the last one is dropped.
    pub fn push(&self, seq: u64, line: &str) {
        {
            let mut r = self.lock();
            if seq <= r.last {
                return;
            }
            if r.lines.len() >= self.capacity {
                if let Some((old, _)) = r.lines.pop_front() {
                    r.evicted = old;
                }
            }
            r.lines.push_back((seq, Arc::from(line)));
            r.last = seq;
        }
        self.pushed.notify_waiters();
    }

    /// The sequence number of the newest record pushed (0 before any).
    pub fn last_seq(&self) -> u64 {
        self.lock().last
    }

    /// Up to `max` records with a sequence number above `after`.
    pub fn read_after(&self, after: u64, max: usize) -> Read {
        let r = self.lock();
        let missed_through = (after < r.evicted).then_some(r.evicted);
        let start = r.lines.partition_point(|(s, _)| *s <= after);
        let lines = r.lines.iter().skip(start).take(max).cloned().collect();
        Read {
            lines,
            missed_through,
        }
    }

    /// Waits for the next push after the caller last looked: create the
    /// future, then read, then await it, so no push in between is lost.
    pub fn pushed(&self) -> tokio::sync::futures::Notified<'_> {
        self.pushed.notified()
    }
}

impl Default for EventRing {
    fn default() -> Self {
        EventRing::new(DEFAULT_RING_RECORDS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seqs(r: &Read) -> Vec<u64> {
        r.lines.iter().map(|(s, _)| *s).collect()
    }

    #[test]
    fn reads_resume_after_a_sequence_number() {
        let ring = EventRing::new(8);
        for s in [3, 5, 9] {
            ring.push(s, &format!("{{\"seq\":{s}}}"));
        }
        assert_eq!(seqs(&ring.read_after(0, 100)), [3, 5, 9]);
        assert_eq!(seqs(&ring.read_after(3, 100)), [5, 9]);
        assert_eq!(seqs(&ring.read_after(4, 100)), [5, 9]);
        assert_eq!(seqs(&ring.read_after(9, 100)), Vec::<u64>::new());
        assert_eq!(seqs(&ring.read_after(0, 2)), [3, 5]);
        assert_eq!(&*ring.read_after(3, 1).lines[0].1, "{\"seq\":5}");
        assert_eq!(ring.read_after(0, 100).missed_through, None);
        assert_eq!(ring.last_seq(), 9);
    }

    #[test]
    fn a_reader_behind_the_ring_is_told_what_it_missed() {
        let ring = EventRing::new(3);
        for s in 1..=5 {
            ring.push(s, "{}");
        }
        let r = ring.read_after(0, 100);
        assert_eq!(seqs(&r), [3, 4, 5]);
        assert_eq!(r.missed_through, Some(2));
        let r = ring.read_after(1, 100);
        assert_eq!(r.missed_through, Some(2));
        // Having seen 2, nothing was missed.
        assert_eq!(ring.read_after(2, 100).missed_through, None);
    }

    #[test]
    fn old_or_repeated_sequence_numbers_are_dropped() {
        let ring = EventRing::new(3);
        ring.push(4, "a");
        ring.push(4, "b");
        ring.push(2, "c");
        let r = ring.read_after(0, 10);
        assert_eq!(seqs(&r), [4]);
        assert_eq!(&*r.lines[0].1, "a");
    }

    #[test]
    fn the_ring_stays_bounded() {
        let ring = EventRing::new(16);
        for s in 1..=10_000 {
            ring.push(s, "{}");
        }
        assert_eq!(ring.read_after(0, usize::MAX).lines.len(), 16);
        assert_eq!(EventRing::new(0).capacity, 1);
    }
}
