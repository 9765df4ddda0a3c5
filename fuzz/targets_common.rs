//! The body of every `sotto-proto` fuzz target, shared by the cargo-fuzz binaries in
//! `fuzz/fuzz_targets/` and by the corpus replay test `crates/sotto-proto/tests/fuzz_corpus.rs`
//! (both include this file with `#[path]`), so a crash input found by libFuzzer is replayed by an
//! ordinary `cargo test`.
//!
//! Each target feeds arbitrary bytes to one decoder and, when they decode, checks that the
//! encoding is canonical (re-encoding gives the same bytes back) and pushes the value through the
//! verification that follows decoding in real use (signature, chain and membership checks, against
//! a fixed world built once from the committed test keys). Nothing here may panic on any input
//! except through the assertions, which state protocol invariants.
//!
//! [`seeds`] produces real encodings for the seed corpus (`fuzz/corpus/<target>/seed-*`).

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fmt::Display;
use std::str::FromStr;
use std::sync::{Mutex, OnceLock, PoisonError};

use sotto_proto::auth::AuthChallenge;
use sotto_proto::backup::{open_backup, BackupItem, BackupItemHeader, BackupItemId};
use sotto_proto::body::{
    check_amendment, pad, unpad, AmendmentInfo, AmendmentKind, AttachmentRef, BlobId, BodyClass,
    FileName, MediaType, Mentions, MessageBody, Reaction, ReceiptKind, TargetInfo,
};
use sotto_proto::bundle::{GroupNameRecord, KeyBundle, MasterKeyRecord, PinRecord, Record};
use sotto_proto::chain::PrekeyRing;
use sotto_proto::chain::{ChainKey, LocalDevice, ReceiverState, SenderChain};
use sotto_proto::codec::Reader;
use sotto_proto::crypto::prekey::PrekeyPair;
use sotto_proto::crypto::rsa::{
    EncryptingKey, ExchangeKeyPair, RsaPublicKey, SigningKeyPair, VerifyingKey, MAX_RSA_BITS,
    MIN_RSA_BITS,
};
use sotto_proto::distribution::{DistributionHeader, KeyDistribution, KeyRequest};
use sotto_proto::env::{DangerSeededRng, Env, Rng};
use sotto_proto::envelope::{Envelope, EnvelopeHeader};
use sotto_proto::group::{
    change_hash, decode_signed_change, GroupChange, GroupOp, GroupState, Member,
};
use sotto_proto::handover::{open_handover, Handover, HandoverHeader, HandoverId};
use sotto_proto::identity::certificate::{DeviceCertificate, ExchangeKeyCertificate, Revocation};
use sotto_proto::identity::{
    AccountIdentity, DeviceKeys, VerifiedDevice, VerifiedExchangeKey, VerifiedRevocation,
};
use sotto_proto::ids::{
    AccountId, AuthKeyId, ChainId, ConversationId, DeviceId, ExchangeKeyId, MessageId,
};
use sotto_proto::limits::MAX_PREKEY_BODY_LEN;
use sotto_proto::limits::{MAX_CERTIFICATE_LEN, MAX_CHAIN_MESSAGES};
use sotto_proto::payload::{Payload, PayloadKind, MAX_KEY_REQUEST_BODY_LEN};
use sotto_proto::prekey::OneTimePrekey;
use sotto_proto::recovery::{RecoveryId, RecoveryKey, RecoveryKeys, RecoverySecret};
use sotto_proto::signed::{Signed, SignedSealed};
use sotto_proto::testing::{fixed_pkcs8, fixed_prekey, TestAccount, TestDevice, TestV2Keys, T0};

/// The body of one target.
pub type TargetFn = fn(&[u8]);

/// Every target: its name (the directory under `fuzz/corpus/` and the cargo-fuzz binary) and body.
pub const TARGETS: &[(&str, TargetFn)] = &[
    ("envelope", envelope),
    ("key_distribution", key_distribution),
    ("group_change", group_change),
    ("device_certificate", device_certificate),
    ("message_body", message_body),
    ("key_request", key_request),
    ("auth_challenge", auth_challenge),
    ("ids_text", ids_text),
    ("spki", spki),
    ("malicious_member", malicious_member),
    ("payload", payload),
    ("key_bundle", key_bundle),
    ("backup_item", backup_item),
    ("handover", handover),
    ("recovery_key", recovery_key),
    ("one_time_prekey", one_time_prekey),
    ("exchange_key_certificate_v2", exchange_key_certificate_v2),
    ("prekey_ring", prekey_ring),
];

/// A fixed world, built once per process from the committed test keys and a seeded generator, so
/// every process (fuzzer, replay test, seed writer) builds the same chains and keys.
pub struct Fixture {
    /// Admin of the conversation; owns `alice_chain`.
    pub alice: TestAccount,
    /// Member; has accepted `alice_chain` in `bob_receiver`.
    pub bob: TestAccount,
    /// Member; was not sent `alice_chain`.
    pub carol: TestAccount,
    /// The genesis change (epoch 0).
    pub genesis: Signed,
    /// The group state after the genesis: Alice (admin), Bob, Carol.
    pub group: GroupState,
    /// Alice's sender chain at epoch 0, distributed to Bob (shared by the key-request target).
    pub alice_chain: Mutex<SenderChain>,
    /// The distribution of `alice_chain` to Bob.
    pub kdm_to_bob: KeyDistribution,
    /// `alice_chain`'s key at index 0, as its owner holds it (for the malicious-member target,
    /// which encrypts what the input says).
    pub alice_chain_key: [u8; 32],
    /// Bob's receiving state, knowing `alice_chain`.
    pub bob_receiver: ReceiverState,
    /// A verified revocation by Alice's master key of a device that does not exist.
    pub revocation: VerifiedRevocation,
    /// The signed form of `revocation`.
    pub revocation_signed: Signed,
    /// A second device of Alice's, the recipient of hand-overs.
    pub laptop: TestDevice,
    /// The keys of Alice's recovery set-up [`RECOVERY_SET_UP`].
    pub recovery: RecoveryKeys,
    /// A backup item by Alice's first device holding her master key.
    pub master_item: Vec<u8>,
    /// Bob's device as a version-2 device: fixed prekeys 0 (last resort) and 1 (one-time).
    pub bob_v2: TestV2Keys,
}

