//! Socket tickets redeemed on the group-commit connection (`writer.rs`).
//!
//! Admitting a socket takes its ticket (a durable delete: a ticket admits one socket, also
//! across a restart) and reads the session and user it admits. On the sqlx pool that was three
//! statements, each a hand-off to the pool's connection thread and back, and a commit with its
//! own `fsync` per socket: most of a socket admission's server time. Here the writer thread
//! takes every redemption waiting for it at once, runs them in one transaction with cached
//! statements and commits them with one `fsync`.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};
use tokio::sync::oneshot;

use crate::error::{Error, Result};
use crate::store::sql::rows::{session_and_user_row, Columns};
use crate::store::{SessionRecord, UserRecord};

/// Redemptions committed in one transaction at most (a burst of reconnecting sockets is
/// answered in slices, so the relay's batches wait behind one slice, not the whole burst).
pub(super) const MAX_PER_COMMIT: usize = 512;

const TAKE_TICKET: &str = "DELETE FROM tickets WHERE hash = ?1 RETURNING session_id, expires";
const SESSION_AND_USER: &str =
    "SELECT s.id, s.user_id, s.device, s.access_hash, s.access_expires, s.refresh_hash, \
     s.refresh_expires, s.previous_refresh_hash, s.pair_used_at, s.created_at, u.username, \
     u.password_hash, u.master_key, u.account_id, u.disabled_at \
     FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = ?1";

/// What a redemption answers: the session and its user, if the ticket was valid.
pub(super) type Redeemed = Option<(SessionRecord, UserRecord)>;

/// One ticket to redeem, and where its answer goes.
pub(super) struct Redemption {
    pub hash: [u8; 32],
    pub now: i64,
    pub reply: oneshot::Sender<Result<Redeemed>>,
}

/// Prepares the statements, so a database without the tables fails at startup.
pub(super) fn prepare(conn: &Connection) -> Result<()> {
    conn.prepare_cached(TAKE_TICKET)?;
    conn.prepare_cached(SESSION_AND_USER)?;
    Ok(())
}

/// Redeems `batch` in one transaction and answers each once it has committed. If the
/// transaction fails, nothing of it is kept and every redemption is answered
/// [`Error::Unavailable`] (the cause is logged once): its socket is refused and the client asks
/// for a new ticket.
pub(super) fn redeem(conn: &mut Connection, batch: Vec<Redemption>) {
    let answers = redeem_all(conn, &batch);
    match answers {
        Ok(answers) => {
            for (redemption, answer) in batch.into_iter().zip(answers) {
                // The socket may have gone away; the ticket is spent regardless.
                let _ = redemption.reply.send(answer);
            }
        }
        Err(error) => {
            tracing::error!(?error, "redeeming socket tickets failed");
            for redemption in batch {
                let _ = redemption.reply.send(Err(Error::Unavailable));
            }
        }
    }
}

/// The transaction: every ticket taken, its session and user read, then one commit. A row that
/// does not decode answers an error for its own redemption only.
fn redeem_all(conn: &mut Connection, batch: &[Redemption]) -> Result<Vec<Result<Redeemed>>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut answers = Vec::with_capacity(batch.len());
    {
        let mut take = tx.prepare_cached(TAKE_TICKET)?;
        let mut read = tx.prepare_cached(SESSION_AND_USER)?;
        for redemption in batch {
            let ticket: Option<(Vec<u8>, i64)> = take
                .query_row([redemption.hash.as_slice()], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })
                .optional()?;
            let answer = match ticket {
                Some((session, expires)) if expires > redemption.now => read
                    .query_row([session.as_slice()], |row| {
                        Ok(session_and_user_row(&RowColumns(row)))
                    })
                    .optional()?
                    .transpose(),
                Some(_) | None => Ok(None),
            };
            answers.push(answer);
        }
    }
    tx.commit()?;
    Ok(answers)
}

/// A `rusqlite` row read through the shared decoders' [`Columns`].
struct RowColumns<'a, 'r>(&'a rusqlite::Row<'r>);

impl Columns for RowColumns<'_, '_> {
    fn int(&self, name: &str) -> Result<i64> {
        Ok(self.0.get(name)?)
    }

    fn opt_int(&self, name: &str) -> Result<Option<i64>> {
        Ok(self.0.get(name)?)
    }

    fn text(&self, name: &str) -> Result<String> {
        Ok(self.0.get(name)?)
    }

    fn bytes(&self, name: &str) -> Result<Vec<u8>> {
        Ok(self.0.get(name)?)
    }

    fn opt_bytes(&self, name: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.0.get(name)?)
    }
}
