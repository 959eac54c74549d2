//! Capability IDs and the builders for small generic capabilities: Power
//! Management and the Designated Vendor-Specific Extended Capability (DVSEC).
//!
//! Each builder returns a [`RegisterBlock`] holding the whole capability
//! (offsets relative to its start, as the specs tabulate them); add it with
//! [`ConfigSpace::add_capability`] or [`ConfigSpace::add_ext_capability`],
//! which fill in the ID and next pointer.

use super::config::{ConfigError, ConfigSpace};
use super::regblock::RegisterBlock;

// Capability IDs (PCI Code and ID Assignment Specification 1.16, 2.1).
/// PCI Power Management Interface.
pub const CAP_ID_POWER_MANAGEMENT: u8 = 0x01;
/// MSI.
pub const CAP_ID_MSI: u8 = 0x05;
/// PCI Express.
pub const CAP_ID_PCI_EXPRESS: u8 = 0x10;
/// MSI-X.
pub const CAP_ID_MSIX: u8 = 0x11;

// Extended capability IDs (PCI Code and ID Assignment Specification 1.16, 3.1).
/// Advanced Error Reporting.
pub const EXT_CAP_ID_AER: u16 = 0x0001;
/// Designated Vendor-Specific Extended Capability.
pub const EXT_CAP_ID_DVSEC: u16 = 0x0023;
/// Data Object Exchange.
pub const EXT_CAP_ID_DOE: u16 = 0x002e;

// Power Management capability (PCI Bus Power Management Interface 1.2, 3.2).
/// Size of the PM capability.
pub const PM_CAP_SIZE: usize = 8;
/// Power Management Capabilities (PMC) register offset.
pub const PM_PMC: usize = 0x02;
/// Power Management Control/Status (PMCSR) register offset.
pub const PM_PMCSR: usize = 0x04;
/// PMC version field: 011b = PCI PM 1.2.
pub const PM_PMC_VERSION_1_2: u16 = 0x3;
/// PMCSR PowerState field (bits 1:0; D0 = 0, D3hot = 3).
pub const PM_PMCSR_POWER_STATE: u16 = 0x3;
/// PMCSR No_Soft_Reset (bit 3): D3hot to D0 keeps the function's state.
pub const PM_PMCSR_NO_SOFT_RESET: u16 = 1 << 3;
/// PMCSR PME_En (bit 8).
pub const PM_PMCSR_PME_EN: u16 = 1 << 8;
/// PMCSR PME_Status (bit 15, RW1C).
pub const PM_PMCSR_PME_STATUS: u16 = 1 << 15;

/// A Power Management capability for a function that supports D0 and D3hot
/// only, keeps its state across D3hot (No_Soft_Reset) and generates no PME.
/// The guest may write PowerState; the model keeps working in any state.
pub fn power_management() -> RegisterBlock {
    let mut b = RegisterBlock::new(PM_CAP_SIZE);
    b.set_u16(PM_PMC, PM_PMC_VERSION_1_2);
    b.set_u16(PM_PMCSR, PM_PMCSR_NO_SOFT_RESET);
    b.set_wmask_u16(PM_PMCSR, PM_PMCSR_POWER_STATE | PM_PMCSR_PME_EN);
    b.set_w1c_u16(PM_PMCSR, PM_PMCSR_PME_STATUS);
    b
}

// DVSEC (PCIe 6.0 7.9.6).
/// DVSEC capability version.
pub const DVSEC_VERSION: u8 = 1;
/// Designated Vendor-Specific Header 1 offset: vendor ID, revision, length.
pub const DVSEC_HEADER1: usize = 0x04;
/// Designated Vendor-Specific Header 2 offset: DVSEC ID.
pub const DVSEC_HEADER2: usize = 0x08;
/// First byte of the DVSEC body.
pub const DVSEC_BODY: usize = 0x0a;
/// Largest DVSEC (12-bit length field).
pub const DVSEC_MAX_LEN: usize = 0xfff;

