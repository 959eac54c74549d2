//! Carrying an injection out on the device state: the poison list, the
//! event logs, the health information and the RAS capability. What the
//! device model must then signal (the event interrupt the guest chose with
//! Set Event Interrupt Policy, an error message through AER) comes back in
//! [`Injected`].

use serde_json::{json, Value};

use super::request::{
    severity_of, DramInjection, GeneralMediaInjection, Injection, MemoryModuleInjection,
    PoisonInjection, COMPONENT_ID_LEN,
};
use crate::cxl::component::ras::{
    RasCapability, RasSignal, CORRECTABLE_ERROR_STATUS, HEADER_LOG_DWORDS,
    UNCORRECTABLE_ERROR_STATUS,
};
use crate::cxl::memdev::events::{
    DramEvent, EventHeader, EventLogType, EventRecord, EventRecordFlags, GeneralMediaEvent,
    MemoryModuleEvent,
};
use crate::cxl::memdev::health::HealthInfo;
use crate::cxl::memdev::poison::{PoisonAddError, PoisonSource};
use crate::cxl::memdev::Memdev;

// CXL 3.1 8.2.9.2.1.1 General Media Event Record (Validity Flags)
/// General Media Validity Flags: Channel, Rank, Device, Component Identifier.
const GM_VALID_CHANNEL: u16 = 1 << 0;
const GM_VALID_RANK: u16 = 1 << 1;
const GM_VALID_DEVICE: u16 = 1 << 2;
const GM_VALID_COMPONENT: u16 = 1 << 3;
// CXL 3.1 8.2.9.2.1.2 DRAM Event Record (Validity Flags)
/// DRAM Validity Flags: Channel, Rank, Nibble Mask, Bank Group, Bank, Row,
/// Column, Correction Mask.
const DRAM_VALID_CHANNEL: u16 = 1 << 0;
const DRAM_VALID_RANK: u16 = 1 << 1;
const DRAM_VALID_NIBBLE: u16 = 1 << 2;
const DRAM_VALID_BANK_GROUP: u16 = 1 << 3;
const DRAM_VALID_BANK: u16 = 1 << 4;
const DRAM_VALID_ROW: u16 = 1 << 5;
const DRAM_VALID_COLUMN: u16 = 1 << 6;
const DRAM_VALID_CORRECTION_MASK: u16 = 1 << 7;

/// Why an injection was refused; nothing changed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InjectError {
    /// The request does not fit the device (range, field widths).
    #[error("{0}")]
    Invalid(String),
    /// The device's state refuses it (overlapping poison).
    #[error("{0}")]
    Conflict(String),
}

/// What an injection did that the device model must carry on.
#[derive(Clone, Debug, PartialEq)]
pub struct Injected {
    /// The event interrupt message number to signal, if a record was
    /// posted to a log with MSI/MSI-X enabled going non-empty.
    pub msi: Option<u8>,
    /// The error message the RAS capability asks for.
    pub ras: RasSignal,
    /// What happened, for the trace.
    pub detail: Value,
}

impl Injected {
    fn quiet(detail: Value) -> Self {
        Self {
            msi: None,
            ras: RasSignal::None,
            detail,
        }
    }
}

