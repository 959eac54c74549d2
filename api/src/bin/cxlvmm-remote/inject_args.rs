//! `cxlvmm-remote cxl-inject-*` and `qmp`: one subcommand per injection
//! endpoint, named as QEMU's QMP commands, and QMP commands taken as is.

use api::{
    ApiRequest, CorrectableErrorInjection, CorrectableErrorType, DramInjection, EventLogName,
    GeneralMediaInjection, HealthUpdate, Injection, MemoryModuleInjection, PoisonInjection,
    UncorrectableError, UncorrectableErrorType, UncorrectableErrorsInjection,
};
use clap::{Args, ValueEnum};

use crate::parse::parse_size;

/// A number: decimal (with a sign for signed types) or `0x` hex.
fn num<T: TryFrom<i128>>(s: &str) -> Result<T, String> {
    let t = s.trim();
    let (neg, digits) = match t.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, t),
    };
    let v = match digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        Some(hex) => i128::from_str_radix(hex, 16),
        None => digits.parse::<i128>(),
    }
    .map_err(|_| format!("invalid number '{s}'"))?;
    let v = if neg { -v } else { v };
    T::try_from(v).map_err(|_| format!("{s} is out of range"))
}

fn u8n(s: &str) -> Result<u8, String> {
    num(s)
}
fn u16n(s: &str) -> Result<u16, String> {
    num(s)
}
fn u32n(s: &str) -> Result<u32, String> {
    num(s)
}
fn u64n(s: &str) -> Result<u64, String> {
    num(s)
}
fn i16n(s: &str) -> Result<i16, String> {
    num(s)
}

/// The event logs, for `--log`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Log {
    Informational,
    Warning,
    Failure,
    Fatal,
}

impl From<Log> for EventLogName {
    fn from(l: Log) -> Self {
        match l {
            Log::Informational => EventLogName::Informational,
            Log::Warning => EventLogName::Warning,
            Log::Failure => EventLogName::Failure,
            Log::Fatal => EventLogName::Fatal,
        }
    }
}

#[derive(Args, Debug, PartialEq, Eq)]
pub struct PoisonArgs {
    /// The CXL device's id.
    pub device: String,
    /// Start DPA (64-byte aligned); K, M, G, T suffixes.
    #[arg(long, value_parser = parse_size)]
    pub start: u64,
    /// Length in bytes (a multiple of 64); K, M, G, T suffixes.
    #[arg(long, value_parser = parse_size)]
    pub length: u64,
}

/// The fields General Media and DRAM events share.
#[derive(Args, Debug, PartialEq, Eq)]
pub struct MediaEventArgs {
    /// The CXL device's id.
    pub device: String,
    #[arg(long, value_enum)]
    pub log: Log,
    /// Event Record Flags bits 7:0 (severity in 1:0).
    #[arg(long, value_parser = u8n)]
    pub flags: u8,
    /// Physical Address (DPA, 64-byte aligned).
    #[arg(long, value_parser = u64n)]
    pub dpa: u64,
    /// Memory Event Descriptor.
    #[arg(long, value_parser = u8n)]
    pub descriptor: u8,
    /// Memory Event Type.
    #[arg(long = "type", value_parser = u8n)]
    pub event_type: u8,
    /// Transaction Type.
    #[arg(long, value_parser = u8n)]
    pub transaction_type: u8,
    #[arg(long, value_parser = u8n)]
    pub channel: Option<u8>,
    #[arg(long, value_parser = u8n)]
    pub rank: Option<u8>,
}

#[derive(Args, Debug, PartialEq, Eq)]
pub struct GeneralMediaArgs {
    #[command(flatten)]
    pub common: MediaEventArgs,
    /// Device (24 bits).
    #[arg(long, value_parser = u32n)]
    pub device_field: Option<u32>,
    /// Component Identifier (up to 16 bytes).
    #[arg(long)]
    pub component_id: Option<String>,
}

