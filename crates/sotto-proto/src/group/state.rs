//! The verified group state and the rules for moving it forward (`docs/protocol.md` §6).
//!
//! [`GroupState::apply`] never mutates: it returns the next state or a [`GroupError`], so a refused
//! change leaves nothing half-applied. The checks, in order: the change decodes; it is for this
//! conversation; the device presented is the one the change names; its signature verifies; its
//! epoch is exactly the next one (an applied epoch with the same hash is a replay, with another
//! hash a fork; a later one is a gap); it names the current head's hash; the signer's account is a
//! member and, except for leaving, an admin *before* the change; the operation makes sense.
//!
//! The state holds no name: a Group conversation's name is a commitment (§6.5) that
//! [`GroupState::check_name`] compares a received name with.

use std::collections::BTreeMap;

use crate::codec::{Reader, Writer};
use crate::crypto::sha256;
use crate::domain::Domain;
use crate::env::Timestamp;
use crate::error::{DecodeError, Error, GroupError};
use crate::group::change::{CreateKind, GroupChange, GroupOp, Member};
use crate::group::name::{NameCheck, NameCommitment, NameReveal};
use crate::group::retention::Retention;
use crate::identity::{DeviceKeys, VerifiedDevice};
use crate::ids::{AccountId, ConversationId};
use crate::limits::{MAX_GROUP_CHANGE_LEN, MAX_MEMBERS};
use crate::signed::Signed;

/// Local encoding of a group's naming: a commitment follows.
const LOCAL_GROUP: u8 = 0x01;
/// Local encoding of a 1:1: no naming.
const LOCAL_DIRECT: u8 = 0x02;

/// Epochs a locally stored state may record.
const MAX_LOCAL_EPOCHS: usize = 10_000_000;

/// The hash that identifies an applied change: `SHA-256(domain("sotto/group-hash") ‖ wire form)`.
pub fn change_hash(signed: &Signed) -> [u8; 32] {
    let mut w = Writer::for_domain(Domain::GroupHash);
    signed.encode_into(&mut w);
    sha256(&w.finish())
}

/// Decodes a signed change from its wire form, within the size bound.
pub fn decode_signed_change(bytes: &[u8]) -> Result<Signed, Error> {
    Ok(Signed::decode(bytes, MAX_GROUP_CHANGE_LEN)?)
}

/// Members of a 1:1 (`docs/protocol.md` §6.4).
const DIRECT_MEMBERS: usize = 2;

/// What a member looks like in the state (its name is the directory's, §6.6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberState {
    /// Whether the member may sign changes.
    pub admin: bool,
    /// The epoch at which the member joined.
    pub since_epoch: u64,
}

/// Whether a conversation is a group or a 1:1 (`docs/protocol.md` §6.4), fixed by its genesis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConversationKind {
    /// A named group.
    Group,
    /// The 1:1 of its two members.
    Direct,
}

/// The commitment to a group's current name and the epoch of the change that set it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Naming {
    /// The epoch of the Create or Rename.
    pub epoch: u64,
    /// The commitment it carries.
    pub commitment: NameCommitment,
}

/// A conversation's state after a verified log of changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupState {
    conversation: ConversationId,
    /// `None` for a 1:1, which has no name.
    naming: Option<Naming>,
    members: BTreeMap<AccountId, MemberState>,
    /// The hash of each applied change, indexed by epoch: the head is the last one, and earlier
    /// ones tell a replay from a fork.
    hashes: Vec<[u8; 32]>,
    /// The retention the last SetRetention set; `None` before any (the server default applies).
    retention: Option<Retention>,
    /// The epochs former members were members at, `from..until` (removed by the change at
    /// `until`), so that [`GroupState::was_member_at`] answers for any applied epoch.
    past_members: Vec<PastMembership>,
}

/// A span of epochs an account was a member at before it was removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PastMembership {
    /// The account.
    pub account: AccountId,
    /// The epoch it joined at.
    pub from_epoch: u64,
    /// The epoch of the change that removed it (no longer a member at it).
    pub until_epoch: u64,
}

