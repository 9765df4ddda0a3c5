//! The shared, cross-language test vectors in `test-vectors/` (see `test-vectors/README.md`),
//! checked independently of the generator that wrote them.
//!
//! Deterministic values are recomputed from each vector's inputs and compared byte for byte:
//! through the public API, and where the layout is simple also by hand from the byte layouts of
//! `docs/protocol.md` (domain labels spelled out here, not taken from the crate), so a change to
//! an encoding or a label shows up here even if the generator is re-run. Randomised values (RSA-PSS
//! signatures, RSA-OAEP ciphertexts) are verified or decrypted. Negative vectors go through the
//! public API and must fail with exactly the `expected_error` code of `Error::code()`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::path::PathBuf;
use std::str::FromStr;

use serde_json::Value;
use sotto_proto::auth::AuthChallenge;
use sotto_proto::backup::{open_backup, BackupItem, BackupItemHeader};
use sotto_proto::body::{
    check_amendment, pad, padded_len, unpad, winning, AmendmentInfo, AmendmentOrder, AttachmentRef,
    BlobId, FileName, MediaType, Mentions, MessageBody, Reaction, ReceiptKind, TargetInfo,
};
use sotto_proto::bundle::{
    ChainRecord, GroupNameRecord, KeyBundle, MasterKeyRecord, PinRecord, Record,
};
use sotto_proto::chain::{ChainKey, LocalDevice, MessageKey, ReceiverState};
use sotto_proto::crypto::aead::AeadKey;
use sotto_proto::crypto::rsa::{ExchangeKeyPair, RsaPublicKey, SigningKeyPair, VerifyingKey};
use sotto_proto::crypto::{hkdf_sha256, hmac_sha256, sha256};
use sotto_proto::distribution::{ChainEnd, DistributionHeader, KeyDistribution};
use sotto_proto::domain::PROTOCOL_VERSION;
use sotto_proto::envelope::{Envelope, EnvelopeHeader};
use sotto_proto::group::{
    change_hash, decode_signed_change, ConversationKind, CreateKind, GroupChange, GroupName,
    GroupOp, GroupState, Member, NameCheck, NameCommitment, NameReveal, Retention,
};
use sotto_proto::handover::{open_handover, Handover, HandoverHeader};
use sotto_proto::identity::{
    AccountIdentity, DeviceCertificate, ExchangeKeyCertificate, Revocation, VerifiedDevice,
};
use sotto_proto::ids::{
    AccountId, AuthKeyId, ChainId, ConversationId, DeviceId, ExchangeKeyId, MessageId,
};
use sotto_proto::limits::MAX_CERTIFICATE_LEN;
use sotto_proto::recovery::{
    access_verifier, BackupKey, RecoveryId, RecoveryKey, RecoveryKeys, RecoverySecret,
};
use sotto_proto::safety::{fingerprint, SafetyNumber};
use sotto_proto::signed::{Signed, SignedSealed};
use sotto_proto::testing::fixed_pkcs8;
use sotto_proto::{Error, Timestamp};
use zeroize::Zeroizing;

/// Every vector file, each checked by its own test below.
const FILES: [&str; 15] = [
    "keys.json",
    "ids.json",
    "chain.json",
    "body.json",
    "amendment.json",
    "envelope.json",
    "distribution.json",
    "identity.json",
    "group.json",
    "safety.json",
    "auth.json",
    "display.json",
    "recovery.json",
    "backup.json",
    "handover.json",
];

/// The error codes of `docs/protocol.md` §12: a vector may only expect one of these.
const CODES: &[&str] = &[
    "decode/truncated",
    "decode/trailing-bytes",
    "decode/too-long",
    "decode/too-many",
    "decode/invalid-utf8",
    "decode/invalid-value",
    "decode/unknown-tag",
    "decode/wrong-domain",
    "decode/unsupported-version",
    "key/malformed",
    "key/not-canonical-spki",
    "key/too-small",
    "key/too-large",
    "key/bad-exponent",
    "group/wrong-conversation",
    "group/not-genesis",
    "group/replayed",
    "group/fork",
    "group/epoch-gap",
    "group/previous-hash-mismatch",
    "group/signer-not-member",
    "group/signer-not-admin",
    "group/signer-mismatch",
    "group/already-member",
    "group/not-member",
    "group/last-admin",
    "group/too-many-members",
    "group/no-op",
    "group/invalid-text",
    "group/direct-conversation",
    "group/name-mismatch",
    "message/wrong-target",
    "message/not-author",
    "recovery/malformed",
    "recovery/bad-checksum",
    "recovery/no-master-key",
    "receive/replay",
    "receive/unknown-chain",
    "receive/chain-owner-mismatch",
    "receive/epoch-mismatch",
    "receive/unknown-epoch",
    "receive/sender-not-member",
    "receive/sender-mismatch",
    "receive/wrong-conversation",
    "receive/wrong-recipient",
    "receive/index-out-of-bounds",
    "receive/key-evicted",
    "receive/far-future",
    "receive/stale-distribution",
    "receive/chain-key-conflict",
    "bad-signature",
    "decryption-failed",
    "crypto-failure",
    "wrong-account",
    "id-mismatch",
    "device-revoked",
    "exchange-key-not-valid-now",
    "exchange-key-rollback",
    "recipient-not-member",
    "chain-needs-rotation",
    "invalid-input",
];

// ----------------------------------------------------------------------------------------------
// Loading and field access
// ----------------------------------------------------------------------------------------------

fn vector_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../test-vectors")
}

/// Reads one file, checks its envelope (description, version, at least one named and described
/// vector, names unique) and returns the vectors.
fn load(file: &str) -> Vec<Value> {
    let path = vector_dir().join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read vector file {}: {e}", path.display()));
    let root: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file} is not JSON: {e}"));
    assert!(
        !s(&root, "description").is_empty(),
        "{file}: empty description"
    );
    assert_eq!(
        n(&root, "protocol_version"),
        u64::from(PROTOCOL_VERSION),
        "{file}: protocol version"
    );
    let vectors = arr(&root, "vectors").clone();
    assert!(!vectors.is_empty(), "{file} has no vectors");
    let mut names = BTreeSet::new();
    for v in &vectors {
        let name = s(v, "name");
        assert!(!name.is_empty(), "{file}: a vector has an empty name");
        assert!(
            names.insert(name.to_owned()),
            "{file}: duplicate name {name}"
        );
        assert!(
            !s(v, "description").is_empty(),
            "{file}/{name}: no description"
        );
        if let Some(code) = v.get("expected_error") {
            let code = code.as_str().expect("expected_error is a string");
            assert!(CODES.contains(&code), "{file}/{name}: unknown code {code}");
        }
    }
    vectors
}

fn name(v: &Value) -> &str {
    v.get("name").and_then(Value::as_str).unwrap_or("<unnamed>")
}

fn field<'a>(v: &'a Value, key: &str) -> &'a Value {
    v.get(key)
        .unwrap_or_else(|| panic!("{}: missing field {key}", name(v)))
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    field(v, key)
        .as_str()
        .unwrap_or_else(|| panic!("{}: {key} is not a string", name(v)))
}

fn n(v: &Value, key: &str) -> u64 {
    field(v, key)
        .as_u64()
        .unwrap_or_else(|| panic!("{}: {key} is not an unsigned integer", name(v)))
}

fn n32(v: &Value, key: &str) -> u32 {
    u32::try_from(n(v, key)).unwrap()
}

fn b(v: &Value, key: &str) -> bool {
    field(v, key)
        .as_bool()
        .unwrap_or_else(|| panic!("{}: {key} is not a bool", name(v)))
}

fn arr<'a>(v: &'a Value, key: &str) -> &'a Vec<Value> {
    field(v, key)
        .as_array()
        .unwrap_or_else(|| panic!("{}: {key} is not an array", name(v)))
}

/// A hex field: lower-case, even length.
fn hx(v: &Value, key: &str) -> Vec<u8> {
    let text = s(v, key);
    assert!(
        !text.bytes().any(|c| c.is_ascii_uppercase()),
        "{}: {key} is not lower-case hex",
        name(v)
    );
    hex::decode(text).unwrap_or_else(|e| panic!("{}: {key} is not hex: {e}", name(v)))
}

fn arr_n<const N: usize>(v: &Value, key: &str) -> [u8; N] {
    hx(v, key)
        .try_into()
        .unwrap_or_else(|_| panic!("{}: {key} is not {N} bytes", name(v)))
}

fn id<T: FromStr>(v: &Value, key: &str) -> T
where
    T::Err: Debug,
{
    s(v, key)
        .parse()
        .unwrap_or_else(|e| panic!("{}: {key} is not a typed id: {e:?}", name(v)))
}

fn ts(v: &Value, key: &str) -> Timestamp {
    Timestamp(n(v, key))
}

fn u32s(v: &Value, key: &str) -> Vec<u32> {
    arr(v, key)
        .iter()
        .map(|x| u32::try_from(x.as_u64().unwrap()).unwrap())
        .collect()
}

