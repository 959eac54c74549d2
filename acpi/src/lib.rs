//! ACPI tables for a directly booted x86_64 Linux guest with PCIe and CXL.
//!
//! [`build`] turns an [`AcpiConfig`] into byte blobs with guest-physical
//! addresses; the VMM copies each [`AcpiBlob`] to its `gpa` and hands
//! [`AcpiTables::rsdp_addr`] to the kernel. Nothing here knows KVM.
//!
//! The platform has ACPI fixed hardware (PM1a event and control blocks and a
//! PM timer at [`arch::layout::ACPI_PM_PORT`]; no GPEs or fixed buttons) and
//! a reset register at [`arch::layout::ACPI_RESET_PORT`]. Tables are built with the `acpi_tables` crate where it is right
//! and by hand where it lacks something or gets it wrong (see each module).

mod aml;
mod cedt;
mod config;
mod cxl_dsdt;
mod dsdt;
mod error;
mod fadt;
mod hmat;
mod madt;
mod mcfg;
mod osc;
mod pci_host;
mod rsdp;
mod sdt;
mod srat;
mod tables;

pub use config::{AccessPerf, AcpiConfig, CxlWindow, HostBridge, HostBridgeKind};
pub use error::Error;
pub use tables::{build, AcpiBlob, AcpiTables};
