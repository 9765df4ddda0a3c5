//! The hybrid key encapsulation of a version-2 distribution (`docs/protocol.md` §18.5):
//!
//! ```text
//! label      = SHA-256( domain("sotto/kdm-label", 2) ‖ header )
//! rsa_ct     = RSA-OAEP-SHA-256(X, domain("sotto/kdm-rsa", 2) ‖ r, label)
//! info       = domain("sotto/kdm-hybrid", 2) ‖ SHA-256(header) ‖ SHA-256(rsa_ct)
//!            ‖ SHA-256(X's SPKI) ‖ SHA-256(P's EC key) ‖ SHA-256(P's ML-KEM key)
//! okm        = HKDF-SHA-256(salt = "", ikm = ss_k ‖ ss_e ‖ r, info, 44)
//! payload    = domain("sotto/kdm-payload", 2) ‖ chain id ‖ u32 start_index ‖ CK_start
//! sealed     = AES-256-GCM(okm[0..32], okm[32..44], aad = header, payload)
//! ciphertext = bytes(rsa_ct) ‖ bytes(sealed)
//! ```
//!
//! The key depends on all three secrets, and `info` binds every ciphertext and every recipient
//! public key, so no part can be swapped or replayed under another key. Opening fails with the
//! one [`Error::DecryptionFailed`] whatever went wrong, so nothing tells which secret was wrong.

use zeroize::Zeroizing;

use crate::chain::ratchet::ChainKey;
use crate::codec::{Reader, Writer};
use crate::crypto::aead::{AeadKey, KEY_LEN, NONCE_LEN, TAG_LEN};
use crate::crypto::prekey::{PrekeyPair, PrekeyPublic, SHARED_SECRET_LEN};
use crate::crypto::rsa::{EncryptingKey, ExchangeKeyPair, MAX_RSA_OUTPUT_LEN};
use crate::crypto::{hkdf_sha256, sha256};
use crate::distribution::{decode_payload, encode_payload, DistributionHeader};
use crate::domain::Domain;
use crate::error::{DecodeError, Error};
use crate::ids::ChainId;

/// Bytes of the random share `r` sent under RSA-OAEP.
pub const RSA_SHARE_LEN: usize = 32;

/// Bytes of the version-2 payload: `domain(19) ‖ chain(16) ‖ u32 ‖ chain key(32)`.
pub const PAYLOAD_LEN: usize = 19 + 16 + 4 + 32;

/// Bytes of the sealed payload (payload and GCM tag).
pub const SEALED_LEN: usize = PAYLOAD_LEN + TAG_LEN;

/// The three secrets the combiner takes. The sender makes them fresh per distribution; the
/// receiver recovers them from the ciphertexts.
pub struct Secrets {
    /// The RSA-OAEP share `r`.
    pub r: Zeroizing<[u8; RSA_SHARE_LEN]>,
    /// The ECDH secret `ss_e`.
    pub ss_e: Zeroizing<[u8; SHARED_SECRET_LEN]>,
    /// The ML-KEM secret `ss_k`.
    pub ss_k: Zeroizing<[u8; SHARED_SECRET_LEN]>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets(<secret>)")
    }
}

/// Splits a version-2 ciphertext into `(rsa_ct, sealed)`. Anything but `rsa_ct` of at most 512
/// bytes followed by `sealed` of exactly [`SEALED_LEN`] bytes is `decode/invalid-value`.
pub fn split_ciphertext(ciphertext: &[u8]) -> Result<(&[u8], &[u8]), DecodeError> {
    let invalid = DecodeError::InvalidValue {
        field: "hybrid ciphertext",
    };
    let mut r = Reader::new(ciphertext);
    let rsa_ct = r
        .bytes("rsa ciphertext", MAX_RSA_OUTPUT_LEN)
        .map_err(|_| invalid.clone())?;
    let sealed = r
        .bytes("sealed payload", SEALED_LEN)
        .map_err(|_| invalid.clone())?;
    if sealed.len() != SEALED_LEN || r.finish().is_err() {
        return Err(invalid);
    }
    Ok((rsa_ct, sealed))
}

/// The OAEP plaintext carrying `r`.
fn rsa_plaintext(r: &[u8; RSA_SHARE_LEN]) -> Zeroizing<Vec<u8>> {
    let mut w = Writer::for_domain(Domain::KeyDistributionRsa);
    w.fixed(r);
    Zeroizing::new(w.finish())
}

/// Reads `r` back out of the OAEP plaintext; any other content is a decryption failure.
fn rsa_share(plaintext: &[u8]) -> Result<Zeroizing<[u8; RSA_SHARE_LEN]>, Error> {
    let parse = || -> Result<Zeroizing<[u8; RSA_SHARE_LEN]>, DecodeError> {
        let mut reader = Reader::for_domain(plaintext, Domain::KeyDistributionRsa)?;
        let r = Zeroizing::new(reader.array()?);
        reader.finish()?;
        Ok(r)
    };
    parse().map_err(|_| Error::DecryptionFailed)
}

