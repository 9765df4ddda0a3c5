//! End-to-end protocol behaviour between clients, and the attacks of pentest checklist section A
//! that target messages and key distributions (A6–A17), each asserting the safe outcome.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use sotto_proto::chain::ReceiverState;
use sotto_proto::distribution::{KeyDistribution, KeyRequest};
use sotto_proto::envelope::Envelope;
use sotto_proto::group::GroupOp;
use sotto_proto::ids::MessageId;
use sotto_proto::limits::{MAX_CHAIN_AGE_MS, MAX_CHAIN_MESSAGES, MAX_CLOCK_SKEW_MS};
use sotto_proto::signed::{Signed, SignedSealed};
use sotto_proto::testing::T0;
use sotto_proto::{DecodeError, Error, ReceiveError, Timestamp};
use support::*;

#[test]
fn alice_sends_bob_reads_in_order() {
    let mut w = World::new();
    let mut chain = w.start_chain(Who::Alice);
    let kdm = distribute(&mut chain, &w.group, &w.alice, &w.bob);
    let mut bob = receiver_with(&w, &kdm, &w.alice, &w.bob);
    for (i, text) in ["privileged", "and confidential"].iter().enumerate() {
        let env = send(&mut chain, &w.alice, text, i as u8);
        let wire = env.encode();
        let decoded = Envelope::decode(&wire).unwrap();
        let msg = bob
            .receive(&decoded, &w.alice.device.verified, &w.group, T0)
            .unwrap();
        assert_eq!(received_text(&msg), *text);
        assert_eq!(msg.header.index, i as u32);
        assert!(msg.gap.is_empty());
    }
}

fn setup() -> (World, sotto_proto::chain::SenderChain, ReceiverState) {
    let mut w = World::new();
    let mut chain = w.start_chain(Who::Alice);
    let kdm = distribute(&mut chain, &w.group, &w.alice, &w.bob);
    let bob = receiver_with(&w, &kdm, &w.alice, &w.bob);
    (w, chain, bob)
}

fn refused(result: Result<impl std::fmt::Debug, Error>) -> Error {
    result.expect_err("must be refused")
}

#[test]
fn a9_any_flipped_bit_in_header_ciphertext_or_signature_is_refused_before_decryption() {
    let (w, mut chain, bob) = setup();
    let env = send(&mut chain, &w.alice, "wire $1M to account 42", 1);
    let wire = env.encode();
    // Flip one bit in every byte position of the wire form in turn.
    let mut checked = 0;
    for i in 0..wire.len() {
        let mut bad = wire.clone();
        bad[i] ^= 0x01;
        // Length prefixes, label and version bytes fail to decode at all; count the rest.
        let Ok(decoded) = Envelope::decode(&bad) else {
            continue;
        };
        checked += 1;
        let err = refused(bob.open(&decoded, &w.alice.device.verified, &w.group, T0));
        assert!(
            matches!(
                err,
                Error::BadSignature { .. } | Error::Receive(ReceiveError::SenderMismatch)
            ),
            "byte {i}: {err:?}"
        );
    }
    assert!(
        checked > wire.len() * 9 / 10,
        "only {checked} of {} positions reached the verifier",
        wire.len()
    );
    // And state is untouched: the genuine message still opens.
    bob.open(&env, &w.alice.device.verified, &w.group, T0)
        .unwrap();
}

#[test]
fn a9_a_signed_but_tampered_ciphertext_fails_uniformly() {
    // A malicious *sender* can sign garbage; the receiver still returns one uniform error.
    let (w, mut chain, bob) = setup();
    let env = send(&mut chain, &w.alice, "hello", 1);
    let mut ct = env.sealed().ciphertext().to_vec();
    ct[3] ^= 0x80;
    let resigned = SignedSealed::sign(
        env.sealed().header().to_vec(),
        ct,
        w.alice.device.keys.signing(),
    )
    .unwrap();
    let env = Envelope::from_sealed(resigned).unwrap();
    let err = refused(bob.open(&env, &w.alice.device.verified, &w.group, T0));
    assert!(matches!(err, Error::DecryptionFailed), "{err:?}");
}

