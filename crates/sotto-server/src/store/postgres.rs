//! The PostgreSQL backend, for running several nodes on one database
//! (`SOTTO_DATABASE_URL=postgres://…`). An optional schema name confines every table to one
//! schema (the contract tests give each test its own).

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use crate::store::migrate::{run_migrations, POSTGRES};

/// The PostgreSQL store.
#[derive(Clone, Debug)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to `url` and migrates the database.
    pub async fn connect(url: &str) -> crate::error::Result<Self> {
        Self::connect_in_schema(url, None).await
    }

    /// Connects with every table in `schema` (created if missing), then migrates it.
    pub async fn connect_in_schema(url: &str, schema: Option<&str>) -> crate::error::Result<Self> {
        let mut options = PgConnectOptions::from_str(url)?;
        if let Some(schema) = schema {
            if !schema
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                return Err(crate::error::Error::Config {
                    reason: "schema names use a-z, 0-9 and _".to_owned(),
                });
            }
            let admin = PgPoolOptions::new()
                .max_connections(1)
                .connect_with(options.clone())
                .await?;
            let create = format!("CREATE SCHEMA IF NOT EXISTS {schema}");
            sqlx::raw_sql(sqlx::AssertSqlSafe(create))
                .execute(&admin)
                .await?;
            admin.close().await;
            options = options.options([("search_path", schema)]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .connect_with(options)
            .await?;
        run_migrations!(&pool, POSTGRES)?;
        Ok(Self { pool })
    }

    /// Drops a schema and everything in it (test clean-up).
    pub async fn drop_schema(url: &str, schema: &str) -> crate::error::Result<()> {
        if !schema
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(crate::error::Error::Config {
                reason: "schema names use a-z, 0-9 and _".to_owned(),
            });
        }
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(PgConnectOptions::from_str(url)?)
            .await?;
        let drop = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
        sqlx::raw_sql(sqlx::AssertSqlSafe(drop))
            .execute(&admin)
            .await?;
        admin.close().await;
        Ok(())
    }
}

impl PostgresStore {
    /// Group commits share the pool (PostgreSQL keeps one shared buffer cache).
    fn writer(&self) -> &PgPool {
        &self.pool
    }

    /// Nothing of its own to close: group commits use the pool.
    async fn close_writer(&self) {}

    /// No hot tier: every queued copy is a `deliveries` row.
    fn hot_pending(&self, _: &DeviceId, _: i64, _: i64) -> Vec<crate::store::Delivery> {
        Vec::new()
    }

    /// No hot tier.
    fn forget_hot_copies(&self, _: &DeviceId) {}

    /// No hot tier.
    fn hot_figures(&self) -> crate::store::HotQueueFigures {
        crate::store::HotQueueFigures::default()
    }

    /// Writes a batch in one transaction with the bulk statements of `sql_bulk`.
    async fn group_commit(
        &self,
        ops: &[WriteOp],
        queue_cap: i64,
    ) -> crate::error::Result<Vec<WriteOutcome>> {
        // Every envelope of the batch first, then every acknowledgement: two bulk runs
        // whatever the interleaving. (An ack can only name a copy its device has seen, which
        // was committed by an earlier batch.)
        let mut envs: Vec<&crate::store::NewEnvelope> = Vec::new();
        let mut acks: Vec<(&DeviceId, &[MessageId])> = Vec::new();
        for op in ops {
            match op {
                WriteOp::Enqueue(env) => envs.push(env),
                WriteOp::Ack { device, messages } => acks.push((device, messages)),
            }
        }
        let mut tx = self.writer().begin().await?;
        let mut stored = if envs.is_empty() {
            Vec::new()
        } else {
            enqueue_many(&mut tx, &envs, queue_cap).await?
        }
        .into_iter();
        let mut acked = if acks.is_empty() {
            Vec::new()
        } else {
            ack_many(&mut tx, &acks).await?
        }
        .into_iter();
        tx.commit().await?;
        ops.iter()
            .map(|op| {
                match op {
                    WriteOp::Enqueue(_) => stored.next(),
                    WriteOp::Ack { .. } => acked.next(),
                }
                .ok_or(Error::Corrupt {
                    what: "batch outcome",
                })
            })
            .collect()
    }
}

/// Generated multi-row statements use numbered `$N` placeholders.
const POSITIONAL: bool = false;

/// PostgreSQL returns the sequence numbers of inserted deliveries (identity values of
/// concurrent transactions interleave).
fn assigned_seqs() -> bool {
    false
}

fn last_rowid(_: &sqlx::postgres::PgQueryResult) -> i64 {
    0
}

crate::store::sql::impl_store!(
    PostgresStore,
    sqlx::Postgres,
    sqlx::postgres::PgRow,
    "postgres",
    "BEGIN"
);
crate::store::sql_bulk::sql_bulk!(sqlx::Postgres);