/// The combiner: `okm = HKDF(ikm = ss_k ‖ ss_e ‖ r, info)` as an AES-GCM key and nonce.
fn combine(
    secrets: &Secrets,
    header: &[u8],
    rsa_ct: &[u8],
    exchange_spki: &[u8],
    prekey: &PrekeyPublic,
) -> Result<AeadKey, Error> {
    let mut info = Writer::for_domain(Domain::KeyDistributionHybrid);
    info.fixed(&sha256(header));
    info.fixed(&sha256(rsa_ct));
    info.fixed(&sha256(exchange_spki));
    info.fixed(&sha256(&prekey.ec));
    info.fixed(&sha256(&prekey.kem));
    let info = info.finish();
    let mut ikm = Zeroizing::new(Vec::with_capacity(2 * SHARED_SECRET_LEN + RSA_SHARE_LEN));
    ikm.extend_from_slice(secrets.ss_k.as_ref());
    ikm.extend_from_slice(secrets.ss_e.as_ref());
    ikm.extend_from_slice(secrets.r.as_ref());
    let mut okm = Zeroizing::new([0u8; KEY_LEN + NONCE_LEN]);
    hkdf_sha256(&[], ikm.as_ref(), &info, okm.as_mut())?;
    let (key_part, nonce_part) = okm.split_at(KEY_LEN);
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    key.copy_from_slice(key_part);
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(nonce_part);
    Ok(AeadKey::new(key, nonce))
}

/// The sender's side: `ciphertext = bytes(rsa_ct) ‖ bytes(sealed)` for the encoded `header`
/// (which already carries `E` and the ML-KEM ciphertext of `secrets`). `rsa_share` is the `r`
/// put under RSA-OAEP: the same as `secrets.r` except in tests that send a wrong one.
#[allow(clippy::too_many_arguments)]
pub(crate) fn seal(
    header: &[u8],
    exchange: &EncryptingKey,
    prekey: &PrekeyPublic,
    rsa_share: &[u8; RSA_SHARE_LEN],
    secrets: &Secrets,
    chain: ChainId,
    start_index: u32,
    key: &ChainKey,
) -> Result<Vec<u8>, Error> {
    let label = DistributionHeader::oaep_label_v2(header);
    let rsa_ct = exchange.encrypt(&rsa_plaintext(rsa_share), &label)?;
    let aead = combine(secrets, header, &rsa_ct, exchange.spki(), prekey)?;
    let payload = encode_payload(Domain::KeyDistributionPayloadV2, chain, start_index, key);
    let sealed = aead.seal(header, &payload)?;
    let mut w = Writer::default();
    w.bytes(&rsa_ct);
    w.bytes(&sealed);
    Ok(w.finish())
}

/// The receiver's side (§18.6 step 5): recovers the three secrets with this device's exchange
/// key and prekey, derives the key, opens and decodes the payload. Every failure is
/// [`Error::DecryptionFailed`].
pub(crate) fn open(
    header_bytes: &[u8],
    ephemeral: &[u8],
    kem_ciphertext: &[u8],
    ciphertext: &[u8],
    exchange: &ExchangeKeyPair,
    prekey: &PrekeyPair,
) -> Result<(ChainId, u32, ChainKey), Error> {
    let (rsa_ct, sealed) = split_ciphertext(ciphertext).map_err(|_| Error::DecryptionFailed)?;
    let label = DistributionHeader::oaep_label_v2(header_bytes);
    let r = rsa_share(&exchange.decrypt(rsa_ct, &label)?)?;
    let secrets = Secrets {
        r,
        ss_e: prekey.agree(ephemeral)?,
        ss_k: prekey.decapsulate(kem_ciphertext)?,
    };
    let aead = combine(
        &secrets,
        header_bytes,
        rsa_ct,
        exchange.encrypting_key().spki(),
        prekey.public(),
    )?;
    let payload = aead.open(header_bytes, sealed)?;
    decode_payload(Domain::KeyDistributionPayloadV2, &payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_and_sealed_sizes_are_those_of_the_spec() {
        let key = ChainKey::from_bytes([3; 32]);
        let payload = encode_payload(
            Domain::KeyDistributionPayloadV2,
            ChainId::from_bytes([1; 16]),
            0,
            &key,
        );
        assert_eq!(payload.len(), PAYLOAD_LEN);
        assert_eq!(SEALED_LEN, 87);
    }

    #[test]
    fn split_refuses_every_other_shape() {
        let mut w = Writer::default();
        w.bytes(&[1; 384]);
        w.bytes(&[2; SEALED_LEN]);
        let good = w.finish();
        let (rsa, sealed) = split_ciphertext(&good).unwrap();
        assert_eq!((rsa.len(), sealed.len()), (384, SEALED_LEN));
        for bad in [
            &good[..good.len() - 1],
            &[good.as_slice(), &[0]].concat()[..],
            &[][..],
        ] {
            assert_eq!(
                split_ciphertext(bad).unwrap_err().code(),
                "decode/invalid-value"
            );
        }
        let mut short = Writer::default();
        short.bytes(&[1; 384]);
        short.bytes(&[2; SEALED_LEN - 1]);
        assert!(split_ciphertext(&short.finish()).is_err());
        let mut long_rsa = Writer::default();
        long_rsa.bytes(&[1; 513]);
        long_rsa.bytes(&[2; SEALED_LEN]);
        assert!(split_ciphertext(&long_rsa.finish()).is_err());
    }
}
