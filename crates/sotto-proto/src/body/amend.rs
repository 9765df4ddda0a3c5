//! The receiver's rules for edits, deletes and reactions (`docs/protocol.md` §8.5, §8.6): whether
//! an amendment may touch the message it names ([`check_amendment`]), and which of several
//! accepted amendments decides what is shown ([`AmendmentOrder`]).
//!
//! Pure functions over what the receiver already verified (the envelopes' conversations and
//! sender accounts, the decoded bodies): the caller commits both messages first, then asks here,
//! so the rule is written once for every client and every test vector.

use crate::error::{AmendmentError, Error};
use crate::ids::{AccountId, ConversationId, MessageId};
use crate::Timestamp;

use super::MessageBody;

/// Whether a body is something a client shows as a message, which replies, receipts and
/// amendments may name (§8.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BodyClass {
    /// Text, Message or Attachment.
    Content,
    /// Receipt, GroupName, Edit, Delete or Reaction.
    NotContent,
}

/// What an amendment does to its target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AmendmentKind {
    /// Replaces the text (or caption); author only.
    Edit,
    /// Withdraws the message; author only.
    Delete,
    /// Adds or takes back a reaction; any member.
    Reaction,
}

impl AmendmentKind {
    /// Whether only the target's author may send it (§8.5 check 3).
    pub fn author_only(self) -> bool {
        match self {
            Self::Edit | Self::Delete => true,
            Self::Reaction => false,
        }
    }
}

/// What the check needs to know about the target: from its verified envelope and decoded body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TargetInfo {
    /// The conversation the target's envelope belongs to.
    pub conversation: ConversationId,
    /// The account that sent the target.
    pub sender: AccountId,
    /// Whether the target is a content message.
    pub class: BodyClass,
}

impl TargetInfo {
    /// The info of a committed message with `body`.
    pub fn of(conversation: ConversationId, sender: AccountId, body: &MessageBody) -> Self {
        Self {
            conversation,
            sender,
            class: body.class(),
        }
    }
}

/// What the check needs to know about the amendment: from its verified envelope and body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AmendmentInfo {
    /// The conversation the amendment's envelope belongs to.
    pub conversation: ConversationId,
    /// The account that sent the amendment (any of its devices).
    pub sender: AccountId,
    /// Edit, Delete or Reaction.
    pub kind: AmendmentKind,
}

impl AmendmentInfo {
    /// The info and target of a committed message with `body`, if the body is an amendment.
    pub fn of(
        conversation: ConversationId,
        sender: AccountId,
        body: &MessageBody,
    ) -> Option<(Self, MessageId)> {
        let (kind, target) = body.amendment()?;
        Some((
            Self {
                conversation,
                sender,
                kind,
            },
            target,
        ))
    }
}

/// Checks an amendment against its target, in the order of §8.5: the same conversation
/// ([`AmendmentError::WrongTarget`]), a content target ([`AmendmentError::WrongTarget`]), and for
/// an edit or delete the same sender account ([`AmendmentError::NotAuthor`]). Any device of the
/// author's account may amend; a reaction is open to every member.
pub fn check_amendment(target: &TargetInfo, amendment: &AmendmentInfo) -> Result<(), Error> {
    if target.conversation != amendment.conversation {
        return Err(AmendmentError::WrongTarget.into());
    }
    match target.class {
        BodyClass::Content => {}
        BodyClass::NotContent => return Err(AmendmentError::WrongTarget.into()),
    }
    if amendment.kind.author_only() && target.sender != amendment.sender {
        return Err(AmendmentError::NotAuthor.into());
    }
    Ok(())
}

/// The order in which accepted amendments of one target decide: the greater `(sent_at, message
/// id)` wins, ids compared as bytes, so every receiver picks the same edit (and the same state of
/// a reaction) whatever order the messages arrived in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AmendmentOrder {
    /// The amendment's `sent_at` (its envelope header).
    pub sent_at: Timestamp,
    /// The amendment's message id.
    pub id: MessageId,
}

impl AmendmentOrder {
    /// The order of an amendment sent at `sent_at` with id `id`.
    pub fn new(sent_at: Timestamp, id: MessageId) -> Self {
        Self { sent_at, id }
    }

    /// Whether this amendment decides over `other`.
    pub fn wins_over(&self, other: &Self) -> bool {
        self > other
    }
}

/// The winner among amendments of one target (the edit whose text is shown, the reaction state
/// that holds), or `None` when there is none.
pub fn winning<T>(amendments: impl IntoIterator<Item = (AmendmentOrder, T)>) -> Option<T> {
    amendments
        .into_iter()
        .max_by(|(a, _), (b, _)| a.cmp(b))
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONV: ConversationId = ConversationId::from_bytes([1; 16]);
    const ALICE: AccountId = AccountId::from_bytes([0xa1; 32]);
    const BOB: AccountId = AccountId::from_bytes([0xb0; 32]);

    fn target(sender: AccountId, class: BodyClass) -> TargetInfo {
        TargetInfo {
            conversation: CONV,
            sender,
            class,
        }
    }

    fn amendment(sender: AccountId, kind: AmendmentKind) -> AmendmentInfo {
        AmendmentInfo {
            conversation: CONV,
            sender,
            kind,
        }
    }

    fn code(result: Result<(), Error>) -> &'static str {
        match result {
            Ok(()) => "ok",
            Err(e) => e.code(),
        }
    }

    #[test]
    fn only_the_author_edits_or_deletes_but_anyone_reacts() {
        let own = target(ALICE, BodyClass::Content);
        for kind in [AmendmentKind::Edit, AmendmentKind::Delete] {
            assert_eq!(code(check_amendment(&own, &amendment(ALICE, kind))), "ok");
            assert_eq!(
                code(check_amendment(&own, &amendment(BOB, kind))),
                "message/not-author"
            );
        }
        assert_eq!(
            code(check_amendment(
                &own,
                &amendment(BOB, AmendmentKind::Reaction)
            )),
            "ok"
        );
    }

    #[test]
    fn the_target_must_be_content_of_the_same_conversation_checked_before_the_author() {
        let not_content = target(ALICE, BodyClass::NotContent);
        // Wrong target comes first, even when the author differs too.
        for kind in [
            AmendmentKind::Edit,
            AmendmentKind::Delete,
            AmendmentKind::Reaction,
        ] {
            assert_eq!(
                code(check_amendment(&not_content, &amendment(BOB, kind))),
                "message/wrong-target"
            );
        }
        let elsewhere = TargetInfo {
            conversation: ConversationId::from_bytes([2; 16]),
            ..target(ALICE, BodyClass::Content)
        };
        assert_eq!(
            code(check_amendment(
                &elsewhere,
                &amendment(BOB, AmendmentKind::Edit)
            )),
            "message/wrong-target"
        );
    }

    #[test]
    fn the_greatest_sent_at_then_id_bytes_wins() {
        let a = AmendmentOrder::new(Timestamp(5), MessageId::from_bytes([9; 16]));
        let b = AmendmentOrder::new(Timestamp(6), MessageId::from_bytes([1; 16]));
        let c = AmendmentOrder::new(Timestamp(6), MessageId::from_bytes([2; 16]));
        assert!(b.wins_over(&a));
        assert!(c.wins_over(&b));
        assert!(!c.wins_over(&c));
        assert_eq!(winning([(b, "b"), (c, "c"), (a, "a")]), Some("c"));
        assert_eq!(winning::<()>([]), None);
    }
}
