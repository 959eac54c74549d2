//! Event logs, event records and the event interrupt policy (CXL 3.1
//! 8.2.9.2).
//!
//! A memory device keeps one log per [`EventLogType`]. Each log holds up to
//! its configured depth of 128-byte [`EventRecord`]s, oldest first. Records
//! get a non-zero handle, unique within the log, when they are added; the
//! host reads them with Get Event Records and frees them, oldest first, with
//! Clear Event Records. A record added to a full log is dropped and counted
//! as an overflow.
//!
//! Interrupts: with a log's interrupt mode set to MSI/MSI-X, adding a record
//! to an empty log asks for the device's event message number to be
//! signalled ([`AddedEvent::msi`]). Delivering it is the caller's business
//! (the device model owns MSI-X); nothing here calls back.

use std::collections::VecDeque;

use uuid::Uuid;

use super::health::HealthInfo;
use crate::cxl::retcode::RetCode;

/// Size of every event record (CXL 3.1 8.2.9.2.1).
pub const EVENT_RECORD_SIZE: usize = 0x80;
/// Offset of the record-specific data in an event record.
pub const EVENT_RECORD_DATA_OFFSET: usize = 0x30;
/// Size of the record-specific data in an event record.
pub const EVENT_RECORD_DATA_SIZE: usize = 0x50;

// CXL 3.1 8.2.9.2.1.1 General Media Event Record (Event Record Identifier)
/// UUID identifying a General Media Event Record.
pub const GENERAL_MEDIA_EVENT_UUID: Uuid = Uuid::from_u128(0xfbcd0a77_c260_417f_85a9_088b1621eba6);
// CXL 3.1 8.2.9.2.1.2 DRAM Event Record (Event Record Identifier)
/// UUID identifying a DRAM Event Record.
pub const DRAM_EVENT_UUID: Uuid = Uuid::from_u128(0x601dcbb3_9c06_4eab_b8af_4e9bfb5c9624);
// CXL 3.1 8.2.9.2.1.3 Memory Module Event Record (Event Record Identifier)
/// UUID identifying a Memory Module Event Record.
pub const MEMORY_MODULE_EVENT_UUID: Uuid = Uuid::from_u128(0xfe927475_dd59_4339_a586_79bab113b774);

// CXL 3.1 8.2.9.2.2 Get Event Records (Event Log field)
/// The event logs of a device, with their Event Log field encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum EventLogType {
    /// Informational Event Log.
    Informational = 0,
    /// Warning Event Log.
    Warning = 1,
    /// Failure Event Log.
    Failure = 2,
    /// Fatal Event Log.
    Fatal = 3,
    /// Dynamic Capacity Event Log.
    DynamicCapacity = 4,
}

impl EventLogType {
    /// Every log, in Event Log field order.
    pub const ALL: [EventLogType; 5] = [
        Self::Informational,
        Self::Warning,
        Self::Failure,
        Self::Fatal,
        Self::DynamicCapacity,
    ];

    /// The log with Event Log field value `value`.
    pub fn from_u8(value: u8) -> Option<Self> {
        Self::ALL.get(usize::from(value)).copied()
    }

    /// Index of the log (its Event Log field value).
    pub fn index(self) -> usize {
        self as usize
    }

    // CXL 3.1 8.2.8.3.1 Event Status Register
    /// This log's bit in the Event Status Register.
    pub fn event_status_bit(self) -> u32 {
        1 << (self as u32)
    }
}

// CXL 3.1 8.2.9.2.1 Common Event Record Format (Event Record Flags[1:0])
/// The Event Record Severity of a record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(u8)]
pub enum EventSeverity {
    /// Informational event.
    #[default]
    Informational = 0,
    /// Warning event.
    Warning = 1,
    /// Failure event.
    Failure = 2,
    /// Fatal event.
    Fatal = 3,
}

// CXL 3.1 8.2.9.2.1 Common Event Record Format (Event Record Flags)
/// Event Record Flags bits above the severity (24-bit field).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventRecordFlags(pub u32);

