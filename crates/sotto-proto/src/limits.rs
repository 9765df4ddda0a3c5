//! The protocol's numeric bounds in one place. Each one is normative (`docs/protocol.md` §9): a
//! second implementation must use the same values to accept and refuse the same inputs.

use crate::env::Timestamp;

/// A timestamp may be at most this far ahead of the receiver's clock. Covers clients whose clocks
/// are an hour or two off in either direction; anything further is refused as far future.
pub const MAX_CLOCK_SKEW_MS: u64 = 3 * Timestamp::HOUR;

/// Messages a sender chain carries before it must be replaced (indexes `0..100`).
pub const MAX_CHAIN_MESSAGES: u32 = 100;

/// How long a sender chain may be used before it must be replaced: 24 hours for a device that runs
/// protocol version 2 (`docs/protocol.md` §18.8, where §7.2 allowed 7 days), so a sender heals its
/// own chains within a day.
pub const MAX_CHAIN_AGE_MS: u64 = 24 * Timestamp::HOUR;

/// Skipped message keys a receiver keeps across all chains; beyond it the oldest are evicted.
pub const MAX_SKIPPED_KEYS: usize = 2_000;

/// How long a receiver keeps a skipped message key waiting for its message.
pub const MAX_SKIPPED_KEY_AGE_MS: u64 = 30 * Timestamp::DAY;

/// A receiver forgets a chain (its received-index record) this long after its distribution was
/// made.
pub const CHAIN_RETENTION_MS: u64 = 180 * Timestamp::DAY;

/// A distribution older than this is refused, so a replayed one cannot revive a forgotten chain.
/// Leaves 60 days between the two for offline devices and delayed messages.
pub const MAX_DISTRIBUTION_AGE_MS: u64 = 120 * Timestamp::DAY;

/// Chains a receiver keeps in its local state.
pub const MAX_KEPT_CHAINS: usize = 1_000_000;

/// Members in one conversation.
pub const MAX_MEMBERS: usize = 1_000;

/// Bytes of a conversation name.
pub const MAX_GROUP_NAME_LEN: usize = 128;

/// Bytes of a username as carried in group state.
pub const MAX_USERNAME_LEN: usize = 64;

/// Bytes of a message body before padding (the text, or an attachment reference and caption).
pub const MAX_BODY_LEN: usize = 64 * 1024;

/// Bytes of the largest padded plaintext (the largest padding bucket).
pub const MAX_PADDED_LEN: usize = 128 * 1024;

/// Bytes of the largest encoded envelope (header, padded ciphertext, tag, signature, prefixes).
pub const MAX_ENVELOPE_LEN: usize = MAX_PADDED_LEN + 4 * 1024;

/// Bytes of the largest encoded group change (a genesis with every member).
pub const MAX_GROUP_CHANGE_LEN: usize = 256 * 1024;

/// Bytes of the largest encoded identity structure (certificates, revocations).
pub const MAX_CERTIFICATE_LEN: usize = 4 * 1024;

/// One-time prekeys a device keeps uploaded at most (`docs/protocol.md` §18.4), and the most one
/// upload may carry.
pub const MAX_ONE_TIME_PREKEYS: usize = 100;

/// A device uploads more one-time prekeys when the server says fewer than this are left.
pub const MIN_ONE_TIME_PREKEYS: usize = 20;

/// Bytes of the largest encoded one-time prekey body (the exact size is 1,342; room for nothing
/// else).
pub const MAX_PREKEY_BODY_LEN: usize = 2 * 1024;

/// A device forgets that it consumed a one-time prekey this long after it did (§18.6): the chain
/// retention, beyond which a replayed distribution is stale anyway.
pub const CONSUMED_PREKEY_RETENTION_MS: u64 = CHAIN_RETENTION_MS;

/// One-time prekey pairs a device's local ring holds at most (uploaded and not yet used).
pub const MAX_RING_ONE_TIME_PREKEYS: usize = 1_000;

/// Last-resort prekey pairs a device's local ring holds at most (one per exchange key kept).
pub const MAX_RING_LAST_RESORT_PREKEYS: usize = 1_000;

/// Consumed one-time prekeys a device's local ring remembers at most.
pub const MAX_RING_CONSUMED_PREKEYS: usize = 1_000_000;

/// Bytes of the largest key-distribution wire form, either version (§18.5).
pub const MAX_DISTRIBUTION_LEN: usize = 4 * 1024;
