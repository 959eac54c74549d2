//! Timestamp command set: Get and Set Timestamp (CXL 3.1 8.2.9.4). The
//! device time is [`crate::cxl::memdev::timestamp`].

use super::payload::{Decode, Encode, Input, NoInput};
use super::RetCode;
use crate::cxl::memdev::{Effects, Memdev};

// CXL 3.1 8.2.9.4.1 Get Timestamp (Table 8-58 Get Timestamp Output Payload)
/// Get Timestamp output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GetTimestampOut {
    /// The device time, ns since the epoch (0 until set).
    pub timestamp: u64,
}

impl Encode for GetTimestampOut {
    fn encode(&self) -> Vec<u8> {
        self.timestamp.to_le_bytes().to_vec()
    }
}

// CXL 3.1 8.2.9.4.2 Set Timestamp (Table 8-59 Set Timestamp Input Payload)
/// Set Timestamp input (`struct cxl_mbox_set_timestamp_in`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetTimestampIn {
    /// The time, ns since the epoch.
    pub timestamp: u64,
}

impl Decode<'_> for SetTimestampIn {
    fn decode(input: Input<'_>) -> Result<Self, RetCode> {
        input.expect_len(8)?;
        Ok(Self {
            timestamp: input.u64(0).ok_or(RetCode::InvalidPayloadLength)?,
        })
    }
}

impl Encode for SetTimestampIn {
    fn encode(&self) -> Vec<u8> {
        self.timestamp.to_le_bytes().to_vec()
    }
}

// CXL 3.1 8.2.9.4.1 Get Timestamp (Opcode 0300h)
/// Get Timestamp: no input; the 8-byte timestamp.
pub fn get_timestamp(
    memdev: &mut Memdev,
    input: Input,
    _fx: &mut Effects,
) -> Result<Vec<u8>, RetCode> {
    NoInput::decode(input)?;
    Ok(GetTimestampOut {
        timestamp: memdev.now(),
    }
    .encode())
}

// CXL 3.1 8.2.9.4.2 Set Timestamp (Opcode 0301h)
/// Set Timestamp: no output.
pub fn set_timestamp(
    memdev: &mut Memdev,
    input: Input,
    _fx: &mut Effects,
) -> Result<Vec<u8>, RetCode> {
    let req = SetTimestampIn::decode(input)?;
    memdev.set_timestamp(req.timestamp);
    Ok(Vec::new())
}

#[cfg(test)]
#[path = "timestamp_tests.rs"]
mod tests;
