//! Virtio-over-PCI identifiers and the MSI-X "no vector" value (virtio 1.2
//! 4.1.2, 4.1.4.3).

/// PCI vendor ID of virtio devices (4.1.2).
pub const VIRTIO_PCI_VENDOR_ID: u16 = 0x1af4;
/// Modern PCI device IDs are 0x1040 plus the virtio device ID (4.1.2).
pub const VIRTIO_PCI_DEVICE_ID_BASE: u16 = 0x1040;
/// MSI-X "no vector" (4.1.4.3: VIRTIO_MSI_NO_VECTOR).
pub const VIRTIO_MSI_NO_VECTOR: u16 = 0xffff;
