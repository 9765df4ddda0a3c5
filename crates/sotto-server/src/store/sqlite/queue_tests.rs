//! The SQLite queue's two tiers (D25): copies in the hot queue and its relay log, copies settled
//! into `deliveries`, and what survives a restart. The queue contract of
//! `tests/store_contract.rs` runs on both backends; these tests reach into what only SQLite has.

use std::path::Path;

use sotto_proto::ids::{AccountId, ConversationId, DeviceId, MessageId};

use crate::store::sqlite::hot_queue::SLICES;
use crate::store::sqlite::writer::lock;
use crate::store::sqlite::SqliteStore;
use crate::store::{
    ChangeRecord, DeviceRecord, DeviceState, NewEnvelope, NewMember, Store, UndeliveredReason,
    UserId, WriteOp, WriteOutcome,
};

const CAP: i64 = 100;

struct Setup {
    alice: UserId,
    bob: UserId,
    a1: DeviceId,
    b1: DeviceId,
    conv: ConversationId,
}

/// An active device with placeholder keys.
pub(crate) fn device(i: u8, user: UserId) -> DeviceRecord {
    DeviceRecord {
        device: DeviceId::from_bytes([i; 32]),
        user,
        state: DeviceState::Active,
        signing_key: vec![i; 8],
        auth_key: vec![i; 8],
        name: format!("device {i}"),
        certificate: Some(vec![1]),
        exchange_cert: None,
        exchange_serial: None,
        created_at: 1,
    }
}

async fn setup(store: &SqliteStore) -> Setup {
    let alice = store.create_user("alice", "h", 1).await.unwrap();
    let bob = store.create_user("bob", "h", 1).await.unwrap();
    let (a1, b1) = (device(1, alice), device(2, bob));
    store.activate_device(&a1).await.unwrap();
    store.activate_device(&b1).await.unwrap();
    let conv = conversation(store, a1.device, &[alice, bob]).await;
    Setup {
        alice,
        bob,
        a1: a1.device,
        b1: b1.device,
        conv,
    }
}

/// `users` as members who accepted.
pub(crate) fn accepted(users: &[UserId]) -> Vec<NewMember> {
    users.iter().copied().map(NewMember::accepted).collect()
}

/// Conversation `[9; 16]` created by `author` with `members`; returns its id.
pub(crate) async fn conversation(
    store: &SqliteStore,
    author: DeviceId,
    members: &[UserId],
) -> ConversationId {
    let conv = ConversationId::from_bytes([9; 16]);
    let genesis = ChangeRecord {
        epoch: 0,
        change: b"genesis".to_vec(),
        author,
        created_at: 1,
    };
    store
        .create_conversation(&conv, &genesis, members[0], &accepted(members))
        .await
        .unwrap();
    conv
}

/// Message `m`: its first byte spreads the ids over the settle slices.
fn id(m: u8) -> MessageId {
    let mut bytes = [m; 16];
    bytes[0] = m.wrapping_mul(37);
    MessageId::from_bytes(bytes)
}

fn send(s: &Setup, m: u8) -> WriteOp {
    WriteOp::Enqueue(NewEnvelope {
        message: id(m),
        conversation: s.conv,
        sender_user: s.alice,
        sender_account: AccountId::from_bytes([7; 32]),
        sender_device: s.a1,
        received_at: i64::from(m),
        to: None,
        body: vec![m; 40],
    })
}

fn ack(device: DeviceId, ms: &[u8]) -> WriteOp {
    WriteOp::Ack {
        device,
        messages: ms.iter().map(|m| id(*m)).collect(),
    }
}

async fn one(store: &SqliteStore, op: WriteOp) -> WriteOutcome {
    store.write_batch(&[op], CAP).await.unwrap().pop().unwrap()
}

/// Stores message `m` and returns its copy's seq.
async fn stored(store: &SqliteStore, s: &Setup, m: u8) -> i64 {
    match one(store, send(s, m)).await {
        WriteOutcome::Stored { recipients, .. } => {
            assert_eq!(recipients.len(), 1);
            recipients[0].1
        }
        other => panic!("not stored: {other:?}"),
    }
}

/// (seq, message byte, body byte) of `device`'s queue.
async fn queue(store: &SqliteStore, device: &DeviceId) -> Vec<(i64, u8)> {
    store
        .pending(device, 0, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|d| {
            assert_eq!(d.body, vec![d.body[0]; 40], "body intact");
            (d.seq, d.body[0])
        })
        .collect()
}

/// Runs one commit per slice, so a store settling at one envelope settles everything.
async fn settle_everything(store: &SqliteStore, s: &Setup) {
    for _ in 0..SLICES {
        assert_eq!(one(store, ack(s.b1, &[])).await, WriteOutcome::Acked(0));
    }
}

