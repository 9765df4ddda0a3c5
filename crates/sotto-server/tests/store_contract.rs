//! One contract every `Store` backend passes, case by case: each case is a plain function in
//! [`contract`], run by its own test on SQLite (always) and on PostgreSQL (when
//! `SOTTO_TEST_DATABASE_URL` is set, each run in a fresh schema, dropped afterwards), so a
//! failure names both the case and the backend.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::future::Future;
use std::sync::Arc;

use sotto_proto::ids::{AccountId, ConversationId, DeviceId, MessageId};
use sotto_server::error::Error;
use sotto_server::store::sqlite::SqliteStore;
use sotto_server::store::{
    BackupCaps, ChallengeRecord, ChangeRecord, DeviceRecord, DeviceState, HandoverRecord,
    HistoryWindow, MemberStatus, NewBackupItem, NewEnvelope, NewMember, NewPrekey, NewTokenPair,
    QueuePolicy, RecoveryMethod, RecoveryRecord, RefreshOutcome, SessionId, SessionRecord, Store,
    UndeliveredReason, UserId, WriteOp, WriteOutcome, OPEN_CHALLENGES_PER_SESSION,
};

/// Runs `case` on a new SQLite database.
async fn on_sqlite<F, Fut>(case: F)
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("t.db")).await.unwrap();
    case(Arc::new(store)).await;
}

/// Runs `case` in a new PostgreSQL schema, dropped afterwards; skipped loudly when
/// `SOTTO_TEST_DATABASE_URL` is not set, a failure under `CI=true` (`support/services.rs`).
async fn on_postgres<F, Fut>(case: F)
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(pg) = support::pg::Schema::fresh().await else {
        return;
    };
    let store = pg.store().await;
    case(Arc::new(store)).await;
    pg.drop().await;
}

fn device(i: u8, user: UserId, state: DeviceState) -> DeviceRecord {
    DeviceRecord {
        device: DeviceId::from_bytes([i; 32]),
        user,
        state,
        signing_key: vec![i; 8],
        auth_key: vec![i + 100; 8],
        name: format!("device {i}"),
        certificate: (state == DeviceState::Active).then(|| vec![1, 2, 3]),
        exchange_cert: None,
        exchange_serial: None,
        created_at: i64::from(i),
    }
}

fn session(i: u8, user: UserId, device: Option<DeviceId>) -> SessionRecord {
    SessionRecord {
        id: SessionId([i; 16]),
        user,
        device,
        access_hash: [i; 32],
        access_expires: 10_000,
        refresh_hash: device.map(|_| [i + 100; 32]),
        refresh_expires: 20_000,
        previous_refresh_hash: None,
        pair_used_at: None,
        created_at: 1,
    }
}

fn pair(i: u8) -> NewTokenPair {
    NewTokenPair {
        access_hash: [i; 32],
        access_expires: 30_000,
        refresh_hash: [i + 1; 32],
        refresh_expires: 40_000,
    }
}

fn envelope(m: u8, conv: ConversationId, user: UserId, dev: DeviceId) -> NewEnvelope {
    NewEnvelope {
        message: MessageId::from_bytes([m; 16]),
        conversation: conv,
        sender_user: user,
        sender_account: AccountId::from_bytes([7; 32]),
        sender_device: dev,
        received_at: 5,
        to: None,
        body: vec![m; 10],
    }
}

/// The users and devices most cases start from: alice (device a1), bob (active b1, pending
/// b2) and carol (no device).
struct People {
    alice: UserId,
    bob: UserId,
    carol: UserId,
    a1: DeviceRecord,
    b1: DeviceRecord,
}

async fn people(store: &Arc<dyn Store>) -> People {
    let alice = store.create_user("alice", "hash-a", 1).await.unwrap();
    let bob = store.create_user("bob", "hash-b", 1).await.unwrap();
    let carol = store.create_user("carol", "hash-c", 1).await.unwrap();
    let a1 = device(1, alice, DeviceState::Active);
    let b1 = device(2, bob, DeviceState::Active);
    let b2 = device(3, bob, DeviceState::Pending);
    store.activate_device(&a1).await.unwrap();
    store.activate_device(&b1).await.unwrap();
    store.add_pending_device(&b2, 10, 0).await.unwrap();
    People {
        alice,
        bob,
        carol,
        a1,
        b1,
    }
}

/// Envelope `m` from `user`'s account `account` (the queue policy counts per sender account).
fn from(m: u8, conv: ConversationId, user: UserId, dev: DeviceId, account: u8) -> NewEnvelope {
    NewEnvelope {
        sender_account: AccountId::from_bytes([account; 32]),
        ..envelope(m, conv, user, dev)
    }
}

/// The default policy with small numbers.
fn policy(cap: i64, share: i64, per_sender: i64, requests: i64) -> QueuePolicy {
    QueuePolicy {
        max_queue_per_device: cap,
        queue_share_per_sender: share,
        max_queue_per_sender: per_sender,
        max_request_envelopes: requests,
        undelivered_ttl_ms: 7 * 24 * 3600 * 1000,
        archive: true,
    }
}

/// Sends one envelope under `policy`; its outcome.
async fn post(store: &Arc<dyn Store>, env: NewEnvelope, policy: &QueuePolicy) -> WriteOutcome {
    let mut out = store
        .write_batch_with(&[WriteOp::Enqueue(env)], policy)
        .await
        .unwrap();
    out.pop().unwrap()
}

/// The devices that got a copy and those that did not, with why.
fn split(outcome: &WriteOutcome) -> (Vec<DeviceId>, Vec<(DeviceId, UndeliveredReason)>) {
    match outcome {
        WriteOutcome::Stored {
            recipients,
            undelivered,
        } => (
            recipients.iter().map(|r| r.0).collect(),
            undelivered.clone(),
        ),
        other => panic!("not stored: {other:?}"),
    }
}

/// Conversation `[5; 16]` by alice with bob added as a request (not a contact yet).
async fn request_to_bob(store: &Arc<dyn Store>, p: &People) -> ConversationId {
    let conv = ConversationId::from_bytes([5; 16]);
    let genesis = ChangeRecord {
        epoch: 0,
        change: b"genesis".to_vec(),
        author: p.a1.device,
        created_at: 1,
    };
    let members = [
        NewMember::accepted(p.alice),
        NewMember {
            user: p.bob,
            status: MemberStatus::Request,
            added_by: Some(p.alice),
        },
    ];
    store
        .create_conversation(&conv, &genesis, p.alice, &members)
        .await
        .unwrap();
    conv
}

/// `users` as members who accepted.
fn accepted(users: &[UserId]) -> Vec<NewMember> {
    users.iter().copied().map(NewMember::accepted).collect()
}

/// Conversation `[4; 16]`, started by `author` with `members`.
async fn conversation(
    store: &Arc<dyn Store>,
    author: &DeviceRecord,
    members: &[UserId],
) -> ConversationId {
    let conv = ConversationId::from_bytes([4; 16]);
    let genesis = ChangeRecord {
        epoch: 0,
        change: b"genesis".to_vec(),
        author: author.device,
        created_at: 1,
    };
    store
        .create_conversation(&conv, &genesis, members[0], &accepted(members))
        .await
        .unwrap();
    conv
}

/// The cases, each a plain function of a fresh store.
mod contract {
    use super::*;

    /// A username and an account id each belong to one user; a master key is set once.
    pub async fn users_are_found_by_name_id_and_account(store: Arc<dyn Store>) {
        // Users.
        let alice = store.create_user("alice", "hash-a", 1).await.unwrap();
        let bob = store.create_user("bob", "hash-b", 1).await.unwrap();
        store.create_user("carol", "hash-c", 1).await.unwrap();
        assert!(
            store.create_user("alice", "x", 1).await.is_err(),
            "username unique"
        );
        assert_eq!(
            store.user_by_name("alice").await.unwrap().unwrap().id,
            alice
        );
        assert!(store.user_by_name("nobody").await.unwrap().is_none());
        store.set_password_hash(alice, "hash-a2").await.unwrap();
        assert_eq!(
            store
                .user_by_id(alice)
                .await
                .unwrap()
                .unwrap()
                .password_hash,
            "hash-a2"
        );
        let acct_a = AccountId::from_bytes([1; 32]);
        store
            .set_master_key(alice, &acct_a, b"spki-a")
            .await
            .unwrap();
        store
            .set_master_key(alice, &acct_a, b"spki-a")
            .await
            .unwrap();
        assert!(store
            .set_master_key(alice, &acct_a, b"other")
            .await
            .is_err());
        assert!(
            store.set_master_key(bob, &acct_a, b"spki-b").await.is_err(),
            "account id unique"
        );
        store
            .set_master_key(bob, &AccountId::from_bytes([2; 32]), b"spki-b")
            .await
            .unwrap();
        assert_eq!(
            store.user_by_account(&acct_a).await.unwrap().unwrap().id,
            alice
        );
    }

