//! Sending: the outbox and sender chains.
//!
//! A message is first written to the outbox with its message id, then, per protocol §7.4:
//! reserve the next index (advancing the chain) → **persist** the chain → seal → persist the
//! sealed envelope → send. A retry reuses the message id (the server's de-duplication key), so a
//! message interrupted anywhere is sent at most once and never under a reused index. A chain is
//! replaced whenever the epoch or the set of recipient devices changes, after 100 messages and
//! after 7 days; its key goes to every verified device of every current member first.
//!
//! Never silent: the server's answer names each member device that did not get a copy, with the
//! reason (a full queue, a request not accepted yet, a block). The message then stays in the
//! outbox, partly delivered, and each flush posts it again, same id and bytes, so that the
//! server gives it to the devices that can take it by then; devices that are no longer member
//! devices are dropped from the list, and the server's `conflict` (no undelivered record left)
//! ends it. The user can drop it ([`Client::drop_outbox_item`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use sotto_proto::attachment::encrypt_attachment;
use sotto_proto::body::{
    AttachmentRef, BlobId, FileName, MediaType, Mentions, MessageBody, Reaction,
};
use sotto_proto::chain::SenderChain;
use sotto_proto::envelope::Envelope;
use sotto_proto::group::GroupState;
use sotto_proto::identity::{VerifiedDevice, VerifiedExchangeKey};
use sotto_proto::ids::{AccountId, ConversationId, DeviceId, MessageId};
use zeroize::Zeroizing;

use crate::api::{b64, unb64, ErrorCode, Undelivered, UndeliveredReason};
use crate::client::Client;
use crate::error::{Error, Result};
use crate::peers::Who;
use crate::store::state::{
    Amendment, Change, Delivered, Mention, OutboxItem, OutgoingBody, Secret, Unsent,
};

/// Whether the server refused a message in a way that sending the same bytes again cannot fix
/// (a code that is not retryable, other than a conflict). Network failures, an expired token,
/// a throttle and an unavailable server are worth retrying; `conflict` means it was stored
/// before.
pub fn refused_for_good(error: &Error) -> bool {
    matches!(error, Error::Api { code, .. }
        if !code.is_retryable() && *code != ErrorCode::Conflict)
}

/// What a send did.
#[derive(Debug, Clone)]
pub struct SendReport {
    /// The message's id.
    pub message_id: MessageId,
    /// The conversation it went to.
    pub conversation: ConversationId,
    /// Devices that got a copy.
    pub recipients: usize,
    /// Member devices that did not get a copy (yet), with the server's reason: the message
    /// stays in the outbox for them. Empty with `recipients == 0` (and not `repeated`) only
    /// when the conversation has no other device at all.
    pub undelivered: Vec<UndeliveredTo>,
    /// The server had stored this message id before (a retry after a lost answer, or a partly
    /// delivered message now given to every device it could): nothing new to count.
    pub repeated: bool,
}

/// A member device a message did not reach, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UndeliveredTo {
    /// The device.
    pub device: DeviceId,
    /// Its account and the username it was pinned under, when this device could verify whose
    /// device it is.
    pub owner: Option<(AccountId, String)>,
    /// The server's reason.
    pub reason: UndeliveredReason,
}

impl Client {
    /// Resolves `target`: a `conv:` id, or a username (their 1:1 conversation: a pending
    /// request from them that is it, else the one this device knows or creates). Sending is
    /// consent: a conversation that is a pending request of this account is accepted here
    /// (decision D35).
    pub async fn resolve_target(
        &mut self,
        target: &str,
        accept_new: bool,
    ) -> Result<ConversationId> {
        let by_id = target.starts_with(ConversationId::PREFIX);
        let pending = match self.learn_requests().await {
            Ok(pending) => pending,
            // Offline: a message to a conversation named by id is still queued; the flush that
            // sends it accepts the request then (see `deliver`).
            Err(_) if by_id => Vec::new(),
            Err(other) => return Err(other),
        };
        let conversation = if by_id {
            target.parse().map_err(|_| Error::UnknownConversation {
                what: target.to_owned(),
            })?
        } else {
            match self
                .direct_request_from(target, &pending, accept_new)
                .await?
            {
                Some(request) => request,
                None => self.direct_conversation(target, accept_new).await?,
            }
        };
        self.accept_if_request(conversation).await?;
        Ok(conversation)
    }

