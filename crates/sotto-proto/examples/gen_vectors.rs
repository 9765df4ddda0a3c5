//! Generates the shared, cross-language test vectors in `test-vectors/` (documented in
//! `test-vectors/README.md`).
//!
//! Run from the workspace root:
//!
//! ```text
//! cargo run -p sotto-proto --features test-util --example gen_vectors -- test-vectors
//! ```
//!
//! Inputs are the fixed keys of `testdata/keys.txt` and a [`DangerSeededRng`] seeded per file, so
//! every deterministic value (ids, derivations, encodings, AES-GCM ciphertexts, safety numbers) is
//! the same on every run. RSA-PSS signatures and RSA-OAEP ciphertexts are randomised by aws-lc:
//! they change on every run, and the vectors give the keys to check them by verifying or
//! decrypting. Values that embed a signature (a signed wire form, a group change hash and the
//! `previous` field of the next change) change with them.
//!
//! Before writing anything the generator re-checks its own output through the public API (every
//! positive vector is accepted, every negative one is refused with its expected code), so a
//! vector file never disagrees with the implementation that wrote it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fs;
use std::path::{Path, PathBuf};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::KeyPair as _;
use serde_json::{json, Value};
use sotto_proto::auth::AuthChallenge;
use sotto_proto::backup::{open_backup, BackupItem, BackupItemId};
use sotto_proto::body::{
    check_amendment, pad, winning, AmendmentInfo, AmendmentOrder, AttachmentRef, BlobId, FileName,
    MediaType, Mentions, MessageBody, Reaction, ReceiptKind, TargetInfo,
};
use sotto_proto::bundle::{
    ChainRecord, GroupNameRecord, KeyBundle, MasterKeyRecord, PinRecord, Record,
};
use sotto_proto::chain::{ChainKey, LocalDevice, ReceiverState, SenderChain};
use sotto_proto::codec::Writer;
use sotto_proto::crypto::aead::AeadKey;
use sotto_proto::crypto::{hkdf_sha256, sha256};
use sotto_proto::distribution::{ChainEnd, DistributionHeader, KeyDistribution};
use sotto_proto::domain::{Domain, PROTOCOL_VERSION};
use sotto_proto::env::{DangerSeededRng, Env, Timestamp};
use sotto_proto::envelope::{Envelope, EnvelopeHeader};
use sotto_proto::group::{
    change_hash, ConversationKind, CreateKind, GroupChange, GroupName, GroupOp, GroupState, Member,
    NameCheck, NameCommitment, NameReveal, Retention,
};
use sotto_proto::handover::{open_handover, Handover, HandoverId};
use sotto_proto::identity::{AccountIdentity, DeviceCertificate, DeviceKeys, MasterKey};
use sotto_proto::ids::{
    AccountId, AuthKeyId, ChainId, ConversationId, DeviceId, ExchangeKeyId, MessageId,
};
use sotto_proto::limits::{MAX_CHAIN_MESSAGES, MAX_CLOCK_SKEW_MS};
use sotto_proto::recovery::{RecoveryId, RecoveryKey, RecoveryKeys, RecoverySecret};
use sotto_proto::safety::{fingerprint, SafetyNumber};
use sotto_proto::signed::{Signed, SignedSealed};
use sotto_proto::testing::{
    fixed_exchange_key, fixed_pkcs8, fixed_signing_key, TestAccount, TestDevice, T0,
};
use sotto_proto::Error;

fn main() {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "test-vectors".to_owned()),
    );
    fs::create_dir_all(&dir).expect("create output directory");
    let p = People::new();
    let files: Vec<(&str, Value)> = vec![
        ("keys.json", keys_file(&p)),
        ("ids.json", ids_file(&p)),
        ("chain.json", chain_file()),
        ("body.json", body_file()),
        ("amendment.json", amendment_file(&p)),
        ("envelope.json", envelope_file(&p)),
        ("distribution.json", distribution_file(&p)),
        ("identity.json", identity_file(&p)),
        ("group.json", group_file(&p)),
        ("safety.json", safety_file(&p)),
        ("auth.json", auth_file(&p)),
        ("display.json", display_file()),
        ("recovery.json", recovery_file(&p)),
        ("backup.json", backup_file(&p)),
        ("handover.json", handover_file(&p)),
    ];
    for (name, value) in files {
        write(&dir, name, &value);
    }
}

// ----------------------------------------------------------------------------------------------
// Shared helpers
// ----------------------------------------------------------------------------------------------

fn write(dir: &Path, name: &str, value: &Value) {
    let vectors = value["vectors"].as_array().expect("vectors");
    assert!(!vectors.is_empty(), "{name}: no vectors");
    let mut names = std::collections::BTreeSet::new();
    for v in vectors {
        let n = v["name"].as_str().expect("name");
        assert!(
            names.insert(n.to_owned()),
            "{name}: duplicate vector name {n}"
        );
        assert!(!v["description"].as_str().expect("description").is_empty());
    }
    let negatives = vectors
        .iter()
        .filter(|v| v.get("expected_error").is_some())
        .count();
    let mut text = serde_json::to_string_pretty(value).expect("serialise");
    text.push('\n');
    fs::write(dir.join(name), text).expect("write vector file");
    println!(
        "{name}: {} vectors ({} positive, {negatives} negative)",
        vectors.len(),
        vectors.len() - negatives
    );
}

fn file(description: &str, vectors: Vec<Value>) -> Value {
    json!({
        "description": description,
        "protocol_version": PROTOCOL_VERSION,
        "vectors": vectors,
    })
}

fn hx(bytes: impl AsRef<[u8]>) -> String {
    hex::encode(bytes)
}

/// A deterministic generator per vector file, so adding vectors to one file never changes
/// another.
fn rng_for(file: &str) -> DangerSeededRng {
    DangerSeededRng::new(sha256(format!("sotto/test-vectors/{file}").as_bytes()))
}

fn random<const N: usize>(rng: &mut DangerSeededRng) -> [u8; N] {
    Env::new(T0, rng).random().expect("seeded random")
}

/// Adds `expected_error` to a vector, after checking that the result really is that error.
fn negative(mut vector: Value, result: Result<(), Error>, code: &str) -> Value {
    match result {
        Ok(()) => panic!("{}: expected {code}, but it was accepted", vector["name"]),
        Err(e) => assert_eq!(e.code(), code, "{}: {e:?}", vector["name"]),
    }
    vector["expected_error"] = json!(code);
    vector
}

/// The four test accounts every file uses (fixed keys, so the same ids everywhere).
struct People {
    alice: TestAccount,
    bob: TestAccount,
    carol: TestAccount,
    dave: TestAccount,
}

impl People {
    fn new() -> Self {
        Self {
            alice: TestAccount::new(0, "alice"),
            bob: TestAccount::new(1, "bob"),
            carol: TestAccount::new(2, "carol"),
            dave: TestAccount::new(3, "dave"),
        }
    }

    fn all(&self) -> [&TestAccount; 4] {
        [&self.alice, &self.bob, &self.carol, &self.dave]
    }
}

/// An account as a vector's `devices` entry: the pinned master key and the device certificate.
fn device_json(a: &TestAccount) -> Value {
    json!({
        "name": a.name,
        "master_spki": hx(a.master.verifying_key().spki()),
        "account_id": a.master.account().to_string(),
        "device_id": a.device.keys.device().to_string(),
        "device_certificate": hx(a.device.certificate.encode()),
    })
}

fn devices_json(accounts: &[&TestAccount]) -> Value {
    Value::Array(accounts.iter().map(|a| device_json(a)).collect())
}

/// The receiving device of a vector: its ids and its exchange private key.
fn recipient_json(a: &TestAccount) -> Value {
    json!({
        "name": a.name,
        "account_id": a.master.account().to_string(),
        "device_id": a.device.keys.device().to_string(),
        "exchange_key_id": a.device.verified_exchange.key_id().to_string(),
        "exchange_pkcs8": hx(a.device.exchange.to_pkcs8().as_slice()),
    })
}

fn local(a: &TestAccount) -> LocalDevice<'_> {
    LocalDevice {
        prekeys: sotto_proto::PrekeyRing::empty(),
        account: a.master.account(),
        device: a.device.keys.device(),
        exchange_keys: std::slice::from_ref(&a.device.exchange),
    }
}

fn member_json(m: &Member) -> Value {
    json!({"account": m.account.to_string(), "admin": m.admin})
}

fn kind_json(kind: &CreateKind) -> Value {
    match kind {
        CreateKind::Group { name } => json!({"type": "group", "name_commitment": hx(name.0)}),
        CreateKind::Direct => json!({"type": "direct"}),
    }
}

fn reveal_json(r: &NameReveal) -> Value {
    json!({"epoch": r.epoch, "salt": hx(r.salt), "name": r.name.as_str()})
}

fn op_json(op: &GroupOp) -> Value {
    match op {
        GroupOp::Create { kind, members } => json!({
            "type": "create",
            "kind": kind_json(kind),
            "members": members.iter().map(member_json).collect::<Vec<_>>(),
        }),
        GroupOp::AddMember(m) => json!({"type": "add_member", "member": member_json(m)}),
        GroupOp::RemoveMember { account } => {
            json!({"type": "remove_member", "account": account.to_string()})
        }
        GroupOp::SetAdmin { account, admin } => {
            json!({"type": "set_admin", "account": account.to_string(), "admin": admin})
        }
        GroupOp::Rename { name } => json!({"type": "rename", "name_commitment": hx(name.0)}),
        GroupOp::SetRetention { retention } => {
            json!({"type": "set_retention", "retention_secs": retention.secs()})
        }
    }
}

fn change_fields_json(c: &GroupChange) -> Value {
    json!({
        "conversation": c.conversation.to_string(),
        "epoch": c.epoch,
        "previous": hx(c.previous),
        "signer_account": c.signer_account.to_string(),
        "signer_device": c.signer_device.to_string(),
        "issued_at": c.issued_at.millis(),
        "op": op_json(&c.op),
    })
}

fn state_json(s: &GroupState) -> Value {
    json!({
        "conversation": s.conversation().to_string(),
        "epoch": s.epoch(),
        "head_hash": hx(s.head()),
        "kind": match s.kind() {
            ConversationKind::Group => "group",
            ConversationKind::Direct => "direct",
        },
        "naming": s.naming().map(|n| json!({"epoch": n.epoch, "commitment": hx(n.commitment.0)})),
        "members": s.members().iter().map(|(account, m)| json!({
            "account": account.to_string(),
            "admin": m.admin,
            "since_epoch": m.since_epoch,
        })).collect::<Vec<_>>(),
        "retention_secs": s.retention().map(|r| r.secs()),
    })
}

fn body_json(body: &MessageBody) -> Value {
    match body {
        MessageBody::Text(t) => json!({"type": "text", "text": t}),
        MessageBody::Attachment {
            attachment,
            caption,
        } => json!({
            "type": "attachment",
            "blob_id": attachment.blob_id.as_str(),
            "file_name": attachment.file_name.as_str(),
            "media_type": attachment.media_type.as_str(),
            "size": attachment.size,
            "secret": hx(attachment.secret.as_ref()),
            "ciphertext_sha256": hx(attachment.ciphertext_sha256),
            "caption": caption,
        }),
        MessageBody::Receipt { kind, messages } => json!({
            "type": "receipt",
            "kind": match kind {
                ReceiptKind::Delivered => "delivered",
                ReceiptKind::Read => "read",
            },
            "messages": messages.iter().map(|m| m.to_string()).collect::<Vec<_>>(),
        }),
        MessageBody::GroupName(reveal) => {
            let mut v = reveal_json(reveal);
            v["type"] = json!("group_name");
            v
        }
        MessageBody::Message {
            text,
            reply_to,
            mentions,
        } => json!({
            "type": "message",
            "text": text,
            "reply_to": reply_to.map(|id| id.to_string()),
            "mentions": mentions_json(mentions),
        }),
        MessageBody::Edit {
            target,
            text,
            mentions,
        } => json!({
            "type": "edit",
            "target": target.to_string(),
            "text": text,
            "mentions": mentions_json(mentions),
        }),
        MessageBody::Delete { target } => json!({
            "type": "delete",
            "target": target.to_string(),
        }),
        MessageBody::Reaction {
            target,
            reaction,
            added,
        } => json!({
            "type": "reaction",
            "target": target.to_string(),
            "reaction": reaction.as_str(),
            "added": added,
        }),
    }
}

fn mentions_json(mentions: &Mentions) -> Value {
    json!(mentions
        .as_slice()
        .iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>())
}

/// `n` distinct account ids for mention lists (not accounts of the test world: a mention of a
/// non-member is carried, and mentions nobody, §8.4).
fn mention_ids(n: u8) -> Mentions {
    Mentions::new((0..n).map(|i| AccountId::from_bytes([i; 32])).collect()).unwrap()
}

/// The bytes of a Message body with `replies` reply ids and the given mention ids, written by
/// hand so that lists no encoder accepts can be made.
fn message_bytes(replies: u8, mentions: &[[u8; 32]]) -> Vec<u8> {
    let mut v = Domain::MessageBody.encoded();
    v.push(0x05);
    v.extend_from_slice(&[0, 0, 0, 2]);
    v.extend_from_slice(b"hi");
    v.extend_from_slice(&u16::from(replies).to_be_bytes());
    for i in 0..replies {
        v.extend_from_slice(&[i + 1; 16]);
    }
    v.extend_from_slice(&u16::try_from(mentions.len()).unwrap().to_be_bytes());
    for m in mentions {
        v.extend_from_slice(m);
    }
    v
}

/// The bytes of a Reaction body with the raw reaction bytes and `added` byte.
fn reaction_bytes(reaction: &[u8], added: u8) -> Vec<u8> {
    let mut v = Domain::MessageBody.encoded();
    v.push(0x08);
    v.extend_from_slice(&[0x3c; 16]);
    v.extend_from_slice(&u16::try_from(reaction.len()).unwrap().to_be_bytes());
    v.extend_from_slice(reaction);
    v.push(added);
    v
}

fn envelope_header_json(h: &EnvelopeHeader) -> Value {
    json!({
        "conversation": h.conversation.to_string(),
        "epoch": h.epoch,
        "sender_account": h.sender_account.to_string(),
        "sender_device": h.sender_device.to_string(),
        "chain": h.chain.to_string(),
        "index": h.index,
        "sent_at": h.sent_at.millis(),
        "message_id": h.message_id.to_string(),
        "padded_len": h.padded_len,
    })
}

fn distribution_header_json(h: &DistributionHeader) -> Value {
    json!({
        "conversation": h.conversation.to_string(),
        "epoch": h.epoch,
        "chain": h.chain.to_string(),
        "sender_account": h.sender_account.to_string(),
        "sender_device": h.sender_device.to_string(),
        "recipient_account": h.recipient_account.to_string(),
        "recipient_device": h.recipient_device.to_string(),
        "recipient_key": h.recipient_key.to_string(),
        "created_at": h.created_at.millis(),
        "start_index": h.start_index,
        "previous": h.previous.map(|end| json!({
            "chain": end.chain.to_string(),
            "final_index": end.final_index,
        })),
    })
}

fn text(s: &str) -> MessageBody {
    MessageBody::Text(s.to_owned())
}

/// The AES key, nonce and HKDF info of message `index` of `chain`, computed from the message key
/// exactly as `docs/protocol.md` §7.1 writes it (not through `MessageKey::aead_key`).
fn aead_parts(message_key: &[u8; 32], chain: ChainId, index: u32) -> ([u8; 32], [u8; 12], Vec<u8>) {
    let mut info = Domain::MessageAead.encoded();
    info.extend_from_slice(chain.as_bytes());
    info.extend_from_slice(&index.to_be_bytes());
    let mut okm = [0u8; 44];
    hkdf_sha256(&[], message_key, &info, &mut okm).unwrap();
    let mut key = [0u8; 32];
    let mut nonce = [0u8; 12];
    key.copy_from_slice(&okm[..32]);
    nonce.copy_from_slice(&okm[32..]);
    (key, nonce, info)
}

/// The chain key at `index`, ratcheted from the key at index 0.
fn chain_key_at(initial: &[u8; 32], index: u32) -> ChainKey {
    let mut key = ChainKey::from_bytes(*initial);
    for _ in 0..index {
        key = key.next();
    }
    key
}

/// The chain key a distribution carries, read back by decrypting it as its recipient would.
fn distributed_key(kdm: &KeyDistribution, to: &TestAccount) -> [u8; 32] {
    let label = DistributionHeader::oaep_label(kdm.sealed().header());
    let payload = to
        .device
        .exchange
        .decrypt(kdm.sealed().ciphertext(), &label)
        .unwrap();
    let mut key = [0u8; 32];
    key.copy_from_slice(&payload[payload.len() - 32..]);
    key
}

fn start_chain(
    group: &GroupState,
    who: &TestAccount,
    previous: Option<ChainEnd>,
    rng: &mut DangerSeededRng,
) -> SenderChain {
    let mut env = Env::new(T0, rng);
    SenderChain::start(
        group.conversation(),
        group.epoch(),
        who.master.account(),
        who.device.keys.device(),
        previous,
        &mut env,
    )
    .unwrap()
}

fn send(
    chain: &mut SenderChain,
    from: &TestAccount,
    body: &MessageBody,
    sent_at: Timestamp,
    rng: &mut DangerSeededRng,
) -> Envelope {
    let id = MessageId::from_bytes(random(rng));
    chain
        .reserve(T0)
        .unwrap()
        .seal(body, id, sent_at, &from.device.keys)
        .unwrap()
}

/// Everything needed to check one genuine envelope byte for byte.
fn message_detail(
    env: &Envelope,
    initial_chain_key: &[u8; 32],
    body: &MessageBody,
    sender: &TestAccount,
) -> Value {
    let h = env.header();
    let ck = chain_key_at(initial_chain_key, h.index);
    let mk = ck.message_key();
    let (key, nonce, info) = aead_parts(mk.danger_bytes(), h.chain, h.index);
    let encoded = body.encode().unwrap();
    let padded = pad(&encoded).unwrap();
    let sealed = env.sealed();
    // Self-check: the documented derivation reproduces the implementation's ciphertext.
    let ct = AeadKey::new(zeroize::Zeroizing::new(key), nonce)
        .seal(sealed.header(), &padded)
        .unwrap();
    assert_eq!(
        ct,
        sealed.ciphertext(),
        "ciphertext is not the documented one"
    );
    json!({
        "sender": sender.name,
        "sender_signing_spki": hx(sender.device.keys.signing().verifying_key().spki()),
        "chain_key": hx(initial_chain_key),
        "chain_key_at_index": hx(ck.danger_bytes()),
        "message_key": hx(mk.danger_bytes()),
        "aead_info": hx(&info),
        "aes_key": hx(key),
        "nonce": hx(nonce),
        "header": envelope_header_json(h),
        "header_hex": hx(sealed.header()),
        "body": body_json(body),
        "body_hex": hx(encoded.as_slice()),
        "padded_hex": hx(padded.as_slice()),
        "ciphertext": hx(sealed.ciphertext()),
        "signature": hx(sealed.signature()),
        "wire": hx(env.encode()),
    })
}

/// Everything needed to check one genuine distribution (decrypt, verify, recompute).
fn distribution_detail(kdm: &KeyDistribution, sender: &TestAccount, to: &TestAccount) -> Value {
    let sealed = kdm.sealed();
    let label = DistributionHeader::oaep_label(sealed.header());
    let payload = to
        .device
        .exchange
        .decrypt(sealed.ciphertext(), &label)
        .unwrap();
    let key = distributed_key(kdm, to);
    let mut label_input = Domain::KeyDistributionLabel.encoded();
    label_input.extend_from_slice(sealed.header());
    assert_eq!(sha256(&label_input), label);
    json!({
        "sender": sender.name,
        "sender_signing_spki": hx(sender.device.keys.signing().verifying_key().spki()),
        "recipient": to.name,
        "recipient_exchange_pkcs8": hx(to.device.exchange.to_pkcs8().as_slice()),
        "header": distribution_header_json(kdm.header()),
        "header_hex": hx(sealed.header()),
        "oaep_label": hx(label),
        "payload": {
            "chain": kdm.header().chain.to_string(),
            "start_index": kdm.header().start_index,
            "chain_key": hx(key),
        },
        "payload_hex": hx(payload.as_slice()),
        "ciphertext": hx(sealed.ciphertext()),
        "signature": hx(sealed.signature()),
        "wire": hx(kdm.encode()),
    })
}

