//! Regression test for a bug the chaos suite found: a receive with a long wait sat forever on a
//! half-open WebSocket (writes still succeed, nothing ever arrives), so a message sent meanwhile
//! was shown only when the wait ran out. Now an unanswered ping ends the receive and the caller
//! reconnects at once.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sotto_chaos::device::open_profile;
use sotto_chaos::world::World;
use sotto_client::sync::{Event, ReceiveOptions};
use tokio::time::Instant;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_open_websocket_is_noticed_and_the_message_arrives_long_before_the_wait_ends() {
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_sotto-chaos"));
    let root = tempfile::tempdir().unwrap();
    let mut world = World::create(&exe, root.path(), 5).await.unwrap();
    let device = |label: &str| world.devices.iter().find(|d| d.label == label).unwrap();
    let mut alice = open_profile(&device("alice1").profile, "alice1", None).unwrap();
    let mut bob = open_profile(&device("bob").profile, "bob", None).unwrap();
    let direct = world
        .conversations
        .iter()
        .find(|c| c.label == "ab")
        .unwrap();
    // Pins and exchange keys first, so that the only traffic later is the message itself.
    alice
        .send_text(&direct.id, "hello before", true)
        .await
        .unwrap();

    const WAIT: Duration = Duration::from_secs(20);
    let mut options = ReceiveOptions::new(root.path().join("downloads"));
    options.wait = WAIT;
    options.keepalive = Duration::from_secs(1);
    options.dead_after = Duration::from_secs(2);
    let connected = Arc::new(Mutex::new(0usize));
    let shown: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    let listener = {
        let (connected, shown) = (connected.clone(), shown.clone());
        async move {
            let started = Instant::now();
            let mut errors = Vec::new();
            while started.elapsed() < WAIT && shown.lock().unwrap().is_none() {
                let result = bob
                    .receive(&options, &mut |event| match event {
                        Event::Connected => *connected.lock().unwrap() += 1,
                        Event::Message(m) if m.text.as_str() == "while half-open" => {
                            *shown.lock().unwrap() = Some(Instant::now());
                        }
                        _ => {}
                    })
                    .await;
                if let Err(error) = result {
                    errors.push(error.to_string());
                }
            }
            errors
        }
    };
    let proxy = &world.proxy;
    let alice_profile = device("alice1").profile.clone();
    drop(alice);
    let driver = async {
        // Once bob's socket is up (and the "before" message shown), the network path dies.
        let up = Instant::now();
        while *connected.lock().unwrap() == 0 && up.elapsed() < Duration::from_secs(30) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(proxy.stall_all() > 0, "bob's socket goes half-open");
        // Alice is elsewhere, on a working network.
        let mut alice = open_profile(&alice_profile, "alice1", None).unwrap();
        alice
            .send_text(&direct.id, "while half-open", true)
            .await
            .unwrap();
        Instant::now()
    };
    let (errors, sent) = tokio::join!(listener, driver);
    let shown = shown.lock().unwrap().expect("the message was shown");
    let delay = shown.duration_since(sent);
    assert!(
        delay < Duration::from_secs(10),
        "shown {delay:?} after sending (the wait is {WAIT:?}); errors: {errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.contains("ping")),
        "the dead socket was reported: {errors:?}"
    );
    assert!(*connected.lock().unwrap() >= 2, "and bob reconnected");
    world.server.stop().await.unwrap();
}
