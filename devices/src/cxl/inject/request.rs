//! The injection requests, with QEMU's `qapi/cxl.json` field names in
//! kebab-case, and the checks that need no device.

use serde::{Deserialize, Serialize};

use crate::cxl::component::ras::HEADER_LOG_DWORDS;
use crate::cxl::memdev::events::{EventLogType, EventSeverity};
use crate::cxl::memdev::health::HealthUpdate;
use crate::cxl::memdev::poison::POISON_GRANULE;

/// Largest 24-bit field value (Device, Nibble Mask, Row).
const U24_MAX: u32 = 0x00ff_ffff;
/// Bytes of a Component Identifier.
pub const COMPONENT_ID_LEN: usize = 16;
/// Quadwords of a DRAM Event Record's Correction Mask.
pub const CORRECTION_MASK_QWORDS: usize = 4;

// CXL 3.1 8.2.9.2.2 Get Event Records (Event Log): QMP CxlEventLog
/// The log an injected record goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventLogName {
    /// Informational Event Log.
    Informational,
    /// Warning Event Log.
    Warning,
    /// Failure Event Log.
    Failure,
    /// Fatal Event Log.
    Fatal,
}

impl EventLogName {
    /// The device's log.
    pub fn log(self) -> EventLogType {
        match self {
            EventLogName::Informational => EventLogType::Informational,
            EventLogName::Warning => EventLogType::Warning,
            EventLogName::Failure => EventLogType::Failure,
            EventLogName::Fatal => EventLogType::Fatal,
        }
    }
}

/// The severity in bits 1:0 of an Event Record Flags byte.
pub fn severity_of(flags: u8) -> EventSeverity {
    match flags & 3 {
        0 => EventSeverity::Informational,
        1 => EventSeverity::Warning,
        2 => EventSeverity::Failure,
        _ => EventSeverity::Fatal,
    }
}

/// `cxl-inject-poison`: the device found poison in `start..start+length`
/// (listed with source Internal).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct PoisonInjection {
    /// Start DPA (64-byte aligned).
    pub start: u64,
    /// Length in bytes (a non-zero multiple of 64).
    pub length: u64,
}

/// `cxl-inject-general-media-event` (CXL 3.1 8.2.9.2.1.1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct GeneralMediaInjection {
    /// The log.
    pub log: EventLogName,
    /// Event Record Flags bits 7:0 (severity in 1:0).
    pub flags: u8,
    /// Physical Address (DPA, 64-byte aligned).
    pub dpa: u64,
    /// Memory Event Descriptor.
    pub descriptor: u8,
    /// Memory Event Type.
    #[serde(rename = "type")]
    pub event_type: u8,
    /// Transaction Type.
    pub transaction_type: u8,
    /// Channel (sets its validity flag).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<u8>,
    /// Rank (sets its validity flag).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rank: Option<u8>,
    /// Device, 24 bits (sets its validity flag).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<u32>,
    /// Component Identifier, up to 16 bytes (sets its validity flag).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component_id: Option<String>,
}

/// `cxl-inject-dram-event` (CXL 3.1 8.2.9.2.1.2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct DramInjection {
    /// The log.
    pub log: EventLogName,
    /// Event Record Flags bits 7:0 (severity in 1:0).
    pub flags: u8,
    /// Physical Address (DPA, 64-byte aligned).
    pub dpa: u64,
    /// Memory Event Descriptor.
    pub descriptor: u8,
    /// Memory Event Type.
    #[serde(rename = "type")]
    pub event_type: u8,
    /// Transaction Type.
    pub transaction_type: u8,
    /// Channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<u8>,
    /// Rank.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rank: Option<u8>,
    /// Nibble Mask, 24 bits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nibble_mask: Option<u32>,
    /// Bank Group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bank_group: Option<u8>,
    /// Bank.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bank: Option<u8>,
    /// Row, 24 bits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row: Option<u32>,
    /// Column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<u16>,
    /// Correction Mask, up to 4 quadwords.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correction_mask: Option<Vec<u64>>,
}

/// `cxl-inject-memory-module-event` (CXL 3.1 8.2.9.2.1.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct MemoryModuleInjection {
    /// The log.
    pub log: EventLogName,
    /// Event Record Flags bits 7:0 (severity in 1:0).
    pub flags: u8,
    /// Device Event Type.
    #[serde(rename = "type")]
    pub event_type: u8,
    /// Health Status.
    pub health_status: u8,
    /// Media Status.
    pub media_status: u8,
    /// Additional Status.
    pub additional_status: u8,
    /// Life Used.
    pub life_used: u8,
    /// Device Temperature.
    pub temperature: i16,
    /// Dirty Shutdown Count.
    pub dirty_shutdown_count: u32,
    /// Corrected Volatile Error Count.
    pub corrected_volatile_error_count: u32,
    /// Corrected Persistent Error Count.
    pub corrected_persistent_error_count: u32,
}

// CXL 3.1 8.2.4.17.1 Uncorrectable Error Status Register: QMP CxlUncorErrorType
/// An uncorrectable error, named as QMP names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UncorrectableErrorType {
    CacheDataParity,
    CacheAddressParity,
    CacheBeParity,
    CacheDataEcc,
    MemDataParity,
    MemAddressParity,
    MemBeParity,
    MemDataEcc,
    ReinitThreshold,
    RsvdEncoding,
    PoisonReceived,
    ReceiverOverflow,
    Internal,
    CxlIdeTx,
    CxlIdeRx,
}

