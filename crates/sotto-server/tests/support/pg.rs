//! A fresh PostgreSQL schema per test, when `SOTTO_TEST_DATABASE_URL` is set; when it is not,
//! the test is skipped loudly, or fails under `CI=true` (`services.rs`).

use sotto_server::store::postgres::PostgresStore;

use super::services;

/// The variable naming the test database.
pub const VAR: &str = services::DATABASE_VAR;

/// One test's schema.
pub struct Schema {
    /// Connection URL.
    pub url: String,
    /// Schema name (`t_` and random hex).
    pub name: String,
}

impl Schema {
    /// A new, unique schema name, or `None` (the skip reported) when no test database is
    /// configured; panics under `CI=true` then.
    pub async fn fresh() -> Option<Self> {
        let url = services::url(VAR)?;
        let name = format!(
            "t_{}",
            hex::encode(sotto_server::auth::tokens::random::<8>().unwrap())
        );
        Some(Self { url, name })
    }

    /// A store in this schema (created and migrated).
    pub async fn store(&self) -> PostgresStore {
        PostgresStore::connect_in_schema(&self.url, Some(&self.name))
            .await
            .unwrap()
    }

    /// Drops the schema.
    pub async fn drop(self) {
        PostgresStore::drop_schema(&self.url, &self.name)
            .await
            .unwrap();
    }
}
