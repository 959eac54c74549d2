//! Events command set: Get/Clear Event Records and Get/Set Event Interrupt
//! Policy (CXL 3.1 8.2.9.2). The logs themselves are
//! [`crate::cxl::memdev::events`].

use super::payload::{Decode, Encode, Input, NoInput, Output};
use super::{RetCode, PAYLOAD_SIZE};
use crate::cxl::memdev::events::{
    EventLogOverflow, EventLogType, EventRecord, InterruptSetting, EVENT_RECORD_SIZE,
};
use crate::cxl::memdev::{Effects, Memdev};

/// Size of the Get Event Records output header (records follow it).
pub const GET_EVENT_RECORDS_HEADER_SIZE: usize = 0x20;
/// Most records one Get Event Records output carries.
pub const MAX_RECORDS_PER_GET: usize =
    (PAYLOAD_SIZE - GET_EVENT_RECORDS_HEADER_SIZE) / EVENT_RECORD_SIZE;

// CXL 3.1 8.2.9.2.2 Get Event Records (Flags)
/// Overflow.
pub const GET_EVENT_FLAG_OVERFLOW: u8 = 1 << 0;
/// More Event Records.
pub const GET_EVENT_FLAG_MORE_EVENT_RECORDS: u8 = 1 << 1;

// CXL 3.1 8.2.9.2.3 Clear Event Records (Clear Event Flags)
/// Clear All Events.
pub const CLEAR_EVENT_FLAG_CLEAR_ALL_EVENTS: u8 = 1 << 0;
/// Size of the Clear Event Records input before the handles.
pub const CLEAR_EVENT_RECORDS_HEADER_SIZE: usize = 6;

/// Size of the Set Event Interrupt Policy input without the Dynamic
/// Capacity setting.
pub const EVENT_INTERRUPT_POLICY_BASE_SIZE: usize = 4;
/// Size of the Get/Set Event Interrupt Policy payload with it.
pub const EVENT_INTERRUPT_POLICY_SIZE: usize = 5;

fn log_from(byte: Option<u8>) -> Result<EventLogType, RetCode> {
    byte.and_then(EventLogType::from_u8)
        .ok_or(RetCode::InvalidInput)
}

// CXL 3.1 8.2.9.2.2 Get Event Records (Table 8-50 Get Event Records Input Payload)
/// Get Event Records input: the Event Log (Invalid Input if unknown).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GetEventRecordsIn {
    /// Event Log.
    pub event_log: EventLogType,
}

impl Decode<'_> for GetEventRecordsIn {
    fn decode(input: Input<'_>) -> Result<Self, RetCode> {
        input.expect_len(1)?;
        Ok(Self {
            event_log: log_from(input.u8(0))?,
        })
    }
}

impl Encode for GetEventRecordsIn {
    fn encode(&self) -> Vec<u8> {
        vec![self.event_log as u8]
    }
}

// CXL 3.1 8.2.9.2.2 Get Event Records (Table 8-51 Get Event Records Output Payload)
/// Get Event Records output (`struct cxl_get_event_payload`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GetEventRecordsOut {
    /// Flags (`GET_EVENT_FLAG_*`).
    pub flags: u8,
    /// Overflow Error Count and First/Last Overflow Event Timestamps.
    pub overflow: EventLogOverflow,
    /// The Event Records.
    pub records: Vec<EventRecord>,
}

impl Encode for GetEventRecordsOut {
    fn encode(&self) -> Vec<u8> {
        let n = self.records.len();
        let mut o = Output::zeroed(GET_EVENT_RECORDS_HEADER_SIZE + n * EVENT_RECORD_SIZE);
        o.put_u8(0x00, self.flags);
        o.put_u16(0x02, self.overflow.error_count);
        o.put_u64(0x04, self.overflow.first_timestamp);
        o.put_u64(0x0C, self.overflow.last_timestamp);
        o.put_u16(0x14, n as u16);
        for (i, r) in self.records.iter().enumerate() {
            o.put_bytes(
                GET_EVENT_RECORDS_HEADER_SIZE + i * EVENT_RECORD_SIZE,
                r.as_bytes(),
            );
        }
        o.into_vec()
    }
}

// CXL 3.1 8.2.9.2.3 Clear Event Records (Table 8-52 Clear Event Records Input Payload)
/// Clear Event Records input (`struct cxl_mbox_clear_event_payload`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClearEventRecordsIn {
    /// Event Log.
    pub event_log: EventLogType,
    /// Clear Event Flags (`CLEAR_EVENT_FLAG_*`).
    pub flags: u8,
    /// Event Record Handles.
    pub handles: Vec<u16>,
}

impl Decode<'_> for ClearEventRecordsIn {
    fn decode(input: Input<'_>) -> Result<Self, RetCode> {
        input.expect_min_len(CLEAR_EVENT_RECORDS_HEADER_SIZE)?;
        let count = usize::from(input.u8(2).unwrap_or(0));
        input.expect_len(CLEAR_EVENT_RECORDS_HEADER_SIZE + 2 * count)?;
        let event_log = log_from(input.u8(0))?;
        let flags = input.u8(1).unwrap_or(0);
        let handles = input
            .tail(CLEAR_EVENT_RECORDS_HEADER_SIZE)
            .chunks_exact(2)
            .map(|c| match c {
                [lo, hi] => u16::from_le_bytes([*lo, *hi]),
                _ => 0,
            })
            .collect();
        Ok(Self {
            event_log,
            flags,
            handles,
        })
    }
}

