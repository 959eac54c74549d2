//! What the `cxlvmm` binary does, as a function tests can call: parse the
//! arguments, run (or dump ACPI tables), and produce the exit status and the
//! one line to print.

use clap::Parser;

use crate::cli::Args;
use crate::exit::EXIT_VMM_ERROR;

/// Exit status for command-line mistakes.
pub const EXIT_USAGE: i32 = 2;

/// How a launch ended: the exit status and an optional message for stderr.
#[derive(Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Process exit status.
    pub code: i32,
    /// One line for stderr (already prefixed with "cxlvmm: "), if any.
    pub message: Option<String>,
}

impl Outcome {
    fn new(code: i32, message: impl Into<Option<String>>) -> Self {
        Self {
            code,
            message: message.into().map(|m| format!("cxlvmm: {m}")),
        }
    }
}

/// Parses `argv` (program name first), runs, and reports.
pub fn launch<I, T>(argv: I) -> Outcome
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    crate::uptime::mark_start();
    let args = match Args::try_parse_from(argv) {
        Ok(a) => a,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return Outcome::new(0, None);
            }
            return Outcome::new(EXIT_USAGE, one_line(&e.to_string()));
        }
    };
    init_logging(args.verbose);
    let dump_acpi = args.dump_acpi.clone();
    let trace_path = args.trace.clone();
    let config = match args.into_config() {
        Ok(c) => c,
        Err(e) => return Outcome::new(EXIT_USAGE, e),
    };
    if let Some(dir) = dump_acpi {
        return match crate::machine::dump_acpi(&config, &dir) {
            Ok(n) => Outcome::new(0, format!("wrote {n} ACPI tables to {}", dir.display())),
            Err(e) => Outcome::new(EXIT_VMM_ERROR, e.to_string()),
        };
    }
    // Before any backend exists: a backend whose memory goes away ends the
    // VM with a message and EXIT_GUEST_MEMORY, not a silent kill.
    if let Err(e) = crate::sigbus::install() {
        return Outcome::new(EXIT_VMM_ERROR, format!("SIGBUS handler: {e}"));
    }
    // The trace file is checked (created) before anything runs; the API's
    // event stream takes the operator records whether or not there is one.
    let trace = match crate::trace_sink::start(trace_path.as_deref(), config.api_socket.is_some()) {
        Ok(t) => t,
        Err(e) => return Outcome::new(EXIT_USAGE, e),
    };
    let result = crate::machine::run(config, trace.as_ref());
    if let Some(t) = trace {
        t.finish();
    }
    match result {
        Ok(reason) => {
            let code = reason.exit_code();
            if code != 0 {
                Outcome::new(code, reason.to_string())
            } else {
                log::info!("{reason}");
                Outcome::new(0, None)
            }
        }
        Err(e) => Outcome::new(EXIT_VMM_ERROR, e.to_string()),
    }
}

/// clap's message up to its usage block, folded onto one line.
fn one_line(msg: &str) -> String {
    let text: Vec<&str> = msg
        .lines()
        .map(str::trim)
        .take_while(|l| !l.is_empty() && !l.starts_with("Usage:"))
        .collect();
    let joined = text.join(" ");
    let joined = joined.trim_start_matches("error: ");
    if joined.is_empty() {
        "invalid arguments".into()
    } else {
        joined.to_string()
    }
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    // A second launch in the same process (tests) keeps the first logger.
    let _ = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(level))
        .format_timestamp_millis()
        .try_init();
}
