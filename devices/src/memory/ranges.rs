//! Where backends are mapped in the VMM's address space, readable from a
//! signal handler: a fixed table of atomics, no locks, no allocation. The
//! SIGBUS handler asks it whether a faulting address is guest memory.

use std::sync::atomic::{AtomicU64, Ordering};

/// Slots in the table; a backend that finds it full is simply not listed
/// (a fault in it is then reported as an unknown SIGBUS).
const SLOTS: usize = 4096;

struct Slot {
    start: AtomicU64,
    len: AtomicU64,
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Slot = Slot {
    start: AtomicU64::new(0),
    len: AtomicU64::new(0),
};

static TABLE: [Slot; SLOTS] = [EMPTY; SLOTS];

/// A listed range; unlisted when dropped.
#[derive(Debug)]
pub struct Listed(Option<usize>);

/// Lists `start..start+len` as guest memory.
pub fn list(start: u64, len: u64) -> Listed {
    if start == 0 || len == 0 {
        return Listed(None);
    }
    for (i, s) in TABLE.iter().enumerate() {
        if s.start
            .compare_exchange(0, start, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            s.len.store(len, Ordering::SeqCst);
            return Listed(Some(i));
        }
    }
    Listed(None)
}

impl Drop for Listed {
    fn drop(&mut self) {
        if let Some(s) = self.0.and_then(|i| TABLE.get(i)) {
            s.len.store(0, Ordering::SeqCst);
            s.start.store(0, Ordering::SeqCst);
        }
    }
}

/// The listed range holding `addr`: its start and length. Async-signal-safe.
pub fn find(addr: u64) -> Option<(u64, u64)> {
    TABLE.iter().find_map(|s| {
        let start = s.start.load(Ordering::SeqCst);
        let len = s.len.load(Ordering::SeqCst);
        (start != 0 && addr >= start && addr - start < len).then_some((start, len))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_while_alive() {
        let a = list(0x7000_0000_0000, 0x1000);
        assert_eq!(find(0x7000_0000_0fff), Some((0x7000_0000_0000, 0x1000)));
        assert_eq!(find(0x7000_0000_1000), None);
        drop(a);
        assert_eq!(find(0x7000_0000_0000), None);
        assert!(list(0, 5).0.is_none());
    }
}
