//! The background operations of [`Memdev`] (CXL 3.1 8.2.9.1.2
//! Background Operation Status) and the Sanitize commands that run in the
//! background (CXL 3.1 8.2.9.9.5). The state and its rules are
//! `background.rs`.

use super::background::{
    Background, BackgroundDone, BackgroundOp, BackgroundStatus, BackgroundWork,
};
use super::status::MediaStatus;
use super::{Effects, Memdev};
use crate::cxl::retcode::RetCode;

/// Opcode of Sanitize (CXL 3.1 8.2.9.9.5.1).
pub const OPCODE_SANITIZE: u16 = 0x4400;
/// Opcode of Secure Erase (CXL 3.1 8.2.9.9.5.2).
pub const OPCODE_SECURE_ERASE: u16 = 0x4401;
/// How long Sanitize and Secure Erase run, in ms. Short enough that
/// Linux's first sanitize poll (after one second) sees it done.
pub const SANITIZE_MS: u64 = 200;

const NS_PER_MS: u64 = 1_000_000;

impl Memdev {
    /// The background operation state.
    pub fn background(&self) -> &Background {
        &self.background
    }

    /// The Background Command Status Register's fields now.
    pub fn background_status(&self) -> BackgroundStatus {
        self.background.status_at(self.timestamp.monotonic_ns())
    }

    /// Monotonic time at which the running background operation completes,
    /// in ns of the device's clock, and the time now: the device model arms
    /// its timer for the difference.
    pub fn background_deadline(&self) -> Option<(u64, u64)> {
        let now = self.timestamp.monotonic_ns();
        self.background.running().map(|op| (op.deadline_ns(), now))
    }

    /// Starts a background operation of command `opcode` that completes
    /// after `ms` milliseconds by doing `work`. Busy if one runs.
    pub fn start_background(
        &mut self,
        opcode: u16,
        ms: u64,
        work: BackgroundWork,
    ) -> Result<(), RetCode> {
        self.background.start(BackgroundOp {
            opcode,
            started_ns: self.timestamp.monotonic_ns(),
            duration_ns: ms.saturating_mul(NS_PER_MS),
            work,
        })
    }

    /// Holds the next command with `opcode` the host sends as a background
    /// operation that completes after `ms` milliseconds (fault injection):
    /// the command runs as usual, but the host gets Background Command
    /// Started and its return code and effects only at completion (a
    /// background command keeps its own work and takes `ms` for it).
    pub fn hold_in_background(&mut self, opcode: u16, ms: u64) {
        self.background.hold(opcode, ms);
    }

    /// Drops a hold not used yet.
    pub fn clear_background_hold(&mut self) {
        self.background.clear_hold();
    }

    /// Uses the hold on `opcode`, if one is set: its duration in ms.
    pub fn take_background_hold(&mut self, opcode: u16) -> Option<u64> {
        self.background.take_hold(opcode)
    }

    /// Changes the running operation's duration to `ms` from its start.
    pub fn set_background_duration(&mut self, ms: u64) {
        self.background.set_duration(ms.saturating_mul(NS_PER_MS));
    }

    /// Request Abort Background Operation (CXL 3.1 8.2.9.1.5): the running
    /// operation ends now with Aborted and the percentage it reached, and
    /// its work is not done: Sanitize and Secure Erase leave the media as
    /// it was (ready again), Transfer FW stores nothing (the image is
    /// dropped), Scan Media has no results. Whether the command may be
    /// aborted is the caller's to decide (the CEL says). Returns the
    /// aborted opcode, or None if none ran.
    pub fn abort_background(&mut self) -> Option<u16> {
        if !self.background.is_running() {
            return None;
        }
        let op = self.background.abort(self.timestamp.monotonic_ns())?;
        match op.work {
            BackgroundWork::Erase { .. } => self.status.media_status = MediaStatus::Ready,
            BackgroundWork::StoreFirmware { .. } => self.firmware.abort_store(),
            BackgroundWork::ScanMedia { .. } | BackgroundWork::Held { .. } => {}
        }
        Some(op.opcode)
    }

    /// Completes the running background operation if its deadline passed:
    /// its work is done, its return code recorded, and what it caused
    /// returned for the device model to carry out.
    pub fn complete_background(&mut self) -> Option<BackgroundDone> {
        // Every register access asks: without an operation, read no clock.
        if !self.background.is_running() {
            return None;
        }
        let op = self.background.take_due(self.timestamp.monotonic_ns())?;
        let mut event_msi = None;
        let (rc, effects) = self.finish_work(op.work, &mut event_msi);
        self.background.finish(op.opcode, rc);
        Some(BackgroundDone {
            opcode: op.opcode,
            rc,
            effects,
            event_msi,
        })
    }

    fn finish_work(
        &mut self,
        work: BackgroundWork,
        event_msi: &mut Option<u8>,
    ) -> (RetCode, Effects) {
        match work {
            BackgroundWork::Erase { ranges } => {
                self.poison.clear_all();
                self.status.media_status = MediaStatus::Ready;
                let effects = Effects {
                    media_erases: ranges,
                    ..Effects::default()
                };
                (RetCode::Success, effects)
            }
            BackgroundWork::StoreFirmware { slot } => {
                (self.firmware.store(slot), Effects::default())
            }
            BackgroundWork::ScanMedia { dpa, event_log } => {
                *event_msi = self.finish_scan_media(dpa, event_log);
                (RetCode::Success, Effects::default())
            }
            BackgroundWork::Held { rc, effects } => (rc, effects),
        }
    }

    /// Starts Sanitize (`OPCODE_SANITIZE`) or Secure Erase
    /// (`OPCODE_SECURE_ERASE`): the media is disabled while it runs, and
    /// at completion the whole DPA space (static capacity and DC regions)
    /// reads zeros and the poison list is empty. Invalid Security State
    /// while a user passphrase is set (the user data must be unsecured
    /// first) or, for Secure Erase, while locked; Media Disabled if the
    /// media is not ready; Busy while a background operation runs.
    pub fn start_sanitize(&mut self, opcode: u16) -> Result<(), RetCode> {
        if self.background.is_running() {
            return Err(RetCode::Busy);
        }
        if self.security.has_user_passphrase() || self.security.is_locked() {
            return Err(RetCode::InvalidSecurityState);
        }
        self.check_media_ready()?;
        let end = self.dpa_space_bytes();
        let ranges = (end > 0).then_some(0..end).into_iter().collect();
        self.start_background(opcode, SANITIZE_MS, BackgroundWork::Erase { ranges })?;
        self.status.media_status = MediaStatus::Disabled;
        Ok(())
    }
}
