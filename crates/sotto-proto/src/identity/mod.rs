//! Account and device identities: keys, certificates, revocations and the verifier that turns them
//! into trusted devices.
//!
//! # Layout
//! - [`certificate`]: the signed bodies, byte for byte.
//! - [`keys`]: the private keys and what they sign.
//! - [`verify`]: the chain check from a pinned master key to a device and its exchange key.

pub mod certificate;
pub mod keys;
pub mod verify;

pub use certificate::{DeviceCertificate, ExchangeKeyCertificate, Revocation};
pub use keys::{DeviceKeys, MasterKey};
pub use verify::{AccountIdentity, VerifiedDevice, VerifiedExchangeKey, VerifiedRevocation};
