//! Administration against a real server over TLS with real clients: disabling an account closes
//! its sockets and refuses its tokens and its login until it is enabled again; deleting one
//! revokes its devices and drops its private state; the counts match what was created; and
//! the `sotto-server admin` command reaches the running server over its admin socket, or runs
//! on the store when no server runs. SQLite always, PostgreSQL too when
//! `SOTTO_TEST_DATABASE_URL` is set.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::path::Path;
use std::process::Output;

use reqwest::StatusCode;
use serde_json::{json, Value};
use sotto_proto::ids::PrekeyId;
use sotto_server::admin::{execute, AdminRequest, AdminResponse, AdminTarget};
use sotto_server::store::{DeviceState, NewPrekey};
use support::*;

fn live(server: &TestServer) -> AdminTarget {
    AdminTarget::Live(server.state().clone())
}

async fn run(server: &TestServer, request: AdminRequest) -> sotto_server::error::Result<Value> {
    let response = execute(&live(server), request).await?;
    Ok(serde_json::to_value(&response).unwrap())
}

/// Runs `sotto-server admin …` (the real binary) on `dir`, off the runtime's thread (the
/// server it talks to runs on that runtime).
async fn command(dir: &Path, words: &[&str]) -> Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_sotto-server"));
    command
        .arg("admin")
        .args(words)
        .arg("--data-dir")
        .arg(dir)
        .env_remove("SOTTO_DATABASE_URL")
        .env("SOTTO_LOG", "warn");
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

async fn backends() -> Vec<TestServer> {
    let mut servers = vec![TestServer::start().await];
    if let Some(pg) = TestServer::start_with(Backend::Postgres, |_| {}).await {
        servers.push(pg);
    }
    servers
}

async fn login_status(server: &TestServer, name: &str, password: &str) -> (StatusCode, Value) {
    server
        .api()
        .post(
            "/v1/auth/login",
            json!({ "username": name, "password": password }),
        )
        .await
}

#[tokio::test]
async fn a_disabled_account_loses_its_socket_its_tokens_and_its_login_until_enabled() {
    for server in backends().await {
        let alice = onboard(&server, 0, "alice").await;
        let bob = onboard(&server, 1, "bob").await;
        let conversation = create_conversation(&bob, &[&alice]).await;
        let mut socket = connect(&server, &alice.api, alice.keys()).await;

        let state = run(
            &server,
            AdminRequest::UserDisable {
                username: "Alice".into(),
            },
        )
        .await
        .unwrap();
        assert_eq!(state["kind"], "user_state");
        assert_eq!(state["disabled"], true);
        assert_eq!(state["sessions_ended"], 1);
        assert!(matches!(socket.ended().await, Ended::Closed(_)));

        // Its access token, refresh token and password all stop working.
        let (status, _) = alice.api.get("/v1/devices").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, _) = server
            .api()
            .post(
                "/v1/auth/refresh",
                json!({ "refresh_token": alice.refresh_token }),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, body) = login_status(&server, "alice", PASSWORD).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert_eq!(body["error"], "account_disabled");
        // Without the password, nothing tells that the account is disabled.
        let (status, body) = login_status(&server, "alice", "not the password at all").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["error"], "bad_credentials");

        // Messages to it still queue.
        let mut b = connect(&server, &bob.api, bob.keys()).await;
        let (message, envelope) = seal(&bob, conversation, "are you there?");
        b.send(send_frame(1, conversation, message, &envelope))
            .await;
        assert_eq!(b.expect("sent").await["recipients"], 1);

        let list = run(&server, AdminRequest::UsersList).await.unwrap();
        assert_eq!(list["users"][0]["username"], "alice");
        assert_eq!(list["users"][0]["state"], "disabled");
        assert_eq!(list["users"][1]["state"], "active");

        let state = run(
            &server,
            AdminRequest::UserEnable {
                username: "alice".into(),
            },
        )
        .await
        .unwrap();
        assert_eq!(state["disabled"], false);
        let login = password_login(&server.api(), "alice").await;
        let (api, _, _) = device_login(&server, &login, alice.keys()).await;
        let mut socket = connect(&server, &api, alice.keys()).await;
        let got = socket.expect("envelope").await;
        assert_eq!(got["message_id"], message.to_string());

        let err = run(
            &server,
            AdminRequest::UserDisable {
                username: "nobody".into(),
            },
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("no such username"), "{err}");
        server.stop().await;
    }
}

