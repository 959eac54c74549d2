//! The [`PciDevice`] trait every PCI function implements, and
//! [`PciFunction`], the common behaviour a function built from a
//! [`ConfigSpace`] (plus optional MSI-X and MSI) gets for free.
//!
//! A device model usually holds a `PciFunction` and forwards each trait
//! method to it, first intercepting what it owns (for example a DOE mailbox
//! in extended configuration space, or its registers in a BAR):
//!
//! ```ignore
//! impl PciDevice for MyDevice {
//!     fn config_read(&mut self, offset: u16, data: &mut [u8]) {
//!         if self.doe.contains(offset) {
//!             return self.doe.read(offset, data);
//!         }
//!         self.function.config_read(offset, data)
//!     }
//!     fn bar_write(&mut self, bar: u8, offset: u64, data: &[u8]) {
//!         if !self.function.msix_bar_write(bar, offset, data) {
//!             self.registers.write(bar, offset, data);
//!         }
//!     }
//!     // config_write, bars, bar_read likewise.
//! }
//! ```

use std::sync::{Arc, Mutex};

use super::bar::{BarInfo, BarKind};
use super::caps::CAP_ID_MSIX;
use super::config::{ConfigError, ConfigSpace};
use super::msi::{MsiConfig, MSI_CAP_SIZE};
use super::msix::{BarLocation, MsixConfig, MSIX_MESSAGE_CONTROL};

/// One PCI function as the segment sees it.
///
/// Configuration accesses: `offset` is the byte offset in the 4 KiB space
/// (0..0x1000) and `data.len()` is 1..=4; the segment splits guest accesses
/// so that one call never crosses a dword boundary. BAR accesses: `offset` is
/// from the start of BAR `bar` (the low index of a 64-bit BAR) and lies in
/// the BAR; any length the guest used. None of these may panic: unknown
/// reads return zero or all-ones, unknown writes are ignored.
pub trait PciDevice: Send {
    /// Guest configuration read.
    fn config_read(&mut self, offset: u16, data: &mut [u8]);
    /// Guest configuration write.
    fn config_write(&mut self, offset: u16, data: &[u8]);
    /// The implemented BARs as currently programmed. The segment maps a BAR
    /// when the Command register enables its space and the address is valid.
    fn bars(&self) -> Vec<BarInfo>;
    /// Guest read in a BAR.
    fn bar_read(&mut self, bar: u8, offset: u64, data: &mut [u8]);
    /// Guest write in a BAR.
    fn bar_write(&mut self, bar: u8, offset: u64, data: &[u8]);
}

/// A PCI device shared between the segment and its BAR mappings.
pub type SharedPciDevice = Arc<Mutex<dyn PciDevice>>;

/// Configuration space plus the interrupt capabilities whose registers the
/// configuration space and BARs hold.
pub struct PciFunction {
    config: ConfigSpace,
    msix: Option<(u16, MsixConfig)>,
    msi: Option<MsiConfig>,
}

fn overlaps(offset: u16, len: usize, start: u16, end: u16) -> bool {
    let (o, s, e) = (usize::from(offset), usize::from(start), usize::from(end));
    o < e && o + len > s
}

impl PciFunction {
    /// A function with this configuration space.
    pub fn new(config: ConfigSpace) -> Self {
        Self {
            config,
            msix: None,
            msi: None,
        }
    }

    /// The configuration space.
    pub fn config(&self) -> &ConfigSpace {
        &self.config
    }

    /// The configuration space, for the builder and device-side changes.
    pub fn config_mut(&mut self) -> &mut ConfigSpace {
        &mut self.config
    }

    fn check_region(&self, at: BarLocation, size: u64) -> Result<(), ConfigError> {
        let bar = self.config.bar(at.bar).ok_or(ConfigError::InvalidRegion(
            "MSI-X structure in a missing BAR",
        ))?;
        if bar.kind() == BarKind::Io || u64::from(at.offset) + size > bar.size() {
            return Err(ConfigError::InvalidRegion(
                "MSI-X structure outside its BAR",
            ));
        }
        Ok(())
    }

    /// Adds the MSI-X capability; its table and PBA must lie in memory BARs
    /// already added. Returns the capability offset.
    pub fn add_msix(&mut self, msix: MsixConfig) -> Result<u16, ConfigError> {
        if self.msix.is_some() {
            return Err(ConfigError::InvalidRegion("MSI-X already present"));
        }
        self.check_region(msix.table_location(), msix.table_size())?;
        self.check_region(msix.pba_location(), msix.pba_size())?;
        let off = self
            .config
            .add_capability(CAP_ID_MSIX, &msix.capability())?;
        self.msix = Some((off, msix));
        Ok(off)
    }