impl EventRecordFlags {
    /// Permanent Condition.
    pub const PERMANENT_CONDITION: u32 = 1 << 2;
    /// Maintenance Needed.
    pub const MAINTENANCE_NEEDED: u32 = 1 << 3;
    /// Performance Degraded.
    pub const PERFORMANCE_DEGRADED: u32 = 1 << 4;
    /// Hardware Replacement Needed.
    pub const HARDWARE_REPLACEMENT_NEEDED: u32 = 1 << 5;
    /// Maintenance Operation Subclass Valid.
    pub const MAINTENANCE_OPERATION_SUBCLASS_VALID: u32 = 1 << 6;
}

/// The caller-chosen fields of the common event record header.
///
/// Length, handle and timestamp are filled in by the device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventHeader {
    /// Event Record Severity.
    pub severity: EventSeverity,
    /// Event Record Flags (bits 2 and up; the severity bits are ignored).
    pub flags: EventRecordFlags,
    /// Related Event Record Handle (0 for none).
    pub related_handle: u16,
    /// Maintenance Operation Class (0 for none).
    pub maintenance_operation_class: u8,
    /// Maintenance Operation Subclass; `Some` also sets its valid flag.
    pub maintenance_operation_subclass: Option<u8>,
}

/// A 128-byte event record in the common event record format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventRecord {
    bytes: [u8; EVENT_RECORD_SIZE],
}

// CXL 3.1 8.2.9.2.1 Common Event Record Format (field offsets)
const UUID_OFFSET: usize = 0x00;
const LENGTH_OFFSET: usize = 0x10;
const FLAGS_OFFSET: usize = 0x11;
const HANDLE_OFFSET: usize = 0x14;
const RELATED_HANDLE_OFFSET: usize = 0x16;
const TIMESTAMP_OFFSET: usize = 0x18;
const MAINT_CLASS_OFFSET: usize = 0x20;
const MAINT_SUBCLASS_OFFSET: usize = 0x21;

impl EventRecord {
    /// A record with identifier `uuid`, header fields from `header` and
    /// record-specific `data` (at offset 30h; truncated to, or zero-padded
    /// up to, 50h bytes). This is the constructor for record types without
    /// a typed one, such as the Dynamic Capacity Event Record (8.2.9.2.1.6).
    pub fn raw(uuid: Uuid, header: &EventHeader, data: &[u8]) -> Self {
        let mut bytes = [0u8; EVENT_RECORD_SIZE];
        bytes[UUID_OFFSET..UUID_OFFSET + 16].copy_from_slice(uuid.as_bytes());
        bytes[LENGTH_OFFSET] = EVENT_RECORD_SIZE as u8;
        let mut flags = (header.flags.0 & 0x00FF_FFFC) | header.severity as u32;
        if header.maintenance_operation_subclass.is_some() {
            flags |= EventRecordFlags::MAINTENANCE_OPERATION_SUBCLASS_VALID;
        }
        bytes[FLAGS_OFFSET..FLAGS_OFFSET + 3].copy_from_slice(&flags.to_le_bytes()[..3]);
        bytes[RELATED_HANDLE_OFFSET..RELATED_HANDLE_OFFSET + 2]
            .copy_from_slice(&header.related_handle.to_le_bytes());
        bytes[MAINT_CLASS_OFFSET] = header.maintenance_operation_class;
        bytes[MAINT_SUBCLASS_OFFSET] = header.maintenance_operation_subclass.unwrap_or(0);
        let n = data.len().min(EVENT_RECORD_DATA_SIZE);
        bytes[EVENT_RECORD_DATA_OFFSET..EVENT_RECORD_DATA_OFFSET + n].copy_from_slice(&data[..n]);
        Self { bytes }
    }

    /// A record from its 128 bytes, as is.
    pub fn from_bytes(bytes: [u8; EVENT_RECORD_SIZE]) -> Self {
        Self { bytes }
    }

    /// The record's 128 bytes.
    pub fn as_bytes(&self) -> &[u8; EVENT_RECORD_SIZE] {
        &self.bytes
    }

