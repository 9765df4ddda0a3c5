//! `sotto-server restore FILE [--force]`: a backup back in place, with the server stopped
//! (docs/configuration.md, "Backup, restore and check").
//!
//! SQLite, in this order, changing nothing until the last steps:
//! 1. take the data-folder lock ([`super::lock`]): refused while a server runs on the folder,
//!    and no server can start until the restore is done;
//! 2. copy FILE to a private temporary file in the database's folder and fsync it (the checks
//!    run on that copy, so FILE is never opened for writing and cannot change under them);
//! 3. check the copy: `PRAGMA integrity_check`, a Sotto schema, a migration version this binary
//!    knows (an older one is migrated at the next start; a newer one is refused);
//! 4. refuse to replace a database that holds accounts (or cannot be read) unless `--force`;
//! 5. remove the old database's `-wal` and `-shm` (they belong to the file being replaced and
//!    would otherwise be replayed into the restored one), rename the copy over the database,
//!    fsync the folder.
//!
//! PostgreSQL: the command does not write to PostgreSQL; it prints the `pg_restore` procedure
//! and exits non-zero, so a script that expected a restore notices.

use std::path::Path;

use super::lock::DataLock;
use super::sqlite::{self, blocking, known_version, Summary};
use crate::config::Config;
use crate::error::{Error, Result};

/// Runs `sotto-server restore`; returns what to print.
pub async fn run(config: &Config, file: &Path, force: bool) -> Result<String> {
    if super::is_postgres(config) {
        return Err(Error::Ops {
            reason: postgres_procedure(config, file),
        });
    }
    let database = super::sqlite_path(config)?;
    let data_dir = config.data_dir.clone();
    let file = file.to_path_buf();
    blocking(move || restore_sqlite(&data_dir, &database, &file, force)).await
}

fn restore_sqlite(data_dir: &Path, database: &Path, file: &Path, force: bool) -> Result<String> {
    if !file.is_file() {
        return Err(Error::Ops {
            reason: format!("restore: {} is not a file", file.display()),
        });
    }
    crate::private_files::dir(data_dir)?;
    let _lock = DataLock::take(data_dir, "restore")?;
    let temp = sqlite::private_temp(database)?;
    let outcome = stage_and_swap(database, file, &temp, force);
    if outcome.is_err() {
        let _ = sqlite::remove_if_exists(&temp);
    }
    outcome
}

fn stage_and_swap(database: &Path, file: &Path, temp: &Path, force: bool) -> Result<String> {
    copy_contents(file, temp)?;
    let restored = check_backup(file, temp)?;
    if let Some(reason) = occupied(database)? {
        if !force {
            return Err(Error::Ops {
                reason: format!(
                    "restore: {} {reason}; nothing was changed. Run `sotto-server restore {} \
                     --force` to replace it (back it up first if it matters)",
                    database.display(),
                    file.display()
                ),
            });
        }
    }
    for suffix in ["-wal", "-shm"] {
        sqlite::remove_if_exists(&sqlite::with_suffix(database, suffix))?;
    }
    sqlite::commit(temp, database)?;
    let known = known_version();
    let upgrade = if restored.version < known {
        format!(
            "; the server migrates it from version {} to {known} when it starts",
            restored.version
        )
    } else {
        String::new()
    };
    Ok(format!(
        "restored {} into {} ({restored}){upgrade}",
        file.display(),
        database.display()
    ))
}

/// Copies `file`'s bytes into the existing private `temp` (keeping its `0600`).
fn copy_contents(file: &Path, temp: &Path) -> Result<()> {
    let io = |what| move |source| Error::Io { what, source };
    let mut from = std::fs::File::open(file).map_err(io("opening the backup"))?;
    let mut to = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(temp)
        .map_err(io("opening the temporary copy"))?;
    std::io::copy(&mut from, &mut to).map_err(io("copying the backup"))?;
    to.sync_all().map_err(io("syncing the temporary copy"))
}

/// Checks the staged copy of `file` is a sound Sotto database this binary can run.
fn check_backup(file: &Path, temp: &Path) -> Result<Summary> {
    let not_usable = |why: String| Error::Ops {
        reason: format!(
            "restore: {} is not a usable Sotto backup: {why}; nothing was changed",
            file.display()
        ),
    };
    let conn = sqlite::open_existing(temp, false).map_err(|e| not_usable(e.to_string()))?;
    match sqlite::integrity(&conn) {
        Ok(Ok(())) => {}
        Ok(Err(problems)) => return Err(not_usable(format!("integrity check: {problems}"))),
        Err(e) => return Err(not_usable(e.to_string())),
    }
    let summary = sqlite::summary(&conn).map_err(|e| not_usable(e.to_string()))?;
    let known = known_version();
    if summary.version > known {
        return Err(not_usable(format!(
            "its schema version {} is newer than this server's {known} (restore it with the \
             release that made it, or upgrade this one)",
            summary.version
        )));
    }
    if summary.version < 1 {
        return Err(not_usable("it records no migration".to_owned()));
    }
    // A backup taken by `backup` is in DELETE mode; one copied by hand from a WAL database may
    // not be. Either way the restored file stands alone: the server turns WAL on at start.
    let _mode: String = conn.query_row("PRAGMA journal_mode = DELETE", [], |row| row.get(0))?;
    drop(conn);
    for suffix in ["-wal", "-shm", "-journal"] {
        sqlite::remove_if_exists(&sqlite::with_suffix(temp, suffix))?;
    }
    std::fs::File::open(temp)
        .and_then(|f| f.sync_all())
        .map_err(|source| Error::Io {
            what: "syncing the temporary copy",
            source,
        })?;
    Ok(summary)
}

/// Why the database at `database` must not be replaced without `--force`, if it must not.
fn occupied(database: &Path) -> Result<Option<String>> {
    if !database.exists() {
        return Ok(None);
    }
    let read = sqlite::open_existing(database, false).and_then(|conn| sqlite::summary(&conn));
    Ok(match read {
        Ok(summary) if summary.accounts == 0 => None,
        Ok(summary) => Some(format!("holds {} accounts", summary.accounts)),
        Err(e) => Some(format!(
            "exists and cannot be read as a Sotto database ({e})"
        )),
    })
}

/// What to run to restore a PostgreSQL backup (docs/configuration.md says the same).
fn postgres_procedure(config: &Config, file: &Path) -> String {
    let schema = config
        .database_schema
        .as_deref()
        .map(|s| format!(" --schema={s}"))
        .unwrap_or_default();
    format!(
        "restore: this server uses PostgreSQL; `sotto-server restore` does not write to it. \
         With every node stopped, restore the pg_dump file into the configured database:\n  \
         pg_restore --clean --if-exists --no-owner --exit-on-error --single-transaction{schema} \
         --dbname=\"$DATABASE_URL\" {}\nthen run `sotto-server check` and start the nodes.",
        file.display()
    )
}