#[tokio::test]
async fn a_deleted_account_has_no_device_session_queue_or_prekey_and_its_name_stays_taken() {
    for server in backends().await {
        let alice = onboard(&server, 0, "alice").await;
        let bob = onboard(&server, 1, "bob").await;
        let conversation = create_conversation(&bob, &[&alice]).await;
        let store = server.state().store.clone();
        let alice_user = store.user_by_name("alice").await.unwrap().unwrap().id;
        let device = alice.keys().device();
        let prekeys: Vec<NewPrekey> = (0..3u8)
            .map(|i| NewPrekey {
                id: PrekeyId::from_bytes([i; 16]),
                body: vec![i; 64],
            })
            .collect();
        store
            .put_prekeys(&device, &prekeys, false, 100, 0)
            .await
            .unwrap();
        let mut alice_ws = connect(&server, &alice.api, alice.keys()).await;
        let mut b = connect(&server, &bob.api, bob.keys()).await;
        let (message, envelope) = seal(&bob, conversation, "for the record");
        b.send(send_frame(1, conversation, message, &envelope))
            .await;
        assert_eq!(b.expect("sent").await["recipients"], 1);
        assert_eq!(
            alice_ws.expect("envelope").await["message_id"],
            message.to_string()
        );
        // Alice does not acknowledge: the copy stays queued for her device.
        drop(alice_ws);
        let mut alice_ws = connect(&server, &alice.api, alice.keys()).await;

        let stats = run(&server, AdminRequest::Stats).await.unwrap();
        assert_eq!(stats["accounts"], 2);
        assert_eq!(stats["active_devices"], 2);
        assert_eq!(stats["sessions"], 2);
        assert_eq!(stats["conversations"], 1);
        let queued = stats["queued"].as_i64().unwrap() + stats["queued_hot"].as_i64().unwrap();
        assert!(queued >= 1, "{stats}");
        assert_eq!(stats["archived"], 1);
        assert_eq!(stats["attachments"], 0);
        assert!(stats["database_bytes"].as_i64().unwrap() > 0);
        assert!(stats["sockets"].as_u64().unwrap() >= 2);

        let deleted = run(
            &server,
            AdminRequest::UserDelete {
                username: "alice".into(),
            },
        )
        .await
        .unwrap();
        assert_eq!(deleted["kind"], "deleted");
        assert_eq!(deleted["devices"], 1);
        assert_eq!(deleted["sessions"], 1);
        assert_eq!(deleted["prekeys"], 3);
        assert!(!deleted["remains"].as_array().unwrap().is_empty());
        assert!(matches!(alice_ws.ended().await, Ended::Closed(_)));

        // In the store: revoked devices, no session, no queue, no prekey.
        let devices = store.devices_of(alice_user).await.unwrap();
        assert!(devices.iter().all(|d| d.state == DeviceState::Revoked));
        assert!(store.sessions_of(alice_user).await.unwrap().is_empty());
        assert!(store.pending(&device, 0, 100).await.unwrap().is_empty());
        assert_eq!(store.prekey_count(&device).await.unwrap(), 0);
        // Over the API: others see no device of it, and nothing can sign in as it.
        let (status, dir) = bob.api.get("/v1/directory/alice").await;
        assert_eq!(status, StatusCode::OK, "{dir}");
        assert_eq!(dir["devices"], json!([]));
        let (status, _) = alice.api.get("/v1/devices").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, _) = login_status(&server, "alice", PASSWORD).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, body) = server
            .api()
            .post(
                "/v1/accounts",
                json!({ "username": "alice", "password": PASSWORD }),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        // Bob still works.
        let (message, envelope) = seal(&bob, conversation, "anyone?");
        b.send(send_frame(2, conversation, message, &envelope))
            .await;
        assert_eq!(b.expect("sent").await["recipients"], 0);

        let stats = run(&server, AdminRequest::Stats).await.unwrap();
        assert_eq!(stats["accounts"], 2);
        assert_eq!(stats["deleted"], 1);
        assert_eq!(stats["active_devices"], 1);
        assert_eq!(stats["sessions"], 1);
        let list = run(&server, AdminRequest::UsersList).await.unwrap();
        assert_eq!(list["users"][0]["state"], "deleted");
        assert_eq!(list["users"][0]["devices"], 0);

        let again = run(
            &server,
            AdminRequest::UserDelete {
                username: "alice".into(),
            },
        )
        .await
        .unwrap_err();
        assert!(again.to_string().contains("not found"), "{again}");
        let unknown = run(
            &server,
            AdminRequest::UserDelete {
                username: "carol".into(),
            },
        )
        .await
        .unwrap_err();
        assert!(
            unknown.to_string().contains("no such username"),
            "{unknown}"
        );
        server.stop().await;
    }
}

