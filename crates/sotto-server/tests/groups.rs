//! Group changes as members and former members see them, over real TLS (docs/api.md
//! "Conversations" and "Server → client"): every member's socket, an invitee's and a removed
//! member's are told of a change with a `conversation` frame, nobody else's; a former member
//! (removed or left) reads the log up to and including the change that removed it and nothing
//! after; an account that never was a member still gets the `404` of a conversation that does
//! not exist.

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
use sotto_proto::group::{decode_signed_change, GroupOp, GroupState, Retention};
use sotto_proto::ids::ConversationId;
use support::*;

/// The verified state of a conversation as the server stored it; each change's author is one
/// of `people`.
async fn state_of(server: &TestServer, people: &[&Person], conv: ConversationId) -> GroupState {
    let mut state: Option<GroupState> = None;
    for change in server.state().store.changes(&conv, 0).await.unwrap() {
        let signed = decode_signed_change(&change.change).unwrap();
        let author = people
            .iter()
            .find(|p| p.keys().device() == change.author)
            .expect("a known author");
        let verified = &author.device().verified;
        state = Some(match state {
            None => GroupState::genesis(&signed, verified).unwrap(),
            Some(s) => s.apply(&signed, verified).unwrap(),
        });
    }
    state.unwrap()
}

/// `by` appends `op` to the log; returns the new epoch.
async fn change(
    server: &TestServer,
    people: &[&Person],
    by: &Person,
    conv: ConversationId,
    op: GroupOp,
) -> u64 {
    let state = state_of(server, people, conv).await;
    let signed = state
        .propose(op, by.account.master.account(), by.keys(), now())
        .unwrap();
    let (status, body) = by
        .api
        .post(
            &format!("/v1/conversations/{conv}/changes"),
            json!({ "change": b64(&signed.encode()) }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["epoch"].as_u64().unwrap()
}

fn remove(person: &Person) -> GroupOp {
    GroupOp::RemoveMember {
        account: person.account.master.account(),
    }
}

/// A change that touches no membership: a retention of `days` (each differs from the last,
/// or the change would have no effect).
fn retention(days: u64) -> GroupOp {
    GroupOp::SetRetention {
        retention: Retention::from_secs(days * 24 * 3600).unwrap(),
    }
}

/// The next frame on `ws` tells of a change to `conv`.
async fn told(ws: &mut Ws, conv: ConversationId) {
    let frame = ws.expect("conversation").await;
    assert_eq!(
        frame,
        json!({ "type": "conversation", "conversation": conv.to_string() })
    );
}

/// The epochs and member accounts of a conversation as `person` fetches it.
async fn fetch(person: &Person, conv: ConversationId, query: &str) -> (StatusCode, Value) {
    person
        .api
        .get(&format!("/v1/conversations/{conv}{query}"))
        .await
}

fn epochs(view: &Value) -> Vec<u64> {
    view["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["epoch"].as_u64().unwrap())
        .collect()
}

fn members(view: &Value) -> Vec<String> {
    let mut list: Vec<String> = view["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap().to_owned())
        .collect();
    list.sort();
    list
}

fn accounts(people: &[&Person]) -> Vec<String> {
    let mut list: Vec<String> = people
        .iter()
        .map(|p| p.account.master.account().to_string())
        .collect();
    list.sort();
    list
}

const QUIET: Duration = Duration::from_millis(300);

#[tokio::test]
async fn members_invitees_and_removed_members_are_told_of_a_group_change_and_nobody_else() {
    let server = TestServer::start().await;
    let alice = onboard(&server, 0, "alice").await;
    let bob = onboard(&server, 1, "bob").await;
    let carol = onboard(&server, 2, "carol").await;
    let dave = onboard(&server, 3, "dave").await;
    let people = [&alice, &bob, &carol, &dave];
    let mut a = connect(&server, &alice.api, alice.keys()).await;
    let mut b = connect(&server, &bob.api, bob.keys()).await;
    let mut c = connect(&server, &carol.api, carol.keys()).await;
    let mut d = connect(&server, &dave.api, dave.keys()).await;

    // A new group: its creator and the invitee (a request: not contacts yet) are told at once.
    let conv = create_request(&alice, &[&bob]).await;
    told(&mut a, conv).await;
    told(&mut b, conv).await;
    c.quiet(QUIET).await;

    // Carol is added: all three are told.
    change(
        &server,
        &people,
        &alice,
        conv,
        GroupOp::AddMember(carol.member(false)),
    )
    .await;
    for ws in [&mut a, &mut b, &mut c] {
        told(ws, conv).await;
    }
    // Bob is removed: he is told too, so his client learns it.
    change(&server, &people, &alice, conv, remove(&bob)).await;
    for ws in [&mut a, &mut b, &mut c] {
        told(ws, conv).await;
    }
    // Later changes reach the members only.
    change(&server, &people, &alice, conv, retention(1)).await;
    told(&mut a, conv).await;
    told(&mut c, conv).await;
    b.quiet(QUIET).await;
    // Carol leaves: she is told of her own leaving, Alice of it.
    change(&server, &people, &carol, conv, remove(&carol)).await;
    told(&mut a, conv).await;
    told(&mut c, conv).await;
    b.quiet(QUIET).await;
    d.quiet(QUIET).await;
    healthy_round_trip(&server, &alice, &dave, "after the group changes").await;
    server.stop().await;
}

#[tokio::test]
async fn a_former_member_reads_the_log_up_to_its_removal_and_nothing_after() {
    let server = TestServer::start().await;
    let alice = onboard(&server, 0, "alice").await;
    let bob = onboard(&server, 1, "bob").await;
    let carol = onboard(&server, 2, "carol").await;
    let people = [&alice, &bob, &carol];
    let conv = create_conversation(&alice, &[&bob, &carol]).await;

    assert_eq!(
        change(&server, &people, &alice, conv, remove(&bob)).await,
        1
    );
    change(&server, &people, &alice, conv, retention(1)).await;
    let (status, view) = fetch(&bob, conv, "").await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["conversation"], conv.to_string());
    assert_eq!(epochs(&view), vec![0, 1], "nothing after the removal");
    assert_eq!(
        members(&view),
        accounts(&[&alice, &carol]),
        "as of the removal"
    );
    let (_, view) = fetch(&bob, conv, "?since=1").await;
    assert_eq!(epochs(&view), vec![1]);
    let (status, view) = fetch(&bob, conv, "?since=2").await;
    assert_eq!((status, epochs(&view)), (StatusCode::OK, vec![]));
    // The log shown verifies on its own and ends without bob.
    let shown: Vec<Vec<u8>> = {
        let (_, view) = fetch(&bob, conv, "").await;
        view["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| unb64(c["change"].as_str().unwrap()))
            .collect()
    };
    let genesis = GroupState::genesis(
        &decode_signed_change(&shown[0]).unwrap(),
        &alice.device().verified,
    )
    .unwrap();
    let after = genesis
        .apply(
            &decode_signed_change(&shown[1]).unwrap(),
            &alice.device().verified,
        )
        .unwrap();
    assert!(!after.members().contains_key(&bob.account.master.account()));
    // Only the log: history, attachments and sending stay closed to him.
    let (status, _) = bob
        .api
        .get(&format!("/v1/conversations/{conv}/history"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (m, e) = seal(&bob, conv, "still here?");
    let (status, _) = bob
        .api
        .post(
            &format!("/v1/conversations/{conv}/messages"),
            json!({ "message_id": m.to_string(), "envelope": b64(&e) }),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Carol leaves at epoch 3; what follows is hidden from her too.
    assert_eq!(
        change(&server, &people, &carol, conv, remove(&carol)).await,
        3
    );
    change(&server, &people, &alice, conv, retention(2)).await;
    let (status, view) = fetch(&carol, conv, "").await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(epochs(&view), vec![0, 1, 2, 3]);
    assert_eq!(members(&view), accounts(&[&alice]));

    // Bob added back is a member like any other again: the whole log, today's members.
    change(
        &server,
        &people,
        &alice,
        conv,
        GroupOp::AddMember(bob.member(false)),
    )
    .await;
    let (status, view) = fetch(&bob, conv, "").await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(epochs(&view), vec![0, 1, 2, 3, 4, 5]);
    assert_eq!(members(&view), accounts(&[&alice, &bob]));
    server.stop().await;
}

#[tokio::test]
async fn an_account_that_never_was_a_member_gets_the_404_of_a_conversation_that_does_not_exist() {
    let server = TestServer::start().await;
    let alice = onboard(&server, 0, "alice").await;
    let bob = onboard(&server, 1, "bob").await;
    let mallory = onboard(&server, 2, "mallory").await;
    let people = [&alice, &bob];
    let conv = create_conversation(&alice, &[&bob]).await;
    change(&server, &people, &alice, conv, remove(&bob)).await;
    let missing = ConversationId::from_bytes([0x5a; 16]);
    let (status, nothing) = fetch(&mallory, missing, "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for query in ["", "?since=0", "?since=1"] {
        let (status, body) = fetch(&mallory, conv, query).await;
        assert_eq!(
            (status, &body),
            (StatusCode::NOT_FOUND, &nothing),
            "{query}: {body}"
        );
    }
    // A former member of one conversation is a stranger to every other.
    let other = create_conversation(&alice, &[&mallory]).await;
    let (status, body) = fetch(&bob, other, "").await;
    assert_eq!((status, &body), (StatusCode::NOT_FOUND, &nothing));
    server.stop().await;
}
