//! The body of every `sotto-server` fuzz target: what the server parses from the network before
//! any authorisation decision. Shared by the cargo-fuzz binaries in `fuzz/fuzz_targets/server_*`
//! and by the corpus replay test `crates/sotto-server/tests/pentest_fuzz_corpus.rs` (both include
//! this file with `#[path]`), so a crash input found by libFuzzer is replayed by `cargo test`.
//!
//! - `server_ws_frame`: a WebSocket text frame, parsed as the socket does (`sotto_wire`'s
//!   `ClientFrame` from JSON, its ids checked as they are read), then its remaining fields
//!   decoded as the socket's handler decodes them.
//! - `server_http_body`: a request body through the strict JSON extractor's rules
//!   (`http::extract::parse_json`), as every `/v1` request type (`sotto_wire::api`).
//! - `server_payload`: the relay's header check (`service::payload::check`) of an envelope, key
//!   distribution or key request, against claims that match the seeds and claims that do not.
//! - `server_text`: identifiers and names from paths and fields: usernames, session ids,
//!   attachment ids, typed protocol ids, token prefixes, base64 fields.
//! - `server_relay_log`: a row of the SQLite relay log (read back at every start; a damaged file
//!   or a restored backup must give an error, never a panic or a huge allocation).
//! - `server_fanout_wire`: a message from NATS (`fanout::nats::Wire`): every node decodes what any
//!   client of the deployment's NATS may publish on its subjects.
//! - `client_server_answer`: the other direction, what a Rust client parses from a server that
//!   may be malicious: a WebSocket text frame as `sotto_wire`'s `ServerFrame`, and an HTTP answer
//!   as every `/v1` answer type and the error body.
//!
//! Nothing here may panic on any input except through the assertions, which state invariants.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::OnceLock;

use sotto_proto::ids::{
    AccountId, AuthKeyId, ChainId, ConversationId, DeviceId, ExchangeKeyId, MessageId,
};
use sotto_server::http::{accounts, conversations, extract};
use sotto_server::service::payload::{self, Claim};
use sotto_server::ws::frames::{ClientFrame, MAX_ACK_IDS, MAX_SIGNAL_PAYLOAD};
use sotto_wire::api;

/// The body of one target.
pub type TargetFn = fn(&[u8]);

/// Every server target: its name (the directory under `fuzz/corpus/` and the binary) and body.
pub const TARGETS: &[(&str, TargetFn)] = &[
    ("server_ws_frame", ws_frame),
    ("server_http_body", http_body),
    ("server_payload", payload_check),
    ("server_text", text),
    ("server_relay_log", relay_log),
    ("server_fanout_wire", fanout_wire),
    ("client_server_answer", server_answer),
];

/// A WebSocket text frame (binary frames are refused before parsing).
pub fn ws_frame(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(frame) = serde_json::from_str::<ClientFrame>(text) else {
        return;
    };
    match frame {
        ClientFrame::Auth { ticket } => {
            let _ = sotto_server::auth::tokens::hash(ticket.expose());
        }
        ClientFrame::Send {
            conversation,
            message_id,
            envelope,
            to,
            ..
        } => {
            // Ids were checked as they were read: each has its one spelling.
            assert_eq!(
                conversation.to_string().parse::<ConversationId>().ok(),
                Some(conversation)
            );
            assert_eq!(
                message_id.to_string().parse::<MessageId>().ok(),
                Some(message_id)
            );
            if let Some(to) = to {
                assert_eq!(to.to_string().parse::<DeviceId>().ok(), Some(to));
            }
            if let Ok(bytes) = extract::b64("envelope", &envelope) {
                assert_eq!(extract::to_b64(&bytes), envelope, "base64 is canonical");
            }
        }
        ClientFrame::Ack { message_ids } => {
            let _ = message_ids.len() > MAX_ACK_IDS;
        }
        ClientFrame::Signal { payload, .. } => {
            if let Some(p) = payload {
                if let Ok(bytes) = extract::b64("payload", &p) {
                    let _ = bytes.len() > MAX_SIGNAL_PAYLOAD;
                }
            }
        }
        ClientFrame::Ping {} => {}
    }
}

/// Parses `data` as `T` with the extractor's rules; a refusal must be a client error.
fn body_as<T: serde::de::DeserializeOwned>(data: &[u8]) {
    if let Err(error) = extract::parse_json::<T>(data) {
        let (status, _) = error.status_and_code();
        assert!(status.is_client_error(), "{status} for a malformed body");
    }
}

