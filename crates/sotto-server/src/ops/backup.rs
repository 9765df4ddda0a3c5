//! `sotto-server backup FILE`: a consistent copy of the database, taken from this separate
//! process while the server runs and writes (docs/configuration.md, "Backup, restore and
//! check").
//!
//! SQLite: `VACUUM INTO` a private temporary file beside FILE, then `journal_mode = DELETE` (so
//! the copy is one self-contained file), `PRAGMA integrity_check` on the copy, fsync, rename to
//! FILE, fsync the folder. `VACUUM INTO` rather than the online backup API because:
//! - it reads the whole database inside one read transaction, which in WAL mode is a snapshot
//!   that never blocks the server's group-commit writer (`store/sqlite/writer.rs`): writers
//!   append to the WAL while the copy reads the pages as of its start;
//! - the backup API stepped in pages from another process starts over whenever another
//!   connection writes between two steps, so under a steady write load it may never finish;
//!   in one step it holds the same read snapshot as `VACUUM INTO` and gains nothing;
//! - the copy comes out compacted (no free pages) and needs no further crate feature.
//!
//! While it runs, WAL checkpoints cannot move past its snapshot, so the WAL grows by what the
//! server writes meanwhile and is folded back once the copy ends. `SQLITE_BUSY` (the server
//! recovering its WAL at that instant) is retried.
//!
//! PostgreSQL: `pg_dump --format=custom` (found on `PATH`) into a private temporary file, then
//! `pg_restore --list` on it, then the same rename. The password of the URL goes to `pg_dump`
//! in `PGPASSWORD`, never on its command line (which other users can read in `ps`).

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use rusqlite::ErrorCode;

use super::sqlite::{self, blocking, Summary};
use crate::config::Config;
use crate::error::{Error, Result};

/// Attempts of `VACUUM INTO` that end in `SQLITE_BUSY` or `SQLITE_LOCKED` before giving up
/// (each after the connection's own busy timeout).
const BUSY_ATTEMPTS: u32 = 5;

/// Runs `sotto-server backup`; returns what to print.
pub async fn run(config: &Config, file: &Path) -> Result<String> {
    refuse_existing(file)?;
    if super::is_postgres(config) {
        return postgres(config, file).await;
    }
    let source = super::sqlite_path(config)?;
    let target = file.to_path_buf();
    let started = Instant::now();
    let (summary, bytes) = blocking(move || sqlite_backup(&source, &target)).await?;
    Ok(format!(
        "backup written: {} ({bytes} bytes; {summary}; integrity ok; {} ms)",
        file.display(),
        started.elapsed().as_millis()
    ))
}

/// Refuses an output that exists (a backup never overwrites anything).
fn refuse_existing(file: &Path) -> Result<()> {
    if std::fs::symlink_metadata(file).is_ok() {
        return Err(Error::Ops {
            reason: format!(
                "backup: {} exists; name a new file (a backup never overwrites one)",
                file.display()
            ),
        });
    }
    Ok(())
}

/// Copies the database at `source` to `target`; the copy's summary and size.
fn sqlite_backup(source: &Path, target: &Path) -> Result<(Summary, u64)> {
    if !source.exists() {
        return Err(Error::Ops {
            reason: format!("backup: there is no database at {}", source.display()),
        });
    }
    let temp = sqlite::private_temp(target)?;
    let outcome = copy_and_verify(source, &temp).and_then(|summary| {
        let bytes = std::fs::metadata(&temp)
            .map_err(|source| Error::Io {
                what: "reading the backup's size",
                source,
            })?
            .len();
        // Checked again just before the rename: a file made meanwhile is not replaced.
        refuse_existing(target)?;
        sqlite::commit(&temp, target)?;
        Ok((summary, bytes))
    });
    if outcome.is_err() {
        let _ = sqlite::remove_if_exists(&temp);
    }
    outcome
}

/// `VACUUM INTO` the empty private file `temp`, then make it self-contained and check it.
fn copy_and_verify(source: &Path, temp: &Path) -> Result<Summary> {
    let conn = sqlite::open_existing(source, false)?;
    let into = temp.to_str().ok_or_else(|| Error::Ops {
        reason: format!("backup: {} is not a UTF-8 path", temp.display()),
    })?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        match conn.execute("VACUUM INTO ?1", [into]) {
            Ok(_) => break,
            Err(rusqlite::Error::SqliteFailure(e, _))
                if attempt < BUSY_ATTEMPTS
                    && matches!(e.code, ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) =>
            {
                tracing::warn!(attempt, "backup: database busy, retrying");
                // `VACUUM INTO` needs an empty file; a failed attempt may have written some.
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(temp)
                    .and_then(|f| f.set_len(0))
                    .map_err(|source| Error::Io {
                        what: "emptying the backup file",
                        source,
                    })?;
                std::thread::sleep(Duration::from_millis(200 * u64::from(attempt)));
            }
            Err(e) => return Err(e.into()),
        }
    }
    drop(conn);
    let copy = sqlite::open_existing(temp, false)?;
    // One file, no WAL beside it: what a restore or an operator's copy expects.
    let _mode: String = copy.query_row("PRAGMA journal_mode = DELETE", [], |row| row.get(0))?;
    if let Err(problems) = sqlite::integrity(&copy)? {
        return Err(Error::Ops {
            reason: format!("backup: the copy fails its integrity check: {problems}"),
        });
    }
    let summary = sqlite::summary(&copy)?;
    drop(copy);
    Ok(summary)
}

