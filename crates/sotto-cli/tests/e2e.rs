//! End to end: the real server (in-process, loopback, real TLS with a pinned self-signed
//! certificate) and the real `sotto` binary on temporary profiles.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::time::Instant;

use sotto_proto::ids::{DeviceId, MessageId};
use sotto_server::store::{NewEnvelope, WriteOp};
use support::{contains, TestServer};

#[test]
fn direct_messages_verification_attachment_replay_and_no_plaintext_on_the_server() {
    let started = Instant::now();
    let server = TestServer::start();
    let alice = server.profile("alice");
    let bob = server.profile("bob");
    alice.register();
    bob.register();

    // Safety numbers: equal on both sides; bob confirms.
    let on_alice = alice.safety_number("bob", &[]);
    let on_bob = bob.safety_number("alice", &["--confirm"]);
    assert_eq!(on_alice.split(' ').count(), 12, "{on_alice}");
    assert_eq!(on_alice, on_bob);
    assert!(bob
        .ok(&["verify", "alice"])
        .stdout
        .contains("Status: verified"));

    // 1:1 both ways (the pin was given once, at register, and is remembered).
    let sent = alice.ok(&["send", "bob", "MARKER-A1 privileged and confidential"]);
    let conversation = sent.json_lines()[0]["conversation"]
        .as_str()
        .unwrap()
        .to_owned();
    let (got, _) = bob.recv();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["text"], "MARKER-A1 privileged and confidential");
    assert_eq!(got[0]["from"], "alice");
    assert_eq!(got[0]["conversation"], conversation.as_str());
    for key in ["id", "device", "sent_at"] {
        assert!(!got[0][key].is_null(), "{key} missing: {}", got[0]);
    }
    let reply = bob.ok(&["send", "alice", "MARKER-B1 received, thanks"]);
    assert_eq!(
        reply.json_lines()[0]["conversation"],
        conversation.as_str(),
        "one 1:1 conversation"
    );
    assert_eq!(alice.recv_texts(), vec!["MARKER-B1 received, thanks"]);

    // Online recipient: bob is connected and gets alice's message as it is sent.
    let listening = bob
        .command(&["recv", "--wait", "6"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(2));
    alice.ok(&["send", "bob", "MARKER-A0 live"]);
    let output = listening.wait_with_output().unwrap();
    assert!(output.status.success());
    let live = String::from_utf8_lossy(&output.stdout);
    assert!(live.contains("MARKER-A0 live"), "{live}");

    // Offline recipient: two messages while bob is away, both on reconnect, in order.
    let a2 = alice.ok(&["send", "bob", "MARKER-A2 while you were away"]);
    let a2_id: MessageId = a2.json_lines()[0]["id"].as_str().unwrap().parse().unwrap();
    alice.ok(&["send", &conversation, "MARKER-A3 second one"]);
    let bob_device: DeviceId = bob.status("device").parse().unwrap();
    let store = server.store();
    let queued = server
        .runtime
        .block_on(store.pending(&bob_device, 0, 100))
        .unwrap();
    let captured = queued
        .iter()
        .find(|d| d.message == a2_id)
        .expect("A2 is queued for bob")
        .clone();
    assert_eq!(
        bob.recv_texts(),
        vec!["MARKER-A2 while you were away", "MARKER-A3 second one"]
    );
    assert!(
        bob.recv().0.is_empty(),
        "acknowledged messages are not delivered again"
    );

    // A malicious relay replays A2 under a fresh relay id: it is not shown twice.
    let alice_user = server
        .runtime
        .block_on(store.user_by_name("alice"))
        .unwrap()
        .unwrap();
    let replay = NewEnvelope {
        message: MessageId::from_bytes([0x5a; 16]),
        conversation: captured.conversation,
        sender_user: alice_user.id,
        sender_account: captured.sender_account,
        sender_device: captured.sender_device,
        received_at: captured.received_at,
        to: Some(bob_device),
        body: captured.body.clone(),
    };
    server
        .runtime
        .block_on(store.write_batch(&[WriteOp::Enqueue(replay)], 1000))
        .unwrap();
    let (got, run) = bob.recv();
    assert!(got.is_empty(), "replay shown: {got:?}");
    assert!(run.stderr.contains("replay"), "{}", run.stderr);

    // Attachment round trip with identical bytes.
    let file = alice.path().join("evidence.bin");
    let mut bytes = b"MARKER-FILE ".repeat(1000);
    bytes.extend((0..150_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    std::fs::write(&file, &bytes).unwrap();
    alice.ok(&[
        "send",
        "bob",
        "--file",
        file.to_str().unwrap(),
        "MARKER-CAPTION exhibit A",
    ]);
    let downloads = bob.path().join("downloads");
    let run = bob.ok(&["recv", "--download-dir", downloads.to_str().unwrap()]);
    let got = run.json_lines();
    assert_eq!(got.len(), 1, "{}", run.stderr);
    assert_eq!(got[0]["text"], "MARKER-CAPTION exhibit A");
    assert_eq!(got[0]["attachment"]["name"], "evidence.bin");
    assert_eq!(got[0]["attachment"]["size"], bytes.len());
    let path = got[0]["attachment"]["path"].as_str().unwrap();
    assert_eq!(std::fs::read(path).unwrap(), bytes);

    // Nothing was lost or undecryptable.
    assert_eq!(bob.status("undecryptable"), "0");
    assert_eq!(alice.status("undecryptable"), "0");

    // The server's files hold none of the plaintexts; the profiles hold none either.
    let data = server.data_bytes();
    assert!(data.len() > 10_000, "the database is there");
    for marker in [
        "MARKER-A1",
        "MARKER-A2",
        "MARKER-A3",
        "MARKER-B1",
        "MARKER-FILE",
        "MARKER-CAPTION",
    ] {
        assert!(
            !contains(&data, marker.as_bytes()),
            "{marker} in the server's data"
        );
        for profile in [&alice, &bob] {
            let state = std::fs::read(profile.path().join("state.sotto")).unwrap();
            assert!(
                !contains(&state, marker.as_bytes()),
                "{marker} in a profile"
            );
        }
    }
    eprintln!("direct scenario: {:?}", started.elapsed());
}

#[test]
fn groups_with_add_and_remove_and_a_second_device() {
    let started = Instant::now();
    // Access tokens that are always about to expire: every command renews its session.
    let server = TestServer::start_with(|c| c.limits.access_token_secs = 5);
    let alice = server.profile("alice");
    let bob = server.profile("bob");
    let carol = server.profile("carol");
    alice.register();
    bob.register();
    carol.register();

    // A group of two grows to three.
    let created = alice.ok(&["group", "create", "Case 2026-114", "bob"]);
    let group = created.json_lines()[0]["conversation"]
        .as_str()
        .unwrap()
        .to_owned();
    alice.ok(&["group", "add", &group, "carol"]);
    let members = alice.ok(&["group", "members", &group]).json_lines();
    assert_eq!(members.len(), 3);
    alice.ok(&["send", &group, "MARKER-G1 to all three"]);
    assert_eq!(bob.recv_texts(), vec!["MARKER-G1 to all three"]);
    assert_eq!(carol.recv_texts(), vec!["MARKER-G1 to all three"]);
    carol.ok(&["send", &group, "MARKER-G2 carol speaking"]);
    assert_eq!(alice.recv_texts(), vec!["MARKER-G2 carol speaking"]);
    assert_eq!(bob.recv_texts(), vec!["MARKER-G2 carol speaking"]);

    // Carol is removed: she reads nothing sent afterwards, by anyone.
    alice.ok(&["group", "remove", &group, "carol"]);
    alice.ok(&["send", &group, "MARKER-G3 after removal"]);
    bob.ok(&["send", &group, "MARKER-G4 bob after removal"]);
    let (got, _) = carol.recv();
    assert!(got.is_empty(), "removed member read: {got:?}");
    assert_eq!(bob.recv_texts(), vec!["MARKER-G3 after removal"]);
    assert_eq!(alice.recv_texts(), vec!["MARKER-G4 bob after removal"]);
    let not_member = carol.run(&["group", "members", &group]);
    assert_eq!(not_member.code, 6, "{}", not_member.stderr);
    let lists = carol.ok(&["group", "list"]).json_lines();
    assert!(lists.iter().all(|c| c["conversation"] != group.as_str()));

    // A second device of alice's, approved from the first one, receives.
    let laptop = server.profile("alice");
    let (mut login, code) = laptop.start_login();
    let pending = alice.ok(&["devices", "list"]).json_lines();
    assert!(pending
        .iter()
        .any(|d| d["state"] == "pending" && d["code"] == code.as_str()));
    alice.ok(&["devices", "approve", &code]);
    let status = login.wait().unwrap();
    assert!(status.success(), "login did not finish");
    assert_eq!(laptop.status("device state"), "active");
    bob.ok(&["send", &group, "MARKER-G5 for both of alice's devices"]);
    assert_eq!(
        laptop.recv_texts(),
        vec!["MARKER-G5 for both of alice's devices"]
    );
    assert_eq!(
        alice.recv_texts(),
        vec!["MARKER-G5 for both of alice's devices"]
    );
    laptop.ok(&["send", &group, "MARKER-G6 from the laptop"]);
    let got = alice.recv().0;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["from"], "alice");
    assert_eq!(got[0]["text"], "MARKER-G6 from the laptop");
    assert_eq!(bob.recv_texts(), vec!["MARKER-G6 from the laptop"]);

    for profile in [&alice, &bob, &laptop] {
        assert_eq!(profile.status("undecryptable"), "0");
    }

    // The laptop is revoked: its session ends and it gets nothing more.
    let laptop_device = laptop.status("device");
    alice.ok(&["devices", "revoke", &laptop_device]);
    let devices = alice.ok(&["devices", "list"]).json_lines();
    assert!(devices
        .iter()
        .any(|d| d["device"] == laptop_device.as_str() && d["state"] == "revoked"));
    let run = laptop.run(&["recv"]);
    assert_eq!(run.code, 9, "{}", run.stderr);
    bob.ok(&["send", &group, "MARKER-G7 after the revocation"]);
    assert_eq!(alice.recv_texts(), vec!["MARKER-G7 after the revocation"]);
    let data = server.data_bytes();
    for marker in [
        "MARKER-G1",
        "MARKER-G2",
        "MARKER-G3",
        "MARKER-G4",
        "MARKER-G5",
        "MARKER-G6",
    ] {
        assert!(
            !contains(&data, marker.as_bytes()),
            "{marker} in the server's data"
        );
    }
    eprintln!("group scenario: {:?}", started.elapsed());
}
