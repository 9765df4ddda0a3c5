//! Device hand-over (`docs/protocol.md` §16): the laptop Alice approves reads what was sent
//! before it existed, and nobody else can read, forge or redirect what she hands it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use sotto_proto::bundle::{KeyBundle, MasterKeyRecord, Record};
use sotto_proto::chain::{LocalDevice, ReceiverState, RecordTaken};
use sotto_proto::env::{Env, Timestamp};
use sotto_proto::handover::{open_handover, Handover, HandoverHeader, HandoverId};
use sotto_proto::signed::SignedSealed;
use sotto_proto::testing::{TestAccount, TestDevice, T0};
use support::*;

/// Alice's second device, approved by her first.
fn laptop(w: &World) -> TestDevice {
    TestAccount::device_for(&w.alice.master, &w.alice.identity, 16, "laptop")
}

fn on<'a>(device: &'a TestDevice, account: &TestAccount) -> LocalDevice<'a> {
    LocalDevice {
        account: account.master.account(),
        device: device.keys.device(),
        exchange_keys: std::slice::from_ref(&device.exchange),
    }
}

fn hand_over(w: &mut World, to: &TestDevice, records: Vec<Record>) -> Handover {
    let mut env = Env::new(T0, &mut w.rng);
    Handover::seal(
        &w.alice.device.keys,
        &to.verified,
        &to.verified_exchange,
        HandoverId::from_bytes([7; 16]),
        &KeyBundle::new(records),
        &mut env,
    )
    .unwrap()
}

#[test]
fn the_approved_laptop_reads_a_message_sent_on_a_chain_started_before_it_existed() {
    let mut w = World::new();
    let mut chain = w.start_chain(Who::Bob);
    let kdm = distribute(&mut chain, &w.group, &w.bob, &w.alice);
    let mut phone = ReceiverState::new();
    let accepted = phone
        .accept_distribution(&kdm, &w.bob.device.verified, &local(&w.alice), &w.group, T0)
        .unwrap();
    let laptop = laptop(&w);
    let handover = hand_over(&mut w, &laptop, vec![Record::Chain(accepted.history_key)]);
    // The server checks the header: who sends to whom, in which account.
    let header = HandoverHeader::decode_handover(&handover.encode()).unwrap();
    assert_eq!(header.sender_device, w.alice.device.keys.device());
    assert_eq!(header.recipient_device, laptop.keys.device());
    assert_eq!(header.account, w.alice.master.account());

    let received = Handover::decode(&handover.encode()).unwrap();
    let bundle = open_handover(
        &received,
        &w.alice.device.verified,
        &on(&laptop, &w.alice),
        T0,
    )
    .unwrap();
    let mut state = ReceiverState::new();
    let Some(Record::Chain(record)) = bundle.records.first() else {
        panic!("a chain record");
    };
    assert_eq!(
        state
            .take_record(record, &w.group, laptop.keys.device())
            .unwrap(),
        RecordTaken::Introduced
    );
    // Bob sends one second after the approval on the chain he has not rotated.
    let envelope = send(&mut chain, &w.bob, "welcome, new laptop", 1);
    let message = state
        .receive(&envelope, &w.bob.device.verified, &w.group, T0.plus(1_000))
        .unwrap();
    assert_eq!(received_text(&message), "welcome, new laptop");
    // The same record again is a duplicate; another key for the chain is a conflict.
    assert_eq!(
        state
            .take_record(record, &w.group, laptop.keys.device())
            .unwrap(),
        RecordTaken::Duplicate
    );
    let mut forged = record.danger_duplicate();
    forged.key = sotto_proto::chain::ChainKey::from_bytes([9; 32]);
    assert_eq!(
        state
            .take_record(&forged, &w.group, laptop.keys.device())
            .unwrap_err()
            .code(),
        "receive/chain-key-conflict"
    );
}

