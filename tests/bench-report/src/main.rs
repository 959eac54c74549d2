//! `bench-report`: scripts/bench.sh's report.
//!
//! ```text
//! bench-report collect CONSOLE_LOG RESULTS_JSON [--mode M] [--host TEXT] [--seconds N]
//!     parse the run's `E2E-BENCH:` lines into results.json
//! bench-report render RESULTS_JSON OUT_DIR
//!     read results.json; write OUT_DIR/results.md and the SVG plots
//! ```

mod plot;
mod results;
mod table;

use std::path::Path;

use results::Results;

fn opt<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

fn run(args: &[String]) -> Result<(), String> {
    match args.get(1).map(String::as_str) {
        Some("collect") => {
            let (Some(log), Some(json)) = (args.get(2), args.get(3)) else {
                return Err("usage: collect CONSOLE_LOG RESULTS_JSON".into());
            };
            let text = std::fs::read_to_string(log).map_err(|e| format!("{log}: {e}"))?;
            let mut r = Results::from_log(&text);
            r.machine.mode = opt(args, "--mode").unwrap_or("").to_string();
            r.machine.host = opt(args, "--host").unwrap_or("").to_string();
            r.machine.run_seconds = opt(args, "--seconds")
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let s = serde_json::to_string_pretty(&r).map_err(|e| e.to_string())?;
            std::fs::write(json, s + "\n").map_err(|e| format!("{json}: {e}"))
        }
        Some("render") => {
            let (Some(json), Some(dir)) = (args.get(2), args.get(3)) else {
                return Err("usage: render RESULTS_JSON OUT_DIR".into());
            };
            let text = std::fs::read_to_string(json).map_err(|e| format!("{json}: {e}"))?;
            let r: Results = serde_json::from_str(&text).map_err(|e| format!("{json}: {e}"))?;
            let dir = Path::new(dir);
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            let md = dir.join("results.md");
            std::fs::write(&md, table::render(&r)).map_err(|e| format!("{}: {e}", md.display()))?;
            plot::all(&r, dir)?;
            Ok(())
        }
        _ => Err("usage: bench-report collect|render ... (see the source's header)".into()),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Err(e) = run(&args) {
        eprintln!("bench-report: {e}");
        std::process::exit(1);
    }
}
