//! The validated fields of the body kinds that point at people or messages (`docs/protocol.md`
//! §8.4, §8.6): [`Mentions`], the accounts a text addresses, and [`Reaction`], the short display
//! text a reaction shows.
//!
//! As with [`super::fields`], each rule lives in the constructor both the decoder and the sender
//! go through, so an encoder never writes a list or reaction its own decoder refuses.

use std::fmt;

use super::fields::within;
use crate::codec::{is_display_text, Reader, Writer};
use crate::error::{DecodeError, FieldError};
use crate::ids::AccountId;

/// Accounts one message may mention: enough for any text a person writes to a team, small enough
/// that a receiver's check for repeats stays trivial.
pub const MAX_MENTIONS: usize = 64;
/// Bytes of a reaction: an emoji sequence (a family or a flag with modifiers runs to ~30 bytes)
/// or a short word, never a message in disguise.
pub const MAX_REACTION_LEN: usize = 32;

/// The accounts a Message or Edit mentions: at most [`MAX_MENTIONS`], no account twice, in the
/// sender's order. The list, not the text, decides who is mentioned (§8.4).
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Mentions(Vec<AccountId>);

impl Mentions {
    const FIELD: &'static str = "mentions";

    /// Checks `accounts` against the bound and for repeats.
    pub fn new(accounts: Vec<AccountId>) -> Result<Self, FieldError> {
        if accounts.len() > MAX_MENTIONS {
            return Err(FieldError::TooMany {
                field: Self::FIELD,
                max: MAX_MENTIONS,
            });
        }
        for (i, account) in accounts.iter().enumerate() {
            // At most 64 items: the quadratic scan is cheaper than building a set.
            if accounts.iter().skip(i + 1).any(|other| other == account) {
                return Err(FieldError::Repeated { field: Self::FIELD });
            }
        }
        Ok(Self(accounts))
    }

    /// No mention.
    pub fn none() -> Self {
        Self::default()
    }

    /// The accounts, in the sender's order.
    pub fn as_slice(&self) -> &[AccountId] {
        &self.0
    }

    /// Whether `account` is mentioned.
    pub fn contains(&self, account: &AccountId) -> bool {
        self.0.contains(account)
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many accounts are mentioned.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The accounts, as an owned list.
    pub fn into_vec(self) -> Vec<AccountId> {
        self.0
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        w.count(self.0.len());
        for account in &self.0 {
            account.encode(w);
        }
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        // The count is checked before anything is allocated.
        let count = r.count(Self::FIELD, MAX_MENTIONS)?;
        let accounts = (0..count)
            .map(|_| AccountId::decode(r))
            .collect::<Result<_, _>>()?;
        Ok(Self::new(accounts)?)
    }
}

impl TryFrom<Vec<AccountId>> for Mentions {
    type Error = FieldError;
    fn try_from(value: Vec<AccountId>) -> Result<Self, FieldError> {
        Self::new(value)
    }
}

// Who a message addresses is part of its content: debug output shows the count only.
impl fmt::Debug for Mentions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mentions(<{}>)", self.0.len())
    }
}

/// A reaction: display text (`docs/protocol.md` §4.8) of 1 to [`MAX_REACTION_LEN`] bytes, usually
/// one emoji. It is shown beside another user's message, so the rule of names holds.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reaction(String);

impl Reaction {
    const FIELD: &'static str = "reaction";

    /// Checks `reaction` against the rule of §4.8 and the 32-byte bound.
    pub fn new(reaction: impl Into<String>) -> Result<Self, FieldError> {
        let reaction = within(reaction.into(), Self::FIELD, MAX_REACTION_LEN)?;
        if !is_display_text(&reaction) {
            return Err(FieldError::NotDisplayText { field: Self::FIELD });
        }
        Ok(Self(reaction))
    }

    /// The reaction.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The reaction, as an owned string.
    pub fn into_string(self) -> String {
        self.0
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        w.text(&self.0);
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self::new(r.text(Self::FIELD, MAX_REACTION_LEN)?)?)
    }
}

impl TryFrom<String> for Reaction {
    type Error = FieldError;
    fn try_from(value: String) -> Result<Self, FieldError> {
        Self::new(value)
    }
}

impl AsRef<str> for Reaction {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

// A reaction is message content: debug output shows its length only.
impl fmt::Debug for Reaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reaction(<{} bytes>)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(n: u8) -> AccountId {
        AccountId::from_bytes([n; 32])
    }

    #[test]
    fn mentions_are_bounded_and_never_repeat_an_account() {
        let full: Vec<_> = (0..64).map(account).collect();
        assert_eq!(Mentions::new(full.clone()).unwrap().len(), 64);
        let mut over = full;
        over.push(account(64));
        assert_eq!(
            Mentions::new(over),
            Err(FieldError::TooMany {
                field: "mentions",
                max: 64
            })
        );
        assert_eq!(
            Mentions::new(vec![account(1), account(2), account(1)]),
            Err(FieldError::Repeated { field: "mentions" })
        );
        assert!(Mentions::new(Vec::new()).unwrap().is_empty());
    }

    #[test]
    fn a_reaction_is_short_display_text() {
        assert!(Reaction::new("👍").is_ok());
        assert!(Reaction::new("👨‍👩‍👧‍👦").is_ok());
        assert!(Reaction::new("a".repeat(32)).is_ok());
        assert_eq!(
            Reaction::new("a".repeat(33)),
            Err(FieldError::TooLong {
                field: "reaction",
                max: 32
            })
        );
        for bad in ["", " 👍", "a\u{7}", "\u{202e}ok"] {
            assert_eq!(
                Reaction::new(bad),
                Err(FieldError::NotDisplayText { field: "reaction" }),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn debug_output_shows_neither_the_reaction_nor_who_is_mentioned() {
        let reaction = Reaction::new("secret").unwrap();
        assert_eq!(format!("{reaction:?}"), "Reaction(<6 bytes>)");
        let mentions = Mentions::new(vec![account(7)]).unwrap();
        assert_eq!(format!("{mentions:?}"), "Mentions(<1>)");
    }
}