#[derive(Args, Debug, PartialEq, Eq)]
pub struct DramArgs {
    #[command(flatten)]
    pub common: MediaEventArgs,
    /// Nibble Mask (24 bits).
    #[arg(long, value_parser = u32n)]
    pub nibble_mask: Option<u32>,
    #[arg(long, value_parser = u8n)]
    pub bank_group: Option<u8>,
    #[arg(long, value_parser = u8n)]
    pub bank: Option<u8>,
    /// Row (24 bits).
    #[arg(long, value_parser = u32n)]
    pub row: Option<u32>,
    #[arg(long, value_parser = u16n)]
    pub column: Option<u16>,
    /// Correction Mask quadword; repeat for up to 4.
    #[arg(long, value_parser = u64n)]
    pub correction_mask: Vec<u64>,
}

#[derive(Args, Debug, PartialEq, Eq)]
pub struct MemoryModuleArgs {
    /// The CXL device's id.
    pub device: String,
    #[arg(long, value_enum)]
    pub log: Log,
    #[arg(long, value_parser = u8n)]
    pub flags: u8,
    /// Device Event Type.
    #[arg(long = "type", value_parser = u8n)]
    pub event_type: u8,
    #[arg(long, value_parser = u8n)]
    pub health_status: u8,
    #[arg(long, value_parser = u8n)]
    pub media_status: u8,
    #[arg(long, value_parser = u8n)]
    pub additional_status: u8,
    #[arg(long, value_parser = u8n)]
    pub life_used: u8,
    /// Degrees Celsius.
    #[arg(long, value_parser = i16n, allow_hyphen_values = true)]
    pub temperature: i16,
    #[arg(long, value_parser = u32n)]
    pub dirty_shutdown_count: u32,
    #[arg(long, value_parser = u32n)]
    pub corrected_volatile_error_count: u32,
    #[arg(long, value_parser = u32n)]
    pub corrected_persistent_error_count: u32,
}

/// `TYPE` or `TYPE:DW0,DW1,...` (the Header Log, up to 16 dwords).
fn parse_uncorrectable(s: &str) -> Result<UncorrectableError, String> {
    let (name, header) = s.split_once(':').unwrap_or((s, ""));
    let error_type: UncorrectableErrorType =
        serde_json::from_value(serde_json::Value::String(name.into()))
            .map_err(|_| format!("unknown uncorrectable error type '{name}'"))?;
    let header = header
        .split(',')
        .filter(|h| !h.is_empty())
        .map(u32n)
        .collect::<Result<Vec<u32>, String>>()?;
    Ok(UncorrectableError { error_type, header })
}

fn parse_correctable(s: &str) -> Result<CorrectableErrorType, String> {
    serde_json::from_value(serde_json::Value::String(s.into()))
        .map_err(|_| format!("unknown correctable error type '{s}'"))
}

#[derive(Args, Debug, PartialEq, Eq)]
pub struct UncorrectableArgs {
    /// The CXL device's id.
    pub device: String,
    /// An error, `TYPE[:HEADER-DWORD,...]` (cache-data-parity, ...,
    /// mem-data-ecc, internal, cxl-ide-tx, cxl-ide-rx); repeatable, the
    /// first is the first error.
    #[arg(long = "error", value_parser = parse_uncorrectable, required = true)]
    pub errors: Vec<UncorrectableError>,
}

#[derive(Args, Debug, PartialEq, Eq)]
pub struct CorrectableArgs {
    /// The CXL device's id.
    pub device: String,
    /// cache-data-ecc, mem-data-ecc, crc-threshold, retry-threshold,
    /// cache-poison-received, mem-poison-received or physical.
    #[arg(long = "type", value_parser = parse_correctable)]
    pub error_type: CorrectableErrorType,
}

