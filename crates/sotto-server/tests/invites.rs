//! Registration modes and invitation codes against the real server over TLS: `invite` refuses a
//! missing, unknown, used, revoked or expired code with one answer and creates nothing (no user
//! row, no password hash), a valid code creates one account once, two sign-ups racing on one
//! code create one account, a refused code still counts against the address's sign-up
//! allowance; `closed` refuses every sign-up while existing accounts log in; `open` ignores a
//! code. Each runs on SQLite and, when `SOTTO_TEST_DATABASE_URL` is set, on PostgreSQL.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::sync::atomic::Ordering;

use reqwest::StatusCode;
use serde_json::{json, Value};
use sotto_server::admin::{self, AdminRequest, AdminResponse, AdminTarget};
use sotto_server::config::RegistrationMode;
use sotto_server::service::accounts::invite_hash;
use sotto_server::store::InviteRecord;
use sotto_wire::InviteCode;
use support::*;

async fn server(backend: Backend, mode: RegistrationMode) -> Option<TestServer> {
    TestServer::start_with(backend, |c| c.registration = mode).await
}

fn live(server: &TestServer) -> AdminTarget {
    AdminTarget::Live(server.state().clone())
}

/// `invite create` on the running server; returns (id, code text).
async fn create_invite(server: &TestServer, secs: u64) -> (String, String) {
    match admin::execute(
        &live(server),
        AdminRequest::InviteCreate { expires_secs: secs },
    )
    .await
    .unwrap()
    {
        AdminResponse::InviteCreated(c) => (c.id, c.code),
        other => panic!("{other:?}"),
    }
}

async fn sign_up(api: &Api, name: &str, invite: Option<&str>) -> (StatusCode, Value) {
    let mut body = json!({"username": name, "password": PASSWORD});
    if let Some(code) = invite {
        body["invite"] = json!(code);
    }
    api.post("/v1/accounts", body).await
}

fn hashes(server: &TestServer) -> u64 {
    server
        .state()
        .metrics
        .password_hashes
        .load(Ordering::Relaxed)
}

async fn exists(server: &TestServer, name: &str) -> bool {
    server
        .state()
        .store
        .user_by_name(name)
        .await
        .unwrap()
        .is_some()
}

async fn mode_of(server: &TestServer) -> Value {
    let (status, body) = server.api().get("/v1/registration").await;
    assert_eq!(status, StatusCode::OK);
    body["mode"].clone()
}

async fn refuses_every_unusable_code_alike(backend: Backend) {
    let Some(server) = server(backend, RegistrationMode::Invite).await else {
        return;
    };
    assert_eq!(mode_of(&server).await, "invite");
    let api = server.api();

    // Used: spent by a first sign-up.
    let (_, used) = create_invite(&server, 3600).await;
    assert_eq!(
        sign_up(&api, "first", Some(&used)).await.0,
        StatusCode::CREATED
    );
    // Revoked.
    let (revoked_id, revoked) = create_invite(&server, 3600).await;
    admin::execute(
        &live(&server),
        AdminRequest::InviteRevoke { id: revoked_id },
    )
    .await
    .unwrap();
    // Expired: stored with an expiry a second ago.
    let expired = InviteCode::from_bytes([0x17; 16]);
    let hash = invite_hash(&expired);
    let now = sotto_server::clock::now_ms();
    server
        .state()
        .store
        .create_invite(&InviteRecord {
            id: hash[..8].try_into().unwrap(),
            code_hash: hash,
            created_at: now - 10_000,
            expires_at: now - 1_000,
            used_at: None,
            used_by: None,
            revoked_at: None,
        })
        .await
        .unwrap();
    let expired = expired.expose().to_string();
    let unknown = InviteCode::from_bytes([0x42; 16]).expose().to_string();

    let before = hashes(&server);
    for (i, code) in [
        None,
        Some(&unknown),
        Some(&used),
        Some(&revoked),
        Some(&expired),
    ]
    .into_iter()
    .enumerate()
    {
        let name = format!("refused{i}");
        let (status, body) = sign_up(&api, &name, code.map(String::as_str)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{code:?}");
        assert_eq!(body["error"], "invite_invalid", "{code:?}");
        assert!(!exists(&server, &name).await);
    }
    assert_eq!(hashes(&server), before, "a refused code costs no hash");
    // A taken name with no usable code answers the same, so names cannot be listed without one.
    let (status, body) = sign_up(&api, "first", Some(&unknown)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("invite_invalid"))
    );
    // The used code was spent by `first`, and neither it nor the refused ones are listed.
    match admin::execute(&live(&server), AdminRequest::InviteList)
        .await
        .unwrap()
    {
        AdminResponse::Invites(list) => assert!(list.invites.is_empty(), "{list:?}"),
        other => panic!("{other:?}"),
    }
    server.stop().await;
}

