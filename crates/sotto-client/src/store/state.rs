//! What the profile snapshot holds. Private keys, tokens and chain state are secrets kept in
//! [`Secret`] (zeroized on drop, never printed); public keys and certificates are base64 text.
//! The whole snapshot is encrypted at rest by the vault.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};
use sotto_proto::ids::{AccountId, ConversationId, DeviceId, MessageId};
use zeroize::Zeroizing;

use crate::api::{b64, unb64};
use crate::engine::{HeldPayloads, HistoryKeys, Outbox, Pins, Recovery};
use crate::error::{Error, Result};
use sotto_proto::group::Retention;
use sotto_proto::Timestamp;

use crate::engine::amend::{self, Applied, WaitingAmendments};
pub use crate::engine::amend::{Amended, Amendment, Change, Mention, ReactionRecord, Refusal};
pub use crate::engine::backup::{Pending, RecoveryMethod};
pub use crate::engine::held::{Held, IdentityHold, MAX_IDENTITY_HELD};
pub use crate::engine::history::HistoryKey;
pub use crate::engine::outbox::{OutboxItem, Unsent};
pub use crate::engine::pins::Peer;

/// Message ids remembered to drop relayed duplicates.
pub const MAX_SEEN: usize = 20_000;
/// Delivered messages kept in the local history.
pub const MAX_HISTORY: usize = 5_000;

/// Secret bytes as base64 text, zeroized on drop, redacted in `Debug`.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps secret bytes.
    pub fn new(bytes: &[u8]) -> Self {
        Self(Zeroizing::new(b64(bytes)))
    }

    /// The bytes.
    pub fn bytes(&self) -> Result<Zeroizing<Vec<u8>>> {
        unb64(&self.0, "stored secret")
            .map(Zeroizing::new)
            .map_err(|_| Error::CorruptStore {
                reason: "a stored secret is not base64",
            })
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// A token, zeroized on drop.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Token(pub Zeroizing<String>);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// The whole profile.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct ProfileState {
    /// The server URL this profile belongs to.
    pub server: String,
    /// The pinned certificate fingerprint, once given with `--tls-pin`.
    pub tls_pin: Option<String>,
    /// The account, once registered or logged in.
    pub account: Option<AccountState>,
    /// This device's keys.
    pub device: Option<DeviceState>,
    /// The device session.
    pub session: Option<SessionState>,
    /// Identities pinned on first use (stored as `peers`, by account id, and `names`, username →
    /// account id, as before the pins had a type of their own).
    #[serde(flatten)]
    pub pins: Pins,
    /// Conversations this device knows, by id.
    pub conversations: BTreeMap<ConversationId, Conversation>,
    /// The receiver state (`sotto/local/receiver-state`).
    pub receiver: Option<Secret>,
    /// Messages reserved but not yet confirmed by the server.
    pub outbox: Outbox,
    /// Outbox messages the server refused for good, not yet reported to the user.
    #[serde(default)]
    pub unsent: Vec<Unsent>,
    /// Message ids already processed (newest last): each the signed header's id of a message,
    /// never a relay's id for another payload, so every entry parses.
    pub seen: VecDeque<MessageId>,
    /// Payloads waiting for their chain or group epoch, or for the user's decision about a
    /// changed identity (oldest first).
    pub held: HeldPayloads,
    /// Envelopes this device finally could not decrypt.
    pub undecryptable: u64,
    /// Decrypted messages not yet handed to the user (printed by `recv`).
    pub inbox: VecDeque<Delivered>,
    /// Delivered messages, newest last.
    pub history: VecDeque<Delivered>,
    /// Where this snapshot lives (machine and folder, hashed): a snapshot found elsewhere is a
    /// copy, which must start new sender chains before sending (protocol §9.5).
    #[serde(default)]
    pub home: Option<String>,
    /// The start key of every chain this device held (`docs/protocol.md` §17.2), to open
    /// archived envelopes and to hand to the account's other devices.
    #[serde(default, skip_serializing_if = "HistoryKeys::is_empty")]
    pub history_keys: HistoryKeys,
    /// The key-backup set-up this device writes to, once recovery is set up here or this
    /// device was recovered (`docs/protocol.md` §14–§15).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<Recovery>,
    /// The server's default retention, seconds (0: for good), as last fetched (§6.7).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_retention_secs: Option<u64>,
    /// Edits, deletes and reactions whose target this device does not hold yet (§8.5).
    #[serde(default, skip_serializing_if = "WaitingAmendments::is_empty")]
    pub waiting_amendments: WaitingAmendments,
    /// Amendments applied and amendments refused, not yet handed to the user (printed by
    /// `recv`, like the inbox).
    #[serde(default, skip_serializing_if = "VecDeque::is_empty")]
    pub notices: VecDeque<Notice>,
    /// This device's one-time prekeys and the consumed ones' tombstones
    /// (`sotto/local/prekey-ring`, §18.6), written in the same save as the receiver state that
    /// committed a distribution. Last-resort prekeys live with their exchange key
    /// ([`ExchangeKeyState::last_resort`]), not here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prekeys: Option<Secret>,
    /// Version-1 distributions refused because their exchange key was certified by a version-2
    /// certificate (`receive/downgrade`, §18.7): evidence against the server, counted for good.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub downgrades: u64,
    /// One-time prekeys the server handed out that failed verification (§18.7): the
    /// last-resort prekey was used instead. Counted for good.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub bad_prekeys: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Something about a stored message for the user, after its amendment was checked.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Notice {
    /// An edit, delete or reaction that was accepted.
    Amended(Box<Amendment>),
    /// An amendment refused (§8.5): never shown, reported with its code and counted.
    Refused {
        /// The amendment's id.
        message_id: MessageId,
        /// Its sender account.
        from: AccountId,
        /// Why.
        reason: Refusal,
    },
}

