//! Logs command set: Get Supported Logs and Get Log (CXL 3.1 8.2.9.5). The
//! only log is the Command Effects Log, generated from the command table.

use uuid::Uuid;

use super::payload::{Decode, Encode, Input, NoInput, Output};
use super::{command_effects_log, RetCode, PAYLOAD_SIZE};
use crate::cxl::memdev::{Effects, Memdev};

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

// CXL 3.1 8.2.9.5.1 Get Supported Logs (Opcode 0400h)
/// Get Supported Logs: no input; one entry, the CEL.
pub fn get_supported_logs(
    memdev: &mut Memdev,
    input: Input,
    _fx: &mut Effects,
) -> Result<Vec<u8>, RetCode> {
    NoInput::decode(input)?;
    let cel_size = command_effects_log(memdev).len();
    Ok(GetSupportedLogsOut {
        entries: vec![(CEL_UUID, cel_size as u32)],
    }
    .encode())
}

// CXL 3.1 8.2.9.5.2 Get Log (Opcode 0401h)
/// Get Log: a window of the CEL. Invalid Log for any other log; Invalid
/// Input for a window outside it or over the payload size.
pub fn get_log(memdev: &mut Memdev, input: Input, _fx: &mut Effects) -> Result<Vec<u8>, RetCode> {
    let req = GetLogIn::decode(input)?;
    if req.uuid != CEL_UUID {
        return Err(RetCode::InvalidLog);
    }
    let length = usize::try_from(req.length).map_err(|_| RetCode::InvalidInput)?;
    let offset = usize::try_from(req.offset).map_err(|_| RetCode::InvalidInput)?;
    if length > PAYLOAD_SIZE {
        return Err(RetCode::InvalidInput);
    }
    let log = command_effects_log(memdev);
    let end = offset.checked_add(length).ok_or(RetCode::InvalidInput)?;
    log.get(offset..end)
        .map(<[u8]>::to_vec)
        .ok_or(RetCode::InvalidInput)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cxl::mailbox::testing::test_memdev;
    use crate::cxl::mailbox::{Opcode, COMMANDS};

    const GSL: u16 = Opcode::GetSupportedLogs as u16;
    const GET_LOG: u16 = Opcode::GetLog as u16;

    fn get_log_input(uuid: Uuid, offset: u32, length: u32) -> Vec<u8> {
        GetLogIn {
            uuid,
            offset,
            length,
        }
        .encode()
    }

    #[test]
    fn cel_uuid_wire_bytes() {
        assert_eq!(
            CEL_UUID.as_bytes(),
            &[
                0x0d, 0xa9, 0xc0, 0xb5, 0xbf, 0x41, 0x4b, 0x78, 0x8f, 0x79, 0x96, 0xb1, 0x62, 0x3b,
                0x3f, 0x17
            ]
        );
    }

    #[test]
    fn supported_logs_lists_the_cel() {
        let mut m = test_memdev();
        let (rc, out) = m.execute(GSL, &[]);
        assert_eq!(rc, RetCode::Success);
        assert_eq!(out.len(), 0x1C);
        assert_eq!(&out[0..2], &[1, 0]);
        assert_eq!(&out[2..8], &[0; 6]);
        assert_eq!(&out[8..24], CEL_UUID.as_bytes());
        let size = u32::from_le_bytes(out[24..28].try_into().unwrap());
        assert_eq!(size as usize, COMMANDS.len() * 4);
        assert_eq!(m.execute(GSL, &[0]).0, RetCode::InvalidPayloadLength);
    }

    #[test]
    fn get_log_whole_and_windows() {
        let mut m = test_memdev();
        let cel = command_effects_log(&m);
        let size = cel.len() as u32;
        let (rc, out) = m.execute(GET_LOG, &get_log_input(CEL_UUID, 0, size));
        assert_eq!(rc, RetCode::Success);
        assert_eq!(out, cel);
        // Windows, including ones that split entries.
        for (off, len) in [(0, 4), (4, 8), (3, 5), (size - 1, 1), (size, 0), (7, 0)] {
            let (rc, out) = m.execute(GET_LOG, &get_log_input(CEL_UUID, off, len));
            assert_eq!(rc, RetCode::Success, "{off} {len}");
            assert_eq!(out, cel[off as usize..(off + len) as usize].to_vec());
        }
    }

    #[test]
    fn get_log_errors() {
        let mut m = test_memdev();
        let size = command_effects_log(&m).len() as u32;
        let cases = [
            (get_log_input(Uuid::nil(), 0, 4), RetCode::InvalidLog),
            (
                get_log_input(
                    Uuid::from_u128(0x5e1819d9_11a9_400c_811f_d60719403d86),
                    0,
                    4,
                ),
                RetCode::InvalidLog,
            ),
            (get_log_input(CEL_UUID, 0, size + 1), RetCode::InvalidInput),
            (get_log_input(CEL_UUID, size + 1, 0), RetCode::InvalidInput),
            (get_log_input(CEL_UUID, 4, size), RetCode::InvalidInput),
            (get_log_input(CEL_UUID, u32::MAX, 4), RetCode::InvalidInput),
            (get_log_input(CEL_UUID, 0, u32::MAX), RetCode::InvalidInput),
            (get_log_input(CEL_UUID, 0, 4097), RetCode::InvalidInput),
        ];
        for (input, rc) in cases {
            assert_eq!(m.execute(GET_LOG, &input), (rc, vec![]));
        }
        let mut short = get_log_input(CEL_UUID, 0, 4);
        short.pop();
        assert_eq!(m.execute(GET_LOG, &short).0, RetCode::InvalidPayloadLength);
        let mut long = get_log_input(CEL_UUID, 0, 4);
        long.push(0);
        assert_eq!(m.execute(GET_LOG, &long).0, RetCode::InvalidPayloadLength);
    }
}