/// The recovery set-up of the fixture.
pub const RECOVERY_SET_UP: RecoveryId = RecoveryId::from_bytes([0x21; 16]);

impl Fixture {
    fn build() -> Self {
        let alice = TestAccount::new(0, "alice");
        let bob = TestAccount::new(1, "bob");
        let carol = TestAccount::new(2, "carol");
        let conversation = ConversationId::from_bytes([0x11; 16]);
        let genesis = GroupState::create(
            conversation,
            sotto_proto::testing::group_kind(conversation, "fuzz room"),
            vec![alice.member(true), bob.member(false), carol.member(false)],
            alice.master.account(),
            &alice.device.keys,
            T0,
        )
        .expect("genesis");
        let group = GroupState::genesis(&genesis, &alice.device.verified).expect("apply genesis");
        let mut rng = RecordingRng(DangerSeededRng::new([0x5a; 32]), Vec::new());
        let mut env = Env::new(T0, &mut rng);
        let mut chain = SenderChain::start(
            group.conversation(),
            group.epoch(),
            alice.master.account(),
            alice.device.keys.device(),
            None,
            &mut env,
        )
        .expect("start chain");
        // SenderChain::start draws the chain id, then the chain key.
        let alice_chain_key: [u8; 32] = rng
            .1
            .iter()
            .find(|draw| draw.len() == 32)
            .and_then(|draw| draw.as_slice().try_into().ok())
            .expect("chain key draw");
        let kdm_to_bob = chain
            .distribute(
                &group,
                &bob.device.verified_exchange,
                &alice.device.keys,
                T0,
            )
            .expect("distribute");
        let mut bob_receiver = ReceiverState::new();
        bob_receiver
            .accept_distribution(
                &kdm_to_bob,
                &alice.device.verified,
                &local(&bob),
                &group,
                T0,
            )
            .expect("accept distribution");
        let revocation_signed = alice
            .master
            .revoke(DeviceId::from_bytes([0xdd; 32]), 1, T0)
            .expect("revoke");
        let revocation = alice
            .identity
            .verify_revocation(&revocation_signed)
            .expect("verify revocation");
        let laptop = TestAccount::device_for(&alice.master, &alice.identity, 16, "laptop");
        let recovery = RecoveryKeys::derive(
            &RecoverySecret::from_key(&RecoveryKey::from_secret(&[0x33; 28])),
            alice.master.account(),
            RECOVERY_SET_UP,
        )
        .expect("recovery keys");
        let master_item = BackupItem::seal(
            recovery.backup_key(),
            alice.master.account(),
            RECOVERY_SET_UP,
            BackupItemId::from_bytes([1; 16]),
            &alice.device.keys,
            &alice.device.certificate,
            T0,
            &KeyBundle::new(vec![Record::MasterKey(
                MasterKeyRecord::new(alice.master.key_pair().to_pkcs8().expect("pkcs8"))
                    .expect("master key record"),
            )]),
        )
        .expect("seal backup item")
        .encode();
        let bob_v2 = bob.v2_keys_with(fixed_prekey(0), vec![fixed_prekey(1)]);
        Self {
            bob_v2,
            alice,
            bob,
            carol,
            genesis,
            group,
            laptop,
            recovery,
            master_item,
            alice_chain: Mutex::new(chain),
            kdm_to_bob,
            alice_chain_key,
            bob_receiver,
            revocation,
            revocation_signed,
        }
    }

    fn accounts(&self) -> [&TestAccount; 3] {
        [&self.alice, &self.bob, &self.carol]
    }

    /// The verified device a structure names, or Alice's (which then fails the sender check).
    pub fn device_named(&self, device: &DeviceId) -> &VerifiedDevice {
        self.account_with_device(device)
            .map_or(&self.alice.device.verified, |a| &a.device.verified)
    }

    /// The verified exchange key of the device a structure names, or Bob's.
    pub fn exchange_key_of(&self, device: &DeviceId) -> &VerifiedExchangeKey {
        self.account_with_device(device)
            .map_or(&self.bob.device.verified_exchange, |a| {
                &a.device.verified_exchange
            })
    }

    /// The private keys of the device a structure names, or Alice's.
    pub fn keys_named(&self, device: &DeviceId) -> &DeviceKeys {
        self.account_with_device(device)
            .map_or(&self.alice.device.keys, |a| &a.device.keys)
    }

    /// Bob's receiving state knowing `alice_chain`, built afresh (one RSA-OAEP decryption).
    pub fn fresh_bob_receiver(&self) -> ReceiverState {
        let mut state = ReceiverState::new();
        state
            .accept_distribution(
                &self.kdm_to_bob,
                &self.alice.device.verified,
                &local(&self.bob),
                &self.group,
                T0,
            )
            .expect("fixture distribution");
        state
    }

    fn account_with_device(&self, device: &DeviceId) -> Option<&TestAccount> {
        self.accounts()
            .into_iter()
            .find(|a| a.device.keys.device() == *device)
    }
}

/// A generator that remembers what it handed out, so the fixture knows its own chain key.
struct RecordingRng(DangerSeededRng, Vec<Vec<u8>>);

impl Rng for RecordingRng {
    fn fill(&mut self, out: &mut [u8]) -> Result<(), sotto_proto::Error> {
        self.0.fill(out)?;
        self.1.push(out.to_vec());
        Ok(())
    }
}

/// The process-wide fixture.
pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(Fixture::build)
}

/// An account's first device as the recipient of distributions.
pub fn local(account: &TestAccount) -> LocalDevice<'_> {
    LocalDevice {
        prekeys: sotto_proto::PrekeyRing::empty(),
        account: account.master.account(),
        device: account.device.keys.device(),
        exchange_keys: std::slice::from_ref(&account.device.exchange),
    }
}

