//! The WebSocket frames as the server writes them. The frame types themselves live in
//! `sotto-wire` (one home for server and clients); this module re-exports them and adds the two
//! frames written by hand on the hot path, each with a test that its bytes equal the serde form.

use sotto_proto::ids::MessageId;
pub use sotto_wire::api::{Undelivered, UndeliveredReason};
pub use sotto_wire::frames::{
    ClientFrame, ServerFrame, SignalKind, MAX_ACK_IDS, MAX_SIGNAL_PAYLOAD,
};

use crate::hub::OutEnvelope;

/// The `envelope` frame, written by hand: it is the one frame sent for every delivered copy,
/// and serde's generic path formatted every id byte by byte and scanned the ~1 KiB of base64
/// for characters to escape. Every value here is JSON-safe as is (`prefix:` and lowercase hex,
/// integers, base64), the body is encoded straight into the frame, and a test checks the bytes
/// equal [`ServerFrame::Envelope`]'s.
pub fn envelope_json(seq: i64, e: &OutEnvelope) -> String {
    use base64::Engine;
    use std::fmt::Write;
    let mut out = String::with_capacity(envelope_frame_capacity(e.body.len()));
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

/// The bytes of an `envelope` frame around its body's base64 at most: 146 of keys and
/// punctuation, 192 of ids in hex, and two integers of at most 20 characters each.
const ENVELOPE_FRAME_TEXT: usize = 378;

/// What an `envelope` frame for a body of `body_len` bytes needs at most, so that writing it
/// never grows (and copies) the string.
fn envelope_frame_capacity(body_len: usize) -> usize {
    ENVELOPE_FRAME_TEXT + body_len.div_ceil(3) * 4
}

/// The `sent` frame, written by hand for the same reasons as [`envelope_json`] (one per
/// envelope); a test checks it against [`ServerFrame::Sent`].
pub fn sent_json(
    id: u64,
    message: &MessageId,
    recipients: usize,
    undelivered: &[Undelivered],
) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(128 + undelivered.len() * 100);
    out.push_str(r#"{"type":"sent","id":"#);
    let _ = write!(out, "{id}");
    push_id(&mut out, r#","message_id":"msg:"#, message.as_bytes());
    out.push_str(r#"","recipients":"#);
    let _ = write!(out, "{recipients}");
    out.push_str(r#","undelivered":["#);
    for (i, u) in undelivered.iter().enumerate() {
        push_id(
            &mut out,
            if i == 0 {
                r#"{"device":"dev:"#
            } else {
                r#",{"device":"dev:"#
            },
            u.device.as_bytes(),
        );
        out.push_str(r#"","reason":""#);
        out.push_str(u.reason.as_str());
        out.push_str(r#""}"#);
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

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
            conversation: e.conversation,
            message_id: e.message,
            sender_account: e.sender_account,
            sender_device: e.sender_device,
            received_at: e.received_at,
            envelope: Cow::Borrowed("AAEC/+8="),
        }
        .to_json();
        assert_eq!(envelope_json(9_007_199_254_740_993, &e), serde);
    }

    #[test]
    fn an_envelope_frame_is_written_without_growing_its_string() {
        use sotto_proto::ids::{AccountId, ConversationId, DeviceId, MessageId};
        for body_len in [0, 1, 2, 3, 815, 1_024, 190_000] {
            let e = OutEnvelope {
                message: MessageId::from_bytes([0xff; 16]),
                conversation: ConversationId::from_bytes([0xff; 16]),
                sender_account: AccountId::from_bytes([0xff; 32]),
                sender_device: DeviceId::from_bytes([0xff; 32]),
                received_at: i64::MIN,
                body: vec![0xfe; body_len],
            };
            let frame = envelope_json(i64::MIN, &e);
            assert_eq!(
                frame.capacity(),
                envelope_frame_capacity(body_len),
                "{body_len}: the string grew"
            );
            assert_eq!(
                frame.len(),
                envelope_frame_capacity(body_len),
                "{body_len}: the longest integers fill it"
            );
        }
    }

    #[test]
    fn the_hand_written_sent_frame_is_the_serde_one() {
        use sotto_proto::ids::DeviceId;
        let message = MessageId::from_bytes(std::array::from_fn(|i| 0xf0 ^ i as u8));
        let devices: Vec<DeviceId> = (0..3u8)
            .map(|k| DeviceId::from_bytes(std::array::from_fn(|i| k.wrapping_mul(37) ^ i as u8)))
            .collect();
        let reasons = [
            UndeliveredReason::QueueFull,
            UndeliveredReason::SenderShareFull,
            UndeliveredReason::RequestLimit,
            UndeliveredReason::Blocked,
            UndeliveredReason::Declined,
        ];
        let undelivered: Vec<Undelivered> = devices
            .iter()
            .zip(reasons.iter().cycle())
            .map(|(&device, &reason)| Undelivered { device, reason })
            .collect();
        for some in [&undelivered[..0], &undelivered[..1], &undelivered[..]] {
            for (id, recipients) in [(0, 0), (u64::MAX, 7)] {
                let serde = ServerFrame::Sent {
                    id,
                    message_id: message,
                    recipients,
                    undelivered: some.to_vec(),
                }
                .to_json();
                assert_eq!(sent_json(id, &message, recipients, some), serde);
            }
        }
    }
}
