//! Background operations of the Type 3 device model: completing them on
//! time and carrying out what they caused.
//!
//! The device state computes progress from elapsed time, so a guest that
//! polls (Background Command Status, Background Operation Status) sees it
//! advance and, past the deadline, complete: every register access polls
//! first. A guest that waits for the Background Command Complete
//! Interrupt instead is served by the VMM's timer ([`BackgroundTimer`]), armed
//! when an operation starts and firing at its deadline, at which point
//! the VMM calls [`Type3::poll_background`].

use std::sync::Arc;
use std::time::Duration;

use super::Type3;
use crate::cxl::background_timer::BackgroundTimer;
use crate::cxl::memdev::background::{BackgroundDone, BackgroundWork};
use crate::cxl::memdev::background_ops::{OPCODE_SANITIZE, OPCODE_SECURE_ERASE};
use crate::trace::{self, json, Kind};

/// State before a doorbell (see [`Type3::before_doorbell`]).
pub(super) struct Before {
    was_running: bool,
    fw: (u8, Option<u8>),
}

impl Type3 {
    /// Gives the device the VMM's timer for background operations.
    pub fn set_background_timer(&mut self, timer: Arc<dyn BackgroundTimer>) {
        self.background_timer = Some(timer);
    }

    /// The device's name in its trace records (its `--cxl-type3` id).
    fn trace_id(&self) -> Option<&str> {
        Some(&self.memdev.config().name)
    }

    /// Completes the device's background operation if it is due: its
    /// effects are carried out (e.g. the media erased) and, if the guest
    /// enabled it, the completion interrupt signalled. Returns true if one
    /// completed.
    pub fn poll_background(&mut self) -> bool {
        let Some((msi, done)) = self.regs.poll_background(&mut self.memdev) else {
            return false;
        };
        self.apply(&done.effects);
        self.trace_completed(&done);
        self.signal(msi);
        true
    }

    /// What a doorbell may change that is traced here: whether a
    /// background operation ran, and the active and staged FW slots.
    pub(super) fn before_doorbell(&self) -> Before {
        let fw = self.memdev.firmware();
        Before {
            was_running: self.memdev.background().is_running(),
            fw: (fw.active_slot(), fw.staged_slot()),
        }
    }

    /// After a register write: arms the timer for a background operation
    /// it started, traces one it aborted and a FW activation.
    pub(super) fn after_doorbell(&self, before: Before) {
        self.background_started(before.was_running);
        // Completion happens only in `poll_background`, before the write:
        // an operation gone after a doorbell was aborted (0005h).
        if before.was_running && !self.memdev.background().is_running() {
            let s = self.memdev.background_status();
            trace::emit(Kind::Mailbox, self.trace_id(), || {
                json!({
                    "background": "aborted",
                    "opcode": s.opcode,
                    "percent": s.percent,
                })
            });
        }
        let fw = self.memdev.firmware();
        let now = (fw.active_slot(), fw.staged_slot());
        if now != before.fw {
            let rev = fw.active_revision();
            let staged = now.1.and_then(|s| fw.revision(s));
            let text = |r: &[u8]| {
                String::from_utf8_lossy(r)
                    .trim_end_matches('\0')
                    .to_string()
            };
            trace::emit(Kind::Mailbox, self.trace_id(), || {
                json!({
                    "firmware": "activated",
                    "active-slot": now.0,
                    "active-revision": text(&rev),
                    "staged-slot": now.1,
                    "staged-revision": staged.map(|r| text(&r)),
                })
            });
        }
    }

    /// Arms the timer for the running operation, if any (after a doorbell
    /// that may have started one).
    fn background_started(&self, was_running: bool) {
        let Some(op) = self.memdev.background().running() else {
            return;
        };
        if was_running {
            return;
        }
        let (deadline, now) = self
            .memdev
            .background_deadline()
            .unwrap_or((op.deadline_ns(), op.started_ns));
        let after = Duration::from_nanos(deadline.saturating_sub(now));
        trace::emit(Kind::Mailbox, self.trace_id(), || {
            json!({
                "background": "started",
                "opcode": op.opcode,
                "duration-ms": after.as_millis() as u64,
                // A command held as a background operation (fault injection).
                "held": matches!(op.work, BackgroundWork::Held { .. }),
            })
        });
        if let Some(t) = &self.background_timer {
            t.arm(after);
        }
    }

    fn trace_completed(&self, done: &BackgroundDone) {
        trace::emit(Kind::Mailbox, self.trace_id(), || {
            json!({
                "background": "completed",
                "opcode": done.opcode,
                "return-code": format!("{:?}", done.rc),
            })
        });
        let erased = matches!(done.opcode, OPCODE_SANITIZE | OPCODE_SECURE_ERASE)
            && !done.effects.media_erases.is_empty();
        if erased {
            let ranges: Vec<_> = done
                .effects
                .media_erases
                .iter()
                .map(|r| json!({"dpa": r.start, "length": r.end - r.start}))
                .collect();
            trace::emit(
                Kind::Mailbox,
                self.trace_id(),
                || json!({"media": "sanitized", "ranges": ranges}),
            );
        }
    }
}
