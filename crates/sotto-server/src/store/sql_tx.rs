//! The statements that run inside a transaction: group-log appends, membership replacement and
//! generated per database by [`sql_tx!`]. (Envelopes and acknowledgements are written in bulk
//! by `sql_bulk`.)

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
    };
}

pub(crate) use sql_tx;
