//! The operator's levers: reading and editing the server's store and database directly, as
//! whoever runs (or broke into) the server can.

use std::sync::Arc;

use sotto_client::outbox::SendReport;
use sotto_proto::distribution::KeyDistribution;
use sotto_proto::envelope::Envelope;
use sotto_proto::identity::DeviceKeys;
use sotto_proto::ids::{AccountId, ConversationId, DeviceId, MessageId};
use sotto_server::store::{Delivery, NewEnvelope, Store, UserId, WriteOp, WriteOutcome};
use sqlx::Connection;

use super::World;

impl World {
    /// The server's store (the operator's lever).
    pub fn store(&self) -> Arc<dyn Store> {
        self.server.as_ref().unwrap().state.0.store.clone()
    }

    /// The server's row id of `name`.
    pub fn user_id(&self, name: &str) -> UserId {
        self.rt
            .block_on(self.store().user_by_name(name))
            .unwrap()
            .unwrap()
            .id
    }

    /// Everything queued for `device`, oldest first.
    pub fn queued(&self, device: DeviceId) -> Vec<Delivery> {
        self.rt
            .block_on(self.store().pending(&device, 0, 1000))
            .unwrap()
    }

    /// Deletes `messages` from `device`'s queue (a relay that withholds them).
    pub fn withhold(&self, device: DeviceId, messages: &[MessageId]) {
        let ack = WriteOp::Ack {
            device,
            messages: messages.to_vec(),
        };
        self.rt
            .block_on(self.store().write_batch(&[ack], 10_000))
            .unwrap();
    }

    /// Queues `body` for `to` only, under a fresh relay id, as if `like` had sent it (the relay
    /// metadata is the server's to invent; the client must trust only what is signed).
    pub fn inject(&self, to: DeviceId, like: &Delivery, body: Vec<u8>) -> MessageId {
        self.inject_at(to, like, body, like.received_at)
    }

    /// [`World::inject`] with a chosen server receive time.
    pub fn inject_at(
        &self,
        to: DeviceId,
        like: &Delivery,
        body: Vec<u8>,
        received_at: i64,
    ) -> MessageId {
        let message = MessageId::from_bytes(rand16());
        // Any member row passes the store's membership check; alice is in every group here.
        let op = WriteOp::Enqueue(NewEnvelope {
            message,
            conversation: like.conversation,
            sender_user: self.user_id("alice"),
            sender_account: like.sender_account,
            sender_device: like.sender_device,
            received_at,
            to: Some(to),
            body,
        });
        let outcome = self
            .rt
            .block_on(self.store().write_batch(&[op], 10_000))
            .unwrap();
        assert!(
            matches!(outcome.as_slice(), [WriteOutcome::Stored { recipients, .. }] if recipients.len() == 1),
            "injection not stored: {outcome:?}"
        );
        message
    }

    /// Queues a forged payload "from" `sender` (account, device) in `conversation` for `to`.
    pub fn inject_raw(
        &self,
        to: DeviceId,
        conversation: ConversationId,
        sender: (AccountId, DeviceId),
        body: Vec<u8>,
    ) -> MessageId {
        let like = Delivery {
            seq: 0,
            message: MessageId::from_bytes([0; 16]),
            conversation,
            sender_account: sender.0,
            sender_device: sender.1,
            received_at: now_ms(),
            body: Vec::new(),
        };
        self.inject(to, &like, body)
    }

    /// A connection of its own to the server's SQLite database.
    async fn connect_db(&self) -> sqlx::SqliteConnection {
        let db = self.dir.path().join("data").join("sotto.db");
        sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap()
    }

    /// Runs one SQL statement with blob/integer/text parameters on the server's database.
    pub fn sql(&self, statement: &'static str, params: &[Param]) -> u64 {
        self.rt.block_on(async {
            let mut conn = self.connect_db().await;
            let mut query = sqlx::query(statement);
            for p in params {
                query = match p {
                    Param::Blob(b) => query.bind(b.clone()),
                    Param::Int(i) => query.bind(*i),
                    Param::Text(t) => query.bind(t.clone()),
                    Param::Null => query.bind(None::<Vec<u8>>),
                };
            }
            let done = query.execute(&mut conn).await.unwrap();
            conn.close().await.unwrap();
            done.rows_affected()
        })
    }
}

impl World {
    /// One integer read from the server's database.
    pub fn sql_count(&self, statement: &'static str, params: &[Param]) -> i64 {
        self.rt.block_on(async {
            let mut conn = self.connect_db().await;
            let mut query = sqlx::query_scalar::<_, i64>(statement);
            for p in params {
                query = match p {
                    Param::Blob(b) => query.bind(b.clone()),
                    Param::Int(i) => query.bind(*i),
                    Param::Text(t) => query.bind(t.clone()),
                    Param::Null => query.bind(None::<Vec<u8>>),
                };
            }
            let value = query.fetch_one(&mut conn).await.unwrap();
            conn.close().await.unwrap();
            value
        })
    }

    /// The key distributions queued for `device`.
    pub fn kdms_for(&self, device: DeviceId) -> Vec<(Delivery, KeyDistribution)> {
        self.queued(device)
            .into_iter()
            .filter_map(|d| KeyDistribution::decode(&d.body).ok().map(|k| (d, k)))
            .collect()
    }

    /// The chat messages (envelopes) queued for `device`.
    pub fn envelopes_for(&self, device: DeviceId) -> Vec<(Delivery, Envelope)> {
        self.queued(device)
            .into_iter()
            .filter_map(|d| Envelope::decode(&d.body).ok().map(|e| (d, e)))
            .collect()
    }

