//! Media and Poison Management: Get Poison List, Inject Poison and Clear
//! Poison (CXL 3.1 8.2.9.9.4.1-3). The poison list is
//! [`crate::cxl::memdev::poison`].

use super::payload::{Decode, Encode, Input, Output};
use super::{RetCode, PAYLOAD_SIZE};
use crate::cxl::memdev::poison::{PoisonRecord, POISON_GRANULE};
use crate::cxl::memdev::{Effects, Memdev};

/// Size of the Get Poison List output header (records follow it).
pub const POISON_LIST_HEADER_SIZE: usize = 0x20;
/// Size of one Media Error Record.
pub const MEDIA_ERROR_RECORD_SIZE: usize = 0x10;
/// Most Media Error Records one Get Poison List output carries.
pub const MAX_RECORDS_PER_GET: usize =
    (PAYLOAD_SIZE - POISON_LIST_HEADER_SIZE) / MEDIA_ERROR_RECORD_SIZE;

// CXL 3.1 8.2.9.9.4.1 Get Poison List (Poison List Flags)
/// More Media Error Records.
pub const POISON_FLAG_MORE_MEDIA_ERROR_RECORDS: u8 = 1 << 0;
/// Poison List Overflow.
pub const POISON_FLAG_POISON_LIST_OVERFLOW: u8 = 1 << 1;
/// Scan Media in Progress.
pub const POISON_FLAG_SCAN_MEDIA_IN_PROGRESS: u8 = 1 << 2;

// CXL 3.1 8.2.9.9.4.1 Get Poison List (Table 8-140 Get Poison List Input Payload)
/// Get Poison List input (`struct cxl_mbox_poison_in`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GetPoisonListIn {
    /// Get Poison List Physical Address (DPA).
    pub address: u64,
    /// Get Poison List Physical Address Length, in 64-byte units.
    pub length: u64,
}

impl Decode<'_> for GetPoisonListIn {
    fn decode(input: Input<'_>) -> Result<Self, RetCode> {
        input.expect_len(0x10)?;
        Ok(Self {
            address: input.u64(0).ok_or(RetCode::InvalidPayloadLength)?,
            length: input.u64(8).ok_or(RetCode::InvalidPayloadLength)?,
        })
    }
}

impl Encode for GetPoisonListIn {
    fn encode(&self) -> Vec<u8> {
        let mut p = self.address.to_le_bytes().to_vec();
        p.extend_from_slice(&self.length.to_le_bytes());
        p
    }
}

// CXL 3.1 8.2.9.9.4.1 Get Poison List (Table 8-141 Get Poison List Output Payload)
/// Get Poison List output (`struct cxl_mbox_poison_out`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GetPoisonListOut {
    /// Poison List Flags (`POISON_FLAG_*`).
    pub flags: u8,
    /// Overflow Timestamp (0 unless Poison List Overflow).
    pub overflow_timestamp: u64,
    /// The Media Error Records.
    pub records: Vec<PoisonRecord>,
}

impl Encode for GetPoisonListOut {
    fn encode(&self) -> Vec<u8> {
        let n = self.records.len();
        let mut o = Output::zeroed(POISON_LIST_HEADER_SIZE + n * MEDIA_ERROR_RECORD_SIZE);
        o.put_u8(0x00, self.flags);
        o.put_u64(0x02, self.overflow_timestamp);
        o.put_u16(0x0A, n as u16);
        for (i, r) in self.records.iter().enumerate() {
            // CXL 3.1 8.2.9.9.4.1 Media Error Record: address | source, length in 64 B.
            let at = POISON_LIST_HEADER_SIZE + i * MEDIA_ERROR_RECORD_SIZE;
            o.put_u64(at, r.dpa | r.source as u64);
            o.put_u32(at + 8, (r.length / POISON_GRANULE) as u32);
        }
        o.into_vec()
    }
}

// CXL 3.1 8.2.9.9.4.2 Inject Poison (Table 8-142 Inject Poison Input Payload)
/// Inject Poison input (`struct cxl_mbox_inject_poison`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InjectPoisonIn {
    /// Inject Poison Physical Address (DPA of a cacheline).
    pub address: u64,
}

