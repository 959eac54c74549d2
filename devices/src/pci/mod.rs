//! PCI Express platform: configuration space and capabilities, BARs, MSI and
//! MSI-X, the segment with its ECAM and 0xcf8/0xcfc access mechanisms, the
//! host bridge and root port functions, and firmware-style resource
//! assignment.

pub mod aer;
pub mod bar;
pub mod bdf;
pub mod bridge;
pub mod caps;
pub mod config;
pub mod config_error;
pub mod config_io;
pub mod device;
pub mod ecam;
pub mod host_bridge;
pub mod ids;
pub mod mapping;
pub mod msi;
pub mod msix;
pub mod pcie_cap;
pub mod regblock;
pub mod resources;
pub mod root_port;
pub mod segment;

pub use bar::{BarInfo, BarKind, PciBar};
pub use bdf::{Bdf, DevFn};
pub use bridge::{BridgeWindows, Window};
pub use config::{ConfigSpace, HeaderType, PciIds};
pub use config_error::ConfigError;
pub use config_io::PciConfigIo;
pub use device::{PciDevice, PciFunction, SharedPciDevice};
pub use ecam::PciEcam;
pub use host_bridge::HostBridge;
pub use msi::MsiConfig;
pub use msix::{BarLocation, MsixConfig};
pub use pcie_cap::{LinkSpeed, LinkWidth, PcieCapConfig, PciePortType};
pub use regblock::RegisterBlock;
pub use resources::{
    assign_resources, AddressRange, Assignment, HostBridgeResources, PciNode, ResourceError,
};
pub use root_port::{RootPort, RootPortConfig};
pub use segment::{PciSegment, SegmentError, SharedSegment};

#[cfg(test)]
mod tests;
