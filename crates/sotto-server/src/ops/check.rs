//! `sotto-server check`: one line per check, `ok` or `FAIL` with what to do, and a non-zero exit
//! (an `Err` holding the whole report) when any failed (docs/configuration.md, "Backup, restore
//! and check"). It changes nothing: no certificate is generated, no migration runs, no mode is
//! tightened (the server itself tightens modes at start, `private_files.rs`).
//!
//! Checks: the configuration validates; the data folder exists, is `0700` and the current
//! user's; the TLS key and database files are `0600` and the current user's; the certificate
//! and key load and match; the database opens and passes `PRAGMA integrity_check` (SQLite) or
//! answers (PostgreSQL); migrations applied against those this binary knows (an unknown newer
//! one fails); and, for information, whether a server holds the data-folder lock.

use std::path::Path;

use super::sqlite::{self, blocking};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::store::migrate::{Migration, POSTGRES, SQLITE};
use crate::store::postgres::ConnectionRoom;

/// The lines printed so far and how many failed.
#[derive(Debug, Default)]
struct Report {
    lines: Vec<String>,
    failed: usize,
}

impl Report {
    fn ok(&mut self, what: impl std::fmt::Display) {
        self.lines.push(format!("ok    {what}"));
    }

    fn info(&mut self, what: impl std::fmt::Display) {
        self.lines.push(format!("info  {what}"));
    }

    fn fail(&mut self, what: impl std::fmt::Display, fix: impl std::fmt::Display) {
        self.failed += 1;
        self.lines.push(format!("FAIL  {what}\n      fix: {fix}"));
    }

    fn text(&self) -> String {
        self.lines.join("\n")
    }
}

/// Runs `sotto-server check`; returns what to print.
pub async fn run(config: &Config) -> Result<String> {
    let mut report = Report::default();
    match config.validate() {
        Ok(()) => report.ok("configuration is valid"),
        Err(e) => report.fail(
            format!("configuration: {e}"),
            "correct the setting in the configuration file, SOTTO_* variable or flag",
        ),
    }
    let postgres = super::is_postgres(config);
    let owner = current_uid();
    folder(&mut report, &config.data_dir, owner);
    tls(&mut report, config, owner);
    if postgres {
        postgres_database(&mut report, config).await;
    } else {
        match super::sqlite_path(config) {
            Ok(path) => {
                let (lines, owner_c) = (std::mem::take(&mut report), owner);
                report = blocking(move || {
                    let mut report = lines;
                    sqlite_database(&mut report, &path, owner_c);
                    Ok(report)
                })
                .await?;
            }
            Err(e) => report.fail(
                format!("database_url: {e}"),
                "set database_url to sqlite:PATH or postgres://…, or unset it",
            ),
        }
        match super::lock::held_by_another(&config.data_dir) {
            Ok(true) => report.info("a server is running on this data folder (it holds the lock)"),
            Ok(false) => report.info("no server is running on this data folder"),
            Err(e) => report.info(format!("the data-folder lock could not be tried: {e}")),
        }
    }
    if report.failed == 0 {
        Ok(format!("{}\nall checks passed", report.text()))
    } else {
        Err(Error::Ops {
            reason: format!(
                "check found problems:\n{}\n{} check(s) failed",
                report.text(),
                report.failed
            ),
        })
    }
}

/// The effective user id of this process: the owner of `/proc/self` on Linux; `None` where
/// that cannot be read (ownership is then not checked).
fn current_uid() -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata("/proc/self").ok().map(|m| m.uid())
    }
    #[cfg(not(unix))]
    None
}

