//! The `sotto-chaos` binary: the harness (`run`, `soak`) and the processes it starts (`serve`,
//! `client`). See `docs/chaos.md`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use sotto_chaos::server::ServeArgs;
use sotto_chaos::{Result, Size, Tally};

#[derive(Parser)]
#[command(name = "sotto-chaos", about = "Sotto's chaos suite")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Runs every scenario (or the named ones) once: the short seeded suite.
    Run {
        /// Seed of every schedule (printed at start; pass it again to reproduce a run).
        #[arg(long)]
        seed: Option<u64>,
        /// Scenarios to run (default: all).
        #[arg(long = "scenario")]
        scenarios: Vec<String>,
        /// Messages per device and conversation.
        #[arg(long, default_value_t = Size::SHORT.messages)]
        messages: usize,
        /// Fault window per scenario, seconds.
        #[arg(long, default_value_t = Size::SHORT.window.as_secs())]
        window: u64,
        /// Keep the run's folder (logs, profiles, server data) here.
        #[arg(long)]
        keep: Option<PathBuf>,
    },
    /// Runs scenarios in a seeded random order for a while (nightly).
    Soak {
        /// Seed.
        #[arg(long)]
        seed: Option<u64>,
        /// How long, minutes.
        #[arg(long, default_value_t = 10)]
        minutes: u64,
        /// Messages per device and conversation per round.
        #[arg(long, default_value_t = Size::SOAK.messages)]
        messages: usize,
        /// Fault window per round, seconds.
        #[arg(long, default_value_t = Size::SOAK.window.as_secs())]
        window: u64,
        /// Keep the run's folder here.
        #[arg(long)]
        keep: Option<PathBuf>,
    },
    /// (Started by the harness.) Runs the server until stdin closes.
    Serve {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long)]
        listen: SocketAddr,
        #[arg(long)]
        origin: String,
        #[arg(long, default_value_t = 900)]
        access_token_secs: u64,
    },
    /// (Started by the harness.) Runs one chaos client.
    Client {
        #[arg(long)]
        profile: PathBuf,
        #[arg(long)]
        run_dir: PathBuf,
    },
}

fn seed_or_clock(seed: Option<u64>) -> u64 {
    seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(1)
    })
}

/// A temporary folder, or the one to keep.
fn root(keep: Option<PathBuf>) -> Result<(Option<tempfile::TempDir>, PathBuf)> {
    match keep {
        Some(path) => {
            std::fs::create_dir_all(&path).map_err(sotto_chaos::Error::io("creating --keep"))?;
            Ok((None, path))
        }
        None => {
            let dir = tempfile::tempdir().map_err(sotto_chaos::Error::io("a temporary folder"))?;
            let path = dir.path().to_path_buf();
            Ok((Some(dir), path))
        }
    }
}

fn verdict(tallies: &[Tally]) -> ExitCode {
    if tallies.iter().all(Tally::clean) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

async fn main_inner(cli: Cli) -> Result<ExitCode> {
    let exe = std::env::current_exe().map_err(sotto_chaos::Error::io("finding this program"))?;
    match cli.command {
        Cmd::Run {
            seed,
            scenarios,
            messages,
            window,
            keep,
        } => {
            let (_tmp, root) = root(keep)?;
            let names: Vec<&str> = if scenarios.is_empty() {
                sotto_chaos::schedule::SCENARIOS.to_vec()
            } else {
                scenarios.iter().map(String::as_str).collect()
            };
            let size = Size {
                messages,
                window: Duration::from_secs(window),
                ..Size::SHORT
            };
            let tallies =
                sotto_chaos::suite(&exe, &root, seed_or_clock(seed), &names, size).await?;
            Ok(verdict(&tallies))
        }
        Cmd::Soak {
            seed,
            minutes,
            messages,
            window,
            keep,
        } => {
            let (_tmp, root) = root(keep)?;
            let size = Size {
                messages,
                window: Duration::from_secs(window),
                ..Size::SOAK
            };
            let duration = Duration::from_secs(minutes * 60);
            let tallies =
                sotto_chaos::soak(&exe, &root, seed_or_clock(seed), duration, size).await?;
            Ok(verdict(&tallies))
        }
        Cmd::Serve {
            data_dir,
            listen,
            origin,
            access_token_secs,
        } => {
            sotto_chaos::server::serve(ServeArgs {
                data_dir,
                listen,
                origin,
                access_token_secs,
            })
            .await?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Client { profile, run_dir } => {
            sotto_chaos::device::run(profile, run_dir).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    match main_inner(Cli::parse()).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("sotto-chaos: {error}");
            ExitCode::from(2)
        }
    }
}
