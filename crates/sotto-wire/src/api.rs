//! The HTTP API's JSON bodies (`docs/api.md`), one type per body, named after the endpoint's
//! request or answer. Requests (what a client sends) refuse unknown fields, as the server parses
//! them; answers (what the server sends) do not, so a client keeps working when a newer server
//! adds a field. Binary fields are standard padded base64 text; ids are typed; secrets are
//! [`Secret`]s.

use serde::{Deserialize, Serialize};
use sotto_proto::ids::{AccountId, ConversationId, DeviceId, MessageId};

use crate::ids::{AttachmentId, HandoverId, SessionId};
use crate::invite::InviteCode;
use crate::secret::Secret;

// ---- accounts and sessions ----

/// `POST /v1/accounts` and `POST /v1/auth/login`: a username and password.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// The username as typed (the server normalises it).
    pub username: String,
    /// The password.
    pub password: Secret,
}

/// `POST /v1/accounts`: a username, a password, and on a server with `registration = "invite"`
/// an invitation code (ignored by an open server).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registration {
    /// The username as typed (the server normalises it).
    pub username: String,
    /// The password.
    pub password: Secret,
    /// The invitation code, as typed (any case, dashes optional); absent when none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invite: Option<InviteCode>,
}

/// How a server accepts new accounts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistrationMode {
    /// Anyone may sign up.
    Open,
    /// A sign-up needs an invitation code from the server's administrator.
    Invite,
    /// No new accounts.
    Closed,
}

/// `GET /v1/registration` answer (no authentication): how this server accepts new accounts,
/// so a sign-up form knows whether to ask for an invitation code.
#[derive(Debug, Serialize, Deserialize)]
pub struct RegistrationView {
    /// `open`, `invite` or `closed`.
    pub mode: RegistrationMode,
}

/// `POST /v1/accounts` answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct AccountCreated {
    /// The normalised username.
    pub username: String,
}

/// `POST /v1/auth/login` answer: a login token.
#[derive(Debug, Serialize, Deserialize)]
pub struct LoginResponse {
    /// The normalised username.
    pub username: String,
    /// `sotto_lt_…`.
    pub login_token: Secret,
    /// Seconds the token lives.
    pub expires_in: u64,
}

/// `POST /v1/auth/challenge`: which device wants a challenge.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChallengeRequest {
    /// The device that will sign.
    pub device: DeviceId,
}

/// An encoded `AuthChallenge` and its nonce (`/v1/auth/challenge`, `/v1/auth/refresh/challenge`).
#[derive(Debug, Serialize, Deserialize)]
pub struct ChallengeResponse {
    /// Encoded `AuthChallenge`, base64.
    pub challenge: String,
    /// Its nonce, base64, echoed back in the answer.
    pub nonce: String,
}

/// A signed challenge (`/v1/auth/device`, `/v1/ws/ticket`, a refresh proof).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChallengeAnswer {
    /// The challenge's nonce, base64.
    pub nonce: String,
    /// The device's signature, base64.
    pub signature: String,
}

/// `POST /v1/auth/device` and `POST /v1/auth/refresh` answer: device session tokens.
#[derive(Debug, Serialize, Deserialize)]
pub struct TokenResponse {
    /// The session.
    pub session: SessionId,
    /// `sotto_at_…`.
    pub access_token: Secret,
    /// Seconds the access token lives.
    pub expires_in: u64,
    /// `sotto_rt_…`, single use.
    pub refresh_token: Secret,
}

/// `POST /v1/auth/refresh`: a refresh token, with a device proof when it retries a refresh whose
/// answer was lost.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// `sotto_rt_…`.
    pub refresh_token: Secret,
    /// The answer to `POST /v1/auth/refresh/challenge`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof: Option<ChallengeAnswer>,
}

/// `POST /v1/auth/refresh/challenge`: a refresh token whose answer may have been lost.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshChallengeRequest {
    /// `sotto_rt_…`.
    pub refresh_token: Secret,
}

/// `POST /v1/account/password`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    /// The password now.
    pub current_password: Secret,
    /// The new password.
    pub new_password: Secret,
    /// End every other session too.
    #[serde(default)]
    pub end_other_sessions: bool,
}

/// `POST /v1/account/password` answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct PasswordChanged {
    /// Sessions the change ended.
    pub sessions_ended: u64,
}

/// `POST /v1/ws/ticket` answer (also set as a cookie).
#[derive(Debug, Serialize, Deserialize)]
pub struct TicketResponse {
    /// `sotto_wt_…`, single use.
    pub ticket: Secret,
    /// Seconds the ticket lives.
    pub expires_in: u64,
}

