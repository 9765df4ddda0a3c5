//! Persistence behind one trait, [`Store`], with two backends: [`sqlite::SqliteStore`] (the
//! embedded default) and [`postgres::PostgresStore`] (several nodes).
//!
//! The store holds only what a relay needs: password hashes (Argon2id), public keys and
//! certificates, hashes of tokens, conversation logs as opaque signed bytes, and envelopes and
//! attachments as opaque ciphertext. Nothing here can decrypt anything. SQL lives only in this
//! folder; services call the trait.
//!
//! Both backends run the same SQL for everything but the relay queue's write path ([`sql`]);
//! what each does its own way is the [`Backend`] trait. The contract every backend passes is
//! `tests/store_contract.rs`, one test per case and backend.
//!
//! # Layout
//! - this module: the trait and the records it speaks in.
//! - [`backend`]: the [`Backend`] trait, what a backend adds to the shared SQL (its pool, how
//!   a writing transaction begins, its group-commit write and hot tier).
//! - [`sql`]: `Store` for every [`Backend`], written once in SQL both databases accept, and
//!   the row decoders.
//! - `policy`: whether a member device takes a copy, and if not why (both backends).
//! - [`migrate`]: versioned schema migrations, one list per backend (the files are in
//!   `migrations/sqlite` and `migrations/postgres`).
//! - [`sqlite`]: connecting, pragmas and WAL checkpoints; the group-commit writer thread
//!   (`sqlite/writer.rs`), the hot queue (`sqlite/hot_queue.rs`), the relay log's row format
//!   ([`sqlite::relay_log`]), the lock that says which process owns the queue
//!   (`sqlite/queue_lock.rs`), and the tests of its two queue tiers.
//! - [`postgres`]: connecting (optionally in one schema) and the bulk group commit
//!   (`postgres/bulk.rs`).

pub mod backend;
pub mod migrate;
pub(crate) mod policy;
pub mod postgres;
pub mod sql;
pub mod sqlite;

pub use self::backend::Backend;
pub use self::sqlite::relay_log;

use async_trait::async_trait;
use sotto_proto::ids::{AccountId, ConversationId, DeviceId, MessageId, PrekeyId};
pub use sotto_wire::api::UndeliveredReason;

use crate::error::{Error, Result};

/// The server's own number for a user row (never shown to clients; they see usernames and
/// account ids derived from master keys).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(pub i64);

/// A session's public identifier (random, 16 bytes; not a secret, unlike its tokens): the
/// wire's type, so the id the API shows is the id the store keeps.
pub use sotto_wire::SessionId;

/// A registered user.
#[derive(Clone, Debug)]
pub struct UserRecord {
    /// Row id.
    pub id: UserId,
    /// Normalised username.
    pub username: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// The account's master public key (SPKI DER), once uploaded.
    pub master_key: Option<Vec<u8>>,
    /// The account id derived from the master key, once uploaded.
    pub account: Option<AccountId>,
    /// Whether the operator disabled (or deleted) the account: its sign-ins are refused.
    pub disabled: bool,
}

/// Where a device stands: the wire's type, stored as its text (`pending`, `active`, `revoked`).
pub use sotto_wire::api::DeviceState;

/// A device of a user.
#[derive(Clone, Debug)]
pub struct DeviceRecord {
    /// The device id (derived from its signing key).
    pub device: DeviceId,
    /// Its owner.
    pub user: UserId,
    /// Pending, active or revoked.
    pub state: DeviceState,
    /// Signing key, SPKI DER.
    pub signing_key: Vec<u8>,
    /// Auth key, SPKI DER.
    pub auth_key: Vec<u8>,
    /// Display name.
    pub name: String,
    /// The master-signed certificate (`Signed` wire form), once active.
    pub certificate: Option<Vec<u8>>,
    /// The current exchange-key certificate (`Signed` wire form).
    pub exchange_cert: Option<Vec<u8>>,
    /// Its serial.
    pub exchange_serial: Option<u64>,
    /// When the device was first announced (ms).
    pub created_at: i64,
}

/// A session: a password login waiting for its device proof, or a device session.
#[derive(Clone, Debug)]
pub struct SessionRecord {
    /// Public id.
    pub id: SessionId,
    /// Owner.
    pub user: UserId,
    /// The device, for device sessions; `None` for a login session.
    pub device: Option<DeviceId>,
    /// SHA-256 of the current access (or login) token.
    pub access_hash: [u8; 32],
    /// When the access token expires (ms).
    pub access_expires: i64,
    /// SHA-256 of the current refresh token (device sessions only).
    pub refresh_hash: Option<[u8; 32]>,
    /// When the refresh token expires (ms).
    pub refresh_expires: i64,
    /// SHA-256 of the refresh token the current pair was issued for (`None` until the first
    /// rotation): the one spent token that may be retried with a device proof.
    pub previous_refresh_hash: Option<[u8; 32]>,
    /// When the current access/refresh pair was first used (ms); `None` while unused.
    pub pair_used_at: Option<i64>,
    /// When the session began (ms).
    pub created_at: i64,
}