impl Encode for ClearEventRecordsIn {
    fn encode(&self) -> Vec<u8> {
        let mut p = vec![
            self.event_log as u8,
            self.flags,
            self.handles.len() as u8,
            0,
            0,
            0,
        ];
        for h in &self.handles {
            p.extend_from_slice(&h.to_le_bytes());
        }
        p
    }
}

// CXL 3.1 8.2.9.2.4 Get Event Interrupt Policy (Table 8-53 Get Event Interrupt Policy Output Payload)
/// Get Event Interrupt Policy output (`struct cxl_event_interrupt_policy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GetEventInterruptPolicyOut {
    /// The setting of each log, in Event Log order.
    pub settings: [InterruptSetting; 5],
    /// The device's MSI/MSI-X message number for event interrupts.
    pub msi_message_number: u8,
}

impl Encode for GetEventInterruptPolicyOut {
    fn encode(&self) -> Vec<u8> {
        self.settings
            .iter()
            .map(|s| s.to_get_byte(self.msi_message_number))
            .collect()
    }
}

// CXL 3.1 8.2.9.2.5 Set Event Interrupt Policy (Table 8-54 Set Event Interrupt Policy Input Payload)
/// Set Event Interrupt Policy input (`struct cxl_event_interrupt_policy`):
/// 4 bytes, or 5 with the Dynamic Capacity setting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetEventInterruptPolicyIn {
    /// The settings, in Event Log order.
    pub settings: Vec<InterruptSetting>,
}

impl Decode<'_> for SetEventInterruptPolicyIn {
    fn decode(input: Input<'_>) -> Result<Self, RetCode> {
        let len = input.len();
        if len != EVENT_INTERRUPT_POLICY_BASE_SIZE && len != EVENT_INTERRUPT_POLICY_SIZE {
            return Err(RetCode::InvalidPayloadLength);
        }
        let settings = (0..len)
            .map(|i| {
                let byte = input.u8(i).ok_or(RetCode::InvalidPayloadLength)?;
                InterruptSetting::from_set_byte(byte).ok_or(RetCode::InvalidInput)
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { settings })
    }
}

// CXL 3.1 8.2.9.2.2 Get Event Records (Opcode 0100h)
/// Get Event Records: the oldest records of the log that fit, with the
/// overflow state.
pub fn get_event_records(
    memdev: &mut Memdev,
    input: Input,
    _fx: &mut Effects,
) -> Result<Vec<u8>, RetCode> {
    let req = GetEventRecordsIn::decode(input)?;
    let page = memdev.read_event_records(req.event_log, MAX_RECORDS_PER_GET);
    let mut flags = 0;
    if page.overflow.is_some() {
        flags |= GET_EVENT_FLAG_OVERFLOW;
    }
    if page.more {
        flags |= GET_EVENT_FLAG_MORE_EVENT_RECORDS;
    }
    Ok(GetEventRecordsOut {
        flags,
        overflow: page.overflow.unwrap_or_default(),
        records: page.records,
    }
    .encode())
}

// CXL 3.1 8.2.9.2.3 Clear Event Records (Opcode 0101h)
/// Clear Event Records: the named oldest records, or with Clear All Events
/// every record of an overflowed log; no output.
pub fn clear_event_records(
    memdev: &mut Memdev,
    input: Input,
    _fx: &mut Effects,
) -> Result<Vec<u8>, RetCode> {
    let req = ClearEventRecordsIn::decode(input)?;
    if req.flags & CLEAR_EVENT_FLAG_CLEAR_ALL_EVENTS != 0 {
        memdev.clear_all_event_records(req.event_log)?;
    } else {
        memdev.clear_event_records(req.event_log, &req.handles)?;
    }
    Ok(Vec::new())
}

// CXL 3.1 8.2.9.2.4 Get Event Interrupt Policy (Opcode 0102h)
/// Get Event Interrupt Policy: no input; one settings byte per log.
pub fn get_event_interrupt_policy(
    memdev: &mut Memdev,
    input: Input,
    _fx: &mut Effects,
) -> Result<Vec<u8>, RetCode> {
    NoInput::decode(input)?;
    let events = memdev.events();
    Ok(GetEventInterruptPolicyOut {
        settings: EventLogType::ALL.map(|t| events.log(t).interrupt()),
        msi_message_number: events.msi_message_number(),
    }
    .encode())
}

// CXL 3.1 8.2.9.2.5 Set Event Interrupt Policy (Opcode 0103h)
/// Set Event Interrupt Policy: no output; nothing changes unless every
/// setting is valid.
pub fn set_event_interrupt_policy(
    memdev: &mut Memdev,
    input: Input,
    _fx: &mut Effects,
) -> Result<Vec<u8>, RetCode> {
    let req = SetEventInterruptPolicyIn::decode(input)?;
    let settings: Vec<(EventLogType, InterruptSetting)> =
        EventLogType::ALL.into_iter().zip(req.settings).collect();
    memdev.set_event_interrupt_policy(&settings);
    Ok(Vec::new())
}

#[cfg(test)]
#[path = "events_tests.rs"]
mod tests;
