//! AES-256-GCM. Keys and nonces are derived per message (see [`crate::chain`]) or per attachment,
//! so a (key, nonce) pair is used exactly once; callers cannot supply a nonce of their own choosing
//! except through those derivations.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use zeroize::Zeroizing;

use crate::error::Error;

/// Bytes of an AES-256 key.
pub const KEY_LEN: usize = 32;
/// Bytes of a GCM nonce.
pub const NONCE_LEN: usize = 12;
/// Bytes of a GCM tag.
pub const TAG_LEN: usize = 16;

/// An AES-256-GCM key and the one nonce it will be used with.
pub struct AeadKey {
    key: Zeroizing<[u8; KEY_LEN]>,
    nonce: [u8; NONCE_LEN],
}

impl AeadKey {
    /// Builds a key from derived material.
    pub fn new(key: Zeroizing<[u8; KEY_LEN]>, nonce: [u8; NONCE_LEN]) -> Self {
        Self { key, nonce }
    }

    fn less_safe(&self) -> Result<LessSafeKey, Error> {
        UnboundKey::new(&AES_256_GCM, self.key.as_ref())
            .map(LessSafeKey::new)
            .map_err(|_| Error::Crypto {
                operation: "aes-gcm key",
            })
    }

    /// Encrypts `plaintext` with `aad` authenticated; returns ciphertext ‖ tag.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, Error> {
        let key = self.less_safe()?;
        let mut buf = Vec::with_capacity(plaintext.len() + TAG_LEN);
        buf.extend_from_slice(plaintext);
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(self.nonce),
            Aad::from(aad),
            &mut buf,
        )
        .map_err(|_| Error::Crypto {
            operation: "aes-gcm seal",
        })?;
        Ok(buf)
    }

    /// Decrypts ciphertext ‖ tag; any change to either, or to `aad`, is
    /// [`Error::DecryptionFailed`], with no partial plaintext.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
        let key = self.less_safe()?;
        let mut buf = Zeroizing::new(sealed.to_vec());
        let len = key
            .open_in_place(
                Nonce::assume_unique_for_key(self.nonce),
                Aad::from(aad),
                buf.as_mut_slice(),
            )
            .map_err(|_| Error::DecryptionFailed)?
            .len();
        buf.truncate(len);
        Ok(buf)
    }
}

impl std::fmt::Debug for AeadKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AeadKey(<secret>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> AeadKey {
        AeadKey::new(Zeroizing::new([7u8; KEY_LEN]), [9u8; NONCE_LEN])
    }

    #[test]
    fn round_trip_and_tamper() {
        let sealed = key().seal(b"ad", b"hello").unwrap();
        assert_eq!(sealed.len(), 5 + TAG_LEN);
        assert_eq!(key().open(b"ad", &sealed).unwrap().as_slice(), b"hello");
        assert!(matches!(
            key().open(b"ae", &sealed),
            Err(Error::DecryptionFailed)
        ));
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 1;
            assert!(matches!(
                key().open(b"ad", &bad),
                Err(Error::DecryptionFailed)
            ));
        }
        assert!(matches!(
            key().open(b"ad", &sealed[..3]),
            Err(Error::DecryptionFailed)
        ));
    }
}
