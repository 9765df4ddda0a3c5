//! Two server nodes on one PostgreSQL schema with the NATS fan-out, each on its own loopback
//! port with its own TLS certificate: a device connected to node A receives, in real time, what
//! is sent through node B, and a logout or revocation on node B closes its socket on node A.
//! Needs both `SOTTO_TEST_DATABASE_URL` and `SOTTO_TEST_NATS_URL`: skipped loudly without them,
//! a failure under `CI=true` (`support/services.rs`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use sotto_server::config::FanoutKind;
use support::*;

/// What "real time" means here.
const REAL_TIME: Duration = Duration::from_millis(500);

/// Node A (owns the fresh schema) and node B on the same schema and subject prefix.
async fn two_nodes() -> Option<(TestServer, TestServer)> {
    let nats = services::url(services::NATS_VAR)?;
    let prefix = format!(
        "sotto_test_{}",
        hex::encode(sotto_server::auth::tokens::random::<8>().unwrap())
    );
    let a = TestServer::start_with(Backend::Postgres, |c| {
        c.fanout = FanoutKind::Nats;
        c.nats_url = Some(nats);
        c.nats_prefix = prefix;
    })
    .await;
    let a = a?;
    let dir = tempfile::tempdir().unwrap();
    let mut config = a.config.clone();
    config.data_dir = dir.path().to_path_buf();
    config.listen = "127.0.0.1:0".parse().unwrap();
    let server = sotto_server::start(config.clone()).await.unwrap();
    let b = TestServer {
        base: format!("https://localhost:{}", server.local_addr.port()),
        cert_der: server.cert.chain[0].as_ref().to_vec(),
        server: Some(server),
        dir,
        pg: None,
        config,
    };
    Some((a, b))
}

/// `person`'s access token, used through `node`.
fn through(node: &TestServer, person: &Person) -> Api {
    Api {
        token: person.api.token.clone(),
        ..node.api()
    }
}

