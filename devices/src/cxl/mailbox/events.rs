//! Events command set: Get/Clear Event Records and Get/Set Event Interrupt
//! Policy (CXL 3.1 8.2.9.2). The logs themselves are in
//! [`crate::cxl::events`].

use super::payload::{Input, Output};
use super::{RetCode, PAYLOAD_SIZE};
use crate::cxl::events::{EventLogType, InterruptSetting, EVENT_RECORD_SIZE};
use crate::cxl::memdev::Memdev;

/// Size of the Get Event Records output header (records follow it).
pub const GET_EVENT_RECORDS_HEADER_SIZE: usize = 0x20;
/// Most records one Get Event Records output payload carries.
pub const MAX_RECORDS_PER_GET: usize =
    (PAYLOAD_SIZE - GET_EVENT_RECORDS_HEADER_SIZE) / EVENT_RECORD_SIZE;

// CXL 3.1 8.2.9.2.2 Get Event Records (Flags)
/// Get Event Records Flags: Overflow.
pub const GET_EVENT_FLAG_OVERFLOW: u8 = 1 << 0;
/// Get Event Records Flags: More Event Records.
pub const GET_EVENT_FLAG_MORE_EVENT_RECORDS: u8 = 1 << 1;

// CXL 3.1 8.2.9.2.3 Clear Event Records (Clear Event Flags)
/// Clear Event Flags: Clear All Events.
pub const CLEAR_EVENT_FLAG_CLEAR_ALL_EVENTS: u8 = 1 << 0;
/// Size of the Clear Event Records input before the handles.
pub const CLEAR_EVENT_RECORDS_HEADER_SIZE: usize = 6;

/// Size of the Set Event Interrupt Policy input without (CXL 3.0) and with
/// (CXL 3.1) the Dynamic Capacity Event Log setting.
pub const EVENT_INTERRUPT_POLICY_BASE_SIZE: usize = 4;
/// See [`EVENT_INTERRUPT_POLICY_BASE_SIZE`].
pub const EVENT_INTERRUPT_POLICY_SIZE: usize = 5;

fn log_from(byte: Option<u8>) -> Result<EventLogType, RetCode> {
    byte.and_then(EventLogType::from_u8)
        .ok_or(RetCode::InvalidInput)
}

// CXL 3.1 8.2.9.2.2 Get Event Records (Opcode 0100h)
/// Get Event Records: the Event Log byte in; the overflow state and the
/// oldest records of that log out.
pub fn get_event_records(memdev: &mut Memdev, input: Input) -> Result<Vec<u8>, RetCode> {
    input.expect_len(1)?;
    let which = log_from(input.u8(0))?;
    let log = memdev.events().log(which);
    let count = log.len().min(MAX_RECORDS_PER_GET);
    let mut o = Output::zeroed(GET_EVENT_RECORDS_HEADER_SIZE + count * EVENT_RECORD_SIZE);
    let mut flags = 0;
    if let Some(ov) = log.overflow() {
        flags |= GET_EVENT_FLAG_OVERFLOW;
        o.put_u16(0x02, ov.error_count);
        o.put_u64(0x04, ov.first_timestamp);
        o.put_u64(0x0C, ov.last_timestamp);
    }
    if log.len() > count {
        flags |= GET_EVENT_FLAG_MORE_EVENT_RECORDS;
    }
    o.put_u8(0x00, flags);
    o.put_u16(0x14, count as u16);
    for (i, r) in log.records().take(count).enumerate() {
        o.put_bytes(
            GET_EVENT_RECORDS_HEADER_SIZE + i * EVENT_RECORD_SIZE,
            r.as_bytes(),
        );
    }
    // The host has now seen these: the device no longer takes them back.
    memdev.events_mut().mark_seen(which, count);
    Ok(o.into_vec())
}

// CXL 3.1 8.2.9.2.3 Clear Event Records (Opcode 0101h)
/// Clear Event Records: Event Log, Clear Event Flags, Number of Event
/// Record Handles, 3 reserved bytes, then the handles; no output.
pub fn clear_event_records(memdev: &mut Memdev, input: Input) -> Result<Vec<u8>, RetCode> {
    input.expect_min_len(CLEAR_EVENT_RECORDS_HEADER_SIZE)?;
    let count = usize::from(input.u8(2).unwrap_or(0));
    input.expect_len(CLEAR_EVENT_RECORDS_HEADER_SIZE + 2 * count)?;
    let log = log_from(input.u8(0))?;
    let flags = input.u8(1).unwrap_or(0);
    if flags & CLEAR_EVENT_FLAG_CLEAR_ALL_EVENTS != 0 {
        memdev.events_mut().clear_all(log)?;
        return Ok(Vec::new());
    }
    let handles: Vec<u16> = input
        .tail(CLEAR_EVENT_RECORDS_HEADER_SIZE)
        .chunks_exact(2)
        .map(|c| match c {
            [lo, hi] => u16::from_le_bytes([*lo, *hi]),
            _ => 0,
        })
        .collect();
    memdev.events_mut().clear(log, &handles)?;
    Ok(Vec::new())
}

// CXL 3.1 8.2.9.2.4 Get Event Interrupt Policy (Opcode 0102h)
/// Get Event Interrupt Policy: no input; one settings byte per log
/// (Informational, Warning, Failure, Fatal, Dynamic Capacity).
pub fn get_event_interrupt_policy(memdev: &mut Memdev, input: Input) -> Result<Vec<u8>, RetCode> {
    input.expect_len(0)?;
    let events = memdev.events();
    let msi = events.msi_message_number();
    Ok(EventLogType::ALL
        .iter()
        .map(|t| events.log(*t).interrupt().to_get_byte(msi))
        .collect())
}

// CXL 3.1 8.2.9.2.5 Set Event Interrupt Policy (Opcode 0103h)
/// Set Event Interrupt Policy: 4 settings bytes (CXL 3.0 hosts, Linux), or
/// 5 with the Dynamic Capacity Event Log setting; no output. Nothing
/// changes if any setting is invalid.
pub fn set_event_interrupt_policy(memdev: &mut Memdev, input: Input) -> Result<Vec<u8>, RetCode> {
    let len = input.len();
    if len != EVENT_INTERRUPT_POLICY_BASE_SIZE && len != EVENT_INTERRUPT_POLICY_SIZE {
        return Err(RetCode::InvalidPayloadLength);
    }
    let mut settings = Vec::with_capacity(len);
    for (i, t) in EventLogType::ALL.iter().enumerate().take(len) {
        let byte = input.u8(i).ok_or(RetCode::InvalidPayloadLength)?;
        let s = InterruptSetting::from_set_byte(byte).ok_or(RetCode::InvalidInput)?;
        settings.push((*t, s));
    }
    for (t, s) in settings {
        memdev.events_mut().set_interrupt(t, s);
    }
    Ok(Vec::new())
}

#[cfg(test)]
#[path = "events_tests.rs"]
mod tests;
