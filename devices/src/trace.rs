//! The decoded trace: one record for each thing a driver developer wants to
//! see (a mailbox command with its decoded payloads, an event record posted
//! or cleared, an interrupt, an HDM decoder commit, a memslot, an API
//! request, an injected error or fault, a Dynamic Capacity step).
//!
//! Devices call [`emit`] where the thing happens. The VMM installs one
//! [`Sink`] at start-up ([`install`]) that numbers and time-stamps the
//! records and hands them to `--trace`'s file and the API's event stream.
//! Without a sink, [`emit`] is one atomic load and builds nothing.
//!
//! Unit tests see the records their own thread emits through [`capture`],
//! whether or not a sink is installed.

use std::cell::RefCell;
use std::sync::OnceLock;

use serde::Serialize;
pub use serde_json::{json, Value};

/// What a record is about; its `kind` field in JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// A mailbox command: opcode, name, decoded input and output, return
    /// code, time taken.
    Mailbox,
    /// An event record posted to or cleared from an event log.
    Event,
    /// An interrupt (MSI or MSI-X) a device signalled.
    Interrupt,
    /// An HDM decoder committed or uncommitted.
    Decoder,
    /// A memslot mapped or unmapped.
    Memslot,
    /// An API request and its answer.
    Api,
    /// An error, event or health change injected by the operator.
    Inject,
    /// A fault armed, triggered or cleared.
    Fault,
    /// A Dynamic Capacity step: offered, accepted, released, withdrawn.
    Dc,
    /// The VM's state: started, stopped.
    Vm,
}

impl Kind {
    /// Every kind, in declaration order.
    pub const ALL: [Kind; 10] = [
        Kind::Mailbox,
        Kind::Event,
        Kind::Interrupt,
        Kind::Decoder,
        Kind::Memslot,
        Kind::Api,
        Kind::Inject,
        Kind::Fault,
        Kind::Dc,
        Kind::Vm,
    ];

    /// Whether an operator (the API's event stream) sees records of this
    /// kind: capacity changes, injections, faults and the VM's state; the
    /// driver's register-level conversation stays in the trace file.
    pub fn for_operator(self) -> bool {
        matches!(self, Kind::Inject | Kind::Fault | Kind::Dc | Kind::Vm)
    }
}

/// One record as a device emits it; the sink adds the sequence number and
/// the time.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// What it is about.
    pub kind: Kind,
    /// The device's id, when a device emitted it.
    pub device: Option<String>,
    /// The decoded fields (a JSON object).
    pub fields: Value,
}

/// Where records go.
pub trait Sink: Send + Sync {
    /// Takes one record. Called on the thread where the thing happened (a
    /// vCPU, the VMM thread, the API thread): must not block.
    fn record(&self, record: Record);

    /// Whether records of `kind` go anywhere: [`emit`] builds nothing for
    /// the others (an operator-only sink skips the mailbox's records).
    fn wants(&self, kind: Kind) -> bool {
        let _ = kind;
        true
    }
}

static SINK: OnceLock<Box<dyn Sink>> = OnceLock::new();

thread_local! {
    static CAPTURE: RefCell<Option<Vec<Record>>> = const { RefCell::new(None) };
}

/// Installs the process's sink; a second call is refused and changes
/// nothing.
pub fn install(sink: Box<dyn Sink>) -> Result<(), &'static str> {
    SINK.set(sink)
        .map_err(|_| "a trace sink is already installed")
}

fn capturing() -> bool {
    CAPTURE.with(|c| c.borrow().is_some())
}

/// Whether a record emitted now would go anywhere.
pub fn enabled() -> bool {
    SINK.get().is_some() || capturing()
}

/// Whether a record of `kind` emitted now would go anywhere (for callers
/// that measure something, a time, only to trace it).
pub fn enabled_for(kind: Kind) -> bool {
    SINK.get().is_some_and(|s| s.wants(kind)) || capturing()
}

/// Emits one record; `fields` runs only when the record goes somewhere.
pub fn emit(kind: Kind, device: Option<&str>, fields: impl FnOnce() -> Value) {
    if !enabled_for(kind) {
        return;
    }
    let record = Record {
        kind,
        device: device.map(str::to_owned),
        fields: fields(),
    };
    let record = CAPTURE.with(|c| match c.borrow_mut().as_mut() {
        Some(v) => {
            v.push(record.clone());
            None
        }
        None => Some(record),
    });
    if let (Some(record), Some(sink)) = (record, SINK.get()) {
        sink.record(record);
    }
}

/// Runs `f` and returns what it returned with the records this thread
/// emitted meanwhile (they do not reach the sink). For tests.
pub fn capture<R>(f: impl FnOnce() -> R) -> (R, Vec<Record>) {
    let outer = CAPTURE.with(|c| c.borrow_mut().replace(Vec::new()));
    let r = f();
    let got = CAPTURE.with(|c| std::mem::replace(&mut *c.borrow_mut(), outer));
    (r, got.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_sees_this_threads_records_in_order() {
        let ((), got) = capture(|| {
            emit(Kind::Inject, Some("mem0"), || json!({"what": "poison"}));
            emit(Kind::Vm, None, || json!({"state": "running"}));
        });
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].kind, Kind::Inject);
        assert_eq!(got[0].device.as_deref(), Some("mem0"));
        assert_eq!(got[0].fields["what"], "poison");
        assert_eq!(got[1].kind, Kind::Vm);
        assert_eq!(got[1].device, None);
    }

    #[test]
    fn nested_capture_keeps_outer_records() {
        let (inner, outer) = capture(|| {
            emit(Kind::Dc, None, || json!({"n": 1}));
            let ((), inner) = capture(|| emit(Kind::Dc, None, || json!({"n": 2})));
            emit(Kind::Dc, None, || json!({"n": 3}));
            inner
        });
        assert_eq!(inner.len(), 1);
        assert_eq!(inner[0].fields["n"], 2);
        let ns: Vec<_> = outer.iter().map(|r| r.fields["n"].clone()).collect();
        assert_eq!(ns, [json!(1), json!(3)]);
    }

    #[test]
    fn without_capture_or_sink_fields_are_not_built() {
        // No test installs a sink, so outside capture nothing is enabled.
        if SINK.get().is_none() {
            let mut built = false;
            emit(Kind::Mailbox, None, || {
                built = true;
                json!({})
            });
            assert!(!built);
        }
    }

    #[test]
    fn operator_kinds() {
        let op: Vec<_> = Kind::ALL.iter().filter(|k| k.for_operator()).collect();
        assert_eq!(op, [&Kind::Inject, &Kind::Fault, &Kind::Dc, &Kind::Vm]);
        assert_eq!(serde_json::to_value(Kind::Memslot).unwrap(), "memslot");
    }
}
