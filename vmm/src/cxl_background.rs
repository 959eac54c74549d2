//! The timer that completes CXL background operations on time (Sanitize,
//! Transfer FW, Scan Media, held commands).
//!
//! A device's background operation progresses with elapsed time, and a
//! guest that polls its registers sees it complete (every register access
//! polls the device). A guest that waits for the Background Command
//! Complete Interrupt instead needs someone to complete it at its deadline:
//! this one-shot timerfd, armed by the device when an operation starts (on
//! the vCPU thread that rang the doorbell: one `timerfd_settime`) and
//! watched by the VMM's event loop, which then polls every Type 3 device
//! ([`Type3::poll_background`]) and re-arms for any operation still
//! running. Nothing sleeps and no thread is spawned.

use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use devices::cxl::background_timer::BackgroundTimer;
use devices::cxl::type3::Type3;
use vmm_sys_util::timerfd::TimerFd;

/// The shortest arming: a zero duration would disarm a timerfd.
const MIN_DELAY: Duration = Duration::from_micros(100);

struct Armed {
    fd: TimerFd,
    /// When the timer fires, if armed.
    deadline: Option<Instant>,
}

/// The VMM's background-operation timer.
pub struct CxlBackgroundTimer {
    armed: Mutex<Armed>,
    raw_fd: i32,
}

impl CxlBackgroundTimer {
    /// A disarmed, non-blocking timer.
    pub fn new() -> std::io::Result<Arc<Self>> {
        let fd = TimerFd::new().map_err(std::io::Error::from)?;
        let raw_fd = fd.as_raw_fd();
        // SAFETY: fcntl on a descriptor we own; no memory is passed.
        let flags = unsafe { libc::fcntl(raw_fd, libc::F_GETFL) };
        // SAFETY: as above.
        if flags < 0 || unsafe { libc::fcntl(raw_fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0
        {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Arc::new(Self {
            armed: Mutex::new(Armed { fd, deadline: None }),
            raw_fd,
        }))
    }

    /// The timerfd's descriptor, for the event loop.
    pub fn raw_fd(&self) -> i32 {
        self.raw_fd
    }

    /// The timer fired (or woke the loop): drains its count, polls every
    /// device and re-arms for operations still running.
    pub fn fired(&self, devices: &[Arc<Mutex<Type3>>]) {
        {
            let mut a = self.armed.lock().unwrap_or_else(|e| e.into_inner());
            // Non-blocking: a re-arm since the wake-up leaves nothing to read.
            let _ = a.fd.wait();
            a.deadline = None;
        }
        for d in devices {
            let mut dev = d.lock().unwrap_or_else(|e| e.into_inner());
            dev.poll_background();
            if let Some((deadline, now)) = dev.memdev().background_deadline() {
                self.arm(Duration::from_nanos(deadline.saturating_sub(now)));
            }
        }
    }
}

impl BackgroundTimer for CxlBackgroundTimer {
    fn arm(&self, after: Duration) {
        let after = after.max(MIN_DELAY);
        let deadline = Instant::now() + after;
        let mut a = self.armed.lock().unwrap_or_else(|e| e.into_inner());
        if a.deadline.is_some_and(|d| d <= deadline) {
            return;
        }
        match a.fd.reset(after, None) {
            Ok(()) => a.deadline = Some(deadline),
            Err(e) => log::warn!("CXL background timer: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_earliest_deadline() {
        let t = CxlBackgroundTimer::new().unwrap();
        t.arm(Duration::from_secs(60));
        let first = t.armed.lock().unwrap().deadline.unwrap();
        t.arm(Duration::from_secs(120));
        assert_eq!(t.armed.lock().unwrap().deadline, Some(first));
        t.arm(Duration::from_secs(1));
        assert!(t.armed.lock().unwrap().deadline.unwrap() < first);
        assert!(t.armed.lock().unwrap().fd.is_armed().unwrap());
        // Firing with no devices disarms it and reads nothing (no block).
        t.fired(&[]);
        assert_eq!(t.armed.lock().unwrap().deadline, None);
    }
}
