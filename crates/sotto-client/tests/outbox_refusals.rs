//! The outbox under a permanent refusal: a message the server refuses for good (a `4xx` that
//! sending the same bytes again cannot fix) leaves the outbox and is reported, so that it does not
//! block every later message; a message that failed for a passing reason stays and is sent later.
//! Real client, real server over real TLS; the refusal comes from a TLS proxy with the server's
//! certificate that posts one conversation's messages to a conversation that does not exist.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use sotto_client::outbox::refused_for_good;
use sotto_client::Error;
use sotto_proto::ids::ConversationId;
use support::World;

#[test]
fn a_message_refused_for_good_leaves_the_outbox_and_does_not_block_the_next_ones() {
    let mut w = World::new();
    let to_bob = w.alice.send(&w.rt, "bob", "first to bob").unwrap();
    let to_carol = w.alice.send(&w.rt, "carol", "first to carol").unwrap();
    let bobs = format!("/v1/conversations/{}/messages", to_bob.conversation);
    let nowhere = format!(
        "/v1/conversations/{}/messages",
        ConversationId::from_bytes([7; 16])
    );
    let proxy = w.proxy(move |path| {
        if path.starts_with(&bobs) {
            nowhere.clone()
        } else {
            path.to_owned()
        }
    });
    w.alice.use_server(&proxy.url);

    match w.alice.send(&w.rt, "bob", "refused for good") {
        Err(e) if refused_for_good(&e) => {}
        other => panic!("expected the server's refusal: {other:?}"),
    }
    assert_eq!(
        w.alice.c().outbox_len(),
        0,
        "a permanent refusal is not retried"
    );
    let unsent = w.alice.c().take_unsent().unwrap();
    assert_eq!(unsent.len(), 1, "and it is reported once");
    assert_eq!(unsent[0].conversation, to_bob.conversation);
    assert!(w.alice.c().take_unsent().unwrap().is_empty());

    // The next message, to someone else, goes out at once (before, the refused one stayed first
    // in the outbox and every later send failed on it).
    w.alice.send(&w.rt, "carol", "after the refusal").unwrap();

    // A passing failure (the server cannot be reached) keeps the message, which goes out with
    // the next send once the server is back.
    w.alice.use_server("https://127.0.0.1:9");
    match w.alice.send(
        &w.rt,
        &to_carol.conversation.to_string(),
        "while unreachable",
    ) {
        Err(Error::Unreachable { .. }) => assert_eq!(w.alice.c().outbox_len(), 1),
        other => panic!("expected the server to be unreachable: {other:?}"),
    }
    let url = w.url.clone();
    w.alice.use_server(&url);
    w.alice.send(&w.rt, "carol", "back again").unwrap();
    assert_eq!(w.alice.c().outbox_len(), 0);

    assert_eq!(
        w.carol.recv(&w.rt).texts(),
        [
            "first to carol",
            "after the refusal",
            "while unreachable",
            "back again"
        ]
    );
    assert_eq!(w.bob.recv(&w.rt).texts(), ["first to bob"]);
}
