//! What a person does with messages beyond sending a text: replies and mentions (protocol §8.4),
//! edits and deletes of their own messages (§8.5), reactions (§8.6), and search over what this
//! device stores.
//!
//! Every action is checked here, before anything is queued or sealed, against what this device
//! stores: only the author edits or deletes, a deleted message takes no more amendments, a
//! conversation this account left takes nothing. Receivers check the same rules again.

use sotto_proto::group::GroupState;
use sotto_proto::ids::{ConversationId, MessageId};
use zeroize::Zeroizing;

use crate::client::Client;
use crate::error::{Error, Result};
use crate::outbox::SendReport;
use crate::peers::Who;
use crate::store::state::{Delivered, Mention, OutgoingBody};

/// A stored message that matched a search.
#[derive(Debug, Clone)]
pub struct SearchHit {
    /// The conversation.
    pub conversation: ConversationId,
    /// The message.
    pub message: MessageId,
    /// Its sender's username.
    pub from: String,
    /// Its `sent_at`, ms.
    pub sent_at: u64,
    /// The text it shows now.
    pub text: Zeroizing<String>,
    /// Whether that text is an edit's.
    pub edited: bool,
}

/// The usernames a text names as `@username`, lowercased, in order, each once. A `@` inside a
/// word (an e-mail address) names nobody; a trailing `.` ends a sentence, not the name.
pub fn mention_tokens(text: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let mut previous: Option<char> = None;
    for (at, c) in text.char_indices() {
        let starts = c == '@' && previous.is_none_or(|p| !is_name_char(p));
        previous = Some(c);
        if !starts {
            continue;
        }
        let rest = text.get(at + 1..).unwrap_or_default();
        let name: String = rest.chars().take_while(|c| is_name_char(*c)).collect();
        let name = name.trim_end_matches('.').to_lowercase();
        if !name.is_empty() && !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// A character of a username (3–32 of a-z 0-9 . _ -, compared in lower case).
fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

impl Client {
    /// Sends `text` to `target` (a username or a `conv:` id), as a reply to `reply_to` if
    /// given; `@username` tokens naming members become the message's mentions. A text with
    /// neither goes as a plain Text body (§8.2).
    pub async fn send_message(
        &mut self,
        target: &str,
        text: &str,
        reply_to: Option<MessageId>,
        accept_new: bool,
    ) -> Result<SendReport> {
        let result = async {
            let conversation = self.resolve_target(target, accept_new).await?;
            if let Some(quoted) = reply_to.and_then(|id| self.state.message(id)) {
                if quoted.conversation != conversation {
                    return Err(Error::InvalidInput {
                        field: "reply",
                        reason: "the message replied to is in another conversation",
                    });
                }
            }
            let mentions = self.mentions_in(conversation, text).await?;
            let text = Zeroizing::new(text.to_owned());
            let body = if reply_to.is_none() && mentions.is_empty() {
                OutgoingBody::Text(text)
            } else {
                OutgoingBody::Message {
                    text,
                    reply_to,
                    mentions,
                }
            };
            self.queue(conversation, body).await
        }
        .await;
        if matches!(
            result,
            Err(Error::Api {
                code: crate::api::ErrorCode::Unauthorized,
                ..
            })
        ) {
            // The server refused the access token: renew it on the next request.
            self.forget_access_token();
        }
        result
    }

    /// Replaces the text of this account's message `id` (its caption for an attachment);
    /// `@username` tokens naming members become its mentions.
    pub async fn edit_message(&mut self, id: MessageId, text: &str) -> Result<SendReport> {
        let target = self.own_message(id, "edit")?;
        let mentions = self.mentions_in(target.conversation, text).await?;
        let body = OutgoingBody::Edit {
            target: id,
            text: Zeroizing::new(text.to_owned()),
            mentions,
        };
        self.queue(target.conversation, body).await
    }

    /// Deletes this account's message `id` for every member (and here).
    pub async fn delete_message(&mut self, id: MessageId) -> Result<SendReport> {
        let target = self.own_message(id, "delete")?;
        self.queue(target.conversation, OutgoingBody::Delete { target: id })
            .await
    }

    /// Adds (or with `added` false takes back) the reaction `emoji` to message `id`.
    pub async fn react(&mut self, id: MessageId, emoji: &str, added: bool) -> Result<SendReport> {
        let target = self.stored_message(id)?;
        let body = OutgoingBody::Reaction {
            target: id,
            emoji: emoji.to_owned(),
            added,
        };
        self.queue(target.conversation, body).await
    }

    /// The stored messages whose current text contains `query` (case-insensitive), in
    /// `conversation` if given, newest first; deleted messages are never found.
    pub fn search(&self, query: &str, conversation: Option<ConversationId>) -> Vec<SearchHit> {
        let stored = self.state.history.iter().chain(self.state.inbox.iter());
        crate::engine::search::search(stored, query, conversation)
            .into_iter()
            .map(|m| SearchHit {
                conversation: m.conversation,
                message: m.id,
                from: m.from.clone(),
                sent_at: m.sent_at,
                text: Zeroizing::new(m.current_text().to_owned()),
                edited: m.is_edited(),
            })
            .collect()
    }

    /// Sends an edit of `target` in `conversation` without the author check an honest client
    /// makes: what a modified client could send, for the tests that show every receiver
    /// refuses it (`message/not-author`).
    #[cfg(feature = "test-util")]
    pub async fn danger_send_unchecked_edit(
        &mut self,
        conversation: ConversationId,
        target: MessageId,
        text: &str,
    ) -> Result<SendReport> {
        let body = OutgoingBody::Edit {
            target,
            text: Zeroizing::new(text.to_owned()),
            mentions: Vec::new(),
        };
        self.queue(conversation, body).await
    }

    /// The stored message `id`, not deleted.
    fn stored_message(&self, id: MessageId) -> Result<Delivered> {
        let message = self
            .state
            .message(id)
            .cloned()
            .ok_or_else(|| Error::UnknownMessage { id: id.to_string() })?;
        if message.amended.deleted {
            return Err(Error::MessageDeleted { id: id.to_string() });
        }
        Ok(message)
    }

    /// The stored message `id` if this account wrote it (any of its devices), else why not.
    fn own_message(&self, id: MessageId, action: &'static str) -> Result<Delivered> {
        let message = self.stored_message(id)?;
        let author = message
            .account
            .or_else(|| self.state.pins.account_of(&message.from));
        if author != Some(self.account_id()?) {
            return Err(Error::NotAuthor { action });
        }
        Ok(message)
    }

    /// The members of `conversation` that `text` names as `@username` (§8.4), under the
    /// usernames this device shows them by. The group's stored state is used when the server
    /// cannot be asked (the message is queued either way).
    async fn mentions_in(
        &mut self,
        conversation: ConversationId,
        text: &str,
    ) -> Result<Vec<Mention>> {
        let tokens = mention_tokens(text);
        if tokens.is_empty() {
            return Ok(Vec::new());
        }
        let group = match self.load_group(&conversation)? {
            Some(group) => group,
            None => self.sync_group(conversation).await?,
        };
        let mut mentions = Vec::new();
        for account in members_of(&group) {
            let username = match self.username_of(account) {
                Some(name) => name,
                None => match self.lookup(Who::Account(account), false).await {
                    Ok(peer) => peer.username,
                    // A member the directory does not show cannot be named by its username.
                    Err(_) => continue,
                },
            };
            if tokens.contains(&username.to_lowercase()) {
                mentions.push(Mention { account, username });
            }
        }
        // In the order the text names them.
        mentions.sort_by_key(|m| tokens.iter().position(|t| *t == m.username.to_lowercase()));
        Ok(mentions)
    }
}

/// The member accounts of `group`.
fn members_of(group: &GroupState) -> Vec<sotto_proto::ids::AccountId> {
    group.members().keys().copied().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mention_tokens_are_at_names_not_addresses_each_once_in_order() {
        assert_eq!(
            mention_tokens("@Bob and @carol.d, see @bob. mail x@example.com @"),
            ["bob", "carol.d"]
        );
        assert_eq!(mention_tokens("(@dave) @eve-2!"), ["dave", "eve-2"]);
        assert!(mention_tokens("no mention").is_empty());
    }
}
