//! Firmware Update command set: Get FW Info (CXL 3.1 8.2.9.3.1).
//!
//! The device has two FW slots; slot 1 is active and holds the configured
//! FW revision, slot 2 is empty. Transfer FW and Activate FW are not
//! implemented (not in the CEL), so the FW Activation Capabilities are 0.

use super::payload::{Input, Output};
use super::RetCode;
use crate::cxl::memdev::{Memdev, FW_REVISION_LEN};

/// Size of the Get FW Info output payload.
pub const GET_FW_INFO_SIZE: usize = 0x50;
/// Number of FW slots the device reports.
pub const FW_SLOTS: u8 = 2;
/// The active FW slot.
pub const ACTIVE_FW_SLOT: u8 = 1;

// CXL 3.1 8.2.9.3.1 Get FW Info (Opcode 0200h)
/// Get FW Info: no input; slots, active/staged slot and revision strings.
pub fn get_fw_info(memdev: &mut Memdev, input: Input) -> Result<Vec<u8>, RetCode> {
    input.expect_len(0)?;
    let mut o = Output::zeroed(GET_FW_INFO_SIZE);
    // FW Slots Supported.
    o.put_u8(0x00, FW_SLOTS);
    // FW Slot Info: bits 2:0 active slot, bits 5:3 staged slot (none).
    o.put_u8(0x01, ACTIVE_FW_SLOT & 0x7);
    // FW Activation Capabilities: no online activation.
    o.put_u8(0x02, 0);
    // Slot N FW Revision at 10h + 10h * (N - 1), zero padded.
    let rev = memdev.config().fw_revision.as_bytes();
    let rev = rev.get(..FW_REVISION_LEN).unwrap_or(rev);
    o.put_bytes(0x10 + 0x10 * usize::from(ACTIVE_FW_SLOT - 1), rev);
    Ok(o.into_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cxl::mailbox::Opcode;
    use crate::cxl::memdev::tests::{test_config, test_memdev};
    use crate::cxl::memdev::Memdev;

    const OP: u16 = Opcode::GetFwInfo as u16;

    #[test]
    fn get_fw_info_fields() {
        let mut m = test_memdev();
        let (rc, out) = m.execute(OP, &[]);
        assert_eq!(rc, RetCode::Success);
        assert_eq!(out.len(), 0x50);
        assert_eq!(out[0], 2);
        assert_eq!(out[1], 0x01);
        assert_eq!(out[2], 0);
        assert!(out[3..0x10].iter().all(|&b| b == 0));
        assert_eq!(&out[0x10..0x18], b"FW-1.2.3");
        assert!(out[0x18..0x20].iter().all(|&b| b == 0));
        assert!(out[0x20..].iter().all(|&b| b == 0));
    }

    #[test]
    fn full_length_revision() {
        let mut c = test_config();
        c.fw_revision = String::from("0123456789ABCDEF");
        let mut m = Memdev::new(c).unwrap();
        let (_, out) = m.execute(OP, &[]);
        assert_eq!(&out[0x10..0x20], b"0123456789ABCDEF");
        assert!(out[0x20..].iter().all(|&b| b == 0));
    }

    #[test]
    fn get_fw_info_rejects_input() {
        let mut m = test_memdev();
        assert_eq!(m.execute(OP, &[0]).0, RetCode::InvalidPayloadLength);
    }
}