    /// Sends `text` to `target` (`@username` tokens naming members become mentions).
    pub async fn send_text(
        &mut self,
        target: &str,
        text: &str,
        accept_new: bool,
    ) -> Result<SendReport> {
        self.send_message(target, text, None, accept_new).await
    }

    /// Encrypts and uploads the file at `path`, then sends it to `target` with `caption`.
    ///
    /// A file whose name no recipient would accept (a control character such as a newline, more
    /// than 255 bytes, surrounding whitespace: protocol §4.8) is refused with
    /// [`Error::InvalidField`] before the file is read, uploaded or sent.
    pub async fn send_file(
        &mut self,
        target: &str,
        path: &Path,
        caption: &str,
        accept_new: bool,
    ) -> Result<SendReport> {
        let file_name = FileName::new(
            path.file_name()
                .and_then(|n| n.to_str())
                .filter(|n| !n.trim().is_empty())
                .unwrap_or("file"),
        )?;
        let conversation = self.resolve_target(target, accept_new).await?;
        self.check_still_member(conversation)?;
        let group = self.sync_group(conversation).await?;
        if !group.is_member(&self.account_id()?) {
            return Err(Error::NotMember);
        }
        // A file over the server's limit is refused before it is read, encrypted or uploaded.
        let size = std::fs::metadata(path)
            .map_err(|source| Error::Io {
                what: "reading the file to send",
                source,
            })?
            .len();
        let token = self.access_token().await?;
        if let Some(max) = self.api.policy(&token).await?.max_attachment_bytes {
            // The server bounds the encrypted blob, a few bytes longer than the file.
            if sotto_proto::attachment::blob_len(size) > max {
                return Err(Error::AttachmentTooLarge { size, max });
            }
        }
        let plain = Zeroizing::new(std::fs::read(path).map_err(|source| Error::Io {
            what: "reading the file to send",
            source,
        })?);
        let encrypted = encrypt_attachment(&plain, &mut self.env()?)?;
        let token = self.access_token().await?;
        let uploaded = self
            .api
            .upload_attachment(&token, conversation, encrypted.blob)
            .await?;
        let body = OutgoingBody::Attachment {
            blob_id: uploaded.attachment.to_string(),
            file_name: file_name.into_string(),
            media_type: "application/octet-stream".to_owned(),
            size: plain.len() as u64,
            secret: Secret::new(encrypted.secret.as_ref()),
            sha256: hex::encode(encrypted.blob_sha256),
            caption: Zeroizing::new(caption.to_owned()),
        };
        self.queue(conversation, body).await
    }

    pub(crate) async fn queue(
        &mut self,
        conversation: ConversationId,
        body: OutgoingBody,
    ) -> Result<SendReport> {
        // What can be foreseen is refused before anything is queued or sealed: a refused
        // message must never reach the outbox, whose retries recipients would see as gaps.
        check_sendable(&body)?;
        self.check_still_member(conversation)?;
        // Earlier messages first: anything left in the outbox by an interrupted run. One that
        // the server's answers keep back holds back its own conversation only.
        if let Err((_, error)) = self.flush_outbox_items().await {
            if !error.is_refused_answer() || self.state.outbox.holds(conversation) {
                return Err(error);
            }
        }
        let message_id = MessageId::from_bytes(self.random16()?);
        self.state.outbox.push(message_id, conversation, body);
        self.save()?;
        let report = self.deliver(message_id).await;
        if report.is_ok() {
            self.flush_backup_quietly().await;
        }
        report
    }

    /// Retries everything in the outbox; returns how many went out.
    pub async fn flush_outbox(&mut self) -> Result<usize> {
        self.flush_outbox_items().await.map_err(|(_, error)| error)
    }

