//! What `backup`, `restore` and `check` share on a SQLite file: opening one without creating
//! it, `PRAGMA integrity_check`, reading what a database holds (schema version, counts), and
//! private files written to a temporary name then renamed into place.
//!
//! These run on their own `rusqlite` connection in a blocking thread: the operator's commands
//! are one-shot processes, and the server's pool and writer thread are never involved.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use crate::error::{Error, Result};
use crate::store::migrate::SQLITE;

/// How long a statement of ours waits for a lock held by the server before SQLITE_BUSY.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// What a Sotto database holds, as the commands print it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Summary {
    /// The highest migration applied.
    pub version: i64,
    /// Every migration version applied.
    pub applied: Vec<i64>,
    /// Rows of `users`.
    pub accounts: i64,
    /// Rows of `devices`.
    pub devices: i64,
    /// Rows of `conversations`.
    pub conversations: i64,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "schema version {}, {} accounts, {} devices, {} conversations",
            self.version, self.accounts, self.devices, self.conversations
        )
    }
}

/// The newest migration this binary knows.
pub(crate) fn known_version() -> i64 {
    SQLITE.last().map_or(0, |m| m.version)
}

/// Opens an existing database file (never creates one).
pub(crate) fn open_existing(path: &Path, read_only: bool) -> Result<Connection> {
    let mode = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
    };
    let conn = Connection::open_with_flags(path, mode | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(conn)
}

/// `PRAGMA integrity_check`: `Ok(())`, or the problems it found (at most 10) as one line.
pub(crate) fn integrity(conn: &Connection) -> Result<std::result::Result<(), String>> {
    let mut stmt = conn.prepare("PRAGMA integrity_check(10)")?;
    let lines = stmt
        .query_map([], |row| row.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    if lines.len() == 1 && lines.first().is_some_and(|l| l == "ok") {
        Ok(Ok(()))
    } else {
        Ok(Err(lines.join("; ")))
    }
}

/// What a Sotto database holds; an error naming the problem when it is not one (no
/// `schema_migrations` or `users` table).
pub(crate) fn summary(conn: &Connection) -> Result<Summary> {
    let has = |table: &str| -> Result<bool> {
        Ok(conn
            .query_row(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [table],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    };
    for table in ["schema_migrations", "users", "devices", "conversations"] {
        if !has(table)? {
            return Err(Error::Ops {
                reason: format!("not a Sotto database (it has no {table} table)"),
            });
        }
    }
    let mut stmt = conn.prepare("SELECT version FROM schema_migrations ORDER BY version")?;
    let applied = stmt
        .query_map([], |row| row.get::<_, i64>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let count = |table: &str| -> Result<i64> {
        // The table names are the fixed ones above, never input.
        Ok(
            conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |row| {
                row.get(0)
            })?,
        )
    };
    Ok(Summary {
        version: applied.last().copied().unwrap_or(0),
        applied,
        accounts: count("users")?,
        devices: count("devices")?,
        conversations: count("conversations")?,
    })
}

/// A new, empty, private (`0600`) file beside `target` with a name of its own; refused if it
/// exists. The caller renames it over `target` once written ([`commit`]) or removes it.
pub(crate) fn private_temp(target: &Path) -> Result<PathBuf> {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = target.with_file_name(format!(".{name}.{}.partial", std::process::id()));
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(&temp).map_err(|source| Error::Io {
        what: "creating the temporary file",
        source,
    })?;
    Ok(temp)
}

/// Fsyncs `temp`, renames it to `target` and fsyncs the folder, so the rename survives a
/// power cut and `target` is either the old file or the whole new one.
pub(crate) fn commit(temp: &Path, target: &Path) -> Result<()> {
    let io = |what| move |source| Error::Io { what, source };
    File::open(temp)
        .and_then(|f| f.sync_all())
        .map_err(io("syncing the new file"))?;
    std::fs::rename(temp, target).map_err(io("renaming the new file into place"))?;
    sync_dir(target)
}

/// Fsyncs the folder holding `path` (its entries: a rename or a removal in it).
pub(crate) fn sync_dir(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|source| Error::Io {
                what: "syncing the folder",
                source,
            })?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Removes `path` if it exists.
pub(crate) fn remove_if_exists(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(Error::Io {
            what: "removing a file",
            source,
        }),
    }
}

/// `path` with `suffix` appended (`sotto.db` → `sotto.db-wal`).
pub(crate) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Runs blocking file and SQLite work off the async runtime.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| Error::TaskGone)?
}
