//! MSI with one vector, 64-bit addresses and per-vector masking
//! (PCIe 6.0 7.7.1). Multiple Message Capable is 0 (one message).
//!
//! The registers live in configuration space; [`MsiConfig`] reads them after
//! every guest write that touches the capability ([`MsiConfig::update`]) and
//! keeps the route of the device's [`MsiGroup`] vector 0 current.

use std::sync::Arc;

use super::config::{ConfigError, ConfigSpace};
use super::regblock::RegisterBlock;
use crate::interrupt::{MsiGroup, MsiMessage};

/// Size of a 64-bit MSI capability with per-vector masking.
pub const MSI_CAP_SIZE: usize = 0x18;
/// Message Control (PCIe 6.0 7.7.1.2).
pub const MSI_MESSAGE_CONTROL: usize = 0x02;
/// Message Address (PCIe 6.0 7.7.1.3).
pub const MSI_MESSAGE_ADDRESS: usize = 0x04;
/// Message Upper Address (PCIe 6.0 7.7.1.4).
pub const MSI_MESSAGE_UPPER_ADDRESS: usize = 0x08;
/// Message Data (PCIe 6.0 7.7.1.5).
pub const MSI_MESSAGE_DATA: usize = 0x0c;
/// Mask Bits (PCIe 6.0 7.7.1.7).
pub const MSI_MASK_BITS: usize = 0x10;
/// Pending Bits (PCIe 6.0 7.7.1.8).
pub const MSI_PENDING_BITS: usize = 0x14;
/// Message Control: MSI Enable (bit 0).
pub const MSI_CONTROL_ENABLE: u16 = 1 << 0;
/// Message Control: Multiple Message Enable (bits 6:4).
pub const MSI_CONTROL_MME: u16 = 0x7 << 4;
/// Message Control: 64 Bit Address Capable (bit 7).
pub const MSI_CONTROL_64BIT: u16 = 1 << 7;
/// Message Control: Per-Vector Masking Capable (bit 8).
pub const MSI_CONTROL_PER_VECTOR_MASKING: u16 = 1 << 8;

/// MSI state of one function.
pub struct MsiConfig {
    group: Arc<dyn MsiGroup>,
    offset: Option<u16>,
    enabled: bool,
    masked: bool,
    message: MsiMessage,
}

impl MsiConfig {
    /// MSI delivering through vector 0 of `group`.
    pub fn new(group: Arc<dyn MsiGroup>) -> Result<Self, ConfigError> {
        if group.is_empty() {
            return Err(ConfigError::InvalidRegion("MSI group has no vector"));
        }
        Ok(Self {
            group,
            offset: None,
            enabled: false,
            masked: false,
            message: MsiMessage::default(),
        })
    }

    /// The capability (ID and next pointer are filled in when added).
    pub fn capability() -> RegisterBlock {
        let mut b = RegisterBlock::new(MSI_CAP_SIZE);
        b.set_u16(
            MSI_MESSAGE_CONTROL,
            MSI_CONTROL_64BIT | MSI_CONTROL_PER_VECTOR_MASKING,
        );
        b.set_wmask_u16(MSI_MESSAGE_CONTROL, MSI_CONTROL_ENABLE | MSI_CONTROL_MME);
        b.set_wmask_u32(MSI_MESSAGE_ADDRESS, !0x3);
        b.set_wmask_u32(MSI_MESSAGE_UPPER_ADDRESS, u32::MAX);
        b.set_wmask_u16(MSI_MESSAGE_DATA, u16::MAX);
        b.set_wmask_u32(MSI_MASK_BITS, 1);
        b
    }

    /// Adds the capability to `config` and remembers where it is.
    pub fn add_to(&mut self, config: &mut ConfigSpace) -> Result<u16, ConfigError> {
        let off = config.add_capability(super::caps::CAP_ID_MSI, &Self::capability())?;
        self.offset = Some(off);
        Ok(off)
    }

