//! The `sotto-server` binary: read the configuration, set up logging, then serve ([`run`]) or run
//! one of the operator's commands.
//!
//! [`run`]: sotto_server::run

use std::process::ExitCode;

use sotto_server::command::{Command, COMMANDS};
use sotto_server::config::{Args, Config, USAGE};

#[tokio::main]
async fn main() -> ExitCode {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(error) => {
            eprintln!("sotto-server: {error}");
            return ExitCode::from(2);
        }
    };
    if args.help {
        println!("{USAGE}\n\n{COMMANDS}");
        return ExitCode::SUCCESS;
    }
    let config = match Config::load(&args, |k| std::env::var(k).ok()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("sotto-server: {error}");
            return ExitCode::from(2);
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt().with_env_filter(filter);
    if args.command == Command::Serve {
        logs.init();
    } else {
        // The operator's commands print their result on stdout; their logs go to stderr.
        logs.with_writer(std::io::stderr).init();
    }
    let outcome = match args.command {
        Command::Serve => sotto_server::run(config).await.map(|()| String::new()),
        Command::Backup { file } => sotto_server::ops::backup::run(&config, &file).await,
        Command::Restore { file, force } => {
            sotto_server::ops::restore::run(&config, &file, force).await
        }
        Command::Check => sotto_server::ops::check::run(&config).await,
        Command::Admin { request, json } => {
            sotto_server::admin::run_command(&config, request, json).await
        }
    };
    match outcome {
        Ok(text) => {
            if !text.is_empty() {
                println!("{text}");
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("sotto-server: {}", with_causes(&error));
            ExitCode::FAILURE
        }
    }
}

/// The error with each cause under it, `: `-separated (`database error: error returned from
/// database: role "x" does not exist`): what the operator needs to act on is usually the last.
/// The causes are the drivers' and the system's own messages, which carry no secrets (a
/// database URL's password is never part of them).
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(next) = cause {
        let part = next.to_string();
        // Some wrappers repeat their cause's text in their own.
        if !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cause = next.source();
    }
    text
}
