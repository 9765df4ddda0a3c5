//! The encrypted profile file.
//!
//! `state.sotto` = magic `SOTTO-P1` ‖ salt\[16\] ‖ u32 memory KiB ‖ u32 passes ‖ u32 lanes ‖
//! nonce\[12\] ‖ AES-256-GCM(key, nonce, aad = everything before the ciphertext, snapshot).
//! The key is Argon2id(passphrase, salt) with the stored parameters; it is derived once per
//! process, kept zeroized-on-drop, and every save uses a fresh random nonce. Saves write a
//! temporary file, fsync it, and rename it over the old one, then fsync the folder. An
//! exclusive lock on `lock` keeps two processes from interleaving their writes.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use argon2::{Algorithm, Argon2, Params, Version};
use sotto_proto::crypto::aead::AeadKey;
use sotto_proto::{Rng, SystemRng};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::store::Vault;

/// The snapshot's file name inside the profile folder.
pub const STATE_FILE: &str = "state.sotto";
const LOCK_FILE: &str = "lock";
const MAGIC: &[u8; 8] = b"SOTTO-P1";
const HEADER_LEN: usize = 8 + 16 + 12 + 12;
/// How long to wait for another process to release the profile.
const LOCK_WAIT: Duration = Duration::from_secs(30);

/// A derived key with the salt and parameters it was derived with.
type CachedKey = (Zeroizing<[u8; 32]>, [u8; 16], KdfParams);

/// Argon2id cost parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes.
    pub passes: u32,
    /// Lanes.
    pub lanes: u32,
}

impl KdfParams {
    /// RFC 9106's memory-constrained recommendation: 64 MiB, 3 passes, 1 lane... with 4 lanes
    /// allowed by the RFC; we keep 1 lane so the cost does not depend on the core count.
    pub const DEFAULT: Self = Self {
        memory_kib: 64 * 1024,
        passes: 3,
        lanes: 1,
    };

    /// Tiny parameters for unit tests only: never use them for a real profile.
    pub fn danger_fast() -> Self {
        Self {
            memory_kib: 64,
            passes: 1,
            lanes: 1,
        }
    }
}

/// The profile snapshot in an encrypted file.
pub struct FileVault {
    path: PathBuf,
    passphrase: Zeroizing<Vec<u8>>,
    params: KdfParams,
    /// Derived key and salt, once known (first load or first save).
    key: std::sync::Mutex<Option<CachedKey>>,
    _lock: File,
}

impl std::fmt::Debug for FileVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileVault")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl FileVault {
    /// Opens (creating the folder if needed) the profile at `dir` with the default parameters.
    pub fn open(dir: &Path, passphrase: &[u8]) -> Result<Self> {
        Self::open_with(dir, passphrase, KdfParams::DEFAULT)
    }

    /// Opens with explicit parameters for a new profile (an existing one keeps its own).
    pub fn open_with(dir: &Path, passphrase: &[u8], params: KdfParams) -> Result<Self> {
        create_private_dir(dir)?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(LOCK_FILE))
            .map_err(|source| Error::Io {
                what: "opening the profile lock",
                source,
            })?;
        let start = Instant::now();
        loop {
            match lock.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) if start.elapsed() < LOCK_WAIT => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(std::fs::TryLockError::WouldBlock) => return Err(Error::ProfileBusy),
                Err(std::fs::TryLockError::Error(source)) => {
                    return Err(Error::Io {
                        what: "locking the profile",
                        source,
                    })
                }
            }
        }
        Ok(Self {
            path: dir.join(STATE_FILE),
            passphrase: Zeroizing::new(passphrase.to_vec()),
            params,
            key: std::sync::Mutex::new(None),
            _lock: lock,
        })
    }

    /// Whether a snapshot exists.
    pub fn exists(&self) -> bool {
        self.path.exists()
    }

    fn derive(&self, salt: &[u8; 16], params: KdfParams) -> Result<Zeroizing<[u8; 32]>> {
        let bad = |_| Error::CorruptStore {
            reason: "unusable key-derivation parameters",
        };
        let argon = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(params.memory_kib, params.passes, params.lanes, Some(32)).map_err(bad)?,
        );
        let mut key = Zeroizing::new([0u8; 32]);
        argon
            .hash_password_into(&self.passphrase, salt, key.as_mut())
            .map_err(bad)?;
        Ok(key)
    }

    fn lock_key(&self) -> Result<std::sync::MutexGuard<'_, Option<CachedKey>>> {
        self.key.lock().map_err(|_| Error::CorruptStore {
            reason: "key cache poisoned",
        })
    }
}

