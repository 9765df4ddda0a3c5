//! A device's prekeys on the receiving side (`docs/protocol.md` §18.4, §18.6, §18.8): the private
//! keys of the one-time prekeys it uploaded, of the last-resort prekey of each exchange key it
//! keeps, the one-time prekeys it consumed, and which of its exchange keys it certified with a
//! version-2 certificate (so a version-1 distribution to them is a downgrade).
//!
//! [`crate::chain::ReceiverState::accept_distribution`] only reads the ring; the caller applies
//! [`PrekeyRing::consume`] with what it reports and persists the ring in the same atomic write as
//! the receiver state, so a crash can neither keep a used prekey nor lose a chain.

use std::collections::{BTreeMap, BTreeSet};

use crate::codec::{Reader, Writer};
use crate::crypto::prekey::PrekeyPair;
use crate::domain::Domain;
use crate::env::Timestamp;
use crate::error::{DecodeError, Error, PrekeyError};
use crate::ids::{ExchangeKeyId, PrekeyId};
use crate::limits::{
    CONSUMED_PREKEY_RETENTION_MS, MAX_RING_CONSUMED_PREKEYS, MAX_RING_LAST_RESORT_PREKEYS,
    MAX_RING_ONE_TIME_PREKEYS,
};

/// A one-time prekey this device consumed: what the distribution that used it hashed to, and
/// when, so a duplicate of that very distribution is recognised (§18.6 step 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConsumedPrekey {
    /// SHA-256 of the wire form of the distribution that consumed it.
    pub wire_hash: [u8; 32],
    /// When it was consumed.
    pub consumed_at: Timestamp,
}

/// The device's prekeys. See the module documentation.
#[derive(Clone, Debug, Default)]
pub struct PrekeyRing {
    one_time: BTreeMap<PrekeyId, PrekeyPair>,
    last_resort: BTreeMap<ExchangeKeyId, PrekeyPair>,
    consumed: BTreeMap<PrekeyId, ConsumedPrekey>,
    v2_exchange_keys: BTreeSet<ExchangeKeyId>,
}

/// The empty ring, for a device that holds no prekeys (version 1 only).
static EMPTY: PrekeyRing = PrekeyRing {
    one_time: BTreeMap::new(),
    last_resort: BTreeMap::new(),
    consumed: BTreeMap::new(),
    v2_exchange_keys: BTreeSet::new(),
};

impl PrekeyRing {
    /// An empty ring.
    pub fn new() -> Self {
        Self::default()
    }

