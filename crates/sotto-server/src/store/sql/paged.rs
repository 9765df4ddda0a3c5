//! The statements whose row limit is a bound parameter.
//!
//! SQLite reads the value bound to a bare `LIMIT $N` while it plans a statement, and so marks
//! the statement to be planned again whenever that parameter is bound: since sqlx binds every
//! parameter on every execution, each run parsed and planned the SQL anew (about a tenth of the
//! server's CPU while devices connect, through every socket's first queue read; D76). Behind a
//! cast the limit is an expression, planned once. PostgreSQL takes the cast as it is.

/// A device's queued copies above a sequence number, oldest first.
pub(crate) const PENDING: &str = "SELECT d.seq, m.id, m.conversation, m.sender_account, \
     m.sender_device, m.received_at, COALESCE(d.body, m.body) AS body \
     FROM deliveries d JOIN messages m ON m.id = d.message \
     WHERE d.device = $1 AND d.seq > $2 ORDER BY d.seq LIMIT CAST($3 AS BIGINT)";

/// A conversation's archived envelopes below a sequence number and from a time, newest first.
pub(crate) const HISTORY: &str = "SELECT seq, message, received_at, body FROM archive \
     WHERE conversation = $1 AND seq < $2 AND received_at >= $3 \
     ORDER BY seq DESC LIMIT CAST($4 AS BIGINT)";

/// A user's backup items above a sequence number, oldest first.
pub(crate) const BACKUP_ITEMS: &str = "SELECT seq, body FROM backup_items \
     WHERE user_id = $1 AND seq > $2 ORDER BY seq LIMIT CAST($3 AS BIGINT)";

/// Deletes a session's challenges but the newest `$2`.
pub(crate) const TRIM_CHALLENGES: &str = "DELETE FROM challenges WHERE session_id = $1 \
     AND nonce NOT IN (SELECT nonce FROM challenges WHERE session_id = $1 \
     ORDER BY issued_at DESC, nonce DESC LIMIT CAST($2 AS BIGINT))";

/// Every statement of this module, for the test that each is planned once.
#[cfg(test)]
pub(crate) const ALL: [&str; 4] = [PENDING, HISTORY, BACKUP_ITEMS, TRIM_CHALLENGES];