/// Checks an outcome against the vector: a positive vector (no `expected_error`) must succeed and
/// its value is returned; a negative one must fail with exactly the expected code.
fn outcome<T>(v: &Value, result: Result<T, Error>) -> Option<T> {
    match v.get("expected_error").and_then(Value::as_str) {
        Some(code) => {
            match result {
                Ok(_) => panic!("{}: accepted, but {code} was expected", name(v)),
                Err(e) => assert_eq!(e.code(), code, "{}: {e:?}", name(v)),
            }
            None
        }
        None => {
            Some(result.unwrap_or_else(|e| panic!("{}: refused with {}: {e:?}", name(v), e.code())))
        }
    }
}

// ----------------------------------------------------------------------------------------------
// Byte layouts written out from docs/protocol.md, independently of the crate's encoder
// ----------------------------------------------------------------------------------------------

/// `domain(L)` = `u8 len ‖ ascii(L) ‖ u8 version` (§2.2).
fn label(l: &str) -> Vec<u8> {
    let mut out = vec![l.len() as u8];
    out.extend_from_slice(l.as_bytes());
    out.push(1);
    out
}

/// `bytes(x)` = `u32 len ‖ x` (§1.1).
fn prefixed(x: &[u8]) -> Vec<u8> {
    let mut out = (x.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(x);
    out
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

// ----------------------------------------------------------------------------------------------
// JSON to protocol values
// ----------------------------------------------------------------------------------------------

fn body_from(v: &Value) -> MessageBody {
    match s(v, "type") {
        "text" => MessageBody::Text(s(v, "text").to_owned()),
        "attachment" => MessageBody::Attachment {
            attachment: AttachmentRef {
                blob_id: BlobId::new(s(v, "blob_id")).unwrap(),
                file_name: FileName::new(s(v, "file_name")).unwrap(),
                media_type: MediaType::new(s(v, "media_type")).unwrap(),
                size: n(v, "size"),
                secret: Zeroizing::new(arr_n(v, "secret")),
                ciphertext_sha256: arr_n(v, "ciphertext_sha256"),
            },
            caption: s(v, "caption").to_owned(),
        },
        "receipt" => MessageBody::Receipt {
            kind: match s(v, "kind") {
                "delivered" => ReceiptKind::Delivered,
                "read" => ReceiptKind::Read,
                other => panic!("unknown receipt kind {other}"),
            },
            messages: arr(v, "messages")
                .iter()
                .map(|m| m.as_str().unwrap().parse().unwrap())
                .collect(),
        },
        "group_name" => MessageBody::GroupName(reveal_from(v)),
        "message" => MessageBody::Message {
            text: s(v, "text").to_owned(),
            reply_to: field(v, "reply_to").as_str().map(|id| id.parse().unwrap()),
            mentions: mentions_from(v),
        },
        "edit" => MessageBody::Edit {
            target: id(v, "target"),
            text: s(v, "text").to_owned(),
            mentions: mentions_from(v),
        },
        "delete" => MessageBody::Delete {
            target: id(v, "target"),
        },
        "reaction" => MessageBody::Reaction {
            target: id(v, "target"),
            reaction: Reaction::new(s(v, "reaction")).unwrap(),
            added: field(v, "added").as_bool().unwrap(),
        },
        other => panic!("unknown body type {other}"),
    }
}

fn mentions_from(v: &Value) -> Mentions {
    Mentions::new(
        arr(v, "mentions")
            .iter()
            .map(|m| m.as_str().unwrap().parse().unwrap())
            .collect(),
    )
    .unwrap()
}

fn envelope_header_from(v: &Value) -> EnvelopeHeader {
    EnvelopeHeader {
        conversation: id(v, "conversation"),
        epoch: n(v, "epoch"),
        sender_account: id(v, "sender_account"),
        sender_device: id(v, "sender_device"),
        chain: id(v, "chain"),
        index: n32(v, "index"),
        sent_at: ts(v, "sent_at"),
        message_id: id(v, "message_id"),
        padded_len: n32(v, "padded_len"),
    }
}

fn distribution_header_from(v: &Value) -> DistributionHeader {
    let previous = field(v, "previous");
    DistributionHeader {
        hybrid: None,
        conversation: id(v, "conversation"),
        epoch: n(v, "epoch"),
        chain: id(v, "chain"),
        sender_account: id(v, "sender_account"),
        sender_device: id(v, "sender_device"),
        recipient_account: id(v, "recipient_account"),
        recipient_device: id(v, "recipient_device"),
        recipient_key: id(v, "recipient_key"),
        created_at: ts(v, "created_at"),
        start_index: n32(v, "start_index"),
        previous: (!previous.is_null()).then(|| ChainEnd {
            chain: id(previous, "chain"),
            final_index: field(previous, "final_index")
                .as_u64()
                .map(|i| u32::try_from(i).unwrap()),
        }),
    }
}

fn member_from(v: &Value) -> Member {
    Member {
        account: id(v, "account"),
        admin: b(v, "admin"),
    }
}

fn reveal_from(v: &Value) -> NameReveal {
    NameReveal {
        epoch: n(v, "epoch"),
        salt: arr_n(v, "salt"),
        name: GroupName::new(s(v, "name")).unwrap(),
    }
}

fn group_op_from(v: &Value) -> GroupOp {
    match s(v, "type") {
        "create" => GroupOp::Create {
            kind: match s(field(v, "kind"), "type") {
                "group" => CreateKind::Group {
                    name: NameCommitment(arr_n(field(v, "kind"), "name_commitment")),
                },
                "direct" => CreateKind::Direct,
                other => panic!("unknown conversation kind {other}"),
            },
            members: arr(v, "members").iter().map(member_from).collect(),
        },
        "add_member" => GroupOp::AddMember(member_from(field(v, "member"))),
        "remove_member" => GroupOp::RemoveMember {
            account: id(v, "account"),
        },
        "set_admin" => GroupOp::SetAdmin {
            account: id(v, "account"),
            admin: b(v, "admin"),
        },
        "rename" => GroupOp::Rename {
            name: NameCommitment(arr_n(v, "name_commitment")),
        },
        "set_retention" => GroupOp::SetRetention {
            retention: Retention::from_secs(n(v, "retention_secs")).unwrap(),
        },
        other => panic!("unknown group op {other}"),
    }
}

fn group_change_from(v: &Value) -> GroupChange {
    GroupChange {
        conversation: id(v, "conversation"),
        epoch: n(v, "epoch"),
        previous: arr_n(v, "previous"),
        signer_account: id(v, "signer_account"),
        signer_device: id(v, "signer_device"),
        issued_at: ts(v, "issued_at"),
        op: group_op_from(field(v, "op")),
    }
}

// ----------------------------------------------------------------------------------------------
// Devices: every signer is verified through its pinned master key
// ----------------------------------------------------------------------------------------------

struct Devices(Vec<(String, VerifiedDevice)>);

impl Devices {
    fn from_vector(v: &Value) -> Self {
        Self(
            arr(v, "devices")
                .iter()
                .map(|d| {
                    let identity = AccountIdentity::from_master_spki(&hx(d, "master_spki"))
                        .expect("device master key");
                    assert_eq!(identity.account(), id::<AccountId>(d, "account_id"));
                    let cert = Signed::decode(&hx(d, "device_certificate"), MAX_CERTIFICATE_LEN)
                        .expect("device certificate decodes");
                    let device = identity
                        .verify_device(&cert, &[])
                        .expect("device certificate verifies");
                    assert_eq!(device.device(), id::<DeviceId>(d, "device_id"));
                    (s(d, "name").to_owned(), device)
                })
                .collect(),
        )
    }

    fn find(&self, device: DeviceId) -> &VerifiedDevice {
        self.0
            .iter()
            .find(|(_, d)| d.device() == device)
            .map(|(_, d)| d)
            .unwrap_or_else(|| panic!("no device {device} among the vector's devices"))
    }

    fn named(&self, who: &str) -> &VerifiedDevice {
        self.0
            .iter()
            .find(|(n, _)| n == who)
            .map(|(_, d)| d)
            .unwrap_or_else(|| panic!("no device named {who}"))
    }
}

// ----------------------------------------------------------------------------------------------
// The directory
// ----------------------------------------------------------------------------------------------

#[test]
fn every_vector_file_is_known_and_nonempty() {
    let dir = vector_dir();
    let entries =
        std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
    let mut found = BTreeSet::new();
    for entry in entries {
        let file = entry.unwrap().file_name().into_string().unwrap();
        if file.ends_with(".json") {
            assert!(
                FILES.contains(&file.as_str()),
                "{file} is not checked by any test"
            );
            load(&file);
            found.insert(file);
        }
    }
    for file in FILES {
        assert!(found.contains(file), "{file} is missing");
    }
    assert!(
        dir.join("README.md").exists(),
        "test-vectors/README.md is missing"
    );
}

// ----------------------------------------------------------------------------------------------
// keys.json, ids.json
// ----------------------------------------------------------------------------------------------

fn key_id(kind: &str, spki: &[u8]) -> String {
    match kind {
        "account" => AccountId::from_master_spki(spki).to_string(),
        "device" => DeviceId::from_signing_spki(spki).to_string(),
        "exchange" => ExchangeKeyId::from_spki(spki).to_string(),
        "auth" => AuthKeyId::from_spki(spki).to_string(),
        other => panic!("unknown id type {other}"),
    }
}

/// §4.8 display text: the length-prefixed text read as a name, also checked against the rule
/// spelled out here (not the crate's own table) for the code points the vector names.
#[test]
fn display() {
    let refused_here = |c: char| {
        let cp = u32::from(c);
        c.is_control()
            || matches!(
                cp,
                0xad | 0x600..=0x605
                    | 0x61c
                    | 0x6dd
                    | 0x70f
                    | 0x890..=0x891
                    | 0x8e2
                    | 0x180e
                    | 0x200b
                    | 0x200e..=0x200f
                    | 0x2028..=0x202e
                    | 0x2060..=0x2064
                    | 0x2066..=0x206f
                    | 0xfeff
                    | 0xfff9..=0xfffb
                    | 0x110bd
                    | 0x110cd
                    | 0x13430..=0x1343f
                    | 0x1bca0..=0x1bca3
                    | 0x1d173..=0x1d17a
                    | 0xe0001
                    | 0xe0020..=0xe007f
            )
    };
    for v in load("display.json") {
        let encoded = hx(&v, "encoded");
        let max = usize::try_from(field(&v, "max").as_u64().unwrap()).unwrap();
        let mut reader = sotto_proto::codec::Reader::new(&encoded);
        let result = reader
            .display_text("name", max)
            .map(str::to_owned)
            .map_err(Error::from);
        if let Ok(text) = &result {
            assert!(!text.chars().any(refused_here), "{}", name(&v));
        }
        if let Some(text) = outcome(&v, result) {
            assert_eq!(text, s(&v, "text"), "{}", name(&v));
        }
    }
}

#[test]
fn keys() {
    for v in load("keys.json") {
        let pkcs8 = hx(&v, "pkcs8");
        let spki = hx(&v, "spki");
        assert_eq!(
            pkcs8,
            fixed_pkcs8(n(&v, "index") as usize),
            "{}: not testdata/keys.txt",
            name(&v)
        );
        let signing = SigningKeyPair::from_pkcs8(&pkcs8).unwrap();
        assert_eq!(signing.verifying_key().spki(), spki, "{}", name(&v));
        let exchange = ExchangeKeyPair::from_pkcs8(&pkcs8).unwrap();
        assert_eq!(exchange.encrypting_key().spki(), spki, "{}", name(&v));
        assert_eq!(
            RsaPublicKey::from_spki(&spki).unwrap().bits() as u64,
            n(&v, "bits")
        );
        assert_eq!(key_id(s(&v, "id_type"), &spki), s(&v, "id"), "{}", name(&v));
        // The pair really belongs together.
        let sig = signing.sign(b"keys.json").unwrap();
        VerifyingKey::from_spki(&spki)
            .unwrap()
            .verify("key", b"keys.json", &sig)
            .unwrap();
    }
}

#[test]
fn ids() {
    for v in load("ids.json") {
        match s(&v, "operation") {
            "derive" => {
                let spki = hx(&v, "spki");
                let ids = field(&v, "ids");
                for (kind, tag) in [
                    ("account", "acct"),
                    ("device", "dev"),
                    ("exchange", "xkey"),
                    ("auth", "auth"),
                ] {
                    let entry = field(ids, kind);
                    // §4.2: SHA-256(domain("sotto/id") ‖ u8 len ‖ tag ‖ bytes(spki)).
                    let preimage = cat(&[
                        &label("sotto/id"),
                        &[tag.len() as u8],
                        tag.as_bytes(),
                        &prefixed(&spki),
                    ]);
                    assert_eq!(hx(entry, "preimage"), preimage, "{}/{kind}", name(&v));
                    let text = s(entry, "id");
                    assert_eq!(text, format!("{tag}:{}", hex::encode(sha256(&preimage))));
                    assert_eq!(key_id(kind, &spki), text, "{}/{kind}", name(&v));
                }
            }
            "parse" => {
                let text = s(&v, "text");
                let parsed: Result<Vec<u8>, Error> = match s(&v, "id_type") {
                    "account" => AccountId::from_str(text).map(|i| i.as_bytes().to_vec()),
                    "device" => DeviceId::from_str(text).map(|i| i.as_bytes().to_vec()),
                    "exchange" => ExchangeKeyId::from_str(text).map(|i| i.as_bytes().to_vec()),
                    "auth" => AuthKeyId::from_str(text).map(|i| i.as_bytes().to_vec()),
                    "conversation" => ConversationId::from_str(text).map(|i| i.as_bytes().to_vec()),
                    "chain" => ChainId::from_str(text).map(|i| i.as_bytes().to_vec()),
                    "message" => MessageId::from_str(text).map(|i| i.as_bytes().to_vec()),
                    other => panic!("unknown id type {other}"),
                }
                .map_err(Error::from);
                if let Some(bytes) = outcome(&v, parsed) {
                    assert_eq!(bytes, hx(&v, "bytes"), "{}", name(&v));
                    assert!(text.ends_with(&hex::encode(&bytes)));
                }
            }
            other => panic!("unknown ids operation {other}"),
        }
    }
}

// ----------------------------------------------------------------------------------------------
// chain.json
// ----------------------------------------------------------------------------------------------

/// §7.1 by hand: HMAC steps with the labels spelled out, HKDF into key ‖ nonce.
fn derive_aead(message_key: &[u8], chain: &[u8], index: u32) -> (Vec<u8>, [u8; 32], [u8; 12]) {
    let info = cat(&[&label("sotto/msg-aead"), chain, &index.to_be_bytes()]);
    let mut okm = [0u8; 44];
    hkdf_sha256(&[], message_key, &info, &mut okm).unwrap();
    (
        info,
        okm[..32].try_into().unwrap(),
        okm[32..].try_into().unwrap(),
    )
}

/// The implementation's `MessageKey::aead_key` and a key built from the documented derivation
/// must encrypt identically (the key and nonce themselves are not exposed).
fn assert_same_aead(
    message_key: [u8; 32],
    chain: ChainId,
    index: u32,
    key: [u8; 32],
    nonce: [u8; 12],
) {
    let probe = b"sotto vector probe";
    let ours = AeadKey::new(Zeroizing::new(key), nonce)
        .seal(b"aad", probe)
        .unwrap();
    let theirs = MessageKey::from_bytes(message_key)
        .aead_key(chain, index)
        .unwrap()
        .seal(b"aad", probe)
        .unwrap();
    assert_eq!(ours, theirs, "MessageKey::aead_key differs from §7.1");
}

#[test]
fn chain() {
    let mk_label = label("sotto/chain/message-key");
    let next_label = label("sotto/chain/next");
    for v in load("chain.json") {
        assert_eq!(hx(&v, "message_key_label"), mk_label);
        assert_eq!(hx(&v, "next_key_label"), next_label);
        let chain: ChainId = id(&v, "chain");
        let mut ck: [u8; 32] = arr_n(&v, "chain_key");
        let mut api = ChainKey::from_bytes(ck);
        let steps = arr(&v, "steps");
        assert!(steps.len() >= 6, "{}: indexes 0..5", name(&v));
        for (i, step) in steps.iter().enumerate() {
            let index = u32::try_from(i).unwrap();
            assert_eq!(n32(step, "index"), index);
            assert_eq!(hx(step, "chain_key"), ck);
            let mk = *hmac_sha256(&ck, &mk_label);
            let next = *hmac_sha256(&ck, &next_label);
            assert_eq!(hx(step, "message_key"), mk, "{} index {i}", name(&v));
            assert_eq!(hx(step, "next_chain_key"), next, "{} index {i}", name(&v));
            assert_eq!(api.message_key().danger_bytes(), &mk);
            assert_eq!(api.next().danger_bytes(), &next);
            let (info, key, nonce) = derive_aead(&mk, chain.as_bytes(), index);
            assert_eq!(hx(step, "aead_info"), info);
            assert_eq!(hx(step, "aes_key"), key, "{} index {i}", name(&v));
            assert_eq!(hx(step, "nonce"), nonce, "{} index {i}", name(&v));
            assert_same_aead(mk, chain, index, key, nonce);
            ck = next;
            api = api.next();
        }
    }
}

// ----------------------------------------------------------------------------------------------
// body.json
// ----------------------------------------------------------------------------------------------

/// §8.3 by hand: body ‖ 0x80 ‖ zeros up to the smallest power of two ≥ 256 that exceeds the
/// body's length.
fn pad_by_hand(body: &[u8]) -> Vec<u8> {
    let mut bucket = 256;
    while bucket <= body.len() {
        bucket *= 2;
    }
    let mut out = body.to_vec();
    out.push(0x80);
    out.resize(bucket, 0);
    out
}

#[test]
fn body() {
    for v in load("body.json") {
        match s(&v, "operation") {
            "encode" => {
                let body = body_from(field(&v, "body"));
                let encoded = hx(&v, "body_hex");
                assert_eq!(body.encode().unwrap().as_slice(), encoded, "{}", name(&v));
                assert_eq!(MessageBody::decode(&encoded).unwrap(), body);
                if let MessageBody::Text(t) = &body {
                    let by_hand = cat(&[&label("sotto/body"), &[0x01], &prefixed(t.as_bytes())]);
                    assert_eq!(by_hand, encoded, "{}", name(&v));
                }
                let padded = hx(&v, "padded_hex");
                assert_eq!(padded.len() as u64, n(&v, "padded_len"));
                assert_eq!(padded_len(encoded.len()), padded.len());
                assert_eq!(pad(&encoded).unwrap().as_slice(), padded, "{}", name(&v));
                assert_eq!(pad_by_hand(&encoded), padded, "{}", name(&v));
                assert_eq!(unpad(&padded).unwrap(), encoded);
            }
            "unpad" => {
                outcome(&v, unpad(&hx(&v, "padded_hex")).map(|_| ()));
            }
            "decode" => {
                outcome(
                    &v,
                    MessageBody::decode(&hx(&v, "body_hex"))
                        .map(|_| ())
                        .map_err(Error::from),
                );
            }
            other => panic!("unknown body operation {other}"),
        }
    }
}

// ----------------------------------------------------------------------------------------------
// amendment.json
// ----------------------------------------------------------------------------------------------

/// A committed message of an amendment vector: its body decoded from `body_hex` (and equal to
/// the readable `body`), with its envelope's conversation and sender account.
fn committed(v: &Value) -> (ConversationId, AccountId, MessageBody) {
    let body = MessageBody::decode(&hx(v, "body_hex")).unwrap();
    assert_eq!(body, body_from(field(v, "body")));
    (id(v, "conversation"), id(v, "sender_account"), body)
}

#[test]
fn amendment() {
    let mut checks = 0;
    let mut winners = 0;
    for v in load("amendment.json") {
        match s(&v, "operation") {
            "check" => {
                let (conversation, sender, body) = committed(field(&v, "target"));
                let target = TargetInfo::of(conversation, sender, &body);
                let (conversation, sender, body) = committed(field(&v, "amendment"));
                let (info, named) = AmendmentInfo::of(conversation, sender, &body)
                    .unwrap_or_else(|| panic!("{}: not an amendment", name(&v)));
                assert_eq!(named, id::<MessageId>(&v, "target_id"), "{}", name(&v));
                outcome(&v, check_amendment(&target, &info));
                checks += 1;
            }
            "winner" => {
                let candidates = arr(&v, "amendments").iter().map(|a| {
                    let body = body_from(field(a, "body"));
                    assert!(body.amendment().is_some(), "{}", name(&v));
                    let order =
                        AmendmentOrder::new(Timestamp(n(a, "sent_at")), id(a, "message_id"));
                    (order, order.id)
                });
                let winner = winning(candidates).unwrap();
                assert_eq!(
                    winner,
                    id::<MessageId>(&v, "expected_winner"),
                    "{}",
                    name(&v)
                );
                winners += 1;
            }
            other => panic!("unknown amendment operation {other}"),
        }
    }
    assert!(checks > 0 && winners > 0);
}

// ----------------------------------------------------------------------------------------------
// envelope.json, distribution.json: details and scripts
// ----------------------------------------------------------------------------------------------

/// Checks one genuine envelope byte for byte from its inputs (§7.1, §8).
fn check_message(m: &Value, devices: &Devices) {
    let header = envelope_header_from(field(m, "header"));
    let header_hex = hx(m, "header_hex");
    assert_eq!(header.encode(), header_hex);
    assert_eq!(EnvelopeHeader::decode(&header_hex).unwrap(), header);
    let by_hand = cat(&[
        &label("sotto/msg"),
        header.conversation.as_bytes(),
        &header.epoch.to_be_bytes(),
        header.sender_account.as_bytes(),
        header.sender_device.as_bytes(),
        header.chain.as_bytes(),
        &header.index.to_be_bytes(),
        &header.sent_at.millis().to_be_bytes(),
        header.message_id.as_bytes(),
        &header.padded_len.to_be_bytes(),
    ]);
    assert_eq!(by_hand, header_hex, "envelope header layout");

    // Ratchet from the chain key at index 0 to the message's index.
    let mut ck: [u8; 32] = arr_n(m, "chain_key");
    for _ in 0..header.index {
        ck = *hmac_sha256(&ck, &label("sotto/chain/next"));
    }
    assert_eq!(hx(m, "chain_key_at_index"), ck);
    let mk = *hmac_sha256(&ck, &label("sotto/chain/message-key"));
    assert_eq!(hx(m, "message_key"), mk);
    let (info, key, nonce) = derive_aead(&mk, header.chain.as_bytes(), header.index);
    assert_eq!(hx(m, "aead_info"), info);
    assert_eq!(hx(m, "aes_key"), key);
    assert_eq!(hx(m, "nonce"), nonce);
    assert_same_aead(mk, header.chain, header.index, key, nonce);

    let body = body_from(field(m, "body"));
    let encoded = hx(m, "body_hex");
    assert_eq!(body.encode().unwrap().as_slice(), encoded);
    let padded = hx(m, "padded_hex");
    assert_eq!(pad(&encoded).unwrap().as_slice(), padded);
    assert_eq!(padded.len(), header.padded_len as usize);

    // AES-256-GCM is deterministic under the derived key and nonce: byte for byte.
    let ciphertext = hx(m, "ciphertext");
    let aead = AeadKey::new(Zeroizing::new(key), nonce);
    assert_eq!(aead.seal(&header_hex, &padded).unwrap(), ciphertext);
    assert_eq!(
        aead.open(&header_hex, &ciphertext).unwrap().as_slice(),
        padded
    );

    // The signature is randomised (PSS): verify it with the sender device's certified key.
    let sender = devices.find(header.sender_device);
    let signing_spki = hx(m, "sender_signing_spki");
    assert_eq!(sender.signing_key().spki(), signing_spki);
    let signature = hx(m, "signature");
    let signing_input = cat(&[&prefixed(&header_hex), &prefixed(&ciphertext)]);
    VerifyingKey::from_spki(&signing_spki)
        .unwrap()
        .verify("message", &signing_input, &signature)
        .unwrap();
    let wire = hx(m, "wire");
    assert_eq!(
        wire,
        cat(&[&signing_input, &prefixed(&signature)]),
        "envelope wire layout"
    );
    let decoded = Envelope::decode(&wire).unwrap();
    assert_eq!(decoded.header(), &header);
    assert_eq!(decoded.encode(), wire);
    assert_eq!(
        SignedSealed::from_parts(header_hex, ciphertext, signature).encode(),
        wire
    );
}

/// Checks one genuine distribution: encodings and label byte for byte, the OAEP ciphertext by
/// decrypting, the signature by verifying (§7.3).
fn check_distribution(d: &Value, devices: &Devices) {
    let header = distribution_header_from(field(d, "header"));
    let header_hex = hx(d, "header_hex");
    assert_eq!(header.encode(), header_hex);
    assert_eq!(DistributionHeader::decode(&header_hex).unwrap(), header);
    let previous = match header.previous {
        None => vec![0u8],
        Some(end) => cat(&[
            &[1u8],
            end.chain.as_bytes(),
            &end.final_index.unwrap_or(u32::MAX).to_be_bytes(),
        ]),
    };
    let by_hand = cat(&[
        &label("sotto/kdm"),
        header.conversation.as_bytes(),
        &header.epoch.to_be_bytes(),
        header.chain.as_bytes(),
        header.sender_account.as_bytes(),
        header.sender_device.as_bytes(),
        header.recipient_account.as_bytes(),
        header.recipient_device.as_bytes(),
        header.recipient_key.as_bytes(),
        &header.created_at.millis().to_be_bytes(),
        &header.start_index.to_be_bytes(),
        &previous,
    ]);
    assert_eq!(by_hand, header_hex, "distribution header layout");

    let oaep_label = hx(d, "oaep_label");
    assert_eq!(
        sha256(&cat(&[&label("sotto/kdm-label"), &header_hex])),
        *oaep_label
    );
    assert_eq!(DistributionHeader::oaep_label(&header_hex), *oaep_label);

    let payload = field(d, "payload");
    let chain: ChainId = id(payload, "chain");
    assert_eq!(chain, header.chain);
    assert_eq!(n32(payload, "start_index"), header.start_index);
    let payload_hex = hx(d, "payload_hex");
    assert_eq!(
        payload_hex,
        cat(&[
            &label("sotto/kdm-payload"),
            chain.as_bytes(),
            &header.start_index.to_be_bytes(),
            &hx(payload, "chain_key"),
        ]),
        "distribution payload layout"
    );

    // OAEP is randomised: decrypt with the recipient's exchange key and the label.
    let recipient = ExchangeKeyPair::from_pkcs8(&hx(d, "recipient_exchange_pkcs8")).unwrap();
    assert_eq!(
        ExchangeKeyId::from_spki(recipient.encrypting_key().spki()),
        header.recipient_key
    );
    let ciphertext = hx(d, "ciphertext");
    assert_eq!(
        recipient
            .decrypt(&ciphertext, &oaep_label)
            .unwrap()
            .as_slice(),
        payload_hex
    );
    assert!(matches!(
        recipient.decrypt(&ciphertext, &sha256(b"another label")),
        Err(Error::DecryptionFailed)
    ));

    let sender = devices.find(header.sender_device);
    let signing_spki = hx(d, "sender_signing_spki");
    assert_eq!(sender.signing_key().spki(), signing_spki);
    let signature = hx(d, "signature");
    let signing_input = cat(&[&prefixed(&header_hex), &prefixed(&ciphertext)]);
    VerifyingKey::from_spki(&signing_spki)
        .unwrap()
        .verify("key distribution", &signing_input, &signature)
        .unwrap();
    let wire = hx(d, "wire");
    assert_eq!(wire, cat(&[&signing_input, &prefixed(&signature)]));
    let decoded = KeyDistribution::decode(&wire).unwrap();
    assert_eq!(decoded.header(), &header);
    assert_eq!(decoded.encode(), wire);
}

/// Replays a vector's steps against a fresh receiver; every step but a negative vector's last
/// must succeed and meet its `expect`.
fn run_script(v: &Value) {
    let devices = Devices::from_vector(v);
    for m in v
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        check_message(m, &devices);
    }
    for d in v
        .get("distributions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        check_distribution(d, &devices);
    }

    let r = field(v, "recipient");
    let exchange = ExchangeKeyPair::from_pkcs8(&hx(r, "exchange_pkcs8")).unwrap();
    assert_eq!(
        ExchangeKeyId::from_spki(exchange.encrypting_key().spki()),
        id::<ExchangeKeyId>(r, "exchange_key_id")
    );
    let keys = [exchange];
    let me = LocalDevice {
        prekeys: sotto_proto::PrekeyRing::empty(),
        account: id(r, "account_id"),
        device: id(r, "device_id"),
        exchange_keys: &keys,
    };
    let now = ts(v, "now");
    let mut group: Option<GroupState> = None;
    let mut state = ReceiverState::new();
    let steps = arr(v, "steps");
    assert!(!steps.is_empty(), "{}: no steps", name(v));
    for (i, step) in steps.iter().enumerate() {
        let result = (|| -> Result<(), Error> {
            match s(step, "op") {
                "group_change" => {
                    let signed = decode_signed_change(&hx(step, "change"))?;
                    let change = GroupChange::decode(signed.unverified_body())?;
                    let signer = devices.find(change.signer_device);
                    group = Some(match &group {
                        None => GroupState::genesis(&signed, signer)?,
                        Some(g) => g.apply(&signed, signer)?,
                    });
                }
                "accept_distribution" => {
                    let kdm = KeyDistribution::decode(&hx(step, "distribution"))?;
                    let sender = devices.find(kdm.header().sender_device);
                    let group = group.as_ref().expect("a group change comes first");
                    let got = state.accept_distribution(&kdm, sender, &me, group, now)?;
                    if let Some(e) = step.get("expect") {
                        assert_eq!(got.chain, id::<ChainId>(e, "chain"));
                        assert_eq!(got.duplicate, b(e, "duplicate"));
                        assert_eq!(got.missing_in_previous, u32s(e, "missing_in_previous"));
                        assert_eq!(got.previous_unknown, b(e, "previous_unknown"));
                    }
                }
                "receive" => {
                    let envelope = Envelope::decode(&hx(step, "envelope"))?;
                    let sender = devices.find(envelope.header().sender_device);
                    let group = group.as_ref().expect("a group change comes first");
                    let got = state.receive(&envelope, sender, group, now)?;
                    if let Some(e) = step.get("expect") {
                        assert_eq!(got.header.index, n32(e, "index"));
                        assert_eq!(got.body, body_from(field(e, "body")));
                        assert_eq!(got.gap, u32s(e, "gap"));
                    }
                }
                other => panic!("unknown step {other}"),
            }
            Ok(())
        })();
        if i + 1 == steps.len() {
            outcome(v, result);
        } else {
            result.unwrap_or_else(|e| {
                panic!("{}: step {i} refused with {}: {e:?}", name(v), e.code())
            });
        }
    }
}

#[test]
fn envelope() {
    let vectors = load("envelope.json");
    for v in &vectors {
        run_script(v);
    }
    assert!(vectors.iter().any(|v| v.get("expected_error").is_none()));
}

#[test]
fn distribution() {
    let vectors = load("distribution.json");
    for v in &vectors {
        run_script(v);
    }
    assert!(vectors.iter().any(|v| v.get("expected_error").is_none()));
}

// ----------------------------------------------------------------------------------------------
// identity.json
// ----------------------------------------------------------------------------------------------

fn signed(v: &Value, key: &str) -> Result<Signed, Error> {
    Ok(Signed::decode(&hx(v, key), MAX_CERTIFICATE_LEN)?)
}

/// A signed wire form is `bytes(body) ‖ bytes(signature)` (§2.3).
fn check_signed_layout(wire: &[u8], body: &[u8], signature: &[u8]) {
    assert_eq!(wire, cat(&[&prefixed(body), &prefixed(signature)]));
}

fn check_device_certificate(v: &Value, master: &AccountIdentity) {
    let c = field(v, "certificate");
    let f = field(c, "body");
    let body = DeviceCertificate {
        account: id(f, "account"),
        device: id(f, "device"),
        signing_key: hx(f, "signing_key"),
        auth_key: hx(f, "auth_key"),
        issued_at: ts(f, "issued_at"),
        name: s(f, "name").to_owned(),
    };
    let body_hex = hx(c, "body_hex");
    assert_eq!(body.encode(), body_hex);
    assert_eq!(DeviceCertificate::decode(&body_hex).unwrap(), body);
    let by_hand = cat(&[
        &label("sotto/device-cert"),
        body.account.as_bytes(),
        body.device.as_bytes(),
        &prefixed(&body.signing_key),
        &prefixed(&body.auth_key),
        &body.issued_at.millis().to_be_bytes(),
        &(body.name.len() as u16).to_be_bytes(),
        body.name.as_bytes(),
    ]);
    assert_eq!(by_hand, body_hex, "device certificate layout");
    let signature = hx(c, "signature");
    check_signed_layout(&hx(v, "device_certificate"), &body_hex, &signature);
    master
        .master_key()
        .verify("device certificate", &body_hex, &signature)
        .unwrap();
}

#[test]
fn identity() {
    for v in load("identity.json") {
        let v = &v;
        match s(v, "operation") {
            "pin_master_key" => {
                let pinned = AccountIdentity::from_master_spki(&hx(v, "master_spki"));
                if let Some(identity) = outcome(v, pinned) {
                    let expected = field(v, "expected");
                    assert_eq!(identity.account(), id::<AccountId>(expected, "account_id"));
                }
            }
            "verify_device" => {
                let identity = AccountIdentity::from_master_spki(&hx(v, "master_spki")).unwrap();
                let revocations: Vec<_> = arr(v, "revocations")
                    .iter()
                    .map(|r| {
                        let r = Signed::decode(
                            &hex::decode(r.as_str().unwrap()).unwrap(),
                            MAX_CERTIFICATE_LEN,
                        )
                        .unwrap();
                        identity.verify_revocation(&r).unwrap()
                    })
                    .collect();
                let result = signed(v, "device_certificate")
                    .and_then(|cert| identity.verify_device(&cert, &revocations));
                if let Some(d) = outcome(v, result) {
                    let e = field(v, "expected");
                    assert_eq!(d.account(), id::<AccountId>(e, "account_id"));
                    assert_eq!(d.device(), id::<DeviceId>(e, "device_id"));
                    assert_eq!(d.auth_key_id(), id::<AuthKeyId>(e, "auth_key_id"));
                    assert_eq!(d.signing_key().spki(), hx(e, "signing_key"));
                    assert_eq!(d.auth_key().spki(), hx(e, "auth_key"));
                    assert_eq!(d.name(), s(e, "name"));
                    assert_eq!(d.issued_at(), ts(e, "issued_at"));
                    assert_eq!(
                        d.device(),
                        DeviceId::from_signing_spki(&hx(e, "signing_key"))
                    );
                    check_device_certificate(v, &identity);
                }
            }
            "verify_revocation" => {
                let identity = AccountIdentity::from_master_spki(&hx(v, "master_spki")).unwrap();
                let result = signed(v, "revocation").and_then(|r| identity.verify_revocation(&r));
                if let Some(r) = outcome(v, result) {
                    let e = field(v, "expected");
                    let expected = Revocation {
                        account: id(e, "account"),
                        device: id(e, "device"),
                        serial: n(e, "serial"),
                        revoked_at: ts(e, "revoked_at"),
                    };
                    assert_eq!(r.body(), &expected);
                    let body_hex = hx(v, "body_hex");
                    assert_eq!(expected.encode(), body_hex);
                    assert_eq!(
                        cat(&[
                            &label("sotto/revocation"),
                            expected.account.as_bytes(),
                            expected.device.as_bytes(),
                            &expected.serial.to_be_bytes(),
                            &expected.revoked_at.millis().to_be_bytes(),
                        ]),
                        body_hex
                    );
                    let signature = hx(v, "signature");
                    check_signed_layout(&hx(v, "revocation"), &body_hex, &signature);
                    identity
                        .master_key()
                        .verify("revocation", &body_hex, &signature)
                        .unwrap();
                }
            }
            "verify_exchange_key" => {
                let identity = AccountIdentity::from_master_spki(&hx(v, "master_spki")).unwrap();
                let device = identity
                    .verify_device(&signed(v, "device_certificate").unwrap(), &[])
                    .unwrap();
                let highest = field(v, "highest_serial_seen").as_u64();
                let result = signed(v, "exchange_key_certificate")
                    .and_then(|c| device.verify_exchange_key(&c, ts(v, "now"), highest));
                if let Some(k) = outcome(v, result) {
                    let e = field(v, "expected");
                    assert_eq!(k.account(), id::<AccountId>(e, "account_id"));
                    assert_eq!(k.device(), id::<DeviceId>(e, "device_id"));
                    assert_eq!(k.key_id(), id::<ExchangeKeyId>(e, "exchange_key_id"));
                    assert_eq!(k.serial(), n(e, "serial"));
                    assert_eq!(k.not_before(), ts(e, "not_before"));
                    assert_eq!(k.not_after(), ts(e, "not_after"));
                    let c = field(v, "certificate");
                    let f = field(c, "body");
                    let body = ExchangeKeyCertificate {
                        last_resort: None,
                        account: id(f, "account"),
                        device: id(f, "device"),
                        exchange_key: hx(f, "exchange_key"),
                        serial: n(f, "serial"),
                        not_before: ts(f, "not_before"),
                        not_after: ts(f, "not_after"),
                    };
                    let body_hex = hx(c, "body_hex");
                    assert_eq!(body.encode(), body_hex);
                    assert_eq!(
                        cat(&[
                            &label("sotto/xkey-cert"),
                            body.account.as_bytes(),
                            body.device.as_bytes(),
                            &prefixed(&body.exchange_key),
                            &body.serial.to_be_bytes(),
                            &body.not_before.millis().to_be_bytes(),
                            &body.not_after.millis().to_be_bytes(),
                        ]),
                        body_hex
                    );
                    assert_eq!(k.key().spki(), body.exchange_key);
                    let signature = hx(c, "signature");
                    check_signed_layout(&hx(v, "exchange_key_certificate"), &body_hex, &signature);
                    device
                        .signing_key()
                        .verify("exchange-key certificate", &body_hex, &signature)
                        .unwrap();
                }
            }
            other => panic!("unknown identity operation {other}"),
        }
    }
}

// ----------------------------------------------------------------------------------------------
// group.json
// ----------------------------------------------------------------------------------------------

fn check_state(state: &GroupState, e: &Value) {
    assert_eq!(
        state.conversation(),
        id::<ConversationId>(e, "conversation")
    );
    assert_eq!(state.epoch(), n(e, "epoch"));
    assert_eq!(state.head().to_vec(), hx(e, "head_hash"));
    let kind = match s(e, "kind") {
        "group" => ConversationKind::Group,
        "direct" => ConversationKind::Direct,
        other => panic!("unknown conversation kind {other}"),
    };
    assert_eq!(state.kind(), kind);
    let naming = field(e, "naming");
    assert_eq!(
        state.naming().map(|n| (n.epoch, n.commitment.0.to_vec())),
        (!naming.is_null()).then(|| (n(naming, "epoch"), hx(naming, "commitment")))
    );
    let members: Vec<(AccountId, bool, u64)> = state
        .members()
        .iter()
        .map(|(a, m)| (*a, m.admin, m.since_epoch))
        .collect();
    let expected: Vec<(AccountId, bool, u64)> = arr(e, "members")
        .iter()
        .map(|m| (id(m, "account"), b(m, "admin"), n(m, "since_epoch")))
        .collect();
    assert_eq!(members, expected, "members (sorted by account id)");
    let retention = field(e, "retention_secs");
    assert_eq!(
        state.retention().map(Retention::secs),
        (!retention.is_null()).then(|| n(e, "retention_secs")),
        "retention"
    );
}

fn check_change_detail(c: &Value, signed: &Signed) {
    let body_hex = hx(c, "body_hex");
    let signature = hx(c, "signature");
    assert_eq!(signed.unverified_body(), body_hex);
    assert_eq!(signed.signature(), signature);
    check_signed_layout(&hx(c, "change"), &body_hex, &signature);
    let change = group_change_from(field(c, "fields"));
    assert_eq!(change.encode(), body_hex);
    assert_eq!(GroupChange::decode(&body_hex).unwrap(), change);
    let hash = hx(c, "hash");
    assert_eq!(change_hash(signed).to_vec(), hash);
    // §6.2: SHA-256(domain("sotto/group-hash") ‖ bytes(body) ‖ bytes(signature)).
    assert_eq!(
        sha256(&cat(&[&label("sotto/group-hash"), &hx(c, "change")])).to_vec(),
        hash
    );
}

#[test]
fn group() {
    for v in load("group.json") {
        let v = &v;
        let devices = Devices::from_vector(v);
        let changes = arr(v, "changes");
        assert!(!changes.is_empty());
        let mut state: Option<GroupState> = None;
        let mut final_state: Option<GroupState> = None;
        let mut previous_hash = [0u8; 32];
        for (i, c) in changes.iter().enumerate() {
            let result = (|| -> Result<GroupState, Error> {
                let signed = decode_signed_change(&hx(c, "change"))?;
                let change = GroupChange::decode(signed.unverified_body())?;
                let signer = devices.find(change.signer_device);
                assert_eq!(signer.device(), devices.named(s(c, "signer")).device());
                if c.get("fields").is_some() {
                    check_change_detail(c, &signed);
                    assert_eq!(change.previous, previous_hash, "hash chain");
                }
                match &state {
                    None => GroupState::genesis(&signed, signer),
                    Some(s) => s.apply(&signed, signer),
                }
            })();
            if i + 1 == changes.len() {
                if let Some(next) = outcome(v, result) {
                    check_state(&next, field(c, "expected_state"));
                    final_state = Some(next);
                }
            } else {
                let next = result.unwrap_or_else(|e| {
                    panic!("{}: change {i} refused with {}: {e:?}", name(v), e.code())
                });
                if let Some(e) = c.get("expected_state") {
                    check_state(&next, e);
                }
                previous_hash = next.head();
                state = Some(next);
            }
        }
        if let Some(state) = &final_state {
            check_names(v, state);
        }
    }
}

/// §6.5: each commitment in `name_reveals` computed from its inputs (by hand and through the
/// API), and each name in `name_checks` judged against the final state.
fn check_names(v: &Value, state: &GroupState) {
    let conversation = state.conversation();
    for r in v
        .get("name_reveals")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let reveal = reveal_from(r);
        let by_hand = sha256(&cat(&[
            &label("sotto/group-name"),
            conversation.as_bytes(),
            &reveal.epoch.to_be_bytes(),
            &reveal.salt,
            &(reveal.name.as_str().len() as u16).to_be_bytes(),
            reveal.name.as_str().as_bytes(),
        ]));
        assert_eq!(by_hand.to_vec(), hx(r, "commitment"), "{}", name(v));
        assert_eq!(reveal.commitment(conversation).0, by_hand);
    }
    for c in v
        .get("name_checks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let got = state.check_name(&reveal_from(c));
        match (c.get("expected_error"), got) {
            (Some(code), Err(e)) => assert_eq!(Error::from(e).code(), code, "{}", name(v)),
            (None, Ok(check)) => {
                let want = match s(c, "expected") {
                    "current" => NameCheck::Current,
                    "superseded" => NameCheck::Superseded,
                    other => panic!("unknown name check outcome {other}"),
                };
                assert_eq!(check, want, "{}: {}", name(v), s(c, "description"));
            }
            (want, got) => panic!("{}: expected {want:?}, got {got:?}", name(v)),
        }
    }
}

