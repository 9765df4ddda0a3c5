//! What the harness tells a chaos client to do ([`Plan`], a JSON file) and what the client
//! reports back while it runs ([`Status`], a JSON file the harness polls). Files rather than
//! pipes, because the harness SIGKILLs clients and restarts them: the plan must survive them.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One message to send.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Outgoing {
    /// `conv:…`.
    pub conversation: String,
    /// The text; unique in the whole run (`phase|sender|conversation label|sequence`).
    pub text: String,
}

/// One device's part in one scenario.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    /// The device label (`alice1`).
    pub label: String,
    /// What to send, in order.
    pub sends: Vec<Outgoing>,
    /// Every text this device must end up displaying from other devices.
    pub expect: Vec<String>,
    /// Pause between two sends, ms (uniform between the bounds).
    pub pace_ms: (u64, u64),
    /// This device's clock offset, ms (clock-skew scenario; 0 otherwise).
    pub clock_offset_ms: i64,
    /// Seed of this device's own randomness (pacing, backoff jitter).
    pub seed: u64,
}

/// What a running client reports.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Status {
    /// The device label.
    pub label: String,
    /// Messages of the plan persisted (sent or in the outbox).
    pub persisted: usize,
    /// Messages of the plan the server confirmed.
    pub confirmed: usize,
    /// Expected texts displayed so far.
    pub displayed: usize,
    /// Envelopes in the outbox.
    pub outbox: usize,
    /// Envelopes held for a key.
    pub held: usize,
    /// Messages this device could not decrypt (whole profile life).
    pub undecryptable: u64,
    /// Whether the last receive reached the server ("connected" as a user would see it).
    pub connected: bool,
    /// Failed operations so far in this process (each followed by a backoff).
    pub errors: u64,
    /// Times the server ended this device's session and it logged in again (all processes).
    pub relogins: u64,
    /// Everything sent, confirmed and displayed, nothing held.
    pub converged: bool,
}

/// Reads a JSON file.
pub fn read_json<T: for<'de> Deserialize<'de>>(path: &Path, what: &'static str) -> Result<T> {
    let bytes = std::fs::read(path).map_err(Error::io(what))?;
    serde_json::from_slice(&bytes).map_err(Error::json(what))
}

/// Writes a JSON file atomically (a reader never sees half of it).
pub fn write_json<T: Serialize>(path: &Path, value: &T, what: &'static str) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(value).map_err(Error::json(what))?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(Error::io(what))?;
    std::fs::rename(&tmp, path).map_err(Error::io(what))
}
