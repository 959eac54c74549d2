//! Media and Poison Management: Get Scan Media Capabilities, Scan Media
//! and Get Scan Media Results (CXL 3.1 8.2.9.9.4.4-6). The scan is
//! [`crate::cxl::memdev::scan_media`].

use super::payload::{Decode, Encode, Input, NoInput, Output};
use super::poison::{MEDIA_ERROR_RECORD_SIZE, POISON_LIST_HEADER_SIZE};
use super::{RetCode, PAYLOAD_SIZE};
use crate::cxl::memdev::poison::{PoisonRecord, POISON_GRANULE};
use crate::cxl::memdev::{Effects, Memdev};

/// Size of the Get Scan Media Capabilities input payload.
pub const SCAN_MEDIA_CAPABILITIES_IN_SIZE: usize = 0x10;
/// Size of the Scan Media input payload.
pub const SCAN_MEDIA_IN_SIZE: usize = 0x11;
/// Size of the Get Scan Media Results output header (records follow).
pub const SCAN_MEDIA_RESULTS_HEADER_SIZE: usize = POISON_LIST_HEADER_SIZE;
/// Most Media Error Records one Get Scan Media Results output carries.
pub const MAX_SCAN_RECORDS_PER_GET: usize =
    (PAYLOAD_SIZE - SCAN_MEDIA_RESULTS_HEADER_SIZE) / MEDIA_ERROR_RECORD_SIZE;

// CXL 3.1 8.2.9.9.4.5 Scan Media (Flags)
/// No Event Log: report errors only in the scan results.
pub const SCAN_MEDIA_FLAG_NO_EVENT_LOG: u8 = 1 << 0;

// CXL 3.1 8.2.9.9.4.6 Get Scan Media Results (Flags)
/// More Media Error Records.
pub const SCAN_RESULTS_FLAG_MORE_MEDIA_ERROR_RECORDS: u8 = 1 << 0;
/// Scan Stopped Prematurely.
pub const SCAN_RESULTS_FLAG_SCAN_STOPPED_PREMATURELY: u8 = 1 << 1;

// CXL 3.1 8.2.9.9.4.4 Get Scan Media Capabilities (Input Payload)
/// Get Scan Media Capabilities input; Scan Media's first 16 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScanRangeIn {
    /// Start Physical Address (DPA, 64-byte aligned).
    pub address: u64,
    /// Physical Address Length, in 64-byte units.
    pub length: u64,
}

impl Decode<'_> for ScanRangeIn {
    fn decode(input: Input<'_>) -> Result<Self, RetCode> {
        input.expect_len(SCAN_MEDIA_CAPABILITIES_IN_SIZE)?;
        Ok(Self {
            address: input.u64(0).ok_or(RetCode::InvalidPayloadLength)?,
            length: input.u64(8).ok_or(RetCode::InvalidPayloadLength)?,
        })
    }
}

impl Encode for ScanRangeIn {
    fn encode(&self) -> Vec<u8> {
        let mut o = Output::zeroed(SCAN_MEDIA_CAPABILITIES_IN_SIZE);
        o.put_u64(0, self.address);
        o.put_u64(8, self.length);
        o.into_vec()
    }
}

// CXL 3.1 8.2.9.9.4.5 Scan Media (Input Payload)
/// Scan Media input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScanMediaIn {
    /// The range to scan.
    pub range: ScanRangeIn,
    /// Flags (`SCAN_MEDIA_FLAG_*`).
    pub flags: u8,
}

impl Decode<'_> for ScanMediaIn {
    fn decode(input: Input<'_>) -> Result<Self, RetCode> {
        input.expect_len(SCAN_MEDIA_IN_SIZE)?;
        let head = input
            .bytes(0, SCAN_MEDIA_CAPABILITIES_IN_SIZE)
            .ok_or(RetCode::InvalidPayloadLength)?;
        Ok(Self {
            range: ScanRangeIn::decode(Input::new(head))?,
            flags: input.u8(0x10).ok_or(RetCode::InvalidPayloadLength)?,
        })
    }
}