    fn field<const N: usize>(&self, offset: usize) -> [u8; N] {
        let mut out = [0u8; N];
        if let Some(src) = self.bytes.get(offset..offset + N) {
            out.copy_from_slice(src);
        }
        out
    }

    /// Event Record Identifier.
    pub fn uuid(&self) -> Uuid {
        Uuid::from_bytes(self.field::<16>(UUID_OFFSET))
    }

    /// Event Record Length.
    pub fn length(&self) -> u8 {
        self.bytes[LENGTH_OFFSET]
    }

    /// Event Record Flags (24 bits, severity included).
    pub fn flags(&self) -> u32 {
        let f = self.field::<3>(FLAGS_OFFSET);
        u32::from_le_bytes([f[0], f[1], f[2], 0])
    }

    /// Event Record Handle (0 until the record is added to a log).
    pub fn handle(&self) -> u16 {
        u16::from_le_bytes(self.field::<2>(HANDLE_OFFSET))
    }

    /// Related Event Record Handle.
    pub fn related_handle(&self) -> u16 {
        u16::from_le_bytes(self.field::<2>(RELATED_HANDLE_OFFSET))
    }

    /// Event Record Timestamp.
    pub fn timestamp(&self) -> u64 {
        u64::from_le_bytes(self.field::<8>(TIMESTAMP_OFFSET))
    }

    /// Maintenance Operation Class.
    pub fn maintenance_operation_class(&self) -> u8 {
        self.bytes[MAINT_CLASS_OFFSET]
    }

    /// Maintenance Operation Subclass.
    pub fn maintenance_operation_subclass(&self) -> u8 {
        self.bytes[MAINT_SUBCLASS_OFFSET]
    }

    /// The record-specific data (50h bytes at 30h).
    pub fn data(&self) -> &[u8] {
        &self.bytes[EVENT_RECORD_DATA_OFFSET..]
    }

    /// The record-specific data, writable (for records the host has not
    /// read yet).
    pub(crate) fn data_mut(&mut self) -> &mut [u8] {
        &mut self.bytes[EVENT_RECORD_DATA_OFFSET..]
    }

    fn set_handle(&mut self, handle: u16) {
        self.bytes[HANDLE_OFFSET..HANDLE_OFFSET + 2].copy_from_slice(&handle.to_le_bytes());
    }

    fn set_timestamp(&mut self, timestamp: u64) {
        self.bytes[TIMESTAMP_OFFSET..TIMESTAMP_OFFSET + 8]
            .copy_from_slice(&timestamp.to_le_bytes());
    }

    // CXL 3.1 8.2.9.2.1.1 General Media Event Record
    /// A General Media Event Record.
    pub fn general_media(event: &GeneralMediaEvent) -> Self {
        let mut d = [0u8; EVENT_RECORD_DATA_SIZE];
        let addr = (event.physical_address & !0x3F) | u64::from(event.volatile);
        d[0x00..0x08].copy_from_slice(&addr.to_le_bytes());
        d[0x08] = event.memory_event_descriptor;
        d[0x09] = event.memory_event_type;
        d[0x0A] = event.transaction_type;
        d[0x0B..0x0D].copy_from_slice(&event.validity_flags.to_le_bytes());
        d[0x0D] = event.channel;
        d[0x0E] = event.rank;
        d[0x0F..0x12].copy_from_slice(&event.device.to_le_bytes()[..3]);
        d[0x12..0x22].copy_from_slice(&event.component_id);
        Self::raw(GENERAL_MEDIA_EVENT_UUID, &event.header, &d)
    }