/// Whether `path` has no group or other bits and belongs to `owner`; the failure otherwise.
fn private(path: &Path, mode_wanted: u32, owner: Option<u32>) -> std::result::Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let metadata = std::fs::metadata(path).map_err(|e| format!("cannot be read: {e}"))?;
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(format!(
                "mode {mode:o}, readable by other users (want {mode_wanted:o})"
            ));
        }
        if let Some(owner) = owner {
            if metadata.uid() != owner {
                return Err(format!(
                    "owned by user {} instead of the current user {owner}",
                    metadata.uid()
                ));
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (path, mode_wanted, owner);
    Ok(())
}

fn folder(report: &mut Report, dir: &Path, owner: Option<u32>) {
    let shown = dir.display();
    if !dir.is_dir() {
        report.fail(
            format!("data folder {shown} does not exist"),
            format!("create it (`install -d -m 700 {shown}`) or start the server once"),
        );
        return;
    }
    match private(dir, 0o700, owner) {
        Ok(()) => report.ok(format!(
            "data folder {shown} is private (0700, this user's)"
        )),
        Err(why) => report.fail(
            format!("data folder {shown}: {why}"),
            format!("chmod 700 {shown} (and chown it to the server's user)"),
        ),
    }
}

fn tls(report: &mut Report, config: &Config, owner: Option<u32>) {
    let (cert, key) = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => (cert.clone(), key.clone()),
        _ => {
            let dir = config.data_dir.join("tls");
            let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
            if !cert.exists() && !key.exists() {
                report.info(format!(
                    "no TLS certificate in {} yet: a self-signed one is made at first start",
                    dir.display()
                ));
                return;
            }
            (cert, key)
        }
    };
    match private(&key, 0o600, owner) {
        Ok(()) => report.ok(format!("TLS key {} is private (0600)", key.display())),
        Err(why) => report.fail(
            format!("TLS key {}: {why}", key.display()),
            format!(
                "chmod 600 {} (and chown it to the server's user)",
                key.display()
            ),
        ),
    }
    match crate::tls::check_pair(&cert, &key) {
        Ok(served) => {
            report.ok(format!(
                "TLS certificate {} and key load and match",
                cert.display()
            ));
            expiry(report, &served);
        }
        Err(why) => report.fail(
            format!(
                "TLS certificate {} / key {}: {why}",
                cert.display(),
                key.display()
            ),
            "point tls_cert and tls_key at a PEM chain and its private key",
        ),
    }
}

/// The leaf's validity: within `tls::EXPIRY_WARNING` of its end, expired or not yet valid is a
/// failure (clients refuse an expired certificate; renewing takes time).
fn expiry(report: &mut Report, served: &crate::tls::ServerCert) {
    use crate::tls::{self, Standing};
    let renew = "renew it, then reload the server (`systemctl reload sotto` or `kill -HUP`)";
    let cert = served.cert_path.display();
    let until = tls::utc(served.not_after);
    match Standing::at(
        served.not_before,
        served.not_after,
        std::time::SystemTime::now(),
    ) {
        Standing::Valid => report.ok(format!("TLS certificate valid until {until}")),
        Standing::ExpiresSoon { days_left } => report.fail(
            format!("TLS certificate {cert} expires in {days_left} days ({until})"),
            renew,
        ),
        Standing::Expired => {
            report.fail(format!("TLS certificate {cert} expired on {until}"), renew)
        }
        Standing::NotYetValid => report.fail(
            format!(
                "TLS certificate {cert} is not valid before {}",
                tls::utc(served.not_before)
            ),
            "check the server's clock, or use a certificate valid now",
        ),
    }
}

fn sqlite_database(report: &mut Report, path: &Path, owner: Option<u32>) {
    let shown = path.display();
    if !path.exists() {
        report.info(format!(
            "no database at {shown} yet: it is made and migrated at first start"
        ));
        return;
    }
    for file in [
        path.to_path_buf(),
        sqlite::with_suffix(path, "-wal"),
        sqlite::with_suffix(path, "-shm"),
    ] {
        if !file.exists() {
            continue;
        }
        match private(&file, 0o600, owner) {
            Ok(()) => report.ok(format!(
                "database file {} is private (0600)",
                file.display()
            )),
            Err(why) => report.fail(
                format!("database file {}: {why}", file.display()),
                format!(
                    "chmod 600 {} (and chown it to the server's user)",
                    file.display()
                ),
            ),
        }
    }
    let conn = match sqlite::open_existing(path, false) {
        Ok(conn) => conn,
        Err(e) => {
            report.fail(
                format!("database {shown} does not open: {e}"),
                "restore the latest backup (`sotto-server restore FILE`)",
            );
            return;
        }
    };
    match sqlite::integrity(&conn) {
        Ok(Ok(())) => report.ok(format!("database {shown} passes its integrity check")),
        Ok(Err(problems)) => {
            report.fail(
                format!("database {shown} fails its integrity check: {problems}"),
                "restore the latest backup (`sotto-server restore FILE --force`)",
            );
            return;
        }
        Err(e) => {
            report.fail(
                format!("database {shown} cannot be checked: {e}"),
                "restore the latest backup (`sotto-server restore FILE --force`)",
            );
            return;
        }
    }
    match sqlite::summary(&conn) {
        Ok(summary) => {
            report.info(format!("database holds {summary}"));
            migrations(report, SQLITE, &summary.applied);
        }
        Err(e) => report.fail(
            format!("database {shown}: {e}"),
            "point data_dir or database_url at the server's database",
        ),
    }
}

