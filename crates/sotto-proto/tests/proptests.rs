//! Property tests: every encodable structure round-trips (`decode(encode(x)) == x`, and the
//! encoding is canonical), a body field its constructor accepts encodes and decodes while one it
//! refuses is refused by the decoder with the matching code, padding round-trips for every body length up to 64 KiB, any single
//! changed byte anywhere in a real envelope, key distribution, group change or identity
//! certificate is refused by decoding or verification (never accepted, never a panic), and
//! arbitrary bytes never panic any decoder.
//!
//! RSA work is kept out of the loops: the fixed world of `fuzz/targets_common.rs` (fixed test keys,
//! seeded generator) is built once per process and every wire form is signed once.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../../../fuzz/targets_common.rs"]
mod targets_common;

use std::sync::OnceLock;

use proptest::prelude::*;
use sotto_proto::auth::AuthChallenge;
use sotto_proto::body::{
    pad, padded_len, unpad, AttachmentRef, BlobId, FileName, MediaType, Mentions, MessageBody,
    Reaction, ReceiptKind,
};
use sotto_proto::bundle::{
    ChainRecord, GroupNameRecord, KeyBundle, MasterKeyRecord, PinRecord, Record,
};
use sotto_proto::chain::ChainKey;
use sotto_proto::chain::ReceiverState;
use sotto_proto::codec::{is_display_text, Writer};
use sotto_proto::distribution::{ChainEnd, DistributionHeader, KeyDistribution, KeyRequest};
use sotto_proto::domain::Domain;
use sotto_proto::envelope::{Envelope, EnvelopeHeader};
use sotto_proto::group::{
    decode_signed_change, CreateKind, GroupChange, GroupName, GroupOp, Member, NameCommitment,
    NameReveal, Retention, MAX_RETENTION_SECS, MIN_RETENTION_SECS,
};
use sotto_proto::identity::certificate::{DeviceCertificate, ExchangeKeyCertificate, Revocation};
use sotto_proto::ids::{
    AccountId, AuthKeyId, ChainId, ConversationId, DeviceId, ExchangeKeyId, MessageId,
};
use sotto_proto::limits::{MAX_BODY_LEN, MAX_CERTIFICATE_LEN, MAX_CHAIN_MESSAGES};
use sotto_proto::signed::Signed;
use sotto_proto::testing::T0;
use sotto_proto::{DecodeError, Timestamp};
use targets_common::{fixture, local, TARGETS};

// ---------------------------------------------------------------- strategies

fn account() -> impl Strategy<Value = AccountId> {
    any::<[u8; 32]>().prop_map(AccountId::from_bytes)
}
fn device() -> impl Strategy<Value = DeviceId> {
    any::<[u8; 32]>().prop_map(DeviceId::from_bytes)
}
fn xkey() -> impl Strategy<Value = ExchangeKeyId> {
    any::<[u8; 32]>().prop_map(ExchangeKeyId::from_bytes)
}
fn conversation() -> impl Strategy<Value = ConversationId> {
    any::<[u8; 16]>().prop_map(ConversationId::from_bytes)
}
fn chain() -> impl Strategy<Value = ChainId> {
    any::<[u8; 16]>().prop_map(ChainId::from_bytes)
}
fn message_id() -> impl Strategy<Value = MessageId> {
    any::<[u8; 16]>().prop_map(MessageId::from_bytes)
}
fn timestamp() -> impl Strategy<Value = Timestamp> {
    any::<u64>().prop_map(Timestamp)
}

/// Names as the decoder accepts them: printable Unicode, trimmed, at most `max_chars` characters
/// (4 bytes each at most, so `max_chars * 4` must stay within the field's byte bound).
fn display_text(max_chars: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("\\PC{{1,{max_chars}}}"))
        .unwrap()
        .prop_filter("display text", |s| is_display_text(s))
}

/// Any UTF-8 text of at most `max_chars` characters (control characters included).
fn any_text(max_chars: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("(?s).{{0,{max_chars}}}")).unwrap()
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..=max)
}