/// What became of an amendment given to [`ProfileState::amend`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AmendOutcome {
    /// Checked and applied (or accepted without effect, see [`Applied::Ignored`]); the file a
    /// delete removed from the target, if any, for the caller to delete.
    Accepted {
        /// The saved attachment of a deleted message.
        file: Option<String>,
    },
    /// The target is not held yet: the amendment waits for it.
    Waiting,
    /// Refused (§8.5): changes nothing.
    Refused(Refusal),
}

/// The account this profile belongs to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccountState {
    /// Normalised username.
    pub username: String,
    /// The account's id.
    pub account: AccountId,
    /// Master public key SPKI, base64.
    pub master_spki: String,
    /// Master private key (PKCS#8), on the device that holds it.
    pub master_key: Option<Secret>,
    /// The highest revocation serial issued.
    pub revocation_serial: u64,
}

/// This device.
#[derive(Debug, Serialize, Deserialize)]
pub struct DeviceState {
    /// This device's id.
    pub device: DeviceId,
    /// Display name.
    pub name: String,
    /// Signing key (PKCS#8).
    pub signing_key: Secret,
    /// Auth key (PKCS#8).
    pub auth_key: Secret,
    /// Whether a master-signed certificate exists (approved).
    pub active: bool,
    /// Exchange keys, newest last.
    pub exchange_keys: Vec<ExchangeKeyState>,
}

/// One exchange key of this device.
#[derive(Debug, Serialize, Deserialize)]
pub struct ExchangeKeyState {
    /// Private key (PKCS#8).
    pub key: Secret,
    /// Certificate serial.
    pub serial: u64,
    /// Validity start, ms.
    pub not_before: u64,
    /// Validity end, ms.
    pub not_after: u64,
    /// Whether the server accepted the certificate.
    pub published: bool,
    /// The last-resort prekey certified with this key (`sotto/local/prekey`), on a device that
    /// runs version 2 (§18.3): kept exactly as long as the exchange key, dropped with it.
    /// `None` for a key certified by a version-1 certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_resort: Option<Secret>,
}

/// The device session's tokens.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionState {
    /// `sess:…`, as the server sent it. Kept as text: the client only shows it, never sends it
    /// back or compares it, and a profile must load whatever spelling its server used.
    pub session: String,
    /// Access token.
    pub access_token: Token,
    /// When the access token expires, ms.
    pub access_expires_at: u64,
    /// When it was issued, ms (a clock now earlier than this has been set back: the expiry
    /// above cannot be trusted).
    #[serde(default)]
    pub access_issued_at: u64,
    /// Single-use refresh token.
    pub refresh_token: Token,
}