// ----------------------------------------------------------------------------------------------
// Scripted vectors (envelope.json, distribution.json): steps replayed against a fresh receiver
// ----------------------------------------------------------------------------------------------

/// One step of a scripted vector, kept both as JSON and as what it does, so the generator can
/// run its own script before writing it.
enum Step {
    GroupChange(Signed),
    Accept {
        wire: Vec<u8>,
        expect: Option<Value>,
    },
    Receive {
        wire: Vec<u8>,
        expect: Option<Value>,
    },
}

fn step_json(step: &Step) -> Value {
    match step {
        Step::GroupChange(signed) => json!({"op": "group_change", "change": hx(signed.encode())}),
        Step::Accept { wire, expect } => {
            let mut v = json!({"op": "accept_distribution", "distribution": hx(wire)});
            if let Some(e) = expect {
                v["expect"] = e.clone();
            }
            v
        }
        Step::Receive { wire, expect } => {
            let mut v = json!({"op": "receive", "envelope": hx(wire)});
            if let Some(e) = expect {
                v["expect"] = e.clone();
            }
            v
        }
    }
}

fn accepted(chain: ChainId, duplicate: bool, missing: &[u32], previous_unknown: bool) -> Value {
    json!({
        "chain": chain.to_string(),
        "duplicate": duplicate,
        "missing_in_previous": missing,
        "previous_unknown": previous_unknown,
    })
}

fn received(index: u32, body: &MessageBody, gap: &[u32]) -> Value {
    json!({"index": index, "body": body_json(body), "gap": gap})
}

/// Runs a script as a receiver would; returns the result of the last step. Every earlier step
/// must succeed and meet its expectation.
fn run_script(p: &People, recipient: &TestAccount, steps: &[Step]) -> Result<(), Error> {
    let find = |device: DeviceId| {
        p.all()
            .into_iter()
            .find(|a| a.device.keys.device() == device)
            .map(|a| &a.device.verified)
            .expect("script names an unknown device")
    };
    let mut group: Option<GroupState> = None;
    let mut state = ReceiverState::new();
    let mut last = Ok(());
    for (i, step) in steps.iter().enumerate() {
        assert!(last.is_ok(), "step {} failed before the last", i - 1);
        last = (|| -> Result<(), Error> {
            match step {
                Step::GroupChange(signed) => {
                    let change = GroupChange::decode(signed.unverified_body())?;
                    let signer = find(change.signer_device);
                    group = Some(match &group {
                        None => GroupState::genesis(signed, signer)?,
                        Some(g) => g.apply(signed, signer)?,
                    });
                }
                Step::Accept { wire, expect } => {
                    let kdm = KeyDistribution::decode(wire)?;
                    let sender = find(kdm.header().sender_device);
                    let got = state.accept_distribution(
                        &kdm,
                        sender,
                        &local(recipient),
                        group.as_ref().expect("group"),
                        T0,
                    )?;
                    if let Some(e) = expect {
                        assert_eq!(
                            &accepted(
                                got.chain,
                                got.duplicate,
                                &got.missing_in_previous,
                                got.previous_unknown
                            ),
                            e
                        );
                    }
                }
                Step::Receive { wire, expect } => {
                    let env = Envelope::decode(wire)?;
                    let sender = find(env.header().sender_device);
                    let got = state.receive(&env, sender, group.as_ref().expect("group"), T0)?;
                    if let Some(e) = expect {
                        assert_eq!(&received(got.header.index, &got.body, &got.gap), e);
                    }
                }
            }
            Ok(())
        })();
    }
    last
}

#[allow(clippy::too_many_arguments)]
fn scripted(
    p: &People,
    name: &str,
    description: &str,
    devices: &[&TestAccount],
    recipient: &TestAccount,
    detail_key: &str,
    details: Vec<Value>,
    steps: Vec<Step>,
    expected_error: Option<&str>,
) -> Value {
    let mut vector = json!({
        "name": name,
        "description": description,
        "now": T0.millis(),
        "devices": devices_json(devices),
        "recipient": recipient_json(recipient),
        "steps": steps.iter().map(step_json).collect::<Vec<_>>(),
    });
    vector[detail_key] = Value::Array(details);
    let result = run_script(p, recipient, &steps);
    match expected_error {
        None => {
            result.unwrap_or_else(|e| panic!("{name}: refused: {e:?}"));
            vector
        }
        Some(code) => negative(vector, result, code),
    }
}

// ----------------------------------------------------------------------------------------------
// keys.json and ids.json
// ----------------------------------------------------------------------------------------------

/// Every fixed key the vectors use, with the role it plays.
fn fixed_keys() -> Vec<(usize, String, &'static str)> {
    let mut keys = Vec::new();
    for (slot, name) in ["alice", "bob", "carol", "dave"].iter().enumerate() {
        keys.push((4 * slot, format!("{name} master"), "account"));
        keys.push((4 * slot + 1, format!("{name} device signing"), "device"));
        keys.push((4 * slot + 2, format!("{name} device auth"), "auth"));
        keys.push((4 * slot + 3, format!("{name} device exchange"), "exchange"));
    }
    keys.push((
        20,
        "server-forged master (not an account)".into(),
        "account",
    ));
    keys.push((21, "server-injected device signing".into(), "device"));
    keys.push((22, "server-injected device auth".into(), "auth"));
    keys
}

fn spki_of(index: usize) -> Vec<u8> {
    fixed_signing_key(index).verifying_key().spki().to_vec()
}

fn id_for(kind: &str, spki: &[u8]) -> String {
    match kind {
        "account" => AccountId::from_master_spki(spki).to_string(),
        "device" => DeviceId::from_signing_spki(spki).to_string(),
        "exchange" => ExchangeKeyId::from_spki(spki).to_string(),
        "auth" => AuthKeyId::from_spki(spki).to_string(),
        _ => unreachable!(),
    }
}

fn keys_file(p: &People) -> Value {
    let vectors = fixed_keys()
        .into_iter()
        .map(|(index, role, kind)| {
            let spki = spki_of(index);
            let exchange_spki = fixed_exchange_key(index).encrypting_key().spki().to_vec();
            assert_eq!(spki, exchange_spki);
            json!({
                "name": format!("key-{index:02}"),
                "description": format!(
                    "Fixed RSA-3072 test key {index} ({role}): PKCS#8 private key, its SPKI public \
                     key and the {kind} id derived from it."
                ),
                "index": index,
                "role": role,
                "id_type": kind,
                "bits": 3072,
                "pkcs8": hx(fixed_pkcs8(index)),
                "spki": hx(&spki),
                "id": id_for(kind, &spki),
            })
        })
        .collect::<Vec<_>>();
    // The accounts every other file uses must be these keys.
    for a in p.all() {
        assert!(vectors
            .iter()
            .any(|v| v["id"] == json!(a.master.account().to_string())));
    }
    file(
        "The fixed RSA-3072 keys all other vector files are built from (crates/sotto-proto/\
         testdata/keys.txt). Test keys only: never use them for anything real.",
        vectors,
    )
}

fn id_preimage(tag: &str, spki: &[u8]) -> Vec<u8> {
    let mut w = Writer::default();
    w.domain(Domain::Identifier);
    w.u8(tag.len() as u8);
    w.fixed(tag.as_bytes());
    w.bytes(spki);
    w.finish()
}

fn ids_file(_p: &People) -> Value {
    let mut vectors = Vec::new();
    for (index, role, _) in fixed_keys() {
        let spki = spki_of(index);
        let mut ids = serde_json::Map::new();
        for (kind, tag) in [
            ("account", "acct"),
            ("device", "dev"),
            ("exchange", "xkey"),
            ("auth", "auth"),
        ] {
            let pre = id_preimage(tag, &spki);
            let id = id_for(kind, &spki);
            assert_eq!(&id[id.len() - 64..], hx(sha256(&pre)));
            ids.insert(kind.to_owned(), json!({"id": id, "preimage": hx(&pre)}));
        }
        vectors.push(json!({
            "name": format!("derive-key-{index:02}"),
            "description": format!(
                "Every key-derived id type of the SPKI of fixed key {index} ({role}): the same key \
                 gives unrelated ids per type."
            ),
            "operation": "derive",
            "spki": hx(&spki),
            "ids": ids,
        }));
    }
    let dev = DeviceId::from_signing_spki(&spki_of(1)).to_string();
    let acct = AccountId::from_master_spki(&spki_of(0)).to_string();
    let mut rng = rng_for("ids");
    let conv = ConversationId::from_bytes(random(&mut rng)).to_string();
    let chain = ChainId::from_bytes(random(&mut rng)).to_string();
    let msg = MessageId::from_bytes(random(&mut rng)).to_string();
    let parses: Vec<(&str, &str, String, Option<&str>)> =
        vec![
        (
            "parse-device",
            "A device id in text form parses to its 32 bytes.",
            dev.clone(),
            None,
        ),
        (
            "parse-account",
            "An account id in text form.",
            acct.clone(),
            None,
        ),
        ("parse-conversation", "A conversation id (16 bytes).", conv.clone(), None),
        ("parse-chain", "A chain id (16 bytes).", chain, None),
        ("parse-message", "A message id (16 bytes).", msg, None),
        (
            "parse-device-as-account",
            "A device id read where an account id is expected: the type prefix differs, refused.",
            dev.clone(),
            Some("account"),
        ),
        (
            "parse-uppercase-hex",
            "Upper-case hex is not the canonical text form, refused.",
            format!("dev:{}", dev["dev:".len()..].to_uppercase()),
            Some("device"),
        ),
        (
            "parse-missing-prefix",
            "Bare hex without the type prefix, refused.",
            dev["dev:".len()..].to_owned(),
            Some("device"),
        ),
        (
            "parse-short",
            "One hex digit pair short, refused.",
            dev[..dev.len() - 2].to_owned(),
            Some("device"),
        ),
        (
            "parse-conversation-too-long",
            "A 16-byte id with an extra byte, refused.",
            format!("{conv}00"),
            Some("conversation"),
        ),
    ];
    for (name, description, text, wrong_type) in parses {
        let id_type = wrong_type.unwrap_or_else(|| {
            text.split(':')
                .next()
                .map(|prefix| match prefix {
                    "dev" => "device",
                    "acct" => "account",
                    "conv" => "conversation",
                    "chain" => "chain",
                    "msg" => "message",
                    _ => unreachable!(),
                })
                .unwrap()
        });
        let parsed: Result<Vec<u8>, Error> = match id_type {
            "device" => text.parse::<DeviceId>().map(|i| i.as_bytes().to_vec()),
            "account" => text.parse::<AccountId>().map(|i| i.as_bytes().to_vec()),
            "conversation" => text
                .parse::<ConversationId>()
                .map(|i| i.as_bytes().to_vec()),
            "chain" => text.parse::<ChainId>().map(|i| i.as_bytes().to_vec()),
            "message" => text.parse::<MessageId>().map(|i| i.as_bytes().to_vec()),
            _ => unreachable!(),
        }
        .map_err(Error::from);
        let mut v = json!({
            "name": name,
            "description": description,
            "operation": "parse",
            "id_type": id_type,
            "text": text,
        });
        match wrong_type {
            None => {
                v["bytes"] = json!(hx(parsed.unwrap()));
                vectors.push(v);
            }
            Some(_) => {
                vectors.push(negative(v, parsed.map(|_| ()), "decode/invalid-value"));
            }
        }
    }
    file(
        "Typed identifiers (docs/protocol.md §4.2): key-derived ids of every type for each fixed \
         key's SPKI, with the exact hash input, and text-form parsing.",
        vectors,
    )
}

// ----------------------------------------------------------------------------------------------
// chain.json
// ----------------------------------------------------------------------------------------------

fn chain_file() -> Value {
    let mut rng = rng_for("chain");
    let seeded_key: [u8; 32] = random(&mut rng);
    let seeded_chain = ChainId::from_bytes(random(&mut rng));
    let mut counting = [0u8; 32];
    for (i, b) in counting.iter_mut().enumerate() {
        *b = i as u8;
    }
    let cases = [
        (
            "seeded-chain",
            "A chain key and chain id drawn from the seeded generator, as a sender would start one.",
            seeded_key,
            seeded_chain,
        ),
        (
            "zero-chain-key",
            "An all-zero chain key (HMAC and HKDF accept any key): checks the labels alone.",
            [0u8; 32],
            ChainId::from_bytes([0u8; 16]),
        ),
        (
            "counting-chain-key",
            "Chain key 00 01 … 1f and chain id ff … ff.",
            counting,
            ChainId::from_bytes([0xff; 16]),
        ),
    ];
    let vectors = cases
        .into_iter()
        .map(|(name, description, key, chain)| {
            let mut ck = ChainKey::from_bytes(key);
            let steps = (0..6u32)
                .map(|i| {
                    let mk = ck.message_key();
                    let next = ck.next();
                    let (aes, nonce, info) = aead_parts(mk.danger_bytes(), chain, i);
                    // Self-check against the implementation's own derivation.
                    let probe = mk
                        .aead_key(chain, i)
                        .unwrap()
                        .seal(b"aad", b"probe")
                        .unwrap();
                    let mine = AeadKey::new(zeroize::Zeroizing::new(aes), nonce)
                        .seal(b"aad", b"probe")
                        .unwrap();
                    assert_eq!(probe, mine);
                    let step = json!({
                        "index": i,
                        "chain_key": hx(ck.danger_bytes()),
                        "message_key": hx(mk.danger_bytes()),
                        "next_chain_key": hx(next.danger_bytes()),
                        "aead_info": hx(&info),
                        "aes_key": hx(aes),
                        "nonce": hx(nonce),
                    });
                    ck = next;
                    step
                })
                .collect::<Vec<_>>();
            json!({
                "name": name,
                "description": description,
                "chain_key": hx(key),
                "chain": chain.to_string(),
                "message_key_label": hx(Domain::ChainMessageKey.encoded()),
                "next_key_label": hx(Domain::ChainNextKey.encoded()),
                "steps": steps,
            })
        })
        .collect();
    file(
        "Sender-chain ratchet (docs/protocol.md §7.1): from a chain key at index 0, for indexes 0 to \
         5, the message key, the next chain key, the HKDF info and the AES-256-GCM key and nonce.",
        vectors,
    )
}

// ----------------------------------------------------------------------------------------------
// body.json
// ----------------------------------------------------------------------------------------------

fn sample_attachment() -> MessageBody {
    MessageBody::Attachment {
        attachment: AttachmentRef {
            blob_id: BlobId::new("b-7f3a9c").expect("blob id"),
            file_name: FileName::new("engagement-letter.pdf").expect("file name"),
            media_type: MediaType::new("application/pdf").expect("media type"),
            size: 48_213,
            secret: zeroize::Zeroizing::new(sha256(b"attachment secret")),
            ciphertext_sha256: sha256(b"attachment blob"),
        },
        caption: "Signed copy attached.".into(),
    }
}

