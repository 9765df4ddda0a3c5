//! SQLite group commits on a dedicated thread with a synchronous connection (`rusqlite`).
//!
//! sqlx runs every SQLite statement on the connection's worker thread and hands the result back
//! through a channel: two context switches per statement, and the multi-row statements that
//! amortised them had to be generated (and parsed by SQLite) anew for every batch size. Here a
//! batch crosses a thread boundary **once**: the writer thread owns its connection, runs the
//! whole transaction with cached prepared statements (one row per execution: no parsing, no
//! generated SQL) and answers through a oneshot channel after `COMMIT` has returned.
//!
//! It is the same database file as the sqlx pool (same `libsqlite3-sys`, WAL mode,
//! `synchronous = FULL`, foreign keys on, the same busy timeout), and other writers on the pool
//! (revocations, the checkpoint task) queue on SQLite's write lock as before. What a batch
//! stores goes into the hot queue and one `relay_log` row, and every so often a slice of the hot
//! queue settles into `spent`, `messages` and `deliveries` ([`super::hot_queue`], D25); readers
//! see the hot queue's committed part and the tables. The outcomes are the same as the bulk SQL
//! of `postgres/bulk.rs`: envelopes before acknowledgements, a duplicate id
//! (also within one batch) refused, the queue cap counted with what the batch itself adds, a
//! body dropped when its last copy is acknowledged.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use sotto_proto::ids::{AccountId, ConversationId, DeviceId, MessageId};
use tokio::sync::oneshot;

use crate::error::{Error, Result};
use crate::store::policy::{refusal, Consent};
use crate::store::sqlite::hot_queue::{HotQueue, SettlePlan, SETTLE_BYTES};
use crate::store::sqlite::queue_lock::QueueLock;
use crate::store::sqlite::relay_log::{self, LoggedEnvelope, Record};
use crate::store::sqlite::tickets::{self, Redeemed, Redemption};
use crate::store::{
    fixed, MemberStatus, NewEnvelope, QueuePolicy, UndeliveredReason, WriteOp, WriteOutcome,
};

/// Prepared statements the connection keeps (the hot path uses seven, a settle step five more,
/// the queue policy's rarer paths nine, a ticket redemption two).
const STATEMENT_CACHE: usize = 32;

/// Conversations whose routes the writer remembers at most (then it starts over).
const MAX_ROUTES: usize = 65_536;

const DATA_VERSION: &str = "PRAGMA data_version";

const MEMBERS: &str = "SELECT m.user_id, m.status, m.request_envelopes, d.id, d.queued \
     FROM members m LEFT JOIN devices d ON d.user_id = m.user_id AND d.state = 'active' \
     WHERE m.conversation = ?1";
// Blocks by members (those of non-members are dropped when read).
const BLOCKS: &str = "SELECT b.blocker, b.blocked FROM members m \
     JOIN blocks b ON b.blocker = m.user_id WHERE m.conversation = ?1";
const COUNT_REQUEST: &str = "UPDATE members SET request_envelopes = request_envelopes + 1 \
     WHERE conversation = ?1 AND user_id = ?2";
// A long queue's settled copies per sender account (the hot queue counts the rest).
const SENDER_COUNTS: &str = "SELECT m.sender_account, COUNT(*) FROM deliveries d \
     JOIN messages m ON m.id = d.message WHERE d.device = ?1 GROUP BY m.sender_account";
const UNDELIVERED_COUNT: &str =
    "SELECT COUNT(*) FROM undelivered WHERE device = ?1 AND sender_account = ?2";
const UNDELIVERED_PUT: &str = "INSERT INTO undelivered \
     (message, device, reason, sender_device, sender_account, body_hash, at) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
     ON CONFLICT (message, device) DO UPDATE SET reason = excluded.reason";
const UNDELIVERED_FOR: &str = "SELECT device, body_hash FROM undelivered \
     WHERE message = ?1 AND sender_device = ?2 AND at >= ?3";
const UNDELIVERED_DELETE: &str = "DELETE FROM undelivered WHERE message = ?1 AND device = ?2";
// The message row a retried copy refers to; the copy carries its own body. If the envelope
// is still hot, settling it later adds its copies and body to this row (`INSERT_MESSAGE`).
const RETRY_MESSAGE: &str = "INSERT INTO messages \
     (id, conversation, sender_account, sender_device, received_at, body, copies) \
     VALUES (?1, ?2, ?3, ?4, ?5, NULL, 0) ON CONFLICT (id) DO NOTHING";
// Settled ids: the hot queue holds the others.
const SPENT: &str = "SELECT 1 FROM spent WHERE id = ?1";
const INSERT_SPENT: &str = "INSERT INTO spent (id) VALUES (?1) ON CONFLICT (id) DO NOTHING";
const INSERT_LOG: &str = "INSERT INTO relay_log (id, data) VALUES (?1, ?2)";
// The conversation's archive (history), in the same commit as the envelope: one row each.
const INSERT_ARCHIVE: &str =
    "INSERT INTO archive (conversation, message, received_at, body) VALUES (?1, ?2, ?3, ?4)";
const DELETE_LOG: &str = "DELETE FROM relay_log WHERE id <= ?1";
const SETTLED_DEVICES: &str = "SELECT DISTINCT device FROM deliveries";
const DEVICE_ACTIVE: &str = "SELECT 1 FROM devices WHERE id = ?1 AND state = 'active'";
// The message row of an envelope settled with copies still queued (its metadata, for
// `pending`). It holds the body only when several devices share it; a single copy carries the
// body in its delivery row, so acknowledging it deletes that row and rewrites nothing else.
// A row already there was written by a retry (`RETRY_MESSAGE`): its copies carry their bodies.
const INSERT_MESSAGE: &str = "INSERT INTO messages \
     (id, conversation, sender_account, sender_device, received_at, body, copies) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (id) DO UPDATE SET \
     body = COALESCE(excluded.body, messages.body), copies = messages.copies + excluded.copies";
