//! Machine power-off and reset requests raised by guest-visible registers.

use std::sync::{Arc, Mutex};

/// What the guest asked the machine to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitRequest {
    /// Power the machine off (ACPI S5).
    Poweroff,
    /// Reset the machine.
    Reset,
    /// The guest kernel panicked (pvpanic).
    Panic,
}

/// Called by a device when the guest requests a power-off or reset. The VMM
/// implements it (stop the vCPUs, then exit or rebuild the VM); it must not
/// block on the vCPU that calls it.
pub type ExitHandler = Arc<dyn Fn(ExitRequest) + Send + Sync>;

/// A test double that records every request.
#[derive(Clone, Default)]
pub struct ExitRecorder {
    requests: Arc<Mutex<Vec<ExitRequest>>>,
}

impl ExitRecorder {
    /// An empty recorder.
    pub fn new() -> Self {
        Self::default()
    }

    /// A handler that appends to this recorder.
    pub fn handler(&self) -> ExitHandler {
        let requests = self.requests.clone();
        Arc::new(move |r| requests.lock().unwrap_or_else(|e| e.into_inner()).push(r))
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<ExitRequest> {
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}
