//! Logs command set: Get Supported Logs and Get Log (CXL 3.1 8.2.9.5), their
//! payloads. The only log is the Command Effects Log, generated from the
//! command table; the two handlers live with the table (`table.rs`), which
//! they read.

use uuid::Uuid;

use super::payload::{Decode, Encode, Input, Output};
use super::RetCode;

// CXL 3.1 8.2.9.5.2.1 Command Effects Log (CEL) (Log Identifier)
/// Log Identifier of the Command Effects Log.
pub const CEL_UUID: Uuid = Uuid::from_u128(0x0da9c0b5_bf41_4b78_8f79_96b1623b3f17);

/// Size of the Get Supported Logs output header (entries follow it).
pub const SUPPORTED_LOGS_HEADER_SIZE: usize = 8;
/// Size of one Supported Log Entry.
pub const SUPPORTED_LOG_ENTRY_SIZE: usize = 0x14;
/// Size of the Get Log input payload.
pub const GET_LOG_INPUT_SIZE: usize = 0x18;

// CXL 3.1 8.2.9.5.1 Get Supported Logs (Table 8-71 Get Supported Logs Output Payload)
/// Get Supported Logs output (`struct cxl_mbox_get_supported_logs`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GetSupportedLogsOut {
    /// Supported Log Entries: (Log Identifier, Log Size).
    pub entries: Vec<(Uuid, u32)>,
}

impl Encode for GetSupportedLogsOut {
    fn encode(&self) -> Vec<u8> {
        let n = self.entries.len();
        let mut o = Output::zeroed(SUPPORTED_LOGS_HEADER_SIZE + n * SUPPORTED_LOG_ENTRY_SIZE);
        o.put_u16(0x00, n as u16);
        for (i, (id, size)) in self.entries.iter().enumerate() {
            let at = SUPPORTED_LOGS_HEADER_SIZE + i * SUPPORTED_LOG_ENTRY_SIZE;
            o.put_bytes(at, id.as_bytes());
            o.put_u32(at + 0x10, *size);
        }
        o.into_vec()
    }
}

// CXL 3.1 8.2.9.5.2 Get Log (Table 8-73 Get Log Input Payload)
/// Get Log input (`struct cxl_mbox_get_log`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GetLogIn {
    /// Log Identifier.
    pub uuid: Uuid,
    /// Offset into the log.
    pub offset: u32,
    /// Length to read.
    pub length: u32,
}

impl Decode<'_> for GetLogIn {
    fn decode(input: Input<'_>) -> Result<Self, RetCode> {
        input.expect_len(GET_LOG_INPUT_SIZE)?;
        Ok(Self {
            uuid: Uuid::from_bytes(input.array::<16>(0).ok_or(RetCode::InvalidPayloadLength)?),
            offset: input.u32(0x10).ok_or(RetCode::InvalidPayloadLength)?,
            length: input.u32(0x14).ok_or(RetCode::InvalidPayloadLength)?,
        })
    }
}

impl Encode for GetLogIn {
    fn encode(&self) -> Vec<u8> {
        let mut p = self.uuid.as_bytes().to_vec();
        p.extend_from_slice(&self.offset.to_le_bytes());
        p.extend_from_slice(&self.length.to_le_bytes());
        p
    }
}

#[cfg(test)]
#[path = "logs_tests.rs"]
mod tests;