    /// A device id belongs to one user, a pending device becomes active, an exchange key is only
    /// replaced by one with a serial at least as high.
    pub async fn devices_activate_once_and_exchange_keys_never_roll_back(store: Arc<dyn Store>) {
        let alice = store.create_user("alice", "hash-a", 1).await.unwrap();
        let bob = store.create_user("bob", "hash-b", 1).await.unwrap();

        // Devices.
        let a1 = device(1, alice, DeviceState::Active);
        let b1 = device(2, bob, DeviceState::Active);
        let b2 = device(3, bob, DeviceState::Pending);
        store.activate_device(&a1).await.unwrap();
        store.activate_device(&b1).await.unwrap();
        store.add_pending_device(&b2, 10, 0).await.unwrap();
        assert!(store
            .add_pending_device(&device(2, bob, DeviceState::Pending), 10, 0)
            .await
            .is_err());
        assert!(
            store
                .activate_device(&device(2, alice, DeviceState::Active))
                .await
                .is_err(),
            "not hers"
        );
        assert_eq!(store.devices_of(bob).await.unwrap().len(), 2);
        // At most `max_pending` pending devices per account; announcing one again is no more.
        assert!(matches!(
            store
                .add_pending_device(&device(4, bob, DeviceState::Pending), 1, 0)
                .await,
            Err(Error::Capacity { .. })
        ));
        store.add_pending_device(&b2, 1, 0).await.unwrap();
        store
            .add_pending_device(&device(9, alice, DeviceState::Pending), 1, 0)
            .await
            .unwrap();
        assert_eq!(store.devices_of(bob).await.unwrap().len(), 2);
        store.set_exchange_key(&a1.device, b"x1", 2).await.unwrap();
        store.set_exchange_key(&a1.device, b"x1", 2).await.unwrap();
        assert!(
            store.set_exchange_key(&a1.device, b"x0", 1).await.is_err(),
            "no rollback"
        );
        let stored = store.device(&a1.device).await.unwrap().unwrap();
        assert_eq!(
            (stored.exchange_serial, stored.exchange_cert),
            (Some(2), Some(b"x1".to_vec()))
        );
    }

    /// Sessions, rotation and reuse: a spent refresh token is retried only with a device proof
    /// while its new pair is unused, and otherwise ends the whole token family.
    pub async fn refresh_tokens_rotate_retry_with_a_proof_and_revoke_on_reuse(
        store: Arc<dyn Store>,
    ) {
        let People { alice, a1, .. } = people(&store).await;

        // Sessions, rotation and reuse.
        store
            .insert_session(&session(1, alice, Some(a1.device)))
            .await
            .unwrap();
        store
            .insert_session(&session(2, alice, None))
            .await
            .unwrap();
        assert_eq!(
            store.session_by_access(&[1; 32]).await.unwrap().unwrap().id,
            SessionId([1; 16])
        );
        let rotated = store
            .refresh_session(&[101; 32], &pair(50), None, 100)
            .await
            .unwrap();
        assert!(matches!(rotated, RefreshOutcome::Rotated(ref s) if s.access_hash == [50; 32]));
        assert!(
            store.session_by_access(&[1; 32]).await.unwrap().is_none(),
            "old access void"
        );
        // The spent token while the new pair is unused: a retry, exchanged only with a proof from
        // this session's device, and then the superseded pair is spent.
        let me = SessionId([1; 16]);
        let retry = store
            .refresh_session(&[101; 32], &pair(60), None, 100)
            .await
            .unwrap();
        assert!(matches!(retry, RefreshOutcome::ProofRequired { ref session } if session.id == me));
        let other = store
            .refresh_session(&[101; 32], &pair(60), Some(&SessionId([2; 16])), 100)
            .await
            .unwrap();
        assert!(
            matches!(other, RefreshOutcome::ProofRequired { .. }),
            "another session's proof"
        );
        assert_eq!(
            store
                .session_for_refresh_retry(&[101; 32], 100)
                .await
                .unwrap()
                .map(|s| s.id),
            Some(me)
        );
        assert!(store
            .session_for_refresh_retry(&[51; 32], 100)
            .await
            .unwrap()
            .is_none());
        let retried = store
            .refresh_session(&[101; 32], &pair(60), Some(&me), 100)
            .await
            .unwrap();
        assert!(matches!(retried, RefreshOutcome::Rotated(ref s) if s.access_hash == [60; 32]));
        assert!(store.session_by_access(&[50; 32]).await.unwrap().is_none());
        // Once the pair is used, the spent token revokes the family.
        store.mark_pair_used(&me, 200).await.unwrap();
        store.mark_pair_used(&me, 300).await.unwrap();
        let used = store.session(&me).await.unwrap().unwrap();
        assert_eq!(used.pair_used_at, Some(200), "first use is kept");
        assert!(store
            .session_for_refresh_retry(&[101; 32], 400)
            .await
            .unwrap()
            .is_none());
        let reused = store
            .refresh_session(&[101; 32], &pair(70), Some(&me), 400)
            .await
            .unwrap();
        assert!(matches!(reused, RefreshOutcome::Reused { session } if session == me));
        assert!(
            store.session(&me).await.unwrap().is_none(),
            "family revoked"
        );
        // The superseded pair's refresh token is spent too.
        store
            .insert_session(&session(4, alice, Some(a1.device)))
            .await
            .unwrap();
        let four = SessionId([4; 16]);
        store
            .refresh_session(&[104; 32], &pair(80), None, 100)
            .await
            .unwrap();
        store
            .refresh_session(&[104; 32], &pair(90), Some(&four), 100)
            .await
            .unwrap();
        let superseded = store
            .refresh_session(&[81; 32], &pair(110), None, 100)
            .await
            .unwrap();
        assert!(matches!(superseded, RefreshOutcome::Reused { session } if session == four));
        let unknown = store
            .refresh_session(&[99; 32], &pair(120), None, 100)
            .await
            .unwrap();
        assert!(matches!(unknown, RefreshOutcome::Unknown));
        store
            .insert_session(&session(3, alice, Some(a1.device)))
            .await
            .unwrap();
        let gone = store
            .delete_sessions_except(alice, Some(&SessionId([3; 16])))
            .await
            .unwrap();
        assert_eq!(gone, vec![SessionId([2; 16])]);
        assert_eq!(store.sessions_of(alice).await.unwrap().len(), 1);
    }

    /// A challenge and a socket ticket are each taken once.
    pub async fn challenges_and_tickets_are_single_use(store: Arc<dyn Store>) {
        let People { alice, a1, .. } = people(&store).await;
        store
            .insert_session(&session(3, alice, Some(a1.device)))
            .await
            .unwrap();

        // Challenges and tickets are single use.
        let c = ChallengeRecord {
            nonce: [9; 32],
            session: SessionId([3; 16]),
            device: a1.device,
            issued_at: 5,
        };
        store.insert_challenge(&c).await.unwrap();
        assert_eq!(
            store
                .take_challenge(&[9; 32])
                .await
                .unwrap()
                .unwrap()
                .device,
            a1.device
        );
        assert!(store.take_challenge(&[9; 32]).await.unwrap().is_none());
        store
            .insert_ticket(&[8; 32], &SessionId([3; 16]), 500)
            .await
            .unwrap();
        let (session, user) = store.redeem_ticket(&[8; 32], 499).await.unwrap().unwrap();
        assert_eq!(session.id, SessionId([3; 16]));
        assert_eq!(session.device, Some(a1.device));
        assert_eq!((user.id, user.username.as_str()), (alice, "alice"));
        assert!(!user.disabled);
        assert!(store.redeem_ticket(&[8; 32], 499).await.unwrap().is_none());
    }

    /// A ticket admits nothing once expired or once its session is gone (also by disabling the
    /// account), and is spent either way; redemptions racing for one ticket admit one socket.
    pub async fn a_ticket_redeems_once_while_valid_and_its_session_lives(store: Arc<dyn Store>) {
        let People { alice, a1, .. } = people(&store).await;
        store
            .insert_session(&session(3, alice, Some(a1.device)))
            .await
            .unwrap();
        store
            .insert_ticket(&[8; 32], &SessionId([3; 16]), 500)
            .await
            .unwrap();
        assert!(store.redeem_ticket(&[8; 32], 500).await.unwrap().is_none());
        assert!(
            store.redeem_ticket(&[8; 32], 1).await.unwrap().is_none(),
            "an expired ticket is spent by the attempt"
        );

        store
            .insert_session(&session(4, alice, Some(a1.device)))
            .await
            .unwrap();
        store
            .insert_ticket(&[9; 32], &SessionId([4; 16]), 500)
            .await
            .unwrap();
        assert!(store.delete_session(&SessionId([4; 16])).await.unwrap());
        assert!(store.redeem_ticket(&[9; 32], 1).await.unwrap().is_none());

        // Many tickets redeemed at once, each by several racers: one admission per ticket.
        for t in 0..32u8 {
            store
                .insert_ticket(&[100 + t; 32], &SessionId([3; 16]), 500)
                .await
                .unwrap();
        }
        let racers: Vec<_> = (0..32u8)
            .flat_map(|t| [t; 3])
            .map(|t| {
                let store = store.clone();
                async move { store.redeem_ticket(&[100 + t; 32], 1).await.unwrap() }
            })
            .collect();
        let admitted = futures_util::future::join_all(racers)
            .await
            .into_iter()
            .filter(Option::is_some)
            .count();
        assert_eq!(admitted, 32);

        store
            .insert_ticket(&[10; 32], &SessionId([3; 16]), 500)
            .await
            .unwrap();
        store.set_account_disabled(alice, true, 7).await.unwrap();
        assert!(
            store.redeem_ticket(&[10; 32], 1).await.unwrap().is_none(),
            "disabling an account ends its sessions and so their tickets"
        );
    }