/// The hashes and lifetimes of a freshly issued access/refresh pair.
#[derive(Clone, Debug)]
pub struct NewTokenPair {
    /// SHA-256 of the new access token.
    pub access_hash: [u8; 32],
    /// When it expires (ms).
    pub access_expires: i64,
    /// SHA-256 of the new refresh token.
    pub refresh_hash: [u8; 32],
    /// When it expires (ms).
    pub refresh_expires: i64,
}

/// What happened to a refresh token.
#[derive(Clone, Debug)]
pub enum RefreshOutcome {
    /// It was current (or a proven retry); the session now holds the new tokens.
    Rotated(SessionRecord),
    /// It was spent, but it is the token the session's still unused pair was issued for (the
    /// answer to that refresh may have been lost): exchanged again only with a device proof.
    /// Nothing changed.
    ProofRequired {
        /// The session it belongs to.
        session: SessionRecord,
    },
    /// It was already used: the whole session (token family) was deleted.
    Reused {
        /// The session that was revoked.
        session: SessionId,
    },
    /// Unknown or expired.
    Unknown,
}

/// A login challenge waiting for its answer.
#[derive(Clone, Debug)]
pub struct ChallengeRecord {
    /// The nonce (primary key).
    pub nonce: [u8; 32],
    /// The session that asked for it.
    pub session: SessionId,
    /// The device it was issued to.
    pub device: DeviceId,
    /// When it was issued (ms).
    pub issued_at: i64,
}

/// One entry of a conversation's group-state log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeRecord {
    /// Position in the log, from 0 (the genesis).
    pub epoch: u64,
    /// The signed change, opaque wire bytes.
    pub change: Vec<u8>,
    /// The device that uploaded it.
    pub author: DeviceId,
    /// When it was stored (ms).
    pub created_at: i64,
}

/// A member's say in a conversation (docs/api.md, "Requests and blocks"), stored as its text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MemberStatus {
    /// Takes every copy (within the queue policy).
    Accepted,
    /// Added by someone who was not a contact: takes at most `max_request_envelopes`
    /// envelopes of the conversation until they accept.
    Request,
    /// Takes no copy of the conversation; it is listed nowhere.
    Declined,
}

impl MemberStatus {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Request => "request",
            Self::Declined => "declined",
        }
    }

    /// Reads the stored text.
    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "accepted" => Ok(Self::Accepted),
            "request" => Ok(Self::Request),
            "declined" => Ok(Self::Declined),
            _ => Err(Error::Corrupt {
                what: "member status",
            }),
        }
    }
}

/// A member as a conversation's genesis or a change names them. Members already in the
/// conversation keep their stored status; `status` and `added_by` are for those who join.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewMember {
    /// The member.
    pub user: UserId,
    /// Their status if they join now.
    pub status: MemberStatus,
    /// Who added them (`None` for the creator).
    pub added_by: Option<UserId>,
}

impl NewMember {
    /// A member who takes every copy from the start (the creator, or a contact).
    pub fn accepted(user: UserId) -> Self {
        Self {
            user,
            status: MemberStatus::Accepted,
            added_by: None,
        }
    }
}

/// A conversation the user was added to and has not accepted yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRecord {
    /// The conversation.
    pub conversation: ConversationId,
    /// Who added the user.
    pub from: Option<UserId>,
    /// When (ms).
    pub added_at: i64,
    /// Current members.
    pub members: i64,
    /// Envelopes routed to the user under the request so far.
    pub queued: i64,
}

/// What a device's queue takes (docs/api.md, "Queue policy"; the limits of the same names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueuePolicy {
    /// The queue length past which a sender over its share is refused (`queue_full`).
    pub max_queue_per_device: i64,
    /// Copies of one sender account a queue always takes, however full.
    pub queue_share_per_sender: i64,
    /// Copies of one sender account a queue takes at all (`sender_share_full`).
    pub max_queue_per_sender: i64,
    /// Envelopes a conversation routes to a member who has not accepted it (`request_limit`).
    pub max_request_envelopes: i64,
    /// How long a refused copy stays retryable (ms).
    pub undelivered_ttl_ms: i64,
    /// Whether an envelope for every member (not a key distribution or request, which name one
    /// device) is also written to the conversation's archive, in the same commit
    /// (`history.archive`).
    pub archive: bool,
}

impl QueuePolicy {
    /// A plain cap: a device holding `cap` copies takes none from anyone (no reserved share,
    /// no per-sender cap); consent and retries as by default.
    pub fn with_cap(cap: i64) -> Self {
        Self {
            max_queue_per_device: cap,
            queue_share_per_sender: 0,
            max_queue_per_sender: i64::MAX,
            ..Self::from_limits(&crate::config::Limits::default())
        }
    }

    /// This policy with archiving on or off.
    pub fn archiving(self, archive: bool) -> Self {
        Self { archive, ..self }
    }

