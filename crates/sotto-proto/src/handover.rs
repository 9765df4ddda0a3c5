//! Device hand-over: the key bundle an approving device sends the device it approves
//! (`docs/protocol.md` §16).
//!
//! ```text
//! header  = domain("sotto/handover") ‖ account(32) ‖ sender device(32) ‖ recipient device(32)
//!           ‖ recipient exchange key id(32) ‖ hand-over id(16) ‖ u64 created_at
//! W       = 32 random bytes, fresh per hand-over
//! label   = SHA-256(domain("sotto/handover-label") ‖ header)
//! wrapped = RSA-OAEP-SHA-256(recipient exchange key, domain("sotto/handover-key") ‖ W, label)
//! okm     = HKDF(ikm = W, info = domain("sotto/handover-aead"), 44 bytes)
//! sealed  = AES-256-GCM(okm[0..32], okm[32..44], aad = header, bundle)
//! ciphertext = bytes(wrapped) ‖ bytes(sealed);  wire = SignedSealed(header, ciphertext)
//! ```
//!
//! A bundle is larger than one OAEP block, so OAEP wraps a fresh key and AES-GCM carries the
//! bundle; the label binds the wrapped key to the header, the associated data binds the bundle to
//! it, and the signature binds both to the approving device.

use zeroize::Zeroizing;

use crate::bundle::{KeyBundle, Record};
use crate::chain::LocalDevice;
use crate::codec::{Reader, Writer};
use crate::crypto::aead::{AeadKey, KEY_LEN, NONCE_LEN};
use crate::crypto::rsa::MAX_RSA_OUTPUT_LEN;
use crate::crypto::{hkdf_sha256, sha256};
use crate::domain::Domain;
use crate::env::{Env, Timestamp};
use crate::error::{DecodeError, Error, ReceiveError};
use crate::identity::{DeviceKeys, VerifiedDevice, VerifiedExchangeKey};
use crate::ids::{AccountId, DeviceId, ExchangeKeyId};
use crate::limits::MAX_CLOCK_SKEW_MS;
use crate::signed::SignedSealed;

/// Bytes of a hand-over's wire form (4 MiB); more records go in several hand-overs.
pub const MAX_HANDOVER_LEN: usize = 4 * 1024 * 1024;
/// Bytes of a hand-over header (fixed size; the bound is generous).
pub const MAX_HANDOVER_HEADER_LEN: usize = 256;

/// The 16 random bytes naming one hand-over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HandoverId([u8; 16]);

impl HandoverId {
    /// Wraps bytes.
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// A fresh id.
    pub fn generate(env: &mut Env<'_>) -> Result<Self, Error> {
        Ok(Self(env.random()?))
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

/// A hand-over header: who sends it to which device and exchange key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandoverHeader {
    /// The account both devices belong to.
    pub account: AccountId,
    /// The approving device.
    pub sender_device: DeviceId,
    /// The approved device.
    pub recipient_device: DeviceId,
    /// The recipient exchange key the wrapping key is encrypted to.
    pub recipient_key: ExchangeKeyId,
    /// The hand-over.
    pub handover_id: HandoverId,
    /// When the sender made it.
    pub created_at: Timestamp,
}

impl HandoverHeader {
    /// The canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::for_domain(Domain::Handover);
        self.account.encode(&mut w);
        self.sender_device.encode(&mut w);
        self.recipient_device.encode(&mut w);
        self.recipient_key.encode(&mut w);
        w.fixed(self.handover_id.as_bytes());
        w.u64(self.created_at.millis());
        w.finish()
    }

    /// Decodes a header.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::for_domain(bytes, Domain::Handover)?;
        let header = Self {
            account: AccountId::decode(&mut r)?,
            sender_device: DeviceId::decode(&mut r)?,
            recipient_device: DeviceId::decode(&mut r)?,
            recipient_key: ExchangeKeyId::decode(&mut r)?,
            handover_id: HandoverId::from_bytes(r.array()?),
            created_at: Timestamp(r.u64()?),
        };
        r.finish()?;
        Ok(header)
    }

    /// The header of a hand-over's wire form, the whole hand-over checked for structure and
    /// bounds: what the server checks (account, sender, recipient) before storing it.
    pub fn decode_handover(wire: &[u8]) -> Result<Self, Error> {
        Ok(Handover::decode(wire)?.header)
    }

    /// The OAEP label: a hash of the exact header bytes.
    fn oaep_label(header_bytes: &[u8]) -> [u8; 32] {
        let mut w = Writer::for_domain(Domain::HandoverLabel);
        w.fixed(header_bytes);
        sha256(&w.finish())
    }
}

