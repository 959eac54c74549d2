//! CXL 3.1 device models: one file per spec block.
//!
//! - `component/`: CXL component registers (8.2.3, 8.2.4): capability
//!   headers, HDM decoders, RAS.
//! - `device_regs/`: CXL device registers (8.2.8): capability array, device
//!   status, mailbox, memory device status.
//! - `mailbox/`: the command set (8.2.9), one file per command group.
//! - `events`: event logs, records and interrupt policy (8.2.9.2).
//! - `memdev`: the memory device's state that commands act on.
//! - `dvsec`: CXL DVSECs (8.1).
//! - `cdat`, `doe`: CDAT (CDAT spec 1.04) served over DOE (PCIe 6.0 6.30).
//! - `decode`: HPA <-> DPA translation through HDM decoders.
//! - `dcd/`: Dynamic Capacity: DC regions, extents, policies (8.2.9.9.9).
//! - `fabric`: the memory path from fixed memory windows through host bridge
//!   and endpoint decoders to host memory; memslots where the path is
//!   direct, routed accesses where it is not. `window`: the window's MMIO.
//! - `type3`, `host_bridge`, `root_port`: the devices, assembled from the
//!   blocks above; `pci_caps` places CXL structures in config space.

pub mod cdat;
pub mod component;
pub mod dcd;
pub mod decode;
pub mod device_regs;
pub mod doe;
pub mod dvsec;
pub mod events;
pub mod fabric;
pub mod host_bridge;
pub mod mailbox;
pub mod memdev;
pub mod pci_caps;
pub mod root_port;
pub mod type3;
pub mod window;
