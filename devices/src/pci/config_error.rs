//! Why a configuration space could not be built as asked.

use thiserror::Error;

/// Errors building a configuration space.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    /// BAR index not in the header, or a 64-bit BAR's upper half would not fit.
    #[error("invalid BAR index {0}")]
    BarIndex(u8),
    /// The BAR register (or the upper half of a 64-bit BAR) is already used.
    #[error("BAR {0} already in use")]
    BarInUse(u8),
    /// Size not a power of two or outside what the BAR kind allows.
    #[error("invalid BAR size {0:#x}")]
    BarSize(u64),
    /// No room left for the capability.
    #[error("no room for a {0}-byte capability")]
    NoSpace(usize),
    /// Capability shorter than its header, or too long for its length field.
    #[error("invalid capability length {0}")]
    CapabilityLength(usize),
    /// Something refers to a BAR or a region it does not have.
    #[error("invalid region: {0}")]
    InvalidRegion(&'static str),
}