    /// Unanswered challenges are capped per session, oldest dropped first.
    pub async fn a_session_keeps_only_its_newest_challenges(store: Arc<dyn Store>) {
        let People { alice, a1, .. } = people(&store).await;
        store
            .insert_session(&session(3, alice, Some(a1.device)))
            .await
            .unwrap();

        // A session keeps only its newest unanswered challenges; another session's are its own.
        let open = OPEN_CHALLENGES_PER_SESSION as u8;
        store
            .insert_session(&session(6, alice, Some(a1.device)))
            .await
            .unwrap();
        for i in 0..open + 2 {
            for session in [3, 6] {
                let c = ChallengeRecord {
                    nonce: [100 + i + session * 20; 32],
                    session: SessionId([session; 16]),
                    device: a1.device,
                    issued_at: 10 + i64::from(i),
                };
                store.insert_challenge(&c).await.unwrap();
            }
        }
        for i in 0..open + 2 {
            let kept = i >= 2;
            for session in [3, 6] {
                let taken = store.take_challenge(&[100 + i + session * 20; 32]).await;
                assert_eq!(
                    taken.unwrap().is_some(),
                    kept,
                    "challenge {i} of session {session}"
                );
            }
        }
    }

    /// Conversations: created once, changes appended at the next epoch only, members and their
    /// active devices as the last change left them.
    pub async fn a_conversation_log_grows_one_epoch_at_a_time(store: Arc<dyn Store>) {
        let People {
            alice,
            bob,
            carol,
            a1,
            b1,
            ..
        } = people(&store).await;

        // Conversations.
        let conv = ConversationId::from_bytes([4; 16]);
        let genesis = ChangeRecord {
            epoch: 0,
            change: b"genesis".to_vec(),
            author: a1.device,
            created_at: 1,
        };
        store
            .create_conversation(&conv, &genesis, alice, &accepted(&[alice, bob]))
            .await
            .unwrap();
        assert!(store
            .create_conversation(&conv, &genesis, alice, &accepted(&[alice]))
            .await
            .is_err());
        assert!(store.is_member(&conv, bob).await.unwrap());
        assert!(!store.is_member(&conv, carol).await.unwrap());
        let stale = ChangeRecord {
            epoch: 2,
            ..genesis.clone()
        };
        assert!(
            store
                .append_change(&conv, &stale, &accepted(&[alice]), None)
                .await
                .is_err(),
            "epoch gap"
        );
        let next = ChangeRecord {
            epoch: 1,
            change: b"one".to_vec(),
            ..genesis.clone()
        };
        store
            .append_change(&conv, &next, &accepted(&[alice, bob]), None)
            .await
            .unwrap();
        assert!(
            store
                .append_change(&conv, &next, &accepted(&[alice]), None)
                .await
                .is_err(),
            "epoch taken"
        );
        assert_eq!(store.changes(&conv, 0).await.unwrap().len(), 2);
        assert_eq!(store.changes(&conv, 1).await.unwrap(), vec![next]);
        assert_eq!(store.conversations_of(bob).await.unwrap(), vec![conv]);
        assert_eq!(
            store.member_devices(&conv, &a1.device).await.unwrap(),
            vec![b1.device]
        );
    }

    /// Group commit: enqueue, duplicate, non-member, ack, queue cap.
    pub async fn group_commit_refuses_duplicates_and_non_members_and_caps_queues(
        store: Arc<dyn Store>,
    ) {
        let People {
            alice,
            bob,
            carol,
            a1,
            b1,
            ..
        } = people(&store).await;
        let conv = conversation(&store, &a1, &[alice, bob]).await;

        // Group commit: enqueue, duplicate, non-member, ack, queue cap.
        let ops = vec![
            WriteOp::Enqueue(envelope(1, conv, alice, a1.device)),
            WriteOp::Enqueue(envelope(1, conv, alice, a1.device)),
            WriteOp::Enqueue(envelope(2, conv, carol, a1.device)),
            WriteOp::Enqueue(envelope(3, conv, alice, a1.device)),
        ];
        let out = store.write_batch(&ops, 2).await.unwrap();
        let WriteOutcome::Stored {
            recipients,
            undelivered: full,
        } = &out[0]
        else {
            panic!("{out:?}")
        };
        assert_eq!(
            (recipients.len(), recipients[0].0, full.len()),
            (1, b1.device, 0)
        );
        assert_eq!(out[1], WriteOutcome::Duplicate);
        assert_eq!(out[2], WriteOutcome::NotMember);
        let pending = store.pending(&b1.device, 0, 10).await.unwrap();
        assert_eq!(pending.len(), 2);
        assert!(pending[0].seq < pending[1].seq);
        assert_eq!(pending[0].body, vec![1; 10]);
        assert!(
            store.pending(&a1.device, 0, 10).await.unwrap().is_empty(),
            "sender gets no copy"
        );
        let out = store
            .write_batch(&[WriteOp::Enqueue(envelope(5, conv, alice, a1.device))], 2)
            .await
            .unwrap();
        assert_eq!(
            out[0],
            WriteOutcome::Stored {
                recipients: vec![],
                undelivered: vec![(b1.device, UndeliveredReason::QueueFull)]
            }
        );
        let ack = WriteOp::Ack {
            device: b1.device,
            messages: vec![
                MessageId::from_bytes([1; 16]),
                MessageId::from_bytes([42; 16]),
            ],
        };
        assert_eq!(
            store
                .write_batch(std::slice::from_ref(&ack), 2)
                .await
                .unwrap(),
            vec![WriteOutcome::Acked(1)]
        );
        assert_eq!(
            store.write_batch(&[ack], 2).await.unwrap(),
            vec![WriteOutcome::Acked(0)]
        );
        assert_eq!(store.pending(&b1.device, 0, 10).await.unwrap().len(), 1);
        let replay = store
            .write_batch(&[WriteOp::Enqueue(envelope(1, conv, alice, a1.device))], 2)
            .await
            .unwrap();
        assert_eq!(
            replay,
            vec![WriteOutcome::Duplicate],
            "ids stay spent after delivery"
        );
        let mut direct = envelope(6, conv, alice, a1.device);
        direct.to = Some(b1.device);
        let out = store
            .write_batch(&[WriteOp::Enqueue(direct)], 10)
            .await
            .unwrap();
        assert!(
            matches!(&out[0], WriteOutcome::Stored { recipients, .. } if recipients.len() == 1)
        );
    }

    /// Revocation drops the device's queued copies and its sessions, and is final.
    pub async fn revoking_a_device_drops_its_queue_and_sessions(store: Arc<dyn Store>) {
        let People {
            alice, bob, a1, b1, ..
        } = people(&store).await;
        let conv = conversation(&store, &a1, &[alice, bob]).await;
        let mut direct = envelope(6, conv, alice, a1.device);
        direct.to = Some(b1.device);
        let ops = [
            WriteOp::Enqueue(envelope(3, conv, alice, a1.device)),
            WriteOp::Enqueue(direct),
        ];
        store.write_batch(&ops, 10).await.unwrap();
        assert_eq!(store.pending(&b1.device, 0, 10).await.unwrap().len(), 2);

        // Revocation drops the device's queue and sessions.
        store
            .insert_session(&session(4, bob, Some(b1.device)))
            .await
            .unwrap();
        store
            .revoke_device(bob, &b1.device, 1, b"revocation")
            .await
            .unwrap();
        assert!(store.pending(&b1.device, 0, 10).await.unwrap().is_empty());
        assert!(store.session(&SessionId([4; 16])).await.unwrap().is_none());
        assert_eq!(
            store.revocations_of(bob).await.unwrap(),
            vec![b"revocation".to_vec()]
        );
        assert!(
            store.activate_device(&b1).await.is_err(),
            "revoked stays revoked"
        );
        assert!(
            store
                .revoke_device(alice, &b1.device, 2, b"r")
                .await
                .is_err(),
            "not hers"
        );
    }

    /// Attachments, counted against the uploader's quota.
    pub async fn attachments_count_against_their_uploaders_quota(store: Arc<dyn Store>) {
        let People { alice, bob, a1, .. } = people(&store).await;
        let conv = conversation(&store, &a1, &[alice, bob]).await;

        // Attachments, counted against the uploader's quota (10 bytes here).
        store
            .put_attachment(&[5; 16], &conv, alice, b"blob", 10, 1)
            .await
            .unwrap();
        assert_eq!(
            store.attachment(&[5; 16]).await.unwrap(),
            Some((conv, b"blob".to_vec()))
        );
        assert!(store.attachment(&[6; 16]).await.unwrap().is_none());
        // 4 + 7 > 10: refused, nothing stored, nothing counted (so 6 more bytes still fit).
        assert!(matches!(
            store
                .put_attachment(&[6; 16], &conv, alice, b"1234567", 10, 1)
                .await,
            Err(Error::QuotaExceeded { max: 10, .. })
        ));
        assert!(store.attachment(&[6; 16]).await.unwrap().is_none());
        store
            .put_attachment(&[7; 16], &conv, alice, b"123456", 10, 1)
            .await
            .unwrap();
        assert!(store
            .put_attachment(&[8; 16], &conv, alice, b"1", 10, 1)
            .await
            .is_err());
        // The quota is per account: bob's uploads are counted on their own.
        store
            .put_attachment(&[8; 16], &conv, bob, b"blob", 10, 1)
            .await
            .unwrap();
    }

