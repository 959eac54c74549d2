//! Virtio devices over PCI (virtio 1.2: 4.1 the modern PCI transport, 2.7
//! split virtqueues, 5.1 the network device, 5.2 the block device).
//!
//! - [`device`]: the [`VirtioDevice`] trait a device model implements (its
//!   type, features, configuration bytes and the processing of a queue).
//! - [`queue`]: virtqueue helpers on the rust-vmm `virtio-queue` crate: the
//!   checks a queue gets when the driver enables it, and the walk of a
//!   descriptor chain that refuses loops, overlong chains and buffers
//!   outside guest RAM.
//! - [`status`]: device status and feature negotiation (2.1, 2.2, 3.1.1).
//! - [`common_cfg`]: the common configuration structure (4.1.4.3).
//! - [`pci_caps`]: the virtio PCI capabilities (4.1.4).
//! - [`transport`]: the PCI function: capabilities, one memory BAR with the
//!   common, ISR, device and notify structures and the MSI-X table.
//! - [`worker`]: the device thread that serves queue notifications and the
//!   model's own event sources.
//! - [`block`]: virtio-blk on a raw image.
//! - [`net`]: virtio-net on a tap.
//! - [`vhost_user`]: the vhost-user frontend, for queues a backend process
//!   serves.
//! - [`fs`]: virtio-fs (5.11) on a vhost-user backend (virtiofsd).
//!
//! Notifications: each queue has an eventfd that the VMM attaches to the
//! queue's notify address as a KVM ioeventfd, so a driver's notify never
//! leaves the kernel; the device thread waits on the eventfds. A notify that
//! reaches the BAR as an MMIO exit (the BAR was moved) signals the same
//! eventfd. Interrupts go through MSI-X (irqfds behind [`crate::interrupt`]).

pub mod block;
pub mod common_cfg;
pub mod device;
pub mod fs;
pub mod ids;
pub mod net;
pub mod pci_caps;
pub mod queue;
pub mod status;
pub mod transport;
pub mod vhost_user;
pub mod worker;

#[cfg(test)]
mod fake_vhost_user;
#[cfg(test)]
mod fs_tests;
#[cfg(test)]
mod transport_tests;

pub use device::{EventSource, QueueBackend, QueueLayout, QueueOutcome, VirtioDevice};
pub use ids::{VIRTIO_MSI_NO_VECTOR, VIRTIO_PCI_DEVICE_ID_BASE, VIRTIO_PCI_VENDOR_ID};
pub use transport::{NotifyEvent, VirtioPciDevice, VirtioPciError};
