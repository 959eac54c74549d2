//! Timestamp command set: Get and Set Timestamp (CXL 3.1 8.2.9.4).
//!
//! The device keeps the host-set timestamp and the host monotonic time at
//! which it was set; the current device time is the set value advanced by
//! the monotonic time elapsed since. Until the host sets it, the timestamp
//! reads 0.

use std::time::Instant;

use super::payload::Input;
use super::RetCode;
use crate::cxl::memdev::Memdev;

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

    /// The current device time: 0 if never set.
    pub fn now(&self) -> u64 {
        match self.set {
            Some((host, at)) => host.wrapping_add(self.clock.now_ns().saturating_sub(at)),
            None => 0,
        }
    }
}

// CXL 3.1 8.2.9.4.1 Get Timestamp (Opcode 0300h)
/// Get Timestamp: no input; the 8-byte timestamp.
pub fn get_timestamp(memdev: &mut Memdev, input: Input) -> Result<Vec<u8>, RetCode> {
    input.expect_len(0)?;
    Ok(memdev.now().to_le_bytes().to_vec())
}

// CXL 3.1 8.2.9.4.2 Set Timestamp (Opcode 0301h)
/// Set Timestamp: an 8-byte timestamp in; no output.
pub fn set_timestamp(memdev: &mut Memdev, input: Input) -> Result<Vec<u8>, RetCode> {
    input.expect_len(8)?;
    let ts = input.u64(0).ok_or(RetCode::InvalidPayloadLength)?;
    memdev.timestamp_mut().set(ts);
    Ok(Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cxl::mailbox::Opcode;
    use crate::cxl::memdev::tests::{test_memdev, test_memdev_with_clock};

    const GET: u16 = Opcode::GetTimestamp as u16;
    const SET: u16 = Opcode::SetTimestamp as u16;

    fn get(m: &mut Memdev) -> u64 {
        let (rc, out) = m.execute(GET, &[]);
        assert_eq!(rc, RetCode::Success);
        assert_eq!(out.len(), 8);
        u64::from_le_bytes(out.try_into().unwrap())
    }

    #[test]
    fn unset_timestamp_reads_zero() {
        let (mut m, clock) = test_memdev_with_clock();
        clock.advance(1000);
        assert_eq!(get(&mut m), 0);
    }

    #[test]
    fn set_then_advance() {
        let (mut m, clock) = test_memdev_with_clock();
        clock.advance(77);
        let t0 = 1_700_000_000_000_000_000u64;
        let (rc, out) = m.execute(SET, &t0.to_le_bytes());
        assert_eq!(rc, RetCode::Success);
        assert!(out.is_empty());
        assert_eq!(get(&mut m), t0);
        clock.advance(1_234);
        assert_eq!(get(&mut m), t0 + 1_234);
        // Setting again rebases.
        m.execute(SET, &5u64.to_le_bytes());
        clock.advance(10);
        assert_eq!(get(&mut m), 15);
    }

    #[test]
    fn malformed_payloads() {
        let mut m = test_memdev();
        assert_eq!(m.execute(SET, &[0; 7]).0, RetCode::InvalidPayloadLength);
        assert_eq!(m.execute(SET, &[0; 9]).0, RetCode::InvalidPayloadLength);
        assert_eq!(m.execute(SET, &[]).0, RetCode::InvalidPayloadLength);
        assert_eq!(m.execute(GET, &[0]).0, RetCode::InvalidPayloadLength);
        assert_eq!(get(&mut m), 0);
    }

    #[test]
    fn host_clock_is_monotonic() {
        let c = HostMonotonicClock::new();
        let a = c.now_ns();
        let b = c.now_ns();
        assert!(b >= a);
    }
}
