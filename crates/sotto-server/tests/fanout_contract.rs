//! The fan-out contract every backend passes: an event published on any node of a cluster
//! reaches exactly the sockets it targets on every node. `local` is a cluster of one node (both
//! handles are the same hub); `nats` is two hubs on one NATS server with a fresh subject prefix
//! (skipped loudly when `SOTTO_TEST_NATS_URL` is unset, a failure under `CI=true`:
//! `support/services.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use sotto_proto::ids::{AccountId, ConversationId, DeviceId, MessageId};
use sotto_server::fanout::nats::NatsFanout;
use sotto_server::hub::{CloseReason, Hub, OutEnvelope, Push, Registration, Sockets};
use sotto_server::store::{SessionId, UserId};

#[path = "support/services.rs"]
mod services;

fn dev(i: u8) -> DeviceId {
    DeviceId::from_bytes([i; 32])
}

fn session(i: u8) -> SessionId {
    SessionId([i; 16])
}

fn envelope() -> Arc<OutEnvelope> {
    Arc::new(OutEnvelope {
        message: MessageId::from_bytes([9; 16]),
        conversation: ConversationId::from_bytes([8; 16]),
        sender_account: AccountId::from_bytes([7; 32]),
        sender_device: DeviceId::from_bytes([6; 32]),
        received_at: 1,
        body: vec![0; 3],
    })
}

/// The next push within `wait`, if any.
async fn next(reg: &mut Registration, wait: Duration) -> Option<Push> {
    tokio::time::timeout(wait, reg.rx.recv())
        .await
        .ok()
        .and_then(Result::ok)
}

