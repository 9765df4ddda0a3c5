//! [`Directory`]: what this run learned from the server's directory. The devices verified under
//! their account's pinned master key (kept for the run, so a message does not cost a directory
//! fetch; dropped when a receive starts, since devices come and go), and the entries refused
//! during verification, each told to the user once. Nothing here is stored in the profile:
//! the pins it rests on are ([`super::pins::Pins`]). Fetching and verifying entries is the
//! driver's (`crate::peers`).

use std::collections::BTreeMap;

use sotto_proto::identity::VerifiedDevice;
use sotto_proto::ids::{AccountId, DeviceId};

/// A directory entry refused during verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejected {
    /// A device whose certificate is missing or does not verify under the pinned master key.
    Device {
        /// `dev:…` as the directory listed it.
        device: String,
        /// The stable reason code (`no-certificate` or the protocol error's code).
        reason: &'static str,
    },
    /// A certified device's exchange key that does not verify now.
    ExchangeKey {
        /// `dev:…` of the (verified) device.
        device: String,
        /// The stable reason code (`no-exchange-key` or the protocol error's code).
        reason: &'static str,
    },
    /// A one-time prekey the server handed out for a certified device that does not verify
    /// (§18.7): the device's last-resort prekey was used instead.
    Prekey {
        /// `dev:…` of the (verified) device.
        device: String,
        /// The protocol error's code.
        reason: &'static str,
    },
}

/// A refused directory entry and whose account listed it, for the user to see (the refusal
/// itself already happened: nothing is encrypted to it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryWarning {
    /// The account's pinned username.
    pub username: String,
    /// What was refused.
    pub rejected: Rejected,
}

/// Verified devices and refused entries of this run.
#[derive(Debug, Default)]
pub struct Directory {
    /// Devices verified during this run, with their account's pinned username.
    verified: BTreeMap<DeviceId, (String, VerifiedDevice)>,
    /// Entries refused during this run, each once, and how many of them the caller has taken.
    warnings: Vec<DirectoryWarning>,
    taken: usize,
}

impl Directory {
    /// Forgets the verified devices: a new receive checks devices afresh (a long-lived caller
    /// polls repeatedly, and a revocation must take effect). Warnings already told stay told.
    pub fn forget_devices(&mut self) {
        self.verified.clear();
    }

    /// `device` of `account`, if it was verified during this run (with the pinned username).
    pub fn device(&self, account: AccountId, device: DeviceId) -> Option<(String, VerifiedDevice)> {
        self.verified
            .get(&device)
            .filter(|(_, found)| found.account() == account)
            .cloned()
    }

    /// Remembers the devices verified for an account pinned as `username`.
    pub fn remember(&mut self, username: &str, devices: &[VerifiedDevice]) {
        for d in devices {
            self.verified
                .insert(d.device(), (username.to_owned(), d.clone()));
        }
    }

    /// Records entries refused for the account pinned as `username`, each once per run.
    pub fn warn(&mut self, username: &str, rejected: &[Rejected]) {
        for r in rejected {
            let warning = DirectoryWarning {
                username: username.to_owned(),
                rejected: r.clone(),
            };
            if !self.warnings.contains(&warning) {
                self.warnings.push(warning);
            }
        }
    }

    /// The entries refused since the last call.
    pub fn take_warnings(&mut self) -> Vec<DirectoryWarning> {
        let new = self.warnings.get(self.taken..).unwrap_or_default().to_vec();
        self.taken = self.warnings.len();
        new
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing)]
    use super::*;

    fn injected(device: &str) -> Rejected {
        Rejected::Device {
            device: device.to_owned(),
            reason: "no-certificate",
        }
    }

    #[test]
    fn a_refused_entry_is_told_once_per_run() {
        let mut directory = Directory::default();
        directory.warn("bob", &[injected("dev:x")]);
        directory.warn("bob", &[injected("dev:x"), injected("dev:y")]);
        let told = directory.take_warnings();
        assert_eq!(told.len(), 2);
        assert_eq!(told[0].username, "bob");
        assert_eq!(told[1].rejected, injected("dev:y"));
        assert!(directory.take_warnings().is_empty());
        // Seen again later in the run: not told again.
        directory.forget_devices();
        directory.warn("bob", &[injected("dev:x")]);
        assert!(directory.take_warnings().is_empty());
        // The same entry under another account is another warning.
        directory.warn("carol", &[injected("dev:x")]);
        assert_eq!(directory.take_warnings().len(), 1);
    }

    #[test]
    fn nothing_is_verified_before_a_lookup() {
        let directory = Directory::default();
        let device = DeviceId::from_bytes([1; 32]);
        assert!(directory
            .device(AccountId::from_bytes([2; 32]), device)
            .is_none());
    }
}
