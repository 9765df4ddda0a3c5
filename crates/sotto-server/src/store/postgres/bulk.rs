//! PostgreSQL's group commit in bulk: a batch is written with a handful of multi-row statements
//! instead of several statements per envelope or acknowledgement. (SQLite writes its batches on
//! a thread of its own with prepared single-row statements, see `sqlite/writer.rs`; each
//! statement there costs no round trip, so bulk SQL would not pay.)
//!
//! For the envelopes of a batch: one query reads the members and active devices of every
//! conversation involved (membership check and routing at once), one finds message ids already
//! spent; the decisions (not a member, duplicate — also within the batch —, recipients, full
//! queues with running counts) are made in Rust; then the messages, the deliveries and the
//! queue counters are written with multi-row statements. For the acknowledgements of a batch:
//! one `DELETE` of every (device, message) pair, one statement counting down the copies
//! of each shared message (a single copy carries its body in its delivery row and goes with
//! it) and dropping the bodies nobody waits for any more, one update of the queue counters.
//! Every value is bound.
//!
//! The statement count per batch is therefore constant (about seven), whatever the mix of
//! envelopes and acknowledgements and whatever the batch's size. Every statement has one fixed
//! text and takes its rows as array parameters (`= ANY($1)`, `UNNEST($1, $2, …)`): the
//! connection prepares each once and reuses it, where a text with one placeholder per value
//! would be a new statement, parsed and planned anew, at every batch size.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

use sotto_proto::ids::{AccountId, ConversationId, DeviceId, MessageId};
use sqlx::{PgPool, Postgres, Row};

use crate::error::{Error, Result};
use crate::store::policy::{needs_sender_count, refusal, Consent};
use crate::store::{
    fixed, MemberStatus, NewEnvelope, QueuePolicy, UndeliveredReason, WriteOp, WriteOutcome,
};

/// A transaction on the pool.
type PgTransaction = sqlx::Transaction<'static, Postgres>;

/// Opens a group commit's transaction, in the same round trip as its `BEGIN`: every plan made
/// inside it probes the relay's tables by key, once per row of the batch, never by reading a
/// whole table or index.
///
/// The statements below have fixed texts, so PostgreSQL may cache a generic plan for each after
/// its fifth run on a connection, planned for the tables as they are then. On a new database
/// that is a near-empty table, for which a sequential scan or a hash join over the whole table
/// is the cheapest plan; kept while the table grows (until the next `ANALYZE` invalidates it),
/// such a plan costs a batch time in proportion to the table (measured: 0.3 to 113 ms a batch
/// for the spent-id read within a minute). With these settings the planner's only choices are
/// index probes per row, which cost the same on an empty table as on a large one. They are the
/// plans PostgreSQL picks here anyway once the tables hold real traffic (D81). `SET LOCAL`
/// ends with the transaction; every statement of this file runs only inside one, so each
/// connection's cached plans for them are made under these settings.
pub(super) const BEGIN_GROUP_COMMIT: &str = "BEGIN; SET LOCAL enable_seqscan = off; \
     SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off; \
     SET LOCAL enable_material = off";

/// Writes a batch in one transaction; one outcome per op, in order.
pub(crate) async fn group_commit(
    pool: &PgPool,
    ops: &[WriteOp],
    policy: &QueuePolicy,
) -> Result<Vec<WriteOutcome>> {
    // Every envelope of the batch first, then every acknowledgement: two bulk runs whatever
    // the interleaving. (An ack can only name a copy its device has seen, which was committed
    // by an earlier batch.)
    let mut envs: Vec<&NewEnvelope> = Vec::new();
    let mut acks: Vec<(&DeviceId, &[MessageId])> = Vec::new();
    for op in ops {
        match op {
            WriteOp::Enqueue(env) => envs.push(env),
            WriteOp::Ack { device, messages } => acks.push((device, messages)),
        }
    }
    let mut tx = pool.begin_with(BEGIN_GROUP_COMMIT).await?;
    let mut stored = if envs.is_empty() {
        Vec::new()
    } else {
        let ack_devices: Vec<DeviceId> = acks.iter().map(|(device, _)| **device).collect();
        enqueue_many(&mut tx, &envs, policy, &ack_devices).await?
    }
    .into_iter();
    let mut acked = if acks.is_empty() {
        Vec::new()
    } else {
        ack_many(&mut tx, &acks).await?
    }
    .into_iter();
    tx.commit().await?;
    ops.iter()
        .map(|op| {
            match op {
                WriteOp::Enqueue(_) => stored.next(),
                WriteOp::Ack { .. } => acked.next(),
            }
            .ok_or(Error::Corrupt {
                what: "batch outcome",
            })
        })
        .collect()
}