/// A request body, as every JSON request type of the `/v1` API.
pub fn http_body(data: &[u8]) {
    body_as::<api::Credentials>(data);
    body_as::<api::Registration>(data);
    body_as::<api::ChallengeRequest>(data);
    body_as::<api::ChallengeAnswer>(data);
    body_as::<api::RefreshRequest>(data);
    body_as::<api::RefreshChallengeRequest>(data);
    body_as::<api::PasswordChange>(data);
    body_as::<api::PasswordProof>(data);
    body_as::<api::MasterKeyRequest>(data);
    body_as::<api::PendingRequest>(data);
    body_as::<api::CertificateRequest>(data);
    body_as::<api::RevocationRequest>(data);
    body_as::<api::CreateRequest>(data);
    body_as::<api::AppendRequest>(data);
    body_as::<api::SendRequest>(data);
    body_as::<api::RecoverySetup>(data);
    body_as::<api::BackupUpload>(data);
    body_as::<api::RecoveryUnlock>(data);
    body_as::<api::HandoverRequest>(data);
    body_as::<api::PrekeyUpload>(data);
    body_as::<api::PrekeyClaim>(data);
}

/// Whatever a client is handed must parse to a value or be refused, never panic.
fn answer_as<T: serde::de::DeserializeOwned>(text: &str) {
    let _ = sotto_wire::from_json::<T>(text, 1 << 20);
}

/// What a client reads from a server: a WebSocket frame, and an HTTP answer as every answer type.
/// A frame that parses writes back JSON that reads as the same frame (one meaning per text).
pub fn server_answer(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(frame) = sotto_wire::from_json::<sotto_wire::ServerFrame>(text, 1 << 20) {
        let json = frame.to_json();
        let again: sotto_wire::ServerFrame = serde_json::from_str(&json).expect("reads back");
        assert_eq!(again.to_json(), json);
    }
    answer_as::<sotto_wire::ErrorBody>(text);
    answer_as::<api::AccountCreated>(text);
    answer_as::<api::LoginResponse>(text);
    answer_as::<api::ChallengeResponse>(text);
    answer_as::<api::TokenResponse>(text);
    answer_as::<api::PasswordChanged>(text);
    answer_as::<api::TicketResponse>(text);
    answer_as::<Vec<api::SessionView>>(text);
    answer_as::<api::AccountView>(text);
    answer_as::<api::DeviceIdView>(text);
    answer_as::<Vec<api::DeviceView>>(text);
    answer_as::<api::SerialView>(text);
    answer_as::<api::DirectoryView>(text);
    answer_as::<api::ChangeStored>(text);
    answer_as::<Vec<api::ChangeView>>(text);
    answer_as::<Vec<api::ConversationView>>(text);
    answer_as::<api::SentView>(text);
    answer_as::<api::AttachmentView>(text);
    answer_as::<api::RecoveryStatus>(text);
    answer_as::<api::BackupStored>(text);
    answer_as::<api::BackupPage>(text);
    answer_as::<api::HandoverStored>(text);
    answer_as::<api::HandoverList>(text);
    answer_as::<api::HistoryPage>(text);
    answer_as::<api::PolicyView>(text);
    answer_as::<api::PrekeyCount>(text);
    answer_as::<api::PrekeyClaimed>(text);
}

/// The ids the seeds are made with: the committed test keys of `alice` and `bob` (slots 0 and
/// 1) and the fuzz fixture's conversation.
pub struct Ids {
    /// Alice's account.
    pub alice: AccountId,
    /// Alice's first device.
    pub alice_device: DeviceId,
    /// Bob's account.
    pub bob: AccountId,
    /// Bob's first device.
    pub bob_device: DeviceId,
    /// The conversation of `fuzz/targets_common.rs`'s fixture.
    pub conversation: ConversationId,
}

/// The process-wide ids.
pub fn ids() -> &'static Ids {
    static IDS: OnceLock<Ids> = OnceLock::new();
    IDS.get_or_init(|| {
        let alice = sotto_proto::testing::TestAccount::new(0, "alice");
        let bob = sotto_proto::testing::TestAccount::new(1, "bob");
        Ids {
            alice: alice.master.account(),
            alice_device: alice.device.keys.device(),
            bob: bob.master.account(),
            bob_device: bob.device.keys.device(),
            conversation: ConversationId::from_bytes([0x11; 16]),
        }
    })
}

/// The relay's header check, with the seeds' own claim (message id 1 of the fixture), with the
/// claim of the recipient of distributions, and with the other party's claim.
pub fn payload_check(data: &[u8]) {
    let ids = ids();
    let alice = Claim {
        conversation: ids.conversation,
        message: MessageId::from_bytes([1; 16]),
        account: ids.alice,
        device: ids.alice_device,
        to: None,
    };
    let claims = [
        alice,
        Claim {
            to: Some(ids.bob_device),
            ..alice
        },
        Claim {
            account: ids.bob,
            device: ids.bob_device,
            to: Some(ids.alice_device),
            ..alice
        },
    ];
    for claim in claims {
        match payload::check(data, &claim) {
            Ok(Some(to)) => {
                // A single recipient is what the header names; `to`, when given, agrees.
                assert!(claim.to.is_none_or(|t| t == to));
            }
            Ok(None) => assert!(claim.to.is_none(), "messages never carry `to`"),
            Err(error) => {
                let (status, _) = error.status_and_code();
                assert!(status.is_client_error(), "{status} for a bad payload");
            }
        }
    }
}