    /// Whether `env` goes to the archive under this policy.
    pub fn archives(&self, env: &NewEnvelope) -> bool {
        self.archive && env.to.is_none()
    }

    /// The policy the limits set (archiving on).
    pub fn from_limits(limits: &crate::config::Limits) -> Self {
        Self {
            max_queue_per_device: limits.max_queue_per_device,
            queue_share_per_sender: limits.queue_share_per_sender,
            max_queue_per_sender: limits.max_queue_per_sender,
            max_request_envelopes: limits.max_request_envelopes,
            undelivered_ttl_ms: i64::try_from(limits.undelivered_ttl_secs.saturating_mul(1000))
                .unwrap_or(i64::MAX),
            archive: true,
        }
    }
}

/// An envelope to queue.
#[derive(Clone, Debug)]
pub struct NewEnvelope {
    /// De-duplication key.
    pub message: MessageId,
    /// The conversation it is posted to.
    pub conversation: ConversationId,
    /// The sender's user row (must be a member).
    pub sender_user: UserId,
    /// The sender's account id.
    pub sender_account: AccountId,
    /// The sending device (gets no copy).
    pub sender_device: DeviceId,
    /// Server receive time (ms).
    pub received_at: i64,
    /// Only this device gets a copy (a key distribution); `None` means every other active
    /// device of every member.
    pub to: Option<DeviceId>,
    /// Opaque ciphertext.
    pub body: Vec<u8>,
}

/// One write in a group-commit batch.
#[derive(Clone, Debug)]
pub enum WriteOp {
    /// Queue an envelope for every other active device of the conversation's members.
    Enqueue(NewEnvelope),
    /// A device acknowledges envelopes: delete its copies.
    Ack {
        /// The acknowledging device.
        device: DeviceId,
        /// The messages.
        messages: Vec<MessageId>,
    },
}

impl WriteOp {
    /// The envelope body's length (0 for an acknowledgement).
    pub fn body_len(&self) -> usize {
        match self {
            Self::Enqueue(env) => env.body.len(),
            Self::Ack { .. } => 0,
        }
    }
}

/// A one-time prekey to store (docs/protocol.md §18.4): its id and its `Signed` wire form, both
/// verified by the service before they reach the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewPrekey {
    /// The prekey id (chosen by the device).
    pub id: PrekeyId,
    /// The signed prekey, as uploaded.
    pub body: Vec<u8>,
}

/// What `/metrics` shows of SQLite's hot queue (D25).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HotQueueFigures {
    /// Envelopes held in memory and not yet settled.
    pub envelopes: usize,
    /// Settle steps committed since the server started.
    pub settle_steps: u64,
    /// Envelopes those steps settled.
    pub settled_envelopes: u64,
}

/// What one [`WriteOp`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteOutcome {
    /// Queued (or, for a retry of an envelope with undelivered copies, queued again):
    /// `recipients` got a copy now (with its per-device sequence number), `undelivered` did not,
    /// each for its reason; those are recorded for a retry.
    Stored {
        /// Devices that got a copy, with the copy's sequence number.
        recipients: Vec<(DeviceId, i64)>,
        /// Member devices that got none, and why.
        undelivered: Vec<(DeviceId, UndeliveredReason)>,
    },
    /// The message id was seen before and no copy of it is waiting for a retry by this sender
    /// device (or the bytes differ); nothing stored.
    Duplicate,
    /// The sender is not a member; nothing stored.
    NotMember,
    /// Acknowledged; this many copies were deleted.
    Acked(u64),
}

/// A queued envelope as delivered to its recipient device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// Per-queue sequence number (increasing).
    pub seq: i64,
    /// The message id.
    pub message: MessageId,
    /// The conversation.
    pub conversation: ConversationId,
    /// The sender's account.
    pub sender_account: AccountId,
    /// The sender's device.
    pub sender_device: DeviceId,
    /// Server receive time (ms).
    pub received_at: i64,
    /// The ciphertext.
    pub body: Vec<u8>,
}

/// How a recovery secret is made (docs/protocol.md §14): the wire's type, stored as its text.
pub use sotto_wire::api::RecoveryMethod;

/// An account's recovery set-up (docs/protocol.md §14.2). Nothing here opens the backup: the
/// verifier is a hash of the access key, checked in constant time by the service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecoveryRecord {
    /// Random per set-up; every backup item names it.
    pub recovery_id: [u8; 16],
    /// A recovery key or a passphrase.
    pub method: RecoveryMethod,
    /// The Argon2id salt of a passphrase (`None` for a recovery key).
    pub salt: Option<[u8; 16]>,
    /// `SHA-256(domain("sotto/recovery/verifier") ‖ access key)`.
    pub verifier: [u8; 32],
    /// Backup items stored under this set-up.
    pub items: i64,
    /// Their bytes.
    pub bytes: i64,
    /// When it was set up (ms).
    pub created_at: i64,
}