#[test]
fn a6_carol_claiming_bobs_device_and_chain_is_refused() {
    let (w, mut chain, mut bob) = setup();
    let genuine = send(&mut chain, &w.alice, "real", 1);
    // Carol re-signs Alice's header (claiming Alice's device and chain) with her own key.
    let forged = SignedSealed::sign(
        genuine.sealed().header().to_vec(),
        genuine.sealed().ciphertext().to_vec(),
        w.carol.device.keys.signing(),
    )
    .unwrap();
    let forged = Envelope::from_sealed(forged).unwrap();
    // Verified against the device the header names (Alice's): the signature fails.
    let err = refused(bob.receive(&forged, &w.alice.device.verified, &w.group, T0));
    assert!(matches!(err, Error::BadSignature { .. }));
    // Presented with Carol's device instead: the header does not name it.
    let err = refused(bob.receive(&forged, &w.carol.device.verified, &w.group, T0));
    assert!(matches!(err, Error::Receive(ReceiveError::SenderMismatch)));
}

#[test]
fn a6_a_member_cannot_send_on_someone_elses_chain() {
    let (mut w, mut chain, mut bob) = setup();
    let _ = send(&mut chain, &w.alice, "x", 1);
    // Carol knows nothing of Alice's key, but builds a chain with Alice's chain id.
    let mut carol_chain = w.start_chain(Who::Carol);
    let kdm = distribute(&mut carol_chain, &w.group, &w.carol, &w.bob);
    bob.accept_distribution(&kdm, &w.carol.device.verified, &local(&w.bob), &w.group, T0)
        .unwrap();
    let carol_msg = send(&mut carol_chain, &w.carol, "from carol", 2);
    let mut header =
        sotto_proto::envelope::EnvelopeHeader::decode(carol_msg.sealed().header()).unwrap();
    header.chain = chain.chain();
    let forged = SignedSealed::sign(
        header.encode(),
        carol_msg.sealed().ciphertext().to_vec(),
        w.carol.device.keys.signing(),
    )
    .unwrap();
    let err = refused(bob.receive(
        &Envelope::from_sealed(forged).unwrap(),
        &w.carol.device.verified,
        &w.group,
        T0,
    ));
    assert!(
        matches!(err, Error::Receive(ReceiveError::ChainOwnerMismatch { .. })),
        "{err:?}"
    );
}

#[test]
fn a7_unsolicited_distribution_signed_by_someone_else_is_refused() {
    let (w, mut chain, _) = setup();
    let kdm = distribute(&mut chain, &w.group, &w.alice, &w.carol);
    // Carol re-signs the distribution Alice sent her, still claiming to be Alice.
    let forged = SignedSealed::sign(
        kdm.sealed().header().to_vec(),
        kdm.sealed().ciphertext().to_vec(),
        w.carol.device.keys.signing(),
    )
    .unwrap();
    let forged = KeyDistribution::from_sealed(forged).unwrap();
    let mut carol = ReceiverState::new();
    let err = refused(carol.accept_distribution(
        &forged,
        &w.alice.device.verified,
        &local(&w.carol),
        &w.group,
        T0,
    ));
    assert!(matches!(err, Error::BadSignature { .. }));
    // A distribution addressed to Carol, delivered to Bob (wrong path).
    let mut bob = ReceiverState::new();
    let err = refused(bob.accept_distribution(
        &kdm,
        &w.alice.device.verified,
        &local(&w.bob),
        &w.group,
        T0,
    ));
    assert!(matches!(err, Error::Receive(ReceiveError::WrongRecipient)));
}