fn body_file() -> Value {
    let header_len = Domain::MessageBody.encoded().len() + 1 + 4;
    let mut vectors = Vec::new();
    let bodies: Vec<(&str, &str, MessageBody)> = vec![
        ("text-empty", "An empty text message: the smallest body, padded to 256 bytes.", text("")),
        ("text-short", "A short ASCII text.", text("Privileged and confidential.")),
        (
            "text-unicode",
            "Text is carried as UTF-8 bytes, unnormalised (Cyrillic, accents, an emoji).",
            text("Привет, café 👋"),
        ),
        (
            "text-fills-first-bucket",
            "An encoded body of 255 bytes: with the 0x80 mark it fills the 256-byte bucket exactly.",
            text(&"a".repeat(255 - header_len)),
        ),
        (
            "text-spills-to-second-bucket",
            "An encoded body of 256 bytes: the mark no longer fits, so it pads to 512.",
            text(&"a".repeat(256 - header_len)),
        ),
        (
            "receipt-delivered",
            "A delivery receipt naming two messages.",
            MessageBody::Receipt {
                kind: ReceiptKind::Delivered,
                messages: vec![
                    MessageId::from_bytes([0x01; 16]),
                    MessageId::from_bytes([0x02; 16]),
                ],
            },
        ),
        (
            "receipt-read",
            "A read receipt naming one message.",
            MessageBody::Receipt {
                kind: ReceiptKind::Read,
                messages: vec![MessageId::from_bytes([0xab; 16])],
            },
        ),
        (
            "attachment",
            "An attachment reference (blob id, name, type, size, secret, blob hash) with a caption.",
            sample_attachment(),
        ),
        (
            "group-name",
            "A group name with the salt of its commitment, set at epoch 3 (§6.5).",
            MessageBody::GroupName(NameReveal {
                epoch: 3,
                salt: [0x5c; 32],
                name: GroupName::new("Case 2026-114 (appeal)").unwrap(),
            }),
        ),
        (
            "message-reply-and-mention",
            "A Message (§8.4): a text replying to one message and mentioning one account.",
            MessageBody::Message {
                text: "@bob see the draft above".into(),
                reply_to: Some(MessageId::from_bytes([0x3a; 16])),
                mentions: mention_ids(1),
            },
        ),
        (
            "message-empty-lists",
            "A Message with no reply and no mention: valid on the wire (a sender uses Text \
             instead), both lists empty.",
            MessageBody::Message {
                text: "hello".into(),
                reply_to: None,
                mentions: Mentions::none(),
            },
        ),
        (
            "message-64-mentions",
            "A Message mentioning 64 distinct accounts: the largest mention list.",
            MessageBody::Message {
                text: "@all".into(),
                reply_to: None,
                mentions: mention_ids(64),
            },
        ),
        (
            "edit",
            "An Edit (§8.5): the target's id, the new text and its mentions.",
            MessageBody::Edit {
                target: MessageId::from_bytes([0x3b; 16]),
                text: "The hearing moved to 10:00.".into(),
                mentions: mention_ids(2),
            },
        ),
        (
            "edit-no-mentions",
            "An Edit with an empty text and no mention.",
            MessageBody::Edit {
                target: MessageId::from_bytes([0x3b; 16]),
                text: String::new(),
                mentions: Mentions::none(),
            },
        ),
        (
            "delete",
            "A Delete (§8.5): the target's id only.",
            MessageBody::Delete {
                target: MessageId::from_bytes([0x3b; 16]),
            },
        ),
        (
            "reaction-added",
            "A Reaction (§8.6) adding a thumbs-up (4 bytes of UTF-8).",
            MessageBody::Reaction {
                target: MessageId::from_bytes([0x3c; 16]),
                reaction: Reaction::new("👍").unwrap(),
                added: true,
            },
        ),
        (
            "reaction-removed-32-bytes",
            "A Reaction taking back a 32-byte reaction (a family emoji of 25 bytes and 7 ASCII \
             letters): the longest reaction.",
            MessageBody::Reaction {
                target: MessageId::from_bytes([0x3c; 16]),
                reaction: Reaction::new("👨‍👩‍👧‍👦 family").unwrap(),
                added: false,
            },
        ),
    ];
    for (name, description, body) in bodies {
        let encoded = body.encode().unwrap();
        let padded = pad(&encoded).unwrap();
        vectors.push(json!({
            "name": name,
            "description": description,
            "operation": "encode",
            "body": body_json(&body),
            "body_hex": hx(encoded.as_slice()),
            "padded_len": padded.len(),
            "padded_hex": hx(padded.as_slice()),
        }));
    }
    let good = pad(&text("hi").encode().unwrap()).unwrap().to_vec();
    let mut last_nonzero = good.clone();
    *last_nonzero.last_mut().unwrap() = 0x01;
    let mut wrong_mark = good.clone();
    let mark = good.iter().rposition(|&b| b != 0).unwrap();
    wrong_mark[mark] = 0x81;
    let unpads: Vec<(&str, &str, Vec<u8>)> = vec![
        (
            "unpad-all-zero",
            "256 zero bytes: no 0x80 mark at all.",
            vec![0u8; 256],
        ),
        (
            "unpad-nonzero-tail",
            "A padded body whose last byte is 0x01: the last non-zero byte must be the 0x80 mark.",
            last_nonzero,
        ),
        (
            "unpad-wrong-mark",
            "The mark is 0x81 instead of 0x80.",
            wrong_mark,
        ),
        (
            "unpad-wrong-bucket",
            "A correctly marked body cut to 128 bytes: not the bucket size of its length.",
            good[..128].to_vec(),
        ),
        (
            "unpad-oversized-bucket",
            "A short body padded to 512 bytes: the bucket must be the smallest one that fits.",
            {
                let mut v = good.clone();
                v.resize(512, 0);
                v
            },
        ),
    ];
    for (name, description, padded) in unpads {
        let v = json!({
            "name": name,
            "description": description,
            "operation": "unpad",
            "padded_hex": hx(&padded),
        });
        let result = sotto_proto::body::unpad(&padded).map(|_| ());
        vectors.push(negative(v, result, "decryption-failed"));
    }
    let text_hi = text("hi").encode().unwrap().to_vec();
    let tag_at = Domain::MessageBody.encoded().len();
    let mut unknown_kind = text_hi.clone();
    unknown_kind[tag_at] = 0x09;
    let mut trailing = text_hi.clone();
    trailing.push(0);
    let mut version2 = text_hi.clone();
    version2[tag_at - 1] = 2;
    let mut bad_utf8 = Domain::MessageBody.encoded();
    bad_utf8.extend_from_slice(&[0x01, 0, 0, 0, 2, 0xc3, 0x28]);
    let mut receipt_kind = Domain::MessageBody.encoded();
    receipt_kind.extend_from_slice(&[0x03, 0x03, 0x00, 0x00]);
    let mut too_long = Domain::MessageBody.encoded();
    too_long.extend_from_slice(&[0x01, 0x00, 0x01, 0x00, 0x01]);
    let mut truncated = text_hi.clone();
    truncated.pop();
    let group_name_of = |name: &[u8]| {
        let mut v = Domain::MessageBody.encoded();
        v.push(0x04);
        v.extend_from_slice(&3u64.to_be_bytes());
        v.extend_from_slice(&[0x5c; 32]);
        v.extend_from_slice(&u16::try_from(name.len()).unwrap().to_be_bytes());
        v.extend_from_slice(name);
        v
    };
    let decodes: Vec<(&str, &str, Vec<u8>, &str)> = vec![
        (
            "decode-group-name-with-newline",
            "A group name holding a line feed: not display text (§4.8).",
            group_name_of(b"Case\n2026"),
            "decode/invalid-value",
        ),
        (
            "decode-group-name-too-long",
            "A group name of 129 bytes, above the 128-byte bound.",
            group_name_of(&[b'a'; 129]),
            "decode/too-long",
        ),
        (
            "decode-unknown-kind",
            "Body kind tag 0x09 is not defined.",
            unknown_kind,
            "decode/unknown-tag",
        ),
        (
            "decode-trailing-bytes",
            "A text body followed by one extra byte.",
            trailing,
            "decode/trailing-bytes",
        ),
        (
            "decode-version-2",
            "The body domain with version 2: refused, no fallback.",
            version2,
            "decode/unsupported-version",
        ),
        (
            "decode-envelope-domain",
            "Bytes that start with the envelope header's domain, not the body's.",
            {
                let mut v = Domain::Envelope.encoded();
                v.extend_from_slice(&[0x01, 0, 0, 0, 0]);
                v
            },
            "decode/wrong-domain",
        ),
        (
            "decode-invalid-utf8",
            "Text bytes c3 28 are not UTF-8.",
            bad_utf8,
            "decode/invalid-utf8",
        ),
        (
            "decode-unknown-receipt-kind",
            "Receipt kind 3 is not defined (1 delivered, 2 read).",
            receipt_kind,
            "decode/unknown-tag",
        ),
        (
            "decode-text-too-long",
            "A text length prefix of 65537 bytes, above the 65536-byte bound, refused before reading.",
            too_long,
            "decode/too-long",
        ),
        (
            "decode-truncated",
            "A text body missing its last byte.",
            truncated,
            "decode/truncated",
        ),
        (
            "decode-message-two-replies",
            "A Message whose reply list names two ids: at most one (§8.4).",
            message_bytes(2, &[]),
            "decode/too-many",
        ),
        (
            "decode-message-65-mentions",
            "A Message mentioning 65 accounts: at most 64, refused on the count before reading.",
            message_bytes(0, &(0..65u8).map(|i| [i; 32]).collect::<Vec<_>>()),
            "decode/too-many",
        ),
        (
            "decode-message-duplicate-mention",
            "A Message mentioning the same account twice.",
            message_bytes(0, &[[0x11; 32], [0x22; 32], [0x11; 32]]),
            "decode/invalid-value",
        ),
        (
            "decode-edit-duplicate-mention",
            "An Edit mentioning the same account twice.",
            {
                let mut v = Domain::MessageBody.encoded();
                v.push(0x06);
                v.extend_from_slice(&[0x3b; 16]);
                v.extend_from_slice(&[0, 0, 0, 1, b'x', 0, 2]);
                v.extend_from_slice(&[0x11; 32]);
                v.extend_from_slice(&[0x11; 32]);
                v
            },
            "decode/invalid-value",
        ),
        (
            "decode-message-invalid-utf8",
            "A Message whose text bytes c3 28 are not UTF-8.",
            {
                let mut v = Domain::MessageBody.encoded();
                v.extend_from_slice(&[0x05, 0, 0, 0, 2, 0xc3, 0x28, 0, 0, 0, 0]);
                v
            },
            "decode/invalid-utf8",
        ),
        (
            "decode-message-truncated",
            "A Message whose mention list announces one account and ends after 31 of its bytes.",
            {
                let mut v = message_bytes(0, &[[0x11; 32]]);
                v.pop();
                v
            },
            "decode/truncated",
        ),
        (
            "decode-delete-truncated",
            "A Delete whose target id has 15 bytes.",
            {
                let mut v = Domain::MessageBody.encoded();
                v.push(0x07);
                v.extend_from_slice(&[0x3b; 15]);
                v
            },
            "decode/truncated",
        ),
        (
            "decode-reaction-empty",
            "A Reaction of 0 bytes: a reaction is 1 to 32 bytes of display text.",
            reaction_bytes(b"", 1),
            "decode/invalid-value",
        ),
        (
            "decode-reaction-33-bytes",
            "A Reaction of 33 bytes, above the 32-byte bound.",
            reaction_bytes(&[b'a'; 33], 1),
            "decode/too-long",
        ),
        (
            "decode-reaction-control-character",
            "A Reaction holding an escape character (0x1b): not display text (§4.8).",
            reaction_bytes(b"ok\x1b[31m", 1),
            "decode/invalid-value",
        ),
        (
            "decode-reaction-invalid-utf8",
            "A Reaction whose bytes c3 28 are not UTF-8.",
            reaction_bytes(&[0xc3, 0x28], 1),
            "decode/invalid-utf8",
        ),
        (
            "decode-reaction-bad-bool",
            "A Reaction whose `added` byte is 2: a bool is 0 or 1.",
            reaction_bytes("👍".as_bytes(), 2),
            "decode/invalid-value",
        ),
        (
            "decode-reaction-truncated",
            "A Reaction without its `added` byte.",
            {
                let mut v = reaction_bytes("👍".as_bytes(), 1);
                v.pop();
                v
            },
            "decode/truncated",
        ),
    ];
    for (name, description, bytes, code) in decodes {
        let v = json!({
            "name": name,
            "description": description,
            "operation": "decode",
            "body_hex": hx(&bytes),
        });
        let result = MessageBody::decode(&bytes).map(|_| ()).map_err(Error::from);
        vectors.push(negative(v, result, code));
    }
    file(
        "Message bodies and padding (docs/protocol.md §8.2, §8.3): each body's canonical encoding \
         and padded form; malformed padding; malformed bodies with the decoder's error. (Inside a \
         received envelope, every padding or body failure surfaces as decryption-failed, §9.)",
        vectors,
    )
}

// ----------------------------------------------------------------------------------------------
// amendment.json
// ----------------------------------------------------------------------------------------------

/// One committed message as an amendment vector gives it: its envelope's conversation and
/// sender, and its body.
struct Committed {
    conversation: ConversationId,
    account: AccountId,
    device: DeviceId,
    body: MessageBody,
}

impl Committed {
    fn json(&self) -> Value {
        json!({
            "conversation": self.conversation.to_string(),
            "sender_account": self.account.to_string(),
            "sender_device": self.device.to_string(),
            "body": body_json(&self.body),
            "body_hex": hx(self.body.encode().unwrap().as_slice()),
        })
    }
}

fn amendment_file(p: &People) -> Value {
    let conversation = ConversationId::from_bytes([0xc1; 16]);
    let other_conversation = ConversationId::from_bytes([0xc2; 16]);
    let alice = p.alice.master.account();
    let bob = p.bob.master.account();
    let alice_phone = p.alice.device.keys.device();
    // A second device of Alice's account: the check compares accounts, never devices.
    let alice_laptop = DeviceId::from_bytes([0xd2; 32]);
    let bob_phone = p.bob.device.keys.device();
    let target_id = MessageId::from_bytes([0x3b; 16]);
    let by = |account: AccountId, device: DeviceId, body: MessageBody| Committed {
        conversation,
        account,
        device,
        body,
    };
    let edit = || MessageBody::Edit {
        target: target_id,
        text: "The hearing moved to 10:00.".into(),
        mentions: Mentions::none(),
    };
    let delete = || MessageBody::Delete { target: target_id };
    let react = |added: bool| MessageBody::Reaction {
        target: target_id,
        reaction: Reaction::new("👍").unwrap(),
        added,
    };
    let alice_text = || by(alice, alice_phone, text("The hearing moved to 9:30."));
    let elsewhere = |c: Committed| Committed {
        conversation: other_conversation,
        ..c
    };
    let cases: Vec<(&str, &str, Committed, Committed)> = vec![
        (
            "own-edit",
            "Alice edits her own text message from the device that sent it.",
            alice_text(),
            by(alice, alice_phone, edit()),
        ),
        (
            "own-edit-from-another-device",
            "Alice edits her message from another device of her account: any device of the \
             author's account may amend (§8.5 check 3).",
            alice_text(),
            by(alice, alice_laptop, edit()),
        ),
        (
            "own-delete",
            "Alice deletes her own message.",
            alice_text(),
            by(alice, alice_laptop, delete()),
        ),
        (
            "own-edit-of-attachment",
            "Alice edits her attachment: the edit replaces its caption.",
            by(alice, alice_phone, sample_attachment()),
            by(alice, alice_phone, edit()),
        ),
        (
            "own-edit-of-message-kind",
            "Alice edits her Message (a reply with a mention): a content message like Text.",
            by(
                alice,
                alice_phone,
                MessageBody::Message {
                    text: "@bob agreed".into(),
                    reply_to: Some(MessageId::from_bytes([0x3a; 16])),
                    mentions: Mentions::new(vec![bob]).unwrap(),
                },
            ),
            by(alice, alice_phone, edit()),
        ),
        (
            "reaction-to-another-accounts-message",
            "Bob reacts to Alice's message: any member may react (§8.6).",
            alice_text(),
            by(bob, bob_phone, react(true)),
        ),
        (
            "edit-of-another-accounts-message",
            "Bob edits Alice's message.",
            alice_text(),
            by(bob, bob_phone, edit()),
        ),
        (
            "delete-of-another-accounts-message",
            "Bob deletes Alice's message.",
            alice_text(),
            by(bob, bob_phone, delete()),
        ),
        (
            "edit-of-receipt",
            "Alice edits her own read receipt: not a content message.",
            by(
                alice,
                alice_phone,
                MessageBody::Receipt {
                    kind: ReceiptKind::Read,
                    messages: vec![MessageId::from_bytes([0x01; 16])],
                },
            ),
            by(alice, alice_phone, edit()),
        ),
        (
            "edit-of-edit",
            "Alice edits her own earlier edit: an edit names the original message, never an edit.",
            by(
                alice,
                alice_phone,
                MessageBody::Edit {
                    target: MessageId::from_bytes([0x3a; 16]),
                    text: "first fix".into(),
                    mentions: Mentions::none(),
                },
            ),
            by(alice, alice_phone, edit()),
        ),
        (
            "edit-of-reaction",
            "Alice edits her own reaction.",
            by(alice, alice_phone, react(true)),
            by(alice, alice_phone, edit()),
        ),
        (
            "edit-of-group-name",
            "Alice edits her own GroupName body.",
            by(
                alice,
                alice_phone,
                MessageBody::GroupName(NameReveal {
                    epoch: 3,
                    salt: [0x5c; 32],
                    name: GroupName::new("Case 2026-114 (appeal)").unwrap(),
                }),
            ),
            by(alice, alice_phone, edit()),
        ),
        (
            "delete-of-delete",
            "Alice deletes her own Delete.",
            by(alice, alice_phone, delete()),
            by(alice, alice_phone, delete()),
        ),
        (
            "reaction-to-receipt",
            "Bob reacts to Alice's receipt: reactions run checks 1 and 2 too.",
            by(
                alice,
                alice_phone,
                MessageBody::Receipt {
                    kind: ReceiptKind::Delivered,
                    messages: vec![MessageId::from_bytes([0x01; 16])],
                },
            ),
            by(bob, bob_phone, react(true)),
        ),
        (
            "wrong-target-before-not-author",
            "Bob edits Alice's receipt: both rules fail, and the target's kind is checked first.",
            by(
                alice,
                alice_phone,
                MessageBody::Receipt {
                    kind: ReceiptKind::Read,
                    messages: vec![MessageId::from_bytes([0x01; 16])],
                },
            ),
            by(bob, bob_phone, edit()),
        ),
        (
            "edit-in-another-conversation",
            "Alice's edit, sent in another conversation, names her message of this one.",
            alice_text(),
            elsewhere(by(alice, alice_phone, edit())),
        ),
        (
            "reaction-in-another-conversation",
            "Bob's reaction, sent in another conversation, names Alice's message of this one.",
            alice_text(),
            elsewhere(by(bob, bob_phone, react(true))),
        ),
    ];
    let mut vectors = Vec::new();
    for (name, description, target, amendment) in cases {
        let (info, named) =
            AmendmentInfo::of(amendment.conversation, amendment.account, &amendment.body)
                .expect("an amendment");
        assert_eq!(named, target_id);
        let target_info = TargetInfo::of(target.conversation, target.account, &target.body);
        let v = json!({
            "name": name,
            "description": description,
            "operation": "check",
            "target_id": target_id.to_string(),
            "target": target.json(),
            "amendment": amendment.json(),
        });
        match check_amendment(&target_info, &info) {
            Ok(()) => vectors.push(v),
            Err(e) => {
                let code = e.code();
                vectors.push(negative(v, Err(e), code));
            }
        }
    }
    // Which accepted amendment decides (§8.5, §8.6): the greatest (sent_at, id bytes).
    let order = |at: u64, id: [u8; 16], body: MessageBody| {
        (
            AmendmentOrder::new(T0.plus(at), MessageId::from_bytes(id)),
            body,
        )
    };
    let edit_to = |t: &str| MessageBody::Edit {
        target: target_id,
        text: t.into(),
        mentions: Mentions::none(),
    };
    let mut id_80 = [0u8; 16];
    id_80[0] = 0x80;
    let mut id_7f = [0xffu8; 16];
    id_7f[0] = 0x7f;
    let winners = vec![
        (
            "winner-later-edit",
            "Two edits of one message: the one sent later is shown, whatever the arrival order.",
            vec![
                order(2_000, [0x01; 16], edit_to("second")),
                order(1_000, [0xff; 16], edit_to("first")),
            ],
        ),
        (
            "winner-equal-sent-at-id-bytes",
            "Two edits with the same sent_at: the greater message id, compared as unsigned bytes \
             (80 00… beats 7f ff…), decides.",
            vec![
                order(1_000, id_80, edit_to("eighty")),
                order(1_000, id_7f, edit_to("seven-f")),
            ],
        ),
        (
            "winner-reaction-taken-back",
            "Bob adds a reaction, then takes it back: the later Reaction (added false) decides \
             that it is not shown.",
            vec![
                order(1_000, [0x22; 16], react(true)),
                order(3_000, [0x11; 16], react(false)),
                order(2_000, [0x33; 16], react(true)),
            ],
        ),
    ];
    for (name, description, amendments) in winners {
        let winner = winning(amendments.iter().map(|(o, _)| (*o, o.id))).unwrap();
        vectors.push(json!({
            "name": name,
            "description": description,
            "operation": "winner",
            "amendments": amendments.iter().map(|(o, body)| json!({
                "sent_at": o.sent_at.millis(),
                "message_id": o.id.to_string(),
                "body": body_json(body),
            })).collect::<Vec<_>>(),
            "expected_winner": winner.to_string(),
        }));
    }
    file(
        "Edits, deletes and reactions against their targets (docs/protocol.md §8.5, §8.6). `check`: \
         the receiver's check of an amendment against its committed target, from each message's \
         conversation, sender account and body (sender devices are given but never compared); \
         a refusal names its code. `winner`: accepted amendments of one target with their \
         envelope sent_at and message id; `expected_winner` is the one that decides.",
        vectors,
    )
}

// ----------------------------------------------------------------------------------------------
// envelope.json
// ----------------------------------------------------------------------------------------------