/// A backup item to store: its id (from its header) and its wire form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewBackupItem {
    /// The item id its header names (unique per account).
    pub item_id: [u8; 16],
    /// The SignedSealed wire form.
    pub body: Vec<u8>,
}

/// What one account's backup may hold (`limits.max_backup_items_per_account`,
/// `limits.max_backup_bytes_per_account`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackupCaps {
    /// Items at most.
    pub items: i64,
    /// Bytes at most.
    pub bytes: i64,
}

/// A stored backup item, by its upload order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredBackupItem {
    /// Increasing with upload order, per server.
    pub seq: i64,
    /// The wire form.
    pub body: Vec<u8>,
}

/// A device hand-over waiting for its recipient (docs/protocol.md §16).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandoverRecord {
    /// Random, chosen by the server.
    pub id: [u8; 16],
    /// The new device it is for.
    pub recipient: DeviceId,
    /// The approving device that sent it.
    pub sender: DeviceId,
    /// The SignedSealed wire form.
    pub body: Vec<u8>,
    /// When it was stored (ms).
    pub created_at: i64,
}

/// One archived envelope (docs/protocol.md §17.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchivedEnvelope {
    /// Increasing with arrival, per server.
    pub seq: i64,
    /// The message id.
    pub message: MessageId,
    /// Server receive time (ms).
    pub received_at: i64,
    /// The envelope as received.
    pub body: Vec<u8>,
}

/// Which archived envelopes a history page may show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HistoryWindow {
    /// Only envelopes received at or after this (ms): the later of when the reader's account
    /// joined and the retention's start.
    pub from: i64,
    /// Only envelopes with a sequence number below this (`None`: the newest).
    pub before: Option<i64>,
    /// Envelopes at most.
    pub limit: i64,
}

/// What a retention purge deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Purged {
    /// Archived envelopes.
    pub envelopes: u64,
    /// Attachments.
    pub attachments: u64,
}

/// An account as the operator's `users list` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountSummary {
    /// Normalised username.
    pub username: String,
    /// When it registered (ms).
    pub created_at: i64,
    /// When the operator disabled it (ms), `None` while enabled.
    pub disabled_at: Option<i64>,
    /// When the operator deleted it (ms).
    pub deleted_at: Option<i64>,
    /// Its active devices.
    pub active_devices: i64,
    /// The latest use of one of its current sessions (ms): when a session began or its current
    /// token pair was first used. `None` without a session.
    pub last_active: Option<i64>,
}

/// What deleting an account removed ([`Store::delete_account`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccountDeletion {
    /// Its devices that were pending or active, now revoked (their sockets are to be closed).
    pub devices: Vec<DeviceId>,
    /// Sessions deleted (login and device sessions).
    pub sessions: u64,
    /// Envelope copies that were queued for its devices.
    pub queued: u64,
    /// One-time prekeys.
    pub prekeys: u64,
    /// Hand-overs waiting for its devices.
    pub handovers: u64,
    /// Backup items (and its recovery set-up, if any).
    pub backup_items: u64,
    /// Attachments it uploaded.
    pub attachments: u64,
    /// Blocks it had set.
    pub blocks: u64,
}

/// The counts `sotto-server admin stats` shows ([`Store::counts`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreCounts {
    /// Accounts, deleted ones included (their names stay reserved).
    pub accounts: i64,
    /// Accounts disabled and not deleted.
    pub disabled: i64,
    /// Accounts deleted.
    pub deleted: i64,
    /// Active devices.
    pub active_devices: i64,
    /// Unexpired device sessions.
    pub sessions: i64,
    /// Conversations.
    pub conversations: i64,
    /// Envelope copies waiting for their device in the tables (SQLite's hot queue is
    /// [`HotQueueFigures::envelopes`]).
    pub queued: i64,
    /// Envelopes in conversation archives.
    pub archived: i64,
    /// Attachments stored.
    pub attachments: i64,
    /// Their bytes.
    pub attachment_bytes: i64,
    /// The database's size on disk ([`Backend::DATABASE_BYTES`]).
    pub database_bytes: i64,
}

