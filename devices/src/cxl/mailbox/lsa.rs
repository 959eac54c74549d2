//! Get LSA and Set LSA (CXL 3.1 8.2.9.9.2.3, 8.2.9.9.2.4): payloads and
//! handlers. The Label Storage Area is [`crate::cxl::memdev::lsa`].

use super::payload::{Decode, Encode, Input};
use super::{RetCode, PAYLOAD_SIZE};
use crate::cxl::memdev::{Effects, Memdev};

/// Size of the Get LSA input payload.
pub const GET_LSA_INPUT_SIZE: usize = 8;
/// Size of the Set LSA input payload before the data.
pub const SET_LSA_HEADER_SIZE: usize = 8;

// CXL 3.1 8.2.9.9.2.3 Get LSA (Table 8-132 Get LSA Input Payload)
/// Get LSA input (`struct cxl_mbox_get_lsa`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GetLsaIn {
    /// Offset into the LSA.
    pub offset: u32,
    /// Length to read.
    pub length: u32,
}

impl Decode<'_> for GetLsaIn {
    fn decode(input: Input<'_>) -> Result<Self, RetCode> {
        input.expect_len(GET_LSA_INPUT_SIZE)?;
        Ok(Self {
            offset: input.u32(0).ok_or(RetCode::InvalidPayloadLength)?,
            length: input.u32(4).ok_or(RetCode::InvalidPayloadLength)?,
        })
    }
}

impl Encode for GetLsaIn {
    fn encode(&self) -> Vec<u8> {
        let mut p = self.offset.to_le_bytes().to_vec();
        p.extend_from_slice(&self.length.to_le_bytes());
        p
    }
}

// CXL 3.1 8.2.9.9.2.4 Set LSA (Table 8-133 Set LSA Input Payload)
/// Set LSA input (`struct cxl_mbox_set_lsa`): Offset, 4 reserved bytes,
/// then the data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetLsaIn<'a> {
    /// Offset into the LSA.
    pub offset: u32,
    /// The data to write there.
    pub data: &'a [u8],
}

impl<'a> Decode<'a> for SetLsaIn<'a> {
    fn decode(input: Input<'a>) -> Result<Self, RetCode> {
        input.expect_min_len(SET_LSA_HEADER_SIZE)?;
        Ok(Self {
            offset: input.u32(0).ok_or(RetCode::InvalidPayloadLength)?,
            data: input.tail(SET_LSA_HEADER_SIZE),
        })
    }
}

impl Encode for SetLsaIn<'_> {
    fn encode(&self) -> Vec<u8> {
        let mut p = self.offset.to_le_bytes().to_vec();
        p.extend_from_slice(&[0; 4]);
        p.extend_from_slice(self.data);
        p
    }
}

// CXL 3.1 8.2.9.9.2.3 Get LSA (Opcode 4102h)
/// Get LSA: that many LSA bytes out. Invalid Input if the range leaves the
/// LSA or exceeds the payload size.
pub fn get_lsa(memdev: &mut Memdev, input: Input, _fx: &mut Effects) -> Result<Vec<u8>, RetCode> {
    let req = GetLsaIn::decode(input)?;
    let offset = usize::try_from(req.offset).map_err(|_| RetCode::InvalidInput)?;
    let length = usize::try_from(req.length).map_err(|_| RetCode::InvalidInput)?;
    if length > PAYLOAD_SIZE {
        return Err(RetCode::InvalidInput);
    }
    memdev.read_lsa(offset, length).map(<[u8]>::to_vec)
}

// CXL 3.1 8.2.9.9.2.4 Set LSA (Opcode 4103h)
/// Set LSA: no output. Invalid Input if the data would leave the LSA;
/// Internal Error if the backing file write fails.
pub fn set_lsa(memdev: &mut Memdev, input: Input, _fx: &mut Effects) -> Result<Vec<u8>, RetCode> {
    let req = SetLsaIn::decode(input)?;
    let offset = usize::try_from(req.offset).map_err(|_| RetCode::InvalidInput)?;
    memdev.write_lsa(offset, req.data)?;
    Ok(Vec::new())
}

#[cfg(test)]
#[path = "lsa_tests.rs"]
mod tests;