#[test]
fn a8_retargeted_distribution_to_another_device_or_conversation_is_refused() {
    let (w, mut chain, _) = setup();
    let kdm = distribute(&mut chain, &w.group, &w.alice, &w.bob);
    let mut header = kdm.header().clone();
    // Re-address to Carol, keeping Alice's signature: the signature no longer covers it.
    header.recipient_account = w.carol.master.account();
    header.recipient_device = w.carol.device.keys.device();
    header.recipient_key = w.carol.device.verified_exchange.key_id();
    let moved = SignedSealed::from_parts(
        header.encode(),
        kdm.sealed().ciphertext().to_vec(),
        kdm.sealed().signature().to_vec(),
    );
    let moved = KeyDistribution::from_sealed(moved).unwrap();
    let mut carol = ReceiverState::new();
    let err = refused(carol.accept_distribution(
        &moved,
        &w.alice.device.verified,
        &local(&w.carol),
        &w.group,
        T0,
    ));
    assert!(matches!(err, Error::BadSignature { .. }));
    // Into another conversation: Dave's group, same signature.
    let mut header = kdm.header().clone();
    header.conversation = sotto_proto::ids::ConversationId::from_bytes([0x99; 16]);
    let moved = SignedSealed::from_parts(
        header.encode(),
        kdm.sealed().ciphertext().to_vec(),
        kdm.sealed().signature().to_vec(),
    );
    let err = refused(ReceiverState::new().accept_distribution(
        &KeyDistribution::from_sealed(moved).unwrap(),
        &w.alice.device.verified,
        &local(&w.bob),
        &w.group,
        T0,
    ));
    assert!(matches!(err, Error::BadSignature { .. }));
    // Even a correctly signed header whose OAEP label differs cannot be decrypted: Alice herself
    // re-signs a changed header around the old ciphertext.
    let mut header = kdm.header().clone();
    header.created_at = T0.plus(1);
    let resigned = SignedSealed::sign(
        header.encode(),
        kdm.sealed().ciphertext().to_vec(),
        w.alice.device.keys.signing(),
    )
    .unwrap();
    let err = refused(ReceiverState::new().accept_distribution(
        &KeyDistribution::from_sealed(resigned).unwrap(),
        &w.alice.device.verified,
        &local(&w.bob),
        &w.group,
        T0,
    ));
    assert!(matches!(err, Error::DecryptionFailed));
}

#[test]
fn a10_replay_is_refused_at_once_and_later() {
    let (w, mut chain, mut bob) = setup();
    let env = send(&mut chain, &w.alice, "once", 1);
    bob.receive(&env, &w.alice.device.verified, &w.group, T0)
        .unwrap();
    let err = refused(bob.receive(&env, &w.alice.device.verified, &w.group, T0));
    assert!(matches!(
        err,
        Error::Receive(ReceiveError::Replay { index: 0, .. })
    ));
    // An hour later, after more traffic.
    let next = send(&mut chain, &w.alice, "twice", 2);
    bob.receive(
        &next,
        &w.alice.device.verified,
        &w.group,
        T0.plus(Timestamp::HOUR),
    )
    .unwrap();
    let err = refused(bob.receive(
        &env,
        &w.alice.device.verified,
        &w.group,
        T0.plus(Timestamp::HOUR),
    ));
    assert!(matches!(err, Error::Receive(ReceiveError::Replay { .. })));
    // Opening twice and committing twice: the second commit is refused.
    let third = send(&mut chain, &w.alice, "three", 3);
    let a = bob
        .open(&third, &w.alice.device.verified, &w.group, T0)
        .unwrap();
    let b = bob
        .open(&third, &w.alice.device.verified, &w.group, T0)
        .unwrap();
    bob.commit(a, T0).unwrap();
    assert!(matches!(
        refused(bob.commit(b, T0)),
        Error::Receive(ReceiveError::Replay { .. })
    ));
}

#[test]
fn a11_index_jump_beyond_the_chain_bound_is_refused_cheaply() {
    let (w, mut chain, bob) = setup();
    let env = send(&mut chain, &w.alice, "x", 1);
    let mut header = sotto_proto::envelope::EnvelopeHeader::decode(env.sealed().header()).unwrap();
    for index in [MAX_CHAIN_MESSAGES, 1 << 31, u32::MAX] {
        header.index = index;
        let forged = SignedSealed::sign(
            header.encode(),
            env.sealed().ciphertext().to_vec(),
            w.alice.device.keys.signing(),
        )
        .unwrap();
        let start = std::time::Instant::now();
        let err = refused(bob.open(
            &Envelope::from_sealed(forged).unwrap(),
            &w.alice.device.verified,
            &w.group,
            T0,
        ));
        assert!(
            matches!(err, Error::Receive(ReceiveError::IndexOutOfBounds { .. })),
            "{err:?}"
        );
        // No ratcheting towards the index happened (generous bound: one RSA verification).
        assert!(start.elapsed() < std::time::Duration::from_secs(1));
    }
}

