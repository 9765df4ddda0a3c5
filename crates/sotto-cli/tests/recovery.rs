//! "A lost laptop loses nothing": recovery set up, the profile folder deleted, the account
//! recovered on a fresh profile from the key backup with the recovery key, its history read back
//! from the server's archive, the old device revoked, and messaging going on with the same
//! identity (protocol §14–§17). The real server over TLS and the real `sotto` binary.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use serde_json::Value;
use support::{Profile, TestServer};

/// The texts of `sotto history <target>`, oldest first.
fn history(profile: &Profile, target: &str) -> Vec<String> {
    profile
        .ok(&["history", target])
        .json_lines()
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect()
}

/// `sotto recover alice` on `profile` with the recovery key `key`.
fn recover(profile: &Profile, key: &str, extra: &[&str]) -> support::Run {
    let mut args = vec!["--tls-pin", profile.pin.as_str(), "recover", "alice"];
    args.extend_from_slice(extra);
    profile.run_env(&args, &[("SOTTO_RECOVERY_KEY", key)])
}

#[test]
fn a_lost_laptop_loses_nothing_history_identity_and_messaging_come_back_with_the_recovery_key() {
    let server = TestServer::start();
    let alice = server.profile("alice");
    let bob = server.profile("bob");
    let carol = server.profile("carol");
    for p in [&alice, &bob, &carol] {
        p.register();
    }

    // The key is printed once, on stdout, as 12 groups of 4; the warning goes to stderr.
    let setup = alice.ok(&["recovery", "setup"]);
    let key = setup.stdout.trim().to_owned();
    let groups: Vec<&str> = key.split('-').collect();
    assert_eq!(groups.len(), 12, "{key}");
    assert!(groups.iter().all(|g| g.len() == 4), "{key}");
    assert!(
        setup.stderr.contains("WRITE THIS RECOVERY KEY DOWN"),
        "{}",
        setup.stderr
    );
    let before = bob.safety_number("alice", &[]);

    // Twenty messages in the 1:1, both ways.
    let mut direct = Vec::new();
    for i in 0..10 {
        let a = format!("direct {i} from alice");
        alice.ok(&["send", "bob", &a]);
        direct.push(a);
        assert_eq!(bob.recv_texts().len(), 1);
        let b = format!("direct {i} from bob");
        bob.ok(&["send", "alice", &b]);
        direct.push(b);
        assert_eq!(alice.recv_texts().len(), 1);
    }
    // Ten in a group with carol.
    let created = alice.ok(&["group", "create", "trip", "bob", "carol"]);
    let group = created.json_lines()[0]["conversation"]
        .as_str()
        .unwrap()
        .to_owned();
    bob.recv();
    carol.recv();
    let mut grouped = Vec::new();
    for i in 0..10 {
        let (who, text) = match i % 3 {
            0 => (&alice, format!("group {i} from alice")),
            1 => (&bob, format!("group {i} from bob")),
            _ => (&carol, format!("group {i} from carol")),
        };
        who.ok(&["send", &group, &text]);
        grouped.push(text);
        for p in [&alice, &bob, &carol] {
            p.recv();
        }
    }
    // Everything alice's device learned is in the backup.
    let status: Value = alice.ok(&["recovery", "status"]).json_lines()[0].clone();
    assert_eq!(status["configured"], true);
    assert_eq!(status["method"], "key");
    assert_eq!(status["pending"], 0, "{status}");
    assert!(status["items"].as_u64().unwrap() >= 2, "{status}");
    let old_device = alice.status("device");

    // The laptop is lost: a fresh profile folder.
    drop(alice);
    let alice = server.profile("alice");

    // A typo is caught by the checksum before anything is sent.
    let mut typo: Vec<char> = key.chars().collect();
    typo[0] = if typo[0] == 'A' { 'B' } else { 'A' };
    let typo: String = typo.into_iter().collect();
    let refused = recover(&alice, &typo, &[]);
    assert_eq!(refused.code, 11, "{}", refused.stderr);
    assert!(refused.stderr.contains("typo"), "{}", refused.stderr);
    // A well-formed key that is not the account's is refused by the server; nothing changes
    // here.
    let wrong = sotto_proto::recovery::RecoveryKey::from_secret(&[7; 28]).to_text();
    let refused = recover(&alice, &wrong, &[]);
    assert_eq!(refused.code, 11, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("does not unlock"),
        "{}",
        refused.stderr
    );
    assert_eq!(alice.status("user"), "(none)");

    // The right key: the account, its master key and its history are back.
    let recovered = recover(&alice, &key, &["--revoke-others"]);
    assert_eq!(
        recovered.code, 0,
        "{}\n{}",
        recovered.stdout, recovered.stderr
    );
    assert_eq!(alice.status("master key on this device"), "true");
    assert_eq!(history(&alice, "bob"), direct);
    assert_eq!(history(&alice, &group), grouped);

    // The old device is revoked; the identity is the same, so bob's safety number is too.
    let devices = alice.ok(&["devices", "list"]).json_lines();
    let old = devices
        .iter()
        .find(|d| d["device"] == old_device.as_str())
        .unwrap();
    assert_eq!(old["state"], "revoked");
    assert_eq!(bob.safety_number("alice", &[]), before);

    // Messaging goes on both ways, with no note of messages missing: what was sent before the
    // recovery is the archive's.
    alice.ok(&["send", "bob", "back again"]);
    assert_eq!(bob.recv_texts(), vec!["back again"]);
    bob.ok(&["send", "alice", "welcome back"]);
    assert_eq!(alice.recv_texts_without_gap(), vec!["welcome back"]);
    carol.ok(&["send", &group, "hi all"]);
    assert_eq!(alice.recv_texts_without_gap(), vec!["hi all"]);

    // The recovered device writes to the backup from now on.
    let status: Value = alice.ok(&["recovery", "status"]).json_lines()[0].clone();
    assert_eq!(status["pending"], 0, "{status}");
}
