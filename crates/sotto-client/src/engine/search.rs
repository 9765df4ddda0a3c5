//! Search over the messages this device stores: the text each shows now (the latest edit's),
//! never a deleted one's, case-insensitive, newest first. Nothing is indexed or written: the
//! stored history is bounded (`MAX_HISTORY`) and already decrypted in memory.

use sotto_proto::ids::ConversationId;

use crate::store::state::Delivered;

/// The stored messages whose shown text contains `query` (case-insensitive), in
/// `conversation` if given, newest first. An empty query finds nothing.
pub fn search<'a>(
    messages: impl Iterator<Item = &'a Delivered>,
    query: &str,
    conversation: Option<ConversationId>,
) -> Vec<&'a Delivered> {
    let needle = query.trim().to_lowercase();
    if needle.is_empty() {
        return Vec::new();
    }
    let mut hits: Vec<&Delivered> = messages
        .filter(|m| conversation.is_none_or(|c| m.conversation == c))
        .filter(|m| !m.amended.deleted)
        .filter(|m| m.current_text().to_lowercase().contains(&needle))
        .collect();
    hits.sort_by(|a, b| (b.sent_at, b.id.as_bytes()).cmp(&(a.sent_at, a.id.as_bytes())));
    hits
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use sotto_proto::ids::{DeviceId, MessageId};
    use zeroize::Zeroizing;

    use super::*;
    use crate::engine::amend::{apply, Amendment, Change};

    fn message(n: u8, conversation: u8, sent_at: u64, text: &str) -> Delivered {
        Delivered {
            id: MessageId::from_bytes([n; 16]),
            conversation: ConversationId::from_bytes([conversation; 16]),
            from: "alice".to_owned(),
            account: None,
            device: DeviceId::from_bytes([1; 32]),
            sent_at,
            text: Zeroizing::new(text.to_owned()),
            attachment: None,
            request: false,
            reply_to: None,
            mentions: Vec::new(),
            amended: Default::default(),
        }
    }

    fn amend(target: &mut Delivered, n: u8, change: Change) {
        let amendment = Amendment {
            id: MessageId::from_bytes([n; 16]),
            conversation: target.conversation,
            target: target.id,
            account: sotto_proto::ids::AccountId::from_bytes([1; 32]),
            from: "alice".to_owned(),
            device: DeviceId::from_bytes([1; 32]),
            sent_at: target.sent_at + 1,
            change,
        };
        apply(target, &amendment);
    }

    #[test]
    fn finds_the_current_text_case_insensitively_newest_first_and_never_a_deleted_one() {
        let mut edited = message(1, 1, 10, "Lunch at noon");
        amend(
            &mut edited,
            11,
            Change::Edit {
                text: Zeroizing::new("Lunch at ONE".to_owned()),
                mentions: Vec::new(),
            },
        );
        let mut deleted = message(2, 1, 20, "lunch secret");
        amend(&mut deleted, 12, Change::Delete);
        let later = message(3, 2, 30, "no LUNCH today");
        let stored = [edited, deleted, later];
        let hits: Vec<u8> = search(stored.iter(), "lunch", None)
            .iter()
            .map(|m| m.id.as_bytes()[0])
            .collect();
        assert_eq!(hits, [3, 1]);
        assert!(search(stored.iter(), "noon", None).is_empty(), "old text");
        assert_eq!(search(stored.iter(), "one", None).len(), 1);
        let only = search(
            stored.iter(),
            "lunch",
            Some(ConversationId::from_bytes([1; 16])),
        );
        assert_eq!(only.len(), 1);
        assert!(search(stored.iter(), "secret", None).is_empty());
        assert!(search(stored.iter(), "  ", None).is_empty());
    }
}