    /// The queued copy of the message `sent` for `device`, with its envelope.
    pub fn queued_envelope(&self, device: DeviceId, sent: &SendReport) -> (Delivery, Envelope) {
        self.envelopes_for(device)
            .into_iter()
            .find(|(d, _)| d.message == msg_id(sent))
            .unwrap()
    }

    /// Payloads sent by `device` that reached the server (any kind): the envelopes of the
    /// SQLite relay log and the settled `messages` rows, by id. (A settled envelope that was
    /// delivered before it settled keeps only its spent id; these tests stay far below the
    /// settle threshold, D25.)
    pub fn sent_by(&self, device: DeviceId) -> i64 {
        use sotto_server::store::relay_log::{decode, Record};
        let ids: std::collections::HashSet<Vec<u8>> = self.rt.block_on(async {
            let mut conn = self.connect_db().await;
            let mut ids: std::collections::HashSet<Vec<u8>> =
                sqlx::query_scalar("SELECT id FROM messages WHERE sender_device = ?1")
                    .bind(device.as_bytes().to_vec())
                    .fetch_all(&mut conn)
                    .await
                    .unwrap()
                    .into_iter()
                    .collect();
            let rows: Vec<Vec<u8>> = sqlx::query_scalar("SELECT data FROM relay_log")
                .fetch_all(&mut conn)
                .await
                .unwrap();
            for row in rows {
                for record in decode(&row).unwrap() {
                    if let Record::Envelope(e) = record {
                        if e.sender_device == device {
                            ids.insert(e.message.as_bytes().to_vec());
                        }
                    }
                }
            }
            conn.close().await.unwrap();
            ids
        });
        i64::try_from(ids.len()).unwrap()
    }
}

/// A parameter of [`World::sql`].
pub enum Param {
    Blob(Vec<u8>),
    Int(i64),
    Text(String),
    Null,
}

/// Sixteen random bytes (ids only; nothing secret).
pub fn rand16() -> [u8; 16] {
    let mut out = [0u8; 16];
    aws_lc_rs::rand::fill(&mut out).unwrap();
    out
}

/// The wall clock in ms.
pub fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// The protocol error code inside a client error, if it is one.
pub fn proto_code(error: &sotto_client::Error) -> Option<&'static str> {
    match error {
        sotto_client::Error::Protocol(e) => Some(e.code()),
        _ => None,
    }
}

/// A blob parameter.
pub fn blob(bytes: &[u8]) -> Param {
    Param::Blob(bytes.to_vec())
}

/// Where `needle` starts in `haystack` (a part inside a wire form).
pub fn position(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("part found in the wire form")
}

/// The message id of a send.
pub fn msg_id(report: &SendReport) -> MessageId {
    report.message_id
}

impl World {
    /// Puts `change` into the team's log at `row` (the server's position, whatever the change
    /// itself says), replacing what is there.
    pub fn put_change(&self, row: i64, change: &sotto_proto::signed::Signed, author: DeviceId) {
        self.sql(
            "INSERT OR REPLACE INTO group_changes (conversation, epoch, change, author, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
            &[
                blob(self.team.as_bytes()),
                Param::Int(row),
                blob(&change.encode()),
                blob(author.as_bytes()),
                Param::Int(now_ms()),
            ],
        );
    }

    /// Lists `name` as a member of the team, or not, in the server's member table.
    pub fn set_member(&self, name: &str, member: bool) {
        let statement = if member {
            "INSERT OR IGNORE INTO members (conversation, user_id) VALUES (?1, ?2)"
        } else {
            "DELETE FROM members WHERE conversation = ?1 AND user_id = ?2"
        };
        self.sql(
            statement,
            &[blob(self.team.as_bytes()), Param::Int(self.user_id(name).0)],
        );
    }

    /// Adds an active device row to `name`'s account with `certificate` (or none) and an
    /// exchange-key certificate, as an operator can.
    pub fn add_device_row(
        &self,
        name: &str,
        keys: &DeviceKeys,
        certificate: Option<Vec<u8>>,
        exchange: &sotto_proto::signed::Signed,
    ) {
        self.sql(
            "INSERT INTO devices (id, user_id, state, signing_key, auth_key, name, certificate, \
             exchange_cert, exchange_serial, created_at) \
             VALUES (?1, ?2, 'active', ?3, ?4, 'new phone', ?5, ?6, 1, ?7)",
            &[
                blob(keys.device().as_bytes()),
                Param::Int(self.user_id(name).0),
                blob(keys.signing().verifying_key().spki()),
                blob(keys.auth().verifying_key().spki()),
                certificate.map_or(Param::Null, Param::Blob),
                blob(&exchange.encode()),
                Param::Int(now_ms()),
            ],
        );
    }
}

impl World {
    /// The ids of the one-time prekeys the server holds for `device`, oldest first.
    pub fn prekey_ids(&self, device: DeviceId) -> Vec<Vec<u8>> {
        self.rt.block_on(async {
            let mut conn = self.connect_db().await;
            let ids: Vec<Vec<u8>> =
                sqlx::query_scalar("SELECT prekey_id FROM prekeys WHERE device = ?1 ORDER BY seq")
                    .bind(device.as_bytes().to_vec())
                    .fetch_all(&mut conn)
                    .await
                    .unwrap();
            conn.close().await.unwrap();
            ids
        })
    }
}
