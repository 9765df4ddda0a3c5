//! Row decoding for the SQL both backends share: users, devices, sessions and group changes,
//! with every fixed-size column length-checked. The decoders read through [`Columns`], which
//! every row of either backend implements, so SQLite and PostgreSQL rows go through the same
//! code and a column added for one cannot be missed for the other.

use sotto_proto::ids::{AccountId, DeviceId, MessageId};
use sqlx::{ColumnIndex, Decode, Row, Type};

use crate::error::{Error, Result};
use crate::store::{
    fixed, ArchivedEnvelope, ChangeRecord, DeviceRecord, DeviceState, HandoverRecord, NewTokenPair,
    RecoveryMethod, RecoveryRecord, SessionId, SessionRecord, UserId, UserRecord,
};

/// A row's columns by name, as the few types the store keeps: integers, text and byte strings,
/// each possibly `NULL`. The sqlx bounds that make this work for a backend's row type are
/// written once, on the blanket implementation, instead of on every decoder.
pub(crate) trait Columns {
    /// An integer column.
    fn int(&self, name: &str) -> Result<i64>;
    /// An integer column that may be `NULL`.
    fn opt_int(&self, name: &str) -> Result<Option<i64>>;
    /// A text column.
    fn text(&self, name: &str) -> Result<String>;
    /// A byte-string column.
    fn bytes(&self, name: &str) -> Result<Vec<u8>>;
    /// A byte-string column that may be `NULL`.
    fn opt_bytes(&self, name: &str) -> Result<Option<Vec<u8>>>;
}

impl<R> Columns for R
where
    R: Row,
    for<'n> &'n str: ColumnIndex<R>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Vec<u8>: Decode<'r, R::Database> + Type<R::Database>,
{
    fn int(&self, name: &str) -> Result<i64> {
        Ok(self.try_get(name)?)
    }

    fn opt_int(&self, name: &str) -> Result<Option<i64>> {
        Ok(self.try_get(name)?)
    }

    fn text(&self, name: &str) -> Result<String> {
        Ok(self.try_get(name)?)
    }

    fn bytes(&self, name: &str) -> Result<Vec<u8>> {
        Ok(self.try_get(name)?)
    }

    fn opt_bytes(&self, name: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.try_get(name)?)
    }
}

/// A `users` row.
pub(crate) fn user_row(row: &impl Columns) -> Result<UserRecord> {
    user_columns(row, UserId(row.int("id")?))
}

/// A session joined to its user (`sessions s JOIN users u`): the session's columns as
/// [`session_row`] reads them, then the user's but its id (the session's `user_id`):
/// `u.username, u.password_hash, u.master_key, u.account_id, u.disabled_at`.
pub(crate) fn session_and_user_row(row: &impl Columns) -> Result<(SessionRecord, UserRecord)> {
    let session = session_row(row)?;
    let user = user_columns(row, session.user)?;
    Ok((session, user))
}

/// A user's columns but its id, which the caller read from wherever its row has it.
fn user_columns(row: &impl Columns, id: UserId) -> Result<UserRecord> {
    Ok(UserRecord {
        id,
        username: row.text("username")?,
        password_hash: row.text("password_hash")?,
        master_key: row.opt_bytes("master_key")?,
        account: row
            .opt_bytes("account_id")?
            .map(|a| fixed(a, "account id").map(AccountId::from_bytes))
            .transpose()?,
        disabled: row.opt_int("disabled_at")?.is_some(),
    })
}

/// A `recovery` row.
pub(crate) fn recovery_row(row: &impl Columns) -> Result<RecoveryRecord> {
    Ok(RecoveryRecord {
        recovery_id: fixed(row.bytes("recovery_id")?, "recovery id")?,
        method: row
            .text("method")?
            .parse::<RecoveryMethod>()
            .map_err(|_| Error::Corrupt {
                what: "recovery method",
            })?,
        salt: row
            .opt_bytes("salt")?
            .map(|s| fixed(s, "recovery salt"))
            .transpose()?,
        verifier: fixed(row.bytes("verifier")?, "recovery verifier")?,
        items: row.int("items")?,
        bytes: row.int("bytes")?,
        created_at: row.int("created_at")?,
    })
}

