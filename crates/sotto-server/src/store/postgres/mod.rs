//! The PostgreSQL backend, for running several nodes on one database
//! (`SOTTO_DATABASE_URL=postgres://…`). An optional schema name confines every table to one
//! schema (the contract tests give each test its own). Everything but the relay queue's write
//! path is the shared SQL of [`super::sql`].
//!
//! # Layout
//! - this module: connecting, schemas, and [`Backend`] for [`PostgresStore`].
//! - `bulk.rs`: the group commit, a handful of multi-row statements per batch.
//! - `plan_tests.rs`: the group commit's plans probe by key even when made on empty tables.

mod bulk;
#[cfg(test)]
mod plan_tests;

use std::str::FromStr;

use async_trait::async_trait;
use sotto_proto::ids::{ConversationId, DeviceId};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use crate::store::backend::{HotPending, TablesMark};
use crate::store::migrate::{self, POSTGRES};
use crate::store::sql::rows::session_and_user_row;
use crate::store::sql::RowsAffected;
use crate::store::{
    Backend, HotQueueFigures, QueuePolicy, SessionRecord, UserRecord, WriteOp, WriteOutcome,
};

/// Redeems a ticket in one statement (one round trip, committed on its own): the deletion, then
/// the session and user it admits. The row is deleted whether or not it is still valid.
const REDEEM_TICKET: &str = "WITH t AS (DELETE FROM tickets WHERE hash = $1 \
     RETURNING session_id, expires) \
     SELECT s.id, s.user_id, s.device, s.access_hash, s.access_expires, s.refresh_hash, \
     s.refresh_expires, s.previous_refresh_hash, s.pair_used_at, s.created_at, u.username, \
     u.password_hash, u.master_key, u.account_id, u.disabled_at \
     FROM t JOIN sessions s ON s.id = t.session_id JOIN users u ON u.id = s.user_id \
     WHERE t.expires > $2";

/// Connections one node opens at most, unless `database_pool_size` says otherwise.
pub const DEFAULT_POOL_SIZE: u32 = 16;

/// The name each connection gives PostgreSQL, so that `pg_stat_activity` tells a node's
/// connections from others.
const APPLICATION_NAME: &str = "sotto-server";

/// What PostgreSQL allows of connections and what is in use, as a node starts or
/// `sotto-server check` runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionRoom {
    /// `max_connections`.
    pub max: i64,
    /// Connections kept for superusers (`superuser_reserved_connections`).
    pub reserved: i64,
    /// Client connections open now, every user's and database's.
    pub in_use: i64,
}

impl ConnectionRoom {
    /// Reads the figures on `conn`.
    pub async fn read(conn: &mut sqlx::PgConnection) -> crate::error::Result<Self> {
        let row: (i64, i64, i64) = sqlx::query_as(
            "SELECT current_setting('max_connections')::BIGINT, \
             current_setting('superuser_reserved_connections')::BIGINT, \
             (SELECT COUNT(*) FROM pg_stat_activity WHERE backend_type = 'client backend')",
        )
        .fetch_one(conn)
        .await?;
        Ok(Self {
            max: row.0,
            reserved: row.1,
            in_use: row.2,
        })
    }

    /// Connections ordinary users may hold at all: `max_connections` less the reserve.
    pub fn usable(&self) -> i64 {
        (self.max - self.reserved).max(0)
    }

    /// Connections ordinary users may still open.
    pub fn free(&self) -> i64 {
        (self.usable() - self.in_use).max(0)
    }

    /// Nodes with a pool of `pool_size` that PostgreSQL holds at all, its connections otherwise
    /// unused.
    pub fn nodes_at_most(&self, pool_size: u32) -> i64 {
        self.usable() / i64::from(pool_size.max(1))
    }
}

/// The PostgreSQL store.
#[derive(Clone, Debug)]
pub struct PostgresStore {
    /// Everything but the group commit: queue reads, sessions, requests.
    pool: PgPool,
    /// The group commit's one connection (D82): its backend runs every batch, with its
    /// statements prepared and planned once (plans that cannot degrade, D81).
    writer: PgPool,
}

impl PostgresStore {
    /// Connects to `url` and migrates the database.
    pub async fn connect(url: &str) -> crate::error::Result<Self> {
        Self::connect_in_schema(url, None).await
    }

    /// Connects with every table in `schema` (created if missing), then migrates it, with the
    /// default pool.
    pub async fn connect_in_schema(url: &str, schema: Option<&str>) -> crate::error::Result<Self> {
        Self::connect_with(url, schema, DEFAULT_POOL_SIZE).await
    }