/// Persistence for everything the server keeps. Every method is one transaction.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Which backend this is (`sqlite` or `postgres`), for logs and metrics.
    fn backend(&self) -> &'static str;

    /// Creates a user; `Conflict` if the username is taken.
    async fn create_user(&self, username: &str, password_hash: &str, now: i64) -> Result<UserId>;
    /// Looks a user up by normalised username.
    async fn user_by_name(&self, username: &str) -> Result<Option<UserRecord>>;
    /// Looks a user up by row id.
    async fn user_by_id(&self, user: UserId) -> Result<Option<UserRecord>>;
    /// Looks a user up by account id.
    async fn user_by_account(&self, account: &AccountId) -> Result<Option<UserRecord>>;
    /// Replaces a password hash.
    async fn set_password_hash(&self, user: UserId, hash: &str) -> Result<()>;
    /// Sets the master key once; `Conflict` if another one is set or the account id is taken.
    async fn set_master_key(&self, user: UserId, account: &AccountId, spki: &[u8]) -> Result<()>;

    /// Announces a pending device (with its exchange-key certificate and serial when it
    /// published one); announcing it again updates it and restarts its wait from
    /// `device.created_at`. `Conflict` if the id belongs to another user or is not
    /// pending; `Capacity` if its user already has `max_pending` other pending devices
    /// announced at or after `live_since` (ms; older ones have expired and wait for the
    /// purge), counted under a lock on the user, so concurrent announcements cannot pass the
    /// cap.
    async fn add_pending_device(
        &self,
        device: &DeviceRecord,
        max_pending: usize,
        live_since: i64,
    ) -> Result<()>;
    /// Stores a verified certificate and makes the device active; `Conflict` if the device
    /// belongs to another user or was revoked.
    async fn activate_device(&self, device: &DeviceRecord) -> Result<()>;
    /// One device.
    async fn device(&self, device: &DeviceId) -> Result<Option<DeviceRecord>>;
    /// A user's devices, oldest first.
    async fn devices_of(&self, user: UserId) -> Result<Vec<DeviceRecord>>;
    /// Revokes a device: stores the revocation, ends its sessions and drops its queue and the
    /// hand-overs waiting for it.
    async fn revoke_device(
        &self,
        user: UserId,
        device: &DeviceId,
        serial: u64,
        revocation: &[u8],
    ) -> Result<()>;
    /// A user's revocations (`Signed` wire forms).
    async fn revocations_of(&self, user: UserId) -> Result<Vec<Vec<u8>>>;
    /// Replaces a device's exchange-key certificate if `serial` is at least the stored one;
    /// `Conflict` otherwise.
    async fn set_exchange_key(&self, device: &DeviceId, cert: &[u8], serial: u64) -> Result<()>;

    /// Stores a new session.
    async fn insert_session(&self, session: &SessionRecord) -> Result<()>;
    /// The session whose access (or login) token has this hash.
    async fn session_by_access(&self, hash: &[u8; 32]) -> Result<Option<SessionRecord>>;
    /// A session by id.
    async fn session(&self, session: &SessionId) -> Result<Option<SessionRecord>>;
    /// Rotates a refresh token (see [`RefreshOutcome`]). `proven` names the session whose
    /// device has just answered a challenge: only then is the retryable spent token (the one
    /// the unused current pair was issued for) exchanged again.
    async fn refresh_session(
        &self,
        refresh_hash: &[u8; 32],
        pair: &NewTokenPair,
        proven: Option<&SessionId>,
        now: i64,
    ) -> Result<RefreshOutcome>;
    /// The session whose retryable spent refresh token has this hash (see
    /// [`SessionRecord::previous_refresh_hash`]), if its current pair is unused and unexpired.
    async fn session_for_refresh_retry(
        &self,
        refresh_hash: &[u8; 32],
        now: i64,
    ) -> Result<Option<SessionRecord>>;
    /// Records the first use of a session's current token pair (no-op once recorded).
    async fn mark_pair_used(&self, session: &SessionId, now: i64) -> Result<()>;
    /// Deletes a session; returns whether it existed.
    async fn delete_session(&self, session: &SessionId) -> Result<bool>;
    /// Deletes all of a user's sessions except `keep`; returns the ids deleted.
    async fn delete_sessions_except(
        &self,
        user: UserId,
        keep: Option<&SessionId>,
    ) -> Result<Vec<SessionId>>;
    /// A user's sessions.
    async fn sessions_of(&self, user: UserId) -> Result<Vec<SessionRecord>>;

    /// Stores a login challenge; a session keeps its [`OPEN_CHALLENGES_PER_SESSION`] newest
    /// unanswered challenges, older ones are dropped (answering one then fails as unknown).
    async fn insert_challenge(&self, challenge: &ChallengeRecord) -> Result<()>;
    /// Removes and returns a challenge (single use).
    async fn take_challenge(&self, nonce: &[u8; 32]) -> Result<Option<ChallengeRecord>>;
    /// Stores a WebSocket ticket hash.
    async fn insert_ticket(&self, hash: &[u8; 32], session: &SessionId, expires: i64)
        -> Result<()>;
    /// Redeems a WebSocket ticket: removes it (single use, durably, before answering) and
    /// returns its session with the session's user, if the ticket expires after `now` and its
    /// session still exists. An unknown ticket answers `None`; so does an expired one, which is
    /// removed all the same.
    async fn redeem_ticket(
        &self,
        hash: &[u8; 32],
        now: i64,
    ) -> Result<Option<(SessionRecord, UserRecord)>>;
    /// Deletes expired sessions, challenges and tickets; returns rows removed.
    async fn purge_expired(&self, now: i64) -> Result<u64>;

    /// Creates a conversation by `creator` with its genesis and members; `Conflict` if the id
    /// exists.
    async fn create_conversation(
        &self,
        conversation: &ConversationId,
        genesis: &ChangeRecord,
        creator: UserId,
        members: &[NewMember],
    ) -> Result<()>;
    /// Appends a change at `change.epoch` (must be the next one; `Conflict` otherwise) and
    /// replaces the member list: members who stay keep their status, new ones get theirs.
    /// `retention` is the conversation's retention after the change (`None`: never set, the
    /// server default), written in the same transaction.
    async fn append_change(
        &self,
        conversation: &ConversationId,
        change: &ChangeRecord,
        members: &[NewMember],
        retention: Option<u64>,
    ) -> Result<()>;
    /// When `user` joined the conversation (ms), `None` if not a member.
    async fn member_since(
        &self,
        conversation: &ConversationId,
        user: UserId,
    ) -> Result<Option<i64>>;
    /// The conversation's retention as its log set it (`None`: never set).
    async fn retention(&self, conversation: &ConversationId) -> Result<Option<u64>>;
    /// Conversations `creator` created since `since` (ms), and when the oldest of them was.
    async fn conversations_created_since(
        &self,
        creator: UserId,
        since: i64,
    ) -> Result<(i64, Option<i64>)>;
    /// `user`'s status in a conversation, `None` if not a member.
    async fn member_status(
        &self,
        conversation: &ConversationId,
        user: UserId,
    ) -> Result<Option<MemberStatus>>;
    /// Sets a member's status (`NotFound` for a non-member). Declining also deletes the copies
    /// of the conversation still queued for the member's devices.
    async fn set_member_status(
        &self,
        conversation: &ConversationId,
        user: UserId,
        status: MemberStatus,
    ) -> Result<()>;
    /// Whether `a` and `b` are contacts: both `accepted` members of some conversation.
    async fn are_contacts(&self, a: UserId, b: UserId) -> Result<bool>;
    /// The conversations `user` was added to and has not accepted or declined, oldest first.
    async fn requests_of(&self, user: UserId) -> Result<Vec<RequestRecord>>;
    /// `blocker` blocks `blocked`: every conversation `blocked` added `blocker` to and
    /// `blocker` has not accepted becomes declined for `blocker` (its queued copies deleted).
    async fn block(&self, blocker: UserId, blocked: UserId, now: i64) -> Result<()>;
    /// Lifts a block (no-op without one).
    async fn unblock(&self, blocker: UserId, blocked: UserId) -> Result<()>;
    /// Whether `blocker` blocks `blocked`.
    async fn is_blocked(&self, blocker: UserId, blocked: UserId) -> Result<bool>;
    /// The users `blocker` blocks, by username.
    async fn blocked_by(&self, blocker: UserId) -> Result<Vec<UserRecord>>;
    /// Deletes undelivered records older than `before` (ms); returns how many.
    async fn purge_undelivered(&self, before: i64) -> Result<u64>;
    /// Log entries from `since` (inclusive), in order.
    async fn changes(&self, conversation: &ConversationId, since: u64)
        -> Result<Vec<ChangeRecord>>;
    /// Current members (empty if the conversation does not exist).
    async fn members(&self, conversation: &ConversationId) -> Result<Vec<UserId>>;
    /// Whether `user` is a current member.
    async fn is_member(&self, conversation: &ConversationId, user: UserId) -> Result<bool>;
    /// The epoch of the latest change that removed `user` from `conversation` (removed by an
    /// admin or left), or `None` if no change ever did. A user added again keeps the record
    /// (callers ask only about non-members).
    async fn removed_at(&self, conversation: &ConversationId, user: UserId) -> Result<Option<u64>>;
    /// Conversations `user` is an `accepted` member of.
    async fn conversations_of(&self, user: UserId) -> Result<Vec<ConversationId>>;
    /// Active devices of the members who accepted the conversation and do not block the
    /// owner of `except`, except `except` (where signals go).
    async fn member_devices(
        &self,
        conversation: &ConversationId,
        except: &DeviceId,
    ) -> Result<Vec<DeviceId>>;

    /// Runs a group-commit batch in one transaction under `policy`; one outcome per op, in
    /// order.
    async fn write_batch_with(
        &self,
        ops: &[WriteOp],
        policy: &QueuePolicy,
    ) -> Result<Vec<WriteOutcome>>;
    /// [`Store::write_batch_with`] under [`QueuePolicy::with_cap`].
    async fn write_batch(&self, ops: &[WriteOp], queue_cap: i64) -> Result<Vec<WriteOutcome>> {
        self.write_batch_with(ops, &QueuePolicy::with_cap(queue_cap))
            .await
    }
    /// Envelopes queued for `device` with a sequence number above `after`, oldest first.
    async fn pending(&self, device: &DeviceId, after: i64, limit: i64) -> Result<Vec<Delivery>>;
    /// The figures of SQLite's hot queue (D25); zero elsewhere.
    fn hot_queue(&self) -> HotQueueFigures {
        HotQueueFigures::default()
    }

    /// Stores an attachment blob and counts it against its uploader's `quota` (bytes); one that
    /// would take the account past it is [`Error::QuotaExceeded`] and stores nothing.
    async fn put_attachment(
        &self,
        id: &[u8; 16],
        conversation: &ConversationId,
        uploader: UserId,
        body: &[u8],
        quota: u64,
        now: i64,
    ) -> Result<()>;
    /// An attachment's conversation and bytes.
    async fn attachment(&self, id: &[u8; 16]) -> Result<Option<(ConversationId, Vec<u8>)>>;

    /// A page of a conversation's archive within `window`, newest first.
    async fn history(
        &self,
        conversation: &ConversationId,
        window: &HistoryWindow,
    ) -> Result<Vec<ArchivedEnvelope>>;
    /// Deletes the archived envelopes received and the attachments uploaded at or before `now`
    /// minus their conversation's retention (`default_secs` where the log set none; 0 keeps
    /// them). Several short transactions, not one: what is due is found by a read, then deleted
    /// a bounded number of rows at a time, each checked again against the rule.
    async fn purge_retention(&self, now: i64, default_secs: u64) -> Result<Purged>;

    /// Sets `user`'s recovery up, replacing any earlier set-up and deleting its items.
    async fn set_recovery(&self, user: UserId, recovery: &RecoveryRecord) -> Result<()>;
    /// `user`'s recovery set-up.
    async fn recovery(&self, user: UserId) -> Result<Option<RecoveryRecord>>;
    /// Deletes `user`'s recovery set-up and its items; returns whether there was one.
    async fn delete_recovery(&self, user: UserId) -> Result<bool>;
    /// Stores backup items under `user`'s set-up `recovery_id`; an item id already stored is
    /// skipped. `Conflict` without a set-up or under another recovery id; `Capacity` if the
    /// new items would take the backup past `caps` (nothing stored). Returns how many were new.
    async fn put_backup_items(
        &self,
        user: UserId,
        recovery_id: &[u8; 16],
        items: &[NewBackupItem],
        caps: BackupCaps,
        now: i64,
    ) -> Result<u64>;
    /// `user`'s backup items with a sequence number above `after`, oldest first, at most
    /// `limit`.
    async fn backup_items(
        &self,
        user: UserId,
        after: i64,
        limit: i64,
    ) -> Result<Vec<StoredBackupItem>>;

    /// Stores a hand-over; `Capacity` if its recipient already has `max_per_recipient`
    /// (counted under the write lock).
    async fn put_handover(&self, handover: &HandoverRecord, max_per_recipient: i64) -> Result<()>;
    /// The hand-overs for `recipient` stored at or after `since` (ms), oldest first.
    async fn handovers_for(&self, recipient: &DeviceId, since: i64) -> Result<Vec<HandoverRecord>>;
    /// Deletes `recipient`'s hand-over `id`; returns whether it existed.
    async fn delete_handover(&self, id: &[u8; 16], recipient: &DeviceId) -> Result<bool>;
    /// Deletes hand-overs stored before `before` (ms); returns how many.
    async fn purge_handovers(&self, before: i64) -> Result<u64>;
    /// Stores one-time prekeys of the active `device` and returns how many it has stored now.
    /// With `replace`, its stored prekeys are deleted first (a re-key). A prekey id the device
    /// already has stored is skipped (a retried upload). `Conflict` if the device would hold
    /// more than `max_stored` (nothing changes); `NotFound` if the device is not active.
    /// Counted under a lock on the device's row, so concurrent uploads cannot pass the cap.
    async fn put_prekeys(
        &self,
        device: &DeviceId,
        prekeys: &[NewPrekey],
        replace: bool,
        max_stored: i64,
        now: i64,
    ) -> Result<i64>;
    /// How many prekeys `device` has stored.
    async fn prekey_count(&self, device: &DeviceId) -> Result<i64>;
    /// Claims one prekey of each of `devices` for `claimer`, in one transaction: for each, its
    /// oldest stored prekey is deleted and returned, or `None` when it has none or `claimer`
    /// may not claim it (it is not active, or its owner is neither `claimer` nor shares a
    /// conversation with `claimer`, see [`Backend::CLAIM_PREKEY`]). One answer per device, in
    /// order. A prekey is returned by one claim only, however many race.
    async fn claim_prekeys(
        &self,
        claimer: UserId,
        devices: &[DeviceId],
    ) -> Result<Vec<Option<Vec<u8>>>>;

    /// Deletes pending devices announced before `before` (ms): logins nobody approved in
    /// time. Returns how many.
    async fn purge_pending_devices(&self, before: i64) -> Result<u64>;

    /// Flushes and closes the pool (graceful shutdown).
    async fn close(&self);

    // ---- Administration (`sotto-server admin users|stats`, src/admin/) ----

    /// Every account, by username.
    async fn accounts(&self) -> Result<Vec<AccountSummary>>;
    /// Disables (`true`) or enables `user`; disabling also deletes every session of it and
    /// returns their ids (for their sockets to be closed). `NotFound` for a deleted account
    /// (it stays disabled).
    async fn set_account_disabled(
        &self,
        user: UserId,
        disabled: bool,
        now: i64,
    ) -> Result<Vec<SessionId>>;
    /// Deletes `user`'s private state in one transaction: its devices are revoked (their
    /// public certificates stay, so the group-log entries they signed still verify), and its
    /// sessions, the copies queued for its devices, their prekeys and hand-overs, its recovery
    /// and backup items, the attachments it uploaded and the blocks it set are deleted; its
    /// memberships stay (they are the conversations' signed state). The row stays, disabled, with no
    /// password, so its username and account id are never given out again. `NotFound` if
    /// already deleted.
    async fn delete_account(&self, user: UserId, now: i64) -> Result<AccountDeletion>;
    /// Counts of accounts, devices, sessions, conversations, queued and archived envelopes
    /// and attachments, as of `now` (ms).
    async fn counts(&self, now: i64) -> Result<StoreCounts>;

    // ---- invitations (`registration = "invite"`; docs/configuration.md "Registration") ----

    /// Stores a new invitation; `Conflict` if its id or hash is taken.
    async fn create_invite(&self, invite: &InviteRecord) -> Result<()>;
    /// Whether the invitation whose code hashes to `code_hash` can be used at `now` (ms):
    /// stored, not used, not revoked, not expired. A read, for refusing a sign-up before its
    /// password is hashed; [`Store::create_user_with_invite`] decides.
    async fn invite_usable(&self, code_hash: &[u8; 32], now: i64) -> Result<bool>;
    /// Creates a user and spends the invitation whose code hashes to `code_hash`, in one
    /// transaction: `InviteInvalid` (nothing written) unless the invitation is usable at `now`,
    /// `Conflict` (the invitation stays unused) if the username is taken. Of two sign-ups racing
    /// on one code, one creates its account and the other gets `InviteInvalid`.
    async fn create_user_with_invite(
        &self,
        username: &str,
        password_hash: &str,
        now: i64,
        code_hash: &[u8; 32],
    ) -> Result<UserId>;
    /// The invitations neither used nor revoked that expire after `now` (ms), oldest first.
    async fn list_invites(&self, now: i64) -> Result<Vec<InviteRecord>>;
    /// Revokes the unused, unrevoked invitation `id` at `now`; returns whether there was one.
    async fn revoke_invite(&self, id: &[u8; 8], now: i64) -> Result<bool>;
    /// Deletes invitations used, revoked or expired before `before` (ms); returns how many.
    async fn purge_invites(&self, before: i64) -> Result<u64>;
}

