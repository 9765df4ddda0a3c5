//! Authentication building blocks: usernames, password hashing, login throttling and tokens.
//! The flows that combine them live in [`crate::service::sessions`].
//!
//! # Layout
//! - [`username`]: normalisation and validation.
//! - [`password`]: Argon2id hashing with a dummy hash for unknown users.
//! - [`throttle`]: login backoff per account, per address and per (account, address); the
//!   per-address key ([`crate::peer::peer_key`], IPv6 by /64).
//! - [`registration`]: sign-ups per address and server-wide.
//! - [`recovery_limit`]: failed recovery unlocks per account and per address.
//! - [`tokens`]: random 256-bit tokens and their SHA-256 hashes.

pub mod password;
pub mod recovery_limit;
pub mod registration;
pub mod throttle;
pub mod tokens;
pub mod username;
