//! The SQLite backend: one file in the data folder, WAL journal, `synchronous = FULL`.
//! Everything but the relay queue's write path is the shared SQL of [`super::sql`]; this
//! folder owns what only SQLite has.
//!
//! `FULL` makes every commit durable (the WAL is fsynced on commit), which is what lets the relay
//! acknowledge an envelope only once it would survive a power cut; group commit
//! ([`crate::relay`]) amortises that fsync over every envelope in a batch. Foreign keys are on
//! and a busy timeout lets the few writers queue instead of failing.
//!
//! Group commits run on a connection of their own, owned by a dedicated thread
//! (`writer.rs`, `rusqlite` with cached prepared statements): a batch crosses a
//! thread boundary once instead of twice per statement, its page cache stays valid from one
//! batch to the next (in WAL mode a connection drops its cache whenever *another* connection
//! has written), and it is given a larger cache. Socket tickets are redeemed there too, many
//! per commit (`tickets.rs`). Everything else uses the sqlx pool.
//!
//! # Layout
//! - this module: connecting, pragmas, WAL checkpoints, and [`Backend`] for [`SqliteStore`].
//! - `writer.rs`: the group-commit writer thread and its prepared statements.
//! - `hot_queue.rs`: the hot tier of the relay queue, held in memory (D25).
//! - [`relay_log`]: the byte format of one `relay_log` row, the hot tier's durable form.
//! - `settled_devices.rs`: which devices may have settled copies, so a queue read can skip
//!   the table for the others.
//! - `queue_lock.rs`: which process owns a database's relay queue.
//! - `tickets.rs`: socket tickets redeemed on the group-commit connection, several per commit.
//! - `queue_tests.rs`: the queue's two tiers and restarts, which only SQLite has.

mod hot_queue;
mod queue_lock;
#[cfg(test)]
pub(crate) mod queue_tests;
pub mod relay_log;
mod settled_devices;
mod tickets;
mod writer;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sotto_proto::ids::{ConversationId, DeviceId};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use self::hot_queue::SETTLE_AT;
use self::writer::{lock, BatchWriter, WriterSettings};
use crate::store::backend::{HotPending, TablesMark};
use crate::store::migrate::{self, SQLITE};
use crate::store::sql::RowsAffected;
use crate::store::{
    Backend, HotQueueFigures, QueuePolicy, SessionRecord, UserRecord, WriteOp, WriteOutcome,
};

/// The embedded store.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    writer: Arc<BatchWriter>,
}

/// How long a connection waits for another one's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Page cache of the group-commit connection, in KiB (SQLite's negative `cache_size`).
const WRITER_CACHE_KIB: i64 = 16 * 1024;

