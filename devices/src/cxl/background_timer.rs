//! The timer a device model is given to complete its background
//! operations on time (see `type3_background.rs`); the VMM implements it.

use std::time::Duration;

/// A one-shot timer of the VMM that calls
/// [`Type3::poll_background`](crate::cxl::type3::Type3::poll_background) on
/// its devices when it fires. Arming is cheap and never blocks (it is
/// called on the vCPU thread that rang the doorbell).
pub trait BackgroundTimer: Send + Sync {
    /// Fires no later than `after` from now (an earlier arming stays if it
    /// fires sooner).
    fn arm(&self, after: Duration);
}
