//! WebSocket frames: JSON text frames with a `type` tag; binary payloads are standard padded
//! base64. The server parses [`ClientFrame`]s strictly (unknown fields and types refused,
//! integers bounded, ids checked as they are read, a size cap enforced by the transport before
//! parsing) and borrows the large strings (envelopes, payloads) from the frame's text where JSON
//! needs no unescaping. Clients read [`ServerFrame`]s with the same types. `docs/api.md` lists
//! them all.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use sotto_proto::ids::{AccountId, ConversationId, DeviceId, MessageId};

use crate::api::Undelivered;
use crate::error::ErrorCode;
use crate::ids::SessionId;
use crate::secret::Secret;

/// Message ids one `ack` frame may carry (a client acknowledges a longer list in chunks).
pub const MAX_ACK_IDS: usize = 512;
/// Bytes of a signal payload (receipts, typing) before base64: a few encrypted message ids,
/// not a side channel for content.
pub const MAX_SIGNAL_PAYLOAD: usize = 1024;

/// What a client may send (large strings borrowed from the frame's text when possible).
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientFrame<'a> {
    /// The first frame, unless the ticket came as a cookie.
    Auth {
        /// A ticket from `POST /v1/ws/ticket`.
        ticket: Secret,
    },
    /// An envelope for a conversation.
    Send {
        /// Client-chosen correlation number, echoed in `sent` or `error`.
        id: u64,
        /// The conversation.
        conversation: ConversationId,
        /// The de-duplication key.
        message_id: MessageId,
        /// The envelope, base64.
        #[serde(borrow)]
        envelope: Cow<'a, str>,
        /// Deliver to this member device only (key distributions).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<DeviceId>,
    },
    /// Envelopes processed: delete their copies.
    Ack {
        /// At most [`MAX_ACK_IDS`].
        message_ids: Vec<MessageId>,
    },
    /// A small real-time notice to the conversation's online devices.
    Signal {
        /// The conversation.
        conversation: ConversationId,
        /// What kind of notice.
        kind: SignalKind,
        /// Optional base64 payload (encrypted by the client when it has content), at most
        /// [`MAX_SIGNAL_PAYLOAD`] bytes decoded.
        #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
        payload: Option<Cow<'a, str>>,
    },
    /// Keep-alive; answered with `pong`.
    Ping {},
}

/// Kinds of signal.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
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
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame<'a> {
    /// Authenticated; the queue follows.
    Ready {
        /// The account (absent before a master key is set).
        account: Option<AccountId>,
        /// This device.
        device: DeviceId,
        /// This session.
        session: SessionId,
    },
    /// A queued envelope.
    Envelope {
        /// Increasing sequence number in this device's queue.
        seq: i64,
        /// The conversation.
        conversation: ConversationId,
        /// The message.
        message_id: MessageId,
        /// The sender's account.
        sender_account: AccountId,
        /// The sender's device.
        sender_device: DeviceId,
        /// Server receive time, ms since the epoch.
        received_at: i64,
        /// The envelope, base64.
        #[serde(borrow)]
        envelope: Cow<'a, str>,
    },
    /// A `send` is durable.
    Sent {
        /// The client's correlation number.
        id: u64,
        /// The message.
        message_id: MessageId,
        /// Devices that got a copy.
        recipients: usize,
        /// Member devices that got no copy, with the reason.
        #[serde(default)]
        undelivered: Vec<Undelivered>,
    },
    /// An `ack` was applied.
    Acked {
        /// Copies deleted.
        count: u64,
    },
    /// A signal from another device.
    Signal {
        /// The conversation.
        conversation: ConversationId,
        /// The kind.
        kind: SignalKind,
        /// The sender's account.
        from_account: AccountId,
        /// The sender's device.
        from_device: DeviceId,
        /// Payload, base64.
        #[serde(borrow)]
        payload: Option<Cow<'a, str>>,
    },
    /// Answer to `ping`.
    Pong,
    /// A device hand-over is waiting for this device (`GET /v1/handovers`).
    Handover,
    /// This conversation's group log changed (`GET /v1/conversations/{c}` shows the change).
    /// Sent to the members after the change and to a member the change removed, so an invitee
    /// sees a new group at once and a removed member learns of its removal.
    Conversation {
        /// The conversation.
        conversation: ConversationId,
    },
    /// A frame was refused.
    Error {
        /// The `id` of the refused `send`, if any.
        id: Option<u64>,
        /// Stable code (as in HTTP error bodies).
        error: ErrorCode,
        /// Explanation.
        message: String,
        /// The protocol's code for a `rejected` refusal; absent otherwise.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<String>,
    },
}