#[tokio::test]
async fn invite_mode_refuses_missing_unknown_used_revoked_and_expired_codes_alike_sqlite() {
    refuses_every_unusable_code_alike(Backend::Sqlite).await;
}

#[tokio::test]
async fn invite_mode_refuses_missing_unknown_used_revoked_and_expired_codes_alike_postgres() {
    refuses_every_unusable_code_alike(Backend::Postgres).await;
}

async fn a_code_works_once(backend: Backend) {
    let Some(server) = server(backend, RegistrationMode::Invite).await else {
        return;
    };
    let api = server.api();
    let (id, code) = create_invite(&server, 3600).await;
    match admin::execute(&live(&server), AdminRequest::InviteList)
        .await
        .unwrap()
    {
        AdminResponse::Invites(list) => {
            assert_eq!(list.invites.len(), 1);
            assert_eq!(list.invites[0].id, id);
            // The listing never carries the code.
            assert!(!serde_json::to_string(&list).unwrap().contains(&code));
        }
        other => panic!("{other:?}"),
    }
    // Typed as a person might: lower case, no dashes.
    let typed = code.to_lowercase().replace('-', "");
    let (status, _) = sign_up(&api, "invited", Some(&typed)).await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(exists(&server, "invited").await);
    password_login(&api, "invited").await;
    let (status, body) = sign_up(&api, "second", Some(&code)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("invite_invalid"))
    );
    assert!(!exists(&server, "second").await);
    // A used invitation cannot be revoked any more, and is gone from the list.
    assert!(
        admin::execute(&live(&server), AdminRequest::InviteRevoke { id })
            .await
            .is_err()
    );
    server.stop().await;
}