#[test]
fn a12_withheld_message_shows_a_gap_and_is_accepted_later() {
    let (w, mut chain, mut bob) = setup();
    let m0 = send(&mut chain, &w.alice, "zero", 0);
    let m1 = send(&mut chain, &w.alice, "one", 1);
    let m2 = send(&mut chain, &w.alice, "two", 2);
    bob.receive(&m0, &w.alice.device.verified, &w.group, T0)
        .unwrap();
    let got2 = bob
        .receive(&m2, &w.alice.device.verified, &w.group, T0)
        .unwrap();
    assert_eq!(got2.gap, vec![1]);
    assert_eq!(bob.missing(&chain.chain()), vec![1]);
    let got1 = bob
        .receive(&m1, &w.alice.device.verified, &w.group, T0)
        .unwrap();
    assert_eq!(received_text(&got1), "one");
    assert!(bob.missing(&chain.chain()).is_empty());
    assert_eq!(bob.skipped_key_count(), 0, "used skipped keys are deleted");
}

#[test]
fn a13_truncated_chain_tail_shows_through_the_next_distribution() {
    let (mut w, mut chain, mut bob) = setup();
    let m0 = send(&mut chain, &w.alice, "zero", 0);
    let _m1 = send(&mut chain, &w.alice, "one (withheld)", 1);
    let _m2 = send(&mut chain, &w.alice, "two (withheld)", 2);
    bob.receive(&m0, &w.alice.device.verified, &w.group, T0)
        .unwrap();
    let mut env = w.env(T0);
    let mut next = chain.successor(0, &mut env).unwrap();
    let kdm = distribute(&mut next, &w.group, &w.alice, &w.bob);
    let accepted = bob
        .accept_distribution(&kdm, &w.alice.device.verified, &local(&w.bob), &w.group, T0)
        .unwrap();
    assert_eq!(accepted.missing_in_previous, vec![1, 2]);
    // And nothing past the announced end is accepted on the old chain.
    let m3 = send(&mut chain, &w.alice, "after the end", 3);
    let err = refused(bob.receive(&m3, &w.alice.device.verified, &w.group, T0));
    assert!(matches!(
        err,
        Error::Receive(ReceiveError::IndexOutOfBounds { index: 3 })
    ));
}

#[test]
fn a14_distribution_fed_as_message_and_the_reverse_are_refused_by_label() {
    let (w, mut chain, _) = setup();
    let kdm = distribute(&mut chain, &w.group, &w.alice, &w.bob);
    let err = refused(Envelope::decode(&kdm.encode()));
    assert!(matches!(
        err,
        Error::Decode(DecodeError::WrongDomain {
            expected: "sotto/msg"
        })
    ));
    let env = send(&mut chain, &w.alice, "x", 1);
    let err = refused(KeyDistribution::decode(&env.encode()));
    assert!(matches!(
        err,
        Error::Decode(DecodeError::WrongDomain {
            expected: "sotto/kdm"
        })
    ));
}

#[test]
fn a15_version_zero_or_unknown_is_refused() {
    let (w, mut chain, _) = setup();
    let env = send(&mut chain, &w.alice, "x", 1);
    let header = env.sealed().header();
    let version_at = 1 + "sotto/msg".len();
    for version in [0u8, 2, 0xff] {
        let mut h = header.to_vec();
        h[version_at] = version;
        let resigned = SignedSealed::sign(
            h,
            env.sealed().ciphertext().to_vec(),
            w.alice.device.keys.signing(),
        )
        .unwrap();
        let err = refused(Envelope::decode(&resigned.encode()));
        assert!(
            matches!(err, Error::Decode(DecodeError::UnsupportedVersion { got, .. }) if got == version),
            "{err:?}"
        );
    }
}

#[test]
fn a16_removed_member_sending_on_an_old_chain_is_not_displayed() {
    let mut w = World::new();
    let mut carol_chain = w.start_chain(Who::Carol);
    let kdm = distribute(&mut carol_chain, &w.group, &w.carol, &w.bob);
    let mut bob = receiver_with(&w, &kdm, &w.carol, &w.bob);
    let before = send(&mut carol_chain, &w.carol, "still a member", 1);
    bob.receive(&before, &w.carol.device.verified, &w.group, T0)
        .unwrap();
    w.alice_changes(GroupOp::RemoveMember {
        account: w.carol.master.account(),
    });
    let after = send(&mut carol_chain, &w.carol, "removed but talking", 2);
    let err = refused(bob.receive(&after, &w.carol.device.verified, &w.group, T0));
    assert!(matches!(err, Error::Receive(ReceiveError::SenderNotMember)));
}

