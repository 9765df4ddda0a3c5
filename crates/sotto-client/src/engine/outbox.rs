//! [`Outbox`]: the messages this device wrote and the server has not confirmed yet, and the
//! rules for which of them may go next. Kept apart from sending (`crate::outbox`, the driver that
//! seals, persists and talks to the server) so the ordering rules can be read and tested without
//! a server: messages of one conversation go in the order they were written; a message the
//! server's answers keep back holds back the later messages of its own conversation only
//! (protocol §9.4 rule 5); a message the server refused for good leaves the outbox, reported as
//! [`Unsent`], so that it does not block the messages behind it.
//!
//! A message the server stored but could not give to every member device (a full queue, a
//! recipient who has not accepted the conversation yet or blocked the sender: the answer's
//! `undelivered` list) stays here *partly delivered*: it is shown as sent, holds back nothing,
//! and is posted again (same id, same bytes) on every flush until the server has given it to
//! each device still a member device, answers that no undelivered record is left, or the user
//! drops it.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use sotto_proto::ids::{ConversationId, DeviceId, MessageId};
use sotto_wire::api::Undelivered;

use crate::store::state::OutgoingBody;

/// One outgoing message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutboxItem {
    /// Reused on every retry: the server's de-duplication key.
    pub message_id: MessageId,
    /// Where it goes.
    pub conversation: ConversationId,
    /// What to send.
    pub body: OutgoingBody,
    /// The sealed envelope, once sealed (base64; ciphertext only).
    pub envelope: Option<String>,
    /// Once the server stored it: the member devices it could not give a copy to yet, with the
    /// reason it gave (empty while the message waits for its first answer).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub undelivered: Vec<Undelivered>,
}

impl OutboxItem {
    /// Whether the server stored it and gave it to some devices but not yet to all.
    pub fn is_partly_delivered(&self) -> bool {
        !self.undelivered.is_empty()
    }
}

/// A message the server refused for good (taken out of the outbox so that it does not block the
/// messages after it).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Unsent {
    /// The refused message.
    pub message_id: MessageId,
    /// Its conversation.
    pub conversation: ConversationId,
    /// The server's explanation.
    pub reason: String,
}

/// The queued messages, oldest first (stored as a plain list in the profile snapshot).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Outbox {
    items: Vec<OutboxItem>,
}

impl Outbox {
    /// How many messages wait.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The waiting messages, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &OutboxItem> {
        self.items.iter()
    }

    /// Queues a new message behind the others.
    pub fn push(
        &mut self,
        message_id: MessageId,
        conversation: ConversationId,
        body: OutgoingBody,
    ) {
        self.items.push(OutboxItem {
            message_id,
            conversation,
            body,
            envelope: None,
            undelivered: Vec::new(),
        });
    }

    /// The entry for `message_id`, if it still waits.
    pub fn get(&self, message_id: MessageId) -> Option<&OutboxItem> {
        self.items.iter().find(|i| i.message_id == message_id)
    }

    /// Records the sealed envelope of an entry, so that a retry sends the same bytes.
    pub fn set_envelope(&mut self, message_id: MessageId, envelope: String) {
        if let Some(entry) = self.items.iter_mut().find(|i| i.message_id == message_id) {
            entry.envelope = Some(envelope);
        }
    }

    /// Takes an entry out (sent, or dropped because this account left the conversation).
    pub fn remove(&mut self, message_id: MessageId) {
        self.items.retain(|i| i.message_id != message_id);
    }

    /// Records what the server's answer left undelivered: the entry stays (partly delivered)
    /// while `undelivered` names a device, and leaves the outbox when it names none. Returns
    /// whether the entry stays.
    pub fn record_undelivered(
        &mut self,
        message_id: MessageId,
        undelivered: Vec<Undelivered>,
    ) -> bool {
        if undelivered.is_empty() {
            self.remove(message_id);
            return false;
        }
        match self.items.iter_mut().find(|i| i.message_id == message_id) {
            Some(entry) => {
                entry.undelivered = undelivered;
                true
            }
            None => false,
        }
    }

    /// Forgets the undelivered devices of an entry that are not in `current` (revoked devices,
    /// members who left): nobody is waiting for them any more. Returns whether the entry still
    /// waits for a device; when none is left it leaves the outbox.
    pub fn keep_current_devices(
        &mut self,
        message_id: MessageId,
        current: &BTreeSet<DeviceId>,
    ) -> bool {
        let Some(entry) = self.items.iter_mut().find(|i| i.message_id == message_id) else {
            return false;
        };
        entry.undelivered.retain(|u| current.contains(&u.device));
        let waits = !entry.undelivered.is_empty();
        if !waits {
            self.remove(message_id);
        }
        waits
    }

    /// Takes out an entry the server refused for good; what the user is to be told about it.
    pub fn give_up(&mut self, message_id: MessageId, reason: String) -> Option<Unsent> {
        let index = self.items.iter().position(|i| i.message_id == message_id)?;
        let item = self.items.remove(index);
        Some(Unsent {
            message_id: item.message_id,
            conversation: item.conversation,
            reason,
        })
    }

    /// Whether a message of `conversation` still waits for the server to store it: a new one
    /// must queue behind it. A partly delivered one holds back nothing (the server has it; only
    /// some devices wait).
    pub fn holds(&self, conversation: ConversationId) -> bool {
        self.items
            .iter()
            .any(|i| i.conversation == conversation && !i.is_partly_delivered())
    }

    /// The partly delivered messages, oldest first.
    pub fn partly_delivered(&self) -> impl Iterator<Item = &OutboxItem> {
        self.items.iter().filter(|i| i.is_partly_delivered())
    }

    /// A pass over the messages waiting now, in the order they may go.
    pub fn pass(&self) -> FlushPass {
        FlushPass {
            queue: self
                .items
                .iter()
                .map(|i| (i.message_id, i.conversation, i.is_partly_delivered()))
                .collect(),
            held_back: BTreeSet::new(),
            stalled: BTreeSet::new(),
        }
    }
}

