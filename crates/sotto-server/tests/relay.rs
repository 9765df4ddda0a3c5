//! The main path over real TLS: register, log in, publish keys, create a conversation, relay
//! envelopes to an online and an offline device, acknowledge, reconnect; duplicates refused;
//! receipts and typing relayed; acknowledged messages survive a graceful restart.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use sotto_proto::envelope::Envelope;
use sotto_proto::testing::TestAccount;
use support::*;

/// Bob's second device ("laptop"), built from fixed keys 12..15, approved from his first device.
async fn add_laptop(server: &TestServer, bob: &Person) -> (sotto_proto::testing::TestDevice, Api) {
    let laptop = TestAccount::device_for(&bob.account.master, &bob.account.identity, 12, "laptop");
    let login = password_login(&server.api(), "bob").await;
    let (status, body) = login
        .post(
            "/v1/devices/pending",
            json!({
                "signing_key": b64(laptop.keys.signing().verifying_key().spki()),
                "auth_key": b64(laptop.keys.auth().verifying_key().spki()),
                "name": "laptop",
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // Pending: it cannot log in yet.
    let (status, _) = login
        .post(
            "/v1/auth/challenge",
            json!({ "device": dev(laptop.keys.device()) }),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // The phone sees it pending and approves it with the master key.
    let (_, devices) = bob.api.get("/v1/devices").await;
    let pending: Vec<_> = devices
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["state"] == "pending")
        .collect();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0]["device"], dev(laptop.keys.device()));
    let (status, body) = bob
        .api
        .post(
            "/v1/devices",
            json!({ "certificate": b64(&laptop.certificate.encode()) }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (api, _, _) = device_login(server, &login, &laptop.keys).await;
    publish_exchange_key(&api, &bob.account, &laptop, 1).await;
    (laptop, api)
}

#[tokio::test]
async fn relay_to_online_and_offline_devices_with_ack_and_reconnect() {
    let server = TestServer::start().await;
    let alice = onboard(&server, 0, "alice").await;
    let bob = onboard(&server, 1, "bob").await;
    let (laptop, laptop_api) = add_laptop(&server, &bob).await;

    // The directory shows Bob's master key, both devices and their exchange keys.
    let (status, entry) = alice.api.get("/v1/directory/Bob").await;
    assert_eq!(status, StatusCode::OK, "{entry}");
    assert_eq!(entry["account"], bob.account.master.account().to_string());
    assert_eq!(entry["devices"].as_array().unwrap().len(), 2);
    assert!(entry["devices"]
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["exchange_key"].is_string()));
    let by_id = alice
        .api
        .get(&format!("/v1/directory/{}", bob.account.master.account()))
        .await;
    assert_eq!(by_id.1["username"], "bob");

    let conv = create_conversation(&alice, &[&bob]).await;
    let mut alice_ws = connect(&server, &alice.api, alice.keys()).await;
    let mut phone = connect(&server, &bob.api, bob.keys()).await;

    // Online delivery, durable before the sender's acknowledgement.
    let (m1, e1) = seal(&alice, conv, "hello bob");
    alice_ws.send(send_frame(1, conv, m1, &e1)).await;
    let sent = alice_ws.expect("sent").await;
    assert_eq!(
        (sent["id"].as_u64(), sent["recipients"].as_u64()),
        (Some(1), Some(2))
    );
    let got = phone.expect("envelope").await;
    assert_eq!(got["message_id"], m1.to_string());
    assert_eq!(got["sender_device"], dev(alice.keys().device()));
    assert_eq!(
        got["sender_account"],
        alice.account.master.account().to_string()
    );
    let relayed = unb64(got["envelope"].as_str().unwrap());
    assert_eq!(relayed, e1, "relayed byte for byte");
    assert!(Envelope::decode(&relayed).is_ok());

    // The same message id again is refused and nobody gets a copy.
    alice_ws.send(send_frame(2, conv, m1, &e1)).await;
    let dup = alice_ws.expect("error").await;
    assert_eq!(
        (dup["id"].as_u64(), dup["error"].as_str()),
        (Some(2), Some("conflict"))
    );

    // HTTP fallback for sending.
    let (m2, e2) = seal(&alice, conv, "second, over https");
    let (status, body) = alice
        .api
        .post(
            &format!("/v1/conversations/{conv}/messages"),
            json!({ "message_id": m2.to_string(), "envelope": b64(&e2) }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(phone.expect("envelope").await["message_id"], m2.to_string());
    phone.quiet(Duration::from_millis(200)).await;

    // Typing and receipts relay to online devices only, not to the sender.
    phone
        .send(json!({ "type": "signal", "conversation": conv.to_string(), "kind": "read", "payload": b64(b"encrypted receipt") }))
        .await;
    let signal = alice_ws.expect("signal").await;
    assert_eq!(
        (signal["kind"].as_str(), signal["from_device"].as_str()),
        (Some("read"), Some(dev(bob.keys().device()).as_str()))
    );

    // Phone acknowledges; the laptop was offline and gets both on connecting.
    phone
        .send(json!({ "type": "ack", "message_ids": [m1.to_string(), m2.to_string()] }))
        .await;
    assert_eq!(phone.expect("acked").await["count"], 2);
    let mut laptop_ws = connect(&server, &laptop_api, &laptop.keys).await;
    let first = laptop_ws.expect("envelope").await;
    let second = laptop_ws.expect("envelope").await;
    assert_eq!(first["message_id"], m1.to_string());
    assert_eq!(second["message_id"], m2.to_string());
    assert!(first["seq"].as_i64() < second["seq"].as_i64());
    // Not acknowledged yet: a reconnect delivers them again; after the ack, nothing.
    drop(laptop_ws);
    let mut laptop_ws = connect(&server, &laptop_api, &laptop.keys).await;
    assert_eq!(
        laptop_ws.expect("envelope").await["message_id"],
        m1.to_string()
    );
    assert_eq!(
        laptop_ws.expect("envelope").await["message_id"],
        m2.to_string()
    );
    laptop_ws
        .send(json!({ "type": "ack", "message_ids": [m1.to_string(), m2.to_string()] }))
        .await;
    assert_eq!(laptop_ws.expect("acked").await["count"], 2);
    drop(laptop_ws);
    let mut laptop_ws = connect(&server, &laptop_api, &laptop.keys).await;
    laptop_ws.quiet(Duration::from_millis(300)).await;

    // Every copy acknowledged: no body left in the store, the ids stay spent.
    let pending = server
        .state()
        .store
        .pending(&laptop.keys.device(), 0, 10)
        .await
        .unwrap();
    assert!(pending.is_empty());
    alice_ws.send(send_frame(3, conv, m2, &e2)).await;
    assert_eq!(alice_ws.expect("error").await["error"], "conflict");
    let text = server.metrics().await;
    assert!(text.contains("sotto_envelopes_stored_total 2"), "{text}");
    // Both ids are still held in the hot queue (far below its settle threshold), bodies gone.
    assert!(text.contains("sotto_relay_hot_envelopes 2"), "{text}");
    assert!(
        text.contains("sotto_relay_settled_envelopes_total 0"),
        "{text}"
    );
    assert!(
        text.contains("sotto_envelope_copies_acked_total 4"),
        "{text}"
    );
    // The laptop's first socket went away without the server closing it: its end is counted
    // under a client reason, and nothing was counted as a server-side failure.
    let count = |prefix: &str| -> u64 {
        text.lines()
            .filter(|l| l.starts_with(prefix))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    };
    assert!(
        count("sotto_ws_closed_total{reason=\"client_") >= 1,
        "{text}"
    );
    for reason in ["store_failed", "hub_gone", "send_failed", "slow_reader"] {
        assert_eq!(
            count(&format!("sotto_ws_closed_total{{reason=\"{reason}\"}}")),
            0,
            "{text}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn envelopes_survive_a_graceful_restart_and_headers_must_match() {
    let server = TestServer::start().await;
    let alice = onboard(&server, 0, "alice").await;
    let bob = onboard(&server, 1, "bob").await;
    let conv = create_conversation(&alice, &[&bob]).await;
    let mut alice_ws = connect(&server, &alice.api, alice.keys()).await;
    let mut ids = Vec::new();
    for i in 0..20u64 {
        let (m, e) = seal(&alice, conv, &format!("message {i}"));
        alice_ws.send(send_frame(i, conv, m, &e)).await;
        ids.push(m);
    }
    for _ in 0..20 {
        alice_ws.expect("sent").await;
    }
    // An envelope whose header names another conversation or message id is refused.
    let (m, e) = seal(&alice, conv, "mislabelled");
    let other = sotto_proto::ids::MessageId::from_bytes([9; 16]);
    alice_ws.send(send_frame(99, conv, other, &e)).await;
    assert_eq!(alice_ws.expect("error").await["error"], "invalid_field");
    let _ = m;

    let server = server.restart().await;
    let bob_api = server.api();
    let login = password_login(&bob_api, "bob").await;
    let (api, _, _) = device_login(&server, &login, bob.keys()).await;
    let mut phone = connect(&server, &api, bob.keys()).await;
    for id in &ids {
        assert_eq!(phone.expect("envelope").await["message_id"], id.to_string());
    }
    server.stop().await;
}

#[tokio::test]
async fn relay_works_on_postgres_too() {
    let Some(server) = TestServer::start_with(Backend::Postgres, |_| {}).await else {
        return;
    };
    let alice = onboard(&server, 0, "alice").await;
    let bob = onboard(&server, 1, "bob").await;
    let conv = create_conversation(&alice, &[&bob]).await;
    let (m1, e1) = seal(&alice, conv, "offline first");
    let mut alice_ws = connect(&server, &alice.api, alice.keys()).await;
    alice_ws.send(send_frame(1, conv, m1, &e1)).await;
    alice_ws.expect("sent").await;
    let mut phone = connect(&server, &bob.api, bob.keys()).await;
    assert_eq!(phone.expect("envelope").await["message_id"], m1.to_string());
    let (m2, e2) = seal(&alice, conv, "then online");
    alice_ws.send(send_frame(2, conv, m2, &e2)).await;
    alice_ws.expect("sent").await;
    assert_eq!(phone.expect("envelope").await["message_id"], m2.to_string());
    phone
        .send(json!({ "type": "ack", "message_ids": [m1.to_string(), m2.to_string()] }))
        .await;
    assert_eq!(phone.expect("acked").await["count"], 2);
    server.stop().await;
}

/// Renames a table of `server`'s store behind its back (SQLite file or PostgreSQL schema): the
/// statements that use it fail as a broken or unreachable database would.
async fn rename_table(server: &TestServer, from: &str, to: &str) {
    let sql = format!("ALTER TABLE {from} RENAME TO {to}");
    match &server.pg {
        None => {
            let conn = rusqlite::Connection::open(server.dir.path().join("sotto.db")).unwrap();
            conn.execute_batch(&sql).unwrap();
        }
        Some(pg) => {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&pg.url).await.unwrap();
            // Test-made names: the schema is random hex, the tables are the test's literals.
            let sql = format!("ALTER TABLE \"{}\".{from} RENAME TO {to}", pg.name);
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await
                .unwrap();
        }
    }
}

/// `sotto_ws_closed_total{reason}` once it reaches `expected` (5 s at most): a socket is counted
/// when its task ends, which can be after the client read its close frame (a socket the server
/// closed waits for the client's).
async fn closed_count(server: &TestServer, reason: &str, expected: u64) -> u64 {
    let line = format!("sotto_ws_closed_total{{reason=\"{reason}\"}} ");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let text = server.metrics().await;
        let count = text
            .lines()
            .find_map(|l| l.strip_prefix(line.as_str())?.parse().ok())
            .unwrap_or_else(|| panic!("no {reason} counter in {text}"));
        if count >= expected || tokio::time::Instant::now() >= deadline {
            return count;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A socket that has sent its ticket.
async fn admit(server: &TestServer, ticket: String) -> Ws {
    let mut ws = server.ws_raw(&[]).await.unwrap();
    ws.send(json!({ "type": "auth", "ticket": ticket })).await;
    ws
}

/// A `deliveries` row for every active device of a SQLite server (with no message row, so no
/// socket reads it): what a settled copy leaves in the table.
fn plant_settled_copy(server: &TestServer) {
    let conn = rusqlite::Connection::open(server.dir.path().join("sotto.db")).unwrap();
    conn.execute_batch(
        "INSERT INTO deliveries (device, message) \
         SELECT id, randomblob(16) FROM devices WHERE state = 'active'",
    )
    .unwrap();
}

/// A store that fails while a socket is admitted or its queue is read is the server's fault: the
/// socket is closed with 1011 and counted as `store_failed`, never taken for a bad ticket (4001,
/// which says the client's credentials were refused). The failed redemption spent nothing: once
/// the store answers again the same ticket admits its socket, once.
#[tokio::test]
async fn a_store_failure_closes_the_socket_as_a_server_error_not_a_bad_ticket() {
    let mut servers = vec![TestServer::start().await];
    servers.extend(TestServer::start_with(Backend::Postgres, |_| {}).await);
    for server in servers {
        let backend = if server.pg.is_some() {
            "postgres"
        } else {
            "sqlite"
        };
        let alice = onboard(&server, 0, "alice").await;

        // Redeeming the ticket fails.
        let kept = ticket(&server, &alice.api, alice.keys()).await;
        rename_table(&server, "tickets", "tickets_away").await;
        let mut ws = admit(&server, kept.clone()).await;
        assert_eq!(ws.ended().await, Ended::Closed(1011), "{backend}");
        assert_eq!(
            closed_count(&server, "store_failed", 1).await,
            1,
            "{backend}"
        );
        assert_eq!(closed_count(&server, "bad_ticket", 0).await, 0, "{backend}");
        rename_table(&server, "tickets_away", "tickets").await;

        // Nothing was spent: the ticket admits now, and only once.
        let mut ws = admit(&server, kept.clone()).await;
        ws.expect("ready").await;
        drop(ws);
        let mut ws = admit(&server, kept).await;
        assert_eq!(ws.ended().await, Ended::Closed(4001), "{backend}");

        assert_eq!(closed_count(&server, "bad_ticket", 1).await, 1, "{backend}");
        let (server, failed) = if server.pg.is_none() {
            // SQLite reads its `deliveries` table only for a device that may have copies
            // there (D78): with none, the socket does not notice the table is gone.
            rename_table(&server, "deliveries", "deliveries_away").await;
            let mut ws = admit(&server, ticket(&server, &alice.api, alice.keys()).await).await;
            ws.expect("ready").await;
            // Answered only after the queue was read, and the socket is still open.
            ws.send(json!({ "type": "ping" })).await;
            ws.expect("pong").await;
            drop(ws);
            rename_table(&server, "deliveries_away", "deliveries").await;
            // A settled copy (planted) makes the restarted server read the table for her.
            plant_settled_copy(&server);
            (server.restart().await, 0)
        } else {
            (server, 1)
        };
        let api = server.api().with_token(alice.api.token.as_deref().unwrap());

        // The ticket redeems, then reading the queue fails: `ready`, then 1011.
        rename_table(&server, "deliveries", "deliveries_away").await;
        let mut ws = admit(&server, ticket(&server, &api, alice.keys()).await).await;
        ws.expect("ready").await;
        assert_eq!(ws.ended().await, Ended::Closed(1011), "{backend}");
        rename_table(&server, "deliveries_away", "deliveries").await;
        assert_eq!(
            closed_count(&server, "store_failed", failed + 1).await,
            failed + 1,
            "{backend}"
        );

        // The store answers again: the device connects as usual.
        connect(&server, &api, alice.keys()).await;
        server.stop().await;
    }
}