    /// Sessions whose access and refresh tokens have both expired are purged.
    pub async fn expired_sessions_are_purged(store: Arc<dyn Store>) {
        let People { alice, a1, .. } = people(&store).await;
        for i in [3, 6] {
            store
                .insert_session(&session(i, alice, Some(a1.device)))
                .await
                .unwrap();
        }

        assert!(store.purge_expired(1_000_000).await.unwrap() >= 1);
        assert!(store.sessions_of(alice).await.unwrap().is_empty());
    }

    /// Copies and their bodies: a message for one device carries its body in its delivery, one for
    /// several devices shares a body that stays until its last copy is acknowledged or revoked.
    pub async fn a_shared_body_stays_until_its_last_copy_is_acknowledged_or_revoked(
        store: Arc<dyn Store>,
    ) {
        let alice = store.create_user("alice", "h", 1).await.unwrap();
        let bob = store.create_user("bob", "h", 1).await.unwrap();
        let carol = store.create_user("carol", "h", 1).await.unwrap();
        let (a1, b1, b2, c1) = (
            device(1, alice, DeviceState::Active),
            device(2, bob, DeviceState::Active),
            device(3, bob, DeviceState::Active),
            device(4, carol, DeviceState::Active),
        );
        for d in [&a1, &b1, &b2, &c1] {
            store.activate_device(d).await.unwrap();
        }
        let genesis = ChangeRecord {
            epoch: 0,
            change: b"genesis".to_vec(),
            author: a1.device,
            created_at: 1,
        };
        let (group, pair) = (
            ConversationId::from_bytes([1; 16]),
            ConversationId::from_bytes([2; 16]),
        );
        store
            .create_conversation(&group, &genesis, alice, &accepted(&[alice, bob]))
            .await
            .unwrap();
        store
            .create_conversation(&pair, &genesis, alice, &accepted(&[alice, carol]))
            .await
            .unwrap();
        let bodies = |store: Arc<dyn Store>, device: DeviceId| async move {
            store
                .pending(&device, 0, 10)
                .await
                .unwrap()
                .into_iter()
                .map(|d| (d.message.as_bytes()[0], d.conversation, d.body))
                .collect::<Vec<_>>()
        };

        let ops = [
            WriteOp::Enqueue(envelope(10, group, alice, a1.device)),
            WriteOp::Enqueue(envelope(11, pair, alice, a1.device)),
            WriteOp::Enqueue(envelope(12, group, alice, a1.device)),
        ];
        let out = store.write_batch(&ops, 100).await.unwrap();
        let copies: Vec<usize> = out
            .iter()
            .map(|o| match o {
                WriteOutcome::Stored { recipients, .. } => recipients.len(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(copies, vec![2, 1, 2]);
        let group_copies = vec![(10, group, vec![10; 10]), (12, group, vec![12; 10])];
        assert_eq!(bodies(store.clone(), b1.device).await, group_copies);
        assert_eq!(bodies(store.clone(), b2.device).await, group_copies);
        assert_eq!(
            bodies(store.clone(), c1.device).await,
            vec![(11, pair, vec![11; 10])]
        );

        // One of two copies acknowledged: the other keeps its body.
        let ack = |device: DeviceId, m: u8| WriteOp::Ack {
            device,
            messages: vec![MessageId::from_bytes([m; 16])],
        };
        let out = store
            .write_batch(&[ack(b1.device, 10), ack(c1.device, 11)], 100)
            .await
            .unwrap();
        assert_eq!(out, vec![WriteOutcome::Acked(1), WriteOutcome::Acked(1)]);
        assert_eq!(
            bodies(store.clone(), b2.device).await,
            group_copies,
            "a shared body stays while a copy waits"
        );
        assert!(bodies(store.clone(), c1.device).await.is_empty());
        let out = store
            .write_batch(&[ack(b2.device, 10), ack(b2.device, 10)], 100)
            .await
            .unwrap();
        assert_eq!(out, vec![WriteOutcome::Acked(1), WriteOutcome::Acked(0)]);
        assert_eq!(
            bodies(store.clone(), b2.device).await,
            vec![(12, group, vec![12; 10])]
        );

        // A revoked device's copy no longer holds the shared body back.
        store
            .revoke_device(bob, &b2.device, 1, b"revocation")
            .await
            .unwrap();
        assert!(bodies(store.clone(), b2.device).await.is_empty());
        assert_eq!(
            bodies(store.clone(), b1.device).await,
            vec![(12, group, vec![12; 10])]
        );
        let out = store.write_batch(&[ack(b1.device, 12)], 100).await.unwrap();
        assert_eq!(out, vec![WriteOutcome::Acked(1)]);
        assert!(bodies(store.clone(), b1.device).await.is_empty());

        // Every id stays spent, whether its copies shared a body or not.
        for m in [10, 11, 12] {
            let conv = if m == 11 { pair } else { group };
            let out = store
                .write_batch(
                    &[WriteOp::Enqueue(envelope(m, conv, alice, a1.device))],
                    100,
                )
                .await
                .unwrap();
            assert_eq!(out, vec![WriteOutcome::Duplicate], "message {m}");
        }
    }

    /// A member added by a stranger takes `max_request_envelopes` envelopes, then none
    /// (`request_limit`) until they accept; the refused one is delivered by a retry then.
    pub async fn a_request_takes_a_bounded_number_of_envelopes_until_accepted(
        store: Arc<dyn Store>,
    ) {
        let p = people(&store).await;
        let conv = request_to_bob(&store, &p).await;
        let limits = policy(100, 10, 50, 3);
        assert!(!store.are_contacts(p.alice, p.bob).await.unwrap());
        for m in 1..=3 {
            let out = post(&store, envelope(m, conv, p.alice, p.a1.device), &limits).await;
            assert_eq!(split(&out), (vec![p.b1.device], vec![]), "envelope {m}");
        }
        let out = post(&store, envelope(4, conv, p.alice, p.a1.device), &limits).await;
        assert_eq!(
            split(&out),
            (vec![], vec![(p.b1.device, UndeliveredReason::RequestLimit)])
        );
        assert_eq!(store.pending(&p.b1.device, 0, 10).await.unwrap().len(), 3);
        let requests = store.requests_of(p.bob).await.unwrap();
        assert_eq!(requests.len(), 1);
        assert_eq!(
            (
                requests[0].conversation,
                requests[0].from,
                requests[0].members
            ),
            (conv, Some(p.alice), 2)
        );
        assert_eq!(requests[0].queued, 3);
        assert!(store.conversations_of(p.bob).await.unwrap().is_empty());
        assert_eq!(store.conversations_of(p.alice).await.unwrap(), vec![conv]);

        store
            .set_member_status(&conv, p.bob, MemberStatus::Accepted)
            .await
            .unwrap();
        assert!(store.are_contacts(p.alice, p.bob).await.unwrap());
        assert!(store.requests_of(p.bob).await.unwrap().is_empty());
        assert_eq!(store.conversations_of(p.bob).await.unwrap(), vec![conv]);
        let retry = post(&store, envelope(4, conv, p.alice, p.a1.device), &limits).await;
        assert_eq!(split(&retry), (vec![p.b1.device], vec![]));
        let queued = store.pending(&p.b1.device, 0, 10).await.unwrap();
        assert_eq!(queued.len(), 4);
        assert_eq!(queued[3].body, vec![4; 10]);
        assert_eq!(
            post(&store, envelope(4, conv, p.alice, p.a1.device), &limits).await,
            WriteOutcome::Duplicate,
            "delivered once"
        );
        assert!(matches!(
            store
                .set_member_status(&conv, p.carol, MemberStatus::Accepted)
                .await,
            Err(Error::NotFound { .. })
        ));
    }

    /// Declining deletes the conversation's queued copies and refuses further ones; it leaves
    /// every list.
    pub async fn declining_drops_queued_copies_and_refuses_further_ones(store: Arc<dyn Store>) {
        let p = people(&store).await;
        let conv = request_to_bob(&store, &p).await;
        let limits = policy(100, 10, 50, 20);
        for m in 1..=2 {
            post(&store, envelope(m, conv, p.alice, p.a1.device), &limits).await;
        }
        assert_eq!(store.pending(&p.b1.device, 0, 10).await.unwrap().len(), 2);
        store
            .set_member_status(&conv, p.bob, MemberStatus::Declined)
            .await
            .unwrap();
        assert!(store.pending(&p.b1.device, 0, 10).await.unwrap().is_empty());
        let out = post(&store, envelope(3, conv, p.alice, p.a1.device), &limits).await;
        assert_eq!(
            split(&out),
            (vec![], vec![(p.b1.device, UndeliveredReason::Declined)])
        );
        assert!(store.requests_of(p.bob).await.unwrap().is_empty());
        assert!(store.conversations_of(p.bob).await.unwrap().is_empty());
        assert_eq!(
            store.member_status(&conv, p.bob).await.unwrap(),
            Some(MemberStatus::Declined)
        );
    }

    /// A block stops every copy from the blocked account and declines its pending requests.
    pub async fn a_blocked_sender_reaches_no_device_and_its_requests_are_declined(
        store: Arc<dyn Store>,
    ) {
        let p = people(&store).await;
        let request = request_to_bob(&store, &p).await;
        let contacts = conversation(&store, &p.a1, &[p.alice, p.bob]).await;
        let limits = policy(100, 10, 50, 20);
        store.block(p.bob, p.alice, 9).await.unwrap();
        assert!(store.is_blocked(p.bob, p.alice).await.unwrap());
        assert!(!store.is_blocked(p.alice, p.bob).await.unwrap());
        assert_eq!(
            store.member_status(&request, p.bob).await.unwrap(),
            Some(MemberStatus::Declined)
        );
        let blocked = store.blocked_by(p.bob).await.unwrap();
        assert_eq!(
            blocked.iter().map(|u| u.id).collect::<Vec<_>>(),
            vec![p.alice]
        );
        let out = post(&store, envelope(1, contacts, p.alice, p.a1.device), &limits).await;
        assert_eq!(
            split(&out),
            (vec![], vec![(p.b1.device, UndeliveredReason::Blocked)])
        );
        // Bob still reaches alice.
        let out = post(&store, envelope(2, contacts, p.bob, p.b1.device), &limits).await;
        assert_eq!(split(&out), (vec![p.a1.device], vec![]));
        store.unblock(p.bob, p.alice).await.unwrap();
        assert!(store.blocked_by(p.bob).await.unwrap().is_empty());
        let retry = post(&store, envelope(1, contacts, p.alice, p.a1.device), &limits).await;
        assert_eq!(
            split(&retry),
            (vec![p.b1.device], vec![]),
            "retry after unblock"
        );
    }

    /// A queue at `max_queue_per_device` refuses the sender that filled it (`queue_full`)
    /// but still takes another sender's copies up to its share.
    pub async fn a_full_queue_keeps_a_share_for_every_other_sender(store: Arc<dyn Store>) {
        let p = people(&store).await;
        let c1 = device(4, p.carol, DeviceState::Active);
        store.activate_device(&c1).await.unwrap();
        let conv = conversation(&store, &p.a1, &[p.alice, p.bob, p.carol]).await;
        let limits = policy(5, 2, 100, 20);
        for m in 1..=5 {
            post(&store, from(m, conv, p.alice, p.a1.device, 1), &limits).await;
        }
        let out = post(&store, from(6, conv, p.alice, p.a1.device, 1), &limits).await;
        assert!(split(&out)
            .1
            .contains(&(p.b1.device, UndeliveredReason::QueueFull)));
        for m in 7..=8 {
            let out = post(&store, from(m, conv, p.carol, c1.device, 3), &limits).await;
            assert!(split(&out).0.contains(&p.b1.device), "carol's share: {m}");
        }
        let out = post(&store, from(9, conv, p.carol, c1.device, 3), &limits).await;
        assert!(split(&out)
            .1
            .contains(&(p.b1.device, UndeliveredReason::QueueFull)));
        assert_eq!(store.pending(&p.b1.device, 0, 100).await.unwrap().len(), 7);
    }

    /// No sender account holds more than `max_queue_per_sender` copies in one queue.
    pub async fn no_sender_holds_more_than_its_cap(store: Arc<dyn Store>) {
        let p = people(&store).await;
        let c1 = device(4, p.carol, DeviceState::Active);
        store.activate_device(&c1).await.unwrap();
        let conv = conversation(&store, &p.a1, &[p.alice, p.bob, p.carol]).await;
        let limits = policy(100, 50, 3, 20);
        // In one batch: the cap counts what the batch itself adds.
        let ops: Vec<WriteOp> = (1..=4)
            .map(|m| WriteOp::Enqueue(from(m, conv, p.alice, p.a1.device, 1)))
            .collect();
        let out = store.write_batch_with(&ops, &limits).await.unwrap();
        assert!(split(&out[2]).0.contains(&p.b1.device));
        assert!(split(&out[3])
            .1
            .contains(&(p.b1.device, UndeliveredReason::SenderShareFull)));
        let out = post(&store, from(5, conv, p.carol, c1.device, 3), &limits).await;
        assert!(split(&out).0.contains(&p.b1.device));
    }

    /// A retry (same id, same bytes, same sender device) delivers the recorded undelivered
    /// copies once the device takes them, exactly once; other bytes or another device are
    /// duplicates.
    pub async fn a_retry_delivers_undelivered_copies_exactly_once(store: Arc<dyn Store>) {
        let p = people(&store).await;
        let conv = conversation(&store, &p.a1, &[p.alice, p.bob]).await;
        let limits = policy(2, 1, 100, 20);
        for m in 1..=2 {
            post(&store, envelope(m, conv, p.alice, p.a1.device), &limits).await;
        }
        let out = post(&store, envelope(3, conv, p.alice, p.a1.device), &limits).await;
        assert_eq!(
            split(&out),
            (vec![], vec![(p.b1.device, UndeliveredReason::QueueFull)])
        );
        // Still full: still undelivered, still recorded.
        let again = post(&store, envelope(3, conv, p.alice, p.a1.device), &limits).await;
        assert_eq!(split(&again), split(&out));
        let mut other_bytes = envelope(3, conv, p.alice, p.a1.device);
        other_bytes.body = vec![9; 10];
        assert_eq!(
            post(&store, other_bytes, &limits).await,
            WriteOutcome::Duplicate
        );
        let mut other_device = envelope(3, conv, p.alice, p.a1.device);
        other_device.sender_device = DeviceId::from_bytes([77; 32]);
        assert_eq!(
            post(&store, other_device, &limits).await,
            WriteOutcome::Duplicate
        );
        let ack = WriteOp::Ack {
            device: p.b1.device,
            messages: vec![
                MessageId::from_bytes([1; 16]),
                MessageId::from_bytes([2; 16]),
            ],
        };
        store.write_batch_with(&[ack], &limits).await.unwrap();
        let retry = post(&store, envelope(3, conv, p.alice, p.a1.device), &limits).await;
        assert_eq!(split(&retry), (vec![p.b1.device], vec![]));
        let queued = store.pending(&p.b1.device, 0, 10).await.unwrap();
        assert_eq!(queued.len(), 1);
        assert_eq!(
            (queued[0].message, queued[0].body.clone()),
            (MessageId::from_bytes([3; 16]), vec![3; 10])
        );
        assert_eq!(
            post(&store, envelope(3, conv, p.alice, p.a1.device), &limits).await,
            WriteOutcome::Duplicate
        );
        let ack = WriteOp::Ack {
            device: p.b1.device,
            messages: vec![MessageId::from_bytes([3; 16])],
        };
        assert_eq!(
            store.write_batch_with(&[ack], &limits).await.unwrap(),
            vec![WriteOutcome::Acked(1)]
        );
        assert!(store.pending(&p.b1.device, 0, 10).await.unwrap().is_empty());
    }

    /// Undelivered records expire: a retry after `undelivered_ttl` is a duplicate, and the
    /// purge deletes them.
    pub async fn undelivered_records_expire(store: Arc<dyn Store>) {
        let p = people(&store).await;
        let conv = request_to_bob(&store, &p).await;
        let mut limits = policy(100, 10, 50, 0);
        limits.undelivered_ttl_ms = 1000;
        let out = post(&store, envelope(1, conv, p.alice, p.a1.device), &limits).await;
        assert_eq!(
            split(&out).1,
            vec![(p.b1.device, UndeliveredReason::RequestLimit)]
        );
        store
            .set_member_status(&conv, p.bob, MemberStatus::Accepted)
            .await
            .unwrap();
        let mut late = envelope(1, conv, p.alice, p.a1.device);
        late.received_at += 1001;
        assert_eq!(post(&store, late, &limits).await, WriteOutcome::Duplicate);
        assert_eq!(store.purge_undelivered(5).await.unwrap(), 0);
        assert_eq!(store.purge_undelivered(6).await.unwrap(), 1);
    }

    /// Conversations are counted per creator, for `max_conversations_per_day`.
    pub async fn conversations_are_counted_per_creator(store: Arc<dyn Store>) {
        let p = people(&store).await;
        conversation(&store, &p.a1, &[p.alice, p.bob]).await;
        assert_eq!(
            store.conversations_created_since(p.alice, 0).await.unwrap(),
            (1, Some(1))
        );
        assert_eq!(
            store.conversations_created_since(p.alice, 2).await.unwrap(),
            (0, None)
        );
        assert_eq!(
            store.conversations_created_since(p.bob, 0).await.unwrap(),
            (0, None)
        );
    }

    /// Every envelope for all members is archived once, in the commit that queues it; a key
    /// distribution (one device) and a refused duplicate are not; pages run newest first
    /// within their window; with archiving off nothing is written.
    pub async fn the_archive_keeps_each_envelope_for_members_once(store: Arc<dyn Store>) {
        let p = people(&store).await;
        let conv = conversation(&store, &p.a1, &[p.alice, p.bob]).await;
        let on = policy(100, 10, 100, 20);
        let mut envs: Vec<NewEnvelope> = (1..=4)
            .map(|m| NewEnvelope {
                received_at: i64::from(m) * 10,
                ..envelope(m, conv, p.alice, p.a1.device)
            })
            .collect();
        envs.push(NewEnvelope {
            to: Some(p.b1.device),
            ..envelope(5, conv, p.alice, p.a1.device)
        });
        let ops: Vec<WriteOp> = envs.iter().cloned().map(WriteOp::Enqueue).collect();
        store.write_batch_with(&ops, &on).await.unwrap();
        let replay = envelope(1, conv, p.alice, p.a1.device);
        assert_eq!(post(&store, replay, &on).await, WriteOutcome::Duplicate);
        let all = HistoryWindow {
            from: 0,
            before: None,
            limit: 100,
        };
        let page = store.history(&conv, &all).await.unwrap();
        let ids: Vec<u8> = page.iter().map(|e| e.message.as_bytes()[0]).collect();
        assert_eq!(
            ids,
            vec![4, 3, 2, 1],
            "newest first, the distribution left out"
        );
        assert_eq!(page[0].body, vec![4; 10]);
        assert_eq!(page[0].received_at, 40);
        let older = HistoryWindow {
            before: Some(page[1].seq),
            limit: 1,
            ..all
        };
        let next = store.history(&conv, &older).await.unwrap();
        assert_eq!(next.len(), 1);
        assert_eq!(next[0].message, MessageId::from_bytes([2; 16]));
        let since_joined = HistoryWindow { from: 30, ..all };
        assert_eq!(store.history(&conv, &since_joined).await.unwrap().len(), 2);
        let other = ConversationId::from_bytes([6; 16]);
        assert!(store.history(&other, &all).await.unwrap().is_empty());

        let off = on.archiving(false);
        post(&store, envelope(6, conv, p.alice, p.a1.device), &off).await;
        assert_eq!(store.history(&conv, &all).await.unwrap().len(), 4);
        assert_eq!(
            store.member_since(&conv, p.bob).await.unwrap(),
            Some(1),
            "bob joined with the genesis"
        );
        assert_eq!(store.member_since(&conv, p.carol).await.unwrap(), None);
    }

    /// The purge deletes archived envelopes and attachments once their conversation's
    /// retention has passed (the log's value, else the default; 0 keeps them) and gives the
    /// attachments' bytes back to their uploader's quota.
    pub async fn retention_deletes_the_archive_and_attachments_past_it(store: Arc<dyn Store>) {
        let p = people(&store).await;
        let mut convs = Vec::new();
        for (i, retention) in [(7u8, Some(60u64)), (8, Some(0)), (9, None)] {
            let conv = ConversationId::from_bytes([i; 16]);
            let genesis = ChangeRecord {
                epoch: 0,
                change: b"genesis".to_vec(),
                author: p.a1.device,
                created_at: 1,
            };
            let members = accepted(&[p.alice, p.bob]);
            store
                .create_conversation(&conv, &genesis, p.alice, &members)
                .await
                .unwrap();
            let next = ChangeRecord {
                epoch: 1,
                change: b"set retention".to_vec(),
                author: p.a1.device,
                created_at: 2,
            };
            store
                .append_change(&conv, &next, &members, retention)
                .await
                .unwrap();
            assert_eq!(store.retention(&conv).await.unwrap(), retention);
            let env = NewEnvelope {
                message: MessageId::from_bytes([i; 16]),
                ..envelope(i, conv, p.alice, p.a1.device)
            };
            post(&store, env, &policy(100, 10, 100, 20)).await;
            store
                .put_attachment(&[i; 16], &conv, p.alice, &[i; 40], 200, 5)
                .await
                .unwrap();
            convs.push(conv);
        }
        let all = HistoryWindow {
            from: 0,
            before: None,
            limit: 10,
        };
        let kept = |store: Arc<dyn Store>, conv: ConversationId| async move {
            (
                store.history(&conv, &all).await.unwrap().len(),
                store
                    .attachment(&[conv.as_bytes()[0]; 16])
                    .await
                    .unwrap()
                    .is_some(),
            )
        };
        // Received at 5 ms: 60 s later, not yet past.
        let purged = store.purge_retention(60_004, 0).await.unwrap();
        assert_eq!((purged.envelopes, purged.attachments), (0, 0));
        let purged = store.purge_retention(60_005, 0).await.unwrap();
        assert_eq!((purged.envelopes, purged.attachments), (1, 1));
        assert_eq!(kept(store.clone(), convs[0]).await, (0, false));
        assert_eq!(kept(store.clone(), convs[1]).await, (1, true));
        assert_eq!(
            kept(store.clone(), convs[2]).await,
            (1, true),
            "default 0: kept"
        );
        // A default applies where the log set none; 0 in the log still keeps.
        let purged = store.purge_retention(i64::MAX / 2, 60).await.unwrap();
        assert_eq!((purged.envelopes, purged.attachments), (1, 1));
        assert_eq!(kept(store.clone(), convs[1]).await, (1, true));
        assert_eq!(kept(store.clone(), convs[2]).await, (0, false));
        // 120 bytes were stored, 40 remain: 150 more fit a 200-byte quota again.
        store
            .put_attachment(&[1; 16], &convs[1], p.alice, &[1; 150], 200, 6)
            .await
            .unwrap();
    }

    /// A recovery set-up replaces the one before it and deletes its items; items are filed
    /// once each under the current recovery id, within the caps, and read back in order.
    pub async fn recovery_set_ups_replace_each_other_and_file_items_once(store: Arc<dyn Store>) {
        let p = people(&store).await;
        let caps = BackupCaps {
            items: 3,
            bytes: 100,
        };
        let item = |i: u8, len: usize| NewBackupItem {
            item_id: [i; 16],
            body: vec![i; len],
        };
        assert!(store.recovery(p.alice).await.unwrap().is_none());
        let none = store
            .put_backup_items(p.alice, &[1; 16], &[item(1, 10)], caps, 1)
            .await;
        assert!(matches!(none, Err(Error::Conflict { .. })), "{none:?}");
        let setup = RecoveryRecord {
            recovery_id: [1; 16],
            method: RecoveryMethod::Passphrase,
            salt: Some([2; 16]),
            verifier: [3; 32],
            items: 0,
            bytes: 0,
            created_at: 7,
        };
        store.set_recovery(p.alice, &setup).await.unwrap();
        assert_eq!(store.recovery(p.alice).await.unwrap(), Some(setup.clone()));
        let other_id = store
            .put_backup_items(p.alice, &[9; 16], &[item(1, 10)], caps, 1)
            .await;
        assert!(
            matches!(other_id, Err(Error::Conflict { .. })),
            "{other_id:?}"
        );
        let n = store
            .put_backup_items(p.alice, &[1; 16], &[item(1, 10), item(2, 20)], caps, 1)
            .await
            .unwrap();
        assert_eq!(n, 2);
        // A retry stores nothing twice.
        let n = store
            .put_backup_items(p.alice, &[1; 16], &[item(2, 20), item(2, 20)], caps, 1)
            .await
            .unwrap();
        assert_eq!(n, 0);
        let got = store.recovery(p.alice).await.unwrap().unwrap();
        assert_eq!((got.items, got.bytes), (2, 30));
        // Over either cap: nothing of the request is stored.
        let too_big = store
            .put_backup_items(p.alice, &[1; 16], &[item(3, 71)], caps, 1)
            .await;
        assert!(
            matches!(too_big, Err(Error::Capacity { .. })),
            "{too_big:?}"
        );
        let too_many = store
            .put_backup_items(p.alice, &[1; 16], &[item(3, 1), item(4, 1)], caps, 1)
            .await;
        assert!(
            matches!(too_many, Err(Error::Capacity { .. })),
            "{too_many:?}"
        );
        let items = store.backup_items(p.alice, 0, 10).await.unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].body, vec![1; 10]);
        let after = store.backup_items(p.alice, items[0].seq, 10).await.unwrap();
        assert_eq!(after.len(), 1);
        assert_eq!(after[0].body, vec![2; 20]);
        assert!(store.backup_items(p.bob, 0, 10).await.unwrap().is_empty());

        // A new set-up starts empty.
        let again = RecoveryRecord {
            recovery_id: [4; 16],
            method: RecoveryMethod::Key,
            salt: None,
            ..setup
        };
        store.set_recovery(p.alice, &again).await.unwrap();
        assert!(store.backup_items(p.alice, 0, 10).await.unwrap().is_empty());
        assert_eq!(store.recovery(p.alice).await.unwrap().unwrap().items, 0);
        assert!(store.delete_recovery(p.alice).await.unwrap());
        assert!(!store.delete_recovery(p.alice).await.unwrap());
        assert!(store.recovery(p.alice).await.unwrap().is_none());
    }

    /// Hand-overs wait for their recipient, at most `max` at once, until deleted by it or
    /// purged; a pending device keeps the exchange certificate it announced.
    pub async fn hand_overs_wait_for_their_recipient_within_a_cap(store: Arc<dyn Store>) {
        let p = people(&store).await;
        let b2 = DeviceId::from_bytes([3; 32]);
        let record = |i: u8, at: i64| HandoverRecord {
            id: [i; 16],
            recipient: b2,
            sender: p.b1.device,
            body: vec![i; 50],
            created_at: at,
        };
        store.put_handover(&record(1, 10), 2).await.unwrap();
        store.put_handover(&record(2, 20), 2).await.unwrap();
        let full = store.put_handover(&record(3, 30), 2).await;
        assert!(matches!(full, Err(Error::Capacity { .. })), "{full:?}");
        let list = store.handovers_for(&b2, 0).await.unwrap();
        assert_eq!(list, vec![record(1, 10), record(2, 20)]);
        assert_eq!(store.handovers_for(&b2, 15).await.unwrap().len(), 1);
        assert!(store
            .handovers_for(&p.b1.device, 0)
            .await
            .unwrap()
            .is_empty());
        assert!(!store.delete_handover(&[1; 16], &p.b1.device).await.unwrap());
        assert!(store.delete_handover(&[1; 16], &b2).await.unwrap());
        assert_eq!(store.purge_handovers(21).await.unwrap(), 1);
        assert!(store.handovers_for(&b2, 0).await.unwrap().is_empty());

        let pending = DeviceRecord {
            exchange_cert: Some(vec![9; 20]),
            exchange_serial: Some(4),
            ..device(4, p.bob, DeviceState::Pending)
        };
        store.add_pending_device(&pending, 10, 0).await.unwrap();
        let got = store.device(&pending.device).await.unwrap().unwrap();
        assert_eq!(
            (got.state, got.exchange_cert, got.exchange_serial),
            (DeviceState::Pending, Some(vec![9; 20]), Some(4))
        );
    }

    /// One-time prekeys: stored for an active device within a cap (a known id once), counted,
    /// and claimed oldest first, each once, by the device's own account or a user sharing a
    /// conversation with it that neither declined; a re-key replaces them and a revocation
    /// deletes them.
    pub async fn prekeys_are_claimed_once_oldest_first_by_those_who_may(store: Arc<dyn Store>) {
        let p = people(&store).await;
        let pk = |i: u8| NewPrekey {
            id: sotto_proto::ids::PrekeyId::from_bytes([i; 16]),
            body: vec![i; 40],
        };
        let b1 = p.b1.device;
        let pending = DeviceId::from_bytes([3; 32]);
        let refused = store.put_prekeys(&pending, &[pk(1)], false, 3, 1).await;
        assert!(
            matches!(refused, Err(Error::NotFound { .. })),
            "{refused:?}"
        );
        assert_eq!(
            store
                .put_prekeys(&b1, &[pk(1), pk(2)], false, 3, 1)
                .await
                .unwrap(),
            2
        );
        assert_eq!(
            store
                .put_prekeys(&b1, &[pk(2), pk(3)], false, 3, 2)
                .await
                .unwrap(),
            3
        );
        let full = store.put_prekeys(&b1, &[pk(4)], false, 3, 3).await;
        assert!(matches!(full, Err(Error::Conflict { .. })), "{full:?}");
        assert_eq!(store.prekey_count(&b1).await.unwrap(), 3);

        // Alice shares no conversation with Bob yet.
        assert_eq!(
            store.claim_prekeys(p.alice, &[b1]).await.unwrap(),
            vec![None]
        );
        let conv = conversation(&store, &p.a1, &[p.alice, p.bob]).await;
        let got = store
            .claim_prekeys(p.alice, &[b1, b1, p.a1.device, pending])
            .await
            .unwrap();
        assert_eq!(got, vec![Some(vec![1; 40]), Some(vec![2; 40]), None, None]);
        assert_eq!(
            store.claim_prekeys(p.carol, &[b1]).await.unwrap(),
            vec![None]
        );
        store
            .set_member_status(&conv, p.bob, MemberStatus::Declined)
            .await
            .unwrap();
        assert_eq!(
            store.claim_prekeys(p.alice, &[b1]).await.unwrap(),
            vec![None]
        );
        assert_eq!(
            store.claim_prekeys(p.bob, &[b1]).await.unwrap(),
            vec![Some(vec![3; 40])]
        );
        assert_eq!(store.claim_prekeys(p.bob, &[b1]).await.unwrap(), vec![None]);

        assert_eq!(
            store
                .put_prekeys(&b1, &[pk(5), pk(6)], false, 3, 4)
                .await
                .unwrap(),
            2
        );
        assert_eq!(
            store.put_prekeys(&b1, &[pk(7)], true, 3, 5).await.unwrap(),
            1
        );
        assert_eq!(
            store.claim_prekeys(p.bob, &[b1]).await.unwrap(),
            vec![Some(vec![7; 40])]
        );
        store.put_prekeys(&b1, &[pk(8)], false, 3, 6).await.unwrap();
        store
            .revoke_device(p.bob, &b1, 1, b"revocation")
            .await
            .unwrap();
        assert_eq!(store.prekey_count(&b1).await.unwrap(), 0);
    }

    /// A member a change removes keeps the epoch of that change (the latest one if removed
    /// again after being added back); nobody else has one.
    pub async fn a_removed_member_keeps_the_epoch_of_its_removal(store: Arc<dyn Store>) {
        let People {
            alice,
            bob,
            carol,
            a1,
            ..
        } = people(&store).await;
        let conv = conversation(&store, &a1, &[alice, bob, carol]).await;
        let change = |epoch: u64| ChangeRecord {
            epoch,
            change: vec![u8::try_from(epoch).unwrap(); 4],
            author: a1.device,
            created_at: 1,
        };
        assert_eq!(store.removed_at(&conv, bob).await.unwrap(), None);
        store
            .append_change(&conv, &change(1), &accepted(&[alice, carol]), None)
            .await
            .unwrap();
        assert!(!store.is_member(&conv, bob).await.unwrap());
        assert_eq!(store.removed_at(&conv, bob).await.unwrap(), Some(1));
        assert_eq!(store.removed_at(&conv, carol).await.unwrap(), None);
        assert_eq!(store.removed_at(&conv, alice).await.unwrap(), None);
        let other = ConversationId::from_bytes([6; 16]);
        assert_eq!(store.removed_at(&other, bob).await.unwrap(), None);
        // Added back, then removed again: the latest removal counts.
        store
            .append_change(&conv, &change(2), &accepted(&[alice, bob, carol]), None)
            .await
            .unwrap();
        assert!(store.is_member(&conv, bob).await.unwrap());
        store
            .append_change(&conv, &change(3), &accepted(&[alice, carol]), None)
            .await
            .unwrap();
        assert_eq!(store.removed_at(&conv, bob).await.unwrap(), Some(3));
        // Carol leaves.
        store
            .append_change(&conv, &change(4), &accepted(&[alice]), None)
            .await
            .unwrap();
        assert_eq!(store.removed_at(&conv, carol).await.unwrap(), Some(4));
    }

    /// Pending devices announced before the cut-off no longer count against the cap, an
    /// announcement again restarts the wait, and the purge deletes only expired pending ones.
    pub async fn expired_pending_devices_stop_counting_and_are_purged(store: Arc<dyn Store>) {
        let p = people(&store).await;
        // b2 (pending) was announced at 3 (see `device`); a cut-off of 100 expires it.
        let at = |i: u8, t: i64| DeviceRecord {
            created_at: t,
            ..device(i, p.bob, DeviceState::Pending)
        };
        assert!(matches!(
            store.add_pending_device(&at(5, 200), 1, 0).await,
            Err(Error::Capacity { .. })
        ));
        store.add_pending_device(&at(5, 200), 1, 100).await.unwrap();
        // Announcing b2 again restarts its wait.
        store
            .add_pending_device(&at(3, 300), 10, 100)
            .await
            .unwrap();
        assert_eq!(
            store
                .device(&at(3, 0).device)
                .await
                .unwrap()
                .unwrap()
                .created_at,
            300
        );
        store.add_pending_device(&at(6, 50), 10, 0).await.unwrap();
        assert_eq!(store.purge_pending_devices(250).await.unwrap(), 2);
        let left: Vec<(DeviceId, DeviceState)> = store
            .devices_of(p.bob)
            .await
            .unwrap()
            .into_iter()
            .map(|d| (d.device, d.state))
            .collect();
        assert_eq!(
            left,
            vec![
                (p.b1.device, DeviceState::Active),
                (at(3, 0).device, DeviceState::Pending)
            ]
        );
        assert!(
            store.device(&p.a1.device).await.unwrap().is_some(),
            "active stays"
        );
    }
}

#[tokio::test]
async fn sqlite_users_are_found_by_name_id_and_account() {
    on_sqlite(contract::users_are_found_by_name_id_and_account).await;
}

#[tokio::test]
async fn postgres_users_are_found_by_name_id_and_account() {
    on_postgres(contract::users_are_found_by_name_id_and_account).await;
}

#[tokio::test]
async fn sqlite_devices_activate_once_and_exchange_keys_never_roll_back() {
    on_sqlite(contract::devices_activate_once_and_exchange_keys_never_roll_back).await;
}

#[tokio::test]
async fn postgres_devices_activate_once_and_exchange_keys_never_roll_back() {
    on_postgres(contract::devices_activate_once_and_exchange_keys_never_roll_back).await;
}

#[tokio::test]
async fn sqlite_refresh_tokens_rotate_retry_with_a_proof_and_revoke_on_reuse() {
    on_sqlite(contract::refresh_tokens_rotate_retry_with_a_proof_and_revoke_on_reuse).await;
}

#[tokio::test]
async fn postgres_refresh_tokens_rotate_retry_with_a_proof_and_revoke_on_reuse() {
    on_postgres(contract::refresh_tokens_rotate_retry_with_a_proof_and_revoke_on_reuse).await;
}

#[tokio::test]
async fn sqlite_challenges_and_tickets_are_single_use() {
    on_sqlite(contract::challenges_and_tickets_are_single_use).await;
}

#[tokio::test]
async fn postgres_challenges_and_tickets_are_single_use() {
    on_postgres(contract::challenges_and_tickets_are_single_use).await;
}

#[tokio::test]
async fn sqlite_a_ticket_redeems_once_while_valid_and_its_session_lives() {
    on_sqlite(contract::a_ticket_redeems_once_while_valid_and_its_session_lives).await;
}

#[tokio::test]
async fn postgres_a_ticket_redeems_once_while_valid_and_its_session_lives() {
    on_postgres(contract::a_ticket_redeems_once_while_valid_and_its_session_lives).await;
}

#[tokio::test]
async fn sqlite_a_session_keeps_only_its_newest_challenges() {
    on_sqlite(contract::a_session_keeps_only_its_newest_challenges).await;
}

#[tokio::test]
async fn postgres_a_session_keeps_only_its_newest_challenges() {
    on_postgres(contract::a_session_keeps_only_its_newest_challenges).await;
}

#[tokio::test]
async fn sqlite_a_conversation_log_grows_one_epoch_at_a_time() {
    on_sqlite(contract::a_conversation_log_grows_one_epoch_at_a_time).await;
}

#[tokio::test]
async fn postgres_a_conversation_log_grows_one_epoch_at_a_time() {
    on_postgres(contract::a_conversation_log_grows_one_epoch_at_a_time).await;
}

#[tokio::test]
async fn sqlite_group_commit_refuses_duplicates_and_non_members_and_caps_queues() {
    on_sqlite(contract::group_commit_refuses_duplicates_and_non_members_and_caps_queues).await;
}

#[tokio::test]
async fn postgres_group_commit_refuses_duplicates_and_non_members_and_caps_queues() {
    on_postgres(contract::group_commit_refuses_duplicates_and_non_members_and_caps_queues).await;
}

#[tokio::test]
async fn sqlite_revoking_a_device_drops_its_queue_and_sessions() {
    on_sqlite(contract::revoking_a_device_drops_its_queue_and_sessions).await;
}

#[tokio::test]
async fn postgres_revoking_a_device_drops_its_queue_and_sessions() {
    on_postgres(contract::revoking_a_device_drops_its_queue_and_sessions).await;
}

#[tokio::test]
async fn sqlite_attachments_count_against_their_uploaders_quota() {
    on_sqlite(contract::attachments_count_against_their_uploaders_quota).await;
}

#[tokio::test]
async fn postgres_attachments_count_against_their_uploaders_quota() {
    on_postgres(contract::attachments_count_against_their_uploaders_quota).await;
}

#[tokio::test]
async fn sqlite_expired_sessions_are_purged() {
    on_sqlite(contract::expired_sessions_are_purged).await;
}

#[tokio::test]
async fn postgres_expired_sessions_are_purged() {
    on_postgres(contract::expired_sessions_are_purged).await;
}

#[tokio::test]
async fn sqlite_a_shared_body_stays_until_its_last_copy_is_acknowledged_or_revoked() {
    on_sqlite(contract::a_shared_body_stays_until_its_last_copy_is_acknowledged_or_revoked).await;
}

#[tokio::test]
async fn postgres_a_shared_body_stays_until_its_last_copy_is_acknowledged_or_revoked() {
    on_postgres(contract::a_shared_body_stays_until_its_last_copy_is_acknowledged_or_revoked).await;
}

#[tokio::test]
async fn sqlite_migrations_are_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let first = SqliteStore::open(&path).await.unwrap();
    first.create_user("alice", "h", 1).await.unwrap();
    first.close().await;
    let again = SqliteStore::open(&path).await.unwrap();
    assert!(again.user_by_name("alice").await.unwrap().is_some());
}

