//! The counts an operator watches (`sotto-server admin stats`): what the store holds, one
//! store query ([`crate::store::Store::counts`]), and, from the running server, this node's
//! sockets and how long its process has run.

use std::sync::OnceLock;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::admin::AdminTarget;
use crate::clock;
use crate::error::Result;

/// When this process began serving (the first admin socket it opened).
static STARTED: OnceLock<Instant> = OnceLock::new();

/// Notes the start of serving, for the uptime `stats` shows; later calls change nothing.
pub fn mark_started() {
    STARTED.get_or_init(Instant::now);
}

/// `stats`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// The store's backend (`sqlite` or `postgres`).
    pub backend: String,
    /// Accounts, deleted ones included.
    pub accounts: i64,
    /// Accounts disabled (not deleted).
    pub disabled: i64,
    /// Accounts deleted (their names stay reserved).
    pub deleted: i64,
    /// Active devices.
    pub active_devices: i64,
    /// Unexpired device sessions.
    pub sessions: i64,
    /// Conversations.
    pub conversations: i64,
    /// Envelope copies waiting for their device in the tables.
    pub queued: i64,
    /// Envelopes accepted and not yet moved into the tables (SQLite's hot queue of the running
    /// server; 0 offline and on PostgreSQL).
    pub queued_hot: usize,
    /// Envelopes in conversation archives.
    pub archived: i64,
    /// Attachments stored.
    pub attachments: i64,
    /// Their bytes.
    pub attachment_bytes: i64,
    /// The database's size on disk (SQLite: its main file; PostgreSQL: the whole database).
    pub database_bytes: i64,
    /// Sockets connected to this node (running server only).
    pub sockets: Option<usize>,
    /// Seconds this server's process has served (running server only).
    pub uptime_secs: Option<u64>,
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let na = |v: Option<String>| v.unwrap_or_else(|| "- (no server running)".to_owned());
        writeln!(f, "backend            {}", self.backend)?;
        writeln!(
            f,
            "accounts           {} ({} disabled, {} deleted)",
            self.accounts, self.disabled, self.deleted
        )?;
        writeln!(f, "active devices     {}", self.active_devices)?;
        writeln!(f, "device sessions    {}", self.sessions)?;
        writeln!(f, "conversations      {}", self.conversations)?;
        writeln!(
            f,
            "queued copies      {} (+{} envelopes in the hot queue)",
            self.queued, self.queued_hot
        )?;
        writeln!(f, "archived envelopes {}", self.archived)?;
        writeln!(
            f,
            "attachments        {} ({} bytes)",
            self.attachments, self.attachment_bytes
        )?;
        writeln!(f, "database size      {} bytes", self.database_bytes)?;
        writeln!(
            f,
            "sockets (node)     {}",
            na(self.sockets.map(|s| s.to_string()))
        )?;
        write!(
            f,
            "uptime             {}",
            na(self.uptime_secs.map(|s| format!("{s} s")))
        )
    }
}

/// Collects the counts.
pub async fn collect(target: &AdminTarget) -> Result<Stats> {
    let store = target.store();
    let counts = store.counts(clock::now_ms()).await?;
    let (sockets, uptime_secs) = match target {
        AdminTarget::Live(state) => (
            Some(state.hub.connections()),
            STARTED.get().map(|t| t.elapsed().as_secs()),
        ),
        AdminTarget::Offline(_) => (None, None),
    };
    Ok(Stats {
        backend: store.backend().to_owned(),
        accounts: counts.accounts,
        disabled: counts.disabled,
        deleted: counts.deleted,
        active_devices: counts.active_devices,
        sessions: counts.sessions,
        conversations: counts.conversations,
        queued: counts.queued,
        queued_hot: store.hot_queue().envelopes,
        archived: counts.archived,
        attachments: counts.attachments,
        attachment_bytes: counts.attachment_bytes,
        database_bytes: counts.database_bytes,
        sockets,
        uptime_secs,
    })
}
