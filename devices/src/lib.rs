//! Device models: legacy PC devices, PCI, CXL and host memory backends.

pub mod bus;
pub mod interrupt;

pub use bus::{Bus, BusDevice, BusError, SharedDevice};
