//! The `cxlvmm` binary.

use std::process::ExitCode;

fn main() -> ExitCode {
    let outcome = vmm::launcher::launch(std::env::args_os());
    if let Some(m) = &outcome.message {
        eprintln!("{m}");
    }
    ExitCode::from(u8::try_from(outcome.code).unwrap_or(1))
}
