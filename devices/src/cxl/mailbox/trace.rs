//! Mailbox commands in the decoded trace: one record per command with its
//! name, the decoded input and output fields, the return code and the time
//! it took. Decoding for the trace happens here only, through each
//! command's own `decode` (inputs) or a read of the output's header fields
//! (outputs), so what the trace shows is what the handler saw.
//!
//! Nothing here can fail: a payload that does not decode renders as an
//! `error` field (the return code its decoder gave) with the raw bytes
//! summarized; an opcode this device does not implement renders raw.
//! Bulky byte arrays (LSA data, feature data, write data) are summarized
//! as their length and first bytes.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::dcd::{DcResponseIn, GetDcConfigIn, GetDcExtentListIn};
use super::events::{ClearEventRecordsIn, GetEventRecordsIn, SetEventInterruptPolicyIn};
use super::features::{GetFeatureIn, GetSupportedFeaturesIn, SetFeatureIn};
use super::health::SetAlertConfigIn;
use super::logs::GetLogIn;
use super::lsa::{GetLsaIn, SetLsaIn};
use super::opcode::Opcode;
use super::partition::SetPartitionInfoIn;
use super::payload::{Decode, Input, NoInput};
use super::poison::{ClearPoisonIn, GetPoisonListIn, InjectPoisonIn};
use super::security::{PassphraseIn, SetPassphraseIn, UnlockIn};
use super::table::{self, Completion, COMMANDS};
use super::timestamp::SetTimestampIn;
use super::RetCode;
use crate::cxl::memdev::Memdev;
use crate::trace::{self, Kind};

/// How many leading bytes a summarized byte array shows.
const SUMMARY_BYTES: usize = 16;

/// The implemented command with raw opcode `raw`, on any configuration.
fn opcode_of(raw: u16) -> Option<Opcode> {
    COMMANDS.iter().map(|c| c.opcode).find(|&o| o as u16 == raw)
}

/// The command's name as CXL 3.1 spells it ("Get Event Records"), or
/// `None` for an opcode the device does not implement.
pub fn command_name(raw: u16) -> Option<String> {
    let op = opcode_of(raw)?;
    let camel = format!("{op:?}");
    let mut words: Vec<String> = Vec::new();
    for c in camel.chars() {
        match words.last_mut() {
            Some(w) if !c.is_ascii_uppercase() => w.push(c),
            _ => words.push(c.to_string()),
        }
    }
    let words: Vec<&str> = words
        .iter()
        .map(|w| match w.as_str() {
            "Fw" => "FW",
            "Lsa" => "LSA",
            "Dc" => "DC",
            other => other,
        })
        .collect();
    Some(words.join(" "))
}

/// `bytes` summarized: its length and its first bytes in hex.
pub fn summarize(bytes: &[u8]) -> Value {
    let head: String = bytes
        .iter()
        .take(SUMMARY_BYTES)
        .map(|b| format!("{b:02x}"))
        .collect();
    json!({ "len": bytes.len(), "head": head })
}

fn failed(rc: RetCode, bytes: &[u8]) -> Value {
    json!({ "error": format!("{rc:?}"), "raw": summarize(bytes) })
}

/// Decodes `bytes` as `T` and renders it with `f`.
fn with<'a, T: Decode<'a>>(bytes: &'a [u8], f: impl FnOnce(T) -> Value) -> Value {
    match T::decode(Input::new(bytes)) {
        Ok(v) => f(v),
        Err(rc) => failed(rc, bytes),
    }
}