    /// Connects with every table in `schema` (created if missing) and up to `pool_size`
    /// connections (one of them the group commit's), then migrates it.
    ///
    /// Nodes starting at the same moment on one database would race to create the schema and
    /// run the same migrations, and all but one would fail (a second `CREATE` of one name fails
    /// on the catalog's unique index). A session advisory lock keyed by the schema makes them
    /// take turns: the first creates and migrates, the next finds nothing left to do. The lock
    /// ends with its connection, closed here or by the server when the process dies.
    ///
    /// A pool PostgreSQL has no room for would fail requests once the node is busy ("too many
    /// clients"), long after it started: the room left is read at start and a shortfall is
    /// logged with the figures that fix it.
    pub async fn connect_with(
        url: &str,
        schema: Option<&str>,
        pool_size: u32,
    ) -> crate::error::Result<Self> {
        let mut options = PgConnectOptions::from_str(url)?.application_name(APPLICATION_NAME);
        if let Some(schema) = schema {
            if !schema
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                return Err(crate::error::Error::Config {
                    reason: "schema names use a-z, 0-9 and _".to_owned(),
                });
            }
        }
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        sqlx::query("SELECT pg_advisory_lock(hashtext($1))")
            .bind(format!("sotto migrations {}", schema.unwrap_or("")))
            .execute(&admin)
            .await?;
        if let Some(schema) = schema {
            let create = format!("CREATE SCHEMA IF NOT EXISTS {schema}");
            sqlx::raw_sql(sqlx::AssertSqlSafe(create))
                .execute(&admin)
                .await?;
            options = options.options([("search_path", schema)]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(pool_size.saturating_sub(1).max(1))
            .connect_with(options.clone())
            .await?;
        // A pool of one rather than a connection held for good: it reconnects after a failure,
        // and closing it waits for no more than the batch in flight.
        let writer = PgPoolOptions::new()
            .max_connections(1)
            .connect_lazy_with(options);
        let migrated = migrate::run(&pool, POSTGRES).await;
        admin.close().await;
        migrated?;
        warn_without_room(&pool, pool_size).await;
        Ok(Self { pool, writer })
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

/// Logs a warning when PostgreSQL cannot take the rest of this node's pool. Only a warning: the
/// node works until it needs those connections, and other clients may close theirs by then.
async fn warn_without_room(pool: &PgPool, pool_size: u32) {
    let room = match pool.acquire().await {
        Ok(mut conn) => ConnectionRoom::read(&mut conn).await,
        Err(e) => Err(e.into()),
    };
    match room {
        Ok(room) => {
            // The pool's own open connections are already counted in use.
            let wanted = i64::from(pool_size) - i64::from(pool.size());
            if room.free() < wanted {
                tracing::warn!(
                    max_connections = room.max,
                    reserved = room.reserved,
                    in_use = room.in_use,
                    pool_size,
                    "PostgreSQL has room for {} more connections and this node may open {wanted} \
                     more: raise max_connections to cover every node's database_pool_size, or \
                     lower database_pool_size (docs/scaling.md)",
                    room.free()
                );
            }
        }
        Err(e) => tracing::warn!(error = %e, "PostgreSQL's connection limits could not be read"),
    }
}

#[async_trait]
impl Backend for PostgresStore {
    type Db = sqlx::Postgres;

    const NAME: &'static str = "postgres";

    const BEGIN_WRITE: &'static str = "BEGIN";

    const DATABASE_BYTES: &'static str = "SELECT pg_database_size(current_database()) AS bytes";

    const CLAIM_PREKEY: &'static str =
        "DELETE FROM prekeys WHERE seq = (SELECT p.seq FROM prekeys p \
         JOIN devices d ON d.id = p.device WHERE p.device = $1 AND d.state = 'active' \
         AND (d.user_id = $2 OR (EXISTS (SELECT 1 FROM members x JOIN members y \
         ON y.conversation = x.conversation WHERE x.user_id = $2 AND y.user_id = d.user_id \
         AND x.status <> 'declined' AND y.status <> 'declined') \
         AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker = d.user_id AND b.blocked = $2))) \
         ORDER BY p.seq LIMIT 1 FOR UPDATE OF p SKIP LOCKED) RETURNING body";

    fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Writes a batch in one transaction with the bulk statements of `bulk.rs`, on the group
    /// commit's own connection.
    async fn group_commit(
        &self,
        ops: &[WriteOp],
        policy: &QueuePolicy,
    ) -> crate::error::Result<Vec<WriteOutcome>> {
        bulk::group_commit(&self.writer, ops, policy).await
    }

    async fn take_ticket_session(
        &self,
        hash: &[u8; 32],
        now: i64,
    ) -> crate::error::Result<Option<(SessionRecord, UserRecord)>> {
        sqlx::query(REDEEM_TICKET)
            .bind(hash.as_slice())
            .bind(now)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(session_and_user_row)
            .transpose()
    }

    /// No hot tier: every queued copy is a `deliveries` row.
    fn hot_pending(&self, _: &DeviceId, _: i64, _: i64) -> HotPending {
        HotPending::tables_only()
    }

    /// Every read goes to the tables.
    fn tables_empty(&self, _: &DeviceId, _: TablesMark) {}

    /// No hot tier.
    fn forget_hot_copies(&self, _: &DeviceId) {}

    /// No hot tier.
    fn forget_hot_conversation(&self, _: &[DeviceId], _: &ConversationId) {}

    /// No hot tier.
    fn hot_figures(&self) -> HotQueueFigures {
        HotQueueFigures::default()
    }

    /// Closes the group commit's connection.
    async fn close_writer(&self) {
        self.writer.close().await;
    }
}

impl RowsAffected for sqlx::postgres::PgQueryResult {
    fn rows_affected(&self) -> u64 {
        // The inherent method: the shared SQL reaches it through the trait.
        sqlx::postgres::PgQueryResult::rows_affected(self)
    }
}