async fn count(store: &SqliteStore, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(store.pool())
        .await
        .unwrap()
}

async fn queued_counter(store: &SqliteStore, device: &DeviceId) -> i64 {
    sqlx::query_scalar("SELECT queued FROM devices WHERE id = ?")
        .bind(device.as_bytes().as_slice())
        .fetch_one(store.pool())
        .await
        .unwrap()
}

async fn reopen(store: SqliteStore, path: &Path) -> SqliteStore {
    store.close().await;
    SqliteStore::open(path).await.unwrap()
}

#[tokio::test]
async fn hot_copies_survive_a_restart_and_acknowledged_ones_stay_gone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let store = SqliteStore::open(&path).await.unwrap();
    let s = setup(&store).await;
    let seqs = [
        stored(&store, &s, 1).await,
        stored(&store, &s, 2).await,
        stored(&store, &s, 3).await,
    ];
    assert!(seqs[0] < seqs[1] && seqs[1] < seqs[2]);
    assert_eq!(
        one(&store, ack(s.b1, &[1, 1])).await,
        WriteOutcome::Acked(1)
    );
    assert_eq!(queue(&store, &s.b1).await, vec![(seqs[1], 2), (seqs[2], 3)]);
    assert_eq!(count(&store, "SELECT count(*) FROM deliveries").await, 0);

    let store = reopen(store, &path).await;
    assert_eq!(
        queue(&store, &s.b1).await,
        vec![(seqs[1], 2), (seqs[2], 3)],
        "the same copies with the same seqs; the acknowledged one stays gone"
    );
    assert_eq!(one(&store, send(&s, 1)).await, WriteOutcome::Duplicate);
    assert_eq!(one(&store, send(&s, 2)).await, WriteOutcome::Duplicate);
    let fourth = stored(&store, &s, 4).await;
    assert!(fourth > seqs[2], "seqs keep increasing across a restart");
    assert_eq!(one(&store, ack(s.b1, &[2])).await, WriteOutcome::Acked(1));
    assert_eq!(queue(&store, &s.b1).await, vec![(seqs[2], 3), (fourth, 4)]);
    store.close().await;
}

#[tokio::test]
async fn settled_copies_are_read_counted_acknowledged_and_refused_like_hot_ones() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let store = SqliteStore::open_settling_at(&path, 1).await.unwrap();
    let s = setup(&store).await;
    let mut seqs = Vec::new();
    for m in 1..=6 {
        seqs.push((stored(&store, &s, m).await, m));
    }
    assert_eq!(
        one(&store, ack(s.b1, &[2, 4])).await,
        WriteOutcome::Acked(2)
    );
    settle_everything(&store, &s).await;
    let figures = store.hot_queue();
    assert_eq!(figures.envelopes, 0);
    assert_eq!(figures.settled_envelopes, 6, "{figures:?}");
    assert!(figures.settle_steps >= 1, "{figures:?}");

    // Everything settled: no log left, every id spent, the four unacknowledged copies are rows.
    assert_eq!(count(&store, "SELECT count(*) FROM relay_log").await, 0);
    assert_eq!(count(&store, "SELECT count(*) FROM spent").await, 6);
    assert_eq!(count(&store, "SELECT count(*) FROM deliveries").await, 4);
    assert_eq!(queued_counter(&store, &s.b1).await, 4);
    let expected: Vec<(i64, u8)> = seqs
        .iter()
        .copied()
        .filter(|(_, m)| *m != 2 && *m != 4)
        .collect();
    assert_eq!(
        queue(&store, &s.b1).await,
        expected,
        "same seqs, same order"
    );
    for m in 1..=6 {
        assert_eq!(one(&store, send(&s, m)).await, WriteOutcome::Duplicate);
    }

    // A hot copy after settled ones reads after them; acks reach both tiers.
    let seventh = stored(&store, &s, 7).await;
    assert!(seventh > seqs[5].0);
    assert_eq!(
        one(&store, ack(s.b1, &[1, 7, 2])).await,
        WriteOutcome::Acked(2),
        "one settled copy, one hot copy, one already gone"
    );
    assert_eq!(queued_counter(&store, &s.b1).await, 3);
    let store = reopen(store, &path).await;
    let left: Vec<u8> = queue(&store, &s.b1).await.iter().map(|c| c.1).collect();
    assert_eq!(left, vec![3, 5, 6]);
    assert_eq!(one(&store, send(&s, 7)).await, WriteOutcome::Duplicate);
    store.close().await;
}