    /// [`Client::flush_outbox`], naming the first message that could not go. A transport
    /// failure stops the whole outbox. A message that the server's answers keep back for now
    /// (a refused answer, protocol §9.4: a log that does not verify, a changed identity) holds
    /// back the later messages of its own conversation, so that they arrive in the order they
    /// were written, and not those of the others. A partly delivered message is posted again
    /// for the devices it did not reach; one that still cannot reach them holds back nothing
    /// (the server has it) but spares the later partly delivered ones of its conversation.
    pub(crate) async fn flush_outbox_items(
        &mut self,
    ) -> std::result::Result<usize, (MessageId, Error)> {
        let mut pass = self.state.outbox.pass();
        let mut sent = 0;
        let mut first_refusal = None;
        while let Some((id, conversation)) = pass.next_item() {
            let retry = self
                .state
                .outbox
                .get(id)
                .is_some_and(OutboxItem::is_partly_delivered);
            if retry {
                match self.deliver(id).await {
                    Ok(report) if report.undelivered.is_empty() => {}
                    Ok(_) => pass.stall(conversation),
                    Err(e) if e.is_refused_answer() => pass.stall(conversation),
                    Err(other) => return Err((id, other)),
                }
                continue;
            }
            match self.deliver(id).await {
                Ok(_) => sent += 1,
                // Out of the outbox already (see `deliver`): the next ones may go.
                Err(e)
                    if matches!(
                        e,
                        Error::NotMember | Error::Removed { .. } | Error::InvalidField(_)
                    ) || refused_for_good(&e) => {}
                Err(refused) if refused.is_refused_answer() => {
                    pass.hold_back(conversation);
                    first_refusal.get_or_insert((id, refused));
                }
                Err(other) => return Err((id, other)),
            }
        }
        first_refusal.map_or(Ok(sent), Err)
    }

    /// Messages the server refused for good since the last call (see [`refused_for_good`]);
    /// they are no longer in the outbox.
    pub fn take_unsent(&mut self) -> Result<Vec<Unsent>> {
        let unsent = std::mem::take(&mut self.state.unsent);
        if !unsent.is_empty() {
            self.save()?;
        }
        Ok(unsent)
    }

    fn outbox_item(&self, message_id: MessageId) -> Result<OutboxItem> {
        self.state
            .outbox
            .get(message_id)
            .cloned()
            .ok_or(Error::CorruptStore {
                reason: "outbox entry vanished",
            })
    }

    /// Takes a message out of the outbox: the user gives up on the devices it did not reach
    /// (or on sending it at all). Returns whether it was there.
    pub fn drop_outbox_item(&mut self, message_id: MessageId) -> Result<bool> {
        let present = self.state.outbox.get(message_id).is_some();
        self.state.outbox.remove(message_id);
        self.save()?;
        Ok(present)
    }

    /// The devices of the current members of `conversation` (verified against their master
    /// keys), each with its account and username; `None` when an answer needed for it does not
    /// verify (nothing may be concluded from a partial list). This account's own other devices
    /// are included.
    async fn member_devices(
        &mut self,
        conversation: ConversationId,
    ) -> Result<Option<BTreeMap<DeviceId, (AccountId, String)>>> {
        let group = match self.sync_group(conversation).await {
            Ok(group) => group,
            Err(Error::NotMember) => return Err(Error::NotMember),
            Err(refused) if refused.is_refused_answer() => return Ok(None),
            Err(other) => return Err(other),
        };
        let accounts: Vec<AccountId> = group.members().keys().copied().collect();
        let mut devices = BTreeMap::new();
        for account in accounts {
            let peer = match self.lookup(Who::Account(account), false).await {
                Ok(peer) => peer,
                Err(refused) if refused.is_refused_answer() => return Ok(None),
                Err(other) => return Err(other),
            };
            for device in &peer.devices {
                devices.insert(device.device(), (account, peer.username.clone()));
            }
        }
        Ok(Some(devices))
    }

