//! Firmware Update command set: Get FW Info (CXL 3.1 8.2.9.3.1).
//!
//! The device has two FW slots; slot 1 is active and holds the configured
//! FW revision, slot 2 is empty. Transfer FW and Activate FW are not
//! implemented (not in the CEL), so the FW Activation Capabilities are 0.

use super::payload::{Decode, Encode, Input, NoInput, Output};
use super::RetCode;
use crate::cxl::memdev::{Effects, Memdev, FW_REVISION_LEN};

/// Size of the Get FW Info output payload.
pub const GET_FW_INFO_SIZE: usize = 0x50;
/// Number of FW slots the device reports.
pub const FW_SLOTS: u8 = 2;
/// The active FW slot.
pub const ACTIVE_FW_SLOT: u8 = 1;

// CXL 3.1 8.2.9.3.1 Get FW Info (Table 8-56 Get FW Info Output Payload)
/// Get FW Info output (`struct cxl_mbox_get_fw_info`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GetFwInfoOut {
    /// FW Slots Supported.
    pub num_slots: u8,
    /// FW Slot Info: bits 2:0 active slot, bits 5:3 staged slot (0: none).
    pub slot_info: u8,
    /// FW Activation Capabilities (0: no online activation).
    pub activation_cap: u8,
    /// Slot 1..4 FW Revision (ASCII, zero padded).
    pub slot_revisions: [[u8; FW_REVISION_LEN]; 4],
}

impl Encode for GetFwInfoOut {
    fn encode(&self) -> Vec<u8> {
        let mut o = Output::zeroed(GET_FW_INFO_SIZE);
        o.put_u8(0x00, self.num_slots);
        o.put_u8(0x01, self.slot_info);
        o.put_u8(0x02, self.activation_cap);
        // Slot N FW Revision at 10h + 10h * (N - 1).
        for (i, rev) in self.slot_revisions.iter().enumerate() {
            o.put_bytes(0x10 + 0x10 * i, rev);
        }
        o.into_vec()
    }
}

// CXL 3.1 8.2.9.3.1 Get FW Info (Opcode 0200h)
/// Get FW Info: no input; slot 1 active with the configured revision.
pub fn get_fw_info(
    memdev: &mut Memdev,
    input: Input,
    _fx: &mut Effects,
) -> Result<Vec<u8>, RetCode> {
    NoInput::decode(input)?;
    let rev = memdev.config().fw_revision.as_bytes();
    let rev = rev.get(..FW_REVISION_LEN).unwrap_or(rev);
    let mut slot_revisions = [[0u8; FW_REVISION_LEN]; 4];
    if let Some(dst) = slot_revisions
        .get_mut(usize::from(ACTIVE_FW_SLOT - 1))
        .and_then(|s| s.get_mut(..rev.len()))
    {
        dst.copy_from_slice(rev);
    }
    Ok(GetFwInfoOut {
        num_slots: FW_SLOTS,
        slot_info: ACTIVE_FW_SLOT & 0x7,
        activation_cap: 0,
        slot_revisions,
    }
    .encode())
}

#[cfg(test)]
#[path = "fw_tests.rs"]
mod tests;
