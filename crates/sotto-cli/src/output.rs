//! What the user sees: JSON lines on stdout for scripts, reports on stderr, and progress
//! spinners only when stderr is a terminal.

use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::ProgressBar;
use serde_json::{json, Value};
use sotto_client::api::UndeliveredReason;
use sotto_client::messages::SearchHit;
use sotto_client::outbox::UndeliveredTo;
use sotto_client::peers::{DirectoryWarning, Rejected};
use sotto_client::prekeys::PrekeyStatus;
use sotto_client::store::state::{Amendment, Change, Delivered, Mention};
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

/// The JSON line of a received (or stored) message: its current text (the latest edit's),
/// with `reply_to`, `mentions` (usernames), `edited`, `reactions` and, once deleted,
/// `"deleted": <its own id>` and an empty text, each only when it applies.
pub fn message_json(m: &Delivered) -> Value {
    let mut value = json!({
        "id": m.id,
        "conversation": m.conversation,
        "from": m.from,
        "device": m.device,
        "sent_at": m.sent_at,
        "text": m.current_text(),
    });
    let Some(map) = value.as_object_mut() else {
        return value;
    };
    // Optional keys only when they apply, so that every other line keeps its documented keys.
    if m.request {
        map.insert("request".to_owned(), Value::Bool(true));
    }
    if let Some(a) = &m.attachment {
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
    if let Some(reply_to) = m.reply_to {
        map.insert("reply_to".to_owned(), json!(reply_to));
    }
    if !m.current_mentions().is_empty() {
        map.insert("mentions".to_owned(), mention_names(m.current_mentions()));
    }
    if m.is_edited() {
        map.insert("edited".to_owned(), Value::Bool(true));
        // The earlier texts stay available to the reader (§8.5): the original, then every
        // edit but the one shown.
        let mut earlier = vec![json!({ "text": m.text.as_str(), "sent_at": m.sent_at })];
        let edits = &m.amended.edits;
        earlier.extend(
            edits
                .iter()
                .take(edits.len().saturating_sub(1))
                .map(|e| json!({ "text": e.text.as_str(), "sent_at": e.sent_at })),
        );
        map.insert("edits".to_owned(), Value::Array(earlier));
    }
    if m.amended.deleted {
        map.insert("deleted".to_owned(), json!(m.id));
    }
    let reactions = reactions_json(m);
    if !reactions.is_empty() {
        map.insert("reactions".to_owned(), Value::Array(reactions));
    }
    value
}

/// The usernames of mentioned members.
fn mention_names(mentions: &[Mention]) -> Value {
    Value::Array(
        mentions
            .iter()
            .map(|m| Value::String(m.username.clone()))
            .collect(),
    )
}

/// The reactions that stand, grouped by reaction in the order first given, with who gave each.
fn grouped_reactions(m: &Delivered) -> Vec<(String, Vec<String>)> {
    let mut grouped: Vec<(String, Vec<String>)> = Vec::new();
    for r in m.shown_reactions() {
        match grouped.iter_mut().find(|(emoji, _)| *emoji == r.emoji) {
            Some((_, names)) => names.push(r.username.clone()),
            None => grouped.push((r.emoji.clone(), vec![r.username.clone()])),
        }
    }
    grouped
}

/// The reactions that stand: `[{"emoji", "usernames"}]`.
fn reactions_json(m: &Delivered) -> Vec<Value> {
    grouped_reactions(m)
        .into_iter()
        .map(|(emoji, usernames)| json!({ "emoji": emoji, "usernames": usernames }))
        .collect()
}

/// The JSON line of an edit, delete or reaction received: the amendment's own `id`, sender and
/// time, and `edit_of` with the new `text` (and `mentions`), `deleted`, or `reaction`.
pub fn amendment_json(a: &Amendment) -> Value {
    let mut value = json!({
        "id": a.id,
        "conversation": a.conversation,
        "from": a.from,
        "device": a.device,
        "sent_at": a.sent_at,
    });
    let Some(map) = value.as_object_mut() else {
        return value;
    };
    match &a.change {
        Change::Edit { text, mentions } => {
            map.insert("edit_of".to_owned(), json!(a.target));
            map.insert("text".to_owned(), Value::String(text.to_string()));
            if !mentions.is_empty() {
                map.insert("mentions".to_owned(), mention_names(mentions));
            }
        }
        Change::Delete => {
            map.insert("deleted".to_owned(), json!(a.target));
        }
        Change::Reaction { emoji, added } => {
            map.insert(
                "reaction".to_owned(),
                json!({ "message": a.target, "emoji": emoji, "added": added }),
            );
        }
    }
    value
}

/// `YYYY-MM-DD HH:MM` (UTC) of a time in ms.
pub fn utc(ms: u64) -> String {
    let secs = ms / 1000;
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX / 2);
    let (hour, minute) = ((secs % 86_400) / 3600, (secs % 3600) / 60);
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}")
}

