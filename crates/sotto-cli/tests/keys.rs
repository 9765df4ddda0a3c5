//! `sotto keys status` and `sotto keys rekey` end to end: the real server and the real binary.
//! Messages between two version-2 profiles use one of the recipient's one-time prekeys each
//! new chain, and keep flowing after a re-key.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use serde_json::Value;
use support::TestServer;

fn keys_status(profile: &support::Profile) -> Value {
    let run = profile.ok(&["keys", "status"]);
    let lines = run.json_lines();
    assert_eq!(lines.len(), 1, "{}", run.stdout);
    lines[0].clone()
}

#[test]
fn keys_status_counts_the_prekeys_a_new_chain_uses_and_a_rekey_renews_them_all() {
    let server = TestServer::start();
    let alice = server.profile("alice");
    let bob = server.profile("bob");
    alice.register();
    bob.register();

    let fresh = keys_status(&bob);
    assert_eq!(fresh["version"], 2);
    assert_eq!(fresh["exchange_key_serial"], 1);
    assert_eq!(fresh["last_resort"], true);
    assert_eq!(fresh["server_remaining"], 100);
    assert_eq!(fresh["held"], 100);
    assert_eq!(fresh["downgrades"], 0);

    alice.ok(&["send", "bob", "first under a one-time prekey"]);
    assert_eq!(keys_status(&bob)["server_remaining"], 99);
    assert_eq!(bob.recv_texts(), ["first under a one-time prekey"]);
    let used = keys_status(&bob);
    assert_eq!(used["server_remaining"], 99);
    assert_eq!(used["held"], 99);

    let rekeyed = bob.ok(&["keys", "rekey"]).json_lines()[0].clone();
    assert_eq!(rekeyed["exchange_key_serial"], 2);
    assert_eq!(rekeyed["server_remaining"], 100);
    assert_eq!(rekeyed["held"], 100);

    bob.ok(&["send", "alice", "after the rekey"]);
    assert_eq!(alice.recv_texts(), ["after the rekey"]);
    alice.ok(&["send", "bob", "to the re-keyed device"]);
    assert_eq!(bob.recv_texts(), ["to the re-keyed device"]);
}
