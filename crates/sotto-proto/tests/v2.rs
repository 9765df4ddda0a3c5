//! Protocol version 2 (`docs/protocol.md` §18): prekeys, version-2 certificates and hybrid key
//! distributions, end to end, and the attacks §18 is meant to stop, each refused with its code.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use sotto_proto::chain::{LocalDevice, PrekeyRing, ReceiverState, SenderChain};
use sotto_proto::crypto::prekey::{PrekeyPair, PrekeyPublic};
use sotto_proto::crypto::sha256;
use sotto_proto::distribution::{KeyDistribution, PrekeyKind};
use sotto_proto::env::Timestamp;
use sotto_proto::identity::ExchangeKeyCertificate;
use sotto_proto::ids::PrekeyId;
use sotto_proto::prekey::{OneTimePrekey, VerifiedPrekey};
use sotto_proto::signed::{Signed, SignedSealed};
use sotto_proto::testing::{TestAccount, TestV2Keys, T0};
use sotto_proto::Error;
use support::{received_text, send, Who, World};

fn local<'a>(account: &'a TestAccount, ring: &'a PrekeyRing) -> LocalDevice<'a> {
    LocalDevice {
        account: account.master.account(),
        device: account.device.keys.device(),
        exchange_keys: std::slice::from_ref(&account.device.exchange),
        prekeys: ring,
    }
}

fn code<T: std::fmt::Debug>(result: Result<T, Error>) -> &'static str {
    result.expect_err("must be refused").code()
}

fn claim(to: &TestAccount, keys: &TestV2Keys, n: usize) -> VerifiedPrekey {
    to.device
        .verified
        .verify_one_time_prekey(&keys.one_time[n], T0)
        .expect("verify one-time prekey")
}

/// Alice's chain and Bob as a version-2 device with three one-time prekeys.
fn setup() -> (World, SenderChain, TestV2Keys) {
    let mut w = World::new();
    let chain = w.start_chain(Who::Alice);
    let bob = w.bob.v2_keys(3);
    (w, chain, bob)
}

fn accept(
    w: &World,
    kdm: &KeyDistribution,
    ring: &PrekeyRing,
    state: &mut ReceiverState,
) -> Result<sotto_proto::chain::DistributionAccepted, Error> {
    state.accept_distribution(
        kdm,
        &w.alice.device.verified,
        &local(&w.bob, ring),
        &w.group,
        T0,
    )
}

#[test]
fn a_one_time_prekey_distribution_round_trips_and_reports_the_prekey_to_consume() {
    let (w, mut chain, mut bob) = setup();
    let prekey = claim(&w.bob, &bob, 0);
    let kdm = chain
        .distribute_with(
            &w.group,
            &bob.verified_exchange,
            Some(&prekey),
            &w.alice.device.keys,
            T0,
        )
        .unwrap();
    let hybrid = kdm.header().hybrid.as_ref().expect("version 2");
    assert_eq!(hybrid.prekey_kind, PrekeyKind::OneTime);
    assert_eq!(hybrid.prekey, prekey.id());
    let wire = kdm.encode();
    assert!(wire.len() <= 4096);
    let decoded = KeyDistribution::decode(&wire).unwrap();
    assert_eq!(decoded, kdm);

    let mut state = ReceiverState::new();
    let accepted = accept(&w, &decoded, &bob.ring, &mut state).unwrap();
    assert!(!accepted.duplicate);
    assert_eq!(accepted.consumed_prekey, Some((prekey.id(), sha256(&wire))));
    let (id, hash) = accepted.consumed_prekey.unwrap();
    bob.ring.consume(id, hash, T0).unwrap();
    assert!(bob.ring.one_time(&prekey.id()).is_none());
    assert_eq!(bob.ring.one_time_count(), 2);

    let envelope = send(&mut chain, &w.alice, "post-quantum hello", 1);
    let got = state
        .receive(&envelope, &w.alice.device.verified, &w.group, T0)
        .unwrap();
    assert_eq!(received_text(&got), "post-quantum hello");
}

