//! Generates the protocol version 2 test vectors (`docs/protocol.md` §18) in `test-vectors/`:
//! `v2-prekey.json` (one-time prekeys and version-2 exchange-key certificates) and
//! `v2-distribution.json` (hybrid key distributions), documented in `test-vectors/README.md`.
//!
//! ```text
//! cargo run -p sotto-proto --features test-util --example gen_vectors_v2 -- test-vectors
//! ```
//!
//! Prekeys are the fixed ones of `testdata/prekeys.txt`; RSA keys those of `testdata/keys.txt`.
//! RSA-PSS signatures, RSA-OAEP, the ephemeral EC key and the ML-KEM encapsulation are randomised
//! by aws-lc (its ML-KEM API takes no encapsulation randomness), so the wire forms change on
//! every run; the vectors give the recipient's private keys, and a consumer checks by verifying
//! and decrypting. Before writing, every vector is run through the public API
//! (`tests/v2_vectors/mod.rs`, the runner's code) and must give the outcome it states.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../tests/v2_vectors/mod.rs"]
mod run;

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use sotto_proto::chain::SenderChain;
use sotto_proto::crypto::prekey::{PrekeyPair, PrekeyPublic};
use sotto_proto::crypto::sha256;
use sotto_proto::distribution::{KeyDistribution, PrekeyKind};
use sotto_proto::domain::{Domain, PROTOCOL_VERSION_2};
use sotto_proto::env::{DangerSeededRng, Env, Timestamp};
use sotto_proto::group::GroupState;
use sotto_proto::identity::ExchangeKeyCertificate;
use sotto_proto::ids::ConversationId;
use sotto_proto::prekey::{OneTimePrekey, VerifiedPrekey};
use sotto_proto::signed::{Signed, SignedSealed};
use sotto_proto::testing::{fixed_prekey, TestAccount, TestV2Keys, T0};

fn hx(bytes: impl AsRef<[u8]>) -> String {
    hex::encode(bytes)
}

fn device_json(a: &TestAccount) -> Value {
    json!({
        "name": a.name,
        "master_spki": hx(a.master.verifying_key().spki()),
        "account_id": a.master.account().to_string(),
        "device_id": a.device.keys.device().to_string(),
        "device_certificate": hx(a.device.certificate.encode()),
    })
}

fn prekey_json(pair: &PrekeyPair) -> Value {
    json!({
        "prekey_id": pair.id().to_string(),
        "ec_private": hx(pair.danger_ec_private()),
        "kem_private": hx(pair.danger_kem_private()),
        "ec_public": hx(pair.public().ec),
        "kem_public": hx(&pair.public().kem),
    })
}

struct People {
    alice: TestAccount,
    bob: TestAccount,
    carol: TestAccount,
}

fn main() {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "test-vectors".to_owned()),
    );
    fs::create_dir_all(&dir).expect("create output directory");
    let p = People {
        alice: TestAccount::new(0, "alice"),
        bob: TestAccount::new(1, "bob"),
        carol: TestAccount::new(2, "carol"),
    };
    let mut prekeys = prekey_file(&p);
    check(&mut prekeys, run::run_prekey);
    write(&dir, "v2-prekey.json", &prekeys);
    let mut distributions = distribution_file(&p);
    check(&mut distributions, run::run_distribution);
    write(&dir, "v2-distribution.json", &distributions);
}