#[tokio::test]
async fn the_admin_command_reaches_the_running_server_over_its_socket_and_the_store_without_one() {
    let dir = tempfile::tempdir().unwrap();
    // A socket file left by a server that crashed is replaced.
    drop(std::os::unix::net::UnixListener::bind(dir.path().join("admin.sock")).unwrap());
    let server = TestServer::start_with(Backend::Sqlite, |c| c.data_dir = dir.path().into())
        .await
        .unwrap();
    let socket_path = dir.path().join("admin.sock");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&socket_path).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    let alice = onboard(&server, 0, "alice").await;
    let mut socket = connect(&server, &alice.api, alice.keys()).await;

    let text = stdout(&command(dir.path(), &["users", "disable", "alice"]).await);
    assert!(text.contains("alice is disabled"), "{text}");
    assert!(text.contains("closed on every node"), "{text}");
    assert!(matches!(socket.ended().await, Ended::Closed(_)));

    let stats: Value =
        serde_json::from_str(&stdout(&command(dir.path(), &["stats", "--json"]).await)).unwrap();
    assert_eq!(stats["kind"], "stats");
    assert_eq!(stats["accounts"], 1);
    assert_eq!(stats["disabled"], 1);
    assert!(stats["uptime_secs"].is_u64(), "{stats}");

    let text = stdout(&command(dir.path(), &["users", "list"]).await);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("USERNAME"), "{text}");
    assert!(
        lines[1].starts_with("alice") && lines[1].contains("disabled"),
        "{text}"
    );

    let failed = command(dir.path(), &["users", "enable", "nobody"]).await;
    assert!(!failed.status.success());
    assert!(String::from_utf8_lossy(&failed.stderr).contains("no such username"));

    server.stop().await;
    assert!(
        !socket_path.exists(),
        "the socket file is removed on shutdown"
    );

    // No server: the command runs on the store.
    let text = stdout(&command(dir.path(), &["users", "enable", "alice"]).await);
    assert!(text.contains("alice is enabled"), "{text}");
    let stats: Value =
        serde_json::from_str(&stdout(&command(dir.path(), &["stats", "--json"]).await)).unwrap();
    assert_eq!(stats["disabled"], 0);
    assert_eq!(stats["sockets"], Value::Null);
    assert_eq!(stats["active_devices"], 1);
}

#[tokio::test]
async fn a_data_folder_too_deep_for_a_unix_socket_still_serves() {
    let dir = tempfile::tempdir().unwrap();
    let deep = dir.path().join("d".repeat(120));
    let server = TestServer::start_with(Backend::Sqlite, |c| c.data_dir = deep.clone())
        .await
        .unwrap();
    assert!(!deep.join("admin.sock").exists());
    let alice = onboard(&server, 0, "alice").await;
    let bob = onboard(&server, 1, "bob").await;
    healthy_round_trip(&server, &alice, &bob, "still here").await;
    match execute(&live(&server), AdminRequest::Stats).await.unwrap() {
        AdminResponse::Stats(stats) => assert_eq!(stats.accounts, 2),
        other => panic!("{other:?}"),
    }
    server.stop().await;
}
