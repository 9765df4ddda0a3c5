//! Receiving one payload: messages, key distributions and key requests, checked by
//! `sotto-proto` against verified devices and the verified group state.
//!
//! A message is committed to the receiver state and stored in the inbox in one save, before it
//! is shown or acknowledged. A message whose chain or epoch is unknown is *held*, not failed
//! (protocol §9.4): it is retried when the distribution arrives, and after a delay the chain's
//! owner is asked to send the distribution again. Everything that finally fails is counted.
//!
//! A payload whose sender's identity no longer matches its pin in the directory is held too, for
//! the user's decision about that one account (protocol §9.4): the receive goes on with every
//! other sender instead of stopping at it.
//!
//! A payload whose check needs a server answer that does not verify (a group log with a change
//! by an unknown device or of another conversation, a broken directory entry for a sender never
//! pinned, a refusal) *waits* like one missing its key: the server may answer honestly later.
//! Only the transport failing (unreachable, `5xx`, timeout, an ended session) fails the receive.

use sotto_proto::body::{Mentions, MessageBody};
use sotto_proto::chain::{LocalDevice, ReceiverState};
use sotto_proto::distribution::{KeyDistribution, KeyRequest};
use sotto_proto::envelope::Envelope;
use sotto_proto::group::GroupState;
use sotto_proto::identity::VerifiedDevice;
use sotto_proto::ids::{AccountId, ConversationId, DeviceId, MessageId};
use sotto_proto::payload as proto;
use sotto_proto::signed::Signed;
use sotto_proto::{Error as ProtoError, ReceiveError};

use crate::client::Client;
use crate::error::{Error, Result};
use crate::store::state::{
    AmendOutcome, Amendment, Change, Delivered, Held, IdentityHold, IncomingAttachment, Mention,
    Notice, Secret,
};

/// The code of a version-1 distribution to an exchange key certified by a version-2
/// certificate (§18.7): someone who had the version-2 certificate sent it, so it is reported as
/// evidence against the server, not as one more undecryptable payload.
pub(crate) const DOWNGRADE: &str = "receive/downgrade";

/// A payload relayed by the server.
pub(crate) enum Payload {
    Message(Envelope),
    Distribution(KeyDistribution),
    Request(Signed, KeyRequest),
}

impl Payload {
    /// Tells the three apart by their domain label, read once by `sotto-proto`
    /// ([`proto::Payload::decode`]); `None` when the bytes are none of them.
    pub(crate) fn decode(bytes: &[u8]) -> Option<Self> {
        Some(match proto::Payload::decode(bytes).ok()? {
            proto::Payload::Message(envelope) => Self::Message(envelope),
            proto::Payload::Distribution(kdm) => Self::Distribution(kdm),
            proto::Payload::KeyRequest { signed, request } => Self::Request(signed, request),
        })
    }

    /// The account the payload claims to come from (not verified yet).
    pub(crate) fn claimed_sender(&self) -> AccountId {
        match self {
            Self::Message(envelope) => envelope.header().sender_account,
            Self::Distribution(kdm) => kdm.header().sender_account,
            Self::Request(_, request) => request.requester_account,
        }
    }

    /// The conversation it names.
    pub(crate) fn conversation(&self) -> ConversationId {
        match self {
            Self::Message(envelope) => envelope.header().conversation,
            Self::Distribution(kdm) => kdm.header().conversation,
            Self::Request(_, request) => request.conversation,
        }
    }

    /// Its id: a message's own (signed) id, else the one the relay gave it.
    pub(crate) fn message_id(&self, relayed: &str) -> String {
        match self {
            Self::Message(envelope) => envelope.header().message_id.to_string(),
            Self::Distribution(_) | Self::Request(..) => relayed.to_owned(),
        }
    }
}

