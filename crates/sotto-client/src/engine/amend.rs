//! Amendments of stored messages: edits, deletes and reactions (`docs/protocol.md` §8.5, §8.6),
//! and the ones that wait for their target.
//!
//! An amendment names its target by message id. It is checked against the stored target once
//! both are committed (same conversation, a content message, and for an edit or a delete the
//! same sender account), then applied: the edit with the greatest `(sent_at, id)` gives the text
//! shown, the reaction with the greatest `(sent_at, id)` per (reactor, reaction) decides whether
//! it is shown, and a delete wipes the target's text, edits, reactions and saved file for good.
//! An amendment whose target this device does not hold yet waits here ([`WaitingAmendments`]),
//! bounded per conversation and in time, and is checked when the target arrives, never before.
//!
//! Pure: the driver (`crate::receive`, `crate::outbox`) finds the target, passes the time and
//! deletes the files a delete names.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};
use sotto_proto::body::{check_amendment, AmendmentInfo, AmendmentKind, BodyClass, TargetInfo};
use sotto_proto::ids::{AccountId, ConversationId, DeviceId, MessageId};
use sotto_proto::{AmendmentError, Error as ProtoError};
use zeroize::Zeroizing;

use crate::store::state::Delivered;

/// Amendments kept waiting for their target, per conversation (protocol §11): a server cannot
/// grow the profile without bound by relaying amendments of messages that never come.
pub const MAX_WAITING_PER_CONVERSATION: usize = 1000;
/// How long an amendment waits for its target, ms (protocol §11: 30 days).
pub const WAIT_FOR_TARGET_MS: u64 = 30 * 24 * 3600 * 1000;

/// An account a message mentions, with the username this device shows for it (§6.6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mention {
    /// The account.
    pub account: AccountId,
    /// Its pinned username, or the account id's text when none is known.
    pub username: String,
}

/// What an amendment does to its target.
#[derive(Clone, Serialize, Deserialize)]
pub enum Change {
    /// Replaces the text (an attachment's caption) and the mentions.
    Edit {
        /// The new text.
        text: Zeroizing<String>,
        /// The new mentions.
        mentions: Vec<Mention>,
    },
    /// Withdraws the message.
    Delete,
    /// Adds (or takes back) a reaction.
    Reaction {
        /// The reaction's display text (an emoji, usually).
        emoji: String,
        /// False when the reactor takes it back.
        added: bool,
    },
}

impl Change {
    /// The protocol's kind of amendment.
    pub fn kind(&self) -> AmendmentKind {
        match self {
            Self::Edit { .. } => AmendmentKind::Edit,
            Self::Delete => AmendmentKind::Delete,
            Self::Reaction { .. } => AmendmentKind::Reaction,
        }
    }
}

impl std::fmt::Debug for Change {
    // An edit's text is message text: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Edit { text, mentions } => f
                .debug_struct("Edit")
                .field("text", &format_args!("<{} bytes>", text.len()))
                .field("mentions", &mentions.len())
                .finish(),
            Self::Delete => f.write_str("Delete"),
            Self::Reaction { added, .. } => f
                .debug_struct("Reaction")
                .field("added", added)
                .finish_non_exhaustive(),
        }
    }
}

/// One committed amendment: its envelope's facts and its change.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Amendment {
    /// The amendment's own (signed) message id.
    pub id: MessageId,
    /// The conversation it was sent in.
    pub conversation: ConversationId,
    /// The message it amends.
    pub target: MessageId,
    /// The sender account of its envelope.
    pub account: AccountId,
    /// The sender's username.
    pub from: String,
    /// The sender's device.
    pub device: DeviceId,
    /// Its envelope's `sent_at`, ms.
    pub sent_at: u64,
    /// What it does.
    pub change: Change,
}

impl Amendment {
    /// The order of amendments of one target: `(sent_at, message id bytes)` (§8.5, §8.6).
    fn order(&self) -> (u64, [u8; MessageId::LEN]) {
        (self.sent_at, *self.id.as_bytes())
    }
}