/// Carries `inj` out (its [`Injection::check`] must have passed; it is run
/// again) on `memdev` and, for RAS errors, `ras`.
pub fn apply(
    memdev: &mut Memdev,
    ras: Option<&mut RasCapability>,
    inj: &Injection,
) -> Result<Injected, InjectError> {
    inj.check().map_err(InjectError::Invalid)?;
    match inj {
        Injection::Poison(p) => poison(memdev, p),
        Injection::GeneralMedia(g) => {
            let record = general_media(memdev, g)?;
            Ok(post(memdev, g.log.log(), record))
        }
        Injection::Dram(d) => {
            let record = dram(memdev, d)?;
            Ok(post(memdev, d.log.log(), record))
        }
        Injection::MemoryModule(m) => Ok(post(memdev, m.log.log(), memory_module(m))),
        Injection::Health(h) => {
            let (alerts, msi) = memdev.update_health(h);
            let health = memdev.health();
            Ok(Injected {
                msi,
                ras: RasSignal::None,
                detail: json!({
                    "additional-status": health.additional_status,
                    "alerts": alerts.len(),
                }),
            })
        }
        Injection::Uncorrectable(u) => {
            let ras = ras.ok_or_else(no_ras)?;
            let mut signal = RasSignal::None;
            for e in &u.errors {
                let mut header = [0u32; HEADER_LOG_DWORDS];
                for (d, s) in header.iter_mut().zip(&e.header) {
                    *d = *s;
                }
                signal = stronger(
                    signal,
                    ras.inject_uncorrectable(1 << e.error_type.bit(), &header),
                );
            }
            Ok(Injected {
                msi: None,
                ras: signal,
                detail: json!({
                    "status": ras.read32(UNCORRECTABLE_ERROR_STATUS),
                    "signal": format!("{signal:?}"),
                }),
            })
        }
        Injection::Correctable(c) => {
            let ras = ras.ok_or_else(no_ras)?;
            let signal = ras.inject_correctable(1 << c.error_type.bit());
            Ok(Injected {
                msi: None,
                ras: signal,
                detail: json!({
                    "status": ras.read32(CORRECTABLE_ERROR_STATUS),
                    "signal": format!("{signal:?}"),
                }),
            })
        }
    }
}

fn no_ras() -> InjectError {
    InjectError::Invalid("the device has no RAS capability".into())
}

