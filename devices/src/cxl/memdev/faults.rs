//! Mailbox faults an operator arms to test a driver's error paths
//! (`POST /devices/{id}/faults`): the device misbehaves on purpose, on a
//! count, for the commands the guest sends next.
//!
//! - `return-code`: the next `count` commands with opcode `opcode` are
//!   answered with `return-code` (any CXL 3.1 return code, 8.2.8.4.5.1)
//!   without running; no output payload. Every code is allowed, Success
//!   (an empty answer) and Background Command Started (no operation runs:
//!   the driver's background wait is what is tested) included.
//! - `doorbell-stuck`: the next `count` commands (of `opcode`, or any)
//!   leave Doorbell set for `hold-ms` and are then dropped, never run:
//!   Doorbell clears, Mailbox Status reads Aborted, no interrupt is sent.
//!   Linux's `cxl_pci` gives up after 2 s (-ETIMEDOUT) and sends its next
//!   command once Doorbell reads clear, so a hold over 2 s shows the
//!   timeout and a later command goes through.
//! - `background-hold`: the next `count` commands of `opcode` are held as
//!   a background operation for `ms`.
//!
//! The mailbox registers ask [`Faults::take`] before running a command;
//! the fault's count goes down by one and at zero it is gone. An operator
//! lists (`GET`) and clears (`DELETE`) them; the Dynamic Capacity faults
//! (`crate::cxl::dcd::faults`) share the id space.

use serde::{Deserialize, Serialize};

use crate::cxl::dcd::faults::{DcFaultInfo, DcFaults};
use crate::cxl::retcode::RetCode;

/// Largest count a fault can be armed with.
pub const MAX_FAULT_COUNT: u32 = 1000;
/// Longest hold (doorbell or background), in ms.
pub const MAX_HOLD_MS: u32 = 60_000;
/// The doorbell hold when none is given: past Linux's 2 s mailbox timeout.
pub const DEFAULT_HOLD_MS: u32 = 3000;
/// Mailbox faults armed at once on one device, at most.
pub const MAX_ARMED_FAULTS: usize = 32;

/// A mailbox fault as the operator asks for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "kebab-case",
    rename_all_fields = "kebab-case",
    deny_unknown_fields
)]
pub enum FaultRequest {
    /// Answer `opcode` with `return_code`, without running the command.
    ReturnCode {
        /// The command's opcode.
        opcode: u16,
        /// The return code (CXL 3.1 8.2.8.4.5.1).
        return_code: u16,
        /// How many commands (1 to 1000).
        #[serde(default = "crate::cxl::dcd::faults::one")]
        count: u32,
    },
    /// Leave Doorbell set for `hold_ms`, then drop the command.
    DoorbellStuck {
        /// Only commands with this opcode; any command if absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        opcode: Option<u16>,
        /// How long Doorbell stays set, in ms (at most 60000; 3000 if
        /// absent).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hold_ms: Option<u32>,
        /// How many commands (1 to 1000).
        #[serde(default = "crate::cxl::dcd::faults::one")]
        count: u32,
    },
    /// Run `opcode` as a background operation that takes `ms`.
    BackgroundHold {
        /// The command's opcode.
        opcode: u16,
        /// How long the operation runs, in ms (at most 60000).
        ms: u32,
        /// How many commands (1 to 1000).
        #[serde(default = "crate::cxl::dcd::faults::one")]
        count: u32,
    },
}

impl FaultRequest {
    /// The kind's name, as in JSON.
    pub fn name(&self) -> &'static str {
        match self {
            FaultRequest::ReturnCode { .. } => "return-code",
            FaultRequest::DoorbellStuck { .. } => "doorbell-stuck",
            FaultRequest::BackgroundHold { .. } => "background-hold",
        }
    }

    /// How many commands it applies to.
    pub fn count(&self) -> u32 {
        match *self {
            FaultRequest::ReturnCode { count, .. }
            | FaultRequest::DoorbellStuck { count, .. }
            | FaultRequest::BackgroundHold { count, .. } => count,
        }
    }

    /// Whether a command with `opcode` triggers it.
    fn matches(&self, opcode: u16) -> bool {
        match *self {
            FaultRequest::ReturnCode { opcode: o, .. }
            | FaultRequest::BackgroundHold { opcode: o, .. } => o == opcode,
            FaultRequest::DoorbellStuck { opcode: o, .. } => o.is_none_or(|o| o == opcode),
        }
    }

    /// The checks that need no device: a real return code, count and
    /// hold bounds.
    pub fn check(&self) -> Result<(), String> {
        let count = self.count();
        if count == 0 || count > MAX_FAULT_COUNT {
            return Err(format!("count {count} is not in 1..={MAX_FAULT_COUNT}"));
        }
        let ms = |what: &str, ms: u32| {
            if ms > MAX_HOLD_MS {
                Err(format!("{what} {ms} is over {MAX_HOLD_MS}"))
            } else {
                Ok(())
            }
        };
        match *self {
            FaultRequest::ReturnCode { return_code, .. } => match RetCode::from_code(return_code) {
                Some(_) => Ok(()),
                None => Err(format!(
                    "return-code {return_code:#06x} is not a CXL 3.1 return code"
                )),
            },
            FaultRequest::DoorbellStuck { hold_ms, .. } => {
                ms("hold-ms", hold_ms.unwrap_or(DEFAULT_HOLD_MS))
            }
            FaultRequest::BackgroundHold { ms: t, .. } => ms("ms", t),
        }
    }

    /// What the device does to a command it triggers on.
    fn action(&self) -> MailboxFault {
        match *self {
            FaultRequest::ReturnCode { return_code, .. } => {
                // Checked when armed; a code outside the table cannot get here.
                MailboxFault::ReturnCode(
                    RetCode::from_code(return_code).unwrap_or(RetCode::InternalError),
                )
            }
            FaultRequest::DoorbellStuck { hold_ms, .. } => MailboxFault::DoorbellStuck {
                hold_ms: hold_ms.unwrap_or(DEFAULT_HOLD_MS),
            },
            FaultRequest::BackgroundHold { ms, .. } => MailboxFault::BackgroundHold { ms },
        }
    }
}

