//! History and retention (`docs/protocol.md` §6.7, §17): past messages of a conversation fetched
//! from the server's archive and opened with the history keys, and the retention rule applied
//! to everything this device keeps.
//!
//! An archived envelope is checked like a live one (sender device verified through the
//! directory, signature, conversation, epoch), except that its sender must have been a member at
//! its epoch and its key comes from the history keys; the receiver state is neither read nor
//! changed. It is stored in its place by `sent_at`, once per message id, and never notifies or
//! sends a receipt.

use sotto_proto::body::{Mentions, MessageBody};
use sotto_proto::chain::open_archived;
use sotto_proto::envelope::Envelope;
use sotto_proto::group::{GroupOp, GroupState, Retention};
use sotto_proto::ids::ConversationId;

use crate::api::unb64;
use crate::client::Client;
use crate::error::{Error, Result};
use crate::receive::Refused;
use crate::store::state::{AmendOutcome, Amendment, Change, Delivered, IncomingAttachment};

/// Archived envelopes asked for per page (the server's maximum).
const HISTORY_PAGE: u32 = crate::api::keys::MAX_HISTORY_PAGE;

/// What fetching a conversation's history did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct HistoryReport {
    /// Messages opened from the archive and stored here.
    pub added: usize,
    /// Archived envelopes that could not be opened (no history key, or refused: never shown).
    pub unreadable: usize,
}

impl Client {
    /// The server's default retention, fetched once per profile and again by
    /// [`Client::refresh_policy`].
    pub(crate) async fn default_retention(&mut self) -> Result<Retention> {
        let secs = match self.state.default_retention_secs {
            Some(secs) => secs,
            None => self.refresh_policy().await?,
        };
        // A server default outside the protocol's bounds keeps messages for good: the server's
        // number can shorten nothing the protocol does not allow.
        Ok(Retention::from_secs(secs).unwrap_or(Retention::FOREVER))
    }

    /// Fetches the server's default retention (`GET /v1/policy`).
    pub async fn refresh_policy(&mut self) -> Result<u64> {
        let token = self.access_token().await?;
        let policy = self.api.policy(&token).await?;
        self.state.default_retention_secs = Some(policy.default_retention_secs);
        self.save()?;
        Ok(policy.default_retention_secs)
    }

    /// The retention of a verified conversation: the last SetRetention, else the server's
    /// default (§6.7).
    pub(crate) async fn retention_of(&mut self, group: &GroupState) -> Result<Retention> {
        match group.retention() {
            Some(retention) => Ok(retention),
            None => self.default_retention().await,
        }
    }

    /// The retention of a stored conversation without asking the server (the default as last
    /// fetched; for good when never fetched).
    fn stored_retention(&self, group: &GroupState) -> Retention {
        group.retention().unwrap_or_else(|| {
            self.state
                .default_retention_secs
                .and_then(|secs| Retention::from_secs(secs).ok())
                .unwrap_or(Retention::FOREVER)
        })
    }

    /// Applies retention to everything this device keeps (§6.7): messages past their
    /// conversation's retention are deleted with the files their attachments were saved to, and
    /// so are the history keys whose chains can no longer carry a kept message. Uses what is
    /// stored (no request), so it runs at startup too.
    pub fn apply_retention(&mut self) -> Result<usize> {
        let now = self.now()?;
        let conversations: Vec<ConversationId> = self.state.conversations.keys().copied().collect();
        let mut deleted = 0;
        let mut forgotten = 0;
        for conversation in conversations {
            let Some(group) = self.load_group(&conversation)? else {
                continue;
            };
            let retention = self.stored_retention(&group);
            if retention == Retention::FOREVER {
                continue;
            }
            let before = self.state.history.len() + self.state.inbox.len();
            let files = self
                .state
                .expire_messages(conversation, retention, now.millis());
            for file in &files {
                self.delete_saved_file(file);
            }
            deleted += before.saturating_sub(self.state.history.len() + self.state.inbox.len());
            forgotten += self.state.history_keys.expire(conversation, retention, now);
        }
        // Amendments whose target never came are given up after their wait (§8.5, §11).
        let gave_up = self.state.waiting_amendments.expire(now.millis());
        if deleted > 0 || forgotten > 0 || gave_up > 0 {
            self.save()?;
        }
        Ok(deleted)
    }

