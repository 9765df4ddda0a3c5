//! The server as a real child process (`sotto-chaos serve`), so that a SIGKILL is a real one:
//! no destructor runs, no buffer is flushed, whatever was not on disk is gone.
//!
//! [`serve`] is the child's side: the `sotto-server` library on a fixed address and data folder,
//! announcing itself with one `ready <fingerprint>` line and stopping gracefully when its stdin
//! closes. [`ServerProcess`] is the harness's side: start, SIGKILL, graceful stop, restart on
//! the same address and data folder (same certificate, same database).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use sotto_server::config::Config;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::error::{Error, Result};

/// How long a start may take (debug builds on a busy machine).
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a graceful stop may take before it becomes a kill.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// The server settings of a chaos run.
#[derive(Debug, Clone)]
pub struct ServeArgs {
    /// The data folder (SQLite database, certificate).
    pub data_dir: PathBuf,
    /// Where to listen.
    pub listen: SocketAddr,
    /// The origin clients use (the proxy's), signed into login challenges.
    pub origin: String,
    /// Access-token lifetime, seconds (short, so renewals happen under faults).
    pub access_token_secs: u64,
}

/// The child's side: runs the server until stdin closes.
pub async fn serve(args: ServeArgs) -> Result<()> {
    let mut config = Config {
        listen: args.listen,
        data_dir: args.data_dir,
        public_origin: Some(args.origin),
        ..Config::default()
    };
    // Passwords are not what is under test; cheap hashing keeps setup fast.
    config.argon2.memory_kib = 64;
    config.argon2.iterations = 1;
    config.limits.shutdown_grace_secs = 2;
    config.limits.access_token_secs = args.access_token_secs;
    // Small queues, so that the `flood` scenario's mallory fills one in a few seconds; every
    // honest sender's copies to a device fit in its reserved share (see docs/chaos.md).
    config.limits.max_queue_per_device = 30;
    config.limits.queue_share_per_sender = 15;
    let server = sotto_server::start(config).await?;
    println!("ready {}", server.cert.fingerprint);
    // Stdin closing (the harness dropping it, or dying) is the graceful stop signal.
    let mut sink = Vec::new();
    let _ = tokio::io::stdin().read_to_end(&mut sink).await;
    server.stop().await?;
    Ok(())
}

/// The harness's side: the server child process.
#[derive(Debug)]
pub struct ServerProcess {
    exe: PathBuf,
    args: ServeArgs,
    log: PathBuf,
    child: Option<Child>,
    /// The certificate fingerprint clients pin.
    pub pin: String,
}

impl ServerProcess {
    /// A server to be run by `exe serve` with `args`; its stderr goes to `log`.
    pub fn new(exe: &Path, args: ServeArgs, log: PathBuf) -> Self {
        Self {
            exe: exe.to_path_buf(),
            args,
            log,
            child: None,
            pin: String::new(),
        }
    }

    /// Starts the process and waits for its `ready` line. The address may still be held for a
    /// moment after a kill, so a failed start is retried.
    pub async fn start(&mut self) -> Result<()> {
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        loop {
            match self.try_start().await {
                Ok(()) => return Ok(()),
                Err(error) if tokio::time::Instant::now() >= deadline => return Err(error),
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    async fn try_start(&mut self) -> Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(Error::io("opening the server log"))?;
        let mut child = Command::new(&self.exe)
            .arg("serve")
            .arg("--data-dir")
            .arg(&self.args.data_dir)
            .arg("--listen")
            .arg(self.args.listen.to_string())
            .arg("--origin")
            .arg(&self.args.origin)
            .arg("--access-token-secs")
            .arg(self.args.access_token_secs.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .map_err(Error::io("starting the server process"))?;
        let stdout = child.stdout.take().ok_or(Error::ServerStart {
            reason: "no stdout".to_owned(),
        })?;
        let mut line = String::new();
        let read =
            tokio::time::timeout(START_TIMEOUT, BufReader::new(stdout).read_line(&mut line)).await;
        match line.trim().strip_prefix("ready ") {
            Some(pin) if matches!(read, Ok(Ok(_))) => {
                self.pin = pin.to_owned();
                self.child = Some(child);
                Ok(())
            }
            _ => {
                let _ = child.kill().await;
                Err(Error::ServerStart {
                    reason: format!("no ready line (got {:?})", line.trim()),
                })
            }
        }
    }

    /// SIGKILLs the process (nothing runs after it: no drain, no flush).
    pub async fn kill(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child
                .kill()
                .await
                .map_err(Error::io("killing the server"))?;
        }
        Ok(())
    }

    /// Stops the process gracefully (closes its stdin), killing it if it takes too long.
    pub async fn stop(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            drop(child.stdin.take());
            match tokio::time::timeout(STOP_TIMEOUT, child.wait()).await {
                Ok(_) => {}
                Err(_) => {
                    let _ = child.kill().await;
                    return Err(Error::TimedOut {
                        what: "the server to stop gracefully",
                    });
                }
            }
        }
        Ok(())
    }
}