/// What became of a message.
#[derive(Debug)]
pub(crate) enum Opened {
    /// Decrypted, committed and stored in the inbox; with the number of skipped indexes.
    Delivered {
        /// Skipped indexes before it (a gap).
        gap: usize,
    },
    /// Waiting for a distribution or group change.
    Hold,
    /// Waiting for a server answer that verifies (see [`Refused::Wait`]).
    Wait,
    /// Waiting for the user's decision about the sender's changed identity.
    Identity(IdentityHold),
    /// Seen before: dropped.
    Replay,
    /// Refused (the protocol error code).
    Failed(&'static str),
}

/// Why a distribution or key request was not acted on.
#[derive(Debug)]
pub(crate) enum Refused {
    /// Refused for good (the protocol error code).
    Failed(&'static str),
    /// Waiting for the user's decision about the sender's changed identity.
    Identity(IdentityHold),
    /// Waiting for a server answer that verifies: checking it needed a group log or a directory
    /// entry the server answered with something that does not verify, or refused. Nothing of it
    /// was verified; it waits like a payload missing its key and is retried on later receives.
    Wait,
}

impl From<Refused> for Opened {
    fn from(refused: Refused) -> Self {
        match refused {
            Refused::Failed(reason) => Self::Failed(reason),
            Refused::Identity(hold) => Self::Identity(hold),
            Refused::Wait => Self::Wait,
        }
    }
}

/// What accepting a distribution did.
#[derive(Debug)]
pub(crate) struct Accepted {
    pub chain: sotto_proto::ids::ChainId,
    pub from: String,
    pub missing: usize,
}

impl Client {
    pub(crate) fn receiver(&self) -> Result<ReceiverState> {
        match &self.state.receiver {
            Some(secret) => Ok(ReceiverState::decode_local(&secret.bytes()?)?),
            None => Ok(ReceiverState::new()),
        }
    }

    pub(crate) fn store_receiver(&mut self, receiver: &ReceiverState) {
        self.state.receiver = Some(Secret::new(&receiver.encode_local()));
    }

    /// The group state, fetched when unknown or behind `epoch`.
    async fn group_at(&mut self, conversation: ConversationId, epoch: u64) -> Result<GroupState> {
        let known = self.load_group(&conversation)?;
        match known {
            Some(group)
                if group.epoch() >= epoch && self.fresh.contains(&conversation.to_string()) =>
            {
                Ok(group)
            }
            Some(_) => self.sync_group(conversation).await,
            None => {
                let group = self.sync_group(conversation).await?;
                // A conversation new to this device may be a request (its messages say so).
                self.learn_requests().await?;
                Ok(group)
            }
        }
    }

    /// Verifies, decrypts and commits one message.
    pub(crate) async fn open_message(&mut self, envelope: &Envelope) -> Result<Opened> {
        let h = envelope.header().clone();
        let group = match self.group_at(h.conversation, h.epoch).await {
            Ok(group) => group,
            Err(error) => return Ok(self.group_refused(h.sender_account, error)?.into()),
        };
        let (username, sender) = match self
            .sender_device(h.sender_account, h.sender_device)
            .await?
        {
            Ok(found) => found,
            Err(refused) => return Ok(refused.into()),
        };
        let now = self.now()?;
        let mut receiver = self.receiver()?;
        let opened = match receiver.open(envelope, &sender, &group, now) {
            Ok(opened) => opened,
            Err(ProtoError::Receive(ReceiveError::UnknownChain { .. }))
            | Err(ProtoError::Receive(ReceiveError::UnknownEpoch { .. })) => {
                return Ok(Opened::Hold)
            }
            Err(ProtoError::Receive(ReceiveError::Replay { .. })) => return Ok(Opened::Replay),
            Err(e) => return Ok(Opened::Failed(e.code())),
        };
        let received = match receiver.commit(opened, now) {
            Ok(received) => received,
            Err(ProtoError::Receive(ReceiveError::Replay { .. })) => return Ok(Opened::Replay),
            Err(e) => return Ok(Opened::Failed(e.code())),
        };
        self.store_receiver(&receiver);
        let gap = received.gap.len();
        let (text, attachment, reply_to, mentions) = match received.body {
            MessageBody::Text(text) => (text, None, None, Mentions::none()),
            MessageBody::Attachment {
                attachment,
                caption,
            } => (
                caption,
                Some(IncomingAttachment::from_ref(&attachment)),
                None,
                Mentions::none(),
            ),
            MessageBody::Message {
                text,
                reply_to,
                mentions,
            } => (text, None, reply_to, mentions),
            // Receipts are recorded as received but are not messages: nothing goes to the inbox.
            // A new body kind is a compile error here until it says where it goes.
            MessageBody::Receipt { .. } => return Ok(Opened::Delivered { gap }),
            // A group name is conversation state: kept if the verified log commits to it
            // (protocol §6.5), never shown as a message. A member sending a name the log does
            // not commit to is refused with its code.
            MessageBody::GroupName(reveal) => {
                return Ok(match self.accept_name(&group, &reveal) {
                    Ok(()) => Opened::Delivered { gap },
                    Err(mismatch) => Opened::Failed(ProtoError::from(mismatch).code()),
                })
            }
            // Amendments change a stored message once checked against it (§8.5, §8.6); they
            // are never messages of their own.
            MessageBody::Edit {
                target,
                text,
                mentions,
            } => {
                let change = Change::Edit {
                    text: zeroize::Zeroizing::new(text),
                    mentions: self.mentioned(&group, &mentions),
                };
                return self.receive_amendment(&h, username, target, change, gap);
            }
            MessageBody::Delete { target } => {
                return self.receive_amendment(&h, username, target, Change::Delete, gap);
            }
            MessageBody::Reaction {
                target,
                reaction,
                added,
            } => {
                let change = Change::Reaction {
                    emoji: reaction.into_string(),
                    added,
                };
                return self.receive_amendment(&h, username, target, change, gap);
            }
        };
        let delivered = Delivered {
            id: h.message_id,
            conversation: h.conversation,
            from: username,
            device: h.sender_device,
            sent_at: h.sent_at.millis(),
            text: zeroize::Zeroizing::new(text),
            attachment,
            request: self.is_request(h.conversation),
            account: Some(h.sender_account),
            reply_to,
            mentions: self.mentioned(&group, &mentions),
            amended: Default::default(),
        };
        self.state.inbox.push_back(delivered);
        // What waited for this message applies now, never before (§8.5).
        let files = self.state.release_waiting(h.message_id, now.millis());
        for file in &files {
            self.delete_saved_file(file);
        }
        Ok(Opened::Delivered { gap })
    }