#[test]
fn a17_timestamps_within_the_skew_bound_pass_and_far_future_is_refused() {
    let (w, mut chain, mut bob) = setup();
    let reserve = |chain: &mut sotto_proto::chain::SenderChain| chain.reserve(T0).unwrap();
    let past = reserve(&mut chain)
        .seal(
            &text("ten days old"),
            MessageId::from_bytes([1; 16]),
            T0.minus(10 * Timestamp::DAY),
            &w.alice.device.keys,
        )
        .unwrap();
    bob.receive(&past, &w.alice.device.verified, &w.group, T0)
        .unwrap();
    let near = reserve(&mut chain)
        .seal(
            &text("clock ahead"),
            MessageId::from_bytes([2; 16]),
            T0.plus(MAX_CLOCK_SKEW_MS),
            &w.alice.device.keys,
        )
        .unwrap();
    bob.receive(&near, &w.alice.device.verified, &w.group, T0)
        .unwrap();
    let far = reserve(&mut chain)
        .seal(
            &text("from the future"),
            MessageId::from_bytes([3; 16]),
            T0.plus(10 * Timestamp::DAY),
            &w.alice.device.keys,
        )
        .unwrap();
    let err = refused(bob.receive(&far, &w.alice.device.verified, &w.group, T0));
    assert!(matches!(err, Error::Receive(ReceiveError::FarFuture)));
}

#[test]
fn message_on_an_unknown_chain_is_refused_until_its_distribution_arrives() {
    let mut w = World::new();
    let mut chain = w.start_chain(Who::Alice);
    let kdm = distribute(&mut chain, &w.group, &w.alice, &w.bob);
    let env = send(&mut chain, &w.alice, "early", 1);
    let mut bob = ReceiverState::new();
    let err = refused(bob.receive(&env, &w.alice.device.verified, &w.group, T0));
    assert!(matches!(
        err,
        Error::Receive(ReceiveError::UnknownChain { .. })
    ));
    bob.accept_distribution(&kdm, &w.alice.device.verified, &local(&w.bob), &w.group, T0)
        .unwrap();
    let msg = bob
        .receive(&env, &w.alice.device.verified, &w.group, T0)
        .unwrap();
    assert_eq!(received_text(&msg), "early");
}

#[test]
fn non_members_get_no_distribution_and_conflicting_keys_are_refused() {
    let (w, mut chain, mut bob) = setup();
    let err = refused(chain.distribute(
        &w.group,
        &w.dave.device.verified_exchange,
        &w.alice.device.keys,
        T0,
    ));
    assert!(matches!(err, Error::RecipientNotMember));
    let keys = [
        w.bob.device.verified_exchange.clone(),
        w.dave.device.verified_exchange.clone(),
        w.alice.device.verified_exchange.clone(),
    ];
    let to: Vec<_> = chain
        .recipients_in(&w.group, &keys)
        .iter()
        .map(|k| k.device())
        .collect();
    assert_eq!(to, vec![w.bob.device.keys.device()]);
    // A repeated distribution is harmless; one for the same chain with another key is refused.
    let again = distribute(&mut chain, &w.group, &w.alice, &w.bob);
    let ok = bob
        .accept_distribution(
            &again,
            &w.alice.device.verified,
            &local(&w.bob),
            &w.group,
            T0,
        )
        .unwrap();
    assert!(ok.duplicate);
}

#[test]
fn sender_chain_rotates_after_100_messages_and_7_days() {
    let mut w = World::new();
    let mut chain = w.start_chain(Who::Alice);
    for _ in 0..MAX_CHAIN_MESSAGES {
        chain.reserve(T0).unwrap();
    }
    assert!(matches!(chain.reserve(T0), Err(Error::ChainNeedsRotation)));
    let fresh = w.start_chain(Who::Alice);
    let devices = fresh.recipients().clone();
    assert!(!fresh.needs_rotation(T0, 0, &devices));
    assert!(fresh.needs_rotation(T0.plus(MAX_CHAIN_AGE_MS), 0, &devices));
    assert!(fresh.needs_rotation(T0, 1, &devices));
    assert!(fresh.needs_rotation(T0, 0, &support::devices(&[&w.bob])));
}