fn envelope_file(p: &People) -> Value {
    let (alice, bob, carol, dave) = (&p.alice, &p.bob, &p.carol, &p.dave);
    let mut rng = rng_for("envelope");
    let conversation = ConversationId::from_bytes(random(&mut rng));
    let genesis = GroupState::create(
        conversation,
        sotto_proto::testing::group_kind(conversation, "Case 2026-114"),
        vec![alice.member(true), bob.member(false), carol.member(false)],
        alice.master.account(),
        &alice.device.keys,
        T0,
    )
    .unwrap();
    let group = GroupState::genesis(&genesis, &alice.device.verified).unwrap();
    let g = || Step::GroupChange(genesis.clone());

    // Chain A: Alice to Bob, four messages of every body kind, then a far-future one.
    let mut chain_a = start_chain(&group, alice, None, &mut rng);
    let kdm_a = chain_a
        .distribute(
            &group,
            &bob.device.verified_exchange,
            &alice.device.keys,
            T0,
        )
        .unwrap();
    let key_a = distributed_key(&kdm_a, bob);
    let bodies_a = [
        text("The hearing moved to 9:30. Privileged and confidential."),
        sample_attachment(),
        MessageBody::Receipt {
            kind: ReceiptKind::Read,
            messages: vec![MessageId::from_bytes([0x5a; 16])],
        },
        text(&"Long draft paragraph. ".repeat(14)),
    ];
    let msgs_a: Vec<Envelope> = bodies_a
        .iter()
        .map(|b| send(&mut chain_a, alice, b, T0, &mut rng))
        .collect();
    let detail_a: Vec<Value> = msgs_a
        .iter()
        .zip(&bodies_a)
        .map(|(m, b)| message_detail(m, &key_a, b, alice))
        .collect();
    let far_body = text("Sent from a clock ten days fast.");
    let far = send(
        &mut chain_a,
        alice,
        &far_body,
        T0.plus(10 * Timestamp::DAY),
        &mut rng,
    );
    let accept_a = || Step::Accept {
        wire: kdm_a.encode(),
        expect: Some(accepted(chain_a.chain(), false, &[], false)),
    };
    let m0 = &msgs_a[0];
    let m0_wire = m0.encode();
    let (m0_header, m0_ct, m0_sig) = (
        m0.sealed().header().to_vec(),
        m0.sealed().ciphertext().to_vec(),
        m0.sealed().signature().to_vec(),
    );
    let receive_m0_ok = || Step::Receive {
        wire: m0_wire.clone(),
        expect: Some(received(0, &bodies_a[0], &[])),
    };
    let last = |wire: Vec<u8>| Step::Receive { wire, expect: None };

    // Chain B: Alice to Bob, delivered out of order.
    let mut chain_b = start_chain(&group, alice, None, &mut rng);
    let kdm_b = chain_b
        .distribute(
            &group,
            &bob.device.verified_exchange,
            &alice.device.keys,
            T0,
        )
        .unwrap();
    let key_b = distributed_key(&kdm_b, bob);
    let bodies_b = [text("one"), text("two"), text("three")];
    let msgs_b: Vec<Envelope> = bodies_b
        .iter()
        .map(|b| send(&mut chain_b, alice, b, T0, &mut rng))
        .collect();

    // Chain C: Carol to Bob; Carol is then removed.
    let mut chain_c = start_chain(&group, carol, None, &mut rng);
    let kdm_c = chain_c
        .distribute(
            &group,
            &bob.device.verified_exchange,
            &carol.device.keys,
            T0,
        )
        .unwrap();
    let key_c = distributed_key(&kdm_c, bob);
    let bodies_c = [text("still a member"), text("removed, but still talking")];
    let msgs_c: Vec<Envelope> = bodies_c
        .iter()
        .map(|b| send(&mut chain_c, carol, b, T0, &mut rng))
        .collect();
    let removal = group
        .propose(
            GroupOp::RemoveMember {
                account: carol.master.account(),
            },
            alice.master.account(),
            &alice.device.keys,
            T0,
        )
        .unwrap();

    // Chain D: Dave, never a member, sends into the conversation.
    let mut chain_d = start_chain(&group, dave, None, &mut rng);
    let dave_msg = send(&mut chain_d, dave, &text("let me in"), T0, &mut rng);

    // Index 100 on chain A, built by hand (a sender cannot reserve it) and signed by Alice.
    let beyond = {
        let body = text("index 100");
        let padded = pad(&body.encode().unwrap()).unwrap();
        let header = EnvelopeHeader {
            conversation,
            epoch: 0,
            sender_account: alice.master.account(),
            sender_device: alice.device.keys.device(),
            chain: chain_a.chain(),
            index: MAX_CHAIN_MESSAGES,
            sent_at: T0,
            message_id: MessageId::from_bytes(random(&mut rng)),
            padded_len: padded.len() as u32,
        }
        .encode();
        let ct = chain_key_at(&key_a, MAX_CHAIN_MESSAGES)
            .message_key()
            .aead_key(chain_a.chain(), MAX_CHAIN_MESSAGES)
            .unwrap()
            .seal(&header, &padded)
            .unwrap();
        let env = Envelope::from_sealed(
            SignedSealed::sign(header, ct, alice.device.keys.signing()).unwrap(),
        )
        .unwrap();
        let detail = message_detail(&env, &key_a, &body, alice);
        (env, detail)
    };

    let mut flipped_id = m0.header().clone();
    let mut id = *flipped_id.message_id.as_bytes();
    id[0] ^= 0x01;
    flipped_id.message_id = MessageId::from_bytes(id);
    let mut bad_ct = m0_ct.clone();
    bad_ct[0] ^= 0x01;
    let mut bad_sig = m0_sig.clone();
    bad_sig[10] ^= 0x01;
    let version_at = Domain::Envelope.encoded().len() - 1;
    let with_version = |v: u8| {
        let mut h = m0_header.clone();
        h[version_at] = v;
        SignedSealed::sign(h, m0_ct.clone(), alice.device.keys.signing())
            .unwrap()
            .encode()
    };
    let owner_forgery = {
        let c0 = &msgs_c[0];
        let mut h = c0.header().clone();
        h.chain = chain_a.chain();
        SignedSealed::sign(
            h.encode(),
            c0.sealed().ciphertext().to_vec(),
            carol.device.keys.signing(),
        )
        .unwrap()
        .encode()
    };

    let ad = [alice];
    let adc = [alice, carol];
    let add = [alice, dave];
    let one_a = || vec![detail_a[0].clone()];
    let v = vec![
        scripted(
            p,
            "in-order-every-body-kind",
            "Alice's chain key reaches Bob in a distribution; Bob then receives messages 0 to 3 \
             (text, attachment, read receipt, a text long enough for the 512-byte bucket) in order.",
            &ad,
            bob,
            "messages",
            detail_a.clone(),
            vec![
                g(),
                accept_a(),
                receive_m0_ok(),
                Step::Receive {
                    wire: msgs_a[1].encode(),
                    expect: Some(received(1, &bodies_a[1], &[])),
                },
                Step::Receive {
                    wire: msgs_a[2].encode(),
                    expect: Some(received(2, &bodies_a[2], &[])),
                },
                Step::Receive {
                    wire: msgs_a[3].encode(),
                    expect: Some(received(3, &bodies_a[3], &[])),
                },
            ],
            None,
        ),
        scripted(
            p,
            "out-of-order-with-gap",
            "Messages 2, 0, 1 of a chain arrive in that order: message 2 reports the gap [0, 1], \
             whose keys are kept and then used for 0 and 1.",
            &ad,
            bob,
            "messages",
            msgs_b
                .iter()
                .zip(&bodies_b)
                .map(|(m, b)| message_detail(m, &key_b, b, alice))
                .collect(),
            vec![
                g(),
                Step::Accept {
                    wire: kdm_b.encode(),
                    expect: Some(accepted(chain_b.chain(), false, &[], false)),
                },
                Step::Receive {
                    wire: msgs_b[2].encode(),
                    expect: Some(received(2, &bodies_b[2], &[0, 1])),
                },
                Step::Receive {
                    wire: msgs_b[0].encode(),
                    expect: Some(received(0, &bodies_b[0], &[])),
                },
                Step::Receive {
                    wire: msgs_b[1].encode(),
                    expect: Some(received(1, &bodies_b[1], &[])),
                },
            ],
            None,
        ),
        scripted(
            p,
            "tampered-ciphertext",
            "One bit of the ciphertext flipped, Alice's signature kept: the signature check, which \
             comes before decryption, refuses it.",
            &ad,
            bob,
            "messages",
            one_a(),
            vec![
                g(),
                accept_a(),
                last(SignedSealed::from_parts(m0_header.clone(), bad_ct.clone(), m0_sig.clone()).encode()),
            ],
            Some("bad-signature"),
        ),
        scripted(
            p,
            "tampered-ciphertext-resigned",
            "The sender herself signs a ciphertext with one bit flipped: the signature verifies, \
             AES-GCM authentication fails, one uniform error.",
            &ad,
            bob,
            "messages",
            one_a(),
            vec![
                g(),
                accept_a(),
                last(
                    SignedSealed::sign(m0_header.clone(), bad_ct, alice.device.keys.signing())
                        .unwrap()
                        .encode(),
                ),
            ],
            Some("decryption-failed"),
        ),
        scripted(
            p,
            "tampered-header",
            "One bit of the header's message id flipped, signature kept.",
            &ad,
            bob,
            "messages",
            one_a(),
            vec![
                g(),
                accept_a(),
                last(SignedSealed::from_parts(flipped_id.encode(), m0_ct.clone(), m0_sig.clone()).encode()),
            ],
            Some("bad-signature"),
        ),
        scripted(
            p,
            "tampered-signature",
            "One bit of the signature flipped.",
            &ad,
            bob,
            "messages",
            one_a(),
            vec![
                g(),
                accept_a(),
                last(SignedSealed::from_parts(m0_header.clone(), m0_ct.clone(), bad_sig).encode()),
            ],
            Some("bad-signature"),
        ),
        scripted(
            p,
            "wrong-signer",
            "Carol re-signs Alice's header and ciphertext with her own device key; the header still \
             names Alice's device, whose key does not verify it.",
            &adc,
            bob,
            "messages",
            one_a(),
            vec![
                g(),
                accept_a(),
                last(
                    SignedSealed::sign(m0_header.clone(), m0_ct.clone(), carol.device.keys.signing())
                        .unwrap()
                        .encode(),
                ),
            ],
            Some("bad-signature"),
        ),
        scripted(
            p,
            "replay",
            "The same envelope delivered twice: accepted once, then refused as a replay.",
            &ad,
            bob,
            "messages",
            one_a(),
            vec![g(), accept_a(), receive_m0_ok(), last(m0_wire.clone())],
            Some("receive/replay"),
        ),
        scripted(
            p,
            "unknown-version-0",
            "The header's version byte set to 0 (and re-signed by Alice): refused when decoding.",
            &ad,
            bob,
            "messages",
            one_a(),
            vec![g(), accept_a(), last(with_version(0))],
            Some("decode/unsupported-version"),
        ),
        scripted(
            p,
            "unknown-version-2",
            "The header's version byte set to 2 (and re-signed by Alice): no fallback to v1.",
            &ad,
            bob,
            "messages",
            one_a(),
            vec![g(), accept_a(), last(with_version(2))],
            Some("decode/unsupported-version"),
        ),
        scripted(
            p,
            "distribution-fed-as-message",
            "A genuine key distribution offered as a message: its header domain is sotto/kdm, not \
             sotto/msg.",
            &ad,
            bob,
            "messages",
            vec![],
            vec![g(), accept_a(), last(kdm_a.encode())],
            Some("decode/wrong-domain"),
        ),
        scripted(
            p,
            "far-future-timestamp",
            "A message whose sent_at is ten days after the receiver's now (more than the 3-hour \
             skew allowed).",
            &ad,
            bob,
            "messages",
            vec![message_detail(&far, &key_a, &far_body, alice)],
            vec![g(), accept_a(), last(far.encode())],
            Some("receive/far-future"),
        ),
        scripted(
            p,
            "removed-member",
            "Carol's chain is accepted while she is a member and her first message is read; Alice \
             removes her (epoch 1); her next message on the old chain is refused.",
            &adc,
            bob,
            "messages",
            msgs_c
                .iter()
                .zip(&bodies_c)
                .map(|(m, b)| message_detail(m, &key_c, b, carol))
                .collect(),
            vec![
                g(),
                Step::Accept {
                    wire: kdm_c.encode(),
                    expect: Some(accepted(chain_c.chain(), false, &[], false)),
                },
                Step::Receive {
                    wire: msgs_c[0].encode(),
                    expect: Some(received(0, &bodies_c[0], &[])),
                },
                Step::GroupChange(removal),
                last(msgs_c[1].encode()),
            ],
            Some("receive/sender-not-member"),
        ),
        scripted(
            p,
            "index-beyond-bound",
            "A message at index 100, correctly encrypted and signed by the chain's owner: chains end \
             at index 99.",
            &ad,
            bob,
            "messages",
            vec![beyond.1],
            vec![g(), accept_a(), last(beyond.0.encode())],
            Some("receive/index-out-of-bounds"),
        ),
        scripted(
            p,
            "unknown-chain",
            "A genuine message whose chain was never introduced by a distribution (held until one \
             arrives).",
            &ad,
            bob,
            "messages",
            one_a(),
            vec![g(), last(m0_wire.clone())],
            Some("receive/unknown-chain"),
        ),
        scripted(
            p,
            "non-member-sender",
            "Dave, a certified device of an account that is not a member, sends into the \
             conversation.",
            &add,
            bob,
            "messages",
            vec![],
            vec![g(), last(dave_msg.encode())],
            Some("receive/sender-not-member"),
        ),
        scripted(
            p,
            "chain-owner-mismatch",
            "Carol signs a message of her own but names Alice's chain in its header.",
            &adc,
            bob,
            "messages",
            vec![],
            vec![g(), accept_a(), last(owner_forgery)],
            Some("receive/chain-owner-mismatch"),
        ),
    ];
    file(
        "Message envelopes (docs/protocol.md §8) and the receiver's checks (§9). Each vector is a \
         script replayed by a fresh receiver (the recipient device) at `now`: group changes, key \
         distributions and envelopes, in order. `messages` holds every value needed to check the \
         genuine envelopes byte for byte.",
        v,
    )
}

// ----------------------------------------------------------------------------------------------
// distribution.json
// ----------------------------------------------------------------------------------------------

fn distribution_file(p: &People) -> Value {
    let (alice, bob, carol, dave) = (&p.alice, &p.bob, &p.carol, &p.dave);
    let mut rng = rng_for("distribution");
    let conversation = ConversationId::from_bytes(random(&mut rng));
    let genesis = GroupState::create(
        conversation,
        sotto_proto::testing::group_kind(conversation, "Board minutes"),
        vec![alice.member(true), bob.member(false), carol.member(false)],
        alice.master.account(),
        &alice.device.keys,
        T0,
    )
    .unwrap();
    let group = GroupState::genesis(&genesis, &alice.device.verified).unwrap();
    let g = || Step::GroupChange(genesis.clone());

    let mut chain_p = start_chain(&group, alice, None, &mut rng);
    let to_bob = chain_p
        .distribute(
            &group,
            &bob.device.verified_exchange,
            &alice.device.keys,
            T0,
        )
        .unwrap();
    let to_carol = chain_p
        .distribute(
            &group,
            &carol.device.verified_exchange,
            &alice.device.keys,
            T0,
        )
        .unwrap();
    let to_bob_again = chain_p
        .distribute(
            &group,
            &bob.device.verified_exchange,
            &alice.device.keys,
            T0,
        )
        .unwrap();
    let bodies = [text("minute 1"), text("minute 2"), text("minute 3")];
    let msgs: Vec<Envelope> = bodies
        .iter()
        .map(|b| send(&mut chain_p, alice, b, T0, &mut rng))
        .collect();
    let mut env = Env::new(T0, &mut rng);
    let mut chain_q = chain_p.successor(0, &mut env).unwrap();
    let successor = chain_q
        .distribute(
            &group,
            &bob.device.verified_exchange,
            &alice.device.keys,
            T0,
        )
        .unwrap();
    let mut chain_d = start_chain(&group, dave, None, &mut rng);
    let from_dave = chain_d
        .distribute(&group, &bob.device.verified_exchange, &dave.device.keys, T0)
        .unwrap();

    let sealed = to_bob.sealed();
    let keep_sig = |header: &DistributionHeader| {
        SignedSealed::from_parts(
            header.encode(),
            sealed.ciphertext().to_vec(),
            sealed.signature().to_vec(),
        )
        .encode()
    };
    let mut to_carol_header = to_bob.header().clone();
    to_carol_header.recipient_account = carol.master.account();
    to_carol_header.recipient_device = carol.device.keys.device();
    to_carol_header.recipient_key = carol.device.verified_exchange.key_id();
    let mut other_conv = to_bob.header().clone();
    other_conv.conversation = ConversationId::from_bytes(random(&mut rng));
    let mut later = to_bob.header().clone();
    later.created_at = T0.plus(1);
    let relabelled = SignedSealed::sign(
        later.encode(),
        sealed.ciphertext().to_vec(),
        alice.device.keys.signing(),
    )
    .unwrap()
    .encode();
    let carol_signed = SignedSealed::sign(
        sealed.header().to_vec(),
        sealed.ciphertext().to_vec(),
        carol.device.keys.signing(),
    )
    .unwrap()
    .encode();
    let version2 = {
        let mut h = sealed.header().to_vec();
        h[Domain::KeyDistribution.encoded().len() - 1] = 2;
        SignedSealed::sign(h, sealed.ciphertext().to_vec(), alice.device.keys.signing())
            .unwrap()
            .encode()
    };
    // Same chain id, another chain key: built by hand as a malicious Alice would.
    let conflicting = {
        let header = to_bob.header().encode();
        let mut payload = Writer::for_domain(Domain::KeyDistributionPayload);
        chain_p.chain().encode(&mut payload);
        payload.u32(0);
        payload.fixed(&sha256(b"another chain key"));
        let ct = bob
            .device
            .verified_exchange
            .key()
            .encrypt(&payload.finish(), &DistributionHeader::oaep_label(&header))
            .unwrap();
        SignedSealed::sign(header, ct, alice.device.keys.signing())
            .unwrap()
            .encode()
    };

    let accept_ok = |kdm: &KeyDistribution, exp: Value| Step::Accept {
        wire: kdm.encode(),
        expect: Some(exp),
    };
    let last = |wire: Vec<u8>| Step::Accept { wire, expect: None };
    let pc = chain_p.chain();
    let d_bob = || vec![distribution_detail(&to_bob, alice, bob)];
    let ad = [alice];
    let adc = [alice, carol];
    let v = vec![
        scripted(
            p,
            "alice-to-bob",
            "Alice's new chain key, distributed to Bob's device under his exchange key.",
            &ad,
            bob,
            "distributions",
            d_bob(),
            vec![g(), accept_ok(&to_bob, accepted(pc, false, &[], false))],
            None,
        ),
        scripted(
            p,
            "alice-to-carol",
            "The same chain key distributed to Carol: another recipient, another header and label.",
            &ad,
            carol,
            "distributions",
            vec![distribution_detail(&to_carol, alice, carol)],
            vec![g(), accept_ok(&to_carol, accepted(pc, false, &[], false))],
            None,
        ),
        scripted(
            p,
            "repeated-distribution",
            "A second, separately encrypted distribution of the same chain key: a harmless \
             duplicate.",
            &ad,
            bob,
            "distributions",
            vec![
                distribution_detail(&to_bob, alice, bob),
                distribution_detail(&to_bob_again, alice, bob),
            ],
            vec![
                g(),
                accept_ok(&to_bob, accepted(pc, false, &[], false)),
                accept_ok(&to_bob_again, accepted(pc, true, &[], false)),
            ],
            None,
        ),
        scripted(
            p,
            "successor-reveals-truncation",
            "Alice sends messages 0, 1, 2; Bob receives only 0. Her next chain's distribution \
             names the previous chain's final index 2, so Bob learns 1 and 2 are missing.",
            &ad,
            bob,
            "distributions",
            vec![
                distribution_detail(&to_bob, alice, bob),
                distribution_detail(&successor, alice, bob),
            ],
            vec![
                g(),
                accept_ok(&to_bob, accepted(pc, false, &[], false)),
                Step::Receive {
                    wire: msgs[0].encode(),
                    expect: Some(received(0, &bodies[0], &[])),
                },
                accept_ok(&successor, accepted(chain_q.chain(), false, &[1, 2], false)),
            ],
            None,
        ),
        scripted(
            p,
            "successor-of-unknown-chain",
            "A distribution naming a previous chain this device never received: accepted, and the \
             previous chain is reported unknown.",
            &ad,
            bob,
            "distributions",
            vec![distribution_detail(&successor, alice, bob)],
            vec![g(), accept_ok(&successor, accepted(chain_q.chain(), false, &[], true))],
            None,
        ),
        scripted(
            p,
            "retargeted-to-another-device",
            "Bob's distribution re-addressed to Carol's device and exchange key, Alice's signature \
             kept, delivered to Carol.",
            &ad,
            carol,
            "distributions",
            d_bob(),
            vec![g(), last(keep_sig(&to_carol_header))],
            Some("bad-signature"),
        ),
        scripted(
            p,
            "retargeted-to-another-conversation",
            "Bob's distribution with another conversation id, Alice's signature kept.",
            &ad,
            bob,
            "distributions",
            d_bob(),
            vec![g(), last(keep_sig(&other_conv))],
            Some("bad-signature"),
        ),
        scripted(
            p,
            "signed-by-another-member",
            "Carol re-signs Alice's distribution header and ciphertext with her own key; the header \
             still names Alice's device.",
            &adc,
            bob,
            "distributions",
            d_bob(),
            vec![g(), last(carol_signed)],
            Some("bad-signature"),
        ),
        scripted(
            p,
            "wrong-recipient",
            "A genuine distribution addressed to Carol, delivered to Bob.",
            &ad,
            bob,
            "distributions",
            vec![distribution_detail(&to_carol, alice, carol)],
            vec![g(), last(to_carol.encode())],
            Some("receive/wrong-recipient"),
        ),
        scripted(
            p,
            "header-changed-and-resigned",
            "Alice re-signs a header with another created_at around the old ciphertext: the \
             signature verifies but the OAEP label no longer matches.",
            &ad,
            bob,
            "distributions",
            d_bob(),
            vec![g(), last(relabelled)],
            Some("decryption-failed"),
        ),
        scripted(
            p,
            "conflicting-chain-key",
            "After a genuine distribution, another one for the same chain id carrying another \
             chain key.",
            &ad,
            bob,
            "distributions",
            d_bob(),
            vec![
                g(),
                accept_ok(&to_bob, accepted(pc, false, &[], false)),
                last(conflicting),
            ],
            Some("receive/chain-key-conflict"),
        ),
        scripted(
            p,
            "sender-not-member",
            "Dave, certified but not a member, distributes a chain key to Bob.",
            &[alice, dave],
            bob,
            "distributions",
            vec![distribution_detail(&from_dave, dave, bob)],
            vec![g(), last(from_dave.encode())],
            Some("receive/sender-not-member"),
        ),
        scripted(
            p,
            "unknown-version-2",
            "The distribution header's version byte set to 2 (re-signed): refused when decoding.",
            &ad,
            bob,
            "distributions",
            d_bob(),
            vec![g(), last(version2)],
            Some("decode/unsupported-version"),
        ),
        scripted(
            p,
            "message-fed-as-distribution",
            "A genuine envelope offered as a key distribution.",
            &ad,
            bob,
            "distributions",
            vec![],
            vec![g(), last(msgs[0].encode())],
            Some("decode/wrong-domain"),
        ),
    ];
    file(
        "Key distributions (docs/protocol.md §7.3, §7.5). Each vector is a script replayed by a \
         fresh receiver (the recipient device) at `now`. `distributions` holds every value needed \
         to check the genuine distributions: header encoding, OAEP label and payload byte for \
         byte, ciphertext by decrypting with the recipient's exchange key, signature by verifying.",
        v,
    )
}