    /// Adds the MSI capability. Returns its offset.
    pub fn add_msi(&mut self, mut msi: MsiConfig) -> Result<u16, ConfigError> {
        if self.msi.is_some() {
            return Err(ConfigError::InvalidRegion("MSI already present"));
        }
        let off = msi.add_to(&mut self.config)?;
        self.msi = Some(msi);
        Ok(off)
    }

    /// The MSI-X state, if the function has MSI-X.
    pub fn msix(&self) -> Option<&MsixConfig> {
        self.msix.as_ref().map(|(_, m)| m)
    }

    /// The MSI-X state, mutably.
    pub fn msix_mut(&mut self) -> Option<&mut MsixConfig> {
        self.msix.as_mut().map(|(_, m)| m)
    }

    /// The MSI state, if the function has MSI.
    pub fn msi(&self) -> Option<&MsiConfig> {
        self.msi.as_ref()
    }

    /// Signals MSI-X `vector` (pending if masked; dropped without MSI-X).
    pub fn trigger_msix(&mut self, vector: u16) {
        if let Some((_, m)) = self.msix.as_mut() {
            m.trigger(vector);
        }
    }

    /// Signals the MSI vector (dropped without MSI or when disabled).
    pub fn trigger_msi(&mut self) {
        if let Some(m) = self.msi.as_mut() {
            m.trigger(&mut self.config);
        }
    }

    /// Serves a BAR read that hits the MSI-X table or PBA; false otherwise.
    pub fn msix_bar_read(&mut self, bar: u8, offset: u64, data: &mut [u8]) -> bool {
        let Some((_, m)) = self.msix.as_ref() else {
            return false;
        };
        let (t, p) = (m.table_location(), m.pba_location());
        if let Some(o) = region_offset(bar, offset, t, m.table_size()) {
            m.read_table(o, data);
        } else if let Some(o) = region_offset(bar, offset, p, m.pba_size()) {
            m.read_pba(o, data);
        } else {
            return false;
        }
        true
    }

    /// Serves a BAR write that hits the MSI-X table or PBA; false otherwise.
    pub fn msix_bar_write(&mut self, bar: u8, offset: u64, data: &[u8]) -> bool {
        let Some((_, m)) = self.msix.as_mut() else {
            return false;
        };
        let (t, p) = (m.table_location(), m.pba_location());
        if let Some(o) = region_offset(bar, offset, t, m.table_size()) {
            m.write_table(o, data);
        } else if let Some(o) = region_offset(bar, offset, p, m.pba_size()) {
            m.write_pba(o, data);
        } else {
            return false;
        }
        true
    }
}

/// The offset into a BAR-resident structure if the access starts inside it.
fn region_offset(bar: u8, offset: u64, at: BarLocation, size: u64) -> Option<u64> {
    if bar != at.bar {
        return None;
    }
    let rel = offset.checked_sub(u64::from(at.offset))?;
    (rel < size).then_some(rel)
}

impl PciDevice for PciFunction {
    fn config_read(&mut self, offset: u16, data: &mut [u8]) {
        self.config.read(offset, data);
    }

    fn config_write(&mut self, offset: u16, data: &[u8]) {
        self.config.write(offset, data);
        if let Some((cap, m)) = self.msix.as_mut() {
            let ctl = cap.saturating_add(MSIX_MESSAGE_CONTROL as u16);
            if overlaps(offset, data.len(), ctl, ctl.saturating_add(2)) {
                m.set_control(self.config.read_u16(ctl));
            }
        }
        if let Some(m) = self.msi.as_mut() {
            if let Some(cap) = m.offset() {
                if overlaps(
                    offset,
                    data.len(),
                    cap,
                    cap.saturating_add(MSI_CAP_SIZE as u16),
                ) {
                    m.update(&mut self.config);
                }
            }
        }
    }

    fn bars(&self) -> Vec<BarInfo> {
        self.config.bars()
    }

    fn bar_read(&mut self, bar: u8, offset: u64, data: &mut [u8]) {
        if !self.msix_bar_read(bar, offset, data) {
            data.fill(0);
        }
    }

