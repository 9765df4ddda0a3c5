//! Conversations: the verified group log kept locally and brought up to date from the server
//! (every change checked with `sotto-proto` against the signer's verified device), creating
//! groups and 1:1 conversations, adding and removing members.

use sotto_proto::group::{GroupChange, GroupOp, GroupState, Member};
use sotto_proto::identity::VerifiedDevice;
use sotto_proto::ids::{AccountId, ConversationId};
use sotto_proto::limits::MAX_GROUP_CHANGE_LEN;
use sotto_proto::signed::Signed;

use crate::api::{b64, unb64};
use crate::client::Client;
use crate::error::{Error, Result};
use crate::peers::Who;

/// A conversation as shown to a person.
#[derive(Debug, Clone)]
pub struct ConversationInfo {
    /// `conv:…`.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Current epoch.
    pub epoch: u64,
    /// Members: (username, account, admin).
    pub members: Vec<(String, String, bool)>,
}

impl Client {
    /// The verified group state stored for `conversation`.
    pub(crate) fn load_group(&self, conversation: &ConversationId) -> Result<Option<GroupState>> {
        let Some(stored) = self
            .state
            .conversations
            .get(&conversation.to_string())
            .and_then(|c| c.group.as_deref())
        else {
            return Ok(None);
        };
        Ok(Some(GroupState::decode_local(&unb64(
            stored,
            "group state",
        )?)?))
    }

    fn store_group(&mut self, group: &GroupState) -> Result<()> {
        let me = self.account_id()?;
        let entry = self
            .state
            .conversations
            .entry(group.conversation().to_string())
            .or_default();
        entry.group = Some(b64(&group.encode_local()));
        entry.member = group.is_member(&me);
        Ok(())
    }

    /// Brings the group log of `conversation` up to date and returns the verified state.
    pub async fn sync_group(&mut self, conversation: ConversationId) -> Result<GroupState> {
        let token = self.access_token().await?;
        let mut state = self.load_group(&conversation)?;
        let since = state.as_ref().map_or(0, |g| g.epoch() + 1);
        let view = match self.api.conversation(&token, conversation, since).await {
            Ok(view) => view,
            Err(Error::Api {
                code: crate::api::ErrorCode::NotFound,
                ..
            }) => {
                if let Some(c) = self.state.conversations.get_mut(&conversation.to_string()) {
                    c.member = false;
                    self.save()?;
                }
                return Err(Error::NotMember);
            }
            Err(other) => return Err(other),
        };
        for entry in view.changes {
            let signed =
                Signed::decode(&unb64(&entry.change, "group change")?, MAX_GROUP_CHANGE_LEN)?;
            let body = GroupChange::decode(signed.unverified_body())?;
            if body.conversation != conversation {
                // Another conversation's log served under this id: applied, it would replace
                // that conversation's verified state and send this one's messages there.
                return Err(Error::BadResponse {
                    what: "a group change of another conversation",
                });
            }
            let (_, signer) = self
                .verified_device(body.signer_account, body.signer_device)
                .await?;
            if let Some(current) = state.as_ref().filter(|s| body.epoch <= s.epoch()) {
                // We asked for newer changes only: the same old change again is harmless, a
                // different one at a known epoch is a fork (an alarm, never applied).
                match current.apply(&signed, &signer) {
                    Err(sotto_proto::Error::Group(sotto_proto::GroupError::Replayed {
                        ..
                    })) => continue,
                    Err(other) => return Err(other.into()),
                    Ok(_) => {
                        return Err(Error::BadResponse {
                            what: "an old group change that applies again",
                        })
                    }
                }
            }
            state = Some(match state {
                None => GroupState::genesis(&signed, &signer)?,
                Some(s) => s.apply(&signed, &signer)?,
            });
        }
        let state = state.ok_or(Error::UnknownConversation {
            what: conversation.to_string(),
        })?;
        self.fresh.insert(conversation.to_string());
        self.store_group(&state)?;
        self.save()?;
        Ok(state)
    }

    async fn own_verified_device(&mut self) -> Result<VerifiedDevice> {
        let me = self.account_id()?;
        let device = self.device()?;
        Ok(self.verified_device(me, device).await?.1)
    }

    /// Creates a conversation named `name` with `usernames` (this account is its admin).
    pub async fn create_group(
        &mut self,
        name: &str,
        usernames: &[String],
        accept_new: bool,
    ) -> Result<ConversationId> {
        let me = self.account_id()?;
        let my_name = self.account_state()?.username.clone();
        let mut members = vec![Member {
            account: me,
            username: my_name,
            admin: true,
        }];
        for username in usernames {
            let peer = self.lookup(Who::Name(username), accept_new).await?;
            if members.iter().any(|m| m.account == peer.identity.account()) {
                continue;
            }
            members.push(Member {
                account: peer.identity.account(),
                username: peer.username,
                admin: false,
            });
        }
        let conversation = ConversationId::from_bytes(self.random16()?);
        let keys = self.device_keys()?;
        let genesis = GroupState::create(conversation, name, members, me, &keys, self.now()?)?;
        let signer = self.own_verified_device().await?;
        let state = GroupState::genesis(&genesis, &signer)?;
        let token = self.access_token().await?;
        self.api
            .create_conversation(&token, &genesis.encode())
            .await?;
        self.store_group(&state)?;
        self.save()?;
        Ok(conversation)
    }