/// One invitation. The code itself is never stored: only its SHA-256, and an id that is the
/// hash's first 8 bytes, which names it in `invite list` and `invite revoke`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InviteRecord {
    /// The first 8 bytes of `code_hash`.
    pub id: [u8; 8],
    /// SHA-256 of the code's 16 bytes.
    pub code_hash: [u8; 32],
    /// When it was created (ms).
    pub created_at: i64,
    /// When it stops being usable (ms).
    pub expires_at: i64,
    /// When an account was created with it (ms).
    pub used_at: Option<i64>,
    /// The account created with it.
    pub used_by: Option<UserId>,
    /// When the administrator withdrew it (ms).
    pub revoked_at: Option<i64>,
}

/// Unanswered challenges one session may hold. A client needs one or two at a time (a socket
/// ticket, a token refresh retry); the cap bounds what a session can make the server store,
/// whatever the rate of its requests.
pub const OPEN_CHALLENGES_PER_SESSION: i64 = 8;

/// One device's queue from its two tiers (SQLite: settled rows and the hot queue; PostgreSQL
/// has no hot tier): by sequence number, a copy read from both kept once, at most `limit`.
pub(crate) fn merge_queues(
    mut cold: Vec<Delivery>,
    hot: Vec<Delivery>,
    limit: i64,
) -> Vec<Delivery> {
    if !hot.is_empty() {
        cold.extend(hot);
        cold.sort_by_key(|d| d.seq);
        cold.dedup_by_key(|d| d.seq);
    }
    cold.truncate(usize::try_from(limit).unwrap_or(0));
    cold
}

/// Converts a stored byte string to a fixed-size array.
pub(crate) fn fixed<const N: usize>(bytes: Vec<u8>, what: &'static str) -> Result<[u8; N]> {
    bytes.try_into().map_err(|_| Error::Corrupt { what })
}

#[cfg(test)]
mod tests {
    use super::SessionId;

    #[test]
    fn a_session_id_has_one_text_form() {
        let id = SessionId([0xab; 16]);
        let text = id.to_string();
        assert_eq!(text.parse::<SessionId>().unwrap(), id);
        assert!(text
            .to_uppercase()
            .replace("SESS:", "sess:")
            .parse::<SessionId>()
            .is_err());
        assert!("sess:abab".parse::<SessionId>().is_err());
        assert!(text.replace("sess:", "").parse::<SessionId>().is_err());
    }
}