    /// Offset of the capability, once added.
    pub fn offset(&self) -> Option<u16> {
        self.offset
    }

    /// MSI Enable as the guest last wrote it.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    fn reg(&self, field: usize) -> Option<u16> {
        self.offset?.checked_add(field as u16)
    }

    fn pending(&self, config: &ConfigSpace) -> bool {
        self.reg(MSI_PENDING_BITS)
            .is_some_and(|o| config.read_u32(o) & 1 != 0)
    }

    fn set_pending(&self, config: &mut ConfigSpace, pending: bool) {
        if let Some(o) = self.reg(MSI_PENDING_BITS) {
            config.regs_mut().set_u32(o.into(), u32::from(pending));
        }
    }

    fn deliver(&self) {
        if let Err(e) = self.group.trigger(0) {
            crate::warn_limited!("msi: delivery: {e}");
        }
    }

    /// Re-reads the capability after a guest write to it.
    pub fn update(&mut self, config: &mut ConfigSpace) {
        let (Some(ctl), Some(addr), Some(data), Some(mask)) = (
            self.reg(MSI_MESSAGE_CONTROL),
            self.reg(MSI_MESSAGE_ADDRESS),
            self.reg(MSI_MESSAGE_DATA),
            self.reg(MSI_MASK_BITS),
        ) else {
            return;
        };
        let enabled = config.read_u16(ctl) & MSI_CONTROL_ENABLE != 0;
        let masked = config.read_u32(mask) & 1 != 0;
        let address =
            u64::from(config.read_u32(addr)) | (u64::from(config.read_u32(addr + 4)) << 32);
        let message = MsiMessage {
            address,
            data: u32::from(config.read_u16(data)),
        };
        let changed = message != self.message || (enabled && !self.enabled);
        self.enabled = enabled;
        self.masked = masked;
        self.message = message;
        if enabled && changed {
            if let Err(e) = self.group.set_route(0, message) {
                crate::warn_limited!("msi: route: {e}");
            }
        }
        if enabled && !masked && self.pending(config) {
            self.set_pending(config, false);
            self.deliver();
        }
    }

    /// The device signals its interrupt: delivered when enabled and
    /// unmasked, pending when masked, dropped when MSI is disabled.
    pub fn trigger(&mut self, config: &mut ConfigSpace) {
        if !self.enabled {
            return;
        }
        if self.masked {
            self.set_pending(config, true);
        } else {
            self.deliver();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interrupt::RecordingMsiGroup;
    use crate::pci::config::{HeaderType, PciIds};

    #[test]
    fn enable_route_mask_pending() {
        let g = Arc::new(RecordingMsiGroup::new(1));
        let mut msi = MsiConfig::new(g.clone()).unwrap();
        let mut c = ConfigSpace::new(HeaderType::Endpoint, &PciIds::default());
        let o = msi.add_to(&mut c).unwrap();
        assert_eq!(c.read_u16(o + 2), 0x0180);
        msi.trigger(&mut c);
        assert!(g.fired().is_empty());
        c.write(o + 4, &0xfee0_0000u32.to_le_bytes());
        c.write(o + 0xc, &0x31u16.to_le_bytes());
        c.write(o + 2, &1u16.to_le_bytes());
        msi.update(&mut c);
        msi.trigger(&mut c);
        let m = MsiMessage {
            address: 0xfee0_0000,
            data: 0x31,
        };
        assert_eq!(g.fired(), vec![(0, m)]);
        c.write(o + 0x10, &1u32.to_le_bytes());
        msi.update(&mut c);
        msi.trigger(&mut c);
        assert_eq!(g.fired().len(), 1);
        assert_eq!(c.read_u32(o + 0x14), 1);
        c.write(o + 0x10, &0u32.to_le_bytes());
        msi.update(&mut c);
        assert_eq!(g.fired().len(), 2);
        assert_eq!(c.read_u32(o + 0x14), 0);
    }
}
