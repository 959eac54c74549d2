//! Features command set (CXL 3.1 8.2.9.6): Get Supported Features, Get
//! Feature and Set Feature, their payloads and handlers. The features and
//! their values are [`crate::cxl::memdev::features`].

use uuid::Uuid;

use super::payload::{Decode, Encode, Input, Output};
use super::{RetCode, PAYLOAD_SIZE};
use crate::cxl::memdev::features::{FeatureInfo, SetFeature};
use crate::cxl::memdev::{Effects, Memdev};

/// Size of the Get Supported Features input payload.
pub const GET_SUPPORTED_FEATURES_INPUT_SIZE: usize = 8;
/// Size of the Get Supported Features output header (entries follow it).
pub const SUPPORTED_FEATURES_HEADER_SIZE: usize = 8;
/// Size of one Supported Feature Entry.
pub const SUPPORTED_FEATURE_ENTRY_SIZE: usize = 0x30;
/// Size of the Get Feature input payload.
pub const GET_FEATURE_INPUT_SIZE: usize = 0x15;
/// Size of the Set Feature input payload before the Feature Data.
pub const SET_FEATURE_HEADER_SIZE: usize = 0x20;

// CXL 3.1 8.2.9.6.1 Get Supported Features (Get Supported Features Input Payload)
/// Get Supported Features input (`struct cxl_mbox_get_sup_feats_in`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GetSupportedFeaturesIn {
    /// Count: bytes of output the host has room for (header included).
    pub count: u32,
    /// Starting Feature Index.
    pub start_index: u16,
}

impl Decode<'_> for GetSupportedFeaturesIn {
    fn decode(input: Input<'_>) -> Result<Self, RetCode> {
        input.expect_len(GET_SUPPORTED_FEATURES_INPUT_SIZE)?;
        Ok(Self {
            count: input.u32(0).ok_or(RetCode::InvalidPayloadLength)?,
            start_index: input.u16(4).ok_or(RetCode::InvalidPayloadLength)?,
        })
    }
}

impl Encode for GetSupportedFeaturesIn {
    fn encode(&self) -> Vec<u8> {
        let mut o = Output::zeroed(GET_SUPPORTED_FEATURES_INPUT_SIZE);
        o.put_u32(0, self.count);
        o.put_u16(4, self.start_index);
        o.into_vec()
    }
}

// CXL 3.1 8.2.9.6.1 Get Supported Features (Table 8-96 Get Supported Features Output Payload)
/// Get Supported Features output (`struct cxl_mbox_get_sup_feats_out`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GetSupportedFeaturesOut {
    /// Device Supported Features: how many the device has.
    pub supported: u16,
    /// The Supported Feature Entries returned.
    pub entries: Vec<FeatureInfo>,
}

impl Encode for GetSupportedFeaturesOut {
    fn encode(&self) -> Vec<u8> {
        let n = self.entries.len();
        let mut o =
            Output::zeroed(SUPPORTED_FEATURES_HEADER_SIZE + n * SUPPORTED_FEATURE_ENTRY_SIZE);
        o.put_u16(0, n as u16);
        o.put_u16(2, self.supported);
        for (i, e) in self.entries.iter().enumerate() {
            // CXL 3.1 8.2.9.6.1 (Table 8-97 Supported Feature Entry)
            let at = SUPPORTED_FEATURES_HEADER_SIZE + i * SUPPORTED_FEATURE_ENTRY_SIZE;
            o.put_bytes(at, e.uuid.as_bytes());
            o.put_u16(at + 0x10, e.index);
            o.put_u16(at + 0x12, e.get_size);
            o.put_u16(at + 0x14, e.set_size);
            o.put_u32(at + 0x16, e.attr_flags);
            o.put_u8(at + 0x1A, e.get_version);
            o.put_u8(at + 0x1B, e.set_version);
            o.put_u16(at + 0x1C, e.set_effects);
        }
        o.into_vec()
    }
}

// CXL 3.1 8.2.9.6.2 Get Feature (Table 8-99 Get Feature Input Payload)
/// Get Feature input (`struct cxl_mbox_get_feat_in`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GetFeatureIn {
    /// Feature Identifier.
    pub uuid: Uuid,
    /// Offset into the readable attributes.
    pub offset: u16,
    /// Count of bytes to return.
    pub count: u16,
    /// Selection: 0 current, 1 default, 2 saved value.
    pub selection: u8,
}

impl Decode<'_> for GetFeatureIn {
    fn decode(input: Input<'_>) -> Result<Self, RetCode> {
        input.expect_len(GET_FEATURE_INPUT_SIZE)?;
        Ok(Self {
            uuid: Uuid::from_bytes(input.array::<16>(0).ok_or(RetCode::InvalidPayloadLength)?),
            offset: input.u16(0x10).ok_or(RetCode::InvalidPayloadLength)?,
            count: input.u16(0x12).ok_or(RetCode::InvalidPayloadLength)?,
            selection: input.u8(0x14).ok_or(RetCode::InvalidPayloadLength)?,
        })
    }
}

