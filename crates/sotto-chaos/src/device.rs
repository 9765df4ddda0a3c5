//! One chaos client: a real `sotto-client` on its own encrypted profile, run as its own process
//! (`sotto-chaos client`) so the harness can SIGKILL it at any instant and start it again.
//!
//! It works through its [`Plan`]: send the next message when its time comes, receive for a
//! moment, repeat; every failure is followed by an exponential backoff with full jitter (the
//! reconnect policy a real client uses). On start it resumes from its profile alone: a message
//! already in the history or the outbox is never queued again (a second queueing would be a
//! second message with a new id, which the audit counts as a duplicate). It reports progress in
//! `status.json` and exits once the harness has created `exit` and it has converged.

use std::collections::{BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sotto_client::store::file::{FileVault, KdfParams};
use sotto_client::store::state::OutgoingBody;
use sotto_client::sync::ReceiveOptions;
use sotto_client::{Client, ProfileOptions};
use tokio::time::Instant;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::plan::{read_json, write_json, Outgoing, Plan, Status};

/// The plan's file name in a device's run folder.
pub const PLAN_FILE: &str = "plan.json";
/// The status file's name.
pub const STATUS_FILE: &str = "status.json";
/// Created by the harness when the faults are over and the device may exit once converged.
pub const EXIT_FILE: &str = "exit";
/// Longest single client operation before it counts as failed (a half-open connection would
/// otherwise hold it for the library's 60 s request timeout).
const OP_TIMEOUT: Duration = Duration::from_secs(12);
/// The password of every chaos account (test accounts only).
pub const PASSWORD: &str = "correct horse battery staple";
/// First and largest backoff after a failure.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(2));

/// The passphrase of a chaos profile (test profiles only).
pub fn passphrase(label: &str) -> Zeroizing<String> {
    Zeroizing::new(format!("chaos profile {label}"))
}

/// Opens the profile in `dir` with cheap key derivation (test profiles only: the chaos
/// clients restart hundreds of times, and the KDF cost is not what is under test).
pub fn open_profile(dir: &Path, label: &str, server: Option<(&str, &str)>) -> Result<Client> {
    let pass = passphrase(label);
    let vault = FileVault::open_with(dir, pass.as_bytes(), KdfParams::danger_fast())
        .map_err(Error::client("opening the profile"))?;
    Client::with_vault(
        ProfileOptions {
            dir: dir.to_path_buf(),
            passphrase: pass,
            server: server.map(|(url, _)| url.to_owned()),
            tls_pin: server.map(|(_, pin)| pin.to_owned()),
        },
        Box::new(vault),
    )
    .map_err(Error::client("opening the profile"))
}

/// Exponential backoff with full jitter.
struct Backoff {
    next: Duration,
}

impl Backoff {
    fn new() -> Self {
        Self { next: BACKOFF.0 }
    }

    fn reset(&mut self) {
        self.next = BACKOFF.0;
    }

    fn wait(&mut self, rng: &mut ChaCha8Rng) -> Duration {
        let high = u64::try_from(self.next.as_millis()).unwrap_or(u64::MAX);
        let pause = Duration::from_millis(rng.random_range(high / 2..=high));
        self.next = (self.next * 2).min(BACKOFF.1);
        pause
    }
}

/// The text of an outbox entry.
fn outbox_text(body: &OutgoingBody) -> &str {
    match body {
        OutgoingBody::Text(text) | OutgoingBody::Message { text, .. } => text.as_str(),
        OutgoingBody::Attachment { caption, .. } => caption.as_str(),
        // A group's name and amendments are no message of the plan: their text matches none.
        OutgoingBody::GroupName(_)
        | OutgoingBody::Edit { .. }
        | OutgoingBody::Delete { .. }
        | OutgoingBody::Reaction { .. } => "",
    }
}

/// Where the plan's messages stand in the profile.
fn status_of(client: &Client, plan: &Plan, connected: bool, errors: u64, relogins: u64) -> Status {
    // No device yet: none of the history is this device's own.
    let me = client.device_id();
    let ours: BTreeSet<&str> = plan.sends.iter().map(|o| o.text.as_str()).collect();
    let expected: BTreeSet<&str> = plan.expect.iter().map(String::as_str).collect();
    let mut confirmed = BTreeSet::new();
    let mut displayed = BTreeSet::new();
    for message in client.history() {
        let text = message.text.as_str();
        if Some(message.device) == me && ours.contains(text) {
            confirmed.insert(text);
        } else if Some(message.device) != me && expected.contains(text) {
            displayed.insert(text);
        }
    }
    let queued = client
        .outbox()
        .filter(|item| ours.contains(outbox_text(&item.body)))
        .count();
    let status = Status {
        label: plan.label.clone(),
        persisted: confirmed.len() + queued,
        confirmed: confirmed.len(),
        displayed: displayed.len(),
        outbox: client.outbox_len(),
        held: client.held(),
        undecryptable: client.undecryptable(),
        connected,
        errors,
        relogins,
        converged: false,
    };
    Status {
        converged: status.confirmed == plan.sends.len()
            && status.displayed == plan.expect.len()
            && status.outbox == 0
            && status.held == 0,
        ..status
    }
}

/// The messages of the plan not yet persisted (neither confirmed nor in the outbox).
fn unsent(client: &Client, plan: &Plan) -> VecDeque<Outgoing> {
    let me = client.device_id();
    let mut persisted: BTreeSet<&str> = client
        .history()
        .filter(|m| Some(m.device) == me)
        .map(|m| m.text.as_str())
        .collect();
    persisted.extend(client.outbox().map(|item| outbox_text(&item.body)));
    plan.sends
        .iter()
        .filter(|o| !persisted.contains(o.text.as_str()))
        .cloned()
        .collect()
}

/// What the user does when told the session ended: log in again (same device, same profile).
/// The outbox is untouched, so nothing queued is lost; the harness counts these.
async fn log_in_again(client: &mut Client, label: &str) -> bool {
    let Some(username) = client.username().map(str::to_owned) else {
        return false;
    };
    let again = tokio::time::timeout(OP_TIMEOUT, client.login_start(&username, PASSWORD, label));
    match again.await {
        Ok(Ok(_)) => true,
        Ok(Err(error)) => {
            eprintln!("{label}: login again: {error}");
            false
        }
        Err(_) => false,
    }
}

/// After a timeout: the pooled connections are suspect (a half-open path), start afresh.
fn reset(client: &mut Client, label: &str) {
    if let Err(error) = client.reset_connections() {
        eprintln!("{label}: reset connections: {error}");
    }
}

/// Runs the device whose profile is `profile` and whose plan is in `run_dir`.
pub async fn run(profile: PathBuf, run_dir: PathBuf) -> Result<()> {
    let plan: Plan = read_json(&run_dir.join(PLAN_FILE), "the plan")?;
    let mut client = open_profile(&profile, &plan.label, None)?;
    client.set_clock_offset_ms(plan.clock_offset_ms);
    let mut pending = unsent(&client, &plan);
    // Seeded per start: a restart continues with a different but reproducible sequence.
    let restart = plan.sends.len() - pending.len();
    let mut rng = ChaCha8Rng::seed_from_u64(plan.seed ^ (restart as u64).rotate_left(32));
    let mut options = ReceiveOptions::new(run_dir.join("downloads"));
    options.wait = Duration::from_millis(300);
    options.quiet = Duration::from_millis(200);
    let mut backoff = Backoff::new();
    let mut errors = 0u64;
    let mut relogins = read_json::<Status>(&run_dir.join(STATUS_FILE), "the status file")
        .map(|s| s.relogins)
        .unwrap_or(0);
    let mut connected;
    let mut next_send = Instant::now();
    let status_path = run_dir.join(STATUS_FILE);
    let mut last = Status::default();
    loop {
        let mut failed = false;
        let mut ended = false;
        if let Some(next) = pending.front().cloned() {
            if Instant::now() >= next_send {
                let sent = tokio::time::timeout(
                    OP_TIMEOUT,
                    client.send_text(&next.conversation, &next.text, true),
                )
                .await;
                let queued = client
                    .outbox()
                    .any(|item| outbox_text(&item.body) == next.text);
                match sent {
                    Ok(Ok(_)) => {
                        pending.pop_front();
                        let (low, high) = plan.pace_ms;
                        next_send = Instant::now()
                            + Duration::from_millis(rng.random_range(low..=high.max(low)));
                    }
                    Ok(Err(error)) => {
                        eprintln!("{}: send: {error}", plan.label);
                        ended |= matches!(error, sotto_client::Error::SessionEnded);
                        failed = true;
                    }
                    Err(_) => {
                        eprintln!("{}: send timed out", plan.label);
                        reset(&mut client, &plan.label);
                        failed = true;
                    }
                }
                // Persisted before the failure: the outbox owns it now.
                if failed && queued {
                    pending.pop_front();
                }
            }
        }
        let received =
            tokio::time::timeout(OP_TIMEOUT, client.receive(&options, &mut |_event| {})).await;
        match received {
            Ok(Ok(_)) => connected = true,
            Ok(Err(error)) => {
                eprintln!("{}: receive: {error}", plan.label);
                ended |= matches!(error, sotto_client::Error::SessionEnded);
                connected = false;
                failed = true;
            }
            Err(_) => {
                eprintln!("{}: receive timed out", plan.label);
                reset(&mut client, &plan.label);
                connected = false;
                failed = true;
            }
        }
        if ended && log_in_again(&mut client, &plan.label).await {
            relogins += 1;
        }
        if failed {
            errors += 1;
            let pause = backoff.wait(&mut rng);
            tokio::time::sleep(pause).await;
        } else {
            backoff.reset();
        }
        let status = status_of(&client, &plan, connected, errors, relogins);
        if status != last {
            write_json(&status_path, &status, "the status file")?;
            last = status.clone();
        }
        if status.converged && run_dir.join(EXIT_FILE).exists() {
            // A last, longer listen: anything delivered twice would show up now.
            options.wait = Duration::from_millis(500);
            options.quiet = Duration::from_millis(800);
            let _ = tokio::time::timeout(OP_TIMEOUT, client.receive(&options, &mut |_| {})).await;
            let status = status_of(&client, &plan, connected, errors, relogins);
            write_json(&status_path, &status, "the status file")?;
            return Ok(());
        }
    }
}