    // CXL 3.1 8.2.9.2.1.2 DRAM Event Record
    /// A DRAM Event Record.
    pub fn dram(event: &DramEvent) -> Self {
        let mut d = [0u8; EVENT_RECORD_DATA_SIZE];
        let addr = (event.physical_address & !0x3F) | u64::from(event.volatile);
        d[0x00..0x08].copy_from_slice(&addr.to_le_bytes());
        d[0x08] = event.memory_event_descriptor;
        d[0x09] = event.memory_event_type;
        d[0x0A] = event.transaction_type;
        d[0x0B..0x0D].copy_from_slice(&event.validity_flags.to_le_bytes());
        d[0x0D] = event.channel;
        d[0x0E] = event.rank;
        d[0x0F..0x12].copy_from_slice(&event.nibble_mask.to_le_bytes()[..3]);
        d[0x12] = event.bank_group;
        d[0x13] = event.bank;
        d[0x14..0x17].copy_from_slice(&event.row.to_le_bytes()[..3]);
        d[0x17..0x19].copy_from_slice(&event.column.to_le_bytes());
        d[0x19..0x39].copy_from_slice(&event.correction_mask);
        Self::raw(DRAM_EVENT_UUID, &event.header, &d)
    }

    // CXL 3.1 8.2.9.2.1.3 Memory Module Event Record
    /// A Memory Module Event Record.
    pub fn memory_module(event: &MemoryModuleEvent) -> Self {
        let mut d = [0u8; EVENT_RECORD_DATA_SIZE];
        d[0x00] = event.device_event_type;
        d[0x01..0x13].copy_from_slice(&event.health.to_bytes());
        Self::raw(MEMORY_MODULE_EVENT_UUID, &event.header, &d)
    }
}

// CXL 3.1 8.2.9.2.1.1 General Media Event Record
/// Fields of a General Media Event Record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GeneralMediaEvent {
    /// Common header fields.
    pub header: EventHeader,
    /// Physical Address (DPA; bits 5:0 are dropped).
    pub physical_address: u64,
    /// Physical Address bit 0: the DPA is in volatile capacity.
    pub volatile: bool,
    /// Memory Event Descriptor.
    pub memory_event_descriptor: u8,
    /// Memory Event Type.
    pub memory_event_type: u8,
    /// Transaction Type.
    pub transaction_type: u8,
    /// Validity Flags.
    pub validity_flags: u16,
    /// Channel.
    pub channel: u8,
    /// Rank.
    pub rank: u8,
    /// Device (24 bits).
    pub device: u32,
    /// Component Identifier.
    pub component_id: [u8; 16],
}

// CXL 3.1 8.2.9.2.1.2 DRAM Event Record
/// Fields of a DRAM Event Record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DramEvent {
    /// Common header fields.
    pub header: EventHeader,
    /// Physical Address (DPA; bits 5:0 are dropped).
    pub physical_address: u64,
    /// Physical Address bit 0: the DPA is in volatile capacity.
    pub volatile: bool,
    /// Memory Event Descriptor.
    pub memory_event_descriptor: u8,
    /// Memory Event Type.
    pub memory_event_type: u8,
    /// Transaction Type.
    pub transaction_type: u8,
    /// Validity Flags.
    pub validity_flags: u16,
    /// Channel.
    pub channel: u8,
    /// Rank.
    pub rank: u8,
    /// Nibble Mask (24 bits).
    pub nibble_mask: u32,
    /// Bank Group.
    pub bank_group: u8,
    /// Bank.
    pub bank: u8,
    /// Row (24 bits).
    pub row: u32,
    /// Column.
    pub column: u16,
    /// Correction Mask.
    pub correction_mask: [u8; 32],
}

// CXL 3.1 8.2.9.2.1.3 Memory Module Event Record
/// Fields of a Memory Module Event Record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryModuleEvent {
    /// Common header fields.
    pub header: EventHeader,
    /// Device Event Type.
    pub device_event_type: u8,
    /// Device Health Information (the Get Health Info output payload).
    pub health: HealthInfo,
}

// CXL 3.1 8.2.9.2.4 Get Event Interrupt Policy (Interrupt Mode)
/// How a log signals new records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(u8)]
pub enum InterruptMode {
    /// No interrupts.
    #[default]
    NoInterrupts = 0,
    /// MSI/MSI-X.
    MsiMsix = 1,
    /// FW Interrupt (EFN VDM).
    FwInterrupt = 2,
}