/// Identifiers and names that arrive as text.
pub fn text(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(name) = sotto_server::auth::username::normalize(text) {
        assert!(name.is_ascii() && (3..=32).contains(&name.len()));
        assert_eq!(
            sotto_server::auth::username::normalize(&name)
                .ok()
                .as_deref(),
            Some(name.as_str()),
            "normalising is idempotent"
        );
    }
    if let Ok(session) = accounts::session_id(text) {
        assert_eq!(session.to_string(), text, "session ids round-trip");
    }
    if let Ok(id) = conversations::attachment_id(text) {
        assert_eq!(
            format!("att:{}", hex::encode(id)),
            text,
            "one spelling per id"
        );
    }
    // An invitation code (`POST /v1/accounts`): one canonical spelling, which parses back to
    // the same code.
    if let Ok(code) = text.parse::<sotto_wire::invite::InviteCode>() {
        let canonical = code.expose();
        let again: sotto_wire::invite::InviteCode = canonical.parse().expect("canonical parses");
        assert_eq!(*again.expose(), *canonical, "invitation codes round-trip");
    }
    fn typed<T: std::str::FromStr + ToString>(text: &str) {
        if let Ok(id) = extract::id::<T>("id", text) {
            assert_eq!(id.to_string(), text, "typed ids round-trip");
        }
    }
    typed::<AccountId>(text);
    typed::<DeviceId>(text);
    typed::<ConversationId>(text);
    typed::<MessageId>(text);
    typed::<ChainId>(text);
    typed::<AuthKeyId>(text);
    typed::<ExchangeKeyId>(text);
    for kind in [
        sotto_server::auth::tokens::TokenKind::Access,
        sotto_server::auth::tokens::TokenKind::Login,
        sotto_server::auth::tokens::TokenKind::Refresh,
        sotto_server::auth::tokens::TokenKind::Ticket,
    ] {
        let _ = sotto_server::auth::tokens::has_kind(text, kind);
    }
    if let Ok(bytes) = extract::b64("field", text) {
        assert_eq!(extract::to_b64(&bytes), text, "base64 is canonical");
    }
}