impl UncorrectableErrorType {
    /// Its bit in the Uncorrectable Error Status register.
    pub fn bit(self) -> u32 {
        use UncorrectableErrorType as U;
        match self {
            U::CacheDataParity => 0,
            U::CacheAddressParity => 1,
            U::CacheBeParity => 2,
            U::CacheDataEcc => 3,
            U::MemDataParity => 4,
            U::MemAddressParity => 5,
            U::MemBeParity => 6,
            U::MemDataEcc => 7,
            U::ReinitThreshold => 8,
            U::RsvdEncoding => 9,
            U::PoisonReceived => 10,
            U::ReceiverOverflow => 11,
            U::Internal => 14,
            U::CxlIdeTx => 15,
            U::CxlIdeRx => 16,
        }
    }
}

// CXL 3.1 8.2.4.17.4 Correctable Error Status Register: QMP CxlCorErrorType
/// A correctable error, named as QMP names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CorrectableErrorType {
    CacheDataEcc,
    MemDataEcc,
    CrcThreshold,
    RetryThreshold,
    CachePoisonReceived,
    MemPoisonReceived,
    Physical,
}

impl CorrectableErrorType {
    /// Its bit in the Correctable Error Status register.
    pub fn bit(self) -> u32 {
        use CorrectableErrorType as C;
        match self {
            C::CacheDataEcc => 0,
            C::MemDataEcc => 1,
            C::CrcThreshold => 2,
            C::RetryThreshold => 3,
            C::CachePoisonReceived => 4,
            C::MemPoisonReceived => 5,
            C::Physical => 6,
        }
    }
}

/// One uncorrectable error with the header of the request it hit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct UncorrectableError {
    /// Which error.
    #[serde(rename = "type")]
    pub error_type: UncorrectableErrorType,
    /// Header Log dwords (up to 16; the rest read 0).
    pub header: Vec<u32>,
}

/// `cxl-inject-uncorrectable-errors`: the first error sets the First Error
/// Pointer and Header Log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct UncorrectableErrorsInjection {
    /// The errors, first first.
    pub errors: Vec<UncorrectableError>,
}

/// `cxl-inject-correctable-error`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct CorrectableErrorInjection {
    /// Which error.
    #[serde(rename = "type")]
    pub error_type: CorrectableErrorType,
}

/// Any injection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Injection {
    /// Poison the device found.
    Poison(PoisonInjection),
    /// A General Media Event Record.
    GeneralMedia(GeneralMediaInjection),
    /// A DRAM Event Record.
    Dram(DramInjection),
    /// A Memory Module Event Record.
    MemoryModule(MemoryModuleInjection),
    /// Uncorrectable RAS errors.
    Uncorrectable(UncorrectableErrorsInjection),
    /// A correctable RAS error.
    Correctable(CorrectableErrorInjection),
    /// Health values.
    Health(HealthUpdate),
}

fn u24(what: &str, v: Option<u32>) -> Result<(), String> {
    match v {
        Some(v) if v > U24_MAX => Err(format!("{what} {v:#x} does not fit 24 bits")),
        _ => Ok(()),
    }
}

fn dpa_aligned(dpa: u64) -> Result<(), String> {
    if dpa.is_multiple_of(POISON_GRANULE) {
        Ok(())
    } else {
        Err(format!("dpa {dpa:#x} is not 64-byte aligned"))
    }
}

fn component_id(id: &Option<String>) -> Result<(), String> {
    match id {
        Some(s) if s.len() > COMPONENT_ID_LEN => Err(format!(
            "component-id is {} bytes, at most {COMPONENT_ID_LEN}",
            s.len()
        )),
        _ => Ok(()),
    }
}

impl Injection {
    /// A short name for traces and messages (the API path's last part).
    pub fn name(&self) -> &'static str {
        match self {
            Injection::Poison(_) => "poison",
            Injection::GeneralMedia(_) => "general-media-event",
            Injection::Dram(_) => "dram-event",
            Injection::MemoryModule(_) => "memory-module-event",
            Injection::Uncorrectable(_) => "uncorrectable-errors",
            Injection::Correctable(_) => "correctable-error",
            Injection::Health(_) => "health",
        }
    }

    /// The checks that need no device: field widths, alignment, lengths.
    pub fn check(&self) -> Result<(), String> {
        match self {
            Injection::Poison(p) => {
                dpa_aligned(p.start)?;
                if p.length == 0 || !p.length.is_multiple_of(POISON_GRANULE) {
                    return Err(format!(
                        "length {:#x} is not a non-zero multiple of 64",
                        p.length
                    ));
                }
                if p.start.checked_add(p.length).is_none() {
                    return Err("start + length wraps".into());
                }
                Ok(())
            }
            Injection::GeneralMedia(g) => {
                dpa_aligned(g.dpa)?;
                u24("device", g.device)?;
                component_id(&g.component_id)
            }
            Injection::Dram(d) => {
                dpa_aligned(d.dpa)?;
                u24("nibble-mask", d.nibble_mask)?;
                u24("row", d.row)?;
                match &d.correction_mask {
                    Some(m) if m.len() > CORRECTION_MASK_QWORDS => Err(format!(
                        "correction-mask has {} quadwords, at most {CORRECTION_MASK_QWORDS}",
                        m.len()
                    )),
                    _ => Ok(()),
                }
            }
            Injection::MemoryModule(_) | Injection::Correctable(_) => Ok(()),
            Injection::Uncorrectable(u) => {
                if u.errors.is_empty() {
                    return Err("give at least one error".into());
                }
                for (i, e) in u.errors.iter().enumerate() {
                    if e.header.len() > HEADER_LOG_DWORDS {
                        return Err(format!(
                            "error {i}: header has {} dwords, at most {HEADER_LOG_DWORDS}",
                            e.header.len()
                        ));
                    }
                }
                Ok(())
            }
            Injection::Health(h) => h.check(),
        }
    }
}