/// One readable line for a message (`recv --human`): time, sender, text, then what happened to
/// it.
pub fn message_line(m: &Delivered) -> String {
    let mut line = format!("[{}] {}: ", utc(m.sent_at), m.from);
    if m.amended.deleted {
        line.push_str("(message deleted)");
    } else {
        if let Some(reply_to) = m.reply_to {
            let _ = write!(line, "↪ reply to {reply_to} ");
        }
        line.push_str(m.current_text());
        if let Some(a) = &m.attachment {
            let _ = write!(line, " [file {}]", a.file_name);
        }
        if m.is_edited() {
            line.push_str(" (edited)");
        }
        for (emoji, names) in grouped_reactions(m) {
            let _ = write!(line, " {emoji} {}", names.join(","));
        }
    }
    let _ = write!(line, "  ({})", m.id);
    line
}

/// One readable line for an edit, delete or reaction (`recv --human`).
pub fn amendment_line(a: &Amendment) -> String {
    let what = match &a.change {
        Change::Edit { text, .. } => format!("edited {}: {} (edited)", a.target, text.as_str()),
        Change::Delete => format!("deleted {}", a.target),
        Change::Reaction { emoji, added: true } => format!("reacted {emoji} to {}", a.target),
        Change::Reaction {
            emoji,
            added: false,
        } => format!("took back {emoji} on {}", a.target),
    };
    format!("[{}] {} {what}", utc(a.sent_at), a.from)
}

/// The JSON line of a search hit.
pub fn search_json(hit: &SearchHit) -> Value {
    json!({
        "conversation": hit.conversation,
        "id": hit.message,
        "from": hit.from,
        "sent_at": hit.sent_at,
        "text": hit.text.as_str(),
        "edited": hit.edited,
    })
}

/// The readable line of a search hit: conversation, sender, time, id and the text.
pub fn search_line(hit: &SearchHit) -> String {
    format!(
        "{} {} [{}] {}: {}{}",
        hit.conversation,
        hit.message,
        utc(hit.sent_at),
        hit.from,
        hit.text.as_str(),
        if hit.edited { " (edited)" } else { "" }
    )
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
        Rejected::Prekey { device, reason } => format!(
            "WARNING: the server handed out a one-time prekey for {user}'s device {device} that \
             {user}'s device never signed ({reason}); its last-resort prekey was used instead. \
             The server may be misbehaving"
        ),
    }
}

/// The JSON line of `sotto keys status` and `sotto keys rekey`.
pub fn prekey_status_json(status: &PrekeyStatus) -> Value {
    json!({
        "version": status.version,
        "exchange_key_serial": status.exchange_key_serial,
        "last_resort": status.last_resort,
        "server_remaining": status.server_remaining,
        "held": status.held,
        "downgrades": status.downgrades,
        "bad_prekeys": status.bad_prekeys,
    })
}