fn member() -> impl Strategy<Value = Member> {
    (account(), any::<bool>()).prop_map(|(account, admin)| Member { account, admin })
}

fn commitment() -> impl Strategy<Value = NameCommitment> {
    any::<[u8; 32]>().prop_map(NameCommitment)
}

fn create_kind() -> impl Strategy<Value = CreateKind> {
    prop_oneof![
        commitment().prop_map(|name| CreateKind::Group { name }),
        Just(CreateKind::Direct),
    ]
}

fn group_op() -> impl Strategy<Value = GroupOp> {
    prop_oneof![
        (create_kind(), proptest::collection::vec(member(), 0..6))
            .prop_map(|(kind, members)| GroupOp::Create { kind, members }),
        member().prop_map(GroupOp::AddMember),
        account().prop_map(|account| GroupOp::RemoveMember { account }),
        (account(), any::<bool>())
            .prop_map(|(account, admin)| GroupOp::SetAdmin { account, admin }),
        commitment().prop_map(|name| GroupOp::Rename { name }),
        prop_oneof![Just(0u64), MIN_RETENTION_SECS..=MAX_RETENTION_SECS].prop_map(|secs| {
            GroupOp::SetRetention {
                retention: Retention::from_secs(secs).unwrap(),
            }
        }),
    ]
}

fn message_body() -> impl Strategy<Value = MessageBody> {
    let attachment = (
        any_text(16),
        display_text(60),
        any_text(31),
        any::<u64>(),
        any::<[u8; 32]>(),
        any::<[u8; 32]>(),
        any_text(200),
    )
        .prop_map(
            |(blob_id, file_name, media_type, size, secret, ciphertext_sha256, caption)| {
                MessageBody::Attachment {
                    attachment: AttachmentRef {
                        blob_id: BlobId::new(blob_id).unwrap(),
                        file_name: FileName::new(file_name).unwrap(),
                        media_type: MediaType::new(media_type).unwrap(),
                        size,
                        secret: secret.into(),
                        ciphertext_sha256,
                    },
                    caption,
                }
            },
        );
    prop_oneof![
        any_text(400).prop_map(MessageBody::Text),
        attachment,
        (
            prop_oneof![Just(ReceiptKind::Delivered), Just(ReceiptKind::Read)],
            proptest::collection::vec(message_id(), 0..=256),
        )
            .prop_map(|(kind, messages)| MessageBody::Receipt { kind, messages }),
        (any::<u64>(), any::<[u8; 32]>(), display_text(32)).prop_map(|(epoch, salt, name)| {
            MessageBody::GroupName(NameReveal {
                epoch,
                salt,
                name: GroupName::new(name).unwrap(),
            })
        }),
        (
            any_text(400),
            proptest::option::of(message_id()),
            mentions()
        )
            .prop_map(|(text, reply_to, mentions)| MessageBody::Message {
                text,
                reply_to,
                mentions,
            }),
        (message_id(), any_text(400), mentions()).prop_map(|(target, text, mentions)| {
            MessageBody::Edit {
                target,
                text,
                mentions,
            }
        }),
        message_id().prop_map(|target| MessageBody::Delete { target }),
        (
            message_id(),
            display_text(8).prop_filter("at most 32 bytes", |r| r.len() <= 32),
            any::<bool>()
        )
            .prop_map(|(target, reaction, added)| MessageBody::Reaction {
                target,
                reaction: Reaction::new(reaction).unwrap(),
                added,
            }),
    ]
}

/// Up to 64 distinct accounts.
fn mentions() -> impl Strategy<Value = Mentions> {
    proptest::collection::btree_set(any::<[u8; 32]>(), 0..=64).prop_map(|accounts| {
        Mentions::new(accounts.into_iter().map(AccountId::from_bytes).collect()).unwrap()
    })
}

