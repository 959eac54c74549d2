//! The Firmware Update operations of [`Memdev`] (CXL 3.1 8.2.9.3). The
//! slots and their rules are `firmware.rs`.

use super::background::BackgroundWork;
use super::firmware::Firmware;
use super::Memdev;
use crate::cxl::retcode::RetCode;

/// Opcode of Transfer FW (CXL 3.1 8.2.9.3.2).
pub const OPCODE_TRANSFER_FW: u16 = 0x0201;
/// How long verifying and storing a received image takes, in ms (the
/// background part of a Full or End transfer).
pub const FW_STORE_MS: u64 = 100;

/// A Transfer FW action (CXL 3.1 8.2.9.3.2, Action field).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum FwTransferAction {
    /// Full FW Transfer.
    Full = 0x00,
    /// Initiate FW Transfer.
    Initiate = 0x01,
    /// Continue FW Transfer.
    Continue = 0x02,
    /// End Transfer.
    End = 0x03,
    /// Abort Transfer.
    Abort = 0x04,
}

impl FwTransferAction {
    /// The action with value `v`; other values are reserved.
    pub fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            0x00 => Self::Full,
            0x01 => Self::Initiate,
            0x02 => Self::Continue,
            0x03 => Self::End,
            0x04 => Self::Abort,
            _ => return None,
        })
    }
}

impl Memdev {
    /// The FW slots.
    pub fn firmware(&self) -> &Firmware {
        &self.firmware
    }

    /// Transfer FW: one part of an image (`data` at `offset` 128-byte
    /// units) for `slot`. A Full or End transfer starts the background
    /// verification and store of the image (true: Background Command
    /// Started); the others complete at once (false).
    pub fn transfer_fw(
        &mut self,
        action: FwTransferAction,
        slot: u8,
        offset: u32,
        data: &[u8],
    ) -> Result<bool, RetCode> {
        if self.background.is_running() {
            return Err(RetCode::Busy);
        }
        match action {
            FwTransferAction::Full => self.firmware.full(slot, offset, data)?,
            FwTransferAction::End => self.firmware.end(slot, offset, data)?,
            FwTransferAction::Initiate => {
                return self.firmware.initiate(offset, data).map(|_| false)
            }
            FwTransferAction::Continue => {
                return self.firmware.continue_(offset, data).map(|_| false)
            }
            FwTransferAction::Abort => {
                self.firmware.abort();
                return Ok(false);
            }
        }
        self.start_background(
            OPCODE_TRANSFER_FW,
            FW_STORE_MS,
            BackgroundWork::StoreFirmware { slot },
        )?;
        Ok(true)
    }

    /// Activate FW: `slot` becomes active now (`online`) or at the next
    /// cold reset.
    pub fn activate_fw(&mut self, slot: u8, online: bool) -> Result<(), RetCode> {
        self.firmware.activate(slot, online)
    }
}