/// A log's interrupt setting, as set by Set Event Interrupt Policy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InterruptSetting {
    /// Interrupt Mode.
    pub mode: InterruptMode,
    /// FW Interrupt Message Number (used with [`InterruptMode::FwInterrupt`]).
    pub fw_message_number: u8,
}

impl InterruptSetting {
    // CXL 3.1 8.2.9.2.5 Set Event Interrupt Policy (settings byte)
    /// Decodes a settings byte of the Set Event Interrupt Policy input;
    /// `None` for the reserved mode 11b.
    pub fn from_set_byte(byte: u8) -> Option<Self> {
        let mode = match byte & 0x3 {
            0 => InterruptMode::NoInterrupts,
            1 => InterruptMode::MsiMsix,
            2 => InterruptMode::FwInterrupt,
            _ => return None,
        };
        let fw_message_number = if mode == InterruptMode::FwInterrupt {
            byte >> 4
        } else {
            0
        };
        Some(Self {
            mode,
            fw_message_number,
        })
    }

    // CXL 3.1 8.2.9.2.4 Get Event Interrupt Policy (settings byte)
    /// Encodes the setting for the Get Event Interrupt Policy output, with
    /// `msi_message_number` as the device's MSI/MSI-X message number.
    pub fn to_get_byte(self, msi_message_number: u8) -> u8 {
        let number = match self.mode {
            InterruptMode::NoInterrupts => 0,
            InterruptMode::MsiMsix => msi_message_number,
            InterruptMode::FwInterrupt => self.fw_message_number,
        };
        (self.mode as u8) | ((number & 0xF) << 4)
    }
}

/// Overflow state of a log (Get Event Records overflow fields).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventLogOverflow {
    /// Overflow Error Count (saturating).
    pub error_count: u16,
    /// First Overflow Event Timestamp.
    pub first_timestamp: u64,
    /// Last Overflow Event Timestamp.
    pub last_timestamp: u64,
}

/// Depth (maximum record count) of each log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventLogDepths {
    /// Informational Event Log.
    pub informational: u16,
    /// Warning Event Log.
    pub warning: u16,
    /// Failure Event Log.
    pub failure: u16,
    /// Fatal Event Log.
    pub fatal: u16,
    /// Dynamic Capacity Event Log.
    pub dynamic_capacity: u16,
}

impl EventLogDepths {
    /// Largest depth accepted: leaves a free non-zero handle in any log.
    pub const MAX: u16 = 0xFFFE;

    /// The depth of `log`.
    pub fn get(&self, log: EventLogType) -> u16 {
        match log {
            EventLogType::Informational => self.informational,
            EventLogType::Warning => self.warning,
            EventLogType::Failure => self.failure,
            EventLogType::Fatal => self.fatal,
            EventLogType::DynamicCapacity => self.dynamic_capacity,
        }
    }
}

impl Default for EventLogDepths {
    fn default() -> Self {
        Self {
            informational: 16,
            warning: 16,
            failure: 16,
            fatal: 16,
            dynamic_capacity: 64,
        }
    }
}

/// One event log.
#[derive(Clone, Debug)]
pub struct EventLog {
    depth: u16,
    records: VecDeque<EventRecord>,
    /// How many of the oldest records Get Event Records has returned: the
    /// host has seen them (it reads from the oldest, so they are a prefix).
    seen: usize,
    next_handle: u16,
    overflow: Option<EventLogOverflow>,
    interrupt: InterruptSetting,
}

impl EventLog {
    fn new(depth: u16) -> Self {
        Self {
            depth: depth.clamp(1, EventLogDepths::MAX),
            records: VecDeque::new(),
            seen: 0,
            next_handle: 1,
            overflow: None,
            interrupt: InterruptSetting::default(),
        }
    }

    /// Maximum number of records the log holds.
    pub fn depth(&self) -> u16 {
        self.depth
    }

    /// Number of records in the log.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// True if the log holds no records.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// True if the log holds its depth of records: a new one would
    /// overflow.
    pub fn is_full(&self) -> bool {
        self.records.len() >= usize::from(self.depth)
    }