/// Candidate values for a body's text fields: display text (sometimes over 255 bytes), any text,
/// display text around one arbitrary character (a newline, an escape, a bidi override…), runs of
/// one letter across every bound, and names with surrounding whitespace.
fn field_text() -> impl Strategy<Value = String> {
    prop_oneof![
        display_text(80),
        any_text(80),
        (display_text(20), any::<char>(), display_text(20))
            .prop_map(|(a, c, b)| format!("{a}{c}{b}")),
        (0usize..300).prop_map(|n| "a".repeat(n)),
        (
            display_text(10),
            prop_oneof![Just(" "), Just("\t"), Just("\n")],
            any::<bool>()
        )
            .prop_map(|(s, space, before)| if before {
                format!("{space}{s}")
            } else {
                format!("{s}{space}")
            }),
    ]
}

/// An attachment body written field by field, without the field types: what an encoder that does
/// not check its fields would send.
fn raw_attachment(
    blob_id: &str,
    file_name: &str,
    media_type: &str,
    size: u64,
    caption: &str,
) -> Vec<u8> {
    let mut w = Writer::for_domain(Domain::MessageBody);
    w.u8(0x02);
    w.text(blob_id);
    w.text(file_name);
    w.text(media_type);
    w.u64(size);
    w.fixed(&[1; 32]);
    w.fixed(&[2; 32]);
    w.bytes(caption.as_bytes());
    w.finish()
}