#[tokio::test]
async fn sqlite_a_request_takes_a_bounded_number_of_envelopes_until_accepted() {
    on_sqlite(contract::a_request_takes_a_bounded_number_of_envelopes_until_accepted).await;
}

#[tokio::test]
async fn postgres_a_request_takes_a_bounded_number_of_envelopes_until_accepted() {
    on_postgres(contract::a_request_takes_a_bounded_number_of_envelopes_until_accepted).await;
}

#[tokio::test]
async fn sqlite_declining_drops_queued_copies_and_refuses_further_ones() {
    on_sqlite(contract::declining_drops_queued_copies_and_refuses_further_ones).await;
}

#[tokio::test]
async fn postgres_declining_drops_queued_copies_and_refuses_further_ones() {
    on_postgres(contract::declining_drops_queued_copies_and_refuses_further_ones).await;
}

#[tokio::test]
async fn sqlite_a_blocked_sender_reaches_no_device_and_its_requests_are_declined() {
    on_sqlite(contract::a_blocked_sender_reaches_no_device_and_its_requests_are_declined).await;
}

#[tokio::test]
async fn postgres_a_blocked_sender_reaches_no_device_and_its_requests_are_declined() {
    on_postgres(contract::a_blocked_sender_reaches_no_device_and_its_requests_are_declined).await;
}