#[derive(Args, Debug, PartialEq, Eq)]
pub struct HealthArgs {
    /// The CXL device's id.
    pub device: String,
    /// Percent (0-100, 255: not implemented).
    #[arg(long, value_parser = u8n)]
    pub life_used: Option<u8>,
    /// Degrees Celsius.
    #[arg(long, value_parser = i16n, allow_hyphen_values = true)]
    pub temperature: Option<i16>,
    #[arg(long, value_parser = u32n)]
    pub dirty_shutdown_count: Option<u32>,
    #[arg(long, value_parser = u32n)]
    pub corrected_volatile_error_count: Option<u32>,
    #[arg(long, value_parser = u32n)]
    pub corrected_persistent_error_count: Option<u32>,
}

fn inject(device: &str, injection: Injection) -> ApiRequest {
    ApiRequest::Inject {
        device: device.to_string(),
        injection,
    }
}

impl PoisonArgs {
    pub fn request(&self) -> ApiRequest {
        inject(
            &self.device,
            Injection::Poison(PoisonInjection {
                start: self.start,
                length: self.length,
            }),
        )
    }
}

impl GeneralMediaArgs {
    pub fn request(&self) -> ApiRequest {
        let c = &self.common;
        inject(
            &c.device,
            Injection::GeneralMedia(GeneralMediaInjection {
                log: c.log.into(),
                flags: c.flags,
                dpa: c.dpa,
                descriptor: c.descriptor,
                event_type: c.event_type,
                transaction_type: c.transaction_type,
                channel: c.channel,
                rank: c.rank,
                device: self.device_field,
                component_id: self.component_id.clone(),
            }),
        )
    }
}

impl DramArgs {
    pub fn request(&self) -> ApiRequest {
        let c = &self.common;
        inject(
            &c.device,
            Injection::Dram(DramInjection {
                log: c.log.into(),
                flags: c.flags,
                dpa: c.dpa,
                descriptor: c.descriptor,
                event_type: c.event_type,
                transaction_type: c.transaction_type,
                channel: c.channel,
                rank: c.rank,
                nibble_mask: self.nibble_mask,
                bank_group: self.bank_group,
                bank: self.bank,
                row: self.row,
                column: self.column,
                correction_mask: (!self.correction_mask.is_empty())
                    .then(|| self.correction_mask.clone()),
            }),
        )
    }
}

impl MemoryModuleArgs {
    pub fn request(&self) -> ApiRequest {
        inject(
            &self.device,
            Injection::MemoryModule(MemoryModuleInjection {
                log: self.log.into(),
                flags: self.flags,
                event_type: self.event_type,
                health_status: self.health_status,
                media_status: self.media_status,
                additional_status: self.additional_status,
                life_used: self.life_used,
                temperature: self.temperature,
                dirty_shutdown_count: self.dirty_shutdown_count,
                corrected_volatile_error_count: self.corrected_volatile_error_count,
                corrected_persistent_error_count: self.corrected_persistent_error_count,
            }),
        )
    }
}

impl UncorrectableArgs {
    pub fn request(&self) -> ApiRequest {
        inject(
            &self.device,
            Injection::Uncorrectable(UncorrectableErrorsInjection {
                errors: self.errors.clone(),
            }),
        )
    }
}

impl CorrectableArgs {
    pub fn request(&self) -> ApiRequest {
        inject(
            &self.device,
            Injection::Correctable(CorrectableErrorInjection {
                error_type: self.error_type,
            }),
        )
    }
}

impl HealthArgs {
    pub fn request(&self) -> ApiRequest {
        inject(
            &self.device,
            Injection::Health(HealthUpdate {
                life_used: self.life_used,
                temperature: self.temperature,
                dirty_shutdown_count: self.dirty_shutdown_count,
                corrected_volatile_error_count: self.corrected_volatile_error_count,
                corrected_persistent_error_count: self.corrected_persistent_error_count,
            }),
        )
    }
}

#[cfg(test)]
#[path = "inject_args_tests.rs"]
mod tests;