// ---------------------------------------------------------------- round trips

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn envelope_header_round_trips(
        conversation in conversation(), epoch in any::<u64>(), sender_account in account(),
        sender_device in device(), chain in chain(), index in any::<u32>(),
        sent_at in timestamp(), message_id in message_id(), bucket in 8u32..=17,
    ) {
        let header = EnvelopeHeader {
            conversation, epoch, sender_account, sender_device, chain, index, sent_at, message_id,
            padded_len: 1 << bucket,
        };
        let bytes = header.encode();
        prop_assert_eq!(EnvelopeHeader::decode(&bytes).unwrap(), header);
    }

    #[test]
    fn envelope_header_refuses_lengths_that_are_not_buckets(len in any::<u32>()) {
        let header = EnvelopeHeader {
            conversation: ConversationId::from_bytes([1; 16]),
            epoch: 0,
            sender_account: AccountId::from_bytes([2; 32]),
            sender_device: DeviceId::from_bytes([3; 32]),
            chain: ChainId::from_bytes([4; 16]),
            index: 0,
            sent_at: T0,
            message_id: MessageId::from_bytes([5; 16]),
            padded_len: len,
        };
        let is_bucket = len.is_power_of_two() && (256..=128 * 1024).contains(&len);
        prop_assert_eq!(EnvelopeHeader::decode(&header.encode()).is_ok(), is_bucket);
    }

    #[test]
    fn distribution_header_round_trips(
        conversation in conversation(), epoch in any::<u64>(), chain in chain(),
        sender_account in account(), sender_device in device(),
        recipient_account in account(), recipient_device in device(), recipient_key in xkey(),
        created_at in timestamp(), start_index in any::<u32>(),
        previous in proptest::option::of((chain(), proptest::option::of(0..MAX_CHAIN_MESSAGES))),
    ) {
        let header = DistributionHeader {
            hybrid: None,
            conversation, epoch, chain, sender_account, sender_device, recipient_account,
            recipient_device, recipient_key, created_at, start_index,
            previous: previous.map(|(chain, final_index)| ChainEnd { chain, final_index }),
        };
        prop_assert_eq!(DistributionHeader::decode(&header.encode()).unwrap(), header);
    }

    #[test]
    fn distribution_header_refuses_a_previous_final_index_beyond_the_chain(
        final_index in MAX_CHAIN_MESSAGES..u32::MAX,
    ) {
        let f = fixture();
        let mut header = f.kdm_to_bob.header().clone();
        header.previous = Some(ChainEnd { chain: ChainId::from_bytes([1; 16]), final_index: Some(final_index) });
        prop_assert!(DistributionHeader::decode(&header.encode()).is_err());
    }

    #[test]
    fn key_request_round_trips(
        conversation in conversation(), epoch in any::<u64>(), chain in chain(),
        owner_device in device(), requester_account in account(), requester_device in device(),
        requester_key in xkey(), requested_at in timestamp(),
    ) {
        let request = KeyRequest {
            conversation, epoch, chain, owner_device, requester_account, requester_device,
            requester_key, requested_at,
        };
        prop_assert_eq!(KeyRequest::decode(&request.encode()).unwrap(), request);
    }

    #[test]
    fn group_change_round_trips_for_every_op(
        conversation in conversation(), epoch in any::<u64>(), previous in any::<[u8; 32]>(),
        signer_account in account(), signer_device in device(), issued_at in timestamp(),
        op in group_op(),
    ) {
        let change = GroupChange {
            conversation, epoch, previous, signer_account, signer_device, issued_at, op,
        };
        prop_assert_eq!(GroupChange::decode(&change.encode()).unwrap(), change);
    }

    #[test]
    fn identity_structures_round_trip(
        account in account(), device in device(), key_a in bytes(600), key_b in bytes(600),
        issued_at in timestamp(), name in display_text(16), serial in any::<u64>(),
        t1 in timestamp(), t2 in timestamp(),
    ) {
        let cert = DeviceCertificate {
            account, device, signing_key: key_a.clone(), auth_key: key_b, issued_at, name,
        };
        prop_assert_eq!(DeviceCertificate::decode(&cert.encode()).unwrap(), cert);
        let revocation = Revocation { account, device, serial, revoked_at: t1 };
        prop_assert_eq!(Revocation::decode(&revocation.encode()).unwrap(), revocation);
        let xcert = ExchangeKeyCertificate {
            last_resort: None,
            account, device, exchange_key: key_a, serial, not_before: t1, not_after: t2,
        };
        prop_assert_eq!(ExchangeKeyCertificate::decode(&xcert.encode()).unwrap(), xcert);
    }

    #[test]
    fn message_bodies_round_trip(body in message_body()) {
        let bytes = body.encode().unwrap();
        prop_assert_eq!(&MessageBody::decode(&bytes).unwrap(), &body);
        // Through the padding too, as the receiver sees it.
        let padded = pad(&bytes).unwrap();
        prop_assert_eq!(MessageBody::decode(unpad(&padded).unwrap()).unwrap(), body);
    }

    #[test]
    fn body_fields_the_constructors_accept_encode_and_decode_and_those_they_refuse_do_not_decode(
        blob_id in field_text(), file_name in field_text(), media_type in field_text(),
        size in any::<u64>(), caption in any_text(40),
    ) {
        let raw = raw_attachment(&blob_id, &file_name, &media_type, size, &caption);
        match (BlobId::new(blob_id), FileName::new(file_name), MediaType::new(media_type)) {
            (Ok(blob_id), Ok(file_name), Ok(media_type)) => {
                let body = MessageBody::Attachment {
                    attachment: AttachmentRef {
                        blob_id, file_name, media_type, size,
                        secret: [1; 32].into(),
                        ciphertext_sha256: [2; 32],
                    },
                    caption,
                };
                let bytes = body.encode().unwrap();
                prop_assert_eq!(bytes.as_slice(), raw.as_slice());
                prop_assert_eq!(MessageBody::decode(&bytes).unwrap(), body);
            }
            (b, f, m) => {
                // The decoder reads the fields in this order and stops at the first refusal.
                let first = [b.err(), f.err(), m.err()].into_iter().flatten().next().unwrap();
                prop_assert_eq!(MessageBody::decode(&raw).unwrap_err(), DecodeError::from(first));
            }
        }
    }

    #[test]
    fn auth_challenge_round_trips(
        origin in any_text(60), username in any_text(16), device in device(),
        nonce in any::<[u8; 32]>(), issued_at in timestamp(),
    ) {
        let challenge = AuthChallenge { origin, username, device, nonce, issued_at };
        prop_assert_eq!(AuthChallenge::decode(&challenge.encode()).unwrap(), challenge);
    }

    #[test]
    fn ids_round_trip_in_text_form_and_keep_their_type(
        a in any::<[u8; 32]>(), b in any::<[u8; 16]>(),
    ) {
        fn check<T>(id: T, others: &[fn(&str) -> bool]) -> Result<(), TestCaseError>
        where
            T: std::str::FromStr + std::fmt::Display + PartialEq + std::fmt::Debug,
            T::Err: std::fmt::Debug,
        {
            let text = id.to_string();
            prop_assert_eq!(text.parse::<T>().unwrap(), id);
            prop_assert!(text.to_uppercase().parse::<T>().is_err() || text == text.to_uppercase());
            // Exactly one id type accepts the text.
            prop_assert_eq!(others.iter().filter(|parses| parses(&text)).count(), 1);
            Ok(())
        }
        let parsers: [fn(&str) -> bool; 7] = [
            |t| t.parse::<AccountId>().is_ok(),
            |t| t.parse::<DeviceId>().is_ok(),
            |t| t.parse::<ExchangeKeyId>().is_ok(),
            |t| t.parse::<AuthKeyId>().is_ok(),
            |t| t.parse::<ConversationId>().is_ok(),
            |t| t.parse::<ChainId>().is_ok(),
            |t| t.parse::<MessageId>().is_ok(),
        ];
        check(AccountId::from_bytes(a), &parsers)?;
        check(DeviceId::from_bytes(a), &parsers)?;
        check(ExchangeKeyId::from_bytes(a), &parsers)?;
        check(AuthKeyId::from_bytes(a), &parsers)?;
        check(ConversationId::from_bytes(b), &parsers)?;
        check(ChainId::from_bytes(b), &parsers)?;
        check(MessageId::from_bytes(b), &parsers)?;
    }
}

