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
//!
//! Files: `table.rs` ([`COMMANDS`], dispatch, the CEL and the Logs
//! handlers that report it), `trace.rs` ([`execute`]: dispatch traced,
//! each command one record with its payloads decoded; `trace_out.rs` the
//! outputs), `opcode.rs`
//! ([`Opcode`]), `effects.rs` (CEL
//! Command Effect bits), `payload.rs` (payload access and [`PAYLOAD_SIZE`]),
//! one file per command group (with `NAME_tests.rs` beside it); this file
//! only declares and re-exports them.

pub mod background;
pub mod dcd;
pub mod effects;
pub mod events;
pub mod features;
pub mod fw;
pub mod health;
pub mod identify;
pub mod identify_memdev;
pub mod logs;
pub mod lsa;
mod opcode;
pub mod partition;
pub mod payload;
pub mod poison;
pub mod sanitize;
pub mod scan_media;
pub mod security;
mod table;
pub mod timestamp;
pub mod trace;
mod trace_out;

#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;

pub use crate::cxl::retcode::RetCode;
pub use opcode::Opcode;
pub use payload::{Decode, Encode, Input, NoInput, Output, PAYLOAD_SIZE, PAYLOAD_SIZE_LOG2};
pub use table::{
    command_effects_log, find, Command, Completion, Handler, CEL_ENTRY_SIZE, COMMANDS,
};
pub use trace::execute;
