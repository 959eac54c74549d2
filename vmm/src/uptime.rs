//! When cxlvmm started, for the start-up figure `-v` logs at the first
//! KVM_RUN (docs/PERFORMANCE.md: exec to first KVM_RUN).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

static START: OnceLock<Instant> = OnceLock::new();

/// Notes the start (the first call wins).
pub fn mark_start() {
    START.get_or_init(Instant::now);
}

/// Time since [`mark_start`], if it was called.
pub fn since_start() -> Option<Duration> {
    START.get().map(Instant::elapsed)
}

/// Logs (at debug level, `-vv`) that start-up phase `phase` is done, with
/// the time since the start: where the milliseconds to the first KVM_RUN
/// go (docs/PERFORMANCE.md).
pub fn phase_done(phase: &str) {
    if let Some(t) = since_start() {
        log::debug!(
            "start-up: {phase} done {:.2} ms after start",
            t.as_secs_f64() * 1e3
        );
    }
}

/// The start instant (now, if [`mark_start`] was not called yet), for
/// the trace's time stamps.
pub fn start_instant() -> Instant {
    *START.get_or_init(Instant::now)
}