/// The bytes of each id, as one `BYTEA[]` parameter.
fn byte_array<'a, const N: usize>(ids: impl Iterator<Item = &'a [u8; N]>) -> Vec<&'a [u8]> {
    ids.map(|id| id.as_slice()).collect()
}

/// Locks the device rows of `deltas` (sorted by device), in that order, until the transaction
/// ends.
///
/// A copy's queue position comes from one identity column shared by every node, drawn when its
/// row is inserted, not when it commits. Two nodes committing copies for one device at once
/// could otherwise make a lower position visible after a higher one, and a socket that had read
/// the higher one re-reads only above it: the lower copy would wait for its next connection.
/// Drawn under the device's row lock, a device's positions become visible in the order they
/// were drawn. Locking in one order (by id) keeps two batches with overlapping devices from
/// deadlocking.
async fn lock_queues(tx: &mut PgTransaction, deltas: &[(DeviceId, i64)]) -> Result<()> {
    if deltas.is_empty() {
        return Ok(());
    }
    sqlx::query("SELECT 1 FROM devices WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE")
        .bind(byte_array(
            deltas.iter().map(|(device, _)| device.as_bytes()),
        ))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Adds `delta` to the queue counter of each device (never below zero), one statement.
async fn bump_queued(tx: &mut PgTransaction, deltas: &[(DeviceId, i64)]) -> Result<()> {
    if deltas.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE devices SET queued = CASE WHEN queued + v.delta > 0 \
         THEN queued + v.delta ELSE 0 END \
         FROM UNNEST($1::BYTEA[], $2::BIGINT[]) AS v(id, delta) WHERE devices.id = v.id",
    )
    .bind(byte_array(
        deltas.iter().map(|(device, _)| device.as_bytes()),
    ))
    .bind(deltas.iter().map(|(_, delta)| *delta).collect::<Vec<i64>>())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A conversation's members and devices as the batch routes by them.
#[derive(Default)]
struct Route {
    /// Members by user row: status and envelopes routed to them while a request.
    members: HashMap<i64, (MemberStatus, i64)>,
    /// Active devices, with their owner.
    devices: Vec<(DeviceId, i64)>,
    /// (blocker, blocked) pairs among the members.
    blocks: HashSet<(i64, i64)>,
}

impl Route {
    fn consent(&self, owner: i64, sender: i64) -> Result<Consent> {
        let (status, requests) = self.members.get(&owner).copied().ok_or(Error::Corrupt {
            what: "conversation route",
        })?;
        Ok(Consent {
            status,
            requests,
            blocks_sender: self.blocks.contains(&(owner, sender)),
        })
    }
}

/// Members, statuses, active devices (with their queue lengths) and blocks of every
/// conversation in `convs`, in one round trip: a member row per active device (or one without a
/// device), then a row per block its members made (`blocked` set, the rest `NULL`).
async fn read_routes(
    tx: &mut PgTransaction,
    convs: &[ConversationId],
    queued: &mut HashMap<DeviceId, i64>,
) -> Result<HashMap<ConversationId, Route>> {
    let rows = sqlx::query(
        "SELECT m.conversation, m.user_id, m.status, m.request_envelopes, d.id AS device, \
         d.queued, NULL::BIGINT AS blocked FROM members m \
         LEFT JOIN devices d ON d.user_id = m.user_id AND d.state = 'active' \
         WHERE m.conversation = ANY($1) \
         UNION ALL \
         SELECT m.conversation, b.blocker, NULL, NULL, NULL, NULL, b.blocked FROM members m \
         JOIN blocks b ON b.blocker = m.user_id WHERE m.conversation = ANY($1)",
    )
    .bind(byte_array(convs.iter().map(ConversationId::as_bytes)))
    .fetch_all(&mut **tx)
    .await?;
    let mut routes: HashMap<ConversationId, Route> = HashMap::new();
    let mut blocks = Vec::new();
    for row in rows {
        let conv =
            ConversationId::from_bytes(fixed(row.try_get("conversation")?, "conversation id")?);
        let user: i64 = row.try_get("user_id")?;
        if let Some(blocked) = row.try_get::<Option<i64>, _>("blocked")? {
            // Applied once every member is known (the order of a UNION ALL's rows is not
            // guaranteed).
            blocks.push((conv, user, blocked));
            continue;
        }
        let route = routes.entry(conv).or_default();
        let status: String = row.try_get("status")?;
        route.members.insert(
            user,
            (
                MemberStatus::parse(&status)?,
                row.try_get("request_envelopes")?,
            ),
        );
        let device: Option<Vec<u8>> = row.try_get("device")?;
        if let Some(device) = device {
            let device = DeviceId::from_bytes(fixed(device, "device id")?);
            route.devices.push((device, user));
            queued.insert(device, row.try_get("queued")?);
        }
    }
    // Only a pair of members counts: a block of someone outside the conversation is not the
    // route's.
    for (conv, blocker, blocked) in blocks {
        if let Some(route) = routes.get_mut(&conv) {
            if route.members.contains_key(&blocked) {
                route.blocks.insert((blocker, blocked));
            }
        }
    }
    Ok(routes)
}

/// `device`'s queued copies per sender account (a long queue only).
async fn sender_counts(
    tx: &mut PgTransaction,
    device: &DeviceId,
) -> Result<HashMap<AccountId, i64>> {
    let rows = sqlx::query(
        "SELECT m.sender_account, COUNT(*) AS n FROM deliveries d \
         JOIN messages m ON m.id = d.message WHERE d.device = $1 GROUP BY m.sender_account",
    )
    .bind(device.as_bytes().as_slice())
    .fetch_all(&mut **tx)
    .await?;
    let mut counts = HashMap::new();
    for row in rows {
        let account = AccountId::from_bytes(fixed(row.try_get("sender_account")?, "account id")?);
        counts.insert(account, row.try_get::<i64, _>("n")?);
    }
    Ok(counts)
}

/// What the queue policy reads and counts while a batch is decided.
#[derive(Default)]
struct Tally {
    /// Queue lengths (stored plus added by the batch).
    queued: HashMap<DeviceId, i64>,
    /// Copies per sender in long queues (stored plus added by the batch).
    senders: HashMap<DeviceId, HashMap<AccountId, i64>>,
    /// Undelivered records per (device, sender account).
    undelivered: HashMap<(DeviceId, AccountId), i64>,
    /// Copies per sender the batch adds but has not written yet (a count read from the
    /// tables mid-batch misses them).
    unwritten: HashMap<DeviceId, HashMap<AccountId, i64>>,
}

impl Tally {
    /// Why `device` does not take a copy from `env`'s sender, or `None`.
    async fn refusal(
        &mut self,
        tx: &mut PgTransaction,
        policy: &QueuePolicy,
        consent: Consent,
        device: &DeviceId,
        env: &NewEnvelope,
    ) -> Result<Option<UndeliveredReason>> {
        let held = self.queued.get(device).copied().unwrap_or(0);
        if needs_sender_count(policy, held) && !self.senders.contains_key(device) {
            let mut counts = sender_counts(tx, device).await?;
            for (sender, n) in self.unwritten.get(device).into_iter().flatten() {
                *counts.entry(*sender).or_insert(0) += n;
            }
            self.senders.insert(*device, counts);
        }
        let senders = &self.senders;
        refusal(policy, consent, held, || {
            Ok(senders
                .get(device)
                .and_then(|c| c.get(&env.sender_account))
                .copied()
                .unwrap_or(0))
        })
    }

    /// Counts a copy for `device` from `sender` that the batch writes at its end.
    fn add(&mut self, device: &DeviceId, sender: &AccountId) {
        *self
            .unwritten
            .entry(*device)
            .or_default()
            .entry(*sender)
            .or_insert(0) += 1;
        self.add_written(device, sender);
    }

    /// Counts a copy for `device` from `sender` already written (a retry's).
    fn add_written(&mut self, device: &DeviceId, sender: &AccountId) {
        *self.queued.entry(*device).or_insert(0) += 1;
        if let Some(counts) = self.senders.get_mut(device) {
            *counts.entry(*sender).or_insert(0) += 1;
        }
    }
}

/// Records `env`'s refused copies for a retry, at most `max_queue_per_sender` per (device,
/// sender account).
async fn record_undelivered(
    tx: &mut PgTransaction,
    tally: &mut Tally,
    policy: &QueuePolicy,
    env: &NewEnvelope,
    refused: &[(DeviceId, UndeliveredReason)],
) -> Result<()> {
    if refused.is_empty() {
        return Ok(());
    }
    let hash = sotto_proto::crypto::sha256(&env.body);
    for (device, reason) in refused {
        let key = (*device, env.sender_account);
        let held = match tally.undelivered.get(&key) {
            Some(n) => *n,
            None => {
                let n: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM undelivered WHERE device = $1 AND sender_account = $2",
                )
                .bind(device.as_bytes().as_slice())
                .bind(env.sender_account.as_bytes().as_slice())
                .fetch_one(&mut **tx)
                .await?;
                n
            }
        };
        if held >= policy.max_queue_per_sender {
            tally.undelivered.insert(key, held);
            continue;
        }
        sqlx::query(
            "INSERT INTO undelivered \
             (message, device, reason, sender_device, sender_account, body_hash, at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (message, device) DO UPDATE SET reason = excluded.reason",
        )
        .bind(env.message.as_bytes().as_slice())
        .bind(device.as_bytes().as_slice())
        .bind(reason.as_str())
        .bind(env.sender_device.as_bytes().as_slice())
        .bind(env.sender_account.as_bytes().as_slice())
        .bind(hash.as_slice())
        .bind(env.received_at)
        .execute(&mut **tx)
        .await?;
        tally.undelivered.insert(key, held.saturating_add(1));
    }
    Ok(())
}

