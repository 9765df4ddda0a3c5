//! Never silent, end to end: the real server with small queue limits and the real `sotto`
//! binary. A hostile member filling a device's queue does not keep an honest sender's message
//! out; a message the server stores but cannot give to a device is named on stderr, exits 10,
//! stays in the outbox and reaches that device exactly once when it can take it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use serde_json::Value;
use support::{Profile, TestServer, NOT_DELIVERED};

fn texts(messages: &[Value]) -> Vec<String> {
    messages
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect()
}

/// `a` and `b` as contacts: `a` writes, `b` replies (which accepts), both read.
fn contacts(a: &Profile, b: &Profile) {
    a.ok(&["send", &b.name, "hello"]);
    b.ok(&["send", &a.name, "hello back"]);
    b.recv();
    a.recv();
}

#[test]
fn a_member_flooding_a_queue_does_not_keep_an_honest_senders_message_out() {
    let server = TestServer::start_with(|c| {
        c.limits.max_queue_per_device = 8;
        c.limits.queue_share_per_sender = 3;
    });
    let alice = server.profile("alice");
    let bob = server.profile("bob");
    let mallory = server.profile("mallory");
    for p in [&alice, &bob, &mallory] {
        p.register();
    }
    contacts(&mallory, &alice);
    contacts(&bob, &alice);

    // Mallory fills alice's queue while she is away, until the server refuses her share.
    let mut refused = None;
    for n in 0..12 {
        let (run, line) = mallory.send("alice", &format!("FLOOD-{n}"));
        if run.code == NOT_DELIVERED {
            assert_eq!(line["undelivered"][0]["reason"], "queue_full", "{line}");
            assert!(run.stderr.contains("queue is full"), "{}", run.stderr);
            refused = Some(n);
            break;
        }
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
    let refused = refused.expect("the flood was never refused");

    // Bob holds nothing in her queue: his message goes in although it is full.
    let (run, line) = bob.send("alice", "BOB-HONEST");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(line["recipients"], 1);
    assert_eq!(line["undelivered"], serde_json::json!([]));

    let got = texts(&alice.recv().0);
    assert!(got.contains(&"BOB-HONEST".to_owned()), "{got:?}");
    let flood = got.iter().filter(|t| t.starts_with("FLOOD-")).count();
    assert_eq!(flood, refused, "what the queue took, each once: {got:?}");
}

#[test]
fn a_message_kept_out_by_a_full_share_stays_in_the_outbox_and_arrives_once_after_the_drain() {
    let server = TestServer::start_with(|c| c.limits.max_queue_per_sender = 3);
    let alice = server.profile("alice");
    let bob = server.profile("bob");
    alice.register();
    bob.register();
    contacts(&bob, &alice);

    for n in 1..=3 {
        let (run, _) = bob.send("alice", &format!("B{n}"));
        assert_eq!(run.code, 0, "B{n}: {}", run.stderr);
    }
    let (run, line) = bob.send("alice", "B4");
    assert_eq!(run.code, NOT_DELIVERED, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(line["recipients"], 0);
    assert_eq!(line["undelivered"][0]["reason"], "sender_share_full");
    assert_eq!(line["undelivered"][0]["username"], "alice");
    assert!(
        run.stderr.contains("not delivered to alice (device dev:"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("outbox"), "{}", run.stderr);
    let waiting = bob.ok(&["outbox"]).json_lines();
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0]["id"], line["id"]);
    assert_eq!(waiting[0]["state"], "partly_delivered");
    assert_eq!(waiting[0]["undelivered"][0]["reason"], "sender_share_full");
    assert_eq!(bob.status("partly delivered"), "1");

    // Alice drains her queue; bob's next send delivers B4 first, then B5; each arrives once.
    assert_eq!(texts(&alice.recv().0), ["B1", "B2", "B3"]);
    let (run, _) = bob.send("alice", "B5");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(bob.ok(&["outbox"]).json_lines().is_empty());
    assert_eq!(texts(&alice.recv().0), ["B4", "B5"]);
    assert!(alice.recv().0.is_empty());

    // Giving up: a message that cannot go is dropped on request, and only then.
    for n in 6..=8 {
        bob.send("alice", &format!("B{n}"));
    }
    let (run, line) = bob.send("alice", "B9");
    assert_eq!(run.code, NOT_DELIVERED, "{}", run.stderr);
    let id = line["id"].as_str().unwrap();
    bob.ok(&["outbox", "drop", id]);
    assert!(bob.ok(&["outbox"]).json_lines().is_empty());
    assert_eq!(bob.run(&["outbox", "drop", id]).code, 6);
    assert_eq!(texts(&alice.recv().0), ["B6", "B7", "B8"]);
    bob.ok(&["recv"]);
    assert!(alice.recv().0.is_empty(), "a dropped message never goes");
}

#[test]
fn a_message_nobody_else_can_read_says_so_instead_of_looking_sent() {
    let server = TestServer::start();
    let alice = server.profile("alice");
    let bob = server.profile("bob");
    alice.register();
    bob.register();
    let created = alice.ok(&["group", "create", "notes", "bob"]).json_lines();
    let group = created[0]["conversation"].as_str().unwrap().to_owned();
    alice.ok(&["group", "remove", &group, "bob"]);

    let (run, line) = alice.send(&group, "to myself");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(line["recipients"], 0);
    assert_eq!(line["undelivered"], serde_json::json!([]));
    assert!(
        run.stderr
            .contains("no other device is in this conversation"),
        "{}",
        run.stderr
    );
    // With bob in it, the same send reaches him and says nothing of the kind.
    let (run, line) = alice.send("bob", "to bob");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(line["recipients"], 1);
    assert!(!run.stderr.contains("no other device"), "{}", run.stderr);
}
