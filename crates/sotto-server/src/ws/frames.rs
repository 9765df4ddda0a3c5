//! WebSocket frames: JSON text frames with a `type` tag; binary payloads are standard padded
//! base64. Client frames are parsed strictly (unknown fields and types refused, integers
//! bounded, a size cap enforced by the transport before parsing) and borrow their strings from
//! the frame's text where JSON needs no unescaping. `docs/api.md` lists them all.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use sotto_proto::ids::{DeviceId, MessageId};

use crate::hub::OutEnvelope;

/// Message ids one `ack` frame may carry.
pub const MAX_ACK_IDS: usize = 512;
/// Bytes of a signal payload (receipts, typing) before base64.
pub const MAX_SIGNAL_PAYLOAD: usize = 1024;

/// What a client may send (its strings borrowed from the frame's text when possible).
#[derive(Debug, Deserialize, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientFrame<'a> {
    /// The first frame, unless the ticket came as a cookie.
    Auth {
        /// A ticket from `POST /v1/ws/ticket`.
        #[serde(borrow)]
        ticket: Cow<'a, str>,
    },
    /// An envelope for a conversation.
    Send {
        /// Client-chosen correlation number, echoed in `sent` or `error`.
        id: u64,
        /// `conv:…`.
        #[serde(borrow)]
        conversation: Cow<'a, str>,
        /// `msg:…`, the de-duplication key.
        #[serde(borrow)]
        message_id: Cow<'a, str>,
        /// The envelope, base64.
        #[serde(borrow)]
        envelope: Cow<'a, str>,
        /// `dev:…`: deliver to this member device only (key distributions).
        #[serde(default, borrow)]
        to: Option<Cow<'a, str>>,
    },
    /// Envelopes processed: delete their copies.
    Ack {
        /// `msg:…` ids (at most 512).
        #[serde(borrow)]
        message_ids: Vec<Text<'a>>,
    },
    /// A small real-time notice to the conversation's online devices.
    Signal {
        /// `conv:…`.
        #[serde(borrow)]
        conversation: Cow<'a, str>,
        /// What kind of notice.
        kind: SignalKind,
        /// Optional base64 payload (encrypted by the client when it has content), ≤ 1 KiB.
        #[serde(default, borrow)]
        payload: Option<Cow<'a, str>>,
    },
    /// Keep-alive; answered with `pong`.
    Ping {},
}

/// A string of a client frame inside a list, borrowed from the frame's text unless JSON
/// escapes had to be undone (serde borrows a `Cow` field, but not the items of a `Vec<Cow>`).
#[derive(Debug, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Text<'a>(#[serde(borrow)] pub Cow<'a, str>);

impl std::ops::Deref for Text<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

/// Kinds of signal.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SignalKind {
    /// The sender is typing.
    Typing,
    /// The sender stopped typing.
    Stopped,
    /// Delivery receipt (payload: encrypted message ids).
    Delivered,
    /// Read receipt (payload: encrypted message ids).
    Read,
}

/// What the server sends.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame<'a> {
    /// Authenticated; the queue follows.
    Ready {
        /// `acct:…` (absent before a master key is set).
        account: Option<String>,
        /// `dev:…`.
        device: String,
        /// `sess:…`.
        session: String,
    },
    /// A queued envelope.
    Envelope {
        /// Increasing sequence number in this device's queue.
        seq: i64,
        /// `conv:…`.
        conversation: String,
        /// `msg:…`.
        message_id: String,
        /// `acct:…` of the sender.
        sender_account: String,
        /// `dev:…` of the sender.
        sender_device: String,
        /// Server receive time, ms since the epoch.
        received_at: i64,
        /// The envelope, base64.
        envelope: &'a str,
    },
    /// A `send` is durable.
    Sent {
        /// The client's correlation number.
        id: u64,
        /// `msg:…`.
        message_id: String,
        /// Devices that got a copy.
        recipients: usize,
        /// Devices whose queue is full (they got no copy).
        queue_full: Vec<String>,
    },
    /// An `ack` was applied.
    Acked {
        /// Copies deleted.
        count: u64,
    },
    /// A signal from another device.
    Signal {
        /// `conv:…`.
        conversation: String,
        /// The kind.
        kind: SignalKind,
        /// `acct:…` of the sender.
        from_account: String,
        /// `dev:…` of the sender.
        from_device: String,
        /// Payload, base64.
        payload: Option<String>,
    },
    /// Answer to `ping`.
    Pong,
    /// A frame was refused.
    Error {
        /// The `id` of the refused `send`, if any.
        id: Option<u64>,
        /// Stable code (as in HTTP error bodies).
        error: &'static str,
        /// Explanation.
        message: String,
    },
}

