//! End to end, a team's daily chat: replies, mentions, edits, deletes, reactions and search
//! (protocol §8.4–§8.6), and group rename, leave, admins and removal (§6.3), between three
//! people on the real server (in-process, real TLS) with the real `sotto` binary.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use serde_json::Value;
use sotto_client::{Client, ProfileOptions};
use support::{Profile, TestServer};
use zeroize::Zeroizing;

/// The `id` of the JSON line a send-like command printed.
fn sent_id(profile: &Profile, args: &[&str]) -> String {
    let run = profile.ok(args);
    run.json_lines()[0]["id"].as_str().unwrap().to_owned()
}

/// The lines of a `recv`, and its stderr.
fn recv(profile: &Profile) -> (Vec<Value>, String) {
    let (lines, run) = profile.recv();
    (lines, run.stderr)
}

/// The stored message `id` as `history` prints it.
fn stored(profile: &Profile, conversation: &str, id: &str) -> Value {
    let lines = profile.ok(&["history", conversation]).json_lines();
    lines
        .into_iter()
        .find(|m| m["id"] == id)
        .unwrap_or_else(|| panic!("{} holds no {id}", profile.name))
}

/// Three registered people and a group of them created by alice.
fn team(server: &TestServer) -> (Profile, Profile, Profile, String) {
    let alice = server.profile("alice");
    let bob = server.profile("bob");
    let carol = server.profile("carol");
    alice.register();
    bob.register();
    carol.register();
    let created = alice.ok(&["group", "create", "team", "bob", "carol"]);
    let group = created.json_lines()[0]["conversation"]
        .as_str()
        .unwrap()
        .to_owned();
    (alice, bob, carol, group)
}

/// Sends an edit of alice's message from bob's profile through the client library, skipping the
/// author check the `sotto` command makes: what a modified client could send.
fn forge_edit(server: &TestServer, bob: &Profile, group: &str, target: &str, text: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut client = Client::open(ProfileOptions {
            dir: bob.path(),
            passphrase: Zeroizing::new(format!("passphrase of {}", bob.name)),
            server: Some(server.url.clone()),
            tls_pin: None,
        })
        .unwrap();
        client
            .danger_send_unchecked_edit(group.parse().unwrap(), target.parse().unwrap(), text)
            .await
            .unwrap();
    });
}