#[tokio::test]
async fn a_valid_code_creates_one_account_once_sqlite() {
    a_code_works_once(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_valid_code_creates_one_account_once_postgres() {
    a_code_works_once(Backend::Postgres).await;
}

async fn racing_sign_ups(backend: Backend) {
    let Some(server) = server(backend, RegistrationMode::Invite).await else {
        return;
    };
    for round in 0..3 {
        let (_, code) = create_invite(&server, 3600).await;
        let names: Vec<String> = (0..6).map(|i| format!("racer{round}x{i}")).collect();
        let mut racers = tokio::task::JoinSet::new();
        for name in names.clone() {
            let api = server.api();
            let code = code.clone();
            racers.spawn(async move { sign_up(&api, &name, Some(&code)).await });
        }
        let answers = racers.join_all().await;
        let created = answers
            .iter()
            .filter(|(s, _)| *s == StatusCode::CREATED)
            .count();
        assert_eq!(created, 1, "{answers:?}");
        for (status, body) in &answers {
            if *status != StatusCode::CREATED {
                assert_eq!(*status, StatusCode::FORBIDDEN);
                assert_eq!(body["error"], "invite_invalid");
            }
        }
        let mut accounts = 0;
        for name in &names {
            accounts += usize::from(exists(&server, name).await);
        }
        assert_eq!(accounts, 1);
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_sign_ups_racing_on_one_code_create_exactly_one_account_sqlite() {
    racing_sign_ups(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_sign_ups_racing_on_one_code_create_exactly_one_account_postgres() {
    racing_sign_ups(Backend::Postgres).await;
}

#[tokio::test]
async fn refused_codes_count_against_the_address_sign_up_allowance() {
    let server = TestServer::start_with(Backend::Sqlite, |c| {
        c.registration = RegistrationMode::Invite;
        c.limits.registrations_per_ip_per_hour = 3;
    })
    .await
    .unwrap();
    let api = server.api();
    let wrong = InviteCode::from_bytes([1; 16]).expose().to_string();
    for i in 0..3 {
        let (status, _) = sign_up(&api, &format!("guess{i}"), Some(&wrong)).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    let (_, code) = create_invite(&server, 3600).await;
    let (status, body) = sign_up(&api, "guess9", Some(&code)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("throttled"))
    );
    server.stop().await;
}

async fn closed_refuses_sign_ups(backend: Backend) {
    let Some(mut server) = server(backend, RegistrationMode::Open).await else {
        return;
    };
    assert_eq!(mode_of(&server).await, "open");
    assert_eq!(
        sign_up(&server.api(), "early", None).await.0,
        StatusCode::CREATED
    );
    server.config.registration = RegistrationMode::Closed;
    let server = server.restart().await;
    assert_eq!(mode_of(&server).await, "closed");
    let api = server.api();
    let (_, code) = create_invite(&server, 3600).await;
    let before = hashes(&server);
    for invite in [None, Some(code.as_str())] {
        let (status, body) = sign_up(&api, "late", invite).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(body["error"], "registration_closed");
    }
    assert_eq!(hashes(&server), before);
    assert!(!exists(&server, "late").await);
    password_login(&api, "early").await;
    server.stop().await;
}

#[tokio::test]
async fn closed_mode_refuses_every_sign_up_and_existing_accounts_log_in_sqlite() {
    closed_refuses_sign_ups(Backend::Sqlite).await;
}

#[tokio::test]
async fn closed_mode_refuses_every_sign_up_and_existing_accounts_log_in_postgres() {
    closed_refuses_sign_ups(Backend::Postgres).await;
}

#[tokio::test]
async fn open_mode_creates_accounts_with_or_without_a_code() {
    let server = server(Backend::Sqlite, RegistrationMode::Open)
        .await
        .unwrap();
    let api = server.api();
    let stray = InviteCode::from_bytes([3; 16]).expose().to_string();
    assert_eq!(sign_up(&api, "plain", None).await.0, StatusCode::CREATED);
    assert_eq!(
        sign_up(&api, "coded", Some(&stray)).await.0,
        StatusCode::CREATED
    );
    let (status, body) = sign_up(&api, "plain", None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::CONFLICT, Some("conflict"))
    );
    // A malformed code is a malformed body in every mode.
    let (status, _) = sign_up(&api, "bent", Some("not-a-code")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    server.stop().await;
}

#[tokio::test]
async fn offline_admin_creates_lists_and_revokes_invitations_and_the_purge_forgets_old_ones() {
    let server = server(Backend::Sqlite, RegistrationMode::Invite)
        .await
        .unwrap();
    let store = server.state().store.clone();
    let offline = AdminTarget::Offline(store.clone());
    let created = match admin::execute(&offline, AdminRequest::InviteCreate { expires_secs: 60 })
        .await
        .unwrap()
    {
        AdminResponse::InviteCreated(c) => c,
        other => panic!("{other:?}"),
    };
    let text = AdminResponse::InviteCreated(created.clone()).to_text();
    assert!(
        text.contains(&format!("--invite {}", created.code)),
        "{text}"
    );
    assert!(
        admin::execute(&offline, AdminRequest::InviteCreate { expires_secs: 0 })
            .await
            .is_err()
    );
    let listed = admin::execute(&offline, AdminRequest::InviteList)
        .await
        .unwrap()
        .to_text();
    assert!(
        listed.contains(&created.id) && !listed.contains(&created.code),
        "{listed}"
    );
    admin::execute(
        &offline,
        AdminRequest::InviteRevoke {
            id: created.id.to_uppercase(),
        },
    )
    .await
    .unwrap();
    assert!(admin::execute(
        &offline,
        AdminRequest::InviteRevoke {
            id: created.id.clone()
        }
    )
    .await
    .is_err());
    let (status, body) = sign_up(&server.api(), "late", Some(&created.code)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("invite_invalid"))
    );
    // The revoked record is kept for 30 days (a purge a day later leaves it), then purged.
    let day = 24 * 3600 * 1000;
    let now = sotto_server::clock::now_ms();
    sotto_server::service::purge::once(server.state(), now + day).await;
    assert_eq!(store.purge_invites(now + day).await.unwrap(), 1);
    let (id, _) = create_invite(&server, 60).await;
    admin::execute(&offline, AdminRequest::InviteRevoke { id })
        .await
        .unwrap();
    sotto_server::service::purge::once(server.state(), now + 31 * day).await;
    assert_eq!(store.purge_invites(i64::MAX).await.unwrap(), 0);
    server.stop().await;
}
