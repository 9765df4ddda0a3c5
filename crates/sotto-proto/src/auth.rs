//! The server login challenge a device answers with its auth key.
//!
//! The challenge names the server origin, the account, the device and a fresh random nonce the
//! server chose, under its own domain label; the server accepts each nonce once and only within
//! a short lifetime. The auth key signs nothing else, so a server cannot get an end-to-end
//! signature (message, distribution, group change) by dressing it up as a challenge.

use crate::codec::{Reader, Writer};
use crate::crypto::rsa::VerifyingKey;
use crate::domain::Domain;
use crate::env::Timestamp;
use crate::error::{DecodeError, Error};
use crate::ids::DeviceId;
use crate::limits::MAX_USERNAME_LEN;

/// The longest server origin, in bytes.
pub const MAX_ORIGIN_LEN: usize = 256;

/// What a device signs to log in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthChallenge {
    /// The server's origin (`https://host:port`), so a challenge from one server is useless at
    /// another.
    pub origin: String,
    /// The account's username on that server.
    pub username: String,
    /// The device logging in.
    pub device: DeviceId,
    /// The server's fresh random nonce.
    pub nonce: [u8; 32],
    /// When the server issued it.
    pub issued_at: Timestamp,
}

impl AuthChallenge {
    /// The bytes the auth key signs.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::for_domain(Domain::AuthChallenge);
        w.text(&self.origin);
        w.text(&self.username);
        self.device.encode(&mut w);
        w.fixed(&self.nonce);
        w.u64(self.issued_at.millis());
        w.finish()
    }

    /// Decodes a challenge.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::for_domain(bytes, Domain::AuthChallenge)?;
        let challenge = Self {
            origin: r.text("origin", MAX_ORIGIN_LEN)?.to_owned(),
            username: r.text("username", MAX_USERNAME_LEN)?.to_owned(),
            device: DeviceId::decode(&mut r)?,
            nonce: r.array()?,
            issued_at: Timestamp(r.u64()?),
        };
        r.finish()?;
        Ok(challenge)
    }

    /// Verifies a device's answer with its certified auth key.
    pub fn verify(&self, auth_key: &VerifyingKey, signature: &[u8]) -> Result<(), Error> {
        auth_key.verify("auth challenge", &self.encode(), signature)
    }
}