#[test]
fn without_a_one_time_prekey_the_last_resort_prekey_is_used() {
    let (w, mut chain, bob) = setup();
    let kdm = chain
        .distribute(&w.group, &bob.verified_exchange, &w.alice.device.keys, T0)
        .unwrap();
    let hybrid = kdm.header().hybrid.as_ref().expect("version 2");
    assert_eq!(hybrid.prekey_kind, PrekeyKind::LastResort);
    assert_eq!(
        Some(hybrid.prekey),
        bob.verified_exchange.last_resort().map(|p| p.id)
    );
    let mut state = ReceiverState::new();
    let accepted = accept(&w, &kdm, &bob.ring, &mut state).unwrap();
    assert_eq!(accepted.consumed_prekey, None);
    let envelope = send(&mut chain, &w.alice, "hi", 1);
    state
        .receive(&envelope, &w.alice.device.verified, &w.group, T0)
        .unwrap();
}

#[test]
fn a_version_1_recipient_gets_a_version_1_distribution_and_no_prekey() {
    let (w, mut chain, bob) = setup();
    let kdm = chain
        .distribute_with(
            &w.group,
            &w.carol.device.verified_exchange,
            None,
            &w.alice.device.keys,
            T0,
        )
        .unwrap();
    assert!(kdm.header().hybrid.is_none());
    let mut state = ReceiverState::new();
    let accepted = state
        .accept_distribution(
            &kdm,
            &w.alice.device.verified,
            &support::local(&w.carol),
            &w.group,
            T0,
        )
        .unwrap();
    assert_eq!(accepted.consumed_prekey, None);
    let prekey = claim(&w.bob, &bob, 0);
    assert_eq!(
        code(chain.distribute_with(
            &w.group,
            &w.carol.device.verified_exchange,
            Some(&prekey),
            &w.alice.device.keys,
            T0,
        )),
        "invalid-input"
    );
}

#[test]
fn a_one_time_prekey_used_by_two_distributions_is_refused_the_second_time() {
    let (mut w, mut chain, mut bob) = setup();
    let prekey = claim(&w.bob, &bob, 0);
    let first = chain
        .distribute_with(
            &w.group,
            &bob.verified_exchange,
            Some(&prekey),
            &w.alice.device.keys,
            T0,
        )
        .unwrap();
    // A server that hands the same prekey to a second sender (Carol here).
    let mut carol_chain = w.start_chain(Who::Carol);
    let second = carol_chain
        .distribute_with(
            &w.group,
            &bob.verified_exchange,
            Some(&prekey),
            &w.carol.device.keys,
            T0,
        )
        .unwrap();
    let mut state = ReceiverState::new();
    let accepted = accept(&w, &first, &bob.ring, &mut state).unwrap();
    let (id, hash) = accepted.consumed_prekey.unwrap();
    bob.ring.consume(id, hash, T0).unwrap();
    let refused = state.accept_distribution(
        &second,
        &w.carol.device.verified,
        &local(&w.bob, &bob.ring),
        &w.group,
        T0,
    );
    assert_eq!(code(refused), "prekey/unknown");
    assert!(state.chain(&carol_chain.chain()).is_none());
}

#[test]
fn the_same_wire_form_twice_is_a_harmless_duplicate_that_consumes_nothing_twice() {
    let (w, mut chain, mut bob) = setup();
    let prekey = claim(&w.bob, &bob, 1);
    let kdm = chain
        .distribute_with(
            &w.group,
            &bob.verified_exchange,
            Some(&prekey),
            &w.alice.device.keys,
            T0,
        )
        .unwrap();
    let mut state = ReceiverState::new();
    let accepted = accept(&w, &kdm, &bob.ring, &mut state).unwrap();
    let (id, hash) = accepted.consumed_prekey.unwrap();
    bob.ring.consume(id, hash, T0).unwrap();
    let before = bob.ring.encode_local();
    let again = KeyDistribution::decode(&kdm.encode()).unwrap();
    assert_eq!(
        code(accept(&w, &again, &bob.ring, &mut state)),
        "receive/duplicate"
    );
    // Consuming again with the same hash changes nothing either.
    bob.ring.consume(id, hash, T0.plus(5)).unwrap();
    assert_eq!(bob.ring.encode_local(), before);
    assert_eq!(bob.ring.consumed(&id).unwrap().consumed_at, T0);
}

