//! Sending: the outbox and sender chains.
//!
//! A message is first written to the outbox with its message id, then, per protocol §7.4:
//! reserve the next index (advancing the chain) → **persist** the chain → seal → persist the
//! sealed envelope → send. A retry reuses the message id (the server's de-duplication key), so a
//! message interrupted anywhere is sent at most once and never under a reused index. A chain is
//! replaced whenever the epoch or the set of recipient devices changes, after 100 messages and
//! after 7 days; its key goes to every verified device of every current member first.

use std::collections::BTreeSet;
use std::path::Path;

use sotto_proto::attachment::encrypt_attachment;
use sotto_proto::body::{AttachmentRef, BlobId, FileName, MediaType, MessageBody};
use sotto_proto::chain::SenderChain;
use sotto_proto::group::GroupState;
use sotto_proto::identity::VerifiedExchangeKey;
use sotto_proto::ids::{ConversationId, DeviceId, MessageId};
use zeroize::Zeroizing;

use crate::api::{b64, unb64, ErrorCode};
use crate::client::Client;
use crate::error::{Error, Result};
use crate::peers::Who;
use crate::store::state::{Delivered, OutboxItem, OutgoingBody, Secret, Unsent};

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
}

impl Client {
    /// Resolves `target`: a `conv:` id, or a username (their 1:1 conversation).
    pub async fn resolve_target(
        &mut self,
        target: &str,
        accept_new: bool,
    ) -> Result<ConversationId> {
        if target.starts_with(ConversationId::PREFIX) {
            return target.parse().map_err(|_| Error::UnknownConversation {
                what: target.to_owned(),
            });
        }
        self.direct_conversation(target, accept_new).await
    }

    /// Sends `text` to `target`.
    pub async fn send_text(
        &mut self,
        target: &str,
        text: &str,
        accept_new: bool,
    ) -> Result<SendReport> {
        let result = async {
            let conversation = self.resolve_target(target, accept_new).await?;
            self.queue(
                conversation,
                OutgoingBody::Text(Zeroizing::new(text.to_owned())),
            )
            .await
        }
        .await;
        if matches!(
            result,
            Err(Error::Api {
                code: ErrorCode::Unauthorized,
                ..
            })
        ) {
            // The server refused the access token: renew it on the next request.
            self.forget_access_token();
        }
        result
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
        let group = self.sync_group(conversation).await?;
        if !group.is_member(&self.account_id()?) {
            return Err(Error::NotMember);
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
        self.deliver(message_id).await
    }

    /// Retries everything in the outbox; returns how many went out.
    pub async fn flush_outbox(&mut self) -> Result<usize> {
        self.flush_outbox_items().await.map_err(|(_, error)| error)
    }

    /// [`Client::flush_outbox`], naming the first message that could not go. A transport
    /// failure stops the whole outbox. A message that the server's answers keep back for now
    /// (a refused answer, protocol §9.4: a log that does not verify, a changed identity) holds
    /// back the later messages of its own conversation, so that they arrive in the order they
    /// were written, and not those of the others.
    pub(crate) async fn flush_outbox_items(
        &mut self,
    ) -> std::result::Result<usize, (MessageId, Error)> {
        let mut pass = self.state.outbox.pass();
        let mut sent = 0;
        let mut first_refusal = None;
        while let Some((id, conversation)) = pass.next_item() {
            match self.deliver(id).await {
                Ok(_) => sent += 1,
                // Out of the outbox already (see `deliver`): the next ones may go.
                Err(e)
                    if matches!(e, Error::NotMember | Error::InvalidField(_))
                        || refused_for_good(&e) => {}
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

    fn drop_outbox_item(&mut self, message_id: MessageId) -> Result<()> {
        self.state.outbox.remove(message_id);
        self.save()
    }

    /// Seals (if not sealed yet) and sends one outbox entry.
    async fn deliver(&mut self, message_id: MessageId) -> Result<SendReport> {
        let item = self.outbox_item(message_id)?;
        let conversation = item.conversation;
        let id = item.message_id;
        let envelope = match &item.envelope {
            Some(sealed) => unb64(sealed, "outbox envelope")?,
            None => {
                let group = self.sync_group(conversation).await?;
                if !group.is_member(&self.account_id()?) {
                    self.drop_outbox_item(message_id)?;
                    return Err(Error::NotMember);
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
        let recipients = match self
            .api
            .send_payload(&token, conversation, id, &envelope, None)
            .await
        {
            Ok(sent) => sent.recipients,
            // The id was accepted before (a retry after a lost answer): it went out.
            Err(Error::Api {
                code: ErrorCode::Conflict,
                ..
            }) => 0,
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
        self.state.outbox.remove(message_id);
        let text = match &item.body {
            OutgoingBody::Text(text) => Some(text.clone()),
            OutgoingBody::Attachment { caption, .. } => Some(caption.clone()),
            // A group name is conversation state, not a message of the history.
            OutgoingBody::GroupName(_) => None,
        };
        if let Some(text) = text {
            let sent = Delivered {
                id: item.message_id,
                conversation: item.conversation,
                from: self.account_state()?.username.clone(),
                device: self.device()?,
                sent_at: self.now()?.millis(),
                text,
                attachment: None,
            };
            self.state.archive(sent);
        }
        self.save()?;
        Ok(SendReport {
            message_id: item.message_id,
            conversation: item.conversation,
            recipients,
        })
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

    /// Every verified exchange key of every current member's devices.
    pub(crate) async fn member_keys(
        &mut self,
        group: &GroupState,
    ) -> Result<Vec<VerifiedExchangeKey>> {
        let accounts: Vec<_> = group.members().keys().copied().collect();
        let mut keys = Vec::new();
        for account in accounts {
            let peer = self.lookup(Who::Account(account), false).await?;
            keys.extend(peer.exchange);
        }
        Ok(keys)
    }

    /// The chain to send on: the stored one unless it must rotate (or `force`), in which case a
    /// successor is started, persisted and distributed to every recipient device.
    async fn current_chain(&mut self, group: &GroupState, force: bool) -> Result<SenderChain> {
        let conversation = group.conversation();
        let me = self.device()?;
        let keys = self.member_keys(group).await?;
        let targets: Vec<&VerifiedExchangeKey> = keys
            .iter()
            .filter(|k| group.is_member(&k.account()) && k.device() != me)
            .collect();
        let devices: BTreeSet<DeviceId> = targets.iter().map(|k| k.device()).collect();
        let now = self.now()?;
        let existing = self.load_chain(&conversation)?;
        if let Some(chain) = existing.as_ref() {
            if !force && !chain.needs_rotation(now, group.epoch(), &devices) {
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
        let signer = self.device_keys()?;
        let mut distributions = Vec::new();
        for key in targets {
            if let Ok(kdm) = chain.distribute(group, key, &signer, now) {
                distributions.push(kdm);
            }
        }
        self.store_chain(&chain)?;
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
    })
}
