//! RSA keys: PSS-SHA-256 signatures (salt 32) and OAEP-SHA-256 key transport (MGF1-SHA-256, with a
//! label). Public keys travel as SubjectPublicKeyInfo DER and private keys as PKCS#8 DER, the forms
//! WebCrypto imports and exports.
//!
//! A public key is accepted only in canonical SPKI form, with a modulus of 3072 to 4096 bits and
//! the public exponent 65537: aws-lc's verifiers accept 2048-bit keys and PKCS#1 encodings, so the
//! check is ours. Signing and exchange keys are distinct types, so one can never stand in for the
//! other (no cross-protocol key reuse).

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{
    KeyPair, KeySize, OaepPrivateDecryptingKey, OaepPublicEncryptingKey, PrivateDecryptingKey,
    PublicEncryptingKey, PublicKey, OAEP_SHA256_MGF1SHA256,
};
use aws_lc_rs::signature::{ParsedPublicKey, RSA_PSS_2048_8192_SHA256, RSA_PSS_SHA256};
use zeroize::Zeroizing;

use crate::error::{Error, KeyRejection};

/// The smallest modulus Sotto accepts, in bits.
pub const MIN_RSA_BITS: usize = 3072;
/// The largest modulus Sotto accepts, in bits (bounds the cost of a verification).
pub const MAX_RSA_BITS: usize = 4096;
/// The only public exponent Sotto accepts (the WebCrypto and aws-lc default).
pub const PUBLIC_EXPONENT: u32 = 65_537;
/// The largest SPKI encoding a decoder accepts (a 4096-bit key is 550 bytes).
pub const MAX_SPKI_LEN: usize = 1_024;
/// The largest PKCS#8 encoding a decoder accepts.
pub const MAX_PKCS8_LEN: usize = 4_096;
/// The largest signature or OAEP ciphertext (a 4096-bit modulus).
pub const MAX_RSA_OUTPUT_LEN: usize = MAX_RSA_BITS / 8;

/// The RSA-PSS salt length, fixed by the protocol: equal to the SHA-256 digest length.
pub const PSS_SALT_LEN: usize = 32;

/// A modulus size for new keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RsaBits {
    /// RSA-3072, the default.
    Rsa3072,
    /// RSA-4096.
    Rsa4096,
}

impl RsaBits {
    fn key_size(self) -> KeySize {
        match self {
            Self::Rsa3072 => KeySize::Rsa3072,
            Self::Rsa4096 => KeySize::Rsa4096,
        }
    }
}

/// A validated RSA public key in canonical SPKI DER.
#[derive(Clone, PartialEq, Eq)]
pub struct RsaPublicKey {
    spki: Vec<u8>,
    bits: usize,
}

impl RsaPublicKey {
    /// Parses and validates an SPKI DER public key.
    pub fn from_spki(spki: &[u8]) -> Result<Self, Error> {
        if spki.len() > MAX_SPKI_LEN {
            return Err(KeyRejection::Malformed.into());
        }
        let parsed = PublicKey::from_der(spki).map_err(|_| KeyRejection::Malformed)?;
        // Insist on the one canonical SPKI form so a key has one encoding and therefore one id.
        // `from_der` reads more than the two other encodings §3 names (other algorithm
        // identifiers, bytes after the key): those are malformed, not merely non-canonical.
        let canonical = parsed.as_der().map_err(|_| KeyRejection::Malformed)?;
        if canonical.as_ref() != spki {
            let pkcs1 = parsed.as_ref();
            let another_encoding = spki == pkcs1 || spki == spki_without_parameters(pkcs1);
            return Err(if another_encoding {
                KeyRejection::NotCanonicalSpki
            } else {
                KeyRejection::Malformed
            }
            .into());
        }
        let exponent = parsed.exponent();
        if exponent.big_endian_without_leading_zero() != &PUBLIC_EXPONENT.to_be_bytes()[1..] {
            return Err(KeyRejection::BadExponent.into());
        }
        // Counted from the modulus itself: aws-lc's encryption key type refuses < 2048 bits on its
        // own, which would turn "too small" into "malformed".
        let modulus = parsed.modulus();
        let bits = modulus_bits(modulus.big_endian_without_leading_zero());
        if bits < MIN_RSA_BITS {
            return Err(KeyRejection::TooSmall { bits }.into());
        }
        if bits > MAX_RSA_BITS {
            return Err(KeyRejection::TooLarge { bits }.into());
        }
        Ok(Self {
            spki: spki.to_vec(),
            bits,
        })
    }

