//! The queue policy (docs/api.md, "Queue policy"): whether one member device takes a copy of
//! one envelope, and if not, why. Both backends' group commits decide with this one function;
//! they differ only in where the counts come from.
//!
//! Consent comes first (a block, a declined conversation, a request past its envelope limit),
//! then the queue: a device's queue takes copies freely up to `max_queue_per_device`; past it,
//! a sender account still gets its reserved share (`queue_share_per_sender`), so an honest
//! sender is never shut out because another account filled the queue; no account holds more
//! than `max_queue_per_sender` copies in one queue at all. The per-sender count is asked for
//! only when the queue is long enough for it to matter, which honest traffic almost never is.

use crate::error::Result;
use crate::store::{MemberStatus, QueuePolicy, UndeliveredReason};

/// Where the recipient stands towards the envelope's sender and conversation.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Consent {
    /// The recipient's status in the conversation.
    pub status: MemberStatus,
    /// Envelopes routed to them while a request.
    pub requests: i64,
    /// Whether the recipient blocks the sender.
    pub blocks_sender: bool,
}

/// The queue length from which the sender's own count in the queue is needed.
pub(crate) fn needs_sender_count(policy: &QueuePolicy, held: i64) -> bool {
    held >= policy.max_queue_per_device.min(policy.max_queue_per_sender)
}

/// Why the device does not take the copy, or `None` if it does. `held` is the device's queue
/// length; `sender_held` counts the sender account's copies in it (called only when
/// [`needs_sender_count`]).
pub(crate) fn refusal(
    policy: &QueuePolicy,
    consent: Consent,
    held: i64,
    sender_held: impl FnOnce() -> Result<i64>,
) -> Result<Option<UndeliveredReason>> {
    if consent.blocks_sender {
        return Ok(Some(UndeliveredReason::Blocked));
    }
    match consent.status {
        MemberStatus::Declined => return Ok(Some(UndeliveredReason::Declined)),
        MemberStatus::Request if consent.requests >= policy.max_request_envelopes => {
            return Ok(Some(UndeliveredReason::RequestLimit));
        }
        MemberStatus::Request | MemberStatus::Accepted => {}
    }
    if !needs_sender_count(policy, held) {
        return Ok(None);
    }
    let mine = sender_held()?;
    if mine >= policy.max_queue_per_sender {
        return Ok(Some(UndeliveredReason::SenderShareFull));
    }
    if held >= policy.max_queue_per_device && mine >= policy.queue_share_per_sender {
        return Ok(Some(UndeliveredReason::QueueFull));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: QueuePolicy = QueuePolicy {
        max_queue_per_device: 100,
        queue_share_per_sender: 10,
        max_queue_per_sender: 50,
        max_request_envelopes: 3,
        undelivered_ttl_ms: 1000,
        archive: false,
    };

    fn accepted() -> Consent {
        Consent {
            status: MemberStatus::Accepted,
            requests: 0,
            blocks_sender: false,
        }
    }

    fn decide(consent: Consent, held: i64, mine: i64) -> Option<UndeliveredReason> {
        refusal(&POLICY, consent, held, || Ok(mine)).unwrap()
    }

    #[test]
    fn a_full_queue_still_takes_a_sender_within_its_share() {
        assert_eq!(decide(accepted(), 99, 49), None);
        assert_eq!(decide(accepted(), 100, 9), None);
        assert_eq!(decide(accepted(), 500, 9), None);
        assert_eq!(
            decide(accepted(), 100, 10),
            Some(UndeliveredReason::QueueFull)
        );
        assert_eq!(
            decide(accepted(), 60, 50),
            Some(UndeliveredReason::SenderShareFull)
        );
        assert_eq!(decide(accepted(), 60, 49), None);
    }

    #[test]
    fn consent_comes_before_the_queue() {
        let request = |requests| Consent {
            status: MemberStatus::Request,
            requests,
            blocks_sender: false,
        };
        assert_eq!(decide(request(2), 0, 0), None);
        assert_eq!(
            decide(request(3), 0, 0),
            Some(UndeliveredReason::RequestLimit)
        );
        let declined = Consent {
            status: MemberStatus::Declined,
            ..accepted()
        };
        assert_eq!(decide(declined, 0, 0), Some(UndeliveredReason::Declined));
        let blocked = Consent {
            blocks_sender: true,
            ..accepted()
        };
        assert_eq!(decide(blocked, 0, 0), Some(UndeliveredReason::Blocked));
        // The sender count is not asked for on a short queue.
        let asked = refusal(&POLICY, accepted(), 5, || panic!("not needed")).unwrap();
        assert_eq!(asked, None);
    }
}