// ----------------------------------------------------------------------------------------------
// safety.json, auth.json
// ----------------------------------------------------------------------------------------------

/// §5 by hand.
fn fingerprint_by_hand(spki: &[u8]) -> [u8; 32] {
    let mut f = sha256(&cat(&[&label("sotto/safety-number"), &prefixed(spki)]));
    for _ in 0..1024 {
        f = sha256(&cat(&[&f, spki]));
    }
    f
}

fn digits_by_hand(f: &[u8; 32]) -> String {
    f.chunks_exact(5)
        .take(6)
        .map(|c| {
            let value = c.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
            format!("{:05}", value % 100_000)
        })
        .collect()
}

#[test]
fn safety() {
    for v in load("safety.json") {
        let (a, b) = (hx(&v, "master_spki_a"), hx(&v, "master_spki_b"));
        let (fa, fb) = (fingerprint_by_hand(&a), fingerprint_by_hand(&b));
        assert_eq!(hx(&v, "fingerprint_a"), fa);
        assert_eq!(hx(&v, "fingerprint_b"), fb);
        assert_eq!(fingerprint(&a), fa);
        assert_eq!(fingerprint(&b), fb);
        let (low, high) = if fa <= fb { (fa, fb) } else { (fb, fa) };
        let digits = s(&v, "digits");
        assert_eq!(digits.len(), 60);
        assert_eq!(
            digits,
            format!("{}{}", digits_by_hand(&low), digits_by_hand(&high))
        );
        let groups: Vec<&str> = arr(&v, "groups")
            .iter()
            .map(|g| g.as_str().unwrap())
            .collect();
        assert_eq!(groups.len(), 12);
        assert_eq!(groups.concat(), digits);
        let qr = hx(&v, "qr_payload");
        assert_eq!(qr, cat(&[&label("sotto/safety-qr"), &low, &high]));
        for number in [SafetyNumber::new(&a, &b), SafetyNumber::new(&b, &a)] {
            assert_eq!(number.digits(), digits, "{}", name(&v));
            assert_eq!(number.groups(), groups);
            assert_eq!(number.qr_payload(), qr);
            assert!(number.matches_qr(&qr));
        }
    }
}