    /// The members a received list mentions, under the names this device shows them by; an
    /// account that is not a member mentions nobody (§8.4).
    pub(crate) fn mentioned(&self, group: &GroupState, mentions: &Mentions) -> Vec<Mention> {
        mentions
            .as_slice()
            .iter()
            .filter(|account| group.is_member(account))
            .map(|account| Mention {
                account: *account,
                username: self
                    .username_of(*account)
                    .unwrap_or_else(|| account.to_string()),
            })
            .collect()
    }

    /// Checks a committed edit, delete or reaction against its stored target and applies it,
    /// or keeps it for the target (§8.5). A refused one is a failure with its code.
    fn receive_amendment(
        &mut self,
        h: &sotto_proto::envelope::EnvelopeHeader,
        username: String,
        target: MessageId,
        change: Change,
        gap: usize,
    ) -> Result<Opened> {
        let amendment = Amendment {
            id: h.message_id,
            conversation: h.conversation,
            target,
            account: h.sender_account,
            from: username,
            device: h.sender_device,
            sent_at: h.sent_at.millis(),
            change,
        };
        let notice = amendment.clone();
        match self.state.amend(amendment, self.now()?.millis()) {
            AmendOutcome::Accepted { file } => {
                if let Some(file) = file {
                    self.delete_saved_file(&file);
                }
                self.state
                    .notices
                    .push_back(Notice::Amended(Box::new(notice)));
                Ok(Opened::Delivered { gap })
            }
            AmendOutcome::Waiting => Ok(Opened::Delivered { gap }),
            AmendOutcome::Refused(refusal) => Ok(Opened::Failed(refusal.code())),
        }
    }

    /// Verifies and accepts a key distribution addressed to this device.
    pub(crate) async fn accept_distribution(
        &mut self,
        kdm: &KeyDistribution,
    ) -> Result<std::result::Result<Accepted, Refused>> {
        let h = kdm.header().clone();
        let group = match self.group_at(h.conversation, h.epoch).await {
            Ok(group) => group,
            Err(error) => return Ok(Err(self.group_refused(h.sender_account, error)?)),
        };
        let (username, sender) = match self
            .sender_device(h.sender_account, h.sender_device)
            .await?
        {
            Ok(found) => found,
            Err(refused) => return Ok(Err(refused)),
        };
        let (exchange_keys, mut ring) = self.keys_for_receive()?;
        let now = self.now()?;
        let me = LocalDevice {
            account: self.account_id()?,
            device: self.device()?,
            exchange_keys: &exchange_keys,
            prekeys: &ring,
        };
        let mut receiver = self.receiver()?;
        match receiver.accept_distribution(kdm, &sender, &me, &group, now) {
            Ok(accepted) => {
                // The one-time prekey's private keys go in the same save as the chain (§18.6).
                if let Some((prekey, wire_hash)) = accepted.consumed_prekey {
                    if let Err(e) = ring.consume(prekey, wire_hash, now) {
                        // Nothing was stored: the distribution changes nothing.
                        return Ok(Err(Refused::Failed(e.code())));
                    }
                }
                self.store_prekey_ring(ring)?;
                self.store_receiver(&receiver);
                self.keep_history_key(crate::bundle::history_key(&accepted.history_key));
                Ok(Ok(Accepted {
                    chain: accepted.chain,
                    from: username,
                    missing: accepted.missing_in_previous.len(),
                }))
            }
            // The same distribution again after its one-time prekey was consumed (§18.6 step
            // 4): a harmless duplicate, nothing changes and nothing is reported.
            Err(ProtoError::Receive(ReceiveError::DuplicateDistribution)) => Ok(Ok(Accepted {
                chain: h.chain,
                from: username,
                missing: 0,
            })),
            Err(e) => {
                if matches!(e, ProtoError::Receive(ReceiveError::Downgrade)) {
                    // Evidence against the server, kept for good (§18.7).
                    self.state.downgrades += 1;
                    self.save_before_ack();
                }
                Ok(Err(Refused::Failed(e.code())))
            }
        }
    }