/// What to tell the user about a downgraded key distribution (once per distribution).
pub fn downgrade_warning(message_id: &str, from: &str) -> String {
    format!(
        "WARNING: refused {message_id} from {from}: a version-1 key distribution to your \
         version-2 exchange key (receive/downgrade, not used). Whoever sent it had your \
         version-2 certificate: the server may be trying to weaken the encryption of your \
         messages"
    )
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

/// Shows one receive event: messages on stdout (JSON lines, or readable lines with `human`),
/// everything else on stderr.
pub fn event(event: Event, human: bool) {
    match event {
        Event::Message(m) if human => text(&message_line(&m)),
        Event::Message(m) => line(&message_json(&m)),
        Event::Amended(a) if human => text(&amendment_line(&a)),
        Event::Amended(a) => line(&amendment_json(&a)),
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
        Event::PrekeysNotUploaded { reason } => note(&format!(
            "new one-time prekeys are not uploaded yet: {reason}"
        )),
        Event::Downgrade { message_id, from } => note(&downgrade_warning(
            &message_id,
            if from.is_empty() {
                "unknown sender"
            } else {
                &from
            },
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
        Event::Removed {
            conversation,
            group,
            by,
            left,
        } => note(&if left {
            format!("you left {group} ({conversation}); its messages stay readable here")
        } else {
            format!(
                "you were removed from {group} ({conversation}) by {by}; its messages stay \
                 readable here, and nothing more can be sent there"
            )
        }),
        // `sotto recv` shows its progress while it waits; being connected, or a group that
        // changed (`group list` shows it), adds nothing to it.
        Event::Connected | Event::ConversationChanged { .. } => {}
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
            account: None,
            reply_to: None,
            mentions: Vec::new(),
            amended: Default::default(),
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
    fn amendment_lines_carry_edit_of_deleted_or_reaction_and_a_utc_time() {
        let base = Amendment {
            id: MessageId::from_bytes([1; MessageId::LEN]),
            conversation: ConversationId::from_bytes([2; ConversationId::LEN]),
            target: MessageId::from_bytes([3; MessageId::LEN]),
            account: sotto_proto::ids::AccountId::from_bytes([4; 32]),
            from: "alice".to_owned(),
            device: DeviceId::from_bytes([5; DeviceId::LEN]),
            sent_at: 0,
            change: Change::Delete,
        };
        let target = base.target.to_string();
        assert_eq!(amendment_json(&base)["deleted"], target.as_str());
        let edit = Amendment {
            change: Change::Edit {
                text: Zeroizing::new("new".to_owned()),
                mentions: vec![Mention {
                    account: base.account,
                    username: "bob".to_owned(),
                }],
            },
            ..base.clone()
        };
        let line = amendment_json(&edit);
        assert_eq!(line["edit_of"], target.as_str());
        assert_eq!(line["text"], "new");
        assert_eq!(line["mentions"][0], "bob");
        let reaction = Amendment {
            change: Change::Reaction {
                emoji: "👍".to_owned(),
                added: false,
            },
            ..base
        };
        let line = amendment_json(&reaction);
        assert_eq!(line["reaction"]["message"], target.as_str());
        assert_eq!(line["reaction"]["emoji"], "👍");
        assert_eq!(line["reaction"]["added"], false);
        assert!(line.get("text").is_none());
        assert_eq!(utc(0), "1970-01-01 00:00");
        assert_eq!(utc(1_800_000_000_000), "2027-01-15 08:00");
        assert!(amendment_line(&reaction).contains("took back 👍 on msg:"));
    }

    #[test]
    fn a_readable_line_shows_the_reply_the_edit_and_the_reactions_and_a_deleted_message_as_such() {
        use sotto_client::store::state::ReactionRecord;
        let id = MessageId::from_bytes([1; MessageId::LEN]);
        let mut m = Delivered {
            id,
            conversation: ConversationId::from_bytes([2; ConversationId::LEN]),
            from: "alice".to_owned(),
            device: DeviceId::from_bytes([3; DeviceId::LEN]),
            sent_at: 0,
            text: Zeroizing::new("first".to_owned()),
            attachment: None,
            request: false,
            account: None,
            reply_to: Some(MessageId::from_bytes([9; MessageId::LEN])),
            mentions: Vec::new(),
            amended: Default::default(),
        };
        m.amended
            .edits
            .push(sotto_client::engine::amend::EditRecord {
                id: MessageId::from_bytes([4; MessageId::LEN]),
                sent_at: 1,
                text: Zeroizing::new("second".to_owned()),
                mentions: Vec::new(),
            });
        for (n, name, added) in [(5, "bob", true), (6, "carol", true), (7, "dave", false)] {
            m.amended.reactions.push(ReactionRecord {
                id: MessageId::from_bytes([n; MessageId::LEN]),
                sent_at: 1,
                account: sotto_proto::ids::AccountId::from_bytes([n; 32]),
                username: name.to_owned(),
                emoji: "👍".to_owned(),
                added,
            });
        }
        let line = message_line(&m);
        assert!(
            line.starts_with("[1970-01-01 00:00] alice: ↪ reply to msg:0909"),
            "{line}"
        );
        assert!(line.contains("second (edited) 👍 bob,carol"), "{line}");
        assert!(!line.contains("first") && !line.contains("dave"), "{line}");
        let json = message_json(&m);
        assert_eq!(json["text"], "second");
        assert_eq!(json["edits"][0]["text"], "first");
        assert_eq!(json["reactions"][0]["usernames"], json!(["bob", "carol"]));
        m.amended = sotto_client::store::state::Amended {
            deleted: true,
            ..Default::default()
        };
        m.text = Zeroizing::new(String::new());
        m.reply_to = None;
        let line = message_line(&m);
        assert!(line.contains("alice: (message deleted)"), "{line}");
        assert_eq!(message_json(&m)["deleted"], id.to_string());
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
            account: None,
            reply_to: None,
            mentions: Vec::new(),
            amended: Default::default(),
        };
        assert!(message_json(&m).get("request").is_none());
        m.request = true;
        assert_eq!(message_json(&m)["request"], true);
    }
}