#[test]
fn auth() {
    for v in load("auth.json") {
        let v = &v;
        let identity = AccountIdentity::from_master_spki(&hx(v, "master_spki")).unwrap();
        let device = identity
            .verify_device(&signed(v, "device_certificate").unwrap(), &[])
            .unwrap();
        let c = field(v, "challenge");
        let challenge = AuthChallenge {
            origin: s(c, "origin").to_owned(),
            username: s(c, "username").to_owned(),
            device: id(c, "device"),
            nonce: arr_n(c, "nonce"),
            issued_at: ts(c, "issued_at"),
        };
        let encoded = hx(v, "challenge_hex");
        assert_eq!(challenge.encode(), encoded);
        assert_eq!(AuthChallenge::decode(&encoded).unwrap(), challenge);
        assert_eq!(
            cat(&[
                &label("sotto/auth-challenge"),
                &(challenge.origin.len() as u16).to_be_bytes(),
                challenge.origin.as_bytes(),
                &(challenge.username.len() as u16).to_be_bytes(),
                challenge.username.as_bytes(),
                challenge.device.as_bytes(),
                &challenge.nonce,
                &challenge.issued_at.millis().to_be_bytes(),
            ]),
            encoded
        );
        assert_eq!(challenge.device, device.device());
        outcome(v, challenge.verify(device.auth_key(), &hx(v, "signature")));
    }
}

