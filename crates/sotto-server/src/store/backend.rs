//! The seam between the SQL both backends share ([`super::sql`]) and what each does its own
//! way: its pool, how a writing transaction begins, and the relay queue's write path. Every
//! [`Backend`] is a [`super::Store`] through the shared SQL; the methods here are the whole of
//! what a backend must add, each with the contract the shared code relies on.

use async_trait::async_trait;
use sotto_proto::ids::{ConversationId, DeviceId};

use crate::error::Result;
use crate::store::{
    Delivery, HotQueueFigures, QueuePolicy, SessionRecord, UserRecord, WriteOp, WriteOutcome,
};

/// A device's copies outside the shared tables, and what to do about the tables.
#[derive(Debug)]
pub struct HotPending {
    /// The hot copies, by sequence number.
    pub copies: Vec<Delivery>,
    /// Whether the tables must be read too.
    pub tables: TablesRead,
}

impl HotPending {
    /// No hot tier: every copy is in the tables.
    pub fn tables_only() -> Self {
        Self {
            copies: Vec::new(),
            tables: TablesRead::Read(None),
        }
    }
}

/// Whether a queue read must also read the shared tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TablesRead {
    /// The tables hold no copy of the device.
    Skip,
    /// They may; when a read finds none, [`Backend::tables_empty`] with the mark (if there is
    /// one) says so.
    Read(Option<TablesMark>),
}

/// The moment a reader took its hot copies (opaque to the shared code).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TablesMark(pub(crate) u64);

/// One SQL backend: SQLite ([`super::sqlite::SqliteStore`]) or PostgreSQL
/// ([`super::postgres::PostgresStore`]).
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// The sqlx database the shared statements run on.
    type Db: sqlx::Database;

    /// Which backend this is (`sqlite` or `postgres`), for logs and metrics.
    const NAME: &'static str;

    /// The statement that opens a transaction which writes. SQLite needs `BEGIN IMMEDIATE`: a
    /// deferred transaction that reads first and then writes fails with `SQLITE_BUSY_SNAPSHOT`
    /// (instead of waiting) when another connection committed in between.
    const BEGIN_WRITE: &'static str;

    /// The statement that claims one prekey (docs/api.md "Prekeys"): deletes the oldest
    /// stored prekey of device `$1` and returns its `body`, if the device is active and the
    /// claiming user `$2` may claim it (its owner, or a user sharing a conversation with the
    /// owner, neither of them having declined it, whom the owner does not block); no row
    /// otherwise. The condition is the same text on both backends. Each prekey is returned by
    /// one claim only, also when claims on several connections (or nodes) race: SQLite runs it
    /// under its one write lock; PostgreSQL locks the chosen row and skips rows another claim
    /// holds (`FOR UPDATE SKIP LOCKED`), so a racing claim takes the next prekey instead of
    /// finding its row gone and answering none.
    const CLAIM_PREKEY: &'static str;

    /// The statement that answers the database's size on disk in bytes, as one `bytes` column
    /// (`sotto-server admin stats`): SQLite's main file (pages times page size, without the
    /// write-ahead log), PostgreSQL's whole database (every schema in it).
    const DATABASE_BYTES: &'static str;

    /// The pool every shared statement runs on.
    fn pool(&self) -> &sqlx::Pool<Self::Db>;

    /// Writes a group-commit batch in one transaction: one outcome per op, in order, as
    /// [`super::Store::write_batch`] promises. Envelopes are decided before acknowledgements, a
    /// message id seen before (also within the batch) is a duplicate, a queue's cap counts what
    /// the batch itself adds, and a body goes with the last copy that waits for it. Each
    /// member device gets a copy or a reason under `policy` (`super::policy`), refused copies
    /// are recorded, and a duplicate id from the same sender device with the same bytes
    /// retries the recorded ones.
    async fn group_commit(
        &self,
        ops: &[WriteOp],
        policy: &QueuePolicy,
    ) -> Result<Vec<WriteOutcome>>;

    /// [`super::Store::redeem_ticket`]: the ticket's removal is committed before the answer, so
    /// a ticket admits one socket only, also across nodes and restarts. A socket admission is
    /// this one call: SQLite runs it on the group-commit connection, several redemptions in one
    /// transaction and one `fsync`; PostgreSQL in one statement.
    async fn take_ticket_session(
        &self,
        hash: &[u8; 32],
        now: i64,
    ) -> Result<Option<(SessionRecord, UserRecord)>>;

    /// `device`'s *committed* copies above `after` that live outside the shared tables (at most
    /// `limit`, by sequence number; none for a backend without such a tier), and whether the
    /// tables must be read too. The shared `pending` reads these before the tables, so a copy
    /// that moves from here into the tables in between is read twice (and kept once), never
    /// missed. [`TablesRead::Skip`] is a promise: at the moment the hot copies were taken, the
    /// tables held no copy of the device.
    fn hot_pending(&self, device: &DeviceId, after: i64, limit: i64) -> HotPending;

    /// A read of the tables that began after `mark` (from [`Backend::hot_pending`]) found no
    /// copy of `device` at all: a backend that keeps [`TablesRead::Skip`] promises may now make
    /// one for it, unless a write that can add copies began since.
    fn tables_empty(&self, device: &DeviceId, mark: TablesMark);

    /// Drops a revoked device's copies outside the shared tables. Called after the revocation
    /// has committed: a batch writing copies for the device held the write lock until then,
    /// so they are all here by now.
    fn forget_hot_copies(&self, device: &DeviceId);

    /// Drops the copies of `conversation` outside the shared tables for `devices` (their owner
    /// declined it). Called after the decline has committed, as for a revocation.
    fn forget_hot_conversation(&self, devices: &[DeviceId], conversation: &ConversationId);

    /// The figures of the hot tier for `/metrics` (D25); zero for a backend without one.
    fn hot_figures(&self) -> HotQueueFigures;

    /// Lets the write path finish the batches it holds and stops it; called before the pool
    /// closes.
    async fn close_writer(&self);
}
