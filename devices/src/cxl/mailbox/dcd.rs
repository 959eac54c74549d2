//! Dynamic Capacity command set (CXL 3.1 8.2.9.9.9): Get Dynamic Capacity
//! Configuration, Get Dynamic Capacity Extent List, Add Dynamic Capacity
//! Response and Release Dynamic Capacity: payloads and handlers. The state
//! they act on is [`crate::cxl::dcd`].

use super::payload::{Decode, Encode, Input, Output};
use super::{RetCode, PAYLOAD_SIZE};
use crate::cxl::dcd::extent::{
    decode_updated_extents, encode_updated_extents, DC_EXTENT_SIZE, UPDATED_EXTENT_SIZE,
};
use crate::cxl::dcd::region::DC_DECODE_UNIT;
use crate::cxl::dcd::{DcExtent, DcRegion, ExtentRange};
use crate::cxl::memdev::{Effects, Memdev};

/// Size of the Get Dynamic Capacity Configuration input.
pub const GET_DC_CONFIG_INPUT_SIZE: usize = 2;
/// Size of the Get Dynamic Capacity Configuration output header.
pub const GET_DC_CONFIG_HEADER_SIZE: usize = 8;
/// Size of one region configuration in it.
pub const DC_REGION_CONFIG_SIZE: usize = 0x28;
/// Size of its trailer (extents and tags supported and available).
pub const GET_DC_CONFIG_TRAILER_SIZE: usize = 0x10;

/// Size of the Get Dynamic Capacity Extent List input.
pub const GET_DC_EXTENT_LIST_INPUT_SIZE: usize = 8;
/// Size of the Get Dynamic Capacity Extent List output header.
pub const GET_DC_EXTENT_LIST_HEADER_SIZE: usize = 0x10;
/// Most extents one Get Dynamic Capacity Extent List output carries.
pub const MAX_EXTENTS_PER_LIST: usize =
    (PAYLOAD_SIZE - GET_DC_EXTENT_LIST_HEADER_SIZE) / DC_EXTENT_SIZE;

/// Size of the Add Dynamic Capacity Response / Release Dynamic Capacity
/// input header (the Updated Extent List follows it).
pub const UPDATE_EXTENT_LIST_HEADER_SIZE: usize = 8;

// CXL 3.1 8.2.9.9.9.3 Add Dynamic Capacity Response (Flags)
/// Flags bit 0, More: more parts of this response follow.
pub const DC_RESPONSE_FLAG_MORE: u8 = 1 << 0;

// CXL 3.1 8.2.9.9.9.1 Get Dynamic Capacity Configuration (Table 8-164 Input Payload)
/// Get Dynamic Capacity Configuration input (`struct cxl_mbox_get_dc_config_in`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GetDcConfigIn {
    /// Region Count: most region configurations to return.
    pub region_count: u8,
    /// Starting Region Index.
    pub start_region_index: u8,
}

impl Decode<'_> for GetDcConfigIn {
    fn decode(input: Input<'_>) -> Result<Self, RetCode> {
        input.expect_len(GET_DC_CONFIG_INPUT_SIZE)?;
        Ok(Self {
            region_count: input.u8(0).ok_or(RetCode::InvalidPayloadLength)?,
            start_region_index: input.u8(1).ok_or(RetCode::InvalidPayloadLength)?,
        })
    }
}

impl Encode for GetDcConfigIn {
    fn encode(&self) -> Vec<u8> {
        vec![self.region_count, self.start_region_index]
    }
}

// CXL 3.1 8.2.9.9.9.1 Get Dynamic Capacity Configuration (Table 8-165 Output Payload)
/// Get Dynamic Capacity Configuration output (`struct cxl_mbox_get_dc_config_out`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GetDcConfigOut {
    /// Number of Available Regions.
    pub avail_region_count: u8,
    /// The region configurations returned (base, decode length, length,
    /// block size, DSMAD handle, flags).
    pub regions: Vec<DcRegion>,
    /// Total Number of Supported Extents.
    pub num_extents_supported: u32,
    /// Number of Available Extents.
    pub num_extents_available: u32,
    /// Total Number of Supported Tags.
    pub num_tags_supported: u32,
    /// Number of Available Tags.
    pub num_tags_available: u32,
}

