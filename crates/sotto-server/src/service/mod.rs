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
//! - [`payload`]: the header checks on relayed envelopes, distributions and key requests.

pub mod accounts;
pub mod consent;
pub mod conversations;
pub mod devices;
pub mod group;
pub mod payload;
pub mod sessions;