/// Runs every vector: a positive one must give every value its `expected` states (which then
/// also records the intermediate values the run derived), a negative one must be refused with
/// its `expected_error`.
fn check(file: &mut Value, run: fn(&Value, &Value) -> Result<Value, sotto_proto::Error>) {
    let count = file["vectors"].as_array().unwrap().len();
    for i in 0..count {
        let v = file["vectors"][i].clone();
        let name = v["name"].as_str().unwrap();
        match (run(file, &v), v.get("expected_error")) {
            (Ok(got), None) => {
                for (key, want) in v["expected"].as_object().unwrap() {
                    assert_eq!(&got[key], want, "{name}: {key}");
                }
                file["vectors"][i]["expected"] = got;
            }
            (Err(e), Some(code)) => assert_eq!(e.code(), code, "{name}"),
            (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
        }
    }
}

fn write(dir: &Path, name: &str, value: &Value) {
    let vectors = value["vectors"].as_array().unwrap();
    let mut names = std::collections::BTreeSet::new();
    for v in vectors {
        assert!(
            names.insert(v["name"].as_str().unwrap().to_owned()),
            "{name}: duplicate"
        );
        assert!(!v["description"].as_str().unwrap().is_empty());
    }
    let negatives = vectors
        .iter()
        .filter(|v| v.get("expected_error").is_some())
        .count();
    let mut text = serde_json::to_string_pretty(value).unwrap();
    text.push('\n');
    fs::write(dir.join(name), text).unwrap();
    println!(
        "{name}: {} vectors ({} positive, {negatives} negative)",
        vectors.len(),
        vectors.len() - negatives
    );
}

/// Signs any prekey body with `signer`'s device key, whatever it holds.
fn sign_prekey(signer: &TestAccount, body: &OneTimePrekey) -> Signed {
    Signed::sign(body.encode(), signer.device.keys.signing()).unwrap()
}

fn sign_cert(signer: &TestAccount, body: &ExchangeKeyCertificate) -> Signed {
    Signed::sign(body.encode(), signer.device.keys.signing()).unwrap()
}

fn bad_point(public: &PrekeyPublic) -> PrekeyPublic {
    let mut bad = public.clone();
    bad.ec[64] ^= 0x01; // off the curve
    bad
}

fn x_equal_to_p(public: &PrekeyPublic) -> PrekeyPublic {
    let mut bad = public.clone();
    let p =
        hex::decode("ffffffff00000001000000000000000000000000ffffffffffffffffffffffff").unwrap();
    bad.ec[1..33].copy_from_slice(&p);
    bad
}

fn compressed_prefix(public: &PrekeyPublic) -> PrekeyPublic {
    let mut bad = public.clone();
    bad.ec[0] = 0x06; // "hybrid" SEC1 form: not the uncompressed encoding
    bad
}

fn bad_kem(public: &PrekeyPublic) -> PrekeyPublic {
    let mut bad = public.clone();
    bad.kem[0] = 0x01; // first coefficient 0xd01 = 3329 = q
    bad.kem[1] = (bad.kem[1] & 0xf0) | 0x0d;
    bad
}

fn prekey_vector(
    name: &str,
    description: &str,
    verifier: &TestAccount,
    signed: &Signed,
    now: Timestamp,
    expected: Result<Value, &str>,
) -> Value {
    let mut v = json!({
        "name": name,
        "description": description,
        "op": "one_time_prekey",
        "device": verifier.device.keys.device().to_string(),
        "signed": hx(signed.encode()),
        "now": now.millis(),
    });
    match expected {
        Ok(e) => v["expected"] = e,
        Err(code) => v["expected_error"] = json!(code),
    }
    v
}

#[allow(clippy::too_many_arguments)]
fn cert_vector(
    name: &str,
    description: &str,
    verifier: &TestAccount,
    signed: &Signed,
    highest: Option<u64>,
    v2_seen: bool,
    expected: Result<Value, &str>,
) -> Value {
    let mut v = json!({
        "name": name,
        "description": description,
        "op": "exchange_key_certificate",
        "device": verifier.device.keys.device().to_string(),
        "signed": hx(signed.encode()),
        "now": T0.millis(),
        "highest_serial_seen": highest,
        "v2_seen": v2_seen,
    });
    match expected {
        Ok(e) => v["expected"] = e,
        Err(code) => v["expected_error"] = json!(code),
    }
    v
}

/// A negative certificate vector: name, description, verifier, certificate, highest serial seen,
/// whether a version-2 certificate was seen, expected code.
type CertCase<'a> = (
    &'a str,
    &'a str,
    &'a TestAccount,
    Signed,
    Option<u64>,
    bool,
    &'a str,
);