/// A conversation.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Conversation {
    /// Verified group state (`sotto/local/group-state`), base64.
    pub group: Option<String>,
    /// This device's current sender chain (`sotto/local/sender-chain`).
    pub chain: Option<Secret>,
    /// False once the server says this account is no longer a member.
    pub member: bool,
    /// The group's name as a member sent it, checked against the verified log (§6.5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<KnownName>,
    /// Why the server's log of this conversation was refused when last fetched (a protocol
    /// code), while it is: the conversation is then not shown as a normal one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
    /// Set once a verified change took this account out (protocol §6.3): who did it, at which
    /// epoch. The conversation stays readable; nothing is sent to it any more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed: Option<Removal>,
    /// The next message starts a new sending chain whatever the current one's age: this device
    /// was re-keyed (§18.8), so chains distributed before it may be known to an attacker.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rotate: bool,
}

/// How this account left a conversation: the signer of the verified RemoveMember (this account
/// itself when it left) and its epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removal {
    /// The account that signed the change.
    pub by: AccountId,
    /// The change's epoch.
    pub epoch: u64,
}

/// A group name this device accepted (or chose) and the salt of its commitment, kept so that an
/// admin can send it to members added later (`docs/protocol.md` §6.5).
#[derive(Clone, Serialize, Deserialize)]
pub struct KnownName {
    /// The epoch of the change whose commitment it opens.
    pub epoch: u64,
    /// The commitment's salt.
    pub salt: Secret,
    /// The name.
    pub name: Zeroizing<String>,
}

impl std::fmt::Debug for KnownName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KnownName")
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

/// The content of an outgoing message, kept until the server confirms it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum OutgoingBody {
    /// Text.
    Text(Zeroizing<String>),
    /// An uploaded attachment.
    Attachment {
        /// `att:…`.
        blob_id: String,
        /// File name.
        file_name: String,
        /// Media type.
        media_type: String,
        /// Plaintext size.
        size: u64,
        /// Attachment secret.
        secret: Secret,
        /// SHA-256 of the blob, hex.
        sha256: String,
        /// Caption.
        caption: Zeroizing<String>,
    },
    /// A group's name for its members (`docs/protocol.md` §6.5); never shown as a message.
    GroupName(KnownName),
    /// A text with a reply or mentions (§8.4); a text with neither goes as [`Self::Text`].
    Message {
        /// The text.
        text: Zeroizing<String>,
        /// The message it answers.
        reply_to: Option<MessageId>,
        /// The members it mentions.
        mentions: Vec<Mention>,
    },
    /// A new text for one of this account's messages (§8.5).
    Edit {
        /// The message edited.
        target: MessageId,
        /// The new text.
        text: Zeroizing<String>,
        /// The new mentions.
        mentions: Vec<Mention>,
    },
    /// Withdraws one of this account's messages (§8.5).
    Delete {
        /// The message withdrawn.
        target: MessageId,
    },
    /// Adds or takes back a reaction (§8.6).
    Reaction {
        /// The message reacted to.
        target: MessageId,
        /// The reaction.
        emoji: String,
        /// False to take it back.
        added: bool,
    },
}

/// A decrypted message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Delivered {
    /// The message's (signed) id.
    pub id: MessageId,
    /// The conversation it was sent in.
    pub conversation: ConversationId,
    /// Sender's username.
    pub from: String,
    /// Sender's device.
    pub device: DeviceId,
    /// Sender's timestamp, ms.
    pub sent_at: u64,
    /// Text or caption.
    pub text: Zeroizing<String>,
    /// An attachment, if any.
    pub attachment: Option<IncomingAttachment>,
    /// Received under a request: a conversation this account has not accepted (yet).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub request: bool,
    /// The sender's account (absent in messages stored before it was kept: those can be
    /// nobody's to edit or delete).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<AccountId>,
    /// The message this one replies to (§8.4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<MessageId>,
    /// The members it mentions, from the sender's list (§8.4).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<Mention>,
    /// Its edits, delete and reactions (§8.5, §8.6).
    #[serde(default, skip_serializing_if = "Amended::is_empty")]
    pub amended: Amended,
}

impl Delivered {
    /// The text shown: the latest accepted edit's, else the original's; empty once deleted.
    pub fn current_text(&self) -> &str {
        match self.amended.edits.last() {
            Some(edit) => edit.text.as_str(),
            None => self.text.as_str(),
        }
    }

    /// The mentions shown: the latest edit's, else the original's.
    pub fn current_mentions(&self) -> &[Mention] {
        match self.amended.edits.last() {
            Some(edit) => &edit.mentions,
            None => &self.mentions,
        }
    }

