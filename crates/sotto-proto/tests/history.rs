//! History on a new device (`docs/protocol.md` §17): archived envelopes opened with history keys,
//! checked like live ones except that membership is judged at the envelope's epoch.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use sotto_proto::body::MessageBody;
use sotto_proto::chain::{open_archived, ReceiverState};
use sotto_proto::envelope::Envelope;
use sotto_proto::group::GroupOp;
use sotto_proto::testing::T0;
use support::*;

fn text_of(body: &MessageBody) -> &str {
    match body {
        MessageBody::Text(t) => t,
        other => panic!("not text: {other:?}"),
    }
}

#[test]
fn a_new_device_reads_the_archive_with_the_senders_chain_record_and_changes_no_state() {
    let mut w = World::new();
    let mut chain = w.start_chain(Who::Bob);
    let sent: Vec<Envelope> = (0..5)
        .map(|i| send(&mut chain, &w.bob, &format!("message {i}"), i))
        .collect();
    let record = chain.history_record();
    // Newest first, as the server pages it; any order opens.
    for (i, envelope) in sent.iter().enumerate().rev() {
        let wire = envelope.encode();
        let archived = Envelope::decode(&wire).unwrap();
        let opened = open_archived(
            &archived,
            &w.bob.device.verified,
            &w.group,
            Some(&record),
            T0,
        )
        .unwrap();
        assert_eq!(text_of(&opened.body), format!("message {i}"));
        // Opening it twice is fine: the caller skips a message id it already stores.
        assert!(open_archived(
            &archived,
            &w.bob.device.verified,
            &w.group,
            Some(&record),
            T0
        )
        .is_ok());
    }
    // The live receiver state was not touched: the chain is still unknown there.
    let live = ReceiverState::new();
    let err = live
        .open(&sent[0], &w.bob.device.verified, &w.group, T0)
        .unwrap_err();
    assert_eq!(err.code(), "receive/unknown-chain");
}

#[test]
fn a_former_member_s_archived_messages_open_and_a_forged_one_does_not() {
    let mut w = World::new();
    let mut chain = w.start_chain(Who::Carol);
    let envelope = send(&mut chain, &w.carol, "before I left", 1);
    let record = chain.history_record();
    w.alice_changes(GroupOp::RemoveMember {
        account: w.carol.master.account(),
    });
    // Live, Carol's message is refused now (A16); from the archive it was sent while a member.
    let opened = open_archived(
        &envelope,
        &w.carol.device.verified,
        &w.group,
        Some(&record),
        T0,
    )
    .unwrap();
    assert_eq!(text_of(&opened.body), "before I left");
    // A message claiming epoch 1, when Carol was no longer a member, is refused before its key.
    let mut late = w.start_chain(Who::Carol);
    let late_envelope = send(&mut late, &w.carol, "after", 2);
    let err = open_archived(
        &late_envelope,
        &w.carol.device.verified,
        &w.group,
        Some(&late.history_record()),
        T0,
    )
    .unwrap_err();
    assert_eq!(err.code(), "receive/sender-not-member");
    // Presented as Bob's: the signature check still applies.
    let err = open_archived(
        &envelope,
        &w.bob.device.verified,
        &w.group,
        Some(&record),
        T0,
    )
    .unwrap_err();
    assert_eq!(err.code(), "receive/sender-mismatch");
}

#[test]
fn without_the_chain_record_or_with_another_chain_s_the_envelope_stays_closed() {
    let mut w = World::new();
    let mut chain = w.start_chain(Who::Bob);
    let envelope = send(&mut chain, &w.bob, "hello", 1);
    let err = open_archived(&envelope, &w.bob.device.verified, &w.group, None, T0).unwrap_err();
    assert_eq!(err.code(), "receive/unknown-chain");
    let other = w.start_chain(Who::Bob).history_record();
    let err = open_archived(
        &envelope,
        &w.bob.device.verified,
        &w.group,
        Some(&other),
        T0,
    )
    .unwrap_err();
    assert_eq!(err.code(), "receive/unknown-chain");
    // Alice's record relabelled as the chain of Bob's message: not its owner.
    let mut stolen = w.start_chain(Who::Alice).history_record();
    stolen.chain = chain.chain();
    let err = open_archived(
        &envelope,
        &w.bob.device.verified,
        &w.group,
        Some(&stolen),
        T0,
    )
    .unwrap_err();
    assert_eq!(err.code(), "receive/chain-owner-mismatch");
    // The right chain with a record that starts after the message: no key for it.
    let mut later = chain.history_record();
    later.start_index = 1;
    later.key = later.key.next();
    let err = open_archived(
        &envelope,
        &w.bob.device.verified,
        &w.group,
        Some(&later),
        T0,
    )
    .unwrap_err();
    assert_eq!(err.code(), "receive/key-evicted");
}