fn public_json(public: &PrekeyPublic) -> Value {
    json!({
        "prekey_id": public.id.to_string(),
        "ec_public": hx(public.ec),
        "kem_public": hx(&public.kem),
    })
}

fn prekey_file(p: &People) -> Value {
    let bob = &p.bob;
    let account = bob.master.account();
    let one_time = fixed_prekey(1);
    let body = OneTimePrekey {
        account,
        device: bob.device.keys.device(),
        created_at: T0,
        public: one_time.public().clone(),
    };
    let good = bob
        .device
        .keys
        .sign_one_time_prekey(account, one_time.public(), T0)
        .unwrap();
    let mut vectors = vec![prekey_vector(
        "one-time-prekey",
        "A one-time prekey of Bob's device, verified as that device (§18.4).",
        bob,
        &good,
        T0,
        Ok(json!({
            "prekey_id": one_time.id().to_string(),
            "created_at": T0.millis(),
            "ec_public": hx(one_time.public().ec),
            "kem_public": hx(&one_time.public().kem),
        })),
    )];
    let mut tampered = good.signature().to_vec();
    tampered[7] ^= 1;
    let tampered = Signed::from_parts(good.unverified_body().to_vec(), tampered);
    let with = |public: PrekeyPublic| {
        sign_prekey(
            bob,
            &OneTimePrekey {
                public,
                ..body.clone()
            },
        )
    };
    let mut version_1 = body.encode();
    let version_at = Domain::Prekey.encoded().len() - 1;
    version_1[version_at] = 1;
    let version_1 = Signed::sign(version_1, bob.device.keys.signing()).unwrap();
    let mut truncated = body.encode();
    truncated.pop();
    let truncated = Signed::sign(truncated, bob.device.keys.signing()).unwrap();
    let as_xkey_cert = {
        let mut b = body.encode();
        b.splice(
            ..Domain::Prekey.encoded().len(),
            Domain::ExchangeKeyCertificateV2.encoded(),
        );
        Signed::sign(b, bob.device.keys.signing()).unwrap()
    };
    let negatives: Vec<(&str, &str, &TestAccount, Signed, Timestamp, &str)> = vec![
        (
            "prekey-bad-signature",
            "One bit of the signature flipped.",
            bob,
            tampered,
            T0,
            "bad-signature",
        ),
        (
            "prekey-wrong-account",
            "Bob's prekey offered as Carol's device's.",
            &p.carol,
            good.clone(),
            T0,
            "wrong-account",
        ),
        (
            "prekey-signed-by-another-device",
            "Names Bob's device, signed by Carol's device key.",
            bob,
            sign_prekey(&p.carol, &body),
            T0,
            "bad-signature",
        ),
        (
            "prekey-far-future",
            "created_at more than 3 hours after now.",
            bob,
            good.clone(),
            T0.minus(3 * Timestamp::HOUR + 1),
            "receive/far-future",
        ),
        (
            "prekey-point-off-curve",
            "The EC point is not on P-256 (last byte of y changed).",
            bob,
            with(bad_point(one_time.public())),
            T0,
            "prekey/invalid-key",
        ),
        (
            "prekey-point-x-is-p",
            "The EC point's x-coordinate equals the field prime.",
            bob,
            with(x_equal_to_p(one_time.public())),
            T0,
            "prekey/invalid-key",
        ),
        (
            "prekey-point-prefix",
            "The EC point's prefix is 0x06, not the uncompressed 0x04.",
            bob,
            with(compressed_prefix(one_time.public())),
            T0,
            "prekey/invalid-key",
        ),
        (
            "prekey-kem-coefficient-q",
            "The ML-KEM key's first coefficient is q = 3329 (FIPS 203 §7.2).",
            bob,
            with(bad_kem(one_time.public())),
            T0,
            "prekey/invalid-key",
        ),
        (
            "prekey-version-1",
            "The prekey domain with version 1, which it does not have.",
            bob,
            version_1,
            T0,
            "decode/unsupported-version",
        ),
        (
            "prekey-truncated",
            "The body one byte short.",
            bob,
            truncated,
            T0,
            "decode/truncated",
        ),
        (
            "prekey-wrong-domain",
            "A prekey body under the exchange-key certificate's label.",
            bob,
            as_xkey_cert,
            T0,
            "decode/wrong-domain",
        ),
    ];
    for (name, description, verifier, signed, now, code) in negatives {
        vectors.push(prekey_vector(
            name,
            description,
            verifier,
            &signed,
            now,
            Err(code),
        ));
    }

    // Version-2 exchange-key certificates.
    let last_resort = fixed_prekey(0);
    let v2 = bob.v2_keys_with(fixed_prekey(0), Vec::new());
    let xkey = v2.verified_exchange.key_id().to_string();
    let cert_body = ExchangeKeyCertificate::decode(v2.certificate.unverified_body()).unwrap();
    vectors.push(cert_vector(
        "xkey-cert-v2",
        "A version-2 exchange-key certificate with its last-resort prekey (§18.3).",
        bob,
        &v2.certificate,
        Some(1),
        false,
        Ok(json!({
            "version": 2,
            "serial": 2,
            "exchange_key_id": xkey,
            "last_resort": public_json(last_resort.public()),
        })),
    ));
    vectors.push(cert_vector(
        "xkey-cert-v2-after-v2",
        "A version-2 certificate when a version-2 one was seen before: accepted.",
        bob,
        &v2.certificate,
        Some(2),
        true,
        Ok(json!({
            "version": 2,
            "serial": 2,
            "exchange_key_id": xkey,
            "last_resort": public_json(last_resort.public()),
        })),
    ));
    vectors.push(cert_vector(
        "xkey-cert-v1-before-v2",
        "A version-1 certificate while no version-2 one was seen: accepted as version 1.",
        bob,
        &bob.device.exchange_certificate,
        None,
        false,
        Ok(json!({
            "version": 1,
            "serial": 1,
            "exchange_key_id": xkey,
            "last_resort": null,
        })),
    ));
    let v1_next = bob
        .device
        .keys
        .certify_exchange_key(
            bob.master.account(),
            bob.device.exchange.encrypting_key(),
            3,
            T0.minus(Timestamp::HOUR),
            T0.plus(Timestamp::DAY),
        )
        .unwrap();
    let cert_with = |public: PrekeyPublic| {
        sign_cert(
            bob,
            &ExchangeKeyCertificate {
                last_resort: Some(public),
                ..cert_body.clone()
            },
        )
    };
    let mut version_3 = v2.certificate.unverified_body().to_vec();
    version_3[Domain::ExchangeKeyCertificateV2.encoded().len() - 1] = 3;
    let version_3 = Signed::sign(version_3, bob.device.keys.signing()).unwrap();
    let mut tampered = v2.certificate.signature().to_vec();
    tampered[3] ^= 1;
    let tampered = Signed::from_parts(v2.certificate.unverified_body().to_vec(), tampered);
    let negatives: Vec<CertCase<'_>> = vec![
        ("xkey-cert-v1-after-v2", "A version-1 certificate with a higher serial after a version-2 one was accepted (§18.3).", bob, v1_next, Some(2), true, "exchange-key-rollback"),
        ("xkey-cert-old-v1-after-v2", "The device's old version-1 certificate after a version-2 one.", bob, bob.device.exchange_certificate.clone(), Some(2), true, "exchange-key-rollback"),
        ("xkey-cert-v2-lower-serial", "A version-2 certificate whose serial is below one seen.", bob, v2.certificate.clone(), Some(3), true, "exchange-key-rollback"),
        ("xkey-cert-v2-wrong-account", "Bob's certificate verified as Carol's device.", &p.carol, v2.certificate.clone(), None, false, "wrong-account"),
        ("xkey-cert-v2-bad-signature", "One bit of the signature flipped.", bob, tampered, None, false, "bad-signature"),
        ("xkey-cert-v2-point-off-curve", "The last-resort EC point is not on P-256.", bob, cert_with(bad_point(last_resort.public())), None, false, "prekey/invalid-key"),
        ("xkey-cert-v2-point-prefix", "The last-resort EC point's prefix is 0x06.", bob, cert_with(compressed_prefix(last_resort.public())), None, false, "prekey/invalid-key"),
        ("xkey-cert-v2-kem-coefficient-q", "The last-resort ML-KEM key has a coefficient equal to q.", bob, cert_with(bad_kem(last_resort.public())), None, false, "prekey/invalid-key"),
        ("xkey-cert-version-3", "The certificate domain with version 3.", bob, version_3, None, false, "decode/unsupported-version"),
    ];
    for (name, description, verifier, signed, highest, v2_seen, code) in negatives {
        vectors.push(cert_vector(
            name,
            description,
            verifier,
            &signed,
            highest,
            v2_seen,
            Err(code),
        ));
    }
    json!({
        "description": "Protocol version 2: one-time prekeys (§18.4) and version-2 exchange-key certificates (§18.3).",
        "protocol_version": PROTOCOL_VERSION_2,
        "devices": [device_json(&p.alice), device_json(bob), device_json(&p.carol)],
        "vectors": vectors,
    })
}

