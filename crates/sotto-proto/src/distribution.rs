//! Key-distribution messages: a sender chain's key, sent to one recipient device under its
//! exchange key (`docs/protocol.md` §7.3).
//!
//! ```text
//! header     = domain("sotto/kdm") ‖ conversation(16) ‖ u64 epoch ‖ chain(16)
//!              ‖ sender account(32) ‖ sender device(32)
//!              ‖ recipient account(32) ‖ recipient device(32) ‖ recipient exchange key id(32)
//!              ‖ u64 created_at ‖ u32 start_index
//!              ‖ u8 has_previous [‖ previous chain(16) ‖ u32 previous final index]
//! label      = SHA-256(domain("sotto/kdm-label") ‖ header)
//! payload    = domain("sotto/kdm-payload") ‖ chain(16) ‖ u32 start_index ‖ chain key(32)
//! ciphertext = RSA-OAEP-SHA-256(recipient exchange key, payload, label)
//! signature  = RSA-PSS(sender device key, u32 len ‖ header ‖ u32 len ‖ ciphertext)
//! ```
//!
//! The header names both ends and the exact exchange key, the OAEP label binds the ciphertext to
//! that header, and the signature binds both to the sender: a distribution cannot be re-targeted
//! to another device or conversation, or forwarded as someone else's.
//!
//! Version 2 (`docs/protocol.md` §18.5) adds a [`HybridHeader`] after the recipient exchange key
//! id (which prekey, the ephemeral EC key, the ML-KEM ciphertext) and carries the chain key under
//! the hybrid of RSA-OAEP, ECDH P-256 and ML-KEM-768 ([`hybrid`]). The version byte of the
//! header's domain says which definition applies; both decode here.

pub mod hybrid;

use zeroize::Zeroizing;

use crate::chain::ratchet::ChainKey;
use crate::codec::{Reader, Writer};
use crate::crypto::prekey::{EC_PUBLIC_LEN, KEM_CIPHERTEXT_LEN};
use crate::crypto::rsa::MAX_RSA_OUTPUT_LEN;
use crate::crypto::sha256;
use crate::domain::Domain;
use crate::env::Timestamp;
use crate::error::{DecodeError, Error};
use crate::ids::{AccountId, ChainId, ConversationId, DeviceId, ExchangeKeyId, PrekeyId};
use crate::limits::{MAX_CHAIN_MESSAGES, MAX_DISTRIBUTION_LEN};
use crate::signed::SignedSealed;

/// The largest distribution header (version 1).
pub const MAX_KDM_HEADER_LEN: usize = 512;

/// The largest version-2 distribution header (the exact largest is 1,414 bytes).
pub const MAX_KDM_V2_HEADER_LEN: usize = 2 * 1024;

/// The largest version-2 ciphertext: `bytes(rsa_ct) ‖ bytes(sealed)`.
pub const MAX_KDM_V2_CIPHERTEXT_LEN: usize = 4 + MAX_RSA_OUTPUT_LEN + 4 + hybrid::SEALED_LEN;

/// Which prekey of the recipient a version-2 distribution used (§18.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PrekeyKind {
    /// A one-time prekey the sender claimed from the server (`0x01`).
    OneTime,
    /// The last-resort prekey of the recipient exchange key's certificate (`0x02`).
    LastResort,
}

impl PrekeyKind {
    /// The tag written in the header.
    pub const fn tag(self) -> u8 {
        match self {
            Self::OneTime => 0x01,
            Self::LastResort => 0x02,
        }
    }

    fn from_tag(tag: u8) -> Result<Self, DecodeError> {
        match tag {
            0x01 => Ok(Self::OneTime),
            0x02 => Ok(Self::LastResort),
            tag => Err(DecodeError::UnknownTag {
                field: "prekey kind",
                tag,
            }),
        }
    }
}

/// The part of a version-2 header that version 1 does not have.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HybridHeader {
    /// One-time or last-resort.
    pub prekey_kind: PrekeyKind,
    /// The recipient prekey used.
    pub prekey: PrekeyId,
    /// The sender's ephemeral EC public key `E` (uncompressed SEC1 point).
    pub ephemeral: [u8; EC_PUBLIC_LEN],
    /// The ML-KEM-768 ciphertext (1088 bytes).
    pub kem_ciphertext: Vec<u8>,
}

/// The end of a previous chain, announced by the next distribution so truncation shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainEnd {
    /// The previous chain of the same sender device in the same conversation.
    pub chain: ChainId,
    /// The last index sent on it, or `None` if no message was sent on it.
    pub final_index: Option<u32>,
}

