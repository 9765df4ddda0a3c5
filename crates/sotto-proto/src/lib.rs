//! # sotto-proto
//!
//! Sotto's end-to-end protocol core, sans I/O: bytes and events in, bytes and events out. It
//! opens no socket, file or database and runs no async runtime; the time and randomness every
//! operation needs come in through [`env::Env`], so tests and test vectors are deterministic.
//! `docs/protocol.md` is the normative description of everything here.
//!
//! # Layout
//! - [`codec`], [`domain`], [`signed`]: the one canonical, bounded, domain-separated encoding.
//! - [`crypto`]: every primitive, through aws-lc-rs (RSA-PSS, RSA-OAEP, AES-256-GCM, HKDF, HMAC,
//!   ECDH P-256, ML-KEM-768).
//! - [`ids`]: typed identifiers derived from keys or chosen at random.
//! - [`identity`]: master and device keys, certificates, revocations, the chain verifier.
//! - [`auth`]: the login challenge a device signs with its auth key.
//! - [`safety`]: safety numbers and their QR payload.
//! - [`group`]: the signed, hash-chained group state log.
//! - [`chain`]: sender chains (ratchet, sending and receiving state).
//! - [`distribution`]: key-distribution messages carrying chain keys under RSA-OAEP (version 1)
//!   or the hybrid of RSA-OAEP, ECDH P-256 and ML-KEM-768 (version 2).
//! - [`prekey`]: one-time prekeys, signed by the device that made them (version 2).
//! - [`envelope`] and [`body`]: the signed, encrypted, padded message; [`body::fields`]: the
//!   body's validated text fields.
//! - [`payload`]: what devices relay to one another, told apart by its domain label.
//! - [`attachment`]: client-side encryption of attachment blobs.
//! - [`recovery`]: the recovery key, a passphrase's Argon2id secret and the keys derived from
//!   either.
//! - [`bundle`]: the key bundle (master key, chain keys, pins, group names) that backups and
//!   hand-overs carry.
//! - [`backup`]: backup items sealed under the backup key, and opening a backup.
//! - [`handover`]: the bundle an approving device sends the device it approves.
//! - [`limits`]: every numeric bound, in one place.

pub mod attachment;
pub mod auth;
pub mod backup;
pub mod body;
pub mod bundle;
pub mod chain;
pub mod codec;
pub mod crypto;
pub mod distribution;
pub mod domain;
pub mod env;
pub mod envelope;
pub mod error;
pub mod group;
pub mod handover;
pub mod identity;
pub mod ids;
pub mod limits;
pub mod payload;
pub mod prekey;
pub mod recovery;
pub mod safety;
pub mod signed;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;

pub use chain::prekeys::PrekeyRing;
pub use env::{Env, Rng, SystemRng, Timestamp};
pub use error::{
    AmendmentError, DecodeError, Error, FieldError, GroupError, KeyRejection, PrekeyError,
    ReceiveError, RecoveryError,
};
