//! End to end, with the relay misbehaving: a message that arrives before its key is held (not
//! failed) and shown when the key comes; a key the relay withholds is asked for again from the
//! sender's device; and the errors a person sees for the usual mistakes.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::time::Instant;

use sotto_proto::distribution::KeyDistribution;
use sotto_proto::ids::{DeviceId, MessageId};
use sotto_server::store::{Delivery, NewEnvelope, WriteOp};
use support::TestServer;

/// Removes bob's queued key distributions (as a relay that withholds them) and returns them.
fn withhold_distributions(server: &TestServer, device: DeviceId) -> Vec<Delivery> {
    let store = server.store();
    let queued = server
        .runtime
        .block_on(store.pending(&device, 0, 100))
        .unwrap();
    let kdms: Vec<Delivery> = queued
        .into_iter()
        .filter(|d| KeyDistribution::decode(&d.body).is_ok())
        .collect();
    assert!(!kdms.is_empty(), "a distribution was queued");
    let ack = WriteOp::Ack {
        device,
        messages: kdms.iter().map(|d| d.message).collect(),
    };
    server
        .runtime
        .block_on(store.write_batch(&[ack], 1000))
        .unwrap();
    kdms
}

#[test]
fn messages_before_their_key_are_held_and_missing_keys_are_requested() {
    let started = Instant::now();
    let server = TestServer::start();
    let alice = server.profile("alice");
    let bob = server.profile("bob");
    alice.register();
    bob.register();
    let bob_device: DeviceId = bob.status("device").parse().unwrap();

    // Reordered: the message comes first, its distribution later.
    alice.ok(&["send", "bob", "early bird"]);
    let kdms = withhold_distributions(&server, bob_device);
    let (got, run) = bob.recv();
    assert!(got.is_empty());
    assert!(run.stderr.contains("waiting for its key"), "{}", run.stderr);
    assert_eq!(bob.status("held"), "1");
    let store = server.store();
    let alice_user = server
        .runtime
        .block_on(store.user_by_name("alice"))
        .unwrap()
        .unwrap();
    for (i, kdm) in kdms.iter().enumerate() {
        let late = NewEnvelope {
            message: MessageId::from_bytes([0x70 + i as u8; 16]),
            conversation: kdm.conversation,
            sender_user: alice_user.id,
            sender_account: kdm.sender_account,
            sender_device: kdm.sender_device,
            received_at: kdm.received_at,
            to: Some(bob_device),
            body: kdm.body.clone(),
        };
        server
            .runtime
            .block_on(store.write_batch(&[WriteOp::Enqueue(late)], 1000))
            .unwrap();
    }
    assert_eq!(bob.recv_texts(), vec!["early bird"]);
    assert_eq!(bob.status("held"), "0");

    // Withheld for good: bob asks alice's device to send the key again.
    alice.ok(&["group", "create", "second chat", "bob"]);
    let group = alice
        .ok(&["group", "list"])
        .json_lines()
        .into_iter()
        .find(|c| c["name"] == "second chat")
        .unwrap();
    let group = group["conversation"].as_str().unwrap().to_owned();
    alice.ok(&["send", &group, "you missed the key"]);
    withhold_distributions(&server, bob_device);
    let run = bob.ok(&["recv", "--wait", "4"]);
    assert!(run.json_lines().is_empty());
    assert!(
        run.stderr.contains("asked the sender to resend"),
        "{}",
        run.stderr
    );
    alice.ok(&["recv"]);
    assert_eq!(bob.recv_texts(), vec!["you missed the key"]);
    assert_eq!(bob.status("held"), "0");
    assert_eq!(bob.status("undecryptable"), "0");

    // The server is unreachable while alice sends: the message waits in her outbox and goes
    // out with her next command.
    let run = alice
        .command_at("https://127.0.0.1:9", &["send", &group, "from the outbox"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(4));
    assert_eq!(alice.status("outbox"), "1");
    alice.ok(&["recv"]);
    assert_eq!(alice.status("outbox"), "0");
    assert_eq!(bob.recv_texts(), vec!["from the outbox"]);
    eprintln!("held scenario: {:?}", started.elapsed());
}

#[test]
fn errors_say_what_went_wrong_with_distinct_exit_codes() {
    let server = TestServer::start();
    let alice = server.profile("alice");
    alice.register();

    // Wrong profile passphrase.
    let run = alice
        .command(&["status"])
        .env("SOTTO_PASSPHRASE", "not it")
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&run.stderr).contains("wrong passphrase"));

    // Wrong password on a new device.
    let other = server.profile("alice");
    let run = other
        .command(&["--tls-pin", &server.pin, "login", "alice"])
        .env("SOTTO_PASSWORD", "wrong password!")
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&run.stderr).contains("wrong username or password"));

    // A certificate that does not match the pin, and no pin at all.
    let stranger = server.profile("mallory");
    let wrong_pin = format!("{}00", &server.pin[..server.pin.len() - 2]);
    let run = stranger.run(&["--tls-pin", &wrong_pin, "register", "mallory"]);
    assert_eq!(run.code, 5, "{}", run.stderr);
    assert!(run.stderr.contains("does not match the pinned fingerprint"));
    let nopin = server.profile("mallory");
    let run = nopin.run(&["register", "mallory"]);
    assert_eq!(run.code, 5, "{}", run.stderr);
    assert!(run.stderr.contains("--tls-pin"), "{}", run.stderr);

    // Unreachable server.
    let run = alice
        .command_at("https://127.0.0.1:9", &["group", "list"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("cannot reach the server"), "{stderr}");

    // Unknown user and unknown conversation.
    let run = alice.run(&["send", "nobody-here", "hello"]);
    assert_eq!(run.code, 6, "{}", run.stderr);
    let run = alice.run(&["send", "conv:00000000000000000000000000000000", "hello"]);
    assert_eq!(run.code, 6, "{}", run.stderr);
}
