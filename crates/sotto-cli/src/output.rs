//! What the user sees: JSON lines on stdout for scripts, reports on stderr, and progress
//! spinners only when stderr is a terminal.

use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::ProgressBar;
use serde_json::{json, Value};
use sotto_client::api::UndeliveredReason;
use sotto_client::outbox::UndeliveredTo;
use sotto_client::peers::{DirectoryWarning, Rejected};
use sotto_client::store::state::Delivered;
use sotto_client::sync::Event;

/// A spinner on a terminal, nothing otherwise.
pub struct Progress(ProgressBar);

impl Progress {
    /// Starts a spinner with `message` (hidden when stderr is not a terminal).
    pub fn start(message: &str) -> Self {
        if !std::io::stderr().is_terminal() {
            return Self(ProgressBar::hidden());
        }
        let bar = ProgressBar::new_spinner();
        bar.set_message(message.to_owned());
        bar.enable_steady_tick(Duration::from_millis(100));
        Self(bar)
    }

    /// Runs `f` with the spinner hidden (for printing).
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.0.suspend(f)
    }

    /// Removes the spinner.
    pub fn finish(self) {
        self.0.finish_and_clear();
    }
}

/// Prints one JSON line on stdout and flushes it (so a reader sees it at once).
pub fn line(value: &Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", json_line(value));
    let _ = out.flush();
}

/// Prints a plain line on stdout and flushes it (without control characters, as [`note`]).
pub fn text(value: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", printable(value));
    let _ = out.flush();
}

/// A note for the person, on stderr. Notes quote what the server sent (message ids, sender
/// ids, refusals), so control characters are dropped: a malicious server must not be able to
/// send escape sequences to the user's terminal.
pub fn note(value: &str) {
    eprintln!("sotto: {}", printable(value));
}

/// `value` as JSON, with the C1 control characters escaped too: JSON escapes only U+0000 to
/// U+001F, and some terminals act on U+0080 to U+009F (a message's text is the sender's).
fn json_line(value: &Value) -> String {
    let text = value.to_string();
    let mut line = String::with_capacity(text.len());
    for c in text.chars() {
        if ('\u{80}'..='\u{9f}').contains(&c) {
            let _ = write!(line, "\\u{:04x}", u32::from(c));
        } else {
            line.push(c);
        }
    }
    line
}

fn printable(value: &str) -> String {
    value.chars().filter(|c| !c.is_control()).collect()
}

/// The JSON line of a received message.
pub fn message_json(m: &Delivered) -> Value {
    let mut value = json!({
        "id": m.id,
        "conversation": m.conversation,
        "from": m.from,
        "device": m.device,
        "sent_at": m.sent_at,
        "text": m.text.as_str(),
    });
    if let (true, Some(map)) = (m.request, value.as_object_mut()) {
        // Only on messages of a request, so that every other line keeps its documented keys.
        map.insert("request".to_owned(), Value::Bool(true));
    }
    if let (Some(a), Some(map)) = (&m.attachment, value.as_object_mut()) {
        map.insert(
            "attachment".to_owned(),
            json!({
                "name": a.file_name,
                "media_type": a.media_type,
                "size": a.size,
                "path": a.path,
            }),
        );
    }
    value
}

/// Why a device did not get a message, in words.
pub fn undelivered_reason(reason: UndeliveredReason) -> &'static str {
    match reason {
        UndeliveredReason::QueueFull => {
            "their device's queue is full (it has not collected its messages); it goes out once \
             it does"
        }
        UndeliveredReason::SenderShareFull => {
            "you have as many messages waiting on that device as the server allows one sender; \
             it goes out once they collect them"
        }
        UndeliveredReason::RequestLimit => {
            "they have not accepted the conversation yet and it already holds as many messages as \
             a request may"
        }
        UndeliveredReason::Blocked => "they blocked you",
        UndeliveredReason::Declined => "they declined this conversation",
    }
}

/// The stderr line for one device a message did not reach.
pub fn undelivered_note(u: &UndeliveredTo) -> String {
    match &u.owner {
        Some((_, username)) => format!(
            "not delivered to {username} (device {}): {}",
            u.device,
            undelivered_reason(u.reason)
        ),
        None => format!(
            "not delivered to device {}: {}",
            u.device,
            undelivered_reason(u.reason)
        ),
    }
}

/// The JSON of the devices a message did not reach (`"undelivered"` of `send` and `outbox`).
pub fn undelivered_json(undelivered: &[UndeliveredTo]) -> Value {
    Value::Array(
        undelivered
            .iter()
            .map(|u| {
                json!({
                    "device": u.device,
                    "username": u.owner.as_ref().map(|(_, name)| name),
                    "reason": u.reason.as_str(),
                })
            })
            .collect(),
    )
}