/// An accepted edit, kept so that the earlier texts stay available to the reader.
#[derive(Clone, Serialize, Deserialize)]
pub struct EditRecord {
    /// The edit's message id.
    pub id: MessageId,
    /// Its `sent_at`, ms.
    pub sent_at: u64,
    /// The text it set.
    pub text: Zeroizing<String>,
    /// The mentions it set.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<Mention>,
}

impl std::fmt::Debug for EditRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EditRecord")
            .field("id", &self.id)
            .field("sent_at", &self.sent_at)
            .finish_non_exhaustive()
    }
}

/// The latest reaction of one account with one reaction text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReactionRecord {
    /// The reaction's message id.
    pub id: MessageId,
    /// Its `sent_at`, ms.
    pub sent_at: u64,
    /// Who reacted.
    pub account: AccountId,
    /// Their username.
    pub username: String,
    /// The reaction.
    pub emoji: String,
    /// Whether it stands (false: taken back).
    pub added: bool,
}

/// What a stored message received since: edits, a delete, reactions.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Amended {
    /// Accepted edits, oldest first by `(sent_at, id)`; the last one's text is shown.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub edits: Vec<EditRecord>,
    /// Deleted by its author: its text, edits, reactions and file are gone.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
    /// The latest reaction per (account, reaction).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<ReactionRecord>,
}

impl Amended {
    /// Whether nothing happened to the message (not written to the snapshot then).
    pub fn is_empty(&self) -> bool {
        self.edits.is_empty() && !self.deleted && self.reactions.is_empty()
    }
}

/// Why an amendment was refused (§8.5), with the protocol's code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
    /// The target is in another conversation, or is not a content message.
    WrongTarget,
    /// An edit or delete by an account other than the target's sender.
    NotAuthor,
}

impl Refusal {
    /// The protocol's code (`docs/protocol.md` §12).
    pub fn code(self) -> &'static str {
        match self {
            Self::WrongTarget => "message/wrong-target",
            Self::NotAuthor => "message/not-author",
        }
    }
}

impl From<AmendmentError> for Refusal {
    fn from(error: AmendmentError) -> Self {
        match error {
            AmendmentError::WrongTarget => Self::WrongTarget,
            AmendmentError::NotAuthor => Self::NotAuthor,
        }
    }
}

/// What applying an amendment did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// It changed the target (or, an edit older than the shown one, its earlier texts). A
    /// delete names the file this device saved for the target, if any, for the driver to
    /// delete.
    Changed {
        /// The saved attachment a delete removed from the message.
        file: Option<String>,
    },
    /// Accepted but without effect: an edit or reaction of a deleted message, a reaction
    /// older than the one that decides, a delete of a deleted message.
    Ignored,
}

/// The checks of §8.5 (rules 1 to 3) and §8.6 (rules 1 and 2) against the stored `target`,
/// whose author account is `author` (`None` for a message stored before authors were kept:
/// nobody can be shown to be its author, so nobody may edit or delete it), through
/// `sotto-proto`'s [`check_amendment`].
///
/// Only content messages are stored as messages, so a stored target is one (rule 2): an
/// amendment naming an amendment, a receipt or a group name never finds a target and waits
/// until it expires, never applied.
pub fn check(
    amendment: &Amendment,
    target: &Delivered,
    author: Option<AccountId>,
) -> Result<(), Refusal> {
    let info = AmendmentInfo {
        conversation: amendment.conversation,
        sender: amendment.account,
        kind: amendment.change.kind(),
    };
    let Some(sender) = author else {
        if target.conversation != amendment.conversation {
            return Err(Refusal::WrongTarget);
        }
        return match info.kind.author_only() {
            true => Err(Refusal::NotAuthor),
            false => Ok(()),
        };
    };
    let target = TargetInfo {
        conversation: target.conversation,
        sender,
        class: BodyClass::Content,
    };
    check_amendment(&target, &info).map_err(|error| match error {
        ProtoError::Amendment(refused) => Refusal::from(refused),
        // The check returns amendment refusals only; anything else refuses the target too.
        _ => Refusal::WrongTarget,
    })
}

