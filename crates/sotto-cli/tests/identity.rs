//! End to end: a server that swaps a user's identity key. The client notices the change, warns,
//! refuses to send until told to accept the new identity, holds what arrives from that user
//! (telling the person once) while the receive itself succeeds, and the new identity starts
//! unverified with a different safety number.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use sotto_proto::crypto::rsa::RsaBits;
use sotto_proto::identity::MasterKey;
use sqlx::Connection;
use support::TestServer;

#[test]
fn a_changed_identity_key_is_announced_and_needs_acceptance() {
    let server = TestServer::start();
    let alice = server.profile("alice");
    let bob = server.profile("bob");
    alice.register();
    bob.register();
    alice.ok(&["send", "bob", "pinning bob"]);
    let before = alice.safety_number("bob", &["--confirm"]);
    bob.ok(&["send", "alice", "sent before the swap"]);

    // The server (or someone who broke into it) replaces bob's master key with its own.
    let forged = MasterKey::generate(RsaBits::Rsa3072).unwrap();
    let db = server.dir.path().join("data").join("sotto.db");
    server.runtime.block_on(async {
        let url = format!("sqlite://{}", db.display());
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query("UPDATE users SET master_key = ?1, account_id = ?2 WHERE username = 'bob'")
            .bind(forged.verifying_key().spki().to_vec())
            .bind(forged.account().as_bytes().to_vec())
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    });

    let run = alice.run(&["send", "bob", "this must not go to the new key"]);
    assert_eq!(run.code, 8, "{}", run.stderr);
    assert!(
        run.stderr.contains("SAFETY NUMBER CHANGED"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("--accept-new-identity"),
        "{}",
        run.stderr
    );
    let run = alice.run(&["verify", "bob"]);
    assert_eq!(run.code, 8, "{}", run.stderr);

    // Receiving still works: bob's message is held (not shown), and alice is told once.
    let (messages, run) = alice.recv();
    assert!(messages.is_empty(), "{messages:?}");
    assert_eq!(
        run.stderr
            .matches("WARNING: the identity key of bob")
            .count(),
        1,
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("has CHANGED since it was pinned and verified; 1 message from bob is held"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("`sotto verify bob`"), "{}", run.stderr);
    assert_eq!(
        alice.status("held until you review bob's changed identity"),
        "2"
    );

    let after = alice.safety_number("bob", &["--accept-new-identity"]);
    assert_ne!(before, after, "a new key has a new safety number");
    let run = alice.ok(&["verify", "bob"]);
    assert!(
        run.stdout.contains("Status: not verified"),
        "{}",
        run.stdout
    );
}