#[test]
fn a_re_signed_distribution_reusing_a_consumed_prekey_is_refused() {
    let (w, mut chain, mut bob) = setup();
    let prekey = claim(&w.bob, &bob, 0);
    let kdm = chain
        .distribute_with(
            &w.group,
            &bob.verified_exchange,
            Some(&prekey),
            &w.alice.device.keys,
            T0,
        )
        .unwrap();
    let mut state = ReceiverState::new();
    let accepted = accept(&w, &kdm, &bob.ring, &mut state).unwrap();
    let (id, hash) = accepted.consumed_prekey.unwrap();
    bob.ring.consume(id, hash, T0).unwrap();
    // The same header and ciphertext under a fresh (randomised PSS) signature: another wire form.
    let resigned = SignedSealed::sign(
        kdm.sealed().header().to_vec(),
        kdm.sealed().ciphertext().to_vec(),
        w.alice.device.keys.signing(),
    )
    .unwrap();
    let resigned = KeyDistribution::from_sealed(resigned).unwrap();
    assert_ne!(resigned.encode(), kdm.encode());
    let mut fresh = ReceiverState::new();
    assert_eq!(
        code(accept(&w, &resigned, &bob.ring, &mut fresh)),
        "prekey/unknown"
    );
}

#[test]
fn a_sender_refuses_unsigned_and_foreign_prekeys() {
    let (w, mut chain, bob) = setup();
    let signed = &bob.one_time[0];
    // A signature that does not verify.
    let mut sig = signed.signature().to_vec();
    sig[10] ^= 1;
    let forged = Signed::from_parts(signed.unverified_body().to_vec(), sig);
    assert_eq!(
        code(w.bob.device.verified.verify_one_time_prekey(&forged, T0)),
        "bad-signature"
    );
    // Bob's prekey offered as Carol's (another account).
    assert_eq!(
        code(w.carol.device.verified.verify_one_time_prekey(signed, T0)),
        "wrong-account"
    );
    // Bob's prekey offered as another device of Bob's account.
    let laptop = TestAccount::device_for(&w.bob.master, &w.bob.identity, 16, "laptop");
    assert_eq!(
        code(laptop.verified.verify_one_time_prekey(signed, T0)),
        "wrong-account"
    );
    // A prekey Bob's laptop signed, claiming to be Bob's first device.
    let pair = PrekeyPair::generate(PrekeyId::from_bytes([0x77; 16])).unwrap();
    let mut body = OneTimePrekey {
        account: w.bob.master.account(),
        device: w.bob.device.keys.device(),
        created_at: T0,
        public: pair.public().clone(),
    };
    let by_laptop = Signed::sign(body.encode(), laptop.keys.signing()).unwrap();
    assert_eq!(
        code(w.bob.device.verified.verify_one_time_prekey(&by_laptop, T0)),
        "bad-signature"
    );
    // Too far in the future.
    body.created_at = T0.plus(4 * Timestamp::HOUR);
    let future = Signed::sign(body.encode(), w.bob.device.keys.signing()).unwrap();
    assert_eq!(
        code(w.bob.device.verified.verify_one_time_prekey(&future, T0)),
        "receive/far-future"
    );
    // A verified prekey of Carol's used for Bob.
    let carol = w.carol.v2_keys(1);
    let carols = w
        .carol
        .device
        .verified
        .verify_one_time_prekey(&carol.one_time[0], T0)
        .unwrap();
    assert_eq!(
        code(chain.distribute_with(
            &w.group,
            &bob.verified_exchange,
            Some(&carols),
            &w.alice.device.keys,
            T0
        )),
        "wrong-account"
    );
}

fn with_bad_point(public: &PrekeyPublic) -> PrekeyPublic {
    let mut bad = public.clone();
    bad.ec[64] ^= 1;
    bad
}

fn with_bad_kem(public: &PrekeyPublic) -> PrekeyPublic {
    let mut bad = public.clone();
    // First coefficient = 0xfff ≥ q.
    bad.kem[0] = 0xff;
    bad.kem[1] |= 0x0f;
    bad
}