/// A `handovers` row.
pub(crate) fn handover_row(row: &impl Columns) -> Result<HandoverRecord> {
    Ok(HandoverRecord {
        id: fixed(row.bytes("id")?, "hand-over id")?,
        recipient: DeviceId::from_bytes(fixed(row.bytes("recipient")?, "device id")?),
        sender: DeviceId::from_bytes(fixed(row.bytes("sender")?, "device id")?),
        body: row.bytes("body")?,
        created_at: row.int("created_at")?,
    })
}

/// An `archive` row.
pub(crate) fn archive_row(row: &impl Columns) -> Result<ArchivedEnvelope> {
    Ok(ArchivedEnvelope {
        seq: row.int("seq")?,
        message: MessageId::from_bytes(fixed(row.bytes("message")?, "message id")?),
        received_at: row.int("received_at")?,
        body: row.bytes("body")?,
    })
}

/// A `devices` row.
pub(crate) fn device_row(row: &impl Columns) -> Result<DeviceRecord> {
    Ok(DeviceRecord {
        device: DeviceId::from_bytes(fixed(row.bytes("id")?, "device id")?),
        user: UserId(row.int("user_id")?),
        state: device_state(&row.text("state")?)?,
        signing_key: row.bytes("signing_key")?,
        auth_key: row.bytes("auth_key")?,
        name: row.text("name")?,
        certificate: row.opt_bytes("certificate")?,
        exchange_cert: row.opt_bytes("exchange_cert")?,
        exchange_serial: row
            .opt_int("exchange_serial")?
            .map(|s| u64::try_from(s).map_err(|_| Error::Corrupt { what: "serial" }))
            .transpose()?,
        created_at: row.int("created_at")?,
    })
}

/// A `sessions` row.
pub(crate) fn session_row(row: &impl Columns) -> Result<SessionRecord> {
    Ok(SessionRecord {
        id: SessionId(fixed(row.bytes("id")?, "session id")?),
        user: UserId(row.int("user_id")?),
        device: row
            .opt_bytes("device")?
            .map(|d| fixed(d, "device id").map(DeviceId::from_bytes))
            .transpose()?,
        access_hash: fixed(row.bytes("access_hash")?, "token hash")?,
        access_expires: row.int("access_expires")?,
        refresh_hash: row
            .opt_bytes("refresh_hash")?
            .map(|r| fixed(r, "token hash"))
            .transpose()?,
        refresh_expires: row.int("refresh_expires")?,
        previous_refresh_hash: row
            .opt_bytes("previous_refresh_hash")?
            .map(|r| fixed(r, "token hash"))
            .transpose()?,
        pair_used_at: row.opt_int("pair_used_at")?,
        created_at: row.int("created_at")?,
    })
}

/// A `group_changes` row.
pub(crate) fn change_row(row: &impl Columns) -> Result<ChangeRecord> {
    let epoch = row.int("epoch")?;
    Ok(ChangeRecord {
        epoch: u64::try_from(epoch).map_err(|_| Error::Corrupt { what: "epoch" })?,
        change: row.bytes("change")?,
        author: DeviceId::from_bytes(fixed(row.bytes("author")?, "device id")?),
        created_at: row.int("created_at")?,
    })
}

/// `session` with a newly issued pair in place of its current one.
pub(crate) fn with_pair(mut session: SessionRecord, pair: &NewTokenPair) -> SessionRecord {
    session.access_hash = pair.access_hash;
    session.access_expires = pair.access_expires;
    session.refresh_hash = Some(pair.refresh_hash);
    session.refresh_expires = pair.refresh_expires;
    session
}

/// Whether `spent` is the session's one retryable spent refresh token at `now`: the token its
/// current pair was issued for, while that pair is unused and unexpired.
pub(crate) fn retryable(session: &SessionRecord, spent: &[u8; 32], now: i64) -> bool {
    session.previous_refresh_hash.as_ref() == Some(spent)
        && session.pair_used_at.is_none()
        && session.refresh_expires > now
}

/// A count or serial as the `BIGINT` column that stores it.
pub(crate) fn to_i64(value: u64, field: &'static str) -> Result<i64> {
    i64::try_from(value).map_err(|_| Error::InvalidField {
        field,
        reason: "must be below 2^63",
    })
}

/// Whether a statement failed on a `UNIQUE` constraint.
pub(crate) fn unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// A device's state from its column.
fn device_state(text: &str) -> Result<DeviceState> {
    match text {
        "pending" => Ok(DeviceState::Pending),
        "active" => Ok(DeviceState::Active),
        "revoked" => Ok(DeviceState::Revoked),
        _ => Err(Error::Corrupt {
            what: "device state",
        }),
    }
}