#[tokio::test]
async fn an_envelope_sent_through_node_b_reaches_a_socket_on_node_a_in_real_time() {
    let Some((a, b)) = two_nodes().await else {
        return;
    };
    let alice = onboard(&a, 0, "alice").await;
    let bob = onboard(&a, 1, "bob").await;
    let conv = create_conversation(&alice, &[&bob]).await;
    let mut bob_ws = connect(&a, &bob.api, bob.keys()).await;
    let alice_b = through(&b, &alice);
    let mut alice_ws = connect(&b, &alice_b, alice.keys()).await;

    // One envelope, timed from the send on B to the frame on A.
    let (m1, body1) = seal(&alice, conv, "hello across nodes");
    let started = Instant::now();
    alice_ws.send(send_frame(1, conv, m1, &body1)).await;
    let frame = bob_ws.expect("envelope").await;
    let elapsed = started.elapsed();
    eprintln!("node B → node A delivery took {elapsed:?}");
    assert!(elapsed < REAL_TIME, "took {elapsed:?}");
    assert_eq!(frame["message_id"], m1.to_string());
    assert_eq!(frame["envelope"], b64(&body1));
    assert_eq!(frame["sender_device"], dev(alice.keys().device()));
    let sent = alice_ws.expect("sent").await;
    assert_eq!(sent["recipients"], 1);

    // A burst arrives complete, in order, once each.
    let mut ids = Vec::new();
    for i in 0..30u64 {
        let (m, body) = seal(&alice, conv, &format!("burst {i}"));
        alice_ws.send(send_frame(10 + i, conv, m, &body)).await;
        ids.push(m.to_string());
    }
    let mut got = Vec::new();
    let mut last_seq = frame["seq"].as_i64().unwrap();
    while got.len() < ids.len() {
        let frame = match bob_ws.next_within(Duration::from_secs(3)).await {
            Ok(Some(frame)) => frame,
            other => panic!("burst stalled after {} envelopes: {other:?}", got.len()),
        };
        if frame["type"] == "envelope" {
            let seq = frame["seq"].as_i64().unwrap();
            assert!(seq > last_seq, "sequence numbers increase");
            last_seq = seq;
            got.push(frame["message_id"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(got, ids);
    let mut all = vec![m1.to_string()];
    all.extend(ids);
    bob_ws
        .send(json!({ "type": "ack", "message_ids": all }))
        .await;
    assert_eq!(bob_ws.expect("acked").await["count"], 31);
    bob_ws.quiet(Duration::from_millis(200)).await;

    // Typing and receipts cross too, the other way.
    bob_ws
        .send(json!({ "type": "signal", "conversation": conv.to_string(), "kind": "typing" }))
        .await;
    let started = Instant::now();
    let mut signal = alice_ws.next().await;
    while signal["type"] == "sent" {
        signal = alice_ws.next().await;
    }
    assert_eq!(signal["type"], "signal", "{signal}");
    assert_eq!(signal["from_device"], dev(bob.keys().device()));
    assert!(started.elapsed() < REAL_TIME);

    // Sent through B while Bob is offline: read from the store when he connects to B.
    drop(bob_ws);
    let (m2, body2) = seal(&alice, conv, "while you were away");
    let (status, body) = alice_b
        .post(
            &format!("/v1/conversations/{conv}/messages"),
            json!({ "message_id": m2.to_string(), "envelope": b64(&body2) }),
        )
        .await;
    assert!(status.is_success(), "{status} {body}");
    let mut bob_on_b = connect(&b, &through(&b, &bob), bob.keys()).await;
    assert_eq!(
        bob_on_b.expect("envelope").await["message_id"],
        m2.to_string()
    );

    b.stop().await;
    a.stop().await;
}

#[tokio::test]
async fn a_group_change_through_node_b_tells_member_and_removed_sockets_on_node_a() {
    let Some((a, b)) = two_nodes().await else {
        return;
    };
    let alice = onboard(&a, 0, "alice").await;
    let bob = onboard(&a, 1, "bob").await;
    let carol = onboard(&a, 2, "carol").await;
    let (conv, state) = create_conversation_with_state(&alice, &[&bob, &carol]).await;
    let mut bob_ws = connect(&a, &bob.api, bob.keys()).await;
    let mut carol_ws = connect(&a, &carol.api, carol.keys()).await;
    let removal = state
        .propose(
            sotto_proto::group::GroupOp::RemoveMember {
                account: bob.account.master.account(),
            },
            alice.account.master.account(),
            alice.keys(),
            now(),
        )
        .unwrap();
    let started = Instant::now();
    let (status, body) = through(&b, &alice)
        .post(
            &format!("/v1/conversations/{conv}/changes"),
            json!({ "change": b64(&removal.encode()) }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let told = json!({ "type": "conversation", "conversation": conv.to_string() });
    assert_eq!(carol_ws.expect("conversation").await, told, "a member");
    assert_eq!(
        bob_ws.expect("conversation").await,
        told,
        "the removed member"
    );
    assert!(
        started.elapsed() < REAL_TIME,
        "took {:?}",
        started.elapsed()
    );
    b.stop().await;
    a.stop().await;
}

#[tokio::test]
async fn logout_and_revocation_on_node_b_close_sockets_on_node_a() {
    let Some((a, b)) = two_nodes().await else {
        return;
    };
    let alice = onboard(&a, 0, "alice").await;
    let bob = onboard(&a, 1, "bob").await;
    let mut alice_ws = connect(&a, &alice.api, alice.keys()).await;
    let mut bob_ws = connect(&a, &bob.api, bob.keys()).await;

    // Logout through B ends the session; its socket on A closes.
    let started = Instant::now();
    let (status, _) = through(&b, &alice).post("/v1/auth/logout", json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(alice_ws.ended().await, Ended::Closed(1008));
    assert!(started.elapsed() < REAL_TIME + REAL_TIME);

    // Bob's master key revokes his device through B; its socket on A closes.
    let revocation = bob
        .account
        .master
        .revoke(bob.keys().device(), 1, now())
        .unwrap();
    let started = Instant::now();
    let (status, body) = through(&b, &bob)
        .post(
            "/v1/devices/revoke",
            json!({ "revocation": b64(&revocation.encode()) }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(bob_ws.ended().await, Ended::Closed(1008));
    assert!(started.elapsed() < REAL_TIME + REAL_TIME);

    b.stop().await;
    a.stop().await;
}