#[test]
fn invalid_prekey_keys_are_refused_in_prekeys_and_certificates() {
    let w = World::new();
    let pair = PrekeyPair::generate(PrekeyId::from_bytes([0x55; 16])).unwrap();
    let keys = &w.bob.device.keys;
    let account = w.bob.master.account();
    for bad in [with_bad_point(pair.public()), with_bad_kem(pair.public())] {
        // The signer refuses to sign it ...
        assert_eq!(
            code(keys.sign_one_time_prekey(account, &bad, T0)),
            "prekey/invalid-key"
        );
        assert_eq!(
            code(keys.certify_exchange_key_v2(
                account,
                w.bob.device.exchange.encrypting_key(),
                &bad,
                2,
                T0,
                T0.plus(Timestamp::DAY)
            )),
            "prekey/invalid-key"
        );
        // ... and a verifier refuses one signed anyway.
        let body = OneTimePrekey {
            account,
            device: keys.device(),
            created_at: T0,
            public: bad.clone(),
        };
        let signed = Signed::sign(body.encode(), keys.signing()).unwrap();
        assert_eq!(
            code(w.bob.device.verified.verify_one_time_prekey(&signed, T0)),
            "prekey/invalid-key"
        );
        let cert = ExchangeKeyCertificate {
            account,
            device: keys.device(),
            exchange_key: w.bob.device.exchange.encrypting_key().spki().to_vec(),
            serial: 2,
            not_before: T0,
            not_after: T0.plus(Timestamp::DAY),
            last_resort: Some(bad),
        };
        let signed = Signed::sign(cert.encode(), keys.signing()).unwrap();
        assert_eq!(
            code(w.bob.device.verified.verify_exchange_key(&signed, T0, None)),
            "prekey/invalid-key"
        );
    }
}

#[test]
fn a_version_1_distribution_to_a_version_2_exchange_key_is_a_downgrade() {
    let (w, mut chain, bob) = setup();
    // The sender uses Bob's version-1 certificate of the same exchange key.
    let kdm = chain
        .distribute(
            &w.group,
            &w.bob.device.verified_exchange,
            &w.alice.device.keys,
            T0,
        )
        .unwrap();
    assert!(kdm.header().hybrid.is_none());
    let mut state = ReceiverState::new();
    assert_eq!(
        code(accept(&w, &kdm, &bob.ring, &mut state)),
        "receive/downgrade"
    );
    // Without the version-2 record it is an ordinary version-1 distribution.
    accept(&w, &kdm, PrekeyRing::empty(), &mut state).unwrap();
}

#[test]
fn a_version_2_distribution_to_a_key_not_certified_as_version_2_is_misaddressed() {
    let (w, mut chain, bob) = setup();
    let kdm = chain
        .distribute(&w.group, &bob.verified_exchange, &w.alice.device.keys, T0)
        .unwrap();
    let mut state = ReceiverState::new();
    assert_eq!(
        code(accept(&w, &kdm, PrekeyRing::empty(), &mut state)),
        "receive/wrong-recipient"
    );
}

#[test]
fn a_version_1_certificate_after_a_version_2_one_is_a_rollback() {
    let (w, _chain, bob) = setup();
    let device = &w.bob.device;
    let v1_later = device
        .keys
        .certify_exchange_key(
            w.bob.master.account(),
            device.exchange.encrypting_key(),
            3,
            T0.minus(Timestamp::HOUR),
            T0.plus(Timestamp::DAY),
        )
        .unwrap();
    assert_eq!(
        code(
            device
                .verified
                .verify_exchange_key_after_v2(&v1_later, T0, Some(2), true)
        ),
        "exchange-key-rollback"
    );
    assert_eq!(
        code(device.verified.verify_exchange_key_after_v2(
            &device.exchange_certificate,
            T0,
            Some(2),
            true
        )),
        "exchange-key-rollback"
    );
    // Before any version-2 certificate was seen it is accepted, and a v2 one after it too.
    device
        .verified
        .verify_exchange_key_after_v2(&v1_later, T0, Some(2), false)
        .unwrap();
    let v2 = device
        .verified
        .verify_exchange_key_after_v2(&bob.certificate, T0, Some(1), true)
        .unwrap();
    assert!(v2.is_v2());
    assert!(!device.verified_exchange.is_v2());
}

