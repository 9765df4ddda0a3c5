//! Group commit in bulk: a run of envelopes is written with a handful of multi-row statements
//! instead of several statements per envelope, generated per database by [`sql_bulk!`].
//!
//! For a run of envelopes: one query reads the members and active devices of every conversation
//! involved (membership check and routing at once), one finds message ids already spent; the
//! decisions (not a member, duplicate — also within the run —, recipients, full queues with
//! running counts) are made in Rust; then the messages, the deliveries and the queue counters
//! are written with multi-row statements. Placeholders are generated, every value is bound.

/// Rows per multi-row statement (well under SQLite's 32,766 and PostgreSQL's 65,535 parameters).
pub(crate) const CHUNK: usize = 1000;

/// Generates `enqueue_many` for database `$db` (needs `Tx`, `placeholders` in scope).
macro_rules! sql_bulk {
    ($db:ty) => {
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
                    placeholders(1, chunk.len())
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
                let sql = format!("SELECT id FROM messages WHERE id IN ({})", placeholders(1, chunk.len()));
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
            let mut accepted: Vec<(&crate::store::NewEnvelope, bool)> = Vec::new();
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
                accepted.push((env, count > 0));
                outcomes.push(WriteOutcome::Stored { recipients: Vec::new(), full });
            }

            // Messages (a message nobody gets keeps only its id).
            for chunk in accepted.chunks(CHUNK) {
                let rows = (0..chunk.len())
                    .map(|r| format!("({})", placeholders(1 + 6 * r, 6)))
                    .collect::<Vec<_>>()
                    .join(", ");
                let sql = format!(
                    "INSERT INTO messages (id, conversation, sender_account, sender_device, \
                     received_at, body) VALUES {rows}"
                );
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                for (env, has_copies) in chunk {
                    query = query
                        .bind(env.message.as_bytes().as_slice())
                        .bind(env.conversation.as_bytes().as_slice())
                        .bind(env.sender_account.as_bytes().as_slice())
                        .bind(env.sender_device.as_bytes().as_slice())
                        .bind(env.received_at)
                        .bind(has_copies.then_some(env.body.as_slice()));
                }
                query.execute(&mut **tx).await?;
            }

            // Deliveries, with their sequence numbers.
            let mut seqs: HashMap<(DeviceId, MessageId), i64> = HashMap::new();
            for chunk in copies.chunks(CHUNK) {
                let rows = (0..chunk.len())
                    .map(|r| format!("({})", placeholders(1 + 2 * r, 2)))
                    .collect::<Vec<_>>()
                    .join(", ");
                let sql = format!("INSERT INTO deliveries (device, message) VALUES {rows} RETURNING seq, device, message");
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                for (device, message) in chunk {
                    query = query.bind(device.as_bytes().as_slice()).bind(message.as_bytes().as_slice());
                }
                for row in query.fetch_all(&mut **tx).await? {
                    let device = DeviceId::from_bytes(fixed(row.try_get("device")?, "device id")?);
                    let message = MessageId::from_bytes(fixed(row.try_get("message")?, "message id")?);
                    seqs.insert((device, message), row.try_get("seq")?);
                }
            }
            for (device, n) in &added {
                sqlx::query("UPDATE devices SET queued = queued + $1 WHERE id = $2")
                    .bind(*n)
                    .bind(device.as_bytes().as_slice())
                    .execute(&mut **tx)
                    .await?;
            }

            // Fill in the recipients of each stored envelope, in delivery order.
            let mut per_message: HashMap<MessageId, Vec<(DeviceId, i64)>> = HashMap::new();
            for (device, message) in &copies {
                let seq = seqs.get(&(*device, *message)).copied().ok_or(Error::Corrupt { what: "delivery" })?;
                per_message.entry(*message).or_default().push((*device, seq));
            }
            for (outcome, env) in outcomes.iter_mut().zip(envs) {
                if let WriteOutcome::Stored { recipients, .. } = outcome {
                    *recipients = per_message.remove(&env.message).unwrap_or_default();
                }
            }
            Ok(outcomes)
        }
    };
}

pub(crate) use sql_bulk;