/// Which faults a clear removes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultSelector {
    /// Every fault, mailbox and DC.
    All,
    /// The fault with this id.
    Id(u32),
}

/// What a triggered fault makes of a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MailboxFault {
    /// Complete at once with this return code, without running it.
    ReturnCode(RetCode),
    /// Leave Doorbell set for `hold_ms`, then drop the command.
    DoorbellStuck {
        /// Milliseconds.
        hold_ms: u32,
    },
    /// Run it as a background operation taking `ms`.
    BackgroundHold {
        /// Milliseconds.
        ms: u32,
    },
}

/// An armed fault, as the API lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ArmedFault {
    /// Its id on this device.
    pub id: u32,
    /// Commands it still applies to.
    pub remaining: u32,
    /// What was asked for.
    pub fault: FaultRequest,
}

/// Why a fault request was refused; nothing changed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FaultError {
    /// The request can never succeed (bad values, a device without DC).
    #[error("{0}")]
    Invalid(String),
    /// The device's state refuses it now (too many faults, log full, an
    /// offer pending, nothing accepted).
    #[error("{0}")]
    Conflict(String),
    /// No fault with that id.
    #[error("{0}")]
    NotFound(String),
}

/// Every fault armed on a device: the mailbox's and the Dynamic
/// Capacity's.
#[derive(Debug, Default)]
pub struct Faults {
    next_id: u32,
    armed: Vec<ArmedFault>,
    /// Dynamic Capacity records posted on purpose and not yet answered.
    pub(crate) dc: DcFaults,
}

impl Faults {
    /// A fresh id (never 0).
    pub(crate) fn next_id(&mut self) -> u32 {
        self.next_id = self.next_id.wrapping_add(1).max(1);
        self.next_id
    }

    /// The armed mailbox faults, oldest first.
    pub fn armed(&self) -> &[ArmedFault] {
        &self.armed
    }

    /// Arms `req`; returns its id.
    pub fn arm(&mut self, req: FaultRequest) -> Result<u32, FaultError> {
        req.check().map_err(FaultError::Invalid)?;
        if self.armed.len() >= MAX_ARMED_FAULTS {
            return Err(FaultError::Conflict(format!(
                "{MAX_ARMED_FAULTS} faults are armed already; clear some first"
            )));
        }
        let id = self.next_id();
        self.armed.push(ArmedFault {
            id,
            remaining: req.count(),
            fault: req,
        });
        Ok(id)
    }

    /// Removes mailbox fault `id`; false if there is none.
    pub fn clear(&mut self, id: u32) -> bool {
        let before = self.armed.len();
        self.armed.retain(|f| f.id != id);
        self.armed.len() != before
    }

    /// Removes every mailbox fault; returns their ids.
    pub fn clear_all(&mut self) -> Vec<u32> {
        self.armed.drain(..).map(|f| f.id).collect()
    }

    /// The oldest fault a command with `opcode` triggers, counted down
    /// (removed at zero): its id, what it does and the count left.
    pub fn take(&mut self, opcode: u16) -> Option<(u32, MailboxFault, u32)> {
        let i = self.armed.iter().position(|f| f.fault.matches(opcode))?;
        let f = self.armed.get_mut(i)?;
        f.remaining = f.remaining.saturating_sub(1);
        let out = (f.id, f.fault.action(), f.remaining);
        if f.remaining == 0 {
            self.armed.remove(i);
        }
        Some(out)
    }
}

/// A device's faults, as `GET /devices/{id}/faults` lists them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct FaultList {
    /// Armed mailbox faults, oldest first.
    pub faults: Vec<ArmedFault>,
    /// Outstanding Dynamic Capacity faults, offers first.
    pub dc_faults: Vec<DcFaultInfo>,
}

/// The id of a fault just armed or posted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct FaultId {
    /// Its id on the device.
    pub id: u32,
}

/// The faults a clear removed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct FaultsCleared {
    /// Their ids.
    pub cleared: Vec<u32>,
}
