//! The statements that run inside a transaction: group-log appends, membership replacement and
//! the acknowledgement of a group commit, generated per database by [`sql_tx!`]. (Envelopes are
//! written in bulk by `sql_bulk`.)

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