impl Encode for GetDcConfigOut {
    fn encode(&self) -> Vec<u8> {
        let trailer = GET_DC_CONFIG_HEADER_SIZE + self.regions.len() * DC_REGION_CONFIG_SIZE;
        let mut o = Output::zeroed(trailer + GET_DC_CONFIG_TRAILER_SIZE);
        o.put_u8(0x00, self.avail_region_count);
        o.put_u8(0x01, self.regions.len() as u8);
        for (i, r) in self.regions.iter().enumerate() {
            // CXL 3.1 Table 8-166 DC Region Configuration.
            let at = GET_DC_CONFIG_HEADER_SIZE + i * DC_REGION_CONFIG_SIZE;
            o.put_u64(at, r.base);
            o.put_u64(at + 0x08, r.decode_length / DC_DECODE_UNIT);
            o.put_u64(at + 0x10, r.length);
            o.put_u64(at + 0x18, r.block_size);
            o.put_u32(at + 0x20, u32::from(r.dsmad_handle));
            o.put_u8(at + 0x24, r.flags());
        }
        o.put_u32(trailer, self.num_extents_supported);
        o.put_u32(trailer + 0x04, self.num_extents_available);
        o.put_u32(trailer + 0x08, self.num_tags_supported);
        o.put_u32(trailer + 0x0C, self.num_tags_available);
        o.into_vec()
    }
}

// CXL 3.1 8.2.9.9.9.2 Get Dynamic Capacity Extent List (Table 8-167 Input Payload)
/// Get Dynamic Capacity Extent List input (`struct cxl_mbox_get_extent_in`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GetDcExtentListIn {
    /// Extent Count: most extents to return.
    pub extent_count: u32,
    /// Starting Extent Index.
    pub start_extent_index: u32,
}

impl Decode<'_> for GetDcExtentListIn {
    fn decode(input: Input<'_>) -> Result<Self, RetCode> {
        input.expect_len(GET_DC_EXTENT_LIST_INPUT_SIZE)?;
        Ok(Self {
            extent_count: input.u32(0).ok_or(RetCode::InvalidPayloadLength)?,
            start_extent_index: input.u32(4).ok_or(RetCode::InvalidPayloadLength)?,
        })
    }
}

impl Encode for GetDcExtentListIn {
    fn encode(&self) -> Vec<u8> {
        let mut p = self.extent_count.to_le_bytes().to_vec();
        p.extend_from_slice(&self.start_extent_index.to_le_bytes());
        p
    }
}

// CXL 3.1 8.2.9.9.9.2 Get Dynamic Capacity Extent List (Table 8-168 Output Payload)
/// Get Dynamic Capacity Extent List output (`struct cxl_mbox_get_extent_out`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GetDcExtentListOut {
    /// Total Extent Count.
    pub total_extent_count: u32,
    /// Extent List Generation Number.
    pub generation_num: u32,
    /// The extents returned (Returned Extent Count is their number).
    pub extents: Vec<DcExtent>,
}

impl Encode for GetDcExtentListOut {
    fn encode(&self) -> Vec<u8> {
        let n = self.extents.len();
        let mut o = Output::zeroed(GET_DC_EXTENT_LIST_HEADER_SIZE + n * DC_EXTENT_SIZE);
        o.put_u32(0x00, n as u32);
        o.put_u32(0x04, self.total_extent_count);
        o.put_u32(0x08, self.generation_num);
        for (i, e) in self.extents.iter().enumerate() {
            o.put_bytes(
                GET_DC_EXTENT_LIST_HEADER_SIZE + i * DC_EXTENT_SIZE,
                &e.to_bytes(),
            );
        }
        o.into_vec()
    }
}

// CXL 3.1 8.2.9.9.9.3 Add Dynamic Capacity Response (Table 8-169 Input Payload)
/// Add Dynamic Capacity Response / Release Dynamic Capacity input
/// (`struct cxl_mbox_dc_response`): Number of Updated Extents, Flags, 3
/// reserved bytes, then exactly that many 24-byte Updated Extents (Invalid
/// Payload Length otherwise).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DcResponseIn {
    /// Flags ([`DC_RESPONSE_FLAG_MORE`]).
    pub flags: u8,
    /// The Updated Extent List.
    pub extents: Vec<ExtentRange>,
}

impl DcResponseIn {
    /// More: further parts of this response follow.
    pub fn more(&self) -> bool {
        self.flags & DC_RESPONSE_FLAG_MORE != 0
    }
}