    /// How many of the oldest records Get Event Records has returned.
    pub fn seen(&self) -> usize {
        self.seen
    }

    /// Whether the record with `handle` is in the log and the host has not
    /// read it yet; `None` if no record has that handle.
    pub fn is_unseen(&self, handle: u16) -> Option<bool> {
        let at = self.position(handle)?;
        Some(at >= self.seen)
    }

    /// The record with `handle`, if the log holds it.
    pub fn get(&self, handle: u16) -> Option<&EventRecord> {
        self.records.get(self.position(handle)?)
    }

    fn position(&self, handle: u16) -> Option<usize> {
        if handle == 0 {
            return None;
        }
        self.records.iter().position(|r| r.handle() == handle)
    }

    /// The records, oldest first.
    pub fn records(&self) -> impl Iterator<Item = &EventRecord> {
        self.records.iter()
    }

    /// The overflow state, if the log has overflowed.
    pub fn overflow(&self) -> Option<EventLogOverflow> {
        self.overflow
    }

    /// The interrupt setting.
    pub fn interrupt(&self) -> InterruptSetting {
        self.interrupt
    }

    fn allocate_handle(&mut self) -> u16 {
        // Non-zero and unique among the records held; the depth limit
        // guarantees a free value exists.
        for _ in 0..=u16::MAX {
            let h = self.next_handle;
            self.next_handle = self.next_handle.wrapping_add(1);
            if h != 0 && !self.records.iter().any(|r| r.handle() == h) {
                return h;
            }
        }
        0
    }
}

/// The outcome of adding a record to a log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddedEvent {
    /// The handle given to the record; `None` if the log was full and the
    /// record was dropped (counted as an overflow).
    pub handle: Option<u16>,
    /// The MSI/MSI-X message number the device must signal, if any.
    pub msi: Option<u8>,
}

/// The oldest records of a log, as Get Event Records returns them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventRecordsPage {
    /// The records, oldest first.
    pub records: Vec<EventRecord>,
    /// The log's overflow state, if it has overflowed.
    pub overflow: Option<EventLogOverflow>,
    /// More records follow these.
    pub more: bool,
}

/// The event logs of a device.
#[derive(Clone, Debug)]
pub struct EventLogs {
    logs: [EventLog; 5],
    msi_message_number: u8,
}

impl EventLogs {
    /// Empty logs of the given depths; `msi_message_number` is the MSI/MSI-X
    /// message number the device uses for event interrupts.
    pub fn new(depths: &EventLogDepths, msi_message_number: u8) -> Self {
        Self {
            logs: EventLogType::ALL.map(|t| EventLog::new(depths.get(t))),
            msi_message_number: msi_message_number & 0xF,
        }
    }

    /// The log `log`.
    pub fn log(&self, log: EventLogType) -> &EventLog {
        &self.logs[log.index()]
    }

    fn log_mut(&mut self, log: EventLogType) -> &mut EventLog {
        &mut self.logs[log.index()]
    }

    /// The MSI/MSI-X message number used for event interrupts.
    pub fn msi_message_number(&self) -> u8 {
        self.msi_message_number
    }

    /// Adds `record` to `log`, stamping it with a fresh handle and
    /// `timestamp`. Returns the handle, and the message number to signal if
    /// the log went from empty to non-empty with MSI/MSI-X enabled.
    pub fn add(&mut self, log: EventLogType, record: EventRecord, timestamp: u64) -> AddedEvent {
        let msi_number = self.msi_message_number;
        let l = self.log_mut(log);
        if l.records.len() >= usize::from(l.depth) {
            let o = l.overflow.get_or_insert(EventLogOverflow {
                error_count: 0,
                first_timestamp: timestamp,
                last_timestamp: timestamp,
            });
            o.error_count = o.error_count.saturating_add(1);
            o.last_timestamp = timestamp;
            return AddedEvent {
                handle: None,
                msi: None,
            };
        }
        let was_empty = l.records.is_empty();
        let mut record = record;
        let handle = l.allocate_handle();
        record.set_handle(handle);
        record.set_timestamp(timestamp);
        l.records.push_back(record);
        let msi = (was_empty && l.interrupt.mode == InterruptMode::MsiMsix).then_some(msi_number);
        AddedEvent {
            handle: Some(handle),
            msi,
        }
    }

