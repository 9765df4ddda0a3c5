//! Row decoding shared by both backends, generated per row type by [`sql_rows!`]: users,
//! devices, sessions and group changes, with every fixed-size column length-checked.

/// Generates the row decoders for rows of type `$row`.
macro_rules! sql_rows {
    ($row:ty) => {
        const USER_COLUMNS: &str = "id, username, password_hash, master_key, account_id";
        const _: &str = USER_COLUMNS;

        fn user_row(row: &$row) -> Result<UserRecord> {
            let account: Option<Vec<u8>> = row.try_get("account_id")?;
            Ok(UserRecord {
                id: UserId(row.try_get("id")?),
                username: row.try_get("username")?,
                password_hash: row.try_get("password_hash")?,
                master_key: row.try_get("master_key")?,
                account: account
                    .map(|a| fixed(a, "account id").map(AccountId::from_bytes))
                    .transpose()?,
            })
        }

        fn device_row(row: &$row) -> Result<DeviceRecord> {
            let serial: Option<i64> = row.try_get("exchange_serial")?;
            let state: String = row.try_get("state")?;
            Ok(DeviceRecord {
                device: DeviceId::from_bytes(fixed(row.try_get("id")?, "device id")?),
                user: UserId(row.try_get("user_id")?),
                state: DeviceState::parse(&state)?,
                signing_key: row.try_get("signing_key")?,
                auth_key: row.try_get("auth_key")?,
                name: row.try_get("name")?,
                certificate: row.try_get("certificate")?,
                exchange_cert: row.try_get("exchange_cert")?,
                exchange_serial: serial
                    .map(|s| u64::try_from(s).map_err(|_| Error::Corrupt { what: "serial" }))
                    .transpose()?,
                created_at: row.try_get("created_at")?,
            })
        }

        fn session_row(row: &$row) -> Result<SessionRecord> {
            let device: Option<Vec<u8>> = row.try_get("device")?;
            let refresh: Option<Vec<u8>> = row.try_get("refresh_hash")?;
            let previous: Option<Vec<u8>> = row.try_get("previous_refresh_hash")?;
            Ok(SessionRecord {
                id: SessionId(fixed(row.try_get("id")?, "session id")?),
                user: UserId(row.try_get("user_id")?),
                device: device
                    .map(|d| fixed(d, "device id").map(DeviceId::from_bytes))
                    .transpose()?,
                access_hash: fixed(row.try_get("access_hash")?, "token hash")?,
                access_expires: row.try_get("access_expires")?,
                refresh_hash: refresh.map(|r| fixed(r, "token hash")).transpose()?,
                refresh_expires: row.try_get("refresh_expires")?,
                previous_refresh_hash: previous
                    .map(|r| fixed(r, "token hash"))
                    .transpose()?,
                pair_used_at: row.try_get("pair_used_at")?,
                created_at: row.try_get("created_at")?,
            })
        }

        /// `session` with a newly issued pair in place of its current one.
        fn with_pair(mut session: SessionRecord, pair: &NewTokenPair) -> SessionRecord {
            session.access_hash = pair.access_hash;
            session.access_expires = pair.access_expires;
            session.refresh_hash = Some(pair.refresh_hash);
            session.refresh_expires = pair.refresh_expires;
            session
        }

        /// Whether `spent` is the session's one retryable spent refresh token at `now`: the
        /// token its current pair was issued for, while that pair is unused and unexpired.
        fn retryable(session: &SessionRecord, spent: &[u8; 32], now: i64) -> bool {
            session.previous_refresh_hash.as_ref() == Some(spent)
                && session.pair_used_at.is_none()
                && session.refresh_expires > now
        }

        fn change_row(row: &$row) -> Result<ChangeRecord> {
            let epoch: i64 = row.try_get("epoch")?;
            Ok(ChangeRecord {
                epoch: u64::try_from(epoch).map_err(|_| Error::Corrupt { what: "epoch" })?,
                change: row.try_get("change")?,
                author: DeviceId::from_bytes(fixed(row.try_get("author")?, "device id")?),
                created_at: row.try_get("created_at")?,
            })
        }

        fn to_i64(value: u64, field: &'static str) -> Result<i64> {
            i64::try_from(value).map_err(|_| Error::InvalidField {
                field,
                reason: "must be below 2^63",
            })
        }

        fn unique_violation(e: &sqlx::Error) -> bool {
            matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
        }

        const SESSION_COLUMNS: &str = "id, user_id, device, access_hash, access_expires, \
             refresh_hash, refresh_expires, previous_refresh_hash, pair_used_at, created_at";
        const _: &str = SESSION_COLUMNS;

    };
}

pub(crate) use sql_rows;