impl Decode<'_> for InjectPoisonIn {
    fn decode(input: Input<'_>) -> Result<Self, RetCode> {
        input.expect_len(8)?;
        Ok(Self {
            address: input.u64(0).ok_or(RetCode::InvalidPayloadLength)?,
        })
    }
}

impl Encode for InjectPoisonIn {
    fn encode(&self) -> Vec<u8> {
        self.address.to_le_bytes().to_vec()
    }
}

// CXL 3.1 8.2.9.9.4.3 Clear Poison (Table 8-143 Clear Poison Input Payload)
/// Clear Poison input (`struct cxl_mbox_clear_poison`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClearPoisonIn {
    /// Clear Poison Physical Address (DPA of a cacheline).
    pub address: u64,
    /// Clear Poison Write Data.
    pub write_data: [u8; 64],
}

impl Decode<'_> for ClearPoisonIn {
    fn decode(input: Input<'_>) -> Result<Self, RetCode> {
        input.expect_len(0x48)?;
        Ok(Self {
            address: input.u64(0).ok_or(RetCode::InvalidPayloadLength)?,
            write_data: input.array::<64>(8).ok_or(RetCode::InvalidPayloadLength)?,
        })
    }
}

impl Encode for ClearPoisonIn {
    fn encode(&self) -> Vec<u8> {
        let mut p = self.address.to_le_bytes().to_vec();
        p.extend_from_slice(&self.write_data);
        p
    }
}

// CXL 3.1 8.2.9.9.4.1 Get Poison List (Opcode 4300h)
/// Get Poison List: flags, overflow timestamp and Media Error Records out.
pub fn get_poison_list(
    memdev: &mut Memdev,
    input: Input,
    _fx: &mut Effects,
) -> Result<Vec<u8>, RetCode> {
    let req = GetPoisonListIn::decode(input)?;
    if !req.address.is_multiple_of(POISON_GRANULE) {
        return Err(RetCode::InvalidInput);
    }
    let length = req
        .length
        .checked_mul(POISON_GRANULE)
        .ok_or(RetCode::InvalidInput)?;
    let page = memdev.poison_list(req.address, length, MAX_RECORDS_PER_GET)?;
    let mut flags = 0;
    if page.more {
        flags |= POISON_FLAG_MORE_MEDIA_ERROR_RECORDS;
    }
    if page.overflow_timestamp.is_some() {
        flags |= POISON_FLAG_POISON_LIST_OVERFLOW;
    }
    if memdev.scan_media_in_progress() {
        flags |= POISON_FLAG_SCAN_MEDIA_IN_PROGRESS;
    }
    Ok(GetPoisonListOut {
        flags,
        overflow_timestamp: page.overflow_timestamp.unwrap_or(0),
        records: page.records,
    }
    .encode())
}

// CXL 3.1 8.2.9.9.4.2 Inject Poison (Opcode 4301h)
/// Inject Poison: no output.
pub fn inject_poison(
    memdev: &mut Memdev,
    input: Input,
    _fx: &mut Effects,
) -> Result<Vec<u8>, RetCode> {
    let req = InjectPoisonIn::decode(input)?;
    memdev.inject_poison(req.address)?;
    Ok(Vec::new())
}

// CXL 3.1 8.2.9.9.4.3 Clear Poison (Opcode 4302h)
/// Clear Poison: no output. The write data goes to the media at the DPA
/// (an effect the device model carries out) and the line leaves the
/// poison list.
pub fn clear_poison(
    memdev: &mut Memdev,
    input: Input,
    fx: &mut Effects,
) -> Result<Vec<u8>, RetCode> {
    let req = ClearPoisonIn::decode(input)?;
    let write = memdev.clear_poison(req.address, req.write_data)?;
    fx.media_writes.push(write);
    Ok(Vec::new())
}

#[cfg(test)]
#[path = "poison_tests.rs"]
mod tests;