// ----------------------------------------------------------------------------------------------
// identity.json
// ----------------------------------------------------------------------------------------------

fn device_cert_detail(signed: &Signed) -> Value {
    let c = DeviceCertificate::decode(signed.unverified_body()).unwrap();
    json!({
        "body": {
            "account": c.account.to_string(),
            "device": c.device.to_string(),
            "signing_key": hx(&c.signing_key),
            "auth_key": hx(&c.auth_key),
            "issued_at": c.issued_at.millis(),
            "name": c.name,
        },
        "body_hex": hx(signed.unverified_body()),
        "signature": hx(signed.signature()),
    })
}

fn identity_file(p: &People) -> Value {
    let (alice, bob) = (&p.alice, &p.bob);
    let mut v = Vec::new();
    let master = |a: &TestAccount| hx(a.master.verifying_key().spki());

    // Key pinning.
    let small = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
    let small_spki = small.public_key().as_der().unwrap().as_ref().to_vec();
    let parsed = aws_lc_rs::rsa::PublicKey::from_der(alice.master.verifying_key().spki()).unwrap();
    let modulus = parsed.modulus().big_endian_without_leading_zero().to_vec();
    let e3_spki = PublicKeyComponents {
        n: modulus.as_slice(),
        e: &[3u8][..],
    }
    .as_der()
    .unwrap()
    .as_ref()
    .to_vec();
    let pkcs1 = RsaKeyPair::from_pkcs8(&fixed_pkcs8(0))
        .unwrap()
        .public_key()
        .as_ref()
        .to_vec();
    let pin = |name: &str, description: &str, spki: &[u8], code: Option<&str>| {
        let vector = json!({
            "name": name,
            "description": description,
            "operation": "pin_master_key",
            "master_spki": hx(spki),
        });
        let result = AccountIdentity::from_master_spki(spki);
        match code {
            None => {
                let mut vector = vector;
                vector["expected"] = json!({"account_id": result.unwrap().account().to_string()});
                vector
            }
            Some(code) => negative(vector, result.map(|_| ()), code),
        }
    };
    v.push(pin(
        "pin-master-key",
        "Alice's RSA-3072 master key pins and gives her account id.",
        alice.master.verifying_key().spki(),
        None,
    ));
    v.push(pin(
        "undersized-master-key",
        "A 2048-bit RSA key (generated when the vectors were made): below the 3072-bit minimum.",
        &small_spki,
        Some("key/too-small"),
    ));
    v.push(pin(
        "exponent-3-master-key",
        "Alice's master modulus with public exponent 3: only 65537 is accepted.",
        &e3_spki,
        Some("key/bad-exponent"),
    ));
    v.push(pin(
        "pkcs1-master-key",
        "Alice's master key as a bare PKCS#1 RSAPublicKey instead of SPKI: one key, one encoding.",
        &pkcs1,
        Some("key/not-canonical-spki"),
    ));
    v.push(pin(
        "garbage-master-key",
        "Bytes that are not a key at all.",
        b"not a key",
        Some("key/malformed"),
    ));

    // Device certificates.
    let verify_device = |name: &str,
                         description: &str,
                         owner: &TestAccount,
                         cert: &Signed,
                         revocations: &[Signed],
                         code: Option<&str>| {
        let mut vector = json!({
            "name": name,
            "description": description,
            "operation": "verify_device",
            "master_spki": master(owner),
            "device_certificate": hx(cert.encode()),
            "revocations": revocations.iter().map(|r| hx(r.encode())).collect::<Vec<_>>(),
        });
        let verified: Vec<_> = revocations
            .iter()
            .map(|r| owner.identity.verify_revocation(r).unwrap())
            .collect();
        let result = owner.identity.verify_device(cert, &verified);
        match code {
            None => {
                let d = result.unwrap();
                vector["certificate"] = device_cert_detail(cert);
                vector["expected"] = json!({
                    "account_id": d.account().to_string(),
                    "device_id": d.device().to_string(),
                    "auth_key_id": d.auth_key_id().to_string(),
                    "signing_key": hx(d.signing_key().spki()),
                    "auth_key": hx(d.auth_key().spki()),
                    "name": d.name(),
                    "issued_at": d.issued_at().millis(),
                });
                vector
            }
            Some(code) => negative(vector, result.map(|_| ()), code),
        }
    };
    for a in p.all() {
        v.push(verify_device(
            &format!("device-certificate-{}", a.name),
            &format!(
                "{}'s first device, certified by {}'s master key.",
                a.name, a.name
            ),
            a,
            &a.device.certificate,
            &[],
            None,
        ));
    }
    let server = MasterKey::from_key(fixed_signing_key(20));
    let injected = DeviceKeys::from_keys(fixed_signing_key(21), fixed_signing_key(22)).unwrap();
    let foreign = server
        .certify_device(
            injected.signing().verifying_key(),
            injected.auth().verifying_key(),
            "bob's phone",
            T0,
        )
        .unwrap();
    let mut claim = DeviceCertificate::decode(foreign.unverified_body()).unwrap();
    claim.account = bob.master.account();
    let claiming = Signed::sign(claim.encode(), server.key_pair()).unwrap();
    v.push(verify_device(
        "uncertified-device-foreign-account",
        "The server mints a device and certifies it with a master key of its own; presented as \
         Bob's, the certificate names another account.",
        bob,
        &foreign,
        &[],
        Some("wrong-account"),
    ));
    v.push(verify_device(
        "uncertified-device-claims-account",
        "The same injected device, its certificate claiming Bob's account but signed by the \
         server's key, not Bob's pinned master key.",
        bob,
        &claiming,
        &[],
        Some("bad-signature"),
    ));
    let mut mismatch =
        DeviceCertificate::decode(alice.device.certificate.unverified_body()).unwrap();
    mismatch.device = DeviceId::from_bytes([7; 32]);
    let mismatch = Signed::sign(mismatch.encode(), alice.master.key_pair()).unwrap();
    v.push(verify_device(
        "device-id-mismatch",
        "A certificate signed by Alice's master key whose device id is not the id of the signing \
         key it carries.",
        alice,
        &mismatch,
        &[],
        Some("id-mismatch"),
    ));
    let revocation = alice
        .master
        .revoke(alice.device.keys.device(), 1, T0)
        .unwrap();
    v.push(verify_device(
        "revoked-device",
        "Alice's device certificate, checked together with Alice's revocation of that device.",
        alice,
        &alice.device.certificate,
        std::slice::from_ref(&revocation),
        Some("device-revoked"),
    ));
    let with_device_key = |spki: &[u8]| {
        let body = DeviceCertificate {
            account: alice.master.account(),
            device: DeviceId::from_signing_spki(spki),
            signing_key: spki.to_vec(),
            auth_key: alice.device.keys.auth().verifying_key().spki().to_vec(),
            issued_at: T0,
            name: "weak device".into(),
        };
        Signed::sign(body.encode(), alice.master.key_pair()).unwrap()
    };
    v.push(verify_device(
        "undersized-device-key",
        "A certificate, validly signed by Alice's master key, for a 2048-bit device signing key.",
        alice,
        &with_device_key(&small_spki),
        &[],
        Some("key/too-small"),
    ));
    v.push(verify_device(
        "exponent-3-device-key",
        "A certificate, validly signed by Alice's master key, for a device key with exponent 3.",
        alice,
        &with_device_key(&e3_spki),
        &[],
        Some("key/bad-exponent"),
    ));
    let body = alice.device.certificate.unverified_body().to_vec();
    for salt in [20u32, 0, 64] {
        let sig = alice
            .master
            .key_pair()
            .danger_sign_with_salt_len(&body, salt)
            .unwrap();
        v.push(verify_device(
            &format!("pss-salt-{salt}"),
            &format!(
                "Alice's device certificate signed by her master key with an RSA-PSS salt of \
                 {salt} bytes instead of 32: verifiers fix the salt length."
            ),
            alice,
            &Signed::from_parts(body.clone(), sig),
            &[],
            Some("bad-signature"),
        ));
    }
    let mut trailing = alice.device.certificate.unverified_body().to_vec();
    trailing.push(0);
    v.push(verify_device(
        "certificate-trailing-byte",
        "A device certificate body with one extra byte, re-signed by Alice's master key.",
        alice,
        &Signed::sign(trailing, alice.master.key_pair()).unwrap(),
        &[],
        Some("decode/trailing-bytes"),
    ));

    // Revocations.
    let verify_revocation =
        |name: &str, description: &str, owner: &TestAccount, r: &Signed, code: Option<&str>| {
            let mut vector = json!({
                "name": name,
                "description": description,
                "operation": "verify_revocation",
                "master_spki": master(owner),
                "revocation": hx(r.encode()),
            });
            let result = owner.identity.verify_revocation(r);
            match code {
                None => {
                    let b = result.unwrap().body().clone();
                    vector["body_hex"] = json!(hx(r.unverified_body()));
                    vector["signature"] = json!(hx(r.signature()));
                    vector["expected"] = json!({
                        "account": b.account.to_string(),
                        "device": b.device.to_string(),
                        "serial": b.serial,
                        "revoked_at": b.revoked_at.millis(),
                    });
                    vector
                }
                Some(code) => negative(vector, result.map(|_| ()), code),
            }
        };
    v.push(verify_revocation(
        "revocation",
        "Alice's master key revokes her first device, serial 1.",
        alice,
        &revocation,
        None,
    ));
    v.push(verify_revocation(
        "revocation-other-account",
        "Alice's revocation checked against Bob's pinned master key.",
        bob,
        &revocation,
        Some("wrong-account"),
    ));
    let mut forged_rev =
        sotto_proto::identity::Revocation::decode(revocation.unverified_body()).unwrap();
    forged_rev.account = bob.master.account();
    forged_rev.device = bob.device.keys.device();
    v.push(verify_revocation(
        "revocation-forged",
        "A revocation of Bob's device signed by Alice's master key.",
        bob,
        &Signed::sign(forged_rev.encode(), alice.master.key_pair()).unwrap(),
        Some("bad-signature"),
    ));

    // Exchange-key certificates.
    let verify_xkey = |name: &str,
                       description: &str,
                       owner: &TestAccount,
                       cert: &Signed,
                       now: Timestamp,
                       highest: Option<u64>,
                       code: Option<&str>| {
        let mut vector = json!({
            "name": name,
            "description": description,
            "operation": "verify_exchange_key",
            "master_spki": master(owner),
            "device_certificate": hx(owner.device.certificate.encode()),
            "exchange_key_certificate": hx(cert.encode()),
            "now": now.millis(),
            "highest_serial_seen": highest,
        });
        let result = owner
            .device
            .verified
            .verify_exchange_key(cert, now, highest);
        match code {
            None => {
                let k = result.unwrap();
                let body =
                    sotto_proto::identity::ExchangeKeyCertificate::decode(cert.unverified_body())
                        .unwrap();
                vector["certificate"] = json!({
                    "body": {
                        "account": body.account.to_string(),
                        "device": body.device.to_string(),
                        "exchange_key": hx(&body.exchange_key),
                        "serial": body.serial,
                        "not_before": body.not_before.millis(),
                        "not_after": body.not_after.millis(),
                    },
                    "body_hex": hx(cert.unverified_body()),
                    "signature": hx(cert.signature()),
                });
                vector["expected"] = json!({
                    "account_id": k.account().to_string(),
                    "device_id": k.device().to_string(),
                    "exchange_key_id": k.key_id().to_string(),
                    "serial": k.serial(),
                    "not_before": k.not_before().millis(),
                    "not_after": k.not_after().millis(),
                });
                vector
            }
            Some(code) => negative(vector, result.map(|_| ()), code),
        }
    };
    for a in p.all() {
        v.push(verify_xkey(
            &format!("exchange-key-{}", a.name),
            &format!(
                "{}'s exchange key, certified by her device (serial 1, valid from T0 - 1 day to \
                 T0 + 29 days), checked at T0.",
                a.name
            ),
            a,
            &a.device.exchange_certificate,
            T0,
            None,
            None,
        ));
    }
    let xcert = &alice.device.exchange_certificate;
    let not_after = T0.plus(29 * Timestamp::DAY);
    v.push(verify_xkey(
        "exchange-key-last-millisecond",
        "Alice's exchange key checked one millisecond before not_after, with serial 1 seen before.",
        alice,
        xcert,
        not_after.minus(1),
        Some(1),
        None,
    ));
    v.push(verify_xkey(
        "exchange-key-expired",
        "Alice's exchange key checked at its not_after (the end is exclusive).",
        alice,
        xcert,
        not_after,
        None,
        Some("exchange-key-not-valid-now"),
    ));
    let future = alice
        .device
        .keys
        .certify_exchange_key(
            alice.master.account(),
            alice.device.exchange.encrypting_key(),
            2,
            T0.plus(MAX_CLOCK_SKEW_MS + Timestamp::HOUR),
            T0.plus(20 * Timestamp::DAY),
        )
        .unwrap();
    v.push(verify_xkey(
        "exchange-key-not-yet-valid",
        "An exchange-key certificate whose not_before is four hours after now (more than the \
         3-hour skew).",
        alice,
        &future,
        T0,
        None,
        Some("exchange-key-not-valid-now"),
    ));
    v.push(verify_xkey(
        "exchange-key-rolled-back",
        "Alice's serial-1 exchange key offered after serial 2 was seen: a rollback.",
        alice,
        xcert,
        T0,
        Some(2),
        Some("exchange-key-rollback"),
    ));
    // Bob's device presented with Alice's certificate.
    v.push(verify_xkey(
        "exchange-key-other-device",
        "Alice's exchange-key certificate checked against Bob's verified device.",
        bob,
        xcert,
        T0,
        None,
        Some("wrong-account"),
    ));
    file(
        "Identities (docs/protocol.md §4): pinning master keys, device certificates, revocations \
         and exchange-key certificates, each with the verification result (the verified values, or \
         the error code).",
        v,
    )
}

// ----------------------------------------------------------------------------------------------
// group.json
// ----------------------------------------------------------------------------------------------