/// A key-distribution header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DistributionHeader {
    /// The conversation.
    pub conversation: ConversationId,
    /// The group epoch the chain belongs to.
    pub epoch: u64,
    /// The chain.
    pub chain: ChainId,
    /// The sender's account (the chain's owner).
    pub sender_account: AccountId,
    /// The sender's device (the chain's owner).
    pub sender_device: DeviceId,
    /// The recipient's account.
    pub recipient_account: AccountId,
    /// The recipient device.
    pub recipient_device: DeviceId,
    /// The recipient exchange key the payload is encrypted to.
    pub recipient_key: ExchangeKeyId,
    /// The prekey part of a version-2 header: `Some` exactly for version 2.
    pub hybrid: Option<HybridHeader>,
    /// When the sender made it.
    pub created_at: Timestamp,
    /// The index the carried chain key is at (0 unless re-sent later in the chain).
    pub start_index: u32,
    /// The previous chain's end, if this chain replaces one.
    pub previous: Option<ChainEnd>,
}

impl DistributionHeader {
    /// The canonical encoding: version 1 without a hybrid part, version 2 with one. The
    /// ML-KEM ciphertext's length is the sender's (1088 bytes from aws-lc).
    pub fn encode(&self) -> Vec<u8> {
        let domain = match self.hybrid {
            None => Domain::KeyDistribution,
            Some(_) => Domain::KeyDistributionV2,
        };
        let mut w = Writer::for_domain(domain);
        self.conversation.encode(&mut w);
        w.u64(self.epoch);
        self.chain.encode(&mut w);
        self.sender_account.encode(&mut w);
        self.sender_device.encode(&mut w);
        self.recipient_account.encode(&mut w);
        self.recipient_device.encode(&mut w);
        self.recipient_key.encode(&mut w);
        if let Some(hybrid) = &self.hybrid {
            w.u8(hybrid.prekey_kind.tag());
            hybrid.prekey.encode(&mut w);
            w.fixed(&hybrid.ephemeral);
            w.fixed(&hybrid.kem_ciphertext);
        }
        w.u64(self.created_at.millis());
        w.u32(self.start_index);
        match self.previous {
            None => w.u8(0),
            Some(end) => {
                w.u8(1);
                end.chain.encode(&mut w);
                // u32::MAX stands for "no message sent"; real indexes stay below the chain bound.
                w.u32(end.final_index.unwrap_or(u32::MAX));
            }
        }
        w.finish()
    }

    /// Decodes a header of either version.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let (mut r, version) = Reader::for_versioned_domain(
            bytes,
            Domain::KeyDistribution,
            Domain::KeyDistributionV2,
        )?;
        let header = Self {
            conversation: ConversationId::decode(&mut r)?,
            epoch: r.u64()?,
            chain: ChainId::decode(&mut r)?,
            sender_account: AccountId::decode(&mut r)?,
            sender_device: DeviceId::decode(&mut r)?,
            recipient_account: AccountId::decode(&mut r)?,
            recipient_device: DeviceId::decode(&mut r)?,
            recipient_key: ExchangeKeyId::decode(&mut r)?,
            hybrid: if version == Domain::KeyDistributionV2.version() {
                Some(HybridHeader {
                    prekey_kind: PrekeyKind::from_tag(r.u8()?)?,
                    prekey: PrekeyId::decode(&mut r)?,
                    ephemeral: r.array()?,
                    kem_ciphertext: r.take(KEM_CIPHERTEXT_LEN)?.to_vec(),
                })
            } else {
                None
            },
            created_at: Timestamp(r.u64()?),
            start_index: r.u32()?,
            previous: match r.u8()? {
                0 => None,
                1 => {
                    let chain = ChainId::decode(&mut r)?;
                    let final_index = match r.u32()? {
                        u32::MAX => None,
                        index if index < MAX_CHAIN_MESSAGES => Some(index),
                        _ => {
                            return Err(DecodeError::InvalidValue {
                                field: "previous final index",
                            })
                        }
                    };
                    Some(ChainEnd { chain, final_index })
                }
                tag => {
                    return Err(DecodeError::UnknownTag {
                        field: "previous chain",
                        tag,
                    })
                }
            },
        };
        r.finish()?;
        Ok(header)
    }

    /// The OAEP label: a hash of the exact header bytes.
    pub fn oaep_label(header_bytes: &[u8]) -> [u8; 32] {
        let mut w = Writer::for_domain(Domain::KeyDistributionLabel);
        w.fixed(header_bytes);
        sha256(&w.finish())
    }

    /// The OAEP label of a version-2 distribution:
    /// `SHA-256(domain("sotto/kdm-label", version 2) ‖ header)`.
    pub fn oaep_label_v2(header_bytes: &[u8]) -> [u8; 32] {
        let mut w = Writer::for_domain(Domain::KeyDistributionLabelV2);
        w.fixed(header_bytes);
        sha256(&w.finish())
    }

    /// Whether this is a version-2 header.
    pub fn is_v2(&self) -> bool {
        self.hybrid.is_some()
    }
}