/// An empty DVSEC `len` bytes long (headers included, so `len >= 0x0a`) with
/// both headers filled in. Fill the body at offsets from [`DVSEC_BODY`] on,
/// with values and masks, then add it with [`add_dvsec`].
pub fn dvsec(
    vendor_id: u16,
    revision: u8,
    dvsec_id: u16,
    len: usize,
) -> Result<RegisterBlock, ConfigError> {
    if !(DVSEC_BODY..=DVSEC_MAX_LEN).contains(&len) {
        return Err(ConfigError::CapabilityLength(len));
    }
    let mut b = RegisterBlock::new(len);
    b.set_u32(
        DVSEC_HEADER1,
        u32::from(vendor_id) | (u32::from(revision & 0xf) << 16) | ((len as u32) << 20),
    );
    b.set_u16(DVSEC_HEADER2, dvsec_id);
    Ok(b)
}

/// Adds a DVSEC built with [`dvsec`]; returns its offset.
pub fn add_dvsec(config: &mut ConfigSpace, block: &RegisterBlock) -> Result<u16, ConfigError> {
    config.add_ext_capability(EXT_CAP_ID_DVSEC, DVSEC_VERSION, block)
}

/// Offsets of every DVSEC with this vendor and ID, in list order.
pub fn find_dvsecs(config: &ConfigSpace, vendor_id: u16, dvsec_id: u16) -> Vec<u16> {
    config
        .ext_capabilities()
        .into_iter()
        .filter(|c| c.id == EXT_CAP_ID_DVSEC)
        .map(|c| c.offset)
        .filter(|&o| {
            let h1 = config.read_u32(o.saturating_add(DVSEC_HEADER1 as u16));
            let h2 = config.read_u16(o.saturating_add(DVSEC_HEADER2 as u16));
            h1 as u16 == vendor_id && h2 == dvsec_id
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pci::config::{HeaderType, PciIds};

    #[test]
    fn pm_capability_masks() {
        let mut c = ConfigSpace::new(HeaderType::Endpoint, &PciIds::default());
        let off = c
            .add_capability(CAP_ID_POWER_MANAGEMENT, &power_management())
            .unwrap();
        assert_eq!(c.read_u16(off + 2), 0x3);
        c.write(off + 4, &0xffffu16.to_le_bytes());
        assert_eq!(c.read_u16(off + 4), 0x0103 | PM_PMCSR_NO_SOFT_RESET);
        c.regs_mut()
            .set_u16(usize::from(off) + PM_PMCSR, PM_PMCSR_PME_STATUS);
        c.write(off + 4, &PM_PMCSR_PME_STATUS.to_le_bytes());
        assert_eq!(c.read_u16(off + 4), 0);
    }

    #[test]
    fn dvsec_headers_and_lookup() {
        let mut c = ConfigSpace::new(HeaderType::Endpoint, &PciIds::default());
        let mut a = dvsec(0x1e98, 2, 0, 0x3c).unwrap();
        a.set_u16(0x0c, 0x1234);
        a.set_wmask_u16(0x0c, 0x00ff);
        let b = dvsec(0x1e98, 0, 8, 0x24).unwrap();
        let oa = add_dvsec(&mut c, &a).unwrap();
        let ob = add_dvsec(&mut c, &b).unwrap();
        assert_eq!(oa, 0x100);
        assert_eq!(c.read_u32(oa + 4), 0x03c2_1e98);
        assert_eq!(c.read_u16(oa + 8), 0);
        assert_eq!(c.read_u32(ob + 4), 0x0240_1e98);
        assert_eq!(c.read_u16(ob + 8), 8);
        c.write(oa + 0x0c, &[0xff, 0xff]);
        assert_eq!(c.read_u16(oa + 0x0c), 0x12ff);
        c.write(oa + 4, &[0; 6]);
        assert_eq!(c.read_u32(oa + 4), 0x03c2_1e98);
        assert_eq!(find_dvsecs(&c, 0x1e98, 8), vec![ob]);
        assert_eq!(find_dvsecs(&c, 0x1e98, 0), vec![oa]);
        assert!(find_dvsecs(&c, 0x1234, 0).is_empty());
        assert!(dvsec(0x1e98, 0, 0, 8).is_err());
        assert!(dvsec(0x1e98, 0, 0, 0x1000).is_err());
    }
}