    /// The canonical SPKI DER bytes.
    pub fn spki(&self) -> &[u8] {
        &self.spki
    }

    /// The modulus size in bits.
    pub fn bits(&self) -> usize {
        self.bits
    }
}

/// The DER encoding of an element with a definite, minimal length.
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let len = content.len().to_be_bytes();
    let significant = len
        .iter()
        .skip_while(|&&b| b == 0)
        .copied()
        .collect::<Vec<_>>();
    let mut out = vec![tag];
    match significant.as_slice() {
        [] => out.push(0),
        [b] if *b < 0x80 => out.push(*b),
        bytes => {
            // At most 8 length bytes for a usize: the count fits in the low 7 bits.
            out.push(0x80 | bytes.len() as u8);
            out.extend_from_slice(bytes);
        }
    }
    out.extend_from_slice(content);
    out
}

/// `SubjectPublicKeyInfo` with `rsaEncryption` and its NULL parameters left out: one of the two
/// encodings of a key other than the canonical one (§3 step 3).
fn spki_without_parameters(pkcs1: &[u8]) -> Vec<u8> {
    const RSA_ENCRYPTION: [u8; 11] = [
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
    ];
    let bits = [&[0u8][..], pkcs1].concat();
    der(
        0x30,
        &[der(0x30, &RSA_ENCRYPTION), der(0x03, &bits)].concat(),
    )
}

/// The bit length of a big-endian modulus without leading zero bytes.
fn modulus_bits(modulus: &[u8]) -> usize {
    match modulus.first() {
        None => 0,
        Some(&first) => (modulus.len() - 1) * 8 + (8 - first.leading_zeros() as usize),
    }
}

impl std::fmt::Debug for RsaPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let fp = super::sha256(&self.spki);
        write!(
            f,
            "RsaPublicKey({} bits, sha256:{})",
            self.bits,
            hex_prefix(&fp)
        )
    }
}

fn hex_prefix(bytes: &[u8]) -> String {
    bytes.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// A public key that verifies RSA-PSS-SHA-256 signatures, and nothing else.
#[derive(Clone)]
pub struct VerifyingKey {
    key: RsaPublicKey,
    parsed: ParsedPublicKey,
}

impl VerifyingKey {
    /// Parses and validates an SPKI DER signing public key.
    pub fn from_spki(spki: &[u8]) -> Result<Self, Error> {
        let key = RsaPublicKey::from_spki(spki)?;
        let parsed = ParsedPublicKey::new(&RSA_PSS_2048_8192_SHA256, spki)
            .map_err(|_| KeyRejection::Malformed)?;
        Ok(Self { key, parsed })
    }

    /// Verifies `signature` over exactly `message`. `what` names the structure in the error.
    pub fn verify(
        &self,
        what: &'static str,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), Error> {
        self.parsed
            .verify_sig(message, signature)
            .map_err(|_| Error::BadSignature { what })
    }

    /// The validated public key.
    pub fn public_key(&self) -> &RsaPublicKey {
        &self.key
    }

    /// The SPKI DER bytes.
    pub fn spki(&self) -> &[u8] {
        self.key.spki()
    }
}

impl PartialEq for VerifyingKey {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for VerifyingKey {}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("VerifyingKey").field(&self.key).finish()
    }
}

/// A public key that encrypts with RSA-OAEP-SHA-256, and nothing else.
#[derive(Clone)]
pub struct EncryptingKey {
    key: RsaPublicKey,
    public: PublicEncryptingKey,
}

