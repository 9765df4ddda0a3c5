//! The data-folder lock: a server on the SQLite store holds an exclusive advisory lock
//! (`flock`, through std's `File::try_lock`) on `data_dir/sotto.lock` while it serves, so a
//! second server on the same folder and a `restore` under a running server are refused. The
//! kernel releases it when the holder's file is closed: when the server stops, or when its
//! process ends however it ends, so a crash never leaves a stale lock behind.
//!
//! It is separate from the relay queue's lock (`store/sqlite/queue_lock.rs`), which says which
//! process writes envelopes into a database file and is taken late on purpose; this one is
//! about the folder as a whole and is taken before anything in it is opened.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The lock file's name in the data folder.
pub const FILE_NAME: &str = "sotto.lock";

/// A held data-folder lock; dropping it releases the lock.
#[derive(Debug)]
pub struct DataLock {
    path: PathBuf,
    _file: File,
}

impl DataLock {
    /// Takes the lock on `data_dir` (which must exist), for `purpose` (named in the refusal):
    /// refused with a clear message when another process holds it.
    pub fn take(data_dir: &Path, purpose: &str) -> Result<Self> {
        let path = data_dir.join(FILE_NAME);
        let file = open(&path)?;
        match file.try_lock() {
            Ok(()) => Ok(Self { path, _file: file }),
            Err(TryLockError::WouldBlock) => Err(Error::Ops {
                reason: format!(
                    "{purpose}: a Sotto server is running on the data folder {} (it holds {}); \
                     stop it first",
                    data_dir.display(),
                    path.display()
                ),
            }),
            Err(TryLockError::Error(source)) => Err(Error::Io {
                what: "locking the data folder",
                source,
            }),
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Whether another process holds the lock on `data_dir` now (a missing folder or lock file:
/// no). Taking and releasing it to find out is harmless: a server starting at that instant
/// waits for nothing, it is only refused, and retrying starts it.
pub fn held_by_another(data_dir: &Path) -> Result<bool> {
    let path = data_dir.join(FILE_NAME);
    if !path.exists() {
        return Ok(false);
    }
    let file = open(&path)?;
    match file.try_lock() {
        Ok(()) => Ok(false),
        Err(TryLockError::WouldBlock) => Ok(true),
        Err(TryLockError::Error(source)) => Err(Error::Io {
            what: "locking the data folder",
            source,
        }),
    }
}

/// Opens (creating `0600` if needed) the lock file; it holds no data.
fn open(path: &Path) -> Result<File> {
    crate::private_files::tighten(path, 0o600)?;
    let mut options = OpenOptions::new();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map_err(|source| Error::Io {
        what: "opening the data folder lock",
        source,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_released_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!held_by_another(dir.path()).unwrap());
        let first = DataLock::take(dir.path(), "serve").unwrap();
        let refused = DataLock::take(dir.path(), "restore")
            .unwrap_err()
            .to_string();
        assert!(refused.contains("a Sotto server is running"), "{refused}");
        assert!(held_by_another(dir.path()).unwrap());
        drop(first);
        assert!(!held_by_another(dir.path()).unwrap());
        let again = DataLock::take(dir.path(), "serve").unwrap();
        assert_eq!(again.path(), dir.path().join(FILE_NAME));
    }
}