// ----------------------------------------------------------------------------------------------
// recovery.json, backup.json, handover.json
// ----------------------------------------------------------------------------------------------

/// `HKDF-SHA-256(salt = "", ikm, info, n)`.
fn hkdf(ikm: &[u8], info: &[u8], n: usize) -> Vec<u8> {
    let mut out = vec![0u8; n];
    hkdf_sha256(&[], ikm, info, &mut out).unwrap();
    out
}

/// §14.2 by hand: root, backup key, access key, verifier.
fn check_derivation(v: &Value, secret: &[u8], account: AccountId, recovery_id: [u8; 16]) {
    let e = field(v, "expected");
    let root = hkdf(
        secret,
        &cat(&[
            &label("sotto/recovery/root"),
            account.as_bytes(),
            &recovery_id,
        ]),
        32,
    );
    assert_eq!(root, hx(e, "root"), "{}: root", name(v));
    let backup = hkdf(&root, &label("sotto/recovery/backup-key"), 32);
    let access = hkdf(&root, &label("sotto/recovery/access"), 32);
    assert_eq!(backup, hx(e, "backup_key"));
    assert_eq!(access, hx(e, "access_key"));
    let verifier = sha256(&cat(&[&label("sotto/recovery/verifier"), &access]));
    assert_eq!(verifier.to_vec(), hx(e, "verifier"));
    assert_eq!(
        access_verifier(&access.clone().try_into().unwrap()).to_vec(),
        hx(e, "verifier")
    );
}

