//! Host memory that backs guest-visible device capacity.

pub mod backend;
pub mod composed;
pub mod error;
pub mod file;
pub mod ram;
pub mod ranges;
#[cfg(test)]
mod tests;

pub use backend::{BackendConfig, BackendKind, HostMemory};
pub use composed::{ComposedMapping, ComposedPiece};
pub use error::BackendError;
pub use file::FileId;
pub use ram::shared_guest_ram;
