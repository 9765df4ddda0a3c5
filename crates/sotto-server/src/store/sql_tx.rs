//! The statements that run inside a transaction: group-log appends, membership replacement and
//! the group-commit operations (enqueue with fan-out in SQL, acknowledgement), generated per
//! database by [`sql_tx!`].

/// Generates the transaction helpers for database `$db`.
macro_rules! sql_tx {
    ($db:ty) => {
        type Tx<'a> = sqlx::Transaction<'a, $db>;

        async fn insert_change(tx: &mut Tx<'_>, id: &[u8], change: &ChangeRecord) -> Result<()> {
            sqlx::query(
                "INSERT INTO group_changes (conversation, epoch, change, author, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(id)
            .bind(to_i64(change.epoch, "epoch")?)
            .bind(&change.change)
            .bind(change.author.as_bytes().as_slice())
            .bind(change.created_at)
            .execute(&mut **tx)
            .await?;
            Ok(())
        }

        async fn replace_members(tx: &mut Tx<'_>, id: &[u8], members: &[UserId]) -> Result<()> {
            sqlx::query("DELETE FROM members WHERE conversation = $1")
                .bind(id)
                .execute(&mut **tx)
                .await?;
            for user in members {
                sqlx::query(
                    "INSERT INTO members (conversation, user_id) VALUES ($1, $2) \
                     ON CONFLICT (conversation, user_id) DO NOTHING",
                )
                .bind(id)
                .bind(user.0)
                .execute(&mut **tx)
                .await?;
            }
            Ok(())
        }

        async fn enqueue(
            tx: &mut Tx<'_>,
            env: &crate::store::NewEnvelope,
            queue_cap: i64,
        ) -> Result<WriteOutcome> {
            let conv = env.conversation.as_bytes().as_slice();
            let message = env.message.as_bytes().as_slice();
            // One statement for the common case: stored only if the sender is a member and the
            // id is new; the rare refusal is told apart afterwards.
            let inserted = sqlx::query(
                "INSERT INTO messages (id, conversation, sender_account, sender_device, \
                 received_at, body) SELECT $1, $2, $3, $4, $5, $6 WHERE EXISTS \
                 (SELECT 1 FROM members WHERE conversation = $2 AND user_id = $7) \
                 ON CONFLICT (id) DO NOTHING RETURNING id",
            )
            .bind(message)
            .bind(conv)
            .bind(env.sender_account.as_bytes().as_slice())
            .bind(env.sender_device.as_bytes().as_slice())
            .bind(env.received_at)
            .bind(&env.body)
            .bind(env.sender_user.0)
            .fetch_optional(&mut **tx)
            .await?;
            if inserted.is_none() {
                let member = sqlx::query(
                    "SELECT 1 AS one FROM members WHERE conversation = $1 AND user_id = $2",
                )
                .bind(conv)
                .bind(env.sender_user.0)
                .fetch_optional(&mut **tx)
                .await?;
                return Ok(if member.is_none() {
                    WriteOutcome::NotMember
                } else {
                    WriteOutcome::Duplicate
                });
            }
            let sender = env.sender_device.as_bytes().as_slice();
            let rows = sqlx::query(
                "INSERT INTO deliveries (device, message) SELECT d.id, $1 FROM members m \
                 JOIN devices d ON d.user_id = m.user_id WHERE m.conversation = $2 \
                 AND d.state = 'active' AND d.id <> $3 AND d.queued < $4 \
                 AND ($5 IS NULL OR d.id = $5) RETURNING seq, device",
            )
            .bind(message)
            .bind(conv)
            .bind(sender)
            .bind(queue_cap)
            .bind(env.to.map(|d| d.as_bytes().to_vec()))
            .fetch_all(&mut **tx)
            .await?;
            let mut recipients = Vec::with_capacity(rows.len());
            for row in &rows {
                let device = DeviceId::from_bytes(fixed(row.try_get("device")?, "device id")?);
                recipients.push((device, row.try_get("seq")?));
            }
            if recipients.is_empty() {
                sqlx::query("UPDATE messages SET body = NULL WHERE id = $1")
                    .bind(message)
                    .execute(&mut **tx)
                    .await?;
            } else {
                sqlx::query(
                    "UPDATE devices SET queued = queued + 1 WHERE id IN \
                     (SELECT device FROM deliveries WHERE message = $1)",
                )
                .bind(message)
                .execute(&mut **tx)
                .await?;
            }
            let full: Vec<Vec<u8>> = sqlx::query_scalar(
                "SELECT d.id FROM members m JOIN devices d ON d.user_id = m.user_id \
                 WHERE m.conversation = $1 AND d.state = 'active' AND d.id <> $2 \
                 AND d.queued >= $3 AND ($5 IS NULL OR d.id = $5) AND NOT EXISTS \
                 (SELECT 1 FROM deliveries x WHERE x.device = d.id AND x.message = $4)",
            )
            .bind(conv)
            .bind(sender)
            .bind(queue_cap)
            .bind(message)
            .bind(env.to.map(|d| d.as_bytes().to_vec()))
            .fetch_all(&mut **tx)
            .await?;
            let full = full
                .into_iter()
                .map(|d| fixed(d, "device id").map(DeviceId::from_bytes))
                .collect::<Result<Vec<_>>>()?;
            Ok(WriteOutcome::Stored { recipients, full })
        }

        /// `$first, $first+1, …` for `n` parameters.
        fn placeholders(first: usize, n: usize) -> String {
            (first..first + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
        }

        async fn ack(tx: &mut Tx<'_>, device: &DeviceId, messages: &[MessageId]) -> Result<WriteOutcome> {
            if messages.is_empty() {
                return Ok(WriteOutcome::Acked(0));
            }
            let dev = device.as_bytes().as_slice();
            // The statements differ only in how many placeholders they list; every value is bound.
            let sql = format!(
                "DELETE FROM deliveries WHERE device = $1 AND message IN ({}) RETURNING message",
                placeholders(2, messages.len())
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(dev);
            for message in messages {
                query = query.bind(message.as_bytes().as_slice());
            }
            let rows = query.fetch_all(&mut **tx).await?;
            if rows.is_empty() {
                return Ok(WriteOutcome::Acked(0));
            }
            let deleted = rows
                .iter()
                .map(|r| r.try_get::<Vec<u8>, _>("message"))
                .collect::<Result<Vec<_>, _>>()?;
            let sql = format!(
                "UPDATE messages SET body = NULL WHERE id IN ({}) AND NOT EXISTS \
                 (SELECT 1 FROM deliveries WHERE deliveries.message = messages.id)",
                placeholders(1, deleted.len())
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for message in &deleted {
                query = query.bind(message.as_slice());
            }
            query.execute(&mut **tx).await?;
            let n = i64::try_from(deleted.len()).unwrap_or(i64::MAX);
            sqlx::query(
                "UPDATE devices SET queued = CASE WHEN queued > $1 THEN queued - $1 ELSE 0 END \
                 WHERE id = $2",
            )
            .bind(n)
            .bind(dev)
            .execute(&mut **tx)
            .await?;
            Ok(WriteOutcome::Acked(deleted.len() as u64))
        }
    };
}

pub(crate) use sql_tx;