/// The `envelope` frame, written by hand: it is the one frame sent for every delivered copy,
/// and serde's generic path formatted every id byte by byte and scanned the ~1 KiB of base64
/// for characters to escape. Every value here is JSON-safe as is (`prefix:` and lowercase hex,
/// integers, base64), the body is encoded straight into the frame, and a test checks the bytes
/// equal [`ServerFrame::Envelope`]'s.
pub fn envelope_json(seq: i64, e: &OutEnvelope) -> String {
    use base64::Engine;
    use std::fmt::Write;
    let mut out = String::with_capacity(320 + e.body.len().div_ceil(3) * 4);
    out.push_str(r#"{"type":"envelope","seq":"#);
    let _ = write!(out, "{seq}");
    push_id(
        &mut out,
        r#","conversation":"conv:"#,
        e.conversation.as_bytes(),
    );
    push_id(&mut out, r#"","message_id":"msg:"#, e.message.as_bytes());
    push_id(
        &mut out,
        r#"","sender_account":"acct:"#,
        e.sender_account.as_bytes(),
    );
    push_id(
        &mut out,
        r#"","sender_device":"dev:"#,
        e.sender_device.as_bytes(),
    );
    out.push_str(r#"","received_at":"#);
    let _ = write!(out, "{}", e.received_at);
    out.push_str(r#","envelope":""#);
    base64::engine::general_purpose::STANDARD.encode_string(&e.body, &mut out);
    out.push_str(r#""}"#);
    out
}

/// The `sent` frame, written by hand for the same reasons as [`envelope_json`] (one per
/// envelope); a test checks it against [`ServerFrame::Sent`].
pub fn sent_json(id: u64, message: &MessageId, recipients: usize, full: &[DeviceId]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(128 + full.len() * 72);
    out.push_str(r#"{"type":"sent","id":"#);
    let _ = write!(out, "{id}");
    push_id(&mut out, r#","message_id":"msg:"#, message.as_bytes());
    out.push_str(r#"","recipients":"#);
    let _ = write!(out, "{recipients}");
    out.push_str(r#","queue_full":["#);
    for (i, device) in full.iter().enumerate() {
        push_id(
            &mut out,
            if i == 0 { r#""dev:"# } else { r#"","dev:"# },
            device.as_bytes(),
        );
    }
    if !full.is_empty() {
        out.push('"');
    }
    out.push_str("]}");
    out
}

/// Appends `prefix` and the bytes in lowercase hex (the ids' `Display` form).
fn push_id(out: &mut String, prefix: &str, bytes: &[u8]) {
    out.push_str(prefix);
    for byte in bytes {
        // Both nibbles are below 16, so `from_digit` always has a (lowercase) digit.
        out.push(char::from_digit(u32::from(byte >> 4), 16).unwrap_or('0'));
        out.push(char::from_digit(u32::from(byte & 0x0f), 16).unwrap_or('0'));
    }
}

impl ServerFrame<'_> {
    /// The JSON text.
    pub fn to_json(&self) -> String {
        // Serialising these plain structs cannot fail; fall back to a fixed error frame.
        serde_json::to_string(self).unwrap_or_else(|_| {
            r#"{"type":"error","id":null,"error":"internal","message":"encoding failed"}"#
                .to_owned()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ClientFrame<'_>, serde_json::Error> {
        serde_json::from_str(text)
    }

    #[test]
    fn the_hand_written_envelope_frame_is_the_serde_one() {
        use sotto_proto::ids::{AccountId, ConversationId, DeviceId, MessageId};
        let e = OutEnvelope {
            message: MessageId::from_bytes([0xa7; 16]),
            conversation: ConversationId::from_bytes(std::array::from_fn(|i| i as u8)),
            sender_account: AccountId::from_bytes([0x0f; 32]),
            sender_device: DeviceId::from_bytes(std::array::from_fn(|i| 255 - i as u8)),
            received_at: 1_700_000_000_123,
            body: vec![0, 1, 2, 0xff, 0xef],
        };
        let serde = ServerFrame::Envelope {
            seq: 9_007_199_254_740_993,
            conversation: e.conversation.to_string(),
            message_id: e.message.to_string(),
            sender_account: e.sender_account.to_string(),
            sender_device: e.sender_device.to_string(),
            received_at: e.received_at,
            envelope: "AAEC/+8=",
        }
        .to_json();
        assert_eq!(envelope_json(9_007_199_254_740_993, &e), serde);
    }

    #[test]
    fn the_hand_written_sent_frame_is_the_serde_one() {
        let message = MessageId::from_bytes(std::array::from_fn(|i| 0xf0 ^ i as u8));
        let devices: Vec<DeviceId> = (0..3u8)
            .map(|k| DeviceId::from_bytes(std::array::from_fn(|i| k.wrapping_mul(37) ^ i as u8)))
            .collect();
        for full in [&devices[..0], &devices[..1], &devices[..]] {
            for (id, recipients) in [(0, 0), (u64::MAX, 7)] {
                let serde = ServerFrame::Sent {
                    id,
                    message_id: message.to_string(),
                    recipients,
                    queue_full: full.iter().map(ToString::to_string).collect(),
                }
                .to_json();
                assert_eq!(sent_json(id, &message, recipients, full), serde);
            }
        }
    }

    #[test]
    fn strict_parsing() {
        assert_eq!(parse(r#"{"type":"ping"}"#).unwrap(), ClientFrame::Ping {});
        assert!(parse(r#"{"type":"ack","message_ids":[],"x":1}"#).is_err());
        assert!(parse(r#"{"type":"ping","x":1}"#).is_err());
        assert!(parse(r#"{"type":"nope"}"#).is_err());
        assert!(parse(r#"{"type":"auth"}"#).is_err());
        assert!(parse(r#"{"type":"auth","ticket":"a","ticket":"b"}"#).is_err());
        assert!(parse(r#"{"type":"send","id":18446744073709551616,"conversation":"c","message_id":"m","envelope":""}"#).is_err());
        assert!(parse(
            r#"{"type":"send","id":-1,"conversation":"c","message_id":"m","envelope":""}"#
        )
        .is_err());
        assert!(parse(r#"{"type":"ack","message_ids":"x"}"#).is_err());
        assert!(parse(&format!("{}{}", "[".repeat(200), "]".repeat(200))).is_err());
        let send = parse(
            r#"{"type":"send","id":1,"conversation":"c","message_id":"m","envelope":"AA=="}"#,
        )
        .unwrap();
        assert!(matches!(send, ClientFrame::Send { to: None, .. }));
        assert!(parse(r#"{"type":"signal","conversation":"c","kind":"typing"}"#).is_ok());
        assert!(parse(r#"{"type":"signal","conversation":"c","kind":"shout"}"#).is_err());
    }

    #[test]
    fn strings_are_borrowed_unless_escaped() {
        let text = r#"{"type":"ack","message_ids":["msg:ab","msg:\u0061b"]}"#;
        let Ok(ClientFrame::Ack { message_ids }) = parse(text) else {
            panic!("not an ack")
        };
        assert!(matches!(message_ids[0].0, Cow::Borrowed("msg:ab")));
        assert!(matches!(&message_ids[1].0, Cow::Owned(s) if s == "msg:ab"));
        let text =
            r#"{"type":"send","id":1,"conversation":"c","message_id":"m","envelope":"AA\/A"}"#;
        let Ok(ClientFrame::Send {
            envelope,
            message_id,
            ..
        }) = parse(text)
        else {
            panic!("not a send")
        };
        assert!(matches!(message_id, Cow::Borrowed("m")));
        assert_eq!(envelope, "AA/A");
    }
}
