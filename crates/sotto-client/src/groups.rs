//! Conversations: the verified group log kept locally and brought up to date from the server
//! (every change checked with `sotto-proto` against the signer's verified device), creating
//! groups and 1:1 conversations, adding and removing members, naming groups.
//!
//! The log carries no names (protocol §6.5, §6.6): a group's name travels to the members in an
//! encrypted GroupName body and is accepted only if it opens the log's commitment; a member is
//! shown under the username the directory gives its account, pinned like a sender's.

use sotto_proto::group::{
    ConversationKind, CreateKind, GroupChange, GroupName, GroupOp, GroupState, Member, NameCheck,
    NameReveal, NAME_SALT_LEN,
};
use sotto_proto::identity::VerifiedDevice;
use sotto_proto::ids::{AccountId, ConversationId};
use sotto_proto::limits::MAX_GROUP_CHANGE_LEN;
use sotto_proto::signed::Signed;
use zeroize::Zeroizing;

use crate::api::{b64, unb64};
use crate::client::Client;
use crate::error::{Error, Result};
use crate::membership::membership_change;
use crate::peers::Who;
use crate::store::state::{KnownName, OutgoingBody, Secret};

/// A conversation as shown to a person.
#[derive(Debug, Clone)]
pub struct ConversationInfo {
    /// The conversation's id.
    pub id: ConversationId,
    /// Group or 1:1 (protocol §6.4).
    pub kind: ConversationKind,
    /// Its name, once a member sent the one the log commits to; `None` for a 1:1 and for a
    /// group whose current name has not arrived (shown as a placeholder, protocol §6.5).
    pub name: Option<String>,
    /// What to show it as: its name; for a 1:1 the other member's username; for a group whose
    /// name has not arrived the placeholder [`UNNAMED_GROUP`].
    pub title: String,
    /// Current epoch.
    pub epoch: u64,
    /// Members: (username from the directory, account, admin), protocol §6.6.
    pub members: Vec<(String, String, bool)>,
}

/// The title of a group whose current name has not arrived yet (protocol §6.5 rule 4): nothing
/// the server supplies, and not an older name.
pub const UNNAMED_GROUP: &str = "(unnamed group)";