    /// Whether an edit was accepted (the message is shown as edited).
    pub fn is_edited(&self) -> bool {
        !self.amended.edits.is_empty()
    }

    /// The reactions that stand, in the order they were first given.
    pub fn shown_reactions(&self) -> Vec<&ReactionRecord> {
        self.amended.reactions.iter().filter(|r| r.added).collect()
    }
}

/// An attachment reference received in a message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IncomingAttachment {
    /// `att:…`.
    pub blob_id: String,
    /// File name as sent.
    pub file_name: String,
    /// Media type.
    pub media_type: String,
    /// Plaintext size.
    pub size: u64,
    /// Attachment secret.
    pub secret: Secret,
    /// SHA-256 of the blob, hex.
    pub sha256: String,
    /// Where it was saved, once downloaded.
    pub path: Option<String>,
}

impl IncomingAttachment {
    /// What this device keeps of an attachment a message referred to, not yet downloaded.
    pub fn from_ref(attachment: &sotto_proto::body::AttachmentRef) -> Self {
        IncomingAttachment {
            blob_id: attachment.blob_id.as_str().to_owned(),
            file_name: attachment.file_name.as_str().to_owned(),
            media_type: attachment.media_type.as_str().to_owned(),
            size: attachment.size,
            secret: Secret::new(attachment.secret.as_ref()),
            sha256: hex::encode(attachment.ciphertext_sha256),
            path: None,
        }
    }
}

impl ProfileState {
    /// Remembers a processed message id; true if it was new.
    pub fn remember(&mut self, message_id: MessageId) -> bool {
        if self.has_seen(message_id) {
            return false;
        }
        self.seen.push_back(message_id);
        while self.seen.len() > MAX_SEEN {
            self.seen.pop_front();
        }
        true
    }

    /// Forgets a remembered message id (an envelope that turned out to need another check).
    pub fn forget(&mut self, message_id: MessageId) {
        self.seen.retain(|s| *s != message_id);
    }

    /// Whether a message id was processed before.
    pub fn has_seen(&self, message_id: MessageId) -> bool {
        self.seen.contains(&message_id)
    }

    /// Moves a delivered message to the history.
    pub fn archive(&mut self, message: Delivered) {
        self.history.push_back(message);
        while self.history.len() > MAX_HISTORY {
            self.history.pop_front();
        }
    }

    /// Stores a message opened from the server's archive (§17.2) in its place by `sent_at`.
    /// False, and nothing stored, when a message with its id is stored already.
    pub fn archive_past(&mut self, message: Delivered) -> bool {
        let known = |m: &Delivered| m.id == message.id;
        if self.history.iter().any(known) || self.inbox.iter().any(known) {
            return false;
        }
        let at = self
            .history
            .iter()
            .rposition(|m| m.sent_at <= message.sent_at)
            .map_or(0, |i| i + 1);
        self.history.insert(at, message);
        while self.history.len() > MAX_HISTORY {
            self.history.pop_front();
        }
        true
    }

    /// Deletes the stored messages of `conversation` past `retention` at `now` (§6.7), shown or
    /// not; returns the files their attachments were saved to, for the caller to delete.
    pub fn expire_messages(
        &mut self,
        conversation: ConversationId,
        retention: Retention,
        now: u64,
    ) -> Vec<String> {
        let mut files = Vec::new();
        for list in [&mut self.history, &mut self.inbox] {
            list.retain(|m| {
                let expired = m.conversation == conversation
                    && retention.expired(Timestamp(m.sent_at), Timestamp(now));
                if expired {
                    files.extend(m.attachment.as_ref().and_then(|a| a.path.clone()));
                }
                !expired
            });
        }
        files
    }

    /// The stored message `id` (shown or not).
    pub fn message(&self, id: MessageId) -> Option<&Delivered> {
        self.history
            .iter()
            .chain(self.inbox.iter())
            .find(|m| m.id == id)
    }

    fn message_mut(&mut self, id: MessageId) -> Option<&mut Delivered> {
        self.history
            .iter_mut()
            .chain(self.inbox.iter_mut())
            .find(|m| m.id == id)
    }

