//! Information and Status command set: Identify (CXL 3.1 8.2.9.1.1).

use super::payload::{Input, Output};
use super::{RetCode, PAYLOAD_SIZE_LOG2};
use crate::cxl::memdev::Memdev;

/// Size of the Identify output payload.
pub const IDENTIFY_SIZE: usize = 0x12;

// CXL 3.1 8.2.9.1.1 Identify (Component Type values)
/// Component Type: Type 3 device.
pub const COMPONENT_TYPE_TYPE3: u8 = 0x03;

// CXL 3.1 8.2.9.1.1 Identify (Opcode 0001h)
/// Identify: no input; PCI IDs, serial number, maximum message size and
/// component type.
pub fn identify(memdev: &mut Memdev, input: Input) -> Result<Vec<u8>, RetCode> {
    input.expect_len(0)?;
    let c = memdev.config();
    let mut o = Output::zeroed(IDENTIFY_SIZE);
    o.put_u16(0x00, c.vendor_id);
    o.put_u16(0x02, c.device_id);
    o.put_u16(0x04, c.subsys_vendor_id);
    o.put_u16(0x06, c.subsys_id);
    o.put_u64(0x08, c.serial);
    // Max Supported Message Size, log2 of bytes.
    o.put_u8(0x10, PAYLOAD_SIZE_LOG2);
    o.put_u8(0x11, COMPONENT_TYPE_TYPE3);
    Ok(o.into_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cxl::mailbox::Opcode;
    use crate::cxl::memdev::tests::test_memdev;

    #[test]
    fn identify_fields() {
        let mut m = test_memdev();
        let (rc, out) = m.execute(Opcode::Identify as u16, &[]);
        assert_eq!(rc, RetCode::Success);
        assert_eq!(out.len(), 0x12);
        assert_eq!(&out[0..2], &0x1B36u16.to_le_bytes());
        assert_eq!(&out[2..4], &0x0D93u16.to_le_bytes());
        assert_eq!(&out[4..6], &0x1AF4u16.to_le_bytes());
        assert_eq!(&out[6..8], &0x1100u16.to_le_bytes());
        assert_eq!(&out[8..16], &0x0123_4567_89AB_CDEFu64.to_le_bytes());
        assert_eq!(out[0x10], 11);
        assert_eq!(out[0x11], 3);
    }

    #[test]
    fn identify_rejects_input() {
        let mut m = test_memdev();
        assert_eq!(
            m.execute(Opcode::Identify as u16, &[0, 0]),
            (RetCode::InvalidPayloadLength, vec![])
        );
    }
}