impl Encode for ScanMediaIn {
    fn encode(&self) -> Vec<u8> {
        let mut v = self.range.encode();
        v.push(self.flags);
        v
    }
}

// CXL 3.1 8.2.9.9.4.6 Get Scan Media Results (Output Payload)
/// Get Scan Media Results output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GetScanMediaResultsOut {
    /// Scan Media Restart Physical Address (0: the scan completed).
    pub restart_address: u64,
    /// Scan Media Restart Physical Address Length, in 64-byte units.
    pub restart_length: u64,
    /// Flags (`SCAN_RESULTS_FLAG_*`).
    pub flags: u8,
    /// The Media Error Records.
    pub records: Vec<PoisonRecord>,
}

impl Encode for GetScanMediaResultsOut {
    fn encode(&self) -> Vec<u8> {
        let n = self.records.len();
        let mut o = Output::zeroed(SCAN_MEDIA_RESULTS_HEADER_SIZE + n * MEDIA_ERROR_RECORD_SIZE);
        o.put_u64(0x00, self.restart_address);
        o.put_u64(0x08, self.restart_length);
        o.put_u8(0x10, self.flags);
        o.put_u16(0x12, n as u16);
        for (i, r) in self.records.iter().enumerate() {
            // Media Error Record as Get Poison List's: address | source, length in 64 B.
            let at = SCAN_MEDIA_RESULTS_HEADER_SIZE + i * MEDIA_ERROR_RECORD_SIZE;
            o.put_u64(at, r.dpa | r.source as u64);
            o.put_u32(at + 8, (r.length / POISON_GRANULE) as u32);
        }
        o.into_vec()
    }
}

// CXL 3.1 8.2.9.9.4.4 Get Scan Media Capabilities (Opcode 4303h)
/// Get Scan Media Capabilities: the Estimated Scan Media Time of a range.
pub fn get_scan_media_capabilities(
    memdev: &mut Memdev,
    input: Input,
    _fx: &mut Effects,
) -> Result<Vec<u8>, RetCode> {
    let req = ScanRangeIn::decode(input)?;
    let ms = memdev.scan_media_estimate(req.address, req.length)?;
    Ok(ms.to_le_bytes().to_vec())
}

// CXL 3.1 8.2.9.9.4.5 Scan Media (Opcode 4304h)
/// Scan Media: starts the scan of a range in the background; unless No
/// Event Log is set, each error found is also posted as a General Media
/// Event Record at completion.
pub fn scan_media(
    memdev: &mut Memdev,
    input: Input,
    _fx: &mut Effects,
) -> Result<Vec<u8>, RetCode> {
    let req = ScanMediaIn::decode(input)?;
    let event_log = req.flags & SCAN_MEDIA_FLAG_NO_EVENT_LOG == 0;
    memdev.start_scan_media(req.range.address, req.range.length, event_log)?;
    Err(RetCode::BackgroundCommandStarted)
}

// CXL 3.1 8.2.9.9.4.6 Get Scan Media Results (Opcode 4305h)
/// Get Scan Media Results: no input; the next page of the last scan's
/// results.
pub fn get_scan_media_results(
    memdev: &mut Memdev,
    input: Input,
    _fx: &mut Effects,
) -> Result<Vec<u8>, RetCode> {
    NoInput::decode(input)?;
    let page = memdev.scan_media_results(MAX_SCAN_RECORDS_PER_GET)?;
    let flags = if page.more {
        SCAN_RESULTS_FLAG_MORE_MEDIA_ERROR_RECORDS
    } else {
        0
    };
    Ok(GetScanMediaResultsOut {
        restart_address: 0,
        restart_length: 0,
        flags,
        records: page.records,
    }
    .encode())
}

#[cfg(test)]
#[path = "scan_media_tests.rs"]
mod tests;