/// A decoded (not yet opened) hand-over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handover {
    header: HandoverHeader,
    sealed: SignedSealed,
}

impl Handover {
    /// Seals `bundle` (no MasterKey record: `invalid-input`) for `recipient`, a verified device
    /// of the sender's own account, under its verified exchange key `recipient_key`, signed by
    /// `sender`. `created_at` is `env.now`; the wrapping key comes from `env`.
    pub fn seal(
        sender: &DeviceKeys,
        recipient: &VerifiedDevice,
        recipient_key: &VerifiedExchangeKey,
        handover_id: HandoverId,
        bundle: &KeyBundle,
        env: &mut Env<'_>,
    ) -> Result<Self, Error> {
        if bundle.has_master_key() {
            return Err(Error::InvalidInput {
                field: "hand-over",
                reason: "a hand-over never carries the master key",
            });
        }
        Self::seal_records(sender, recipient, recipient_key, handover_id, bundle, env)
    }

    /// [`seal`](Self::seal) without refusing a MasterKey record: for tests and vectors that
    /// show a receiver refuses one.
    #[cfg(any(test, feature = "test-util"))]
    pub fn danger_seal_any_records(
        sender: &DeviceKeys,
        recipient: &VerifiedDevice,
        recipient_key: &VerifiedExchangeKey,
        handover_id: HandoverId,
        bundle: &KeyBundle,
        env: &mut Env<'_>,
    ) -> Result<Self, Error> {
        Self::seal_records(sender, recipient, recipient_key, handover_id, bundle, env)
    }

    fn seal_records(
        sender: &DeviceKeys,
        recipient: &VerifiedDevice,
        recipient_key: &VerifiedExchangeKey,
        handover_id: HandoverId,
        bundle: &KeyBundle,
        env: &mut Env<'_>,
    ) -> Result<Self, Error> {
        if recipient_key.device() != recipient.device()
            || recipient_key.account() != recipient.account()
        {
            return Err(Error::InvalidInput {
                field: "hand-over recipient",
                reason: "the exchange key is another device's",
            });
        }
        let header = HandoverHeader {
            account: recipient.account(),
            sender_device: sender.device(),
            recipient_device: recipient.device(),
            recipient_key: recipient_key.key_id(),
            handover_id,
            created_at: env.now,
        };
        let header_bytes = header.encode();
        let wrapping = Zeroizing::new(env.random::<32>()?);
        let mut key_payload = Writer::for_domain(Domain::HandoverKey);
        key_payload.fixed(wrapping.as_ref());
        let key_payload = Zeroizing::new(key_payload.finish());
        let wrapped = recipient_key
            .key()
            .encrypt(&key_payload, &HandoverHeader::oaep_label(&header_bytes))?;
        let plaintext = bundle.encode()?;
        let sealed_bundle = aead_key(&wrapping)?.seal(&header_bytes, &plaintext)?;
        let mut ciphertext = Writer::default();
        ciphertext.bytes(&wrapped);
        ciphertext.bytes(&sealed_bundle);
        let sealed = SignedSealed::sign(header_bytes, ciphertext.finish(), sender.signing())?;
        let handover = Self { header, sealed };
        if handover.encode().len() > MAX_HANDOVER_LEN {
            return Err(Error::InvalidInput {
                field: "hand-over",
                reason: "longer than 4 MiB: split the records over several hand-overs",
            });
        }
        Ok(handover)
    }

    /// Decodes the wire form (at most 4 MiB), checking structure and bounds only.
    pub fn decode(wire: &[u8]) -> Result<Self, Error> {
        if wire.len() > MAX_HANDOVER_LEN {
            return Err(DecodeError::TooLong {
                field: "hand-over",
                max: MAX_HANDOVER_LEN,
            }
            .into());
        }
        let sealed = SignedSealed::decode(wire, MAX_HANDOVER_HEADER_LEN, MAX_HANDOVER_LEN)?;
        let header = HandoverHeader::decode(sealed.header())?;
        Ok(Self { header, sealed })
    }

