//! The command table: every implemented command, dispatch of an opcode to
//! its handler ([`execute`]), and the Command Effects Log generated from
//! the table (CXL 3.1 8.2.9.5.2.1). The Logs commands report that log, so
//! their handlers are here too: the table names them and they read it.

use super::effects;
use super::logs::{GetLogIn, GetSupportedLogsOut, CEL_UUID};
use super::opcode::Opcode;
use super::payload::{Decode, Encode, Input, NoInput, PAYLOAD_SIZE};
use super::{
    background, dcd, events, features, fw, health, identify, identify_memdev, lsa, partition,
    poison, sanitize, scan_media, security, timestamp,
};
use crate::cxl::memdev::{Effects, Memdev};
use crate::cxl::retcode::RetCode;

/// A command handler: decodes `input`, calls the device's operation, adds
/// what it caused to the effects and returns the encoded output payload, or
/// the return code of the failure (which causes nothing).
pub type Handler = fn(&mut Memdev, Input<'_>, &mut Effects) -> Result<Vec<u8>, RetCode>;

/// One implemented command.
#[derive(Clone, Copy)]
pub struct Command {
    /// The opcode.
    pub opcode: Opcode,
    /// Command Effect bits reported in the CEL.
    pub effects: u16,
    /// Whether this device configuration implements the command.
    pub available: fn(&Memdev) -> bool,
    /// The handler.
    pub handler: Handler,
}

fn always(_: &Memdev) -> bool {
    true
}

/// The Dynamic Capacity commands exist on devices with DC regions. Linux
/// enables DCD only if the CEL lists all four.
fn has_dynamic_capacity(memdev: &Memdev) -> bool {
    memdev.config().has_dynamic_capacity()
}

/// The Persistent Memory Data-at-rest Security commands that change it
/// exist on devices that can hold persistent capacity (Get Security State
/// exists on every device: Linux reads it before Sanitize).
fn has_persistent_capacity(memdev: &Memdev) -> bool {
    memdev.has_persistent_capacity()
}

/// Every implemented command, in CEL order.
pub const COMMANDS: &[Command] = {
    use effects::*;
    &[
        Command {
            opcode: Opcode::Identify,
            effects: 0,
            available: always,
            handler: identify::identify,
        },
        Command {
            opcode: Opcode::BackgroundOperationStatus,
            effects: 0,
            available: always,
            handler: background::background_operation_status,
        },
        Command {
            opcode: Opcode::RequestAbortBackgroundOperation,
            effects: 0,
            available: always,
            handler: request_abort_background_operation,
        },
        Command {
            opcode: Opcode::GetEventRecords,
            effects: 0,
            available: always,
            handler: events::get_event_records,
        },
        Command {
            opcode: Opcode::ClearEventRecords,
            effects: IMMEDIATE_LOG_CHANGE,
            available: always,
            handler: events::clear_event_records,
        },
        Command {
            opcode: Opcode::GetEventInterruptPolicy,
            effects: 0,
            available: always,
            handler: events::get_event_interrupt_policy,
        },
        Command {
            opcode: Opcode::SetEventInterruptPolicy,
            effects: IMMEDIATE_CONFIGURATION_CHANGE,
            available: always,
            handler: events::set_event_interrupt_policy,
        },
        Command {
            opcode: Opcode::GetFwInfo,
            effects: 0,
            available: always,
            handler: fw::get_fw_info,
        },
        Command {
            opcode: Opcode::TransferFw,
            effects: BACKGROUND_OPERATION | REQUEST_ABORT_BACKGROUND_OPERATION_SUPPORTED,
            available: always,
            handler: fw::transfer_fw,
        },
        Command {
            opcode: Opcode::ActivateFw,
            effects: CONFIGURATION_CHANGE_AFTER_COLD_RESET | IMMEDIATE_CONFIGURATION_CHANGE,
            available: always,
            handler: fw::activate_fw,
        },
        Command {
            opcode: Opcode::GetTimestamp,
            effects: 0,
            available: always,
            handler: timestamp::get_timestamp,
        },
        Command {
            opcode: Opcode::SetTimestamp,
            effects: IMMEDIATE_POLICY_CHANGE,
            available: always,
            handler: timestamp::set_timestamp,
        },
        Command {
            opcode: Opcode::GetSupportedLogs,
            effects: 0,
            available: always,
            handler: get_supported_logs,
        },
        Command {
            opcode: Opcode::GetLog,
            effects: 0,
            available: always,
            handler: get_log,
        },
        Command {
            opcode: Opcode::GetSupportedFeatures,
            effects: 0,
            available: always,
            handler: features::get_supported_features,
        },
        Command {
            opcode: Opcode::GetFeature,
            effects: 0,
            available: always,
            handler: features::get_feature,
        },
        Command {
            opcode: Opcode::SetFeature,
            effects: CONFIGURATION_CHANGE_AFTER_COLD_RESET | IMMEDIATE_CONFIGURATION_CHANGE,
            available: always,
            handler: features::set_feature,
        },
        Command {
            opcode: Opcode::IdentifyMemoryDevice,
            effects: 0,
            available: always,
            handler: identify_memdev::identify_memory_device,
        },
        Command {
            opcode: Opcode::GetPartitionInfo,
            effects: 0,
            available: always,
            handler: partition::get_partition_info,
        },
        Command {
            opcode: Opcode::SetPartitionInfo,
            effects: CONFIGURATION_CHANGE_AFTER_COLD_RESET
                | IMMEDIATE_CONFIGURATION_CHANGE
                | IMMEDIATE_DATA_CHANGE,
            available: always,
            handler: partition::set_partition_info,
        },
        Command {
            opcode: Opcode::GetLsa,
            effects: 0,
            available: always,
            handler: lsa::get_lsa,
        },
        Command {
            opcode: Opcode::SetLsa,
            effects: IMMEDIATE_CONFIGURATION_CHANGE | IMMEDIATE_DATA_CHANGE,
            available: always,
            handler: lsa::set_lsa,
        },
        Command {
            opcode: Opcode::GetHealthInfo,
            effects: 0,
            available: always,
            handler: health::get_health_info,
        },
        Command {
            opcode: Opcode::GetAlertConfig,
            effects: 0,
            available: always,
            handler: health::get_alert_config,
        },
        Command {
            opcode: Opcode::SetAlertConfig,
            effects: IMMEDIATE_POLICY_CHANGE,
            available: always,
            handler: health::set_alert_config,
        },
        Command {
            opcode: Opcode::GetPoisonList,
            effects: 0,
            available: always,
            handler: poison::get_poison_list,
        },
        Command {
            opcode: Opcode::InjectPoison,
            effects: IMMEDIATE_DATA_CHANGE,
            available: always,
            handler: poison::inject_poison,
        },
        Command {
            opcode: Opcode::ClearPoison,
            effects: IMMEDIATE_DATA_CHANGE,
            available: always,
            handler: poison::clear_poison,
        },
        Command {
            opcode: Opcode::GetScanMediaCapabilities,
            effects: 0,
            available: always,
            handler: scan_media::get_scan_media_capabilities,
        },
        Command {
            opcode: Opcode::ScanMedia,
            effects: BACKGROUND_OPERATION | REQUEST_ABORT_BACKGROUND_OPERATION_SUPPORTED,
            available: always,
            handler: scan_media::scan_media,
        },
        Command {
            opcode: Opcode::GetScanMediaResults,
            effects: 0,
            available: always,
            handler: scan_media::get_scan_media_results,
        },
        Command {
            opcode: Opcode::Sanitize,
            effects: IMMEDIATE_DATA_CHANGE
                | SECURITY_STATE_CHANGE
                | BACKGROUND_OPERATION
                | REQUEST_ABORT_BACKGROUND_OPERATION_SUPPORTED,
            available: always,
            handler: sanitize::sanitize,
        },
        Command {
            opcode: Opcode::SecureErase,
            effects: IMMEDIATE_DATA_CHANGE
                | SECURITY_STATE_CHANGE
                | BACKGROUND_OPERATION
                | REQUEST_ABORT_BACKGROUND_OPERATION_SUPPORTED,
            available: always,
            handler: sanitize::secure_erase,
        },
        Command {
            opcode: Opcode::GetSecurityState,
            effects: 0,
            available: always,
            handler: security::get_security_state,
        },
        Command {
            opcode: Opcode::SetPassphrase,
            effects: SECURITY_STATE_CHANGE,
            available: has_persistent_capacity,
            handler: security::set_passphrase,
        },
        Command {
            opcode: Opcode::DisablePassphrase,
            effects: SECURITY_STATE_CHANGE,
            available: has_persistent_capacity,
            handler: security::disable_passphrase,
        },
        Command {
            opcode: Opcode::Unlock,
            effects: SECURITY_STATE_CHANGE,
            available: has_persistent_capacity,
            handler: security::unlock,
        },
        Command {
            opcode: Opcode::FreezeSecurityState,
            effects: SECURITY_STATE_CHANGE,
            available: has_persistent_capacity,
            handler: security::freeze_security_state,
        },
        Command {
            opcode: Opcode::PassphraseSecureErase,
            effects: SECURITY_STATE_CHANGE | IMMEDIATE_DATA_CHANGE,
            available: has_persistent_capacity,
            handler: security::passphrase_secure_erase,
        },
        Command {
            opcode: Opcode::GetDcConfig,
            effects: 0,
            available: has_dynamic_capacity,
            handler: dcd::get_dc_config,
        },
        Command {
            opcode: Opcode::GetDcExtentList,
            effects: 0,
            available: has_dynamic_capacity,
            handler: dcd::get_dc_extent_list,
        },
        Command {
            opcode: Opcode::AddDcResponse,
            effects: IMMEDIATE_CONFIGURATION_CHANGE | IMMEDIATE_DATA_CHANGE,
            available: has_dynamic_capacity,
            handler: dcd::add_dc_response,
        },
        Command {
            opcode: Opcode::ReleaseDc,
            effects: IMMEDIATE_CONFIGURATION_CHANGE | IMMEDIATE_DATA_CHANGE,
            available: has_dynamic_capacity,
            handler: dcd::release_dc,
        },
    ]
};

/// The command with raw opcode `opcode`, if this device implements it.
pub fn find(memdev: &Memdev, opcode: u16) -> Option<&'static Command> {
    COMMANDS
        .iter()
        .find(|c| c.opcode as u16 == opcode && (c.available)(memdev))
}

