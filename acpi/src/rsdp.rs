//! The root of the table tree: RSDP (ACPI 6.5 5.2.5) and XSDT (5.2.8).

use acpi_tables::rsdp::Rsdp;
use acpi_tables::xsdt::XSDT;

use crate::sdt::{bytes_of, OEM_ID, OEM_REVISION, OEM_TABLE_ID};

/// A revision 2 RSDP pointing at the XSDT (no RSDT).
pub(crate) fn rsdp(xsdt_addr: u64) -> Vec<u8> {
    bytes_of(&Rsdp::new(OEM_ID, xsdt_addr))
}

/// An XSDT listing `entries` (every table but RSDP, XSDT and DSDT).
pub(crate) fn xsdt(entries: &[u64]) -> Vec<u8> {
    let mut xsdt = XSDT::new(OEM_ID, OEM_TABLE_ID, OEM_REVISION);
    for &addr in entries {
        xsdt.add_entry(addr);
    }
    bytes_of(&xsdt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdt::tests::{checksum_ok, u32_at, u64_at};

    #[test]
    fn rsdp_fields() {
        let b = rsdp(0x1234_5670);
        assert_eq!(b.len(), 36);
        assert_eq!(&b[..8], b"RSD PTR ");
        // Revision at 15, Length at 20, XsdtAddress at 24 (ACPI 6.5 5.2.5.3).
        assert_eq!(b[15], 2);
        assert_eq!(u32_at(&b, 20), 36);
        assert_eq!(u64_at(&b, 24), 0x1234_5670);
        assert!(checksum_ok(&b[..20]), "ACPI 1.0 checksum");
        assert!(checksum_ok(&b), "extended checksum");
    }

    #[test]
    fn xsdt_entries() {
        let b = xsdt(&[0x1000, 0x2000]);
        assert_eq!(&b[..4], b"XSDT");
        assert_eq!(b.len(), 36 + 16);
        assert_eq!(u32_at(&b, 4) as usize, b.len());
        assert_eq!(u64_at(&b, 36), 0x1000);
        assert_eq!(u64_at(&b, 44), 0x2000);
        assert!(checksum_ok(&b));
    }
}