fn group_file(p: &People) -> Value {
    let (alice, bob, carol, dave) = (&p.alice, &p.bob, &p.carol, &p.dave);
    let mut rng = rng_for("group");
    let conversation = ConversationId::from_bytes(random(&mut rng));
    let reveal0 = NameReveal {
        epoch: 0,
        salt: random(&mut rng),
        name: GroupName::new("Case 2026-114").unwrap(),
    };
    let genesis = GroupState::create(
        conversation,
        CreateKind::Group {
            name: reveal0.commitment(conversation),
        },
        vec![alice.member(true), bob.member(false), carol.member(false)],
        alice.master.account(),
        &alice.device.keys,
        T0,
    )
    .unwrap();
    let s0 = GroupState::genesis(&genesis, &alice.device.verified).unwrap();
    let propose = |s: &GroupState, op: GroupOp, by: &TestAccount, at: u64| {
        s.propose(
            op,
            by.master.account(),
            &by.device.keys,
            T0.plus(at * Timestamp::HOUR),
        )
        .unwrap()
    };
    let c1 = propose(&s0, GroupOp::AddMember(dave.member(false)), alice, 1);
    let s1 = s0.apply(&c1, &alice.device.verified).unwrap();
    let c2 = propose(
        &s1,
        GroupOp::SetAdmin {
            account: bob.master.account(),
            admin: true,
        },
        alice,
        2,
    );
    let s2 = s1.apply(&c2, &alice.device.verified).unwrap();
    let reveal3 = NameReveal {
        epoch: s2.next_epoch(),
        salt: random(&mut rng),
        name: GroupName::new("Case 2026-114 (appeal)").unwrap(),
    };
    let c3 = propose(
        &s2,
        GroupOp::Rename {
            name: reveal3.commitment(conversation),
        },
        bob,
        3,
    );
    let s3 = s2.apply(&c3, &bob.device.verified).unwrap();
    let c4 = propose(
        &s3,
        GroupOp::RemoveMember {
            account: carol.master.account(),
        },
        alice,
        4,
    );
    let s4 = s3.apply(&c4, &alice.device.verified).unwrap();

    let signer_of = |signed: &Signed| {
        // The signer device sits at a fixed offset (§6.1), also in a change that no longer
        // decodes (a retired op).
        let at = Domain::GroupChange.encoded().len() + 16 + 8 + 32 + 32;
        let raw: [u8; 32] = signed.unverified_body()[at..at + 32].try_into().unwrap();
        let device = sotto_proto::ids::DeviceId::from_bytes(raw);
        p.all()
            .into_iter()
            .find(|a| a.device.keys.device() == device)
            .unwrap()
    };
    let detailed = |signed: &Signed, state: &GroupState| {
        let change = GroupChange::decode(signed.unverified_body()).unwrap();
        assert_eq!(state.head(), change_hash(signed));
        json!({
            "change": hx(signed.encode()),
            "signer": signer_of(signed).name,
            "body_hex": hx(signed.unverified_body()),
            "signature": hx(signed.signature()),
            "fields": change_fields_json(&change),
            "hash": hx(change_hash(signed)),
            "expected_state": state_json(state),
        })
    };
    let bare =
        |signed: &Signed| json!({"change": hx(signed.encode()), "signer": signer_of(signed).name});
    // The devices of the accounts that sign `changes`, in a fixed order.
    let signers = |changes: &[&Signed]| {
        let used: Vec<&TestAccount> = p
            .all()
            .into_iter()
            .filter(|a| changes.iter().any(|c| signer_of(c).name == a.name))
            .collect();
        devices_json(&used)
    };
    let run = |changes: &[&Signed]| -> Result<(), Error> {
        let mut state: Option<GroupState> = None;
        for (i, c) in changes.iter().enumerate() {
            let signer = &signer_of(c).device.verified;
            let next = match &state {
                None => GroupState::genesis(c, signer),
                Some(s) => s.apply(c, signer),
            };
            match next {
                Ok(s) => state = Some(s),
                Err(e) if i + 1 == changes.len() => return Err(e),
                Err(e) => panic!("change {i} refused: {e:?}"),
            }
        }
        Ok(())
    };
    let neg = |name: &str,
               description: &str,
               prefix: &[(&Signed, &GroupState)],
               bad: &Signed,
               code: &str| {
        let mut changes: Vec<Value> = prefix.iter().map(|(c, s)| detailed(c, s)).collect();
        changes.push(bare(bad));
        let mut all: Vec<&Signed> = prefix.iter().map(|(c, _)| *c).collect();
        all.push(bad);
        let vector = json!({
            "name": name,
            "description": description,
            "devices": signers(&all),
            "changes": changes,
        });
        negative(vector, run(&all), code)
    };

    // §6.5: what the final state says of names members send, each with its commitment.
    let with_commitment = |r: &NameReveal| {
        let mut v = reveal_json(r);
        v["commitment"] = json!(hx(r.commitment(conversation).0));
        v
    };
    let check = |r: &NameReveal, state: &GroupState| {
        let mut v = with_commitment(r);
        match state.check_name(r) {
            Ok(NameCheck::Current) => v["expected"] = json!("current"),
            Ok(NameCheck::Superseded) => v["expected"] = json!("superseded"),
            Err(e) => v["expected_error"] = json!(Error::from(e).code()),
        }
        v
    };
    let other_salt = NameReveal {
        salt: random(&mut rng),
        ..reveal3.clone()
    };
    let other_name = NameReveal {
        name: GroupName::new("Case 2026-115").unwrap(),
        ..reveal3.clone()
    };
    let later_epoch = NameReveal {
        epoch: 4,
        ..reveal3.clone()
    };
    let name_checks = [
        (&reveal3, "the name set by the rename at epoch 3"),
        (&reveal0, "the genesis name, replaced since"),
        (&other_salt, "the epoch-3 name under another salt"),
        (&other_name, "another name under the epoch-3 salt"),
        (
            &later_epoch,
            "the epoch-3 name and salt claimed for epoch 4 (a removal)",
        ),
    ]
    .iter()
    .map(|(r, what)| {
        let mut v = check(r, &s4);
        v["description"] = json!(what);
        v
    })
    .collect::<Vec<_>>();
    assert_eq!(s4.check_name(&reveal3), Ok(NameCheck::Current));
    let mut v = vec![json!({
        "name": "log",
        "description": "Alice creates the group (Alice admin, Bob, Carol), adds Dave, promotes Bob; \
                        Bob, now an admin, renames it; Alice removes Carol. Each change with the \
                        state after it; `name_reveals` open the commitments of the genesis and the \
                        rename; `name_checks` are names a member could send, checked against the \
                        final state (§6.5 rule 3).",
        "devices": signers(&[&genesis, &c1, &c2, &c3, &c4]),
        "changes": [
            detailed(&genesis, &s0),
            detailed(&c1, &s1),
            detailed(&c2, &s2),
            detailed(&c3, &s3),
            detailed(&c4, &s4),
        ],
        "name_reveals": [with_commitment(&reveal0), with_commitment(&reveal3)],
        "name_checks": name_checks,
    })];
    run(&[&genesis, &c1, &c2, &c3, &c4]).unwrap();
    let leave = propose(
        &s0,
        GroupOp::RemoveMember {
            account: carol.master.account(),
        },
        carol,
        1,
    );
    let s_leave = s0.apply(&leave, &carol.device.verified).unwrap();
    v.push(json!({
        "name": "member-leaves",
        "description": "Carol, not an admin, removes herself: leaving needs no admin right.",
        "devices": signers(&[&genesis, &leave]),
        "changes": [detailed(&genesis, &s0), detailed(&leave, &s_leave)],
    }));
    run(&[&genesis, &leave]).unwrap();

    let mut forged_sig = c1.signature().to_vec();
    forged_sig[5] ^= 0x01;
    let forged = Signed::from_parts(c1.unverified_body().to_vec(), forged_sig);
    v.push(neg(
        "forged-signature",
        "Alice's add-Dave change with one bit of its signature flipped.",
        &[(&genesis, &s0)],
        &forged,
        "bad-signature",
    ));
    let by_bob = propose(&s0, GroupOp::AddMember(dave.member(false)), bob, 1);
    v.push(neg(
        "non-admin-signer",
        "Bob, a member but not an admin at epoch 0, adds Dave.",
        &[(&genesis, &s0)],
        &by_bob,
        "group/signer-not-admin",
    ));
    let by_dave = propose(&s0, GroupOp::AddMember(dave.member(true)), dave, 1);
    v.push(neg(
        "non-member-signer",
        "Dave, not a member, adds himself as an admin.",
        &[(&genesis, &s0)],
        &by_dave,
        "group/signer-not-member",
    ));
    v.push(neg(
        "replayed",
        "The add-Dave change delivered a second time.",
        &[(&genesis, &s0), (&c1, &s1)],
        &c1,
        "group/replayed",
    ));
    let fork = propose(
        &s0,
        GroupOp::Rename {
            name: NameCommitment([0x66; 32]),
        },
        alice,
        1,
    );
    v.push(neg(
        "forked",
        "After add-Dave (epoch 1), another epoch-1 change signed by Alice: a second history.",
        &[(&genesis, &s0), (&c1, &s1)],
        &fork,
        "group/fork",
    ));
    v.push(neg(
        "reordered",
        "The epoch-2 change (promote Bob) delivered right after the genesis, before epoch 1.",
        &[(&genesis, &s0)],
        &c2,
        "group/epoch-gap",
    ));
    let manual = |epoch: u64, previous: [u8; 32], conv: ConversationId, op: GroupOp| {
        let change = GroupChange {
            conversation: conv,
            epoch,
            previous,
            signer_account: alice.master.account(),
            signer_device: alice.device.keys.device(),
            issued_at: T0,
            op,
        };
        Signed::sign(change.encode(), alice.device.keys.signing()).unwrap()
    };
    let rename = || GroupOp::Rename {
        name: NameCommitment([0x77; 32]),
    };
    v.push(neg(
        "previous-hash-mismatch",
        "An epoch-1 change signed by Alice whose previous hash is not the genesis hash.",
        &[(&genesis, &s0)],
        &manual(1, [0xab; 32], conversation, rename()),
        "group/previous-hash-mismatch",
    ));
    v.push(neg(
        "wrong-conversation",
        "An epoch-1 change signed by Alice for another conversation.",
        &[(&genesis, &s0)],
        &manual(
            1,
            s0.head(),
            ConversationId::from_bytes(random(&mut rng)),
            rename(),
        ),
        "group/wrong-conversation",
    ));
    v.push(neg(
        "genesis-not-create",
        "A log whose first change is a rename at epoch 0.",
        &[],
        &manual(0, [0u8; 32], conversation, rename()),
        "group/not-genesis",
    ));
    v.push(neg(
        "last-admin",
        "Alice, the only admin, demotes herself.",
        &[(&genesis, &s0)],
        &propose(
            &s0,
            GroupOp::SetAdmin {
                account: alice.master.account(),
                admin: false,
            },
            alice,
            1,
        ),
        "group/last-admin",
    ));
    v.push(neg(
        "already-member",
        "Alice adds Bob, who is already a member.",
        &[(&genesis, &s0)],
        &propose(&s0, GroupOp::AddMember(bob.member(false)), alice, 1),
        "group/already-member",
    ));

    // The 1:1 (§6.4): kind Direct, exactly two members, never joined, never named.
    let direct_conversation = ConversationId::from_bytes(random(&mut rng));
    let direct = GroupState::create(
        direct_conversation,
        CreateKind::Direct,
        vec![alice.member(true), bob.member(false)],
        alice.master.account(),
        &alice.device.keys,
        T0,
    )
    .unwrap();
    let d0 = GroupState::genesis(&direct, &alice.device.verified).unwrap();
    let direct_reveal = NameReveal {
        epoch: 0,
        salt: random(&mut rng),
        name: GroupName::new("alice & bob").unwrap(),
    };
    v.push(json!({
        "name": "direct",
        "description": "Alice creates the 1:1 of Alice and Bob: kind Direct, no name commitment. \
                        A name a member sends for it is refused (`name_checks`).",
        "devices": signers(&[&direct]),
        "changes": [detailed(&direct, &d0)],
        "name_checks": [check(&direct_reveal, &d0)],
    }));
    run(&[&direct]).unwrap();
    v.push(neg(
        "direct-add-member",
        "Alice, admin of her 1:1 with Bob, adds Carol: a 1:1 never gains a member.",
        &[(&direct, &d0)],
        &propose(&d0, GroupOp::AddMember(carol.member(false)), alice, 1),
        "group/direct-conversation",
    ));
    v.push(neg(
        "direct-rename",
        "Alice names her 1:1 with Bob: a 1:1 has no name.",
        &[(&direct, &d0)],
        &propose(
            &d0,
            GroupOp::Rename {
                name: direct_reveal.commitment(direct_conversation),
            },
            alice,
            1,
        ),
        "group/direct-conversation",
    ));
    let direct_three = GroupState::create(
        direct_conversation,
        CreateKind::Direct,
        vec![alice.member(true), bob.member(false), carol.member(false)],
        alice.master.account(),
        &alice.device.keys,
        T0,
    )
    .unwrap();
    v.push(neg(
        "direct-three-members",
        "A Direct genesis listing three members.",
        &[],
        &direct_three,
        "group/direct-conversation",
    ));

    // §6.7 SetRetention (op 0x09): an admin sets it, either member of a 1:1 does, the same value
    // again does nothing, and only 0 or 60..=315360000 seconds decode.
    let retention = |secs: u64| GroupOp::SetRetention {
        retention: Retention::from_secs(secs).unwrap(),
    };
    let r1 = propose(&s0, retention(7 * 86_400), alice, 1);
    let sr1 = s0.apply(&r1, &alice.device.verified).unwrap();
    let r2 = propose(&sr1, retention(0), alice, 2);
    let sr2 = sr1.apply(&r2, &alice.device.verified).unwrap();
    v.push(json!({
        "name": "set-retention",
        "description": "Alice (admin) sets the retention to 7 days (604800 s), then to 0 (keep for \
                        good). `retention_secs` of a state is null until a SetRetention (the \
                        server's default applies).",
        "devices": signers(&[&genesis, &r1, &r2]),
        "changes": [detailed(&genesis, &s0), detailed(&r1, &sr1), detailed(&r2, &sr2)],
    }));
    run(&[&genesis, &r1, &r2]).unwrap();
    let dr1 = propose(&d0, retention(86_400), bob, 1);
    let dsr1 = d0.apply(&dr1, &bob.device.verified).unwrap();
    v.push(json!({
        "name": "set-retention-direct-member",
        "description": "Bob, a member but not an admin of his 1:1 with Alice, sets its retention to \
                        one day: either member of a Direct conversation may (§6.3 step 5).",
        "devices": signers(&[&direct, &dr1]),
        "changes": [detailed(&direct, &d0), detailed(&dr1, &dsr1)],
    }));
    run(&[&direct, &dr1]).unwrap();
    v.push(neg(
        "set-retention-non-admin",
        "Bob, a member but not an admin of the group, sets its retention.",
        &[(&genesis, &s0)],
        &propose(&s0, retention(3_600), bob, 1),
        "group/signer-not-admin",
    ));
    v.push(neg(
        "set-retention-no-op",
        "Alice sets the retention to 7 days when it already is 7 days.",
        &[(&genesis, &s0), (&r1, &sr1)],
        &propose(&sr1, retention(7 * 86_400), alice, 2),
        "group/no-op",
    ));
    for (secs, name) in [
        (59u64, "set-retention-below-one-minute"),
        (315_360_001, "set-retention-above-ten-years"),
    ] {
        let mut body = propose(&s0, retention(60), alice, 1)
            .unverified_body()
            .to_vec();
        let at = body.len() - 8;
        body[at..].copy_from_slice(&secs.to_be_bytes());
        let bad = Signed::sign(body, alice.device.keys.signing()).unwrap();
        v.push(neg(
            name,
            &format!(
                "Alice signs a SetRetention of {secs} s: outside 0 and 60..=315360000, it does not \
                 decode."
            ),
            &[(&genesis, &s0)],
            &bad,
            "decode/invalid-value",
        ));
    }

    // §6.1 retired tags: the encoding that carried names in clear is refused, however signed.
    let retired_create = Signed::sign(
        sotto_proto::testing::retired_create_body(
            ConversationId::from_bytes(random(&mut rng)),
            dave.master.account(),
            dave.device.keys.device(),
            T0,
            "Case 2026-114",
            &[
                (dave.master.account(), "bob", true),
                (carol.master.account(), "carol", false),
            ],
        ),
        dave.device.keys.signing(),
    )
    .unwrap();
    v.push(neg(
        "retired-create-with-names-in-clear",
        "A genesis signed by Dave in the retired encoding (op 0x01: the name and a username per \
         member in clear), listing Dave's own account under the username \"bob\": refused as an \
         unknown op whatever it says.",
        &[],
        &retired_create,
        "decode/unknown-tag",
    ));
    let mut retired_rename_body = GroupChange {
        conversation,
        epoch: 1,
        previous: s0.head(),
        signer_account: alice.master.account(),
        signer_device: alice.device.keys.device(),
        issued_at: T0,
        op: GroupOp::RemoveMember {
            account: carol.master.account(),
        },
    }
    .encode();
    // Replace the op (tag and account) by the retired Rename: 0x05 ‖ text(name).
    retired_rename_body.truncate(retired_rename_body.len() - 33);
    retired_rename_body.push(0x05);
    retired_rename_body.extend_from_slice(&7u16.to_be_bytes());
    retired_rename_body.extend_from_slice(b"Renamed");
    let retired_rename = Signed::sign(retired_rename_body, alice.device.keys.signing()).unwrap();
    v.push(neg(
        "retired-rename-with-name-in-clear",
        "An epoch-1 change signed by Alice in the retired encoding (op 0x05: the new name in \
         clear): refused as an unknown op.",
        &[(&genesis, &s0)],
        &retired_rename,
        "decode/unknown-tag",
    ));

    // Leaving and admin rights (§6.3): the last admin, the last member, promote and demote.
    let remove = |who: &TestAccount| GroupOp::RemoveMember {
        account: who.master.account(),
    };
    let set_admin = |who: &TestAccount, admin: bool| GroupOp::SetAdmin {
        account: who.master.account(),
        admin,
    };
    v.push(neg(
        "last-admin-leaves",
        "Alice, the only admin, leaves while Bob and Carol remain: she must first promote \
         another member.",
        &[(&genesis, &s0)],
        &propose(&s0, remove(alice), alice, 1),
        "group/last-admin",
    ));
    let promote = propose(&s0, set_admin(bob, true), alice, 1);
    let s_promoted = s0.apply(&promote, &alice.device.verified).unwrap();
    let admin_leaves = propose(&s_promoted, remove(alice), alice, 2);
    let s_admin_left = s_promoted
        .apply(&admin_leaves, &alice.device.verified)
        .unwrap();
    v.push(json!({
        "name": "admin-leaves-after-promoting",
        "description": "Alice promotes Bob, then leaves: another admin remains, so she may.",
        "devices": signers(&[&genesis, &promote, &admin_leaves]),
        "changes": [
            detailed(&genesis, &s0),
            detailed(&promote, &s_promoted),
            detailed(&admin_leaves, &s_admin_left),
        ],
    }));
    run(&[&genesis, &promote, &admin_leaves]).unwrap();
    let demote = propose(&s_promoted, set_admin(bob, false), alice, 2);
    let s_demoted = s_promoted.apply(&demote, &alice.device.verified).unwrap();
    v.push(json!({
        "name": "promote-and-demote",
        "description": "Alice promotes Bob to admin, then demotes him: both apply, and the \
                        states show his admin flag set and cleared.",
        "devices": signers(&[&genesis, &promote, &demote]),
        "changes": [
            detailed(&genesis, &s0),
            detailed(&promote, &s_promoted),
            detailed(&demote, &s_demoted),
        ],
    }));
    run(&[&genesis, &promote, &demote]).unwrap();
    v.push(neg(
        "non-admin-renames",
        "Bob, a member but not an admin, renames the group.",
        &[(&genesis, &s0)],
        &propose(
            &s0,
            GroupOp::Rename {
                name: NameCommitment([0x88; 32]),
            },
            bob,
            1,
        ),
        "group/signer-not-admin",
    ));
    v.push(neg(
        "non-admin-promotes",
        "Bob, a member but not an admin, promotes Carol.",
        &[(&genesis, &s0)],
        &propose(&s0, set_admin(carol, true), bob, 1),
        "group/signer-not-admin",
    ));
    v.push(neg(
        "non-admin-promotes-self",
        "Bob, a member but not an admin, promotes himself.",
        &[(&genesis, &s0)],
        &propose(&s0, set_admin(bob, true), bob, 1),
        "group/signer-not-admin",
    ));
    let carol_leaves = propose(&s0, remove(carol), carol, 1);
    let e1 = s0.apply(&carol_leaves, &carol.device.verified).unwrap();
    let bob_leaves = propose(&e1, remove(bob), bob, 2);
    let e2 = e1.apply(&bob_leaves, &bob.device.verified).unwrap();
    let alice_leaves = propose(&e2, remove(alice), alice, 3);
    let e3 = e2.apply(&alice_leaves, &alice.device.verified).unwrap();
    assert!(e3.members().is_empty());
    v.push(json!({
        "name": "last-member-leaves",
        "description": "Carol and Bob leave, then Alice, the last member and admin: the last \
                        member may leave, leaving a group with no member.",
        "devices": signers(&[&genesis, &carol_leaves, &bob_leaves, &alice_leaves]),
        "changes": [
            detailed(&genesis, &s0),
            detailed(&carol_leaves, &e1),
            detailed(&bob_leaves, &e2),
            detailed(&alice_leaves, &e3),
        ],
    }));
    run(&[&genesis, &carol_leaves, &bob_leaves, &alice_leaves]).unwrap();
    v.push(neg(
        "change-after-last-member-left",
        "After the last member left, Alice (its last admin) adds Bob back: an empty group \
         accepts no change, every signer is not a member.",
        &[
            (&genesis, &s0),
            (&carol_leaves, &e1),
            (&bob_leaves, &e2),
            (&alice_leaves, &e3),
        ],
        &propose(&e3, GroupOp::AddMember(bob.member(true)), alice, 4),
        "group/signer-not-member",
    ));
    file(
        "The group state log (docs/protocol.md §6). Each vector applies `changes` in order from an \
         empty state: the first is the genesis, each later one must extend the state left by the \
         previous; every change but the last of a negative vector must apply. Signers are looked \
         up by the device the change names, among `devices` (verified through their master keys).",
        v,
    )
}

// ----------------------------------------------------------------------------------------------
// safety.json and auth.json
// ----------------------------------------------------------------------------------------------

fn safety_file(p: &People) -> Value {
    let pairs = [
        (&p.alice, &p.bob),
        (&p.alice, &p.carol),
        (&p.bob, &p.dave),
        (&p.carol, &p.dave),
    ];
    let vectors = pairs
        .iter()
        .map(|(a, b)| {
            let (ka, kb) = (
                a.master.verifying_key().spki(),
                b.master.verifying_key().spki(),
            );
            let n = SafetyNumber::new(ka, kb);
            assert_eq!(n, SafetyNumber::new(kb, ka));
            json!({
                "name": format!("{}-{}", a.name, b.name),
                "description": format!(
                    "Safety number of {} and {} from their master keys; the same in either order.",
                    a.name, b.name
                ),
                "master_spki_a": hx(ka),
                "master_spki_b": hx(kb),
                "fingerprint_a": hx(fingerprint(ka)),
                "fingerprint_b": hx(fingerprint(kb)),
                "digits": n.digits(),
                "groups": n.groups(),
                "qr_payload": hx(n.qr_payload()),
            })
        })
        .collect();
    file(
        "Safety numbers (docs/protocol.md §5): the iterated fingerprint of each master key, the 60 \
         digits in 12 groups of 5, and the QR payload. Both orders of the two keys give the same \
         number and payload.",
        vectors,
    )
}