// CXL 3.1 8.2.9.1.5 Request Abort Background Operation (Opcode 0005h)
/// Request Abort Background Operation: no input, no output. Aborts the
/// running background operation if its command's CEL entry says it can be
/// (Request Abort Background Operation Supported; the table is read here,
/// so the CEL and the behaviour agree): it ends with Aborted, short of
/// 100%, and Background Operation clears. Request Abort Not Supported by
/// Background Operation otherwise (a command held in the background by
/// fault injection among them); Success with nothing running.
fn request_abort_background_operation(
    memdev: &mut Memdev,
    input: Input,
    _fx: &mut Effects,
) -> Result<Vec<u8>, RetCode> {
    NoInput::decode(input)?;
    let Some(op) = memdev.background().running() else {
        return Ok(Vec::new());
    };
    let abortable = find(memdev, op.opcode)
        .is_some_and(|c| c.effects & effects::REQUEST_ABORT_BACKGROUND_OPERATION_SUPPORTED != 0);
    if !abortable {
        return Err(RetCode::RequestAbortNotSupported);
    }
    memdev.abort_background();
    Ok(Vec::new())
}

/// A completed command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Completion {
    /// The return code.
    pub rc: RetCode,
    /// The output payload (empty unless the command succeeded).
    pub output: Vec<u8>,
    /// What the command caused that the device model must carry out.
    pub effects: Effects,
}