    /// The server's undelivered list with the owner of each device, as far as this device can
    /// verify it (a transport failure while looking owners up leaves them unnamed: the message
    /// is stored either way, and the report must not be lost).
    async fn name_undelivered(
        &mut self,
        conversation: ConversationId,
        undelivered: &[Undelivered],
    ) -> Vec<UndeliveredTo> {
        if undelivered.is_empty() {
            return Vec::new();
        }
        let owners = self
            .member_devices(conversation)
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        undelivered
            .iter()
            .map(|u| UndeliveredTo {
                device: u.device,
                owner: owners.get(&u.device).cloned(),
                reason: u.reason,
            })
            .collect()
    }

    /// Posts a partly delivered message again, same id and bytes, for the devices it did not
    /// reach: first forgetting those that are no longer member devices.
    async fn redeliver(&mut self, item: OutboxItem) -> Result<SendReport> {
        let conversation = item.conversation;
        let id = item.message_id;
        let report = |recipients, undelivered, repeated| SendReport {
            message_id: id,
            conversation,
            recipients,
            undelivered,
            repeated,
        };
        match self.member_devices(conversation).await {
            Ok(Some(current)) => {
                let current: BTreeSet<DeviceId> = current.into_keys().collect();
                if !self.state.outbox.keep_current_devices(id, &current) {
                    self.save()?;
                    return Ok(report(0, Vec::new(), true));
                }
            }
            Ok(None) => {}
            Err(Error::NotMember) => {
                self.drop_outbox_item(id)?;
                return Err(Error::NotMember);
            }
            Err(other) => return Err(other),
        }
        let envelope = unb64(
            item.envelope.as_deref().ok_or(Error::CorruptStore {
                reason: "a partly delivered message without its envelope",
            })?,
            "outbox envelope",
        )?;
        let token = self.access_token().await?;
        let (recipients, undelivered) = match self
            .api
            .send_payload(&token, conversation, id, &envelope, None)
            .await
        {
            Ok(sent) => (sent.recipients, sent.undelivered),
            // No undelivered record left: every device that could be given it has it.
            Err(Error::Api {
                code: ErrorCode::Conflict,
                ..
            }) => {
                self.drop_outbox_item(id)?;
                return Ok(report(0, Vec::new(), true));
            }
            // Stored already; what is left can never be given (this account left, say).
            Err(refused) if refused_for_good(&refused) => {
                self.drop_outbox_item(id)?;
                return Err(refused);
            }
            Err(other) => return Err(other),
        };
        self.state
            .outbox
            .record_undelivered(id, undelivered.clone());
        self.save()?;
        let undelivered = self.name_undelivered(conversation, &undelivered).await;
        Ok(report(recipients, undelivered, false))
    }