struct Dist<'a> {
    p: &'a People,
    group: GroupState,
    genesis: Signed,
    bob_v2: TestV2Keys,
    rng: DangerSeededRng,
}

impl Dist<'_> {
    fn chain(&mut self, who: &TestAccount) -> SenderChain {
        let mut env = Env::new(T0, &mut self.rng);
        SenderChain::start(
            self.group.conversation(),
            self.group.epoch(),
            who.master.account(),
            who.device.keys.device(),
            None,
            &mut env,
        )
        .unwrap()
    }

    fn claim(&self, n: usize) -> VerifiedPrekey {
        self.p
            .bob
            .device
            .verified
            .verify_one_time_prekey(&self.bob_v2.one_time[n], T0)
            .unwrap()
    }
}

fn ring(
    last_resort: bool,
    one_time: &[&PrekeyPair],
    consumed: &[(&PrekeyPair, [u8; 32])],
) -> Value {
    json!({
        "last_resort": last_resort.then(|| fixed_prekey(0).id().to_string()),
        "one_time": one_time.iter().map(|p| p.id().to_string()).collect::<Vec<_>>(),
        "consumed": consumed.iter().map(|(p, hash)| json!({
            "prekey_id": p.id().to_string(),
            "wire_hash": hx(hash),
            "consumed_at": T0.millis(),
        })).collect::<Vec<_>>(),
    })
}

