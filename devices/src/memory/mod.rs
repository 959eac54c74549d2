//! Host memory that backs guest-visible device capacity.

pub mod backend;

pub use backend::{BackendConfig, BackendError, BackendKind, HostMemory};
