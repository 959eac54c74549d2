//! Why the VM stopped, and the one place that decides it.
//!
//! Devices (poweroff, reset), vCPUs (triple fault, internal errors) and the
//! API (shutdown) all report through [`ExitState::request`]; the first reason
//! wins, every vCPU is told to stop, and the main loop is woken.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

/// Why the VM stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExitReason {
    /// The guest powered off (ACPI S5).
    Poweroff,
    /// The guest rebooted (ACPI reset register, i8042 reset).
    Reset,
    /// The operator asked for a shutdown (API or signal).
    Shutdown,
    /// A vCPU triple-faulted (KVM_EXIT_SHUTDOWN).
    TripleFault {
        /// The vCPU that faulted.
        vcpu: u32,
    },
    /// The guest crashed or KVM could not run it.
    GuestCrash(String),
    /// Host memory behind the guest went away (KVM could not fault it in).
    GuestMemoryLost(String),
    /// The VMM itself failed.
    VmmError(String),
}

/// Exit status: guest powered off, rebooted, or was shut down on request.
pub const EXIT_OK: i32 = 0;
/// Exit status: the VMM failed (bad configuration, host error).
pub const EXIT_VMM_ERROR: i32 = 1;
/// Exit status: a vCPU triple-faulted.
pub const EXIT_TRIPLE_FAULT: i32 = 3;
/// Exit status: the guest crashed or KVM refused to run it.
pub const EXIT_GUEST_CRASH: i32 = 4;
/// Exit status: the host memory behind guest memory went away (a backend
/// file truncated behind cxlvmm's back): SIGBUS, or KVM failing to fault
/// it in.
pub const EXIT_GUEST_MEMORY: i32 = 5;

impl ExitReason {
    /// The process exit status for this reason.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Poweroff | Self::Reset | Self::Shutdown => EXIT_OK,
            Self::TripleFault { .. } => EXIT_TRIPLE_FAULT,
            Self::GuestCrash(_) => EXIT_GUEST_CRASH,
            Self::GuestMemoryLost(_) => EXIT_GUEST_MEMORY,
            Self::VmmError(_) => EXIT_VMM_ERROR,
        }
    }
}

impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Poweroff => write!(f, "guest powered off"),
            Self::Reset => write!(f, "guest rebooted"),
            Self::Shutdown => write!(f, "shut down on request"),
            Self::TripleFault { vcpu } => write!(f, "guest triple fault on vCPU {vcpu}"),
            Self::GuestCrash(m) => write!(f, "guest crashed: {m}"),
            Self::GuestMemoryLost(m) => write!(f, "guest memory lost: {m}"),
            Self::VmmError(m) => write!(f, "VMM error: {m}"),
        }
    }
}

/// Shared stop flag, first exit reason, and the eventfd that wakes the main
/// loop.
pub struct ExitState {
    reason: Mutex<Option<ExitReason>>,
    stopping: AtomicBool,
    evt: EventFd,
}

impl ExitState {
    /// A fresh state.
    pub fn new() -> std::io::Result<Self> {
        Ok(Self {
            reason: Mutex::new(None),
            stopping: AtomicBool::new(false),
            evt: EventFd::new(EFD_NONBLOCK)?,
        })
    }

    /// Records `reason` unless one is already recorded, and wakes the loop.
    pub fn request(&self, reason: ExitReason) {
        let mut r = self.reason.lock().unwrap_or_else(|e| e.into_inner());
        if r.is_none() {
            *r = Some(reason);
        }
        self.stopping.store(true, Ordering::SeqCst);
        // A full eventfd counter still wakes the loop; nothing to do on error.
        let _ = self.evt.write(1);
    }

    /// True once any exit was requested.
    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// The recorded reason, if any.
    pub fn reason(&self) -> Option<ExitReason> {
        self.reason
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The eventfd the main loop waits on.
    pub fn eventfd(&self) -> &EventFd {
        &self.evt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_reason_wins() {
        let s = ExitState::new().unwrap();
        assert!(!s.stopping());
        s.request(ExitReason::TripleFault { vcpu: 1 });
        s.request(ExitReason::Poweroff);
        assert!(s.stopping());
        assert_eq!(s.reason(), Some(ExitReason::TripleFault { vcpu: 1 }));
        assert_eq!(s.eventfd().read().unwrap(), 2);
    }

    #[test]
    fn exit_codes_distinct() {
        assert_eq!(ExitReason::Poweroff.exit_code(), 0);
        assert_eq!(ExitReason::Reset.exit_code(), 0);
        let codes = [
            ExitReason::TripleFault { vcpu: 0 }.exit_code(),
            ExitReason::GuestCrash(String::new()).exit_code(),
            ExitReason::VmmError(String::new()).exit_code(),
            ExitReason::GuestMemoryLost(String::new()).exit_code(),
        ];
        assert!(codes.iter().all(|c| *c != 0));
        for (i, a) in codes.iter().enumerate() {
            assert!(codes[i + 1..].iter().all(|b| b != a), "{codes:?}");
        }
        assert_eq!(codes[3], 5);
    }
}