async fn postgres_database(report: &mut Report, config: &Config) {
    use sqlx::Connection;
    let url = config.database_url.as_deref().unwrap_or_default();
    let mut conn = match sqlx::PgConnection::connect(url).await {
        Ok(conn) => conn,
        Err(e) => {
            report.fail(
                format!("PostgreSQL does not answer: {e}"),
                "start PostgreSQL, or correct database_url (user, password, host, database)",
            );
            return;
        }
    };
    report.ok("PostgreSQL answers");
    connection_room(report, &mut conn, config.database_pool_size).await;
    let table = match config.database_schema.as_deref() {
        Some(schema) => format!("\"{}\".schema_migrations", schema.replace('"', "\"\"")),
        None => "schema_migrations".to_owned(),
    };
    let applied: std::result::Result<Vec<i64>, sqlx::Error> =
        // The schema name is the operator's own setting, quoted as an identifier.
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT version FROM {table} ORDER BY version"
        )))
            .fetch_all(&mut conn)
            .await;
    match applied {
        Ok(applied) => migrations(report, POSTGRES, &applied),
        Err(e) => report.info(format!(
            "no migrations recorded yet ({e}): they run at first start"
        )),
    }
    let _ = conn.close().await;
}

/// Whether PostgreSQL can hold a node's pool: a failure when not even one node's fits under
/// `max_connections`, the number of nodes it holds otherwise.
async fn connection_room(report: &mut Report, conn: &mut sqlx::PgConnection, pool_size: u32) {
    let room = match ConnectionRoom::read(conn).await {
        Ok(room) => room,
        Err(e) => {
            report.info(format!(
                "PostgreSQL's connection limits cannot be read: {e}"
            ));
            return;
        }
    };
    let usable = room.usable();
    if usable < i64::from(pool_size) {
        report.fail(
            format!(
                "PostgreSQL allows {usable} connections (max_connections {} less {} reserved) \
                 and one node may open {pool_size} (database_pool_size)",
                room.max, room.reserved
            ),
            "raise max_connections in postgresql.conf and restart PostgreSQL, or lower \
             database_pool_size",
        );
        return;
    }
    report.info(format!(
        "PostgreSQL allows {usable} connections (max_connections {} less {} reserved), {} in \
         use now, {} free; each node opens up to {pool_size} (database_pool_size), so {} nodes \
         at most, with nothing else connected",
        room.max,
        room.reserved,
        room.in_use,
        room.free(),
        room.nodes_at_most(pool_size)
    ));
}

/// Applied against known: pending ones listed (they run at the next start), an unknown newer
/// one fails (this binary is older than the database).
fn migrations(report: &mut Report, known: &[Migration], applied: &[i64]) {
    let unknown: Vec<i64> = applied
        .iter()
        .copied()
        .filter(|v| !known.iter().any(|m| m.version == *v))
        .collect();
    let pending: Vec<String> = known
        .iter()
        .filter(|m| !applied.contains(&m.version))
        .map(|m| format!("{} {}", m.version, m.name))
        .collect();
    let newest = known.last().map_or(0, |m| m.version);
    if !unknown.is_empty() {
        report.fail(
            format!(
                "migrations {unknown:?} are unknown to this binary (it knows up to {newest}): \
                 the database was used by a newer release"
            ),
            "run the release that migrated it, or restore a backup taken with this one",
        );
    } else if pending.is_empty() {
        report.ok(format!("migrations: all {} applied", known.len()));
    } else {
        report.ok(format!(
            "migrations: {} of {} applied; pending (run at the next start): {}",
            applied.len(),
            known.len(),
            pending.join(", ")
        ));
    }
}