    /// Checks `amendment` against its stored target and applies it (§8.5, §8.6), or keeps it
    /// until the target arrives. `now` (ms) starts its wait. A delete also drops what waits
    /// for the deleted message and the notices of its edits not shown yet.
    pub fn amend(&mut self, amendment: Amendment, now: u64) -> AmendOutcome {
        let pinned = |state: &Self, target: &Delivered| {
            target
                .account
                .or_else(|| state.pins.account_of(&target.from))
        };
        let Some(target) = self.message(amendment.target) else {
            if self.waiting_amendments.wait(amendment, now).is_some() {
                // Over the bound: the oldest is given up, counted as refused payloads are.
                self.undecryptable += 1;
            }
            return AmendOutcome::Waiting;
        };
        let author = pinned(self, target);
        if let Err(refusal) = amend::check(&amendment, target, author) {
            return AmendOutcome::Refused(refusal);
        }
        let Some(target) = self.message_mut(amendment.target) else {
            return AmendOutcome::Waiting;
        };
        let file = match amend::apply(target, &amendment) {
            Applied::Changed { file } => file,
            Applied::Ignored => None,
        };
        if matches!(amendment.change, Change::Delete) {
            let gone = amendment.target;
            // What waited for the deleted message would be dropped on arrival anyway.
            let _dropped = self.waiting_amendments.take_for(gone);
            self.notices.retain(|n| match n {
                Notice::Amended(a) => a.target != gone || !matches!(a.change, Change::Edit { .. }),
                Notice::Refused { .. } => true,
            });
        }
        AmendOutcome::Accepted { file }
    }

    /// Applies what waited for the message `target`, just stored; returns the files deletes
    /// removed. Each accepted one becomes a notice, each refused one a refused notice
    /// (counted like any refused payload).
    pub fn release_waiting(&mut self, target: MessageId, now: u64) -> Vec<String> {
        let mut files = Vec::new();
        for amendment in self.waiting_amendments.take_for(target) {
            let notice = amendment.clone();
            match self.amend(amendment, now) {
                AmendOutcome::Accepted { file } => {
                    files.extend(file);
                    self.notices.push_back(Notice::Amended(Box::new(notice)));
                }
                AmendOutcome::Refused(reason) => {
                    self.undecryptable += 1;
                    self.notices.push_back(Notice::Refused {
                        message_id: notice.id,
                        from: notice.account,
                        reason,
                    });
                }
                AmendOutcome::Waiting => {}
            }
        }
        files
    }

    /// Serialises the snapshot (zeroized when dropped).
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>> {
        serde_json::to_vec(self)
            .map(Zeroizing::new)
            .map_err(Error::StoreFormat)
    }

