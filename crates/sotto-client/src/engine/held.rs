//! [`HeldPayloads`]: payloads that could not be checked yet, and the rules for when each is tried
//! again, asked for or given up (protocol §9.4). A payload waits for one of three things:
//! - its **key** or group epoch (a chain or epoch unknown yet): retried when a distribution
//!   arrives, its chain's owner asked for the key after a while, given up after longer;
//! - a **server answer** that verifies (a group log or directory entry that did not): held and
//!   timed like a key wait, and asks for no key unless it is an envelope;
//! - the user's **identity decision** about its sender (decision D23): never expires, asks for no
//!   key, bounded in number, retried oldest first as if it had just arrived.
//!
//! Checking a payload is the receive's (`crate::sync`, `crate::receive`); this type decides what
//! waits, what to retry and when, and keeps the list (stored in the profile snapshot, oldest
//! first).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sotto_proto::ids::{AccountId, ConversationId};

/// Payloads held for an identity decision. They never expire, so without a bound a server that
/// swapped a contact's key could fill the profile by relaying payloads in that contact's name.
pub const MAX_IDENTITY_HELD: usize = 5_000;

/// A payload held until its key or epoch arrives, or until its sender's identity is settled.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Held {
    /// `msg:…`: the header's for a message; for other payloads the relay's, unauthenticated and
    /// never parsed (so it stays the text the relay sent).
    pub message_id: String,
    /// The conversation the payload names.
    pub conversation: ConversationId,
    /// The payload as relayed, base64 (an envelope unless `identity` is set).
    pub envelope: String,
    /// When it was first held, ms.
    pub held_at: u64,
    /// Whether a key request was sent.
    pub requested: bool,
    /// Set while the payload waits for the user's decision about its sender's changed identity
    /// (protocol §9.4): such a payload never expires and asks for no key. Absent in profiles
    /// written before identity holds existed, which held only for keys.
    #[serde(default)]
    pub identity: Option<IdentityHold>,
}

impl Held {
    /// A payload held from `held_at`, waiting for `identity` if given (else for a key or an
    /// answer).
    pub fn new(
        message_id: String,
        conversation: ConversationId,
        envelope: String,
        held_at: u64,
        identity: Option<IdentityHold>,
    ) -> Self {
        Self {
            message_id,
            conversation,
            envelope,
            held_at,
            requested: false,
            identity,
        }
    }
}

/// Why a payload waits for the user: the directory no longer shows the identity pinned for its
/// sender (a new key under a pinned name, or a pinned account listed without its key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityHold {
    /// The account the payload claims to come from (unverified: nothing of it was checked yet).
    pub sender: AccountId,
    /// The pinned identity whose change the user must review.
    pub pinned: AccountId,
    /// The name it was pinned under: what the user is told to review.
    pub username: String,
}

/// What a timer pass decided about one payload waiting for its key.
#[derive(Debug, Clone)]
pub enum Due {
    /// Held too long: counted as undecryptable (`no-key-arrived`).
    GiveUp(Held),
    /// Held long enough to ask the chain's owner for the key (once).
    AskForKey(Held),
}

/// The identity wait is full: the payload is refused instead (`identity-hold-full`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdentityHoldFull;

/// The held payloads, oldest first.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HeldPayloads {
    entries: Vec<Held>,
}

impl HeldPayloads {
    /// How many payloads are held, for anything.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether exactly these payload bytes already wait, for anything.
    pub fn is_held(&self, envelope: &str) -> bool {
        self.entries.iter().any(|h| h.envelope == envelope)
    }

    /// Whether exactly these payload bytes already wait for an identity decision.
    pub fn is_identity_held(&self, envelope: &str) -> bool {
        self.entries
            .iter()
            .any(|h| h.identity.is_some() && h.envelope == envelope)
    }

    /// Why payloads claiming to come from `sender` wait, if any do.
    pub fn identity_held_from(&self, sender: AccountId) -> Option<&IdentityHold> {
        self.entries
            .iter()
            .filter_map(|h| h.identity.as_ref())
            .find(|i| i.sender == sender)
    }

    /// The payloads waiting for a key, an epoch or an answer (not for the user), oldest first.
    pub fn waiting_for_key(&self) -> impl Iterator<Item = &Held> {
        self.entries.iter().filter(|h| h.identity.is_none())
    }

    /// Holds a payload for its key or epoch.
    pub fn hold(&mut self, entry: Held) {
        self.entries.push(entry);
    }

    /// Holds a payload for a server answer that verifies, unless the same bytes already wait
    /// (nothing of it was verified: a copy is not held twice).
    pub fn hold_for_answer(&mut self, entry: Held) {
        if !self.is_held(&entry.envelope) {
            self.entries.push(entry);
        }
    }