fn auth_file(p: &People) -> Value {
    let alice = &p.alice;
    let mut rng = rng_for("auth");
    let challenge = AuthChallenge {
        origin: "https://sotto.example:8443".into(),
        username: "alice".into(),
        device: alice.device.keys.device(),
        nonce: random(&mut rng),
        issued_at: T0,
    };
    let fields = |c: &AuthChallenge| {
        json!({
            "origin": c.origin,
            "username": c.username,
            "device": c.device.to_string(),
            "nonce": hx(c.nonce),
            "issued_at": c.issued_at.millis(),
        })
    };
    let signature = alice.device.keys.sign_auth_challenge(&challenge).unwrap();
    let base = |name: &str, description: &str, c: &AuthChallenge, sig: &[u8]| {
        json!({
            "name": name,
            "description": description,
            "master_spki": hx(alice.master.verifying_key().spki()),
            "device_certificate": hx(alice.device.certificate.encode()),
            "challenge": fields(c),
            "challenge_hex": hx(c.encode()),
            "signature": hx(sig),
        })
    };
    let check = |c: &AuthChallenge, sig: &[u8]| c.verify(alice.device.verified.auth_key(), sig);
    check(&challenge, &signature).unwrap();
    let mut v = vec![base(
        "login-challenge",
        "A server login challenge signed by Alice's device auth key; verified with the auth key \
         of her verified device certificate.",
        &challenge,
        &signature,
    )];
    let wrong_key = alice
        .device
        .keys
        .signing()
        .sign(&challenge.encode())
        .unwrap();
    v.push(negative(
        base(
            "signed-with-device-signing-key",
            "The same challenge signed with the device signing key instead of the auth key.",
            &challenge,
            &wrong_key,
        ),
        check(&challenge, &wrong_key),
        "bad-signature",
    ));
    let mut other = challenge.clone();
    other.origin = "https://evil.example".into();
    v.push(negative(
        base(
            "other-origin",
            "Alice's signature presented for a challenge naming another server origin.",
            &other,
            &signature,
        ),
        check(&other, &signature),
        "bad-signature",
    ));
    file(
        "Login challenges (docs/protocol.md §4.7): the challenge encoding and the device auth \
         key's signature over it.",
        v,
    )
}

// ----------------------------------------------------------------------------------------------
// display.json
// ----------------------------------------------------------------------------------------------

/// Display text (§4.8): `text(s)` read as a name of at most 64 bytes (a device name's bound).
fn display_file() -> Value {
    const MAX: usize = 64;
    let refuse = |name: &str, what: &str, text: &str| {
        (name.to_owned(), what.to_owned(), text.as_bytes().to_vec())
    };
    let mut cases: Vec<(String, String, Vec<u8>)> = vec![
        (
            "ascii".into(),
            "Plain ASCII with inner spaces and punctuation.".into(),
            b"alice's laptop".to_vec(),
        ),
        (
            "accents-and-cjk".into(),
            "Letters of any script.".into(),
            "\u{dc}n\u{ef}c\u{f8}d\u{e9} \u{540d}\u{524d}"
                .as_bytes()
                .to_vec(),
        ),
        (
            "persian-zwnj".into(),
            "U+200C ZERO WIDTH NON-JOINER, which Persian spelling needs, is allowed.".into(),
            "\u{644}\u{67e}\u{200c}\u{62a}\u{627}\u{67e}"
                .as_bytes()
                .to_vec(),
        ),
        (
            "emoji-zwj".into(),
            "U+200D ZERO WIDTH JOINER inside an emoji sequence is allowed.".into(),
            "\u{1f469}\u{200d}\u{1f4bb} laptop".as_bytes().to_vec(),
        ),
        (
            "exactly-64-bytes".into(),
            "64 bytes, the bound.".into(),
            "\u{e9}".repeat(32).into_bytes(),
        ),
    ];
    for (name, what, text) in [
        ("empty", "Empty.", ""),
        ("leading-space", "Leading white space.", " alice"),
        (
            "trailing-nbsp",
            "Trailing U+00A0 (White_Space).",
            "alice\u{a0}",
        ),
        (
            "ideographic-space",
            "Leading U+3000 (White_Space).",
            "\u{3000}alice",
        ),
        ("newline", "U+000A, a control character (Cc).", "ali\nce"),
        ("nul", "U+0000 (Cc).", "ali\u{0}ce"),
        ("c1-control", "U+0085 (Cc).", "ali\u{85}ce"),
        ("delete", "U+007F (Cc).", "ali\u{7f}ce"),
        (
            "right-to-left-override",
            "U+202E RIGHT-TO-LEFT OVERRIDE: 'laptop' RLO 'gpj.exe' shows as 'laptopexe.jpg'.",
            "laptop\u{202e}gpj.exe",
        ),
        ("left-to-right-embedding", "U+202A (Cf).", "ali\u{202a}ce"),
        (
            "first-strong-isolate",
            "U+2068 FIRST STRONG ISOLATE (Cf).",
            "ali\u{2068}ce",
        ),
        ("pop-directional-isolate", "U+2069 (Cf).", "alice\u{2069}"),
        (
            "left-to-right-mark",
            "U+200E LEFT-TO-RIGHT MARK (Cf).",
            "ali\u{200e}ce",
        ),
        (
            "arabic-letter-mark",
            "U+061C ARABIC LETTER MARK (Cf).",
            "ali\u{61c}ce",
        ),
        (
            "zero-width-space",
            "U+200B ZERO WIDTH SPACE (Cf): two names that look the same.",
            "ali\u{200b}ce",
        ),
        ("word-joiner", "U+2060 WORD JOINER (Cf).", "ali\u{2060}ce"),
        ("invisible-times", "U+2062 (Cf).", "ali\u{2062}ce"),
        (
            "deprecated-format",
            "U+206F NOMINAL DIGIT SHAPES (Cf).",
            "ali\u{206f}ce",
        ),
        (
            "byte-order-mark",
            "U+FEFF at the start (Cf; not White_Space, so a trim would keep it).",
            "\u{feff}alice",
        ),
        ("soft-hyphen", "U+00AD SOFT HYPHEN (Cf).", "ali\u{ad}ce"),
        ("arabic-number-sign", "U+0600 (Cf).", "\u{600}123"),
        ("mongolian-vowel-separator", "U+180E (Cf).", "ali\u{180e}ce"),
        ("arabic-end-of-ayah", "U+06DD (Cf).", "\u{6dd}123"),
        (
            "syriac-abbreviation-mark",
            "U+070F (Cf).",
            "\u{710}\u{70f}\u{712}",
        ),
        ("arabic-pound-mark-above", "U+0890 (Cf).", "\u{890}123"),
        ("arabic-disputed-end-of-ayah", "U+08E2 (Cf).", "\u{8e2}123"),
        ("kaithi-number-sign", "U+110BD (Cf).", "\u{110bd}123"),
        ("kaithi-number-sign-above", "U+110CD (Cf).", "\u{110cd}123"),
        (
            "line-separator",
            "U+2028 LINE SEPARATOR (Zl) inside.",
            "ali\u{2028}ce",
        ),
        (
            "paragraph-separator",
            "U+2029 PARAGRAPH SEPARATOR (Zp) inside.",
            "ali\u{2029}ce",
        ),
        ("interlinear-annotation", "U+FFF9 (Cf).", "ali\u{fff9}ce"),
        ("egyptian-format", "U+13430 (Cf).", "ali\u{13430}ce"),
        ("shorthand-format", "U+1BCA0 (Cf).", "ali\u{1bca0}ce"),
        ("musical-format", "U+1D173 (Cf).", "ali\u{1d173}ce"),
        ("language-tag", "U+E0001 (Cf).", "alice\u{e0001}"),
        (
            "tag-character",
            "U+E0041 TAG LATIN CAPITAL LETTER A (Cf): invisible text.",
            "alice\u{e0041}",
        ),
    ] {
        cases.push(refuse(name, what, text));
    }
    let mut vectors: Vec<Value> = cases
        .into_iter()
        .map(|(name, what, bytes)| {
            let mut encoded = Vec::new();
            encoded.extend_from_slice(&u16::try_from(bytes.len()).expect("short").to_be_bytes());
            encoded.extend_from_slice(&bytes);
            let text = String::from_utf8(bytes).expect("utf-8");
            let mut v = json!({
                "name": name,
                "description": what,
                "max": MAX,
                "encoded": hx(&encoded),
            });
            match sotto_proto::codec::Reader::new(&encoded).display_text("name", MAX) {
                Ok(t) => {
                    assert_eq!(t, text);
                    v["text"] = json!(text);
                }
                Err(e) => v["expected_error"] = json!(Error::from(e).code()),
            }
            v
        })
        .collect();
    for (name, what, encoded) in [
        ("65-bytes", "65 bytes, one over the bound.", {
            let mut e = vec![0, 65];
            e.extend_from_slice("a".repeat(65).as_bytes());
            e
        }),
        ("invalid-utf8", "Not UTF-8.", vec![0, 2, 0xc3, 0x28]),
    ] {
        let code = Error::from(
            sotto_proto::codec::Reader::new(&encoded)
                .display_text("name", MAX)
                .expect_err("refused"),
        )
        .code();
        vectors.push(json!({
            "name": name,
            "description": what,
            "max": MAX,
            "encoded": hx(&encoded),
            "expected_error": code,
        }));
    }
    json!({
        "description": "Display text (names: device names, usernames in group state, group names, file names), protocol §4.8: `text(s)` of at most `max` bytes read as a name.",
        "protocol_version": 1,
        "vectors": vectors,
    })
}

// ----------------------------------------------------------------------------------------------
// recovery.json, backup.json, handover.json
// ----------------------------------------------------------------------------------------------

/// A device of an account (not necessarily its first) as a vector's `devices` entry.
fn other_device_json(name: &str, a: &TestAccount, d: &TestDevice) -> Value {
    json!({
        "name": name,
        "master_spki": hx(a.master.verifying_key().spki()),
        "account_id": a.master.account().to_string(),
        "device_id": d.keys.device().to_string(),
        "device_certificate": hx(d.certificate.encode()),
    })
}

/// A second device of Alice's (fixed keys 16, 17, 18): the laptop she approves.
fn alice_laptop(p: &People) -> TestDevice {
    TestAccount::device_for(&p.alice.master, &p.alice.identity, 16, "laptop")
}

fn record_json(r: &Record) -> Value {
    match r {
        Record::MasterKey(k) => json!({"type": "master_key", "pkcs8": hx(k.danger_pkcs8())}),
        Record::Chain(c) => json!({
            "type": "chain",
            "conversation": c.conversation.to_string(),
            "epoch": c.epoch,
            "chain": c.chain.to_string(),
            "owner_account": c.owner_account.to_string(),
            "owner_device": c.owner_device.to_string(),
            "start_index": c.start_index,
            "chain_key": hx(c.key.danger_bytes()),
            "created_at": c.created_at.millis(),
        }),
        Record::Pin(pin) => json!({
            "type": "pin",
            "account": pin.account.to_string(),
            "username": pin.username,
            "verified": pin.verified,
        }),
        Record::GroupName(g) => json!({
            "type": "group_name",
            "conversation": g.conversation.to_string(),
            "epoch": g.reveal.epoch,
            "salt": hx(g.reveal.salt),
            "name": g.reveal.name.as_str(),
        }),
    }
}

fn records_json(records: &[Record]) -> Value {
    Value::Array(records.iter().map(record_json).collect())
}

/// The sample records of backup.json and handover.json, made from the file's generator.
struct SampleRecords {
    conversation: ConversationId,
    chain: ChainId,
    chain_key: [u8; 32],
    salt: [u8; 32],
}

impl SampleRecords {
    fn new(rng: &mut DangerSeededRng) -> Self {
        Self {
            conversation: ConversationId::from_bytes(random(rng)),
            chain: ChainId::from_bytes(random(rng)),
            chain_key: random(rng),
            salt: random(rng),
        }
    }

    fn chain(&self, p: &People) -> Record {
        Record::Chain(ChainRecord {
            conversation: self.conversation,
            epoch: 2,
            chain: self.chain,
            owner_account: p.bob.master.account(),
            owner_device: p.bob.device.keys.device(),
            start_index: 3,
            key: ChainKey::from_bytes(self.chain_key),
            created_at: T0.minus(Timestamp::HOUR),
        })
    }

    fn pin(&self, p: &People) -> Record {
        Record::Pin(PinRecord {
            account: p.bob.master.account(),
            username: p.bob.name.clone(),
            verified: true,
        })
    }

    fn group_name(&self) -> Record {
        Record::GroupName(GroupNameRecord {
            conversation: self.conversation,
            reveal: NameReveal {
                epoch: 1,
                salt: self.salt,
                name: GroupName::new("Case 2026-114").unwrap(),
            },
        })
    }
}

fn master_record(a: &TestAccount) -> Record {
    Record::MasterKey(MasterKeyRecord::new(a.master.key_pair().to_pkcs8().unwrap()).unwrap())
}

fn derivation_json(keys: &RecoveryKeys) -> Value {
    json!({
        "root": hx(keys.danger_root()),
        "backup_key": hx(keys.backup_key().danger_bytes()),
        "access_key": hx(keys.access_key().danger_bytes()),
        "verifier": hx(keys.verifier()),
    })
}

fn recovery_file(p: &People) -> Value {
    let mut rng = rng_for("recovery");
    let mut v = Vec::new();
    // §14.1: keys and their text. The last one spells many 1s (5-bit groups 00001).
    let ones: [u8; 28] = std::array::from_fn(|i| [0x08, 0x42, 0x10, 0x84, 0x21][i % 5]);
    let random_secret: [u8; 28] = random(&mut rng);
    for (name, description, secret) in [
        (
            "key-random",
            "A recovery key from random bytes.",
            random_secret,
        ),
        (
            "key-zero",
            "The all-zero secret: its text starts with 45 zeros.",
            [0u8; 28],
        ),
        (
            "key-ones",
            "A secret whose text is mostly the digit 1.",
            ones,
        ),
    ] {
        let key = RecoveryKey::from_secret(&secret);
        v.push(json!({
            "name": name,
            "description": description,
            "operation": "key",
            "secret": hx(secret),
            "checksum": hx(&key.danger_bytes()[28..]),
            "key": hx(key.danger_bytes()),
            "text": key.to_text().as_str(),
        }));
    }
    let parse = |name: &str, description: &str, input: String, key: &RecoveryKey| {
        let parsed = RecoveryKey::parse(&input).unwrap();
        assert_eq!(parsed.danger_bytes(), key.danger_bytes());
        json!({
            "name": name,
            "description": description,
            "operation": "parse",
            "input": input,
            "key": hx(key.danger_bytes()),
        })
    };
    let key = RecoveryKey::from_secret(&random_secret);
    let text = key.to_text().to_string();
    let plain = text.replace('-', "");
    v.push(parse(
        "parse-lower-case",
        "The text in lower case.",
        text.to_lowercase(),
        &key,
    ));
    v.push(parse(
        "parse-no-separators",
        "The 48 characters without the dashes.",
        plain.clone(),
        &key,
    ));
    let spaced: Vec<String> = plain
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8(c.to_vec()).unwrap())
        .collect();
    v.push(parse(
        "parse-spaces-and-tabs",
        "Groups separated by spaces and a tab, with spaces around.",
        format!(" {} \t{} ", spaced[..6].join(" "), spaced[6..].join("  ")),
        &key,
    ));
    let zero = RecoveryKey::from_secret(&[0u8; 28]);
    v.push(parse(
        "parse-letter-o-reads-as-zero",
        "The all-zero key typed with the letter O (upper and lower case) for 0.",
        zero.to_text().replacen('0', "O", 20).replace('0', "o"),
        &zero,
    ));
    let one = RecoveryKey::from_secret(&ones);
    v.push(parse(
        "parse-letters-i-and-l-read-as-one",
        "A key typed with I, i, L and l for the digit 1.",
        one.to_text()
            .replacen('1', "I", 8)
            .replacen('1', "i", 8)
            .replacen('1', "L", 8)
            .replace('1', "l"),
        &one,
    ));
    let bad_parse = |name: &str, description: &str, input: String, code: &str| {
        let vector = json!({
            "name": name,
            "description": description,
            "operation": "parse",
            "input": input,
        });
        negative(vector, RecoveryKey::parse(&input).map(|_| ()), code)
    };
    // A typo in the first character: the checksum catches it.
    let first = plain.as_bytes()[0];
    let typo_char = if first == b'2' { '3' } else { '2' };
    v.push(bad_parse(
        "parse-typo",
        "The key with its first character changed: the checksum no longer matches.",
        format!("{typo_char}{}", &text[1..]),
        "recovery/bad-checksum",
    ));
    v.push(bad_parse(
        "parse-letter-u",
        "U is not in Crockford's alphabet.",
        format!("U{}", &text[1..]),
        "recovery/malformed",
    ));
    v.push(bad_parse(
        "parse-47-characters",
        "One character short.",
        plain[..47].to_owned(),
        "recovery/malformed",
    ));
    v.push(bad_parse(
        "parse-49-characters",
        "One character too many.",
        format!("{plain}0"),
        "recovery/malformed",
    ));
    v.push(bad_parse(
        "parse-non-ascii",
        "A non-ASCII character (é) in place of the first.",
        format!("é{}", &text[1..]),
        "recovery/malformed",
    ));
    v.push(bad_parse(
        "parse-other-separator",
        "Groups joined by underscores, which are not ignored.",
        text.replace('-', "_"),
        "recovery/malformed",
    ));
    // §14.2: derivations.
    for (name, description, account, secret) in [
        (
            "derive-alice",
            "Alice's keys from the `key-random` secret.",
            &p.alice,
            random_secret,
        ),
        (
            "derive-bob-same-secret",
            "The same secret and recovery id for Bob's account: unrelated keys.",
            &p.bob,
            random_secret,
        ),
    ] {
        let recovery_id = RecoveryId::from_bytes([0x21; 16]);
        let keys = RecoveryKeys::derive(
            &RecoverySecret::from_key(&RecoveryKey::from_secret(&secret)),
            account.master.account(),
            recovery_id,
        )
        .unwrap();
        let mut vector = json!({
            "name": name,
            "description": description,
            "operation": "derive",
            "secret": hx(secret),
            "account": account.master.account().to_string(),
            "recovery_id": hx(recovery_id.as_bytes()),
        });
        vector["expected"] = derivation_json(&keys);
        v.push(vector);
    }
    // One passphrase, with the real Argon2id parameters (about a second and 256 MiB).
    let salt: [u8; 16] = random(&mut rng);
    let recovery_id = RecoveryId::from_bytes(random(&mut rng));
    let passphrase = "correct horse battery staple";
    let secret = RecoverySecret::from_passphrase(passphrase, &salt).unwrap();
    let keys = RecoveryKeys::derive(&secret, p.alice.master.account(), recovery_id).unwrap();
    let mut vector = json!({
        "name": "passphrase",
        "description": "Alice's keys from a passphrase: Argon2id(m = 262144 KiB, t = 3, p = 1, \
                        32 bytes) of its UTF-8 under the salt is the recovery secret.",
        "operation": "passphrase",
        "passphrase": passphrase,
        "salt": hx(salt),
        "account": p.alice.master.account().to_string(),
        "recovery_id": hx(recovery_id.as_bytes()),
        "secret": hx(secret.danger_bytes()),
    });
    vector["expected"] = derivation_json(&keys);
    v.push(vector);
    let short = "elevenchars";
    v.push(negative(
        json!({
            "name": "passphrase-too-short",
            "description": "A passphrase of 11 characters is refused before any hashing.",
            "operation": "passphrase",
            "passphrase": short,
            "salt": hx(salt),
        }),
        RecoverySecret::from_passphrase(short, &salt).map(|_| ()),
        "invalid-input",
    ));
    file(
        "Recovery keys and the keys derived from them (docs/protocol.md §14). `key`: a secret, its \
         checksum, the 30-byte key and its text. `parse`: typed text and the key it reads as, or \
         the refusal. `derive` and `passphrase`: the recovery secret (given, or Argon2id of the \
         passphrase), account and recovery id, and the root, backup and access keys and verifier.",
        v,
    )
}

