//! `cxlvmm-remote trace PATH [--follow]` and `cxlvmm-remote events`: the
//! decoded trace's JSON lines (a `cxlvmm --trace` file, or the API's
//! event stream) as a readable table, one line per record: sequence
//! number, time since cxlvmm started, kind, device, and a one-line
//! summary (for a mailbox command: "Get Event Records (0100h) in {...}
//! -> Success out {...} 12 us").

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::time::Duration;

use serde_json::{Map, Value};

/// How often `--follow` looks for more of a growing file.
const FOLLOW_POLL: Duration = Duration::from_millis(200);

/// The table's header line.
pub fn header() -> String {
    format!(
        "{:>8} {:>14} {:<9} {:<10} SUMMARY",
        "SEQ", "TIME", "KIND", "DEVICE"
    )
}

/// Keys every record has; the summary shows the rest.
const RECORD_KEYS: [&str; 4] = ["seq", "t_us", "kind", "device"];

/// A JSON value on one line; strings without their quotes.
fn compact(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `k=v` for each field but the record's own keys; `first` keys first.
fn fields(o: &Map<String, Value>, first: &[&str]) -> String {
    let mut out: Vec<String> = first
        .iter()
        .filter_map(|k| o.get(*k).map(compact))
        .collect();
    for (k, v) in o {
        if RECORD_KEYS.contains(&k.as_str()) || first.contains(&k.as_str()) || v.is_null() {
            continue;
        }
        out.push(format!("{k}={}", compact(v)));
    }
    out.join(" ")
}

/// A time taken, in the unit that reads best.
fn took(ns: u64) -> String {
    match ns {
        0..=9_999 => format!("{ns} ns"),
        10_000..=9_999_999 => format!("{} us", ns / 1_000),
        _ => format!("{} ms", ns / 1_000_000),
    }
}

fn is_empty_object(v: Option<&Value>) -> bool {
    v.is_none_or(|v| v.as_object().is_some_and(Map::is_empty))
}

/// A mailbox record's summary.
fn mailbox(o: &Map<String, Value>) -> String {
    let opcode = o.get("opcode").and_then(Value::as_u64).unwrap_or(0);
    let name = o
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("Unknown command");
    let mut s = format!("{name} ({opcode:04X}h)");
    if !is_empty_object(o.get("in")) {
        s.push_str(&format!(" in {}", compact(&o["in"])));
    }
    s.push_str(&format!(
        " -> {}",
        o.get("rc").map(compact).unwrap_or_else(|| "?".into())
    ));
    if !is_empty_object(o.get("out")) {
        s.push_str(&format!(" out {}", compact(&o["out"])));
    }
    if let Some(ns) = o.get("ns").and_then(Value::as_u64) {
        s.push_str(&format!(" {}", took(ns)));
    }
    s
}

/// One JSON line as a table row (blank lines give `None`).
pub fn format_line(line: &str) -> Option<String> {
    let line = line.trim();
    if line.is_empty() {
        return None;
    }
    let Ok(Value::Object(o)) = serde_json::from_str::<Value>(line) else {
        return Some(format!(
            "{:>8} {:>14} {:<9} {:<10} {line}",
            "-", "-", "?", "-"
        ));
    };
    let seq = o.get("seq").map(compact).unwrap_or_else(|| "-".into());
    let time = o
        .get("t_us")
        .and_then(Value::as_u64)
        .map(|t| format!("{}.{:06}", t / 1_000_000, t % 1_000_000))
        .unwrap_or_else(|| "-".into());
    let kind = o.get("kind").map(compact).unwrap_or_else(|| "?".into());
    let device = o.get("device").map(compact).unwrap_or_else(|| "-".into());
    let summary = match kind.as_str() {
        "mailbox" => mailbox(&o),
        "dropped" => format!(
            "{} records dropped: the trace file could not keep up",
            o.get("count").map(compact).unwrap_or_default()
        ),
        "missed" => format!(
            "records after {} through {} were missed",
            o.get("after").map(compact).unwrap_or_default(),
            o.get("through").map(compact).unwrap_or_default()
        ),
        "vm" => fields(&o, &["state"]),
        "dc" => fields(&o, &["step"]),
        "api" => fields(&o, &["method", "path", "status", "error"]),
        _ => fields(&o, &["op", "what"]),
    };
    Some(format!(
        "{seq:>8} {time:>14} {kind:<9} {device:<10} {summary}"
    ))
}

/// Prints the trace file at `path` as a table (`json`: its lines as they
/// are); with `follow`, keeps printing what is appended until killed.
pub fn print_file(path: &Path, follow: bool, json: bool) -> Result<(), String> {
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut reader = BufReader::new(file);
    let mut out = std::io::stdout().lock();
    let write_err = |e: std::io::Error| format!("cannot write: {e}");
    if !json {
        writeln!(out, "{}", header()).map_err(write_err)?;
    }
    let mut pending = String::new();
    loop {
        let n = reader
            .read_line(&mut pending)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if n == 0 || !pending.ends_with('\n') {
            // The end for now (a last line may still be being written).
            if !follow {
                break;
            }
            out.flush().map_err(write_err)?;
            std::thread::sleep(FOLLOW_POLL);
            continue;
        }
        print_one(&mut out, &pending, json).map_err(write_err)?;
        pending.clear();
    }
    if !pending.is_empty() {
        print_one(&mut out, &pending, json).map_err(write_err)?;
    }
    Ok(())
}

/// Prints one line, as a row or as it is.
pub fn print_one(out: &mut impl Write, line: &str, json: bool) -> std::io::Result<()> {
    if json {
        let line = line.trim();
        if !line.is_empty() {
            writeln!(out, "{line}")?;
        }
        return Ok(());
    }
    match format_line(line) {
        Some(row) => writeln!(out, "{row}"),
        None => Ok(()),
    }
}

#[cfg(test)]
#[path = "trace_view_tests.rs"]
mod tests;
