//! [`Pins`]: the master keys this device pinned on first use, under which names, whether each was
//! confirmed by safety number, and what was learned about each account's devices (revocations,
//! the newest exchange-key serial seen). It decides when the directory shows a changed identity:
//! a name pinned to one account that the directory now gives to another is never re-pinned
//! silently (decision D23); the user accepts it or it stays refused. Fetching and verifying the
//! directory entry is the driver's (`crate::peers`).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use sotto_proto::ids::{AccountId, DeviceId};

/// A pinned identity.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Peer {
    /// The username it was pinned under.
    pub username: String,
    /// Master public key SPKI, base64.
    pub master_spki: String,
    /// Confirmed by safety number.
    pub verified: bool,
    /// Highest exchange-key serial accepted per device.
    pub serials: BTreeMap<DeviceId, u64>,
    /// Devices seen revoked by a verified revocation (never trusted again).
    #[serde(default)]
    pub revoked: BTreeSet<DeviceId>,
    /// Devices whose version-2 exchange-key certificate was accepted: a version-1 certificate
    /// of theirs is refused from then on (`exchange-key-rollback`, §18.3).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub v2: BTreeSet<DeviceId>,
}

/// A name the directory gives to another account than the one pinned under it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Changed {
    /// The account pinned under the name.
    pub pinned: AccountId,
    /// Whether that pinned identity had been confirmed by safety number.
    pub was_verified: bool,
}

/// The pinned identities (stored in the profile snapshot as `peers`, by account, and `names`,
/// username → account).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Pins {
    /// Identities pinned on first use, by account.
    peers: BTreeMap<AccountId, Peer>,
    /// Username → account, as pinned.
    names: BTreeMap<String, AccountId>,
}

impl Pins {
    /// How many accounts are pinned.
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    /// Whether no account is pinned.
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    /// The pinned identity of `account`.
    pub fn get(&self, account: AccountId) -> Option<&Peer> {
        self.peers.get(&account)
    }

    /// Every pinned identity, by account.
    pub fn iter(&self) -> impl Iterator<Item = (AccountId, &Peer)> {
        self.peers.iter().map(|(account, peer)| (*account, peer))
    }

    /// The name `account` was pinned under.
    pub fn username_of(&self, account: AccountId) -> Option<&str> {
        self.peers.get(&account).map(|p| p.username.as_str())
    }

    /// The account pinned under `username`.
    pub fn account_of(&self, username: &str) -> Option<AccountId> {
        self.names.get(username).copied()
    }

    /// Whether `account` is pinned and was confirmed by safety number.
    pub fn is_verified(&self, account: AccountId) -> bool {
        self.peers.get(&account).is_some_and(|p| p.verified)
    }

    /// The change, if `username` is pinned to another account than `account`.
    pub fn changed(&self, username: &str, account: AccountId) -> Option<Changed> {
        let pinned = *self.names.get(username)?;
        (pinned != account).then(|| Changed {
            pinned,
            was_verified: self.is_verified(pinned),
        })
    }

    /// Forgets the identity pinned under `username` (the user accepted a new one).
    pub fn unpin(&mut self, username: &str) {
        if let Some(pinned) = self.names.remove(username) {
            self.peers.remove(&pinned);
        }
    }

    /// Pins `account` under `username` on first use. An account never seen under a name pinned
    /// to another key is the same change as a lookup by that name (a message must never be
    /// shown under someone else's name): refused. A name without a pin is pinned to `account`.
    pub fn pin_on_first_use(
        &mut self,
        account: AccountId,
        username: &str,
        master_spki: String,
    ) -> Result<(), Changed> {
        if !self.peers.contains_key(&account) {
            if let Some(change) = self.changed(username, account) {
                return Err(change);
            }
            self.peers.insert(
                account,
                Peer {
                    username: username.to_owned(),
                    master_spki,
                    verified: false,
                    ..Peer::default()
                },
            );
        }
        self.names.entry(username.to_owned()).or_insert(account);
        Ok(())
    }

    /// Pins this account's own identity, verified (it was created or logged into here).
    pub fn pin_own(&mut self, account: AccountId, username: &str, master_spki: String) {
        self.peers.insert(
            account,
            Peer {
                username: username.to_owned(),
                master_spki,
                verified: true,
                ..Peer::default()
            },
        );
        self.names.insert(username.to_owned(), account);
    }

    /// Marks `account` confirmed by safety number; false if it is not pinned.
    pub fn confirm(&mut self, account: AccountId) -> bool {
        match self.peers.get_mut(&account) {
            Some(peer) => {
                peer.verified = true;
                true
            }
            None => false,
        }
    }

    /// Remembers devices of `account` seen revoked, so that a server that later drops the
    /// revocation from the directory cannot bring them back; true if one was new.
    pub fn learn_revocations(
        &mut self,
        account: AccountId,
        devices: impl IntoIterator<Item = DeviceId>,
    ) -> bool {
        let Some(peer) = self.peers.get_mut(&account) else {
            return false;
        };
        let mut learned = false;
        for device in devices {
            learned |= peer.revoked.insert(device);
        }
        learned
    }

