//! Message requests and blocks, end to end: the real server (in-process, loopback, real TLS)
//! and the real `sotto` binary. A stranger's conversation is a request: listed apart, capped by
//! the server at `max_request_envelopes` until accepted (the sender is told, never silently
//! dropped), and stopped by a decline or a block.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use serde_json::Value;
use support::{Profile, TestServer, NOT_DELIVERED};

fn texts(messages: &[Value]) -> Vec<&str> {
    messages
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect()
}

fn conversations(profile: &Profile) -> Vec<String> {
    profile
        .ok(&["group", "list"])
        .json_lines()
        .iter()
        .map(|c| c["conversation"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_strangers_conversation_is_a_request_capped_until_accepted_and_the_sender_is_told() {
    // Four request envelopes: mallory's key distribution and three messages.
    let server = TestServer::start_with(|c| c.limits.max_request_envelopes = 4);
    let alice = server.profile("alice");
    let mallory = server.profile("mallory");
    alice.register();
    mallory.register();

    let mut conversation = String::new();
    for n in 1..=3 {
        let (run, line) = mallory.send("alice", &format!("REQ-{n}"));
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(line["recipients"], 1);
        assert_eq!(line["undelivered"], serde_json::json!([]));
        conversation = line["conversation"].as_str().unwrap().to_owned();
    }
    // The fourth is past the cap: stored, not given to alice, and mallory is told so.
    let (run, line) = mallory.send("alice", "REQ-4");
    assert_eq!(run.code, NOT_DELIVERED, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(line["recipients"], 0);
    assert_eq!(line["undelivered"][0]["reason"], "request_limit");
    assert_eq!(line["undelivered"][0]["username"], "alice");
    assert!(
        run.stderr.contains("not delivered to alice (device dev:")
            && run.stderr.contains("not accepted the conversation yet"),
        "{}",
        run.stderr
    );
    let waiting = mallory.ok(&["outbox"]).json_lines();
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    assert_eq!(waiting[0]["state"], "partly_delivered");
    assert_eq!(waiting[0]["id"], line["id"]);

    // Alice sees a request, apart from her conversations.
    let requests = alice.ok(&["requests"]).json_lines();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(requests[0]["conversation"], conversation.as_str());
    assert_eq!(requests[0]["from_username"], "mallory");
    assert_eq!(requests[0]["members"], 2);
    assert_eq!(requests[0]["queued"], 4);
    assert!(!conversations(&alice).contains(&conversation));
    let (got, _) = alice.recv();
    assert_eq!(texts(&got), ["REQ-1", "REQ-2", "REQ-3"]);
    assert!(got.iter().all(|m| m["request"] == true), "{got:?}");

    // Accepted: the held-back message and the next one flow, each once, no longer as requests.
    alice.ok(&["accept", &conversation]);
    assert!(alice.ok(&["requests"]).json_lines().is_empty());
    assert!(conversations(&alice).contains(&conversation));
    let (run, line) = mallory.send("alice", "REQ-5");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(line["recipients"], 1);
    assert!(mallory.ok(&["outbox"]).json_lines().is_empty());
    let (got, _) = alice.recv();
    assert_eq!(texts(&got), ["REQ-4", "REQ-5"]);
    assert!(got.iter().all(|m| m.get("request").is_none()), "{got:?}");
    assert!(alice.recv().0.is_empty(), "nothing twice");
}

#[test]
fn a_reply_to_a_request_accepts_it_in_the_same_conversation() {
    let server = TestServer::start();
    let alice = server.profile("alice");
    let mallory = server.profile("mallory");
    alice.register();
    mallory.register();

    let (_, line) = mallory.send("alice", "hello from a stranger");
    let conversation = line["conversation"].as_str().unwrap().to_owned();
    // Without reading it first: the reply finds the request rather than starting a 1:1.
    let (run, reply) = alice.send("mallory", "who are you?");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(reply["conversation"], conversation.as_str());
    assert!(alice.ok(&["requests"]).json_lines().is_empty());
    assert_eq!(conversations(&alice), std::slice::from_ref(&conversation));
    assert_eq!(texts(&mallory.recv().0), ["who are you?"]);
    let (got, _) = alice.recv();
    assert_eq!(texts(&got), ["hello from a stranger"]);
}

#[test]
fn declining_and_blocking_stop_a_strangers_messages_and_the_sender_is_told_why() {
    let server = TestServer::start();
    let alice = server.profile("alice");
    let mallory = server.profile("mallory");
    let trudy = server.profile("trudy");
    alice.register();
    mallory.register();
    trudy.register();

    // Declined: mallory's later messages reach none of alice's devices, and mallory knows.
    let (_, line) = mallory.send("alice", "DECLINED-1");
    let declined = line["conversation"].as_str().unwrap().to_owned();
    alice.ok(&["decline", &declined]);
    assert!(alice.ok(&["requests"]).json_lines().is_empty());
    assert!(!conversations(&alice).contains(&declined));
    let (run, line) = mallory.send("alice", "DECLINED-2");
    assert_eq!(run.code, NOT_DELIVERED, "{}", run.stderr);
    assert_eq!(line["undelivered"][0]["reason"], "declined");
    assert!(
        run.stderr.contains("they declined this conversation"),
        "{}",
        run.stderr
    );

    // Blocked: the same for everything trudy posts, and trudy's request is declined.
    let (_, line) = trudy.send("alice", "BLOCKED-1");
    let from_trudy = line["conversation"].as_str().unwrap().to_owned();
    alice.ok(&["block", "trudy"]);
    let blocks = alice.ok(&["blocks"]).json_lines();
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0]["username"], "trudy");
    assert!(blocks[0]["account"].as_str().unwrap().starts_with("acct:"));
    assert!(alice.ok(&["requests"]).json_lines().is_empty());
    let (run, line) = trudy.send(&from_trudy, "BLOCKED-2");
    assert_eq!(run.code, NOT_DELIVERED, "{}", run.stderr);
    assert_eq!(line["undelivered"][0]["reason"], "blocked");
    assert!(run.stderr.contains("they blocked you"), "{}", run.stderr);

    // Nothing of either reached alice after the decline and the block (their queued request
    // copies went with them).
    let (got, _) = alice.recv();
    assert!(
        texts(&got)
            .iter()
            .all(|t| !t.ends_with("-2") && !t.starts_with("BLOCKED")),
        "{got:?}"
    );
    alice.ok(&["unblock", "trudy"]);
    assert!(alice.ok(&["blocks"]).json_lines().is_empty());
}