    /// Deletes an attachment this device saved, if it lies in the profile folder (a file saved
    /// elsewhere with `--download-dir` is the user's).
    pub(crate) fn delete_saved_file(&self, path: &str) {
        let path = std::path::Path::new(path);
        let inside = match (
            std::fs::canonicalize(path),
            std::fs::canonicalize(&self.dir),
        ) {
            (Ok(file), Ok(dir)) => file.starts_with(dir),
            _ => false,
        };
        if inside {
            // Best effort: a file already gone is what was wanted.
            let _ = std::fs::remove_file(path);
        }
    }

    /// Sets how long `conversation`'s messages are kept (admins; either member of a 1:1):
    /// appends a SetRetention change. Returns the new epoch.
    pub async fn set_retention(
        &mut self,
        conversation: ConversationId,
        retention: Retention,
    ) -> Result<u64> {
        let next = self
            .change_group(conversation, |_| GroupOp::SetRetention { retention })
            .await?;
        self.apply_retention()?;
        Ok(next.epoch())
    }

    /// The retention shown for a conversation.
    pub async fn retention(&mut self, conversation: ConversationId) -> Result<Retention> {
        let group = match self.load_group(&conversation)? {
            Some(group) if self.fresh.contains(&conversation.to_string()) => group,
            _ => self.sync_group(conversation).await?,
        };
        self.retention_of(&group).await
    }

    /// A conversation named by a `conv:` id or a username (the 1:1 with them, as this device or
    /// the server knows it; never created here).
    pub async fn find_conversation(&mut self, target: &str) -> Result<ConversationId> {
        if target.starts_with(ConversationId::PREFIX) {
            return target.parse().map_err(|_| Error::UnknownConversation {
                what: target.to_owned(),
            });
        }
        let them = self
            .lookup(crate::peers::Who::Name(target), false)
            .await?
            .identity
            .account();
        if let Some(found) = self.find_direct(them)? {
            return Ok(found);
        }
        self.refresh_conversations().await?;
        self.find_direct(them)?
            .ok_or_else(|| Error::UnknownConversation {
                what: target.to_owned(),
            })
    }

