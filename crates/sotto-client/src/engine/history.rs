//! [`HistoryKeys`]: the start key of every chain this device has held (`docs/protocol.md`
//! §17.2), its own sending chains included, kept to open archived envelopes after the receiver
//! state has ratcheted past them or forgotten them, and to hand to another device of the account
//! (a hand-over, §16, or the key backup, §15). A key is kept until the conversation's retention
//! has passed for every message its chain can carry.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sotto_proto::group::Retention;
use sotto_proto::ids::{AccountId, ChainId, ConversationId, DeviceId};
use sotto_proto::limits::{MAX_CHAIN_AGE_MS, MAX_CLOCK_SKEW_MS};
use sotto_proto::Timestamp;

use crate::store::state::Secret;

/// One chain's key at its start index, and where the chain belongs (a Chain record, §15.1).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HistoryKey {
    /// The conversation.
    pub conversation: ConversationId,
    /// The group epoch the chain was started at.
    pub epoch: u64,
    /// The chain.
    pub chain: ChainId,
    /// The owner's account.
    pub owner_account: AccountId,
    /// The owner device (the only device that sends on it).
    pub owner_device: DeviceId,
    /// The index `start_key` is the key of.
    pub start_index: u32,
    /// The chain key at `start_index`.
    pub start_key: Secret,
    /// When the chain was distributed (its owner's clock), ms.
    pub created_at: u64,
}

impl HistoryKey {
    /// Whether `other` describes the same chain at the same place with the same key.
    fn same_as(&self, other: &HistoryKey) -> bool {
        let same_key = match (self.start_key.bytes(), other.start_key.bytes()) {
            (Ok(a), Ok(b)) => sotto_proto::crypto::ct_eq(&a, &b),
            _ => false,
        };
        self.conversation == other.conversation
            && self.epoch == other.epoch
            && self.owner_account == other.owner_account
            && self.owner_device == other.owner_device
            && self.start_index == other.start_index
            && same_key
    }

    /// The latest `sent_at` a message of this chain can honestly carry: chains live seven days
    /// (§7.2) and a timestamp may run three hours ahead (§9.2 check 6).
    fn last_possible_message(&self) -> u64 {
        self.created_at
            .saturating_add(MAX_CHAIN_AGE_MS)
            .saturating_add(MAX_CLOCK_SKEW_MS)
    }
}

/// What adding a key did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    /// A chain not held before.
    New,
    /// The same chain, place and key as one held: nothing changed.
    Duplicate,
    /// A chain held with another key, owner or place (`receive/chain-key-conflict`): refused,
    /// the key held stays.
    Conflict,
}

/// The history keys, by chain.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HistoryKeys {
    keys: BTreeMap<ChainId, HistoryKey>,
}

impl HistoryKeys {
    /// Adds a chain's key unless one conflicts with it.
    pub fn add(&mut self, key: HistoryKey) -> Added {
        match self.keys.get(&key.chain) {
            Some(held) if held.same_as(&key) => Added::Duplicate,
            Some(_) => Added::Conflict,
            None => {
                self.keys.insert(key.chain, key);
                Added::New
            }
        }
    }

    /// The key of `chain`.
    pub fn get(&self, chain: &ChainId) -> Option<&HistoryKey> {
        self.keys.get(chain)
    }

    /// Every key held, by chain.
    pub fn iter(&self) -> impl Iterator<Item = &HistoryKey> {
        self.keys.values()
    }

    /// How many keys are held.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Forgets the keys of `conversation` whose chains can no longer carry a message kept
    /// under `retention` at `now`. Returns how many were forgotten.
    pub fn expire(
        &mut self,
        conversation: ConversationId,
        retention: Retention,
        now: Timestamp,
    ) -> usize {
        let before = self.keys.len();
        self.keys.retain(|_, k| {
            k.conversation != conversation
                || !retention.expired(Timestamp(k.last_possible_message()), now)
        });
        before - self.keys.len()
    }

    /// Forgets every key of `conversation` (this account left it).
    pub fn forget_conversation(&mut self, conversation: ConversationId) {
        self.keys.retain(|_, k| k.conversation != conversation);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn key(chain: u8, conversation: u8, secret: u8, created_at: u64) -> HistoryKey {
        HistoryKey {
            conversation: ConversationId::from_bytes([conversation; 16]),
            epoch: 0,
            chain: ChainId::from_bytes([chain; 16]),
            owner_account: AccountId::from_bytes([1; 32]),
            owner_device: DeviceId::from_bytes([2; 32]),
            start_index: 0,
            start_key: Secret::new(&[secret; 32]),
            created_at,
        }
    }

    #[test]
    fn a_chain_offered_again_with_another_key_is_refused_and_the_first_key_stays() {
        let mut keys = HistoryKeys::default();
        assert_eq!(keys.add(key(1, 1, 7, 0)), Added::New);
        assert_eq!(keys.add(key(1, 1, 7, 0)), Added::Duplicate);
        assert_eq!(keys.add(key(1, 1, 8, 0)), Added::Conflict);
        assert_eq!(keys.add(key(1, 2, 7, 0)), Added::Conflict);
        let held = keys.get(&ChainId::from_bytes([1; 16])).unwrap();
        assert_eq!(held.start_key.bytes().unwrap().as_slice(), &[7; 32]);
        assert_eq!(keys.len(), 1);
    }

    #[test]
    fn a_key_is_kept_until_the_retention_passed_for_the_last_message_its_chain_can_carry() {
        let mut keys = HistoryKeys::default();
        keys.add(key(1, 1, 7, 0));
        keys.add(key(2, 2, 7, 0));
        let minute = Retention::from_secs(60).unwrap();
        let last = MAX_CHAIN_AGE_MS + MAX_CLOCK_SKEW_MS;
        let first = ConversationId::from_bytes([1; 16]);
        assert_eq!(keys.expire(first, minute, Timestamp(last + 59_999)), 0);
        assert_eq!(keys.expire(first, minute, Timestamp(last + 60_000)), 1);
        // Kept for good, and another conversation's key untouched.
        let second = ConversationId::from_bytes([2; 16]);
        assert_eq!(
            keys.expire(second, Retention::FOREVER, Timestamp(u64::MAX)),
            0
        );
        assert_eq!(keys.len(), 1);
    }
}