#[tokio::test]
async fn sqlite_a_full_queue_keeps_a_share_for_every_other_sender() {
    on_sqlite(contract::a_full_queue_keeps_a_share_for_every_other_sender).await;
}

#[tokio::test]
async fn postgres_a_full_queue_keeps_a_share_for_every_other_sender() {
    on_postgres(contract::a_full_queue_keeps_a_share_for_every_other_sender).await;
}

#[tokio::test]
async fn sqlite_no_sender_holds_more_than_its_cap() {
    on_sqlite(contract::no_sender_holds_more_than_its_cap).await;
}

#[tokio::test]
async fn postgres_no_sender_holds_more_than_its_cap() {
    on_postgres(contract::no_sender_holds_more_than_its_cap).await;
}

#[tokio::test]
async fn sqlite_a_retry_delivers_undelivered_copies_exactly_once() {
    on_sqlite(contract::a_retry_delivers_undelivered_copies_exactly_once).await;
}

#[tokio::test]
async fn postgres_a_retry_delivers_undelivered_copies_exactly_once() {
    on_postgres(contract::a_retry_delivers_undelivered_copies_exactly_once).await;
}

#[tokio::test]
async fn sqlite_undelivered_records_expire() {
    on_sqlite(contract::undelivered_records_expire).await;
}