/// What kind of session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionKind {
    /// A device session (access and refresh tokens).
    Device,
    /// A password login not yet bound to a device.
    Login,
}

/// One session in `GET /v1/sessions`.
#[derive(Debug, Serialize, Deserialize)]
pub struct SessionView {
    /// The session.
    pub session: SessionId,
    /// Its device (device sessions only).
    pub device: Option<DeviceId>,
    /// Device or login.
    pub kind: SessionKind,
    /// Milliseconds since the epoch.
    pub created_at: i64,
    /// Whether it is the caller's.
    pub current: bool,
}

/// `DELETE /v1/sessions/{session}` of another session: the proof a token thief lacks.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordProof {
    /// The account password.
    pub current_password: Secret,
}

// ---- master key, devices, directory ----

/// `PUT /v1/account/master-key`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MasterKeyRequest {
    /// Master public key SPKI, base64.
    pub master_key: String,
}

/// `PUT /v1/account/master-key` answer: the account id the key yields.
#[derive(Debug, Serialize, Deserialize)]
pub struct AccountView {
    /// The account.
    pub account: AccountId,
}

/// `POST /v1/devices/pending`: a device announcing itself.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PendingRequest {
    /// Signing key SPKI, base64.
    pub signing_key: String,
    /// Authentication key SPKI, base64.
    pub auth_key: String,
    /// Display name.
    pub name: String,
    /// An exchange-key certificate (§4.5) signed by the announced signing key, base64, so the
    /// approving device can send its hand-over (§16) to the device it approves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange_key: Option<String>,
}

/// A device id (`/v1/devices/pending`, `/v1/devices`, `/v1/devices/revoke` answers).
#[derive(Debug, Serialize, Deserialize)]
pub struct DeviceIdView {
    /// The device.
    pub device: DeviceId,
}

/// `POST /v1/devices` and `PUT /v1/devices/current/exchange-key`: a certificate.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateRequest {
    /// Master-signed device certificate or device-signed exchange-key certificate, base64.
    pub certificate: String,
}

/// A device's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceState {
    /// Announced, not yet certified.
    Pending,
    /// Certified by the master key.
    Active,
    /// Revoked by the master key.
    Revoked,
}

impl DeviceState {
    /// The state's text, as on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
            Self::Revoked => "revoked",
        }
    }
}

/// One device as its owner (`GET /v1/devices`) or the directory sees it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DeviceView {
    /// The device.
    pub device: DeviceId,
    /// Its state.
    pub state: DeviceState,
    /// Display name (unverified until the certificate is).
    pub name: String,
    /// Signing key SPKI, base64.
    pub signing_key: String,
    /// Authentication key SPKI, base64.
    pub auth_key: String,
    /// Master-signed certificate, base64 (absent while pending).
    pub certificate: Option<String>,
    /// Device-signed exchange-key certificate, base64.
    pub exchange_key: Option<String>,
    /// Milliseconds since the epoch.
    pub created_at: i64,
}

/// `POST /v1/devices/revoke`: a master-signed revocation.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevocationRequest {
    /// The revocation, base64.
    pub revocation: String,
}

/// `PUT /v1/devices/current/exchange-key` answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct SerialView {
    /// The serial the exchange key was stored with.
    pub serial: u64,
}

/// `GET /v1/directory/{who}` answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct DirectoryView {
    /// Username.
    pub username: String,
    /// The account.
    pub account: AccountId,
    /// Master key SPKI, base64.
    pub master_key: String,
    /// Active devices.
    pub devices: Vec<DeviceView>,
    /// Master-signed revocations, base64.
    pub revocations: Vec<String>,
}

// ---- conversations, messages, attachments ----

/// `POST /v1/conversations`: a signed genesis.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    /// The genesis change, base64.
    pub genesis: String,
}

/// A stored change's position (`POST /v1/conversations` and `/changes` answers).
#[derive(Debug, Serialize, Deserialize)]
pub struct ChangeStored {
    /// The conversation.
    pub conversation: ConversationId,
    /// The new epoch.
    pub epoch: u64,
}

/// `?since=EPOCH` of `GET /v1/conversations/{c}` (inclusive).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Since {
    /// The first epoch wanted.
    #[serde(default)]
    pub since: u64,
}

/// One entry of a group log.
#[derive(Debug, Serialize, Deserialize)]
pub struct ChangeView {
    /// Epoch of the change.
    pub epoch: u64,
    /// Signed change, base64.
    pub change: String,
    /// The device that signed it.
    pub author: DeviceId,
    /// Milliseconds since the epoch.
    pub created_at: i64,
}