/// The protocol body for a stored name.
pub(crate) fn reveal_of(known: &KnownName) -> Result<NameReveal> {
    let salt: [u8; NAME_SALT_LEN] =
        known
            .salt
            .bytes()?
            .as_slice()
            .try_into()
            .map_err(|_| Error::CorruptStore {
                reason: "group name salt",
            })?;
    Ok(NameReveal {
        epoch: known.epoch,
        salt,
        name: GroupName::new(known.name.as_str()).map_err(sotto_proto::Error::from)?,
    })
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
        entry.refused = None;
        Ok(())
    }

    /// Brings the group log of `conversation` up to date and returns the verified state.
    pub async fn sync_group(&mut self, conversation: ConversationId) -> Result<GroupState> {
        let token = self.access_token().await?;
        let mut state = self.load_group(&conversation)?;
        let since = state.as_ref().map_or(0, |g| g.epoch() + 1);
        let me = self.account_id()?;
        let mut membership = None;
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
            // Verified and applied: whether it took this account out (or back in).
            membership = membership_change(&body, me).or(membership);
        }
        let state = state.ok_or(Error::UnknownConversation {
            what: conversation.to_string(),
        })?;
        self.fresh.insert(conversation.to_string());
        self.store_group(&state)?;
        if let Some(change) = membership {
            self.note_membership(conversation, change);
        }
        self.save()?;
        Ok(state)
    }

    async fn own_verified_device(&mut self) -> Result<VerifiedDevice> {
        let me = self.account_id()?;
        let device = self.device()?;
        Ok(self.verified_device(me, device).await?.1)
    }

    /// A fresh name reveal for `name` set at `epoch` (protocol §6.5).
    fn new_reveal(&mut self, epoch: u64, name: &str) -> Result<NameReveal> {
        let name = GroupName::new(name).map_err(sotto_proto::Error::from)?;
        let salt = self.env()?.random::<NAME_SALT_LEN>()?;
        Ok(NameReveal { epoch, salt, name })
    }

    /// Remembers `reveal` as the name of `conversation`.
    fn remember_name(&mut self, conversation: ConversationId, reveal: &NameReveal) -> KnownName {
        let known = KnownName {
            epoch: reveal.epoch,
            salt: Secret::new(&reveal.salt),
            name: Zeroizing::new(reveal.name.as_str().to_owned()),
        };
        self.state
            .conversations
            .entry(conversation)
            .or_default()
            .name = Some(known.clone());
        self.note_for_backup(crate::engine::backup::Pending::GroupName(conversation));
        known
    }

    /// The members' entries for a genesis: this account as the admin, then each username.
    async fn genesis_members(
        &mut self,
        usernames: &[String],
        accept_new: bool,
    ) -> Result<Vec<Member>> {
        let me = self.account_id()?;
        let mut members = vec![Member {
            account: me,
            admin: true,
        }];
        for username in usernames {
            let peer = self.lookup(Who::Name(username), accept_new).await?;
            if members.iter().any(|m| m.account == peer.identity.account()) {
                continue;
            }
            members.push(Member {
                account: peer.identity.account(),
                admin: false,
            });
        }
        Ok(members)
    }

    /// Signs, checks and publishes a genesis; returns the verified state.
    async fn publish_genesis(
        &mut self,
        conversation: ConversationId,
        kind: CreateKind,
        members: Vec<Member>,
    ) -> Result<GroupState> {
        let me = self.account_id()?;
        let keys = self.device_keys()?;
        let genesis = GroupState::create(conversation, kind, members, me, &keys, self.now()?)?;
        let signer = self.own_verified_device().await?;
        let state = GroupState::genesis(&genesis, &signer)?;
        let token = self.access_token().await?;
        self.api
            .create_conversation(&token, &genesis.encode())
            .await?;
        self.store_group(&state)?;
        self.save()?;
        Ok(state)
    }

    /// Creates a group named `name` with `usernames` (this account is its admin). The server
    /// sees a commitment to the name; the name itself goes to the members encrypted, as the
    /// group's first message (protocol §6.5 rule 1).
    pub async fn create_group(
        &mut self,
        name: &str,
        usernames: &[String],
        accept_new: bool,
    ) -> Result<ConversationId> {
        let reveal = self.new_reveal(0, name)?;
        let members = self.genesis_members(usernames, accept_new).await?;
        let conversation = ConversationId::from_bytes(self.random16()?);
        let kind = CreateKind::Group {
            name: reveal.commitment(conversation),
        };
        self.publish_genesis(conversation, kind, members).await?;
        let known = self.remember_name(conversation, &reveal);
        self.save()?;
        self.queue(conversation, OutgoingBody::GroupName(known))
            .await?;
        Ok(conversation)
    }

    /// Creates the 1:1 with `username` (protocol §6.4): kind Direct, no name.
    async fn create_direct(&mut self, username: &str, accept_new: bool) -> Result<ConversationId> {
        let members = self
            .genesis_members(&[username.to_owned()], accept_new)
            .await?;
        if members.len() != 2 {
            return Err(Error::InvalidInput {
                field: "1:1 conversation",
                reason: "needs an account other than this one",
            });
        }
        let conversation = ConversationId::from_bytes(self.random16()?);
        self.publish_genesis(conversation, CreateKind::Direct, members)
            .await?;
        Ok(conversation)
    }

    /// Applies the change `make` builds against the current state, retrying once if someone
    /// else changed the group at the same epoch; returns the new state.
    pub(crate) async fn change_group(
        &mut self,
        conversation: ConversationId,
        make: impl Fn(&GroupState) -> GroupOp,
    ) -> Result<GroupState> {
        match self.try_change_group(conversation, &make).await {
            // Someone else changed the group at the same epoch: catch up and try once more.
            Err(Error::Api {
                code: crate::api::ErrorCode::Conflict,
                ..
            }) => self.try_change_group(conversation, &make).await,
            other => other,
        }
    }

    async fn try_change_group(
        &mut self,
        conversation: ConversationId,
        make: &impl Fn(&GroupState) -> GroupOp,
    ) -> Result<GroupState> {
        let group = self.sync_group(conversation).await?;
        let me = self.account_id()?;
        if !group.is_member(&me) {
            return Err(Error::NotMember);
        }
        let keys = self.device_keys()?;
        let change = group.propose(make(&group), me, &keys, self.now()?)?;
        let signer = self.own_verified_device().await?;
        let next = group.apply(&change, &signer)?;
        let token = self.access_token().await?;
        self.api
            .append_change(&token, conversation, &change.encode())
            .await?;
        self.store_group(&next)?;
        self.save()?;
        Ok(next)
    }

    /// The name this device knows for the current commitment of `group`, if any.
    pub(crate) fn current_name(&self, group: &GroupState) -> Option<&KnownName> {
        let naming = group.naming()?;
        self.state
            .conversations
            .get(&group.conversation())
            .and_then(|c| c.name.as_ref())
            .filter(|known| known.epoch == naming.epoch)
    }

    /// Adds `username` to a group (admins only); returns the new epoch. The new member gets
    /// chain keys from this epoch on only, so the group's current name, if this device knows
    /// it, is sent again (protocol §6.5 rule 2).
    pub async fn add_member(
        &mut self,
        conversation: ConversationId,
        username: &str,
        accept_new: bool,
    ) -> Result<u64> {
        let peer = self.lookup(Who::Name(username), accept_new).await?;
        let member = Member {
            account: peer.identity.account(),
            admin: false,
        };
        let next = self
            .change_group(conversation, |_| GroupOp::AddMember(member))
            .await?;
        if let Some(known) = self.current_name(&next).cloned() {
            self.queue(conversation, OutgoingBody::GroupName(known))
                .await?;
        }
        Ok(next.epoch())
    }

    /// Renames a group (admins only); returns the new epoch. The log gets a new commitment,
    /// the members the name (protocol §6.5 rule 1).
    pub async fn rename_group(&mut self, conversation: ConversationId, name: &str) -> Result<u64> {
        // One salt for both tries: only the epoch, hence the commitment, may differ.
        let first = self.new_reveal(0, name)?;
        let make = |group: &GroupState| GroupOp::Rename {
            name: NameReveal {
                epoch: group.next_epoch(),
                ..first.clone()
            }
            .commitment(conversation),
        };
        let next = self.change_group(conversation, make).await?;
        let reveal = NameReveal {
            epoch: next.epoch(),
            ..first
        };
        let known = self.remember_name(conversation, &reveal);
        self.save()?;
        self.queue(conversation, OutgoingBody::GroupName(known))
            .await?;
        Ok(next.epoch())
    }

    /// Removes `username` from a group (admins, or oneself); returns the new epoch. The
    /// account is the one pinned for that username (the log names accounts only).
    pub async fn remove_member(
        &mut self,
        conversation: ConversationId,
        username: &str,
    ) -> Result<u64> {
        let group = self.sync_group(conversation).await?;
        let account = self
            .lookup(Who::Name(username), false)
            .await?
            .identity
            .account();
        if !group.is_member(&account) {
            return Err(Error::UnknownUser {
                username: username.to_owned(),
            });
        }
        let next = self
            .change_group(conversation, |_| GroupOp::RemoveMember { account })
            .await?;
        Ok(next.epoch())
    }

    /// A GroupName body received in `conversation` from a member (protocol §6.5 rule 3): kept
    /// if it opens the verified log's current commitment, ignored if replaced since, refused
    /// (`group/name-mismatch`) otherwise.
    pub(crate) fn accept_name(
        &mut self,
        group: &GroupState,
        reveal: &NameReveal,
    ) -> std::result::Result<(), sotto_proto::GroupError> {
        match group.check_name(reveal)? {
            NameCheck::Current => {
                self.remember_name(group.conversation(), reveal);
            }
            NameCheck::Superseded => {}
        }
        Ok(())
    }

    /// Learns every conversation the server lists for this account. A conversation whose log
    /// the server answers with something that does not verify is left at its last verified state
    /// (unknown if it had none) and marked refused with the reason: one tampered log must not
    /// stop the user from reaching everyone else. Using that conversation still fails with the
    /// reason (protocol §9.4, D23). A transport failure fails the whole refresh.
    pub async fn refresh_conversations(&mut self) -> Result<()> {
        let token = self.access_token().await?;
        for conversation in self.api.conversations(&token).await? {
            match self.sync_group(conversation).await {
                Ok(_) => {}
                Err(refused) if refused.is_refused_answer() => {
                    let reason = match &refused {
                        Error::Protocol(e) => e.code().to_owned(),
                        Error::Decode(e) => e.code().to_owned(),
                        other => other.to_string(),
                    };
                    let entry = self.state.conversations.entry(conversation).or_default();
                    entry.refused = Some(reason);
                    self.save()?;
                }
                Err(other) => return Err(other),
            }
        }
        Ok(())
    }

    /// Conversations the server lists whose log this device refused when it last fetched it,
    /// with the reason (a protocol code such as `decode/unknown-tag` or `group/fork`). One
    /// never verified (a genesis that does not verify) is in [`Client::conversations`] never;
    /// one verified before is listed there at its last verified state, as well.
    pub fn refused_conversations(&self) -> Vec<(ConversationId, String)> {
        self.state
            .conversations
            .iter()
            .filter_map(|(id, c)| c.refused.clone().map(|reason| (*id, reason)))
            .collect()
    }

    /// Every conversation this device knows and still belongs to, at its last verified state;
    /// requests not accepted yet are left out (`Client::requests` lists those).
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
                out.push(self.info(&group).await?);
            }
        }
        Ok(out)
    }

    /// One conversation, brought up to date. One this account was removed from (or left) is
    /// that error, saying who removed it.
    pub async fn conversation(&mut self, conversation: ConversationId) -> Result<ConversationInfo> {
        let group = self.sync_group(conversation).await?;
        if !group.is_member(&self.account_id()?) {
            return Err(match self.removal(conversation) {
                Some(removal) => self.removed_error(conversation, removal),
                None => Error::NotMember,
            });
        }
        self.info(&group).await
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
        self.create_direct(&peer.username, accept_new).await
    }

    /// The 1:1 with `them` this device holds (protocol §6.4). The map is ordered by id bytes
    /// (the order of their fixed-length lowercase hex text too), so the first match is the
    /// smallest id: the one both sides settle on when each created one.
    pub(crate) fn find_direct(&self, them: AccountId) -> Result<Option<ConversationId>> {
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

    /// The username to show for `account`: the pinned one, else the directory's (pinned on
    /// first use), else the account id (protocol §6.6).
    async fn member_name(&mut self, account: AccountId) -> String {
        if let Some(name) = self.username_of(account) {
            return name;
        }
        match self.lookup(Who::Account(account), false).await {
            Ok(peer) => peer.username,
            Err(_) => account.to_string(),
        }
    }

    async fn info(&mut self, group: &GroupState) -> Result<ConversationInfo> {
        let mut members = Vec::with_capacity(group.members().len());
        let accounts: Vec<(AccountId, bool)> =
            group.members().iter().map(|(a, m)| (*a, m.admin)).collect();
        for (account, admin) in accounts {
            let name = self.member_name(account).await;
            members.push((name, account.to_string(), admin));
        }
        let name = self.current_name(group).map(|k| k.name.to_string());
        let me = self.account_id()?.to_string();
        let title = match (group.kind(), &name) {
            (ConversationKind::Group, Some(name)) => name.clone(),
            (ConversationKind::Group, None) => UNNAMED_GROUP.to_owned(),
            (ConversationKind::Direct, _) => members
                .iter()
                .filter(|(_, account, _)| *account != me)
                .map(|(username, _, _)| username.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        };
        Ok(ConversationInfo {
            id: group.conversation(),
            kind: group.kind(),
            name,
            title,
            epoch: group.epoch(),
            members,
        })
    }
}

/// Whether the verified `group` is the 1:1 of `me` and `them` (protocol §6.4): created as a 1:1
/// and with exactly these two members, compared by account id. A group of the same two people
/// stays a group.
pub(crate) fn is_direct_between(group: &GroupState, me: AccountId, them: AccountId) -> bool {
    let members = group.members();
    me != them
        && group.kind() == ConversationKind::Direct
        && members.len() == 2
        && members.contains_key(&me)
        && members.contains_key(&them)
}

#[cfg(test)]
mod tests {
    use sotto_proto::testing::{group_kind, TestAccount, T0};

    use super::*;

    fn group(kind: CreateKind, creator: &TestAccount, members: Vec<Member>) -> GroupState {
        let signed = GroupState::create(
            ConversationId::from_bytes([7; 16]),
            kind,
            members,
            creator.master.account(),
            &creator.device.keys,
            T0,
        )
        .unwrap();
        GroupState::genesis(&signed, &creator.device.verified).unwrap()
    }

    #[test]
    fn a_direct_conversation_of_two_accounts_is_their_one_to_one_from_either_side() {
        let (alice, carol) = (TestAccount::new(0, "alice"), TestAccount::new(2, "carol"));
        let state = group(
            CreateKind::Direct,
            &alice,
            vec![alice.member(true), carol.member(false)],
        );
        let (a, c) = (alice.master.account(), carol.master.account());
        assert!(is_direct_between(&state, a, c));
        assert!(is_direct_between(&state, c, a));
        let bob = TestAccount::new(1, "bob");
        assert!(!is_direct_between(&state, a, bob.master.account()));
    }

    #[test]
    fn a_group_of_the_same_two_people_is_not_their_one_to_one_whatever_its_name() {
        let (alice, carol) = (TestAccount::new(0, "alice"), TestAccount::new(2, "carol"));
        let conversation = ConversationId::from_bytes([7; 16]);
        let state = group(
            group_kind(conversation, "alice & carol"),
            &alice,
            vec![alice.member(true), carol.member(false)],
        );
        assert!(!is_direct_between(
            &state,
            alice.master.account(),
            carol.master.account()
        ));
    }
}