/// The more severe of two signals.
fn stronger(a: RasSignal, b: RasSignal) -> RasSignal {
    let rank = |s: RasSignal| match s {
        RasSignal::None => 0,
        RasSignal::Correctable => 1,
        RasSignal::UncorrectableNonFatal => 2,
        RasSignal::UncorrectableFatal => 3,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

fn poison(memdev: &mut Memdev, p: &PoisonInjection) -> Result<Injected, InjectError> {
    match p.start.checked_add(p.length) {
        Some(end) if memdev.is_media_range(p.start, end) => {}
        _ => {
            return Err(InjectError::Invalid(format!(
                "poison {:#x}+{:#x} is not all media of the device (its static capacity {:#x} \
                 and its DC regions)",
                p.start,
                p.length,
                memdev.capacity_bytes()
            )))
        }
    }
    let overflowed = match memdev.add_media_error(p.start, p.length, PoisonSource::Internal) {
        Ok(()) => false,
        // The list is full: Get Poison List reports the overflow and its
        // time (CXL 3.1 8.2.9.9.4.1), as the device would.
        Err(PoisonAddError::Overflow) => true,
        Err(PoisonAddError::Overlaps) => {
            return Err(InjectError::Conflict(format!(
                "poison {:#x}+{:#x} overlaps a range already poisoned",
                p.start, p.length
            )))
        }
        Err(PoisonAddError::InvalidRange) => {
            return Err(InjectError::Invalid(format!(
                "poison {:#x}+{:#x} is not a valid range",
                p.start, p.length
            )))
        }
    };
    Ok(Injected::quiet(json!({
        "start": p.start,
        "length": p.length,
        "source": "internal",
        "overflow": overflowed,
    })))
}

fn post(memdev: &mut Memdev, log: EventLogType, record: EventRecord) -> Injected {
    let added = memdev.add_event(log, record);
    Injected {
        msi: added.msi,
        ras: RasSignal::None,
        detail: json!({
            "log": format!("{log:?}").to_lowercase(),
            "handle": added.handle,
            "overflow": added.handle.is_none(),
            "uuid": record.uuid().to_string(),
        }),
    }
}

fn header(flags: u8) -> EventHeader {
    EventHeader {
        severity: severity_of(flags),
        flags: EventRecordFlags(u32::from(flags)),
        ..EventHeader::default()
    }
}

/// The DPA must lie in the device's DPA space; its Physical Address bit 0
/// says whether it is volatile (static volatile partition or DC).
fn dpa_volatile(memdev: &Memdev, dpa: u64) -> Result<bool, InjectError> {
    let top = memdev.dpa_space_bytes();
    if dpa >= top {
        return Err(InjectError::Invalid(format!(
            "dpa {dpa:#x} is outside the device's {top:#x} bytes of DPA space"
        )));
    }
    Ok(memdev.partition().volatile_dpa_range().contains(&dpa) || dpa >= memdev.capacity_bytes())
}

fn flag<T>(v: Option<T>, bit: u16) -> u16 {
    if v.is_some() {
        bit
    } else {
        0
    }
}

fn general_media(memdev: &Memdev, g: &GeneralMediaInjection) -> Result<EventRecord, InjectError> {
    let mut component_id = [0u8; COMPONENT_ID_LEN];
    if let Some(id) = &g.component_id {
        for (d, s) in component_id.iter_mut().zip(id.bytes()) {
            *d = s;
        }
    }
    Ok(EventRecord::general_media(&GeneralMediaEvent {
        header: header(g.flags),
        physical_address: g.dpa,
        volatile: dpa_volatile(memdev, g.dpa)?,
        memory_event_descriptor: g.descriptor,
        memory_event_type: g.event_type,
        transaction_type: g.transaction_type,
        validity_flags: flag(g.channel, GM_VALID_CHANNEL)
            | flag(g.rank, GM_VALID_RANK)
            | flag(g.device, GM_VALID_DEVICE)
            | flag(g.component_id.as_ref(), GM_VALID_COMPONENT),
        channel: g.channel.unwrap_or(0),
        rank: g.rank.unwrap_or(0),
        device: g.device.unwrap_or(0),
        component_id,
    }))
}

fn dram(memdev: &Memdev, d: &DramInjection) -> Result<EventRecord, InjectError> {
    let mut correction_mask = [0u8; 32];
    if let Some(m) = &d.correction_mask {
        for (chunk, q) in correction_mask.chunks_exact_mut(8).zip(m) {
            chunk.copy_from_slice(&q.to_le_bytes());
        }
    }
    Ok(EventRecord::dram(&DramEvent {
        header: header(d.flags),
        physical_address: d.dpa,
        volatile: dpa_volatile(memdev, d.dpa)?,
        memory_event_descriptor: d.descriptor,
        memory_event_type: d.event_type,
        transaction_type: d.transaction_type,
        validity_flags: flag(d.channel, DRAM_VALID_CHANNEL)
            | flag(d.rank, DRAM_VALID_RANK)
            | flag(d.nibble_mask, DRAM_VALID_NIBBLE)
            | flag(d.bank_group, DRAM_VALID_BANK_GROUP)
            | flag(d.bank, DRAM_VALID_BANK)
            | flag(d.row, DRAM_VALID_ROW)
            | flag(d.column, DRAM_VALID_COLUMN)
            | flag(d.correction_mask.as_ref(), DRAM_VALID_CORRECTION_MASK),
        channel: d.channel.unwrap_or(0),
        rank: d.rank.unwrap_or(0),
        nibble_mask: d.nibble_mask.unwrap_or(0),
        bank_group: d.bank_group.unwrap_or(0),
        bank: d.bank.unwrap_or(0),
        row: d.row.unwrap_or(0),
        column: d.column.unwrap_or(0),
        correction_mask,
    }))
}

fn memory_module(m: &MemoryModuleInjection) -> EventRecord {
    EventRecord::memory_module(&MemoryModuleEvent {
        header: header(m.flags),
        device_event_type: m.event_type,
        health: HealthInfo {
            health_status: m.health_status,
            media_status: m.media_status,
            additional_status: m.additional_status,
            life_used: m.life_used,
            device_temperature: m.temperature,
            dirty_shutdown_count: m.dirty_shutdown_count,
            corrected_volatile_error_count: m.corrected_volatile_error_count,
            corrected_persistent_error_count: m.corrected_persistent_error_count,
        },
    })
}
