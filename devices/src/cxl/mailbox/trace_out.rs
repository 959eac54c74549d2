//! Output payloads in the decoded trace: the fields a driver developer
//! reads, at their offsets in CXL 3.1's output payload tables (each read
//! is bounds-checked: a field past the end is `null`). Outputs without a
//! decoder here render as their length and first bytes.

use serde_json::{json, Value};

use super::dcd::{DC_REGION_CONFIG_SIZE, GET_DC_CONFIG_HEADER_SIZE};
use super::events::GET_EVENT_RECORDS_HEADER_SIZE;
use super::opcode::Opcode;
use super::payload::Input;
use super::poison::{MEDIA_ERROR_RECORD_SIZE, POISON_LIST_HEADER_SIZE};
use crate::cxl::memdev::events::EVENT_RECORD_SIZE;
use crate::cxl::memdev::CAPACITY_MULTIPLIER;

/// Entries listed at most for a list output (records, extents, regions).
const MAX_LISTED: usize = 32;

/// An ASCII field (a firmware revision), NULs trimmed.
fn text(i: &Input, offset: usize, len: usize) -> Option<String> {
    let b = i.bytes(offset, len)?;
    Some(
        String::from_utf8_lossy(b)
            .trim_end_matches('\0')
            .to_string(),
    )
}

/// A capacity field (multiples of 256 MiB on the wire) in bytes.
fn capacity(units: Option<u64>) -> Option<u64> {
    units.map(|n| n.saturating_mul(CAPACITY_MULTIPLIER))
}

