//! A group's name, kept from the server (`docs/protocol.md` §6.5).
//!
//! The log carries only a [`NameCommitment`]: a hash of the conversation, the epoch of the change
//! that sets the name, a random salt and the name. The salt keeps the server, which stores the
//! log, from testing guesses. The name and salt reach the members inside an encrypted message
//! body ([`NameReveal`], body kind `0x04`), and a receiver accepts the name only if it matches the
//! commitment its verified log holds for that epoch ([`crate::group::GroupState::check_name`]).

use std::fmt;

use crate::codec::{is_display_text, Reader, Writer};
use crate::crypto::sha256;
use crate::domain::Domain;
use crate::error::{DecodeError, GroupError};
use crate::ids::ConversationId;
use crate::limits::MAX_GROUP_NAME_LEN;

/// Bytes of the salt of a name commitment.
pub const NAME_SALT_LEN: usize = 32;

/// A conversation's name: display text (§4.8) of 1 to 128 bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct GroupName(String);

impl GroupName {
    const FIELD: &'static str = "group name";

    /// Checks `name` against §4.8 and the 128-byte bound (`group/invalid-text`).
    pub fn new(name: impl Into<String>) -> Result<Self, GroupError> {
        let name = name.into();
        if name.len() > MAX_GROUP_NAME_LEN || !is_display_text(&name) {
            return Err(GroupError::InvalidText { field: Self::FIELD });
        }
        Ok(Self(name))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        // The reader enforces the same rule (§4.8) and bound, reported as decode errors.
        Ok(Self(
            r.display_text(Self::FIELD, MAX_GROUP_NAME_LEN)?.to_owned(),
        ))
    }
}

// A group name is conversation content: debug output shows its length only.
impl fmt::Debug for GroupName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GroupName(<{} bytes>)", self.0.len())
    }
}

/// `SHA-256(domain("sotto/group-name") ‖ conversation ‖ u64 epoch ‖ salt ‖ text(name))`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NameCommitment(pub [u8; 32]);

impl NameCommitment {
    /// The raw hash.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// What a member needs to learn a name and check it: the body of kind `0x04` (§8.2).
#[derive(Clone, PartialEq, Eq)]
pub struct NameReveal {
    /// The epoch of the change (Create or Rename) whose commitment this opens.
    pub epoch: u64,
    /// The commitment's salt.
    pub salt: [u8; NAME_SALT_LEN],
    /// The name.
    pub name: GroupName,
}

impl NameReveal {
    /// The commitment this reveal opens in `conversation`.
    pub fn commitment(&self, conversation: ConversationId) -> NameCommitment {
        let mut w = Writer::for_domain(Domain::GroupName);
        conversation.encode(&mut w);
        w.u64(self.epoch);
        w.fixed(&self.salt);
        w.text(self.name.as_str());
        NameCommitment(sha256(&w.finish()))
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        w.u64(self.epoch);
        w.fixed(&self.salt);
        w.text(self.name.as_str());
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            epoch: r.u64()?,
            salt: r.array()?,
            name: GroupName::decode(r)?,
        })
    }
}

impl fmt::Debug for NameReveal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NameReveal")
            .field("epoch", &self.epoch)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// What a reveal that matches nothing wrong means for the conversation's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameCheck {
    /// The reveal opens the state's current commitment: this is the conversation's name.
    Current,
    /// The reveal is for a name replaced since (messages arrive late): ignore it.
    Superseded,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reveal(epoch: u64, salt: u8, name: &str) -> NameReveal {
        NameReveal {
            epoch,
            salt: [salt; NAME_SALT_LEN],
            name: GroupName::new(name).unwrap(),
        }
    }

    #[test]
    fn the_commitment_changes_with_every_input() {
        let conversation = ConversationId::from_bytes([1; 16]);
        let base = reveal(3, 9, "Project").commitment(conversation);
        assert_ne!(base, reveal(4, 9, "Project").commitment(conversation));
        assert_ne!(base, reveal(3, 8, "Project").commitment(conversation));
        assert_ne!(base, reveal(3, 9, "Projects").commitment(conversation));
        assert_ne!(
            base,
            reveal(3, 9, "Project").commitment(ConversationId::from_bytes([2; 16]))
        );
    }

    #[test]
    fn names_that_are_not_display_text_are_refused() {
        for bad in ["", " x", "a\nb", "\u{202e}x", &"a".repeat(129)] {
            assert_eq!(
                GroupName::new(bad).unwrap_err().code(),
                "group/invalid-text"
            );
        }
        assert!(GroupName::new("a".repeat(128)).is_ok());
    }

    #[test]
    fn debug_output_never_shows_the_name() {
        let shown = format!("{:?}", reveal(1, 2, "Secret plans"));
        assert!(!shown.contains("Secret"), "{shown}");
    }
}