impl Vault for FileVault {
    fn load(&self) -> Result<Option<Zeroizing<Vec<u8>>>> {
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(Error::Io {
                    what: "reading the profile",
                    source,
                })
            }
        };
        let corrupt = Error::CorruptStore {
            reason: "not a Sotto profile file",
        };
        let (header, sealed) = bytes.split_at_checked(HEADER_LEN).ok_or(corrupt)?;
        let (magic, rest) = header.split_at(8);
        if magic != MAGIC {
            return Err(Error::CorruptStore {
                reason: "not a Sotto profile file",
            });
        }
        let (salt, rest) = rest.split_at(16);
        let (params, nonce) = rest.split_at(12);
        let word = |i: usize| -> u32 {
            let mut b = [0u8; 4];
            if let Some(src) = params.get(4 * i..4 * i + 4) {
                b.copy_from_slice(src);
            }
            u32::from_be_bytes(b)
        };
        let params = KdfParams {
            memory_kib: word(0),
            passes: word(1),
            lanes: word(2),
        };
        let mut salt_arr = [0u8; 16];
        salt_arr.copy_from_slice(salt);
        let mut nonce_arr = [0u8; 12];
        nonce_arr.copy_from_slice(nonce);
        let mut cache = self.lock_key()?;
        let key = match cache.as_ref() {
            Some((key, s, p)) if *s == salt_arr && *p == params => key.clone(),
            _ => self.derive(&salt_arr, params)?,
        };
        let plain = AeadKey::new(key.clone(), nonce_arr)
            .open(header, sealed)
            .map_err(|_| Error::WrongPassphrase)?;
        *cache = Some((key, salt_arr, params));
        Ok(Some(plain))
    }

    fn save(&self, snapshot: &[u8]) -> Result<()> {
        let mut rng = SystemRng::new();
        let mut cache = self.lock_key()?;
        let (key, salt, params) = match cache.as_ref() {
            Some(entry) => entry.clone(),
            None => {
                let mut salt = [0u8; 16];
                rng.fill(&mut salt)?;
                (self.derive(&salt, self.params)?, salt, self.params)
            }
        };
        let mut nonce = [0u8; 12];
        rng.fill(&mut nonce)?;
        let mut out = Vec::with_capacity(HEADER_LEN + snapshot.len() + 16);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&salt);
        for word in [params.memory_kib, params.passes, params.lanes] {
            out.extend_from_slice(&word.to_be_bytes());
        }
        out.extend_from_slice(&nonce);
        let sealed = AeadKey::new(key.clone(), nonce).seal(&out, snapshot)?;
        out.extend_from_slice(&sealed);
        write_atomically(&self.path, &out)?;
        *cache = Some((key, salt, params));
        Ok(())
    }
}

/// Creates `dir` readable only by its owner.
fn create_private_dir(dir: &Path) -> Result<()> {
    let io = |source| Error::Io {
        what: "creating the profile folder",
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
    }
    Ok(())
}

/// Writes `bytes` to a temporary file, syncs it and renames it over `path`.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |source| Error::Io {
        what: "writing the profile",
        source,
    };
    let tmp = path.with_extension("tmp");
    {
        let mut file = File::create(&tmp).map_err(io)?;
        file.write_all(bytes).map_err(io)?;
        file.sync_all().map_err(io)?;
    }
    std::fs::rename(&tmp, path).map_err(io)?;
    if let Some(parent) = path.parent() {
        if let Ok(dir) = File::open(parent) {
            let _ = dir.sync_all();
        }
    }
    Ok(())
}