/// `Envelope::decode` and `EnvelopeHeader::decode`, then `ReceiverState::open` as Bob.
pub fn envelope(data: &[u8]) {
    if let Ok(header) = EnvelopeHeader::decode(data) {
        assert_eq!(
            header.encode(),
            data,
            "envelope header encoding is canonical"
        );
    }
    let Ok(envelope) = Envelope::decode(data) else {
        return;
    };
    assert_eq!(envelope.encode(), data, "envelope encoding is canonical");
    assert_eq!(
        envelope.header().encode(),
        envelope.sealed().header(),
        "envelope header encoding is canonical"
    );
    let f = fixture();
    let sender = f.device_named(&envelope.header().sender_device);
    if let Ok(opened) = f.bob_receiver.open(&envelope, sender, &f.group, T0) {
        // Only a genuine signature gets here: the opened header is the one that was signed.
        assert_eq!(opened.header(), envelope.header());
        assert_eq!(
            envelope.header().sender_device,
            f.alice.device.keys.device()
        );
    }
}

/// `KeyDistribution::decode` and `DistributionHeader::decode`, then `accept_distribution` as Bob.
pub fn key_distribution(data: &[u8]) {
    if let Ok(header) = DistributionHeader::decode(data) {
        assert_eq!(
            header.encode(),
            data,
            "distribution header encoding is canonical"
        );
    }
    let Ok(kdm) = KeyDistribution::decode(data) else {
        return;
    };
    assert_eq!(kdm.encode(), data, "distribution encoding is canonical");
    assert_eq!(kdm.header().encode(), kdm.sealed().header());
    let f = fixture();
    let sender = f.device_named(&kdm.header().sender_device);
    // Bob as a version-1 device, then as a version-2 device (with prekeys).
    for ring in [PrekeyRing::empty(), &f.bob_v2.ring] {
        let mut state = ReceiverState::new();
        let me = LocalDevice {
            prekeys: ring,
            ..local(&f.bob)
        };
        if let Ok(accepted) = state.accept_distribution(&kdm, sender, &me, &f.group, T0) {
            assert_eq!(accepted.chain, kdm.header().chain);
            assert!(state.chain(&accepted.chain).is_some());
            // Version 2 exactly when Bob has prekeys; a one-time prekey is reported to consume.
            assert_eq!(
                kdm.header().is_v2(),
                ring.is_v2_exchange_key(&kdm.header().recipient_key)
            );
            if let Some((id, hash)) = accepted.consumed_prekey {
                assert_eq!(hash, sotto_proto::crypto::sha256(data));
                assert!(ring.one_time(&id).is_some());
            }
        }
    }
}

/// `OneTimePrekey::decode`, then `verify_one_time_prekey` as Bob's device.
pub fn one_time_prekey(data: &[u8]) {
    if let Ok(body) = OneTimePrekey::decode(data) {
        assert_eq!(body.encode(), data, "one-time prekey encoding is canonical");
    }
    let Ok(signed) = Signed::decode(data, MAX_PREKEY_BODY_LEN) else {
        return;
    };
    assert_eq!(signed.encode(), data, "signed encoding is canonical");
    let f = fixture();
    if let Ok(prekey) = f.bob.device.verified.verify_one_time_prekey(&signed, T0) {
        assert_eq!(prekey.device(), f.bob.device.keys.device());
        prekey
            .public()
            .validate()
            .expect("a verified prekey is valid");
    }
}

/// `ExchangeKeyCertificate::decode` (both versions), then the version-2 verification rules as
/// Bob's device.
pub fn exchange_key_certificate_v2(data: &[u8]) {
    if let Ok(cert) = ExchangeKeyCertificate::decode(data) {
        assert_eq!(
            cert.encode(),
            data,
            "exchange-key certificate encoding is canonical"
        );
    }
    let Ok(signed) = Signed::decode(data, MAX_CERTIFICATE_LEN) else {
        return;
    };
    let f = fixture();
    let device = &f.bob.device.verified;
    for v2_seen in [false, true] {
        if let Ok(key) = device.verify_exchange_key_after_v2(&signed, T0, Some(1), v2_seen) {
            assert!(key.is_v2() || !v2_seen, "no version 1 after version 2");
            if let Some(prekey) = key.last_resort() {
                prekey.validate().expect("a certified prekey is valid");
            }
        }
    }
}

/// `PrekeyRing::decode_local` and `PrekeyPair::decode_local`: canonical, never a panic.
pub fn prekey_ring(data: &[u8]) {
    if let Ok(ring) = PrekeyRing::decode_local(data) {
        assert_eq!(
            ring.encode_local().as_slice(),
            data,
            "ring encoding is canonical"
        );
    }
    if let Ok(pair) = PrekeyPair::decode_local(data) {
        assert_eq!(
            pair.encode_local().as_slice(),
            data,
            "prekey encoding is canonical"
        );
        pair.public()
            .validate()
            .expect("a restored prekey is valid");
    }
}

/// `decode_signed_change` and `GroupChange::decode`, then `GroupState::apply` (and `genesis`)
/// against the fixed epoch-0 state.
pub fn group_change(data: &[u8]) {
    if let Ok(change) = GroupChange::decode(data) {
        assert_eq!(change.encode(), data, "group change encoding is canonical");
    }
    let Ok(signed) = decode_signed_change(data) else {
        return;
    };
    assert_eq!(signed.encode(), data, "signed encoding is canonical");
    let _ = change_hash(&signed);
    let f = fixture();
    let signer =
        GroupChange::decode(signed.unverified_body()).map_or(&f.alice.device.verified, |change| {
            assert_eq!(change.encode(), signed.unverified_body());
            f.device_named(&change.signer_device)
        });
    if let Ok(next) = f.group.apply(&signed, signer) {
        assert_eq!(next.epoch(), f.group.epoch() + 1);
        assert_eq!(next.hash_at(f.group.epoch()), Some(f.group.head()));
    }
    let _ = GroupState::genesis(&signed, signer);
}