    /// Holds a payload for its sender's identity decision, behind the others; refused once
    /// [`MAX_IDENTITY_HELD`] wait.
    pub fn hold_for_identity(&mut self, entry: Held) -> Result<(), IdentityHoldFull> {
        let held = self.entries.iter().filter(|h| h.identity.is_some()).count();
        if held >= MAX_IDENTITY_HELD {
            return Err(IdentityHoldFull);
        }
        self.entries.push(entry);
        Ok(())
    }

    /// Moves a payload from the key wait to the identity wait (its sender verified when it was
    /// held; now the directory shows another key), unless the same bytes already wait there.
    pub fn move_to_identity_wait(&mut self, entry: Held, hold: IdentityHold) {
        self.forget_key_held(&entry.message_id);
        if !self.is_identity_held(&entry.envelope) {
            self.entries.push(Held {
                identity: Some(hold),
                ..entry
            });
        }
    }

    /// Drops a payload from the key wait (an identity-held copy with the same id stays).
    pub fn forget_key_held(&mut self, message_id: &str) {
        self.entries
            .retain(|h| h.identity.is_some() || h.message_id != message_id);
    }

    /// Notes that the key of a payload waiting for it was asked for.
    pub fn mark_requested(&mut self, message_id: &str) {
        if let Some(h) = self
            .entries
            .iter_mut()
            .find(|h| h.identity.is_none() && h.message_id == message_id)
        {
            h.requested = true;
        }
    }

    /// The key waits whose timers ran out at `now` (ms): given up after `give_up_after`, asked
    /// for (once) after `key_request_after`. Payloads waiting for the user are never here: they
    /// wait for a person, who may take longer than any timer, and no key request helps them.
    pub fn due(&self, now: u64, key_request_after: Duration, give_up_after: Duration) -> Vec<Due> {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        self.waiting_for_key()
            .filter_map(|entry| {
                let age = now.saturating_sub(entry.held_at);
                if age >= ms(give_up_after) {
                    Some(Due::GiveUp(entry.clone()))
                } else if !entry.requested && age >= ms(key_request_after) {
                    Some(Due::AskForKey(entry.clone()))
                } else {
                    None
                }
            })
            .collect()
    }

    /// The payloads waiting for an identity decision (those claiming `only` as sender, or all),
    /// oldest first: the order they are retried in.
    pub fn identity_held(&self, only: Option<AccountId>) -> Vec<Held> {
        self.entries
            .iter()
            .filter(|h| {
                h.identity
                    .as_ref()
                    .is_some_and(|i| only.is_none_or(|s| i.sender == s))
            })
            .cloned()
            .collect()
    }

    /// Takes the identity-held copy of these bytes out for a retry, with its place in the list
    /// (to [`HeldPayloads::put_back`] it there if it must wait on).
    pub fn take_identity_held(&mut self, envelope: &str) -> Option<(usize, Held)> {
        let index = self
            .entries
            .iter()
            .position(|h| h.identity.is_some() && h.envelope == envelope)?;
        Some((index, self.entries.remove(index)))
    }

    /// Puts a payload taken out for a retry back in its place (or last, if the list shrank).
    pub fn put_back(&mut self, index: usize, entry: Held) {
        let index = index.min(self.entries.len());
        self.entries.insert(index, entry);
    }

    /// The identity-held payloads by the pinned username they wait for, oldest first.
    pub fn identity_held_by_name(&self) -> BTreeMap<&str, Vec<&Held>> {
        let mut by_name: BTreeMap<&str, Vec<&Held>> = BTreeMap::new();
        for h in &self.entries {
            if let Some(identity) = &h.identity {
                by_name.entry(&identity.username).or_default().push(h);
            }
        }
        by_name
    }

