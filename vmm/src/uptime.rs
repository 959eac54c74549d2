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

/// The start instant (now, if [`mark_start`] was not called yet), for
/// the trace's time stamps.
pub fn start_instant() -> Instant {
    *START.get_or_init(Instant::now)
}
