//! The SQL both backends run: every [`Store`] method but the relay queue's write path, written
//! once in statements SQLite and PostgreSQL both accept (`$N` placeholders, `ON CONFLICT`,
//! `RETURNING`, integer milliseconds, byte strings) and implemented, generically over the sqlx
//! database, for every [`Backend`]. One body per method is what keeps the two backends from
//! drifting apart; what differs between them is named by the [`Backend`] trait, not found by
//! convention. Every statement is a static string with bound parameters.
//!
//! # Layout
//! - this module: `impl Store for B: Backend`, and the statements that run inside its
//!   transactions.
//! - `paged`: the statements with a bound row limit, written so that SQLite plans them once.
//! - `rows`: row decoders, through one small trait both backends' rows implement.

pub(crate) mod paged;
pub(crate) mod rows;

use async_trait::async_trait;
use sotto_proto::ids::{AccountId, ConversationId, DeviceId, MessageId};
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Type};

use self::rows::{
    archive_row, change_row, device_row, handover_row, recovery_row, retryable, session_row,
    to_i64, unique_violation, user_row, with_pair, Columns,
};
use crate::error::{Error, Result};
use crate::store::backend::{Backend, TablesRead};
use crate::store::{
    fixed, merge_queues, AccountDeletion, AccountSummary, ArchivedEnvelope, BackupCaps,
    ChallengeRecord, ChangeRecord, Delivery, DeviceRecord, HandoverRecord, HistoryWindow,
    HotQueueFigures, InviteRecord, MemberStatus, NewBackupItem, NewMember, NewPrekey, NewTokenPair,
    Purged, QueuePolicy, RecoveryRecord, RefreshOutcome, RequestRecord, SessionId, SessionRecord,
    Store, StoreCounts, StoredBackupItem, UserId, UserRecord, WriteOp, WriteOutcome,
    OPEN_CHALLENGES_PER_SESSION,
};

