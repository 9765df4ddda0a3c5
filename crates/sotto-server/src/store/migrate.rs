//! Versioned schema migrations. Each backend has an ordered list of `(version, name, sql)`; a
//! `schema_migrations` table records what ran. Every pending migration runs in its own
//! transaction together with its bookkeeping row, so a failed upgrade leaves the previous
//! version intact. Migrations are append-only: a released one is never edited.

use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Type};

use crate::error::Result;

/// One schema step.
#[derive(Clone, Copy, Debug)]
pub struct Migration {
    /// Increasing version number.
    pub version: i64,
    /// Short description.
    pub name: &'static str,
    /// The statements.
    pub sql: &'static str,
}

/// SQLite's migrations.
pub const SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sql: include_str!("../../migrations/sqlite/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "lean queue",
        sql: include_str!("../../migrations/sqlite/0002_lean_queue.sql"),
    },
    Migration {
        version: 3,
        name: "refresh retry",
        sql: include_str!("../../migrations/sqlite/0003_refresh_retry.sql"),
    },
    Migration {
        version: 4,
        name: "single-copy bodies",
        sql: include_str!("../../migrations/sqlite/0004_single_copy_bodies.sql"),
    },
    Migration {
        version: 5,
        name: "attachment quota",
        sql: include_str!("../../migrations/sqlite/0005_attachment_quota.sql"),
    },
    Migration {
        version: 6,
        name: "relay log",
        sql: include_str!("../../migrations/sqlite/0006_relay_log.sql"),
    },
    Migration {
        version: 7,
        name: "consent",
        sql: include_str!("../../migrations/sqlite/0007_consent.sql"),
    },
    Migration {
        version: 8,
        name: "recovery and history",
        sql: include_str!("../../migrations/sqlite/0008_recovery_history.sql"),
    },
    Migration {
        version: 9,
        name: "former members",
        sql: include_str!("../../migrations/sqlite/0009_former_members.sql"),
    },
    Migration {
        version: 10,
        name: "prekeys",
        sql: include_str!("../../migrations/sqlite/0010_prekeys.sql"),
    },
    Migration {
        version: 11,
        name: "invites",
        sql: include_str!("../../migrations/sqlite/0011_invites.sql"),
    },
    Migration {
        version: 12,
        name: "account state",
        sql: include_str!("../../migrations/sqlite/0012_account_state.sql"),
    },
];

/// PostgreSQL's migrations (the same steps, in its dialect).
pub const POSTGRES: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sql: include_str!("../../migrations/postgres/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "lean queue",
        sql: include_str!("../../migrations/postgres/0002_lean_queue.sql"),
    },
    Migration {
        version: 3,
        name: "refresh retry",
        sql: include_str!("../../migrations/postgres/0003_refresh_retry.sql"),
    },
    Migration {
        version: 4,
        name: "single-copy bodies",
        sql: include_str!("../../migrations/postgres/0004_single_copy_bodies.sql"),
    },
    Migration {
        version: 5,
        name: "attachment quota",
        sql: include_str!("../../migrations/postgres/0005_attachment_quota.sql"),
    },
    Migration {
        version: 6,
        name: "relay log",
        sql: include_str!("../../migrations/postgres/0006_relay_log.sql"),
    },
    Migration {
        version: 7,
        name: "consent",
        sql: include_str!("../../migrations/postgres/0007_consent.sql"),
    },
    Migration {
        version: 8,
        name: "recovery and history",
        sql: include_str!("../../migrations/postgres/0008_recovery_history.sql"),
    },
    Migration {
        version: 9,
        name: "former members",
        sql: include_str!("../../migrations/postgres/0009_former_members.sql"),
    },
    Migration {
        version: 10,
        name: "prekeys",
        sql: include_str!("../../migrations/postgres/0010_prekeys.sql"),
    },
    Migration {
        version: 11,
        name: "invites",
        sql: include_str!("../../migrations/postgres/0011_invites.sql"),
    },
    Migration {
        version: 12,
        name: "account state",
        sql: include_str!("../../migrations/postgres/0012_account_state.sql"),
    },
];

/// The bookkeeping table, valid in both dialects.
pub(crate) const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version    BIGINT PRIMARY KEY,
    name       TEXT   NOT NULL,
    applied_at BIGINT NOT NULL
)";

/// Runs every migration in `list` that `pool` has not run yet; returns how many ran.
pub(crate) async fn run<DB>(pool: &Pool<DB>, list: &[Migration]) -> Result<usize>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'r> i64: Decode<'r, DB>,
    usize: ColumnIndex<DB::Row>,
{
    sqlx::raw_sql(CREATE_TABLE).execute(pool).await?;
    let done: Vec<i64> = sqlx::query_scalar("SELECT version FROM schema_migrations")
        .fetch_all(pool)
        .await?;
    let mut ran = 0usize;
    for m in list.iter().filter(|m| !done.contains(&m.version)) {
        let mut tx = pool.begin().await?;
        sqlx::raw_sql(m.sql).execute(&mut *tx).await?;
        sqlx::query(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
        )
        .bind(m.version)
        .bind(m.name)
        .bind(crate::clock::now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        tracing::info!(version = m.version, name = m.name, "applied migration");
        ran += 1;
    }
    Ok(ran)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_increase_and_backends_match() {
        for list in [SQLITE, POSTGRES] {
            assert!(list.windows(2).all(|w| w[0].version < w[1].version));
        }
        let names = |l: &[Migration]| l.iter().map(|m| (m.version, m.name)).collect::<Vec<_>>();
        assert_eq!(names(SQLITE), names(POSTGRES));
    }
}