    /// Seals (if not sealed yet) and sends one outbox entry; posts a partly delivered one
    /// again.
    async fn deliver(&mut self, message_id: MessageId) -> Result<SendReport> {
        let item = self.outbox_item(message_id)?;
        if item.is_partly_delivered() {
            return self.redeliver(item).await;
        }
        let conversation = item.conversation;
        let id = item.message_id;
        // Ours going into a pending request is consent (D35), whenever it goes out.
        self.accept_if_request(conversation).await?;
        let envelope = match &item.envelope {
            Some(sealed) => unb64(sealed, "outbox envelope")?,
            None => {
                let group = match self.sync_group(conversation).await {
                    Ok(group) => group,
                    // The server no longer lists this account: nothing is sealed for it.
                    Err(Error::NotMember) => {
                        self.drop_outbox_item(message_id)?;
                        return Err(Error::NotMember);
                    }
                    Err(other) => return Err(other),
                };
                if !group.is_member(&self.account_id()?) {
                    self.drop_outbox_item(message_id)?;
                    return Err(match self.removal(conversation) {
                        Some(removal) => self.removed_error(conversation, removal),
                        None => Error::NotMember,
                    });
                }
                let body = match message_body(&item.body) {
                    Ok(body) => body,
                    // Queued before its fields were checked: no recipient could decode it, so it
                    // is reported as unsent rather than retried in front of every later message.
                    Err(unsendable @ Error::InvalidField(_)) => {
                        let unsent = self
                            .state
                            .outbox
                            .give_up(message_id, unsendable.to_string());
                        self.state.unsent.extend(unsent);
                        self.save()?;
                        return Err(unsendable);
                    }
                    Err(other) => return Err(other),
                };
                self.seal(&group, id, &body).await?
            }
        };
        let token = self.access_token().await?;
        let (recipients, undelivered, repeated) = match self
            .api
            .send_payload(&token, conversation, id, &envelope, None)
            .await
        {
            Ok(sent) => (sent.recipients, sent.undelivered, false),
            // The id was accepted before (a retry after a lost answer): it went out.
            Err(Error::Api {
                code: ErrorCode::Conflict,
                ..
            }) => (0, Vec::new(), true),
            Err(refused) if refused_for_good(&refused) => {
                // Sending the same bytes again cannot succeed; kept, it would block every
                // message behind it. It is reported instead.
                match &refused {
                    Error::Api { message, .. } => {
                        let unsent = self.state.outbox.give_up(message_id, message.clone());
                        self.state.unsent.extend(unsent);
                    }
                    _ => self.state.outbox.remove(message_id),
                }
                self.save()?;
                return Err(refused);
            }
            Err(other) => return Err(other),
        };
        // Stored by the server: sent. Devices it could not reach keep it in the outbox.
        self.state
            .outbox
            .record_undelivered(message_id, undelivered.clone());
        // The sender keeps its own message as sent, and applies its own amendments to its own
        // store (§8.5), at the time the envelope carries.
        let sent_at = Envelope::decode(&envelope)
            .map(|e| e.header().sent_at.millis())
            .or_else(|_| self.now().map(|now| now.millis()))?;
        self.keep_sent(&item, sent_at)?;
        self.save()?;
        let undelivered = self.name_undelivered(conversation, &undelivered).await;
        Ok(SendReport {
            message_id: item.message_id,
            conversation: item.conversation,
            recipients,
            undelivered,
            repeated,
        })
    }

    /// What the sender keeps of a message the server stored: a content message goes to its
    /// history, an amendment is applied to its own copy of the target (§8.5: a sender deletes
    /// its own copy too); a group name is conversation state, kept already.
    fn keep_sent(&mut self, item: &OutboxItem, sent_at: u64) -> Result<()> {
        let account = self.account_id()?;
        let from = self.account_state()?.username.clone();
        let device = self.device()?;
        let (text, reply_to, mentions) = match &item.body {
            OutgoingBody::Text(text) => (text.clone(), None, Vec::new()),
            OutgoingBody::Attachment { caption, .. } => (caption.clone(), None, Vec::new()),
            OutgoingBody::Message {
                text,
                reply_to,
                mentions,
            } => (text.clone(), *reply_to, mentions.clone()),
            OutgoingBody::GroupName(_) => return Ok(()),
            OutgoingBody::Edit {
                target,
                text,
                mentions,
            } => {
                let change = Change::Edit {
                    text: text.clone(),
                    mentions: mentions.clone(),
                };
                return self.amend_own(item, *target, change, sent_at);
            }
            OutgoingBody::Delete { target } => {
                return self.amend_own(item, *target, Change::Delete, sent_at);
            }
            OutgoingBody::Reaction {
                target,
                emoji,
                added,
            } => {
                let change = Change::Reaction {
                    emoji: emoji.clone(),
                    added: *added,
                };
                return self.amend_own(item, *target, change, sent_at);
            }
        };
        let sent = Delivered {
            id: item.message_id,
            conversation: item.conversation,
            from,
            device,
            sent_at,
            text,
            attachment: None,
            request: false,
            account: Some(account),
            reply_to,
            mentions,
            amended: Default::default(),
        };
        self.state.archive(sent);
        for file in self.state.release_waiting(item.message_id, sent_at) {
            self.delete_saved_file(&file);
        }
        Ok(())
    }

    /// Applies this account's own amendment to its own store.
    fn amend_own(
        &mut self,
        item: &OutboxItem,
        target: MessageId,
        change: Change,
        sent_at: u64,
    ) -> Result<()> {
        let amendment = Amendment {
            id: item.message_id,
            conversation: item.conversation,
            target,
            account: self.account_id()?,
            from: self.account_state()?.username.clone(),
            device: self.device()?,
            sent_at,
            change,
        };
        let now = self.now()?.millis();
        if let crate::store::state::AmendOutcome::Accepted { file: Some(file) } =
            self.state.amend(amendment, now)
        {
            self.delete_saved_file(&file);
        }
        Ok(())
    }

