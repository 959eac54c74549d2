//! Background operations on the mailbox: Background Operation Status
//! (CXL 3.1 8.2.9.1.2), the Busy rule for background commands, and a
//! command held as a background operation by fault injection
//! ([`Memdev::hold_in_background`]). The state is
//! [`crate::cxl::memdev::background`].
//!
//! A background command's handler starts its operation on the device and
//! answers `Err(RetCode::BackgroundCommandStarted)`: the command has no
//! output payload and causes nothing yet; its effects come at completion.

use super::payload::{Decode, Encode, Input, NoInput, Output};
use super::RetCode;
use crate::cxl::memdev::background::{BackgroundStatus, BackgroundWork};
use crate::cxl::memdev::{Effects, Memdev};

/// Size of the Background Operation Status output payload.
pub const BACKGROUND_OPERATION_STATUS_SIZE: usize = 8;
/// Background Operation Status, Background Operation (bit 0): one runs.
pub const BG_OP_STATUS_IN_PROGRESS: u8 = 1 << 0;
/// Background Operation Status, Percentage Complete (bits 7:1) shift.
pub const BG_OP_STATUS_PERCENT_SHIFT: u8 = 1;

// CXL 3.1 8.2.9.1.2 Background Operation Status (Background Operation Status Output Payload)
/// Background Operation Status output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackgroundOperationStatusOut {
    /// Background Operation: one is in progress.
    pub in_progress: bool,
    /// The register fields: opcode, percentage, return code, vendor status.
    pub status: BackgroundStatus,
}

impl Encode for BackgroundOperationStatusOut {
    fn encode(&self) -> Vec<u8> {
        let mut o = Output::zeroed(BACKGROUND_OPERATION_STATUS_SIZE);
        o.put_u8(
            0x00,
            u8::from(self.in_progress) | (self.status.percent & 0x7F) << BG_OP_STATUS_PERCENT_SHIFT,
        );
        o.put_u16(0x02, self.status.opcode);
        o.put_u16(0x04, self.status.return_code);
        o.put_u16(0x06, self.status.vendor_status);
        o.into_vec()
    }
}

// CXL 3.1 8.2.9.1.2 Background Operation Status (Opcode 0002h)
/// Background Operation Status: no input; the running or last background
/// operation.
pub fn background_operation_status(
    memdev: &mut Memdev,
    input: Input,
    _fx: &mut Effects,
) -> Result<Vec<u8>, RetCode> {
    NoInput::decode(input)?;
    Ok(BackgroundOperationStatusOut {
        in_progress: memdev.background().is_running(),
        status: memdev.background_status(),
    }
    .encode())
}

/// Turns the result of command `opcode` (return code `rc`, `effects`) into
/// a background operation of `ms` milliseconds (a hold set by fault
/// injection) and returns what the host gets now: a background command
/// keeps its work and takes `ms`; any other command's return code and
/// effects are delivered at completion (its output payload is dropped: a
/// background command has none).
pub(super) fn hold(
    memdev: &mut Memdev,
    opcode: u16,
    ms: u64,
    rc: RetCode,
    effects: Effects,
) -> RetCode {
    if rc == RetCode::BackgroundCommandStarted {
        memdev.set_background_duration(ms);
        return rc;
    }
    match memdev.start_background(opcode, ms, BackgroundWork::Held { rc, effects }) {
        Ok(()) => RetCode::BackgroundCommandStarted,
        Err(rc) => rc,
    }
}

#[cfg(test)]
#[path = "background_tests.rs"]
mod tests;