#[test]
fn a_hand_over_for_another_device_from_another_account_or_re_signed_is_refused() {
    let mut w = World::new();
    let laptop = laptop(&w);
    let handover = hand_over(&mut w, &laptop, Vec::new());
    // Opened by Alice's first device: not the recipient.
    let err = open_handover(
        &handover,
        &w.alice.device.verified,
        &on(&w.alice.device, &w.alice),
        T0,
    )
    .unwrap_err();
    assert_eq!(err.code(), "receive/wrong-recipient");
    // Presented as coming from Bob's device: not of the laptop's account.
    let err = open_handover(
        &handover,
        &w.bob.device.verified,
        &on(&laptop, &w.alice),
        T0,
    )
    .unwrap_err();
    assert_eq!(err.code(), "receive/sender-mismatch");
    // Re-signed by another key.
    let resigned = SignedSealed::sign(
        handover.sealed().header().to_vec(),
        handover.sealed().ciphertext().to_vec(),
        w.bob.device.keys.signing(),
    )
    .unwrap();
    let resigned = Handover::decode(&resigned.encode()).unwrap();
    let err = open_handover(
        &resigned,
        &w.alice.device.verified,
        &on(&laptop, &w.alice),
        T0,
    )
    .unwrap_err();
    assert_eq!(err.code(), "bad-signature");
    // Made three hours and one millisecond ahead of the laptop's clock.
    let err = open_handover(
        &handover,
        &w.alice.device.verified,
        &on(&laptop, &w.alice),
        T0.minus(3 * Timestamp::HOUR + 1),
    )
    .unwrap_err();
    assert_eq!(err.code(), "receive/far-future");
}

#[test]
fn a_hand_over_never_carries_the_master_key() {
    let mut w = World::new();
    let laptop = laptop(&w);
    let master = Record::MasterKey(
        MasterKeyRecord::new(w.alice.master.key_pair().to_pkcs8().unwrap()).unwrap(),
    );
    let mut env = Env::new(T0, &mut w.rng);
    let bundle = KeyBundle::new(vec![master]);
    let err = Handover::seal(
        &w.alice.device.keys,
        &laptop.verified,
        &laptop.verified_exchange,
        HandoverId::from_bytes([1; 16]),
        &bundle,
        &mut env,
    )
    .unwrap_err();
    assert_eq!(err.code(), "invalid-input");
    let sneaked = Handover::danger_seal_any_records(
        &w.alice.device.keys,
        &laptop.verified,
        &laptop.verified_exchange,
        HandoverId::from_bytes([1; 16]),
        &bundle,
        &mut env,
    )
    .unwrap();
    let err = open_handover(
        &sneaked,
        &w.alice.device.verified,
        &on(&laptop, &w.alice),
        T0,
    )
    .unwrap_err();
    assert_eq!(err.code(), "invalid-input");
}

#[test]
fn a_flipped_bit_anywhere_in_a_hand_over_is_refused() {
    let mut w = World::new();
    let laptop = laptop(&w);
    let wire = hand_over(&mut w, &laptop, Vec::new()).encode();
    for i in (0..wire.len()).step_by(7) {
        let mut bad = wire.clone();
        bad[i] ^= 0x01;
        let Ok(decoded) = Handover::decode(&bad) else {
            continue;
        };
        assert!(open_handover(
            &decoded,
            &w.alice.device.verified,
            &on(&laptop, &w.alice),
            T0
        )
        .is_err());
    }
}

#[test]
fn a_record_is_compared_with_the_known_chain_at_either_start() {
    let mut w = World::new();
    let mut chain = w.start_chain(Who::Bob);
    let kdm = distribute(&mut chain, &w.group, &w.bob, &w.alice);
    let mut state = ReceiverState::new();
    let accepted = state
        .accept_distribution(&kdm, &w.bob.device.verified, &local(&w.alice), &w.group, T0)
        .unwrap();
    let me = w.alice.device.keys.device();
    // Alice's device reads two messages: its next key is now at index 2.
    for i in 0..2 {
        let envelope = send(&mut chain, &w.bob, "hi", i);
        state
            .receive(&envelope, &w.bob.device.verified, &w.group, T0)
            .unwrap();
    }
    let at = |start: u32, key: &sotto_proto::chain::ChainKey| {
        let mut record = accepted.history_key.danger_duplicate();
        record.start_index = start;
        record.key = key.danger_duplicate();
        record
    };
    let k0 = accepted.history_key.key.danger_duplicate();
    let (k1, k2) = (k0.next(), k0.next().next());
    let k3 = k2.next();
    assert_eq!(
        state.take_record(&at(0, &k0), &w.group, me).unwrap(),
        RecordTaken::Duplicate
    );
    assert_eq!(
        state.take_record(&at(3, &k3), &w.group, me).unwrap(),
        RecordTaken::Duplicate,
        "ratcheted from the known next key"
    );
    assert_eq!(
        state.take_record(&at(1, &k1), &w.group, me).unwrap(),
        RecordTaken::HistoryOnly,
        "nothing to compare it with"
    );
    assert_eq!(
        state
            .take_record(&at(3, &k2), &w.group, me)
            .unwrap_err()
            .code(),
        "receive/chain-key-conflict"
    );
}