#[test]
fn key_request_gets_a_resent_distribution_only_for_devices_of_intended_recipient_accounts() {
    let (w, mut chain, _) = setup();
    let env = send(&mut chain, &w.alice, "you missed the key", 1);
    let chain_id = chain.chain();
    let request = |who: &sotto_proto::testing::TestAccount| {
        let body = KeyRequest {
            conversation: w.group.conversation(),
            epoch: 0,
            chain: chain_id,
            owner_device: w.alice.device.keys.device(),
            requester_account: who.master.account(),
            requester_device: who.device.keys.device(),
            requester_key: who.device.verified_exchange.key_id(),
            requested_at: T0,
        };
        Signed::sign(body.encode(), who.device.keys.signing()).unwrap()
    };
    let bob_request = request(&w.bob);
    let kdm = chain
        .answer_key_request(
            &bob_request,
            &w.bob.device.verified,
            &w.bob.device.verified_exchange,
            &w.group,
            &w.alice.device.keys,
            T0,
        )
        .unwrap();
    let mut bob = ReceiverState::new();
    bob.accept_distribution(&kdm, &w.alice.device.verified, &local(&w.bob), &w.group, T0)
        .unwrap();
    assert_eq!(
        received_text(
            &bob.receive(&env, &w.alice.device.verified, &w.group, T0)
                .unwrap()
        ),
        "you missed the key"
    );
    // Carol's account was a member at the chain's epoch, so an intended recipient, though this
    // chain's key never went to her device: she is answered (§7.6).
    chain
        .answer_key_request(
            &request(&w.carol),
            &w.carol.device.verified,
            &w.carol.device.verified_exchange,
            &w.group,
            &w.alice.device.keys,
            T0,
        )
        .unwrap();
    // So is a device Bob's account certified after the chain started: Bob's other devices
    // could hand it the chain anyway (§16).
    let bob_laptop = sotto_proto::testing::TestAccount::device_for(
        &w.bob.master,
        &w.bob.identity,
        16,
        "bob's laptop",
    );
    let laptop_request = Signed::sign(
        KeyRequest {
            conversation: w.group.conversation(),
            epoch: 0,
            chain: chain_id,
            owner_device: w.alice.device.keys.device(),
            requester_account: w.bob.master.account(),
            requester_device: bob_laptop.keys.device(),
            requester_key: bob_laptop.verified_exchange.key_id(),
            requested_at: T0,
        }
        .encode(),
        bob_laptop.keys.signing(),
    )
    .unwrap();
    chain
        .answer_key_request(
            &laptop_request,
            &bob_laptop.verified,
            &bob_laptop.verified_exchange,
            &w.group,
            &w.alice.device.keys,
            T0,
        )
        .unwrap();
    // Dave, added after the chain's epoch, was not meant to read it: he waits for the next one.
    let mut later = w.group.clone();
    let add_dave = later
        .propose(
            sotto_proto::group::GroupOp::AddMember(w.dave.member(false)),
            w.alice.master.account(),
            &w.alice.device.keys,
            T0,
        )
        .unwrap();
    later = later.apply(&add_dave, &w.alice.device.verified).unwrap();
    let err = refused(chain.answer_key_request(
        &request(&w.dave),
        &w.dave.device.verified,
        &w.dave.device.verified_exchange,
        &later,
        &w.alice.device.keys,
        T0,
    ));
    assert!(matches!(err, Error::Receive(ReceiveError::WrongRecipient)));
    // A request presented as Bob's but signed by Carol.
    let forged = Signed::from_parts(
        bob_request.unverified_body().to_vec(),
        request(&w.carol).signature().to_vec(),
    );
    let err = refused(chain.answer_key_request(
        &forged,
        &w.bob.device.verified,
        &w.bob.device.verified_exchange,
        &w.group,
        &w.alice.device.keys,
        T0,
    ));
    assert!(matches!(err, Error::BadSignature { .. }));
}