    /// Clears the oldest `handles.len()` records of `log`, which must carry
    /// exactly `handles`, in order. On any mismatch nothing is cleared and
    /// the result is Invalid Handle (CXL 3.1 8.2.9.2.3).
    pub fn clear(&mut self, log: EventLogType, handles: &[u16]) -> Result<(), RetCode> {
        let l = self.log_mut(log);
        if handles.len() > l.records.len() {
            return Err(RetCode::InvalidHandle);
        }
        let matches = handles
            .iter()
            .zip(l.records.iter())
            .all(|(&h, r)| h != 0 && h == r.handle());
        if !matches {
            return Err(RetCode::InvalidHandle);
        }
        if !handles.is_empty() {
            l.records.drain(..handles.len());
            l.seen = l.seen.saturating_sub(handles.len());
            l.overflow = None;
        }
        Ok(())
    }

    /// Clears every record of `log`. Only allowed once the log has
    /// overflowed (Invalid Input otherwise, CXL 3.1 8.2.9.2.3).
    pub fn clear_all(&mut self, log: EventLogType) -> Result<(), RetCode> {
        let l = self.log_mut(log);
        if l.overflow.is_none() {
            return Err(RetCode::InvalidInput);
        }
        l.records.clear();
        l.seen = 0;
        l.overflow = None;
        Ok(())
    }

    /// Drops every record and overflow state of every log (device reset or
    /// sanitize); handles and interrupt settings are kept.
    pub fn discard_all(&mut self) {
        for l in &mut self.logs {
            l.records.clear();
            l.seen = 0;
            l.overflow = None;
        }
    }

    /// The oldest records of `log`, at most `max`; the host has now seen
    /// them (see [`Self::mark_seen`]).
    pub fn read(&mut self, log: EventLogType, max: usize) -> EventRecordsPage {
        let l = self.log(log);
        let count = l.len().min(max);
        let page = EventRecordsPage {
            records: l.records().take(count).copied().collect(),
            overflow: l.overflow(),
            more: l.len() > count,
        };
        self.mark_seen(log, count);
        page
    }

    /// Notes that Get Event Records returned the oldest `count` records of
    /// `log`.
    pub fn mark_seen(&mut self, log: EventLogType, count: usize) {
        let l = self.log_mut(log);
        l.seen = l.seen.max(count.min(l.records.len()));
    }

    /// Takes back the record with `handle` from `log` if the host has not
    /// read it yet; true if it was removed. Records the host has seen stay:
    /// it may be acting on them and will clear them by handle.
    pub fn retract_unseen(&mut self, log: EventLogType, handle: u16) -> bool {
        let l = self.log_mut(log);
        match l.position(handle) {
            Some(at) if at >= l.seen => l.records.remove(at).is_some(),
            _ => false,
        }
    }

    /// The record with `handle` of `log`, if the host has not read it yet:
    /// the only records the device may still change.
    pub fn unseen_mut(&mut self, log: EventLogType, handle: u16) -> Option<&mut EventRecord> {
        let l = self.log_mut(log);
        let at = l.position(handle).filter(|at| *at >= l.seen)?;
        l.records.get_mut(at)
    }

    /// Sets the interrupt setting of `log`.
    pub fn set_interrupt(&mut self, log: EventLogType, setting: InterruptSetting) {
        self.log_mut(log).interrupt = setting;
    }

    // CXL 3.1 8.2.8.3.1 Event Status Register
    /// The Event Status Register value: one bit per log holding records.
    pub fn event_status(&self) -> u32 {
        EventLogType::ALL
            .iter()
            .filter(|t| !self.log(**t).is_empty())
            .fold(0, |acc, t| acc | t.event_status_bit())
    }
}

#[cfg(test)]
#[path = "events_tests.rs"]
mod tests;