// A settled copy keeps the sequence number it was pushed with.
const INSERT_DELIVERY: &str =
    "INSERT INTO deliveries (seq, device, message, body) VALUES (?1, ?2, ?3, ?4)";
// One row: whether the copy shared the message row's body (then the message counts down).
const DELETE_DELIVERY: &str =
    "DELETE FROM deliveries WHERE device = ?1 AND message = ?2 RETURNING body IS NULL";
// Both right-hand sides see the old `copies`: the body goes with the last copy.
const COUNT_DOWN: &str = "UPDATE messages SET \
     copies = CASE WHEN copies > ?2 THEN copies - ?2 ELSE 0 END, \
     body = CASE WHEN copies > ?2 THEN body ELSE NULL END WHERE id = ?1";
const BUMP_QUEUED: &str = "UPDATE devices SET \
     queued = CASE WHEN queued + ?2 > 0 THEN queued + ?2 ELSE 0 END WHERE id = ?1";

/// Settings of the writer's connection.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WriterSettings {
    /// Page cache in KiB.
    pub cache_kib: i64,
    /// WAL pages after which a commit checkpoints by itself (a backstop; a background task
    /// checkpoints long before).
    pub autocheckpoint_pages: i64,
    /// How long to wait for the write lock held by another connection.
    pub busy_timeout: Duration,
    /// Hot envelopes at which every commit also settles a slice of them.
    pub settle_at: usize,
}

/// What the writer thread is asked to do.
enum Job {
    /// A group-commit batch of the relay.
    Batch {
        ops: Vec<WriteOp>,
        policy: QueuePolicy,
        reply: oneshot::Sender<Result<Vec<WriteOutcome>>>,
    },
    /// A socket ticket to redeem (`tickets.rs`).
    Redeem(Redemption),
}

/// The hot queue, shared by the writer thread and the store's readers.
pub(crate) type SharedHot = Arc<Mutex<HotQueue>>;

/// Locks the hot queue. A panic while it was held cannot leave it half-changed in a way that
/// matters more than losing the process would, so a poisoned lock is used as it is.
pub(crate) fn lock(hot: &SharedHot) -> MutexGuard<'_, HotQueue> {
    hot.lock().unwrap_or_else(|p| p.into_inner())
}

/// Settle steps committed and the envelopes they settled, for `/metrics`.
#[derive(Default)]
struct SettleCounts {
    steps: AtomicU64,
    envelopes: AtomicU64,
}

/// The handle to the writer thread.
pub(crate) struct BatchWriter {
    /// `None` once closed.
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    hot: SharedHot,
    settles: Arc<SettleCounts>,
}

impl std::fmt::Debug for BatchWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BatchWriter")
    }
}

