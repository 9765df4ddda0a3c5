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
//! Placeholders are generated, every value is bound.
//!
//! The statement count per batch is therefore constant (about seven, plus one per thousand
//! rows), whatever the mix of envelopes and acknowledgements.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

use sotto_proto::ids::{ConversationId, DeviceId, MessageId};
use sqlx::{PgPool, Postgres, Row};

use crate::error::{Error, Result};
use crate::store::{fixed, NewEnvelope, WriteOp, WriteOutcome};

/// Rows per multi-row statement (well under PostgreSQL's 65,535 parameters).
const CHUNK: usize = 1000;

/// A transaction on the pool.
type PgTransaction = sqlx::Transaction<'static, Postgres>;

/// Writes a batch in one transaction; one outcome per op, in order.
pub(crate) async fn group_commit(
    pool: &PgPool,
    ops: &[WriteOp],
    queue_cap: i64,
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
    let mut tx = pool.begin().await?;
    let mut stored = if envs.is_empty() {
        Vec::new()
    } else {
        enqueue_many(&mut tx, &envs, queue_cap).await?
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

/// `n` numbered placeholders from `$first`, comma-separated.
fn params(first: usize, n: usize) -> String {
    let mut out = String::with_capacity(n * 6);
    for i in first..first + n {
        if i > first {
            out.push_str(", ");
        }
        out.push('$');
        out.push_str(&i.to_string());
    }
    out
}

/// `rows` tuples of `width` placeholders each.
fn tuples(rows: usize, width: usize) -> String {
    let mut out = String::with_capacity(rows * (width * 6 + 4));
    for r in 0..rows {
        if r > 0 {
            out.push_str(", ");
        }
        out.push('(');
        out.push_str(&params(1 + width * r, width));
        out.push(')');
    }
    out
}

/// Adds `delta` to the queue counter of each device (never below zero), one statement.
async fn bump_queued(tx: &mut PgTransaction, deltas: &[(DeviceId, i64)]) -> Result<()> {
    for chunk in deltas.chunks(CHUNK) {
        let sql = format!(
            "UPDATE devices SET queued = CASE WHEN queued + v.column2 > 0 \
             THEN queued + v.column2 ELSE 0 END \
             FROM (VALUES {}) AS v WHERE devices.id = v.column1",
            tuples(chunk.len(), 2)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (device, delta) in chunk {
            query = query.bind(device.as_bytes().as_slice()).bind(*delta);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Writes a run of envelopes; one outcome per envelope, in order.
async fn enqueue_many(
    tx: &mut PgTransaction,
    envs: &[&NewEnvelope],
    queue_cap: i64,
) -> Result<Vec<WriteOutcome>> {
    use CHUNK;

    // Members and active devices of every conversation in the run.
    let convs: Vec<ConversationId> = {
        let set: HashSet<ConversationId> = envs.iter().map(|e| e.conversation).collect();
        set.into_iter().collect()
    };
    let mut members: HashMap<ConversationId, HashSet<i64>> = HashMap::new();
    let mut devices: HashMap<ConversationId, Vec<DeviceId>> = HashMap::new();
    let mut queued: HashMap<DeviceId, i64> = HashMap::new();
    for chunk in convs.chunks(CHUNK) {
        let sql = format!(
            "SELECT m.conversation, m.user_id, d.id AS device, d.queued FROM members m \
             LEFT JOIN devices d ON d.user_id = m.user_id AND d.state = 'active' \
             WHERE m.conversation IN ({})",
            params(1, chunk.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for conv in chunk {
            query = query.bind(conv.as_bytes().as_slice());
        }
        for row in query.fetch_all(&mut **tx).await? {
            let conv =
                ConversationId::from_bytes(fixed(row.try_get("conversation")?, "conversation id")?);
            members
                .entry(conv)
                .or_default()
                .insert(row.try_get("user_id")?);
            let device: Option<Vec<u8>> = row.try_get("device")?;
            if let Some(device) = device {
                let device = DeviceId::from_bytes(fixed(device, "device id")?);
                devices.entry(conv).or_default().push(device);
                queued.insert(device, row.try_get("queued")?);
            }
        }
    }

    // Message ids already spent.
    let mut seen: HashSet<MessageId> = HashSet::new();
    let ids: Vec<MessageId> = envs.iter().map(|e| e.message).collect();
    for chunk in ids.chunks(CHUNK) {
        let sql = format!(
            "SELECT id FROM messages WHERE id IN ({})",
            params(1, chunk.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in chunk {
            query = query.bind(id.as_bytes().as_slice());
        }
        for row in query.fetch_all(&mut **tx).await? {
            seen.insert(MessageId::from_bytes(fixed(
                row.try_get("id")?,
                "message id",
            )?));
        }
    }

    // Decide, in submission order.
    let mut outcomes = Vec::with_capacity(envs.len());
    let mut accepted: Vec<(&NewEnvelope, i64)> = Vec::new();
    let mut copies: Vec<(DeviceId, MessageId)> = Vec::new();
    let mut added: HashMap<DeviceId, i64> = HashMap::new();
    for env in envs.iter().copied() {
        let is_member = members
            .get(&env.conversation)
            .is_some_and(|m| m.contains(&env.sender_user.0));
        if !is_member {
            outcomes.push(WriteOutcome::NotMember);
            continue;
        }
        if !seen.insert(env.message) {
            outcomes.push(WriteOutcome::Duplicate);
            continue;
        }
        let mut full = Vec::new();
        let mut count = 0;
        for device in devices
            .get(&env.conversation)
            .map(Vec::as_slice)
            .unwrap_or(&[])
        {
            if *device == env.sender_device || env.to.is_some_and(|to| to != *device) {
                continue;
            }
            let now =
                queued.get(device).copied().unwrap_or(0) + added.get(device).copied().unwrap_or(0);
            if now >= queue_cap {
                full.push(*device);
                continue;
            }
            *added.entry(*device).or_insert(0) += 1;
            copies.push((*device, env.message));
            count += 1;
        }
        accepted.push((env, count));
        outcomes.push(WriteOutcome::Stored {
            recipients: Vec::new(),
            full,
        });
    }

    // Messages: every accepted id gets its row (it refuses replays); the row holds the
    // body only when several copies share it, a single copy carries it in its delivery.
    for chunk in accepted.chunks(CHUNK) {
        let sql = format!(
            "INSERT INTO messages (id, conversation, sender_account, sender_device, \
             received_at, body, copies) VALUES {}",
            tuples(chunk.len(), 7)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (env, copies) in chunk {
            query = query
                .bind(env.message.as_bytes().as_slice())
                .bind(env.conversation.as_bytes().as_slice())
                .bind(env.sender_account.as_bytes().as_slice())
                .bind(env.sender_device.as_bytes().as_slice())
                .bind(env.received_at)
                .bind((*copies > 1).then_some(env.body.as_slice()))
                .bind(if *copies > 1 { *copies } else { 0 });
        }
        query.execute(&mut **tx).await?;
    }

    // Deliveries, with their sequence numbers (in `copies` order); a single copy
    // carries the body.
    let single: HashMap<MessageId, &[u8]> = accepted
        .iter()
        .filter(|(_, copies)| *copies == 1)
        .map(|(env, _)| (env.message, env.body.as_slice()))
        .collect();
    let mut seqs: Vec<i64> = Vec::with_capacity(copies.len());
    for chunk in copies.chunks(CHUNK) {
        // Identity values of concurrent transactions interleave: each row's number is read
        // back rather than computed.
        let sql = format!(
            "INSERT INTO deliveries (device, message, body) VALUES {} \
             RETURNING seq, device, message",
            tuples(chunk.len(), 3)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (device, message) in chunk {
            query = query
                .bind(device.as_bytes().as_slice())
                .bind(message.as_bytes().as_slice())
                .bind(single.get(message).copied());
        }
        let mut by_pair: HashMap<(DeviceId, MessageId), i64> = HashMap::with_capacity(chunk.len());
        for row in query.fetch_all(&mut **tx).await? {
            let device = DeviceId::from_bytes(fixed(row.try_get("device")?, "device id")?);
            let message = MessageId::from_bytes(fixed(row.try_get("message")?, "message id")?);
            by_pair.insert((device, message), row.try_get("seq")?);
        }
        for pair in chunk {
            seqs.push(
                by_pair
                    .get(pair)
                    .copied()
                    .ok_or(Error::Corrupt { what: "delivery" })?,
            );
        }
    }
    let deltas: Vec<(DeviceId, i64)> = added.into_iter().collect();
    bump_queued(tx, &deltas).await?;

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
            *recipients = per_message.remove(&env.message).unwrap_or_default();
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
    use CHUNK;

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
    for chunk in pairs.chunks(CHUNK) {
        let sql = format!(
            "DELETE FROM deliveries WHERE (device, message) IN (VALUES {}) \
             RETURNING device, message, body IS NULL AS shared",
            tuples(chunk.len(), 2)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (device, message) in chunk {
            query = query
                .bind(device.as_bytes().as_slice())
                .bind(message.as_bytes().as_slice());
        }
        for row in query.fetch_all(&mut **tx).await? {
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
    for chunk in per_message.chunks(CHUNK) {
        let sql = format!(
            "UPDATE messages SET \
             copies = CASE WHEN copies > v.column2 THEN copies - v.column2 ELSE 0 END, \
             body = CASE WHEN copies > v.column2 THEN body ELSE NULL END \
             FROM (VALUES {}) AS v WHERE messages.id = v.column1",
            tuples(chunk.len(), 2)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (message, n) in chunk {
            query = query.bind(message.as_bytes().as_slice()).bind(*n);
        }
        query.execute(&mut **tx).await?;
    }
    let deltas: Vec<(DeviceId, i64)> = per_device.into_iter().collect();
    bump_queued(tx, &deltas).await?;
    Ok(counts.into_iter().map(WriteOutcome::Acked).collect())
}