    /// The decoded header (unverified until opened).
    pub fn header(&self) -> &HandoverHeader {
        &self.header
    }

    /// The signed parts.
    pub fn sealed(&self) -> &SignedSealed {
        &self.sealed
    }

    /// The wire form.
    pub fn encode(&self) -> Vec<u8> {
        self.sealed.encode()
    }
}

/// `HKDF(ikm = W, info = domain("sotto/handover-aead"), 44)`.
fn aead_key(wrapping: &[u8; 32]) -> Result<AeadKey, Error> {
    let mut okm = Zeroizing::new([0u8; KEY_LEN + NONCE_LEN]);
    hkdf_sha256(&[], wrapping, &Domain::HandoverAead.encoded(), okm.as_mut())?;
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    let mut nonce = [0u8; NONCE_LEN];
    for (dst, src) in key.iter_mut().chain(nonce.iter_mut()).zip(okm.iter()) {
        *dst = *src;
    }
    Ok(AeadKey::new(key, nonce))
}

/// Opens a hand-over on the receiving device `me`, from `sender`, the verified device presented
/// as its sender (§16.1, in this order):
///
/// 1. `sender` is the header's sender, of this device's own account (`receive/sender-mismatch`);
///    the signature verifies under its key (`bad-signature`).
/// 2. Account and recipient device are this device's and the exchange key one of its keys
///    (`receive/wrong-recipient`); `created_at ≤ now + 3 h` (`receive/far-future`).
/// 3. Unwrap, derive, open and decode: every failure is `decryption-failed`.
/// 4. A MasterKey record refuses the whole hand-over (`invalid-input`).
///
/// The records are then the caller's to take as §15.1 says.
pub fn open_handover(
    handover: &Handover,
    sender: &VerifiedDevice,
    me: &LocalDevice<'_>,
    now: Timestamp,
) -> Result<KeyBundle, Error> {
    let h = &handover.header;
    if sender.device() != h.sender_device
        || sender.account() != h.account
        || sender.account() != me.account
    {
        return Err(ReceiveError::SenderMismatch.into());
    }
    handover.sealed.verify("hand-over", sender.signing_key())?;
    if h.account != me.account || h.recipient_device != me.device {
        return Err(ReceiveError::WrongRecipient.into());
    }
    let exchange = me
        .exchange_keys
        .iter()
        .find(|k| ExchangeKeyId::from_spki(k.encrypting_key().spki()) == h.recipient_key)
        .ok_or(ReceiveError::WrongRecipient)?;
    if h.created_at > now.plus(MAX_CLOCK_SKEW_MS) {
        return Err(ReceiveError::FarFuture.into());
    }
    let header_bytes = handover.sealed.header();
    let decrypt = || -> Result<KeyBundle, Error> {
        let mut r = Reader::new(handover.sealed.ciphertext());
        let wrapped = r.bytes("wrapped key", MAX_RSA_OUTPUT_LEN)?;
        let sealed_bundle = r.bytes("sealed bundle", MAX_HANDOVER_LEN)?;
        r.finish()?;
        let payload = exchange.decrypt(wrapped, &HandoverHeader::oaep_label(header_bytes))?;
        let mut p = Reader::for_domain(&payload, Domain::HandoverKey)?;
        let wrapping = Zeroizing::new(p.array::<32>()?);
        p.finish()?;
        let plaintext = aead_key(&wrapping)?.open(header_bytes, sealed_bundle)?;
        Ok(KeyBundle::decode(&plaintext)?)
    };
    let bundle = decrypt().map_err(|_| Error::DecryptionFailed)?;
    if bundle.has_master_key() {
        return Err(Error::InvalidInput {
            field: "hand-over",
            reason: "carries a master key",
        });
    }
    Ok(bundle)
}

/// Whether a record may travel in a hand-over (everything but the master key).
pub fn allowed_in_handover(record: &Record) -> bool {
    !matches!(record, Record::MasterKey(_))
}
