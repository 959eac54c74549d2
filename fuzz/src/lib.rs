//! cxlvmm's fuzz harnesses. Each target in `fuzz_targets/` hands libFuzzer's
//! input to one `run` here, so the harnesses are plain library code that
//! unit tests (and anyone reproducing a finding) can call:
//!
//! - [`type3`]: a CXL Type 3 device through its registers, DOE, config
//!   space and BARs, with Dynamic Capacity requests from the operator;
//! - [`pci_config`]: the PCI segment as the VMM builds it (PCI0 and a CXL
//!   hierarchy) through ECAM and the 0xcf8/0xcfc ports;
//! - [`cli_topology`]: the command line and its topology checks.
//!
//! The memslots are recorded and checked as the memory manager would by
//! the devices crate's shared test rig (`devices::cxl::test_rig`).

pub mod cli_topology;
pub mod pci_config;
pub mod type3;
