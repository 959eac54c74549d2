//! CXL 3.1 device models: one file per spec block.
//!
//! - `component/`: CXL component registers (8.2.3, 8.2.4): capability
//!   headers, HDM decoders, RAS.
//! - `device_regs/`: CXL device registers (8.2.8): capability array, device
//!   status, mailbox, memory device status.
//! - `memdev/`: the memory device's state (partitions, LSA, poison,
//!   timestamp, health, event logs, status; DC in `dcd/`) and the
//!   operations the mailbox and the device model call.
//! - `mailbox/`: the command set's wire format (8.2.9), one file per
//!   command group: typed payloads and handlers that call `memdev`.
//! - `retcode`: the mailbox return codes the operations answer with.
//! - `dvsec`: CXL DVSECs (8.1).
//! - `cdat`, `doe`: CDAT (CDAT spec 1.04) served over DOE (PCIe 6.0 6.30).
//! - `decode`: HPA <-> DPA translation through HDM decoders.
//! - `dcd/`: Dynamic Capacity: DC regions, extents, policies (8.2.9.9.9).
//! - `fabric`: the memory path from fixed memory windows through host bridge
//!   and endpoint decoders to host memory; memslots where the path is
//!   direct, routed accesses where it is not. `window`: the window's MMIO.
//! - `type3`, `host_bridge`, `root_port`: the devices, assembled from the
//!   blocks above; `pci_caps` places CXL structures in config space.
//!   `static_layout`: where the static capacity lies in DPA space and
//!   which backend holds it. `background_timer`: the timer the VMM gives a Type 3 device to
//!   complete background operations on time.
//! - `test_rig` (tests, feature `test-rig`): the recording memslot mapper
//!   and one-window memory path the tests, the benchmark and the fuzz
//!   harnesses share.

pub mod background_timer;
pub mod cdat;
pub mod component;
pub mod dcd;
pub mod decode;
pub mod device_regs;
pub mod doe;
pub mod dvsec;
pub mod fabric;
pub mod host_bridge;
pub mod inject;
pub mod mailbox;
pub mod memdev;
pub mod pci_caps;
pub mod retcode;
pub mod root_port;
pub mod static_layout;
#[cfg(any(test, feature = "test-rig"))]
pub mod test_rig;
pub mod type3;
pub mod window;
