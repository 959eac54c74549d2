//! The fault operations of [`Memdev`] (`faults.rs`, `dcd/faults.rs`):
//! arming and clearing them for the operator, the mailbox's question
//! before it runs a command, and the host's Dynamic Capacity answers to
//! fault records. Every step is traced (`Kind::Fault`).

use super::faults::{
    ArmedFault, FaultError, FaultList, FaultRequest, FaultSelector, Faults, MailboxFault,
};
use super::Memdev;
use crate::cxl::dcd::faults::{build, DcFaultInfo, DcFaultRequest, FaultExtent, MAX_DC_FAULTS};
use crate::cxl::dcd::log::{log_free, post};
use crate::cxl::dcd::{DcdEffect, ExtentRange};
use crate::cxl::retcode::RetCode;
use crate::trace::{emit, json, Kind, Value};

impl Memdev {
    /// The faults armed and outstanding.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// The monotonic clock's time in ns (holds and timeouts).
    pub fn monotonic_ns(&self) -> u64 {
        self.timestamp.monotonic_ns()
    }

    fn fault_trace(&self, fields: impl FnOnce() -> Value) {
        emit(Kind::Fault, Some(&self.config.name), fields);
    }

    /// Arms mailbox fault `req`; returns the fault's id.
    pub fn fault_add(&mut self, req: FaultRequest) -> Result<u32, FaultError> {
        let id = self.faults.arm(req)?;
        self.fault_trace(|| json!({"event": "armed", "id": id, "fault": req}));
        Ok(id)
    }

    /// The armed mailbox faults.
    pub fn faults_armed(&self) -> &[ArmedFault] {
        self.faults.armed()
    }

    /// The outstanding Dynamic Capacity faults.
    pub fn dc_faults(&self) -> Vec<DcFaultInfo> {
        self.faults.dc.list()
    }

    /// Every fault, as the operator lists them.
    pub fn fault_list(&self) -> FaultList {
        FaultList {
            faults: self.faults.armed().to_vec(),
            dc_faults: self.dc_faults(),
        }
    }

    /// Clears the faults `which` selects (mailbox and DC); returns their
    /// ids. Not Found for an id no fault has.
    pub fn fault_clear(&mut self, which: FaultSelector) -> Result<Vec<u32>, FaultError> {
        let ids = match which {
            FaultSelector::All => {
                let mut ids = self.faults.clear_all();
                ids.extend(self.faults.dc.clear_all());
                ids
            }
            FaultSelector::Id(id) => {
                if self.faults.clear(id) || self.faults.dc.clear(id) {
                    vec![id]
                } else {
                    return Err(FaultError::NotFound(format!("no fault {id}")));
                }
            }
        };
        for &id in &ids {
            self.fault_trace(|| json!({"event": "cleared", "id": id}));
        }
        Ok(ids)
    }

    /// What the armed faults make of a command with `opcode` the guest
    /// sent (the mailbox asks before running it); the fault triggered is
    /// counted down.
    pub fn mailbox_fault(&mut self, opcode: u16) -> Option<MailboxFault> {
        let (id, action, remaining) = self.faults.take(opcode)?;
        self.fault_trace(|| {
            let what = match action {
                MailboxFault::ReturnCode(rc) => json!({"return-code": rc.code()}),
                MailboxFault::DoorbellStuck { hold_ms } => json!({"hold-ms": hold_ms}),
                MailboxFault::BackgroundHold { ms } => json!({"ms": ms}),
            };
            json!({
                "event": "triggered",
                "id": id,
                "opcode": opcode,
                "action": what,
                "remaining": remaining,
            })
        });
        if remaining == 0 {
            self.fault_trace(|| json!({"event": "expired", "id": id}));
        }
        Some(action)
    }

    /// Posts the Dynamic Capacity records of fault `req`; returns the
    /// fault's id and the event interrupt's message number to signal, if
    /// any. Refused while a real offer is pending
    /// (the host's answer would be ambiguous) or the log has no room.
    pub fn dc_fault_add(&mut self, req: DcFaultRequest) -> Result<(u32, Option<u8>), FaultError> {
        if self.dcd.regions().is_empty() {
            return Err(FaultError::Invalid(
                "the device has no Dynamic Capacity".into(),
            ));
        }
        req.check().map_err(FaultError::Invalid)?;
        if let Some(r) = req.region().filter(|r| self.dcd.region(*r).is_none()) {
            return Err(FaultError::Invalid(format!(
                "the device has no DC region {r}"
            )));
        }
        if self.dcd.pending_chains() > 0 {
            return Err(FaultError::Conflict(
                "an offer is waiting for the host's response; DC faults are posted between offers"
                    .into(),
            ));
        }
        if self.faults.dc.len() >= MAX_DC_FAULTS {
            return Err(FaultError::Conflict(format!(
                "{MAX_DC_FAULTS} DC faults are outstanding; clear some first"
            )));
        }
        let records = build(&self.dcd, &self.faults.dc, &req).map_err(FaultError::Conflict)?;
        if log_free(&self.events) < records.len() {
            return Err(FaultError::Conflict(
                "the Dynamic Capacity Event Log has no room; the guest must clear records".into(),
            ));
        }
        let id = self.faults.next_id();
        let now = self.timestamp.now();
        let (msi, _) = post(&self.config.name, &mut self.events, now, &records);
        let extents: Vec<FaultExtent> = records
            .iter()
            .map(|r| FaultExtent {
                dpa: r.extent.dpa,
                len: r.extent.len,
            })
            .collect();
        self.fault_trace(|| {
            json!({
                "event": "armed",
                "id": id,
                "fault": req,
                "extents": extents,
            })
        });
        self.faults.dc.push(DcFaultInfo {
            id,
            fault: req,
            extents,
        });
        Ok((id, msi))
    }

    /// An Add Dynamic Capacity Response meant for a fault offer, answered
    /// (`None`: it is for the real offers).
    pub(super) fn answer_dc_fault(
        &mut self,
        list: &[ExtentRange],
        more: bool,
    ) -> Option<Result<Vec<DcdEffect>, RetCode>> {
        let answer = self.faults.dc.answer_add(&self.dcd, list, more)?;
        let done = answer.result.is_ok() && !more;
        self.fault_trace(|| {
            json!({
                "event": "triggered",
                "id": answer.id,
                "command": "add-dc-response",
                "extents": list.len(),
                "return-code": answer.result.err().map_or(0, RetCode::code),
            })
        });
        if done {
            self.fault_trace(|| json!({"event": "expired", "id": answer.id}));
        }
        Some(answer.result.map(|()| Vec::new()))
    }

    /// A Release Dynamic Capacity of `list` was refused: the release
    /// faults it answered are done.
    pub(super) fn release_dc_fault(&mut self, list: &[ExtentRange]) {
        for id in self.faults.dc.answer_release(list) {
            self.fault_trace(|| json!({"event": "triggered", "id": id, "command": "release-dc"}));
            self.fault_trace(|| json!({"event": "expired", "id": id}));
        }
    }

    /// A cold reset emptied the event logs: the DC fault records are gone.
    pub(super) fn reset_dc_faults(&mut self) {
        for id in self.faults.dc.clear_all() {
            self.fault_trace(|| json!({"event": "cleared", "id": id, "reason": "reset"}));
        }
    }
}