fn derived(v: &Value, secret: &RecoverySecret) -> RecoveryKeys {
    RecoveryKeys::derive(
        secret,
        id(v, "account"),
        RecoveryId::from_bytes(arr_n(v, "recovery_id")),
    )
    .unwrap()
}

#[test]
fn recovery() {
    for v in load("recovery.json") {
        let v = &v;
        match s(v, "operation") {
            "key" => {
                let secret: [u8; 28] = arr_n(v, "secret");
                // §14.1 by hand: SHA-256(domain ‖ secret)[0..2].
                let check = sha256(&cat(&[&label("sotto/recovery-key"), &secret]));
                assert_eq!(check[..2].to_vec(), hx(v, "checksum"));
                assert_eq!(cat(&[&secret, &check[..2]]), hx(v, "key"));
                let key = RecoveryKey::from_secret(&secret);
                assert_eq!(key.danger_bytes().to_vec(), hx(v, "key"));
                assert_eq!(key.to_text().as_str(), s(v, "text"));
                // Crockford base32 by hand: five bits per character, most significant first.
                let alphabet = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
                let bits: Vec<u8> = hx(v, "key")
                    .iter()
                    .flat_map(|byte| (0..8).rev().map(move |i| (byte >> i) & 1))
                    .collect();
                let plain: String = bits
                    .chunks(5)
                    .map(|c| alphabet[c.iter().fold(0usize, |a, b| a * 2 + *b as usize)] as char)
                    .collect();
                assert_eq!(plain, s(v, "text").replace('-', ""));
                assert_eq!(s(v, "text").split('-').count(), 12);
                let parsed = RecoveryKey::parse(s(v, "text")).unwrap();
                assert_eq!(parsed.danger_bytes(), key.danger_bytes());
            }
            "parse" => {
                if let Some(key) = outcome(v, RecoveryKey::parse(s(v, "input"))) {
                    assert_eq!(key.danger_bytes().to_vec(), hx(v, "key"));
                }
            }
            "derive" => {
                let secret: [u8; 28] = arr_n(v, "secret");
                let keys = derived(
                    v,
                    &RecoverySecret::from_key(&RecoveryKey::from_secret(&secret)),
                );
                check_derivation(v, &secret, id(v, "account"), arr_n(v, "recovery_id"));
                assert_eq!(
                    keys.backup_key().danger_bytes().to_vec(),
                    hx(field(v, "expected"), "backup_key")
                );
                assert_eq!(
                    keys.verifier().to_vec(),
                    hx(field(v, "expected"), "verifier")
                );
            }
            "passphrase" => {
                let salt: [u8; 16] = arr_n(v, "salt");
                let Some(secret) = outcome(
                    v,
                    RecoverySecret::from_passphrase(s(v, "passphrase"), &salt),
                ) else {
                    continue;
                };
                assert_eq!(secret.danger_bytes().to_vec(), hx(v, "secret"));
                check_derivation(
                    v,
                    &hx(v, "secret"),
                    id(v, "account"),
                    arr_n(v, "recovery_id"),
                );
                let keys = derived(v, &secret);
                assert_eq!(
                    keys.verifier().to_vec(),
                    hx(field(v, "expected"), "verifier")
                );
            }
            other => panic!("unknown recovery operation {other}"),
        }
    }
}