fn resign(
    kdm: &KeyDistribution,
    header: Vec<u8>,
    ciphertext: Vec<u8>,
    signer: &TestAccount,
) -> Vec<u8> {
    let _ = kdm;
    SignedSealed::sign(header, ciphertext, signer.device.keys.signing())
        .unwrap()
        .encode()
}

fn distribution_file(p: &People) -> Value {
    let conversation = ConversationId::from_bytes([0x21; 16]);
    let genesis = GroupState::create(
        conversation,
        sotto_proto::testing::group_kind(conversation, "v2 vectors"),
        vec![
            p.alice.member(true),
            p.bob.member(false),
            p.carol.member(false),
        ],
        p.alice.master.account(),
        &p.alice.device.keys,
        T0,
    )
    .unwrap();
    let group = GroupState::genesis(&genesis, &p.alice.device.verified).unwrap();
    let (lr, ot1, ot2, ot3) = (
        fixed_prekey(0),
        fixed_prekey(1),
        fixed_prekey(2),
        fixed_prekey(3),
    );
    let bob_v2 = p.bob.v2_keys_with(
        fixed_prekey(0),
        vec![fixed_prekey(1), fixed_prekey(2), fixed_prekey(3)],
    );
    let mut d = Dist {
        p,
        group,
        genesis,
        bob_v2,
        rng: DangerSeededRng::new(sha256(b"sotto/test-vectors/v2-distribution.json")),
    };
    let alice = &p.alice;
    let mut chain = d.chain(alice);
    let key = hx(chain.history_record().key.danger_bytes());
    let chain_id = chain.chain().to_string();
    let (pk1, pk2) = (d.claim(0), d.claim(1));
    let xkey = d.bob_v2.verified_exchange.clone();
    let signer = &alice.device.keys;
    let one_time = chain
        .distribute_with(&d.group, &xkey, Some(&pk1), signer, T0)
        .unwrap();
    let last_resort = chain
        .distribute_with(&d.group, &xkey, None, signer, T0)
        .unwrap();
    let full_ring = ring(true, &[&ot1, &ot2, &ot3], &[]);
    let mut vectors = Vec::new();
    let sender = alice.device.keys.device().to_string();
    let mut vector = |name: &str,
                      description: &str,
                      kdm: &[u8],
                      ring: Value,
                      now: Timestamp,
                      sender: &str,
                      outcome: Result<Option<[u8; 32]>, &str>| {
        let mut v = json!({
            "name": name,
            "description": description,
            "now": now.millis(),
            "sender": sender,
            "distribution": hx(kdm),
            "ring": ring,
        });
        match outcome {
            Ok(consumed) => {
                v["expected"] = json!({
                    "chain": chain_id,
                    "start_index": 0,
                    "chain_key": key,
                    "consumed_prekey": consumed.map(|hash| json!({
                        "prekey_id": pk1.id().to_string(),
                        "wire_hash": hx(hash),
                    })),
                })
            }
            Err(code) => v["expected_error"] = json!(code),
        }
        vectors.push(v);
    };
    let ot_wire = one_time.encode();
    let ot_hash = sha256(&ot_wire);
    vector("one-time", "A hybrid distribution under one-time prekey 1: opens, and reports the prekey and the wire form's SHA-256 to consume (§18.5, §18.6).", &ot_wire, full_ring.clone(), T0, &sender, Ok(Some(ot_hash)));
    vector("last-resort", "A hybrid distribution under the last-resort prekey of Bob's version-2 certificate: opens, consumes nothing.", &last_resort.encode(), full_ring.clone(), T0, &sender, Ok(None));
    vector(
        "last-resort-no-one-time-left",
        "The last-resort distribution to a device holding no one-time prekey.",
        &last_resort.encode(),
        ring(true, &[], &[]),
        T0,
        &sender,
        Ok(None),
    );

    // Step 1: sender and signature.
    vector(
        "sender-mismatch",
        "The distribution offered as Carol's device's.",
        &ot_wire,
        full_ring.clone(),
        T0,
        &p.carol.device.keys.device().to_string(),
        Err("receive/sender-mismatch"),
    );
    let sealed = one_time.sealed();
    let mut sig = sealed.signature().to_vec();
    sig[9] ^= 1;
    let bad_sig =
        SignedSealed::from_parts(sealed.header().to_vec(), sealed.ciphertext().to_vec(), sig)
            .encode();
    vector(
        "bad-signature",
        "One bit of the signature flipped.",
        &bad_sig,
        full_ring.clone(),
        T0,
        &sender,
        Err("bad-signature"),
    );
    // Step 2: recipient, version-2 key, downgrade.
    vector(
        "not-a-v2-key",
        "A version-2 distribution to an exchange key the device did not certify as version 2.",
        &ot_wire,
        ring(false, &[&ot1], &[]),
        T0,
        &sender,
        Err("receive/wrong-recipient"),
    );
    let v1 = chain
        .distribute(&d.group, &p.bob.device.verified_exchange, signer, T0)
        .unwrap();
    vector(
        "downgrade",
        "A version-1 distribution to an exchange key certified by a version-2 certificate (§18.7).",
        &v1.encode(),
        full_ring.clone(),
        T0,
        &sender,
        Err("receive/downgrade"),
    );
    // Step 3: times.
    vector(
        "stale",
        "Received more than 120 days after it was made.",
        &ot_wire,
        full_ring.clone(),
        T0.plus(121 * Timestamp::DAY),
        &sender,
        Err("receive/stale-distribution"),
    );
    vector(
        "far-future",
        "Made more than 3 hours after now.",
        &ot_wire,
        full_ring.clone(),
        T0.minus(4 * Timestamp::HOUR),
        &sender,
        Err("receive/far-future"),
    );
    // Step 4: prekey.
    vector(
        "one-time-not-held",
        "Names a one-time prekey the device does not hold (never made, or handed out twice).",
        &ot_wire,
        ring(true, &[&ot2, &ot3], &[]),
        T0,
        &sender,
        Err("prekey/unknown"),
    );
    vector(
        "duplicate",
        "The very distribution that consumed its one-time prekey, again: a harmless duplicate.",
        &ot_wire,
        ring(true, &[&ot2, &ot3], &[(&ot1, ot_hash)]),
        T0,
        &sender,
        Err("receive/duplicate"),
    );
    let resigned = resign(
        &one_time,
        sealed.header().to_vec(),
        sealed.ciphertext().to_vec(),
        alice,
    );
    vector("re-signed-after-consume", "The same header and ciphertext under a fresh signature, after the first one consumed the prekey.", &resigned, ring(true, &[&ot2, &ot3], &[(&ot1, ot_hash)]), T0, &sender, Err("prekey/unknown"));
    let second = {
        let mut carol_chain = d.chain(&p.carol);
        carol_chain
            .distribute_with(&d.group, &xkey, Some(&pk1), &p.carol.device.keys, T0)
            .unwrap()
    };
    vector("prekey-used-twice", "Another sender's distribution under the same one-time prekey, after the first consumed it.", &second.encode(), ring(true, &[&ot2, &ot3], &[(&ot1, ot_hash)]), T0, &p.carol.device.keys.device().to_string(), Err("prekey/unknown"));
    vector("last-resort-other-prekey", "A last-resort distribution naming a prekey other than the one the device holds for that exchange key.", &last_resort.encode(), json!({"last_resort": ot3.id().to_string(), "one_time": [], "consumed": []}), T0, &sender, Err("prekey/unknown"));
    vector("last-resort-deleted", "A last-resort distribution to an exchange key whose last-resort prekey (and so its version-2 record) the device deleted.", &last_resort.encode(), json!({"last_resort": null, "one_time": [], "consumed": []}), T0, &sender, Err("receive/wrong-recipient"));
    // Step 5: each secret wrong.
    for (name, what, r, e, k) in [
        (
            "wrong-rsa-share",
            "the RSA-OAEP share r",
            Some([0x5a; 32]),
            None,
            None,
        ),
        (
            "wrong-ecdh-secret",
            "the ECDH secret",
            None,
            Some([0x5a; 32]),
            None,
        ),
        (
            "wrong-kem-secret",
            "the ML-KEM secret",
            None,
            None,
            Some([0x5a; 32]),
        ),
    ] {
        let kdm = chain
            .danger_distribute_with_wrong_secrets(&d.group, &xkey, Some(&pk2), signer, T0, r, e, k)
            .unwrap();
        let description = format!("The sender's key derivation used another {what} than the one sent: the other two are right.");
        vector(
            name,
            &description,
            &kdm.encode(),
            full_ring.clone(),
            T0,
            &sender,
            Err("decryption-failed"),
        );
    }
    let mut ct = sealed.ciphertext().to_vec();
    let last = ct.len() - 1;
    ct[last] ^= 1;
    let tag_flipped = resign(&one_time, sealed.header().to_vec(), ct, alice);
    vector(
        "sealed-tag-changed",
        "One bit of the AES-GCM tag changed (re-signed).",
        &tag_flipped,
        full_ring.clone(),
        T0,
        &sender,
        Err("decryption-failed"),
    );
    let mut header = sealed.header().to_vec();
    let e_at = 11 + 16 + 8 + 16 + 5 * 32 + 1 + 16;
    header[e_at + 64] ^= 1;
    let off_curve_e = resign(&one_time, header, sealed.ciphertext().to_vec(), alice);
    vector("ephemeral-off-curve", "The ephemeral EC key changed to a point off the curve (re-signed; the header is also the OAEP label's and the AEAD's input).", &off_curve_e, full_ring.clone(), T0, &sender, Err("decryption-failed"));
    let mut header = sealed.header().to_vec();
    header[e_at + 65 + 100] ^= 1;
    let kem_changed = resign(&one_time, header, sealed.ciphertext().to_vec(), alice);
    vector("kem-ciphertext-changed", "One bit of the ML-KEM ciphertext in the header changed (re-signed; the header is also the OAEP label's and the AEAD's input).", &kem_changed, full_ring.clone(), T0, &sender, Err("decryption-failed"));
    // Decoding.
    let mut header = sealed.header().to_vec();
    header[e_at - 17] = 0x03;
    let bad_kind = resign(&one_time, header, sealed.ciphertext().to_vec(), alice);
    vector(
        "prekey-kind-unknown",
        "Prekey kind 0x03 (re-signed).",
        &bad_kind,
        full_ring.clone(),
        T0,
        &sender,
        Err("decode/unknown-tag"),
    );
    let mut ct = sealed.ciphertext().to_vec();
    ct.push(0);
    let bad_split = resign(&one_time, sealed.header().to_vec(), ct, alice);
    vector(
        "ciphertext-trailing-byte",
        "The ciphertext has a byte after the sealed payload (re-signed).",
        &bad_split,
        full_ring.clone(),
        T0,
        &sender,
        Err("decode/invalid-value"),
    );
    let mut header = sealed.header().to_vec();
    header[Domain::KeyDistributionV2.encoded().len() - 1] = 3;
    let v3 = resign(&one_time, header, sealed.ciphertext().to_vec(), alice);
    vector(
        "version-3-long-header",
        "The header's version set to 3: only a version-2 header may be longer than 512 bytes.",
        &v3,
        full_ring.clone(),
        T0,
        &sender,
        Err("decode/too-long"),
    );
    assert_eq!(
        one_time.header().hybrid.as_ref().unwrap().prekey_kind,
        PrekeyKind::OneTime
    );
    let _ = (lr, &d.genesis);
    json!({
        "description": "Protocol version 2: hybrid key distributions (§18.5) and the receiver's checks in the order of §18.6.",
        "protocol_version": PROTOCOL_VERSION_2,
        "devices": [device_json(alice), device_json(&p.bob), device_json(&p.carol)],
        "group_signer": alice.device.keys.device().to_string(),
        "group_genesis": hx(d.genesis.encode()),
        "recipient": {
            "name": "bob",
            "account_id": p.bob.master.account().to_string(),
            "device_id": p.bob.device.keys.device().to_string(),
            "exchange_key_id": d.bob_v2.verified_exchange.key_id().to_string(),
            "exchange_pkcs8": hx(p.bob.device.exchange.to_pkcs8().as_slice()),
            "exchange_certificate": hx(d.bob_v2.certificate.encode()),
        },
        "prekeys": [prekey_json(&fixed_prekey(0)), prekey_json(&ot1), prekey_json(&ot2), prekey_json(&ot3)],
        "vectors": vectors,
    })
}
