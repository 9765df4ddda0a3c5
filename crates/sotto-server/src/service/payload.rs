//! What the relay checks in a payload before it queues it. The server cannot read a message,
//! but it can read the public headers of the three things devices send one another and refuse
//! those that lie about where they come from or where they go:
//! - an **envelope** (`sotto/msg`): its header must name the conversation it is posted to, the
//!   message id it is posted under, and the sending account and device; it goes to every other
//!   device of the members;
//! - a **key distribution** (`sotto/kdm`): conversation and sender as above; it goes only to the
//!   recipient device its header names;
//! - a **key request** (`sotto/key-request`, signed): conversation and requester as above; it
//!   goes only to the chain owner's device.
//!
//! Signatures are left to the receiving devices (they verify before decrypting or storing);
//! checking them here would cost an RSA operation per envelope on the relay's hot path.

use sotto_proto::ids::{AccountId, ConversationId, DeviceId, MessageId};
use sotto_proto::payload::Payload;

use crate::error::{Error, Result};

/// Who a payload claims to be from and where it is posted.
#[derive(Clone, Copy, Debug)]
pub struct Claim {
    /// The conversation in the request.
    pub conversation: ConversationId,
    /// The message id in the request.
    pub message: MessageId,
    /// The authenticated account.
    pub account: AccountId,
    /// The authenticated device.
    pub device: DeviceId,
    /// The `to` field of the request.
    pub to: Option<DeviceId>,
}

fn mismatch(reason: &'static str) -> Error {
    Error::InvalidField {
        field: "envelope",
        reason,
    }
}

/// Checks the payload's header against the claim; returns the single recipient device for
/// distributions and key requests, `None` for envelopes (all member devices).
pub fn check(bytes: &[u8], claim: &Claim) -> Result<Option<DeviceId>> {
    // The kind is read from the payload's domain label, once (`sotto_proto::payload`).
    let Ok(payload) = Payload::decode(bytes) else {
        return Err(mismatch(
            "not a Sotto envelope, key distribution or key request",
        ));
    };
    match payload {
        Payload::Message(envelope) => {
            let h = envelope.header();
            if h.conversation != claim.conversation {
                return Err(mismatch("header names another conversation"));
            }
            if h.message_id != claim.message {
                return Err(mismatch("header names another message id"));
            }
            if h.sender_account != claim.account || h.sender_device != claim.device {
                return Err(mismatch("header names another sender"));
            }
            if claim.to.is_some() {
                return Err(mismatch("messages go to every member device; omit `to`"));
            }
            Ok(None)
        }
        Payload::Distribution(kdm) => {
            let h = kdm.header();
            if h.conversation != claim.conversation {
                return Err(mismatch("header names another conversation"));
            }
            if h.sender_account != claim.account || h.sender_device != claim.device {
                return Err(mismatch("header names another sender"));
            }
            if claim.to.is_some_and(|to| to != h.recipient_device) {
                return Err(mismatch("`to` differs from the header's recipient"));
            }
            Ok(Some(h.recipient_device))
        }
        Payload::KeyRequest { request, .. } => {
            if request.conversation != claim.conversation {
                return Err(mismatch("request names another conversation"));
            }
            if request.requester_account != claim.account
                || request.requester_device != claim.device
            {
                return Err(mismatch("request names another requester"));
            }
            if claim.to.is_some_and(|to| to != request.owner_device) {
                return Err(mismatch("`to` differs from the chain owner"));
            }
            Ok(Some(request.owner_device))
        }
    }
}