/// `GET /v1/conversations/{c}` answer: the log from the requested epoch and the members.
#[derive(Debug, Serialize, Deserialize)]
pub struct ConversationView {
    /// The conversation.
    pub conversation: ConversationId,
    /// Current members.
    pub members: Vec<AccountId>,
    /// The log.
    pub changes: Vec<ChangeView>,
}

/// `POST /v1/conversations/{c}/changes`: a change to append.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppendRequest {
    /// The signed change, base64.
    pub change: String,
}

/// `POST /v1/conversations/{c}/messages`: an envelope sent over HTTP.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    /// The de-duplication key.
    pub message_id: MessageId,
    /// The envelope, base64.
    pub envelope: String,
    /// Deliver to this member device only (key distributions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<DeviceId>,
}

/// `POST /v1/conversations/{c}/messages` answer: where an envelope went.
#[derive(Debug, Serialize, Deserialize)]
pub struct SentView {
    /// The message.
    pub message_id: MessageId,
    /// Devices that got a copy (by this post; a retry counts only the devices it reached).
    pub recipients: usize,
    /// Member devices that did not get a copy, each with the reason. A retry of the same
    /// message id and bytes delivers to those that can take it by then.
    #[serde(default)]
    pub undelivered: Vec<Undelivered>,
}

/// A member device that did not get a copy of an envelope, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Undelivered {
    /// The device.
    pub device: DeviceId,
    /// Why it got no copy.
    pub reason: UndeliveredReason,
}

/// Why a member device got no copy of an envelope (`docs/api.md`, "Queue policy").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UndeliveredReason {
    /// The device's queue is at `max_queue_per_device` and the sender already holds its share
    /// (`queue_share_per_sender`) of it.
    QueueFull,
    /// The sender holds `max_queue_per_sender` copies in the device's queue.
    SenderShareFull,
    /// The recipient has not accepted the conversation yet and it has routed
    /// `max_request_envelopes` envelopes to them.
    RequestLimit,
    /// The recipient blocked the sender.
    Blocked,
    /// The recipient declined the conversation.
    Declined,
}

impl UndeliveredReason {
    /// The reason's wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::QueueFull => "queue_full",
            Self::SenderShareFull => "sender_share_full",
            Self::RequestLimit => "request_limit",
            Self::Blocked => "blocked",
            Self::Declined => "declined",
        }
    }

    /// Whether a later retry can succeed without the recipient doing anything (their device
    /// draining its queue); the others wait for the recipient to accept or unblock.
    pub fn clears_by_itself(self) -> bool {
        matches!(self, Self::QueueFull | Self::SenderShareFull)
    }
}

// ---- requests and blocks ----

/// One conversation the caller was added to by someone who is not a contact yet.
#[derive(Debug, Serialize, Deserialize)]
pub struct RequestView {
    /// The conversation.
    pub conversation: ConversationId,
    /// Who added the caller (the genesis signer or the author of the AddMember change).
    pub from: AccountId,
    /// Their username.
    pub from_username: String,
    /// Current members.
    pub members: usize,
    /// When the caller was added, ms since the epoch.
    pub created_at: i64,
    /// Envelopes routed to the caller so far under the request (`max_request_envelopes` at most).
    pub queued: u64,
}

/// `GET /v1/requests` answer.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct RequestList {
    /// Pending requests, oldest first.
    pub requests: Vec<RequestView>,
}

/// A blocked account.
#[derive(Debug, Serialize, Deserialize)]
pub struct BlockedView {
    /// The account.
    pub account: AccountId,
    /// Its username.
    pub username: String,
}

/// `GET /v1/blocks` answer.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct BlockList {
    /// Blocked accounts, by username.
    pub blocked: Vec<BlockedView>,
}

/// `POST /v1/conversations/{c}/attachments` answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct AttachmentView {
    /// The attachment.
    pub attachment: AttachmentId,
}

// ---- recovery (docs/protocol.md §14–§15) ----

/// How an account's recovery secret is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecoveryMethod {
    /// A recovery key of 28 random bytes (§14.1).
    Key,
    /// A passphrase stretched with Argon2id under the set-up's salt (§14.2).
    Passphrase,
}

impl RecoveryMethod {
    /// The method's text, as on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Key => "key",
            Self::Passphrase => "passphrase",
        }
    }
}

impl std::str::FromStr for RecoveryMethod {
    type Err = crate::ids::BadId;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "key" => Ok(Self::Key),
            "passphrase" => Ok(Self::Passphrase),
            _ => Err(crate::ids::BadId { prefix: "method" }),
        }
    }
}

