//! A CXL root port (CXL 3.1 8.1.5-8.1.9, 9.12): a PCIe root port with the
//! CXL Extensions DVSEC for Ports, the GPF DVSEC for ports, the Flex Bus
//! port DVSEC, and a Register Locator pointing at component registers (RAS)
//! in its BAR 0.

use crate::pci::aer::{Aer, ErrorMessage};
use crate::pci::{BarInfo, PciBar, PciDevice, RootPort, RootPortConfig};

use super::component::{ComponentRegisters, COMPONENT_BLOCK_SIZE};
use super::dvsec::{
    flex_bus_port_dvsec, port_extensions_dvsec, port_gpf_dvsec, register_locator_dvsec,
    FlexBusRole, GpfTime, RegisterBlockEntry, RegisterBlockId,
};
use super::pci_caps::add_dvsec_body;

/// BAR holding the component registers.
pub const COMPONENT_BAR: u8 = 0;

/// A CXL root port.
pub struct CxlRootPort {
    port: RootPort,
    component: ComponentRegisters,
    aer: Aer,
}

impl CxlRootPort {
    /// A root port with `cfg`, plus the CXL structures.
    pub fn new(cfg: RootPortConfig) -> Result<Self, String> {
        let mut port = RootPort::new(cfg).map_err(|e| format!("root port: {e:?}"))?;
        let pcie_cap = port.pcie_cap_offset();
        let config = port.function_mut().config_mut();
        let aer = Aer::add(config, pcie_cap, true).map_err(|e| format!("AER: {e:?}"))?;
        config
            .add_bar(COMPONENT_BAR, PciBar::memory32(COMPONENT_BLOCK_SIZE))
            .map_err(|e| format!("root port BAR: {e:?}"))?;
        let gpf = port_gpf_dvsec(GpfTime { base: 2, scale: 7 }, GpfTime { base: 2, scale: 7 })
            .map_err(|e| format!("GPF DVSEC: {e:?}"))?;
        let locator = register_locator_dvsec(&[RegisterBlockEntry {
            bar: COMPONENT_BAR,
            id: RegisterBlockId::Component,
            offset: 0,
        }])
        .map_err(|e| format!("register locator: {e:?}"))?;
        for body in [
            port_extensions_dvsec(),
            gpf,
            flex_bus_port_dvsec(FlexBusRole::DownstreamPort, false),
            locator,
        ] {
            add_dvsec_body(config, &body).map_err(|e| format!("DVSEC: {e:?}"))?;
        }
        Ok(Self {
            port,
            component: ComponentRegisters::downstream_port(),
            aer,
        })
    }

    /// Receives an error message from the device below (function 0 of the
    /// secondary bus): Root Error Status and Error Source Identification,
    /// then the port's MSI if Root Error Command enables it (Linux's AER
    /// driver services it). True if the interrupt was signalled.
    pub fn receive_error(&mut self, message: ErrorMessage) -> bool {
        let source = u16::from(self.port.windows().secondary_bus) << 8;
        let function = self.port.function_mut();
        let interrupt = self.aer.receive(function.config_mut(), message, source);
        if interrupt {
            function.trigger_msi();
        }
        crate::trace::emit(crate::trace::Kind::Interrupt, None, || {
            crate::trace::json!({
                "what": "aer",
                "message": message.name(),
                "source": format!("{:02x}:00.0", source >> 8),
                "signalled": interrupt,
            })
        });
        interrupt
    }
}

impl PciDevice for CxlRootPort {
    fn config_read(&mut self, offset: u16, data: &mut [u8]) {
        self.port.config_read(offset, data)
    }

    fn config_write(&mut self, offset: u16, data: &[u8]) {
        self.port.config_write(offset, data)
    }

    fn bars(&self) -> Vec<BarInfo> {
        self.port.bars()
    }

    fn bar_read(&mut self, bar: u8, offset: u64, data: &mut [u8]) {
        if bar == COMPONENT_BAR {
            self.component.read(offset, data);
        } else {
            self.port.bar_read(bar, offset, data);
        }
    }

    fn bar_write(&mut self, bar: u8, offset: u64, data: &[u8]) {
        if bar == COMPONENT_BAR {
            // A downstream port has no decoders: RAS writes only.
            let _ = self.component.write(offset, data);
        } else {
            self.port.bar_write(bar, offset, data);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cxl::dvsec::{CXL_VENDOR_ID, DVSEC_PORT_EXTENSIONS, DVSEC_REGISTER_LOCATOR};
    use crate::pci::caps::find_dvsecs;

    #[test]
    fn root_port_carries_cxl_dvsecs_and_component_bar() {
        let mut rp = CxlRootPort::new(RootPortConfig::new(3)).unwrap();
        let cfg = rp.port.function().config();
        assert_eq!(
            find_dvsecs(cfg, CXL_VENDOR_ID, DVSEC_PORT_EXTENSIONS).len(),
            1
        );
        assert_eq!(
            find_dvsecs(cfg, CXL_VENDOR_ID, DVSEC_REGISTER_LOCATOR).len(),
            1
        );
        assert_eq!(rp.bars().len(), 1);
        assert_eq!(rp.bars()[0].bar.size, COMPONENT_BLOCK_SIZE);
        // RAS capability present in the component block.
        let mut b = [0u8; 4];
        rp.bar_read(COMPONENT_BAR, 0x1000, &mut b);
        assert_eq!(u32::from_le_bytes(b) >> 24, 1, "one capability (RAS)");
    }
}