/// The output of command `op` decoded (capacities in bytes), or `None` for the generic summary.
pub(super) fn decode(op: Opcode, bytes: &[u8]) -> Option<Value> {
    let i = Input::new(bytes);
    if bytes.is_empty() {
        return None;
    }
    Some(match op {
        // 8.2.9.1.1 Table 8-38 Identify Output Payload
        Opcode::Identify => json!({
            "vendor_id": i.u16(0x00),
            "device_id": i.u16(0x02),
            "subsys_vendor_id": i.u16(0x04),
            "subsys_id": i.u16(0x06),
            "serial": i.u64(0x08),
            "max_message_size": i.u8(0x10),
            "component_type": i.u8(0x11),
        }),
        // 8.2.9.2.2 Table 8-51 Get Event Records Output Payload
        Opcode::GetEventRecords => {
            let n = i.u16(0x14).unwrap_or(0);
            let handles: Vec<u16> = (0..usize::from(n).min(MAX_LISTED))
                .map_while(|k| i.u16(GET_EVENT_RECORDS_HEADER_SIZE + k * EVENT_RECORD_SIZE + 0x14))
                .collect();
            json!({
                "flags": i.u8(0),
                "overflow_error_count": i.u16(0x02),
                "record_count": n,
                "handles": handles,
            })
        }
        // 8.2.9.3.1 Table 8-56 Get FW Info Output Payload
        Opcode::GetFwInfo => json!({
            "slots_supported": i.u8(0x00),
            "slot_info": i.u8(0x01),
            "activation_caps": i.u8(0x02),
            "slot_1": text(&i, 0x10, 16),
            "slot_2": text(&i, 0x20, 16),
            "slot_3": text(&i, 0x30, 16),
            "slot_4": text(&i, 0x40, 16),
        }),
        // 8.2.9.4.1 Get Timestamp
        Opcode::GetTimestamp => json!({ "timestamp": i.u64(0) }),
        // 8.2.9.6.1 Table 8-92 Get Supported Features Output Payload
        Opcode::GetSupportedFeatures => json!({
            "entries": i.u16(0x00),
            "supported_features": i.u16(0x02),
        }),
        // 8.2.9.9.1.1 Table 8-127 Identify Memory Device Output Payload
        Opcode::IdentifyMemoryDevice => json!({
            "fw_revision": text(&i, 0x00, 16),
            "total_capacity": capacity(i.u64(0x10)),
            "volatile_only_capacity": capacity(i.u64(0x18)),
            "persistent_only_capacity": capacity(i.u64(0x20)),
            "partition_align": capacity(i.u64(0x28)),
            "lsa_size": i.u32(0x38),
            "dc_event_log_size": i.u16(0x43),
        }),
        // 8.2.9.9.2.1 Table 8-130 Get Partition Info Output Payload
        Opcode::GetPartitionInfo => json!({
            "active_volatile_capacity": capacity(i.u64(0x00)),
            "active_persistent_capacity": capacity(i.u64(0x08)),
            "next_volatile_capacity": capacity(i.u64(0x10)),
            "next_persistent_capacity": capacity(i.u64(0x18)),
        }),
        // 8.2.9.9.3.1 Table 8-133 Get Health Info Output Payload
        Opcode::GetHealthInfo => json!({
            "health_status": i.u8(0x00),
            "media_status": i.u8(0x01),
            "additional_status": i.u8(0x02),
            "life_used": i.u8(0x03),
            "device_temperature": i.u16(0x04).map(|t| t as i16),
            "dirty_shutdown_count": i.u32(0x06),
            "corrected_volatile_error_count": i.u32(0x0A),
            "corrected_persistent_error_count": i.u32(0x0E),
        }),
        // 8.2.9.9.3.2 Table 8-134 Get Alert Configuration Output Payload
        Opcode::GetAlertConfig => json!({
            "valid_alerts": i.u8(0x00),
            "programmable_alerts": i.u8(0x01),
            "life_used_warning": i.u8(0x03),
            "over_temperature_warning": i.u16(0x08).map(|t| t as i16),
            "under_temperature_warning": i.u16(0x0A).map(|t| t as i16),
            "corrected_volatile_warning": i.u16(0x0C),
            "corrected_persistent_warning": i.u16(0x0E),
        }),
        // 8.2.9.9.4.1 Table 8-140 Get Poison List Output Payload
        Opcode::GetPoisonList => {
            let n = i.u16(0x0A).unwrap_or(0);
            let records: Vec<Value> = (0..usize::from(n).min(MAX_LISTED))
                .map_while(|k| {
                    let at = POISON_LIST_HEADER_SIZE + k * MEDIA_ERROR_RECORD_SIZE;
                    let addr = i.u64(at)?;
                    Some(json!({
                        "dpa": addr & !0x3f,
                        "source": addr & 0x7,
                        "length": i.u32(at + 8)?,
                    }))
                })
                .collect();
            json!({
                "flags": i.u8(0x00),
                "overflow_timestamp": i.u64(0x02),
                "record_count": n,
                "records": records,
            })
        }
        // 8.2.9.9.6.1 Get Security State
        Opcode::GetSecurityState => json!({ "security_state": i.u32(0) }),
        // 8.2.9.9.9.1 Table 8-165 Get Dynamic Capacity Configuration Output
        Opcode::GetDcConfig => {
            let n = i.u8(0x01).unwrap_or(0);
            let regions: Vec<Value> = (0..usize::from(n).min(MAX_LISTED))
                .map_while(|k| {
                    let at = GET_DC_CONFIG_HEADER_SIZE + k * DC_REGION_CONFIG_SIZE;
                    Some(json!({
                        "base": i.u64(at)?,
                        "length": i.u64(at + 0x10)?,
                        "block_size": i.u64(at + 0x18)?,
                    }))
                })
                .collect();
            json!({
                "available_regions": i.u8(0x00),
                "regions_returned": n,
                "regions": regions,
            })
        }
        // 8.2.9.9.9.2 Table 8-168 Get Dynamic Capacity Extent List Output
        Opcode::GetDcExtentList => json!({
            "returned_extent_count": i.u32(0x00),
            "total_extent_count": i.u32(0x04),
            "generation_num": i.u32(0x08),
        }),
        _ => return None,
    })
}