/// One seed: its target, a label for its file name (`seed-<label>`), and the bytes.
pub struct Seed {
    /// The target (directory under `fuzz/corpus/`).
    pub target: &'static str,
    /// Written as `seed-<label>`.
    pub label: &'static str,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// Real inputs for every server target. The payload seeds are the sotto-proto seeds (real
/// envelopes, distributions and key requests of the fixture), read from `corpus_dir`.
pub fn seeds(corpus_dir: &std::path::Path) -> Vec<Seed> {
    let ids = ids();
    let mut out = Vec::new();
    let mut add = |target, label, bytes: Vec<u8>| {
        out.push(Seed {
            target,
            label,
            bytes,
        })
    };
    let conv = ids.conversation.to_string();
    let msg = MessageId::from_bytes([1; 16]).to_string();
    let frames = [
        (
            "auth",
            r#"{"type":"auth","ticket":"sotto_wt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}"#
                .to_owned(),
        ),
        (
            "send",
            format!(
                r#"{{"type":"send","id":7,"conversation":"{conv}","message_id":"{msg}","envelope":"AAECAw=="}}"#
            ),
        ),
        (
            "send-to",
            format!(
                r#"{{"type":"send","id":8,"conversation":"{conv}","message_id":"{msg}","envelope":"AA==","to":"{}"}}"#,
                ids.bob_device
            ),
        ),
        (
            "ack",
            format!(r#"{{"type":"ack","message_ids":["{msg}","msg:00"]}}"#),
        ),
        (
            "signal",
            format!(
                r#"{{"type":"signal","conversation":"{conv}","kind":"read","payload":"AAAA"}}"#
            ),
        ),
        ("ping", r#"{"type":"ping"}"#.to_owned()),
    ];
    for (label, frame) in frames {
        add("server_ws_frame", label, frame.into_bytes());
    }
    let answers = [
        (
            "ready",
            format!(
                r#"{{"type":"ready","account":"{}","device":"{}","session":"sess:{}"}}"#,
                ids.alice,
                ids.alice_device,
                "00".repeat(16)
            ),
        ),
        (
            "envelope",
            format!(
                r#"{{"type":"envelope","seq":1,"conversation":"{conv}","message_id":"{msg}","sender_account":"{}","sender_device":"{}","received_at":1700000000000,"envelope":"AAECAw=="}}"#,
                ids.bob, ids.bob_device
            ),
        ),
        (
            "sent",
            format!(
                r#"{{"type":"sent","id":7,"message_id":"{msg}","recipients":1,"undelivered":[{{"device":"{}","reason":"queue_full"}}]}}"#,
                ids.bob_device
            ),
        ),
        ("acked", r#"{"type":"acked","count":3}"#.to_owned()),
        ("pong", r#"{"type":"pong"}"#.to_owned()),
        (
            "error",
            r#"{"type":"error","id":7,"error":"rejected","message":"no","code":"group/not-admin"}"#
                .to_owned(),
        ),
        (
            "error-body",
            r#"{"error":"unauthorized","message":"the session has ended"}"#.to_owned(),
        ),
    ];
    for (label, answer) in answers {
        add("client_server_answer", label, answer.into_bytes());
    }
    let bodies = [
        (
            "credentials",
            r#"{"username":"alice","password":"correct horse battery staple"}"#.to_owned(),
        ),
        (
            "challenge",
            format!(r#"{{"device":"{}"}}"#, ids.alice_device),
        ),
        (
            "answer",
            r#"{"nonce":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","signature":"AAAA"}"#
                .to_owned(),
        ),
        ("refresh", r#"{"refresh_token":"sotto_rt_x"}"#.to_owned()),
        (
            "password",
            r#"{"current_password":"a","new_password":"b","end_other_sessions":true}"#.to_owned(),
        ),
        (
            "pending",
            r#"{"signing_key":"AA==","auth_key":"AA==","name":"laptop"}"#.to_owned(),
        ),
        (
            "send",
            format!(r#"{{"message_id":"{msg}","envelope":"AA==","to":null}}"#),
        ),
        ("genesis", r#"{"genesis":"AAAA"}"#.to_owned()),
    ];
    for (label, body) in bodies {
        add("server_http_body", label, body.into_bytes());
    }
    for (dir, file, label) in [
        ("envelope", "seed-text", "envelope"),
        ("key_distribution", "seed-to-bob", "distribution"),
        ("key_request", "seed-signed", "key-request"),
    ] {
        let bytes = std::fs::read(corpus_dir.join(dir).join(file)).expect("sotto-proto seed");
        add("server_payload", label, bytes);
    }
    let texts = [
        ("username", "alice.b_2-x".to_owned()),
        ("session", format!("sess:{}", "ab".repeat(16))),
        ("attachment", format!("att:{}", "0f".repeat(16))),
        ("device", ids.alice_device.to_string()),
        ("conversation", conv.clone()),
        ("message", msg.clone()),
        ("base64", "AAECAwQ=".to_owned()),
    ];
    for (label, text) in texts {
        add("server_text", label, text.into_bytes());
    }
    let device = "ab".repeat(32);
    let wires = [
        ("queued", r#"{"t":"queued","seq":7}"#.to_owned()),
        (
            "frame",
            r#"{"t":"frame","frame":"{\"type\":\"typing\"}"}"#.to_owned(),
        ),
        (
            "close-device",
            format!(r#"{{"t":"close_device","device":"{device}","reason":"device_revoked"}}"#),
        ),
        (
            "close-sessions",
            format!(
                r#"{{"t":"close_sessions","sessions":["{}"],"reason":"session_ended"}}"#,
                "cd".repeat(16)
            ),
        ),
        (
            "close-user",
            r#"{"t":"close_user","user":4,"keep":null,"reason":"session_ended"}"#.to_owned(),
        ),
        (
            "beat",
            r#"{"t":"beat","node":18446744073709551615,"seq":3,"dropped":0}"#.to_owned(),
        ),
    ];
    for (label, wire) in wires {
        add("server_fanout_wire", label, wire.into_bytes());
    }
    out
}

/// A message from NATS: what decodes encodes to a message that decodes to the same.
pub fn fanout_wire(data: &[u8]) {
    use sotto_server::fanout::nats::Wire;
    let Some(wire) = Wire::decode(data) else {
        return;
    };
    let again = wire.encode().unwrap();
    assert_eq!(
        Wire::decode(&again).as_ref(),
        Some(&wire),
        "a message re-encodes"
    );
}

/// A relay-log row: what decodes must encode back to the same bytes.
pub fn relay_log(data: &[u8]) {
    use sotto_server::store::relay_log::{decode, put_ack, put_envelope, Record};
    let Ok(records) = decode(data) else {
        return;
    };
    let mut again = Vec::new();
    for record in &records {
        match record {
            Record::Envelope(envelope) => put_envelope(&mut again, envelope).unwrap(),
            Record::Ack { device, seqs } => put_ack(&mut again, device, seqs).unwrap(),
        }
    }
    assert_eq!(again, data, "a decoded row re-encodes to its own bytes");
}