    /// Parses a snapshot.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        serde_json::from_slice(bytes).map_err(Error::StoreFormat)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_held_entry_from_before_identity_holds_loads_as_waiting_for_its_key() {
        let old = r#"{"message_id":"msg:01","conversation":"conv:00000000000000000000000000000002","envelope":"AA==",
            "held_at":5,"requested":true}"#;
        let held: Held = serde_json::from_str(old).unwrap();
        assert!(held.identity.is_none());
        assert!(held.requested);
    }

    /// A profile snapshot as the client wrote it before its state was typed (every field set,
    /// both outbox body kinds, both kinds of hold), with a partly delivered outbox entry.
    const SNAPSHOT: &str = include_str!("../../tests/data/profile_snapshot.json");

    #[test]
    fn an_existing_profile_loads_and_saves_back_as_the_same_json() {
        let state = ProfileState::from_bytes(SNAPSHOT.as_bytes()).unwrap();
        assert_eq!(state.outbox.len(), 2);
        assert_eq!(state.held.len(), 2);
        assert_eq!(state.pins.len(), 2);
        let written: serde_json::Value =
            serde_json::from_slice(&state.to_bytes().unwrap()).unwrap();
        let original: serde_json::Value = serde_json::from_str(SNAPSHOT).unwrap();
        assert_eq!(written, original);
    }

    #[test]
    fn a_profile_from_before_partly_delivered_messages_loads_with_none() {
        let mut older: serde_json::Value = serde_json::from_str(SNAPSHOT).unwrap();
        for item in older["outbox"].as_array_mut().unwrap() {
            item.as_object_mut().unwrap().remove("undelivered");
        }
        let state = ProfileState::from_bytes(older.to_string().as_bytes()).unwrap();
        assert_eq!(state.outbox.len(), 2);
        assert_eq!(state.outbox.partly_delivered().count(), 0);
        let current = ProfileState::from_bytes(SNAPSHOT.as_bytes()).unwrap();
        let partly: Vec<_> = current.outbox.partly_delivered().collect();
        assert_eq!(partly.len(), 1);
        assert_eq!(
            partly[0].undelivered[0].reason,
            sotto_wire::api::UndeliveredReason::SenderShareFull
        );
    }

    #[test]
    fn a_stored_id_of_the_wrong_kind_fails_the_load() {
        let account = "acct:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        let conversation = "conv:44444444444444444444444444444444";
        let seen = "\"seen\": [\"msg:88888888888888888888888888888888\"]";
        for tampered in [
            SNAPSHOT.replacen(
                account,
                "dev:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                1,
            ),
            SNAPSHOT.replacen(conversation, "msg:44444444444444444444444444444444", 1),
            SNAPSHOT.replacen(seen, "\"seen\": [\"msg:8888\"]", 1),
        ] {
            assert_ne!(tampered, SNAPSHOT);
            assert!(matches!(
                ProfileState::from_bytes(tampered.as_bytes()),
                Err(Error::StoreFormat(_))
            ));
        }
    }

    fn message(id: u8, conversation: u8, sent_at: u64) -> Delivered {
        Delivered {
            id: MessageId::from_bytes([id; MessageId::LEN]),
            conversation: ConversationId::from_bytes([conversation; ConversationId::LEN]),
            from: "bob".to_owned(),
            device: sotto_proto::ids::DeviceId::from_bytes([3; 32]),
            sent_at,
            text: Zeroizing::new(format!("text {id}")),
            attachment: None,
            request: false,
            account: None,
            reply_to: None,
            mentions: Vec::new(),
            amended: Amended::default(),
        }
    }

    #[test]
    fn a_message_from_the_archive_takes_its_place_by_sent_at_once() {
        let mut state = ProfileState::default();
        state.archive(message(1, 1, 10));
        state.archive(message(3, 1, 30));
        assert!(state.archive_past(message(2, 1, 20)));
        assert!(!state.archive_past(message(2, 1, 20)));
        assert!(state.archive_past(message(0, 1, 5)));
        let order: Vec<u64> = state.history.iter().map(|m| m.sent_at).collect();
        assert_eq!(order, vec![5, 10, 20, 30]);
    }

    #[test]
    fn expired_messages_of_the_conversation_go_and_others_stay() {
        let mut state = ProfileState::default();
        state.archive(message(1, 1, 0));
        state.archive(message(2, 2, 0));
        state.inbox.push_back(message(3, 1, 0));
        state.archive(message(4, 1, 50_000));
        let minute = Retention::from_secs(60).unwrap();
        state.expire_messages(ConversationId::from_bytes([1; 16]), minute, 60_000);
        let left: Vec<u8> = state.history.iter().map(|m| m.id.as_bytes()[0]).collect();
        assert_eq!(left, vec![2, 4]);
        assert!(state.inbox.is_empty());
    }

    #[test]
    fn a_profile_with_history_keys_and_a_recovery_set_up_loads_back() {
        let mut state = ProfileState::from_bytes(SNAPSHOT.as_bytes()).unwrap();
        state.history_keys.add(HistoryKey {
            conversation: ConversationId::from_bytes([1; 16]),
            epoch: 2,
            chain: sotto_proto::ids::ChainId::from_bytes([4; 16]),
            owner_account: AccountId::from_bytes([5; 32]),
            owner_device: sotto_proto::ids::DeviceId::from_bytes([6; 32]),
            start_index: 0,
            start_key: Secret::new(&[7; 32]),
            created_at: 8,
        });
        state.recovery = Some(Recovery::new(
            [9; 16],
            RecoveryMethod::Passphrase,
            Secret::new(&[1; 32]),
            [Pending::MasterKey],
        ));
        state.default_retention_secs = Some(0);
        let again = ProfileState::from_bytes(&state.to_bytes().unwrap()).unwrap();
        assert_eq!(again.history_keys.len(), 1);
        let recovery = again.recovery.unwrap();
        assert_eq!(recovery.pending(), 1);
        assert_eq!(recovery.method, RecoveryMethod::Passphrase);
        assert_eq!(again.default_retention_secs, Some(0));
    }

    fn amendment(n: u8, target: u8, account: AccountId, change: Change) -> Amendment {
        Amendment {
            id: MessageId::from_bytes([n; MessageId::LEN]),
            conversation: ConversationId::from_bytes([1; 16]),
            target: MessageId::from_bytes([target; MessageId::LEN]),
            account,
            from: "bob".to_owned(),
            device: DeviceId::from_bytes([3; 32]),
            sent_at: 100 + u64::from(n),
            change,
        }
    }

    fn edit(text: &str) -> Change {
        Change::Edit {
            text: Zeroizing::new(text.to_owned()),
            mentions: Vec::new(),
        }
    }

    #[test]
    fn an_amendment_of_a_message_not_held_waits_and_applies_only_once_it_is_stored() {
        let bob = AccountId::from_bytes([2; 32]);
        let mallory = AccountId::from_bytes([6; 32]);
        let mut state = ProfileState::default();
        let early = amendment(20, 1, bob, edit("edited before it came"));
        assert_eq!(state.amend(early, 5), AmendOutcome::Waiting);
        let forged = amendment(21, 1, mallory, edit("forged"));
        assert_eq!(state.amend(forged, 5), AmendOutcome::Waiting);
        assert_eq!(state.waiting_amendments.len(), 2);
        assert!(state.message(MessageId::from_bytes([1; 16])).is_none());
        let mut target = message(1, 1, 10);
        target.account = Some(bob);
        state.inbox.push_back(target);
        assert!(state
            .release_waiting(MessageId::from_bytes([1; 16]), 6)
            .is_empty());
        let stored = state.message(MessageId::from_bytes([1; 16])).unwrap();
        assert_eq!(stored.current_text(), "edited before it came");
        assert!(state.waiting_amendments.is_empty());
        assert_eq!(state.undecryptable, 1, "the forged edit is counted");
        assert!(matches!(
            state.notices.back(),
            Some(Notice::Refused {
                reason: Refusal::NotAuthor,
                ..
            })
        ));
        assert!(matches!(state.notices.front(), Some(Notice::Amended(_))));
    }

    #[test]
    fn amendments_waiting_for_their_target_are_kept_in_the_profile() {
        let bob = AccountId::from_bytes([2; 32]);
        let mut state = ProfileState::default();
        let early = amendment(20, 1, bob, edit("waits"));
        assert_eq!(state.amend(early, 5), AmendOutcome::Waiting);
        let mut again = ProfileState::from_bytes(&state.to_bytes().unwrap()).unwrap();
        assert_eq!(again.waiting_amendments.len(), 1);
        let mut target = message(1, 1, 10);
        target.account = Some(bob);
        again.archive(target);
        again.release_waiting(MessageId::from_bytes([1; 16]), 6);
        let stored = again.message(MessageId::from_bytes([1; 16])).unwrap();
        assert_eq!(stored.current_text(), "waits");
        let reloaded = ProfileState::from_bytes(&again.to_bytes().unwrap()).unwrap();
        let stored = reloaded.message(MessageId::from_bytes([1; 16])).unwrap();
        assert_eq!(stored.current_text(), "waits");
        assert_eq!(
            stored.text.as_str(),
            "text 1",
            "the original stays available"
        );
    }

    #[test]
    fn a_delete_drops_the_unshown_edits_and_a_message_stored_without_its_author_uses_the_pin() {
        let bob = AccountId::from_bytes([2; 32]);
        let mut state = ProfileState::default();
        state.pins.pin_own(bob, "bob", String::new());
        state.archive(message(1, 1, 10));
        let edit_one = amendment(20, 1, bob, edit("secret edit"));
        assert_eq!(
            state.amend(edit_one.clone(), 5),
            AmendOutcome::Accepted { file: None }
        );
        state.notices.push_back(Notice::Amended(Box::new(edit_one)));
        let delete = amendment(22, 1, bob, Change::Delete);
        assert_eq!(
            state.amend(delete, 5),
            AmendOutcome::Accepted { file: None }
        );
        assert!(
            state.notices.is_empty(),
            "the edit's text is not shown any more"
        );
        let stored = state.message(MessageId::from_bytes([1; 16])).unwrap();
        assert!(stored.amended.deleted);
        assert_eq!(stored.current_text(), "");
        let written = String::from_utf8(state.to_bytes().unwrap().to_vec()).unwrap();
        assert!(!written.contains("secret edit") && !written.contains("text 1"));
    }

    #[test]
    fn a_forgotten_id_is_new_again() {
        let mut state = ProfileState::default();
        let id = MessageId::from_bytes([1; MessageId::LEN]);
        assert!(state.remember(id));
        assert!(!state.remember(id));
        state.forget(id);
        assert!(!state.has_seen(id));
        assert!(state.remember(id));
    }
}