    /// A shared empty ring, for callers that have none (a device that never certified a
    /// version-2 exchange key).
    pub fn empty() -> &'static PrekeyRing {
        &EMPTY
    }

    /// Keeps a one-time prekey's private keys (before its public half is uploaded). A ring that
    /// already holds [`MAX_RING_ONE_TIME_PREKEYS`] refuses more (`invalid-input`); an id used
    /// before (held, consumed) is refused too, since ids name one prekey for ever.
    pub fn add_one_time(&mut self, pair: PrekeyPair) -> Result<(), Error> {
        let id = pair.id();
        if self.one_time.contains_key(&id) || self.consumed.contains_key(&id) {
            return Err(Error::InvalidInput {
                field: "prekey id",
                reason: "already used",
            });
        }
        if self.one_time.len() >= MAX_RING_ONE_TIME_PREKEYS {
            return Err(Error::InvalidInput {
                field: "one-time prekeys",
                reason: "the ring is full",
            });
        }
        self.one_time.insert(id, pair);
        Ok(())
    }

    /// Keeps the last-resort prekey certified (version 2) with the exchange key `xkey`, and
    /// records that `xkey` was certified by a version-2 certificate.
    pub fn add_last_resort(&mut self, xkey: ExchangeKeyId, pair: PrekeyPair) -> Result<(), Error> {
        if !self.last_resort.contains_key(&xkey)
            && self.last_resort.len() >= MAX_RING_LAST_RESORT_PREKEYS
        {
            return Err(Error::InvalidInput {
                field: "last-resort prekeys",
                reason: "the ring is full",
            });
        }
        self.last_resort.insert(xkey, pair);
        self.v2_exchange_keys.insert(xkey);
        Ok(())
    }

    /// Deletes the last-resort prekey of `xkey`, when the exchange private key is deleted
    /// (§18.8): a distribution to that key can no longer be opened anyway. Returns whether
    /// there was one.
    pub fn remove_last_resort(&mut self, xkey: &ExchangeKeyId) -> bool {
        self.v2_exchange_keys.remove(xkey);
        self.last_resort.remove(xkey).is_some()
    }

    /// One-time prekeys held (uploaded or about to be, not consumed).
    pub fn one_time_count(&self) -> usize {
        self.one_time.len()
    }

    /// The ids of the one-time prekeys held.
    pub fn one_time_ids(&self) -> Vec<PrekeyId> {
        self.one_time.keys().copied().collect()
    }

    /// A held one-time prekey.
    pub fn one_time(&self, id: &PrekeyId) -> Option<&PrekeyPair> {
        self.one_time.get(id)
    }

    /// The last-resort prekey certified with `xkey`, if its private keys are still held.
    pub fn last_resort(&self, xkey: &ExchangeKeyId) -> Option<&PrekeyPair> {
        self.last_resort.get(xkey)
    }

    /// Whether `xkey` was certified by a version-2 certificate of this device.
    pub fn is_v2_exchange_key(&self, xkey: &ExchangeKeyId) -> bool {
        self.v2_exchange_keys.contains(xkey)
    }

    /// The record of a consumed one-time prekey.
    pub fn consumed(&self, id: &PrekeyId) -> Option<&ConsumedPrekey> {
        self.consumed.get(id)
    }

    /// Consumed one-time prekeys remembered.
    pub fn consumed_count(&self) -> usize {
        self.consumed.len()
    }

    /// Deletes a one-time prekey's private keys and records it as consumed by the distribution
    /// whose wire form hashes to `wire_hash` (what
    /// [`crate::chain::DistributionAccepted::consumed_prekey`] reports). Consuming the same
    /// prekey again with the same hash changes nothing; with another hash, or an id never held,
    /// it is `prekey/unknown`.
    pub fn consume(
        &mut self,
        id: PrekeyId,
        wire_hash: [u8; 32],
        now: Timestamp,
    ) -> Result<(), Error> {
        if let Some(done) = self.consumed.get(&id) {
            return if crate::crypto::ct_eq(&done.wire_hash, &wire_hash) {
                Ok(())
            } else {
                Err(PrekeyError::Unknown.into())
            };
        }
        if self.one_time.remove(&id).is_none() {
            return Err(PrekeyError::Unknown.into());
        }
        self.consumed.insert(
            id,
            ConsumedPrekey {
                wire_hash,
                consumed_at: now,
            },
        );
        Ok(())
    }

    /// Re-keying (§18.8): deletes every one-time prekey's private keys and returns their ids
    /// (the server deletes them unclaimed when the device uploads their replacements with
    /// `replace`). A distribution that still names one is `prekey/unknown`.
    pub fn replace_all_one_time(&mut self) -> Vec<PrekeyId> {
        std::mem::take(&mut self.one_time).into_keys().collect()
    }

    /// Forgets consumed prekeys older than the chain retention (180 days): a distribution that
    /// old is refused as stale before its prekey is looked at.
    pub fn prune(&mut self, now: Timestamp) {
        let cutoff = now.minus(CONSUMED_PREKEY_RETENTION_MS);
        self.consumed.retain(|_, c| c.consumed_at >= cutoff);
    }

    /// The encoding for the device's encrypted local store:
    ///
    /// ```text
    /// domain("sotto/local/prekey-ring")
    /// ‖ u32 n ‖ n × (prekey id ‖ EC scalar [32] ‖ ML-KEM dk [2400])                -- one-time
    /// ‖ u32 n ‖ n × (exchange key id ‖ prekey id ‖ EC scalar [32] ‖ ML-KEM dk [2400]) -- last resort
    /// ‖ u32 n ‖ n × (prekey id ‖ wire hash [32] ‖ u64 consumed_at)                 -- consumed
    /// ‖ u32 n ‖ n × exchange key id                                                -- certified v2
    /// ```
    ///
    /// Each list is sorted by its key, so a ring has one encoding.
    pub fn encode_local(&self) -> zeroize::Zeroizing<Vec<u8>> {
        let mut w = Writer::for_domain(Domain::LocalPrekeyRing);
        w.u32(len_u32(self.one_time.len()));
        for pair in self.one_time.values() {
            pair.encode_local_into(&mut w);
        }
        w.u32(len_u32(self.last_resort.len()));
        for (xkey, pair) in &self.last_resort {
            xkey.encode(&mut w);
            pair.encode_local_into(&mut w);
        }
        w.u32(len_u32(self.consumed.len()));
        for (id, done) in &self.consumed {
            id.encode(&mut w);
            w.fixed(&done.wire_hash);
            w.u64(done.consumed_at.millis());
        }
        w.u32(len_u32(self.v2_exchange_keys.len()));
        for xkey in &self.v2_exchange_keys {
            xkey.encode(&mut w);
        }
        zeroize::Zeroizing::new(w.finish())
    }

    /// Decodes [`Self::encode_local`]: bounded counts (checked against the bytes left before
    /// anything is allocated), keys strictly increasing, every private key checked.
    pub fn decode_local(bytes: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::for_domain(bytes, Domain::LocalPrekeyRing)?;
        let mut ring = Self::new();
        const PAIR_LEN: usize = 16 + 32 + 2400;
        let n = count(
            &mut r,
            "one-time prekeys",
            MAX_RING_ONE_TIME_PREKEYS,
            PAIR_LEN,
        )?;
        for _ in 0..n {
            let pair = PrekeyPair::decode_local_from(&mut r)?;
            if ring
                .one_time
                .last_key_value()
                .is_some_and(|(last, _)| *last >= pair.id())
            {
                return Err(unsorted("one-time prekeys"));
            }
            ring.one_time.insert(pair.id(), pair);
        }
        let n = count(
            &mut r,
            "last-resort prekeys",
            MAX_RING_LAST_RESORT_PREKEYS,
            32 + PAIR_LEN,
        )?;
        for _ in 0..n {
            let xkey = ExchangeKeyId::decode(&mut r)?;
            let pair = PrekeyPair::decode_local_from(&mut r)?;
            if ring
                .last_resort
                .last_key_value()
                .is_some_and(|(last, _)| *last >= xkey)
            {
                return Err(unsorted("last-resort prekeys"));
            }
            ring.last_resort.insert(xkey, pair);
        }
        let n = count(
            &mut r,
            "consumed prekeys",
            MAX_RING_CONSUMED_PREKEYS,
            16 + 32 + 8,
        )?;
        for _ in 0..n {
            let id = PrekeyId::decode(&mut r)?;
            let done = ConsumedPrekey {
                wire_hash: r.array()?,
                consumed_at: Timestamp(r.u64()?),
            };
            if ring
                .consumed
                .last_key_value()
                .is_some_and(|(last, _)| *last >= id)
            {
                return Err(unsorted("consumed prekeys"));
            }
            if ring.one_time.contains_key(&id) {
                return Err(DecodeError::InvalidValue {
                    field: "consumed prekeys",
                }
                .into());
            }
            ring.consumed.insert(id, done);
        }
        let n = count(
            &mut r,
            "version-2 exchange keys",
            MAX_RING_LAST_RESORT_PREKEYS,
            32,
        )?;
        for _ in 0..n {
            let xkey = ExchangeKeyId::decode(&mut r)?;
            if !ring.v2_exchange_keys.insert(xkey) || ring.v2_exchange_keys.last() != Some(&xkey) {
                return Err(unsorted("version-2 exchange keys"));
            }
        }
        r.finish()?;
        Ok(ring)
    }
}

