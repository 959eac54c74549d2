//! A generic PCI Express root port: a type 1 header (class "PCI-to-PCI
//! bridge"), the PCI Express Capability with port type Root Port and a
//! trained link, Power Management, and optionally MSI for port events.
//!
//! Bus numbers and windows are plain RW registers that
//! [`super::resources`] programs; configuration cycles are not routed by
//! them (the segment answers every existing BDF directly).
//!
//! To build a specialised port (the CXL root port), construct a `RootPort`,
//! then add DVSECs, a BAR and so on through [`RootPort::function_mut`], and
//! wrap it in a type that implements [`PciDevice`] by forwarding to it and
//! intercepting its own BAR.

use std::sync::Arc;

use super::bar::BarInfo;
use super::bridge::{read_bridge_windows, BridgeWindows};
use super::caps::{power_management, CAP_ID_PCI_EXPRESS, CAP_ID_POWER_MANAGEMENT};
use super::config::{ConfigError, ConfigSpace, HeaderType, PciIds};
use super::device::{PciDevice, PciFunction};
use super::ids::{CLASS_PCI_BRIDGE, DEVICE_ID_ROOT_PORT, VENDOR_ID_REDHAT};
use super::msi::MsiConfig;
use super::pcie_cap::{pcie_capability, LinkSpeed, LinkWidth, PcieCapConfig};
use crate::interrupt::MsiGroup;

/// What a root port looks like.
#[derive(Clone)]
pub struct RootPortConfig {
    /// Identity (defaults to the generic root port of [`super::ids`]).
    pub ids: PciIds,
    /// Port Number reported in Link Capabilities.
    pub port_number: u8,
    /// Link speed the port reports as trained.
    pub link_speed: LinkSpeed,
    /// Link width the port reports as negotiated.
    pub link_width: LinkWidth,
    /// Physical slot number, if the port implements a slot (no hot-plug).
    pub slot: Option<u16>,
    /// MSI vector for port events (PME, AER), if any.
    pub msi: Option<Arc<dyn MsiGroup>>,
}

impl RootPortConfig {
    /// A Gen5 x8 root port with this port number, no slot, no MSI.
    pub fn new(port_number: u8) -> Self {
        Self {
            ids: PciIds {
                vendor_id: VENDOR_ID_REDHAT,
                device_id: DEVICE_ID_ROOT_PORT,
                class_code: CLASS_PCI_BRIDGE,
                ..Default::default()
            },
            port_number,
            link_speed: LinkSpeed::Gen5,
            link_width: LinkWidth::X8,
            slot: None,
            msi: None,
        }
    }
}

/// A PCI Express root port.
pub struct RootPort {
    function: PciFunction,
    pcie_cap: u16,
}

impl RootPort {
    /// Builds the port's configuration space.
    pub fn new(cfg: RootPortConfig) -> Result<Self, ConfigError> {
        let mut config = ConfigSpace::new(HeaderType::Bridge, &cfg.ids);
        let mut cap = PcieCapConfig::root_port(cfg.port_number);
        cap.link_speed = cfg.link_speed;
        cap.link_width = cfg.link_width;
        cap.slot = cfg.slot;
        let pcie_cap = config.add_capability(CAP_ID_PCI_EXPRESS, &pcie_capability(&cap))?;
        config.add_capability(CAP_ID_POWER_MANAGEMENT, &power_management())?;
        let mut function = PciFunction::new(config);
        if let Some(group) = cfg.msi {
            function.add_msi(MsiConfig::new(group)?)?;
        }
        Ok(Self { function, pcie_cap })
    }

    /// The function, to read state.
    pub fn function(&self) -> &PciFunction {
        &self.function
    }

    /// The function, to add DVSECs, BARs or MSI-X, or to signal MSI.
    pub fn function_mut(&mut self) -> &mut PciFunction {
        &mut self.function
    }

    /// Offset of the PCI Express Capability.
    pub fn pcie_cap_offset(&self) -> u16 {
        self.pcie_cap
    }

    /// Bus numbers and windows as programmed.
    pub fn windows(&self) -> BridgeWindows {
        read_bridge_windows(self.function.config())
    }
}

impl PciDevice for RootPort {
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
    use crate::interrupt::RecordingMsiGroup;
    use crate::pci::bar::PciBar;
    use crate::pci::caps::{add_dvsec, dvsec, CAP_ID_MSI};
    use crate::pci::config::{HEADER_TYPE, SECONDARY_BUS};
    use crate::pci::pcie_cap::{LINK_STATUS, PCIE_CAPABILITIES};

    fn read32(p: &mut RootPort, off: u16) -> u32 {
        let mut b = [0u8; 4];
        p.config_read(off, &mut b);
        u32::from_le_bytes(b)
    }

    #[test]
    fn header_and_capabilities() {
        let mut cfg = RootPortConfig::new(2);
        cfg.msi = Some(Arc::new(RecordingMsiGroup::new(1)));
        cfg.link_width = LinkWidth::X4;
        let mut p = RootPort::new(cfg).unwrap();
        assert_eq!(read32(&mut p, 0), 0x000c_1b36);
        assert_eq!(read32(&mut p, 8) >> 8, 0x06_04_00);
        let mut h = [0u8];
        p.config_read(HEADER_TYPE, &mut h);
        assert_eq!(h[0], 1);
        let caps: Vec<u8> = p
            .function()
            .config()
            .capabilities()
            .iter()
            .map(|c| c.0)
            .collect();
        assert_eq!(
            caps,
            vec![CAP_ID_PCI_EXPRESS, CAP_ID_POWER_MANAGEMENT, CAP_ID_MSI]
        );
        let o = p.pcie_cap_offset();
        assert_eq!((read32(&mut p, o) >> 16) as u16 & 0xf0, 0x40);
        let lnksta = (read32(&mut p, o + LINK_STATUS as u16) & 0xffff) as u16;
        assert_eq!((lnksta >> 4) & 0x3f, 4);
        let _ = PCIE_CAPABILITIES;
        p.config_write(SECONDARY_BUS, &[5, 7]);
        let w = p.windows();
        assert_eq!((w.secondary_bus, w.subordinate_bus), (5, 7));
    }

    #[test]
    fn extensible() {
        let mut p = RootPort::new(RootPortConfig::new(0)).unwrap();
        let c = p.function_mut().config_mut();
        let off = add_dvsec(c, &dvsec(0x1e98, 0, 3, 0x0c).unwrap()).unwrap();
        assert_eq!(off, 0x100);
        c.add_bar(0, PciBar::memory64(0x1_0000, false)).unwrap();
        assert_eq!(p.bars().len(), 1);
        p.config_write(0x10, &[0xff; 8]);
        assert_eq!(read32(&mut p, 0x10), 0xffff_0004);
    }
}