/// `PUT /v1/recovery`: a new recovery set-up (replaces any earlier one and its items).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecoverySetup {
    /// 16 random bytes, base64.
    pub recovery_id: String,
    /// Key or passphrase.
    pub method: RecoveryMethod,
    /// The passphrase's Argon2id salt (16 bytes), base64; present iff the method is
    /// `passphrase`.
    #[serde(default)]
    pub salt: Option<String>,
    /// `SHA-256(domain("sotto/recovery/verifier") ‖ access key)`, base64.
    pub verifier: String,
}

/// A configured set-up as `GET /v1/recovery` shows it.
#[derive(Debug, Serialize, Deserialize)]
pub struct RecoverySetupView {
    /// The recovery id, base64.
    pub recovery_id: String,
    /// Key or passphrase.
    pub method: RecoveryMethod,
    /// The passphrase's salt, base64 (`null` for a key).
    pub salt: Option<String>,
    /// Backup items stored.
    pub items: u64,
    /// When it was set up, ms since the epoch.
    pub created_at: i64,
}

/// `GET /v1/recovery` answer: `{"configured": false}` or the set-up's fields beside
/// `"configured": true`.
#[derive(Debug, Serialize, Deserialize)]
pub struct RecoveryStatus {
    /// Whether recovery is set up.
    pub configured: bool,
    /// The set-up, when there is one.
    #[serde(flatten)]
    pub setup: Option<RecoverySetupView>,
}

/// `POST /v1/recovery/items`: backup items (§15.2 wire forms, base64).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupUpload {
    /// At most [`MAX_BACKUP_ITEMS_PER_REQUEST`].
    pub items: Vec<String>,
}

/// Backup items one `POST /v1/recovery/items` may carry.
pub const MAX_BACKUP_ITEMS_PER_REQUEST: usize = 64;

/// `POST /v1/recovery/items` answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct BackupStored {
    /// Items stored by this request (an item id already stored is not counted again).
    pub stored: u64,
}

/// `POST /v1/recovery/unlock`: the access key, and where the page starts.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecoveryUnlock {
    /// The access key (32 bytes), base64.
    pub access: Secret,
    /// The last sequence number already read (0: from the start).
    #[serde(default)]
    pub after: i64,
}

/// One stored backup item.
#[derive(Debug, Serialize, Deserialize)]
pub struct BackupItemView {
    /// Its position (increasing).
    pub seq: i64,
    /// The wire form, base64.
    pub item: String,
}

/// Backup items one unlock page holds at most.
pub const MAX_BACKUP_PAGE: usize = 500;

/// `POST /v1/recovery/unlock` answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct BackupPage {
    /// Items after `after`, by sequence number.
    pub items: Vec<BackupItemView>,
    /// The `after` of the next page, `null` when this was the last.
    pub next: Option<i64>,
}

// ---- prekeys (docs/protocol.md §18.4) ----

/// Devices one `POST /v1/prekeys/claim` names at most: a conversation's largest membership
/// (protocol `MAX_MEMBERS`, 1000) is counted in accounts, and a sender claims for devices; a
/// larger set is claimed in several requests.
pub const MAX_PREKEY_CLAIM_DEVICES: usize = 1000;

/// One-time prekeys one `POST /v1/devices/current/prekeys` carries at most (protocol §18.4:
/// a device keeps at most 100 uploaded).
pub const MAX_PREKEY_UPLOAD: usize = 100;

/// `POST /v1/devices/current/prekeys`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrekeyUpload {
    /// Signed one-time prekeys (`sotto/prekey`), base64, at most [`MAX_PREKEY_UPLOAD`].
    pub prekeys: Vec<String>,
    /// Delete every prekey of the device still stored first (a re-key, §18.8).
    #[serde(default)]
    pub replace: bool,
}

/// `POST` and `GET /v1/devices/current/prekeys` answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct PrekeyCount {
    /// One-time prekeys of the calling device stored and not yet claimed.
    pub remaining: u64,
}

/// `POST /v1/prekeys/claim`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrekeyClaim {
    /// The devices to claim one prekey of each, at most [`MAX_PREKEY_CLAIM_DEVICES`].
    pub devices: Vec<DeviceId>,
}

/// `POST /v1/prekeys/claim` answer.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct PrekeyClaimed {
    /// Every device the request named: its signed prekey (base64), handed out to this caller
    /// only, or `null` when it has none or may not be claimed by the caller.
    pub prekeys: std::collections::BTreeMap<DeviceId, Option<String>>,
}

