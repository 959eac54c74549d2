//! System description table plumbing shared by every table.

use acpi_tables::sdt::Sdt;
use acpi_tables::Aml;

/// OEMID of every table (ACPI 6.5 5.2.6).
pub(crate) const OEM_ID: [u8; 6] = *b"CXLVMM";
/// OEM Table ID of every table (ACPI 6.5 5.2.6).
pub(crate) const OEM_TABLE_ID: [u8; 8] = *b"CXLVMM  ";
/// OEM Revision of every table (ACPI 6.5 5.2.6).
pub(crate) const OEM_REVISION: u32 = 1;
/// Length of the common table header (ACPI 6.5 5.2.6).
pub(crate) const HEADER_LEN: usize = 36;

/// A whole table: our header, then `body`, with length and checksum set.
///
/// The body is appended in one go: `Sdt::append_slice` re-sums the whole
/// table on every call.
pub(crate) fn table(signature: [u8; 4], revision: u8, body: &[u8]) -> Vec<u8> {
    let mut sdt = Sdt::new(
        signature,
        HEADER_LEN as u32,
        revision,
        OEM_ID,
        OEM_TABLE_ID,
        OEM_REVISION,
    );
    sdt.append_slice(body);
    sdt.as_slice().to_vec()
}

/// Serializes an AML object or table.
pub(crate) fn bytes_of(aml: &dyn Aml) -> Vec<u8> {
    let mut bytes = Vec::new();
    aml.to_aml_bytes(&mut bytes);
    bytes
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Whether all bytes of a table sum to zero.
    pub(crate) fn checksum_ok(bytes: &[u8]) -> bool {
        bytes.iter().fold(0u8, |sum, b| sum.wrapping_add(*b)) == 0
    }

    /// Little-endian u16 at `off`.
    pub(crate) fn u16_at(bytes: &[u8], off: usize) -> u16 {
        u16::from_le_bytes(bytes[off..off + 2].try_into().unwrap())
    }

    /// Little-endian u32 at `off`.
    pub(crate) fn u32_at(bytes: &[u8], off: usize) -> u32 {
        u32::from_le_bytes(bytes[off..off + 4].try_into().unwrap())
    }

    /// Little-endian u64 at `off`.
    pub(crate) fn u64_at(bytes: &[u8], off: usize) -> u64 {
        u64::from_le_bytes(bytes[off..off + 8].try_into().unwrap())
    }

    #[test]
    fn append_keeps_length_and_checksum() {
        let b = &table(*b"TEST", 7, &[1, 2, 3, 0xff]);
        assert_eq!(&b[..4], b"TEST");
        assert_eq!(b[8], 7);
        assert_eq!(&b[10..16], b"CXLVMM");
        assert_eq!(b.len(), HEADER_LEN + 4);
        assert_eq!(u32_at(b, 4) as usize, b.len());
        assert!(checksum_ok(b));
    }
}
