//! Which process owns a SQLite database's relay queue (D25).
//!
//! The hot queue lives in one process's memory, so only one process may write envelopes into a
//! database file. An exclusive lock on a file beside it (`<database>-relay.lock`, `flock`) says
//! which: the writer takes it at start if it can, and otherwise before its first batch, when it
//! must also read the relay log again (the process that held the lock may have written since).
//! A process that only reads or sets up rows (the load generator's `--attach`) never needs it.
//! The kernel releases the lock when the process ends, however it ends.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The lock, held or not yet.
#[derive(Debug)]
pub(crate) struct QueueLock {
    path: PathBuf,
    held: Option<File>,
}

impl QueueLock {
    /// The lock for the database at `database` (not taken yet).
    pub(crate) fn beside(database: &Path) -> Self {
        let mut name = database.as_os_str().to_owned();
        name.push("-relay.lock");
        Self {
            path: PathBuf::from(name),
            held: None,
        }
    }

    /// Whether this process holds it.
    pub(crate) fn is_held(&self) -> bool {
        self.held.is_some()
    }

    /// Takes the lock if no other process holds it; whether it is held now.
    pub(crate) fn try_take(&mut self) -> Result<bool> {
        if self.held.is_some() {
            return Ok(true);
        }
        crate::private_files::tighten(&self.path, 0o600)?;
        let mut options = OpenOptions::new();
        options.create(true).truncate(false).write(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&self.path).map_err(|source| Error::Io {
            what: "opening the relay queue lock",
            source,
        })?;
        match file.try_lock() {
            Ok(()) => {
                self.held = Some(file);
                Ok(true)
            }
            Err(TryLockError::WouldBlock) => Ok(false),
            Err(TryLockError::Error(source)) => Err(Error::Io {
                what: "locking the relay queue",
                source,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_released_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("sotto.db");
        let mut first = QueueLock::beside(&db);
        let mut second = QueueLock::beside(&db);
        assert!(first.try_take().unwrap());
        assert!(first.try_take().unwrap(), "taking it again is a no-op");
        assert!(!second.try_take().unwrap());
        assert!(!second.is_held());
        drop(first);
        assert!(second.try_take().unwrap());
        assert!(dir.path().join("sotto.db-relay.lock").exists());
    }
}