    /// Reserve → persist → seal; the sealed envelope is persisted in the outbox entry.
    async fn seal(
        &mut self,
        group: &GroupState,
        id: MessageId,
        body: &MessageBody,
    ) -> Result<Vec<u8>> {
        let mut chain = self.current_chain(group, false).await?;
        let now = self.now()?;
        let reserved = match chain.reserve(now) {
            Ok(r) => r,
            Err(sotto_proto::Error::ChainNeedsRotation) => {
                chain = self.current_chain(group, true).await?;
                chain.reserve(now)?
            }
            Err(other) => return Err(other.into()),
        };
        self.store_chain(&chain)?;
        self.save()?;
        let keys = self.device_keys()?;
        let envelope = reserved.seal(body, id, now, &keys)?.encode();
        self.state.outbox.set_envelope(id, b64(&envelope));
        self.save()?;
        Ok(envelope)
    }

    pub(crate) fn load_chain(&self, conversation: &ConversationId) -> Result<Option<SenderChain>> {
        let Some(secret) = self
            .state
            .conversations
            .get(conversation)
            .and_then(|c| c.chain.as_ref())
        else {
            return Ok(None);
        };
        Ok(Some(SenderChain::decode_local(&secret.bytes()?)?))
    }

    pub(crate) fn store_chain(&mut self, chain: &SenderChain) -> Result<()> {
        let entry = self
            .state
            .conversations
            .entry(chain.conversation())
            .or_default();
        entry.chain = Some(Secret::new(&chain.encode_local()));
        Ok(())
    }

    /// Every verified exchange key of every current member's devices, and those devices.
    pub(crate) async fn member_keys(
        &mut self,
        group: &GroupState,
    ) -> Result<(Vec<VerifiedExchangeKey>, BTreeMap<DeviceId, VerifiedDevice>)> {
        let accounts: Vec<_> = group.members().keys().copied().collect();
        let mut keys = Vec::new();
        let mut devices = BTreeMap::new();
        for account in accounts {
            let peer = self.lookup(Who::Account(account), false).await?;
            keys.extend(peer.exchange);
            devices.extend(peer.devices.into_iter().map(|d| (d.device(), d)));
        }
        Ok((keys, devices))
    }

    /// The chain to send on: the stored one unless it must rotate (or `force`, or this device
    /// was re-keyed since it started), in which case a successor is started, persisted and
    /// distributed to every recipient device: a version-2 distribution under a claimed one-time
    /// prekey (or the last-resort prekey) to a device with a version-2 certificate, a
    /// version-1 distribution to the others (§18.7).
    async fn current_chain(&mut self, group: &GroupState, force: bool) -> Result<SenderChain> {
        let conversation = group.conversation();
        let me = self.device()?;
        let (keys, verified) = self.member_keys(group).await?;
        let targets: Vec<&VerifiedExchangeKey> = keys
            .iter()
            .filter(|k| group.is_member(&k.account()) && k.device() != me)
            .collect();
        let devices: BTreeSet<DeviceId> = targets.iter().map(|k| k.device()).collect();
        let now = self.now()?;
        let rekeyed = self
            .state
            .conversations
            .get(&conversation)
            .is_some_and(|c| c.rotate);
        let existing = self.load_chain(&conversation)?;
        if let Some(chain) = existing.as_ref() {
            if !force && !rekeyed && !chain.needs_rotation(now, group.epoch(), &devices) {
                return self.load_chain(&conversation)?.ok_or(Error::CorruptStore {
                    reason: "sender chain vanished",
                });
            }
        }
        let account = self.account_id()?;
        let epoch = group.epoch();
        let mut chain = {
            let mut env = self.env()?;
            match existing {
                Some(old) => old.successor(epoch, &mut env)?,
                None => SenderChain::start(conversation, epoch, account, me, None, &mut env)?,
            }
        };
        // Kept for history and for the account's other devices before anything is sent on it
        // (protocol §17.2).
        self.keep_history_key(crate::bundle::history_key(&chain.history_record()));
        let wanting: Vec<&VerifiedDevice> = targets
            .iter()
            .filter(|k| k.is_v2())
            .filter_map(|k| verified.get(&k.device()))
            .collect();
        let prekeys = self.claim_prekeys(&wanting).await?;
        let signer = self.device_keys()?;
        let mut distributions = Vec::new();
        for key in targets {
            let prekey = prekeys.get(&key.device());
            if let Ok(kdm) = chain.distribute_with(group, key, prekey, &signer, now) {
                distributions.push(kdm);
            }
        }
        self.store_chain(&chain)?;
        if let Some(entry) = self.state.conversations.get_mut(&conversation) {
            entry.rotate = false;
        }
        self.save()?;
        let token = self.access_token().await?;
        for kdm in distributions {
            let id = MessageId::from_bytes(self.random16()?);
            let to = kdm.header().recipient_device;
            self.api
                .send_payload(&token, conversation, id, &kdm.encode(), Some(to))
                .await?;
        }
        Ok(chain)
    }
}