fn len_u32(len: usize) -> u32 {
    // Every list is bounded far below u32::MAX by the add methods and the decoder.
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// Reads a `u32` count of at most `max` items of at least `item_len` bytes each, refusing a
/// count the remaining bytes cannot hold before anything is read.
fn count(
    r: &mut Reader<'_>,
    field: &'static str,
    max: usize,
    item_len: usize,
) -> Result<usize, DecodeError> {
    let n = usize::try_from(r.u32()?).map_err(|_| DecodeError::TooMany { field, max })?;
    if n > max {
        return Err(DecodeError::TooMany { field, max });
    }
    if n.saturating_mul(item_len) > r.remaining() {
        return Err(DecodeError::Truncated);
    }
    Ok(n)
}

fn unsorted(field: &'static str) -> Error {
    DecodeError::InvalidValue { field }.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(n: u8) -> PrekeyPair {
        PrekeyPair::generate(PrekeyId::from_bytes([n; 16])).unwrap()
    }

    #[test]
    fn consume_deletes_the_private_keys_once() {
        let mut ring = PrekeyRing::new();
        ring.add_one_time(pair(1)).unwrap();
        ring.add_one_time(pair(2)).unwrap();
        assert_eq!(ring.one_time_count(), 2);
        let id = PrekeyId::from_bytes([1; 16]);
        ring.consume(id, [9; 32], Timestamp(5)).unwrap();
        assert!(ring.one_time(&id).is_none());
        assert_eq!(ring.one_time_count(), 1);
        // Same distribution again: nothing changes. Another one: unknown.
        ring.consume(id, [9; 32], Timestamp(6)).unwrap();
        assert_eq!(ring.consumed(&id).unwrap().consumed_at, Timestamp(5));
        assert_eq!(
            ring.consume(id, [8; 32], Timestamp(6)).unwrap_err().code(),
            "prekey/unknown"
        );
        assert_eq!(
            ring.consume(PrekeyId::from_bytes([3; 16]), [9; 32], Timestamp(6))
                .unwrap_err()
                .code(),
            "prekey/unknown"
        );
        // A consumed id cannot be added back.
        assert!(ring.add_one_time(pair(1)).is_err());
    }

    #[test]
    fn prune_forgets_old_tombstones_only() {
        let mut ring = PrekeyRing::new();
        ring.add_one_time(pair(1)).unwrap();
        ring.add_one_time(pair(2)).unwrap();
        ring.consume(PrekeyId::from_bytes([1; 16]), [0; 32], Timestamp(0))
            .unwrap();
        let later = Timestamp(CONSUMED_PREKEY_RETENTION_MS);
        ring.consume(PrekeyId::from_bytes([2; 16]), [0; 32], later)
            .unwrap();
        ring.prune(Timestamp(CONSUMED_PREKEY_RETENTION_MS + 1));
        assert_eq!(ring.consumed_count(), 1);
        assert!(ring.consumed(&PrekeyId::from_bytes([2; 16])).is_some());
    }

    #[test]
    fn replace_and_last_resort_bookkeeping() {
        let mut ring = PrekeyRing::new();
        ring.add_one_time(pair(1)).unwrap();
        ring.add_one_time(pair(2)).unwrap();
        let mut ids = ring.replace_all_one_time();
        ids.sort();
        assert_eq!(
            ids,
            vec![PrekeyId::from_bytes([1; 16]), PrekeyId::from_bytes([2; 16])]
        );
        assert_eq!(ring.one_time_count(), 0);
        let xkey = ExchangeKeyId::from_bytes([4; 32]);
        ring.add_last_resort(xkey, pair(3)).unwrap();
        assert!(ring.is_v2_exchange_key(&xkey));
        assert_eq!(
            ring.last_resort(&xkey).unwrap().id(),
            PrekeyId::from_bytes([3; 16])
        );
        assert!(ring.remove_last_resort(&xkey));
        assert!(!ring.is_v2_exchange_key(&xkey));
        assert!(ring.last_resort(&xkey).is_none());
    }

    #[test]
    fn local_encoding_round_trips_and_is_bounded() {
        let mut ring = PrekeyRing::new();
        ring.add_one_time(pair(1)).unwrap();
        ring.add_one_time(pair(2)).unwrap();
        ring.add_last_resort(ExchangeKeyId::from_bytes([4; 32]), pair(3))
            .unwrap();
        ring.consume(PrekeyId::from_bytes([2; 16]), [7; 32], Timestamp(11))
            .unwrap();
        let bytes = ring.encode_local();
        let again = PrekeyRing::decode_local(&bytes).unwrap();
        assert_eq!(again.encode_local(), bytes);
        assert_eq!(again.one_time_ids(), vec![PrekeyId::from_bytes([1; 16])]);
        assert_eq!(
            again
                .consumed(&PrekeyId::from_bytes([2; 16]))
                .unwrap()
                .wire_hash,
            [7; 32]
        );
        assert!(again.is_v2_exchange_key(&ExchangeKeyId::from_bytes([4; 32])));
        let empty = PrekeyRing::empty().encode_local();
        assert!(PrekeyRing::decode_local(&empty).unwrap().one_time_count() == 0);
        // A huge count is refused before anything is read.
        let mut huge = Writer::for_domain(Domain::LocalPrekeyRing);
        huge.u32(u32::MAX);
        assert_eq!(
            PrekeyRing::decode_local(&huge.finish()).unwrap_err().code(),
            "decode/too-many"
        );
        let mut short = Writer::for_domain(Domain::LocalPrekeyRing);
        short.u32(5);
        assert_eq!(
            PrekeyRing::decode_local(&short.finish())
                .unwrap_err()
                .code(),
            "decode/truncated"
        );
        assert_eq!(
            PrekeyRing::decode_local(&bytes[..bytes.len() - 1])
                .unwrap_err()
                .code(),
            "decode/truncated"
        );
    }
}