/// A stored message id posted again: the recorded undelivered copies (same sender device, same
/// bytes, not expired) go to the devices that are still member devices and take them now, each
/// with its own body; the rest stay recorded. Without records it is a duplicate.
async fn retry(
    tx: &mut PgTransaction,
    tally: &mut Tally,
    route: &mut Route,
    requests: &mut HashMap<(ConversationId, i64), i64>,
    policy: &QueuePolicy,
    env: &NewEnvelope,
) -> Result<WriteOutcome> {
    let message = env.message.as_bytes().as_slice();
    let rows = sqlx::query(
        "SELECT device, body_hash FROM undelivered \
         WHERE message = $1 AND sender_device = $2 AND at >= $3",
    )
    .bind(message)
    .bind(env.sender_device.as_bytes().as_slice())
    .bind(env.received_at.saturating_sub(policy.undelivered_ttl_ms))
    .fetch_all(&mut **tx)
    .await?;
    let hash = sotto_proto::crypto::sha256(&env.body);
    let mut records = Vec::with_capacity(rows.len());
    for row in rows {
        let stored: Vec<u8> = row.try_get("body_hash")?;
        if stored.as_slice() != hash.as_slice() {
            return Ok(WriteOutcome::Duplicate);
        }
        records.push(DeviceId::from_bytes(fixed(
            row.try_get("device")?,
            "device id",
        )?));
    }
    let mut recipients = Vec::new();
    let mut refused = Vec::new();
    for device in records {
        let owner = route
            .devices
            .iter()
            .find(|(d, _)| *d == device && device != env.sender_device)
            .map(|(_, owner)| *owner);
        let Some(owner) = owner else {
            forget_undelivered(tx, &env.message, &device).await?;
            continue;
        };
        let consent = route.consent(owner, env.sender_user.0)?;
        if let Some(reason) = tally.refusal(tx, policy, consent, &device, env).await? {
            sqlx::query("UPDATE undelivered SET reason = $1 WHERE message = $2 AND device = $3")
                .bind(reason.as_str())
                .bind(message)
                .bind(device.as_bytes().as_slice())
                .execute(&mut **tx)
                .await?;
            refused.push((device, reason));
            continue;
        }
        // The counter's row lock comes first, so this copy's position is drawn under it
        // (`lock_queues`).
        bump_queued(tx, &[(device, 1)]).await?;
        let seq: i64 = sqlx::query_scalar(
            "INSERT INTO deliveries (device, message, body) VALUES ($1, $2, $3) RETURNING seq",
        )
        .bind(device.as_bytes().as_slice())
        .bind(message)
        .bind(env.body.as_slice())
        .fetch_one(&mut **tx)
        .await?;
        forget_undelivered(tx, &env.message, &device).await?;
        if let Some(n) = tally.undelivered.get_mut(&(device, env.sender_account)) {
            *n = (*n - 1).max(0);
        }
        tally.add_written(&device, &env.sender_account);
        if consent.status == MemberStatus::Request {
            *requests.entry((env.conversation, owner)).or_insert(0) += 1;
            if let Some(member) = route.members.get_mut(&owner) {
                member.1 = member.1.saturating_add(1);
            }
        }
        recipients.push((device, seq));
    }
    if recipients.is_empty() && refused.is_empty() {
        return Ok(WriteOutcome::Duplicate);
    }
    Ok(WriteOutcome::Stored {
        recipients,
        undelivered: refused,
    })
}

