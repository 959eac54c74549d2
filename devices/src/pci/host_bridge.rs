//! The host bridge function at 00:00.0: a type 0 header with class
//! "host bridge", no BARs and no capabilities. Linux only looks at it.

use super::bar::BarInfo;
use super::config::{ConfigSpace, HeaderType, PciIds};
use super::device::{PciDevice, PciFunction};
use super::ids::{CLASS_HOST_BRIDGE, DEVICE_ID_HOST_BRIDGE, VENDOR_ID_REDHAT};

/// The host bridge function.
pub struct HostBridge {
    function: PciFunction,
}

impl HostBridge {
    /// The generic host bridge ([`super::ids`]).
    pub fn new() -> Self {
        Self::with_ids(&PciIds {
            vendor_id: VENDOR_ID_REDHAT,
            device_id: DEVICE_ID_HOST_BRIDGE,
            class_code: CLASS_HOST_BRIDGE,
            subsystem_vendor_id: VENDOR_ID_REDHAT,
            ..Default::default()
        })
    }

    /// A host bridge with other IDs.
    pub fn with_ids(ids: &PciIds) -> Self {
        Self {
            function: PciFunction::new(ConfigSpace::new(HeaderType::Endpoint, ids)),
        }
    }

    /// The function, to add capabilities.
    pub fn function_mut(&mut self) -> &mut PciFunction {
        &mut self.function
    }
}

impl Default for HostBridge {
    fn default() -> Self {
        Self::new()
    }
}

impl PciDevice for HostBridge {
    fn config_read(&mut self, offset: u16, data: &mut [u8]) {
        self.function.config_read(offset, data)
    }

    fn config_write(&mut self, offset: u16, data: &[u8]) {
        self.function.config_write(offset, data)
    }

    fn bars(&self) -> Vec<BarInfo> {
        self.function.bars()
    }

    fn bar_read(&mut self, bar: u8, offset: u64, data: &mut [u8]) {
        self.function.bar_read(bar, offset, data)
    }

    fn bar_write(&mut self, bar: u8, offset: u64, data: &[u8]) {
        self.function.bar_write(bar, offset, data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pci::config::HEADER_TYPE;

    #[test]
    fn identity() {
        let mut h = HostBridge::new();
        let mut b = [0u8; 4];
        h.config_read(0, &mut b);
        assert_eq!(u32::from_le_bytes(b), 0x0008_1b36);
        h.config_read(8, &mut b);
        assert_eq!(u32::from_le_bytes(b) >> 8, 0x06_00_00);
        h.config_read(HEADER_TYPE, &mut b[..1]);
        assert_eq!(b[0], 0);
        assert!(h.bars().is_empty());
        h.config_write(0x10, &[0xff; 4]);
        h.config_read(0x10, &mut b);
        assert_eq!(b, [0; 4]);
    }
}