impl GroupState {
    /// Verifies a genesis change signed by `signer` and returns epoch 0.
    pub fn genesis(signed: &Signed, signer: &VerifiedDevice) -> Result<Self, Error> {
        let change = GroupChange::decode(signed.unverified_body())?;
        check_signer(&change, signed, signer)?;
        let GroupOp::Create { kind, members } = &change.op else {
            return Err(GroupError::NotGenesis.into());
        };
        if change.epoch != 0 || change.previous != [0u8; 32] {
            return Err(GroupError::NotGenesis.into());
        }
        if members.len() > MAX_MEMBERS {
            return Err(GroupError::TooManyMembers { max: MAX_MEMBERS }.into());
        }
        let mut state = BTreeMap::new();
        for member in members {
            let entry = MemberState {
                admin: member.admin,
                since_epoch: 0,
            };
            if state.insert(member.account, entry).is_some() {
                return Err(GroupError::AlreadyMember.into());
            }
        }
        let naming = match kind {
            CreateKind::Group { name } => Some(Naming {
                epoch: 0,
                commitment: *name,
            }),
            CreateKind::Direct if state.len() == DIRECT_MEMBERS => None,
            CreateKind::Direct => return Err(GroupError::DirectConversation.into()),
        };
        match state.get(&change.signer_account) {
            None => return Err(GroupError::SignerNotMember.into()),
            Some(m) if !m.admin => return Err(GroupError::SignerNotAdmin.into()),
            Some(_) => {}
        }
        Ok(Self {
            conversation: change.conversation,
            naming,
            members: state,
            hashes: vec![change_hash(signed)],
            retention: None,
            past_members: Vec::new(),
        })
    }

    /// Verifies `signed`, made by `signer`, against this state and returns the next state.
    pub fn apply(&self, signed: &Signed, signer: &VerifiedDevice) -> Result<Self, Error> {
        let change = GroupChange::decode(signed.unverified_body())?;
        if change.conversation != self.conversation {
            return Err(GroupError::WrongConversation {
                expected: self.conversation,
            }
            .into());
        }
        check_signer(&change, signed, signer)?;
        self.check_position(&change, signed)?;
        let actor = self
            .members
            .get(&change.signer_account)
            .ok_or(GroupError::SignerNotMember)?;
        let leaving = matches!(change.op, GroupOp::RemoveMember { account } if account == change.signer_account);
        // Either member of a 1:1 decides its retention: it has no admin to ask (§6.3 step 5).
        let direct_retention = self.kind() == ConversationKind::Direct
            && matches!(change.op, GroupOp::SetRetention { .. });
        if !actor.admin && !leaving && !direct_retention {
            return Err(GroupError::SignerNotAdmin.into());
        }
        let mut next = self.clone();
        next.apply_op(&change.op, change.epoch)?;
        next.hashes.push(change_hash(signed));
        Ok(next)
    }

    fn check_position(&self, change: &GroupChange, signed: &Signed) -> Result<(), GroupError> {
        let epoch = self.epoch();
        if change.epoch <= epoch {
            let applied = usize::try_from(change.epoch)
                .ok()
                .and_then(|i| self.hashes.get(i));
            return Err(if applied == Some(&change_hash(signed)) {
                GroupError::Replayed {
                    epoch: change.epoch,
                }
            } else {
                GroupError::Fork {
                    epoch: change.epoch,
                }
            });
        }
        if change.epoch != epoch + 1 {
            return Err(GroupError::EpochGap {
                expected: epoch + 1,
                got: change.epoch,
            });
        }
        if change.previous != self.head() {
            return Err(GroupError::PreviousHashMismatch);
        }
        Ok(())
    }

    fn apply_op(&mut self, op: &GroupOp, epoch: u64) -> Result<(), GroupError> {
        match op {
            GroupOp::Create { .. } => return Err(GroupError::NotGenesis),
            GroupOp::AddMember(Member { account, admin }) => {
                if self.kind() == ConversationKind::Direct {
                    return Err(GroupError::DirectConversation);
                }
                if self.members.contains_key(account) {
                    return Err(GroupError::AlreadyMember);
                }
                if self.members.len() >= MAX_MEMBERS {
                    return Err(GroupError::TooManyMembers { max: MAX_MEMBERS });
                }
                self.members.insert(
                    *account,
                    MemberState {
                        admin: *admin,
                        since_epoch: epoch,
                    },
                );
            }
            GroupOp::RemoveMember { account } => {
                let removed = self.members.remove(account).ok_or(GroupError::NotMember)?;
                self.past_members.push(PastMembership {
                    account: *account,
                    from_epoch: removed.since_epoch,
                    until_epoch: epoch,
                });
                self.check_admin_left()?;
            }
            GroupOp::SetAdmin { account, admin } => {
                let member = self.members.get_mut(account).ok_or(GroupError::NotMember)?;
                if member.admin == *admin {
                    return Err(GroupError::NoOp);
                }
                member.admin = *admin;
                self.check_admin_left()?;
            }
            GroupOp::Rename { name } => {
                let naming = self.naming.as_mut().ok_or(GroupError::DirectConversation)?;
                if naming.commitment == *name {
                    return Err(GroupError::NoOp);
                }
                *naming = Naming {
                    epoch,
                    commitment: *name,
                };
            }
            GroupOp::SetRetention { retention } => {
                if self.retention == Some(*retention) {
                    return Err(GroupError::NoOp);
                }
                self.retention = Some(*retention);
            }
        }
        Ok(())
    }

