//! Encodings of chain state for a device's local store (`docs/protocol.md` §9.5).
//!
//! These hold secrets (chain and message keys): the output is zeroized on drop and MUST only be
//! written inside the client's encrypted store. They are local formats, not wire formats, but use
//! the same bounded decoder, so a corrupted store is an error and never a panic.
//!
//! A restored backup or a copied profile would resume sender chains at an index already used; a
//! client therefore starts new sender chains after any restore (see `docs/decisions.md`).

use std::collections::{BTreeMap, BTreeSet};

use zeroize::Zeroizing;

use crate::chain::ratchet::{ChainKey, MessageKey};
use crate::chain::receiver::{ChainOrigin, ReceiverChain, ReceiverState, SkippedKey};
use crate::chain::sender::SenderChain;
use crate::codec::{Reader, Writer};
use crate::distribution::ChainEnd;
use crate::domain::Domain;
use crate::env::Timestamp;
use crate::error::{DecodeError, Error};
use crate::ids::{AccountId, ChainId, ConversationId, DeviceId};
use crate::limits::{MAX_CHAIN_MESSAGES, MAX_KEPT_CHAINS, MAX_MEMBERS};

/// Devices one chain may have been distributed to (members times a generous device count).
const MAX_RECIPIENT_DEVICES: usize = MAX_MEMBERS * 16;

fn write_chain_end(w: &mut Writer, end: Option<ChainEnd>) {
    match end {
        None => w.u8(0),
        Some(end) => {
            w.u8(1);
            end.chain.encode(w);
            w.u32(end.final_index.unwrap_or(u32::MAX));
        }
    }
}

fn read_final_index(r: &mut Reader<'_>) -> Result<Option<u32>, DecodeError> {
    Ok(match r.u32()? {
        u32::MAX => None,
        index if index < MAX_CHAIN_MESSAGES => Some(index),
        _ => {
            return Err(DecodeError::InvalidValue {
                field: "final index",
            })
        }
    })
}

fn read_chain_end(r: &mut Reader<'_>) -> Result<Option<ChainEnd>, DecodeError> {
    match r.u8()? {
        0 => Ok(None),
        1 => Ok(Some(ChainEnd {
            chain: ChainId::decode(r)?,
            final_index: read_final_index(r)?,
        })),
        tag => Err(DecodeError::UnknownTag {
            field: "previous chain",
            tag,
        }),
    }
}

fn read_index(r: &mut Reader<'_>, field: &'static str, max: u32) -> Result<u32, DecodeError> {
    let index = r.u32()?;
    if index > max {
        return Err(DecodeError::InvalidValue { field });
    }
    Ok(index)
}

impl SenderChain {
    /// The chain with its secrets, for the encrypted local store.
    pub fn encode_local(&self) -> Zeroizing<Vec<u8>> {
        let mut w = Writer::for_domain(Domain::LocalSenderChain);
        self.conversation.encode(&mut w);
        w.u64(self.epoch);
        self.chain.encode(&mut w);
        self.account.encode(&mut w);
        self.device.encode(&mut w);
        w.fixed(self.initial.danger_bytes());
        w.fixed(self.current.danger_bytes());
        w.u32(self.next_index);
        w.u64(self.created_at.millis());
        write_chain_end(&mut w, self.previous);
        w.u32(u32::try_from(self.recipients.len()).unwrap_or(u32::MAX));
        for device in &self.recipients {
            device.encode(&mut w);
        }
        Zeroizing::new(w.finish())
    }

    /// Reads a chain written by [`encode_local`](Self::encode_local).
    pub fn decode_local(bytes: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::for_domain(bytes, Domain::LocalSenderChain)?;
        let conversation = ConversationId::decode(&mut r)?;
        let epoch = r.u64()?;
        let chain = ChainId::decode(&mut r)?;
        let account = AccountId::decode(&mut r)?;
        let device = DeviceId::decode(&mut r)?;
        let initial = ChainKey::from_bytes(r.array()?);
        let current = ChainKey::from_bytes(r.array()?);
        let next_index = read_index(&mut r, "next index", MAX_CHAIN_MESSAGES)?;
        let created_at = Timestamp(r.u64()?);
        let previous = read_chain_end(&mut r)?;
        let count = r.u32()? as usize;
        if count > MAX_RECIPIENT_DEVICES {
            return Err(DecodeError::TooMany {
                field: "recipients",
                max: MAX_RECIPIENT_DEVICES,
            }
            .into());
        }
        let recipients = (0..count)
            .map(|_| DeviceId::decode(&mut r))
            .collect::<Result<BTreeSet<_>, _>>()?;
        r.finish()?;
        Ok(Self {
            conversation,
            epoch,
            chain,
            account,
            device,
            initial,
            current,
            next_index,
            created_at,
            previous,
            recipients,
        })
    }
}

impl ReceiverState {
    /// Every chain with its keys, for the encrypted local store.
    pub fn encode_local(&self) -> Zeroizing<Vec<u8>> {
        let mut w = Writer::for_domain(Domain::LocalReceiverState);
        w.u32(u32::try_from(self.chains.len()).unwrap_or(u32::MAX));
        for (id, chain) in &self.chains {
            id.encode(&mut w);
            encode_receiver_chain(&mut w, chain);
        }
        // Appended after the chains of the first local format, so that states stored before
        // chains had an origin still load (every chain then came from a distribution): a count,
        // which must be the chains' (a cut-off store is an error, not an older format), then
        // one origin per chain in the same order.
        w.u32(u32::try_from(self.chains.len()).unwrap_or(u32::MAX));
        for chain in self.chains.values() {
            write_origin(&mut w, chain.origin);
        }
        Zeroizing::new(w.finish())
    }

