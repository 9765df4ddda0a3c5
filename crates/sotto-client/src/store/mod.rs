//! The device's local store: where keys and state live between runs.
//!
//! The seam is [`Vault`]: it loads and saves one opaque snapshot of the profile ([`state`]),
//! atomically. [`file::FileVault`] keeps it in a profile folder, encrypted under a key derived
//! from a passphrase (Argon2id, then AES-256-GCM); [`MemoryVault`] keeps it in memory for tests.
//! Both pass the same contract test below.
//!
//! # Layout
//! - this module: the [`Vault`] trait and [`MemoryVault`].
//! - [`mod@file`]: the encrypted profile file, its lock and atomic replacement.
//! - [`state`]: what the snapshot holds.

pub mod file;
pub mod state;

use std::sync::Mutex;

use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Durable storage of the profile snapshot.
pub trait Vault: Send {
    /// The last saved snapshot, if any.
    fn load(&self) -> Result<Option<Zeroizing<Vec<u8>>>>;
    /// Replaces the snapshot atomically: after a crash either the old or the new one is there.
    fn save(&self, snapshot: &[u8]) -> Result<()>;
}

/// A vault in memory (tests).
#[derive(Default)]
pub struct MemoryVault {
    snapshot: Mutex<Option<Zeroizing<Vec<u8>>>>,
}

impl std::fmt::Debug for MemoryVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MemoryVault(<secret>)")
    }
}

impl Vault for MemoryVault {
    fn load(&self) -> Result<Option<Zeroizing<Vec<u8>>>> {
        let guard = self.snapshot.lock().map_err(|_| Error::CorruptStore {
            reason: "memory vault poisoned",
        })?;
        Ok(guard.clone())
    }

    fn save(&self, snapshot: &[u8]) -> Result<()> {
        let mut guard = self.snapshot.lock().map_err(|_| Error::CorruptStore {
            reason: "memory vault poisoned",
        })?;
        *guard = Some(Zeroizing::new(snapshot.to_vec()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    /// What every vault must do.
    fn contract(vault: &dyn Vault) {
        assert!(vault.load().unwrap().is_none());
        vault.save(b"first").unwrap();
        assert_eq!(vault.load().unwrap().unwrap().as_slice(), b"first");
        vault.save(b"second, longer").unwrap();
        assert_eq!(vault.load().unwrap().unwrap().as_slice(), b"second, longer");
    }

    #[test]
    fn memory_vault_passes_the_contract() {
        contract(&MemoryVault::default());
    }

    #[test]
    fn file_vault_passes_the_contract_and_refuses_a_wrong_passphrase() {
        let dir = tempfile::tempdir().unwrap();
        let params = file::KdfParams::danger_fast();
        {
            let vault = file::FileVault::open_with(dir.path(), b"pass phrase", params).unwrap();
            contract(&vault);
        }
        let again = file::FileVault::open_with(dir.path(), b"pass phrase", params).unwrap();
        assert_eq!(again.load().unwrap().unwrap().as_slice(), b"second, longer");
        drop(again);
        let wrong = file::FileVault::open_with(dir.path(), b"wrong", params).unwrap();
        assert!(matches!(wrong.load(), Err(Error::WrongPassphrase)));
        // The file holds no plaintext.
        let bytes = std::fs::read(dir.path().join(file::STATE_FILE)).unwrap();
        assert!(!bytes.windows(6).any(|w| w == b"second"));
    }
}