    /// Fetches `conversation`'s archive, newest first, until the latest `limit` messages were
    /// seen (those stored here already count, and are not opened again) or the archive ends;
    /// opens and stores what is new. Then applies retention.
    pub async fn fetch_history(
        &mut self,
        conversation: ConversationId,
        limit: usize,
    ) -> Result<HistoryReport> {
        let mut report = HistoryReport::default();
        let mut group = self.sync_group(conversation).await?;
        let retention = self.retention_of(&group).await?;
        let token = self.access_token().await?;
        let mut before = None;
        let mut read = 0;
        'pages: loop {
            let page = self
                .api
                .history(&token, conversation, before, HISTORY_PAGE)
                .await?;
            for archived in &page.envelopes {
                before = Some(archived.seq);
                let Ok(bytes) = unb64(&archived.envelope, "archived envelope") else {
                    report.unreadable += 1;
                    continue;
                };
                // The archive may hold key distributions and requests too: only messages are
                // history.
                let Ok(envelope) = Envelope::decode(&bytes) else {
                    continue;
                };
                if read >= limit {
                    break 'pages;
                }
                // A message stored here already (received live, or fetched before) counts
                // towards the latest `limit`, and is not opened again.
                let id = envelope.header().message_id;
                if self.state.history.iter().any(|m| m.id == id)
                    || self.state.inbox.iter().any(|m| m.id == id)
                {
                    read += 1;
                    continue;
                }
                if envelope.header().epoch > group.epoch() {
                    group = self.sync_group(conversation).await?;
                }
                match self.open_archived(&envelope, &group, retention).await? {
                    Archived::Stored => {
                        report.added += 1;
                        read += 1;
                    }
                    Archived::NotAMessage | Archived::Expired => {}
                    Archived::Unreadable => report.unreadable += 1,
                }
            }
            if !page.more || page.envelopes.is_empty() {
                break;
            }
        }
        self.save()?;
        self.apply_retention()?;
        Ok(report)
    }

    /// The last `limit` stored messages of `conversation`, oldest first.
    pub fn stored_messages(&self, conversation: ConversationId, limit: usize) -> Vec<Delivered> {
        let all: Vec<&Delivered> = self
            .state
            .history
            .iter()
            .filter(|m| m.conversation == conversation)
            .collect();
        let skip = all.len().saturating_sub(limit);
        all.into_iter().skip(skip).cloned().collect()
    }

    /// Opens one archived envelope (§17.2) and stores it.
    async fn open_archived(
        &mut self,
        envelope: &Envelope,
        group: &GroupState,
        retention: Retention,
    ) -> Result<Archived> {
        let h = envelope.header().clone();
        let now = self.now()?;
        if retention.expired(h.sent_at, now) {
            return Ok(Archived::Expired);
        }
        let record = self.history_record(&h.chain)?;
        if record.is_none() {
            return Ok(Archived::Unreadable);
        }
        let (username, sender) = match self
            .sender_device(h.sender_account, h.sender_device)
            .await?
        {
            Ok(found) => found,
            Err(Refused::Failed(_) | Refused::Identity(_) | Refused::Wait) => {
                return Ok(Archived::Unreadable)
            }
        };
        let opened = match open_archived(envelope, &sender, group, record.as_ref(), now) {
            Ok(opened) => opened,
            Err(_) => return Ok(Archived::Unreadable),
        };
        let (text, attachment, reply_to, mentions) = match opened.body {
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
            MessageBody::Receipt { .. } => return Ok(Archived::NotAMessage),
            // A name from the archive is taken by the same rule as a live one (§6.5).
            MessageBody::GroupName(reveal) => {
                let _ = self.accept_name(group, &reveal);
                return Ok(Archived::NotAMessage);
            }
            // An amendment from the archive is checked and applied as a live one (§8.5),
            // quietly: history never notifies.
            MessageBody::Edit {
                target,
                text,
                mentions,
            } => {
                let change = Change::Edit {
                    text: zeroize::Zeroizing::new(text),
                    mentions: self.mentioned(group, &mentions),
                };
                return self.archived_amendment(&h, username, target, change, now);
            }
            MessageBody::Delete { target } => {
                return self.archived_amendment(&h, username, target, Change::Delete, now);
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
                return self.archived_amendment(&h, username, target, change, now);
            }
        };
        let message = Delivered {
            id: h.message_id,
            conversation: h.conversation,
            from: username,
            device: h.sender_device,
            sent_at: h.sent_at.millis(),
            text: zeroize::Zeroizing::new(text),
            attachment,
            request: false,
            account: Some(h.sender_account),
            reply_to,
            mentions: self.mentioned(group, &mentions),
            amended: Default::default(),
        };
        // Remembered as seen: a live copy still queued for this device is then a replay.
        self.state.remember(h.message_id);
        Ok(if self.state.archive_past(message) {
            for file in self.state.release_waiting(h.message_id, now.millis()) {
                self.delete_saved_file(&file);
            }
            Archived::Stored
        } else {
            Archived::NotAMessage
        })
    }

    /// An edit, delete or reaction opened from the archive: applied to its stored target if
    /// it passes the checks, kept for a target not stored yet, dropped if refused.
    fn archived_amendment(
        &mut self,
        h: &sotto_proto::envelope::EnvelopeHeader,
        username: String,
        target: sotto_proto::ids::MessageId,
        change: Change,
        now: sotto_proto::Timestamp,
    ) -> Result<Archived> {
        self.state.remember(h.message_id);
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
        match self.state.amend(amendment, now.millis()) {
            AmendOutcome::Accepted { file } => {
                if let Some(file) = file {
                    self.delete_saved_file(&file);
                }
                Ok(Archived::NotAMessage)
            }
            AmendOutcome::Waiting => Ok(Archived::NotAMessage),
            AmendOutcome::Refused(_) => Ok(Archived::Unreadable),
        }
    }
}

/// What became of one archived envelope.
enum Archived {
    /// A message, stored.
    Stored,
    /// Not a message to show (a receipt, a group name), or stored already.
    NotAMessage,
    /// Past the conversation's retention: not kept.
    Expired,
    /// No history key for its chain, or refused.
    Unreadable,
}
