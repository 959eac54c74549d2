//! The trace's sink (`cxlvmm --trace PATH`, and the API's event stream):
//! numbers each record (`seq`, from 1) and time-stamps it (`t_us`,
//! microseconds since cxlvmm started), makes it one JSON line, and hands
//! it on without ever waiting: operator records to the API's
//! [`EventRing`], every record to the writer thread over a bounded
//! channel. When the channel is full (the file cannot keep up) records
//! are counted instead, and a `{"kind":"dropped","count":N}` line goes out
//! as soon as there is room again. The writer flushes whenever it has
//! nothing queued, so the file can be followed live, and at exit.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock};
use std::thread::JoinHandle;
use std::time::Instant;

use api::EventRing;
use devices::trace::{self, Kind, Record, Sink, Value};
use serde_json::{json, Map};

/// Lines queued for the writer at most.
pub const QUEUE_LINES: usize = 8192;

/// What the writer thread is sent.
enum Msg {
    Line(String),
    /// Run on the writer thread (installs its seccomp filter).
    Run(Box<dyn FnOnce() + Send>),
}

struct Inner {
    seq: u64,
    /// Records the writer had no room for since the last `dropped` line.
    dropped: u64,
    /// `None` without a file, or once the writer is told to finish.
    tx: Option<SyncSender<Msg>>,
}

/// The process's sink (see the module's documentation).
pub struct TraceSink {
    start: Instant,
    file: bool,
    ring: Option<Arc<EventRing>>,
    inner: Mutex<Inner>,
}