/// The protocol body of an outbox entry.
fn message_body(body: &OutgoingBody) -> Result<MessageBody> {
    Ok(match body {
        OutgoingBody::Text(text) => MessageBody::Text(text.to_string()),
        OutgoingBody::Attachment {
            blob_id,
            file_name,
            media_type,
            size,
            secret,
            sha256,
            caption,
        } => {
            let secret: [u8; 32] =
                secret
                    .bytes()?
                    .as_slice()
                    .try_into()
                    .map_err(|_| Error::CorruptStore {
                        reason: "attachment secret",
                    })?;
            let digest: [u8; 32] = hex::decode(sha256)
                .ok()
                .and_then(|d| d.try_into().ok())
                .ok_or(Error::CorruptStore {
                    reason: "attachment hash",
                })?;
            MessageBody::Attachment {
                attachment: AttachmentRef {
                    blob_id: BlobId::new(blob_id.as_str())?,
                    file_name: FileName::new(file_name.as_str())?,
                    media_type: MediaType::new(media_type.as_str())?,
                    size: *size,
                    secret: Zeroizing::new(secret),
                    ciphertext_sha256: digest,
                },
                caption: caption.to_string(),
            }
        }
        OutgoingBody::GroupName(known) => MessageBody::GroupName(crate::groups::reveal_of(known)?),
        OutgoingBody::Message {
            text,
            reply_to,
            mentions,
        } => MessageBody::Message {
            text: text.to_string(),
            reply_to: *reply_to,
            mentions: mention_list(mentions)?,
        },
        OutgoingBody::Edit {
            target,
            text,
            mentions,
        } => MessageBody::Edit {
            target: *target,
            text: text.to_string(),
            mentions: mention_list(mentions)?,
        },
        OutgoingBody::Delete { target } => MessageBody::Delete { target: *target },
        OutgoingBody::Reaction {
            target,
            emoji,
            added,
        } => MessageBody::Reaction {
            target: *target,
            reaction: Reaction::new(emoji.as_str())?,
            added: *added,
        },
    })
}

/// The protocol's mention list (§8.4: at most 64 accounts, none twice).
fn mention_list(mentions: &[Mention]) -> Result<Mentions> {
    Ok(Mentions::new(mentions.iter().map(|m| m.account).collect())?)
}

/// Refuses, before anything is queued or sealed, a body no recipient would accept: a field a
/// receiver would refuse, or an encoding over 64 KiB (§8.2, §11). Queued, it could only be
/// refused by the server or reported by every receiver as undecryptable.
pub(crate) fn check_sendable(body: &OutgoingBody) -> Result<()> {
    match message_body(body)?.encode() {
        Ok(_) => Ok(()),
        Err(sotto_proto::Error::InvalidInput { field, reason }) => {
            Err(Error::InvalidInput { field, reason })
        }
        Err(other) => Err(other.into()),
    }
}
