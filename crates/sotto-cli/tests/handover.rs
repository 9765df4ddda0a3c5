//! Device hand-over (protocol §16): a second device approved after thirty messages reads them
//! (`sotto history`), and reads what is sent after the approval — on a chain its owner had not
//! rotated yet as well as on a fresh one. The real server over TLS and the real `sotto` binary.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use sotto_proto::ids::{DeviceId, MessageId};
use sotto_server::store::{NewEnvelope, WriteOp};
use support::TestServer;

#[test]
fn a_device_approved_after_thirty_messages_reads_them_and_what_is_sent_after_the_approval() {
    let server = TestServer::start();
    let alice = server.profile("alice");
    let bob = server.profile("bob");
    alice.register();
    bob.register();

    let mut texts = Vec::new();
    for i in 0..15 {
        let a = format!("before {i} from alice");
        alice.ok(&["send", "bob", &a]);
        texts.push(a);
        assert_eq!(bob.recv_texts().len(), 1);
        let b = format!("before {i} from bob");
        bob.ok(&["send", "alice", &b]);
        texts.push(b);
        assert_eq!(alice.recv_texts().len(), 1);
    }
    // One more from bob, on the chain alice's device already holds, not received by her yet:
    // the copy the relay will also give the new device.
    let sent = bob.ok(&["send", "alice", "on the chain alice holds"]);
    let id: MessageId = sent.json_lines()[0]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let old_device: DeviceId = alice.status("device").parse().unwrap();
    let store = server.store();
    let queued = server
        .runtime
        .block_on(store.pending(&old_device, 0, 100))
        .unwrap();
    let captured = queued.iter().find(|d| d.message == id).unwrap().clone();

    // The laptop: a second device of alice, approved by the first, which hands it its keys.
    let laptop = server.profile("alice");
    let (child, code) = laptop.start_login();
    let approved = alice.ok(&["devices", "approve", &code]);
    assert!(
        approved.stderr.contains("handed this device's keys"),
        "{}",
        approved.stderr
    );
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let laptop_device: DeviceId = laptop.status("device").parse().unwrap();

    // A message on bob's un-rotated chain reaches the laptop one second after the approval:
    // what the relay gives every device of alice when bob's client (whose view of alice's
    // devices predates the laptop) sends on the chain it has. The laptop opens it with the
    // chain key handed over, and reports no gap: the thirty messages before it are the archive's.
    std::thread::sleep(std::time::Duration::from_secs(1));
    let bob_user = server
        .runtime
        .block_on(store.user_by_name("bob"))
        .unwrap()
        .unwrap();
    let relayed = NewEnvelope {
        message: MessageId::from_bytes([0x6b; 16]),
        conversation: captured.conversation,
        sender_user: bob_user.id,
        sender_account: captured.sender_account,
        sender_device: captured.sender_device,
        received_at: captured.received_at,
        to: Some(laptop_device),
        body: captured.body.clone(),
    };
    server
        .runtime
        .block_on(store.write_batch(&[WriteOp::Enqueue(relayed)], 1000))
        .unwrap();
    assert_eq!(
        laptop.recv_texts_without_gap(),
        vec!["on the chain alice holds"]
    );

    // The thirty messages from before the laptop existed, from the archive, in order.
    texts.push("on the chain alice holds".to_owned());
    let history: Vec<String> = laptop
        .ok(&["history", "bob"])
        .json_lines()
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(history, texts);
    let last_two = laptop.ok(&["history", "bob", "--limit", "2"]).json_lines();
    assert_eq!(last_two.len(), 2);
    assert_eq!(last_two[1]["text"], "on the chain alice holds");

    // A fresh send after the approval: bob's client sees the laptop and starts a new chain.
    bob.ok(&["send", "alice", "after the approval"]);
    assert_eq!(laptop.recv_texts_without_gap(), vec!["after the approval"]);
    assert_eq!(
        alice.recv_texts(),
        vec!["on the chain alice holds", "after the approval"]
    );
    // The laptop's own messages reach bob and alice's first device.
    laptop.ok(&["send", "bob", "from the laptop"]);
    assert_eq!(bob.recv_texts(), vec!["from the laptop"]);
}
