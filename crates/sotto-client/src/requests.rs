//! Message requests and blocks (`docs/api.md`, "Requests and blocks"): a conversation this
//! account was added to by someone who is not a contact yet is a *request* until it is accepted
//! or declined; the server routes at most `max_request_envelopes` of its envelopes here until
//! then. Blocking a user stops everything they send from reaching this account.
//!
//! The client keeps the set of pending requests it last heard of (refreshed at the start of
//! every receive, when a conversation new to this device turns up, and before every send), so
//! that a received message can say it came under a request and a send can accept first.
//! Sending into a request accepts it (decision D35 in `docs/decisions.md`): writing back is the
//! clearest consent there is, and a reply that went out while the conversation stayed a request
//! would leave the other side capped at `max_request_envelopes` for no reason the user could
//! see.

use sotto_proto::ids::{AccountId, ConversationId};

use crate::api::{BlockedView, RequestView};
use crate::client::Client;
use crate::error::Result;
use crate::groups::is_direct_between;
use crate::peers::Who;

impl Client {
    /// The pending requests, oldest first (also what later receives flag messages by).
    pub async fn requests(&mut self) -> Result<Vec<RequestView>> {
        let token = self.access_token().await?;
        let list = self.api.requests(&token).await?.requests;
        self.requests = list.iter().map(|r| r.conversation).collect();
        Ok(list)
    }

    /// [`Client::requests`] where the answer is only a hint: a server that refuses the
    /// question (one without requests) leaves the set empty; only the transport failing fails.
    pub(crate) async fn learn_requests(&mut self) -> Result<Vec<RequestView>> {
        match self.requests().await {
            Ok(list) => Ok(list),
            Err(refused) if refused.is_refused_answer() => {
                self.requests.clear();
                Ok(Vec::new())
            }
            Err(other) => Err(other),
        }
    }

    /// Whether `conversation` was a pending request when last asked.
    pub fn is_request(&self, conversation: ConversationId) -> bool {
        self.requests.contains(&conversation)
    }

    /// Accepts a request: its messages flow in full from now on and its members become
    /// contacts. Accepting a conversation accepted already, or declined before, is allowed.
    pub async fn accept(&mut self, conversation: ConversationId) -> Result<()> {
        let token = self.access_token().await?;
        self.api.accept(&token, conversation).await?;
        self.requests.remove(&conversation);
        if let Some(known) = self.state.conversations.get_mut(&conversation) {
            known.member = true;
            self.save()?;
        }
        Ok(())
    }

    /// Declines a request: this account's devices get no further copies of it and it leaves
    /// the conversation list (this account stays in its signed member list).
    pub async fn decline(&mut self, conversation: ConversationId) -> Result<()> {
        let token = self.access_token().await?;
        self.api.decline(&token, conversation).await?;
        self.requests.remove(&conversation);
        if let Some(known) = self.state.conversations.get_mut(&conversation) {
            // Not listed, and never taken for a 1:1 to send to, until accepted again.
            known.member = false;
            self.save()?;
        }
        Ok(())
    }

    /// Blocks `username`: nothing they send reaches this account, and their pending requests
    /// to it are declined.
    pub async fn block(&mut self, username: &str) -> Result<()> {
        let token = self.access_token().await?;
        self.api.block(&token, &username.to_ascii_lowercase()).await
    }

    /// Lifts a block.
    pub async fn unblock(&mut self, username: &str) -> Result<()> {
        let token = self.access_token().await?;
        self.api
            .unblock(&token, &username.to_ascii_lowercase())
            .await
    }

    /// The blocked accounts.
    pub async fn blocks(&mut self) -> Result<Vec<BlockedView>> {
        let token = self.access_token().await?;
        Ok(self.api.blocks(&token).await?.blocked)
    }

    /// The pending request from `username` that is the 1:1 with them, if there is one (checked
    /// against the signed group log, never taken from the server's word): sending to them
    /// answers it instead of starting a second 1:1. `pending` is the list just fetched.
    pub(crate) async fn direct_request_from(
        &mut self,
        username: &str,
        pending: &[RequestView],
        accept_new: bool,
    ) -> Result<Option<ConversationId>> {
        let wanted = username.to_ascii_lowercase();
        // The server's username only narrows the candidates; the account and the log decide.
        let mut candidates: Vec<ConversationId> = pending
            .iter()
            .filter(|r| r.from_username == wanted)
            .map(|r| r.conversation)
            .collect();
        if candidates.is_empty() {
            return Ok(None);
        }
        // The smallest id first: the one both sides settle on when each created a 1:1.
        candidates.sort();
        let them: AccountId = self
            .lookup(Who::Name(&wanted), accept_new)
            .await?
            .identity
            .account();
        let me = self.account_id()?;
        for conversation in candidates {
            if !pending
                .iter()
                .any(|r| r.conversation == conversation && r.from == them)
            {
                continue;
            }
            let group = match self.sync_group(conversation).await {
                Ok(group) => group,
                Err(refused) if refused.is_refused_answer() => continue,
                Err(other) => return Err(other),
            };
            if is_direct_between(&group, me, them) {
                return Ok(Some(conversation));
            }
        }
        Ok(None)
    }

    /// Sending into a pending request accepts it first (see the module's note).
    pub(crate) async fn accept_if_request(&mut self, conversation: ConversationId) -> Result<()> {
        if self.is_request(conversation) {
            self.accept(conversation).await?;
        }
        Ok(())
    }
}