#[test]
fn local_state_survives_a_restart_and_still_refuses_replays() {
    let (w, mut chain, mut bob) = setup();
    let m0 = send(&mut chain, &w.alice, "before restart", 0);
    let _withheld = send(&mut chain, &w.alice, "withheld", 1);
    let m2 = send(&mut chain, &w.alice, "after gap", 2);
    bob.receive(&m0, &w.alice.device.verified, &w.group, T0)
        .unwrap();
    bob.receive(&m2, &w.alice.device.verified, &w.group, T0)
        .unwrap();
    // Both sides restart from their local stores.
    let mut bob = ReceiverState::decode_local(&bob.encode_local()).unwrap();
    let mut chain = sotto_proto::chain::SenderChain::decode_local(&chain.encode_local()).unwrap();
    let group = sotto_proto::group::GroupState::decode_local(&w.group.encode_local()).unwrap();
    assert_eq!(group, w.group);
    // Replays are still refused, the gap is still known, and the chain continues at index 3.
    let err = refused(bob.receive(&m0, &w.alice.device.verified, &group, T0));
    assert!(matches!(err, Error::Receive(ReceiveError::Replay { .. })));
    assert_eq!(bob.missing(&chain.chain()), vec![1]);
    let m3 = send(&mut chain, &w.alice, "after restart", 3);
    assert_eq!(m3.header().index, 3);
    assert_eq!(
        received_text(
            &bob.receive(&m3, &w.alice.device.verified, &group, T0)
                .unwrap()
        ),
        "after restart"
    );
    // A corrupted store is an error, not a panic.
    let mut bytes = bob.encode_local().to_vec();
    bytes.truncate(bytes.len() - 1);
    assert!(ReceiverState::decode_local(&bytes).is_err());
}

#[test]
fn a_receiver_state_stored_before_chains_had_an_origin_still_loads() {
    let (w, mut chain, mut bob) = setup();
    let m0 = send(&mut chain, &w.alice, "zero", 0);
    let _withheld = send(&mut chain, &w.alice, "withheld", 1);
    let m2 = send(&mut chain, &w.alice, "two", 2);
    bob.receive(&m0, &w.alice.device.verified, &w.group, T0)
        .unwrap();
    bob.receive(&m2, &w.alice.device.verified, &w.group, T0)
        .unwrap();
    let new_form = bob.encode_local().to_vec();
    // The first local format ended right after the chains: a count of origins and one origin
    // byte per chain ("from a distribution") were added after them.
    let old_form = &new_form[..new_form.len() - 4 - 1];
    let mut loaded = ReceiverState::decode_local(old_form).unwrap();
    assert_eq!(loaded.encode_local().to_vec(), new_form);
    // Its chain still reports its gaps from its start, and still refuses replays.
    assert_eq!(loaded.missing(&chain.chain()), vec![1]);
    let err = refused(loaded.receive(&m2, &w.alice.device.verified, &w.group, T0));
    assert!(matches!(err, Error::Receive(ReceiveError::Replay { .. })));
    // Anything after the origins, a count that is not the chains', or an unknown origin, is
    // still refused.
    let mut longer = new_form.clone();
    longer.push(0);
    assert!(ReceiverState::decode_local(&longer).is_err());
    let mut miscounted = old_form.to_vec();
    miscounted.extend_from_slice(&2u32.to_be_bytes());
    miscounted.extend_from_slice(&[0, 0]);
    assert_eq!(
        ReceiverState::decode_local(&miscounted).unwrap_err().code(),
        "decode/invalid-value"
    );
    let mut unknown = new_form.clone();
    if let Some(origin) = unknown.last_mut() {
        *origin = 9;
    }
    assert_eq!(
        ReceiverState::decode_local(&unknown).unwrap_err().code(),
        "decode/unknown-tag"
    );
}

#[test]
fn old_distributions_are_refused_and_old_chains_forgotten() {
    let (w, mut chain, mut bob) = setup();
    let m0 = send(&mut chain, &w.alice, "old", 0);
    let kdm = distribute(&mut chain, &w.group, &w.alice, &w.bob);
    let later = T0.plus(sotto_proto::limits::CHAIN_RETENTION_MS + Timestamp::DAY);
    bob.prune(later);
    assert!(bob.chain(&chain.chain()).is_none());
    // Replaying the distribution does not revive the chain, so the old message stays refused.
    let err = refused(bob.accept_distribution(
        &kdm,
        &w.alice.device.verified,
        &local(&w.bob),
        &w.group,
        later,
    ));
    assert!(matches!(
        err,
        Error::Receive(ReceiveError::StaleDistribution)
    ));
    let err = refused(bob.receive(&m0, &w.alice.device.verified, &w.group, later));
    assert!(matches!(
        err,
        Error::Receive(ReceiveError::UnknownChain { .. })
    ));
}
