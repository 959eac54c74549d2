//! Errors, events and health changes an operator injects into a Type 3
//! device (QEMU's QMP `cxl-inject-*` commands, the API's
//! `POST /devices/{id}/inject/...`).
//!
//! `request.rs` holds the requests, with their QMP field names and the
//! checks that need no device; `apply.rs` carries one out on the device
//! state (poison list, event logs, health, RAS capability) and says what
//! the device model must signal.

pub mod apply;
pub mod request;

#[cfg(test)]
mod tests;

pub use apply::{apply, InjectError, Injected};
pub use request::{
    CorrectableErrorInjection, CorrectableErrorType, DramInjection, EventLogName,
    GeneralMediaInjection, Injection, MemoryModuleInjection, PoisonInjection, UncorrectableError,
    UncorrectableErrorType, UncorrectableErrorsInjection,
};