/// `Signed::decode` and the three identity body decoders, then every verify path.
pub fn device_certificate(data: &[u8]) {
    if let Ok(cert) = DeviceCertificate::decode(data) {
        assert_eq!(
            cert.encode(),
            data,
            "device certificate encoding is canonical"
        );
    }
    if let Ok(revocation) = Revocation::decode(data) {
        assert_eq!(
            revocation.encode(),
            data,
            "revocation encoding is canonical"
        );
    }
    if let Ok(cert) = ExchangeKeyCertificate::decode(data) {
        assert_eq!(
            cert.encode(),
            data,
            "exchange-key certificate encoding is canonical"
        );
    }
    let Ok(signed) = Signed::decode(data, MAX_CERTIFICATE_LEN) else {
        return;
    };
    assert_eq!(signed.encode(), data, "signed encoding is canonical");
    let f = fixture();
    let identity = &f.alice.identity;
    if let Ok(device) = identity.verify_device(&signed, &[]) {
        assert_eq!(device.account(), identity.account());
        let _ = identity.verify_device(&signed, std::slice::from_ref(&f.revocation));
    }
    if let Ok(revocation) = identity.verify_revocation(&signed) {
        assert_eq!(revocation.body().account, identity.account());
    }
    let device = &f.alice.device.verified;
    for highest in [None, Some(1), Some(u64::MAX)] {
        if let Ok(key) = device.verify_exchange_key(&signed, T0, highest) {
            assert_eq!(key.device(), device.device());
            assert!(highest.is_none_or(|seen| key.serial() >= seen));
        }
    }
}

/// A peer's body reaches the amendment check as a target and as an amendment: whatever it
/// holds, the check's outcome follows from the kinds and accounts alone.
fn amendment_rules(body: &MessageBody) {
    let conversation = ConversationId::from_bytes([1; 16]);
    let author = AccountId::from_bytes([2; 32]);
    let other = AccountId::from_bytes([3; 32]);
    let target = TargetInfo::of(conversation, author, body);
    for kind in [
        AmendmentKind::Edit,
        AmendmentKind::Delete,
        AmendmentKind::Reaction,
    ] {
        for sender in [author, other] {
            let amendment = AmendmentInfo {
                conversation,
                sender,
                kind,
            };
            let code = check_amendment(&target, &amendment).err().map(|e| e.code());
            let expected = match target.class {
                BodyClass::NotContent => Some("message/wrong-target"),
                BodyClass::Content if kind.author_only() && sender != author => {
                    Some("message/not-author")
                }
                BodyClass::Content => None,
            };
            assert_eq!(code, expected, "amendment check of {kind:?} by {sender}");
        }
    }
    if let Some((amendment, _)) = AmendmentInfo::of(conversation, other, body) {
        let content = TargetInfo {
            conversation,
            sender: other,
            class: BodyClass::Content,
        };
        assert!(check_amendment(&content, &amendment).is_ok());
    }
}

/// `MessageBody::decode`, `unpad` and `pad`, and the amendment check (§8.5) on what decodes.
pub fn message_body(data: &[u8]) {
    if let Ok(body) = MessageBody::decode(data) {
        // What decodes, encodes (the field types hold the decoder's rules), to the same bytes.
        let encoded = body.encode().expect("a decoded body encodes");
        assert_eq!(
            encoded.as_slice(),
            data,
            "message body encoding is canonical"
        );
        amendment_rules(&body);
    }
    if let Ok(inner) = unpad(data) {
        if let Ok(padded) = pad(inner) {
            assert_eq!(padded.as_slice(), data, "padding is canonical");
        }
        let _ = MessageBody::decode(inner);
    }
    if let Ok(padded) = pad(data) {
        assert_eq!(unpad(&padded).ok(), Some(data), "unpad(pad(x)) == x");
    }
}

/// `PayloadKind::of` and `Payload::decode`: the kind read from the label is the kind decoded, a
/// payload decodes exactly when the one decoder its label names accepts it, and a decoded
/// payload re-encodes to its own bytes.
pub fn payload(data: &[u8]) {
    let kind = PayloadKind::of(data);
    let decoded = Payload::decode(data);
    match (&kind, &decoded) {
        (Err(_), Ok(_)) => panic!("a payload decoded without a known label"),
        (Ok(kind), Ok(payload)) => assert_eq!(payload.kind(), *kind, "decoded as its label"),
        _ => {}
    }
    let alone = match kind {
        Err(_) => return,
        Ok(PayloadKind::Message) => Envelope::decode(data).is_ok(),
        Ok(PayloadKind::Distribution) => KeyDistribution::decode(data).is_ok(),
        Ok(PayloadKind::KeyRequest) => Signed::decode(data, MAX_KEY_REQUEST_BODY_LEN)
            .is_ok_and(|s| KeyRequest::decode(s.unverified_body()).is_ok()),
    };
    assert_eq!(
        decoded.is_ok(),
        alone,
        "the dispatcher agrees with the decoder it names"
    );
    let encoded = match decoded {
        Ok(Payload::Message(envelope)) => envelope.encode(),
        Ok(Payload::Distribution(kdm)) => kdm.encode(),
        Ok(Payload::KeyRequest { signed, .. }) => signed.encode(),
        Err(_) => return,
    };
    assert_eq!(encoded, data, "payload encoding is canonical");
}

/// `KeyRequest::decode`, then `SenderChain::answer_key_request` on Alice's chain.
pub fn key_request(data: &[u8]) {
    if let Ok(request) = KeyRequest::decode(data) {
        assert_eq!(request.encode(), data, "key request encoding is canonical");
    }
    let Ok(signed) = Signed::decode(data, MAX_CERTIFICATE_LEN) else {
        return;
    };
    let f = fixture();
    let requester_device = KeyRequest::decode(signed.unverified_body())
        .map_or(f.bob.device.keys.device(), |r| r.requester_device);
    let requester = f.device_named(&requester_device);
    let requester_key = f.exchange_key_of(&requester_device);
    let mut chain = f.alice_chain.lock().unwrap_or_else(PoisonError::into_inner);
    if let Ok(kdm) = chain.answer_key_request(
        &signed,
        requester,
        requester_key,
        &f.group,
        &f.alice.device.keys,
        T0,
    ) {
        assert_eq!(kdm.header().recipient_device, requester.device());
    }
}