/// What to tell the user about a directory entry their client refused.
pub fn directory_warning(warning: &DirectoryWarning) -> String {
    let user = &warning.username;
    match &warning.rejected {
        Rejected::Device {
            device,
            reason: "device-revoked",
        } => format!(
            "WARNING: the server lists {user}'s revoked device {device} again; it stays revoked \
             and gets no message keys"
        ),
        Rejected::Device { device, reason } => format!(
            "WARNING: the server lists a device {device} for {user} that {user}'s key never \
             approved ({reason}); it gets no message keys. If {user} did not add a device, \
             the server is misbehaving"
        ),
        Rejected::ExchangeKey { device, reason } => format!(
            "{user}'s device {device} has no usable exchange key ({reason}); it does not get new \
             messages until it publishes one"
        ),
    }
}

/// What to tell the user when payloads from one account wait for a decision about its changed
/// identity (once per account, not per message).
pub fn identity_hold_warning(
    username: &str,
    was_verified: bool,
    messages: usize,
    payloads: usize,
) -> String {
    let held = match messages {
        0 => format!("{payloads} key(s) from {username} are held"),
        1 => format!("1 message from {username} is held"),
        n => format!("{n} messages from {username} are held"),
    };
    format!(
        "WARNING: the identity key of {username} has CHANGED since it was pinned{}; {held} and \
         not shown until you review the change: compare the safety number with `sotto verify \
         {username}`, then accept it with `sotto verify {username} --accept-new-identity` (held \
         messages are shown by the next `sotto recv`). If {username} did not change keys, the \
         server may be misbehaving; messages from everyone else keep arriving",
        if was_verified { " and verified" } else { "" }
    )
}