/// The input payload of command `raw` as named fields; `{"error", "raw"}`
/// when it does not decode, `{"raw"}` for an unknown opcode.
pub fn decode_input(raw: u16, bytes: &[u8]) -> Value {
    use Opcode as O;
    let Some(op) = opcode_of(raw) else {
        return json!({ "raw": summarize(bytes) });
    };
    match op {
        O::GetEventRecords => with(
            bytes,
            |r: GetEventRecordsIn| json!({ "event_log": format!("{:?}", r.event_log) }),
        ),
        O::ClearEventRecords => with(bytes, |r: ClearEventRecordsIn| {
            json!({
                "event_log": format!("{:?}", r.event_log),
                "flags": r.flags,
                "handles": r.handles,
            })
        }),
        O::SetEventInterruptPolicy => with(bytes, |r: SetEventInterruptPolicyIn| {
            let s: Vec<String> = r.settings.iter().map(|s| format!("{s:?}")).collect();
            json!({ "settings": s })
        }),
        O::SetTimestamp => with(
            bytes,
            |r: SetTimestampIn| json!({ "timestamp": r.timestamp }),
        ),
        O::GetLog => with(
            bytes,
            |r: GetLogIn| json!({ "uuid": r.uuid.to_string(), "offset": r.offset, "length": r.length }),
        ),
        O::GetSupportedFeatures => with(
            bytes,
            |r: GetSupportedFeaturesIn| json!({ "count": r.count, "start_index": r.start_index }),
        ),
        O::GetFeature => with(bytes, |r: GetFeatureIn| {
            json!({
                "uuid": r.uuid.to_string(),
                "offset": r.offset,
                "count": r.count,
                "selection": r.selection,
            })
        }),
        O::SetFeature => with(bytes, |r: SetFeatureIn| {
            json!({
                "uuid": r.uuid.to_string(),
                "flags": r.flags,
                "offset": r.offset,
                "version": r.version,
                "data": summarize(r.data),
            })
        }),
        O::SetPartitionInfo => with(
            bytes,
            |r: SetPartitionInfoIn| json!({ "volatile_capacity": r.volatile_capacity, "flags": r.flags }),
        ),
        O::GetLsa => with(
            bytes,
            |r: GetLsaIn| json!({ "offset": r.offset, "length": r.length }),
        ),
        O::SetLsa => with(
            bytes,
            |r: SetLsaIn| json!({ "offset": r.offset, "data": summarize(r.data) }),
        ),
        O::SetAlertConfig => with(
            bytes,
            |r: SetAlertConfigIn| json!({ "settings": format!("{:?}", r.settings) }),
        ),
        O::GetPoisonList => with(
            bytes,
            |r: GetPoisonListIn| json!({ "address": r.address, "length": r.length }),
        ),
        O::InjectPoison => with(bytes, |r: InjectPoisonIn| json!({ "address": r.address })),
        O::ClearPoison => with(
            bytes,
            |r: ClearPoisonIn| json!({ "address": r.address, "write_data": summarize(&r.write_data) }),
        ),
        // Passphrases print only their length.
        O::SetPassphrase => with(
            bytes,
            |r: SetPassphraseIn| json!({ "type": format!("{:?}", r.kind) }),
        ),
        O::DisablePassphrase | O::PassphraseSecureErase => with(
            bytes,
            |r: PassphraseIn| json!({ "type": format!("{:?}", r.kind) }),
        ),
        O::Unlock => with(bytes, |_: UnlockIn| json!({})),
        O::GetDcConfig => with(
            bytes,
            |r: GetDcConfigIn| json!({ "region_count": r.region_count, "start_region_index": r.start_region_index }),
        ),
        O::GetDcExtentList => with(
            bytes,
            |r: GetDcExtentListIn| json!({ "extent_count": r.extent_count, "start_extent_index": r.start_extent_index }),
        ),
        O::AddDcResponse | O::ReleaseDc => with(bytes, |r: DcResponseIn| {
            let e: Vec<Value> = r
                .extents
                .iter()
                .map(|e| json!({ "dpa": e.dpa, "len": e.len }))
                .collect();
            json!({ "flags": r.flags, "extents": e })
        }),
        // Commands without input, and commands added later without a
        // decoder here: an empty input renders as no fields, anything
        // else raw.
        _ => match NoInput::decode(Input::new(bytes)) {
            Ok(_) => json!({}),
            Err(_) => json!({ "raw": summarize(bytes) }),
        },
    }
}

/// The output payload of command `raw`: the fields of the outputs drivers
/// read (see `trace_out.rs`), the length and first bytes of the others.
pub fn decode_output(raw: u16, bytes: &[u8]) -> Value {
    match opcode_of(raw).and_then(|op| super::trace_out::decode(op, bytes)) {
        Some(v) => v,
        None if bytes.is_empty() => json!({}),
        None => json!({ "raw": summarize(bytes) }),
    }
}

/// Runs command `opcode` with `input` against `memdev` and traces it
/// (name, decoded payloads, return code, time taken) when a trace is on:
/// the mailbox's `execute`.
pub fn execute(memdev: &mut Memdev, opcode: u16, input: &[u8]) -> Completion {
    if !trace::enabled_for(Kind::Mailbox) {
        return table::execute(memdev, opcode, input);
    }
    let start = Instant::now();
    let done = table::execute(memdev, opcode, input);
    emit(&memdev.config().name, opcode, input, &done, start.elapsed());
    done
}

/// Emits the record of a command whose Payload Length (`length`) is over
/// the payload registers: Invalid Payload Length, nothing run.
pub fn emit_oversized(device: &str, opcode: u16, length: u64) {
    trace::emit(Kind::Mailbox, Some(device), || {
        json!({
            "opcode": opcode,
            "name": command_name(opcode),
            "in": { "error": "InvalidPayloadLength", "payload_length": length },
            "rc": format!("{:?}", RetCode::InvalidPayloadLength),
            "rc_code": RetCode::InvalidPayloadLength as u16,
            "out": {},
            "ns": 0,
        })
    });
}

/// Emits the trace record of one completed command on device `device`.
pub fn emit(device: &str, opcode: u16, input: &[u8], done: &Completion, took: Duration) {
    trace::emit(Kind::Mailbox, Some(device), || {
        record_fields(opcode, input, done, took)
    });
}

/// The fields of a command's record.
pub fn record_fields(opcode: u16, input: &[u8], done: &Completion, took: Duration) -> Value {
    json!({
        "opcode": opcode,
        "name": command_name(opcode),
        "in": decode_input(opcode, input),
        "rc": format!("{:?}", done.rc),
        "rc_code": done.rc as u16,
        "out": decode_output(opcode, &done.output),
        "ns": u64::try_from(took.as_nanos()).unwrap_or(u64::MAX),
    })
}

#[cfg(test)]
#[path = "trace_tests.rs"]
mod tests;
