//! The message envelope (`docs/protocol.md` §8).
//!
//! ```text
//! header     = domain("sotto/msg") ‖ conversation(16) ‖ u64 epoch ‖ sender account(32)
//!              ‖ sender device(32) ‖ chain(16) ‖ u32 index ‖ u64 sent_at ‖ message id(16)
//!              ‖ u32 padded_len
//! ciphertext = AES-256-GCM(key, nonce, aad = header, pad(body))      (padded_len + 16 bytes)
//! signature  = RSA-PSS(sender device key, u32 len ‖ header ‖ u32 len ‖ ciphertext)
//! wire       = u32 len ‖ header ‖ u32 len ‖ ciphertext ‖ u32 len ‖ signature
//! ```
//!
//! Decoding checks only structure; [`crate::chain::ReceiverState::open`] checks the signature
//! before anything is decrypted or any state changes.

use crate::body::padded_len;
use crate::codec::{Reader, Writer};
use crate::crypto::aead::TAG_LEN;
use crate::domain::Domain;
use crate::env::Timestamp;
use crate::error::{DecodeError, Error};
use crate::ids::{AccountId, ChainId, ConversationId, DeviceId, MessageId};
use crate::limits::{MAX_ENVELOPE_LEN, MAX_PADDED_LEN};
use crate::signed::SignedSealed;

/// The largest envelope header (it has a fixed size; the bound is generous).
pub const MAX_HEADER_LEN: usize = 256;

/// The envelope header: the AES-GCM associated data, and what the relay may read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvelopeHeader {
    /// The conversation.
    pub conversation: ConversationId,
    /// The group epoch of the sender chain.
    pub epoch: u64,
    /// The sender's account.
    pub sender_account: AccountId,
    /// The sender's device.
    pub sender_device: DeviceId,
    /// The sender chain.
    pub chain: ChainId,
    /// The index in the chain.
    pub index: u32,
    /// When the sender sent it (display; far future refused).
    pub sent_at: Timestamp,
    /// The message id (relay de-duplication, receipts).
    pub message_id: MessageId,
    /// The length of the padded plaintext.
    pub padded_len: u32,
}

impl EnvelopeHeader {
    /// The canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::for_domain(Domain::Envelope);
        self.conversation.encode(&mut w);
        w.u64(self.epoch);
        self.sender_account.encode(&mut w);
        self.sender_device.encode(&mut w);
        self.chain.encode(&mut w);
        w.u32(self.index);
        w.u64(self.sent_at.millis());
        self.message_id.encode(&mut w);
        w.u32(self.padded_len);
        w.finish()
    }

    /// Decodes a header.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::for_domain(bytes, Domain::Envelope)?;
        let header = Self {
            conversation: ConversationId::decode(&mut r)?,
            epoch: r.u64()?,
            sender_account: AccountId::decode(&mut r)?,
            sender_device: DeviceId::decode(&mut r)?,
            chain: ChainId::decode(&mut r)?,
            index: r.u32()?,
            sent_at: Timestamp(r.u64()?),
            message_id: MessageId::decode(&mut r)?,
            padded_len: r.u32()?,
        };
        r.finish()?;
        let len = usize::try_from(header.padded_len).unwrap_or(usize::MAX);
        // Only bucket sizes are valid, so the length itself leaks no more than the bucket.
        if len > MAX_PADDED_LEN || len == 0 || padded_len(len - 1) != len {
            return Err(DecodeError::InvalidValue {
                field: "padded length",
            });
        }
        Ok(header)
    }
}

/// A decoded (not yet verified) envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    header: EnvelopeHeader,
    sealed: SignedSealed,
}

impl Envelope {
    /// Decodes the wire form, checking structure and bounds only.
    pub fn decode(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.len() > MAX_ENVELOPE_LEN {
            return Err(DecodeError::TooLong {
                field: "envelope",
                max: MAX_ENVELOPE_LEN,
            }
            .into());
        }
        let sealed = SignedSealed::decode(bytes, MAX_HEADER_LEN, MAX_PADDED_LEN + TAG_LEN)?;
        Self::from_sealed(sealed)
    }

    /// Wraps signed parts, checking that the header decodes and matches the ciphertext length.
    pub fn from_sealed(sealed: SignedSealed) -> Result<Self, Error> {
        let header = EnvelopeHeader::decode(sealed.header())?;
        let expected = usize::try_from(header.padded_len).unwrap_or(usize::MAX) + TAG_LEN;
        if sealed.ciphertext().len() != expected {
            return Err(DecodeError::InvalidValue {
                field: "ciphertext length",
            }
            .into());
        }
        Ok(Self { header, sealed })
    }

    /// The decoded header (unverified until the envelope is opened).
    pub fn header(&self) -> &EnvelopeHeader {
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