#[tokio::test]
async fn postgres_undelivered_records_expire() {
    on_postgres(contract::undelivered_records_expire).await;
}

#[tokio::test]
async fn sqlite_conversations_are_counted_per_creator() {
    on_sqlite(contract::conversations_are_counted_per_creator).await;
}

#[tokio::test]
async fn postgres_conversations_are_counted_per_creator() {
    on_postgres(contract::conversations_are_counted_per_creator).await;
}

#[tokio::test]
async fn sqlite_the_archive_keeps_each_envelope_for_members_once() {
    on_sqlite(contract::the_archive_keeps_each_envelope_for_members_once).await;
}

#[tokio::test]
async fn postgres_the_archive_keeps_each_envelope_for_members_once() {
    on_postgres(contract::the_archive_keeps_each_envelope_for_members_once).await;
}

#[tokio::test]
async fn sqlite_retention_deletes_the_archive_and_attachments_past_it() {
    on_sqlite(contract::retention_deletes_the_archive_and_attachments_past_it).await;
}

#[tokio::test]
async fn postgres_retention_deletes_the_archive_and_attachments_past_it() {
    on_postgres(contract::retention_deletes_the_archive_and_attachments_past_it).await;
}

#[tokio::test]
async fn sqlite_recovery_set_ups_replace_each_other_and_file_items_once() {
    on_sqlite(contract::recovery_set_ups_replace_each_other_and_file_items_once).await;
}