#[test]
fn replies_mentions_edits_deletes_reactions_and_search_and_a_forged_edit_is_refused() {
    let server = TestServer::start();
    let (alice, bob, carol, group) = team(&server);

    // A message, and a reply to it that mentions its author.
    let a1 = sent_id(&alice, &["send", &group, "MARKER lunch at noon?"]);
    let (got, _) = recv(&bob);
    assert!(got.iter().any(|m| m["id"] == a1.as_str()), "{got:?}");
    let b1 = sent_id(
        &bob,
        &["send", &group, "@alice works for me", "--reply-to", &a1],
    );
    let (got, _) = recv(&alice);
    let reply = got.iter().find(|m| m["id"] == b1.as_str()).unwrap();
    assert_eq!(reply["reply_to"], a1.as_str());
    assert_eq!(reply["mentions"], serde_json::json!(["alice"]));
    assert_eq!(reply["text"], "@alice works for me");
    let (got, _) = recv(&carol);
    let plain = got.iter().find(|m| m["id"] == a1.as_str()).unwrap();
    assert!(plain.get("reply_to").is_none() && plain.get("mentions").is_none());
    let seen = got.iter().find(|m| m["id"] == b1.as_str()).unwrap();
    assert_eq!(seen["reply_to"], a1.as_str());
    assert_eq!(seen["mentions"], serde_json::json!(["alice"]));

    // Alice edits her message: bob sees the edit, the stored message shows the new text.
    let edit = sent_id(&alice, &["edit", &a1, "MARKER lunch at one?"]);
    let (got, _) = recv(&bob);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["id"], edit.as_str());
    assert_eq!(got[0]["edit_of"], a1.as_str());
    assert_eq!(got[0]["text"], "MARKER lunch at one?");
    assert_eq!(got[0]["from"], "alice");
    let on_bob = stored(&bob, &group, &a1);
    assert_eq!(on_bob["text"], "MARKER lunch at one?");
    assert_eq!(on_bob["edited"], true);
    assert_eq!(on_bob["edits"][0]["text"], "MARKER lunch at noon?");

    // Bob's own command refuses to edit alice's message before anything is sent.
    let refused = bob.run(&["edit", &a1, "not mine"]);
    assert_ne!(refused.code, 0);
    assert!(
        refused
            .stderr
            .contains("you can only edit your own messages"),
        "{}",
        refused.stderr
    );
    assert!(refused.stdout.trim().is_empty(), "{}", refused.stdout);

    // A forged edit from a modified client is refused by alice and by carol.
    forge_edit(&server, &bob, &group, &a1, "MARKER forged by bob");
    for reader in [&alice, &carol] {
        let (got, stderr) = recv(reader);
        assert!(
            got.iter()
                .all(|m| m.get("edit_of").is_none() || m["from"] != "bob"),
            "{} showed the forged edit: {got:?}",
            reader.name
        );
        assert!(stderr.contains("message/not-author"), "{stderr}");
        let message = stored(reader, &group, &a1);
        assert_eq!(message["text"], "MARKER lunch at one?", "{}", reader.name);
        assert_eq!(reader.status("undecryptable"), "1", "{}", reader.name);
    }
    // Carol had not received alice's edit yet: it came in the same receive.
    assert_eq!(bob.status("undecryptable"), "0");

    // Reactions: added by two, one taken back; the latest of each decides.
    sent_id(&bob, &["react", &a1, "👍"]);
    sent_id(&carol, &["react", &a1, "🎉"]);
    sent_id(&bob, &["react", &a1, "👍", "--remove"]);
    let (got, _) = recv(&alice);
    let reactions: Vec<(&str, &str, bool)> = got
        .iter()
        .filter_map(|m| {
            let r = m.get("reaction")?;
            assert_eq!(r["message"], a1.as_str());
            Some((
                m["from"].as_str()?,
                r["emoji"].as_str()?,
                r["added"].as_bool()?,
            ))
        })
        .collect();
    assert_eq!(reactions.len(), 3, "{got:?}");
    assert!(reactions.contains(&("bob", "👍", true)));
    assert!(reactions.contains(&("carol", "🎉", true)));
    assert!(reactions.contains(&("bob", "👍", false)));
    let message = stored(&alice, &group, &a1);
    assert_eq!(
        message["reactions"],
        serde_json::json!([{ "emoji": "🎉", "usernames": ["carol"] }])
    );

    // A mention of carol reaches her as one.
    let a2 = sent_id(&alice, &["send", &group, "@carol can you book it?"]);
    let (got, _) = recv(&carol);
    let mention = got.iter().find(|m| m["id"] == a2.as_str()).unwrap();
    assert_eq!(mention["mentions"], serde_json::json!(["carol"]));
    assert!(mention.get("reply_to").is_none());

    // A message deleted by its author: gone for bob, text and all, and from alice's own copy.
    let a3 = sent_id(&alice, &["send", &group, "MARKER secret plan"]);
    sent_id(&alice, &["delete", &a3]);
    let (got, _) = recv(&bob);
    assert!(got.iter().any(|m| m["id"] == a3.as_str()), "{got:?}");
    let deleted = got.iter().find(|m| m.get("deleted").is_some()).unwrap();
    assert_eq!(deleted["deleted"], a3.as_str());
    assert_eq!(deleted["from"], "alice");
    for reader in [&alice, &bob] {
        let gone = stored(reader, &group, &a3);
        assert_eq!(gone["deleted"], a3.as_str());
        assert_eq!(gone["text"], "");
    }
    let refused = bob.run(&["delete", &a1]);
    assert!(
        refused
            .stderr
            .contains("you can only delete your own messages"),
        "{}",
        refused.stderr
    );

    // A text over the 64 KiB body limit is refused before anything is queued or sealed: no
    // recipient ever sees a gap for it.
    let long = "x".repeat(70_000);
    let too_long = alice.run(&["send", &group, &long]);
    assert_eq!(too_long.code, 2, "{}", too_long.stderr);
    assert!(too_long.stderr.contains("64 KiB"), "{}", too_long.stderr);
    assert!(too_long.stdout.trim().is_empty(), "{}", too_long.stdout);
    assert_eq!(alice.ok(&["outbox"]).stdout.trim(), "");
    let (_, stderr) = recv(&bob);
    assert!(!stderr.contains("missing"), "{stderr}");

    // Search finds the edited text, not the replaced one, and never the deleted message.
    for reader in [&alice, &bob] {
        let hits = reader.ok(&["search", "LUNCH at", "--json"]).json_lines();
        assert_eq!(hits.len(), 1, "{}: {hits:?}", reader.name);
        assert_eq!(hits[0]["id"], a1.as_str());
        assert_eq!(hits[0]["text"], "MARKER lunch at one?");
        assert_eq!(hits[0]["edited"], true);
        assert!(reader.ok(&["search", "noon"]).stdout.trim().is_empty());
        assert!(reader
            .ok(&["search", "secret plan"])
            .stdout
            .trim()
            .is_empty());
    }
    let readable = alice.ok(&["search", "works", "--conversation", &group]);
    assert!(readable.stdout.contains(&b1), "{}", readable.stdout);
    assert!(readable.stdout.contains("bob: @alice works for me"));
}

