//! A device's queue is read in commit order across nodes: two stores on one PostgreSQL database
//! (two nodes) commit envelopes for one device at the same time, while a reader re-reads the
//! queue above the highest position it has seen, as a socket does. Every envelope must reach the
//! reader by such reads; a position that becomes visible below one already read would be skipped
//! until the device reconnects (docs/api.md, "Fan-out"). Runs when `SOTTO_TEST_DATABASE_URL` is
//! set (in CI it must be).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sotto_proto::ids::{AccountId, ConversationId, MessageId};
use sotto_server::store::{DeviceRecord, NewEnvelope, Store, WriteOp, WriteOutcome};

/// Writers per node; each commits one envelope per batch, as many as it can.
const WRITERS_PER_NODE: usize = 6;
/// Envelopes each writer commits.
const PER_WRITER: u32 = 60;

fn envelope(n: u32, conv: ConversationId, sender: &DeviceRecord) -> NewEnvelope {
    let mut id = [0u8; 16];
    id[..4].copy_from_slice(&n.to_be_bytes());
    id[15] = 1;
    NewEnvelope {
        message: MessageId::from_bytes(id),
        conversation: conv,
        sender_user: sender.user,
        sender_account: AccountId::from_bytes([7; 32]),
        sender_device: sender.device,
        received_at: 5,
        to: None,
        body: vec![1; 32],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_commits_on_two_nodes_never_show_a_lower_position_after_a_higher_one() {
    // `fresh` reports the skip (a failure under CI=true).
    let Some(pg) = support::pg::Schema::fresh().await else {
        return;
    };
    let node_a: Arc<dyn Store> = Arc::new(pg.store().await);
    let node_b: Arc<dyn Store> = Arc::new(pg.store().await);
    let (a1, b1, conv) = support::pg::two_devices_one_conversation(node_a.as_ref()).await;
    let policy = support::pg::roomy_policy();

    let done = Arc::new(AtomicBool::new(false));
    // The reader: what a socket does on every announcement, in a tight loop.
    let reader = {
        let store = node_b.clone();
        let done = done.clone();
        let bob_device = b1.device;
        tokio::spawn(async move {
            let mut seen: HashSet<MessageId> = HashSet::new();
            let mut above = 0i64;
            loop {
                let finished = done.load(Ordering::Acquire);
                for d in store.pending(&bob_device, above, 500).await.unwrap() {
                    above = above.max(d.seq);
                    seen.insert(d.message);
                }
                if finished {
                    return seen;
                }
                tokio::task::yield_now().await;
            }
        })
    };
    let mut writers = Vec::new();
    for w in 0..WRITERS_PER_NODE * 2 {
        let store = if w % 2 == 0 { &node_a } else { &node_b }.clone();
        let sender = a1.clone();
        writers.push(tokio::spawn(async move {
            for i in 0..PER_WRITER {
                let env = envelope(w as u32 * PER_WRITER + i, conv, &sender);
                let out = store
                    .write_batch_with(&[WriteOp::Enqueue(env)], &policy)
                    .await
                    .unwrap();
                assert!(matches!(out[..], [WriteOutcome::Stored { .. }]), "{out:?}");
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    // One more pass after the last commit, as the last announcement would cause.
    tokio::time::sleep(Duration::from_millis(50)).await;
    done.store(true, Ordering::Release);
    let seen = reader.await.unwrap();

    let total = WRITERS_PER_NODE as u32 * 2 * PER_WRITER;
    let stored = node_a
        .pending(&b1.device, 0, i64::from(total) + 1)
        .await
        .unwrap();
    assert_eq!(stored.len(), total as usize, "every envelope is queued");
    let skipped: Vec<i64> = stored
        .iter()
        .filter(|d| !seen.contains(&d.message))
        .map(|d| d.seq)
        .collect();
    assert!(
        skipped.is_empty(),
        "{} of {total} envelopes became visible below a position the reader had already read \
         (positions {:?}…)",
        skipped.len(),
        &skipped[..skipped.len().min(10)]
    );
    node_a.close().await;
    node_b.close().await;
    pg.drop().await;
}
