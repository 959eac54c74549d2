//! The virtio PCI capabilities (virtio 1.2, 4.1.4): vendor-specific
//! capabilities that tell the driver where each structure lives.

use crate::pci::config::{ConfigError, ConfigSpace};
use crate::pci::regblock::RegisterBlock;

/// Vendor-specific capability ID (PCI Code and ID Assignment 1.16, 2.1).
pub const CAP_ID_VENDOR: u8 = 0x09;
/// Common configuration (4.1.4: VIRTIO_PCI_CAP_COMMON_CFG).
pub const VIRTIO_PCI_CAP_COMMON_CFG: u8 = 1;
/// Notifications (4.1.4: VIRTIO_PCI_CAP_NOTIFY_CFG).
pub const VIRTIO_PCI_CAP_NOTIFY_CFG: u8 = 2;
/// ISR status (4.1.4: VIRTIO_PCI_CAP_ISR_CFG).
pub const VIRTIO_PCI_CAP_ISR_CFG: u8 = 3;
/// Device-specific configuration (4.1.4: VIRTIO_PCI_CAP_DEVICE_CFG).
pub const VIRTIO_PCI_CAP_DEVICE_CFG: u8 = 4;
/// Access to the BARs through configuration space (4.1.4:
/// VIRTIO_PCI_CAP_PCI_CFG).
pub const VIRTIO_PCI_CAP_PCI_CFG: u8 = 5;
/// struct virtio_pci_cfg_cap (4.1.4.9): the capability plus pci_cfg_data.
pub const VIRTIO_PCI_CFG_CAP_LEN: usize = 20;
/// pci_cfg_data offset in that capability.
pub const PCI_CFG_DATA: u16 = 16;
/// bar offset in a capability.
pub const PCI_CFG_BAR: u16 = 4;
/// offset field in a capability.
pub const PCI_CFG_OFFSET: u16 = 8;
/// length field in a capability.
pub const PCI_CFG_LENGTH: u16 = 12;

/// struct virtio_pci_cap (4.1.4): cap_vndr, cap_next, cap_len, cfg_type,
/// bar, id, padding[2], offset (le32), length (le32).
pub const VIRTIO_PCI_CAP_LEN: usize = 16;
/// struct virtio_pci_notify_cap (4.1.4.4): the above plus
/// notify_off_multiplier (le32).
pub const VIRTIO_PCI_NOTIFY_CAP_LEN: usize = 20;
/// cap_len offset.
const CAP_LEN: usize = 2;
/// cfg_type offset.
const CFG_TYPE: usize = 3;
/// bar offset.
const BAR: usize = 4;
/// offset field.
const OFFSET: usize = 8;
/// length field.
const LENGTH: usize = 12;
/// notify_off_multiplier field.
const NOTIFY_OFF_MULTIPLIER: usize = 16;

/// Where one structure lives in a BAR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VirtioRegion {
    /// cfg_type (VIRTIO_PCI_CAP_*).
    pub cfg_type: u8,
    /// BAR index.
    pub bar: u8,
    /// Offset in the BAR.
    pub offset: u32,
    /// Length in bytes.
    pub length: u32,
}

/// Builds the capability for `r` (`notify_off_multiplier` only for the
/// notify capability) and adds it; returns its offset.
pub fn add_virtio_cap(
    config: &mut ConfigSpace,
    r: VirtioRegion,
    notify_off_multiplier: Option<u32>,
) -> Result<u16, ConfigError> {
    let len = if notify_off_multiplier.is_some() {
        VIRTIO_PCI_NOTIFY_CAP_LEN
    } else {
        VIRTIO_PCI_CAP_LEN
    };
    let mut b = RegisterBlock::new(len);
    b.set_u8(CAP_LEN, len as u8);
    b.set_u8(CFG_TYPE, r.cfg_type);
    b.set_u8(BAR, r.bar);
    b.set_u32(OFFSET, r.offset);
    b.set_u32(LENGTH, r.length);
    if let Some(m) = notify_off_multiplier {
        b.set_u32(NOTIFY_OFF_MULTIPLIER, m);
    }
    config.add_capability(CAP_ID_VENDOR, &b)
}

/// Adds the VIRTIO_PCI_CAP_PCI_CFG capability (4.1.4.9), whose bar, offset
/// and length the driver writes before accessing pci_cfg_data; returns its
/// offset.
pub fn add_pci_cfg_cap(config: &mut ConfigSpace) -> Result<u16, ConfigError> {
    let mut b = RegisterBlock::new(VIRTIO_PCI_CFG_CAP_LEN);
    b.set_u8(CAP_LEN, VIRTIO_PCI_CFG_CAP_LEN as u8);
    b.set_u8(CFG_TYPE, VIRTIO_PCI_CAP_PCI_CFG);
    b.set_wmask_u8(BAR, 0xff);
    b.set_wmask_u32(OFFSET, u32::MAX);
    b.set_wmask_u32(LENGTH, u32::MAX);
    config.add_capability(CAP_ID_VENDOR, &b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pci::config::{HeaderType, PciIds};

    #[test]
    fn layout() {
        let mut c = ConfigSpace::new(HeaderType::Endpoint, &PciIds::default());
        let r = VirtioRegion {
            cfg_type: VIRTIO_PCI_CAP_NOTIFY_CFG,
            bar: 0,
            offset: 0x3000,
            length: 8,
        };
        let off = add_virtio_cap(&mut c, r, Some(4)).unwrap();
        assert_eq!(c.read_u32(off), 0x0214_0009, "vndr, next 0, len 20, type 2");
        assert_eq!(c.read_u32(off + 8), 0x3000);
        assert_eq!(c.read_u32(off + 12), 8);
        assert_eq!(c.read_u32(off + 16), 4);
        // Read-only to the guest.
        c.write(off + 8, &[0xff; 4]);
        assert_eq!(c.read_u32(off + 8), 0x3000);
        let r = VirtioRegion {
            cfg_type: VIRTIO_PCI_CAP_ISR_CFG,
            ..r
        };
        let off2 = add_virtio_cap(&mut c, r, None).unwrap();
        assert_eq!(c.read_u8(off + 1) as u16, off2);
        assert_eq!(c.read_u8(off2 + 2), 16);
    }
}
