//! A fresh PostgreSQL schema per test, when `SOTTO_TEST_DATABASE_URL` is set; when it is not,
//! the test is skipped loudly, or fails under `CI=true` (`services.rs`).

use sotto_proto::ids::{ConversationId, DeviceId};
use sotto_server::store::postgres::PostgresStore;
use sotto_server::store::{
    ChangeRecord, DeviceRecord, DeviceState, NewMember, QueuePolicy, Store, UserId,
};

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

/// Device `i` of `user`, active, with placeholder keys (id `[i; 32]`).
fn device(i: u8, user: UserId) -> DeviceRecord {
    DeviceRecord {
        device: DeviceId::from_bytes([i; 32]),
        user,
        state: DeviceState::Active,
        signing_key: vec![i; 8],
        auth_key: vec![i + 100; 8],
        name: format!("device {i}"),
        certificate: Some(vec![1, 2, 3]),
        exchange_cert: None,
        exchange_serial: None,
        created_at: i64::from(i),
    }
}

/// Alice's and Bob's devices (ids `[1; 32]` and `[2; 32]`) and their accepted 1:1 conversation
/// (`[4; 16]`), written straight into `store`: where the tests of one queue written by several
/// stores start.
pub async fn two_devices_one_conversation(
    store: &dyn Store,
) -> (DeviceRecord, DeviceRecord, ConversationId) {
    let alice = store.create_user("alice", "hash-a", 1).await.unwrap();
    let bob = store.create_user("bob", "hash-b", 1).await.unwrap();
    let (a1, b1) = (device(1, alice), device(2, bob));
    store.activate_device(&a1).await.unwrap();
    store.activate_device(&b1).await.unwrap();
    let conv = ConversationId::from_bytes([4; 16]);
    let genesis = ChangeRecord {
        epoch: 0,
        change: b"genesis".to_vec(),
        author: a1.device,
        created_at: 1,
    };
    let members = [NewMember::accepted(alice), NewMember::accepted(bob)];
    store
        .create_conversation(&conv, &genesis, alice, &members)
        .await
        .unwrap();
    (a1, b1, conv)
}

/// A queue policy no test's traffic reaches.
pub fn roomy_policy() -> QueuePolicy {
    QueuePolicy {
        max_queue_per_device: 1_000_000,
        queue_share_per_sender: 1_000_000,
        max_queue_per_sender: 1_000_000,
        max_request_envelopes: 100,
        undelivered_ttl_ms: 3_600_000,
        archive: false,
    }
}