    /// How many payloads wait for a decision about each pinned username's identity.
    pub fn identity_counts(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for identity in self.entries.iter().filter_map(|h| h.identity.as_ref()) {
            *counts.entry(identity.username.clone()).or_default() += 1;
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    fn acct(n: u8) -> AccountId {
        AccountId::from_bytes([n; 32])
    }

    fn conv() -> ConversationId {
        ConversationId::from_bytes([7; 16])
    }

    fn key_wait(id: &str, held_at: u64) -> Held {
        Held::new(
            id.to_owned(),
            conv(),
            format!("bytes of {id}"),
            held_at,
            None,
        )
    }

    fn identity_wait(id: &str, sender: u8) -> Held {
        let hold = IdentityHold {
            sender: acct(sender),
            pinned: acct(sender),
            username: format!("user{sender}"),
        };
        Held::new(
            id.to_owned(),
            conv(),
            format!("bytes of {id}"),
            0,
            Some(hold),
        )
    }

    #[test]
    fn a_key_wait_asks_for_its_key_once_then_gives_up() {
        let mut held = HeldPayloads::default();
        held.hold(key_wait("msg:a", 1_000));
        assert!(held.due(3_999, 3 * SEC, 10 * SEC).is_empty());
        let due = held.due(4_000, 3 * SEC, 10 * SEC);
        assert!(matches!(&due[..], [Due::AskForKey(h)] if h.message_id == "msg:a"));
        held.mark_requested("msg:a");
        assert!(held.due(5_000, 3 * SEC, 10 * SEC).is_empty());
        let due = held.due(11_000, 3 * SEC, 10 * SEC);
        assert!(matches!(&due[..], [Due::GiveUp(h)] if h.message_id == "msg:a"));
    }

    #[test]
    fn an_identity_wait_never_expires_and_asks_for_no_key() {
        let mut held = HeldPayloads::default();
        held.hold_for_identity(identity_wait("msg:a", 1)).unwrap();
        assert!(held.due(u64::MAX, 3 * SEC, 10 * SEC).is_empty());
        assert_eq!(held.waiting_for_key().count(), 0);
        assert!(held.identity_held_from(acct(1)).is_some());
        assert!(held.identity_held_from(acct(2)).is_none());
    }

    #[test]
    fn the_identity_wait_is_bounded() {
        let mut held = HeldPayloads::default();
        for n in 0..MAX_IDENTITY_HELD {
            held.hold_for_identity(identity_wait(&format!("msg:{n}"), 1))
                .unwrap();
        }
        assert_eq!(
            held.hold_for_identity(identity_wait("msg:over", 1)),
            Err(IdentityHoldFull)
        );
        // Key waits are not counted against it.
        held.hold(key_wait("msg:key", 0));
        assert_eq!(held.len(), MAX_IDENTITY_HELD + 1);
    }

    #[test]
    fn the_same_bytes_wait_for_an_answer_once() {
        let mut held = HeldPayloads::default();
        held.hold_for_answer(key_wait("msg:a", 0));
        held.hold_for_answer(key_wait("msg:a", 5));
        assert_eq!(held.len(), 1);
        assert!(held.is_held("bytes of msg:a"));
    }

    #[test]
    fn forgetting_a_key_wait_keeps_an_identity_wait_with_the_same_id() {
        let mut held = HeldPayloads::default();
        held.hold(key_wait("msg:a", 0));
        held.hold_for_identity(identity_wait("msg:a", 1)).unwrap();
        held.forget_key_held("msg:a");
        assert_eq!(held.len(), 1);
        assert!(held.is_identity_held("bytes of msg:a"));
    }

    #[test]
    fn a_key_wait_whose_sender_changed_moves_to_the_identity_wait_once() {
        let mut held = HeldPayloads::default();
        held.hold(key_wait("msg:a", 0));
        let hold = IdentityHold {
            sender: acct(1),
            pinned: acct(2),
            username: "bob".to_owned(),
        };
        held.move_to_identity_wait(key_wait("msg:a", 0), hold.clone());
        held.hold(key_wait("msg:a", 0));
        held.move_to_identity_wait(key_wait("msg:a", 0), hold);
        assert_eq!(held.len(), 1);
        assert_eq!(held.waiting_for_key().count(), 0);
        assert_eq!(held.identity_counts().get("bob"), Some(&1));
    }

    #[test]
    fn identity_waits_are_retried_oldest_first_and_put_back_in_place() {
        let mut held = HeldPayloads::default();
        held.hold_for_identity(identity_wait("msg:a", 1)).unwrap();
        held.hold_for_identity(identity_wait("msg:b", 2)).unwrap();
        held.hold_for_identity(identity_wait("msg:c", 1)).unwrap();
        let ids = |list: Vec<Held>| list.into_iter().map(|h| h.message_id).collect::<Vec<_>>();
        assert_eq!(ids(held.identity_held(Some(acct(1)))), ["msg:a", "msg:c"]);
        assert_eq!(ids(held.identity_held(None)), ["msg:a", "msg:b", "msg:c"]);
        let (index, entry) = held.take_identity_held("bytes of msg:a").unwrap();
        assert_eq!(index, 0);
        assert_eq!(held.len(), 2);
        held.put_back(index, entry);
        assert_eq!(ids(held.identity_held(None)), ["msg:a", "msg:b", "msg:c"]);
        assert!(held.take_identity_held("no such bytes").is_none());
    }

    #[test]
    fn identity_waits_are_counted_by_name() {
        let mut held = HeldPayloads::default();
        held.hold_for_identity(identity_wait("msg:a", 1)).unwrap();
        held.hold_for_identity(identity_wait("msg:b", 1)).unwrap();
        held.hold_for_identity(identity_wait("msg:c", 2)).unwrap();
        held.hold(key_wait("msg:d", 0));
        let by_name = held.identity_held_by_name();
        assert_eq!(by_name.get("user1").map(Vec::len), Some(2));
        assert_eq!(by_name.get("user2").map(Vec::len), Some(1));
        assert_eq!(held.identity_counts().len(), 2);
    }
}
