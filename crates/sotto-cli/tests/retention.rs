//! Retention (protocol §6.7): a conversation set to keep messages for 60 seconds loses them —
//! on the server (archive and attachments, purged on the server's clock) and on every member's
//! device (messages, saved attachments) — once that has passed, while a conversation kept for
//! good keeps them. The real server over TLS and the real `sotto` binary; the wait is the
//! protocol's real one-minute minimum.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::time::Duration;

use sotto_server::store::HistoryWindow;
use support::{Profile, TestServer};

fn history(profile: &Profile, target: &str) -> Vec<String> {
    profile
        .ok(&["history", target])
        .json_lines()
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_conversation_kept_sixty_seconds_is_purged_everywhere_and_one_kept_for_good_is_not() {
    let server = TestServer::start_with(|config| config.history.purge_interval_secs = 1);
    let alice = server.profile("alice");
    let bob = server.profile("bob");
    alice.register();
    bob.register();

    let sent = alice.ok(&["send", "bob", "kept for good"]);
    let direct = sent.json_lines()[0]["conversation"]
        .as_str()
        .unwrap()
        .to_owned();
    let created = alice.ok(&["group", "create", "ephemeral", "bob"]);
    let group = created.json_lines()[0]["conversation"]
        .as_str()
        .unwrap()
        .to_owned();
    // Under a minute is not a retention the protocol allows.
    assert_eq!(alice.run(&["group", "retention", &group, "30s"]).code, 2);
    let set = alice.ok(&["group", "retention", &group, "60s"]);
    assert_eq!(set.json_lines()[0]["retention"], "1m");

    alice.ok(&["send", &group, "gone in a minute"]);
    let file = alice.path().join("note.txt");
    std::fs::write(&file, b"an attachment that goes too").unwrap();
    alice.ok(&[
        "send",
        &group,
        "--file",
        file.to_str().unwrap(),
        "with a file",
    ]);
    let (got, _) = bob.recv();
    let texts: Vec<&str> = got.iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(
        texts,
        vec!["kept for good", "gone in a minute", "with a file"]
    );
    let saved = got[2]["attachment"]["path"].as_str().unwrap().to_owned();
    assert!(std::path::Path::new(&saved).exists());
    // Bob takes both conversations (they came as requests from someone new).
    bob.ok(&["accept", &direct]);
    bob.ok(&["accept", &group]);

    // Both members are shown the retention.
    for p in [&alice, &bob] {
        let list = p.ok(&["group", "list"]).json_lines();
        let shown = |id: &str| {
            list.iter()
                .find(|c| c["conversation"] == id)
                .map(|c| c["retention"].clone())
                .unwrap()
        };
        assert_eq!(shown(&group), "1m");
        assert_eq!(shown(&direct), "forever");
    }
    assert_eq!(
        history(&bob, &group),
        vec!["gone in a minute", "with a file"]
    );

    let archived = |conversation: &str| {
        let window = HistoryWindow {
            from: 0,
            before: None,
            limit: 100,
        };
        server
            .runtime
            .block_on(
                server
                    .store()
                    .history(&conversation.parse().unwrap(), &window),
            )
            .unwrap()
            .len()
    };
    assert!(archived(&group) >= 2);

    // Past the minute (and a purge run of the server's).
    std::thread::sleep(Duration::from_secs(63));
    // The server purged its archive of the conversation, not of the one kept for good.
    assert_eq!(archived(&group), 0);
    assert!(archived(&direct) >= 1);
    bob.recv();
    assert!(history(&bob, &group).is_empty());
    assert!(history(&alice, &group).is_empty());
    assert!(
        !std::path::Path::new(&saved).exists(),
        "the saved attachment outlived the retention"
    );
    assert_eq!(history(&bob, "alice"), vec!["kept for good"]);
    assert_eq!(history(&alice, "bob"), vec!["kept for good"]);

    // A device of bob's added now gets nothing of it, even with every key handed over.
    let laptop = server.profile("bob");
    let (child, code) = laptop.start_login();
    bob.ok(&["devices", "approve", &code]);
    assert!(child.wait_with_output().unwrap().status.success());
    laptop.recv();
    assert!(history(&laptop, &group).is_empty());
    assert_eq!(history(&laptop, "alice"), vec!["kept for good"]);
}
