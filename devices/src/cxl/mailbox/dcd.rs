//! Dynamic Capacity command set (CXL 3.1 8.2.9.9.9): Get Dynamic Capacity
//! Configuration, Get Dynamic Capacity Extent List, Add Dynamic Capacity
//! Response and Release Dynamic Capacity. The state they act on is in
//! [`crate::cxl::dcd`]; these handlers decode and encode payloads.

use super::payload::{Input, Output};
use super::{RetCode, PAYLOAD_SIZE};
use crate::cxl::dcd::extent::{decode_updated_extents, DC_EXTENT_SIZE, UPDATED_EXTENT_SIZE};
use crate::cxl::dcd::region::DC_DECODE_UNIT;
use crate::cxl::dcd::ExtentRange;
use crate::cxl::memdev::Memdev;

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

// CXL 3.1 8.2.9.9.9.1 Get Dynamic Capacity Configuration (Opcode 4800h)
/// Get Dynamic Capacity Configuration: Region Count and Starting Region
/// Index in; Number of Available Regions, Regions Returned, the region
/// configurations (base, decode length in 256 MiB units, length, block
/// size, DSMAD handle, flags) and the extent and tag counts out. A
/// starting index past the last region is Invalid Input.
pub fn get_dc_config(memdev: &mut Memdev, input: Input) -> Result<Vec<u8>, RetCode> {
    input.expect_len(GET_DC_CONFIG_INPUT_SIZE)?;
    let count = usize::from(input.u8(0).ok_or(RetCode::InvalidPayloadLength)?);
    let start = usize::from(input.u8(1).ok_or(RetCode::InvalidPayloadLength)?);
    let dcd = memdev.dcd();
    let regions = dcd.regions();
    if start >= regions.len() {
        return Err(RetCode::InvalidInput);
    }
    let returned = regions.get(start..).unwrap_or(&[]);
    let returned = returned.get(..count.min(returned.len())).unwrap_or(&[]);
    let trailer = GET_DC_CONFIG_HEADER_SIZE + returned.len() * DC_REGION_CONFIG_SIZE;
    let mut o = Output::zeroed(trailer + GET_DC_CONFIG_TRAILER_SIZE);
    o.put_u8(0x00, regions.len() as u8);
    o.put_u8(0x01, returned.len() as u8);
    for (i, r) in returned.iter().enumerate() {
        let at = GET_DC_CONFIG_HEADER_SIZE + i * DC_REGION_CONFIG_SIZE;
        o.put_u64(at, r.base);
        o.put_u64(at + 0x08, r.decode_length / DC_DECODE_UNIT);
        o.put_u64(at + 0x10, r.length);
        o.put_u64(at + 0x18, r.block_size);
        o.put_u32(at + 0x20, u32::from(r.dsmad_handle));
        o.put_u8(at + 0x24, r.flags());
    }
    o.put_u32(trailer, dcd.max_extents());
    o.put_u32(trailer + 0x04, dcd.available_extents());
    o.put_u32(trailer + 0x08, dcd.max_tags());
    o.put_u32(trailer + 0x0C, dcd.available_tags());
    Ok(o.into_vec())
}

// CXL 3.1 8.2.9.9.9.2 Get Dynamic Capacity Extent List (Opcode 4801h)
/// Get Dynamic Capacity Extent List: Extent Count and Starting Extent
/// Index in; Returned Extent Count, Total Extent Count, Extent List
/// Generation Number and the held extents (DPA order) out. A starting
/// index past the total is Invalid Input.
pub fn get_dc_extent_list(memdev: &mut Memdev, input: Input) -> Result<Vec<u8>, RetCode> {
    input.expect_len(GET_DC_EXTENT_LIST_INPUT_SIZE)?;
    let count = input.u32(0).ok_or(RetCode::InvalidPayloadLength)?;
    let start = input.u32(4).ok_or(RetCode::InvalidPayloadLength)?;
    let dcd = memdev.dcd();
    let total = dcd.held_count();
    let start = usize::try_from(start).map_err(|_| RetCode::InvalidInput)?;
    if start > total {
        return Err(RetCode::InvalidInput);
    }
    let n = usize::try_from(count)
        .unwrap_or(usize::MAX)
        .min(total - start)
        .min(MAX_EXTENTS_PER_LIST);
    let extents = dcd.held_extents(start, n);
    let mut o = Output::zeroed(GET_DC_EXTENT_LIST_HEADER_SIZE + extents.len() * DC_EXTENT_SIZE);
    o.put_u32(0x00, extents.len() as u32);
    o.put_u32(0x04, u32::try_from(total).unwrap_or(u32::MAX));
    o.put_u32(0x08, dcd.generation());
    for (i, e) in extents.iter().enumerate() {
        o.put_bytes(
            GET_DC_EXTENT_LIST_HEADER_SIZE + i * DC_EXTENT_SIZE,
            &e.to_bytes(),
        );
    }
    Ok(o.into_vec())
}

/// Decodes the Add Dynamic Capacity Response / Release Dynamic Capacity
/// input: Number of Updated Extents, Flags, 3 reserved bytes, then exactly
/// that many 24-byte Updated Extents (Invalid Payload Length otherwise).
fn updated_extent_list(input: &Input) -> Result<(Vec<ExtentRange>, bool), RetCode> {
    input.expect_min_len(UPDATE_EXTENT_LIST_HEADER_SIZE)?;
    let count = input.u32(0).ok_or(RetCode::InvalidPayloadLength)?;
    let flags = input.u8(4).ok_or(RetCode::InvalidPayloadLength)?;
    let expected = usize::try_from(count)
        .ok()
        .and_then(|n| n.checked_mul(UPDATED_EXTENT_SIZE))
        .and_then(|n| n.checked_add(UPDATE_EXTENT_LIST_HEADER_SIZE))
        .ok_or(RetCode::InvalidPayloadLength)?;
    input.expect_len(expected)?;
    let list = decode_updated_extents(input.tail(UPDATE_EXTENT_LIST_HEADER_SIZE));
    Ok((list, flags & DC_RESPONSE_FLAG_MORE != 0))
}

// CXL 3.1 8.2.9.9.9.3 Add Dynamic Capacity Response (Opcode 4802h)
/// Add Dynamic Capacity Response: the extents the host accepts out of the
/// oldest pending offer; no output. Return codes: see
/// [`crate::cxl::dcd::host`].
pub fn add_dc_response(memdev: &mut Memdev, input: Input) -> Result<Vec<u8>, RetCode> {
    let (list, more) = updated_extent_list(&input)?;
    memdev.dcd_mut().add_response(&list, more)?;
    Ok(Vec::new())
}

// CXL 3.1 8.2.9.9.9.4 Release Dynamic Capacity (Opcode 4803h)
/// Release Dynamic Capacity: the extents the host gives back; no output.
/// An empty list is Invalid Input. Return codes: see
/// [`crate::cxl::dcd::host`].
pub fn release_dc(memdev: &mut Memdev, input: Input) -> Result<Vec<u8>, RetCode> {
    let (list, _more) = updated_extent_list(&input)?;
    memdev.dcd_mut().host_release(&list)?;
    Ok(Vec::new())
}

#[cfg(test)]
#[path = "../dcd/tests/mailbox.rs"]
mod tests;
