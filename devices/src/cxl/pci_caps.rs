//! Placing CXL structures into a PCI function's configuration space: DVSEC
//! bodies, the Device Serial Number, and an empty DOE capability whose
//! registers the device model serves itself.

use crate::pci::caps::{add_dvsec, dvsec};
use crate::pci::{ConfigError, ConfigSpace, RegisterBlock};

use super::doe::{DOE_CAP_SIZE, DOE_CAP_VERSION, DOE_EXT_CAP_ID};
use super::dvsec::{DvsecBody, CXL_VENDOR_ID};

/// Device Serial Number extended capability ID (PCIe 6.0 7.9.3).
pub const EXT_CAP_ID_DSN: u16 = 0x0003;
/// DSN capability version.
const DSN_VERSION: u8 = 1;
/// DSN capability length: header + 64-bit serial (PCIe 6.0 7.9.3).
const DSN_SIZE: usize = 12;

/// Adds a CXL DVSEC: its bytes and masks from Header 1 on. Returns the
/// capability offset.
pub fn add_dvsec_body(config: &mut ConfigSpace, body: &DvsecBody) -> Result<u16, ConfigError> {
    let len = usize::from(body.length());
    let mut block = dvsec(CXL_VENDOR_ID, body.revision, body.dvsec_id, len)?;
    for (i, (&value, (&wmask, &w1c))) in body
        .bytes
        .iter()
        .zip(body.write_mask.iter().zip(&body.w1c_mask))
        .enumerate()
    {
        let off = i + 4;
        block.set_u8(off, value);
        block.set_wmask_u8(off, wmask);
        if w1c != 0 {
            block.set_w1c(off, u64::from(w1c), 1);
        }
    }
    add_dvsec(config, &block)
}

/// Adds the Device Serial Number capability (Linux's `pci_get_dsn`, which
/// `cxl_pci` takes as the memdev's serial).
pub fn add_dsn(config: &mut ConfigSpace, serial: u64) -> Result<u16, ConfigError> {
    let mut block = RegisterBlock::new(DSN_SIZE);
    block.set_u64(4, serial);
    config.add_ext_capability(EXT_CAP_ID_DSN, DSN_VERSION, &block)
}

/// Adds an empty DOE capability; the device serves offsets 4.. itself.
pub fn add_doe(config: &mut ConfigSpace) -> Result<u16, ConfigError> {
    config.add_ext_capability(
        DOE_EXT_CAP_ID,
        DOE_CAP_VERSION,
        &RegisterBlock::new(usize::from(DOE_CAP_SIZE)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cxl::dvsec::register_locator_dvsec;
    use crate::pci::{HeaderType, PciIds};

    fn cfg() -> ConfigSpace {
        ConfigSpace::new(
            HeaderType::Endpoint,
            &PciIds {
                vendor_id: 1,
                device_id: 2,
                ..Default::default()
            },
        )
    }

    #[test]
    fn dvsec_bytes_and_masks_land_at_the_capability() {
        let mut c = cfg();
        let body = register_locator_dvsec(&[]).unwrap();
        let off = add_dvsec_body(&mut c, &body).unwrap();
        assert_eq!(c.read_u16(off + 4), CXL_VENDOR_ID);
        assert_eq!(c.read_u16(off + 8), body.dvsec_id);
        assert_eq!(
            u64::from(c.read_u32(off + 4)),
            body.get(4, 4),
            "header 1 as the body says"
        );
    }

    #[test]
    fn dsn_reads_back_the_serial() {
        let mut c = cfg();
        let off = add_dsn(&mut c, 0x1122_3344_5566_7788).unwrap();
        assert_eq!(c.read_u16(off), EXT_CAP_ID_DSN);
        assert_eq!(c.read_u32(off + 4), 0x5566_7788);
        assert_eq!(c.read_u32(off + 8), 0x1122_3344);
        // Read-only.
        c.write(off + 4, &[0; 4]);
        assert_eq!(c.read_u32(off + 4), 0x5566_7788);
    }
}