#[tokio::test]
async fn postgres_recovery_set_ups_replace_each_other_and_file_items_once() {
    on_postgres(contract::recovery_set_ups_replace_each_other_and_file_items_once).await;
}

#[tokio::test]
async fn sqlite_hand_overs_wait_for_their_recipient_within_a_cap() {
    on_sqlite(contract::hand_overs_wait_for_their_recipient_within_a_cap).await;
}

#[tokio::test]
async fn postgres_hand_overs_wait_for_their_recipient_within_a_cap() {
    on_postgres(contract::hand_overs_wait_for_their_recipient_within_a_cap).await;
}

#[tokio::test]
async fn sqlite_a_removed_member_keeps_the_epoch_of_its_removal() {
    on_sqlite(contract::a_removed_member_keeps_the_epoch_of_its_removal).await;
}

#[tokio::test]
async fn postgres_a_removed_member_keeps_the_epoch_of_its_removal() {
    on_postgres(contract::a_removed_member_keeps_the_epoch_of_its_removal).await;
}

#[tokio::test]
async fn sqlite_expired_pending_devices_stop_counting_and_are_purged() {
    on_sqlite(contract::expired_pending_devices_stop_counting_and_are_purged).await;
}

#[tokio::test]
async fn postgres_expired_pending_devices_stop_counting_and_are_purged() {
    on_postgres(contract::expired_pending_devices_stop_counting_and_are_purged).await;
}

#[tokio::test]
async fn sqlite_prekeys_are_claimed_once_oldest_first_by_those_who_may() {
    on_sqlite(contract::prekeys_are_claimed_once_oldest_first_by_those_who_may).await;
}

#[tokio::test]
async fn postgres_prekeys_are_claimed_once_oldest_first_by_those_who_may() {
    on_postgres(contract::prekeys_are_claimed_once_oldest_first_by_those_who_may).await;
}
