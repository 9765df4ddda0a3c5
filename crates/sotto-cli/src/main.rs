//! The `sotto` binary: parse the command line, run it on a single-threaded runtime, and turn
//! failures into a message on stderr and an exit code.

mod cli;
mod commands;
mod error;
mod output;
mod tui;

use std::process::ExitCode;

use clap::Parser;

use crate::error::CliError;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return fail(&CliError::Runtime(error)),
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(&error),
    }
}

fn fail(error: &CliError) -> ExitCode {
    if matches!(
        error,
        CliError::Client(sotto_client::Error::IdentityChanged { .. })
    ) {
        eprintln!("sotto: WARNING: SAFETY NUMBER CHANGED");
    }
    eprintln!("sotto: {error}");
    ExitCode::from(error.exit_code())
}