impl Completion {
    /// A completion with return code `rc` alone: no output, no effects (a
    /// refused command, or one answered without running it).
    pub fn bare(rc: RetCode) -> Self {
        Self {
            rc,
            output: Vec::new(),
            effects: Effects::default(),
        }
    }
}

/// Runs command `opcode` with `input` against `memdev` (untraced: the
/// mailbox's [`super::execute`] is [`super::trace::execute`], which traces
/// it).
pub fn execute(memdev: &mut Memdev, opcode: u16, input: &[u8]) -> Completion {
    if input.len() > PAYLOAD_SIZE {
        return Completion::bare(RetCode::InvalidPayloadLength);
    }
    let Some(cmd) = find(memdev, opcode) else {
        return Completion::bare(RetCode::Unsupported);
    };
    // CXL 3.1 8.2.8.4.7: one background operation at a time.
    let background = cmd.effects & effects::BACKGROUND_OPERATION != 0;
    if memdev.background().is_running()
        && (background
            || memdev
                .background()
                .pending_hold()
                .is_some_and(|h| h.0 == opcode))
    {
        return Completion::bare(RetCode::Busy);
    }
    let hold = memdev.take_background_hold(opcode);
    let done = run(memdev, cmd, opcode, input);
    match hold {
        Some(ms) => Completion::bare(background::hold(memdev, opcode, ms, done.rc, done.effects)),
        None => done,
    }
}