fn record_from(v: &Value) -> Record {
    match s(v, "type") {
        "master_key" => {
            Record::MasterKey(MasterKeyRecord::new(Zeroizing::new(hx(v, "pkcs8"))).unwrap())
        }
        "chain" => Record::Chain(ChainRecord {
            conversation: id(v, "conversation"),
            epoch: n(v, "epoch"),
            chain: id(v, "chain"),
            owner_account: id(v, "owner_account"),
            owner_device: id(v, "owner_device"),
            start_index: n32(v, "start_index"),
            key: ChainKey::from_bytes(arr_n(v, "chain_key")),
            created_at: ts(v, "created_at"),
        }),
        "pin" => Record::Pin(PinRecord {
            account: id(v, "account"),
            username: s(v, "username").to_owned(),
            verified: b(v, "verified"),
        }),
        "group_name" => Record::GroupName(GroupNameRecord {
            conversation: id(v, "conversation"),
            reveal: reveal_from(v),
        }),
        other => panic!("unknown record type {other}"),
    }
}

/// §15.1 by hand: one record's encoding.
fn record_by_hand(v: &Value) -> Vec<u8> {
    match s(v, "type") {
        "master_key" => cat(&[&[0x01], &prefixed(&hx(v, "pkcs8"))]),
        "chain" => cat(&[
            &[0x02],
            id::<ConversationId>(v, "conversation").as_bytes(),
            &n(v, "epoch").to_be_bytes(),
            id::<ChainId>(v, "chain").as_bytes(),
            id::<AccountId>(v, "owner_account").as_bytes(),
            id::<DeviceId>(v, "owner_device").as_bytes(),
            &n32(v, "start_index").to_be_bytes(),
            &hx(v, "chain_key"),
            &n(v, "created_at").to_be_bytes(),
        ]),
        "pin" => cat(&[
            &[0x03],
            id::<AccountId>(v, "account").as_bytes(),
            &(s(v, "username").len() as u16).to_be_bytes(),
            s(v, "username").as_bytes(),
            &[u8::from(b(v, "verified"))],
        ]),
        "group_name" => cat(&[
            &[0x04],
            id::<ConversationId>(v, "conversation").as_bytes(),
            &n(v, "epoch").to_be_bytes(),
            &hx(v, "salt"),
            &(s(v, "name").len() as u16).to_be_bytes(),
            s(v, "name").as_bytes(),
        ]),
        other => panic!("unknown record type {other}"),
    }
}