#[test]
fn each_of_the_three_secrets_is_needed() {
    let (w, mut chain, bob) = setup();
    let junk = Some([0x5au8; 32]);
    // (r, ss_e, ss_k) replaced in the sender's key derivation: every combination but none.
    let cases = [
        (junk, None, None),
        (None, junk, None),
        (None, None, junk),
        (junk, junk, None),
        (junk, None, junk),
        (None, junk, junk),
        (junk, junk, junk),
    ];
    for (n, (r, ss_e, ss_k)) in cases.into_iter().enumerate() {
        let prekey = claim(&w.bob, &bob, n % 3);
        for one_time in [Some(&prekey), None] {
            let kdm = chain
                .danger_distribute_with_wrong_secrets(
                    &w.group,
                    &bob.verified_exchange,
                    one_time,
                    &w.alice.device.keys,
                    T0,
                    r,
                    ss_e,
                    ss_k,
                )
                .unwrap();
            let mut state = ReceiverState::new();
            assert_eq!(
                code(accept(&w, &kdm, &bob.ring, &mut state)),
                "decryption-failed",
                "case {n}"
            );
        }
    }
    // The same helper with nothing replaced opens: the failures above are the secrets'.
    let kdm = chain
        .danger_distribute_with_wrong_secrets(
            &w.group,
            &bob.verified_exchange,
            None,
            &w.alice.device.keys,
            T0,
            None,
            None,
            None,
        )
        .unwrap();
    accept(&w, &kdm, &bob.ring, &mut ReceiverState::new()).unwrap();
}

#[test]
fn a_last_resort_distribution_works_after_every_one_time_prekey_is_gone() {
    let (w, mut chain, mut bob) = setup();
    let removed = bob.ring.replace_all_one_time();
    assert_eq!(removed.len(), 3);
    assert_eq!(bob.ring.one_time_count(), 0);
    // A sender still holding a claimed one-time prekey: unknown to Bob now.
    let stale = claim(&w.bob, &bob, 2);
    let kdm = chain
        .distribute_with(
            &w.group,
            &bob.verified_exchange,
            Some(&stale),
            &w.alice.device.keys,
            T0,
        )
        .unwrap();
    assert_eq!(
        code(accept(&w, &kdm, &bob.ring, &mut ReceiverState::new())),
        "prekey/unknown"
    );
    let kdm = chain
        .distribute_with(
            &w.group,
            &bob.verified_exchange,
            None,
            &w.alice.device.keys,
            T0,
        )
        .unwrap();
    let accepted = accept(&w, &kdm, &bob.ring, &mut ReceiverState::new()).unwrap();
    assert_eq!(accepted.consumed_prekey, None);
}

#[test]
fn a_last_resort_prekey_not_held_or_not_certified_is_unknown() {
    let (w, mut chain, mut bob) = setup();
    let kdm = chain
        .distribute(&w.group, &bob.verified_exchange, &w.alice.device.keys, T0)
        .unwrap();
    // Another last-resort prekey under the same exchange key id: the id does not match.
    let other = PrekeyPair::generate(PrekeyId::from_bytes([0x99; 16])).unwrap();
    let mut replaced = bob.ring.clone();
    replaced
        .add_last_resort(bob.verified_exchange.key_id(), other)
        .unwrap();
    assert_eq!(
        code(accept(&w, &kdm, &replaced, &mut ReceiverState::new())),
        "prekey/unknown"
    );
    // Last-resort prekey deleted with its exchange key: the key is no longer a v2 key either.
    assert!(bob.ring.remove_last_resort(&bob.verified_exchange.key_id()));
    assert_eq!(
        code(accept(&w, &kdm, &bob.ring, &mut ReceiverState::new())),
        "receive/wrong-recipient"
    );
}

#[test]
fn after_commit_the_ring_cannot_open_the_recorded_distribution() {
    let (w, mut chain, mut bob) = setup();
    let prekey = claim(&w.bob, &bob, 0);
    let recorded = chain
        .distribute_with(
            &w.group,
            &bob.verified_exchange,
            Some(&prekey),
            &w.alice.device.keys,
            T0,
        )
        .unwrap();
    let mut state = ReceiverState::new();
    let accepted = accept(&w, &recorded, &bob.ring, &mut state).unwrap();
    let (id, hash) = accepted.consumed_prekey.unwrap();
    bob.ring.consume(id, hash, T0).unwrap();

    // What an attacker copies after the commit: the stored ring (and the exchange keys, which
    // `local` passes).
    let copy = PrekeyRing::decode_local(&bob.ring.encode_local()).unwrap();
    assert!(copy.one_time(&id).is_none());
    assert!(!copy.one_time_ids().contains(&id));
    // Nothing in the copy holds the prekey's private keys: with or without the consumed record
    // (pruned after 180 days), the distribution does not open.
    assert_eq!(
        code(accept(&w, &recorded, &copy, &mut ReceiverState::new())),
        "receive/duplicate"
    );
    let mut pruned = copy.clone();
    pruned.prune(T0.plus(181 * Timestamp::DAY));
    assert!(pruned.consumed(&id).is_none());
    assert_eq!(
        code(accept(&w, &recorded, &pruned, &mut ReceiverState::new())),
        "prekey/unknown"
    );
    // Even an attacker who swaps in every private key the copy holds as if it were that prekey
    // gets no key: the one-time prekey's keys are gone.
    for other in copy.one_time_ids() {
        let pair = copy.one_time(&other).unwrap().clone();
        let mut forged = PrekeyRing::new();
        forged
            .add_last_resort(bob.verified_exchange.key_id(), pair.clone())
            .unwrap();
        let as_id =
            PrekeyPair::from_private_keys(id, pair.danger_ec_private(), pair.danger_kem_private())
                .unwrap();
        forged.add_one_time(as_id).unwrap();
        assert_eq!(
            code(accept(&w, &recorded, &forged, &mut ReceiverState::new())),
            "decryption-failed"
        );
    }
}

