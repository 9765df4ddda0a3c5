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
    /// The conversation's id.
    pub id: ConversationId,
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
            .get(conversation)
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
            .entry(group.conversation())
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
                if let Some(c) = self.state.conversations.get_mut(&conversation) {
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

    /// Every conversation this device knows and still belongs to, requests not accepted yet
    /// left out (`Client::requests` lists those).
    pub async fn conversations(&mut self) -> Result<Vec<ConversationInfo>> {
        self.refresh_conversations().await?;
        self.learn_requests().await?;
        let ids: Vec<ConversationId> = self
            .state
            .conversations
            .iter()
            .filter(|(id, c)| c.member && !self.requests.contains(id))
            .map(|(id, _)| *id)
            .collect();
        let mut out = Vec::new();
        for conversation in ids {
            if let Some(group) = self.load_group(&conversation)? {
                out.push(info(&group));
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
        let name = direct_name(&me, &peer.username);
        self.create_group(&name, &[peer.username], accept_new).await
    }

    /// The 1:1 with `them` this device holds (protocol §6.4). The map is ordered by id bytes
    /// (the order of their fixed-length lowercase hex text too), so the first match is the
    /// smallest id: the one both sides settle on when each created one.
    fn find_direct(&self, them: AccountId) -> Result<Option<ConversationId>> {
        let me = self.account_id()?;
        for (conversation, c) in &self.state.conversations {
            if !c.member {
                continue;
            }
            if let Some(group) = self.load_group(conversation)? {
                if is_direct_between(&group, me, them) {
                    return Ok(Some(*conversation));
                }
            }
        }
        Ok(None)
    }
}

/// The name a client gives the 1:1 it creates: `<own username> & <peer username>` (protocol §6.4).
fn direct_name(own: &str, peer: &str) -> String {
    format!("{own} & {peer}")
}

/// Whether the verified `group` is the 1:1 of `me` and `them` (protocol §6.4): exactly these two
/// members, compared by account id, under the name made of the usernames the state lists for
/// them, in either order. A group of the same two people under another name stays a group, and a
/// name alone (any admin chooses it) makes nothing a 1:1.
pub(crate) fn is_direct_between(group: &GroupState, me: AccountId, them: AccountId) -> bool {
    let members = group.members();
    let (Some(mine), Some(theirs)) = (members.get(&me), members.get(&them)) else {
        return false;
    };
    me != them
        && members.len() == 2
        && (group.name() == direct_name(&mine.username, &theirs.username)
            || group.name() == direct_name(&theirs.username, &mine.username))
}

fn info(group: &GroupState) -> ConversationInfo {
    ConversationInfo {
        id: group.conversation(),
        name: group.name().to_owned(),
        epoch: group.epoch(),
        members: group
            .members()
            .iter()
            .map(|(a, m)| (m.username.clone(), a.to_string(), m.admin))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use sotto_proto::testing::{TestAccount, T0};

    use super::*;

    fn group(name: &str, creator: &TestAccount, members: Vec<Member>) -> GroupState {
        let conversation = ConversationId::from_bytes([7; 16]);
        let signed = GroupState::create(
            conversation,
            name,
            members,
            creator.master.account(),
            &creator.device.keys,
            T0,
        )
        .unwrap();
        GroupState::genesis(&signed, &creator.device.verified).unwrap()
    }

    #[test]
    fn two_accounts_under_the_default_name_are_their_one_to_one_from_either_side() {
        let (alice, carol) = (TestAccount::new(0, "alice"), TestAccount::new(2, "carol"));
        let state = group(
            &direct_name("alice", "carol"),
            &alice,
            vec![alice.member(true), carol.member(false)],
        );
        let (a, c) = (alice.master.account(), carol.master.account());
        assert!(is_direct_between(&state, a, c));
        assert!(is_direct_between(&state, c, a));
    }

    #[test]
    fn a_group_of_the_same_two_people_under_another_name_is_not_their_one_to_one() {
        let (alice, carol) = (TestAccount::new(0, "alice"), TestAccount::new(2, "carol"));
        let state = group(
            "Project Sotto",
            &alice,
            vec![alice.member(true), carol.member(false)],
        );
        assert!(!is_direct_between(
            &state,
            alice.master.account(),
            carol.master.account()
        ));
    }

    #[test]
    fn a_group_named_alice_and_carol_is_not_the_one_to_one_with_carol_unless_it_is_just_them() {
        let alice = TestAccount::new(0, "alice");
        let bob = TestAccount::new(1, "bob");
        let carol = TestAccount::new(2, "carol");
        let (a, c) = (alice.master.account(), carol.master.account());
        let three = group(
            "alice & carol",
            &alice,
            vec![alice.member(true), bob.member(false), carol.member(false)],
        );
        assert!(!is_direct_between(&three, a, c));
        // Bob, the admin, lists himself under carol's username: the name reads right, the
        // account is not carol's.
        let mut impostor = bob.member(true);
        impostor.username = "carol".to_owned();
        let posing = group("alice & carol", &bob, vec![alice.member(false), impostor]);
        assert!(!is_direct_between(&posing, a, c));
    }
}
