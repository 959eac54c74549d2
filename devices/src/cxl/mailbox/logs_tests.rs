//! Tests of the commands in `logs.rs` (compiled as
//! `cxl::mailbox::logs::tests`).

use super::*;
use crate::cxl::mailbox::testing::test_memdev;
use crate::cxl::mailbox::{command_effects_log, Opcode, COMMANDS};

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
