//! Prekeys (`docs/protocol.md` §18.2): an ECDH P-256 key pair and an ML-KEM-768 key pair made
//! together under one random [`PrekeyId`], and the two operations a hybrid distribution needs
//! of them (ECDH, ML-KEM encapsulation and decapsulation), all through aws-lc-rs.
//!
//! Public parts are validated here, explicitly, rather than trusting what aws-lc happens to
//! check when it parses: aws-lc's `EncapsulationKey::new` only checks the length (the FIPS 203
//! modulus check runs later, inside `encapsulate`), and its EC parser also takes compressed and
//! SPKI forms. A device's private keys are kept as bytes (`Zeroizing`) and turned into aws-lc
//! keys only for the one operation that needs them.

use aws_lc_rs::agreement::{self, ParsedPublicKey, PrivateKey, UnparsedPublicKey, ECDH_P256};
use aws_lc_rs::digest;
use aws_lc_rs::encoding::{AsBigEndian, EcPrivateKeyBin};
use aws_lc_rs::kem::{Ciphertext, DecapsulationKey, EncapsulationKey, ML_KEM_768};
use zeroize::Zeroizing;

use crate::codec::{Reader, Writer};
use crate::domain::Domain;
use crate::error::{DecodeError, Error, PrekeyError};
use crate::ids::PrekeyId;

/// Bytes of an uncompressed SEC1 P-256 point: `0x04 ‖ x ‖ y`.
pub const EC_PUBLIC_LEN: usize = 65;
/// Bytes of a P-256 private scalar (big-endian).
pub const EC_PRIVATE_LEN: usize = 32;
/// Bytes of an ML-KEM-768 encapsulation key (FIPS 203 `ek`).
pub const KEM_PUBLIC_LEN: usize = 1184;
/// Bytes of an ML-KEM-768 decapsulation key (FIPS 203 `dk`).
pub const KEM_PRIVATE_LEN: usize = 2400;
/// Bytes of an ML-KEM-768 ciphertext.
pub const KEM_CIPHERTEXT_LEN: usize = 1088;
/// Bytes of an ECDH or ML-KEM shared secret.
pub const SHARED_SECRET_LEN: usize = 32;

/// The P-256 field prime, big-endian: both coordinates of a point must be below it.
const P256_FIELD_PRIME: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
];

/// The ML-KEM modulus q: every 12-bit coefficient of an encapsulation key is below it.
const KEM_Q: u16 = 3329;
/// Bytes of the encoded polynomial vector `t` at the start of an ML-KEM-768 `ek` (384 · k).
const KEM_T_LEN: usize = 1152;
/// Where the FIPS 203 `dk` holds its copy of `ek`, and then `H(ek)`.
const DK_EK_OFFSET: usize = KEM_T_LEN;
const DK_HASH_OFFSET: usize = DK_EK_OFFSET + KEM_PUBLIC_LEN;

/// The public half of a prekey, as certificates and one-time prekeys carry it.
#[derive(Clone, PartialEq, Eq)]
pub struct PrekeyPublic {
    /// The prekey's id.
    pub id: PrekeyId,
    /// The EC public key, an uncompressed SEC1 point.
    pub ec: [u8; EC_PUBLIC_LEN],
    /// The ML-KEM-768 encapsulation key ([`KEM_PUBLIC_LEN`] bytes once validated).
    pub kem: Vec<u8>,
}

impl PrekeyPublic {
    /// Refuses the keys unless the EC point is a point of P-256 (SP 800-56A partial public-key
    /// validation) and the encapsulation key passes the FIPS 203 §7.2 check:
    /// `prekey/invalid-key`.
    pub fn validate(&self) -> Result<(), Error> {
        validate_ec_point(&self.ec)?;
        validate_kem_public(&self.kem)
    }

    /// Writes `EC public key [65] ‖ ML-KEM encapsulation key [1184]` (the id is written by the
    /// caller, where its structure puts it). A key of another length was refused earlier.
    pub(crate) fn encode_keys(&self, writer: &mut Writer) {
        writer.fixed(&self.ec);
        writer.fixed(&self.kem);
    }

    /// Reads the two keys of [`Self::encode_keys`]; validity is checked by [`Self::validate`].
    pub(crate) fn decode_keys(id: PrekeyId, reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let ec = reader.array()?;
        let kem = reader.take(KEM_PUBLIC_LEN)?.to_vec();
        Ok(Self { id, ec, kem })
    }