impl TraceSink {
    /// A sink writing to `tx` (the writer's queue) and pushing operator
    /// records to `ring`, timed from cxlvmm's start.
    fn new(tx: Option<SyncSender<Msg>>, ring: Option<Arc<EventRing>>) -> Self {
        TraceSink {
            start: crate::uptime::start_instant(),
            file: tx.is_some(),
            ring,
            inner: Mutex::new(Inner {
                seq: 0,
                dropped: 0,
                tx,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Nothing panics while holding it; a poisoned lock is still sound.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn t_us(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX)
    }
}

/// One record as its JSON line: `seq`, `t_us`, `kind`, `device` (when a
/// device made it) first, then the record's own fields (those never
/// override the first four; fields that are not an object go under
/// `value`).
pub fn line(seq: u64, t_us: u64, record: &Record) -> String {
    let mut out = format!(
        "{{\"seq\":{seq},\"t_us\":{t_us},\"kind\":{}",
        json!(record.kind)
    );
    if let Some(d) = &record.device {
        out.push_str(&format!(",\"device\":{}", json!(d)));
    }
    let rest: Map<String, Value> = match &record.fields {
        Value::Object(fields) => fields
            .iter()
            .filter(|(k, _)| !RECORD_KEYS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        Value::Null => Map::new(),
        other => [("value".to_string(), other.clone())].into_iter().collect(),
    };
    let rest = Value::Object(rest).to_string();
    // `rest` is `{...}`: its members follow ours.
    if let Some(members) = rest.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
        if !members.is_empty() {
            out.push(',');
            out.push_str(members);
        }
    }
    out.push('}');
    out
}

/// The keys the sink writes first; a record's fields never replace them.
const RECORD_KEYS: [&str; 4] = ["seq", "t_us", "kind", "device"];

/// The line that says `count` records did not reach the file.
pub fn dropped_line(count: u64, t_us: u64) -> String {
    json!({ "kind": "dropped", "count": count, "t_us": t_us }).to_string()
}

impl Sink for TraceSink {
    fn wants(&self, kind: Kind) -> bool {
        self.file || (kind.for_operator() && self.ring.is_some())
    }

    fn record(&self, record: Record) {
        let t_us = self.t_us();
        let mut inner = self.lock();
        inner.seq += 1;
        let seq = inner.seq;
        let text = line(seq, t_us, &record);
        if record.kind.for_operator() {
            if let Some(ring) = &self.ring {
                ring.push(seq, &text);
            }
        }
        let Some(tx) = inner.tx.clone() else {
            return;
        };
        if inner.dropped > 0 {
            match tx.try_send(Msg::Line(dropped_line(inner.dropped, t_us))) {
                Ok(()) => inner.dropped = 0,
                Err(_) => {
                    inner.dropped += 1;
                    return;
                }
            }
        }
        match tx.try_send(Msg::Line(text)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => inner.dropped += 1,
            Err(TrySendError::Disconnected(_)) => inner.tx = None,
        }
    }
}

/// The sink of the running VMM: the process-wide slot of
/// `devices::trace` is filled once, with [`Forward`], and each launch
/// (several in one process in tests) puts its own sink here.
static ACTIVE: RwLock<Option<Arc<TraceSink>>> = RwLock::new(None);

fn active() -> Option<Arc<TraceSink>> {
    // Nothing panics while holding it; a poisoned lock is still sound.
    ACTIVE.read().unwrap_or_else(|e| e.into_inner()).clone()
}

fn set_active(sink: Option<Arc<TraceSink>>) {
    *ACTIVE.write().unwrap_or_else(|e| e.into_inner()) = sink;
}

/// Hands records to the active sink.
struct Forward;

impl Sink for Forward {
    fn wants(&self, kind: Kind) -> bool {
        active().is_some_and(|s| s.wants(kind))
    }
    fn record(&self, record: Record) {
        if let Some(s) = active() {
            s.record(record)
        }
    }
}

static INSTALLED: OnceLock<()> = OnceLock::new();

/// The running trace's event stream ring, if it has one.
pub fn events_ring() -> Option<Arc<EventRing>> {
    active().and_then(|s| s.ring.clone())
}

/// The running trace: the writer thread, stopped by [`TraceHandle::finish`].
pub struct TraceHandle {
    sink: Arc<TraceSink>,
    writer: Option<JoinHandle<()>>,
}

/// Starts the trace: the file at `path` (created or truncated now; a
/// failure is the caller's start-up error) with its writer thread, and with
/// `stream` the API's ring. Makes it the process's active sink (until
/// [`TraceHandle::finish`]); `None` when there is nothing to feed.
pub fn start(path: Option<&Path>, stream: bool) -> Result<Option<TraceHandle>, String> {
    if path.is_none() && !stream {
        return Ok(None);
    }
    let file = path
        .map(|p| File::create(p).map_err(|e| format!("--trace '{}': {e}", p.display())))
        .transpose()?;
    let ring = stream.then(|| Arc::new(EventRing::default()));
    let (tx, writer) = match file {
        Some(f) => {
            let (tx, rx) = sync_channel(QUEUE_LINES);
            let writer = std::thread::Builder::new()
                .name("trace".into())
                .spawn(move || write_lines(rx, BufWriter::new(f)))
                .map_err(|e| format!("--trace: cannot start the writer thread: {e}"))?;
            (Some(tx), Some(writer))
        }
        None => (None, None),
    };
    let sink = Arc::new(TraceSink::new(tx, ring));
    // Once per process; nothing else in cxlvmm installs a sink.
    INSTALLED.get_or_init(|| {
        if let Err(e) = trace::install(Box::new(Forward)) {
            log::warn!("trace: {e}");
        }
    });
    set_active(Some(sink.clone()));
    Ok(Some(TraceHandle { sink, writer }))
}

impl TraceHandle {
    /// Runs `f` on the writer thread before its next line (the seccomp
    /// filter's installation); at once here without a writer.
    pub fn on_writer(&self, f: Box<dyn FnOnce() + Send>) {
        let tx = self.sink.lock().tx.clone();
        match tx {
            // Start-up, before any guest runs: waiting for room is fine.
            Some(tx) => {
                let _ = tx.send(Msg::Run(f));
            }
            None => drop(f),
        }
    }

    /// Stops the writer once it wrote what was queued (and a last
    /// `dropped` line if records were dropped), and waits for it; records
    /// made after this go nowhere.
    pub fn finish(mut self) {
        if active().is_some_and(|a| Arc::ptr_eq(&a, &self.sink)) {
            set_active(None);
        }
        let tx = {
            let mut inner = self.sink.lock();
            let tx = inner.tx.take();
            if let (Some(tx), true) = (&tx, inner.dropped > 0) {
                let _ = tx.send(Msg::Line(dropped_line(inner.dropped, self.sink.t_us())));
            }
            tx
        };
        drop(tx);
        if let Some(w) = self.writer.take() {
            if w.join().is_err() {
                log::error!("the trace writer thread panicked");
            }
        }
    }
}

/// The writer thread: lines to the file, flushed whenever the queue is
/// empty; ends when every sender is gone.
fn write_lines(rx: Receiver<Msg>, mut out: impl Write) {
    let mut failed = false;
    let mut write = |out: &mut dyn Write, msg: Msg| match msg {
        Msg::Line(l) => {
            let r = out
                .write_all(l.as_bytes())
                .and_then(|()| out.write_all(b"\n"));
            if let Err(e) = r {
                if !failed {
                    log::error!("--trace: cannot write the trace file: {e}; records are lost");
                    failed = true;
                }
            }
        }
        Msg::Run(f) => f(),
    };
    while let Ok(msg) = rx.recv() {
        write(&mut out, msg);
        while let Ok(msg) = rx.try_recv() {
            write(&mut out, msg);
        }
        let _ = out.flush();
    }
    let _ = out.flush();
}

#[cfg(test)]
#[path = "trace_sink_tests.rs"]
mod tests;
