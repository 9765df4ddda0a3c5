//! Attachment encryption (`docs/protocol.md` §10).
//!
//! A fresh 32-byte secret per attachment is expanded with HKDF-SHA-256 (info
//! `domain("sotto/attachment")`) into an AES-256-GCM key, a nonce and a 32-byte key commitment.
//! The blob the server stores is `commitment ‖ AES-GCM(file)`. AES-GCM is not key-committing, so
//! the receiver checks the commitment (in constant time) and the blob's SHA-256, both carried in
//! the signed message, before decrypting: one blob cannot decrypt to two different files.

use zeroize::Zeroizing;

use crate::crypto::aead::{AeadKey, KEY_LEN, NONCE_LEN, TAG_LEN};
use crate::crypto::{ct_eq, hkdf_sha256, sha256};
use crate::domain::Domain;
use crate::env::Env;
use crate::error::Error;

/// Bytes of the key commitment at the start of a blob.
pub const COMMITMENT_LEN: usize = 32;

/// The result of encrypting a file.
#[derive(Debug)]
pub struct EncryptedAttachment {
    /// The blob to upload.
    pub blob: Vec<u8>,
    /// The secret to put in the message's attachment reference.
    pub secret: Zeroizing<[u8; 32]>,
    /// SHA-256 of `blob`, for the message's attachment reference.
    pub blob_sha256: [u8; 32],
}

struct AttachmentKeys {
    aead: AeadKey,
    commitment: [u8; COMMITMENT_LEN],
}

fn derive(secret: &[u8; 32]) -> Result<AttachmentKeys, Error> {
    let mut okm = Zeroizing::new([0u8; KEY_LEN + NONCE_LEN + COMMITMENT_LEN]);
    hkdf_sha256(&[], secret, &Domain::Attachment.encoded(), okm.as_mut())?;
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    let mut nonce = [0u8; NONCE_LEN];
    let mut commitment = [0u8; COMMITMENT_LEN];
    for (dst, src) in key
        .iter_mut()
        .chain(nonce.iter_mut())
        .chain(commitment.iter_mut())
        .zip(okm.iter())
    {
        *dst = *src;
    }
    Ok(AttachmentKeys {
        aead: AeadKey::new(key, nonce),
        commitment,
    })
}

/// The length of the blob [`encrypt_attachment`] makes of a file of `plain_len` bytes: what a
/// receiver, told the file's size in the signed message, may download at most.
pub fn blob_len(plain_len: u64) -> u64 {
    plain_len.saturating_add((COMMITMENT_LEN + TAG_LEN) as u64)
}

/// Encrypts a file under a fresh secret.
pub fn encrypt_attachment(
    plaintext: &[u8],
    env: &mut Env<'_>,
) -> Result<EncryptedAttachment, Error> {
    let secret = Zeroizing::new(env.random::<32>()?);
    let keys = derive(&secret)?;
    let aad = Domain::AttachmentCommitment.encoded();
    let sealed = keys.aead.seal(&aad, plaintext)?;
    let mut blob = Vec::with_capacity(COMMITMENT_LEN + sealed.len());
    blob.extend_from_slice(&keys.commitment);
    blob.extend_from_slice(&sealed);
    let blob_sha256 = sha256(&blob);
    Ok(EncryptedAttachment {
        blob,
        secret,
        blob_sha256,
    })
}

/// Checks a downloaded blob against its reference and decrypts it. Every failure is the uniform
/// [`Error::DecryptionFailed`].
pub fn decrypt_attachment(
    blob: &[u8],
    secret: &[u8; 32],
    expected_sha256: &[u8; 32],
) -> Result<Zeroizing<Vec<u8>>, Error> {
    if !ct_eq(&sha256(blob), expected_sha256) {
        return Err(Error::DecryptionFailed);
    }
    let keys = derive(secret)?;
    if blob.len() < COMMITMENT_LEN {
        return Err(Error::DecryptionFailed);
    }
    let (commitment, sealed) = blob.split_at(COMMITMENT_LEN);
    if !ct_eq(commitment, &keys.commitment) {
        return Err(Error::DecryptionFailed);
    }
    keys.aead
        .open(&Domain::AttachmentCommitment.encoded(), sealed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::{DangerSeededRng, Timestamp};

    #[test]
    fn round_trip_and_every_check() {
        let mut rng = DangerSeededRng::new([5; 32]);
        let mut env = Env::new(Timestamp(0), &mut rng);
        let file = b"%PDF-1.7 contract".to_vec();
        let enc = encrypt_attachment(&file, &mut env).unwrap();
        assert_eq!(blob_len(file.len() as u64), enc.blob.len() as u64);
        let out = decrypt_attachment(&enc.blob, &enc.secret, &enc.blob_sha256).unwrap();
        assert_eq!(out.as_slice(), file.as_slice());
        let mut tampered = enc.blob.clone();
        tampered[40] ^= 1;
        assert!(decrypt_attachment(&tampered, &enc.secret, &enc.blob_sha256).is_err());
        assert!(decrypt_attachment(&tampered, &enc.secret, &sha256(&tampered)).is_err());
        assert!(decrypt_attachment(&enc.blob, &[0; 32], &enc.blob_sha256).is_err());
        assert!(decrypt_attachment(&[], &enc.secret, &sha256(&[])).is_err());
    }
}