    /// Why a payload claiming `sender` cannot be checked when its group log could not be
    /// brought up to `error`: the server says this device is not a member (final); the log
    /// fails the group rules themselves — a fork, a broken hash chain, a change its signer may
    /// not make — which fails the payload with that rule's code, loudly, as evidence against the
    /// server; the log needs a changed identity (the user's decision); or the server answered
    /// with something that does not verify yet — a change by a device it cannot verify, another
    /// conversation's change, a malformed entry — or refused: a later honest answer can settle
    /// it, so the payload waits. A transport failure is returned as the error it is: the
    /// receive fails.
    fn group_refused(&self, sender: AccountId, error: Error) -> Result<Refused> {
        match error {
            Error::NotMember => return Ok(Refused::Failed("not-a-member")),
            Error::Protocol(e @ sotto_proto::Error::Group(_)) => {
                return Ok(Refused::Failed(e.code()))
            }
            _ => {}
        }
        if let Some(hold) = self.changed_identity(sender, &error) {
            return Ok(Refused::Identity(hold));
        }
        if error.is_refused_answer() {
            return Ok(Refused::Wait);
        }
        Err(error)
    }

    /// The verified device that signed a payload, or why it cannot be trusted now. Only
    /// failures of the device (or of an account the directory does not list and that was never
    /// pinned) are final; a pinned identity the directory no longer shows is the user's
    /// decision, so the payload waits for it; a directory answer that does not verify for an
    /// account never pinned (another account's entry, a key that is not the account's, a
    /// malformed entry, a refusal) waits for an honest answer.
    pub(crate) async fn sender_device(
        &mut self,
        account: AccountId,
        device: DeviceId,
    ) -> Result<std::result::Result<(String, VerifiedDevice), Refused>> {
        match self.verified_device(account, device).await {
            Ok(found) => Ok(Ok(found)),
            Err(error) => match self.identity_hold(account, &error) {
                Some(hold) => Ok(Err(Refused::Identity(hold))),
                None => match error {
                    Error::UnknownDevice { .. } | Error::UnknownUser { .. } => {
                        Ok(Err(Refused::Failed("unverified-sender-device")))
                    }
                    other if other.is_refused_answer() => Ok(Err(Refused::Wait)),
                    other => Err(other),
                },
            },
        }
    }

    /// The hold for a payload claiming `sender` when checking it (its sender, or the author of
    /// a group change it needed) met a changed identity: a new key under a pinned name, or a
    /// pinned account the directory no longer lists (a server that swapped the key and the
    /// account id together).
    fn changed_identity(&self, sender: AccountId, error: &Error) -> Option<IdentityHold> {
        let (pinned, username) = match error {
            Error::IdentityChanged {
                username, account, ..
            } => (*account, username.clone()),
            // A lookup by account names the account it looked for.
            Error::UnknownUser { username: account } => {
                let account: AccountId = account.parse().ok()?;
                (account, self.state.pins.username_of(account)?.to_owned())
            }
            _ => return None,
        };
        Some(IdentityHold {
            sender,
            pinned,
            username,
        })
    }

    /// Whether a failed lookup of `sender` means the directory no longer shows the identity
    /// pinned for it ([`Client::changed_identity`]), or answers for the pinned account with an
    /// entry that is not its key's. All are what a malicious server does to one contact, so
    /// they hold that contact only.
    fn identity_hold(&self, sender: AccountId, error: &Error) -> Option<IdentityHold> {
        if let Some(hold) = self.changed_identity(sender, error) {
            return Some(hold);
        }
        match error {
            Error::BadResponse { .. } | Error::Protocol(_) | Error::Decode(_) => {
                let username = self.state.pins.username_of(sender)?.to_owned();
                Some(IdentityHold {
                    sender,
                    pinned: sender,
                    username,
                })
            }
            _ => None,
        }
    }