#[test]
fn id_text_with_a_plus_sign_is_refused() {
    // `u8::from_str_radix` accepts a leading '+', so "+f" would parse as 0x0f and one id would
    // have two text forms. Regression for fuzz/regressions/ids_text.
    let canonical = ConversationId::from_bytes([0x0f; 16]).to_string();
    let plus = canonical.replace("0f", "+f");
    assert_ne!(plus, canonical);
    assert!(
        plus.parse::<ConversationId>().is_err(),
        "{plus} parsed as {canonical}"
    );
}

// ---------------------------------------------------------------- padding

fn pad_round_trip(len: usize, fill: u8) {
    let body: Vec<u8> = (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ fill)
        .collect();
    let padded = pad(&body).unwrap();
    assert_eq!(padded.len(), padded_len(len));
    assert!(padded.len().is_power_of_two() && padded.len() >= 256 && padded.len() > len);
    assert_eq!(unpad(&padded).unwrap(), body.as_slice(), "len {len}");
}

#[test]
fn padding_round_trips_at_every_bucket_edge() {
    let mut lens = vec![0, 1, 2, MAX_BODY_LEN - 1, MAX_BODY_LEN];
    for shift in 8..=16 {
        let edge = 1usize << shift;
        lens.extend([edge - 2, edge - 1, edge, edge + 1]);
    }
    for len in lens {
        for fill in [0x00, 0x80, 0xff] {
            pad_round_trip(len, fill);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn padding_round_trips(len in 0..=MAX_BODY_LEN, fill in any::<u8>()) {
        pad_round_trip(len, fill);
    }

    #[test]
    fn bodies_ending_in_zeros_or_the_mark_round_trip(
        prefix in bytes(300), tail in proptest::collection::vec(prop_oneof![Just(0u8), Just(0x80u8)], 0..40),
    ) {
        let body = [prefix, tail].concat();
        let padded = pad(&body).unwrap();
        prop_assert_eq!(unpad(&padded).unwrap(), body.as_slice());
    }
}

// ---------------------------------------------------------------- single changed byte

/// Real wire forms, each signed once.
struct Wire {
    envelope: Vec<u8>,
    distribution: Vec<u8>,
    change: Vec<u8>,
    device_cert: Vec<u8>,
    exchange_cert: Vec<u8>,
    revocation: Vec<u8>,
}

fn wire() -> &'static Wire {
    static WIRE: OnceLock<Wire> = OnceLock::new();
    WIRE.get_or_init(|| {
        let seed = |target: &str, label: &str| {
            targets_common::seeds()
                .into_iter()
                .find(|s| s.target == target && s.label == label)
                .unwrap()
                .bytes
        };
        let f = fixture();
        Wire {
            envelope: seed("envelope", "text"),
            distribution: f.kdm_to_bob.encode(),
            change: seed("group_change", "add"),
            device_cert: f.alice.device.certificate.encode(),
            exchange_cert: f.alice.device.exchange_certificate.encode(),
            revocation: f.revocation_signed.encode(),
        }
    })
}

fn open_envelope(bytes: &[u8]) -> bool {
    let f = fixture();
    let Ok(envelope) = Envelope::decode(bytes) else {
        return false;
    };
    let sender = f.device_named(&envelope.header().sender_device);
    f.bob_receiver.open(&envelope, sender, &f.group, T0).is_ok()
}

fn accept_distribution(bytes: &[u8]) -> bool {
    let f = fixture();
    let Ok(kdm) = KeyDistribution::decode(bytes) else {
        return false;
    };
    let sender = f.device_named(&kdm.header().sender_device);
    ReceiverState::new()
        .accept_distribution(&kdm, sender, &local(&f.bob), &f.group, T0)
        .is_ok()
}

fn apply_change(bytes: &[u8]) -> bool {
    let f = fixture();
    let Ok(signed) = decode_signed_change(bytes) else {
        return false;
    };
    let signer = GroupChange::decode(signed.unverified_body())
        .map_or(&f.alice.device.verified, |c| {
            f.device_named(&c.signer_device)
        });
    f.group.apply(&signed, signer).is_ok()
}

fn verify_identity(bytes: &[u8]) -> bool {
    let f = fixture();
    let Ok(signed) = Signed::decode(bytes, MAX_CERTIFICATE_LEN) else {
        return false;
    };
    f.alice.identity.verify_device(&signed, &[]).is_ok()
        || f.alice.identity.verify_revocation(&signed).is_ok()
        || f.alice
            .device
            .verified
            .verify_exchange_key(&signed, T0, None)
            .is_ok()
}

/// Whether a wire form is accepted by its decoder and verifier.
type Accepts = fn(&[u8]) -> bool;

fn wire_cases() -> [(&'static [u8], Accepts); 6] {
    let w = wire();
    [
        (&w.envelope, open_envelope),
        (&w.distribution, accept_distribution),
        (&w.change, apply_change),
        (&w.device_cert, verify_identity),
        (&w.exchange_cert, verify_identity),
        (&w.revocation, verify_identity),
    ]
}

fn changed(bytes: &[u8], position: prop::sample::Index, delta: u8) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[position.index(bytes.len())] ^= delta;
    out
}

#[test]
fn the_unchanged_wire_forms_are_accepted() {
    let w = wire();
    assert!(open_envelope(&w.envelope));
    assert!(accept_distribution(&w.distribution));
    assert!(apply_change(&w.change));
    assert!(verify_identity(&w.device_cert));
    assert!(verify_identity(&w.exchange_cert));
    assert!(verify_identity(&w.revocation));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_changed_envelope_byte_is_refused(pos in any::<prop::sample::Index>(), delta in 1u8..) {
        prop_assert!(!open_envelope(&changed(&wire().envelope, pos, delta)));
    }

    #[test]
    fn any_changed_distribution_byte_is_refused(pos in any::<prop::sample::Index>(), delta in 1u8..) {
        prop_assert!(!accept_distribution(&changed(&wire().distribution, pos, delta)));
    }

    #[test]
    fn any_changed_group_change_byte_is_refused(pos in any::<prop::sample::Index>(), delta in 1u8..) {
        prop_assert!(!apply_change(&changed(&wire().change, pos, delta)));
    }

    #[test]
    fn any_changed_certificate_byte_is_refused(
        pos in any::<prop::sample::Index>(), delta in 1u8.., which in 0usize..3,
    ) {
        let w = wire();
        let original = [&w.device_cert, &w.exchange_cert, &w.revocation][which];
        prop_assert!(!verify_identity(&changed(original, pos, delta)));
    }
}

#[test]
fn every_byte_position_changed_is_refused() {
    // Exhaustive over positions, three kinds of change each; the proptests above add random deltas.
    let cases = wire_cases();
    let mut checked = 0;
    for (bytes, accepts) in cases {
        for i in 0..bytes.len() {
            for delta in [0x01u8, 0x80, 0xff] {
                let mut bad = bytes.to_vec();
                bad[i] ^= delta;
                assert!(!accepts(&bad), "byte {i} ^ {delta:#04x} accepted");
                checked += 1;
            }
        }
    }
    assert!(checked > 3 * 2_000, "{checked}");
}

#[test]
fn every_truncation_and_extension_of_a_real_wire_form_is_refused() {
    let cases = wire_cases();
    for (bytes, accepts) in cases {
        for len in 0..bytes.len() {
            assert!(!accepts(&bytes[..len]), "prefix of {len} bytes accepted");
        }
        let mut longer = bytes.to_vec();
        longer.push(0);
        assert!(!accepts(&longer), "trailing byte accepted");
    }
}

// ---------------------------------------------------------------- arbitrary bytes

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// Every fuzz target body (decoders, canonical-encoding checks, verification) on random bytes.
    #[test]
    fn random_bytes_never_panic_any_decoder(data in bytes(2048)) {
        for (_, body) in TARGETS {
            body(&data);
        }
    }

    /// Random bytes behind a valid label and version, so they reach the structure's fields.
    #[test]
    fn random_fields_after_a_valid_label_never_panic(
        which in 0usize..9, tail in bytes(1024),
    ) {
        use sotto_proto::domain::Domain;
        let domains = [
            Domain::Envelope,
            Domain::KeyDistribution,
            Domain::GroupChange,
            Domain::DeviceCertificate,
            Domain::Revocation,
            Domain::ExchangeKeyCertificate,
            Domain::MessageBody,
            Domain::KeyRequest,
            Domain::AuthChallenge,
        ];
        let data = [domains[which].encoded(), tail].concat();
        let _ = EnvelopeHeader::decode(&data);
        let _ = DistributionHeader::decode(&data);
        let _ = GroupChange::decode(&data);
        let _ = DeviceCertificate::decode(&data);
        let _ = Revocation::decode(&data);
        let _ = ExchangeKeyCertificate::decode(&data);
        let _ = MessageBody::decode(&data);
        let _ = KeyRequest::decode(&data);
        let _ = AuthChallenge::decode(&data);
        // And wrapped as the signed forms the verifiers take.
        let signed = Signed::from_parts(data.clone(), vec![0u8; 384]).encode();
        for (_, body) in TARGETS {
            body(&signed);
        }
    }
}

