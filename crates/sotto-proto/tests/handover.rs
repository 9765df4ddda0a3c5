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
        prekeys: sotto_proto::PrekeyRing::empty(),
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

/// Bob's chain as Alice's phone received it from his distribution, and the laptop holding it
/// from the phone's key bundle at the chain's start (index 0).
fn laptop_with_bobs_chain(
    w: &mut World,
) -> (sotto_proto::chain::SenderChain, TestDevice, ReceiverState) {
    let mut chain = w.start_chain(Who::Bob);
    let kdm = distribute(&mut chain, &w.group, &w.bob, &w.alice);
    let mut phone = ReceiverState::new();
    let accepted = phone
        .accept_distribution(&kdm, &w.bob.device.verified, &local(&w.alice), &w.group, T0)
        .unwrap();
    let laptop = laptop(w);
    let mut state = ReceiverState::new();
    assert_eq!(
        state
            .take_record(&accepted.history_key, &w.group, laptop.keys.device())
            .unwrap(),
        RecordTaken::Introduced
    );
    (chain, laptop, state)
}

#[test]
fn a_chain_from_a_bundle_reports_no_gap_before_the_first_message_it_receives_live() {
    let mut w = World::new();
    let (mut chain, _laptop, mut state) = laptop_with_bobs_chain(&mut w);
    // Five messages sent before the laptop held the chain: the archive gives them, not the relay.
    let before: Vec<_> = (0..5)
        .map(|i| send(&mut chain, &w.bob, "before the laptop", i))
        .collect();
    assert!(state.missing(&chain.chain()).is_empty());
    let m5 = send(&mut chain, &w.bob, "five", 5);
    let got = state
        .receive(&m5, &w.bob.device.verified, &w.group, T0)
        .unwrap();
    assert_eq!(got.header.index, 5);
    assert!(got.gap.is_empty(), "false gap {:?}", got.gap);
    assert!(state.missing(&chain.chain()).is_empty());
    assert_eq!(state.chain(&chain.chain()).unwrap().gaps_from(), Some(5));
    // From there on a gap is a gap, as on any chain.
    let _m6 = send(&mut chain, &w.bob, "six (withheld)", 6);
    let _m7 = send(&mut chain, &w.bob, "seven (withheld)", 7);
    let m8 = send(&mut chain, &w.bob, "eight", 8);
    let got = state
        .receive(&m8, &w.bob.device.verified, &w.group, T0)
        .unwrap();
    assert_eq!(got.gap, vec![6, 7]);
    assert_eq!(state.missing(&chain.chain()), vec![6, 7]);
    // The keys below the first live index were kept: a late copy opens once, quietly.
    let late = state
        .receive(&before[2], &w.bob.device.verified, &w.group, T0)
        .unwrap();
    assert_eq!(received_text(&late), "before the laptop");
    assert_eq!(
        state
            .receive(&before[2], &w.bob.device.verified, &w.group, T0)
            .unwrap_err()
            .code(),
        "receive/replay"
    );
    assert_eq!(state.missing(&chain.chain()), vec![6, 7]);
    // The same after a restart from the local store.
    let mut state = ReceiverState::decode_local(&state.encode_local()).unwrap();
    assert_eq!(state.missing(&chain.chain()), vec![6, 7]);
    let _m9 = send(&mut chain, &w.bob, "nine (withheld)", 9);
    let m10 = send(&mut chain, &w.bob, "ten", 10);
    let got = state
        .receive(&m10, &w.bob.device.verified, &w.group, T0)
        .unwrap();
    assert_eq!(got.gap, vec![9]);
    assert_eq!(state.missing(&chain.chain()), vec![6, 7, 9]);
}

#[test]
fn a_chain_from_a_bundle_stored_before_its_first_live_message_still_reports_no_gap() {
    let mut w = World::new();
    let (mut chain, _laptop, state) = laptop_with_bobs_chain(&mut w);
    let mut state = ReceiverState::decode_local(&state.encode_local()).unwrap();
    for i in 0..3 {
        send(&mut chain, &w.bob, "before the laptop", i);
    }
    let m3 = send(&mut chain, &w.bob, "three", 3);
    let got = state
        .receive(&m3, &w.bob.device.verified, &w.group, T0)
        .unwrap();
    assert!(got.gap.is_empty(), "false gap {:?}", got.gap);
    assert!(state.missing(&chain.chain()).is_empty());
}

#[test]
fn a_chain_from_a_distribution_still_reports_its_gaps_from_its_start() {
    let mut w = World::new();
    let mut chain = w.start_chain(Who::Bob);
    let kdm = distribute(&mut chain, &w.group, &w.bob, &w.alice);
    let mut state = receiver_with(&w, &kdm, &w.bob, &w.alice);
    for i in 0..5 {
        send(&mut chain, &w.bob, "withheld", i);
    }
    let m5 = send(&mut chain, &w.bob, "five", 5);
    let got = state
        .receive(&m5, &w.bob.device.verified, &w.group, T0)
        .unwrap();
    assert_eq!(got.gap, vec![0, 1, 2, 3, 4]);
    assert_eq!(state.missing(&chain.chain()), vec![0, 1, 2, 3, 4]);
    assert_eq!(state.chain(&chain.chain()).unwrap().gaps_from(), Some(0));
}

#[test]
fn a13_the_truncated_tail_of_a_chain_from_a_bundle_counts_from_its_first_live_message() {
    let mut w = World::new();
    let (mut chain, laptop, mut state) = laptop_with_bobs_chain(&mut w);
    for i in 0..3 {
        send(&mut chain, &w.bob, "before the laptop", i);
    }
    let m3 = send(&mut chain, &w.bob, "three", 3);
    state
        .receive(&m3, &w.bob.device.verified, &w.group, T0)
        .unwrap();
    let _m4 = send(&mut chain, &w.bob, "four (withheld)", 4);
    let _m5 = send(&mut chain, &w.bob, "five (withheld)", 5);
    // Bob's next chain announces that the old one ended at index 5.
    let mut next = chain.successor(w.group.epoch(), &mut w.env(T0)).unwrap();
    let kdm = next
        .distribute(&w.group, &laptop.verified_exchange, &w.bob.device.keys, T0)
        .unwrap();
    let accepted = state
        .accept_distribution(
            &kdm,
            &w.bob.device.verified,
            &on(&laptop, &w.alice),
            &w.group,
            T0,
        )
        .unwrap();
    assert_eq!(accepted.missing_in_previous, vec![4, 5]);
    assert_eq!(state.missing(&chain.chain()), vec![4, 5]);
}

#[test]
fn the_end_of_a_chain_from_a_bundle_that_sent_nothing_live_here_reports_nothing_missing() {
    let mut w = World::new();
    let (mut chain, laptop, mut state) = laptop_with_bobs_chain(&mut w);
    for i in 0..4 {
        send(&mut chain, &w.bob, "before the laptop", i);
    }
    // Bob rotates before anything on the old chain reaches the laptop live: what was sent on it
    // is the archive's, and the announced end makes none of it missing.
    let mut next = chain.successor(w.group.epoch(), &mut w.env(T0)).unwrap();
    let kdm = next
        .distribute(&w.group, &laptop.verified_exchange, &w.bob.device.keys, T0)
        .unwrap();
    let accepted = state
        .accept_distribution(
            &kdm,
            &w.bob.device.verified,
            &on(&laptop, &w.alice),
            &w.group,
            T0,
        )
        .unwrap();
    assert!(accepted.missing_in_previous.is_empty());
    assert!(!accepted.previous_unknown);
    assert!(state.missing(&chain.chain()).is_empty());
}
