//! Authentication building blocks: usernames, password hashing, login throttling and tokens.
//! The flows that combine them live in [`crate::service::sessions`].
//!
//! # Layout
//! - [`username`]: normalisation and validation.
//! - [`password`]: Argon2id hashing with a dummy hash for unknown users.
//! - [`throttle`]: backoff per account, per address and per (account, address).
//! - [`tokens`]: random 256-bit tokens and their SHA-256 hashes.

pub mod password;
pub mod throttle;
pub mod tokens;
pub mod username;