    /// A group with members keeps at least one admin; an empty group (everyone left) is final.
    fn check_admin_left(&self) -> Result<(), GroupError> {
        if !self.members.is_empty() && !self.members.values().any(|m| m.admin) {
            return Err(GroupError::LastAdmin);
        }
        Ok(())
    }

    /// Builds and signs the genesis of a new conversation. The signer must be among `members`
    /// as an admin; the caller applies the result with [`GroupState::genesis`].
    pub fn create(
        conversation: ConversationId,
        kind: CreateKind,
        members: Vec<Member>,
        signer_account: AccountId,
        signer: &DeviceKeys,
        now: Timestamp,
    ) -> Result<Signed, Error> {
        let change = GroupChange {
            conversation,
            epoch: 0,
            previous: [0u8; 32],
            signer_account,
            signer_device: signer.device(),
            issued_at: now,
            op: GroupOp::Create { kind, members },
        };
        Signed::sign(change.encode(), signer.signing())
    }

    /// Builds and signs the change that moves this state forward by `op`. The caller applies
    /// the result with [`GroupState::apply`] before publishing it.
    pub fn propose(
        &self,
        op: GroupOp,
        signer_account: AccountId,
        signer: &DeviceKeys,
        now: Timestamp,
    ) -> Result<Signed, Error> {
        let change = GroupChange {
            conversation: self.conversation,
            epoch: self.next_epoch(),
            previous: self.head(),
            signer_account,
            signer_device: signer.device(),
            issued_at: now,
            op,
        };
        Signed::sign(change.encode(), signer.signing())
    }

    /// The verified state for the device's local store (it holds no secret, but only the device
    /// that verified it should trust it: keep it in the store, never accept it from the network).
    pub fn encode_local(&self) -> Vec<u8> {
        let mut w = Writer::for_domain(Domain::LocalGroupState);
        self.conversation.encode(&mut w);
        match &self.naming {
            Some(naming) => {
                w.u8(LOCAL_GROUP);
                w.u64(naming.epoch);
                w.fixed(naming.commitment.as_bytes());
            }
            None => w.u8(LOCAL_DIRECT),
        }
        w.count(self.members.len());
        for (account, member) in &self.members {
            account.encode(&mut w);
            w.bool(member.admin);
            w.u64(member.since_epoch);
        }
        w.u32(u32::try_from(self.hashes.len()).unwrap_or(u32::MAX));
        for hash in &self.hashes {
            w.fixed(hash);
        }
        // Appended after the fields of the first local format, so states stored before
        // retention and past members existed still load (as "never set", "none known").
        match self.retention {
            None => w.u8(0),
            Some(retention) => {
                w.u8(1);
                w.u64(retention.secs());
            }
        }
        w.u32(u32::try_from(self.past_members.len()).unwrap_or(u32::MAX));
        for past in &self.past_members {
            past.account.encode(&mut w);
            w.u64(past.from_epoch);
            w.u64(past.until_epoch);
        }
        w.finish()
    }

    /// Reads a state written by [`encode_local`](Self::encode_local).
    pub fn decode_local(bytes: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::for_domain(bytes, Domain::LocalGroupState)?;
        let conversation = ConversationId::decode(&mut r)?;
        let naming = match r.u8()? {
            LOCAL_GROUP => Some(Naming {
                epoch: r.u64()?,
                commitment: NameCommitment(r.array()?),
            }),
            LOCAL_DIRECT => None,
            tag => {
                return Err(DecodeError::UnknownTag {
                    field: "conversation kind",
                    tag,
                }
                .into())
            }
        };
        let count = r.count("members", MAX_MEMBERS)?;
        let mut members = BTreeMap::new();
        for _ in 0..count {
            let account = AccountId::decode(&mut r)?;
            let member = MemberState {
                admin: r.bool()?,
                since_epoch: r.u64()?,
            };
            members.insert(account, member);
        }
        let epochs = r.u32()? as usize;
        if epochs == 0 || epochs > MAX_LOCAL_EPOCHS {
            return Err(DecodeError::InvalidValue { field: "epochs" }.into());
        }
        let hashes = (0..epochs)
            .map(|_| r.array())
            .collect::<Result<Vec<_>, _>>()?;
        let (retention, past_members) = if r.remaining() == 0 {
            // A state stored before these fields existed.
            (None, Vec::new())
        } else {
            let retention = match r.u8()? {
                0 => None,
                1 => Some(Retention::from_secs(r.u64()?)?),
                tag => {
                    return Err(DecodeError::UnknownTag {
                        field: "retention",
                        tag,
                    }
                    .into())
                }
            };
            let count = r.u32()? as usize;
            if count > MAX_LOCAL_EPOCHS {
                return Err(DecodeError::TooMany {
                    field: "past members",
                    max: MAX_LOCAL_EPOCHS,
                }
                .into());
            }
            let past = (0..count)
                .map(|_| {
                    Ok(PastMembership {
                        account: AccountId::decode(&mut r)?,
                        from_epoch: r.u64()?,
                        until_epoch: r.u64()?,
                    })
                })
                .collect::<Result<Vec<_>, DecodeError>>()?;
            (retention, past)
        };
        r.finish()?;
        Ok(Self {
            conversation,
            naming,
            members,
            hashes,
            retention,
            past_members,
        })
    }

