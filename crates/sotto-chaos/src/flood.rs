//! The hostile member of the `flood` scenario. Mallory is a member of a conversation alice
//! created with her (so alice accepted it: mallory is no stranger held back by the request
//! limit) and sends into it as fast as the server takes messages, while one of alice's devices
//! is offline: its queue fills to the server's cap with mallory's copies. The honest cast goes
//! on talking meanwhile, and the audit checks that none of their messages is lost or left
//! undelivered without its sender knowing.
//!
//! Mallory gives up on every message the server did not queue for some device (a flooder does
//! not retry), so the flood costs one post per message. She runs inside the harness's process
//! and reaches the server through the proxy like everyone else (the scenario's network is
//! mild: it is not what is under test).

use std::path::PathBuf;

use tokio::sync::watch;

use crate::device::open_profile;
use crate::error::{Error, Result};

/// At most this many messages per flood (a bound on the load test, whatever the window).
const MAX_MESSAGES: u64 = 2_000;

/// What a flood did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FloodTally {
    /// Messages mallory posted.
    pub posted: u64,
    /// Device copies the server refused her (the victim's queue was full for her).
    pub refused: u64,
}

/// A flood in progress.
#[derive(Debug)]
pub struct Flood {
    stop: watch::Sender<bool>,
    thread: std::thread::JoinHandle<Result<FloodTally>>,
}

/// Mallory's profile and the conversation she floods.
#[derive(Debug, Clone)]
pub struct Flooder {
    /// Her profile folder.
    pub profile: PathBuf,
    /// The conversation she shares with alice.
    pub conversation: String,
    /// The server's address as clients see it (the proxy's) and its certificate pin.
    pub server: (String, String),
}

impl Flood {
    /// Starts flooding until [`Flood::stop`], on a thread of its own (a client is not `Send`:
    /// its vault is used from one thread).
    pub fn start(flooder: Flooder) -> Self {
        let (stop, stopped) = watch::channel(false);
        let thread = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(Error::io("starting the flood's runtime"))?
                .block_on(run(flooder, stopped))
        });
        Self { stop, thread }
    }

    /// Stops the flood (once the server has refused mallory a copy) and returns what it did.
    pub async fn stop(self) -> Result<FloodTally> {
        let _ = self.stop.send(true);
        let thread = self.thread;
        tokio::task::spawn_blocking(move || thread.join())
            .await
            .map_err(|_| Error::TaskFailed { what: "the flood" })?
            .map_err(|_| Error::TaskFailed { what: "the flood" })?
    }
}

async fn run(flooder: Flooder, stopped: watch::Receiver<bool>) -> Result<FloodTally> {
    let (url, pin) = (&flooder.server.0, &flooder.server.1);
    let mut mallory = open_profile(&flooder.profile, "mallory", Some((url, pin)))?;
    let target = flooder.conversation;
    let mut tally = FloodTally::default();
    // Asked to stop, she still floods until the server has refused her a copy: how fast she
    // fills alice2's queue depends on the machine, and the scenario is about that refusal. Her
    // victim stays offline until the flood has stopped, so this takes a few more posts at most
    // when the queue cap works, and runs into `MAX_MESSAGES` (failing the audit) when it does
    // not.
    while tally.posted < MAX_MESSAGES && !(*stopped.borrow() && tally.refused > 0) {
        let text = format!("spam {}", tally.posted);
        match mallory.send_text(&target, &text, true).await {
            Ok(report) => {
                tally.posted += 1;
                if !report.undelivered.is_empty() {
                    tally.refused += report.undelivered.len() as u64;
                    mallory
                        .drop_outbox_item(report.message_id)
                        .map_err(Error::client("dropping a refused flood message"))?;
                }
            }
            // A throttle or a busy server only slows the flood down.
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    }
    Ok(tally)
}
