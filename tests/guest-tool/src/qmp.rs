//! A minimal QMP client over a unix socket (QEMU's machine protocol: one
//! JSON object per line), for the benchmark's QEMU runs; and the reading of
//! cxlvmm's `-v` log that says whether an address is behind a memslot.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use crate::pattern::parse_u64;

/// Reads lines until the answer to a command (`return` or `error`),
/// skipping asynchronous events.
fn answer(r: &mut impl BufRead) -> Result<String, String> {
    loop {
        let mut line = String::new();
        let n = r
            .read_line(&mut line)
            .map_err(|e| format!("qmp read: {e}"))?;
        if n == 0 {
            return Err("qmp: connection closed".into());
        }
        let line = line.trim();
        if line.starts_with("{\"return\"") {
            return Ok(line.to_string());
        }
        if line.starts_with("{\"error\"") {
            return Err(format!("qmp: {line}"));
        }
    }
}

/// Connects to `socket`, leaves capabilities negotiation, and runs each
/// command (a JSON object), printing the answers.
pub fn run(socket: &str, commands: &[String]) -> Result<(), String> {
    let s = UnixStream::connect(socket).map_err(|e| format!("connect {socket}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(|e| e.to_string())?;
    let mut w = s.try_clone().map_err(|e| e.to_string())?;
    let mut r = BufReader::new(s);
    let mut greeting = String::new();
    r.read_line(&mut greeting)
        .map_err(|e| format!("qmp greeting: {e}"))?;
    if !greeting.contains("\"QMP\"") {
        return Err(format!("not a QMP greeting: {}", greeting.trim()));
    }
    let mut send = |cmd: &str| -> Result<String, String> {
        w.write_all(cmd.as_bytes())
            .and_then(|_| w.write_all(b"\n"))
            .map_err(|e| format!("qmp write: {e}"))?;
        answer(&mut r)
    };
    send("{\"execute\":\"qmp_capabilities\"}")?;
    for cmd in commands {
        println!("{}", send(cmd)?);
    }
    Ok(())
}

/// Whether `log` (cxlvmm -v output) has a line `CXL: mapped HPA+LEN ...`
/// covering `hpa`.
pub fn log_maps(log: &str, hpa: u64) -> bool {
    log.lines().any(|l| {
        let Some(rest) = l.split("CXL: mapped ").nth(1) else {
            return false;
        };
        // An interleave composed into one memslot is a memslot too.
        let rest = rest.strip_prefix("composed ").unwrap_or(rest);
        let range = rest.split_whitespace().next().unwrap_or("");
        let Some((base, len)) = range.split_once('+') else {
            return false;
        };
        match (parse_u64(base), parse_u64(len)) {
            (Ok(b), Ok(l)) => b <= hpa && hpa < b.saturating_add(l),
            _ => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_skip_events() {
        let mut r = "{\"event\":\"X\"}\n{\"return\": {}}\n".as_bytes();
        assert_eq!(answer(&mut r).unwrap(), "{\"return\": {}}");
        let mut r = "{\"error\": {\"desc\":\"no\"}}\n".as_bytes();
        assert!(answer(&mut r).is_err());
        let mut r = "".as_bytes();
        assert!(answer(&mut r).is_err());
    }

    #[test]
    fn mapped_lines() {
        let log = "[t INFO devices::cxl::fabric] CXL: mapped 0x8000000000+0x10000000 (endpoint 2 DPA 0x0)\n";
        assert!(log_maps(log, 0x8000000000));
        assert!(log_maps(log, 0x800fffffff));
        assert!(!log_maps(log, 0x8010000000));
        assert!(!log_maps("CXL: unmapped 0x8000000000", 0x8000000000));
        let composed = "CXL: mapped composed 0x8040000000+0x20000000 (131072 host mappings)";
        assert!(log_maps(composed, 0x8050000000));
        assert!(!log_maps(composed, 0x8060000000));
    }
}
