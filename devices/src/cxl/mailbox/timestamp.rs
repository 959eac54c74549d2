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
mod tests {
    use super::*;
    use crate::cxl::mailbox::testing::{test_memdev, test_memdev_with_clock, TestMemdev};
    use crate::cxl::mailbox::Opcode;

    const GET: u16 = Opcode::GetTimestamp as u16;
    const SET: u16 = Opcode::SetTimestamp as u16;

    fn get(m: &mut TestMemdev) -> u64 {
        let (rc, out) = m.execute(GET, &[]);
        assert_eq!(rc, RetCode::Success);
        assert_eq!(out.len(), 8);
        u64::from_le_bytes(out.try_into().unwrap())
    }

    #[test]
    fn unset_timestamp_reads_zero() {
        let (mut m, clock) = test_memdev_with_clock();
        clock.advance(1000);
        assert_eq!(get(&mut m), 0);
    }

    #[test]
    fn set_then_advance() {
        let (mut m, clock) = test_memdev_with_clock();
        clock.advance(77);
        let t0 = 1_700_000_000_000_000_000u64;
        let (rc, out) = m.execute(SET, &SetTimestampIn { timestamp: t0 }.encode());
        assert_eq!(rc, RetCode::Success);
        assert!(out.is_empty());
        assert_eq!(get(&mut m), t0);
        clock.advance(1_234);
        assert_eq!(get(&mut m), t0 + 1_234);
        // Setting again rebases.
        m.execute(SET, &5u64.to_le_bytes());
        clock.advance(10);
        assert_eq!(get(&mut m), 15);
    }

    #[test]
    fn malformed_payloads() {
        let mut m = test_memdev();
        assert_eq!(m.execute(SET, &[0; 7]).0, RetCode::InvalidPayloadLength);
        assert_eq!(m.execute(SET, &[0; 9]).0, RetCode::InvalidPayloadLength);
        assert_eq!(m.execute(SET, &[]).0, RetCode::InvalidPayloadLength);
        assert_eq!(m.execute(GET, &[0]).0, RetCode::InvalidPayloadLength);
        assert_eq!(get(&mut m), 0);
    }
}
