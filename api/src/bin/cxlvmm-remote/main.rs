//! `cxlvmm-remote`: the operator's command line for cxlvmm's API socket.

mod args;
mod fault_args;
mod inject_args;
mod output;
mod parse;
mod trace_view;

use std::io::Write;
use std::process::ExitCode;

use api::ApiClient;
use clap::Parser;

use args::{Cli, Command};

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
    if let Command::Trace { path, follow } = &cli.command {
        return trace_view::print_file(path, *follow, cli.json);
    }
    let request = cli.command.request()?;
    let socket = cli
        .api_socket
        .as_ref()
        .ok_or("--api-socket PATH is required for this command")?;
    let client = ApiClient::new(socket);
    let describe = |e: api::ApiClientError| match e.status {
        Some(status) => format!("{} (HTTP {status})", e.message),
        None => e.message,
    };
    if let Command::Events { since } = &cli.command {
        return follow_events(&client, *since, cli.json).map_err(describe);
    }
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

/// Prints the event stream's records as they come, until the server
/// closes it.
fn follow_events(
    client: &ApiClient,
    since: Option<u64>,
    json: bool,
) -> Result<(), api::ApiClientError> {
    let lines = client.events(since)?;
    let mut out = std::io::stdout().lock();
    let io = |e: std::io::Error| api::ApiClientError {
        status: None,
        message: format!("cannot write: {e}"),
    };
    if !json {
        writeln!(out, "{}", trace_view::header()).map_err(io)?;
    }
    for line in lines {
        trace_view::print_one(&mut out, &line?, json).map_err(io)?;
        out.flush().map_err(io)?;
    }
    Ok(())
}
