//! Logs command set: Get Supported Logs and Get Log (CXL 3.1 8.2.9.5). The
//! only log is the Command Effects Log, generated from the command table.

use uuid::Uuid;

use super::payload::{Input, Output};
use super::{command_effects_log, RetCode, PAYLOAD_SIZE};
use crate::cxl::memdev::Memdev;

// CXL 3.1 8.2.9.5.2.1 Command Effects Log (CEL) (Log Identifier)
/// Log Identifier of the Command Effects Log.
pub const CEL_UUID: Uuid = Uuid::from_u128(0x0da9c0b5_bf41_4b78_8f79_96b1623b3f17);

/// Size of the Get Supported Logs output header (entries follow it).
pub const SUPPORTED_LOGS_HEADER_SIZE: usize = 8;
/// Size of one Supported Log Entry.
pub const SUPPORTED_LOG_ENTRY_SIZE: usize = 0x14;
/// Size of the Get Log input payload.
pub const GET_LOG_INPUT_SIZE: usize = 0x18;

// CXL 3.1 8.2.9.5.1 Get Supported Logs (Opcode 0400h)
/// Get Supported Logs: no input; one entry (UUID, size) for the CEL.
pub fn get_supported_logs(memdev: &mut Memdev, input: Input) -> Result<Vec<u8>, RetCode> {
    input.expect_len(0)?;
    let cel_size = command_effects_log(memdev).len();
    let mut o = Output::zeroed(SUPPORTED_LOGS_HEADER_SIZE + SUPPORTED_LOG_ENTRY_SIZE);
    // Number of Supported Log Entries.
    o.put_u16(0x00, 1);
    o.put_bytes(SUPPORTED_LOGS_HEADER_SIZE, CEL_UUID.as_bytes());
    o.put_u32(SUPPORTED_LOGS_HEADER_SIZE + 0x10, cel_size as u32);
    Ok(o.into_vec())
}

// CXL 3.1 8.2.9.5.2 Get Log (Opcode 0401h)
/// Get Log: Log Identifier, Offset and Length in; that window of the log
/// out. An unknown log is Invalid Log; a window past the end of the log (as
/// sized by Get Supported Logs) or longer than the payload is Invalid Input.
pub fn get_log(memdev: &mut Memdev, input: Input) -> Result<Vec<u8>, RetCode> {
    input.expect_len(GET_LOG_INPUT_SIZE)?;
    let uuid = Uuid::from_bytes(input.array::<16>(0).ok_or(RetCode::InvalidPayloadLength)?);
    let offset = input.u32(0x10).ok_or(RetCode::InvalidPayloadLength)?;
    let length = input.u32(0x14).ok_or(RetCode::InvalidPayloadLength)?;
    if uuid != CEL_UUID {
        return Err(RetCode::InvalidLog);
    }
    let length = usize::try_from(length).map_err(|_| RetCode::InvalidInput)?;
    let offset = usize::try_from(offset).map_err(|_| RetCode::InvalidInput)?;
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
    use crate::cxl::mailbox::{Opcode, COMMANDS};
    use crate::cxl::memdev::tests::test_memdev;

    const GSL: u16 = Opcode::GetSupportedLogs as u16;
    const GET_LOG: u16 = Opcode::GetLog as u16;

    fn get_log_input(uuid: Uuid, offset: u32, length: u32) -> Vec<u8> {
        let mut p = uuid.as_bytes().to_vec();
        p.extend_from_slice(&offset.to_le_bytes());
        p.extend_from_slice(&length.to_le_bytes());
        p
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