// ---------------------------------------------------------------- a malicious sender

/// A sender's own device (a malicious member, or its compromised device) signs a distribution
/// whose `previous` names its earlier chain with an absurd final index. The receiver must not
/// turn that into an unbounded list of "missing" indexes: announced with `u32::MAX - 1`, it would
/// be a 16 GiB allocation. Here a million keeps the failing case cheap.
#[test]
fn an_absurd_previous_final_index_does_not_blow_up_missing() {
    use sotto_proto::codec::Writer;
    use sotto_proto::domain::Domain;
    use sotto_proto::signed::SignedSealed;

    let f = fixture();
    let mut bob = ReceiverState::new();
    let first = bob
        .accept_distribution(
            &f.kdm_to_bob,
            &f.alice.device.verified,
            &local(&f.bob),
            &f.group,
            T0,
        )
        .unwrap();
    let next_chain = ChainId::from_bytes([0x42; 16]);
    let header = DistributionHeader {
        hybrid: None,
        conversation: f.group.conversation(),
        epoch: f.group.epoch(),
        chain: next_chain,
        sender_account: f.alice.master.account(),
        sender_device: f.alice.device.keys.device(),
        recipient_account: f.bob.master.account(),
        recipient_device: f.bob.device.keys.device(),
        recipient_key: f.bob.device.verified_exchange.key_id(),
        created_at: T0,
        start_index: 0,
        previous: Some(ChainEnd {
            chain: first.chain,
            final_index: Some(1_000_000),
        }),
    }
    .encode();
    let mut payload = Writer::for_domain(Domain::KeyDistributionPayload);
    next_chain.encode(&mut payload);
    payload.u32(0);
    payload.fixed(&[0x24; 32]);
    let ciphertext = f
        .bob
        .device
        .verified_exchange
        .key()
        .encrypt(&payload.finish(), &DistributionHeader::oaep_label(&header))
        .unwrap();
    let sealed = SignedSealed::sign(header, ciphertext, f.alice.device.keys.signing()).unwrap();
    // Refusing the announcement when decoding is fine (that is the fix that landed).
    let Ok(kdm) = KeyDistribution::from_sealed(sealed) else {
        return;
    };
    let bound = MAX_CHAIN_MESSAGES as usize;
    match bob.accept_distribution(&kdm, &f.alice.device.verified, &local(&f.bob), &f.group, T0) {
        Err(_) => {} // refusing the announcement outright is fine
        Ok(accepted) => {
            assert!(
                accepted.missing_in_previous.len() <= bound,
                "{} missing indexes reported for a chain of at most {bound} messages",
                accepted.missing_in_previous.len()
            );
            assert!(bob.missing(&first.chain).len() <= bound);
        }
    }
}

