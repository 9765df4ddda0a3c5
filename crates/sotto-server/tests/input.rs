//! Input handling and confidentiality (pentest checklist E, and the group-log checks): bad input
//! gets a clear error and changes nothing; non-members learn nothing; forged group changes are
//! refused; the database never holds a planted plaintext marker.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sotto_proto::crypto::aead::{AeadKey, KEY_LEN, NONCE_LEN};
use sotto_proto::group::{GroupOp, GroupState};
use sotto_proto::ids::ConversationId;
use support::*;
use zeroize::Zeroizing;

const MARKER: &str = "PLANTED-MARKER-7f3a9c";

async fn user_count(server: &TestServer, names: &[&str]) -> usize {
    let mut n = 0;
    for name in names {
        if server
            .state()
            .store
            .user_by_name(name)
            .await
            .unwrap()
            .is_some()
        {
            n += 1;
        }
    }
    n
}

#[tokio::test]
async fn e1_bad_fields_get_clear_errors_and_store_nothing() {
    let server = TestServer::start_with(Backend::Sqlite, |c| c.limits.max_json_body = 4096)
        .await
        .unwrap();
    let api = server.api();
    let long = "a".repeat(1_000);
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({ "username": "ab", "password": PASSWORD }),
            "invalid_username",
        ),
        (
            json!({ "username": "robert'); DROP TABLE users;--", "password": PASSWORD }),
            "invalid_username",
        ),
        (
            json!({ "username": "nul\u{0}byte", "password": PASSWORD }),
            "invalid_username",
        ),
        (
            json!({ "username": long, "password": PASSWORD }),
            "invalid_username",
        ),
        (
            json!({ "username": "ｆｕｌｌｗｉｄｔｈ", "password": PASSWORD }),
            "invalid_username",
        ),
        (
            json!({ "username": "alice", "password": "short" }),
            "invalid_password",
        ),
        (
            json!({ "username": "alice", "password": "p".repeat(2000) }),
            "invalid_password",
        ),
        (
            json!({ "username": "alice", "password": PASSWORD, "admin": true }),
            "malformed_body",
        ),
        (json!({ "username": "alice" }), "malformed_body"),
        (
            json!({ "username": 5, "password": PASSWORD }),
            "malformed_body",
        ),
        (json!(["alice", PASSWORD]), "invalid_field"),
    ];
    for (body, code) in cases {
        let (status, reply) = api.post("/v1/accounts", body.clone()).await;
        assert!(status.is_client_error(), "{body} -> {status}");
        assert_eq!(reply["error"], code, "{body} -> {reply}");
        assert!(reply["message"].is_string());
    }
    let (status, reply) = api
        .post(
            "/v1/accounts",
            json!({ "username": "alice", "password": "x".repeat(5000) }),
        )
        .await;
    assert_eq!(
        (status, reply["error"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("too_large"))
    );
    let raw = [
        (
            &b"{\"username\":\"alice\",\"password\":\"12345678\",\"username\":\"bob\"}"[..],
            "malformed_body",
        ),
        (
            &b"{\"username\":\"al\xffice\",\"password\":\"12345678\"}"[..],
            "malformed_body",
        ),
        (&b"{\"username\":"[..], "malformed_body"),
        (&b""[..], "invalid_field"),
    ];
    for (body, code) in raw {
        let (status, reply) = api
            .raw(
                Method::POST,
                "/v1/accounts",
                "application/json",
                body.to_vec(),
            )
            .await;
        assert_eq!(
            (status, reply["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some(code))
        );
    }
    let nested = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let (status, _) = api
        .raw(
            Method::POST,
            "/v1/accounts",
            "application/json",
            nested.into_bytes(),
        )
        .await;
    assert!(status.is_client_error());
    assert_eq!(
        user_count(&server, &["alice", "bob", "ab"]).await,
        0,
        "nothing stored"
    );

    // Unknown routes and methods answer JSON too.
    let (status, reply) = api.get("/v1/nope").await;
    assert_eq!(
        (status, reply["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (status, reply) = api.call(Method::DELETE, "/v1/accounts", None).await;
    assert_eq!(
        (status, reply["error"].as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, Some("method_not_allowed"))
    );

    // Keys and certificates are verified before anything is stored.
    let alice = onboard(&server, 0, "alice").await;
    for (path, body) in [
        ("/v1/devices", json!({ "certificate": "not base64!" })),
        ("/v1/devices", json!({ "certificate": b64(b"garbage") })),
        (
            "/v1/devices/pending",
            json!({ "signing_key": b64(b"x"), "auth_key": b64(b"y"), "name": "n" }),
        ),
        ("/v1/conversations", json!({ "genesis": b64(&[0u8; 64]) })),
    ] {
        let (status, reply) = alice.api.post(path, body).await;
        assert!(status.is_client_error(), "{path}: {status} {reply}");
    }
    let (status, _) = alice
        .api
        .put(
            "/v1/account/master-key",
            json!({ "master_key": b64(b"not a key") }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        server
            .state()
            .store
            .conversations_of(sotto_server::store::UserId(1))
            .await
            .unwrap()
            .len(),
        0
    );
    server.stop().await;
}

#[tokio::test]
async fn e2_malformed_frames_get_errors_and_the_socket_survives() {
    let server = TestServer::start().await;
    let alice = onboard(&server, 0, "alice").await;
    let mut ws = connect(&server, &alice.api, alice.keys()).await;
    let frames = [
        r#"{"type":"send""#.to_owned(),
        r#"{"type":"unknown"}"#.to_owned(),
        r#"{"type":"send","id":1,"id":2}"#.to_owned(),
        r#"{"type":"send","id":99999999999999999999999,"conversation":"c","message_id":"m","envelope":""}"#.to_owned(),
        r#"{"type":"ack","message_ids":[1,2]}"#.to_owned(),
        r#"{"type":"ack","message_ids":["msg:zz"]}"#.to_owned(),
        r#"{"type":"send","id":3,"conversation":"conv:00","message_id":"msg:00","envelope":"AA=="}"#.to_owned(),
        format!("{}{}", "[".repeat(1000), "]".repeat(1000)),
        r#"{"type":"auth","ticket":"again"}"#.to_owned(),
    ];
    for frame in frames {
        assert!(ws.send_text(frame.clone()).await);
        let reply = ws.expect("error").await;
        assert!(reply["error"].is_string(), "{frame} -> {reply}");
    }
    use futures_util::SinkExt;
    ws.stream
        .send(tokio_tungstenite::tungstenite::Message::Binary(
            vec![0xff, 0xfe].into(),
        ))
        .await
        .unwrap();
    ws.expect("error").await;
    ws.send(json!({ "type": "ping" })).await;
    ws.expect("pong").await;
    server.stop().await;
}

#[tokio::test]
async fn e3_e4_e5_non_members_learn_nothing_and_attachments_are_capped() {
    let server = TestServer::start_with(Backend::Sqlite, |c| c.limits.max_attachment = 64 * 1024)
        .await
        .unwrap();
    let alice = onboard(&server, 0, "alice").await;
    let bob = onboard(&server, 1, "bob").await;
    let carol = onboard(&server, 2, "carol").await;
    let conv = create_conversation(&alice, &[&bob]).await;
    let path = format!("/v1/conversations/{conv}");

    // Members read the log; Carol gets the same answer as for a conversation that does not exist.
    let (status, view) = bob.api.get(&path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(view["changes"].as_array().unwrap().len(), 1);
    assert_eq!(view["members"].as_array().unwrap().len(), 2);
    let missing = ConversationId::from_bytes([7; 16]);
    let (s1, b1) = carol.api.get(&path).await;
    let (s2, b2) = carol.api.get(&format!("/v1/conversations/{missing}")).await;
    assert_eq!((s1, &b1), (s2, &b2));
    assert_eq!(s1, StatusCode::NOT_FOUND);

    // Carol cannot post.
    let (m, e) = seal(&carol, conv, "let me in");
    let (status, _) = carol
        .api
        .post(
            &format!("{path}/messages"),
            json!({ "message_id": m.to_string(), "envelope": b64(&e) }),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let mut carol_ws = connect(&server, &carol.api, carol.keys()).await;
    carol_ws.send(send_frame(1, conv, m, &e)).await;
    assert_eq!(carol_ws.expect("error").await["error"], "not_found");
    carol_ws
        .send(json!({ "type": "signal", "conversation": conv.to_string(), "kind": "typing" }))
        .await;
    assert_eq!(carol_ws.expect("error").await["error"], "not_found");
    assert!(server
        .state()
        .store
        .pending(&bob.keys().device(), 0, 10)
        .await
        .unwrap()
        .is_empty());

    // Attachments: members upload and download; Carol cannot; ids are random and opaque.
    let blob = vec![0xA5u8; 1000];
    let (status, body) = alice
        .api
        .raw(
            Method::POST,
            &format!("{path}/attachments"),
            "application/octet-stream",
            blob.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["attachment"].as_str().unwrap().to_owned();
    let (status, got) = bob.api.get_bytes(&format!("/v1/attachments/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got, blob);
    assert_eq!(
        carol.api.get(&format!("/v1/attachments/{id}")).await.0,
        StatusCode::NOT_FOUND
    );
    let (status, _) = carol
        .api
        .raw(
            Method::POST,
            &format!("{path}/attachments"),
            "application/octet-stream",
            blob.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for bad in [
        "..%2f..%2fetc%2fpasswd",
        "att:..",
        "%2e%2e",
        "att:00%00",
        "att:ZZ",
        "/etc/passwd",
    ] {
        let (status, _) = bob.api.get(&format!("/v1/attachments/{bad}")).await;
        assert!(
            status == StatusCode::NOT_FOUND || status == StatusCode::BAD_REQUEST,
            "{bad}: {status}"
        );
    }
    // E4: over the cap is refused before storage.
    let (status, body) = alice
        .api
        .raw(
            Method::POST,
            &format!("{path}/attachments"),
            "application/octet-stream",
            vec![0; 65 * 1024],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("too_large"))
    );
    server.stop().await;
}

#[tokio::test]
async fn forged_group_changes_are_refused_and_change_nothing() {
    let server = TestServer::start().await;
    let alice = onboard(&server, 0, "alice").await;
    let bob = onboard(&server, 1, "bob").await;
    let carol = onboard(&server, 2, "carol").await;
    let conv = create_conversation(&alice, &[&bob]).await;
    let path = format!("/v1/conversations/{conv}");
    let genesis = server.state().store.changes(&conv, 0).await.unwrap();
    let signed = sotto_proto::group::decode_signed_change(&genesis[0].change).unwrap();
    let state = GroupState::genesis(&signed, &alice.device().verified).unwrap();

    // Bob (member, not admin) adds Carol: refused.
    let add_carol = GroupOp::AddMember(carol.member(false));
    let by_bob = state
        .propose(
            add_carol.clone(),
            bob.account.master.account(),
            bob.keys(),
            now(),
        )
        .unwrap();
    let (status, body) = bob
        .api
        .post(
            &format!("{path}/changes"),
            json!({ "change": b64(&by_bob.encode()) }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // Bob uploads a change that claims Alice's device: refused.
    let claims_alice = state
        .propose(
            add_carol.clone(),
            alice.account.master.account(),
            bob.keys(),
            now(),
        )
        .unwrap();
    let (status, _) = bob
        .api
        .post(
            &format!("{path}/changes"),
            json!({ "change": b64(&claims_alice.encode()) }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // A genesis signed by one device but uploaded by another: refused.
    let stolen = GroupState::create(
        ConversationId::from_bytes([3; 16]),
        sotto_proto::testing::group_kind(ConversationId::from_bytes([3; 16]), "x"),
        vec![alice.member(true)],
        alice.account.master.account(),
        alice.keys(),
        now(),
    )
    .unwrap();
    let (status, _) = bob
        .api
        .post(
            "/v1/conversations",
            json!({ "genesis": b64(&stolen.encode()) }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        server.state().store.changes(&conv, 0).await.unwrap().len(),
        1,
        "log unchanged"
    );
    assert!(!server
        .state()
        .store
        .is_member(&conv, sotto_server::store::UserId(3))
        .await
        .unwrap());

    // Alice (admin) adds Carol: accepted, routed from the verified state; a replay is refused.
    let by_alice = state
        .propose(
            add_carol,
            alice.account.master.account(),
            alice.keys(),
            now(),
        )
        .unwrap();
    let (status, body) = alice
        .api
        .post(
            &format!("{path}/changes"),
            json!({ "change": b64(&by_alice.encode()) }),
        )
        .await;
    assert_eq!(
        (status, body["epoch"].as_u64()),
        (StatusCode::CREATED, Some(1)),
        "{body}"
    );
    let (status, _) = alice
        .api
        .post(
            &format!("{path}/changes"),
            json!({ "change": b64(&by_alice.encode()) }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, view) = carol.api.get(&format!("{path}?since=1")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(view["changes"].as_array().unwrap().len(), 1);
    server.stop().await;
}

async fn send_marked(server: &TestServer) {
    let alice = onboard(server, 0, "alice").await;
    let bob = onboard(server, 1, "bob").await;
    let conv = create_conversation(&alice, &[&bob]).await;
    let mut ws = connect(server, &alice.api, alice.keys()).await;
    for i in 0..5u64 {
        let (m, e) = seal(&alice, conv, &format!("{MARKER} number {i}"));
        assert!(!String::from_utf8_lossy(&e).contains(MARKER));
        ws.send(send_frame(i, conv, m, &e)).await;
        ws.expect("sent").await;
    }
    // An attachment encrypted on the client (AES-256-GCM under a fresh key).
    let key = AeadKey::new(
        Zeroizing::new(sotto_server::auth::tokens::random::<KEY_LEN>().unwrap()),
        [0u8; NONCE_LEN],
    );
    let sealed = key
        .seal(b"", format!("{MARKER} in a file").as_bytes())
        .unwrap();
    let (status, _) = alice
        .api
        .raw(
            Method::POST,
            &format!("/v1/conversations/{conv}/attachments"),
            "application/octet-stream",
            sealed,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    // Half the queue acknowledged, half left waiting: both states are checked.
    let mut phone = connect(server, &bob.api, bob.keys()).await;
    let first = phone.expect("envelope").await;
    phone
        .send(json!({ "type": "ack", "message_ids": [first["message_id"]] }))
        .await;
    phone.expect("envelope").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn e6_the_sqlite_file_holds_no_planted_marker() {
    let server = TestServer::start().await;
    send_marked(&server).await;
    let dir = server.dir.path().to_path_buf();
    let check = |when: &str| {
        let mut checked = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                let bytes = std::fs::read(&path).unwrap();
                let hex_marker = hex::encode(MARKER);
                let text = String::from_utf8_lossy(&bytes);
                assert!(
                    !text.contains(MARKER),
                    "{when}: marker in {}",
                    path.display()
                );
                assert!(
                    !text.contains(&hex_marker),
                    "{when}: hex marker in {}",
                    path.display()
                );
                checked += 1;
            }
        }
        assert!(checked >= 1);
    };
    check("while running");
    let dir_guard = server.dir.path().to_path_buf();
    server.stop().await;
    assert!(!dir_guard.exists() || dir_guard.is_dir());
}

#[tokio::test]
async fn e6_the_postgres_tables_hold_no_planted_marker() {
    let Some(server) = TestServer::start_with(Backend::Postgres, |_| {}).await else {
        return;
    };
    send_marked(&server).await;
    let pg = server.pg.as_ref().unwrap();
    let pool = sqlx::PgPool::connect(&pg.url).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1",
    )
    .bind(&pg.name)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(tables.len() >= 10, "{tables:?}");
    let mut rows = 0;
    for table in tables {
        let sql = format!("SELECT row_to_json(t)::text FROM {}.{table} t", pg.name);
        let dump: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_all(&pool)
            .await
            .unwrap();
        for row in dump {
            assert!(!row.contains(MARKER), "marker in {table}");
            assert!(!row.contains(&hex::encode(MARKER)), "hex marker in {table}");
            rows += 1;
        }
    }
    assert!(rows > 10);
    pool.close().await;
    server.stop().await;
}

#[tokio::test]
async fn healthz_metrics_csp_and_static_files() {
    let web = tempfile::tempdir().unwrap();
    std::fs::write(
        web.path().join("index.html"),
        "<!doctype html><title>Sotto</title>",
    )
    .unwrap();
    let web_dir = web.path().to_path_buf();
    let server = TestServer::start_with(Backend::Sqlite, move |c| c.web_dir = Some(web_dir))
        .await
        .unwrap();
    let client = &server.api().client;
    let resp = client
        .get(format!("{}/", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let csp = resp.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    // Only the client's own blobs (a decrypted PDF) may be framed, nothing from any origin.
    let frame_src: Vec<&str> = csp
        .split(';')
        .map(str::trim)
        .filter(|d| d.starts_with("frame-src"))
        .collect();
    assert_eq!(frame_src, ["frame-src blob:"], "{csp}");
    assert!(resp.text().await.unwrap().contains("Sotto"));
    let resp = client
        .get(format!("{}/some/client/route", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "SPA fallback to index.html");
    let resp = client
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.text().await.unwrap(), "ok\n");
    let text = server.metrics().await;
    assert!(text.contains("# TYPE sotto_ws_connections gauge"));
    assert!(text.contains("sotto_envelope_commit_seconds_bucket"));
    server.stop().await;
}

#[tokio::test]
async fn e4_attachments_count_against_a_per_account_quota() {
    let server = TestServer::start_with(Backend::Sqlite, |c| {
        c.limits.max_attachment = 64 * 1024;
        c.limits.max_attachment_bytes_per_account = 100 * 1024;
    })
    .await
    .unwrap();
    let alice = onboard(&server, 0, "alice").await;
    let bob = onboard(&server, 1, "bob").await;
    let conv = create_conversation(&alice, &[&bob]).await;
    let upload = |who: &'static str, size: usize| {
        let api = if who == "alice" { &alice.api } else { &bob.api };
        let path = format!("/v1/conversations/{conv}/attachments");
        async move {
            api.raw(
                Method::POST,
                &path,
                "application/octet-stream",
                vec![7; size],
            )
            .await
        }
    };

    assert_eq!(upload("alice", 60 * 1024).await.0, StatusCode::CREATED);
    // 60 + 50 KiB would pass 100 KiB: refused with a clear error, and nothing is counted.
    let (status, body) = upload("alice", 50 * 1024).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["error"], "quota_exceeded");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("102400 bytes per account"),
        "{body}"
    );
    assert_eq!(upload("alice", 40 * 1024).await.0, StatusCode::CREATED);
    assert_eq!(upload("alice", 1).await.0, StatusCode::PAYLOAD_TOO_LARGE);
    // Another account's uploads are its own.
    assert_eq!(upload("bob", 60 * 1024).await.0, StatusCode::CREATED);
    server.stop().await;
}