/// Publishes a frame for `device` from `from` until `reg` receives one (the backend's
/// subscription is live), then empties `reg` and clears its lagged flag.
async fn settle(from: &Hub, device: DeviceId, reg: &mut Registration) {
    let probe = Push::Frame(Arc::from(r#"{"type":"probe"}"#));
    let mut live = false;
    for _ in 0..100 {
        from.push(&device, &probe);
        if let Some(Push::Frame(_)) = next(reg, Duration::from_millis(50)).await {
            live = true;
            break;
        }
    }
    assert!(live, "the backend never delivered to {device}");
    while next(reg, Duration::from_millis(100)).await.is_some() {}
    reg.lagged.store(false, Ordering::SeqCst);
}

/// `subscriber` holds the sockets; `publisher` publishes.
async fn contract(subscriber: Arc<Hub>, publisher: Arc<Hub>) {
    let wait = Duration::from_secs(1);
    let mut alice = subscriber
        .register(UserId(1), dev(1), session(1), 64, 8)
        .unwrap();
    let mut bob = subscriber
        .register(UserId(2), dev(2), session(2), 64, 8)
        .unwrap();
    let mut carol_a = subscriber
        .register(UserId(3), dev(3), session(3), 64, 8)
        .unwrap();
    let mut carol_b = subscriber
        .register(UserId(3), dev(4), session(4), 64, 8)
        .unwrap();
    settle(&publisher, dev(1), &mut alice).await;
    settle(&publisher, dev(2), &mut bob).await;

    // An envelope reaches its device: carried, or announced for a store read.
    let started = std::time::Instant::now();
    publisher.push(
        &dev(1),
        &Push::Envelope {
            seq: 7,
            envelope: envelope(),
        },
    );
    match next(&mut alice, wait).await {
        Some(Push::Envelope { seq: 7, envelope }) => assert_eq!(envelope.body, vec![0; 3]),
        Some(Push::Wake) => {
            assert!(
                alice.lagged.swap(false, Ordering::SeqCst),
                "a wake-up means re-read"
            )
        }
        other => panic!("expected the envelope or a wake-up, got {other:?}"),
    }
    assert!(started.elapsed() < wait);
    assert!(next(&mut bob, Duration::from_millis(100)).await.is_none());

    // A frame reaches its device as is.
    publisher.push(&dev(2), &Push::Frame(Arc::from(r#"{"type":"typing"}"#)));
    match next(&mut bob, wait).await {
        Some(Push::Frame(frame)) => assert_eq!(&*frame, r#"{"type":"typing"}"#),
        other => panic!("expected the frame, got {other:?}"),
    }
    assert!(next(&mut alice, Duration::from_millis(100)).await.is_none());

    // Closing sessions closes exactly their sockets.
    publisher.close_sessions(&[session(2)], CloseReason::SessionEnded);
    tokio::time::timeout(wait, bob.close.changed())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(*bob.close.borrow(), Some(CloseReason::SessionEnded));
    assert_eq!(*alice.close.borrow(), None);

    // Closing a user keeps the named session.
    publisher.close_user(UserId(3), Some(&session(3)), CloseReason::SessionEnded);
    tokio::time::timeout(wait, carol_b.close.changed())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(*carol_a.close.borrow(), None);
    assert!(
        tokio::time::timeout(Duration::from_millis(100), carol_a.close.changed())
            .await
            .is_err()
    );

    // Closing a device closes its sockets.
    publisher.close_device(&dev(1), CloseReason::DeviceRevoked);
    tokio::time::timeout(wait, alice.close.changed())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(*alice.close.borrow(), Some(CloseReason::DeviceRevoked));

    // A device without a socket any more gets nothing, anywhere.
    drop(alice);
    assert!(!subscriber.is_online(&dev(1)));
    publisher.push(&dev(1), &Push::Frame(Arc::from("{}")));
    assert_eq!(subscriber.connections(), 3);
    drop((bob, carol_a, carol_b));
    assert_eq!(subscriber.connections(), 0);
    publisher.fanout().stop().await;
    subscriber.fanout().stop().await;
}

#[tokio::test]
async fn local_backend_passes_the_fanout_contract() {
    let hub = Arc::new(Hub::default());
    assert_eq!(hub.fanout().backend(), "local");
    contract(hub.clone(), hub).await;
}

async fn nats_hub(url: &str, prefix: &str) -> Arc<Hub> {
    let sockets = Arc::new(Sockets::default());
    let fanout = NatsFanout::connect(url, prefix, sockets.clone(), None)
        .await
        .unwrap();
    Arc::new(Hub::new(sockets, Arc::new(fanout)))
}

fn fresh_prefix() -> String {
    format!(
        "sotto_test_{}",
        hex::encode(sotto_server::auth::tokens::random::<8>().unwrap())
    )
}

#[tokio::test]
async fn nats_backend_passes_the_fanout_contract() {
    let Some(url) = services::url(services::NATS_VAR) else {
        return;
    };
    let prefix = fresh_prefix();
    let a = nats_hub(&url, &prefix).await;
    let b = nats_hub(&url, &prefix).await;
    assert_eq!(a.fanout().backend(), "nats");
    contract(a, b).await;
}

#[tokio::test]
async fn nats_wakes_a_device_once_its_subscription_is_live_and_keeps_deployments_apart() {
    let Some(url) = services::url(services::NATS_VAR) else {
        return;
    };
    let prefix = fresh_prefix();
    let a = nats_hub(&url, &prefix).await;
    let b = nats_hub(&url, &prefix).await;
    let elsewhere = nats_hub(&url, &fresh_prefix()).await;
    // Envelopes committed while the subscription was being set up are read from the store.
    let mut reg = a.register(UserId(1), dev(1), session(1), 64, 8).unwrap();
    match next(&mut reg, Duration::from_secs(3)).await {
        Some(Push::Wake) => {}
        other => panic!("expected a wake-up, got {other:?}"),
    }
    assert!(reg.lagged.swap(false, Ordering::SeqCst));
    // A node announces envelopes to its own sockets as store reads too (never out of order
    // with another node's announcements).
    a.push(
        &dev(1),
        &Push::Envelope {
            seq: 3,
            envelope: envelope(),
        },
    );
    assert!(matches!(reg.rx.try_recv(), Ok(Push::Wake)));
    assert!(reg.lagged.swap(false, Ordering::SeqCst));
    // Another deployment's prefix is another world.
    elsewhere.close_device(&dev(1), CloseReason::DeviceRevoked);
    elsewhere.push(&dev(1), &Push::Frame(Arc::from("{}")));
    assert!(next(&mut reg, Duration::from_millis(300)).await.is_none());
    assert_eq!(*reg.close.borrow(), None);
    // The same deployment's other node reaches it.
    b.close_device(&dev(1), CloseReason::DeviceRevoked);
    tokio::time::timeout(Duration::from_secs(1), reg.close.changed())
        .await
        .unwrap()
        .unwrap();
    for hub in [a, b, elsewhere] {
        hub.fanout().stop().await;
    }
}
