//! The SQLite backend: one file in the data folder, WAL journal, `synchronous = FULL`.
//!
//! `FULL` makes every commit durable (the WAL is fsynced on commit), which is what lets the relay
//! acknowledge an envelope only once it would survive a power cut; group commit
//! ([`crate::relay`]) amortises that fsync over every envelope in a batch. Foreign keys are on
//! and a busy timeout lets the few writers queue instead of failing.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use crate::store::migrate::{run_migrations, SQLITE};

/// The embedded store.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path` and migrates it.
    pub async fn open(path: &Path) -> crate::error::Result<Self> {
        let options = SqliteConnectOptions::new().filename(path);
        Self::with_options(options).await
    }

    /// Opens a `sqlite:` URL.
    pub async fn open_url(url: &str) -> crate::error::Result<Self> {
        Self::with_options(SqliteConnectOptions::from_str(url)?).await
    }

    async fn with_options(options: SqliteConnectOptions) -> crate::error::Result<Self> {
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        run_migrations!(&pool, SQLITE)?;
        Ok(Self { pool })
    }
}

crate::store::sql::impl_store!(
    SqliteStore,
    sqlx::Sqlite,
    sqlx::sqlite::SqliteRow,
    "sqlite",
    "BEGIN IMMEDIATE"
);