/// A bundle's records: encoded through the API and by hand, both equal to `bundle`; and
/// `bundle` decodes to records that encode the same.
fn check_bundle(v: &Value, records_key: &str, bundle_key: &str) {
    let records = arr(v, records_key);
    let bytes = hx(v, bundle_key);
    let mut by_hand = label("sotto/key-bundle");
    by_hand.extend_from_slice(&(records.len() as u16).to_be_bytes());
    for r in records {
        by_hand.extend_from_slice(&record_by_hand(r));
    }
    assert_eq!(by_hand, bytes, "{}: bundle layout", name(v));
    let bundle = KeyBundle::new(records.iter().map(record_from).collect());
    assert_eq!(bundle.encode().unwrap().as_slice(), bytes.as_slice());
    let decoded = KeyBundle::decode(&bytes).unwrap();
    assert_eq!(decoded.encode().unwrap().as_slice(), bytes.as_slice());
}

/// Records taken from a backup or a hand-over, compared by encoding with the expected JSON.
fn check_records(v: &Value, key: &str, records: Vec<Record>) {
    let expected = KeyBundle::new(arr(v, key).iter().map(record_from).collect());
    let got = KeyBundle::new(records);
    assert_eq!(
        got.encode().unwrap().as_slice(),
        expected.encode().unwrap().as_slice(),
        "{}: records",
        name(v)
    );
}

#[test]
fn backup() {
    for v in load("backup.json") {
        let v = &v;
        match s(v, "operation") {
            "bundle" => {
                let decoded = KeyBundle::decode(&hx(v, "bundle")).map_err(Error::from);
                if outcome(v, decoded).is_some() {
                    check_bundle(v, "records", "bundle");
                }
            }
            "item" => {
                let devices = Devices::from_vector(v);
                let secret: [u8; 28] = arr_n(v, "recovery_secret");
                let recovery_id: [u8; 16] = arr_n(v, "recovery_id");
                let keys = RecoveryKeys::derive(
                    &RecoverySecret::from_key(&RecoveryKey::from_secret(&secret)),
                    id(v, "account"),
                    RecoveryId::from_bytes(recovery_id),
                )
                .unwrap();
                assert_eq!(
                    keys.backup_key().danger_bytes().to_vec(),
                    hx(v, "backup_key")
                );
                let writer = devices.named(s(v, "writer"));
                let wire = hx(v, "item");
                let item = BackupItem::decode(&wire).unwrap();
                let header = hx(v, "header");
                assert_eq!(item.sealed().header(), header);
                // §15.2 header by hand.
                let by_hand = cat(&[
                    &label("sotto/backup-item"),
                    id::<AccountId>(v, "account").as_bytes(),
                    &recovery_id,
                    &hx(v, "item_id"),
                    writer.device().as_bytes(),
                    &n(v, "written_at").to_be_bytes(),
                    &prefixed(&device_certificate_of(v, s(v, "writer"))),
                ]);
                assert_eq!(by_hand, header, "{}: header layout", name(v));
                let h = BackupItemHeader::decode(&header).unwrap();
                assert_eq!(h.encode(), header);
                assert_eq!(BackupItemHeader::decode_item(&wire).unwrap(), h);
                // Key and nonce by hand, then the deterministic AES-GCM ciphertext.
                let okm = hkdf(
                    &hx(v, "backup_key"),
                    &cat(&[
                        &label("sotto/backup-item-key"),
                        &recovery_id,
                        &hx(v, "item_id"),
                    ]),
                    44,
                );
                assert_eq!(okm[..32].to_vec(), hx(v, "aes_key"));
                assert_eq!(okm[32..].to_vec(), hx(v, "nonce"));
                let aead = AeadKey::new(
                    Zeroizing::new(okm[..32].try_into().unwrap()),
                    okm[32..].try_into().unwrap(),
                );
                let ciphertext = hx(v, "ciphertext");
                assert_eq!(aead.seal(&header, &hx(v, "bundle")).unwrap(), ciphertext);
                assert_eq!(item.sealed().ciphertext(), ciphertext);
                check_bundle(v, "records", "bundle");
                // The wire form and the writer's signature over bytes(header) ‖ bytes(ciphertext).
                let signature = item.sealed().signature().to_vec();
                assert_eq!(
                    wire,
                    cat(&[
                        &prefixed(&header),
                        &prefixed(&ciphertext),
                        &prefixed(&signature)
                    ])
                );
                item.sealed()
                    .verify("backup item", writer.signing_key())
                    .unwrap();
            }
            "open" => {
                let items: Vec<Vec<u8>> = arr(v, "items")
                    .iter()
                    .map(|x| hex::decode(x.as_str().unwrap()).unwrap())
                    .collect();
                let wires: Vec<&[u8]> = items.iter().map(Vec::as_slice).collect();
                let revocations: Vec<Signed> = arr(v, "revocations")
                    .iter()
                    .map(|x| {
                        Signed::decode(
                            &hex::decode(x.as_str().unwrap()).unwrap(),
                            MAX_CERTIFICATE_LEN,
                        )
                        .unwrap()
                    })
                    .collect();
                let result = open_backup(
                    &wires,
                    id(v, "account"),
                    RecoveryId::from_bytes(arr_n(v, "recovery_id")),
                    &BackupKey::from_bytes(arr_n(v, "backup_key")),
                    &revocations,
                );
                let Some(opened) = outcome(v, result) else {
                    continue;
                };
                assert_eq!(
                    opened.master.account(),
                    id::<AccountId>(v, "expected_master_account")
                );
                let refusals: Vec<(u64, String)> = opened
                    .refused
                    .iter()
                    .map(|r| (r.position as u64, r.error.code().to_owned()))
                    .collect();
                let expected: Vec<(u64, String)> = arr(v, "expected_refusals")
                    .iter()
                    .map(|r| (n(r, "position"), s(r, "code").to_owned()))
                    .collect();
                assert_eq!(refusals, expected, "{}: refusals", name(v));
                check_records(v, "expected_records", opened.records);
            }
            other => panic!("unknown backup operation {other}"),
        }
    }
}

/// The device certificate (Signed wire form) of the `devices` entry named `who`.
fn device_certificate_of(v: &Value, who: &str) -> Vec<u8> {
    let entry = arr(v, "devices")
        .iter()
        .find(|d| s(d, "name") == who)
        .unwrap_or_else(|| panic!("no device named {who}"));
    hx(entry, "device_certificate")
}

#[test]
fn handover() {
    for v in load("handover.json") {
        let v = &v;
        assert_eq!(s(v, "operation"), "open");
        let devices = Devices::from_vector(v);
        let sender = devices.named(s(v, "sender"));
        let me = field(v, "recipient");
        let exchange = ExchangeKeyPair::from_pkcs8(&hx(me, "exchange_pkcs8")).unwrap();
        assert_eq!(
            ExchangeKeyId::from_spki(exchange.encrypting_key().spki()),
            id::<ExchangeKeyId>(me, "exchange_key_id")
        );
        let local = LocalDevice {
            prekeys: sotto_proto::PrekeyRing::empty(),
            account: id(me, "account_id"),
            device: id(me, "device_id"),
            exchange_keys: std::slice::from_ref(&exchange),
        };
        let wire = hx(v, "handover");
        let result =
            Handover::decode(&wire).and_then(|h| open_handover(&h, sender, &local, ts(v, "now")));
        let Some(bundle) = outcome(v, result) else {
            continue;
        };
        check_records(v, "expected_records", bundle.records);
        if v.get("header").is_none() {
            continue;
        }
        // The details: header by hand, OAEP label, the wrapping key, AES key and nonce.
        let f = field(v, "header_fields");
        let header = hx(v, "header");
        let by_hand = cat(&[
            &label("sotto/handover"),
            id::<AccountId>(f, "account").as_bytes(),
            id::<DeviceId>(f, "sender_device").as_bytes(),
            id::<DeviceId>(f, "recipient_device").as_bytes(),
            id::<ExchangeKeyId>(f, "recipient_key").as_bytes(),
            &hx(f, "handover_id"),
            &n(f, "created_at").to_be_bytes(),
        ]);
        assert_eq!(by_hand, header, "hand-over header layout");
        let decoded = Handover::decode(&wire).unwrap();
        assert_eq!(decoded.sealed().header(), header);
        assert_eq!(HandoverHeader::decode(&header).unwrap().encode(), header);
        let oaep_label = sha256(&cat(&[&label("sotto/handover-label"), &header]));
        assert_eq!(oaep_label.to_vec(), hx(v, "oaep_label"));
        let wrapped = hx(v, "wrapped");
        let sealed = hx(v, "sealed");
        assert_eq!(
            decoded.sealed().ciphertext(),
            cat(&[&prefixed(&wrapped), &prefixed(&sealed)])
        );
        let payload = exchange.decrypt(&wrapped, &oaep_label).unwrap();
        assert_eq!(
            payload.as_slice(),
            cat(&[&label("sotto/handover-key"), &hx(v, "wrapping_key")])
        );
        let okm = hkdf(&hx(v, "wrapping_key"), &label("sotto/handover-aead"), 44);
        assert_eq!(okm[..32].to_vec(), hx(v, "aes_key"));
        assert_eq!(okm[32..].to_vec(), hx(v, "nonce"));
        let aead = AeadKey::new(
            Zeroizing::new(okm[..32].try_into().unwrap()),
            okm[32..].try_into().unwrap(),
        );
        assert_eq!(
            aead.open(&header, &sealed).unwrap().as_slice(),
            hx(v, "bundle")
        );
        check_bundle(v, "expected_records", "bundle");
    }
}