impl ClientFrame<'_> {
    /// The JSON text.
    pub fn to_json(&self) -> String {
        // These plain structs always serialize; an empty string would be refused by the server.
        serde_json::to_string(self).unwrap_or_default()
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

    /// The same frame owning its strings (to keep it past the text it was read from).
    pub fn into_owned(self) -> ServerFrame<'static> {
        match self {
            Self::Ready {
                account,
                device,
                session,
            } => ServerFrame::Ready {
                account,
                device,
                session,
            },
            Self::Envelope {
                seq,
                conversation,
                message_id,
                sender_account,
                sender_device,
                received_at,
                envelope,
            } => ServerFrame::Envelope {
                seq,
                conversation,
                message_id,
                sender_account,
                sender_device,
                received_at,
                envelope: Cow::Owned(envelope.into_owned()),
            },
            Self::Sent {
                id,
                message_id,
                recipients,
                undelivered,
            } => ServerFrame::Sent {
                id,
                message_id,
                recipients,
                undelivered,
            },
            Self::Acked { count } => ServerFrame::Acked { count },
            Self::Signal {
                conversation,
                kind,
                from_account,
                from_device,
                payload,
            } => ServerFrame::Signal {
                conversation,
                kind,
                from_account,
                from_device,
                payload: payload.map(|p| Cow::Owned(p.into_owned())),
            },
            Self::Pong => ServerFrame::Pong,
            Self::Handover => ServerFrame::Handover,
            Self::Conversation { conversation } => ServerFrame::Conversation { conversation },
            Self::Error {
                id,
                error,
                message,
                code,
            } => ServerFrame::Error {
                id,
                error,
                message,
                code,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ClientFrame<'_>, serde_json::Error> {
        serde_json::from_str(text)
    }

    fn conv() -> ConversationId {
        ConversationId::from_bytes([0xc0; 16])
    }

    fn msg() -> MessageId {
        MessageId::from_bytes([0x5a; 16])
    }

    #[test]
    fn client_frames_are_parsed_strictly() {
        let (c, m) = (conv(), msg());
        assert!(matches!(
            parse(r#"{"type":"ping"}"#).unwrap(),
            ClientFrame::Ping {}
        ));
        assert!(parse(r#"{"type":"ack","message_ids":[],"x":1}"#).is_err());
        assert!(parse(r#"{"type":"ping","x":1}"#).is_err());
        assert!(parse(r#"{"type":"nope"}"#).is_err());
        assert!(parse(r#"{"type":"auth"}"#).is_err());
        assert!(parse(r#"{"type":"auth","ticket":"a","ticket":"b"}"#).is_err());
        let send = |id: &str, c: &str, m: &str| {
            format!(
                r#"{{"type":"send","id":{id},"conversation":"{c}","message_id":"{m}","envelope":"AA=="}}"#
            )
        };
        let ok = send("1", &c.to_string(), &m.to_string());
        assert!(matches!(
            parse(&ok).unwrap(),
            ClientFrame::Send { to: None, conversation, message_id, .. }
                if conversation == c && message_id == m
        ));
        assert!(parse(&send(
            "18446744073709551616",
            &c.to_string(),
            &m.to_string()
        ))
        .is_err());
        assert!(parse(&send("-1", &c.to_string(), &m.to_string())).is_err());
        // Ids are checked as they are read: a wrong kind, a second spelling, junk.
        assert!(parse(&send("1", &m.to_string(), &m.to_string())).is_err());
        assert!(parse(&send("1", &c.to_string().to_uppercase(), &m.to_string())).is_err());
        assert!(parse(&send("1", "c", "m")).is_err());
        assert!(parse(r#"{"type":"ack","message_ids":"x"}"#).is_err());
        assert!(parse(&format!("{}{}", "[".repeat(200), "]".repeat(200))).is_err());
        let signal = format!(r#"{{"type":"signal","conversation":"{c}","kind":"typing"}}"#);
        assert!(parse(&signal).is_ok());
        assert!(parse(&signal.replace("typing", "shout")).is_err());
    }

    #[test]
    fn large_strings_are_borrowed_unless_escaped() {
        let (c, m) = (conv(), msg());
        let text = format!(
            r#"{{"type":"send","id":1,"conversation":"{c}","message_id":"{m}","envelope":"AAAA"}}"#
        );
        let Ok(ClientFrame::Send { envelope, .. }) = parse(&text) else {
            panic!("not a send")
        };
        assert!(matches!(envelope, Cow::Borrowed("AAAA")));
        let text = text.replace("AAAA", r"AA\/A");
        let Ok(ClientFrame::Send { envelope, .. }) = parse(&text) else {
            panic!("not a send")
        };
        assert_eq!(envelope, "AA/A");
        // An escaped id still reads as the id.
        let escaped = m.to_string().replacen("msg", r"\u006dsg", 1);
        let text = format!(r#"{{"type":"ack","message_ids":["{escaped}"]}}"#);
        assert!(matches!(
            parse(&text).unwrap(),
            ClientFrame::Ack { message_ids } if message_ids == vec![m]
        ));
    }

    #[test]
    fn what_a_client_writes_the_server_reads_back() {
        let frames = [
            ClientFrame::Auth {
                ticket: Secret::new("sotto_wt_x"),
            },
            ClientFrame::Send {
                id: 7,
                conversation: conv(),
                message_id: msg(),
                envelope: Cow::Borrowed("AA=="),
                to: Some(DeviceId::from_bytes([1; 32])),
            },
            ClientFrame::Ack {
                message_ids: vec![msg(); 3],
            },
            ClientFrame::Signal {
                conversation: conv(),
                kind: SignalKind::Read,
                payload: None,
            },
            ClientFrame::Ping {},
        ];
        for frame in frames {
            let json = frame.to_json();
            // Frames are not `PartialEq` (a ticket is a secret): compared by what they write.
            assert_eq!(parse(&json).unwrap().to_json(), json);
        }
    }

    #[test]
    fn a_ticket_never_shows_in_debug() {
        let frame = ClientFrame::Auth {
            ticket: Secret::new("sotto_wt_secret"),
        };
        assert!(!format!("{frame:?}").contains("sotto_wt_secret"));
    }

    #[test]
    fn server_frames_keep_their_json_shape_and_read_back() {
        let device = DeviceId::from_bytes([2; 32]);
        let account = AccountId::from_bytes([3; 32]);
        let ready = ServerFrame::Ready {
            account: None,
            device,
            session: SessionId([4; 16]),
        };
        assert_eq!(
            ready.to_json(),
            format!(
                r#"{{"type":"ready","account":null,"device":"{device}","session":"sess:{}"}}"#,
                "04".repeat(16)
            )
        );
        let error = ServerFrame::Error {
            id: Some(3),
            error: ErrorCode::Conflict,
            message: "already authenticated".into(),
            code: None,
        };
        assert_eq!(
            error.to_json(),
            r#"{"type":"error","id":3,"error":"conflict","message":"already authenticated"}"#
        );
        let signal = ServerFrame::Signal {
            conversation: conv(),
            kind: SignalKind::Typing,
            from_account: account,
            from_device: device,
            payload: None,
        };
        let changed = ServerFrame::Conversation {
            conversation: conv(),
        };
        assert_eq!(
            changed.to_json(),
            format!(r#"{{"type":"conversation","conversation":"{}"}}"#, conv())
        );
        for frame in [ready, error, signal, changed, ServerFrame::Pong] {
            let json = frame.to_json();
            let back: ServerFrame<'_> = serde_json::from_str(&json).unwrap();
            assert_eq!(back.into_owned(), frame);
        }
    }
}
