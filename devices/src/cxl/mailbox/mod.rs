//! The memory device command set (CXL 3.1 8.2.9), one file per command
//! group, and the table that dispatches opcodes to them.
//!
//! [`COMMANDS`] is the single list of implemented commands: dispatch looks
//! opcodes up in it and the Command Effects Log (8.2.9.5.2.1) is generated
//! from it, so the CEL can never disagree with what is implemented. Any
//! opcode not in the table completes with Unsupported.
//!
//! This module is the wire format only: each command group's file holds
//! the typed input and output payloads of its commands (see
//! [`payload::Decode`]) and one handler per command, which decodes the
//! input, calls one operation of the device state
//! ([`crate::cxl::memdev::Memdev`]) and encodes the result. No state lives
//! here.
//!
//! Adding a command group is: a new file with the payload structs and one
//! handler per command, its opcodes in [`Opcode`], and one row per command
//! in [`COMMANDS`] (with an `available` predicate if the command only
//! exists on some configurations, as the Dynamic Capacity commands do).

pub mod dcd;
pub mod events;
pub mod fw;
pub mod health;
pub mod identify;
pub mod identify_memdev;
pub mod logs;
pub mod lsa;
pub mod partition;
pub mod payload;
pub mod poison;
pub mod security;
pub mod timestamp;

#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;

pub use crate::cxl::retcode::RetCode;
pub use payload::{Decode, Encode, Input, NoInput, Output};

use crate::cxl::memdev::{Effects, Memdev};

/// Size of the Commands Payload Registers (2 KiB), the largest input or
/// output payload (CXL 3.1 8.2.8.4.3, Payload Size = 11).
pub const PAYLOAD_SIZE: usize = 2048;
/// log2 of [`PAYLOAD_SIZE`], as encoded in the Mailbox Capabilities
/// Register.
pub const PAYLOAD_SIZE_LOG2: u8 = 11;

/// Opcodes of the implemented commands (CXL 3.1 8.2.9, Tables 8-37 and
/// 8-126).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum Opcode {
    /// 8.2.9.1.1 Identify.
    Identify = 0x0001,
    /// 8.2.9.2.2 Get Event Records.
    GetEventRecords = 0x0100,
    /// 8.2.9.2.3 Clear Event Records.
    ClearEventRecords = 0x0101,
    /// 8.2.9.2.4 Get Event Interrupt Policy.
    GetEventInterruptPolicy = 0x0102,
    /// 8.2.9.2.5 Set Event Interrupt Policy.
    SetEventInterruptPolicy = 0x0103,
    /// 8.2.9.3.1 Get FW Info.
    GetFwInfo = 0x0200,
    /// 8.2.9.4.1 Get Timestamp.
    GetTimestamp = 0x0300,
    /// 8.2.9.4.2 Set Timestamp.
    SetTimestamp = 0x0301,
    /// 8.2.9.5.1 Get Supported Logs.
    GetSupportedLogs = 0x0400,
    /// 8.2.9.5.2 Get Log.
    GetLog = 0x0401,
    /// 8.2.9.9.1.1 Identify Memory Device.
    IdentifyMemoryDevice = 0x4000,
    /// 8.2.9.9.2.1 Get Partition Info.
    GetPartitionInfo = 0x4100,
    /// 8.2.9.9.2.2 Set Partition Info.
    SetPartitionInfo = 0x4101,
    /// 8.2.9.9.2.3 Get LSA.
    GetLsa = 0x4102,
    /// 8.2.9.9.2.4 Set LSA.
    SetLsa = 0x4103,
    /// 8.2.9.9.3.1 Get Health Info.
    GetHealthInfo = 0x4200,
    /// 8.2.9.9.4.1 Get Poison List.
    GetPoisonList = 0x4300,
    /// 8.2.9.9.4.2 Inject Poison.
    InjectPoison = 0x4301,
    /// 8.2.9.9.4.3 Clear Poison.
    ClearPoison = 0x4302,
    /// 8.2.9.9.6.1 Get Security State.
    GetSecurityState = 0x4500,
    /// 8.2.9.9.9.1 Get Dynamic Capacity Configuration.
    GetDcConfig = 0x4800,
    /// 8.2.9.9.9.2 Get Dynamic Capacity Extent List.
    GetDcExtentList = 0x4801,
    /// 8.2.9.9.9.3 Add Dynamic Capacity Response.
    AddDcResponse = 0x4802,
    /// 8.2.9.9.9.4 Release Dynamic Capacity.
    ReleaseDc = 0x4803,
}

// CXL 3.1 8.2.9.5.2.1 Command Effects Log (Command Effect field)
/// Command Effect bits of a CEL entry.
pub mod effects {
    /// Configuration Change after Cold Reset.
    pub const CONFIGURATION_CHANGE_AFTER_COLD_RESET: u16 = 1 << 0;
    /// Immediate Configuration Change.
    pub const IMMEDIATE_CONFIGURATION_CHANGE: u16 = 1 << 1;
    /// Immediate Data Change.
    pub const IMMEDIATE_DATA_CHANGE: u16 = 1 << 2;
    /// Immediate Policy Change.
    pub const IMMEDIATE_POLICY_CHANGE: u16 = 1 << 3;
    /// Immediate Log Change.
    pub const IMMEDIATE_LOG_CHANGE: u16 = 1 << 4;
    /// Security State Change.
    pub const SECURITY_STATE_CHANGE: u16 = 1 << 5;
    /// Background Operation.
    pub const BACKGROUND_OPERATION: u16 = 1 << 6;
    /// Secondary Mailbox Supported.
    pub const SECONDARY_MAILBOX_SUPPORTED: u16 = 1 << 7;
}

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
            handler: logs::get_supported_logs,
        },
        Command {
            opcode: Opcode::GetLog,
            effects: 0,
            available: always,
            handler: logs::get_log,
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
            opcode: Opcode::GetSecurityState,
            effects: 0,
            available: always,
            handler: security::get_security_state,
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
    fn failed(rc: RetCode) -> Self {
        Self {
            rc,
            output: Vec::new(),
            effects: Effects::default(),
        }
    }
}

/// Runs command `opcode` with `input` against `memdev`.
pub fn execute(memdev: &mut Memdev, opcode: u16, input: &[u8]) -> Completion {
    if input.len() > PAYLOAD_SIZE {
        return Completion::failed(RetCode::InvalidPayloadLength);
    }
    let Some(cmd) = find(memdev, opcode) else {
        return Completion::failed(RetCode::Unsupported);
    };
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
        Err(rc) => Completion::failed(rc),
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