    /// Checks that the encapsulation key has the encoded length before it is written.
    pub(crate) fn check_lengths(&self) -> Result<(), Error> {
        if self.kem.len() == KEM_PUBLIC_LEN {
            Ok(())
        } else {
            Err(PrekeyError::InvalidKey.into())
        }
    }
}

impl std::fmt::Debug for PrekeyPublic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let fp = super::sha256_parts(&[&self.ec, &self.kem]);
        write!(f, "PrekeyPublic({}, sha256:{})", self.id, hex8(&fp))
    }
}

fn hex8(bytes: &[u8]) -> String {
    bytes.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// SP 800-56A Rev. 3 §5.6.2.3.4 partial public-key validation of a P-256 point given as 65
/// bytes: the uncompressed prefix, both coordinates below the field prime, and on the curve
/// (aws-lc's parser). The point at infinity has no 65-byte encoding.
pub fn validate_ec_point(point: &[u8]) -> Result<(), Error> {
    let invalid = || Error::from(PrekeyError::InvalidKey);
    if point.len() != EC_PUBLIC_LEN || point.first() != Some(&0x04) {
        return Err(invalid());
    }
    let (x, y) = (point.get(1..33), point.get(33..65));
    // Equal-length big-endian byte strings compare as the numbers they encode.
    let below_p = |c: Option<&[u8]>| c.is_some_and(|c| c < &P256_FIELD_PRIME[..]);
    if !below_p(x) || !below_p(y) {
        return Err(invalid());
    }
    ParsedPublicKey::try_from(UnparsedPublicKey::new(&ECDH_P256, point))
        .map(|_| ())
        .map_err(|_| invalid())
}

/// The FIPS 203 §7.2 encapsulation-key check for ML-KEM-768: the length, and every 12-bit
/// coefficient of the encoded vector `t` below q (so `ByteEncode12(ByteDecode12(t)) = t`).
pub fn validate_kem_public(ek: &[u8]) -> Result<(), Error> {
    let invalid = || Error::from(PrekeyError::InvalidKey);
    if ek.len() != KEM_PUBLIC_LEN {
        return Err(invalid());
    }
    let t = ek.get(..KEM_T_LEN).ok_or_else(invalid)?;
    for triple in t.chunks_exact(3) {
        if let [b0, b1, b2] = triple {
            let low = u16::from(*b0) | (u16::from(*b1 & 0x0f) << 8);
            let high = u16::from(*b1 >> 4) | (u16::from(*b2) << 4);
            if low >= KEM_Q || high >= KEM_Q {
                return Err(invalid());
            }
        }
    }
    EncapsulationKey::new(&ML_KEM_768, ek)
        .map(|_| ())
        .map_err(|_| invalid())
}

/// Maps an aws-lc failure that is not the input's (key generation, export) to
/// [`Error::Crypto`].
fn crypto(operation: &'static str) -> impl FnOnce(aws_lc_rs::error::Unspecified) -> Error {
    move |_| Error::Crypto { operation }
}

/// A prekey with its private keys: what the device that made it keeps until the distribution
/// that used it is committed (one-time) or its exchange key is deleted (last-resort).
#[derive(Clone)]
pub struct PrekeyPair {
    public: PrekeyPublic,
    ec_private: Zeroizing<[u8; EC_PRIVATE_LEN]>,
    kem_private: Zeroizing<Vec<u8>>,
}

impl PrekeyPair {
    /// Makes a fresh prekey (aws-lc's own random source) under the given id.
    pub fn generate(id: PrekeyId) -> Result<Self, Error> {
        let ec = PrivateKey::generate(&ECDH_P256).map_err(crypto("ecdh keygen"))?;
        let scalar: EcPrivateKeyBin<'static> = ec.as_be_bytes().map_err(crypto("ecdh export"))?;
        let kem = DecapsulationKey::generate(&ML_KEM_768).map_err(crypto("ml-kem keygen"))?;
        let dk = kem.key_bytes().map_err(crypto("ml-kem export"))?;
        Self::from_private_keys(id, scalar.as_ref(), dk.as_ref())
    }

    /// Rebuilds a prekey from its private keys: the 32-byte P-256 scalar and the 2400-byte
    /// FIPS 203 decapsulation key, which holds the encapsulation key and its hash. Refused with
    /// `prekey/invalid-key` unless the scalar is a valid P-256 private key, the embedded
    /// encapsulation key passes §18.2 and its hash matches (the FIPS 203 §7.3 hash check).
    pub fn from_private_keys(
        id: PrekeyId,
        ec_private: &[u8],
        kem_private: &[u8],
    ) -> Result<Self, Error> {
        let invalid = || Error::from(PrekeyError::InvalidKey);
        let scalar: [u8; EC_PRIVATE_LEN] = ec_private.try_into().map_err(|_| invalid())?;
        let scalar = Zeroizing::new(scalar);
        let ec =
            PrivateKey::from_private_key(&ECDH_P256, scalar.as_ref()).map_err(|_| invalid())?;
        let ec_public = ec.compute_public_key().map_err(|_| Error::Crypto {
            operation: "ecdh public key",
        })?;
        let ec: [u8; EC_PUBLIC_LEN] = ec_public.as_ref().try_into().map_err(|_| invalid())?;
        if kem_private.len() != KEM_PRIVATE_LEN {
            return Err(invalid());
        }
        let ek = kem_private
            .get(DK_EK_OFFSET..DK_HASH_OFFSET)
            .ok_or_else(invalid)?;
        let stored_hash = kem_private
            .get(DK_HASH_OFFSET..DK_HASH_OFFSET + 32)
            .ok_or_else(invalid)?;
        let hash = digest::digest(&digest::SHA3_256, ek);
        if !super::ct_eq(hash.as_ref(), stored_hash) {
            return Err(invalid());
        }
        DecapsulationKey::new(&ML_KEM_768, kem_private).map_err(|_| invalid())?;
        let public = PrekeyPublic {
            id,
            ec,
            kem: ek.to_vec(),
        };
        public.validate()?;
        Ok(Self {
            public,
            ec_private: scalar,
            kem_private: Zeroizing::new(kem_private.to_vec()),
        })
    }

    /// The public half.
    pub fn public(&self) -> &PrekeyPublic {
        &self.public
    }

    /// The prekey's id.
    pub fn id(&self) -> PrekeyId {
        self.public.id
    }

    /// The private EC scalar (for the encrypted local store and test vectors only).
    pub fn danger_ec_private(&self) -> &[u8; EC_PRIVATE_LEN] {
        &self.ec_private
    }

    /// The FIPS 203 decapsulation key (for the encrypted local store and test vectors only).
    pub fn danger_kem_private(&self) -> &[u8] {
        &self.kem_private
    }

    /// The encoding for the device's encrypted local store:
    /// `domain("sotto/local/prekey") ‖ prekey id [16] ‖ EC scalar [32] ‖ ML-KEM dk [2400]`.
    pub fn encode_local(&self) -> Zeroizing<Vec<u8>> {
        let mut w = Writer::for_domain(Domain::LocalPrekey);
        self.encode_local_into(&mut w);
        Zeroizing::new(w.finish())
    }

    /// Writes the fields of [`Self::encode_local`] after the domain (the ring embeds them).
    pub(crate) fn encode_local_into(&self, w: &mut Writer) {
        self.public.id.encode(w);
        w.fixed(self.ec_private.as_ref());
        w.fixed(&self.kem_private);
    }

    /// Decodes [`Self::encode_local`] and checks the keys as [`Self::from_private_keys`].
    pub fn decode_local(bytes: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::for_domain(bytes, Domain::LocalPrekey)?;
        let pair = Self::decode_local_from(&mut r)?;
        r.finish()?;
        Ok(pair)
    }

    /// Reads the fields of [`Self::encode_local_into`].
    pub(crate) fn decode_local_from(r: &mut Reader<'_>) -> Result<Self, Error> {
        let id = PrekeyId::decode(r)?;
        let scalar = Zeroizing::new(r.array::<EC_PRIVATE_LEN>()?);
        let dk = r.take(KEM_PRIVATE_LEN)?;
        Self::from_private_keys(id, scalar.as_ref(), dk)
    }

    /// ECDH with the peer's public point: the 32-byte x-coordinate. A point that is not on the
    /// curve is [`Error::DecryptionFailed`] (this runs while opening a distribution, §18.6 step 5).
    pub fn agree(&self, peer: &[u8]) -> Result<Zeroizing<[u8; SHARED_SECRET_LEN]>, Error> {
        let private = PrivateKey::from_private_key(&ECDH_P256, self.ec_private.as_ref())
            .map_err(|_| Error::DecryptionFailed)?;
        agree(&private, peer)
    }

    /// ML-KEM-768 decapsulation. A ciphertext of the right length always yields a secret (FIPS
    /// 203 implicit rejection gives a wrong one); any other failure is
    /// [`Error::DecryptionFailed`].
    pub fn decapsulate(
        &self,
        ciphertext: &[u8],
    ) -> Result<Zeroizing<[u8; SHARED_SECRET_LEN]>, Error> {
        if ciphertext.len() != KEM_CIPHERTEXT_LEN {
            return Err(Error::DecryptionFailed);
        }
        let dk = DecapsulationKey::new(&ML_KEM_768, &self.kem_private)
            .map_err(|_| Error::DecryptionFailed)?;
        let secret = dk
            .decapsulate(Ciphertext::from(ciphertext))
            .map_err(|_| Error::DecryptionFailed)?;
        secret_array(secret.as_ref()).ok_or(Error::DecryptionFailed)
    }
}

impl std::fmt::Debug for PrekeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrekeyPair")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

fn secret_array(bytes: &[u8]) -> Option<Zeroizing<[u8; SHARED_SECRET_LEN]>> {
    let mut out = Zeroizing::new([0u8; SHARED_SECRET_LEN]);
    if bytes.len() != SHARED_SECRET_LEN {
        return None;
    }
    out.copy_from_slice(bytes);
    Some(out)
}

fn agree(private: &PrivateKey, peer: &[u8]) -> Result<Zeroizing<[u8; SHARED_SECRET_LEN]>, Error> {
    agreement::agree(
        private,
        UnparsedPublicKey::new(&ECDH_P256, peer),
        Error::DecryptionFailed,
        |secret| secret_array(secret).ok_or(Error::DecryptionFailed),
    )
}

/// The sender's half of the ECDH: a fresh ephemeral P-256 key pair `(e, E)` and
/// `ECDH(e, peer)`. Returns `E` and the shared secret; `e` is dropped here.
pub fn ephemeral_agree(
    peer: &[u8; EC_PUBLIC_LEN],
) -> Result<([u8; EC_PUBLIC_LEN], Zeroizing<[u8; SHARED_SECRET_LEN]>), Error> {
    let private = PrivateKey::generate(&ECDH_P256).map_err(|_| Error::Crypto {
        operation: "ecdh keygen",
    })?;
    ephemeral_agree_with(&private, peer)
}

fn ephemeral_agree_with(
    private: &PrivateKey,
    peer: &[u8; EC_PUBLIC_LEN],
) -> Result<([u8; EC_PUBLIC_LEN], Zeroizing<[u8; SHARED_SECRET_LEN]>), Error> {
    let public = private.compute_public_key().map_err(|_| Error::Crypto {
        operation: "ecdh public key",
    })?;
    let public: [u8; EC_PUBLIC_LEN] = public.as_ref().try_into().map_err(|_| Error::Crypto {
        operation: "ecdh public key",
    })?;
    // The peer key was validated (§18.2) before it got here; a failure is not the input's.
    let secret = agree(private, peer).map_err(|_| Error::Crypto { operation: "ecdh" })?;
    Ok((public, secret))
}

/// The same with a given ephemeral scalar: deterministic test vectors only.
#[cfg(any(test, feature = "test-util"))]
pub fn danger_ephemeral_agree_with_scalar(
    scalar: &[u8],
    peer: &[u8; EC_PUBLIC_LEN],
) -> Result<([u8; EC_PUBLIC_LEN], Zeroizing<[u8; SHARED_SECRET_LEN]>), Error> {
    let private = PrivateKey::from_private_key(&ECDH_P256, scalar)
        .map_err(|_| Error::from(PrekeyError::InvalidKey))?;
    ephemeral_agree_with(&private, peer)
}

/// ML-KEM-768 encapsulation to a validated encapsulation key: `(ciphertext, shared secret)`.
pub fn encapsulate(ek: &[u8]) -> Result<(Vec<u8>, Zeroizing<[u8; SHARED_SECRET_LEN]>), Error> {
    let key =
        EncapsulationKey::new(&ML_KEM_768, ek).map_err(|_| Error::from(PrekeyError::InvalidKey))?;
    let (ciphertext, secret) = key.encapsulate().map_err(|_| Error::Crypto {
        operation: "ml-kem encapsulate",
    })?;
    let secret = secret_array(secret.as_ref()).ok_or(Error::Crypto {
        operation: "ml-kem encapsulate",
    })?;
    Ok((ciphertext.as_ref().to_vec(), secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> PrekeyPair {
        PrekeyPair::generate(PrekeyId::from_bytes([7; 16])).unwrap()
    }

    #[test]
    fn generated_keys_are_valid_and_the_dk_holds_the_ek() {
        let p = pair();
        p.public().validate().unwrap();
        assert_eq!(p.public().ec[0], 0x04);
        assert_eq!(p.public().kem.len(), KEM_PUBLIC_LEN);
        assert_eq!(p.danger_kem_private().len(), KEM_PRIVATE_LEN);
        // aws-lc's own encapsulation key agrees with the copy read out of the FIPS 203 dk.
        let dk = DecapsulationKey::generate(&ML_KEM_768).unwrap();
        let dk_bytes = dk.key_bytes().unwrap();
        let ek = dk.encapsulation_key().unwrap().key_bytes().unwrap();
        assert_eq!(
            &dk_bytes.as_ref()[DK_EK_OFFSET..DK_HASH_OFFSET],
            ek.as_ref()
        );
    }

    #[test]
    fn ecdh_and_kem_agree_between_both_sides() {
        let p = pair();
        let (e, ss) = ephemeral_agree(&p.public().ec).unwrap();
        assert_eq!(*p.agree(&e).unwrap(), *ss);
        let (ct, ss_k) = encapsulate(&p.public().kem).unwrap();
        assert_eq!(ct.len(), KEM_CIPHERTEXT_LEN);
        assert_eq!(*p.decapsulate(&ct).unwrap(), *ss_k);
        // Implicit rejection: a changed ciphertext yields another secret, not an error.
        let mut bad = ct.clone();
        bad[5] ^= 1;
        assert_ne!(*p.decapsulate(&bad).unwrap(), *ss_k);
        assert!(matches!(
            p.decapsulate(&ct[1..]),
            Err(Error::DecryptionFailed)
        ));
    }

    #[test]
    fn local_encoding_round_trips_and_checks_the_keys() {
        let p = pair();
        let bytes = p.encode_local();
        let again = PrekeyPair::decode_local(&bytes).unwrap();
        assert_eq!(again.public(), p.public());
        // The dk's embedded ek no longer matches its hash.
        let mut bad = bytes.to_vec();
        let at = bad.len() - 32 - 32 - 100;
        bad[at] ^= 1;
        assert_eq!(
            PrekeyPair::decode_local(&bad).unwrap_err().code(),
            "prekey/invalid-key"
        );
        // A zero scalar is not a private key.
        let mut zero = bytes.to_vec();
        let start = zero.len() - KEM_PRIVATE_LEN - EC_PRIVATE_LEN;
        zero[start..start + EC_PRIVATE_LEN].fill(0);
        assert_eq!(
            PrekeyPair::decode_local(&zero).unwrap_err().code(),
            "prekey/invalid-key"
        );
        assert_eq!(
            PrekeyPair::decode_local(&bytes[..bytes.len() - 1])
                .unwrap_err()
                .code(),
            "decode/truncated"
        );
    }

    #[test]
    fn invalid_points_are_refused() {
        let good = pair().public().ec;
        validate_ec_point(&good).unwrap();
        let code = |p: &[u8]| validate_ec_point(p).unwrap_err().code();
        let mut compressed = [0u8; 33];
        compressed.copy_from_slice(&good[..33]);
        compressed[0] = 0x02 | (good[64] & 1);
        assert_eq!(code(&compressed), "prekey/invalid-key");
        let mut prefix = good;
        prefix[0] = 0x06;
        assert_eq!(code(&prefix), "prekey/invalid-key");
        let mut off_curve = good;
        off_curve[64] ^= 1;
        assert_eq!(code(&off_curve), "prekey/invalid-key");
        let mut x_is_p = good;
        x_is_p[1..33].copy_from_slice(&P256_FIELD_PRIME);
        assert_eq!(code(&x_is_p), "prekey/invalid-key");
        assert_eq!(code(&[0u8; 65]), "prekey/invalid-key");
        assert_eq!(code(&[0u8]), "prekey/invalid-key");
    }

    #[test]
    fn kem_keys_with_a_coefficient_at_q_are_refused() {
        let good = pair().public().kem.clone();
        validate_kem_public(&good).unwrap();
        let mut bad = good.clone();
        // First coefficient = 3329 = 0xd01: low byte 0x01, low nibble of the next byte 0xd.
        bad[0] = 0x01;
        bad[1] = (bad[1] & 0xf0) | 0x0d;
        assert_eq!(
            validate_kem_public(&bad).unwrap_err().code(),
            "prekey/invalid-key"
        );
        let mut high = good.clone();
        high[1] = (high[1] & 0x0f) | 0xf0;
        high[2] = 0xff;
        assert_eq!(
            validate_kem_public(&high).unwrap_err().code(),
            "prekey/invalid-key"
        );
        assert!(validate_kem_public(&good[1..]).is_err());
        // aws-lc's parser alone takes it: the explicit check is what refuses it.
        assert!(EncapsulationKey::new(&ML_KEM_768, &bad).is_ok());
    }
}