/// Applies a checked `amendment` to its `target`.
pub fn apply(target: &mut Delivered, amendment: &Amendment) -> Applied {
    if target.amended.deleted {
        // A delete cannot be undone; what comes after it for the same message is dropped.
        return Applied::Ignored;
    }
    match &amendment.change {
        Change::Edit { text, mentions } => {
            let record = EditRecord {
                id: amendment.id,
                sent_at: amendment.sent_at,
                text: text.clone(),
                mentions: mentions.clone(),
            };
            let edits = &mut target.amended.edits;
            if edits.iter().any(|e| e.id == record.id) {
                return Applied::Ignored;
            }
            let key = amendment.order();
            let at = edits
                .iter()
                .position(|e| (e.sent_at, *e.id.as_bytes()) > key)
                .unwrap_or(edits.len());
            edits.insert(at, record);
            Applied::Changed { file: None }
        }
        Change::Delete => {
            target.text = Zeroizing::new(String::new());
            target.reply_to = None;
            target.mentions.clear();
            let file = target.attachment.take().and_then(|a| a.path);
            target.amended = Amended {
                deleted: true,
                ..Amended::default()
            };
            Applied::Changed { file }
        }
        Change::Reaction { emoji, added } => {
            let reactions = &mut target.amended.reactions;
            let key = amendment.order();
            let record = ReactionRecord {
                id: amendment.id,
                sent_at: amendment.sent_at,
                account: amendment.account,
                username: amendment.from.clone(),
                emoji: emoji.clone(),
                added: *added,
            };
            match reactions
                .iter_mut()
                .find(|r| r.account == amendment.account && r.emoji == *emoji)
            {
                Some(current) if (current.sent_at, *current.id.as_bytes()) >= key => {
                    Applied::Ignored
                }
                Some(current) => {
                    *current = record;
                    Applied::Changed { file: None }
                }
                None => {
                    reactions.push(record);
                    Applied::Changed { file: None }
                }
            }
        }
    }
}

/// An amendment waiting for its target, since `held_at` (ms).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Waiting {
    amendment: Amendment,
    held_at: u64,
}

/// Amendments whose target this device does not hold yet (sent from another device of the
/// author, or still held for its key), per conversation, oldest first.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WaitingAmendments(BTreeMap<ConversationId, VecDeque<Waiting>>);

impl WaitingAmendments {
    /// Whether none waits.
    pub fn is_empty(&self) -> bool {
        self.0.values().all(VecDeque::is_empty)
    }

    /// How many wait.
    pub fn len(&self) -> usize {
        self.0.values().map(VecDeque::len).sum()
    }

    /// Keeps `amendment` until its target arrives; returns the oldest of its conversation when
    /// the bound is reached (dropped, never applied). The same amendment is kept once.
    pub fn wait(&mut self, amendment: Amendment, now: u64) -> Option<Amendment> {
        let list = self.0.entry(amendment.conversation).or_default();
        if list.iter().any(|w| w.amendment.id == amendment.id) {
            return None;
        }
        list.push_back(Waiting {
            amendment,
            held_at: now,
        });
        if list.len() > MAX_WAITING_PER_CONVERSATION {
            return list.pop_front().map(|w| w.amendment);
        }
        None
    }

    /// Takes every amendment naming `target`, in any conversation (one naming a message of
    /// another conversation is then refused by [`check`]), oldest first.
    pub fn take_for(&mut self, target: MessageId) -> Vec<Amendment> {
        let mut taken = Vec::new();
        for list in self.0.values_mut() {
            let (named, rest): (VecDeque<Waiting>, VecDeque<Waiting>) =
                list.drain(..).partition(|w| w.amendment.target == target);
            *list = rest;
            taken.extend(named.into_iter().map(|w| w.amendment));
        }
        self.0.retain(|_, list| !list.is_empty());
        taken
    }

    /// Drops what waited longer than [`WAIT_FOR_TARGET_MS`]; returns how many.
    pub fn expire(&mut self, now: u64) -> usize {
        let before = self.len();
        for list in self.0.values_mut() {
            list.retain(|w| now.saturating_sub(w.held_at) <= WAIT_FOR_TARGET_MS);
        }
        self.0.retain(|_, list| !list.is_empty());
        before - self.len()
    }

