//! The PCI Express memory-mapped configuration table "MCFG" (PCI Firmware
//! Specification 3.3 4.1.2): one ECAM allocation for segment 0.

use acpi_tables::mcfg::MCFG;
use arch::layout;

use crate::sdt::{bytes_of, OEM_ID, OEM_REVISION, OEM_TABLE_ID};

/// PCI segment group of every host bridge.
pub(crate) const SEGMENT: u16 = 0;

/// The MCFG describing [`layout::PCI_ECAM_START`].
pub(crate) fn build() -> Vec<u8> {
    let mut mcfg = MCFG::new(OEM_ID, OEM_TABLE_ID, OEM_REVISION);
    mcfg.add_ecam(
        layout::PCI_ECAM_START,
        SEGMENT,
        layout::PCI_ECAM_BUS_START,
        layout::PCI_ECAM_BUS_END,
    );
    bytes_of(&mcfg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdt::tests::{checksum_ok, u16_at, u32_at, u64_at};

    #[test]
    fn one_allocation() {
        let b = build();
        assert_eq!(&b[..4], b"MCFG");
        // Header, 8 reserved bytes, one 16-byte allocation (Table 4-3).
        assert_eq!(b.len(), 36 + 8 + 16);
        assert_eq!(u32_at(&b, 4) as usize, b.len());
        assert!(checksum_ok(&b));
        assert_eq!(u64_at(&b, 44), 0xe000_0000, "base address");
        assert_eq!(u16_at(&b, 52), 0, "segment group");
        assert_eq!(b[54], 0, "start bus");
        assert_eq!(b[55], 255, "end bus");
        assert_eq!(u32_at(&b, 56), 0, "reserved");
    }
}