fn run(memdev: &mut Memdev, cmd: &Command, opcode: u16, input: &[u8]) -> Completion {
    let mut effects = Effects::default();
    match (cmd.handler)(memdev, Input::new(input), &mut effects) {
        Ok(output) if output.len() <= PAYLOAD_SIZE => Completion {
            rc: RetCode::Success,
            output,
            effects,
        },
        Ok(output) => {
            crate::error_limited!(
                "cxl: opcode {opcode:#06x} produced {} output bytes, over the payload size",
                output.len()
            );
            Completion {
                rc: RetCode::InternalError,
                output: Vec::new(),
                effects,
            }
        }
        Err(rc) => Completion::bare(rc),
    }
}

/// Size of one CEL entry.
pub const CEL_ENTRY_SIZE: usize = 4;

// CXL 3.1 8.2.9.5.2.1 Command Effects Log (CEL)
/// The Command Effects Log of `memdev`: one 4-byte entry (opcode, command
/// effect) per implemented command.
pub fn command_effects_log(memdev: &Memdev) -> Vec<u8> {
    COMMANDS
        .iter()
        .filter(|c| (c.available)(memdev))
        .flat_map(|c| {
            let mut e = [0u8; CEL_ENTRY_SIZE];
            e[..2].copy_from_slice(&(c.opcode as u16).to_le_bytes());
            e[2..].copy_from_slice(&c.effects.to_le_bytes());
            e
        })
        .collect()
}

// CXL 3.1 8.2.9.5.1 Get Supported Logs (Opcode 0400h)
/// Get Supported Logs: no input; one entry, the CEL.
pub fn get_supported_logs(
    memdev: &mut Memdev,
    input: Input,
    _fx: &mut Effects,
) -> Result<Vec<u8>, RetCode> {
    NoInput::decode(input)?;
    let cel_size = command_effects_log(memdev).len();
    Ok(GetSupportedLogsOut {
        entries: vec![(CEL_UUID, cel_size as u32)],
    }
    .encode())
}

// CXL 3.1 8.2.9.5.2 Get Log (Opcode 0401h)
/// Get Log: a window of the CEL. Invalid Log for any other log; Invalid
/// Input for a window outside it or over the payload size.
pub fn get_log(memdev: &mut Memdev, input: Input, _fx: &mut Effects) -> Result<Vec<u8>, RetCode> {
    let req = GetLogIn::decode(input)?;
    if req.uuid != CEL_UUID {
        return Err(RetCode::InvalidLog);
    }
    let length = usize::try_from(req.length).map_err(|_| RetCode::InvalidInput)?;
    let offset = usize::try_from(req.offset).map_err(|_| RetCode::InvalidInput)?;
    if length > PAYLOAD_SIZE {
        return Err(RetCode::InvalidInput);
    }
    let log = command_effects_log(memdev);
    let end = offset.checked_add(length).ok_or(RetCode::InvalidInput)?;
    log.get(offset..end)
        .map(<[u8]>::to_vec)
        .ok_or(RetCode::InvalidInput)
}