impl EncryptingKey {
    /// Parses and validates an SPKI DER exchange public key.
    pub fn from_spki(spki: &[u8]) -> Result<Self, Error> {
        let key = RsaPublicKey::from_spki(spki)?;
        let public = PublicEncryptingKey::from_der(spki).map_err(|_| KeyRejection::Malformed)?;
        Ok(Self { key, public })
    }

    /// Encrypts a short `plaintext` under this key with OAEP `label`.
    pub fn encrypt(&self, plaintext: &[u8], label: &[u8]) -> Result<Vec<u8>, Error> {
        let oaep =
            OaepPublicEncryptingKey::new(self.public.clone()).map_err(|_| Error::Crypto {
                operation: "oaep key",
            })?;
        let mut out = vec![0u8; oaep.ciphertext_size()];
        let len = oaep
            .encrypt(&OAEP_SHA256_MGF1SHA256, plaintext, &mut out, Some(label))
            .map_err(|_| Error::Crypto {
                operation: "rsa-oaep encrypt",
            })?
            .len();
        out.truncate(len);
        Ok(out)
    }

    /// The validated public key.
    pub fn public_key(&self) -> &RsaPublicKey {
        &self.key
    }

    /// The SPKI DER bytes.
    pub fn spki(&self) -> &[u8] {
        self.key.spki()
    }
}

impl PartialEq for EncryptingKey {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for EncryptingKey {}

impl std::fmt::Debug for EncryptingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("EncryptingKey").field(&self.key).finish()
    }
}

fn pkcs8_bytes(
    der: Result<Pkcs8V1Der<'static>, aws_lc_rs::error::Unspecified>,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    der.map(|der| Zeroizing::new(der.as_ref().to_vec()))
        .map_err(|_| Error::Crypto {
            operation: "pkcs8 export",
        })
}

/// An RSA-PSS signing key pair. Not `Clone`: a private key has one owner.
pub struct SigningKeyPair {
    pair: KeyPair,
    public: VerifyingKey,
}

impl SigningKeyPair {
    /// Generates a fresh key pair.
    pub fn generate(bits: RsaBits) -> Result<Self, Error> {
        let pair = KeyPair::generate(bits.key_size()).map_err(|_| Error::Crypto {
            operation: "rsa keygen",
        })?;
        Self::from_pair(pair)
    }

    /// Loads a PKCS#8 DER private key, validating its public half like any other key.
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<Self, Error> {
        if pkcs8.len() > MAX_PKCS8_LEN {
            return Err(KeyRejection::Malformed.into());
        }
        let pair = KeyPair::from_pkcs8(pkcs8).map_err(|_| KeyRejection::Malformed)?;
        Self::from_pair(pair)
    }

    fn from_pair(pair: KeyPair) -> Result<Self, Error> {
        use aws_lc_rs::signature::KeyPair as _;
        let spki = pair.public_key().as_der().map_err(|_| Error::Crypto {
            operation: "spki export",
        })?;
        let public = VerifyingKey::from_spki(spki.as_ref())?;
        Ok(Self { pair, public })
    }

    /// The private key as PKCS#8 DER, zeroized when dropped.
    pub fn to_pkcs8(&self) -> Result<Zeroizing<Vec<u8>>, Error> {
        pkcs8_bytes(self.pair.as_der())
    }