#[test]
fn group_rename_admins_leave_and_the_removed_member_is_told_and_cannot_send() {
    let server = TestServer::start();
    let (alice, bob, carol, group) = team(&server);
    // Not contacts of alice yet: the group is a request until they accept it.
    for member in [&bob, &carol] {
        member.ok(&["accept", &group]);
        recv(member);
    }

    // Rename: the members get the new name.
    alice.ok(&["group", "rename", &group, "team two"]);
    recv(&bob);
    recv(&carol);
    let listed = bob.ok(&["group", "list"]).json_lines();
    let entry = listed
        .iter()
        .find(|c| c["conversation"] == group.as_str())
        .unwrap();
    assert_eq!(entry["name"], "team two");

    // Promote and demote.
    let admin = |who: &Profile, username: &str| -> bool {
        who.ok(&["group", "members", &group])
            .json_lines()
            .iter()
            .find(|m| m["username"] == username)
            .unwrap()["admin"]
            .as_bool()
            .unwrap()
    };
    alice.ok(&["group", "admin", &group, "bob"]);
    assert!(admin(&carol, "bob"));
    alice.ok(&["group", "admin", &group, "bob", "--revoke"]);
    assert!(!admin(&carol, "bob"));
    let not_admin = carol.run(&["group", "admin", &group, "carol"]);
    assert_ne!(
        not_admin.code, 0,
        "a member who is not admin cannot promote"
    );

    // The only admin cannot leave without naming a new one.
    let refused = alice.run(&["group", "leave", &group]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains("bob"), "{}", refused.stderr);
    assert!(refused.stderr.contains("carol"), "{}", refused.stderr);
    assert!(refused.stderr.contains("--admin"), "{}", refused.stderr);
    assert_eq!(
        alice.ok(&["group", "members", &group]).json_lines().len(),
        3
    );

    // Carol is removed while connected: the server's conversation frame makes her client fetch
    // the log, verify the removal and say who did it. Then she cannot send there.
    let listening = carol
        .command(&["recv", "--wait", "8"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(3));
    alice.ok(&["group", "remove", &group, "carol"]);
    let told = listening.wait_with_output().unwrap();
    assert!(told.status.success());
    let told = String::from_utf8_lossy(&told.stderr);
    assert!(
        told.contains("you were removed from team two") && told.contains("by alice"),
        "{told}"
    );
    let run = carol.run(&["send", &group, "MARKER after removal"]);
    assert_eq!(run.code, 6, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("you were removed from team two by alice"),
        "{}",
        run.stderr
    );
    let (got, _) = recv(&bob);
    assert!(got.iter().all(|m| m["text"] != "MARKER after removal"));
    assert_eq!(carol.ok(&["outbox"]).stdout.trim(), "", "nothing queued");

    // Alice leaves, handing the admin right to bob first.
    alice.ok(&["send", &group, "MARKER before leaving"]);
    alice.ok(&["group", "leave", &group, "--admin", "bob"]);
    let members = bob.ok(&["group", "members", &group]).json_lines();
    assert_eq!(members.len(), 1, "{members:?}");
    assert_eq!(members[0]["username"], "bob");
    assert_eq!(members[0]["admin"], true);
    let left = alice.run(&["send", &group, "MARKER after leaving"]);
    assert_eq!(left.code, 6, "{}", left.stderr);
    assert!(left.stderr.contains("you left team two"), "{}", left.stderr);
    // What alice held stays readable.
    let kept = alice
        .ok(&["search", "before leaving", "--json"])
        .json_lines();
    assert_eq!(kept.len(), 1, "{kept:?}");
}

#[test]
fn a_file_over_the_servers_attachment_limit_is_refused_before_it_is_uploaded() {
    let server = TestServer::start_with(|c| c.limits.max_attachment = 4096);
    let alice = server.profile("alice");
    let bob = server.profile("bob");
    alice.register();
    bob.register();
    alice.ok(&["send", "bob", "hello"]);
    let file = alice.path().join("big.bin");
    std::fs::write(&file, vec![7u8; 8 * 1024]).unwrap();
    let refused = alice.run(&["send", "bob", "--file", file.to_str().unwrap(), "caption"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("the file (8 KB) is larger than this server's attachment limit (4 KB)"),
        "{}",
        refused.stderr
    );
    assert_eq!(alice.ok(&["outbox"]).stdout.trim(), "");
    let small = alice.path().join("small.bin");
    std::fs::write(&small, vec![7u8; 1024]).unwrap();
    alice.ok(&["send", "bob", "--file", small.to_str().unwrap(), "fits"]);
    let texts = bob.recv_texts();
    assert_eq!(texts, ["hello", "fits"]);
}