// ---- hand-over (docs/protocol.md §16) ----

/// `POST /v1/devices/{device}/handovers`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandoverRequest {
    /// The SignedSealed hand-over, base64.
    pub handover: String,
}

/// `POST /v1/devices/{device}/handovers` answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct HandoverStored {
    /// The stored hand-over.
    pub id: HandoverId,
}

/// One hand-over waiting for the caller's device.
#[derive(Debug, Serialize, Deserialize)]
pub struct HandoverView {
    /// Its id (for `DELETE /v1/handovers/{id}`).
    pub id: HandoverId,
    /// The approving device that sent it.
    pub from: DeviceId,
    /// The SignedSealed hand-over, base64.
    pub handover: String,
    /// When it was stored, ms since the epoch.
    pub created_at: i64,
}

/// `GET /v1/handovers` answer.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct HandoverList {
    /// Oldest first.
    pub handovers: Vec<HandoverView>,
}

// ---- history (docs/protocol.md §6.7, §17) ----

/// `GET /v1/conversations/{c}/history` query.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// Only envelopes with a sequence number below this; absent: from the newest.
    #[serde(default)]
    pub before: Option<i64>,
    /// Envelopes at most, 1 to [`MAX_HISTORY_PAGE`] (default [`DEFAULT_HISTORY_PAGE`]).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// Envelopes one history page holds at most.
pub const MAX_HISTORY_PAGE: u32 = 500;
/// Envelopes a history page holds when the query names no limit.
pub const DEFAULT_HISTORY_PAGE: u32 = 100;

/// One archived envelope.
#[derive(Debug, Serialize, Deserialize)]
pub struct ArchivedView {
    /// Its position in the archive (increasing with arrival).
    pub seq: i64,
    /// The envelope as received, base64.
    pub envelope: String,
    /// Server receive time, ms since the epoch.
    pub received_at: i64,
}

/// `GET /v1/conversations/{c}/history` answer.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct HistoryPage {
    /// Newest first.
    pub envelopes: Vec<ArchivedView>,
    /// Whether older envelopes follow (ask again with `before` = the last `seq`).
    pub more: bool,
}

/// `GET /v1/policy` answer: the server's defaults clients apply.
#[derive(Debug, Serialize, Deserialize)]
pub struct PolicyView {
    /// The retention of a conversation whose log set none (§6.7), seconds; 0 = for good.
    pub default_retention_secs: u64,
    /// The largest attachment upload, bytes (`limits.max_attachment`); absent from older
    /// servers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attachment_bytes: Option<u64>,
    /// The largest encoded message body, bytes (protocol §11, 65536); absent from older
    /// servers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_body_bytes: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_refuse_unknown_fields_and_answers_tolerate_them() {
        assert!(serde_json::from_str::<Credentials>(
            r#"{"username":"a","password":"p","admin":true}"#
        )
        .is_err());
        let answer = r#"{"username":"alice","login_token":"sotto_lt_x","expires_in":5,"new":1}"#;
        let login: LoginResponse = serde_json::from_str(answer).unwrap();
        assert_eq!(login.login_token.expose(), "sotto_lt_x");
        assert!(!format!("{login:?}").contains("sotto_lt_x"));
    }

    #[test]
    fn answers_keep_the_json_shape_of_docs_api() {
        let device = DeviceId::from_bytes([9; 32]);
        let view = DeviceView {
            device,
            state: DeviceState::Active,
            name: "laptop".into(),
            signing_key: "AA==".into(),
            auth_key: "AQ==".into(),
            certificate: None,
            exchange_key: Some("Ag==".into()),
            created_at: 5,
        };
        assert_eq!(
            serde_json::to_string(&view).unwrap(),
            format!(
                r#"{{"device":"{device}","state":"active","name":"laptop","signing_key":"AA==","auth_key":"AQ==","certificate":null,"exchange_key":"Ag==","created_at":5}}"#
            )
        );
        let sent = SendRequest {
            message_id: MessageId::from_bytes([1; 16]),
            envelope: "AA==".into(),
            to: None,
        };
        let json = serde_json::to_string(&sent).unwrap();
        assert!(!json.contains("\"to\""), "{json}");
        let session = SessionView {
            session: SessionId([0; 16]),
            device: None,
            kind: SessionKind::Login,
            created_at: 1,
            current: true,
        };
        assert_eq!(
            serde_json::to_string(&session).unwrap(),
            format!(
                r#"{{"session":"sess:{}","device":null,"kind":"login","created_at":1,"current":true}}"#,
                "00".repeat(16)
            )
        );
    }
}
