//! The server's use cases, between the HTTP/WebSocket handlers and the store: each function
//! checks permissions and input, calls the store, and tells the hub whom to notify or
//! disconnect. No SQL here and no HTTP types.
//!
//! # Layout
//! - [`accounts`]: registration, password login, logout, password change.
//! - [`sessions`]: bearer authentication, device challenges, tokens, tickets, session lists.
//! - [`devices`]: master keys, device certificates, revocations, exchange keys, the directory.
//! - [`conversations`]: the group-state log, membership, envelopes, attachments.
//! - [`consent`]: member statuses (requests, accept, decline), blocks, the creation rate.
//! - [`group`]: the server's verification of the group-state log.
//! - [`announce`]: the notice to member devices that a group log changed.
//! - [`payload`]: the header checks on relayed envelopes, distributions and key requests.
//! - [`recovery`]: the recovery set-up, backup items and unlocking them.
//! - [`handovers`]: device hand-overs from an approving device to the device it approved.
//! - [`prekeys`]: one-time prekeys: upload, count, and the claim that hands each out once.
//! - [`claim_limit`]: how many devices one account may claim a prekey of per hour.
//! - [`history`]: pages of a conversation's archive, and the server policy.
//! - [`purge`]: the periodic purge (expired records, retention).

pub mod accounts;
pub mod announce;
pub mod claim_limit;
pub mod consent;
pub mod conversations;
pub mod devices;
pub mod group;
pub mod handovers;
pub mod history;
pub mod payload;
pub mod prekeys;
pub mod purge;
pub mod recovery;
pub mod sessions;