    /// Reads a state written by [`encode_local`](Self::encode_local).
    pub fn decode_local(bytes: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::for_domain(bytes, Domain::LocalReceiverState)?;
        let count = r.u32()? as usize;
        if count > MAX_KEPT_CHAINS {
            return Err(DecodeError::TooMany {
                field: "chains",
                max: MAX_KEPT_CHAINS,
            }
            .into());
        }
        let mut chains = BTreeMap::new();
        let mut order = Vec::with_capacity(count);
        for _ in 0..count {
            let id = ChainId::decode(&mut r)?;
            let chain = decode_receiver_chain(&mut r)?;
            if chains.insert(id, chain).is_some() {
                return Err(DecodeError::InvalidValue {
                    field: "duplicate chain",
                }
                .into());
            }
            order.push(id);
        }
        // A state stored before chains had an origin ends here.
        if r.remaining() > 0 {
            if r.u32()? as usize != order.len() {
                return Err(DecodeError::InvalidValue {
                    field: "chain origins",
                }
                .into());
            }
            for id in &order {
                let origin = read_origin(&mut r)?;
                if let Some(chain) = chains.get_mut(id) {
                    chain.origin = origin;
                }
            }
        }
        r.finish()?;
        Ok(Self { chains })
    }
}

const ORIGIN_DISTRIBUTION: u8 = 0;
const ORIGIN_BUNDLE: u8 = 1;
const ORIGIN_BUNDLE_LIVE: u8 = 2;

fn write_origin(w: &mut Writer, origin: ChainOrigin) {
    match origin {
        ChainOrigin::Distribution => w.u8(ORIGIN_DISTRIBUTION),
        ChainOrigin::Bundle { first_live: None } => w.u8(ORIGIN_BUNDLE),
        ChainOrigin::Bundle {
            first_live: Some(index),
        } => {
            w.u8(ORIGIN_BUNDLE_LIVE);
            w.u32(index);
        }
    }
}

fn read_origin(r: &mut Reader<'_>) -> Result<ChainOrigin, DecodeError> {
    match r.u8()? {
        ORIGIN_DISTRIBUTION => Ok(ChainOrigin::Distribution),
        ORIGIN_BUNDLE => Ok(ChainOrigin::Bundle { first_live: None }),
        ORIGIN_BUNDLE_LIVE => Ok(ChainOrigin::Bundle {
            first_live: Some(read_index(r, "first live index", MAX_CHAIN_MESSAGES - 1)?),
        }),
        tag => Err(DecodeError::UnknownTag {
            field: "chain origin",
            tag,
        }),
    }
}

fn encode_receiver_chain(w: &mut Writer, c: &ReceiverChain) {
    c.conversation.encode(w);
    w.u64(c.epoch);
    c.sender_account.encode(w);
    c.sender_device.encode(w);
    w.u64(c.created_at.millis());
    w.u32(c.start_index);
    w.fixed(&c.start_key_hash);
    match &c.next_key {
        None => w.u8(0),
        Some(key) => {
            w.u8(1);
            w.fixed(key.danger_bytes());
        }
    }
    w.u32(c.next_index);
    w.fixed(&c.consumed.to_be_bytes());
    match c.final_index {
        None => w.u8(0),
        Some(end) => {
            w.u8(1);
            w.u32(end.unwrap_or(u32::MAX));
        }
    }
    w.count(c.skipped.len());
    for (index, kept) in &c.skipped {
        w.u32(*index);
        w.fixed(kept.key.danger_bytes());
        w.u64(kept.since.millis());
    }
}

fn decode_receiver_chain(r: &mut Reader<'_>) -> Result<ReceiverChain, DecodeError> {
    let conversation = ConversationId::decode(r)?;
    let epoch = r.u64()?;
    let sender_account = AccountId::decode(r)?;
    let sender_device = DeviceId::decode(r)?;
    let created_at = Timestamp(r.u64()?);
    let start_index = read_index(r, "start index", MAX_CHAIN_MESSAGES - 1)?;
    let start_key_hash = r.array()?;
    let next_key = match r.u8()? {
        0 => None,
        1 => Some(ChainKey::from_bytes(r.array()?)),
        tag => {
            return Err(DecodeError::UnknownTag {
                field: "next key",
                tag,
            })
        }
    };
    let next_index = read_index(r, "next index", MAX_CHAIN_MESSAGES)?;
    let consumed = u128::from_be_bytes(r.array()?);
    let final_index = match r.u8()? {
        0 => None,
        1 => Some(read_final_index(r)?),
        tag => {
            return Err(DecodeError::UnknownTag {
                field: "final index",
                tag,
            })
        }
    };
    let count = r.count("skipped keys", MAX_CHAIN_MESSAGES as usize)?;
    let mut skipped = BTreeMap::new();
    for _ in 0..count {
        let index = read_index(r, "skipped index", MAX_CHAIN_MESSAGES - 1)?;
        let key = MessageKey::from_bytes(r.array()?);
        let since = Timestamp(r.u64()?);
        skipped.insert(index, SkippedKey { key, since });
    }
    Ok(ReceiverChain {
        conversation,
        epoch,
        sender_account,
        sender_device,
        created_at,
        start_index,
        start_key_hash,
        next_key,
        next_index,
        consumed,
        skipped,
        final_index,
        // The origin follows the chains (see `ReceiverState::decode_local`).
        origin: ChainOrigin::Distribution,
    })
}