    /// Answers a key request for a chain this device owns (protocol §7.6).
    pub(crate) async fn answer_request(
        &mut self,
        signed: &Signed,
        request: &KeyRequest,
    ) -> Result<std::result::Result<(), Refused>> {
        let fail = |reason| Ok(Err(Refused::Failed(reason)));
        let Some(mut chain) = self.load_chain(&request.conversation)? else {
            return fail("receive/unknown-chain");
        };
        if chain.chain() != request.chain {
            return fail("receive/unknown-chain");
        }
        // The request is not verified yet: what it names must not abort the receive loop (it
        // would never be acknowledged, and every later payload would wait behind it).
        let group = match self.sync_group(request.conversation).await {
            Ok(group) => group,
            Err(error) => return Ok(Err(self.group_refused(request.requester_account, error)?)),
        };
        let requester_account = request.requester_account;
        let peer = match self
            .lookup(crate::peers::Who::Account(requester_account), false)
            .await
        {
            Ok(peer) => peer,
            Err(error) => {
                if let Some(hold) = self.identity_hold(requester_account, &error) {
                    return Ok(Err(Refused::Identity(hold)));
                }
                match error {
                    Error::UnknownUser { .. } => return fail("unverified-requester-device"),
                    other if other.is_refused_answer() => return Ok(Err(Refused::Wait)),
                    other => return Err(other),
                }
            }
        };
        let Some(requester) = peer
            .devices
            .iter()
            .find(|d| d.device() == request.requester_device)
        else {
            return fail("unverified-requester-device");
        };
        let Some(key) = peer
            .exchange
            .iter()
            .find(|k| k.key_id() == request.requester_key)
        else {
            return fail("receive/wrong-recipient");
        };
        // Answered by the version of the named key's certificate (§18.7): a version-2 key gets
        // a hybrid distribution under a claimed one-time prekey, or its last-resort prekey.
        let prekey = if key.is_v2() {
            let requester = requester.clone();
            self.claim_prekeys(&[&requester])
                .await?
                .remove(&requester.device())
        } else {
            None
        };
        let keys = self.device_keys()?;
        let now = self.now()?;
        let kdm = match chain.answer_key_request_with(
            signed,
            requester,
            key,
            prekey.as_ref(),
            &group,
            &keys,
            now,
        ) {
            Ok(kdm) => kdm,
            Err(e) => return fail(e.code()),
        };
        self.store_chain(&chain)?;
        self.save()?;
        let token = self.access_token().await?;
        let id = MessageId::from_bytes(self.random16()?);
        match self
            .api
            .send_payload(
                &token,
                request.conversation,
                id,
                &kdm.encode(),
                Some(request.requester_device),
            )
            .await
        {
            Ok(_) => Ok(Ok(())),
            // The server refused to relay the answer: the request waits to be answered again.
            Err(error) if error.is_refused_answer() => Ok(Err(Refused::Wait)),
            Err(error) => Err(error),
        }
    }

    /// Asks the owner of a held message's chain to send its distribution again.
    pub(crate) async fn request_key(&mut self, held: &Held) -> Result<()> {
        let bytes = crate::api::unb64(&held.envelope, "held envelope")?;
        let envelope = Envelope::decode(&bytes)?;
        let h = envelope.header();
        let keys = self.device_keys()?;
        let exchange = self.exchange_keys()?;
        let Some(newest) = exchange.last() else {
            return Ok(());
        };
        let requester_account: AccountId = self.account_id()?;
        let body = KeyRequest {
            conversation: h.conversation,
            epoch: h.epoch,
            chain: h.chain,
            owner_device: h.sender_device,
            requester_account,
            requester_device: keys.device(),
            requester_key: sotto_proto::ids::ExchangeKeyId::from_spki(
                newest.encrypting_key().spki(),
            ),
            requested_at: self.now()?,
        };
        let signed = Signed::sign(body.encode(), keys.signing())?;
        let token = self.access_token().await?;
        let id = MessageId::from_bytes(self.random16()?);
        self.api
            .send_payload(&token, h.conversation, id, &signed.encode(), None)
            .await?;
        Ok(())
    }
}
