//! This account's own membership of groups: leaving (handing the admin right on first when it
//! is the last admin), promoting and demoting admins, and learning that it was removed
//! (protocol §6.3).
//!
//! A removal is learned from the verified log only: the server serves a former member the log
//! up to and including the change that removed it, so the client checks who signed it before
//! it says "removed by …". From then on nothing is queued for that conversation; what is
//! stored stays readable.

use sotto_proto::group::{GroupChange, GroupOp, GroupState};
use sotto_proto::ids::{AccountId, ConversationId};

use crate::client::Client;
use crate::error::{Error, Result};
use crate::groups::UNNAMED_GROUP;
use crate::peers::Who;
use crate::store::state::Removal;

/// What one verified change means for this account's membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MembershipChange {
    /// It took this account out.
    Removed(Removal),
    /// It added this account (back).
    Added,
}

/// What `change` (verified and applied) does to `me`'s membership, if anything.
pub(crate) fn membership_change(change: &GroupChange, me: AccountId) -> Option<MembershipChange> {
    match &change.op {
        GroupOp::RemoveMember { account } if *account == me => {
            Some(MembershipChange::Removed(Removal {
                by: change.signer_account,
                epoch: change.epoch,
            }))
        }
        GroupOp::AddMember(member) if member.account == me => Some(MembershipChange::Added),
        GroupOp::Create { members, .. } if members.iter().any(|m| m.account == me) => {
            Some(MembershipChange::Added)
        }
        _ => None,
    }
}

impl Client {
    /// Records what a verified change did to this account's membership of `conversation`.
    pub(crate) fn note_membership(
        &mut self,
        conversation: ConversationId,
        change: MembershipChange,
    ) {
        let entry = self.state.conversations.entry(conversation).or_default();
        entry.removed = match change {
            MembershipChange::Removed(removal) => Some(removal),
            MembershipChange::Added => None,
        };
    }

    /// Refuses, from what this device stored, to send to a conversation this account no longer
    /// belongs to: removed (with who did it) or no longer listed as a member.
    pub(crate) fn check_still_member(&self, conversation: ConversationId) -> Result<()> {
        let Some(stored) = self.state.conversations.get(&conversation) else {
            return Ok(());
        };
        if let Some(removal) = stored.removed {
            return Err(self.removed_error(conversation, removal));
        }
        if stored.group.is_some() && !stored.member {
            return Err(Error::NotMember);
        }
        Ok(())
    }

    /// How this account left `conversation`, if it did (learned from the verified log).
    pub fn removal(&self, conversation: ConversationId) -> Option<Removal> {
        self.state.conversations.get(&conversation)?.removed
    }

    /// The error for a conversation this account was removed from (or left).
    pub(crate) fn removed_error(&self, conversation: ConversationId, removal: Removal) -> Error {
        // Only the name of the log's current commitment, never an older one (§6.5 rule 4).
        let group = self
            .load_group(&conversation)
            .ok()
            .flatten()
            .and_then(|group| self.current_name(&group).map(|k| k.name.to_string()))
            .unwrap_or_else(|| UNNAMED_GROUP.to_owned());
        let me = self.account_id().ok();
        Error::Removed {
            group,
            by: self
                .username_of(removal.by)
                .unwrap_or_else(|| removal.by.to_string()),
            left: me == Some(removal.by),
        }
    }

    /// Leaves `conversation` (a RemoveMember of this account). The last admin of a group with
    /// other members must first hand the admin right on: `new_admin` names the member to
    /// promote (before leaving); without it the leave is refused with the members to choose
    /// from ([`Error::LastAdmin`]). Returns the epoch of the leave.
    pub async fn leave_group(
        &mut self,
        conversation: ConversationId,
        new_admin: Option<&str>,
    ) -> Result<u64> {
        let group = self.sync_group(conversation).await?;
        let me = self.account_id()?;
        if !group.is_member(&me) {
            return Err(Error::NotMember);
        }
        if let Some(username) = new_admin {
            let account = self.member_account(&group, username).await?;
            if !group.is_admin(&account) {
                self.change_group(conversation, |_| GroupOp::SetAdmin {
                    account,
                    admin: true,
                })
                .await?;
            }
        } else if last_admin_with_others(&group, me) {
            let mut members = Vec::new();
            let others: Vec<AccountId> = group
                .members()
                .keys()
                .copied()
                .filter(|a| *a != me)
                .collect();
            for account in others {
                members.push(
                    self.username_of(account)
                        .unwrap_or_else(|| account.to_string()),
                );
            }
            return Err(Error::LastAdmin { members });
        }
        let next = self
            .change_group(conversation, |_| GroupOp::RemoveMember { account: me })
            .await?;
        self.note_membership(
            conversation,
            MembershipChange::Removed(Removal {
                by: me,
                epoch: next.epoch(),
            }),
        );
        self.state
            .waiting_amendments
            .forget_conversation(conversation);
        self.save()?;
        Ok(next.epoch())
    }

    /// Promotes (`admin`) or demotes `username`, a member of `conversation` (admins only);
    /// returns the new epoch. Demoting the last admin of a group with other members is refused
    /// by the group rules (`group/last-admin`).
    pub async fn set_admin(
        &mut self,
        conversation: ConversationId,
        username: &str,
        admin: bool,
    ) -> Result<u64> {
        let group = self.sync_group(conversation).await?;
        let account = self.member_account(&group, username).await?;
        let next = self
            .change_group(conversation, |_| GroupOp::SetAdmin { account, admin })
            .await?;
        Ok(next.epoch())
    }

    /// The account of `username`, which must be a member of `group`.
    async fn member_account(&mut self, group: &GroupState, username: &str) -> Result<AccountId> {
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
        Ok(account)
    }
}

/// Whether `me` is the only admin of `group` while others remain: its leave would leave members
/// without an admin (`group/last-admin`, §6.3).
pub(crate) fn last_admin_with_others(group: &GroupState, me: AccountId) -> bool {
    let members = group.members();
    let others = members.keys().any(|a| *a != me);
    let other_admin = members.iter().any(|(a, m)| *a != me && m.admin);
    group.is_admin(&me) && others && !other_admin
}

#[cfg(test)]
mod tests {
    use sotto_proto::group::{CreateKind, Member};
    use sotto_proto::testing::{group_kind, TestAccount, T0};

    use super::*;

    fn group(creator: &TestAccount, members: Vec<Member>) -> GroupState {
        let conversation = ConversationId::from_bytes([7; 16]);
        let kind: CreateKind = group_kind(conversation, "team");
        let signed = GroupState::create(
            conversation,
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
    fn the_only_admin_with_other_members_must_hand_the_right_on_before_leaving() {
        let (alice, bob, carol) = (
            TestAccount::new(0, "alice"),
            TestAccount::new(1, "bob"),
            TestAccount::new(2, "carol"),
        );
        let state = group(&alice, vec![alice.member(true), bob.member(false)]);
        assert!(last_admin_with_others(&state, alice.master.account()));
        assert!(!last_admin_with_others(&state, bob.master.account()));
        let two_admins = group(&alice, vec![alice.member(true), carol.member(true)]);
        assert!(!last_admin_with_others(&two_admins, alice.master.account()));
        let alone = group(&alice, vec![alice.member(true)]);
        assert!(!last_admin_with_others(&alone, alice.master.account()));
    }
}
