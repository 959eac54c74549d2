//! `cxlvmm-remote`: the operator's command line for cxlvmm's API socket.

mod args;
mod fault_args;
mod inject_args;
mod output;
mod parse;

use std::process::ExitCode;

use api::ApiClient;
use clap::Parser;

use args::Cli;

fn main() -> ExitCode {
    // Usage errors exit with status 2 here.
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cxlvmm-remote: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> Result<(), String> {
    let request = cli.command.request()?;
    let client = ApiClient::new(&cli.api_socket);
    let describe = |e: api::ApiClientError| match e.status {
        Some(status) => format!("{} (HTTP {status})", e.message),
        None => e.message,
    };
    if cli.json {
        let raw = client.call_raw(&request).map_err(describe)?;
        let body = String::from_utf8_lossy(&raw.body);
        let body = body.trim();
        if !body.is_empty() {
            println!("{body}");
        }
    } else {
        let response = client.call(&request).map_err(describe)?;
        print!("{}", output::render(&request, &response));
    }
    Ok(())
}
