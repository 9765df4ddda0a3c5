//! The group-change structure, byte for byte (`docs/protocol.md` §6).
//!
//! A change names its conversation, the epoch it creates, the hash of the change it follows, the
//! account and device that sign it, and one operation. Epoch 0 is the genesis (`Create`); every
//! later change extends the head by exactly one epoch.

use crate::codec::{Reader, Writer};
use crate::domain::Domain;
use crate::env::Timestamp;
use crate::error::DecodeError;
use crate::group::name::NameCommitment;
use crate::group::retention::Retention;
use crate::ids::{AccountId, ConversationId, DeviceId};
use crate::limits::MAX_MEMBERS;

/// One member as the log records it: an account and its right, no name. Clients show the name
/// the directory gives the account (`docs/protocol.md` §6.6), so no signer can label a member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Member {
    /// The member's account (the hash of its master key: the state pins identities).
    pub account: AccountId,
    /// Whether the member may sign changes.
    pub admin: bool,
}

impl Member {
    fn encode(&self, w: &mut Writer) {
        self.account.encode(w);
        w.bool(self.admin);
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            account: AccountId::decode(r)?,
            admin: r.bool()?,
        })
    }
}

/// What a genesis creates (`docs/protocol.md` §6.1, §6.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreateKind {
    /// A group, named by a commitment (§6.5).
    Group {
        /// The commitment to its name at epoch 0.
        name: NameCommitment,
    },
    /// The 1:1 of its two members: never named, never joined.
    Direct,
}

impl CreateKind {
    const GROUP: u8 = 0x01;
    const DIRECT: u8 = 0x02;

    fn encode(&self, w: &mut Writer) {
        match self {
            Self::Group { name } => {
                w.u8(Self::GROUP);
                w.fixed(name.as_bytes());
            }
            Self::Direct => w.u8(Self::DIRECT),
        }
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8()? {
            Self::GROUP => Ok(Self::Group {
                name: NameCommitment(r.array()?),
            }),
            Self::DIRECT => Ok(Self::Direct),
            tag => Err(DecodeError::UnknownTag {
                field: "conversation kind",
                tag,
            }),
        }
    }
}

/// What a change does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupOp {
    /// Genesis: the kind and the first members (the signer among them, as an admin).
    Create {
        /// Group (with its name commitment) or 1:1.
        kind: CreateKind,
        /// The first members.
        members: Vec<Member>,
    },
    /// Adds a member.
    AddMember(Member),
    /// Removes a member (an admin removing anyone, or a member leaving).
    RemoveMember {
        /// The account removed.
        account: AccountId,
    },
    /// Promotes (`admin: true`) or demotes a member.
    SetAdmin {
        /// The member.
        account: AccountId,
        /// The new right.
        admin: bool,
    },
    /// Renames the conversation: a new commitment, the name itself travels to the members.
    Rename {
        /// The commitment to the new name at this change's epoch.
        name: NameCommitment,
    },
    /// Sets how long the conversation's messages are kept (§6.7).
    SetRetention {
        /// The new retention.
        retention: Retention,
    },
}

impl GroupOp {
    const REMOVE: u8 = 0x03;
    const SET_ADMIN: u8 = 0x04;
    const CREATE: u8 = 0x06;
    const ADD: u8 = 0x07;
    const RENAME: u8 = 0x08;
    const SET_RETENTION: u8 = 0x09;
    /// Tags of the earlier encoding that carried names in clear (Create `0x01`, AddMember
    /// `0x02`, Rename `0x05`): refused as unknown, never reused (§6.1).
    pub const RETIRED: [u8; 3] = [0x01, 0x02, 0x05];

    fn encode(&self, w: &mut Writer) {
        match self {
            Self::Create { kind, members } => {
                w.u8(Self::CREATE);
                kind.encode(w);
                w.count(members.len());
                for member in members {
                    member.encode(w);
                }
            }
            Self::AddMember(member) => {
                w.u8(Self::ADD);
                member.encode(w);
            }
            Self::RemoveMember { account } => {
                w.u8(Self::REMOVE);
                account.encode(w);
            }
            Self::SetAdmin { account, admin } => {
                w.u8(Self::SET_ADMIN);
                account.encode(w);
                w.bool(*admin);
            }
            Self::Rename { name } => {
                w.u8(Self::RENAME);
                w.fixed(name.as_bytes());
            }
            Self::SetRetention { retention } => {
                w.u8(Self::SET_RETENTION);
                w.u64(retention.secs());
            }
        }
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8()? {
            Self::CREATE => {
                let kind = CreateKind::decode(r)?;
                let count = r.count("members", MAX_MEMBERS)?;
                let members = (0..count)
                    .map(|_| Member::decode(r))
                    .collect::<Result<_, _>>()?;
                Ok(Self::Create { kind, members })
            }
            Self::ADD => Ok(Self::AddMember(Member::decode(r)?)),
            Self::REMOVE => Ok(Self::RemoveMember {
                account: AccountId::decode(r)?,
            }),
            Self::SET_ADMIN => Ok(Self::SetAdmin {
                account: AccountId::decode(r)?,
                admin: r.bool()?,
            }),
            Self::RENAME => Ok(Self::Rename {
                name: NameCommitment(r.array()?),
            }),
            Self::SET_RETENTION => Ok(Self::SetRetention {
                retention: Retention::from_secs(r.u64()?)?,
            }),
            // The retired tags fall here too: unknown from now on.
            tag => Err(DecodeError::UnknownTag {
                field: "group operation",
                tag,
            }),
        }
    }
}

/// A group change body, signed by a device of an admin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupChange {
    /// The conversation.
    pub conversation: ConversationId,
    /// The epoch this change creates (0 for the genesis).
    pub epoch: u64,
    /// The hash of the change this one follows (all zero for the genesis).
    pub previous: [u8; 32],
    /// The signer's account.
    pub signer_account: AccountId,
    /// The signer's device.
    pub signer_device: DeviceId,
    /// When the signer made it (display only).
    pub issued_at: Timestamp,
    /// What it does.
    pub op: GroupOp,
}

impl GroupChange {
    /// The canonical encoding (what the signer signs).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::for_domain(Domain::GroupChange);
        self.conversation.encode(&mut w);
        w.u64(self.epoch);
        w.fixed(&self.previous);
        self.signer_account.encode(&mut w);
        self.signer_device.encode(&mut w);
        w.u64(self.issued_at.millis());
        self.op.encode(&mut w);
        w.finish()
    }

    /// Decodes a body.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::for_domain(bytes, Domain::GroupChange)?;
        let change = Self {
            conversation: ConversationId::decode(&mut r)?,
            epoch: r.u64()?,
            previous: r.array()?,
            signer_account: AccountId::decode(&mut r)?,
            signer_device: DeviceId::decode(&mut r)?,
            issued_at: Timestamp(r.u64()?),
            op: GroupOp::decode(&mut r)?,
        };
        r.finish()?;
        Ok(change)
    }
}