    /// The public half.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.public
    }

    /// Signs exactly `message` with RSA-PSS-SHA-256, salt 32.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        let mut sig = vec![0u8; self.pair.public_modulus_len()];
        self.pair
            .sign(&RSA_PSS_SHA256, &SystemRandom::new(), message, &mut sig)
            .map_err(|_| Error::Crypto {
                operation: "rsa-pss sign",
            })?;
        Ok(sig)
    }

    /// Signs with another PSS salt length. Only for negative test vectors: verifiers must refuse it.
    #[cfg(any(test, feature = "test-util"))]
    pub fn danger_sign_with_salt_len(
        &self,
        message: &[u8],
        salt_len: u32,
    ) -> Result<Vec<u8>, Error> {
        use aws_lc_rs::signature::{RsaPssSaltLength, RsaSignatureEncoding};
        static ENCODINGS: [RsaSignatureEncoding; 3] = [
            RSA_PSS_SHA256.with_pss_salt_length(RsaPssSaltLength::Custom(0)),
            RSA_PSS_SHA256.with_pss_salt_length(RsaPssSaltLength::Custom(20)),
            RSA_PSS_SHA256.with_pss_salt_length(RsaPssSaltLength::Custom(64)),
        ];
        let encoding = match salt_len {
            0 => &ENCODINGS[0],
            20 => &ENCODINGS[1],
            64 => &ENCODINGS[2],
            _ => {
                return Err(Error::Crypto {
                    operation: "unsupported test salt length",
                })
            }
        };
        let mut sig = vec![0u8; self.pair.public_modulus_len()];
        self.pair
            .sign(encoding, &SystemRandom::new(), message, &mut sig)
            .map_err(|_| Error::Crypto {
                operation: "rsa-pss sign",
            })?;
        Ok(sig)
    }
}

impl std::fmt::Debug for SigningKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyPair")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

/// An RSA-OAEP exchange key pair. Not `Clone`: a private key has one owner.
pub struct ExchangeKeyPair {
    private: OaepPrivateDecryptingKey,
    pkcs8: Zeroizing<Vec<u8>>,
    public: EncryptingKey,
}

impl ExchangeKeyPair {
    /// Generates a fresh key pair.
    pub fn generate(bits: RsaBits) -> Result<Self, Error> {
        let private =
            PrivateDecryptingKey::generate(bits.key_size()).map_err(|_| Error::Crypto {
                operation: "rsa keygen",
            })?;
        Self::from_private(private)
    }

    /// Loads a PKCS#8 DER private key, validating its public half like any other key.
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<Self, Error> {
        if pkcs8.len() > MAX_PKCS8_LEN {
            return Err(KeyRejection::Malformed.into());
        }
        let private =
            PrivateDecryptingKey::from_pkcs8(pkcs8).map_err(|_| KeyRejection::Malformed)?;
        Self::from_private(private)
    }

    fn from_private(private: PrivateDecryptingKey) -> Result<Self, Error> {
        let spki = private.public_key().as_der().map_err(|_| Error::Crypto {
            operation: "spki export",
        })?;
        let public = EncryptingKey::from_spki(spki.as_ref())?;
        let pkcs8 = pkcs8_bytes(private.as_der())?;
        let private = OaepPrivateDecryptingKey::new(private).map_err(|_| Error::Crypto {
            operation: "oaep key",
        })?;
        Ok(Self {
            private,
            pkcs8,
            public,
        })
    }

    /// The private key as PKCS#8 DER, zeroized when dropped.
    pub fn to_pkcs8(&self) -> Zeroizing<Vec<u8>> {
        self.pkcs8.clone()
    }

    /// The public half.
    pub fn encrypting_key(&self) -> &EncryptingKey {
        &self.public
    }

    /// Decrypts an OAEP ciphertext made with `label`. Every failure (wrong length, wrong label, bad
    /// padding) is the same [`Error::DecryptionFailed`], so nothing distinguishes them.
    pub fn decrypt(&self, ciphertext: &[u8], label: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
        if ciphertext.len() != self.private.key_size_bytes() {
            return Err(Error::DecryptionFailed);
        }
        let mut out = Zeroizing::new(vec![0u8; self.private.min_output_size()]);
        let len = self
            .private
            .decrypt(&OAEP_SHA256_MGF1SHA256, ciphertext, &mut out, Some(label))
            .map_err(|_| Error::DecryptionFailed)?
            .len();
        out.truncate(len);
        Ok(out)
    }
}