/// Shows one receive event: messages on stdout, everything else on stderr.
pub fn event(event: Event) {
    match event {
        Event::Message(m) => line(&message_json(&m)),
        Event::Failure {
            message_id,
            from,
            reason,
        } => note(&format!(
            "refused {message_id} from {}: {reason} (not shown)",
            if from.is_empty() {
                "unknown sender"
            } else {
                &from
            }
        )),
        Event::Replay { message_id } => {
            note(&format!("dropped {message_id}: already received (replay)"))
        }
        Event::Gap { from, missing } => note(&format!(
            "{missing} message{} from {from} {} missing",
            if missing == 1 { "" } else { "s" },
            if missing == 1 { "is" } else { "are" }
        )),
        Event::Held { message_id } => note(&format!("{message_id} is waiting for its key")),
        Event::IdentityHeld {
            username,
            was_verified,
            messages,
            payloads,
        } => note(&identity_hold_warning(
            &username,
            was_verified,
            messages,
            payloads,
        )),
        Event::KeyRequested { message_id } => note(&format!(
            "asked the sender to resend the key for {message_id}"
        )),
        Event::AttachmentFailed { message_id, reason } => {
            note(&format!("attachment of {message_id} not saved: {reason}"))
        }
        Event::NotSentYet { message_id, reason } => note(&format!(
            "{message_id} (yours) is not sent yet: {reason}; it stays in the outbox"
        )),
        Event::ExchangeKeyNotPublished { reason } => note(&format!(
            "your new exchange key is not published yet: {reason}"
        )),
        Event::HandedOver {
            opened,
            refused,
            chains,
        } => {
            if opened > 0 {
                note(&format!(
                    "took the keys another device of yours handed over ({chains} new chain key(s)): \
                     `sotto history <user|conv:…>` shows earlier messages"
                ));
            }
            if refused > 0 {
                note(&format!(
                    "refused {refused} hand-over(s) that did not come from a verified device of \
                     yours"
                ));
            }
        }
        // `sotto recv` shows its progress while it waits; being connected adds nothing to it.
        Event::Connected => {}
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use sotto_client::store::state::{IncomingAttachment, Secret};
    use sotto_proto::ids::{ConversationId, DeviceId, MessageId};
    use zeroize::Zeroizing;

    use super::*;

    #[test]
    fn a_note_drops_what_could_drive_the_terminal() {
        assert_eq!(
            printable("refused msg:\u{1b}]0;pwned\u{7} from \u{9b}2Jacct:x\r\n: decode"),
            "refused msg:]0;pwned from 2Jacct:x: decode"
        );
    }

    #[test]
    fn a_json_line_escapes_c1_controls_and_means_the_same() {
        let value = json!({ "text": "x\u{9b}2J\u{1b}[0m\u{85}é" });
        let line = json_line(&value);
        assert!(!line.chars().any(char::is_control), "{line:?}");
        assert_eq!(serde_json::from_str::<Value>(&line).unwrap(), value);
    }

    #[test]
    fn a_message_line_has_the_documented_fields() {
        let mut m = Delivered {
            id: MessageId::from_bytes([1; MessageId::LEN]),
            conversation: ConversationId::from_bytes([2; ConversationId::LEN]),
            from: "alice".to_owned(),
            device: DeviceId::from_bytes([3; DeviceId::LEN]),
            sent_at: 1_800_000_000_000,
            text: Zeroizing::new("hello".to_owned()),
            attachment: None,
            request: false,
        };
        let line = message_json(&m);
        let keys: Vec<_> = line.as_object().unwrap().keys().cloned().collect();
        assert_eq!(
            keys,
            ["conversation", "device", "from", "id", "sent_at", "text"]
        );
        m.attachment = Some(IncomingAttachment {
            blob_id: "att:04".to_owned(),
            file_name: "a.pdf".to_owned(),
            media_type: "application/pdf".to_owned(),
            size: 3,
            secret: Secret::new(&[0; 32]),
            sha256: String::new(),
            path: Some("/tmp/a.pdf".to_owned()),
        });
        let line = message_json(&m);
        assert_eq!(line["attachment"]["name"], "a.pdf");
        assert_eq!(line["attachment"]["path"], "/tmp/a.pdf");
        assert!(
            line["attachment"].get("secret").is_none(),
            "no key material in the output"
        );
    }

    #[test]
    fn an_identity_hold_names_the_contact_the_count_and_the_review() {
        let two = identity_hold_warning("bob", true, 2, 3);
        assert!(two.starts_with("WARNING: the identity key of bob has CHANGED"));
        assert!(two.contains("pinned and verified"), "{two}");
        assert!(two.contains("2 messages from bob are held"), "{two}");
        assert!(two.contains("`sotto verify bob`"), "{two}");
        assert!(two.contains("--accept-new-identity"), "{two}");
        let one = identity_hold_warning("bob", false, 1, 1);
        assert!(one.contains("1 message from bob is held"), "{one}");
        assert!(!one.contains("verified;"), "{one}");
        let keys = identity_hold_warning("bob", false, 0, 1);
        assert!(keys.contains("1 key(s) from bob are held"), "{keys}");
    }

    #[test]
    fn directory_warnings_say_what_happened() {
        let warn = |rejected| {
            directory_warning(&DirectoryWarning {
                username: "bob".to_owned(),
                rejected,
            })
        };
        let injected = warn(Rejected::Device {
            device: "dev:aa".to_owned(),
            reason: "no-certificate",
        });
        assert!(injected.starts_with("WARNING: the server lists a device dev:aa for bob"));
        assert!(injected.contains("never approved (no-certificate)"));
        let revoked = warn(Rejected::Device {
            device: "dev:bb".to_owned(),
            reason: "device-revoked",
        });
        assert!(revoked.contains("bob's revoked device dev:bb again; it stays revoked"));
        let keyless = warn(Rejected::ExchangeKey {
            device: "dev:cc".to_owned(),
            reason: "no-exchange-key",
        });
        assert!(!keyless.starts_with("WARNING"), "not an attack: {keyless}");
        assert!(keyless.contains("does not get new messages"));
    }

    #[test]
    fn an_undelivered_device_is_named_with_its_owner_and_the_reason_in_words() {
        let device = DeviceId::from_bytes([4; DeviceId::LEN]);
        let account = sotto_proto::ids::AccountId::from_bytes([5; 32]);
        let named = UndeliveredTo {
            device,
            owner: Some((account, "carol".to_owned())),
            reason: UndeliveredReason::SenderShareFull,
        };
        let line = undelivered_note(&named);
        assert!(
            line.starts_with(&format!("not delivered to carol (device {device}): ")),
            "{line}"
        );
        let json = undelivered_json(std::slice::from_ref(&named));
        assert_eq!(json[0]["username"], "carol");
        assert_eq!(json[0]["reason"], "sender_share_full");
        assert_eq!(json[0]["device"], device.to_string());
        let unnamed = UndeliveredTo {
            owner: None,
            ..named
        };
        assert!(undelivered_note(&unnamed).starts_with("not delivered to device dev:"));
        assert!(undelivered_json(&[unnamed])[0]["username"].is_null());
    }

    #[test]
    fn only_a_message_of_a_request_carries_the_request_flag() {
        let mut m = Delivered {
            id: MessageId::from_bytes([1; MessageId::LEN]),
            conversation: ConversationId::from_bytes([2; ConversationId::LEN]),
            from: "mallory".to_owned(),
            device: DeviceId::from_bytes([3; DeviceId::LEN]),
            sent_at: 1,
            text: Zeroizing::new("hi".to_owned()),
            attachment: None,
            request: false,
        };
        assert!(message_json(&m).get("request").is_none());
        m.request = true;
        assert_eq!(message_json(&m)["request"], true);
    }
}
