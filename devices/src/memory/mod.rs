//! Host memory that backs guest-visible device capacity.

pub mod backend;
pub mod composed;

pub use backend::{BackendConfig, BackendError, BackendKind, HostMemory};
pub use composed::{ComposedMapping, ComposedPiece};