#[test]
fn v2_wire_forms_decode_by_version_and_refuse_malformed_parts() {
    let (w, mut chain, bob) = setup();
    let kdm = chain
        .distribute(&w.group, &bob.verified_exchange, &w.alice.device.keys, T0)
        .unwrap();
    let wire = kdm.encode();
    // The header's version byte sits after `u32 len ‖ u8 9 ‖ "sotto/kdm"`.
    assert_eq!(wire[14], 2);
    let mut v3 = wire.clone();
    v3[14] = 3;
    // Only a version-2 header may exceed the version-1 bound of 512 bytes.
    assert_eq!(code(KeyDistribution::decode(&v3)), "decode/too-long");
    // The prekey kind is the byte after the recipient exchange key id.
    let kind_at = 4 + 11 + 16 + 8 + 16 + 5 * 32;
    assert_eq!(wire[kind_at], 0x02);
    let mut kind = wire.clone();
    kind[kind_at] = 0x03;
    assert_eq!(code(KeyDistribution::decode(&kind)), "decode/unknown-tag");
    // A ciphertext that does not split into rsa_ct and an 87-byte sealed payload.
    let sealed = kdm.sealed();
    let mut ct = sealed.ciphertext().to_vec();
    ct.pop();
    let bad = SignedSealed::from_parts(sealed.header().to_vec(), ct, sealed.signature().to_vec());
    assert_eq!(
        code(KeyDistribution::decode(&bad.encode())),
        "decode/invalid-value"
    );
    let mut long = wire.clone();
    long.resize(4097, 0);
    assert_eq!(code(KeyDistribution::decode(&long)), "decode/too-long");
    // Version-2 certificates and one-time prekeys round-trip through their decoders.
    let body = ExchangeKeyCertificate::decode(bob.certificate.unverified_body()).unwrap();
    assert!(body.is_v2());
    assert_eq!(body.encode(), bob.certificate.unverified_body());
    let prekey = OneTimePrekey::decode(bob.one_time[0].unverified_body()).unwrap();
    assert_eq!(prekey.encode(), bob.one_time[0].unverified_body());
    let mut v1_prekey = bob.one_time[0].unverified_body().to_vec();
    v1_prekey[13] = 1;
    assert_eq!(
        OneTimePrekey::decode(&v1_prekey).unwrap_err().code(),
        "decode/unsupported-version"
    );
}

/// Writes `testdata/prekeys.txt`, the fixed prekeys of [`sotto_proto::testing::fixed_prekey`]
/// (run once: `cargo test -p sotto-proto --test v2 -- --ignored write_fixed_prekeys`).
#[test]
#[ignore = "writes testdata"]
fn write_fixed_prekeys() {
    let mut text = String::from(
        "# Fixed prekeys for tests and vectors (never used for real): index, prekey id, P-256 \
         scalar, ML-KEM-768 dk (FIPS 203), all hex.\n",
    );
    for index in 0..8u8 {
        let pair = PrekeyPair::generate(PrekeyId::from_bytes([0xf0 | index; 16])).unwrap();
        text.push_str(&format!(
            "{index} {} {} {}\n",
            hex::encode(pair.id().as_bytes()),
            hex::encode(pair.danger_ec_private()),
            hex::encode(pair.danger_kem_private())
        ));
    }
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/prekeys.txt");
    std::fs::write(path, text).unwrap();
}
