//! Firmware Update command set (CXL 3.1 8.2.9.3): Get FW Info, Transfer FW
//! and Activate FW. The slots are [`crate::cxl::memdev::firmware`], which
//! also describes the image format (the first 16 bytes are the revision).
//!
//! Linux (`cxl_fw_write` in `memdev.c`) sends an image that fits one
//! payload as a Full transfer, a larger one as Initiate, Continue... End
//! in parts of the payload size less the 128-byte header, into the slot
//! after the active one, then Activate FW offline. Full and End run in the
//! background (verification and store), which Linux waits for (polling
//! Background Command Status, or woken by the completion interrupt).

use super::payload::{Decode, Encode, Input, NoInput, Output};
use super::RetCode;
use crate::cxl::memdev::firmware::FW_SLOTS;
use crate::cxl::memdev::firmware_ops::FwTransferAction;
use crate::cxl::memdev::{Effects, Memdev, FW_REVISION_LEN};

/// Size of the Get FW Info output payload.
pub const GET_FW_INFO_SIZE: usize = 0x50;
/// FW Activation Capabilities: Online FW Activation Capable (bit 0).
pub const FW_ACTIVATION_ONLINE_CAPABLE: u8 = 1 << 0;
/// Offset of the data in the Transfer FW input payload.
pub const TRANSFER_FW_DATA_OFFSET: usize = 0x80;
/// Size of the Activate FW input payload.
pub const ACTIVATE_FW_SIZE: usize = 2;

// CXL 3.1 8.2.9.3.1 Get FW Info (Table 8-56 Get FW Info Output Payload)
/// Get FW Info output (`struct cxl_mbox_get_fw_info`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GetFwInfoOut {
    /// FW Slots Supported.
    pub num_slots: u8,
    /// FW Slot Info: bits 2:0 active slot, bits 5:3 staged slot (0: none).
    pub slot_info: u8,
    /// FW Activation Capabilities (bit 0: online activation).
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
/// Get FW Info: no input; the slots' revisions, the active and staged
/// slot.
pub fn get_fw_info(
    memdev: &mut Memdev,
    input: Input,
    _fx: &mut Effects,
) -> Result<Vec<u8>, RetCode> {
    NoInput::decode(input)?;
    let fw = memdev.firmware();
    let mut slot_revisions = [[0u8; FW_REVISION_LEN]; 4];
    for (slot, dst) in (1..=FW_SLOTS).zip(slot_revisions.iter_mut()) {
        if let Some(rev) = fw.revision(slot) {
            *dst = rev;
        }
    }
    Ok(GetFwInfoOut {
        num_slots: FW_SLOTS,
        slot_info: (fw.active_slot() & 0x7) | (fw.staged_slot().unwrap_or(0) & 0x7) << 3,
        activation_cap: FW_ACTIVATION_ONLINE_CAPABLE,
        slot_revisions,
    }
    .encode())
}

// CXL 3.1 8.2.9.3.2 Transfer FW (Transfer FW Input Payload)
/// Transfer FW input (`struct cxl_mbox_transfer_fw`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferFwIn<'a> {
    /// Action.
    pub action: FwTransferAction,
    /// Slot (Full and End).
    pub slot: u8,
    /// Offset in 128-byte units.
    pub offset: u32,
    /// Data.
    pub data: &'a [u8],
}

impl<'a> Decode<'a> for TransferFwIn<'a> {
    fn decode(input: Input<'a>) -> Result<Self, RetCode> {
        input.expect_min_len(TRANSFER_FW_DATA_OFFSET)?;
        let action = input.u8(0x00).ok_or(RetCode::InvalidPayloadLength)?;
        Ok(Self {
            action: FwTransferAction::from_u8(action).ok_or(RetCode::InvalidInput)?,
            slot: input.u8(0x01).ok_or(RetCode::InvalidPayloadLength)?,
            offset: input.u32(0x04).ok_or(RetCode::InvalidPayloadLength)?,
            data: input.tail(TRANSFER_FW_DATA_OFFSET),
        })
    }
}

impl Encode for TransferFwIn<'_> {
    fn encode(&self) -> Vec<u8> {
        let mut o = Output::zeroed(TRANSFER_FW_DATA_OFFSET + self.data.len());
        o.put_u8(0x00, self.action as u8);
        o.put_u8(0x01, self.slot);
        o.put_u32(0x04, self.offset);
        o.put_bytes(TRANSFER_FW_DATA_OFFSET, self.data);
        o.into_vec()
    }
}

// CXL 3.1 8.2.9.3.2 Transfer FW (Opcode 0201h)
/// Transfer FW: one part of an image; Full and End continue in the
/// background (Background Command Started).
pub fn transfer_fw(
    memdev: &mut Memdev,
    input: Input,
    _fx: &mut Effects,
) -> Result<Vec<u8>, RetCode> {
    let req = TransferFwIn::decode(input)?;
    if memdev.transfer_fw(req.action, req.slot, req.offset, req.data)? {
        return Err(RetCode::BackgroundCommandStarted);
    }
    Ok(Vec::new())
}

// CXL 3.1 8.2.9.3.3 Activate FW (Activate FW Input Payload)
/// Activate FW input (`struct cxl_mbox_activate_fw`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ActivateFwIn {
    /// Action: online (00h) or on the next cold reset (01h).
    pub online: bool,
    /// Slot.
    pub slot: u8,
}

impl Decode<'_> for ActivateFwIn {
    fn decode(input: Input<'_>) -> Result<Self, RetCode> {
        input.expect_len(ACTIVATE_FW_SIZE)?;
        let online = match input.u8(0x00).ok_or(RetCode::InvalidPayloadLength)? {
            0x00 => true,
            0x01 => false,
            _ => return Err(RetCode::InvalidInput),
        };
        Ok(Self {
            online,
            slot: input.u8(0x01).ok_or(RetCode::InvalidPayloadLength)?,
        })
    }
}

impl Encode for ActivateFwIn {
    fn encode(&self) -> Vec<u8> {
        vec![u8::from(!self.online), self.slot]
    }
}

// CXL 3.1 8.2.9.3.3 Activate FW (Opcode 0202h)
/// Activate FW: a slot becomes active now or at the next cold reset.
pub fn activate_fw(
    memdev: &mut Memdev,
    input: Input,
    _fx: &mut Effects,
) -> Result<Vec<u8>, RetCode> {
    let req = ActivateFwIn::decode(input)?;
    memdev.activate_fw(req.slot, req.online)?;
    Ok(Vec::new())
}

#[cfg(test)]
#[path = "fw_tests.rs"]
mod tests;
