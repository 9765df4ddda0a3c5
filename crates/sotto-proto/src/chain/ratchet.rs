//! The symmetric ratchet of a sender chain (`docs/protocol.md` §7).
//!
//! ```text
//! message_key(i)   = HMAC-SHA-256(chain_key(i), domain("sotto/chain/message-key"))
//! chain_key(i + 1) = HMAC-SHA-256(chain_key(i), domain("sotto/chain/next"))
//! key ‖ nonce      = HKDF-SHA-256(salt = "", ikm = message_key(i),
//!                                 info = domain("sotto/msg-aead") ‖ chain id ‖ u32 i, 44 bytes)
//! ```
//!
//! Each step is one-way, so holding the chain key at index `i` reveals nothing about earlier
//! messages; a message key is used for one message and then dropped.

use zeroize::Zeroizing;

use crate::codec::Writer;
use crate::crypto::aead::{AeadKey, KEY_LEN, NONCE_LEN};
use crate::crypto::{ct_eq, hkdf_sha256, hmac_sha256};
use crate::domain::Domain;
use crate::error::Error;
use crate::ids::ChainId;

/// The secret state of a chain at one index. Not `Clone`: a chain key has one owner at a time.
pub struct ChainKey(Zeroizing<[u8; 32]>);

impl ChainKey {
    /// Wraps 32 secret bytes (fresh randomness, or a decrypted distribution).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The secret bytes, for a key distribution or the encrypted local store.
    pub fn danger_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The key of the message at this index.
    pub fn message_key(&self) -> MessageKey {
        MessageKey(hmac_sha256(
            self.0.as_ref(),
            &Domain::ChainMessageKey.encoded(),
        ))
    }

    /// The chain key at the next index.
    pub fn next(&self) -> ChainKey {
        ChainKey(hmac_sha256(
            self.0.as_ref(),
            &Domain::ChainNextKey.encoded(),
        ))
    }

    /// Constant-time equality, to tell a repeated distribution from a conflicting one.
    pub fn ct_eq(&self, other: &ChainKey) -> bool {
        ct_eq(self.0.as_ref(), other.0.as_ref())
    }

    /// An independent copy, for persisting alongside the live key. Named so every copy of a
    /// secret is visible at the call site.
    pub fn danger_duplicate(&self) -> ChainKey {
        ChainKey(self.0.clone())
    }
}

impl std::fmt::Debug for ChainKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChainKey(<secret>)")
    }
}

/// The secret key of one message. Not `Clone`; dropped (and zeroized) once used.
pub struct MessageKey(Zeroizing<[u8; 32]>);

impl MessageKey {
    /// Wraps 32 secret bytes from the encrypted local store.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The secret bytes, for the encrypted local store.
    pub fn danger_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// An independent copy (both zeroized on drop), so a staged open never moves a kept key out
    /// of the receiver state before the message is committed.
    pub(crate) fn duplicate(&self) -> MessageKey {
        MessageKey(self.0.clone())
    }

    /// The AES-256-GCM key and nonce of message `index` of `chain`.
    pub fn aead_key(&self, chain: ChainId, index: u32) -> Result<AeadKey, Error> {
        let mut info = Writer::for_domain(Domain::MessageAead);
        chain.encode(&mut info);
        info.u32(index);
        let mut okm = Zeroizing::new([0u8; KEY_LEN + NONCE_LEN]);
        hkdf_sha256(&[], self.0.as_ref(), &info.finish(), okm.as_mut())?;
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        let mut nonce = [0u8; NONCE_LEN];
        for (dst, src) in key.iter_mut().chain(nonce.iter_mut()).zip(okm.iter()) {
            *dst = *src;
        }
        Ok(AeadKey::new(key, nonce))
    }
}

impl std::fmt::Debug for MessageKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MessageKey(<secret>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_distinct_and_deterministic() {
        let ck = ChainKey::from_bytes([1; 32]);
        let next = ck.next();
        let mk = ck.message_key();
        assert_ne!(next.danger_bytes(), ck.danger_bytes());
        assert_ne!(mk.danger_bytes(), next.danger_bytes());
        assert!(ChainKey::from_bytes([1; 32]).next().ct_eq(&next));
    }
}