#[tokio::test]
async fn the_queue_cap_counts_settled_and_hot_copies() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_settling_at(&dir.path().join("t.db"), 1)
        .await
        .unwrap();
    let s = setup(&store).await;
    stored(&store, &s, 1).await;
    settle_everything(&store, &s).await;
    assert_eq!(count(&store, "SELECT count(*) FROM deliveries").await, 1);
    let cap = 2;
    let second = store.write_batch(&[send(&s, 2)], cap).await.unwrap();
    assert!(matches!(&second[0], WriteOutcome::Stored { recipients, .. } if recipients.len() == 1));
    let third = store.write_batch(&[send(&s, 3)], cap).await.unwrap();
    assert!(
        matches!(&third[0], WriteOutcome::Stored { recipients, undelivered } if recipients.is_empty() && undelivered == &vec![(s.b1, UndeliveredReason::QueueFull)]),
        "{third:?}"
    );
    store.close().await;
}

#[tokio::test]
async fn a_revoked_devices_copies_are_gone_from_both_tiers_also_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let store = SqliteStore::open_settling_at(&path, 1).await.unwrap();
    let s = setup(&store).await;
    stored(&store, &s, 1).await;
    settle_everything(&store, &s).await;
    stored(&store, &s, 2).await;
    assert_eq!(queue(&store, &s.b1).await.len(), 2, "one settled, one hot");
    store.revoke_device(s.bob, &s.b1, 1, b"r").await.unwrap();
    assert!(queue(&store, &s.b1).await.is_empty());
    let store = reopen(store, &path).await;
    assert!(queue(&store, &s.b1).await.is_empty());
    // Settling what the log still holds writes no copy for the revoked device.
    let store = reopen(store, &path).await;
    assert!(queue(&store, &s.b1).await.is_empty());
    store.close().await;
}

#[tokio::test]
async fn a_damaged_relay_log_stops_the_start_instead_of_losing_messages() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let store = SqliteStore::open(&path).await.unwrap();
    let s = setup(&store).await;
    stored(&store, &s, 1).await;
    sqlx::query("UPDATE relay_log SET data = substr(data, 1, length(data) - 1)")
        .execute(store.pool())
        .await
        .unwrap();
    store.close().await;
    let error = SqliteStore::open(&path).await.unwrap_err();
    assert!(
        matches!(error, crate::error::Error::Corrupt { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_second_store_on_the_same_file_writes_only_once_the_first_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let first = SqliteStore::open(&path).await.unwrap();
    let s = setup(&first).await;
    let one_seq = stored(&first, &s, 1).await;
    let second = SqliteStore::open(&path).await.unwrap();
    let two_seq = stored(&first, &s, 2).await;
    assert!(
        matches!(
            second.write_batch(&[send(&s, 3)], CAP).await,
            Err(crate::error::Error::Unavailable)
        ),
        "two hot queues for one file would diverge"
    );
    first.close().await;
    // The second now owns the queue, with what the first wrote after the second opened.
    assert_eq!(one(&second, send(&s, 2)).await, WriteOutcome::Duplicate);
    let three_seq = stored(&second, &s, 3).await;
    assert_eq!(
        queue(&second, &s.b1).await,
        vec![(one_seq, 1), (two_seq, 2), (three_seq, 3)]
    );
    second.close().await;
}

/// A refused copy retried while its envelope is still hot is written as a settled copy with its
/// own body; when the envelope settles later (here after a restart) its message row takes the
/// shared body of the other copies, and every copy reads intact.
#[tokio::test]
async fn a_retried_copy_of_a_hot_envelope_survives_its_settling() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let store = SqliteStore::open(&path).await.unwrap();
    let s = setup(&store).await;
    let carol = store.create_user("carol", "h", 1).await.unwrap();
    let (c1, c2) = (device(3, carol), device(4, carol));
    store.activate_device(&c1).await.unwrap();
    store.activate_device(&c2).await.unwrap();
    let group = ConversationId::from_bytes([8; 16]);
    let genesis = ChangeRecord {
        epoch: 0,
        change: b"group".to_vec(),
        author: s.a1,
        created_at: 1,
    };
    store
        .create_conversation(
            &group,
            &genesis,
            s.alice,
            &accepted(&[s.alice, s.bob, carol]),
        )
        .await
        .unwrap();
    // Bob's queue is full (cap 2) with two of alice's messages.
    stored(&store, &s, 1).await;
    stored(&store, &s, 2).await;
    let in_group = |env: WriteOp| match env {
        WriteOp::Enqueue(mut e) => {
            e.conversation = group;
            WriteOp::Enqueue(e)
        }
        other => other,
    };
    let cap = 2;
    let out = store
        .write_batch(&[in_group(send(&s, 3))], cap)
        .await
        .unwrap();
    let WriteOutcome::Stored {
        recipients,
        undelivered,
    } = &out[0]
    else {
        panic!("{out:?}")
    };
    assert_eq!(recipients.len(), 2);
    assert_eq!(undelivered, &vec![(s.b1, UndeliveredReason::QueueFull)]);
    assert_eq!(
        one(&store, ack(s.b1, &[1, 2])).await,
        WriteOutcome::Acked(2)
    );
    let retry = store
        .write_batch(&[in_group(send(&s, 3))], cap)
        .await
        .unwrap();
    assert!(
        matches!(&retry[0], WriteOutcome::Stored { recipients, undelivered }
            if recipients.len() == 1 && recipients[0].0 == s.b1 && undelivered.is_empty()),
        "{retry:?}"
    );

    let retried: Vec<u8> = queue(&store, &s.b1).await.iter().map(|c| c.1).collect();
    assert_eq!(
        retried,
        vec![3],
        "the retried copy is settled at once, and read"
    );

    let store = reopen_settling_at_one(store, &path).await;
    for _ in 0..SLICES {
        one(&store, ack(s.b1, &[])).await;
    }
    assert_eq!(store.hot_queue().envelopes, 0, "everything settled");
    for device in [s.b1, c1.device, c2.device] {
        let got = queue(&store, &device).await;
        assert_eq!(got.len(), 1, "{device:?}");
        assert_eq!(got[0].1, 3);
    }
    // Each copy is acknowledged on its own; the shared body goes with the last shared copy.
    for device in [s.b1, c1.device, c2.device] {
        assert_eq!(one(&store, ack(device, &[3])).await, WriteOutcome::Acked(1));
    }
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM messages WHERE body IS NOT NULL"
        )
        .await,
        0
    );
    store.close().await;
}