/// How often a background task checkpoints the WAL into the database file (`PASSIVE`: it never
/// blocks the writer). The group-commit connection does not checkpoint on its own commits below
/// [`WAL_BACKSTOP_PAGES`], so a checkpoint (a copy of many pages plus an fsync of the database
/// file) never sits in the path of an acknowledgement.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// WAL size (pages) at which the background task forces the log back to the start
/// (`RESTART`, which waits for the current writer), and at which the writer itself
/// checkpoints if the background task cannot keep up.
const WAL_BACKSTOP_PAGES: i64 = 65_536;

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path` and migrates it. The file is
    /// created private (`0600`; SQLite gives its WAL the same mode), and an existing WAL or
    /// shared-memory file readable by others is tightened.
    pub async fn open(path: &Path) -> crate::error::Result<Self> {
        crate::private_files::file(path)?;
        for suffix in ["-wal", "-shm"] {
            let mut side = path.as_os_str().to_owned();
            side.push(suffix);
            crate::private_files::tighten(Path::new(&side), 0o600)?;
        }
        let options = SqliteConnectOptions::new().filename(path);
        Self::with_options(options).await
    }

    /// Opens a `sqlite:` URL.
    pub async fn open_url(url: &str) -> crate::error::Result<Self> {
        Self::with_options(SqliteConnectOptions::from_str(url)?).await
    }

    /// Opens a database whose hot queue settles at `settle_at` envelopes (tests of settling).
    #[cfg(test)]
    pub(crate) async fn open_settling_at(
        path: &Path,
        settle_at: usize,
    ) -> crate::error::Result<Self> {
        let options = SqliteConnectOptions::new().filename(path);
        Self::with_settings(options, settle_at).await
    }

    /// The pool (tests that look at the tables).
    #[cfg(test)]
    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    async fn with_options(options: SqliteConnectOptions) -> crate::error::Result<Self> {
        Self::with_settings(options, SETTLE_AT).await
    }

    async fn with_settings(
        options: SqliteConnectOptions,
        settle_at: usize,
    ) -> crate::error::Result<Self> {
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options.clone())
            .await?;
        migrate::run(&pool, SQLITE).await?;
        let writer = BatchWriter::start(
            options.get_filename(),
            WriterSettings {
                cache_kib: WRITER_CACHE_KIB,
                autocheckpoint_pages: WAL_BACKSTOP_PAGES,
                busy_timeout: BUSY_TIMEOUT,
                settle_at,
            },
        )?;
        tokio::spawn(checkpoints(pool.clone()));
        Ok(Self {
            pool,
            writer: Arc::new(writer),
        })
    }
}

impl RowsAffected for sqlx::sqlite::SqliteQueryResult {
    fn rows_affected(&self) -> u64 {
        // The inherent method: the shared SQL reaches it through the trait.
        sqlx::sqlite::SqliteQueryResult::rows_affected(self)
    }
}

/// Checkpoints the WAL every [`CHECKPOINT_EVERY`] until the pool closes.
async fn checkpoints(pool: SqlitePool) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if pool.is_closed() {
            return;
        }
        let passive: std::result::Result<(i64, i64, i64), sqlx::Error> =
            sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
                .fetch_one(&pool)
                .await;
        let result = match passive {
            Ok((_, log, _)) if log >= WAL_BACKSTOP_PAGES => {
                sqlx::query("PRAGMA wal_checkpoint(RESTART)")
                    .execute(&pool)
                    .await
                    .map(|_| ())
            }
            other => other.map(|_| ()),
        };
        if let Err(error) = result {
            if pool.is_closed() {
                return;
            }
            tracing::warn!(?error, "WAL checkpoint failed");
        }
    }
}

#[async_trait]
impl Backend for SqliteStore {
    type Db = sqlx::Sqlite;

    const NAME: &'static str = "sqlite";

    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";

    const DATABASE_BYTES: &'static str =
        "SELECT page_count * page_size AS bytes FROM pragma_page_count(), pragma_page_size()";

    const CLAIM_PREKEY: &'static str =
        "DELETE FROM prekeys WHERE seq = (SELECT p.seq FROM prekeys p \
         JOIN devices d ON d.id = p.device WHERE p.device = $1 AND d.state = 'active' \
         AND (d.user_id = $2 OR (EXISTS (SELECT 1 FROM members x JOIN members y \
         ON y.conversation = x.conversation WHERE x.user_id = $2 AND y.user_id = d.user_id \
         AND x.status <> 'declined' AND y.status <> 'declined') \
         AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker = d.user_id AND b.blocked = $2))) \
         ORDER BY p.seq LIMIT 1) RETURNING body";

    fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Writes a batch in one transaction on the writer thread.
    async fn group_commit(
        &self,
        ops: &[WriteOp],
        policy: &QueuePolicy,
    ) -> crate::error::Result<Vec<WriteOutcome>> {
        self.writer.write(ops, *policy).await
    }

    /// Redeems the ticket on the writer thread, in one commit with the others waiting.
    async fn take_ticket_session(
        &self,
        hash: &[u8; 32],
        now: i64,
    ) -> crate::error::Result<Option<(SessionRecord, UserRecord)>> {
        self.writer.redeem_ticket(hash, now).await
    }

    /// `device`'s committed copies in the hot queue above `after`.
    fn hot_pending(&self, device: &DeviceId, after: i64, limit: i64) -> HotPending {
        let limit = usize::try_from(limit).unwrap_or(0);
        lock(self.writer.hot()).pending_with_tables(device, after, limit)
    }

    fn tables_empty(&self, device: &DeviceId, mark: TablesMark) {
        lock(self.writer.hot()).settled_empty(device, mark);
    }

    /// Drops a revoked device's hot copies.
    fn forget_hot_copies(&self, device: &DeviceId) {
        lock(self.writer.hot()).forget_device(device);
    }

    /// Drops a declined conversation's hot copies for the decliner's devices.
    fn forget_hot_conversation(&self, devices: &[DeviceId], conversation: &ConversationId) {
        let mut hot = lock(self.writer.hot());
        for device in devices {
            hot.forget_conversation(device, conversation);
        }
    }

    /// The hot queue's size and the settle steps so far.
    fn hot_figures(&self) -> HotQueueFigures {
        let envelopes = lock(self.writer.hot()).len();
        let (settle_steps, settled_envelopes) = self.writer.settled();
        HotQueueFigures {
            envelopes,
            settle_steps,
            settled_envelopes,
        }
    }

    /// Lets the writer thread finish its batches and stops it.
    async fn close_writer(&self) {
        self.writer.close().await;
    }
}

#[cfg(test)]
mod tests {
    use sotto_proto::ids::{AccountId, ConversationId, DeviceId, MessageId};

    use super::*;
    use crate::store::migrate;
    use crate::store::{NewEnvelope, Store, UserId, WriteOp, WriteOutcome};

    /// A new database at `path` migrated to `version` only, as an older release left it.
    async fn pool_at_version(path: &Path, version: usize) -> SqlitePool {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal);
        let pool = SqlitePoolOptions::new()
            .connect_with(options)
            .await
            .unwrap();
        migrate::run(&pool, &SQLITE[..version]).await.unwrap();
        pool
    }

    /// Statements whose row limit is bound run again and again without being parsed and planned
    /// again: a bare `LIMIT $N` made SQLite re-prepare them on every execution (D76).
    #[tokio::test]
    async fn statements_with_a_bound_limit_are_planned_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let _pool = pool_at_version(&path, SQLITE.len()).await;
        let conn = rusqlite::Connection::open(&path).unwrap();
        for sql in crate::store::sql::paged::ALL {
            let mut statement = conn.prepare(sql).unwrap();
            for limit in [1i64, 2, 3] {
                for index in 1..=statement.parameter_count() {
                    statement.raw_bind_parameter(index, limit).unwrap();
                }
                let mut rows = statement.raw_query();
                while rows.next().unwrap().is_some() {}
            }
            assert_eq!(
                statement.get_status(rusqlite::StatementStatus::RePrepare),
                0,
                "re-prepared: {sql}"
            );
            assert_eq!(statement.get_status(rusqlite::StatementStatus::Run), 3);
        }
    }

    /// A queue written by schema v2 (every body in its message row) is read, acknowledged and
    /// replay-checked the same after the upgrade to v4 (bodies of single copies in deliveries).
    #[tokio::test]
    async fn a_version_2_queue_survives_the_upgrade() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let (device, message, conv) = ([2u8; 32], [3u8; 16], [4u8; 16]);
        let pool = pool_at_version(&path, 2).await;
        for (sql, user) in [
            (
                "INSERT INTO users (id, username, password_hash, created_at) VALUES (?, ?, 'h', 1)",
                "alice",
            ),
            (
                "INSERT INTO users (id, username, password_hash, created_at) VALUES (?, ?, 'h', 1)",
                "bob",
            ),
        ] {
            let id = if user == "alice" { 1 } else { 2 };
            sqlx::query(sql)
                .bind(id)
                .bind(user)
                .execute(&pool)
                .await
                .unwrap();
        }
        sqlx::query(
            "INSERT INTO devices (id, user_id, state, signing_key, auth_key, name, queued, \
             created_at) VALUES (?, 2, 'active', x'00', x'00', 'phone', 1, 1)",
        )
        .bind(device.as_slice())
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query("INSERT INTO conversations (id, created_at) VALUES (?, 1)")
            .bind(conv.as_slice())
            .execute(&pool)
            .await
            .unwrap();
        for user in [1, 2] {
            sqlx::query("INSERT INTO members (conversation, user_id) VALUES (?, ?)")
                .bind(conv.as_slice())
                .bind(user)
                .execute(&pool)
                .await
                .unwrap();
        }
        sqlx::query(
            "INSERT INTO messages (id, conversation, sender_account, sender_device, \
             received_at, body, copies) VALUES (?, ?, ?, ?, 9, x'abcd', 1)",
        )
        .bind(message.as_slice())
        .bind(conv.as_slice())
        .bind([5u8; 32].as_slice())
        .bind([6u8; 32].as_slice())
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query("INSERT INTO deliveries (device, message) VALUES (?, ?)")
            .bind(device.as_slice())
            .bind(message.as_slice())
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;

        let store = SqliteStore::open(&path).await.unwrap();
        let (device, message) = (DeviceId::from_bytes(device), MessageId::from_bytes(message));
        let pending = store.pending(&device, 0, 10).await.unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(
            (pending[0].message, pending[0].body.as_slice()),
            (message, &[0xab, 0xcd][..])
        );
        let ack = WriteOp::Ack {
            device,
            messages: vec![message],
        };
        assert_eq!(
            store.write_batch(&[ack], 10).await.unwrap(),
            vec![WriteOutcome::Acked(1)]
        );
        let body: Option<Vec<u8>> = sqlx::query_scalar("SELECT body FROM messages WHERE id = ?")
            .bind(message.as_bytes().as_slice())
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(body, None, "the body went with its last copy");
        let replay = WriteOp::Enqueue(NewEnvelope {
            message,
            conversation: ConversationId::from_bytes(conv),
            sender_user: UserId(1),
            sender_account: AccountId::from_bytes([5; 32]),
            sender_device: DeviceId::from_bytes([6; 32]),
            received_at: 10,
            to: None,
            body: vec![1],
        });
        assert_eq!(
            store.write_batch(&[replay], 10).await.unwrap(),
            vec![WriteOutcome::Duplicate]
        );
        store.close().await;
    }

    /// Attachments stored before schema v5 count against the quota after the upgrade.
    #[tokio::test]
    async fn attachments_stored_before_the_quota_count_against_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let conv = [4u8; 16];
        let pool = pool_at_version(&path, 4).await;
        sqlx::query(
            "INSERT INTO users (id, username, password_hash, created_at) VALUES (1, 'alice', 'h', 1)",
        )
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query("INSERT INTO conversations (id, created_at) VALUES (?, 1)")
            .bind(conv.as_slice())
            .execute(&pool)
            .await
            .unwrap();
        for (id, size) in [(1u8, 30usize), (2, 50)] {
            sqlx::query(
                "INSERT INTO attachments (id, conversation, uploader, size, body, created_at) \
                 VALUES (?, ?, 1, ?, ?, 1)",
            )
            .bind([id; 16].as_slice())
            .bind(conv.as_slice())
            .bind(i64::try_from(size).unwrap())
            .bind(vec![0u8; size])
            .execute(&pool)
            .await
            .unwrap();
        }
        pool.close().await;

        let store = SqliteStore::open(&path).await.unwrap();
        let conv = ConversationId::from_bytes(conv);
        // 80 bytes already stored: 21 more pass a 100-byte quota, 20 do not.
        let too_many = store
            .put_attachment(&[3; 16], &conv, UserId(1), &[0; 21], 100, 2)
            .await;
        assert!(
            matches!(too_many, Err(crate::error::Error::QuotaExceeded { .. })),
            "{too_many:?}"
        );
        store
            .put_attachment(&[3; 16], &conv, UserId(1), &[0; 20], 100, 2)
            .await
            .unwrap();
        store.close().await;
    }
}
