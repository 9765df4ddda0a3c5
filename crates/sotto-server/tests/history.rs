//! History over real TLS (docs/protocol.md §6.7, §17; docs/api.md "History"): every envelope of
//! a conversation is archived as received; a member reads the archive newest first, page by
//! page, from the moment its account joined; anyone else is told the conversation does not
//! exist; and the purge deletes archived envelopes and attachments past the conversation's
//! retention (a SetRetention in the verified log, else the server default), in the database
//! file itself, while a conversation kept for good keeps them.

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
use sotto_proto::group::{GroupOp, GroupState, Retention};
use sotto_proto::ids::{ConversationId, MessageId};
use support::*;

/// Posts a real envelope from `person` over HTTP; returns its message id and bytes.
async fn post_envelope(
    person: &Person,
    conversation: ConversationId,
    text: &str,
) -> (MessageId, Vec<u8>) {
    let (message, envelope) = seal(person, conversation, text);
    let (status, body) = person
        .api
        .post(
            &format!("/v1/conversations/{conversation}/messages"),
            json!({ "message_id": message.to_string(), "envelope": b64(&envelope) }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    (message, envelope)
}

/// One history page as `api` sees it.
async fn history(api: &Api, conversation: ConversationId, query: &str) -> (StatusCode, Value) {
    api.get(&format!("/v1/conversations/{conversation}/history{query}"))
        .await
}

/// The envelopes of a page, as bytes.
fn envelopes(page: &Value) -> Vec<Vec<u8>> {
    page["envelopes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| unb64(e["envelope"].as_str().unwrap()))
        .collect()
}

/// The verified state of a conversation as the server stored it.
async fn state_of(server: &TestServer, creator: &Person, conv: ConversationId) -> GroupState {
    let changes = server.state().store.changes(&conv, 0).await.unwrap();
    let mut state: Option<GroupState> = None;
    for change in changes {
        let signed = sotto_proto::group::decode_signed_change(&change.change).unwrap();
        state = Some(match state {
            None => GroupState::genesis(&signed, &creator.device().verified).unwrap(),
            Some(s) => s.apply(&signed, &creator.device().verified).unwrap(),
        });
    }
    state.unwrap()
}

/// `creator` (an admin) appends `op` to the conversation's log.
async fn change(server: &TestServer, creator: &Person, conv: ConversationId, op: GroupOp) {
    let state = state_of(server, creator, conv).await;
    let signed = state
        .propose(op, creator.account.master.account(), creator.keys(), now())
        .unwrap();
    let (status, body) = creator
        .api
        .post(
            &format!("/v1/conversations/{conv}/changes"),
            json!({ "change": b64(&signed.encode()) }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// Uploads an attachment; returns its id.
async fn attach(person: &Person, conv: ConversationId, bytes: &[u8]) -> String {
    let (status, body) = person
        .api
        .raw(
            Method::POST,
            &format!("/v1/conversations/{conv}/attachments"),
            "application/octet-stream",
            bytes.to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["attachment"].as_str().unwrap().to_owned()
}

/// Rows of `table` for a conversation, read from the SQLite file directly.
async fn rows_in_file(server: &TestServer, table: &str, conv: ConversationId) -> i64 {
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(server.dir.path().join("sotto.db"))
        .read_only(true);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    let sql = format!("SELECT COUNT(*) FROM {table} WHERE conversation = ?");
    let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(conv.as_bytes().as_slice())
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    n
}

#[tokio::test]
async fn members_read_the_archive_newest_first_in_pages_and_others_get_404() {
    let server = TestServer::start().await;
    let alice = onboard(&server, 0, "alice").await;
    let bob = onboard(&server, 1, "bob").await;
    let carol = onboard(&server, 2, "carol").await;
    let conv = create_conversation(&alice, &[&bob]).await;
    let mut sent = Vec::new();
    for i in 0..5 {
        sent.push(post_envelope(&alice, conv, &format!("message {i}")).await.1);
    }

    // Newest first, two at a time, each envelope exactly as it was posted.
    let mut read = Vec::new();
    let mut query = "?limit=2".to_owned();
    loop {
        let (status, page) = history(&bob.api, conv, &query).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let got = page["envelopes"].as_array().unwrap();
        assert!(got.len() <= 2);
        for pair in got.windows(2) {
            assert!(
                pair[0]["seq"].as_i64() > pair[1]["seq"].as_i64(),
                "newest first"
            );
        }
        read.extend(envelopes(&page));
        if page["more"] != true {
            break;
        }
        let oldest = got.last().unwrap()["seq"].as_i64().unwrap();
        query = format!("?limit=2&before={oldest}");
    }
    read.reverse();
    assert_eq!(read, sent);
    // The sender's own devices read it too; the default page holds them all.
    let (_, page) = history(&alice.api, conv, "").await;
    assert_eq!(envelopes(&page).len(), 5);
    assert_eq!(page["more"], false);

    // A non-member cannot tell the conversation from one that does not exist.
    let (status, body) = history(&carol.api, conv, "").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let unknown = ConversationId::from_bytes([9; 16]);
    let (status, _) = history(&carol.api, unknown, "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Out-of-range limits are refused.
    for bad in ["?limit=0", "?limit=501", "?limit=x", "?before=y"] {
        let (status, _) = history(&bob.api, conv, bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    }
    server.stop().await;
}

#[tokio::test]
async fn a_member_added_later_reads_only_from_when_its_account_joined() {
    let server = TestServer::start().await;
    let alice = onboard(&server, 0, "alice").await;
    let bob = onboard(&server, 1, "bob").await;
    let carol = onboard(&server, 2, "carol").await;
    let conv = create_conversation(&alice, &[&bob]).await;
    post_envelope(&alice, conv, "before carol").await;
    // Carol's join is stamped in milliseconds: keep the two sides of it apart.
    tokio::time::sleep(Duration::from_millis(5)).await;
    change(
        &server,
        &alice,
        conv,
        GroupOp::AddMember(carol.member(false)),
    )
    .await;
    let (status, body) = carol
        .api
        .post(&format!("/v1/conversations/{conv}/accept"), json!({}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    tokio::time::sleep(Duration::from_millis(5)).await;
    let (_, after) = post_envelope(&alice, conv, "after carol").await;

    let (status, page) = history(&carol.api, conv, "").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(envelopes(&page), vec![after]);
    let (_, page) = history(&bob.api, conv, "").await;
    assert_eq!(envelopes(&page).len(), 2, "bob was there from the start");
    server.stop().await;
}

#[tokio::test]
async fn with_archiving_off_nothing_is_archived_and_history_is_empty() {
    let server = TestServer::start_with(Backend::Sqlite, |c| c.history.archive = false)
        .await
        .unwrap();
    let alice = onboard(&server, 0, "alice").await;
    let bob = onboard(&server, 1, "bob").await;
    let conv = create_conversation(&alice, &[&bob]).await;
    post_envelope(&alice, conv, "not kept").await;
    let (status, page) = history(&bob.api, conv, "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(envelopes(&page).is_empty());
    assert_eq!(rows_in_file(&server, "archive", conv).await, 0);
    server.stop().await;
}

/// The purge runs every second here; the server's clock is moved past the 60 s retention
/// instead of waiting for it.
#[tokio::test]
async fn envelopes_and_attachments_past_retention_are_deleted_from_the_database() {
    let server = TestServer::start_with(Backend::Sqlite, |c| {
        c.history.purge_interval_secs = 1;
        c.history.default_retention_secs = 60;
    })
    .await
    .unwrap();
    let alice = onboard(&server, 0, "alice").await;
    let bob = onboard(&server, 1, "bob").await;
    let (status, policy) = bob.api.get("/v1/policy").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(policy["default_retention_secs"], 60);

    // Short: 60 s set in the log. Forever: 0 set in the log. Default: nothing set.
    let short = create_conversation(&alice, &[&bob]).await;
    change(
        &server,
        &alice,
        short,
        GroupOp::SetRetention {
            retention: Retention::from_secs(60).unwrap(),
        },
    )
    .await;
    let forever = create_conversation(&alice, &[&bob]).await;
    change(
        &server,
        &alice,
        forever,
        GroupOp::SetRetention {
            retention: Retention::FOREVER,
        },
    )
    .await;
    let default = create_conversation(&alice, &[&bob]).await;
    let mut files = Vec::new();
    for conv in [short, forever, default] {
        post_envelope(&alice, conv, "one").await;
        post_envelope(&alice, conv, "two").await;
        files.push(attach(&alice, conv, b"sealed attachment bytes").await);
        assert_eq!(rows_in_file(&server, "archive", conv).await, 2);
    }

    server.state().clock.advance(Duration::from_secs(61));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while rows_in_file(&server, "archive", short).await > 0
        || rows_in_file(&server, "attachments", default).await > 0
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the purge did not run"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    for conv in [short, default] {
        assert_eq!(rows_in_file(&server, "archive", conv).await, 0);
        assert_eq!(rows_in_file(&server, "attachments", conv).await, 0);
        let (status, page) = history(&bob.api, conv, "").await;
        assert_eq!(status, StatusCode::OK);
        assert!(envelopes(&page).is_empty());
    }
    for file in [&files[0], &files[2]] {
        let (status, _) = bob.api.get_bytes(&format!("/v1/attachments/{file}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    assert_eq!(rows_in_file(&server, "archive", forever).await, 2);
    assert_eq!(rows_in_file(&server, "attachments", forever).await, 1);
    let (_, page) = history(&bob.api, forever, "").await;
    assert_eq!(envelopes(&page).len(), 2);
    let (status, bytes) = bob
        .api
        .get_bytes(&format!("/v1/attachments/{}", files[1]))
        .await;
    assert_eq!(
        (status, bytes.as_slice()),
        (StatusCode::OK, &b"sealed attachment bytes"[..])
    );
    server.stop().await;
}