/// `pg_dump` into `file` and `pg_restore --list` on it.
async fn postgres(config: &Config, file: &Path) -> Result<String> {
    let url = config.database_url.clone().unwrap_or_default();
    let (url, password) = split_password(&url);
    let target = file.to_path_buf();
    let temp = blocking(move || sqlite::private_temp(&target)).await?;
    let (schema, temp_c) = (config.database_schema.clone(), temp.clone());
    let outcome =
        blocking(move || pg_dump_and_list(&url, password.as_deref(), schema.as_deref(), &temp_c))
            .await;
    match outcome {
        Ok(entries) => {
            let (temp_c, target) = (temp.clone(), file.to_path_buf());
            let bytes = blocking(move || {
                refuse_existing(&target)?;
                sqlite::commit(&temp_c, &target)?;
                std::fs::metadata(&target)
                    .map(|m| m.len())
                    .map_err(|source| Error::Io {
                        what: "reading the backup's size",
                        source,
                    })
            })
            .await;
            if bytes.is_err() {
                let _ = std::fs::remove_file(&temp);
            }
            Ok(format!(
                "backup written: {} ({} bytes; pg_dump custom format, {entries} entries listed \
                 by pg_restore --list{})",
                file.display(),
                bytes?,
                config
                    .database_schema
                    .as_deref()
                    .map(|s| format!("; schema {s}"))
                    .unwrap_or_default()
            ))
        }
        Err(error) => {
            let _ = std::fs::remove_file(&temp);
            Err(error)
        }
    }
}

/// Runs `pg_dump` then `pg_restore --list`; the number of entries listed.
fn pg_dump_and_list(
    url: &str,
    password: Option<&str>,
    schema: Option<&str>,
    temp: &Path,
) -> Result<usize> {
    let mut dump = std::process::Command::new("pg_dump");
    dump.arg("--format=custom")
        .arg("--no-password")
        .arg(format!("--file={}", temp.display()))
        .arg(format!("--dbname={url}"));
    if let Some(schema) = schema {
        dump.arg(format!("--schema={schema}"));
    }
    if let Some(password) = password {
        dump.env("PGPASSWORD", password);
    }
    let out = dump
        .stdin(Stdio::null())
        .output()
        .map_err(|e| missing_tool("pg_dump", e))?;
    if !out.status.success() {
        return Err(Error::Ops {
            reason: format!(
                "backup: pg_dump failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    let list = std::process::Command::new("pg_restore")
        .arg("--list")
        .arg(temp)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| missing_tool("pg_restore", e))?;
    let text = String::from_utf8_lossy(&list.stdout);
    let entries = text
        .lines()
        .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
        .count();
    if !list.status.success() || entries == 0 {
        return Err(Error::Ops {
            reason: format!(
                "backup: pg_restore --list does not read the dump ({}): {}",
                list.status,
                String::from_utf8_lossy(&list.stderr).trim()
            ),
        });
    }
    Ok(entries)
}

/// The error for a PostgreSQL client program that could not be run.
fn missing_tool(tool: &str, e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::NotFound {
        Error::Ops {
            reason: format!(
                "backup: {tool} is not on PATH; install PostgreSQL's client programs of the \
                 server's major version or newer (Debian: postgresql-client)"
            ),
        }
    } else {
        Error::Io {
            what: "running a PostgreSQL client program",
            source: e,
        }
    }
}

/// A `postgres://user:password@host/db` URL without its password, and the password
/// (percent-decoded), so the password can travel in the environment instead of argv.
pub(crate) fn split_password(url: &str) -> (String, Option<String>) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_owned(), None);
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return (url.to_owned(), None);
    };
    let Some((user, password)) = userinfo.split_once(':') else {
        return (url.to_owned(), None);
    };
    (
        format!("{scheme}://{user}@{host}{tail}"),
        Some(percent_decode(password)),
    )
}

/// Decodes `%XX` escapes (a malformed escape is kept as written).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes.get(i), hex) {
            (Some(b'%'), Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (Some(&b), _) => {
                out.push(b);
                i += 1;
            }
            (None, _) => break,
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_password_leaves_the_url_for_the_environment() {
        assert_eq!(
            split_password("postgres://sotto:p%40ss:w@db.example:5432/chat?sslmode=require"),
            (
                "postgres://sotto@db.example:5432/chat?sslmode=require".to_owned(),
                Some("p@ss:w".to_owned())
            )
        );
        assert_eq!(
            split_password("postgres://postgres@127.0.0.1:5432/test"),
            ("postgres://postgres@127.0.0.1:5432/test".to_owned(), None)
        );
        assert_eq!(
            split_password("postgres:///test?host=/run/postgresql"),
            ("postgres:///test?host=/run/postgresql".to_owned(), None)
        );
    }
}