impl Decode<'_> for DcResponseIn {
    fn decode(input: Input<'_>) -> Result<Self, RetCode> {
        input.expect_min_len(UPDATE_EXTENT_LIST_HEADER_SIZE)?;
        let count = input.u32(0).ok_or(RetCode::InvalidPayloadLength)?;
        let flags = input.u8(4).ok_or(RetCode::InvalidPayloadLength)?;
        let expected = usize::try_from(count)
            .ok()
            .and_then(|n| n.checked_mul(UPDATED_EXTENT_SIZE))
            .and_then(|n| n.checked_add(UPDATE_EXTENT_LIST_HEADER_SIZE))
            .ok_or(RetCode::InvalidPayloadLength)?;
        input.expect_len(expected)?;
        Ok(Self {
            flags,
            extents: decode_updated_extents(input.tail(UPDATE_EXTENT_LIST_HEADER_SIZE)),
        })
    }
}

impl Encode for DcResponseIn {
    fn encode(&self) -> Vec<u8> {
        let mut p = (self.extents.len() as u32).to_le_bytes().to_vec();
        p.extend_from_slice(&[self.flags, 0, 0, 0]);
        p.extend_from_slice(&encode_updated_extents(&self.extents));
        p
    }
}

// CXL 3.1 8.2.9.9.9.1 Get Dynamic Capacity Configuration (Opcode 4800h)
/// Get Dynamic Capacity Configuration: the region configurations from the
/// starting index on and the extent and tag counts. A starting index past
/// the last region is Invalid Input.
pub fn get_dc_config(
    memdev: &mut Memdev,
    input: Input,
    _fx: &mut Effects,
) -> Result<Vec<u8>, RetCode> {
    let req = GetDcConfigIn::decode(input)?;
    let count = usize::from(req.region_count);
    let start = usize::from(req.start_region_index);
    let dcd = memdev.dcd();
    let regions = dcd.regions();
    if start >= regions.len() {
        return Err(RetCode::InvalidInput);
    }
    let returned = regions.get(start..).unwrap_or(&[]);
    let returned = returned.get(..count.min(returned.len())).unwrap_or(&[]);
    Ok(GetDcConfigOut {
        avail_region_count: regions.len() as u8,
        regions: returned.to_vec(),
        num_extents_supported: dcd.max_extents(),
        num_extents_available: dcd.available_extents(),
        num_tags_supported: dcd.max_tags(),
        num_tags_available: dcd.available_tags(),
    }
    .encode())
}

// CXL 3.1 8.2.9.9.9.2 Get Dynamic Capacity Extent List (Opcode 4801h)
/// Get Dynamic Capacity Extent List: the held extents (DPA order) from the
/// starting index on, as many as fit. A starting index past the total is
/// Invalid Input.
pub fn get_dc_extent_list(
    memdev: &mut Memdev,
    input: Input,
    _fx: &mut Effects,
) -> Result<Vec<u8>, RetCode> {
    let req = GetDcExtentListIn::decode(input)?;
    let dcd = memdev.dcd();
    let total = dcd.held_count();
    let start = usize::try_from(req.start_extent_index).map_err(|_| RetCode::InvalidInput)?;
    if start > total {
        return Err(RetCode::InvalidInput);
    }
    let n = usize::try_from(req.extent_count)
        .unwrap_or(usize::MAX)
        .min(total - start)
        .min(MAX_EXTENTS_PER_LIST);
    Ok(GetDcExtentListOut {
        total_extent_count: u32::try_from(total).unwrap_or(u32::MAX),
        generation_num: dcd.generation(),
        extents: dcd.held_extents(start, n),
    }
    .encode())
}

// CXL 3.1 8.2.9.9.9.3 Add Dynamic Capacity Response (Opcode 4802h)
/// Add Dynamic Capacity Response: the extents the host accepts out of the
/// oldest pending offer; no output. The accepted extents are to be mapped
/// (effects). Return codes: see [`crate::cxl::dcd::host`].
pub fn add_dc_response(
    memdev: &mut Memdev,
    input: Input,
    fx: &mut Effects,
) -> Result<Vec<u8>, RetCode> {
    let req = DcResponseIn::decode(input)?;
    fx.dcd
        .extend(memdev.add_dc_response(&req.extents, req.more())?);
    Ok(Vec::new())
}

// CXL 3.1 8.2.9.9.9.4 Release Dynamic Capacity (Opcode 4803h)
/// Release Dynamic Capacity: the extents the host gives back; no output.
/// They are to be unmapped (effects). An empty list is Invalid Input.
/// Return codes: see [`crate::cxl::dcd::host`].
pub fn release_dc(memdev: &mut Memdev, input: Input, fx: &mut Effects) -> Result<Vec<u8>, RetCode> {
    let req = DcResponseIn::decode(input)?;
    fx.dcd.extend(memdev.release_dc(&req.extents)?);
    Ok(Vec::new())
}

#[cfg(test)]
#[path = "dcd_tests.rs"]
mod tests;
