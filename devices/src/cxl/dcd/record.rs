//! The Dynamic Capacity Event Record (CXL 3.1 8.2.9.2.1.6, Table 8-50).
//!
//! Record-specific data, at offset 30h of the 128-byte record:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 30h | 1 | Dynamic Capacity Event Type |
//! | 31h | 1 | Validity Flags (bit 0: Updated Region Index valid) |
//! | 32h | 2 | Host ID |
//! | 34h | 1 | Updated Region Index |
//! | 35h | 1 | Flags (bit 0: More) |
//! | 36h | 2 | reserved |
//! | 38h | 28h | Dynamic Capacity Extent |
//! | 60h | 18h | reserved |
//! | 78h | 4 | Number of Available Extents |
//! | 7Ch | 4 | Number of Available Tags |

use uuid::Uuid;

use super::extent::{ExtentRange, DC_EXTENT_SIZE};
use crate::cxl::memdev::events::{EventHeader, EventRecord};

// CXL 3.1 8.2.9.2.1.6 Dynamic Capacity Event Record (Event Record Identifier)
/// UUID identifying a Dynamic Capacity Event Record.
pub const DC_EVENT_UUID: Uuid = Uuid::from_u128(0xca95afa7_f183_4018_8c2f_95268e101a2a);

// CXL 3.1 8.2.9.2.1.6 Dynamic Capacity Event Record (Flags)
/// Flags bit 0, More: more records of the same operation follow.
pub const DC_EVENT_FLAG_MORE: u8 = 1 << 0;
// CXL 3.1 8.2.9.2.1.6 Dynamic Capacity Event Record (Validity Flags)
/// Validity Flags bit 0: the Updated Region Index field is valid.
pub const DC_VALIDITY_UPDATED_REGION_INDEX: u8 = 1 << 0;

/// Offsets inside the record-specific data (record offset minus 30h).
const TYPE: usize = 0x00;
const VALIDITY: usize = 0x01;
const HOST_ID: usize = 0x02;
const REGION: usize = 0x04;
const FLAGS: usize = 0x05;
const EXTENT: usize = 0x08;
const AVAILABLE_EXTENTS: usize = 0x48;
const AVAILABLE_TAGS: usize = 0x4C;
const DATA_SIZE: usize = 0x50;

// CXL 3.1 8.2.9.2.1.6 Dynamic Capacity Event Record (Event Type)
/// Dynamic Capacity Event Type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DcEventType {
    /// 00h: capacity offered to the host.
    AddCapacity = 0x00,
    /// 01h: the device asks the host to release capacity.
    ReleaseCapacity = 0x01,
    /// 02h: capacity taken away; no host answer.
    ForcedCapacityRelease = 0x02,
    /// 03h: a region's configuration changed.
    RegionConfigurationUpdated = 0x03,
    /// 04h: the host answered an Add Capacity (FM-facing logs).
    AddCapacityResponse = 0x04,
    /// 05h: the host released capacity (FM-facing logs).
    CapacityReleased = 0x05,
}

impl DcEventType {
    /// The type with encoding `value`.
    pub fn from_u8(value: u8) -> Option<Self> {
        Some(match value {
            0x00 => Self::AddCapacity,
            0x01 => Self::ReleaseCapacity,
            0x02 => Self::ForcedCapacityRelease,
            0x03 => Self::RegionConfigurationUpdated,
            0x04 => Self::AddCapacityResponse,
            0x05 => Self::CapacityReleased,
            _ => return None,
        })
    }
}

/// The fields of a Dynamic Capacity Event Record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DcEvent {
    /// Dynamic Capacity Event Type.
    pub event_type: DcEventType,
    /// Host ID.
    pub host_id: u16,
    /// Updated Region Index (flagged valid for Region Configuration
    /// Updated events, informational otherwise).
    pub region: u8,
    /// Flags: More.
    pub more: bool,
    /// The extent's DPA range.
    pub extent: ExtentRange,
    /// The extent's tag.
    pub tag: Uuid,
    /// The extent's Shared Extent Sequence.
    pub shared_seq: u16,
    /// Number of Available Extents.
    pub available_extents: u32,
    /// Number of Available Tags.
    pub available_tags: u32,
}

/// Clears the More flag of a Dynamic Capacity Event Record in place (the
/// record becomes the last of its chain).
pub(crate) fn clear_more_flag(record: &mut EventRecord) {
    if let Some(flags) = record.data_mut().get_mut(FLAGS) {
        *flags &= !DC_EVENT_FLAG_MORE;
    }
}

impl DcEvent {
    // CXL 3.1 8.2.9.2.1.6 Dynamic Capacity Event Record
    /// The 128-byte event record (Informational severity).
    pub fn to_record(&self) -> EventRecord {
        let mut d = [0u8; DATA_SIZE];
        d[TYPE] = self.event_type as u8;
        if self.event_type == DcEventType::RegionConfigurationUpdated {
            d[VALIDITY] = DC_VALIDITY_UPDATED_REGION_INDEX;
        }
        d[HOST_ID..HOST_ID + 2].copy_from_slice(&self.host_id.to_le_bytes());
        d[REGION] = self.region;
        d[FLAGS] = if self.more { DC_EVENT_FLAG_MORE } else { 0 };
        let extent = super::extent::encode_extent(
            self.extent.dpa,
            self.extent.len,
            self.tag,
            self.shared_seq,
        );
        d[EXTENT..EXTENT + DC_EXTENT_SIZE].copy_from_slice(&extent);
        d[AVAILABLE_EXTENTS..AVAILABLE_EXTENTS + 4]
            .copy_from_slice(&self.available_extents.to_le_bytes());
        d[AVAILABLE_TAGS..AVAILABLE_TAGS + 4].copy_from_slice(&self.available_tags.to_le_bytes());
        EventRecord::raw(DC_EVENT_UUID, &EventHeader::default(), &d)
    }

    /// Decodes a Dynamic Capacity Event Record; `None` for other records or
    /// an unknown event type.
    pub fn from_record(record: &EventRecord) -> Option<Self> {
        if record.uuid() != DC_EVENT_UUID {
            return None;
        }
        let d = record.data();
        let u64_at = |o: usize| -> Option<u64> {
            Some(u64::from_le_bytes(d.get(o..o + 8)?.try_into().ok()?))
        };
        let u32_at = |o: usize| -> Option<u32> {
            Some(u32::from_le_bytes(d.get(o..o + 4)?.try_into().ok()?))
        };
        let u16_at = |o: usize| -> Option<u16> {
            Some(u16::from_le_bytes(d.get(o..o + 2)?.try_into().ok()?))
        };
        let tag = Uuid::from_bytes(d.get(EXTENT + 0x10..EXTENT + 0x20)?.try_into().ok()?);
        Some(Self {
            event_type: DcEventType::from_u8(*d.get(TYPE)?)?,
            host_id: u16_at(HOST_ID)?,
            region: *d.get(REGION)?,
            more: d.get(FLAGS)? & DC_EVENT_FLAG_MORE != 0,
            extent: ExtentRange::new(u64_at(EXTENT)?, u64_at(EXTENT + 8)?),
            tag,
            shared_seq: u16_at(EXTENT + 0x20)?,
            available_extents: u32_at(AVAILABLE_EXTENTS)?,
            available_tags: u32_at(AVAILABLE_TAGS)?,
        })
    }
}