    /// The conversation.
    pub fn conversation(&self) -> ConversationId {
        self.conversation
    }

    /// The current epoch.
    pub fn epoch(&self) -> u64 {
        // `hashes` holds one entry per applied change and never starts empty.
        self.hashes.len().saturating_sub(1) as u64
    }

    /// The hash of the last applied change.
    pub fn head(&self) -> [u8; 32] {
        self.hashes.last().copied().unwrap_or([0u8; 32])
    }

    /// The hash applied at `epoch`, if it has been.
    pub fn hash_at(&self, epoch: u64) -> Option<[u8; 32]> {
        usize::try_from(epoch)
            .ok()
            .and_then(|i| self.hashes.get(i))
            .copied()
    }

    /// The epoch the next change creates.
    pub fn next_epoch(&self) -> u64 {
        self.epoch() + 1
    }

    /// Group or 1:1.
    pub fn kind(&self) -> ConversationKind {
        match self.naming {
            Some(_) => ConversationKind::Group,
            None => ConversationKind::Direct,
        }
    }

    /// The commitment to the current name and the epoch that set it (`None` for a 1:1).
    pub fn naming(&self) -> Option<Naming> {
        self.naming
    }

    /// Whether `reveal`, received in this conversation, names it (§6.5 rule 3): it opens the
    /// current commitment ([`NameCheck::Current`]), or is for a name replaced since
    /// ([`NameCheck::Superseded`]); anything else is `group/name-mismatch`.
    pub fn check_name(&self, reveal: &NameReveal) -> Result<NameCheck, GroupError> {
        let naming = self.naming.ok_or(GroupError::NameMismatch)?;
        if reveal.epoch < naming.epoch {
            return Ok(NameCheck::Superseded);
        }
        if reveal.epoch == naming.epoch && reveal.commitment(self.conversation) == naming.commitment
        {
            return Ok(NameCheck::Current);
        }
        Err(GroupError::NameMismatch)
    }

    /// The members, by account.
    pub fn members(&self) -> &BTreeMap<AccountId, MemberState> {
        &self.members
    }

    /// Whether `account` is a member now.
    pub fn is_member(&self, account: &AccountId) -> bool {
        self.members.contains_key(account)
    }

    /// The retention the last SetRetention set, or `None` if none did (the server's default
    /// applies, §6.7).
    pub fn retention(&self) -> Option<Retention> {
        self.retention
    }

    /// The retention in force: the last SetRetention's, else `server_default` (the value the
    /// server publishes, §6.7).
    pub fn retention_or(&self, server_default: Retention) -> Retention {
        self.retention.unwrap_or(server_default)
    }

    /// Whether `account` was a member at `epoch` (§17.2 check 5): it joined at or before it and
    /// was not removed by then. A member removed and added again is answered span by span.
    /// Spans of members removed before this state's local encoding kept them are not known:
    /// such a member reads as never having been one, which refuses rather than accepts.
    pub fn was_member_at(&self, account: &AccountId, epoch: u64) -> bool {
        if epoch > self.epoch() {
            return false;
        }
        let now = self
            .members
            .get(account)
            .is_some_and(|m| m.since_epoch <= epoch);
        now || self
            .past_members
            .iter()
            .any(|p| p.account == *account && p.from_epoch <= epoch && epoch < p.until_epoch)
    }

    /// The spans of former members (see [`GroupState::was_member_at`]).
    pub fn past_members(&self) -> &[PastMembership] {
        &self.past_members
    }

    /// Whether `account` is an admin now.
    pub fn is_admin(&self, account: &AccountId) -> bool {
        self.members.get(account).is_some_and(|m| m.admin)
    }
}

/// The device presented must be the one named, of the account named, and its signature must
/// verify over exactly the received body.
fn check_signer(
    change: &GroupChange,
    signed: &Signed,
    signer: &VerifiedDevice,
) -> Result<(), Error> {
    if signer.device() != change.signer_device || signer.account() != change.signer_account {
        return Err(GroupError::SignerMismatch.into());
    }
    signed.verify("group change", signer.signing_key())?;
    Ok(())
}