    /// Drops what waits in `conversation` (its messages are gone: retention, or it was left).
    pub fn forget_conversation(&mut self, conversation: ConversationId) {
        self.0.remove(&conversation);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::store::state::IncomingAttachment;

    const ALICE: AccountId = AccountId::from_bytes([1; 32]);
    const BOB: AccountId = AccountId::from_bytes([2; 32]);

    fn conv(n: u8) -> ConversationId {
        ConversationId::from_bytes([n; 16])
    }

    fn id(n: u8) -> MessageId {
        MessageId::from_bytes([n; 16])
    }

    fn target() -> Delivered {
        Delivered {
            id: id(1),
            conversation: conv(1),
            from: "alice".to_owned(),
            account: Some(ALICE),
            device: DeviceId::from_bytes([9; 32]),
            sent_at: 100,
            text: Zeroizing::new("original".to_owned()),
            attachment: None,
            request: false,
            reply_to: None,
            mentions: Vec::new(),
            amended: Amended::default(),
        }
    }

    fn amendment(n: u8, account: AccountId, sent_at: u64, change: Change) -> Amendment {
        Amendment {
            id: id(n),
            conversation: conv(1),
            target: id(1),
            account,
            from: if account == ALICE { "alice" } else { "bob" }.to_owned(),
            device: DeviceId::from_bytes([8; 32]),
            sent_at,
            change,
        }
    }

    fn edit(n: u8, sent_at: u64, text: &str) -> Amendment {
        amendment(
            n,
            ALICE,
            sent_at,
            Change::Edit {
                text: Zeroizing::new(text.to_owned()),
                mentions: Vec::new(),
            },
        )
    }

    fn react(n: u8, account: AccountId, sent_at: u64, added: bool) -> Amendment {
        amendment(
            n,
            account,
            sent_at,
            Change::Reaction {
                emoji: "👍".to_owned(),
                added,
            },
        )
    }

    #[test]
    fn the_edit_with_the_greatest_sent_at_then_id_is_shown_whatever_the_arrival_order() {
        let mut message = target();
        for e in [
            edit(5, 300, "third"),
            edit(3, 200, "second"),
            edit(4, 300, "tie, smaller id"),
        ] {
            check(&e, &message, Some(ALICE)).unwrap();
            assert_eq!(apply(&mut message, &e), Applied::Changed { file: None });
        }
        assert_eq!(message.current_text(), "third");
        let texts: Vec<&str> = message
            .amended
            .edits
            .iter()
            .map(|e| e.text.as_str())
            .collect();
        assert_eq!(texts, ["second", "tie, smaller id", "third"]);
        assert_eq!(message.text.as_str(), "original", "earlier texts stay");
        assert_eq!(
            apply(&mut message, &edit(5, 300, "third")),
            Applied::Ignored
        );
    }

    #[test]
    fn an_edit_or_delete_by_another_account_is_refused_as_not_author_and_a_reaction_is_not() {
        let message = target();
        let forged = amendment(
            2,
            BOB,
            200,
            Change::Edit {
                text: Zeroizing::new("forged".to_owned()),
                mentions: Vec::new(),
            },
        );
        assert_eq!(
            check(&forged, &message, Some(ALICE)),
            Err(Refusal::NotAuthor)
        );
        let delete = amendment(3, BOB, 200, Change::Delete);
        assert_eq!(
            check(&delete, &message, Some(ALICE)),
            Err(Refusal::NotAuthor)
        );
        assert_eq!(
            check(&react(4, BOB, 200, true), &message, Some(ALICE)),
            Ok(())
        );
        // A message stored before authors were kept cannot be shown to be anyone's.
        assert_eq!(
            check(&edit(5, 200, "x"), &message, None),
            Err(Refusal::NotAuthor)
        );
        assert_eq!(Refusal::NotAuthor.code(), "message/not-author");
    }

    #[test]
    fn an_amendment_from_another_conversation_is_the_wrong_target() {
        let message = target();
        let mut elsewhere = react(2, BOB, 200, true);
        elsewhere.conversation = conv(2);
        assert_eq!(
            check(&elsewhere, &message, Some(ALICE)),
            Err(Refusal::WrongTarget)
        );
        assert_eq!(Refusal::WrongTarget.code(), "message/wrong-target");
    }

    #[test]
    fn the_latest_reaction_per_account_and_emoji_decides_and_an_older_one_changes_nothing() {
        let mut message = target();
        apply(&mut message, &react(2, BOB, 200, true));
        apply(&mut message, &react(3, ALICE, 210, true));
        assert_eq!(message.shown_reactions().len(), 2);
        assert_eq!(
            apply(&mut message, &react(4, BOB, 300, false)),
            Applied::Changed { file: None }
        );
        assert_eq!(
            apply(&mut message, &react(5, BOB, 250, true)),
            Applied::Ignored
        );
        let shown: Vec<&str> = message
            .shown_reactions()
            .iter()
            .map(|r| r.username.as_str())
            .collect();
        assert_eq!(shown, ["alice"]);
        assert_eq!(
            apply(&mut message, &react(6, BOB, 300, true)),
            Applied::Changed { file: None }
        );
        assert_eq!(
            message.shown_reactions().len(),
            2,
            "same time, greater id wins"
        );
    }

    #[test]
    fn a_delete_wipes_text_edits_reactions_and_file_and_nothing_applies_after_it() {
        let mut message = target();
        message.reply_to = Some(id(7));
        message.attachment = Some(IncomingAttachment {
            blob_id: "att:01".to_owned(),
            file_name: "a.pdf".to_owned(),
            media_type: "application/pdf".to_owned(),
            size: 3,
            secret: crate::store::state::Secret::new(&[0; 32]),
            sha256: String::new(),
            path: Some("/profile/files/a.pdf".to_owned()),
        });
        apply(&mut message, &edit(2, 200, "edited"));
        apply(&mut message, &react(3, BOB, 200, true));
        let delete = amendment(4, ALICE, 300, Change::Delete);
        check(&delete, &message, Some(ALICE)).unwrap();
        assert_eq!(
            apply(&mut message, &delete),
            Applied::Changed {
                file: Some("/profile/files/a.pdf".to_owned())
            }
        );
        assert!(message.amended.deleted);
        assert_eq!(message.current_text(), "");
        assert!(message.amended.edits.is_empty() && message.amended.reactions.is_empty());
        assert!(message.attachment.is_none() && message.reply_to.is_none());
        assert_eq!(apply(&mut message, &edit(5, 400, "back")), Applied::Ignored);
        assert_eq!(
            apply(&mut message, &react(6, BOB, 400, true)),
            Applied::Ignored
        );
        assert_eq!(message.current_text(), "");
        assert!(message.shown_reactions().is_empty());
    }

    #[test]
    fn waiting_amendments_are_bounded_per_conversation_taken_by_target_and_expire() {
        let mut waiting = WaitingAmendments::default();
        for n in 0..MAX_WAITING_PER_CONVERSATION {
            let mut a = react(2, BOB, n as u64, true);
            a.id = MessageId::from_bytes(u128::try_from(n).unwrap().to_be_bytes());
            a.target = id(if n == 0 { 1 } else { 9 });
            assert!(waiting.wait(a, 0).is_none());
        }
        assert_eq!(waiting.len(), MAX_WAITING_PER_CONVERSATION);
        let mut one_more = react(0xee, BOB, 5000, true);
        one_more.target = id(1);
        let dropped = waiting.wait(one_more.clone(), 10).unwrap();
        assert_eq!(dropped.target, id(1), "the oldest goes");
        assert!(waiting.wait(one_more, 10).is_none(), "kept once");
        assert_eq!(waiting.len(), MAX_WAITING_PER_CONVERSATION);
        let taken = waiting.take_for(id(1));
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].id, id(0xee));
        assert!(waiting.take_for(id(1)).is_empty());
        assert_eq!(waiting.expire(WAIT_FOR_TARGET_MS), 0);
        assert_eq!(
            waiting.expire(WAIT_FOR_TARGET_MS + 1),
            MAX_WAITING_PER_CONVERSATION - 1
        );
        assert!(waiting.is_empty());
    }

    #[test]
    fn an_edit_never_prints_its_text() {
        let shown = format!("{:?}", edit(2, 1, "secret words"));
        assert!(!shown.contains("secret"), "{shown}");
    }
}