#[async_trait]
impl<B> Store for B
where
    B: Backend,
    // Statements run on the pool and on a transaction's connection.
    for<'c> &'c mut <B::Db as Database>::Connection: Executor<'c, Database = B::Db>,
    <B::Db as Database>::Arguments: IntoArguments<B::Db>,
    // The parameter types bound: text, byte strings, integers, each possibly NULL.
    for<'q> &'q str: Encode<'q, B::Db> + Type<B::Db>,
    for<'q> &'q [u8]: Encode<'q, B::Db> + Type<B::Db>,
    for<'q> Option<&'q [u8]>: Encode<'q, B::Db>,
    for<'q> i64: Encode<'q, B::Db> + Type<B::Db>,
    for<'q> Option<i64>: Encode<'q, B::Db>,
    // The column types read: whole rows through `Columns`, single values by position.
    <B::Db as Database>::Row: Columns,
    usize: ColumnIndex<<B::Db as Database>::Row>,
    for<'r> i64: Decode<'r, B::Db>,
    for<'r> Vec<u8>: Decode<'r, B::Db> + Type<B::Db>,
    // What a write changed.
    <B::Db as Database>::QueryResult: RowsAffected,
{
    fn backend(&self) -> &'static str {
        B::NAME
    }

    async fn create_user(&self, username: &str, hash: &str, now: i64) -> Result<UserId> {
        let row = sqlx::query(
            "INSERT INTO users (username, password_hash, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (username) DO NOTHING RETURNING id",
        )
        .bind(username)
        .bind(hash)
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        match row {
            Some(row) => Ok(UserId(row.int("id")?)),
            None => Err(Error::Conflict {
                what: "username is taken",
            }),
        }
    }

    async fn user_by_name(&self, username: &str) -> Result<Option<UserRecord>> {
        sqlx::query(
            "SELECT id, username, password_hash, master_key, account_id, disabled_at FROM users \
             WHERE username = $1",
        )
        .bind(username)
        .fetch_optional(self.pool())
        .await?
        .as_ref()
        .map(user_row)
        .transpose()
    }

    async fn user_by_id(&self, user: UserId) -> Result<Option<UserRecord>> {
        sqlx::query(
            "SELECT id, username, password_hash, master_key, account_id, disabled_at FROM users \
             WHERE id = $1",
        )
        .bind(user.0)
        .fetch_optional(self.pool())
        .await?
        .as_ref()
        .map(user_row)
        .transpose()
    }

    async fn user_by_account(&self, account: &AccountId) -> Result<Option<UserRecord>> {
        sqlx::query(
            "SELECT id, username, password_hash, master_key, account_id, disabled_at FROM users \
             WHERE account_id = $1",
        )
        .bind(account.as_bytes().as_slice())
        .fetch_optional(self.pool())
        .await?
        .as_ref()
        .map(user_row)
        .transpose()
    }

    async fn set_password_hash(&self, user: UserId, hash: &str) -> Result<()> {
        sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(hash)
            .bind(user.0)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn set_master_key(&self, user: UserId, account: &AccountId, spki: &[u8]) -> Result<()> {
        let result = sqlx::query(
            "UPDATE users SET master_key = $1, account_id = $2 \
             WHERE id = $3 AND (master_key IS NULL OR master_key = $1)",
        )
        .bind(spki)
        .bind(account.as_bytes().as_slice())
        .bind(user.0)
        .execute(self.pool())
        .await;
        match result {
            Ok(r) if r.rows_affected() == 1 => Ok(()),
            Ok(_) => Err(Error::Conflict {
                what: "a different master key is set",
            }),
            Err(e) if unique_violation(&e) => Err(Error::Conflict {
                what: "master key belongs to another account",
            }),
            Err(e) => Err(e.into()),
        }
    }

    async fn add_pending_device(
        &self,
        d: &DeviceRecord,
        max_pending: usize,
        live_since: i64,
    ) -> Result<()> {
        let mut tx = self.pool().begin_with(B::BEGIN_WRITE).await?;
        // Locks the user's row (PostgreSQL; SQLite holds the write lock already), so two
        // announcements of one account count one after the other.
        sqlx::query("UPDATE users SET attachment_bytes = attachment_bytes WHERE id = $1")
            .bind(d.user.0)
            .execute(&mut *tx)
            .await?;
        let others = sqlx::query(
            "SELECT COUNT(*) AS n FROM devices WHERE user_id = $1 AND state = 'pending' \
             AND id <> $2 AND created_at >= $3",
        )
        .bind(d.user.0)
        .bind(d.device.as_bytes().as_slice())
        .bind(live_since)
        .fetch_one(&mut *tx)
        .await?
        .int("n")?;
        if others >= i64::try_from(max_pending).unwrap_or(i64::MAX) {
            return Err(Error::Capacity {
                what: "pending devices of this account; approve or remove one first",
            });
        }
        let row = sqlx::query(
            "INSERT INTO devices (id, user_id, state, signing_key, auth_key, name, \
             exchange_cert, exchange_serial, created_at) \
             VALUES ($1, $2, 'pending', $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (id) DO UPDATE SET auth_key = $4, name = $5, \
             exchange_cert = COALESCE($6, devices.exchange_cert), \
             exchange_serial = COALESCE($7, devices.exchange_serial), created_at = $8 \
             WHERE devices.user_id = $2 AND devices.state = 'pending' RETURNING id",
        )
        .bind(d.device.as_bytes().as_slice())
        .bind(d.user.0)
        .bind(d.signing_key.as_slice())
        .bind(d.auth_key.as_slice())
        .bind(d.name.as_str())
        .bind(d.exchange_cert.as_deref())
        .bind(d.exchange_serial.map(|s| to_i64(s, "serial")).transpose()?)
        .bind(d.created_at)
        .fetch_optional(&mut *tx)
        .await?;
        if row.is_none() {
            return Err(Error::Conflict {
                what: "device already registered",
            });
        }
        tx.commit().await?;
        Ok(())
    }

    async fn activate_device(&self, d: &DeviceRecord) -> Result<()> {
        let row = sqlx::query(
            "INSERT INTO devices (id, user_id, state, signing_key, auth_key, name, \
             certificate, created_at) VALUES ($1, $2, 'active', $3, $4, $5, $6, $7) \
             ON CONFLICT (id) DO UPDATE SET state = 'active', signing_key = $3, \
             auth_key = $4, name = $5, certificate = $6 \
             WHERE devices.user_id = $2 AND devices.state <> 'revoked' RETURNING id",
        )
        .bind(d.device.as_bytes().as_slice())
        .bind(d.user.0)
        .bind(d.signing_key.as_slice())
        .bind(d.auth_key.as_slice())
        .bind(d.name.as_str())
        .bind(d.certificate.as_deref())
        .bind(d.created_at)
        .fetch_optional(self.pool())
        .await?;
        row.map(|_| ()).ok_or(Error::Conflict {
            what: "device is revoked or not yours",
        })
    }

    async fn device(&self, device: &DeviceId) -> Result<Option<DeviceRecord>> {
        sqlx::query("SELECT * FROM devices WHERE id = $1")
            .bind(device.as_bytes().as_slice())
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(device_row)
            .transpose()
    }

    async fn devices_of(&self, user: UserId) -> Result<Vec<DeviceRecord>> {
        sqlx::query("SELECT * FROM devices WHERE user_id = $1 ORDER BY created_at, id")
            .bind(user.0)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(device_row)
            .collect()
    }

    async fn revoke_device(
        &self,
        user: UserId,
        device: &DeviceId,
        serial: u64,
        revocation: &[u8],
    ) -> Result<()> {
        let id = device.as_bytes().as_slice();
        let mut tx = self.pool().begin_with(B::BEGIN_WRITE).await?;
        let updated = sqlx::query(
            "UPDATE devices SET state = 'revoked', queued = 0, exchange_cert = NULL \
             WHERE id = $1 AND user_id = $2",
        )
        .bind(id)
        .bind(user.0)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() != 1 {
            return Err(Error::NotFound { what: "device" });
        }
        sqlx::query(
            "INSERT INTO revocations (user_id, device, serial, body) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (user_id, device) DO NOTHING",
        )
        .bind(user.0)
        .bind(id)
        .bind(to_i64(serial, "serial")?)
        .bind(revocation)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM sessions WHERE device = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        // Its copies no longer count; bodies nobody else waits for are dropped (a
        // copy with a body of its own goes with its row).
        sqlx::query(
            "UPDATE messages SET copies = copies - 1, \
             body = CASE WHEN copies <= 1 THEN NULL ELSE body END \
             WHERE id IN (SELECT message FROM deliveries WHERE device = $1 AND body IS NULL)",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM deliveries WHERE device = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        // Hand-overs waiting for it will never be read.
        sqlx::query("DELETE FROM handovers WHERE recipient = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        // Nobody may encrypt to it any more: its prekeys are never handed out again.
        sqlx::query("DELETE FROM prekeys WHERE device = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        // After the commit: a batch that was writing copies for it held the write lock
        // until then, so its copies are in the hot queue now and go with the rest.
        self.forget_hot_copies(device);
        Ok(())
    }

    async fn revocations_of(&self, user: UserId) -> Result<Vec<Vec<u8>>> {
        let rows = sqlx::query("SELECT body FROM revocations WHERE user_id = $1 ORDER BY serial")
            .bind(user.0)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(|r| r.bytes("body")).collect()
    }

    async fn set_exchange_key(&self, device: &DeviceId, cert: &[u8], serial: u64) -> Result<()> {
        let updated = sqlx::query(
            "UPDATE devices SET exchange_cert = $1, exchange_serial = $2 WHERE id = $3 \
             AND state = 'active' AND (exchange_serial IS NULL OR exchange_serial <= $2)",
        )
        .bind(cert)
        .bind(to_i64(serial, "serial")?)
        .bind(device.as_bytes().as_slice())
        .execute(self.pool())
        .await?;
        if updated.rows_affected() == 1 {
            Ok(())
        } else {
            Err(Error::Conflict {
                what: "exchange key serial is older than the stored one",
            })
        }
    }

    async fn insert_session(&self, s: &SessionRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO sessions (id, user_id, device, access_hash, access_expires, \
             refresh_hash, refresh_expires, previous_refresh_hash, pair_used_at, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(s.id.0.as_slice())
        .bind(s.user.0)
        .bind(s.device.as_ref().map(|d| d.as_bytes().as_slice()))
        .bind(s.access_hash.as_slice())
        .bind(s.access_expires)
        .bind(s.refresh_hash.as_ref().map(|h| h.as_slice()))
        .bind(s.refresh_expires)
        .bind(s.previous_refresh_hash.as_ref().map(|h| h.as_slice()))
        .bind(s.pair_used_at)
        .bind(s.created_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn session_by_access(&self, hash: &[u8; 32]) -> Result<Option<SessionRecord>> {
        sqlx::query(
            "SELECT id, user_id, device, access_hash, access_expires, refresh_hash, \
             refresh_expires, previous_refresh_hash, pair_used_at, created_at FROM sessions \
             WHERE access_hash = $1",
        )
        .bind(hash.as_slice())
        .fetch_optional(self.pool())
        .await?
        .as_ref()
        .map(session_row)
        .transpose()
    }

    async fn session(&self, session: &SessionId) -> Result<Option<SessionRecord>> {
        sqlx::query(
            "SELECT id, user_id, device, access_hash, access_expires, refresh_hash, \
             refresh_expires, previous_refresh_hash, pair_used_at, created_at FROM sessions \
             WHERE id = $1",
        )
        .bind(session.0.as_slice())
        .fetch_optional(self.pool())
        .await?
        .as_ref()
        .map(session_row)
        .transpose()
    }

    async fn refresh_session(
        &self,
        refresh_hash: &[u8; 32],
        pair: &NewTokenPair,
        proven: Option<&SessionId>,
        now: i64,
    ) -> Result<RefreshOutcome> {
        let mut tx = self.pool().begin_with(B::BEGIN_WRITE).await?;
        let current = sqlx::query(
            "SELECT id, user_id, device, access_hash, access_expires, refresh_hash, \
             refresh_expires, previous_refresh_hash, pair_used_at, created_at \
             FROM sessions WHERE refresh_hash = $1",
        )
        .bind(refresh_hash.as_slice())
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = current {
            let mut session = session_row(&row)?;
            if session.refresh_expires <= now {
                return Ok(RefreshOutcome::Unknown);
            }
            sqlx::query("INSERT INTO refresh_spent (hash, session_id) VALUES ($1, $2)")
                .bind(refresh_hash.as_slice())
                .bind(session.id.0.as_slice())
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE sessions SET access_hash = $1, access_expires = $2, \
                 refresh_hash = $3, refresh_expires = $4, previous_refresh_hash = $5, \
                 pair_used_at = NULL WHERE id = $6",
            )
            .bind(pair.access_hash.as_slice())
            .bind(pair.access_expires)
            .bind(pair.refresh_hash.as_slice())
            .bind(pair.refresh_expires)
            .bind(refresh_hash.as_slice())
            .bind(session.id.0.as_slice())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            session.previous_refresh_hash = Some(*refresh_hash);
            session.pair_used_at = None;
            return Ok(RefreshOutcome::Rotated(with_pair(session, pair)));
        }
        let spent = sqlx::query("SELECT session_id FROM refresh_spent WHERE hash = $1")
            .bind(refresh_hash.as_slice())
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = spent else {
            return Ok(RefreshOutcome::Unknown);
        };
        let id = SessionId(fixed(row.bytes("session_id")?, "session id")?);
        let owner = sqlx::query(
            "SELECT id, user_id, device, access_hash, access_expires, refresh_hash, \
             refresh_expires, previous_refresh_hash, pair_used_at, created_at \
             FROM sessions WHERE id = $1",
        )
        .bind(id.0.as_slice())
        .fetch_optional(&mut *tx)
        .await?
        .as_ref()
        .map(session_row)
        .transpose()?;
        if let Some(session) = owner.filter(|s| retryable(s, refresh_hash, now)) {
            if proven != Some(&session.id) {
                return Ok(RefreshOutcome::ProofRequired { session });
            }
            // The unused pair is superseded: its refresh token counts as spent, so
            // whoever holds it ends the session by presenting it.
            if let Some(superseded) = session.refresh_hash {
                sqlx::query("INSERT INTO refresh_spent (hash, session_id) VALUES ($1, $2)")
                    .bind(superseded.as_slice())
                    .bind(session.id.0.as_slice())
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query(
                "UPDATE sessions SET access_hash = $1, access_expires = $2, \
                 refresh_hash = $3, refresh_expires = $4 WHERE id = $5",
            )
            .bind(pair.access_hash.as_slice())
            .bind(pair.access_expires)
            .bind(pair.refresh_hash.as_slice())
            .bind(pair.refresh_expires)
            .bind(session.id.0.as_slice())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            return Ok(RefreshOutcome::Rotated(with_pair(session, pair)));
        }
        sqlx::query("DELETE FROM sessions WHERE id = $1")
            .bind(id.0.as_slice())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(RefreshOutcome::Reused { session: id })
    }

    async fn session_for_refresh_retry(
        &self,
        refresh_hash: &[u8; 32],
        now: i64,
    ) -> Result<Option<SessionRecord>> {
        let spent = sqlx::query("SELECT session_id FROM refresh_spent WHERE hash = $1")
            .bind(refresh_hash.as_slice())
            .fetch_optional(self.pool())
            .await?;
        let Some(row) = spent else {
            return Ok(None);
        };
        let id = SessionId(fixed(row.bytes("session_id")?, "session id")?);
        let session = self.session(&id).await?;
        Ok(session.filter(|s| retryable(s, refresh_hash, now)))
    }

    async fn mark_pair_used(&self, session: &SessionId, now: i64) -> Result<()> {
        sqlx::query("UPDATE sessions SET pair_used_at = $1 WHERE id = $2 AND pair_used_at IS NULL")
            .bind(now)
            .bind(session.0.as_slice())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn delete_session(&self, session: &SessionId) -> Result<bool> {
        let r = sqlx::query("DELETE FROM sessions WHERE id = $1")
            .bind(session.0.as_slice())
            .execute(self.pool())
            .await?;
        Ok(r.rows_affected() > 0)
    }

    async fn delete_sessions_except(
        &self,
        user: UserId,
        keep: Option<&SessionId>,
    ) -> Result<Vec<SessionId>> {
        let keep = keep.map(|k| k.0.to_vec()).unwrap_or_default();
        let rows = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id <> $2 RETURNING id")
            .bind(user.0)
            .bind(keep.as_slice())
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| Ok(SessionId(fixed(r.bytes("id")?, "session id")?)))
            .collect()
    }

    async fn sessions_of(&self, user: UserId) -> Result<Vec<SessionRecord>> {
        sqlx::query(
            "SELECT id, user_id, device, access_hash, access_expires, refresh_hash, \
             refresh_expires, previous_refresh_hash, pair_used_at, created_at FROM sessions \
             WHERE user_id = $1 ORDER BY created_at",
        )
        .bind(user.0)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(session_row)
        .collect()
    }

    async fn insert_challenge(&self, c: &ChallengeRecord) -> Result<()> {
        let mut tx = self.pool().begin_with(B::BEGIN_WRITE).await?;
        sqlx::query(
            "INSERT INTO challenges (nonce, session_id, device, issued_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(c.nonce.as_slice())
        .bind(c.session.0.as_slice())
        .bind(c.device.as_bytes().as_slice())
        .bind(c.issued_at)
        .execute(&mut *tx)
        .await?;
        sqlx::query(paged::TRIM_CHALLENGES)
            .bind(c.session.0.as_slice())
            .bind(OPEN_CHALLENGES_PER_SESSION)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn take_challenge(&self, nonce: &[u8; 32]) -> Result<Option<ChallengeRecord>> {
        let row = sqlx::query(
            "DELETE FROM challenges WHERE nonce = $1 \
             RETURNING nonce, session_id, device, issued_at",
        )
        .bind(nonce.as_slice())
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            Ok(ChallengeRecord {
                nonce: fixed(r.bytes("nonce")?, "nonce")?,
                session: SessionId(fixed(r.bytes("session_id")?, "session id")?),
                device: DeviceId::from_bytes(fixed(r.bytes("device")?, "device id")?),
                issued_at: r.int("issued_at")?,
            })
        })
        .transpose()
    }

    async fn insert_ticket(
        &self,
        hash: &[u8; 32],
        session: &SessionId,
        expires: i64,
    ) -> Result<()> {
        sqlx::query("INSERT INTO tickets (hash, session_id, expires) VALUES ($1, $2, $3)")
            .bind(hash.as_slice())
            .bind(session.0.as_slice())
            .bind(expires)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn redeem_ticket(
        &self,
        hash: &[u8; 32],
        now: i64,
    ) -> Result<Option<(SessionRecord, UserRecord)>> {
        self.take_ticket_session(hash, now).await
    }

    async fn purge_expired(&self, now: i64) -> Result<u64> {
        let mut tx = self.pool().begin_with(B::BEGIN_WRITE).await?;
        let mut n = 0;
        n += sqlx::query("DELETE FROM sessions WHERE access_expires < $1 AND refresh_expires < $1")
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        n += sqlx::query("DELETE FROM challenges WHERE issued_at < $1")
            .bind(now.saturating_sub(600_000))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        n += sqlx::query("DELETE FROM tickets WHERE expires < $1")
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n)
    }

    async fn create_conversation(
        &self,
        conversation: &ConversationId,
        genesis: &ChangeRecord,
        creator: UserId,
        members: &[NewMember],
    ) -> Result<()> {
        let id = conversation.as_bytes().as_slice();
        let mut tx = self.pool().begin_with(B::BEGIN_WRITE).await?;
        let created = sqlx::query(
            "INSERT INTO conversations (id, created_at, created_by) VALUES ($1, $2, $3) \
             ON CONFLICT (id) DO NOTHING RETURNING id",
        )
        .bind(id)
        .bind(genesis.created_at)
        .bind(creator.0)
        .fetch_optional(&mut *tx)
        .await?;
        if created.is_none() {
            return Err(Error::Conflict {
                what: "conversation exists",
            });
        }
        insert_change::<B::Db>(&mut *tx, id, genesis).await?;
        replace_members::<B::Db>(&mut *tx, id, members, 0, genesis.created_at).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn append_change(
        &self,
        conversation: &ConversationId,
        change: &ChangeRecord,
        members: &[NewMember],
        retention: Option<u64>,
    ) -> Result<()> {
        let id = conversation.as_bytes().as_slice();
        let mut tx = self.pool().begin_with(B::BEGIN_WRITE).await?;
        let next: Option<i64> =
            sqlx::query_scalar("SELECT MAX(epoch) + 1 FROM group_changes WHERE conversation = $1")
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
        if next != Some(to_i64(change.epoch, "epoch")?) {
            return Err(Error::Conflict {
                what: "epoch is not the next one",
            });
        }
        if let Err(e) = insert_change::<B::Db>(&mut *tx, id, change).await {
            return Err(match e {
                Error::Database(db) if unique_violation(&db) => Error::Conflict {
                    what: "epoch is not the next one",
                },
                other => other,
            });
        }
        let epoch = to_i64(change.epoch, "epoch")?;
        replace_members::<B::Db>(&mut *tx, id, members, epoch, change.created_at).await?;
        sqlx::query("UPDATE conversations SET retention_secs = $1 WHERE id = $2")
            .bind(retention.map(|r| to_i64(r, "retention")).transpose()?)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn member_since(
        &self,
        conversation: &ConversationId,
        user: UserId,
    ) -> Result<Option<i64>> {
        let row =
            sqlx::query("SELECT added_at FROM members WHERE conversation = $1 AND user_id = $2")
                .bind(conversation.as_bytes().as_slice())
                .bind(user.0)
                .fetch_optional(self.pool())
                .await?;
        row.map(|r| r.int("added_at")).transpose()
    }

    async fn retention(&self, conversation: &ConversationId) -> Result<Option<u64>> {
        let row = sqlx::query("SELECT retention_secs FROM conversations WHERE id = $1")
            .bind(conversation.as_bytes().as_slice())
            .fetch_optional(self.pool())
            .await?;
        match row {
            Some(r) => r
                .opt_int("retention_secs")?
                .map(|v| u64::try_from(v).map_err(|_| Error::Corrupt { what: "retention" }))
                .transpose(),
            None => Ok(None),
        }
    }

    async fn conversations_created_since(
        &self,
        creator: UserId,
        since: i64,
    ) -> Result<(i64, Option<i64>)> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM conversations \
             WHERE created_by = $1 AND created_at >= $2",
        )
        .bind(creator.0)
        .bind(since)
        .fetch_one(self.pool())
        .await?;
        Ok((row.int("n")?, row.opt_int("oldest")?))
    }

    async fn member_status(
        &self,
        conversation: &ConversationId,
        user: UserId,
    ) -> Result<Option<MemberStatus>> {
        let row =
            sqlx::query("SELECT status FROM members WHERE conversation = $1 AND user_id = $2")
                .bind(conversation.as_bytes().as_slice())
                .bind(user.0)
                .fetch_optional(self.pool())
                .await?;
        row.map(|r| MemberStatus::parse(&r.text("status")?))
            .transpose()
    }

    async fn set_member_status(
        &self,
        conversation: &ConversationId,
        user: UserId,
        status: MemberStatus,
    ) -> Result<()> {
        let id = conversation.as_bytes().as_slice();
        let mut tx = self.pool().begin_with(B::BEGIN_WRITE).await?;
        let updated =
            sqlx::query("UPDATE members SET status = $1 WHERE conversation = $2 AND user_id = $3")
                .bind(status.as_str())
                .bind(id)
                .bind(user.0)
                .execute(&mut *tx)
                .await?;
        if updated.rows_affected() != 1 {
            return Err(Error::NotFound {
                what: "conversation",
            });
        }
        let devices = if status == MemberStatus::Declined {
            drop_queued_copies::<B::Db>(&mut *tx, user, id).await?
        } else {
            Vec::new()
        };
        tx.commit().await?;
        // After the commit, as for a revocation: the writer's batches that queued copies for
        // these devices have committed, and its next batch routes by the new status.
        self.forget_hot_conversation(&devices, conversation);
        Ok(())
    }

    async fn are_contacts(&self, a: UserId, b: UserId) -> Result<bool> {
        let row = sqlx::query(
            "SELECT 1 AS one FROM members x JOIN members y \
             ON y.conversation = x.conversation AND y.user_id = $2 AND y.status = 'accepted' \
             WHERE x.user_id = $1 AND x.status = 'accepted' LIMIT 1",
        )
        .bind(a.0)
        .bind(b.0)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.is_some())
    }

    async fn requests_of(&self, user: UserId) -> Result<Vec<RequestRecord>> {
        let rows = sqlx::query(
            "SELECT m.conversation, m.added_by, m.added_at, m.request_envelopes, \
             (SELECT COUNT(*) FROM members x WHERE x.conversation = m.conversation) AS members \
             FROM members m WHERE m.user_id = $1 AND m.status = 'request' \
             ORDER BY m.added_at, m.conversation",
        )
        .bind(user.0)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(RequestRecord {
                    conversation: ConversationId::from_bytes(fixed(
                        r.bytes("conversation")?,
                        "conversation id",
                    )?),
                    from: r.opt_int("added_by")?.map(UserId),
                    added_at: r.int("added_at")?,
                    members: r.int("members")?,
                    queued: r.int("request_envelopes")?,
                })
            })
            .collect()
    }

    async fn block(&self, blocker: UserId, blocked: UserId, now: i64) -> Result<()> {
        let mut tx = self.pool().begin_with(B::BEGIN_WRITE).await?;
        sqlx::query(
            "INSERT INTO blocks (blocker, blocked, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (blocker, blocked) DO NOTHING",
        )
        .bind(blocker.0)
        .bind(blocked.0)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let declined: Vec<Vec<u8>> = sqlx::query_scalar(
            "UPDATE members SET status = 'declined' \
             WHERE user_id = $1 AND added_by = $2 AND status = 'request' RETURNING conversation",
        )
        .bind(blocker.0)
        .bind(blocked.0)
        .fetch_all(&mut *tx)
        .await?;
        let mut forget = Vec::with_capacity(declined.len());
        for conversation in declined {
            let devices = drop_queued_copies::<B::Db>(&mut *tx, blocker, &conversation).await?;
            let conversation = ConversationId::from_bytes(fixed(conversation, "conversation id")?);
            forget.push((conversation, devices));
        }
        tx.commit().await?;
        for (conversation, devices) in &forget {
            self.forget_hot_conversation(devices, conversation);
        }
        Ok(())
    }

    async fn unblock(&self, blocker: UserId, blocked: UserId) -> Result<()> {
        sqlx::query("DELETE FROM blocks WHERE blocker = $1 AND blocked = $2")
            .bind(blocker.0)
            .bind(blocked.0)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn is_blocked(&self, blocker: UserId, blocked: UserId) -> Result<bool> {
        let row = sqlx::query("SELECT 1 AS one FROM blocks WHERE blocker = $1 AND blocked = $2")
            .bind(blocker.0)
            .bind(blocked.0)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.is_some())
    }

    async fn blocked_by(&self, blocker: UserId) -> Result<Vec<UserRecord>> {
        sqlx::query(
            "SELECT u.id, u.username, u.password_hash, u.master_key, u.account_id, \
             u.disabled_at \
             FROM blocks b JOIN users u ON u.id = b.blocked WHERE b.blocker = $1 \
             ORDER BY u.username",
        )
        .bind(blocker.0)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(user_row)
        .collect()
    }

    async fn purge_undelivered(&self, before: i64) -> Result<u64> {
        Ok(sqlx::query("DELETE FROM undelivered WHERE at < $1")
            .bind(before)
            .execute(self.pool())
            .await?
            .rows_affected())
    }

    async fn changes(
        &self,
        conversation: &ConversationId,
        since: u64,
    ) -> Result<Vec<ChangeRecord>> {
        sqlx::query(
            "SELECT epoch, change, author, created_at FROM group_changes \
             WHERE conversation = $1 AND epoch >= $2 ORDER BY epoch",
        )
        .bind(conversation.as_bytes().as_slice())
        .bind(to_i64(since, "since")?)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(change_row)
        .collect()
    }

    async fn members(&self, conversation: &ConversationId) -> Result<Vec<UserId>> {
        let rows: Vec<i64> = sqlx::query_scalar(
            "SELECT user_id FROM members WHERE conversation = $1 ORDER BY user_id",
        )
        .bind(conversation.as_bytes().as_slice())
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(UserId).collect())
    }

    async fn is_member(&self, conversation: &ConversationId, user: UserId) -> Result<bool> {
        let row =
            sqlx::query("SELECT 1 AS one FROM members WHERE conversation = $1 AND user_id = $2")
                .bind(conversation.as_bytes().as_slice())
                .bind(user.0)
                .fetch_optional(self.pool())
                .await?;
        Ok(row.is_some())
    }

    async fn removed_at(&self, conversation: &ConversationId, user: UserId) -> Result<Option<u64>> {
        let epoch: Option<i64> = sqlx::query_scalar(
            "SELECT removed_epoch FROM former_members WHERE conversation = $1 AND user_id = $2",
        )
        .bind(conversation.as_bytes().as_slice())
        .bind(user.0)
        .fetch_optional(self.pool())
        .await?;
        epoch
            .map(|e| {
                u64::try_from(e).map_err(|_| Error::Corrupt {
                    what: "removal epoch",
                })
            })
            .transpose()
    }

    async fn conversations_of(&self, user: UserId) -> Result<Vec<ConversationId>> {
        let rows: Vec<Vec<u8>> = sqlx::query_scalar(
            "SELECT conversation FROM members WHERE user_id = $1 AND status = 'accepted' \
             ORDER BY conversation",
        )
        .bind(user.0)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|c| fixed(c, "conversation id").map(ConversationId::from_bytes))
            .collect()
    }

    async fn member_devices(
        &self,
        conversation: &ConversationId,
        except: &DeviceId,
    ) -> Result<Vec<DeviceId>> {
        let rows: Vec<Vec<u8>> = sqlx::query_scalar(
            "SELECT d.id FROM members m JOIN devices d ON d.user_id = m.user_id \
             WHERE m.conversation = $1 AND d.state = 'active' AND d.id <> $2 \
             AND m.status = 'accepted' AND NOT EXISTS (SELECT 1 FROM blocks b \
             JOIN devices s ON s.user_id = b.blocked WHERE b.blocker = m.user_id AND s.id = $2)",
        )
        .bind(conversation.as_bytes().as_slice())
        .bind(except.as_bytes().as_slice())
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|d| fixed(d, "device id").map(DeviceId::from_bytes))
            .collect()
    }

    async fn write_batch_with(
        &self,
        ops: &[WriteOp],
        policy: &QueuePolicy,
    ) -> Result<Vec<WriteOutcome>> {
        // Each backend has its own group-commit path (`Backend::group_commit`).
        self.group_commit(ops, policy).await
    }

    fn hot_queue(&self) -> HotQueueFigures {
        self.hot_figures()
    }

    async fn pending(&self, device: &DeviceId, after: i64, limit: i64) -> Result<Vec<Delivery>> {
        // The hot tier first: a copy settled in between is then read from both (and
        // kept once), never from neither.
        let hot = self.hot_pending(device, after, limit);
        let mark = match hot.tables {
            TablesRead::Skip => return Ok(hot.copies),
            TablesRead::Read(mark) => mark,
        };
        let rows = sqlx::query(paged::PENDING)
            .bind(device.as_bytes().as_slice())
            .bind(after)
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                let body = r.opt_bytes("body")?;
                Ok(Delivery {
                    seq: r.int("seq")?,
                    message: MessageId::from_bytes(fixed(r.bytes("id")?, "message id")?),
                    conversation: ConversationId::from_bytes(fixed(
                        r.bytes("conversation")?,
                        "conversation id",
                    )?),
                    sender_account: AccountId::from_bytes(fixed(
                        r.bytes("sender_account")?,
                        "account id",
                    )?),
                    sender_device: DeviceId::from_bytes(fixed(
                        r.bytes("sender_device")?,
                        "device id",
                    )?),
                    received_at: r.int("received_at")?,
                    body: body.ok_or(Error::Corrupt {
                        what: "queued envelope",
                    })?,
                })
            })
            .collect::<Result<Vec<Delivery>>>()
            .map(|cold| {
                // Sequence numbers start at 1: a read above 0 that found nothing saw the
                // device's whole settled queue empty.
                if let Some(mark) = mark.filter(|_| cold.is_empty() && after == 0 && limit > 0) {
                    self.tables_empty(device, mark);
                }
                merge_queues(cold, hot.copies, limit)
            })
    }

    async fn put_attachment(
        &self,
        id: &[u8; 16],
        conversation: &ConversationId,
        uploader: UserId,
        body: &[u8],
        quota: u64,
        now: i64,
    ) -> Result<()> {
        let size = i64::try_from(body.len()).unwrap_or(i64::MAX);
        let mut tx = self.pool().begin_with(B::BEGIN_WRITE).await?;
        // One conditional update checks and counts at once; concurrent uploads of one
        // account queue on its row (PostgreSQL) or on the write lock (SQLite).
        let counted = sqlx::query(
            "UPDATE users SET attachment_bytes = attachment_bytes + $1 \
             WHERE id = $2 AND attachment_bytes + $1 <= $3",
        )
        .bind(size)
        .bind(uploader.0)
        .bind(i64::try_from(quota).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if counted == 0 {
            return Err(Error::QuotaExceeded {
                what: "attachment storage",
                max: quota,
            });
        }
        sqlx::query(
            "INSERT INTO attachments (id, conversation, uploader, size, body, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id.as_slice())
        .bind(conversation.as_bytes().as_slice())
        .bind(uploader.0)
        .bind(size)
        .bind(body)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn attachment(&self, id: &[u8; 16]) -> Result<Option<(ConversationId, Vec<u8>)>> {
        let row = sqlx::query("SELECT conversation, body FROM attachments WHERE id = $1")
            .bind(id.as_slice())
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| {
            Ok((
                ConversationId::from_bytes(fixed(r.bytes("conversation")?, "conversation id")?),
                r.bytes("body")?,
            ))
        })
        .transpose()
    }

    async fn history(
        &self,
        conversation: &ConversationId,
        window: &HistoryWindow,
    ) -> Result<Vec<ArchivedEnvelope>> {
        sqlx::query(paged::HISTORY)
            .bind(conversation.as_bytes().as_slice())
            .bind(window.before.unwrap_or(i64::MAX))
            .bind(window.from)
            .bind(window.limit)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(archive_row)
            .collect()
    }

    async fn purge_retention(&self, now: i64, default_secs: u64) -> Result<Purged> {
        let default_secs = to_i64(default_secs, "retention")?;
        // What is past retention is found by a read (no write lock: in SQLite the relay's
        // writer keeps committing meanwhile), then deleted in short write transactions, each
        // row checked again against the rule in case its conversation's retention changed.
        // One rule for both: kept while `at + retention > now`; retention 0 keeps for good.
        let envelopes: Vec<i64> = sqlx::query_scalar(
            "SELECT a.seq FROM archive a JOIN conversations c ON c.id = a.conversation \
             WHERE COALESCE(c.retention_secs, $2) > 0 \
             AND a.received_at <= $1 - COALESCE(c.retention_secs, $2) * 1000",
        )
        .bind(now)
        .bind(default_secs)
        .fetch_all(self.pool())
        .await?;
        let mut purged = Purged::default();
        for chunk in envelopes.chunks(PURGE_CHUNK) {
            let mut tx = self.pool().begin_with(B::BEGIN_WRITE).await?;
            for seq in chunk {
                purged.envelopes += sqlx::query(
                    "DELETE FROM archive WHERE seq = $1 AND EXISTS (SELECT 1 FROM conversations c \
                     WHERE c.id = archive.conversation AND COALESCE(c.retention_secs, $3) > 0 \
                     AND archive.received_at <= $2 - COALESCE(c.retention_secs, $3) * 1000)",
                )
                .bind(*seq)
                .bind(now)
                .bind(default_secs)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            }
            tx.commit().await?;
        }
        let attachments: Vec<Vec<u8>> = sqlx::query_scalar(
            "SELECT a.id FROM attachments a JOIN conversations c ON c.id = a.conversation \
             WHERE COALESCE(c.retention_secs, $2) > 0 \
             AND a.created_at <= $1 - COALESCE(c.retention_secs, $2) * 1000",
        )
        .bind(now)
        .bind(default_secs)
        .fetch_all(self.pool())
        .await?;
        for chunk in attachments.chunks(PURGE_CHUNK) {
            let mut tx = self.pool().begin_with(B::BEGIN_WRITE).await?;
            let mut freed: std::collections::HashMap<i64, i64> = std::collections::HashMap::new();
            for id in chunk {
                let gone = sqlx::query(
                    "DELETE FROM attachments WHERE id = $1 AND EXISTS (SELECT 1 FROM \
                     conversations c WHERE c.id = attachments.conversation \
                     AND COALESCE(c.retention_secs, $3) > 0 \
                     AND attachments.created_at <= $2 - COALESCE(c.retention_secs, $3) * 1000) \
                     RETURNING uploader, size",
                )
                .bind(id.as_slice())
                .bind(now)
                .bind(default_secs)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some(row) = gone {
                    *freed.entry(row.int("uploader")?).or_insert(0) += row.int("size")?;
                    purged.attachments += 1;
                }
            }
            for (uploader, size) in freed {
                // The uploader's quota counts what it stores now.
                sqlx::query(
                    "UPDATE users SET attachment_bytes = CASE WHEN attachment_bytes > $1 \
                     THEN attachment_bytes - $1 ELSE 0 END WHERE id = $2",
                )
                .bind(size)
                .bind(uploader)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        }
        Ok(purged)
    }

    async fn set_recovery(&self, user: UserId, recovery: &RecoveryRecord) -> Result<()> {
        let mut tx = self.pool().begin_with(B::BEGIN_WRITE).await?;
        sqlx::query("DELETE FROM backup_items WHERE user_id = $1")
            .bind(user.0)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO recovery (user_id, recovery_id, method, salt, verifier, items, bytes, \
             created_at) VALUES ($1, $2, $3, $4, $5, 0, 0, $6) ON CONFLICT (user_id) DO UPDATE \
             SET recovery_id = $2, method = $3, salt = $4, verifier = $5, items = 0, bytes = 0, \
             created_at = $6",
        )
        .bind(user.0)
        .bind(recovery.recovery_id.as_slice())
        .bind(recovery.method.as_str())
        .bind(recovery.salt.as_ref().map(|s| s.as_slice()))
        .bind(recovery.verifier.as_slice())
        .bind(recovery.created_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn recovery(&self, user: UserId) -> Result<Option<RecoveryRecord>> {
        sqlx::query("SELECT * FROM recovery WHERE user_id = $1")
            .bind(user.0)
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(recovery_row)
            .transpose()
    }

    async fn delete_recovery(&self, user: UserId) -> Result<bool> {
        let mut tx = self.pool().begin_with(B::BEGIN_WRITE).await?;
        sqlx::query("DELETE FROM backup_items WHERE user_id = $1")
            .bind(user.0)
            .execute(&mut *tx)
            .await?;
        let deleted = sqlx::query("DELETE FROM recovery WHERE user_id = $1")
            .bind(user.0)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(deleted > 0)
    }

    async fn put_backup_items(
        &self,
        user: UserId,
        recovery_id: &[u8; 16],
        items: &[NewBackupItem],
        caps: BackupCaps,
        now: i64,
    ) -> Result<u64> {
        let mut tx = self.pool().begin_with(B::BEGIN_WRITE).await?;
        // Locks the set-up's row (PostgreSQL; SQLite holds the write lock), so concurrent
        // uploads count one after the other against the caps.
        let setup = sqlx::query(
            "UPDATE recovery SET items = items WHERE user_id = $1 \
             RETURNING recovery_id, items, bytes",
        )
        .bind(user.0)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(setup) = setup else {
            return Err(Error::Conflict {
                what: "recovery is not set up",
            });
        };
        if setup.bytes("recovery_id")?.as_slice() != recovery_id.as_slice() {
            return Err(Error::Conflict {
                what: "the item belongs to another recovery set-up",
            });
        }
        let mut fresh: Vec<&NewBackupItem> = Vec::with_capacity(items.len());
        for item in items {
            if fresh.iter().any(|f| f.item_id == item.item_id) {
                continue;
            }
            let known = sqlx::query(
                "SELECT 1 AS one FROM backup_items WHERE user_id = $1 AND item_id = $2",
            )
            .bind(user.0)
            .bind(item.item_id.as_slice())
            .fetch_optional(&mut *tx)
            .await?;
            if known.is_none() {
                fresh.push(item);
            }
        }
        let added_items = i64::try_from(fresh.len()).unwrap_or(i64::MAX);
        let added_bytes = fresh.iter().fold(0i64, |n, i| {
            n.saturating_add(i64::try_from(i.body.len()).unwrap_or(i64::MAX))
        });
        if setup.int("items")?.saturating_add(added_items) > caps.items {
            return Err(Error::Capacity {
                what: "backup items of this account",
            });
        }
        if setup.int("bytes")?.saturating_add(added_bytes) > caps.bytes {
            return Err(Error::Capacity {
                what: "backup bytes of this account",
            });
        }
        for item in &fresh {
            sqlx::query(
                "INSERT INTO backup_items (user_id, item_id, body, created_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(user.0)
            .bind(item.item_id.as_slice())
            .bind(item.body.as_slice())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "UPDATE recovery SET items = items + $1, bytes = bytes + $2 WHERE user_id = $3",
        )
        .bind(added_items)
        .bind(added_bytes)
        .bind(user.0)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(u64::try_from(fresh.len()).unwrap_or(u64::MAX))
    }

    async fn backup_items(
        &self,
        user: UserId,
        after: i64,
        limit: i64,
    ) -> Result<Vec<StoredBackupItem>> {
        let rows = sqlx::query(paged::BACKUP_ITEMS)
            .bind(user.0)
            .bind(after)
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(StoredBackupItem {
                    seq: r.int("seq")?,
                    body: r.bytes("body")?,
                })
            })
            .collect()
    }

    async fn put_handover(&self, h: &HandoverRecord, max_per_recipient: i64) -> Result<()> {
        let mut tx = self.pool().begin_with(B::BEGIN_WRITE).await?;
        // Locks the recipient's row (PostgreSQL; SQLite holds the write lock already).
        sqlx::query("UPDATE devices SET queued = queued WHERE id = $1")
            .bind(h.recipient.as_bytes().as_slice())
            .execute(&mut *tx)
            .await?;
        let held = sqlx::query("SELECT COUNT(*) AS n FROM handovers WHERE recipient = $1")
            .bind(h.recipient.as_bytes().as_slice())
            .fetch_one(&mut *tx)
            .await?
            .int("n")?;
        if held >= max_per_recipient {
            return Err(Error::Capacity {
                what: "hand-overs waiting for this device",
            });
        }
        sqlx::query(
            "INSERT INTO handovers (id, recipient, sender, body, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(h.id.as_slice())
        .bind(h.recipient.as_bytes().as_slice())
        .bind(h.sender.as_bytes().as_slice())
        .bind(h.body.as_slice())
        .bind(h.created_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn handovers_for(&self, recipient: &DeviceId, since: i64) -> Result<Vec<HandoverRecord>> {
        sqlx::query(
            "SELECT * FROM handovers WHERE recipient = $1 AND created_at >= $2 \
             ORDER BY created_at, id",
        )
        .bind(recipient.as_bytes().as_slice())
        .bind(since)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(handover_row)
        .collect()
    }

    async fn delete_handover(&self, id: &[u8; 16], recipient: &DeviceId) -> Result<bool> {
        let deleted = sqlx::query("DELETE FROM handovers WHERE id = $1 AND recipient = $2")
            .bind(id.as_slice())
            .bind(recipient.as_bytes().as_slice())
            .execute(self.pool())
            .await?
            .rows_affected();
        Ok(deleted > 0)
    }

    async fn put_prekeys(
        &self,
        device: &DeviceId,
        prekeys: &[NewPrekey],
        replace: bool,
        max_stored: i64,
        now: i64,
    ) -> Result<i64> {
        let id = device.as_bytes().as_slice();
        let mut tx = self.pool().begin_with(B::BEGIN_WRITE).await?;
        // Locks the device's row (PostgreSQL; SQLite holds the write lock already): uploads of
        // one device count one after the other, and a revocation waits for this upload or
        // this upload finds the device revoked.
        let active =
            sqlx::query("UPDATE devices SET queued = queued WHERE id = $1 AND state = 'active'")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        if active.rows_affected() != 1 {
            return Err(Error::NotFound { what: "device" });
        }
        if replace {
            sqlx::query("DELETE FROM prekeys WHERE device = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        for prekey in prekeys {
            sqlx::query(
                "INSERT INTO prekeys (device, prekey_id, body, created_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (device, prekey_id) DO NOTHING",
            )
            .bind(id)
            .bind(prekey.id.as_bytes().as_slice())
            .bind(prekey.body.as_slice())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        let stored = prekey_count::<B::Db>(&mut *tx, id).await?;
        if stored > max_stored {
            return Err(Error::Conflict {
                what: "one-time prekeys stored for this device would pass the cap",
            });
        }
        tx.commit().await?;
        Ok(stored)
    }

    async fn prekey_count(&self, device: &DeviceId) -> Result<i64> {
        let mut conn = self.pool().acquire().await?;
        prekey_count::<B::Db>(&mut *conn, device.as_bytes().as_slice()).await
    }

    async fn claim_prekeys(
        &self,
        claimer: UserId,
        devices: &[DeviceId],
    ) -> Result<Vec<Option<Vec<u8>>>> {
        let mut tx = self.pool().begin_with(B::BEGIN_WRITE).await?;
        let mut out = Vec::with_capacity(devices.len());
        for device in devices {
            let body: Option<Vec<u8>> = sqlx::query_scalar(B::CLAIM_PREKEY)
                .bind(device.as_bytes().as_slice())
                .bind(claimer.0)
                .fetch_optional(&mut *tx)
                .await?;
            out.push(body);
        }
        tx.commit().await?;
        Ok(out)
    }

    async fn purge_pending_devices(&self, before: i64) -> Result<u64> {
        Ok(
            sqlx::query("DELETE FROM devices WHERE state = 'pending' AND created_at < $1")
                .bind(before)
                .execute(self.pool())
                .await?
                .rows_affected(),
        )
    }

    async fn purge_handovers(&self, before: i64) -> Result<u64> {
        Ok(sqlx::query("DELETE FROM handovers WHERE created_at < $1")
            .bind(before)
            .execute(self.pool())
            .await?
            .rows_affected())
    }

    async fn close(&self) {
        self.close_writer().await;
        self.pool().close().await;
    }

    async fn accounts(&self) -> Result<Vec<AccountSummary>> {
        let rows = sqlx::query(
            "SELECT u.username, u.created_at, u.disabled_at, u.deleted_at, \
             (SELECT COUNT(*) FROM devices d WHERE d.user_id = u.id AND d.state = 'active') \
             AS active_devices, \
             (SELECT MAX(COALESCE(s.pair_used_at, s.created_at)) FROM sessions s \
             WHERE s.user_id = u.id) AS last_active \
             FROM users u ORDER BY u.username",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AccountSummary {
                    username: r.text("username")?,
                    created_at: r.int("created_at")?,
                    disabled_at: r.opt_int("disabled_at")?,
                    deleted_at: r.opt_int("deleted_at")?,
                    active_devices: r.int("active_devices")?,
                    last_active: r.opt_int("last_active")?,
                })
            })
            .collect()
    }

    async fn set_account_disabled(
        &self,
        user: UserId,
        disabled: bool,
        now: i64,
    ) -> Result<Vec<SessionId>> {
        let mut tx = self.pool().begin_with(B::BEGIN_WRITE).await?;
        let updated = sqlx::query(
            "UPDATE users SET disabled_at = CASE WHEN $2 = 1 THEN COALESCE(disabled_at, $3) \
             ELSE NULL END WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind(user.0)
        .bind(i64::from(disabled))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() != 1 {
            return Err(Error::NotFound { what: "account" });
        }
        let mut ended = Vec::new();
        if disabled {
            // Every token of the account dies with its session in the same commit, so no
            // request authenticated after it returns can act for the account.
            let rows = sqlx::query("DELETE FROM sessions WHERE user_id = $1 RETURNING id")
                .bind(user.0)
                .fetch_all(&mut *tx)
                .await?;
            for r in &rows {
                ended.push(SessionId(fixed(r.bytes("id")?, "session id")?));
            }
        }
        tx.commit().await?;
        Ok(ended)
    }

    async fn delete_account(&self, user: UserId, now: i64) -> Result<AccountDeletion> {
        let mut tx = self.pool().begin_with(B::BEGIN_WRITE).await?;
        // The row stays (the name and account id stay taken); an empty password hash is no
        // PHC string, so no password ever verifies against it.
        let updated = sqlx::query(
            "UPDATE users SET deleted_at = $2, disabled_at = COALESCE(disabled_at, $2), \
             password_hash = '', attachment_bytes = 0 WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind(user.0)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() != 1 {
            return Err(Error::NotFound { what: "account" });
        }
        let mut gone = AccountDeletion::default();
        // Its copies no longer count (as for a revocation); bodies nobody else waits for are
        // dropped, a copy with a body of its own goes with its row.
        sqlx::query(
            "UPDATE messages SET copies = copies - 1, \
             body = CASE WHEN copies <= 1 THEN NULL ELSE body END \
             WHERE id IN (SELECT message FROM deliveries WHERE body IS NULL \
             AND device IN (SELECT id FROM devices WHERE user_id = $1))",
        )
        .bind(user.0)
        .execute(&mut *tx)
        .await?;
        gone.queued = sqlx::query(
            "DELETE FROM deliveries WHERE device IN (SELECT id FROM devices WHERE user_id = $1)",
        )
        .bind(user.0)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query(
            "DELETE FROM undelivered WHERE device IN (SELECT id FROM devices WHERE user_id = $1)",
        )
        .bind(user.0)
        .execute(&mut *tx)
        .await?;
        gone.prekeys = sqlx::query(
            "DELETE FROM prekeys WHERE device IN (SELECT id FROM devices WHERE user_id = $1)",
        )
        .bind(user.0)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        gone.handovers = sqlx::query(
            "DELETE FROM handovers WHERE recipient IN (SELECT id FROM devices WHERE user_id = $1)",
        )
        .bind(user.0)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        // Revoked, not deleted: the certificates stay public, so the group-log entries its
        // devices signed still verify for the other members.
        let revoked = sqlx::query(
            "UPDATE devices SET state = 'revoked', queued = 0, exchange_cert = NULL \
             WHERE user_id = $1 AND state <> 'revoked' RETURNING id",
        )
        .bind(user.0)
        .fetch_all(&mut *tx)
        .await?;
        for r in &revoked {
            gone.devices
                .push(DeviceId::from_bytes(fixed(r.bytes("id")?, "device id")?));
        }
        gone.sessions = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user.0)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        gone.backup_items = sqlx::query("DELETE FROM backup_items WHERE user_id = $1")
            .bind(user.0)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM recovery WHERE user_id = $1")
            .bind(user.0)
            .execute(&mut *tx)
            .await?;
        gone.attachments = sqlx::query("DELETE FROM attachments WHERE uploader = $1")
            .bind(user.0)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        gone.blocks = sqlx::query("DELETE FROM blocks WHERE blocker = $1")
            .bind(user.0)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        // After the commit, as for a revocation: the batches that queued copies for these
        // devices have committed, so their hot copies are all there to drop.
        for device in &gone.devices {
            self.forget_hot_copies(device);
        }
        Ok(gone)
    }

    async fn counts(&self, now: i64) -> Result<StoreCounts> {
        let r = sqlx::query(
            "SELECT \
             (SELECT COUNT(*) FROM users) AS accounts, \
             (SELECT COUNT(*) FROM users WHERE disabled_at IS NOT NULL AND deleted_at IS NULL) \
             AS disabled, \
             (SELECT COUNT(*) FROM users WHERE deleted_at IS NOT NULL) AS deleted, \
             (SELECT COUNT(*) FROM devices WHERE state = 'active') AS active_devices, \
             (SELECT COUNT(*) FROM sessions WHERE device IS NOT NULL AND refresh_expires > $1) \
             AS sessions, \
             (SELECT COUNT(*) FROM conversations) AS conversations, \
             (SELECT COUNT(*) FROM deliveries) AS queued, \
             (SELECT COUNT(*) FROM archive) AS archived, \
             (SELECT COUNT(*) FROM attachments) AS attachments, \
             (SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM attachments) \
             AS attachment_bytes",
        )
        .bind(now)
        .fetch_one(self.pool())
        .await?;
        let size = sqlx::query(B::DATABASE_BYTES)
            .fetch_one(self.pool())
            .await?;
        Ok(StoreCounts {
            database_bytes: size.int("bytes")?,
            accounts: r.int("accounts")?,
            disabled: r.int("disabled")?,
            deleted: r.int("deleted")?,
            active_devices: r.int("active_devices")?,
            sessions: r.int("sessions")?,
            conversations: r.int("conversations")?,
            queued: r.int("queued")?,
            archived: r.int("archived")?,
            attachments: r.int("attachments")?,
            attachment_bytes: r.int("attachment_bytes")?,
        })
    }

    // ---- invitations ----

    async fn create_invite(&self, invite: &InviteRecord) -> Result<()> {
        let done = sqlx::query(
            "INSERT INTO invites (id, code_hash, created_at, expires_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT DO NOTHING",
        )
        .bind(invite.id.as_slice())
        .bind(invite.code_hash.as_slice())
        .bind(invite.created_at)
        .bind(invite.expires_at)
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Err(Error::Conflict {
                what: "invitation id is taken",
            });
        }
        Ok(())
    }

    async fn invite_usable(&self, code_hash: &[u8; 32], now: i64) -> Result<bool> {
        Ok(sqlx::query(
            "SELECT id FROM invites WHERE code_hash = $1 AND used_at IS NULL \
             AND revoked_at IS NULL AND expires_at > $2",
        )
        .bind(code_hash.as_slice())
        .bind(now)
        .fetch_optional(self.pool())
        .await?
        .is_some())
    }

    async fn create_user_with_invite(
        &self,
        username: &str,
        hash: &str,
        now: i64,
        code_hash: &[u8; 32],
    ) -> Result<UserId> {
        let mut tx = self.pool().begin_with(B::BEGIN_WRITE).await?;
        let user = sqlx::query(
            "INSERT INTO users (username, password_hash, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (username) DO NOTHING RETURNING id",
        )
        .bind(username)
        .bind(hash)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(user) = user else {
            return Err(Error::Conflict {
                what: "username is taken",
            });
        };
        let user = UserId(user.int("id")?);
        // The condition is checked on the row under its write lock (PostgreSQL re-reads it
        // after a racing spend commits; SQLite holds its one write lock), so one code is spent
        // once; dropping the transaction undoes the user row.
        let spent = sqlx::query(
            "UPDATE invites SET used_at = $2, used_by = $3 WHERE code_hash = $1 \
             AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $2",
        )
        .bind(code_hash.as_slice())
        .bind(now)
        .bind(user.0)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if spent != 1 {
            return Err(Error::InviteInvalid);
        }
        tx.commit().await?;
        Ok(user)
    }

    async fn list_invites(&self, now: i64) -> Result<Vec<InviteRecord>> {
        sqlx::query(
            "SELECT id, code_hash, created_at, expires_at, used_at, used_by, revoked_at \
             FROM invites WHERE used_at IS NULL AND revoked_at IS NULL AND expires_at > $1 \
             ORDER BY created_at, id",
        )
        .bind(now)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(invite_row)
        .collect()
    }

    async fn revoke_invite(&self, id: &[u8; 8], now: i64) -> Result<bool> {
        Ok(sqlx::query(
            "UPDATE invites SET revoked_at = $2 WHERE id = $1 AND used_at IS NULL \
             AND revoked_at IS NULL",
        )
        .bind(id.as_slice())
        .bind(now)
        .execute(self.pool())
        .await?
        .rows_affected()
            == 1)
    }

    async fn purge_invites(&self, before: i64) -> Result<u64> {
        Ok(sqlx::query(
            "DELETE FROM invites WHERE used_at < $1 OR revoked_at < $1 OR expires_at < $1",
        )
        .bind(before)
        .execute(self.pool())
        .await?
        .rows_affected())
    }
}

/// An `invites` row.
fn invite_row(row: &impl Columns) -> Result<InviteRecord> {
    Ok(InviteRecord {
        id: fixed(row.bytes("id")?, "invitation id")?,
        code_hash: fixed(row.bytes("code_hash")?, "invitation hash")?,
        created_at: row.int("created_at")?,
        expires_at: row.int("expires_at")?,
        used_at: row.opt_int("used_at")?,
        used_by: row.opt_int("used_by")?.map(UserId),
        revoked_at: row.opt_int("revoked_at")?,
    })
}

/// Rows one write transaction of the retention purge deletes at most, so the write lock is
/// never held for long (SQLite's relay writer waits on it).
const PURGE_CHUNK: usize = 500;

/// How many rows a statement changed. sqlx gives each backend's query result this as an
/// inherent method rather than through a trait; each backend's folder implements this for it.
pub(crate) trait RowsAffected {
    /// The number of rows inserted, updated or deleted.
    fn rows_affected(&self) -> u64;
}

/// Appends `change` to the log of conversation `id`, inside the caller's transaction.
async fn insert_change<DB>(
    conn: &mut DB::Connection,
    id: &[u8],
    change: &ChangeRecord,
) -> Result<()>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
{
    sqlx::query(
        "INSERT INTO group_changes (conversation, epoch, change, author, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(to_i64(change.epoch, "epoch")?)
    .bind(change.change.as_slice())
    .bind(change.author.as_bytes().as_slice())
    .bind(change.created_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Replaces the member list of conversation `id`, inside the caller's transaction: members
/// no longer listed go (recorded as removed by the change at `epoch`), members who stay keep
/// their row (and status), new ones are added with their status, who added them and `now`.
async fn replace_members<DB>(
    conn: &mut DB::Connection,
    id: &[u8],
    members: &[NewMember],
    epoch: i64,
    now: i64,
) -> Result<()>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB>,
    for<'r> i64: Decode<'r, DB>,
    usize: ColumnIndex<DB::Row>,
{
    let current: Vec<i64> =
        sqlx::query_scalar("SELECT user_id FROM members WHERE conversation = $1")
            .bind(id)
            .fetch_all(&mut *conn)
            .await?;
    for user in current {
        if !members.iter().any(|m| m.user.0 == user) {
            sqlx::query("DELETE FROM members WHERE conversation = $1 AND user_id = $2")
                .bind(id)
                .bind(user)
                .execute(&mut *conn)
                .await?;
            // What the former member may still read: the log up to this change.
            sqlx::query(
                "INSERT INTO former_members (conversation, user_id, removed_epoch) \
                 VALUES ($1, $2, $3) ON CONFLICT (conversation, user_id) \
                 DO UPDATE SET removed_epoch = excluded.removed_epoch",
            )
            .bind(id)
            .bind(user)
            .bind(epoch)
            .execute(&mut *conn)
            .await?;
        }
    }
    for member in members {
        sqlx::query(
            "INSERT INTO members (conversation, user_id, status, added_by, added_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (conversation, user_id) DO NOTHING",
        )
        .bind(id)
        .bind(member.user.0)
        .bind(member.status.as_str())
        .bind(member.added_by.map(|u| u.0))
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Deletes the settled copies of conversation `conversation` queued for `user`'s devices,
/// inside the caller's transaction (a declined conversation); returns the user's devices, whose
/// hot copies the caller drops after the commit.
async fn drop_queued_copies<DB>(
    conn: &mut DB::Connection,
    user: UserId,
    conversation: &[u8],
) -> Result<Vec<DeviceId>>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'r> Vec<u8>: Decode<'r, DB> + Type<DB>,
    usize: ColumnIndex<DB::Row>,
    DB::QueryResult: RowsAffected,
{
    let ids: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT id FROM devices WHERE user_id = $1 AND state = 'active'")
            .bind(user.0)
            .fetch_all(&mut *conn)
            .await?;
    let mut devices = Vec::with_capacity(ids.len());
    for device in ids {
        // As for a revocation: shared bodies count down, a copy with its own body goes with
        // its row. Both statements start from the device's own (bounded) queue.
        sqlx::query(
            "UPDATE messages SET copies = copies - 1, \
             body = CASE WHEN copies <= 1 THEN NULL ELSE body END \
             WHERE id IN (SELECT d.message FROM deliveries d JOIN messages m \
             ON m.id = d.message WHERE d.device = $1 AND d.body IS NULL \
             AND m.conversation = $2)",
        )
        .bind(device.as_slice())
        .bind(conversation)
        .execute(&mut *conn)
        .await?;
        let deleted = sqlx::query(
            "DELETE FROM deliveries WHERE device = $1 AND message IN \
             (SELECT d.message FROM deliveries d JOIN messages m ON m.id = d.message \
             WHERE d.device = $1 AND m.conversation = $2)",
        )
        .bind(device.as_slice())
        .bind(conversation)
        .execute(&mut *conn)
        .await?
        .rows_affected();
        if deleted > 0 {
            sqlx::query(
                "UPDATE devices SET queued = CASE WHEN queued > $2 THEN queued - $2 ELSE 0 END \
                 WHERE id = $1",
            )
            .bind(device.as_slice())
            .bind(i64::try_from(deleted).unwrap_or(i64::MAX))
            .execute(&mut *conn)
            .await?;
        }
        devices.push(DeviceId::from_bytes(fixed(device, "device id")?));
    }
    Ok(devices)
}

/// How many prekeys device `id` has stored, on the caller's connection or transaction.
async fn prekey_count<DB>(conn: &mut DB::Connection, id: &[u8]) -> Result<i64>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
    for<'r> i64: Decode<'r, DB> + Type<DB>,
    usize: ColumnIndex<DB::Row>,
{
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM prekeys WHERE device = $1")
            .bind(id)
            .fetch_one(&mut *conn)
            .await?,
    )
}