    fn bar_write(&mut self, bar: u8, offset: u64, data: &[u8]) {
        self.msix_bar_write(bar, offset, data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interrupt::{MsiMessage, RecordingMsiGroup};
    use crate::pci::bar::PciBar;
    use crate::pci::config::{HeaderType, PciIds};
    use crate::pci::msix::{MSIX_CONTROL_ENABLE, MSIX_CONTROL_FUNCTION_MASK};

    fn function_with_msix() -> (PciFunction, Arc<RecordingMsiGroup>, u16) {
        let mut f = PciFunction::new(ConfigSpace::new(HeaderType::Endpoint, &PciIds::default()));
        f.config_mut()
            .add_bar(0, PciBar::memory64(0x4000, false))
            .unwrap();
        let g = Arc::new(RecordingMsiGroup::new(4));
        let m = MsixConfig::new(
            4,
            BarLocation {
                bar: 0,
                offset: 0x2000,
            },
            BarLocation {
                bar: 0,
                offset: 0x3000,
            },
            g.clone(),
        )
        .unwrap();
        let cap = f.add_msix(m).unwrap();
        (f, g, cap)
    }

    #[test]
    fn msix_through_config_and_bar() {
        let (mut f, g, cap) = function_with_msix();
        assert_eq!(f.config().find_capability(CAP_ID_MSIX), Some(cap));
        let ctl = MSIX_CONTROL_ENABLE | MSIX_CONTROL_FUNCTION_MASK;
        // A dword write covering the header and Message Control.
        let dword = u32::from(ctl) << 16;
        f.config_write(cap, &dword.to_le_bytes());
        assert!(f.msix().unwrap().is_enabled());
        assert!(f.msix().unwrap().is_function_masked());
        f.bar_write(0, 0x2000 + 16, &0xfee0_0000u32.to_le_bytes());
        f.bar_write(0, 0x2000 + 24, &0x55u32.to_le_bytes());
        f.bar_write(0, 0x2000 + 28, &0u32.to_le_bytes());
        f.trigger_msix(1);
        assert!(g.fired().is_empty());
        let mut pba = [0u8; 8];
        f.bar_read(0, 0x3000, &mut pba);
        assert_eq!(pba[0], 2);
        // Clearing the function mask (byte write of the upper control byte).
        f.config_write(cap + 3, &[0x80]);
        assert_eq!(
            g.fired(),
            vec![(
                1,
                MsiMessage {
                    address: 0xfee0_0000,
                    data: 0x55
                }
            )]
        );
        // Other BAR offsets are not MSI-X.
        let mut b = [0xffu8; 4];
        f.bar_read(0, 0x100, &mut b);
        assert_eq!(b, [0; 4]);
        assert!(!f.msix_bar_write(1, 0x2000, &[0]));
        assert!(!f.msix_bar_read(0, 0x2040, &mut b));
    }

    #[test]
    fn msix_regions_must_fit() {
        let mut f = PciFunction::new(ConfigSpace::new(HeaderType::Endpoint, &PciIds::default()));
        f.config_mut().add_bar(0, PciBar::memory32(0x1000)).unwrap();
        let g = Arc::new(RecordingMsiGroup::new(64));
        let at = |bar, offset| BarLocation { bar, offset };
        let m = MsixConfig::new(64, at(0, 0xe00), at(0, 0x800), g.clone()).unwrap();
        assert!(f.add_msix(m).is_err(), "table runs past the BAR");
        let m = MsixConfig::new(4, at(2, 0), at(0, 0x800), g.clone()).unwrap();
        assert!(f.add_msix(m).is_err(), "no BAR 2");
        let m = MsixConfig::new(4, at(0, 0), at(0, 0x800), g).unwrap();
        assert!(f.add_msix(m).is_ok());
    }

    #[test]
    fn msi_through_config() {
        let mut f = PciFunction::new(ConfigSpace::new(HeaderType::Bridge, &PciIds::default()));
        let g = Arc::new(RecordingMsiGroup::new(1));
        let cap = f.add_msi(MsiConfig::new(g.clone()).unwrap()).unwrap();
        f.config_write(cap + 4, &0xfee0_0000u32.to_le_bytes());
        f.config_write(cap + 0xc, &0x22u16.to_le_bytes());
        f.config_write(cap + 2, &[1]);
        f.trigger_msi();
        assert_eq!(g.fired().len(), 1);
        assert_eq!(g.fired()[0].1.data, 0x22);
    }
}
