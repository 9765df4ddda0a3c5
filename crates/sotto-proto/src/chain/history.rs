//! Opening an envelope from the server's archive with a history key (`docs/protocol.md` §17.2).
//!
//! An archived envelope goes through the checks of §9.2 with two differences: the sender's
//! account must have been a member *at the envelope's epoch* (not now), and the chain key comes
//! from a [`ChainRecord`] the device keeps as a history key, not from the receiver state, which is
//! neither read nor changed. There is no replay record here: the caller skips a message whose id
//! it already stores, and one whose retention has passed ([`crate::group::Retention::expired`]).

use crate::body::{unpad, MessageBody};
use crate::bundle::ChainRecord;
use crate::chain::receiver::{check_envelope_sender, Membership};
use crate::env::Timestamp;
use crate::envelope::{Envelope, EnvelopeHeader};
use crate::error::{Error, ReceiveError};
use crate::group::GroupState;
use crate::identity::VerifiedDevice;
use crate::limits::MAX_CHAIN_MESSAGES;

/// An archived message, verified and decrypted.
#[derive(Debug)]
pub struct ArchivedMessage {
    /// The verified header (show the message at its `sent_at`).
    pub header: EnvelopeHeader,
    /// The decrypted content.
    pub body: MessageBody,
}

/// Verifies and decrypts an archived `envelope` from `sender` with the history key `history`
/// (the chain record of the envelope's chain, `None` when the device holds none), changing
/// nothing. Checks, in order: §9.2 checks 1–4; 5' the sender's account was a member at the
/// envelope's epoch (`receive/sender-not-member`); 6 far future; 7 a history key for the chain
/// (`receive/unknown-chain`); 8 the chain's owner device and conversation
/// (`receive/chain-owner-mismatch`); 9 its epoch (`receive/epoch-mismatch`); 10 the index below
/// 100 (`receive/index-out-of-bounds`); 12 not before the record's start
/// (`receive/key-evicted`); 13 AES-GCM, padding and body (`decryption-failed`).
pub fn open_archived(
    envelope: &Envelope,
    sender: &VerifiedDevice,
    group: &GroupState,
    history: Option<&ChainRecord>,
    now: Timestamp,
) -> Result<ArchivedMessage, Error> {
    check_envelope_sender(envelope, sender, group, now, Membership::AtEnvelopeEpoch)?;
    let h = envelope.header();
    let record = history
        .filter(|r| r.chain == h.chain)
        .ok_or(ReceiveError::UnknownChain { chain: h.chain })?;
    if record.owner_device != h.sender_device
        || record.owner_account != h.sender_account
        || record.conversation != h.conversation
    {
        return Err(ReceiveError::ChainOwnerMismatch { chain: h.chain }.into());
    }
    if record.epoch != h.epoch {
        return Err(ReceiveError::EpochMismatch.into());
    }
    if h.index >= MAX_CHAIN_MESSAGES {
        return Err(ReceiveError::IndexOutOfBounds { index: h.index }.into());
    }
    if h.index < record.start_index {
        return Err(ReceiveError::KeyEvicted { index: h.index }.into());
    }
    let mut key = record.key.danger_duplicate();
    for _ in record.start_index..h.index {
        key = key.next();
    }
    let padded = key
        .message_key()
        .aead_key(h.chain, h.index)?
        .open(envelope.sealed().header(), envelope.sealed().ciphertext())?;
    let body = MessageBody::decode(unpad(&padded)?).map_err(|_| Error::DecryptionFailed)?;
    Ok(ArchivedMessage {
        header: h.clone(),
        body,
    })
}