impl BatchWriter {
    /// Opens a second connection to the (already migrated) database at `path`, reads the
    /// relay log back into the hot queue and starts the thread that owns the connection.
    pub(crate) fn start(path: &Path, settings: WriterSettings) -> Result<Self> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(settings.busy_timeout)?;
        // The journal mode (WAL) is a property of the file, set when the pool created it.
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.pragma_update(None, "cache_size", -settings.cache_kib)?;
        conn.pragma_update(None, "wal_autocheckpoint", settings.autocheckpoint_pages)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        // Prepare the hot path now: a missing table (a database that is not this one, e.g. an
        // in-memory URL) fails here, at startup, instead of on the first envelope.
        for sql in [
            DATA_VERSION,
            MEMBERS,
            BLOCKS,
            COUNT_REQUEST,
            SENDER_COUNTS,
            UNDELIVERED_COUNT,
            UNDELIVERED_PUT,
            UNDELIVERED_FOR,
            UNDELIVERED_DELETE,
            RETRY_MESSAGE,
            SPENT,
            INSERT_SPENT,
            INSERT_LOG,
            INSERT_ARCHIVE,
            DELETE_LOG,
            DEVICE_ACTIVE,
            INSERT_MESSAGE,
            INSERT_DELIVERY,
            DELETE_DELIVERY,
            COUNT_DOWN,
            BUMP_QUEUED,
        ] {
            conn.prepare_cached(sql)?;
        }
        tickets::prepare(&conn)?;
        // Taken now if this is the only writing process; otherwise before the first batch.
        let mut queue_lock = QueueLock::beside(path);
        let owner = queue_lock.try_take()?;
        let (hot, next_seq, next_row) = load(&conn, settings.settle_at, owner)?;
        let hot: SharedHot = Arc::new(Mutex::new(hot));
        let settles = Arc::new(SettleCounts::default());
        let state = WriterState {
            cache: Cache::default(),
            hot: hot.clone(),
            settles: settles.clone(),
            next_seq,
            next_row,
            queue_lock,
            settle_at: settings.settle_at,
        };
        let (tx, rx) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("sotto-sqlite-writer".to_owned())
            .spawn(move || run(conn, state, rx))
            .map_err(|source| Error::Io {
                what: "starting the SQLite writer thread",
                source,
            })?;
        Ok(Self {
            jobs: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
            hot,
            settles,
        })
    }

    /// The hot queue, for readers.
    pub(crate) fn hot(&self) -> &SharedHot {
        &self.hot
    }

    /// Settle steps committed so far and the envelopes they settled.
    pub(crate) fn settled(&self) -> (u64, u64) {
        (
            self.settles.steps.load(Ordering::Relaxed),
            self.settles.envelopes.load(Ordering::Relaxed),
        )
    }

    /// Runs one batch in one transaction on the writer thread; returns after the commit.
    pub(crate) async fn write(
        &self,
        ops: &[WriteOp],
        policy: QueuePolicy,
    ) -> Result<Vec<WriteOutcome>> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Batch {
            ops: ops.to_vec(),
            policy,
            reply,
        })?;
        answer.await.map_err(|_| Error::TaskGone)?
    }

    /// Redeems a socket ticket on the writer thread, committed with the redemptions waiting
    /// beside it; returns after the commit.
    pub(crate) async fn redeem_ticket(&self, hash: &[u8; 32], now: i64) -> Result<Redeemed> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Redeem(Redemption {
            hash: *hash,
            now,
            reply,
        }))?;
        answer.await.map_err(|_| Error::TaskGone)?
    }

    fn submit(&self, job: Job) -> Result<()> {
        let jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        let sender = jobs.as_ref().ok_or(Error::Unavailable)?;
        sender.send(job).map_err(|_| Error::Unavailable)
    }

    /// Stops taking batches, lets the thread finish the ones it has, and waits for it.
    pub(crate) async fn close(&self) {
        drop(self.jobs.lock().unwrap_or_else(|p| p.into_inner()).take());
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(thread) = thread {
            // The thread ends once its queue is empty; a panic there has already been reported.
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

/// Rebuilds the hot queue from the relay log: envelopes not settled yet, minus the copies the
/// log records as acknowledged and those of devices revoked since. Returns it with the next
/// free copy sequence number and log row id.
fn replay(conn: &Connection, mut hot: HotQueue) -> Result<(HotQueue, i64, i64)> {
    // Every settled copy's seq is at most the deliveries table's high-water mark.
    let mut last_seq: i64 = conn
        .query_row(
            "SELECT seq FROM sqlite_sequence WHERE name = 'deliveries'",
            [],
            |row| row.get(0),
        )
        .optional()?
        .unwrap_or(0);
    let mut last_row = 0;
    let mut spent = conn.prepare_cached(SPENT)?;
    let mut rows = conn.prepare("SELECT id, data FROM relay_log ORDER BY id")?;
    let mut rows = rows.query([])?;
    let now = Instant::now();
    while let Some(row) = rows.next()? {
        let id: i64 = row.get(0)?;
        let data: Vec<u8> = row.get(1)?;
        let mut unsettled = 0;
        for record in relay_log::decode(&data)? {
            match record {
                Record::Envelope(envelope) => {
                    for (_, seq) in &envelope.copies {
                        last_seq = last_seq.max(*seq);
                    }
                    let message = envelope.message.as_bytes().as_slice();
                    if spent.query_row([message], |_| Ok(())).optional()?.is_some() {
                        // Settled after this row was written; its copies are in `deliveries`.
                        continue;
                    }
                    hot.insert(envelope, id, true);
                    unsettled += 1;
                }
                Record::Ack { device, seqs } => {
                    for seq in seqs {
                        hot.ack(&device, seq);
                    }
                }
            }
        }
        hot.add_row(id, unsettled, now);
        last_row = id;
    }
    let mut active = conn.prepare("SELECT id FROM devices WHERE state = 'active'")?;
    let active = active
        .query_map([], |row| row.get::<_, Vec<u8>>(0))?
        .map(|id| Ok(DeviceId::from_bytes(fixed(id?, "device id")?)))
        .collect::<Result<HashSet<_>>>()?;
    hot.retain_devices(&active);
    // Conversations declined since: their copies go, as at the decline.
    let mut declined = conn.prepare(
        "SELECT d.id, m.conversation FROM members m JOIN devices d \
         ON d.user_id = m.user_id AND d.state = 'active' WHERE m.status = 'declined'",
    )?;
    let mut rows = declined.query([])?;
    while let Some(row) = rows.next()? {
        let device = DeviceId::from_bytes(fixed(row.get(0)?, "device id")?);
        let conversation = ConversationId::from_bytes(fixed(row.get(1)?, "conversation id")?);
        hot.forget_conversation(&device, &conversation);
    }
    drop(rows);
    Ok((hot, last_seq.saturating_add(1), last_row.saturating_add(1)))
}

/// What the writer thread keeps between batches.
struct WriterState {
    cache: Cache,
    hot: SharedHot,
    settles: Arc<SettleCounts>,
    /// The next copy sequence number (one counter for hot and settled copies, so a device's
    /// queue reads in the order it was written).
    next_seq: i64,
    /// The id of the next relay log row.
    next_row: i64,
    /// Whether this process owns the queue.
    queue_lock: QueueLock,
    settle_at: usize,
}

/// Makes sure this process owns the relay queue before it writes: if the lock was taken only
/// now, another process may have written since our start, so the log is read again.
fn own_the_queue(conn: &Connection, state: &mut WriterState) -> Result<()> {
    if state.queue_lock.is_held() {
        return Ok(());
    }
    if !state.queue_lock.try_take()? {
        tracing::error!("another process writes envelopes to this database; refusing to write");
        return Err(Error::Unavailable);
    }
    let (hot, next_seq, next_row) = load(conn, state.settle_at, true)?;
    *lock(&state.hot) = hot;
    state.next_seq = next_seq;
    state.next_row = next_row;
    state.cache.forget();
    Ok(())
}

/// The hot queue read back from the relay log; the queue's `owner` also learns which devices
/// have settled copies, before its first transaction: only the owner's writer adds them, so
/// none is added meanwhile. (Another process's readers always read the table.)
fn load(conn: &Connection, settle_at: usize, owner: bool) -> Result<(HotQueue, i64, i64)> {
    let (mut hot, next_seq, next_row) = replay(conn, HotQueue::new(settle_at, SETTLE_BYTES))?;
    if owner {
        hot.know_settled(settled_devices(conn)?);
    }
    Ok((hot, next_seq, next_row))
}

/// The devices that have settled copies.
fn settled_devices(conn: &Connection) -> Result<HashSet<DeviceId>> {
    let mut select = conn.prepare(SETTLED_DEVICES)?;
    let mut rows = select.query([])?;
    let mut devices = HashSet::new();
    while let Some(row) = rows.next()? {
        devices.insert(DeviceId::from_bytes(fixed(row.get(0)?, "device id")?));
    }
    Ok(devices)
}

/// Takes jobs in order until every sender is gone. Ticket redemptions queued one after another
/// are committed together (up to [`tickets::MAX_PER_COMMIT`]); a batch queued behind them
/// waits for that one commit.
fn run(mut conn: Connection, mut state: WriterState, jobs: mpsc::Receiver<Job>) {
    let mut next = None;
    loop {
        let job = match next.take() {
            Some(job) => job,
            None => match jobs.recv() {
                Ok(job) => job,
                Err(_) => return,
            },
        };
        match job {
            Job::Batch {
                mut ops,
                policy,
                reply,
            } => {
                let result = write_batch(&mut conn, &mut state, &mut ops, &policy);
                if result.is_err() {
                    state.cache.forget();
                }
                // The submitter may have gone away; the batch is committed (or not) regardless.
                let _ = reply.send(result);
            }
            Job::Redeem(first) => {
                let mut redemptions = vec![first];
                while redemptions.len() < tickets::MAX_PER_COMMIT {
                    match jobs.try_recv() {
                        Ok(Job::Redeem(more)) => redemptions.push(more),
                        Ok(other) => {
                            next = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                tickets::redeem(&mut conn, redemptions);
            }
        }
    }
}

/// What a batch staged before its commit, to apply to the hot queue after it.
#[derive(Default)]
struct Staged {
    /// Envelopes inserted (uncommitted) into the hot queue.
    inserted: Vec<MessageId>,
    /// Hot copies acknowledged: removed after the commit.
    acked: Vec<(DeviceId, i64)>,
    /// Whether the log row was written.
    row_written: bool,
    settle: Option<SettlePlan>,
}

/// One transaction: every envelope, then every acknowledgement (an ack can only name a copy
/// its device has seen, which an earlier batch committed), the batch's log row, and a settle
/// step when one is due. Any error rolls the whole batch back; the relay then retries its
/// operations one by one.
fn write_batch(
    conn: &mut Connection,
    state: &mut WriterState,
    ops: &mut [WriteOp],
    policy: &QueuePolicy,
) -> Result<Vec<WriteOutcome>> {
    own_the_queue(conn, state)?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Under the write lock the snapshot is the newest: if any other connection committed since
    // our last batch (a membership change, a revocation, a new device), forget what we knew.
    let version: i64 = tx
        .prepare_cached(DATA_VERSION)?
        .query_row([], |row| row.get(0))?;
    if state.cache.version != Some(version) || state.cache.routes.len() > MAX_ROUTES {
        state.cache.forget();
    }
    let mut staged = Staged::default();
    let row = state.next_row;
    let result = stage(&tx, state, ops, policy, &mut staged).and_then(|outcomes| {
        tx.commit()?;
        Ok(outcomes)
    });
    let mut hot = lock(&state.hot);
    hot.transaction_ended();
    match result {
        Ok(outcomes) => {
            hot.commit(&staged.inserted);
            for (device, seq) in &staged.acked {
                hot.ack(device, *seq);
            }
            if let Some(plan) = &staged.settle {
                hot.settled(plan);
            }
            drop(hot);
            if let Some(plan) = &staged.settle {
                let settled = u64::try_from(plan.envelopes.len()).unwrap_or(u64::MAX);
                state.settles.steps.fetch_add(1, Ordering::Relaxed);
                state
                    .settles
                    .envelopes
                    .fetch_add(settled, Ordering::Relaxed);
            }
            if staged.row_written {
                state.next_row = row.saturating_add(1);
            }
            // Our own commits do not change the version we see.
            state.cache.version = Some(version);
            Ok(outcomes)
        }
        Err(error) => {
            hot.roll_back(&staged.inserted, row);
            Err(error)
        }
    }
}

/// Everything of a batch up to its commit.
fn stage(
    tx: &Connection,
    state: &mut WriterState,
    ops: &mut [WriteOp],
    policy: &QueuePolicy,
    staged: &mut Staged,
) -> Result<Vec<WriteOutcome>> {
    // The thread owns its copy of the batch: bodies move into the hot queue. (The vectors of a
    // batch are sized once: a `collect` through a filter starts small and regrows.)
    let batch = ops.len();
    let mut envs: Vec<&mut NewEnvelope> = Vec::with_capacity(batch);
    envs.extend(ops.iter_mut().filter_map(|op| match op {
        WriteOp::Enqueue(env) => Some(env),
        WriteOp::Ack { .. } => None,
    }));
    let row = state.next_row;
    let mut data = Vec::new();
    let mut stored = enqueue(tx, state, &mut envs, policy, &mut data, staged)?.into_iter();
    let mut acks: Vec<(&DeviceId, &[MessageId])> = Vec::with_capacity(batch);
    acks.extend(ops.iter().filter_map(|op| match op {
        WriteOp::Ack { device, messages } => Some((device, messages.as_slice())),
        WriteOp::Enqueue(_) => None,
    }));
    let mut acked = ack(tx, state, &acks, &mut data, staged)?.into_iter();
    let envelopes = staged.inserted.len();
    if !data.is_empty() {
        tx.prepare_cached(INSERT_LOG)?.execute(params![row, data])?;
        lock(&state.hot).add_row(row, envelopes, Instant::now());
        staged.row_written = true;
    }
    let due = lock(&state.hot).settle_due(Instant::now());
    if due {
        let acking: HashSet<(DeviceId, i64)> = staged.acked.iter().copied().collect();
        let plan = lock(&state.hot).plan_settle(&acking);
        settle(tx, &mut state.cache, &plan)?;
        staged.settle = Some(plan);
    }
    let mut outcomes = Vec::with_capacity(batch);
    for op in ops.iter() {
        let outcome = match op {
            WriteOp::Enqueue(_) => stored.next(),
            WriteOp::Ack { .. } => acked.next(),
        };
        outcomes.push(outcome.ok_or(Error::Corrupt {
            what: "batch outcome",
        })?);
    }
    Ok(outcomes)
}

/// Who may post to a conversation, which devices may get a copy, and where their owners stand.
#[derive(Default)]
struct Route {
    /// Members by user row.
    members: HashMap<i64, RouteMember>,
    /// Active devices of the members, with their owner.
    devices: Vec<(DeviceId, i64)>,
    /// (blocker, blocked) pairs among the members.
    blocks: HashSet<(i64, i64)>,
}

struct RouteMember {
    status: MemberStatus,
    /// Envelopes routed to them while a request (written through on every change).
    requests: i64,
}

/// What the writer read or wrote in earlier batches, valid while only the writer writes
/// (checked with `PRAGMA data_version` at the start of every batch). A batch that fails drops
/// it, since its transaction was rolled back.
#[derive(Default)]
struct Cache {
    /// `data_version` seen after the last committed batch.
    version: Option<i64>,
    /// Routes by conversation.
    routes: HashMap<ConversationId, Route>,
    /// Settled (`deliveries`) queue lengths of the devices in `routes`; the hot queue counts
    /// the rest.
    queued: HashMap<DeviceId, i64>,
    /// Copies per sender account in a long queue (both tiers), read when first needed and
    /// kept up to date as copies are added; dropped when the device acknowledges.
    senders: HashMap<DeviceId, HashMap<AccountId, i64>>,
    /// Undelivered records per (device, sender account), read when first needed.
    undelivered: HashMap<(DeviceId, AccountId), i64>,
}

impl Cache {
    fn forget(&mut self) {
        self.version = None;
        self.routes.clear();
        self.queued.clear();
        self.senders.clear();
        self.undelivered.clear();
    }
}

fn enqueue(
    conn: &Connection,
    state: &mut WriterState,
    envs: &mut [&mut NewEnvelope],
    policy: &QueuePolicy,
    data: &mut Vec<u8>,
    staged: &mut Staged,
) -> Result<Vec<WriteOutcome>> {
    let mut outcomes = Vec::with_capacity(envs.len());
    if envs.is_empty() {
        return Ok(outcomes);
    }
    let mut spent = conn.prepare_cached(SPENT)?;
    let row = state.next_row;
    let WriterState {
        cache,
        hot,
        next_seq,
        ..
    } = state;
    let Cache {
        routes,
        queued,
        senders,
        undelivered,
        ..
    } = cache;
    for env in envs {
        let route = match routes.entry(env.conversation) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(read_route(conn, &env.conversation, queued)?)
            }
        };
        if !route.members.contains_key(&env.sender_user.0) {
            outcomes.push(WriteOutcome::NotMember);
            continue;
        }
        let message = env.message.as_bytes().as_slice();
        // Hot ids (this batch's included) first: no statement for the common replay.
        if lock(hot).contains(&env.message)
            || spent.query_row([message], |_| Ok(())).optional()?.is_some()
        {
            let mut counts = Counts {
                queued,
                senders,
                undelivered,
                next_seq,
            };
            outcomes.push(retry(conn, hot, route, &mut counts, env, policy)?);
            continue;
        }
        let mut copies = Vec::new();
        let mut refused = Vec::new();
        let mut reached = Vec::new();
        {
            let hot = lock(hot);
            for (device, owner) in &route.devices {
                if *device == env.sender_device || env.to.is_some_and(|to| to != *device) {
                    continue;
                }
                let held = queued.get(device).copied().unwrap_or(0) + hot.live(device);
                let consent = consent_of(route, *owner, env.sender_user.0)?;
                let sender = &env.sender_account;
                let reason = refusal(policy, consent, held, || {
                    sender_held(conn, &hot, senders, device, sender)
                })?;
                match reason {
                    Some(reason) => refused.push((*device, reason)),
                    None => {
                        copies.push((*device, *next_seq));
                        *next_seq = next_seq.saturating_add(1);
                        count_copy(senders, device, sender);
                        if consent.status == MemberStatus::Request {
                            reached.push(*owner);
                        }
                    }
                }
            }
        }
        count_requests(conn, route, &env.conversation, reached)?;
        record_undelivered(conn, undelivered, env, &refused, policy)?;
        if policy.archives(env) {
            conn.prepare_cached(INSERT_ARCHIVE)?.execute(params![
                env.conversation.as_bytes().as_slice(),
                message,
                env.received_at,
                env.body.as_slice(),
            ])?;
        }
        let logged = LoggedEnvelope {
            message: env.message,
            conversation: env.conversation,
            sender_account: env.sender_account,
            sender_device: env.sender_device,
            received_at: env.received_at,
            copies,
            body: std::mem::take(&mut env.body),
        };
        relay_log::put_envelope(data, &logged)?;
        let recipients = logged.copies.clone();
        lock(hot).insert(logged, row, false);
        staged.inserted.push(env.message);
        outcomes.push(WriteOutcome::Stored {
            recipients,
            undelivered: refused,
        });
    }
    Ok(outcomes)
}

/// Reads a conversation's route: members with their status, their active devices (noting each
/// device's settled queue length), and the blocks among them.
fn read_route(
    conn: &Connection,
    conversation: &ConversationId,
    queued: &mut HashMap<DeviceId, i64>,
) -> Result<Route> {
    let mut route = Route::default();
    let id = conversation.as_bytes().as_slice();
    let mut members = conn.prepare_cached(MEMBERS)?;
    let mut rows = members.query(params![id])?;
    while let Some(row) = rows.next()? {
        let user: i64 = row.get(0)?;
        let status: String = row.get(1)?;
        route.members.insert(
            user,
            RouteMember {
                status: MemberStatus::parse(&status)?,
                requests: row.get(2)?,
            },
        );
        let device: Option<Vec<u8>> = row.get(3)?;
        if let Some(device) = device {
            let device = DeviceId::from_bytes(fixed(device, "device id")?);
            let count: i64 = row.get(4)?;
            queued.entry(device).or_insert(count);
            route.devices.push((device, user));
        }
    }
    let mut blocks = conn.prepare_cached(BLOCKS)?;
    let mut rows = blocks.query(params![id])?;
    while let Some(row) = rows.next()? {
        let pair: (i64, i64) = (row.get(0)?, row.get(1)?);
        if route.members.contains_key(&pair.1) {
            route.blocks.insert(pair);
        }
    }
    Ok(route)
}

/// Where `owner` stands towards an envelope `sender` posts to the route's conversation.
fn consent_of(route: &Route, owner: i64, sender: i64) -> Result<Consent> {
    let member = route.members.get(&owner).ok_or(Error::Corrupt {
        what: "conversation route",
    })?;
    Ok(Consent {
        status: member.status,
        requests: member.requests,
        blocks_sender: !route.blocks.is_empty() && route.blocks.contains(&(owner, sender)),
    })
}

/// The copies `sender` holds in `device`'s queue (both tiers), read once and then kept.
fn sender_held(
    conn: &Connection,
    hot: &HotQueue,
    senders: &mut HashMap<DeviceId, HashMap<AccountId, i64>>,
    device: &DeviceId,
    sender: &AccountId,
) -> Result<i64> {
    if let Some(counts) = senders.get(device) {
        return Ok(counts.get(sender).copied().unwrap_or(0));
    }
    let mut counts = hot.live_by_sender(device);
    let mut settled = conn.prepare_cached(SENDER_COUNTS)?;
    let mut rows = settled.query([device.as_bytes().as_slice()])?;
    while let Some(row) = rows.next()? {
        let account = AccountId::from_bytes(fixed(row.get(0)?, "account id")?);
        let n: i64 = row.get(1)?;
        *counts.entry(account).or_insert(0) += n;
    }
    let mine = counts.get(sender).copied().unwrap_or(0);
    senders.insert(*device, counts);
    Ok(mine)
}

/// Counts a new copy from `sender` in `device`'s queue, if that queue's counts are kept.
fn count_copy(
    senders: &mut HashMap<DeviceId, HashMap<AccountId, i64>>,
    device: &DeviceId,
    sender: &AccountId,
) {
    if let Some(counts) = senders.get_mut(device) {
        *counts.entry(*sender).or_insert(0) += 1;
    }
}

/// One more envelope routed to each member in `reached` (requests), in the route and the table.
fn count_requests(
    conn: &Connection,
    route: &mut Route,
    conversation: &ConversationId,
    mut reached: Vec<i64>,
) -> Result<()> {
    if reached.is_empty() {
        return Ok(());
    }
    reached.sort_unstable();
    reached.dedup();
    let mut update = conn.prepare_cached(COUNT_REQUEST)?;
    for user in reached {
        if let Some(member) = route.members.get_mut(&user) {
            member.requests = member.requests.saturating_add(1);
        }
        update.execute(params![conversation.as_bytes().as_slice(), user])?;
    }
    Ok(())
}

/// Writes the record of `env`'s copy refused for `device` (or updates its reason); returns the
/// rows written.
fn put_undelivered(
    put: &mut rusqlite::CachedStatement<'_>,
    env: &NewEnvelope,
    device: &DeviceId,
    reason: UndeliveredReason,
    body_hash: &[u8],
) -> rusqlite::Result<usize> {
    put.execute(params![
        env.message.as_bytes().as_slice(),
        device.as_bytes().as_slice(),
        reason.as_str(),
        env.sender_device.as_bytes().as_slice(),
        env.sender_account.as_bytes().as_slice(),
        body_hash,
        env.received_at,
    ])
}

/// Records the copies of `env` refused now, so that the sender device's retry can deliver
/// them; at most `max_queue_per_sender` records per (device, sender account), beyond which a
/// refusal is answered but not kept.
fn record_undelivered(
    conn: &Connection,
    counts: &mut HashMap<(DeviceId, AccountId), i64>,
    env: &NewEnvelope,
    refused: &[(DeviceId, UndeliveredReason)],
    policy: &QueuePolicy,
) -> Result<()> {
    if refused.is_empty() {
        return Ok(());
    }
    let hash = sotto_proto::crypto::sha256(&env.body);
    let mut count = conn.prepare_cached(UNDELIVERED_COUNT)?;
    let mut put = conn.prepare_cached(UNDELIVERED_PUT)?;
    for (device, reason) in refused {
        let key = (*device, env.sender_account);
        let held = match counts.get(&key) {
            Some(n) => *n,
            None => {
                let n: i64 = count.query_row(
                    params![
                        device.as_bytes().as_slice(),
                        env.sender_account.as_bytes().as_slice()
                    ],
                    |row| row.get(0),
                )?;
                counts.insert(key, n);
                n
            }
        };
        if held >= policy.max_queue_per_sender {
            continue;
        }
        let added = put_undelivered(&mut put, env, device, *reason, &hash)?;
        if added > 0 {
            counts.insert(key, held.saturating_add(1));
        }
    }
    Ok(())
}

/// The writer's counters a retry updates.
struct Counts<'a> {
    queued: &'a mut HashMap<DeviceId, i64>,
    senders: &'a mut HashMap<DeviceId, HashMap<AccountId, i64>>,
    undelivered: &'a mut HashMap<(DeviceId, AccountId), i64>,
    next_seq: &'a mut i64,
}

/// A message id seen before: if its sender device posts the same bytes again and copies of it
/// are recorded as undelivered (and not expired), each recorded device that is still a member
/// device and takes it now gets a copy (settled at once, with its own body); the others stay
/// recorded with their current reason. Without such records it is a duplicate.
fn retry(
    conn: &Connection,
    hot: &SharedHot,
    route: &mut Route,
    counts: &mut Counts<'_>,
    env: &NewEnvelope,
    policy: &QueuePolicy,
) -> Result<WriteOutcome> {
    let message = env.message.as_bytes().as_slice();
    let since = env.received_at.saturating_sub(policy.undelivered_ttl_ms);
    let mut records: Vec<(DeviceId, Vec<u8>)> = Vec::new();
    {
        let mut select = conn.prepare_cached(UNDELIVERED_FOR)?;
        let mut rows = select.query(params![
            message,
            env.sender_device.as_bytes().as_slice(),
            since
        ])?;
        while let Some(row) = rows.next()? {
            let device = DeviceId::from_bytes(fixed(row.get(0)?, "device id")?);
            records.push((device, row.get(1)?));
        }
    }
    let hash = sotto_proto::crypto::sha256(&env.body);
    if records.is_empty() || records.iter().any(|(_, h)| h.as_slice() != hash.as_slice()) {
        return Ok(WriteOutcome::Duplicate);
    }
    let mut delete = conn.prepare_cached(UNDELIVERED_DELETE)?;
    let mut put = conn.prepare_cached(UNDELIVERED_PUT)?;
    let mut recipients = Vec::new();
    let mut refused = Vec::new();
    let mut reached = Vec::new();
    for (device, _) in records {
        let owner = route
            .devices
            .iter()
            .find(|(d, _)| *d == device)
            .map(|(_, owner)| *owner);
        // No longer an active member device: nothing to deliver, nothing to keep.
        let Some(owner) = owner.filter(|_| device != env.sender_device) else {
            delete.execute(params![message, device.as_bytes().as_slice()])?;
            continue;
        };
        let consent = consent_of(route, owner, env.sender_user.0)?;
        let reason = {
            let hot = lock(hot);
            let held = counts.queued.get(&device).copied().unwrap_or(0) + hot.live(&device);
            refusal(policy, consent, held, || {
                sender_held(conn, &hot, counts.senders, &device, &env.sender_account)
            })?
        };
        if let Some(reason) = reason {
            put_undelivered(&mut put, env, &device, reason, &hash)?;
            refused.push((device, reason));
            continue;
        }
        let seq = *counts.next_seq;
        *counts.next_seq = seq.saturating_add(1);
        lock(hot).settling(&device);
        conn.prepare_cached(RETRY_MESSAGE)?.execute(params![
            message,
            env.conversation.as_bytes().as_slice(),
            env.sender_account.as_bytes().as_slice(),
            env.sender_device.as_bytes().as_slice(),
            env.received_at,
        ])?;
        conn.prepare_cached(INSERT_DELIVERY)?.execute(params![
            seq,
            device.as_bytes().as_slice(),
            message,
            env.body.as_slice()
        ])?;
        delete.execute(params![message, device.as_bytes().as_slice()])?;
        if let Some(n) = counts.undelivered.get_mut(&(device, env.sender_account)) {
            *n = (*n - 1).max(0);
        }
        if let Some(n) = counts.queued.get_mut(&device) {
            *n += 1;
        }
        count_copy(counts.senders, &device, &env.sender_account);
        if consent.status == MemberStatus::Request {
            reached.push(owner);
        }
        recipients.push((device, seq));
    }
    count_requests(conn, route, &env.conversation, reached)?;
    let mut bump = HashMap::new();
    for (device, _) in &recipients {
        bump.insert(*device, 1);
    }
    bump_queued(conn, bump)?;
    if recipients.is_empty() && refused.is_empty() {
        return Ok(WriteOutcome::Duplicate);
    }
    Ok(WriteOutcome::Stored {
        recipients,
        undelivered: refused,
    })
}

fn ack(
    conn: &Connection,
    state: &mut WriterState,
    acks: &[(&DeviceId, &[MessageId])],
    data: &mut Vec<u8>,
    staged: &mut Staged,
) -> Result<Vec<WriteOutcome>> {
    let mut outcomes = Vec::with_capacity(acks.len());
    if acks.is_empty() {
        return Ok(outcomes);
    }
    let mut delete = conn.prepare_cached(DELETE_DELIVERY)?;
    let mut per_message: HashMap<MessageId, i64> = HashMap::new();
    let mut per_device: HashMap<DeviceId, i64> = HashMap::new();
    let mut taken: HashSet<(DeviceId, i64)> = HashSet::new();
    for (device, messages) in acks {
        let mut count = 0u64;
        let mut hot_seqs = Vec::new();
        for message in messages.iter() {
            // A copy listed twice is deleted (and counted) once.
            let hot_copy = lock(&state.hot).copy_of(device, message);
            if let Some(seq) = hot_copy {
                if taken.insert((**device, seq)) {
                    hot_seqs.push(seq);
                    count += 1;
                }
                continue;
            }
            let deleted: Option<bool> = delete
                .query_row(
                    params![device.as_bytes().as_slice(), message.as_bytes().as_slice()],
                    |row| row.get(0),
                )
                .optional()?;
            if let Some(shared) = deleted {
                count += 1;
                if shared {
                    *per_message.entry(*message).or_insert(0) += 1;
                }
                *per_device.entry(**device).or_insert(0) -= 1;
            }
        }
        if !hot_seqs.is_empty() {
            relay_log::put_ack(data, device, &hot_seqs)?;
            staged
                .acked
                .extend(hot_seqs.into_iter().map(|seq| (**device, seq)));
        }
        outcomes.push(WriteOutcome::Acked(count));
    }
    let mut count_down = conn.prepare_cached(COUNT_DOWN)?;
    for (message, n) in per_message {
        count_down.execute(params![message.as_bytes().as_slice(), n])?;
    }
    for (device, _) in acks {
        // Recounted when next needed.
        state.cache.senders.remove(*device);
    }
    for (device, delta) in &per_device {
        if let Some(count) = state.cache.queued.get_mut(device) {
            // The same floor as the statement.
            *count = (*count + delta).max(0);
        }
    }
    bump_queued(conn, per_device)?;
    Ok(outcomes)
}

/// One settle step: the plan's ids go to `spent` (sorted, so the index takes them in order),
/// envelopes with copies still queued for active devices get their `messages` and `deliveries`
/// rows, and the wholly settled prefix of the log is deleted.
fn settle(conn: &Connection, cache: &mut Cache, plan: &SettlePlan) -> Result<()> {
    let mut insert_spent = conn.prepare_cached(INSERT_SPENT)?;
    let mut insert_message = conn.prepare_cached(INSERT_MESSAGE)?;
    let mut insert_delivery = conn.prepare_cached(INSERT_DELIVERY)?;
    let mut device_active = conn.prepare_cached(DEVICE_ACTIVE)?;
    let mut active: HashMap<DeviceId, bool> = HashMap::new();
    let mut added: HashMap<DeviceId, i64> = HashMap::new();
    for (envelope, live) in &plan.envelopes {
        let mut copies = Vec::with_capacity(live.len());
        for (device, seq) in live {
            let is_active = match active.get(device) {
                Some(known) => *known,
                None => {
                    let found = device_active
                        .query_row([device.as_bytes().as_slice()], |_| Ok(()))
                        .optional()?
                        .is_some();
                    active.insert(*device, found);
                    found
                }
            };
            if is_active {
                copies.push((*device, *seq));
            }
        }
        let message = envelope.message.as_bytes().as_slice();
        insert_spent.execute([message])?;
        if copies.is_empty() {
            // Delivered while hot (the common case): the spent id is all that remains.
            continue;
        }
        // Shared: the message row holds the body and counts the copies that refer to it.
        let shared = copies.len() > 1;
        let count = if shared {
            i64::try_from(copies.len()).unwrap_or(i64::MAX)
        } else {
            0
        };
        insert_message.execute(params![
            message,
            envelope.conversation.as_bytes().as_slice(),
            envelope.sender_account.as_bytes().as_slice(),
            envelope.sender_device.as_bytes().as_slice(),
            envelope.received_at,
            shared.then_some(envelope.body.as_slice()),
            count,
        ])?;
        let inline = (!shared).then_some(envelope.body.as_slice());
        for (device, seq) in &copies {
            insert_delivery.execute(params![seq, device.as_bytes().as_slice(), message, inline])?;
            *added.entry(*device).or_insert(0) += 1;
        }
    }
    if let Some(through) = plan.delete_through {
        conn.prepare_cached(DELETE_LOG)?.execute([through])?;
    }
    for (device, n) in &added {
        if let Some(count) = cache.queued.get_mut(device) {
            *count += n;
        }
    }
    bump_queued(conn, added)
}

/// Adds each delta to its device's queue counter (never below zero).
fn bump_queued(conn: &Connection, deltas: HashMap<DeviceId, i64>) -> Result<()> {
    if deltas.is_empty() {
        return Ok(());
    }
    let mut bump = conn.prepare_cached(BUMP_QUEUED)?;
    for (device, delta) in deltas {
        bump.execute(params![device.as_bytes().as_slice(), delta])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use sotto_proto::ids::AccountId;

    use crate::store::sqlite::queue_tests::{accepted, conversation, device};
    use crate::store::sqlite::SqliteStore;
    use crate::store::{ChangeRecord, Store, UserId};

    use super::*;

    fn send(m: u8, conv: ConversationId, user: UserId, dev: DeviceId) -> WriteOp {
        WriteOp::Enqueue(NewEnvelope {
            message: MessageId::from_bytes([m; 16]),
            conversation: conv,
            sender_user: user,
            sender_account: AccountId::from_bytes([7; 32]),
            sender_device: dev,
            received_at: 5,
            to: None,
            body: vec![m; 10],
        })
    }

    fn recipients(outcome: &WriteOutcome) -> Vec<DeviceId> {
        match outcome {
            WriteOutcome::Stored { recipients, .. } => recipients.iter().map(|r| r.0).collect(),
            other => panic!("not stored: {other:?}"),
        }
    }

    /// The writer remembers routes between batches; a change committed through the pool
    /// (membership, a new device, a revocation) must be seen by the very next batch.
    #[tokio::test]
    async fn routes_follow_changes_made_by_other_connections() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("t.db")).await.unwrap();
        let alice = store.create_user("alice", "h", 1).await.unwrap();
        let bob = store.create_user("bob", "h", 1).await.unwrap();
        let carol = store.create_user("carol", "h", 1).await.unwrap();
        let (a1, b1, b2, c1) = (
            device(1, alice),
            device(2, bob),
            device(3, bob),
            device(4, carol),
        );
        for d in [&a1, &b1, &c1] {
            store.activate_device(d).await.unwrap();
        }
        let conv = conversation(&store, a1.device, &[alice, bob]).await;

        let out = store
            .write_batch(&[send(1, conv, alice, a1.device)], 10)
            .await
            .unwrap();
        assert_eq!(recipients(&out[0]), vec![b1.device]);
        let out = store
            .write_batch(&[send(2, conv, carol, c1.device)], 10)
            .await
            .unwrap();
        assert_eq!(out[0], WriteOutcome::NotMember);

        // Carol joins and bob adds a device, both through the pool.
        let next = ChangeRecord {
            epoch: 1,
            change: b"carol joins".to_vec(),
            author: a1.device,
            created_at: 1,
        };
        store
            .append_change(&conv, &next, &accepted(&[alice, bob, carol]), None)
            .await
            .unwrap();
        store.activate_device(&b2).await.unwrap();
        let out = store
            .write_batch(&[send(3, conv, carol, c1.device)], 10)
            .await
            .unwrap();
        let mut got = recipients(&out[0]);
        got.sort_by_key(|d| *d.as_bytes());
        assert_eq!(got, vec![a1.device, b1.device, b2.device]);

        // A revoked device gets nothing more.
        store.revoke_device(bob, &b1.device, 1, b"r").await.unwrap();
        let out = store
            .write_batch(&[send(4, conv, alice, a1.device)], 10)
            .await
            .unwrap();
        let mut got = recipients(&out[0]);
        got.sort_by_key(|d| *d.as_bytes());
        assert_eq!(got, vec![b2.device, c1.device]);

        // The queue cap counts what earlier batches added: b2 holds 2 copies (3 and 4).
        let out = store
            .write_batch(&[send(5, conv, alice, a1.device)], 2)
            .await
            .unwrap();
        assert!(matches!(&out[0], WriteOutcome::Stored { undelivered, .. }
            if undelivered == &vec![(b2.device, UndeliveredReason::QueueFull)]));
        store.close().await;
    }
}