/// `AuthChallenge::decode`, and verification of a signed challenge with Alice's auth key.
pub fn auth_challenge(data: &[u8]) {
    if let Ok(challenge) = AuthChallenge::decode(data) {
        assert_eq!(
            challenge.encode(),
            data,
            "auth challenge encoding is canonical"
        );
    }
    let Ok(signed) = Signed::decode(data, MAX_CERTIFICATE_LEN) else {
        return;
    };
    if let Ok(challenge) = AuthChallenge::decode(signed.unverified_body()) {
        let f = fixture();
        let _ = challenge.verify(f.alice.device.verified.auth_key(), signed.signature());
    }
}

fn text_form<T: FromStr + Display>(text: &str) {
    if let Ok(id) = text.parse::<T>() {
        assert_eq!(id.to_string(), text, "an id has exactly one text form");
    }
}

fn binary_form<T>(data: &[u8], decode: fn(&mut Reader<'_>) -> Result<T, sotto_proto::DecodeError>) {
    let mut reader = Reader::new(data);
    let _ = decode(&mut reader);
}

/// `FromStr` of every typed id (and the binary id decoders).
pub fn ids_text(data: &[u8]) {
    binary_form(data, AccountId::decode);
    binary_form(data, ChainId::decode);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    text_form::<AccountId>(text);
    text_form::<DeviceId>(text);
    text_form::<ExchangeKeyId>(text);
    text_form::<AuthKeyId>(text);
    text_form::<ConversationId>(text);
    text_form::<ChainId>(text);
    text_form::<MessageId>(text);
}

/// `RsaPublicKey::from_spki` (and the typed key parsers), `SigningKeyPair::from_pkcs8`,
/// `ExchangeKeyPair::from_pkcs8`.
pub fn spki(data: &[u8]) {
    if let Ok(key) = RsaPublicKey::from_spki(data) {
        assert_eq!(key.spki(), data, "only canonical SPKI is accepted");
        assert!((MIN_RSA_BITS..=MAX_RSA_BITS).contains(&key.bits()));
    }
    let _ = VerifyingKey::from_spki(data);
    let _ = EncryptingKey::from_spki(data);
    let _ = AccountIdentity::from_master_spki(data);
    if let Ok(pair) = SigningKeyPair::from_pkcs8(data) {
        let bits = pair.verifying_key().public_key().bits();
        assert!((MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits));
    }
    if let Ok(pair) = ExchangeKeyPair::from_pkcs8(data) {
        let bits = pair.encrypting_key().public_key().bits();
        assert!((MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits));
    }
}

/// A malicious (or compromised) member device: the harness signs, and encrypts, whatever the
/// input says as the device its header names, so fuzzing reaches every receiver check that comes
/// after the signature. Input: `mode ‖ u16 header len ‖ header ‖ rest`.
/// - mode even: a key distribution to Bob with that header, `rest` the OAEP plaintext; accepted
///   by a receiver that already knows Alice's first chain (so `previous` can name it).
/// - mode odd: an envelope with that header, `rest` the padded plaintext (zero-extended or cut to
///   the header's `padded_len`), encrypted under the key Alice's chain has at that index; opened
///   by Bob, then committed.
pub fn malicious_member(data: &[u8]) {
    let _ = malicious_member_accepted(data);
}

/// [`malicious_member`], telling whether the receiver accepted the input (for the replay test).
pub fn malicious_member_accepted(data: &[u8]) -> bool {
    let Some((&mode, rest)) = data.split_first() else {
        return false;
    };
    let Some((len, rest)) = rest.split_first_chunk::<2>() else {
        return false;
    };
    let len = usize::from(u16::from_be_bytes(*len));
    if len > rest.len() {
        return false;
    }
    let (header, rest) = rest.split_at(len);
    if mode % 2 == 0 {
        member_distribution(header, rest)
    } else {
        member_envelope(header, rest)
    }
}

fn member_distribution(header: &[u8], payload: &[u8]) -> bool {
    let Ok(h) = DistributionHeader::decode(header) else {
        return false;
    };
    let f = fixture();
    let label = DistributionHeader::oaep_label(header);
    let Ok(ciphertext) = f
        .bob
        .device
        .verified_exchange
        .key()
        .encrypt(payload, &label)
    else {
        return false;
    };
    let signer = f.keys_named(&h.sender_device);
    let sealed = SignedSealed::sign(header.to_vec(), ciphertext, signer.signing()).expect("sign");
    let kdm = KeyDistribution::from_sealed(sealed).expect("header decoded above");
    let mut state = f.fresh_bob_receiver();
    let first = f.kdm_to_bob.header().chain;
    let sender = f.device_named(&h.sender_device);
    let Ok(accepted) = state.accept_distribution(&kdm, sender, &local(&f.bob), &f.group, T0) else {
        return false;
    };
    let bound = MAX_CHAIN_MESSAGES as usize;
    assert!(accepted.missing_in_previous.len() <= bound);
    assert!(state.missing(&first).len() <= bound);
    assert!(state.missing(&accepted.chain).len() <= bound);
    assert_eq!(accepted.chain, h.chain);
    true
}

fn member_envelope(header: &[u8], plaintext: &[u8]) -> bool {
    let Ok(h) = EnvelopeHeader::decode(header) else {
        return false;
    };
    let f = fixture();
    // The chain key at `index`: what the owner of Alice's chain would use. Indexes past the
    // chain bound are refused before any key is derived, so stepping is bounded.
    let mut key = ChainKey::from_bytes(f.alice_chain_key);
    for _ in 0..h.index.min(MAX_CHAIN_MESSAGES) {
        key = key.next();
    }
    let mut padded = plaintext.to_vec();
    padded.resize(usize::try_from(h.padded_len).unwrap_or(0), 0);
    let ciphertext = key
        .message_key()
        .aead_key(h.chain, h.index)
        .expect("aead key")
        .seal(header, &padded)
        .expect("seal");
    let signer = f.keys_named(&h.sender_device);
    let sealed = SignedSealed::sign(header.to_vec(), ciphertext, signer.signing()).expect("sign");
    let envelope = Envelope::from_sealed(sealed).expect("header decoded above, length matches");
    let sender = f.device_named(&h.sender_device);
    let Ok(opened) = f.bob_receiver.open(&envelope, sender, &f.group, T0) else {
        return false;
    };
    assert_eq!(opened.header(), &h);
    assert_eq!(h.chain, f.kdm_to_bob.header().chain);
    assert!(h.index < MAX_CHAIN_MESSAGES);
    let mut state = f.fresh_bob_receiver();
    let reopened = state
        .open(&envelope, sender, &f.group, T0)
        .expect("opens the same");
    let received = state.commit(reopened, T0).expect("first commit");
    assert_eq!(received.gap.len(), h.index as usize);
    // The same message again is a replay.
    assert!(state.receive(&envelope, sender, &f.group, T0).is_err());
    true
}

/// `KeyBundle::decode`: what decodes, encodes, to the same bytes.
pub fn key_bundle(data: &[u8]) {
    if let Ok(bundle) = KeyBundle::decode(data) {
        let encoded = bundle.encode().expect("a decoded bundle encodes");
        assert_eq!(encoded.as_slice(), data, "key bundle encoding is canonical");
    }
}

/// `BackupItemHeader::decode` and `BackupItem::decode`, then `open_backup` of the input with
/// the fixture's item holding Alice's master key, under her recovery set-up.
pub fn backup_item(data: &[u8]) {
    if let Ok(header) = BackupItemHeader::decode(data) {
        assert_eq!(
            header.encode(),
            data,
            "backup item header encoding is canonical"
        );
    }
    let Ok(item) = BackupItem::decode(data) else {
        return;
    };
    assert_eq!(item.encode(), data, "backup item encoding is canonical");
    assert_eq!(item.header().encode(), item.sealed().header());
    let f = fixture();
    let opened = open_backup(
        &[&f.master_item, data],
        f.alice.master.account(),
        RECOVERY_SET_UP,
        f.recovery.backup_key(),
        std::slice::from_ref(&f.revocation_signed),
    )
    .expect("the fixture's item holds the master key");
    assert_eq!(opened.master.account(), f.alice.master.account());
    if opened.refused.is_empty() && data != f.master_item.as_slice() {
        // Only an item sealed under the backup key and signed by a device of Alice's gets here.
        assert_eq!(item.header().account, f.alice.master.account());
        assert_eq!(item.header().recovery_id, RECOVERY_SET_UP);
    }
}

/// `HandoverHeader::decode` and `Handover::decode`, then `open_handover` as Alice's laptop.
pub fn handover(data: &[u8]) {
    if let Ok(header) = HandoverHeader::decode(data) {
        assert_eq!(
            header.encode(),
            data,
            "hand-over header encoding is canonical"
        );
    }
    let Ok(handover) = Handover::decode(data) else {
        return;
    };
    assert_eq!(handover.encode(), data, "hand-over encoding is canonical");
    assert_eq!(handover.header().encode(), handover.sealed().header());
    let f = fixture();
    let sender = f.device_named(&handover.header().sender_device);
    let me = LocalDevice {
        prekeys: sotto_proto::PrekeyRing::empty(),
        account: f.alice.master.account(),
        device: f.laptop.keys.device(),
        exchange_keys: std::slice::from_ref(&f.laptop.exchange),
    };
    if let Ok(bundle) = open_handover(&handover, sender, &me, T0) {
        assert_eq!(
            handover.header().sender_device,
            f.alice.device.keys.device()
        );
        assert!(!bundle.has_master_key());
    }
}

/// `RecoveryKey::parse` of the input as text: a parsed key's text parses to the same key.
pub fn recovery_key(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(key) = RecoveryKey::parse(text) {
        let again = RecoveryKey::parse(&key.to_text()).expect("a key's own text parses");
        assert_eq!(again.danger_bytes(), key.danger_bytes());
    }
}

/// One seed: the target it belongs to, a short label for its file name, and the bytes.
pub struct Seed {
    /// The target (directory under `fuzz/corpus/`).
    pub target: &'static str,
    /// Written as `seed-<label>`.
    pub label: &'static str,
    /// A real encoding.
    pub bytes: Vec<u8>,
}

/// Real encodings for every target, made with the fixture's keys.
pub fn seeds() -> Vec<Seed> {
    let f = fixture();
    let mut out = Vec::new();
    let mut add = |target, label, bytes: Vec<u8>| {
        out.push(Seed {
            target,
            label,
            bytes,
        })
    };

    // Envelopes on Alice's chain, which Bob's receiver knows.
    let attachment = MessageBody::Attachment {
        attachment: AttachmentRef {
            blob_id: BlobId::new("blob-0001").unwrap(),
            file_name: FileName::new("brief.pdf").unwrap(),
            media_type: MediaType::new("application/pdf").unwrap(),
            size: 12_345,
            secret: [7u8; 32].into(),
            ciphertext_sha256: [9u8; 32],
        },
        caption: "see page 3".into(),
    };
    let receipt = MessageBody::Receipt {
        kind: ReceiptKind::Read,
        messages: vec![
            MessageId::from_bytes([1; 16]),
            MessageId::from_bytes([2; 16]),
        ],
    };
    let text = MessageBody::Text("hello bob".into());
    let mut envelope_header = Vec::new();
    let next_header: Vec<u8>;
    {
        let mut chain = f.alice_chain.lock().unwrap_or_else(PoisonError::into_inner);
        for (label, body, id) in [
            ("text", &text, 1u8),
            ("attachment", &attachment, 2),
            ("receipt", &receipt, 3),
        ] {
            let envelope = chain
                .reserve(T0)
                .expect("reserve")
                .seal(
                    body,
                    MessageId::from_bytes([id; 16]),
                    T0,
                    &f.alice.device.keys,
                )
                .expect("seal");
            add("envelope", label, envelope.encode());
            add("payload", label, envelope.encode());
            if label == "text" {
                envelope_header = envelope.sealed().header().to_vec();
                add("envelope", "header", envelope_header.clone());
            }
        }
        let kdm_carol = chain
            .distribute(
                &f.group,
                &f.carol.device.verified_exchange,
                &f.alice.device.keys,
                T0,
            )
            .expect("distribute to carol");
        add("key_distribution", "to-carol", kdm_carol.encode());
        add("payload", "distribution", kdm_carol.encode());
        let mut rng = DangerSeededRng::new([0x77; 32]);
        let mut env = Env::new(T0, &mut rng);
        let mut next = chain
            .successor(f.group.epoch(), &mut env)
            .expect("successor");
        let kdm_next = next
            .distribute(
                &f.group,
                &f.bob.device.verified_exchange,
                &f.alice.device.keys,
                T0,
            )
            .expect("distribute successor");
        add("key_distribution", "successor", kdm_next.encode());
        next_header = kdm_next.sealed().header().to_vec();
        add("key_distribution", "header", next_header.clone());
    }
    add("key_distribution", "to-bob", f.kdm_to_bob.encode());

    // Version 2: Bob's prekeys, certificate, ring, and hybrid distributions to him.
    let bob_prekey = f
        .bob
        .device
        .verified
        .verify_one_time_prekey(&f.bob_v2.one_time[0], T0)
        .expect("bob's prekey");
    {
        let mut chain = f.alice_chain.lock().unwrap_or_else(PoisonError::into_inner);
        for (label, prekey) in [("v2-one-time", Some(&bob_prekey)), ("v2-last-resort", None)] {
            let kdm = chain
                .distribute_with(
                    &f.group,
                    &f.bob_v2.verified_exchange,
                    prekey,
                    &f.alice.device.keys,
                    T0,
                )
                .expect("v2 distribution");
            add("key_distribution", label, kdm.encode());
            if prekey.is_none() {
                add(
                    "key_distribution",
                    "v2-header",
                    kdm.sealed().header().to_vec(),
                );
            }
        }
    }
    add("one_time_prekey", "signed", f.bob_v2.one_time[0].encode());
    add(
        "one_time_prekey",
        "body",
        f.bob_v2.one_time[0].unverified_body().to_vec(),
    );
    add(
        "exchange_key_certificate_v2",
        "v2",
        f.bob_v2.certificate.encode(),
    );
    add(
        "exchange_key_certificate_v2",
        "v2-body",
        f.bob_v2.certificate.unverified_body().to_vec(),
    );
    add(
        "exchange_key_certificate_v2",
        "v1",
        f.bob.device.exchange_certificate.encode(),
    );
    add("prekey_ring", "ring", f.bob_v2.ring.encode_local().to_vec());
    add(
        "prekey_ring",
        "pair",
        fixed_prekey(2).encode_local().to_vec(),
    );
    add(
        "prekey_ring",
        "empty",
        PrekeyRing::empty().encode_local().to_vec(),
    );

    // Group changes against the epoch-0 state.
    add("group_change", "genesis", f.genesis.encode());
    add(
        "group_change",
        "genesis-body",
        f.genesis.unverified_body().to_vec(),
    );
    let alice_acct = f.alice.master.account();
    let ops = [
        (
            "add",
            GroupOp::AddMember(Member {
                account: AccountId::from_bytes([0xaa; 32]),
                admin: false,
            }),
        ),
        (
            "remove",
            GroupOp::RemoveMember {
                account: f.carol.master.account(),
            },
        ),
        (
            "set-admin",
            GroupOp::SetAdmin {
                account: f.bob.master.account(),
                admin: true,
            },
        ),
        (
            "rename",
            GroupOp::Rename {
                name: sotto_proto::testing::test_name(1, "renamed room")
                    .commitment(f.group.conversation()),
            },
        ),
        (
            "set-retention",
            GroupOp::SetRetention {
                retention: sotto_proto::group::Retention::from_secs(7 * 86_400).unwrap(),
            },
        ),
    ];
    for (label, op) in ops {
        let signed = f
            .group
            .propose(op, alice_acct, &f.alice.device.keys, T0)
            .expect("propose");
        add("group_change", label, signed.encode());
    }
    let bob_leaves = f
        .group
        .propose(
            GroupOp::RemoveMember {
                account: f.bob.master.account(),
            },
            f.bob.master.account(),
            &f.bob.device.keys,
            T0,
        )
        .expect("propose leave");
    add("group_change", "leave", bob_leaves.encode());
    // The retired encoding with names in clear (op 0x01): decoders refuse it (§6.1).
    add(
        "group_change",
        "retired-create",
        sotto_proto::testing::retired_create_body(
            f.group.conversation(),
            alice_acct,
            f.alice.device.keys.device(),
            T0,
            "fuzz room",
            &[(alice_acct, "bob", true)],
        ),
    );

    // Identity structures.
    add(
        "device_certificate",
        "device-cert",
        f.alice.device.certificate.encode(),
    );
    add(
        "device_certificate",
        "xkey-cert",
        f.alice.device.exchange_certificate.encode(),
    );
    add(
        "device_certificate",
        "revocation",
        f.revocation_signed.encode(),
    );
    add(
        "device_certificate",
        "other-account",
        f.carol.device.certificate.encode(),
    );
    add(
        "device_certificate",
        "device-cert-body",
        f.alice.device.certificate.unverified_body().to_vec(),
    );
    add(
        "device_certificate",
        "xkey-cert-body",
        f.alice
            .device
            .exchange_certificate
            .unverified_body()
            .to_vec(),
    );

    // Message bodies, bare and padded.
    for (label, body) in [
        ("text", &text),
        ("attachment", &attachment),
        ("receipt", &receipt),
        (
            "group-name",
            &MessageBody::GroupName(sotto_proto::testing::test_name(0, "fuzz room")),
        ),
        (
            "message",
            &MessageBody::Message {
                text: "@bob see above".into(),
                reply_to: Some(MessageId::from_bytes([7; 16])),
                mentions: Mentions::new(vec![f.bob.master.account(), f.carol.master.account()])
                    .expect("mentions"),
            },
        ),
        (
            "edit",
            &MessageBody::Edit {
                target: MessageId::from_bytes([7; 16]),
                text: "fixed".into(),
                mentions: Mentions::new(vec![f.bob.master.account()]).expect("mentions"),
            },
        ),
        (
            "delete",
            &MessageBody::Delete {
                target: MessageId::from_bytes([7; 16]),
            },
        ),
        (
            "reaction",
            &MessageBody::Reaction {
                target: MessageId::from_bytes([7; 16]),
                reaction: Reaction::new("👍").expect("reaction"),
                added: true,
            },
        ),
    ] {
        add(
            "message_body",
            label,
            body.encode().expect("encode body").to_vec(),
        );
    }
    add(
        "message_body",
        "padded-text",
        pad(&text.encode().expect("encode body"))
            .expect("pad")
            .to_vec(),
    );

    // Key requests: Bob asks Alice again for her chain.
    let chain_id = f
        .alice_chain
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .chain();
    let request = KeyRequest {
        conversation: f.group.conversation(),
        epoch: f.group.epoch(),
        chain: chain_id,
        owner_device: f.alice.device.keys.device(),
        requester_account: f.bob.master.account(),
        requester_device: f.bob.device.keys.device(),
        requester_key: f.bob.device.verified_exchange.key_id(),
        requested_at: T0,
    };
    let signed_request =
        Signed::sign(request.encode(), f.bob.device.keys.signing()).expect("sign request");
    add("key_request", "signed", signed_request.encode());
    add("payload", "key-request", signed_request.encode());
    add("key_request", "body", request.encode());

    // Auth challenges.
    let challenge = AuthChallenge {
        origin: "https://sotto.example:8443".into(),
        username: "alice".into(),
        device: f.alice.device.keys.device(),
        nonce: [0x3c; 32],
        issued_at: T0,
    };
    let answer = f
        .alice
        .device
        .keys
        .sign_auth_challenge(&challenge)
        .expect("sign challenge");
    add(
        "auth_challenge",
        "signed",
        Signed::from_parts(challenge.encode(), answer).encode(),
    );
    add("auth_challenge", "body", challenge.encode());

    // Ids in text form.
    let alice_device = f.alice.device.keys.device();
    add("ids_text", "account", alice_acct.to_string().into_bytes());
    add("ids_text", "device", alice_device.to_string().into_bytes());
    add(
        "ids_text",
        "xkey",
        f.alice
            .device
            .verified_exchange
            .key_id()
            .to_string()
            .into_bytes(),
    );
    add(
        "ids_text",
        "auth",
        f.alice
            .device
            .verified
            .auth_key_id()
            .to_string()
            .into_bytes(),
    );
    add(
        "ids_text",
        "conversation",
        f.group.conversation().to_string().into_bytes(),
    );
    add("ids_text", "chain", chain_id.to_string().into_bytes());
    add(
        "ids_text",
        "message",
        MessageId::from_bytes([0xab; 16]).to_string().into_bytes(),
    );

    // A malicious member's inputs: a distribution header and payload, an envelope header and body.
    let member_input = |mode: u8, header: &[u8], rest: &[u8]| {
        let mut input = vec![mode];
        input.extend_from_slice(&u16::try_from(header.len()).unwrap().to_be_bytes());
        input.extend_from_slice(header);
        input.extend_from_slice(rest);
        input
    };
    let mut payload =
        sotto_proto::codec::Writer::for_domain(sotto_proto::domain::Domain::KeyDistributionPayload);
    let next_chain = DistributionHeader::decode(&next_header)
        .expect("header")
        .chain;
    next_chain.encode(&mut payload);
    payload.u32(0);
    payload.fixed(&[0x24; 32]);
    add(
        "malicious_member",
        "distribution",
        member_input(0, &next_header, &payload.finish()),
    );
    let body = pad(&text.encode().expect("encode body")).expect("pad");
    add(
        "malicious_member",
        "envelope",
        member_input(1, &envelope_header, &body),
    );
    let mut far_header = EnvelopeHeader::decode(&envelope_header).expect("header");
    far_header.index = 42;
    add(
        "malicious_member",
        "envelope-index-42",
        member_input(1, &far_header.encode(), &body),
    );

    // Key bundles, backup items, hand-overs, recovery keys.
    let chain_record = f
        .alice_chain
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .history_record();
    let records = || {
        vec![
            Record::Chain(chain_record.danger_duplicate()),
            Record::Pin(PinRecord {
                account: f.bob.master.account(),
                username: "bob".into(),
                verified: true,
            }),
            Record::GroupName(GroupNameRecord {
                conversation: f.group.conversation(),
                reveal: sotto_proto::testing::test_name(0, "fuzz room"),
            }),
        ]
    };
    let mut with_master = records();
    with_master.push(Record::MasterKey(
        MasterKeyRecord::new(f.alice.master.key_pair().to_pkcs8().expect("pkcs8"))
            .expect("master key record"),
    ));
    add(
        "key_bundle",
        "every-record",
        KeyBundle::new(with_master)
            .encode()
            .expect("bundle")
            .to_vec(),
    );
    add(
        "key_bundle",
        "empty",
        KeyBundle::default().encode().expect("bundle").to_vec(),
    );
    add("backup_item", "master-key", f.master_item.clone());
    let records_item = BackupItem::seal(
        f.recovery.backup_key(),
        f.alice.master.account(),
        RECOVERY_SET_UP,
        BackupItemId::from_bytes([2; 16]),
        &f.alice.device.keys,
        &f.alice.device.certificate,
        T0,
        &KeyBundle::new(records()),
    )
    .expect("seal backup item");
    add("backup_item", "records", records_item.encode());
    add(
        "backup_item",
        "header",
        records_item.sealed().header().to_vec(),
    );
    let mut rng = DangerSeededRng::new([0x78; 32]);
    let mut env = Env::new(T0, &mut rng);
    let handover = Handover::seal(
        &f.alice.device.keys,
        &f.laptop.verified,
        &f.laptop.verified_exchange,
        HandoverId::from_bytes([3; 16]),
        &KeyBundle::new(records()),
        &mut env,
    )
    .expect("seal hand-over");
    add("handover", "records", handover.encode());
    add("handover", "header", handover.sealed().header().to_vec());
    let key = RecoveryKey::from_secret(&[0x33; 28]);
    add("recovery_key", "key", key.to_text().as_bytes().to_vec());
    add(
        "recovery_key",
        "typed",
        key.to_text().to_lowercase().replace('-', " ").into_bytes(),
    );

    // Keys.
    add(
        "spki",
        "master-spki",
        f.alice.identity.master_key().spki().to_vec(),
    );
    add(
        "spki",
        "exchange-spki",
        f.alice.device.exchange.encrypting_key().spki().to_vec(),
    );
    add("spki", "pkcs8", fixed_pkcs8(0));
    out
}