    /// The devices of `account` ever seen revoked.
    pub fn revoked(&self, account: AccountId) -> BTreeSet<DeviceId> {
        self.peers
            .get(&account)
            .map(|p| p.revoked.clone())
            .unwrap_or_default()
    }

    /// The newest exchange-key serial accepted for `device` of `account`: an older one is a
    /// replay and refused.
    pub fn seen_serial(&self, account: AccountId, device: DeviceId) -> Option<u64> {
        self.peers
            .get(&account)
            .and_then(|p| p.serials.get(&device).copied())
    }

    /// Whether a version-2 exchange-key certificate of `device` of `account` was accepted.
    pub fn seen_v2(&self, account: AccountId, device: DeviceId) -> bool {
        self.peers
            .get(&account)
            .is_some_and(|p| p.v2.contains(&device))
    }

    /// Remembers the exchange-key serial accepted for `device` of `account`, and whether its
    /// certificate was version 2 (never forgotten once it was).
    pub fn accept_serial(&mut self, account: AccountId, device: DeviceId, serial: u64, v2: bool) {
        if let Some(peer) = self.peers.get_mut(&account) {
            peer.serials.insert(device, serial);
            if v2 {
                peer.v2.insert(device);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn acct(n: u8) -> AccountId {
        AccountId::from_bytes([n; 32])
    }

    fn dev(n: u8) -> DeviceId {
        DeviceId::from_bytes([n; 32])
    }

    #[test]
    fn a_first_lookup_pins_the_name_and_the_same_key_again_is_no_change() {
        let mut pins = Pins::default();
        pins.pin_on_first_use(acct(1), "bob", "key1".to_owned())
            .unwrap();
        assert_eq!(pins.username_of(acct(1)), Some("bob"));
        assert!(!pins.is_verified(acct(1)));
        assert_eq!(pins.changed("bob", acct(1)), None);
        pins.pin_on_first_use(acct(1), "bob", "key1".to_owned())
            .unwrap();
    }

    #[test]
    fn another_key_under_a_pinned_name_is_a_change_that_says_if_it_was_verified() {
        let mut pins = Pins::default();
        pins.pin_on_first_use(acct(1), "bob", "key1".to_owned())
            .unwrap();
        assert_eq!(
            pins.changed("bob", acct(2)),
            Some(Changed {
                pinned: acct(1),
                was_verified: false
            })
        );
        assert!(pins.confirm(acct(1)));
        assert_eq!(
            pins.pin_on_first_use(acct(2), "bob", "key2".to_owned()),
            Err(Changed {
                pinned: acct(1),
                was_verified: true
            })
        );
        // Nothing was pinned for the new key.
        assert!(pins.get(acct(2)).is_none());
        assert!(!pins.confirm(acct(2)));
    }

    #[test]
    fn an_accepted_new_identity_replaces_the_pin() {
        let mut pins = Pins::default();
        pins.pin_on_first_use(acct(1), "bob", "key1".to_owned())
            .unwrap();
        pins.unpin("bob");
        assert!(pins.get(acct(1)).is_none());
        pins.pin_on_first_use(acct(2), "bob", "key2".to_owned())
            .unwrap();
        assert_eq!(pins.changed("bob", acct(2)), None);
    }

    #[test]
    fn revocations_are_remembered_and_serials_only_grow_by_acceptance() {
        let mut pins = Pins::default();
        assert!(!pins.learn_revocations(acct(1), [dev(1)]));
        pins.pin_on_first_use(acct(1), "bob", "key1".to_owned())
            .unwrap();
        assert!(pins.learn_revocations(acct(1), [dev(1)]));
        assert!(!pins.learn_revocations(acct(1), [dev(1)]));
        assert!(pins.revoked(acct(1)).contains(&dev(1)));
        assert_eq!(pins.seen_serial(acct(1), dev(2)), None);
        pins.accept_serial(acct(1), dev(2), 4, false);
        assert_eq!(pins.seen_serial(acct(1), dev(2)), Some(4));
        assert!(!pins.seen_v2(acct(1), dev(2)));
    }

    #[test]
    fn a_version_2_certificate_once_accepted_is_remembered_for_good() {
        let mut pins = Pins::default();
        pins.pin_on_first_use(acct(1), "bob", "key1".to_owned())
            .unwrap();
        pins.accept_serial(acct(1), dev(2), 4, true);
        assert!(pins.seen_v2(acct(1), dev(2)));
        assert!(!pins.seen_v2(acct(1), dev(3)));
        // A later version-1 certificate (which the verifier refuses anyway) does not unset it.
        pins.accept_serial(acct(1), dev(2), 5, false);
        assert!(pins.seen_v2(acct(1), dev(2)));
        let again: Pins = serde_json::from_str(&serde_json::to_string(&pins).unwrap()).unwrap();
        assert!(again.seen_v2(acct(1), dev(2)));
    }

    #[test]
    fn this_accounts_own_identity_is_pinned_verified() {
        let mut pins = Pins::default();
        pins.pin_own(acct(1), "alice", "key".to_owned());
        assert!(pins.is_verified(acct(1)));
        assert_eq!(pins.changed("alice", acct(1)), None);
    }
}