async fn reopen_settling_at_one(store: SqliteStore, path: &Path) -> SqliteStore {
    store.close().await;
    SqliteStore::open_settling_at(path, 1).await.unwrap()
}

/// Devices that may have settled copies, as the store's hot queue knows them.
fn settled_devices(store: &SqliteStore) -> Option<usize> {
    lock(store.writer.hot()).settled_devices()
}

/// A queue read skips the `deliveries` table only for a device known to have no settled copy
/// (D78): a settle step names its devices before it commits, a read that finds none of a
/// device's copies in the table takes the device out, and a restart reads the table to know.
/// A store that does not own the queue always reads the table.
#[tokio::test]
async fn queue_reads_skip_the_table_only_for_devices_without_settled_copies() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let store = SqliteStore::open_settling_at(&path, 1).await.unwrap();
    let s = setup(&store).await;
    assert_eq!(
        settled_devices(&store),
        Some(0),
        "the owner knows from its start"
    );
    let first = stored(&store, &s, 1).await;
    let second = stored(&store, &s, 2).await;
    assert_eq!(settled_devices(&store), Some(0), "hot copies only");
    settle_everything(&store, &s).await;
    assert_eq!(count(&store, "SELECT count(*) FROM deliveries").await, 2);
    assert_eq!(settled_devices(&store), Some(1));
    assert_eq!(queue(&store, &s.b1).await, vec![(first, 1), (second, 2)]);
    assert_eq!(settled_devices(&store), Some(1), "the read found rows");

    assert_eq!(
        one(&store, ack(s.b1, &[1, 2])).await,
        WriteOutcome::Acked(2)
    );
    assert_eq!(queue(&store, &s.b1).await, vec![]);
    assert_eq!(settled_devices(&store), Some(0), "the read found none");
    let third = stored(&store, &s, 3).await;
    assert_eq!(
        queue(&store, &s.b1).await,
        vec![(third, 3)],
        "from the hot queue"
    );
    settle_everything(&store, &s).await;
    assert_eq!(
        settled_devices(&store),
        Some(1),
        "named again when it settled"
    );
    assert_eq!(
        queue(&store, &s.b1).await,
        vec![(third, 3)],
        "from the table"
    );

    let store = reopen_settling_at_one(store, &path).await;
    assert_eq!(
        settled_devices(&store),
        Some(1),
        "read from the table at the start"
    );
    assert_eq!(queue(&store, &s.b1).await, vec![(third, 3)]);
    let other = SqliteStore::open(&path).await.unwrap();
    assert_eq!(settled_devices(&other), None, "not the queue's owner");
    assert_eq!(queue(&other, &s.b1).await, vec![(third, 3)]);
    other.close().await;
    store.close().await;
}