// ---------------------------------------------------------------- key bundles

fn record() -> impl Strategy<Value = Record> {
    prop_oneof![
        bytes(4096).prop_map(|pkcs8| Record::MasterKey(
            MasterKeyRecord::new(zeroize::Zeroizing::new(pkcs8)).unwrap()
        )),
        (
            conversation(),
            any::<u64>(),
            chain(),
            account(),
            device(),
            0..MAX_CHAIN_MESSAGES,
            any::<[u8; 32]>(),
            timestamp(),
        )
            .prop_map(
                |(
                    conversation,
                    epoch,
                    chain,
                    owner_account,
                    owner_device,
                    start_index,
                    key,
                    created_at,
                )| {
                    Record::Chain(ChainRecord {
                        conversation,
                        epoch,
                        chain,
                        owner_account,
                        owner_device,
                        start_index,
                        key: ChainKey::from_bytes(key),
                        created_at,
                    })
                }
            ),
        (account(), any_text(16), any::<bool>()).prop_map(|(account, username, verified)| {
            Record::Pin(PinRecord {
                account,
                username,
                verified,
            })
        }),
        (
            conversation(),
            any::<u64>(),
            any::<[u8; 32]>(),
            display_text(32)
        )
            .prop_map(|(conversation, epoch, salt, name)| Record::GroupName(
                GroupNameRecord {
                    conversation,
                    reveal: NameReveal {
                        epoch,
                        salt,
                        name: GroupName::new(name).unwrap(),
                    },
                }
            )),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn key_bundles_round_trip_and_encode_canonically(
        records in proptest::collection::vec(record(), 0..12),
    ) {
        let bundle = KeyBundle::new(records);
        let bytes = bundle.encode().unwrap();
        let decoded = KeyBundle::decode(&bytes).unwrap();
        prop_assert_eq!(decoded.records.len(), bundle.records.len());
        let again = decoded.encode().unwrap();
        prop_assert_eq!(again.as_slice(), bytes.as_slice());
    }

    #[test]
    fn a_key_bundle_cut_anywhere_does_not_decode(
        records in proptest::collection::vec(record(), 1..4), cut in any::<prop::sample::Index>(),
    ) {
        let bytes = KeyBundle::new(records).encode().unwrap();
        let at = cut.index(bytes.len());
        prop_assert!(KeyBundle::decode(&bytes[..at]).is_err());
    }
}