fn bundle_vector(name: &str, description: &str, records: Vec<Record>) -> Value {
    let bundle = KeyBundle::new(records);
    let encoded = bundle.encode().unwrap();
    json!({
        "name": name,
        "description": description,
        "operation": "bundle",
        "records": records_json(&bundle.records),
        "bundle": hx(encoded.as_slice()),
    })
}

fn bad_bundle(name: &str, description: &str, bytes: &[u8], code: &str) -> Value {
    negative(
        json!({
            "name": name,
            "description": description,
            "operation": "bundle",
            "bundle": hx(bytes),
        }),
        KeyBundle::decode(bytes).map(|_| ()).map_err(Error::from),
        code,
    )
}

#[allow(clippy::too_many_arguments)]
fn seal_item(
    keys: &RecoveryKeys,
    account: &TestAccount,
    recovery_id: RecoveryId,
    item_id: [u8; 16],
    writer: &TestDevice,
    written_at: Timestamp,
    records: Vec<Record>,
) -> (BackupItem, KeyBundle) {
    let bundle = KeyBundle::new(records);
    let item = BackupItem::seal(
        keys.backup_key(),
        account.master.account(),
        recovery_id,
        BackupItemId::from_bytes(item_id),
        &writer.keys,
        &writer.certificate,
        written_at,
        &bundle,
    )
    .unwrap();
    (item, bundle)
}

fn backup_file(p: &People) -> Value {
    let mut rng = rng_for("backup");
    let sample = SampleRecords::new(&mut rng);
    // §15.1: bundles.
    let mut v = vec![
        bundle_vector(
            "bundle-master-key",
            "A MasterKey record: Alice's master key as PKCS#8.",
            vec![master_record(&p.alice)],
        ),
        bundle_vector(
            "bundle-chain",
            "A Chain record: Bob's chain at epoch 2 from index 3.",
            vec![sample.chain(p)],
        ),
        bundle_vector(
            "bundle-pin",
            "A Pin record: Bob's account, pinned as \"bob\" and verified.",
            vec![sample.pin(p)],
        ),
        bundle_vector(
            "bundle-group-name",
            "A GroupName record, as the GroupName body carries it.",
            vec![sample.group_name()],
        ),
        bundle_vector(
            "bundle-every-record",
            "One record of each kind, in tag order.",
            vec![
                master_record(&p.alice),
                sample.chain(p),
                sample.pin(p),
                sample.group_name(),
            ],
        ),
        bundle_vector("bundle-empty", "No records.", Vec::new()),
    ];
    let chain_bundle = KeyBundle::new(vec![sample.chain(p)])
        .encode()
        .unwrap()
        .to_vec();
    let prefix = |count: u16| {
        let mut w = Writer::for_domain(Domain::KeyBundle);
        w.u16(count);
        w.finish()
    };
    // label (18) ‖ count (2) ‖ tag (1) ‖ conversation ‖ epoch ‖ chain ‖ owner account ‖ device
    let start_at = 18 + 2 + 1 + 16 + 8 + 16 + 32 + 32;
    let mut start_100 = chain_bundle.clone();
    start_100[start_at..start_at + 4].copy_from_slice(&100u32.to_be_bytes());
    v.push(bad_bundle(
        "bundle-start-index-100",
        "A Chain record whose start index is 100 (indexes stop at 99).",
        &start_100,
        "decode/invalid-value",
    ));
    let mut unknown = prefix(1);
    unknown.push(0x05);
    v.push(bad_bundle(
        "bundle-unknown-record",
        "A record with tag 0x05 (free for later kinds).",
        &unknown,
        "decode/unknown-tag",
    ));
    let mut long_name = prefix(1);
    long_name.push(0x03);
    long_name.extend_from_slice(p.bob.master.account().as_bytes());
    long_name.extend_from_slice(&65u16.to_be_bytes());
    long_name.extend_from_slice(&[b'b'; 65]);
    long_name.push(1);
    v.push(bad_bundle(
        "bundle-username-65-bytes",
        "A Pin record whose username is 65 bytes.",
        &long_name,
        "decode/too-long",
    ));
    let mut big_key = prefix(1);
    big_key.push(0x01);
    big_key.extend_from_slice(&4097u32.to_be_bytes());
    v.push(bad_bundle(
        "bundle-master-key-4097-bytes",
        "A MasterKey record announcing 4097 bytes: refused before reading them.",
        &big_key,
        "decode/too-long",
    ));
    let mut bad_bool = KeyBundle::new(vec![sample.pin(p)])
        .encode()
        .unwrap()
        .to_vec();
    *bad_bool.last_mut().unwrap() = 2;
    v.push(bad_bundle(
        "bundle-verified-not-a-bool",
        "A Pin record whose `verified` byte is 0x02.",
        &bad_bool,
        "decode/invalid-value",
    ));
    v.push(bad_bundle(
        "bundle-too-many-records",
        "A count of 20001 records.",
        &prefix(20_001),
        "decode/too-many",
    ));
    let mut trailing = chain_bundle.clone();
    trailing.push(0);
    v.push(bad_bundle(
        "bundle-trailing-byte",
        "A bundle followed by one more byte.",
        &trailing,
        "decode/trailing-bytes",
    ));
    v.push(bad_bundle(
        "bundle-wrong-domain",
        "A message body offered as a bundle.",
        &MessageBody::Text("hi".into()).encode().unwrap(),
        "decode/wrong-domain",
    ));

    // §15.2: items sealed under Alice's backup key by her device.
    let secret: [u8; 28] = random(&mut rng);
    let recovery_id = RecoveryId::from_bytes(random(&mut rng));
    let keys = RecoveryKeys::derive(
        &RecoverySecret::from_key(&RecoveryKey::from_secret(&secret)),
        p.alice.master.account(),
        recovery_id,
    )
    .unwrap();
    let alice = &p.alice;
    let item_ids: [[u8; 16]; 6] = std::array::from_fn(|_| random(&mut rng));
    let (first, first_bundle) = seal_item(
        &keys,
        alice,
        recovery_id,
        item_ids[0],
        &alice.device,
        T0,
        vec![master_record(alice), sample.pin(p)],
    );
    let (second, second_bundle) = seal_item(
        &keys,
        alice,
        recovery_id,
        item_ids[1],
        &alice.device,
        T0.plus(Timestamp::SECOND),
        vec![sample.chain(p), sample.group_name()],
    );
    for (name, description, item, bundle) in [
        (
            "item-first",
            "The first item of a set-up: the MasterKey record and a Pin.",
            &first,
            &first_bundle,
        ),
        (
            "item-chains",
            "A later item: a Chain and a GroupName record.",
            &second,
            &second_bundle,
        ),
    ] {
        let mut info = Writer::for_domain(Domain::BackupItemKey);
        info.fixed(recovery_id.as_bytes());
        info.fixed(item.header().item_id.as_bytes());
        let mut okm = [0u8; 44];
        hkdf_sha256(
            &[],
            keys.backup_key().danger_bytes(),
            &info.finish(),
            &mut okm,
        )
        .unwrap();
        let h = item.header();
        v.push(json!({
            "name": name,
            "description": description,
            "operation": "item",
            "devices": devices_json(&[alice]),
            "recovery_secret": hx(secret),
            "account": h.account.to_string(),
            "recovery_id": hx(h.recovery_id.as_bytes()),
            "backup_key": hx(keys.backup_key().danger_bytes()),
            "item_id": hx(h.item_id.as_bytes()),
            "writer": alice.name,
            "written_at": h.written_at.millis(),
            "records": records_json(&bundle.records),
            "bundle": hx(bundle.encode().unwrap().as_slice()),
            "header": hx(item.sealed().header()),
            "aes_key": hx(&okm[..32]),
            "nonce": hx(&okm[32..]),
            "ciphertext": hx(item.sealed().ciphertext()),
            "item": hx(item.encode()),
        }));
    }
    let expected_records = |bundles: &[&KeyBundle]| {
        Value::Array(
            bundles
                .iter()
                .flat_map(|b| b.records.iter())
                .filter(|r| !matches!(r, Record::MasterKey(_)))
                .map(record_json)
                .collect(),
        )
    };
    let open = |items: &[Vec<u8>], revocations: &[Signed]| {
        let wires: Vec<&[u8]> = items.iter().map(Vec::as_slice).collect();
        open_backup(
            &wires,
            alice.master.account(),
            recovery_id,
            keys.backup_key(),
            revocations,
        )
    };
    let open_vector = |name: &str, description: &str, items: &[Vec<u8>], revocations: &[Signed]| {
        json!({
            "name": name,
            "description": description,
            "operation": "open",
            "account": alice.master.account().to_string(),
            "recovery_id": hx(recovery_id.as_bytes()),
            "backup_key": hx(keys.backup_key().danger_bytes()),
            "items": items.iter().map(hx).collect::<Vec<_>>(),
            "revocations": revocations.iter().map(|r| hx(r.encode())).collect::<Vec<_>>(),
        })
    };
    let both = vec![first.encode(), second.encode()];
    let opened = open(&both, &[]).unwrap();
    assert!(opened.refused.is_empty());
    let mut vector = open_vector(
        "open-backup",
        "Both items open: Alice's master key, then the Pin, Chain and GroupName records in item \
         order (MasterKey records are not listed in `expected_records`).",
        &both,
        &[],
    );
    vector["expected_master_account"] = json!(alice.master.account().to_string());
    vector["expected_records"] = expected_records(&[&first_bundle, &second_bundle]);
    vector["expected_refusals"] = json!([]);
    assert_eq!(vector["expected_records"], records_json(&opened.records));
    v.push(vector);

    // Refused items, each skipped with its own code.
    let mut flipped = second.encode();
    let at = flipped.len() - 400;
    flipped[at] ^= 0x01;
    let (other_set_up, _) = seal_item(
        &keys,
        alice,
        RecoveryId::from_bytes(random(&mut rng)),
        item_ids[2],
        &alice.device,
        T0,
        vec![sample.pin(p)],
    );
    let resigned = SignedSealed::sign(
        second.sealed().header().to_vec(),
        second.sealed().ciphertext().to_vec(),
        p.bob.device.keys.signing(),
    )
    .unwrap()
    .encode();
    let (late, _) = seal_item(
        &keys,
        alice,
        recovery_id,
        item_ids[3],
        &alice.device,
        T0.plus(2 * Timestamp::HOUR),
        vec![sample.pin(p)],
    );
    let revocation = alice
        .master
        .revoke(alice.device.keys.device(), 1, T0.plus(Timestamp::HOUR))
        .unwrap();
    let items = vec![
        first.encode(),
        flipped,
        other_set_up.encode(),
        resigned,
        late.encode(),
    ];
    let opened = open(&items, std::slice::from_ref(&revocation)).unwrap();
    let refusals: Vec<Value> = opened
        .refused
        .iter()
        .map(|r| json!({"position": r.position, "code": r.error.code()}))
        .collect();
    assert_eq!(
        opened
            .refused
            .iter()
            .map(|r| r.error.code())
            .collect::<Vec<_>>(),
        [
            "decryption-failed",
            "wrong-account",
            "bad-signature",
            "device-revoked"
        ]
    );
    let mut vector = open_vector(
        "open-refuses-items-one-by-one",
        "The first item, then: the second item with one ciphertext bit flipped; an item of \
         another set-up; the second item re-signed by Bob's device; an item Alice's device wrote \
         an hour after the revocation in `revocations` (revoked at T0 + 1 h, written at T0 + \
         2 h). Each is skipped with its code; the master key and the first item's Pin remain.",
        &items,
        std::slice::from_ref(&revocation),
    );
    vector["expected_master_account"] = json!(alice.master.account().to_string());
    vector["expected_records"] = expected_records(&[&first_bundle]);
    vector["expected_refusals"] = Value::Array(refusals);
    v.push(vector);
    let only_second = vec![second.encode()];
    v.push(negative(
        open_vector(
            "open-without-master-key",
            "Only the second item: no MasterKey record, so nothing can be recovered.",
            &only_second,
            &[],
        ),
        open(&only_second, &[]).map(|_| ()),
        "recovery/no-master-key",
    ));
    file(
        "Key bundles and backup items (docs/protocol.md §15). `bundle`: records and their \
         encoding, or bytes a decoder refuses. `item`: a sealed item with every intermediate value \
         (the AES-GCM ciphertext is deterministic; the signature is the writer's RSA-PSS). `open`: \
         opening a set of items (§15.2 steps 1–5): the master key's account, the records taken, \
         and each skipped item's position and code.",
        v,
    )
}

fn handover_file(p: &People) -> Value {
    let mut rng = rng_for("handover");
    let sample = SampleRecords::new(&mut rng);
    let alice = &p.alice;
    let laptop = alice_laptop(p);
    let records = || vec![sample.chain(p), sample.pin(p), sample.group_name()];
    let devices = json!([
        device_json(alice),
        other_device_json("alice-laptop", alice, &laptop),
        device_json(&p.bob),
    ]);
    let me = json!({
        "name": "alice-laptop",
        "account_id": alice.master.account().to_string(),
        "device_id": laptop.keys.device().to_string(),
        "exchange_key_id": laptop.verified_exchange.key_id().to_string(),
        "exchange_pkcs8": hx(laptop.exchange.to_pkcs8().as_slice()),
    });
    let laptop_local = LocalDevice {
        prekeys: sotto_proto::PrekeyRing::empty(),
        account: alice.master.account(),
        device: laptop.keys.device(),
        exchange_keys: std::slice::from_ref(&laptop.exchange),
    };
    let seed = |n: u8| {
        let mut seed = [0u8; 32];
        seed[0] = n;
        sha256(&[b"sotto/test-vectors/handover/".as_slice(), &seed].concat())
    };
    let seal = |n: u8, to: &TestDevice, at: Timestamp, bundle: &KeyBundle, any: bool| {
        let mut rng = DangerSeededRng::new(seed(n));
        let mut env = Env::new(at, &mut rng);
        let id = HandoverId::from_bytes([n; 16]);
        let sealed = if any {
            Handover::danger_seal_any_records(
                &alice.device.keys,
                &to.verified,
                &to.verified_exchange,
                id,
                bundle,
                &mut env,
            )
        } else {
            Handover::seal(
                &alice.device.keys,
                &to.verified,
                &to.verified_exchange,
                id,
                bundle,
                &mut env,
            )
        };
        sealed.unwrap()
    };
    let bundle = KeyBundle::new(records());
    let handover = seal(1, &laptop, T0, &bundle, false);
    let wrapping: [u8; 32] = random(&mut DangerSeededRng::new(seed(1)));
    let h = handover.header();
    let mut v = Vec::new();
    let opened = open_handover(&handover, &alice.device.verified, &laptop_local, T0).unwrap();
    assert_eq!(records_json(&opened.records), records_json(&bundle.records));
    let mut r = sotto_proto::codec::Reader::new(handover.sealed().ciphertext());
    let wrapped = r.bytes("wrapped", 512).unwrap().to_vec();
    let sealed = r.bytes("sealed", usize::MAX).unwrap().to_vec();
    let mut okm = [0u8; 44];
    hkdf_sha256(&[], &wrapping, &Domain::HandoverAead.encoded(), &mut okm).unwrap();
    let mut label = Writer::for_domain(Domain::HandoverLabel);
    label.fixed(handover.sealed().header());
    v.push(json!({
        "name": "handover",
        "description": "Alice's first device hands its chains, pins and group names to the laptop \
                        it approved. The OAEP ciphertext (`wrapped`) is randomised: decrypt it \
                        with the laptop's exchange key to find `wrapping_key`.",
        "operation": "open",
        "devices": devices,
        "sender": "alice",
        "recipient": me,
        "now": T0.millis(),
        "handover": hx(handover.encode()),
        "header_fields": {
            "account": h.account.to_string(),
            "sender_device": h.sender_device.to_string(),
            "recipient_device": h.recipient_device.to_string(),
            "recipient_key": h.recipient_key.to_string(),
            "handover_id": hx(h.handover_id.as_bytes()),
            "created_at": h.created_at.millis(),
        },
        "header": hx(handover.sealed().header()),
        "oaep_label": hx(sha256(&label.finish())),
        "wrapped": hx(&wrapped),
        "wrapping_key": hx(wrapping),
        "aes_key": hx(&okm[..32]),
        "nonce": hx(&okm[32..]),
        "sealed": hx(&sealed),
        "bundle": hx(bundle.encode().unwrap().as_slice()),
        "expected_records": records_json(&bundle.records),
    }));
    let refuse =
        |name: &str, description: &str, wire: Vec<u8>, sender: &str, now: Timestamp, code: &str| {
            let sender_device = match sender {
                "alice" => &alice.device.verified,
                "bob" => &p.bob.device.verified,
                other => panic!("{other}"),
            };
            let result = Handover::decode(&wire)
                .and_then(|h| open_handover(&h, sender_device, &laptop_local, now).map(|_| ()));
            negative(
                json!({
                    "name": name,
                    "description": description,
                    "operation": "open",
                    "devices": devices,
                    "sender": sender,
                    "recipient": me,
                    "now": now.millis(),
                    "handover": hx(wire),
                }),
                result,
                code,
            )
        };
    let to_phone = seal(2, &alice.device, T0, &bundle, false);
    v.push(refuse(
        "wrong-recipient",
        "A hand-over to Alice's first device, opened by the laptop.",
        to_phone.encode(),
        "alice",
        T0,
        "receive/wrong-recipient",
    ));
    v.push(refuse(
        "sender-mismatch",
        "The laptop's hand-over presented as coming from Bob's device: not the header's sender, \
         not of Alice's account.",
        handover.encode(),
        "bob",
        T0,
        "receive/sender-mismatch",
    ));
    let resigned = SignedSealed::sign(
        handover.sealed().header().to_vec(),
        handover.sealed().ciphertext().to_vec(),
        p.bob.device.keys.signing(),
    )
    .unwrap();
    v.push(refuse(
        "bad-signature",
        "The laptop's hand-over re-signed by Bob's device key, presented as Alice's.",
        resigned.encode(),
        "alice",
        T0,
        "bad-signature",
    ));
    let mut ciphertext = handover.sealed().ciphertext().to_vec();
    let last = ciphertext.len() - 1;
    ciphertext[last] ^= 0x01;
    let tampered = SignedSealed::sign(
        handover.sealed().header().to_vec(),
        ciphertext,
        alice.device.keys.signing(),
    )
    .unwrap();
    v.push(refuse(
        "tampered-bundle",
        "One bit of the sealed bundle flipped and the whole re-signed by Alice's device: the \
         AES-GCM tag fails.",
        tampered.encode(),
        "alice",
        T0,
        "decryption-failed",
    ));
    let future = seal(3, &laptop, T0.plus(3 * Timestamp::HOUR + 1), &bundle, false);
    v.push(refuse(
        "far-future",
        "Made 3 hours and 1 ms after the laptop's `now`.",
        future.encode(),
        "alice",
        T0,
        "receive/far-future",
    ));
    let with_master = KeyBundle::new(vec![master_record(alice), sample.pin(p)]);
    let master = seal(4, &laptop, T0, &with_master, true);
    v.push(refuse(
        "master-key-record",
        "A hand-over carrying a MasterKey record: the whole hand-over is refused.",
        master.encode(),
        "alice",
        T0,
        "invalid-input",
    ));
    file(
        "Device hand-overs (docs/protocol.md §16). Each vector opens `handover` on the device \
         `recipient` (its exchange private key given), presented as sent by the device named \
         `sender` among `devices`, at `now`: the records taken, or the refusal's code.",
        v,
    )
}
