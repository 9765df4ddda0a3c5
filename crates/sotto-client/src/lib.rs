//! # sotto-client
//!
//! The client side of Sotto on top of `sotto-proto`: it talks to the server, keeps this device's
//! keys and state in an encrypted profile, and turns the protocol's checks into a chat that
//! never silently loses or shows an unverifiable message. The `sotto` command line is a thin
//! layer over [`Client`].
//!
//! The state this device keeps lives in [`engine`] as types with pure methods (no I/O, time
//! passed in); the `impl Client` blocks in the other modules are the driver around them: fetch
//! from the server, call a method of the state, persist the snapshot, send.
//!
//! # Layout
//! - [`client`]: [`Client`], one open profile and its server.
//! - [`engine`]: the state types: the outbox, held payloads, pins and the run's directory.
//! - [`tls`]: certificate trust (system roots or a pinned fingerprint, nothing else).
//! - [`api`], [`ws`]: the HTTPS API and the WebSocket (their JSON types are `sotto-wire`'s).
//! - [`store`]: the encrypted local store (the [`store::Vault`] seam and the snapshot).
//! - [`session`]: device login challenges, token renewal, WebSocket tickets.
//! - [`account`]: register, login and approval of new devices, revocation, exchange keys.
//! - [`peers`]: directory lookups verified against the pins, safety numbers.
//! - [`prekeys`]: this device's one-time and last-resort prekeys (upload, re-key, status)
//!   and claiming the prekeys of the devices it sends to.
//! - [`groups`]: verified group logs, groups and 1:1 conversations.
//! - [`membership`]: leaving, admins, and learning that this account was removed.
//! - [`messages`]: what a person does with messages: replies, mentions, edits, deletes,
//!   reactions, and search over the stored history.
//! - [`outbox`]: sending (reserve → persist → seal → send), sender chains, and retrying the
//!   devices a message did not reach yet.
//! - [`requests`]: message requests (accept, decline) and blocks.
//! - [`history`]: past messages from the server's archive, and retention.
//! - [`recovery`]: the key backup: set-up, writing it, recovering an account from it.
//! - [`handover`]: handing this device's keys to a device it approves, and taking them.
//! - [`bundle`]: key bundles to and from the profile (history keys, pins, group names).
//! - `receive`, [`sync`]: receiving payloads and the sync loop.
//! - `identity_hold`: retrying payloads that wait for the user's decision about a changed
//!   identity.
//! - [`error`]: the crate's error type.

pub mod account;
pub mod api;
pub mod bundle;
pub mod client;
pub mod engine;
pub mod error;
pub mod groups;
pub mod handover;
pub mod history;
mod identity_hold;
pub mod membership;
pub mod messages;
pub mod outbox;
pub mod peers;
pub mod prekeys;
mod receive;
pub mod recovery;
pub mod requests;
pub mod session;
pub mod store;
pub mod sync;
pub mod tls;
pub mod ws;

pub use client::{Client, ProfileOptions, DEFAULT_SERVER};
pub use error::{Error, Result};