    async fn change_group(&mut self, conversation: ConversationId, op: GroupOp) -> Result<u64> {
        match self.try_change_group(conversation, op.clone()).await {
            // Someone else changed the group at the same epoch: catch up and try once more.
            Err(Error::Api {
                code: crate::api::ErrorCode::Conflict,
                ..
            }) => self.try_change_group(conversation, op).await,
            other => other,
        }
    }

    async fn try_change_group(&mut self, conversation: ConversationId, op: GroupOp) -> Result<u64> {
        let group = self.sync_group(conversation).await?;
        let me = self.account_id()?;
        if !group.is_member(&me) {
            return Err(Error::NotMember);
        }
        let keys = self.device_keys()?;
        let change = group.propose(op, me, &keys, self.now()?)?;
        let signer = self.own_verified_device().await?;
        let next = group.apply(&change, &signer)?;
        let token = self.access_token().await?;
        self.api
            .append_change(&token, conversation, &change.encode())
            .await?;
        self.store_group(&next)?;
        self.save()?;
        Ok(next.epoch())
    }

    /// Adds `username` to a group (admins only); returns the new epoch.
    pub async fn add_member(
        &mut self,
        conversation: ConversationId,
        username: &str,
        accept_new: bool,
    ) -> Result<u64> {
        let peer = self.lookup(Who::Name(username), accept_new).await?;
        let op = GroupOp::AddMember(Member {
            account: peer.identity.account(),
            username: peer.username,
            admin: false,
        });
        self.change_group(conversation, op).await
    }

    /// Removes `username` from a group (admins, or oneself); returns the new epoch.
    pub async fn remove_member(
        &mut self,
        conversation: ConversationId,
        username: &str,
    ) -> Result<u64> {
        let group = self.sync_group(conversation).await?;
        let wanted = username.to_ascii_lowercase();
        let account = group
            .members()
            .iter()
            .find(|(_, m)| m.username == wanted)
            .map(|(a, _)| *a)
            .ok_or_else(|| Error::UnknownUser {
                username: username.to_owned(),
            })?;
        self.change_group(conversation, GroupOp::RemoveMember { account })
            .await
    }

    /// Learns every conversation the server lists for this account. A conversation whose log
    /// the server answers with something that does not verify is left at its last verified state
    /// (unknown if it had none): one tampered log must not stop the user from reaching everyone
    /// else. Using that conversation still fails with the reason (protocol §9.4, D23). A
    /// transport failure fails the whole refresh.
    pub async fn refresh_conversations(&mut self) -> Result<()> {
        let token = self.access_token().await?;
        for conversation in self.api.conversations(&token).await? {
            match self.sync_group(conversation).await {
                Ok(_) => {}
                Err(refused) if refused.is_refused_answer() => {}
                Err(other) => return Err(other),
            }
        }
        Ok(())
    }

    /// Every conversation this device knows and still belongs to.
    pub async fn conversations(&mut self) -> Result<Vec<ConversationInfo>> {
        self.refresh_conversations().await?;
        let ids: Vec<String> = self
            .state
            .conversations
            .iter()
            .filter(|(_, c)| c.member)
            .map(|(id, _)| id.clone())
            .collect();
        let mut out = Vec::new();
        for id in ids {
            if let Ok(conversation) = id.parse::<ConversationId>() {
                if let Some(group) = self.load_group(&conversation)? {
                    out.push(info(&group));
                }
            }
        }
        Ok(out)
    }

    /// One conversation, brought up to date.
    pub async fn conversation(&mut self, conversation: ConversationId) -> Result<ConversationInfo> {
        Ok(info(&self.sync_group(conversation).await?))
    }

    /// The 1:1 conversation with `username`, created if there is none.
    pub async fn direct_conversation(
        &mut self,
        username: &str,
        accept_new: bool,
    ) -> Result<ConversationId> {
        let peer = self.lookup(Who::Name(username), accept_new).await?;
        let them = peer.identity.account();
        if let Some(found) = self.find_direct(them)? {
            return Ok(found);
        }
        self.refresh_conversations().await?;
        if let Some(found) = self.find_direct(them)? {
            return Ok(found);
        }
        let me = self.account_state()?.username.clone();
        let name = format!("{me} & {}", peer.username);
        self.create_group(&name, &[peer.username], accept_new).await
    }

    fn find_direct(&self, them: AccountId) -> Result<Option<ConversationId>> {
        let me = self.account_id()?;
        for (id, c) in &self.state.conversations {
            if !c.member {
                continue;
            }
            let Ok(conversation) = id.parse::<ConversationId>() else {
                continue;
            };
            if let Some(group) = self.load_group(&conversation)? {
                let members = group.members();
                if members.len() == 2 && members.contains_key(&me) && members.contains_key(&them) {
                    return Ok(Some(conversation));
                }
            }
        }
        Ok(None)
    }
}

fn info(group: &GroupState) -> ConversationInfo {
    ConversationInfo {
        id: group.conversation().to_string(),
        name: group.name().to_owned(),
        epoch: group.epoch(),
        members: group
            .members()
            .iter()
            .map(|(a, m)| (m.username.clone(), a.to_string(), m.admin))
            .collect(),
    }
}