/// The payload: the chain key and where it starts. `domain` is `sotto/kdm-payload` at version
/// 1 (the OAEP plaintext) or version 2 (the AES-GCM plaintext).
pub(crate) fn encode_payload(
    domain: Domain,
    chain: ChainId,
    start_index: u32,
    key: &ChainKey,
) -> Zeroizing<Vec<u8>> {
    let mut w = Writer::for_domain(domain);
    chain.encode(&mut w);
    w.u32(start_index);
    w.fixed(key.danger_bytes());
    Zeroizing::new(w.finish())
}

/// Decodes the payload; any malformation is the uniform decryption failure.
pub(crate) fn decode_payload(
    domain: Domain,
    bytes: &[u8],
) -> Result<(ChainId, u32, ChainKey), Error> {
    let parse = || -> Result<(ChainId, u32, ChainKey), DecodeError> {
        let mut r = Reader::for_domain(bytes, domain)?;
        let chain = ChainId::decode(&mut r)?;
        let start = r.u32()?;
        let key = ChainKey::from_bytes(r.array()?);
        r.finish()?;
        Ok((chain, start, key))
    };
    parse().map_err(|_| Error::DecryptionFailed)
}

/// A decoded (not yet verified) key distribution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyDistribution {
    header: DistributionHeader,
    sealed: SignedSealed,
}

impl KeyDistribution {
    /// Decodes the wire form of either version, checking structure and bounds only. The
    /// version is read from the header's domain before the bounds are applied, so a version-1
    /// distribution meets exactly the bounds it always had.
    pub fn decode(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.len() > MAX_DISTRIBUTION_LEN {
            return Err(DecodeError::TooLong {
                field: "key distribution",
                max: MAX_DISTRIBUTION_LEN,
            }
            .into());
        }
        let v2 = Domain::KeyDistributionV2.encoded();
        let (max_header, max_ciphertext) = if bytes.get(4..4 + v2.len()) == Some(&v2[..]) {
            (MAX_KDM_V2_HEADER_LEN, MAX_KDM_V2_CIPHERTEXT_LEN)
        } else {
            (MAX_KDM_HEADER_LEN, MAX_RSA_OUTPUT_LEN)
        };
        let sealed = SignedSealed::decode(bytes, max_header, max_ciphertext)?;
        Self::from_sealed(sealed)
    }

    /// Wraps signed parts, checking that the header decodes and, for version 2, that the
    /// ciphertext splits into `bytes(rsa_ct) ‖ bytes(sealed)` within its bounds (§18.5).
    pub fn from_sealed(sealed: SignedSealed) -> Result<Self, Error> {
        let header = DistributionHeader::decode(sealed.header())?;
        if header.is_v2() {
            hybrid::split_ciphertext(sealed.ciphertext())?;
        }
        Ok(Self { header, sealed })
    }

    /// The decoded header (unverified until accepted).
    pub fn header(&self) -> &DistributionHeader {
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

/// A device's request that a chain's owner send the chain's distribution again, signed by the
/// requesting device (`docs/protocol.md` §7.6). The owner answers only a certified device of a
/// current member that was among the chain's intended recipients.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRequest {
    /// The conversation.
    pub conversation: ConversationId,
    /// The chain's epoch.
    pub epoch: u64,
    /// The chain missing.
    pub chain: ChainId,
    /// The chain's owner, to whom the request goes.
    pub owner_device: DeviceId,
    /// The requester's account.
    pub requester_account: AccountId,
    /// The requesting device.
    pub requester_device: DeviceId,
    /// The exchange key the answer should be encrypted to.
    pub requester_key: ExchangeKeyId,
    /// When it was made.
    pub requested_at: Timestamp,
}

impl KeyRequest {
    /// The canonical encoding (what the requester signs).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::for_domain(Domain::KeyRequest);
        self.conversation.encode(&mut w);
        w.u64(self.epoch);
        self.chain.encode(&mut w);
        self.owner_device.encode(&mut w);
        self.requester_account.encode(&mut w);
        self.requester_device.encode(&mut w);
        self.requester_key.encode(&mut w);
        w.u64(self.requested_at.millis());
        w.finish()
    }

    /// Decodes a request body.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::for_domain(bytes, Domain::KeyRequest)?;
        let request = Self {
            conversation: ConversationId::decode(&mut r)?,
            epoch: r.u64()?,
            chain: ChainId::decode(&mut r)?,
            owner_device: DeviceId::decode(&mut r)?,
            requester_account: AccountId::decode(&mut r)?,
            requester_device: DeviceId::decode(&mut r)?,
            requester_key: ExchangeKeyId::decode(&mut r)?,
            requested_at: Timestamp(r.u64()?),
        };
        r.finish()?;
        Ok(request)
    }
}