/// One pass over the outbox: which message may go next. A message kept back holds back the rest
/// of its own conversation for the rest of the pass; the other conversations go on. A partly
/// delivered message that some device still cannot take stalls the later partly delivered ones
/// of its conversation for the pass (they would meet the same full queue or refusal: one post
/// per conversation and pass finds out), and holds back nothing else.
#[derive(Debug)]
pub struct FlushPass {
    queue: std::collections::VecDeque<(MessageId, ConversationId, bool)>,
    held_back: BTreeSet<ConversationId>,
    stalled: BTreeSet<ConversationId>,
}

impl FlushPass {
    /// The next message that may go, if any.
    pub fn next_item(&mut self) -> Option<(MessageId, ConversationId)> {
        while let Some((id, conversation, partly)) = self.queue.pop_front() {
            let skipped = if partly {
                self.stalled.contains(&conversation)
            } else {
                self.held_back.contains(&conversation)
            };
            if !skipped {
                return Some((id, conversation));
            }
        }
        None
    }

    /// Keeps the rest of `conversation` back for this pass (its message could not go yet, and
    /// the later ones must not overtake it).
    pub fn hold_back(&mut self, conversation: ConversationId) {
        self.held_back.insert(conversation);
    }

    /// Skips the later partly delivered messages of `conversation` for this pass (its oldest
    /// still did not reach every device).
    pub fn stall(&mut self, conversation: ConversationId) {
        self.stalled.insert(conversation);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use sotto_wire::api::UndeliveredReason;
    use zeroize::Zeroizing;

    fn msg(n: u8) -> MessageId {
        MessageId::from_bytes([n; 16])
    }

    fn conv(n: u8) -> ConversationId {
        ConversationId::from_bytes([n; 16])
    }

    fn text(t: &str) -> OutgoingBody {
        OutgoingBody::Text(Zeroizing::new(t.to_owned()))
    }

    fn outbox(items: &[(u8, u8)]) -> Outbox {
        let mut outbox = Outbox::default();
        for &(m, c) in items {
            outbox.push(msg(m), conv(c), text("hi"));
        }
        outbox
    }

    #[test]
    fn messages_go_in_the_order_they_were_written() {
        let mut pass = outbox(&[(1, 1), (2, 2), (3, 1)]).pass();
        assert_eq!(pass.next_item(), Some((msg(1), conv(1))));
        assert_eq!(pass.next_item(), Some((msg(2), conv(2))));
        assert_eq!(pass.next_item(), Some((msg(3), conv(1))));
        assert_eq!(pass.next_item(), None);
    }

    #[test]
    fn a_message_kept_back_holds_back_its_own_conversation_only() {
        let mut pass = outbox(&[(1, 1), (2, 2), (3, 1), (4, 2)]).pass();
        assert_eq!(pass.next_item(), Some((msg(1), conv(1))));
        pass.hold_back(conv(1));
        assert_eq!(pass.next_item(), Some((msg(2), conv(2))));
        // Message 3 would overtake message 1 in its conversation: skipped.
        assert_eq!(pass.next_item(), Some((msg(4), conv(2))));
        assert_eq!(pass.next_item(), None);
    }

    #[test]
    fn a_new_message_waits_behind_its_conversations_queued_ones() {
        let outbox = outbox(&[(1, 1)]);
        assert!(outbox.holds(conv(1)));
        assert!(!outbox.holds(conv(2)));
    }

    #[test]
    fn a_refused_message_leaves_the_outbox_and_is_reported() {
        let mut outbox = outbox(&[(1, 1), (2, 1)]);
        let unsent = outbox.give_up(msg(1), "too large".to_owned()).unwrap();
        assert_eq!(unsent.message_id, msg(1));
        assert_eq!(unsent.conversation, conv(1));
        assert_eq!(unsent.reason, "too large");
        assert_eq!(outbox.len(), 1);
        assert!(outbox.get(msg(1)).is_none());
        assert!(outbox.give_up(msg(1), "again".to_owned()).is_none());
    }

    #[test]
    fn a_sealed_envelope_is_kept_for_the_retry() {
        let mut outbox = outbox(&[(1, 1)]);
        assert!(outbox.get(msg(1)).unwrap().envelope.is_none());
        outbox.set_envelope(msg(1), "c2VhbGVk".to_owned());
        assert_eq!(
            outbox.get(msg(1)).unwrap().envelope.as_deref(),
            Some("c2VhbGVk")
        );
        outbox.remove(msg(1));
        assert!(outbox.is_empty());
    }

    fn undelivered(device: u8, reason: UndeliveredReason) -> Undelivered {
        Undelivered {
            device: DeviceId::from_bytes([device; DeviceId::LEN]),
            reason,
        }
    }

    #[test]
    fn a_message_some_devices_did_not_get_stays_and_holds_back_nothing() {
        let mut outbox = outbox(&[(1, 1), (2, 1)]);
        assert!(
            outbox.record_undelivered(msg(1), vec![undelivered(7, UndeliveredReason::QueueFull)])
        );
        assert!(outbox.get(msg(1)).unwrap().is_partly_delivered());
        assert_eq!(outbox.partly_delivered().count(), 1);
        // Message 2 still waits for the server: a new message of conversation 1 queues behind
        // it; once it is stored, the partly delivered one alone holds back nothing.
        assert!(outbox.holds(conv(1)));
        outbox.remove(msg(2));
        assert!(!outbox.holds(conv(1)));
        assert_eq!(outbox.len(), 1);
    }

    #[test]
    fn an_answer_with_nothing_undelivered_takes_the_message_out() {
        let mut outbox = outbox(&[(1, 1)]);
        assert!(outbox.record_undelivered(msg(1), vec![undelivered(7, UndeliveredReason::Blocked)]));
        assert!(!outbox.record_undelivered(msg(1), Vec::new()));
        assert!(outbox.is_empty());
    }

    #[test]
    fn devices_no_longer_members_are_forgotten_and_the_message_leaves_with_the_last() {
        let mut outbox = outbox(&[(1, 1)]);
        outbox.record_undelivered(
            msg(1),
            vec![
                undelivered(7, UndeliveredReason::QueueFull),
                undelivered(8, UndeliveredReason::RequestLimit),
            ],
        );
        let current: BTreeSet<DeviceId> = [DeviceId::from_bytes([8; DeviceId::LEN])].into();
        assert!(outbox.keep_current_devices(msg(1), &current));
        let left = &outbox.get(msg(1)).unwrap().undelivered;
        assert_eq!(left, &vec![undelivered(8, UndeliveredReason::RequestLimit)]);
        assert!(!outbox.keep_current_devices(msg(1), &BTreeSet::new()));
        assert!(outbox.is_empty());
    }

    #[test]
    fn one_stalled_retry_skips_the_later_retries_of_its_conversation_only() {
        let mut outbox = outbox(&[(1, 1), (2, 1), (3, 1), (4, 2)]);
        for m in [1, 2, 4] {
            outbox.record_undelivered(msg(m), vec![undelivered(7, UndeliveredReason::QueueFull)]);
        }
        let mut pass = outbox.pass();
        assert_eq!(pass.next_item(), Some((msg(1), conv(1))));
        pass.stall(conv(1));
        // Message 2 (partly delivered) is skipped; message 3 (never stored) still goes.
        assert_eq!(pass.next_item(), Some((msg(3), conv(1))));
        assert_eq!(pass.next_item(), Some((msg(4), conv(2))));
        assert_eq!(pass.next_item(), None);
    }
}
