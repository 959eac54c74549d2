//! Background operations (CXL 3.1 8.2.8.4.7 Background Command Status
//! Register, 8.2.9.1.2 Background Operation Status).
//!
//! A command that runs in the background answers Background Command
//! Started at once and leaves a [`BackgroundOp`] here: its opcode, when it
//! started, how long it takes and what it does when it completes
//! ([`BackgroundWork`]). Only one runs at a time: another background
//! command is answered Busy.
//!
//! Progress is a function of elapsed time on the device's monotonic clock:
//! nothing sleeps and no thread is spawned. The percentage complete is
//! computed when it is read; the operation completes (its work is done,
//! its return code recorded) when the device model polls
//! ([`super::Memdev::complete_background`]) at or after its deadline: on
//! every register access, and from the VMM's timer armed at the deadline
//! for a guest that waits for the completion interrupt instead of polling.

use std::ops::Range;

use super::effects::Effects;
use crate::cxl::retcode::RetCode;

/// What a background operation does when it completes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BackgroundWork {
    /// Sanitize or Secure Erase: erase these DPA ranges (they read zeros
    /// afterwards), clear the poison list, and make the media ready again.
    Erase {
        /// The DPA ranges to erase.
        ranges: Vec<Range<u64>>,
    },
    /// Transfer FW's last part: the image received goes into `slot`.
    StoreFirmware {
        /// The FW slot (1-based).
        slot: u8,
    },
    /// Scan Media over `dpa`: the poisoned ranges there become the scan
    /// results.
    ScanMedia {
        /// The scanned DPA range.
        dpa: Range<u64>,
        /// Post a General Media Event Record per error found (No Event
        /// Log clear).
        event_log: bool,
    },
    /// A command held as a background operation (fault injection): its
    /// result, carried out at completion.
    Held {
        /// The command's return code.
        rc: RetCode,
        /// What the command caused.
        effects: Effects,
    },
}

/// A background operation in progress.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackgroundOp {
    /// The command's opcode.
    pub opcode: u16,
    /// Monotonic time it started, in ns.
    pub started_ns: u64,
    /// How long it takes, in ns.
    pub duration_ns: u64,
    /// What it does at completion.
    pub work: BackgroundWork,
}

impl BackgroundOp {
    /// Monotonic time at which it completes, in ns.
    pub fn deadline_ns(&self) -> u64 {
        self.started_ns.saturating_add(self.duration_ns)
    }

    /// Percentage complete at monotonic time `now_ns`: 0-99 while it runs
    /// (100 is reported only once it completed).
    pub fn percent_at(&self, now_ns: u64) -> u8 {
        if self.duration_ns == 0 {
            return 99;
        }
        let elapsed = u128::from(now_ns.saturating_sub(self.started_ns));
        let pct = elapsed * 100 / u128::from(self.duration_ns);
        pct.min(99) as u8
    }
}

// CXL 3.1 8.2.8.4.7 Background Command Status Register (fields)
/// What the Background Command Status Register shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BackgroundStatus {
    /// Command Opcode of the last background command (0 if none ran).
    pub opcode: u16,
    /// Percentage Complete (0-100).
    pub percent: u8,
    /// Return Code (valid when Percentage Complete is 100, or once
    /// Background Operation in the Mailbox Status Register is clear).
    pub return_code: u16,
    /// Vendor Specific Extended Status.
    pub vendor_status: u16,
}

/// A background operation that completed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackgroundDone {
    /// The command's opcode.
    pub opcode: u16,
    /// Its final return code.
    pub rc: RetCode,
    /// What it caused that the device model must carry out.
    pub effects: Effects,
    /// The event interrupt (MSI/MSI-X message number) records it posted
    /// ask for, if any.
    pub event_msi: Option<u8>,
}

/// The device's background operation: the one running, or the result of
/// the last one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Background {
    running: Option<BackgroundOp>,
    /// (opcode, return code, percentage complete) of the last operation
    /// that ended: 100 if it completed, less if it was aborted.
    last: Option<(u16, RetCode, u8)>,
    /// A command to hold as a background operation: (opcode, ms).
    hold: Option<(u16, u64)>,
}

impl Background {
    /// The operation running, if any.
    pub fn running(&self) -> Option<&BackgroundOp> {
        self.running.as_ref()
    }

    /// True while an operation runs.
    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// The register view at monotonic time `now_ns`.
    pub fn status_at(&self, now_ns: u64) -> BackgroundStatus {
        match (&self.running, self.last) {
            (Some(op), _) => BackgroundStatus {
                opcode: op.opcode,
                percent: op.percent_at(now_ns),
                return_code: 0,
                vendor_status: 0,
            },
            (None, Some((opcode, rc, percent))) => BackgroundStatus {
                opcode,
                percent,
                return_code: rc.code(),
                vendor_status: 0,
            },
            (None, None) => BackgroundStatus::default(),
        }
    }

    /// Starts `op`; Busy if one runs.
    pub fn start(&mut self, op: BackgroundOp) -> Result<(), RetCode> {
        if self.running.is_some() {
            return Err(RetCode::Busy);
        }
        self.running = Some(op);
        Ok(())
    }

