//! The device timestamp (CXL 3.1 8.2.9.4).
//!
//! The device keeps the host-set timestamp and the host monotonic time at
//! which it was set; the current device time is the set value advanced by
//! the monotonic time elapsed since. Until the host sets it, the timestamp
//! reads 0.

use std::time::Instant;

/// A monotonic nanosecond clock.
pub trait MonotonicClock: Send {
    /// Nanoseconds since an arbitrary fixed point; never decreases.
    fn now_ns(&self) -> u64;
}

/// The host's monotonic clock.
#[derive(Clone, Copy, Debug)]
pub struct HostMonotonicClock {
    start: Instant,
}

impl HostMonotonicClock {
    /// A clock counting from now.
    pub fn new() -> Self {
        Self {
            start: Instant::now(),
        }
    }
}

impl Default for HostMonotonicClock {
    fn default() -> Self {
        Self::new()
    }
}

impl MonotonicClock for HostMonotonicClock {
    fn now_ns(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// The device timestamp.
pub struct DeviceTimestamp {
    clock: Box<dyn MonotonicClock>,
    /// (host-set timestamp, monotonic time at the set).
    set: Option<(u64, u64)>,
}

impl DeviceTimestamp {
    /// An unset timestamp advancing with `clock`.
    pub fn new(clock: Box<dyn MonotonicClock>) -> Self {
        Self { clock, set: None }
    }

    /// Sets the timestamp to `timestamp` (ns since the epoch) as of now.
    pub fn set(&mut self, timestamp: u64) {
        self.set = Some((timestamp, self.clock.now_ns()));
    }

    /// Forgets the timestamp (reset).
    pub fn reset(&mut self) {
        self.set = None;
    }

    /// The monotonic clock's time in ns (background operations' progress).
    pub fn monotonic_ns(&self) -> u64 {
        self.clock.now_ns()
    }

    /// The current device time: 0 if never set.
    pub fn now(&self) -> u64 {
        match self.set {
            Some((host, at)) => host.wrapping_add(self.clock.now_ns().saturating_sub(at)),
            None => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_clock_is_monotonic() {
        let c = HostMonotonicClock::new();
        let a = c.now_ns();
        let b = c.now_ns();
        assert!(b >= a);
    }
}
