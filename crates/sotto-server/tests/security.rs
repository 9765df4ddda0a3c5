//! Authentication, sessions, WebSocket and transport attacks (pentest checklist C and D), each
//! against the real server over TLS, asserting the safe outcome.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use sotto_proto::auth::AuthChallenge;
use sotto_proto::identity::DeviceKeys;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn c3_c5_d2_a_stolen_token_without_the_device_key_opens_no_socket() {
    let server = TestServer::start_with(Backend::Sqlite, |c| c.limits.ws_auth_timeout_secs = 1)
        .await
        .unwrap();
    let alice = onboard(&server, 0, "alice").await;
    let thief = alice.api.clone();

    // The thief gets a challenge but cannot answer it without Alice's auth key.
    let (_, body) = thief
        .post(
            "/v1/auth/challenge",
            json!({ "device": dev(alice.keys().device()) }),
        )
        .await;
    let challenge = AuthChallenge::decode(&unb64(body["challenge"].as_str().unwrap())).unwrap();
    let wrong_key = sotto_proto::testing::fixed_signing_key(15);
    for signer in [&wrong_key, alice.keys().signing()] {
        let signature = signer.sign(&challenge.encode()).unwrap();
        let (status, body) = thief
            .post(
                "/v1/ws/ticket",
                json!({ "nonce": body["nonce"], "signature": b64(&signature) }),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    }

    // C5: a correct answer works once; replaying it is refused.
    let answer = answer_challenge(&alice.api, alice.keys(), &server.server().origin).await;
    let (status, first) = alice.api.post("/v1/ws/ticket", answer.clone()).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = alice.api.post("/v1/ws/ticket", answer).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // D2: no ticket, a made-up ticket, a reused ticket: closed before any data.
    let mut ws = server.ws_raw(&[]).await.unwrap();
    assert_eq!(ws.ended().await, Ended::Closed(4001));
    let mut ws = server.ws_raw(&[]).await.unwrap();
    ws.send(
        json!({ "type": "auth", "ticket": "sotto_wt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" }),
    )
    .await;
    assert_eq!(ws.ended().await, Ended::Closed(4001));
    let ticket = first["ticket"].as_str().unwrap();
    let mut ws = server.ws_raw(&[]).await.unwrap();
    ws.send(json!({ "type": "auth", "ticket": ticket })).await;
    ws.expect("ready").await;
    let mut again = server.ws_raw(&[]).await.unwrap();
    again
        .send(json!({ "type": "auth", "ticket": ticket }))
        .await;
    assert_eq!(again.ended().await, Ended::Closed(4001));
    // A first frame that is not `auth` also closes the socket.
    let mut ws = server.ws_raw(&[]).await.unwrap();
    ws.send(json!({ "type": "ping" })).await;
    assert_eq!(ws.ended().await, Ended::Closed(4001));
    server.stop().await;
}

#[tokio::test]
async fn c4_c6_c7_refresh_reuse_revokes_the_family_and_logout_closes_sockets() {
    let server = TestServer::start().await;
    let alice = onboard(&server, 0, "alice").await;
    let api = server.api();

    // C6: the login token is void once the device logged in.
    let login = password_login(&api, "alice").await;
    let (device_api, refresh, _) = device_login(&server, &login, alice.keys()).await;
    let (status, _) = login.get("/v1/sessions").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // C4: rotate once; the old refresh token then revokes the whole session.
    let (status, rotated) = api
        .post("/v1/auth/refresh", json!({ "refresh_token": refresh }))
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let fresh = api.with_token(rotated["access_token"].as_str().unwrap());
    assert_eq!(fresh.get("/v1/sessions").await.0, StatusCode::OK);
    assert_eq!(
        device_api.get("/v1/sessions").await.0,
        StatusCode::UNAUTHORIZED,
        "old access void"
    );
    let mut ws = connect(&server, &fresh, alice.keys()).await;
    let (status, _) = api
        .post("/v1/auth/refresh", json!({ "refresh_token": refresh }))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        fresh.get("/v1/sessions").await.0,
        StatusCode::UNAUTHORIZED,
        "family revoked"
    );
    let next = rotated["refresh_token"].as_str().unwrap();
    assert_eq!(
        api.post("/v1/auth/refresh", json!({ "refresh_token": next }))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(ws.ended().await, Ended::Closed(1008), "its socket closes");

    // C7: logout ends the token over HTTP and closes the open socket.
    let mut ws = connect(&server, &alice.api, alice.keys()).await;
    assert_eq!(
        alice.api.post("/v1/auth/logout", json!({})).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        alice.api.get("/v1/devices").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(ws.ended().await, Ended::Closed(1008));
    server.stop().await;
}

/// A refresh-retry challenge for `token` (which must be retryable).
async fn refresh_challenge(api: &Api, token: &str) -> Value {
    let (status, body) = api
        .post(
            "/v1/auth/refresh/challenge",
            json!({ "refresh_token": token }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Signs the challenge `body` (an answer of `/v1/auth/refresh/challenge`) with `keys`.
fn sign_refresh_challenge(body: &Value, keys: &DeviceKeys) -> Value {
    let challenge = AuthChallenge::decode(&unb64(body["challenge"].as_str().unwrap())).unwrap();
    let signature = keys.sign_auth_challenge(&challenge).unwrap();
    json!({ "nonce": body["nonce"], "signature": b64(&signature) })
}

#[tokio::test]
async fn c4_a_refresh_whose_answer_was_lost_is_retried_only_with_the_device_key() {
    let server = TestServer::start().await;
    let alice = onboard(&server, 0, "alice").await;
    let mallory = onboard(&server, 1, "mallory").await;
    let api = server.api();
    let login = password_login(&api, "alice").await;
    let (device_api, refresh, session) = device_login(&server, &login, alice.keys()).await;
    let mut ws = connect(&server, &device_api, alice.keys()).await;

    // The answer to this refresh is lost: the client still holds only the spent token.
    let (status, lost) = api
        .post("/v1/auth/refresh", json!({ "refresh_token": refresh }))
        .await;
    assert_eq!(status, StatusCode::OK, "{lost}");

    // Re-presented alone, it is refused without ending the session: the pair issued for it
    // was never used, so this may be the real client retrying.
    let (status, body) = api
        .post("/v1/auth/refresh", json!({ "refresh_token": refresh }))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("refresh_proof_required"))
    );
    // A retry challenge exists only for that spent token: not for the current one, nor for an
    // unknown one.
    for token in [
        lost["refresh_token"].as_str().unwrap(),
        "sotto_rt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ] {
        let (status, _) = api
            .post(
                "/v1/auth/refresh/challenge",
                json!({ "refresh_token": token }),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let body = refresh_challenge(&api, &refresh).await;
    let decoded = AuthChallenge::decode(&unb64(body["challenge"].as_str().unwrap())).unwrap();
    assert_eq!(
        decoded.device,
        alice.keys().device(),
        "addressed to the session's device"
    );
    assert_eq!(decoded.username, "alice");

    // Someone who holds the spent token but not the device key gains nothing and changes
    // nothing: a proof by another device is refused, and the challenge is used up.
    let forged = sign_refresh_challenge(&body, mallory.keys());
    let attempt = json!({ "refresh_token": refresh, "proof": forged });
    let (status, _) = api.post("/v1/auth/refresh", attempt.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = api.post("/v1/auth/refresh", attempt).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a challenge is single use");

    // The real device proves itself and gets a new pair; the pair whose answer was lost is
    // void, and its socket stays open.
    let body = refresh_challenge(&api, &refresh).await;
    let proof = sign_refresh_challenge(&body, alice.keys());
    let (status, retried) = api
        .post(
            "/v1/auth/refresh",
            json!({ "refresh_token": refresh, "proof": proof }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{retried}");
    assert_eq!(retried["session"], session.as_str(), "same session");
    let void = api.with_token(lost["access_token"].as_str().unwrap());
    assert_eq!(void.get("/v1/sessions").await.0, StatusCode::UNAUTHORIZED);
    let fresh = api.with_token(retried["access_token"].as_str().unwrap());
    assert_eq!(fresh.get("/v1/sessions").await.0, StatusCode::OK);
    ws.send(json!({ "type": "ping" })).await;
    ws.expect("pong").await;

    // Once the new pair has been used, the spent token is plain reuse again (C4): refused,
    // even with a valid proof, and the whole session ends.
    let (status, _) = api
        .post(
            "/v1/auth/refresh/challenge",
            json!({ "refresh_token": refresh }),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "no retry challenge once used"
    );
    let (status, _) = api
        .post("/v1/auth/refresh", json!({ "refresh_token": refresh }))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(fresh.get("/v1/sessions").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(ws.ended().await, Ended::Closed(1008), "its socket closes");
    server.stop().await;
}

#[tokio::test]
async fn c8_password_change_ends_other_sessions_and_their_sockets() {
    let server = TestServer::start().await;
    let alice = onboard(&server, 0, "alice").await;
    let login = password_login(&server.api(), "alice").await;
    let (other, _, _) = device_login(&server, &login, alice.keys()).await;
    let mut other_ws = connect(&server, &other, alice.keys()).await;
    let (status, body) = alice
        .api
        .post(
            "/v1/account/password",
            json!({ "current_password": "wrong password", "new_password": "a new long password" }),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, body) = alice
        .api
        .post(
            "/v1/account/password",
            json!({ "current_password": PASSWORD, "new_password": "a new long password", "end_other_sessions": true }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["sessions_ended"], 1);
    assert_eq!(other_ws.ended().await, Ended::Closed(1008));
    assert_eq!(other.get("/v1/devices").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        alice.api.get("/v1/devices").await.0,
        StatusCode::OK,
        "this session stays"
    );
    let (status, _) = server
        .api()
        .post(
            "/v1/auth/login",
            json!({ "username": "alice", "password": PASSWORD }),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "old password no longer works"
    );
    server.stop().await;
}

#[tokio::test]
async fn c1_login_is_throttled_with_backoff_not_locked() {
    let server = TestServer::start().await;
    let api = server.api();
    for name in ["alice", "bob"] {
        api.post(
            "/v1/accounts",
            json!({ "username": name, "password": PASSWORD }),
        )
        .await;
    }
    let mut throttled = None;
    for attempt in 0..10 {
        let (status, body) = api
            .post(
                "/v1/auth/login",
                json!({ "username": "alice", "password": format!("guess {attempt}") }),
            )
            .await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            throttled = Some(body);
            break;
        }
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["error"], "bad_credentials");
    }
    let body = throttled.expect("throttled after a few failures");
    assert_eq!(body["error"], "throttled");
    // Unknown users fail exactly like wrong passwords.
    let (status, body) = api
        .post(
            "/v1/auth/login",
            json!({ "username": "nobody", "password": PASSWORD }),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("bad_credentials"))
    );
    // Another account from the same address is not affected yet.
    let (status, _) = api
        .post(
            "/v1/auth/login",
            json!({ "username": "bob", "password": PASSWORD }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn c11_d1_cookie_flags_and_origin_allow_list() {
    let server = TestServer::start().await;
    let alice = onboard(&server, 0, "alice").await;
    let answer = answer_challenge(&alice.api, alice.keys(), &server.server().origin).await;
    let resp = alice
        .api
        .client
        .post(format!("{}/v1/ws/ticket", server.base))
        .bearer_auth(alice.api.token.as_ref().unwrap())
        .json(&answer)
        .send()
        .await
        .unwrap();
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    for flag in [
        "__Host-sotto-ticket=",
        "Secure",
        "HttpOnly",
        "SameSite=Strict",
        "Path=/",
    ] {
        assert!(cookie.contains(flag), "{cookie}");
    }
    assert!(!cookie.contains("Domain"));
    let pair = cookie.split(';').next().unwrap().to_owned();

    // Another site's page with the victim's cookie: refused at the upgrade.
    let evil = server
        .ws_raw(&[("origin", "https://evil.example"), ("cookie", &pair)])
        .await;
    assert!(evil.is_err(), "upgrade must be refused");
    // The server's own origin with the cookie: accepted without a ticket frame.
    let origin = server.server().origin.clone();
    let mut ws = server
        .ws_raw(&[("origin", &origin), ("cookie", &pair)])
        .await
        .unwrap();
    ws.expect("ready").await;

    // C12: a cross-site POST is refused; a form-encoded body is refused anyway.
    let resp = server
        .api()
        .client
        .post(format!("{}/v1/accounts", server.base))
        .header("origin", "https://evil.example")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("username=mallory&password=12345678910")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let (status, _) = server
        .api()
        .raw(
            reqwest::Method::POST,
            "/v1/accounts",
            "text/plain",
            b"{\"username\":\"mallory\",\"password\":\"12345678910\"}".to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(server
        .state()
        .store
        .user_by_name("mallory")
        .await
        .unwrap()
        .is_none());
    server.stop().await;
}

#[tokio::test]
async fn d3_d4_d5_plain_http_oversized_frames_and_floods_are_refused() {
    let server = TestServer::start_with(Backend::Sqlite, |c| {
        c.limits.ws_frames_per_second = 20;
        c.limits.max_ws_message = 64 * 1024;
    })
    .await
    .unwrap();
    // D3: plain HTTP on the TLS port gets no HTTP answer.
    let mut tcp = tokio::net::TcpStream::connect(server.server().local_addr)
        .await
        .unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut buf)).await;
    assert!(!String::from_utf8_lossy(&buf).contains("HTTP/1.1 200"));

    let alice = onboard(&server, 0, "alice").await;
    // D4: a message above the cap closes the socket before it is processed.
    let mut ws = connect(&server, &alice.api, alice.keys()).await;
    let sent = ws.send_text("x".repeat(100 * 1024)).await;
    if sent {
        assert!(matches!(
            ws.ended().await,
            Ended::Closed(1009) | Ended::Dropped
        ));
    }
    // The operator sees it as what it was, not as a lost connection.
    let closed_too_large = "sotto_ws_closed_total{reason=\"too_large\"} 1";
    let mut text = String::new();
    for _ in 0..50 {
        text = server.metrics().await;
        if text.contains(closed_too_large) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(text.contains(closed_too_large), "{text}");
    // D5: a flood is cut off.
    let mut ws = connect(&server, &alice.api, alice.keys()).await;
    for _ in 0..200 {
        if !ws.send_text(r#"{"type":"ping"}"#.to_owned()).await {
            break;
        }
    }
    assert_eq!(ws.ended().await, Ended::Closed(1008));
    // Others are still served.
    assert_eq!(server.api().get("/healthz").await.0, StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn d7_connections_per_account_are_capped() {
    let server = TestServer::start_with(Backend::Sqlite, |c| {
        c.limits.max_connections_per_account = 2
    })
    .await
    .unwrap();
    let alice = onboard(&server, 0, "alice").await;
    let _a = connect(&server, &alice.api, alice.keys()).await;
    let _b = connect(&server, &alice.api, alice.keys()).await;
    let ticket = ticket(&server, &alice.api, alice.keys()).await;
    let mut third = server.ws_raw(&[]).await.unwrap();
    third
        .send(json!({ "type": "auth", "ticket": ticket }))
        .await;
    assert_eq!(third.ended().await, Ended::Closed(1013));
    server.stop().await;
}

#[tokio::test]
async fn revoking_a_device_closes_its_socket_and_ends_its_sessions() {
    let server = TestServer::start().await;
    let alice = onboard(&server, 0, "alice").await;
    let bob = onboard(&server, 1, "bob").await;
    let mut ws = connect(&server, &bob.api, bob.keys()).await;
    // A revocation signed by someone else's master key is refused.
    let forged = alice
        .account
        .master
        .revoke(bob.keys().device(), 1, now())
        .unwrap();
    let (status, _) = bob
        .api
        .post(
            "/v1/devices/revoke",
            json!({ "revocation": b64(&forged.encode()) }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let revocation = bob
        .account
        .master
        .revoke(bob.keys().device(), 1, now())
        .unwrap();
    let (status, body) = bob
        .api
        .post(
            "/v1/devices/revoke",
            json!({ "revocation": b64(&revocation.encode()) }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(ws.ended().await, Ended::Closed(1008));
    assert_eq!(bob.api.get("/v1/devices").await.0, StatusCode::UNAUTHORIZED);
    let (_, entry) = alice.api.get("/v1/directory/bob").await;
    assert!(entry["devices"].as_array().unwrap().is_empty());
    assert_eq!(entry["revocations"].as_array().unwrap().len(), 1);
    // Its certificate cannot be uploaded again.
    let login = password_login(&server.api(), "bob").await;
    let (status, _) = login
        .post(
            "/v1/devices",
            json!({ "certificate": b64(&bob.device().certificate.encode()) }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    server.stop().await;
}

/// The data folder, the database, its WAL, the relay lock and the TLS key are the server's user's
/// alone; a data folder left readable by others (an older release, a careless restore) is
/// tightened at the next start.
#[cfg(unix)]
#[tokio::test]
async fn data_files_are_private_and_loose_ones_are_tightened_at_start() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let server = TestServer::start().await;
    let alice = onboard(&server, 0, "alice").await;
    let bob = onboard(&server, 1, "bob").await;
    healthy_round_trip(&server, &alice, &bob, "before the mode checks").await;
    drop(bob);
    let data = server.dir.path().to_path_buf();
    let files = [
        data.join("sotto.db"),
        data.join("sotto.db-wal"),
        data.join("sotto.db-relay.lock"),
        data.join("tls/key.pem"),
    ];
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("tls")), 0o700);
    for file in &files {
        assert_eq!(mode(file), 0o600, "{}", file.display());
    }
    // Loosened by hand, then restarted on the same data: tightened again, and still working.
    for path in files.iter().chain([&data, &data.join("tls")]) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let server = server.restart().await;
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("tls")), 0o700);
    for file in &files {
        assert_eq!(mode(file), 0o600, "{}", file.display());
    }
    // The same session still works on the tightened files (the restarted server has a new
    // port).
    let token = alice.api.token.clone().unwrap();
    let (status, _) = server
        .api()
        .with_token(&token)
        .call(reqwest::Method::GET, "/v1/devices", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    server.stop().await;
}