impl Encode for GetFeatureIn {
    fn encode(&self) -> Vec<u8> {
        let mut o = Output::zeroed(GET_FEATURE_INPUT_SIZE);
        o.put_bytes(0, self.uuid.as_bytes());
        o.put_u16(0x10, self.offset);
        o.put_u16(0x12, self.count);
        o.put_u8(0x14, self.selection);
        o.into_vec()
    }
}

// CXL 3.1 8.2.9.6.3 Set Feature (Table 8-101 Set Feature Input Payload)
/// Set Feature input (`struct cxl_mbox_set_feat_in`): the header, then the
/// Feature Data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetFeatureIn<'a> {
    /// Feature Identifier.
    pub uuid: Uuid,
    /// Set Feature Flags (Data Transfer, Saved Across Reset).
    pub flags: u32,
    /// Offset of the data in the writable attributes.
    pub offset: u16,
    /// Version of the Feature Data.
    pub version: u8,
    /// Feature Data.
    pub data: &'a [u8],
}

impl<'a> Decode<'a> for SetFeatureIn<'a> {
    fn decode(input: Input<'a>) -> Result<Self, RetCode> {
        input.expect_min_len(SET_FEATURE_HEADER_SIZE)?;
        Ok(Self {
            uuid: Uuid::from_bytes(input.array::<16>(0).ok_or(RetCode::InvalidPayloadLength)?),
            flags: input.u32(0x10).ok_or(RetCode::InvalidPayloadLength)?,
            offset: input.u16(0x14).ok_or(RetCode::InvalidPayloadLength)?,
            version: input.u8(0x16).ok_or(RetCode::InvalidPayloadLength)?,
            data: input.tail(SET_FEATURE_HEADER_SIZE),
        })
    }
}

impl Encode for SetFeatureIn<'_> {
    fn encode(&self) -> Vec<u8> {
        let mut o = Output::zeroed(SET_FEATURE_HEADER_SIZE + self.data.len());
        o.put_bytes(0, self.uuid.as_bytes());
        o.put_u32(0x10, self.flags);
        o.put_u16(0x14, self.offset);
        o.put_u8(0x16, self.version);
        o.put_bytes(SET_FEATURE_HEADER_SIZE, self.data);
        o.into_vec()
    }
}

// CXL 3.1 8.2.9.6.1 Get Supported Features (Opcode 0500h)
/// Get Supported Features: as many entries from the Starting Feature Index
/// as Count and the payload hold. Invalid Input if Count does not hold the
/// header or the index is past the last feature.
pub fn get_supported_features(
    memdev: &mut Memdev,
    input: Input,
    _fx: &mut Effects,
) -> Result<Vec<u8>, RetCode> {
    let req = GetSupportedFeaturesIn::decode(input)?;
    let all = memdev.supported_features();
    let count = usize::try_from(req.count).map_err(|_| RetCode::InvalidInput)?;
    let start = usize::from(req.start_index);
    if count < SUPPORTED_FEATURES_HEADER_SIZE || start >= all.len() {
        return Err(RetCode::InvalidInput);
    }
    let room = count.min(PAYLOAD_SIZE) - SUPPORTED_FEATURES_HEADER_SIZE;
    let n = room / SUPPORTED_FEATURE_ENTRY_SIZE;
    Ok(GetSupportedFeaturesOut {
        supported: all.len() as u16,
        entries: all.into_iter().skip(start).take(n).collect(),
    }
    .encode())
}

// CXL 3.1 8.2.9.6.2 Get Feature (Opcode 0501h)
/// Get Feature: up to Count bytes of the feature's readable attributes.
/// Invalid Input for a Count over the payload size (the rest: see
/// [`Memdev::get_feature`]).
pub fn get_feature(
    memdev: &mut Memdev,
    input: Input,
    _fx: &mut Effects,
) -> Result<Vec<u8>, RetCode> {
    let req = GetFeatureIn::decode(input)?;
    if usize::from(req.count) > PAYLOAD_SIZE {
        return Err(RetCode::InvalidInput);
    }
    memdev.get_feature(&req.uuid, req.selection, req.offset, req.count)
}

// CXL 3.1 8.2.9.6.3 Set Feature (Opcode 0502h)
/// Set Feature: no output (return codes: see [`Memdev::set_feature`]).
pub fn set_feature(
    memdev: &mut Memdev,
    input: Input,
    _fx: &mut Effects,
) -> Result<Vec<u8>, RetCode> {
    let req = SetFeatureIn::decode(input)?;
    memdev.set_feature(&SetFeature {
        uuid: req.uuid,
        flags: req.flags,
        offset: req.offset,
        version: req.version,
        data: req.data,
    })?;
    Ok(Vec::new())
}

#[cfg(test)]
#[path = "features_tests.rs"]
mod tests;
