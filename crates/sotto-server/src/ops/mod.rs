//! The operator's offline commands: back up, restore, check.
//!
//! - [`backup`]: a consistent copy of the database while the server runs.
//! - [`restore`]: a backup back in place, with the server stopped.
//! - [`check`]: configuration, database integrity, migrations, file modes.
//! - [`lock`]: the data-folder lock a server on SQLite holds while it serves.
//! - `sqlite`: what backup, restore and check share on a SQLite file.

pub mod backup;
pub mod check;
pub mod lock;
pub mod restore;
mod sqlite;

use std::path::PathBuf;
use std::str::FromStr;

use crate::config::Config;
use crate::error::Result;

/// Whether `config` uses PostgreSQL (the rule of [`crate::open_store`]).
pub fn is_postgres(config: &Config) -> bool {
    config
        .database_url
        .as_deref()
        .is_some_and(|url| url.starts_with("postgres"))
}

/// The SQLite database file of a configuration that does not use PostgreSQL: the file of a
/// `sqlite:` URL, or `data_dir/sotto.db`.
pub fn sqlite_path(config: &Config) -> Result<PathBuf> {
    Ok(match config.database_url.as_deref() {
        Some(url) => sqlx::sqlite::SqliteConnectOptions::from_str(url)?
            .get_filename()
            .to_path_buf(),
        None => config.data_dir.join("sotto.db"),
    })
}
