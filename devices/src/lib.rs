//! Device models: legacy PC devices, PCI, CXL and host memory backends.

pub mod bus;
pub mod cxl;
pub mod interrupt;
pub mod legacy;
pub mod log_limit;
pub mod memory;
pub mod pci;
pub mod trace;
pub mod virtio;

pub use bus::{Bus, BusDevice, BusError, SharedDevice};

#[doc(hidden)]
pub use log as __log;