    /// Sets the running operation's duration (a held command).
    pub fn set_duration(&mut self, duration_ns: u64) {
        if let Some(op) = &mut self.running {
            op.duration_ns = duration_ns;
        }
    }

    /// Takes the running operation out if its deadline passed at
    /// `now_ns`.
    pub fn take_due(&mut self, now_ns: u64) -> Option<BackgroundOp> {
        match &self.running {
            Some(op) if now_ns >= op.deadline_ns() => self.running.take(),
            _ => None,
        }
    }

    /// Aborts the running operation at monotonic time `now_ns` (CXL 3.1
    /// 8.2.9.1.5): it ends with Aborted and the percentage it had reached
    /// (below 100), its work undone. Returns it, if one ran.
    pub fn abort(&mut self, now_ns: u64) -> Option<BackgroundOp> {
        let op = self.running.take()?;
        self.last = Some((op.opcode, RetCode::Aborted, op.percent_at(now_ns)));
        Some(op)
    }

    /// Records the result of the operation that completed.
    pub fn finish(&mut self, opcode: u16, rc: RetCode) {
        self.last = Some((opcode, rc, 100));
    }

    /// Holds the next command with `opcode` as a background operation for
    /// `ms` milliseconds (replacing any hold not used yet).
    pub fn hold(&mut self, opcode: u16, ms: u64) {
        self.hold = Some((opcode, ms));
    }

    /// The hold not used yet, if any: (opcode, ms).
    pub fn pending_hold(&self) -> Option<(u16, u64)> {
        self.hold
    }

    /// Drops the hold not used yet.
    pub fn clear_hold(&mut self) {
        self.hold = None;
    }

    /// Uses the hold if it names `opcode`: its duration in ms.
    pub fn take_hold(&mut self, opcode: u16) -> Option<u64> {
        match self.hold {
            Some((o, ms)) if o == opcode => {
                self.hold = None;
                Some(ms)
            }
            _ => None,
        }
    }

    /// Cold reset: a running operation is lost, and with it its result.
    pub fn cold_reset(&mut self) {
        self.running = None;
        self.last = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(started: u64, duration: u64) -> BackgroundOp {
        BackgroundOp {
            opcode: 0x4400,
            started_ns: started,
            duration_ns: duration,
            work: BackgroundWork::Erase { ranges: Vec::new() },
        }
    }

    #[test]
    fn percentage_follows_elapsed_time_and_stops_at_99() {
        let o = op(1000, 1000);
        assert_eq!(o.percent_at(0), 0);
        assert_eq!(o.percent_at(1000), 0);
        assert_eq!(o.percent_at(1500), 50);
        assert_eq!(o.percent_at(1999), 99);
        assert_eq!(o.percent_at(5000), 99);
        assert_eq!(op(0, 0).percent_at(0), 99);
        assert_eq!(op(0, u64::MAX).percent_at(u64::MAX), 99);
    }

    #[test]
    fn one_at_a_time_then_the_result_shows() {
        let mut b = Background::default();
        assert_eq!(b.status_at(0), BackgroundStatus::default());
        b.start(op(0, 100)).unwrap();
        assert_eq!(b.start(op(0, 100)), Err(RetCode::Busy));
        assert_eq!(b.status_at(50).percent, 50);
        assert_eq!(b.status_at(50).opcode, 0x4400);
        assert!(b.take_due(99).is_none());
        let done = b.take_due(100).unwrap();
        b.finish(done.opcode, RetCode::Success);
        assert!(!b.is_running());
        let s = b.status_at(100);
        assert_eq!((s.opcode, s.percent, s.return_code), (0x4400, 100, 0));
        b.start(op(200, 10)).unwrap();
        b.take_due(210).unwrap();
        b.finish(0x4400, RetCode::MediaDisabled);
        assert_eq!(b.status_at(300).return_code, 7);
        b.cold_reset();
        assert_eq!(b.status_at(300), BackgroundStatus::default());
    }

    #[test]
    fn an_abort_ends_the_operation_short_of_100_with_aborted() {
        let mut b = Background::default();
        assert_eq!(b.abort(0), None, "nothing to abort");
        assert_eq!(b.status_at(0), BackgroundStatus::default());
        b.start(op(0, 100)).unwrap();
        assert_eq!(b.abort(40).map(|o| o.opcode), Some(0x4400));
        assert!(!b.is_running());
        let s = b.status_at(90);
        assert_eq!((s.opcode, s.percent), (0x4400, 40));
        assert_eq!(s.return_code, RetCode::Aborted.code());
        assert!(
            b.take_due(1000).is_none(),
            "an aborted operation never completes"
        );
        b.start(op(200, 10)).unwrap();
        assert_eq!(b.status_at(200).return_code, 0, "a new one runs");
    }

    #[test]
    fn a_hold_is_used_once_by_its_opcode() {
        let mut b = Background::default();
        b.hold(0x4200, 30);
        assert_eq!(b.take_hold(0x0001), None);
        assert_eq!(b.pending_hold(), Some((0x4200, 30)));
        assert_eq!(b.take_hold(0x4200), Some(30));
        assert_eq!(b.take_hold(0x4200), None);
        b.hold(0x4200, 30);
        b.clear_hold();
        assert_eq!(b.pending_hold(), None);
    }
}
