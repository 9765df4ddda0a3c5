//! Group commit in bulk: a batch is written with a handful of multi-row statements instead of
//! several statements per envelope or acknowledgement, generated per database by [`sql_bulk!`].
//!
//! For the envelopes of a batch: one query reads the members and active devices of every
//! conversation involved (membership check and routing at once), one finds message ids already
//! spent; the decisions (not a member, duplicate — also within the batch —, recipients, full
//! queues with running counts) are made in Rust; then the messages, the deliveries and the
//! queue counters are written with multi-row statements. For the acknowledgements of a batch:
//! one `DELETE` of every (device, message) pair, one statement counting down the copies
//! of each message and dropping the bodies nobody waits for any more, one update of the queue counters. Placeholders are generated, every
//! value is bound.
//!
//! The statement count per batch is therefore constant (about seven, plus one per thousand
//! rows), whatever the mix of envelopes and acknowledgements. Two backend-specific details,
//! supplied by the backend module: `POSITIONAL` (SQLite gets anonymous `?` placeholders, whose
//! cost is linear in their number, where `$N` ones make SQLite's parser and sqlx's binder scan
//! the list of names for every parameter) and `assigned_seqs` (SQLite assigns the sequence
//! numbers of a multi-row insert consecutively under its write lock, so they are computed from
//! the last rowid instead of being returned row by row; PostgreSQL returns them).

/// Rows per multi-row statement (well under SQLite's 32,766 and PostgreSQL's 65,535 parameters).
pub(crate) const CHUNK: usize = 1000;

/// Generates `enqueue_many` and `ack_many` for database `$db` (needs `Tx`, `POSITIONAL` and
/// `assigned_seqs` in scope).
macro_rules! sql_bulk {
    ($db:ty) => {
        /// `n` placeholders from number `first`, comma-separated, in this backend's style.
        fn params(first: usize, n: usize) -> String {
            let mut out = String::with_capacity(n * 6);
            for i in first..first + n {
                if i > first {
                    out.push_str(", ");
                }
                if POSITIONAL {
                    out.push('?');
                } else {
                    out.push('$');
                    out.push_str(&i.to_string());
                }
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
        async fn bump_queued(tx: &mut Tx<'_>, deltas: &[(DeviceId, i64)]) -> Result<()> {
            for chunk in deltas.chunks(crate::store::sql_bulk::CHUNK) {
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
            tx: &mut Tx<'_>,
            envs: &[&crate::store::NewEnvelope],
            queue_cap: i64,
        ) -> Result<Vec<WriteOutcome>> {
            use std::collections::{HashMap, HashSet};
            use crate::store::sql_bulk::CHUNK;

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
                    let conv = ConversationId::from_bytes(fixed(row.try_get("conversation")?, "conversation id")?);
                    members.entry(conv).or_default().insert(row.try_get("user_id")?);
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
                let sql = format!("SELECT id FROM messages WHERE id IN ({})", params(1, chunk.len()));
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                for id in chunk {
                    query = query.bind(id.as_bytes().as_slice());
                }
                for row in query.fetch_all(&mut **tx).await? {
                    seen.insert(MessageId::from_bytes(fixed(row.try_get("id")?, "message id")?));
                }
            }

            // Decide, in submission order.
            let mut outcomes = Vec::with_capacity(envs.len());
            let mut accepted: Vec<(&crate::store::NewEnvelope, i64)> = Vec::new();
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
                for device in devices.get(&env.conversation).map(Vec::as_slice).unwrap_or(&[]) {
                    if *device == env.sender_device || env.to.is_some_and(|to| to != *device) {
                        continue;
                    }
                    let now = queued.get(device).copied().unwrap_or(0) + added.get(device).copied().unwrap_or(0);
                    if now >= queue_cap {
                        full.push(*device);
                        continue;
                    }
                    *added.entry(*device).or_insert(0) += 1;
                    copies.push((*device, env.message));
                    count += 1;
                }
                accepted.push((env, count));
                outcomes.push(WriteOutcome::Stored { recipients: Vec::new(), full });
            }

            // Messages (a message nobody gets keeps only its id).
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
                        .bind((*copies > 0).then_some(env.body.as_slice()))
                        .bind(*copies);
                }
                query.execute(&mut **tx).await?;
            }

            // Deliveries, with their sequence numbers (in `copies` order).
            let mut seqs: Vec<i64> = Vec::with_capacity(copies.len());
            for chunk in copies.chunks(CHUNK) {
                let values = tuples(chunk.len(), 2);
                let mut sql = format!("INSERT INTO deliveries (device, message) VALUES {values}");
                if !assigned_seqs() {
                    sql.push_str(" RETURNING seq, device, message");
                }
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                for (device, message) in chunk {
                    query = query.bind(device.as_bytes().as_slice()).bind(message.as_bytes().as_slice());
                }
                if assigned_seqs() {
                    let last = last_rowid(&query.execute(&mut **tx).await?);
                    let first = last - (chunk.len() as i64) + 1;
                    seqs.extend(first..=last);
                } else {
                    let mut by_pair: HashMap<(DeviceId, MessageId), i64> = HashMap::with_capacity(chunk.len());
                    for row in query.fetch_all(&mut **tx).await? {
                        let device = DeviceId::from_bytes(fixed(row.try_get("device")?, "device id")?);
                        let message = MessageId::from_bytes(fixed(row.try_get("message")?, "message id")?);
                        by_pair.insert((device, message), row.try_get("seq")?);
                    }
                    for pair in chunk {
                        seqs.push(by_pair.get(pair).copied().ok_or(Error::Corrupt { what: "delivery" })?);
                    }
                }
            }
            let deltas: Vec<(DeviceId, i64)> = added.into_iter().collect();
            bump_queued(tx, &deltas).await?;

            // Fill in the recipients of each stored envelope, in delivery order.
            let mut per_message: HashMap<MessageId, Vec<(DeviceId, i64)>> = HashMap::new();
            for ((device, message), seq) in copies.iter().zip(seqs) {
                per_message.entry(*message).or_default().push((*device, seq));
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
            tx: &mut Tx<'_>,
            acks: &[(&DeviceId, &[MessageId])],
        ) -> Result<Vec<WriteOutcome>> {
            use std::collections::HashMap;
            use crate::store::sql_bulk::CHUNK;

            let mut owner: HashMap<(DeviceId, MessageId), usize> = HashMap::new();
            let mut pairs: Vec<(DeviceId, MessageId)> = Vec::new();
            for (i, (device, messages)) in acks.iter().enumerate() {
                for message in messages.iter() {
                    if let std::collections::hash_map::Entry::Vacant(e) = owner.entry((**device, *message)) {
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
                     RETURNING device, message",
                    tuples(chunk.len(), 2)
                );
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                for (device, message) in chunk {
                    query = query.bind(device.as_bytes().as_slice()).bind(message.as_bytes().as_slice());
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
                    deleted.push(message);
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
    };
}

pub(crate) use sql_bulk;
