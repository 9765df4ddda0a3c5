//! [`Recovery`]: this device's part of the account's key backup (`docs/protocol.md` §14–§15):
//! the set-up it writes to (recovery id, method), the backup key (never sent anywhere), and the
//! *backlog*, what this device learned since the last item it wrote. Each newly held chain, pin
//! and group name goes into the backlog; the driver writes it out as items after a receive or a
//! send and takes entries out only once the server stored them, so a failed upload is retried
//! next time and never blocks messaging.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use sotto_proto::ids::{AccountId, ChainId, ConversationId};

use crate::store::state::Secret;

/// Records in one backup item at most (`docs/protocol.md` §15.2).
pub const MAX_ITEM_RECORDS: usize = 1_000;

/// How the recovery secret is made: the API's type, stored as its text (`key`, `passphrase`).
pub use sotto_wire::api::RecoveryMethod;

/// One thing to back up, named by where it is kept in the profile (the record is built from
/// the profile when it is written, so the backlog holds no second copy of a key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pending {
    /// The account's master key (the first item of a set-up).
    MasterKey,
    /// A history key (§17.2).
    Chain(ChainId),
    /// A pinned identity.
    Pin(AccountId),
    /// A group's name.
    GroupName(ConversationId),
}

/// The set-up this device writes to.
#[derive(Debug, Serialize, Deserialize)]
pub struct Recovery {
    /// The set-up's recovery id (16 bytes, hex).
    pub recovery_id: String,
    /// How its secret is made.
    pub method: RecoveryMethod,
    /// The backup key derived from the secret (§14.2).
    pub backup_key: Secret,
    /// What is not written to the backup yet.
    backlog: BTreeSet<Pending>,
    /// Items this device wrote to the set-up.
    #[serde(default)]
    pub items_written: u64,
}

impl Recovery {
    /// A new set-up whose first items must carry `everything`.
    pub fn new(
        recovery_id: [u8; 16],
        method: RecoveryMethod,
        backup_key: Secret,
        everything: impl IntoIterator<Item = Pending>,
    ) -> Self {
        Self {
            recovery_id: hex::encode(recovery_id),
            method,
            backup_key,
            backlog: everything.into_iter().collect(),
            items_written: 0,
        }
    }

    /// The recovery id's bytes, `None` when the stored text is damaged.
    pub fn recovery_id(&self) -> Option<[u8; 16]> {
        hex::decode(&self.recovery_id).ok()?.try_into().ok()
    }

    /// Notes something new to back up.
    pub fn note(&mut self, pending: Pending) {
        self.backlog.insert(pending);
    }

    /// How much waits to be written.
    pub fn pending(&self) -> usize {
        self.backlog.len()
    }

    /// The whole backlog, in the order it is written (the master key first).
    pub fn backlog(&self) -> Vec<Pending> {
        self.backlog.iter().copied().collect()
    }

    /// The next item's worth of the backlog, the master key first (the first item of a set-up
    /// holds it, §15.2); empty when nothing waits.
    pub fn next_batch(&self) -> Vec<Pending> {
        self.backlog
            .iter()
            .take(MAX_ITEM_RECORDS)
            .copied()
            .collect()
    }

    /// Takes a written batch out of the backlog.
    pub fn written(&mut self, batch: &[Pending]) {
        for pending in batch {
            self.backlog.remove(pending);
        }
        self.items_written += 1;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_master_key_goes_first_and_a_batch_leaves_the_backlog_only_once_written() {
        let chains = (0..1500u16).map(|i| {
            let mut id = [0u8; 16];
            id[..2].copy_from_slice(&i.to_be_bytes());
            Pending::Chain(ChainId::from_bytes(id))
        });
        let mut recovery = Recovery::new(
            [9; 16],
            RecoveryMethod::Key,
            Secret::new(&[1; 32]),
            chains.chain([Pending::MasterKey]),
        );
        assert_eq!(recovery.recovery_id(), Some([9; 16]));
        let first = recovery.next_batch();
        assert_eq!(first.len(), MAX_ITEM_RECORDS);
        assert_eq!(first[0], Pending::MasterKey);
        // Not written (the upload failed): the same batch again.
        assert_eq!(recovery.next_batch(), first);
        recovery.written(&first);
        assert_eq!(recovery.pending(), 501);
        let second = recovery.next_batch();
        recovery.written(&second);
        assert!(recovery.next_batch().is_empty());
        assert_eq!(recovery.items_written, 2);
    }
}