impl std::fmt::Debug for ExchangeKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExchangeKeyPair")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{fixed_exchange_key, fixed_signing_key};

    #[test]
    fn pss_signs_and_verifies_and_rejects_other_salt_lengths() {
        let pair = fixed_signing_key(0);
        let sig = pair.sign(b"message").unwrap();
        let public = pair.verifying_key();
        public.verify("test", b"message", &sig).unwrap();
        assert!(public.verify("test", b"messagf", &sig).is_err());
        for salt in [0, 20, 64] {
            let other = pair.danger_sign_with_salt_len(b"message", salt).unwrap();
            assert!(
                matches!(
                    public.verify("test", b"message", &other),
                    Err(Error::BadSignature { .. })
                ),
                "salt {salt} accepted"
            );
        }
    }

    #[test]
    fn oaep_round_trip_binds_label() {
        let pair = fixed_exchange_key(0);
        let ct = pair
            .encrypting_key()
            .encrypt(b"secret", b"label-a")
            .unwrap();
        assert_eq!(pair.decrypt(&ct, b"label-a").unwrap().as_slice(), b"secret");
        assert!(matches!(
            pair.decrypt(&ct, b"label-b"),
            Err(Error::DecryptionFailed)
        ));
        assert!(matches!(
            pair.decrypt(&ct[1..], b"label-a"),
            Err(Error::DecryptionFailed)
        ));
    }

    #[test]
    fn pkcs8_round_trip_keeps_the_key() {
        let pair = fixed_signing_key(1);
        let again = SigningKeyPair::from_pkcs8(&pair.to_pkcs8().unwrap()).unwrap();
        assert_eq!(pair.verifying_key(), again.verifying_key());
        let x = fixed_exchange_key(1);
        let x2 = ExchangeKeyPair::from_pkcs8(&x.to_pkcs8()).unwrap();
        assert_eq!(x.encrypting_key(), x2.encrypting_key());
    }

    #[test]
    fn rejects_small_keys_pkcs1_and_garbage() {
        let small = KeyPair::generate(KeySize::Rsa2048).unwrap();
        use aws_lc_rs::signature::KeyPair as _;
        let spki = small.public_key().as_der().unwrap();
        assert!(matches!(
            RsaPublicKey::from_spki(spki.as_ref()),
            Err(Error::KeyRejected(KeyRejection::TooSmall { bits: 2048 }))
        ));
        let big = fixed_signing_key(0);
        let pkcs1 = {
            use aws_lc_rs::signature::KeyPair as _;
            big.pair.public_key().as_ref().to_vec()
        };
        assert!(matches!(
            RsaPublicKey::from_spki(&pkcs1),
            Err(Error::KeyRejected(KeyRejection::NotCanonicalSpki))
        ));
        // A 1024-bit key (openssl-generated SPKI) is "too small", not "malformed".
        let spki_1024 = hex::decode("30819f300d06092a864886f70d010101050003818d0030818902818100d54dd043d732bee150de292e78654209819fc2e9f76a1bde19c55378b8ed9c3cc0d300026191bc5f7b1f9b6e0caf56dfbe3c0c576c5a0dd3354e0d4165319b8d554d1079199176d829c5481e90f0dcfc35c4e562ed2a34b4378863a87e55cdeb9ebe01dfd475690e3d75d5f96e73ac12299d86ba8b0f352f96d4e3bc466b75130203010001").unwrap();
        assert!(matches!(
            RsaPublicKey::from_spki(&spki_1024),
            Err(Error::KeyRejected(KeyRejection::TooSmall { bits: 1024 }))
        ));
        assert!(RsaPublicKey::from_spki(b"not a key").is_err());
        // §3: the parameters left out is the same key written another way; bytes after the key
        // are not a key at all, although the parser would skip them.
        let canonical = {
            use aws_lc_rs::signature::KeyPair as _;
            big.pair.public_key().as_der().unwrap().as_ref().to_vec()
        };
        assert!(matches!(
            RsaPublicKey::from_spki(&spki_without_parameters(&pkcs1)),
            Err(Error::KeyRejected(KeyRejection::NotCanonicalSpki))
        ));
        let trailing = [canonical.as_slice(), &[0]].concat();
        assert!(matches!(
            RsaPublicKey::from_spki(&trailing),
            Err(Error::KeyRejected(KeyRejection::Malformed))
        ));
        assert!(RsaPublicKey::from_spki(&canonical).is_ok());
        assert!(RsaPublicKey::from_spki(&[0u8; 4096]).is_err());
    }
}