async fn forget_undelivered(
    tx: &mut PgTransaction,
    message: &MessageId,
    device: &DeviceId,
) -> Result<()> {
    sqlx::query("DELETE FROM undelivered WHERE message = $1 AND device = $2")
        .bind(message.as_bytes().as_slice())
        .bind(device.as_bytes().as_slice())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Writes a run of envelopes; one outcome per envelope, in order. `also_lock` names the
/// devices whose queue counters the batch's acknowledgements change afterwards.
async fn enqueue_many(
    tx: &mut PgTransaction,
    envs: &[&NewEnvelope],
    policy: &QueuePolicy,
    also_lock: &[DeviceId],
) -> Result<Vec<WriteOutcome>> {
    // Members, statuses, active devices and blocks of every conversation in the run.
    let convs: Vec<ConversationId> = {
        let set: HashSet<ConversationId> = envs.iter().map(|e| e.conversation).collect();
        set.into_iter().collect()
    };
    let mut tally = Tally::default();
    let mut routes = read_routes(tx, &convs, &mut tally.queued).await?;

    // Message ids already stored (a retry, or a replay).
    let mut stored: HashSet<MessageId> = HashSet::new();
    let rows = sqlx::query("SELECT id FROM messages WHERE id = ANY($1)")
        .bind(byte_array(envs.iter().map(|e| e.message.as_bytes())))
        .fetch_all(&mut **tx)
        .await?;
    for row in rows {
        stored.insert(MessageId::from_bytes(fixed(
            row.try_get("id")?,
            "message id",
        )?));
    }

    // A retry locks and bumps its devices' counters as it goes, before the sorted pass below.
    // When the batch holds one, every device the batch may lock (its conversations' devices and
    // the acknowledging devices) is locked first, in one sorted pass: the later locks are then
    // ones this transaction already holds, and two nodes' batches cannot deadlock.
    if envs.iter().any(|env| stored.contains(&env.message)) {
        let mut every: Vec<(DeviceId, i64)> = routes
            .values()
            .flat_map(|route| route.devices.iter().map(|(device, _)| (*device, 0)))
            .chain(also_lock.iter().map(|device| (*device, 0)))
            .collect();
        every.sort_unstable();
        every.dedup();
        lock_queues(tx, &every).await?;
    }

    // Decide, in submission order.
    let mut seen: HashSet<MessageId> = HashSet::new();
    let mut outcomes = Vec::with_capacity(envs.len());
    let mut accepted: Vec<(&NewEnvelope, i64)> = Vec::new();
    let mut copies: Vec<(DeviceId, MessageId)> = Vec::new();
    let mut added: HashMap<DeviceId, i64> = HashMap::new();
    let mut requests: HashMap<(ConversationId, i64), i64> = HashMap::new();
    let mut refusals: Vec<(&NewEnvelope, Vec<(DeviceId, UndeliveredReason)>)> = Vec::new();
    for env in envs.iter().copied() {
        let Some(route) = routes
            .get_mut(&env.conversation)
            .filter(|r| r.members.contains_key(&env.sender_user.0))
        else {
            outcomes.push(WriteOutcome::NotMember);
            continue;
        };
        if stored.contains(&env.message) {
            if !seen.insert(env.message) {
                outcomes.push(WriteOutcome::Duplicate);
                continue;
            }
            outcomes.push(retry(tx, &mut tally, route, &mut requests, policy, env).await?);
            continue;
        }
        if !seen.insert(env.message) {
            outcomes.push(WriteOutcome::Duplicate);
            continue;
        }
        let mut refused = Vec::new();
        let mut reached = Vec::new();
        let mut count = 0;
        let targets: Vec<(DeviceId, i64)> = route
            .devices
            .iter()
            .filter(|(d, _)| *d != env.sender_device && env.to.is_none_or(|to| to == *d))
            .copied()
            .collect();
        for (device, owner) in targets {
            let consent = route.consent(owner, env.sender_user.0)?;
            if let Some(reason) = tally.refusal(tx, policy, consent, &device, env).await? {
                refused.push((device, reason));
                continue;
            }
            tally.add(&device, &env.sender_account);
            *added.entry(device).or_insert(0) += 1;
            copies.push((device, env.message));
            count += 1;
            if consent.status == MemberStatus::Request {
                reached.push(owner);
            }
        }
        reached.sort_unstable();
        reached.dedup();
        for owner in reached {
            *requests.entry((env.conversation, owner)).or_insert(0) += 1;
            if let Some(member) = route.members.get_mut(&owner) {
                member.1 = member.1.saturating_add(1);
            }
        }
        accepted.push((env, count));
        outcomes.push(WriteOutcome::Stored {
            recipients: Vec::new(),
            undelivered: refused.clone(),
        });
        if !refused.is_empty() {
            refusals.push((env, refused));
        }
    }
    for (env, refused) in &refusals {
        record_undelivered(tx, &mut tally, policy, env, refused).await?;
    }
    for ((conversation, user), n) in &requests {
        sqlx::query(
            "UPDATE members SET request_envelopes = request_envelopes + $1 \
             WHERE conversation = $2 AND user_id = $3",
        )
        .bind(*n)
        .bind(conversation.as_bytes().as_slice())
        .bind(*user)
        .execute(&mut **tx)
        .await?;
    }

    // Messages: every accepted id gets its row (it refuses replays); the row holds the
    // body only when several copies share it, a single copy carries it in its delivery.
    if !accepted.is_empty() {
        let shared = |copies: i64| copies > 1;
        sqlx::query(
            "INSERT INTO messages (id, conversation, sender_account, sender_device, \
             received_at, body, copies) \
             SELECT * FROM UNNEST($1::BYTEA[], $2::BYTEA[], $3::BYTEA[], $4::BYTEA[], \
             $5::BIGINT[], $6::BYTEA[], $7::BIGINT[])",
        )
        .bind(byte_array(
            accepted.iter().map(|(e, _)| e.message.as_bytes()),
        ))
        .bind(byte_array(
            accepted.iter().map(|(e, _)| e.conversation.as_bytes()),
        ))
        .bind(byte_array(
            accepted.iter().map(|(e, _)| e.sender_account.as_bytes()),
        ))
        .bind(byte_array(
            accepted.iter().map(|(e, _)| e.sender_device.as_bytes()),
        ))
        .bind(
            accepted
                .iter()
                .map(|(e, _)| e.received_at)
                .collect::<Vec<i64>>(),
        )
        .bind(
            accepted
                .iter()
                .map(|(e, copies)| shared(*copies).then_some(e.body.as_slice()))
                .collect::<Vec<Option<&[u8]>>>(),
        )
        .bind(
            accepted
                .iter()
                .map(|(_, copies)| if shared(*copies) { *copies } else { 0 })
                .collect::<Vec<i64>>(),
        )
        .execute(&mut **tx)
        .await?;
    }

    // The archive (history): one row per envelope for every member, in this same commit, in
    // submission order (the archive's sequence is the history's order).
    let archived: Vec<&NewEnvelope> = accepted
        .iter()
        .map(|(env, _)| *env)
        .filter(|env| policy.archives(env))
        .collect();
    if !archived.is_empty() {
        sqlx::query(
            "INSERT INTO archive (conversation, message, received_at, body) \
             SELECT v.conversation, v.message, v.received_at, v.body \
             FROM UNNEST($1::BYTEA[], $2::BYTEA[], $3::BIGINT[], $4::BYTEA[]) WITH ORDINALITY \
             AS v(conversation, message, received_at, body, n) ORDER BY v.n",
        )
        .bind(byte_array(
            archived.iter().map(|e| e.conversation.as_bytes()),
        ))
        .bind(byte_array(archived.iter().map(|e| e.message.as_bytes())))
        .bind(archived.iter().map(|e| e.received_at).collect::<Vec<i64>>())
        .bind(
            archived
                .iter()
                .map(|e| e.body.as_slice())
                .collect::<Vec<&[u8]>>(),
        )
        .execute(&mut **tx)
        .await?;
    }

    // Deliveries, with their sequence numbers (in `copies` order); a single copy
    // carries the body.
    let single: HashMap<MessageId, &[u8]> = accepted
        .iter()
        .filter(|(_, copies)| *copies == 1)
        .map(|(env, _)| (env.message, env.body.as_slice()))
        .collect();
    let mut deltas: Vec<(DeviceId, i64)> = added.into_iter().collect();
    deltas.sort_unstable();
    // The acknowledgements' devices are locked in this same sorted pass: a second pass for them
    // would let two nodes' batches take two devices' locks in opposite orders and deadlock.
    let mut locks = deltas.clone();
    locks.extend(also_lock.iter().map(|device| (*device, 0)));
    locks.sort_unstable();
    locks.dedup_by_key(|(device, _)| *device);
    lock_queues(tx, &locks).await?;
    bump_queued(tx, &deltas).await?;
    let mut seqs: Vec<i64> = Vec::with_capacity(copies.len());
    if !copies.is_empty() {
        // Identity values of concurrent transactions interleave: each row's number is read
        // back rather than computed. The rows go in in `copies` order, so a device's copies
        // are numbered in the order their envelopes were submitted.
        let rows = sqlx::query(
            "INSERT INTO deliveries (device, message, body) \
             SELECT v.device, v.message, v.body \
             FROM UNNEST($1::BYTEA[], $2::BYTEA[], $3::BYTEA[]) WITH ORDINALITY \
             AS v(device, message, body, n) ORDER BY v.n \
             RETURNING seq, device, message",
        )
        .bind(byte_array(
            copies.iter().map(|(device, _)| device.as_bytes()),
        ))
        .bind(byte_array(
            copies.iter().map(|(_, message)| message.as_bytes()),
        ))
        .bind(
            copies
                .iter()
                .map(|(_, message)| single.get(message).copied())
                .collect::<Vec<Option<&[u8]>>>(),
        )
        .fetch_all(&mut **tx)
        .await?;
        let mut by_pair: HashMap<(DeviceId, MessageId), i64> = HashMap::with_capacity(rows.len());
        for row in rows {
            let device = DeviceId::from_bytes(fixed(row.try_get("device")?, "device id")?);
            let message = MessageId::from_bytes(fixed(row.try_get("message")?, "message id")?);
            by_pair.insert((device, message), row.try_get("seq")?);
        }
        for pair in &copies {
            seqs.push(
                by_pair
                    .get(pair)
                    .copied()
                    .ok_or(Error::Corrupt { what: "delivery" })?,
            );
        }
    }

    // Fill in the recipients of each stored envelope, in delivery order.
    let mut per_message: HashMap<MessageId, Vec<(DeviceId, i64)>> = HashMap::new();
    for ((device, message), seq) in copies.iter().zip(seqs) {
        per_message
            .entry(*message)
            .or_default()
            .push((*device, seq));
    }
    for (outcome, env) in outcomes.iter_mut().zip(envs) {
        if let WriteOutcome::Stored { recipients, .. } = outcome {
            if recipients.is_empty() {
                *recipients = per_message.remove(&env.message).unwrap_or_default();
            }
        }
    }
    Ok(outcomes)
}

/// Applies a run of acknowledgements; one `Acked` per entry, in order. A copy listed
/// twice counts for the first entry that lists it.
async fn ack_many(
    tx: &mut PgTransaction,
    acks: &[(&DeviceId, &[MessageId])],
) -> Result<Vec<WriteOutcome>> {
    let mut owner: HashMap<(DeviceId, MessageId), usize> = HashMap::new();
    let mut pairs: Vec<(DeviceId, MessageId)> = Vec::new();
    for (i, (device, messages)) in acks.iter().enumerate() {
        for message in messages.iter() {
            if let Entry::Vacant(e) = owner.entry((**device, *message)) {
                e.insert(i);
                pairs.push((**device, *message));
            }
        }
    }
    let mut counts = vec![0u64; acks.len()];
    let mut per_device: HashMap<DeviceId, i64> = HashMap::new();
    let mut deleted: Vec<MessageId> = Vec::new();
    if !pairs.is_empty() {
        let rows = sqlx::query(
            "DELETE FROM deliveries d USING UNNEST($1::BYTEA[], $2::BYTEA[]) AS v(device, message) \
             WHERE d.device = v.device AND d.message = v.message \
             RETURNING d.device, d.message, d.body IS NULL AS shared",
        )
        .bind(byte_array(pairs.iter().map(|(device, _)| device.as_bytes())))
        .bind(byte_array(pairs.iter().map(|(_, message)| message.as_bytes())))
        .fetch_all(&mut **tx)
        .await?;
        for row in rows {
            let device = DeviceId::from_bytes(fixed(row.try_get("device")?, "device id")?);
            let message = MessageId::from_bytes(fixed(row.try_get("message")?, "message id")?);
            if let Some(i) = owner.get(&(device, message)) {
                if let Some(c) = counts.get_mut(*i) {
                    *c += 1;
                }
            }
            *per_device.entry(device).or_insert(0) -= 1;
            // A copy with its own body leaves the message row as it is.
            let shared: bool = row.try_get("shared")?;
            if shared {
                deleted.push(message);
            }
        }
    }
    // One copy fewer per deleted row; a body nobody waits for any more is dropped (the
    // id stays, to refuse replays).
    let mut per_message: HashMap<MessageId, i64> = HashMap::new();
    for message in deleted {
        *per_message.entry(message).or_insert(0) += 1;
    }
    let per_message: Vec<(MessageId, i64)> = per_message.into_iter().collect();
    if !per_message.is_empty() {
        sqlx::query(
            "UPDATE messages SET \
             copies = CASE WHEN copies > v.n THEN copies - v.n ELSE 0 END, \
             body = CASE WHEN copies > v.n THEN body ELSE NULL END \
             FROM UNNEST($1::BYTEA[], $2::BIGINT[]) AS v(id, n) WHERE messages.id = v.id",
        )
        .bind(byte_array(
            per_message.iter().map(|(message, _)| message.as_bytes()),
        ))
        .bind(per_message.iter().map(|(_, n)| *n).collect::<Vec<i64>>())
        .execute(&mut **tx)
        .await?;
    }
    // In the same order as every other batch takes these locks (`lock_queues`).
    let mut deltas: Vec<(DeviceId, i64)> = per_device.into_iter().collect();
    deltas.sort_unstable();
    lock_queues(tx, &deltas).await?;
    bump_queued(tx, &deltas).await?;
    Ok(counts.into_iter().map(WriteOutcome::Acked).collect())
}
