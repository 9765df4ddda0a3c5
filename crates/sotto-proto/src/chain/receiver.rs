//! The receiving side of chains (`docs/protocol.md` §7.5 and §8.2).
//!
//! A chain exists here only once a key distribution from its owner was verified
//! ([`ReceiverState::accept_distribution`]). A message is checked in a fixed order — sender device
//! bound to the header, signature, conversation, membership, epoch, timestamp, chain, index,
//! replay — before its key is derived and it is decrypted ([`ReceiverState::open`]), which changes
//! nothing; only [`ReceiverState::commit`] records it. So a refused message never changes state,
//! and a replay of any accepted (chain, index) is refused: chains are kept for
//! [`CHAIN_RETENTION_MS`], and a distribution older than [`MAX_DISTRIBUTION_AGE_MS`] cannot bring
//! a forgotten chain back.
//!
//! A chain taken from a key bundle ([`ReceiverState::take_record`]) starts where its owner
//! started it, before this device held it: the messages sent on it until then are read from the
//! archive (§17), so its gaps count only from the first index committed here (§15.1 step 2).

use std::collections::BTreeMap;

use crate::body::{unpad, MessageBody};
use crate::bundle::ChainRecord;
use crate::chain::prekeys::PrekeyRing;
use crate::chain::ratchet::{ChainKey, MessageKey};
use crate::crypto::rsa::ExchangeKeyPair;
use crate::crypto::sha256;
use crate::crypto::{ct_eq, sha256_parts};
use crate::distribution::{
    decode_payload, hybrid, DistributionHeader, KeyDistribution, PrekeyKind,
};
use crate::domain::Domain;
use crate::env::Timestamp;
use crate::envelope::{Envelope, EnvelopeHeader};
use crate::error::{Error, PrekeyError, ReceiveError};
use crate::group::GroupState;
use crate::identity::VerifiedDevice;
use crate::ids::{AccountId, ChainId, ConversationId, DeviceId, ExchangeKeyId, PrekeyId};
use crate::limits::{
    CHAIN_RETENTION_MS, MAX_CHAIN_MESSAGES, MAX_CLOCK_SKEW_MS, MAX_DISTRIBUTION_AGE_MS,
    MAX_SKIPPED_KEYS, MAX_SKIPPED_KEY_AGE_MS,
};

/// This device, as the recipient of distributions.
#[derive(Debug)]
pub struct LocalDevice<'a> {
    /// This device's account.
    pub account: AccountId,
    /// This device.
    pub device: DeviceId,
    /// The exchange key pairs this device still holds (current and not yet retired).
    pub exchange_keys: &'a [ExchangeKeyPair],
    /// This device's prekeys, and which of its exchange keys it certified as version 2
    /// ([`PrekeyRing::empty`] for a device that never did).
    pub prekeys: &'a PrekeyRing,
}

/// A message key kept for an index that was skipped.
#[derive(Debug)]
pub(super) struct SkippedKey {
    pub(super) key: MessageKey,
    pub(super) since: Timestamp,
}

/// How a chain came to this device, which says from which index its gaps are reported (§9.2,
/// §15.1 step 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ChainOrigin {
    /// Its owner's distribution to this device: every index from the chain's start is expected.
    Distribution,
    /// A key bundle (a backup or a hand-over). Its key reaches back to messages sent before this
    /// device held the chain, which the archive gives (§17), not the relay: only indexes from
    /// `first_live`, the first one committed here, are expected; none while it is `None`.
    Bundle { first_live: Option<u32> },
}

/// What a receiver knows about one chain.
#[derive(Debug)]
pub struct ReceiverChain {
    pub(super) conversation: ConversationId,
    pub(super) epoch: u64,
    pub(super) sender_account: AccountId,
    pub(super) sender_device: DeviceId,
    /// When the owner made the distribution that introduced the chain; the chain is forgotten
    /// [`CHAIN_RETENTION_MS`] later.
    pub(super) created_at: Timestamp,
    pub(super) start_index: u32,
    /// A hash of the key at `start_index`: tells a repeated distribution from a conflicting one
    /// after the key itself has been ratcheted away.
    pub(super) start_key_hash: [u8; 32],
    /// The key for `next_index`; `None` once the chain is used up.
    pub(super) next_key: Option<ChainKey>,
    pub(super) next_index: u32,
    /// Bit `i` set: index `i` was received. 128 bits cover the 100-message bound.
    pub(super) consumed: u128,
    pub(super) skipped: BTreeMap<u32, SkippedKey>,
    /// The last index the owner says it sent, once its next chain announced it.
    pub(super) final_index: Option<Option<u32>>,
    pub(super) origin: ChainOrigin,
}

impl ReceiverChain {
    fn is_consumed(&self, index: u32) -> bool {
        index < 128 && self.consumed & (1u128 << index) != 0
    }

    /// The first index whose absence is reported: the chain's start, or for a chain from a key
    /// bundle the first index committed here (`None` before one is).
    pub fn gaps_from(&self) -> Option<u32> {
        match self.origin {
            ChainOrigin::Distribution => Some(self.start_index),
            ChainOrigin::Bundle { first_live } => first_live,
        }
    }

    /// Indexes that should have arrived but have not: every index from
    /// [`gaps_from`](Self::gaps_from) up to the highest seen (or the announced final index) that
    /// was never received.
    pub fn missing(&self) -> Vec<u32> {
        let Some(from) = self.gaps_from() else {
            return Vec::new();
        };
        let upper = match self.final_index {
            Some(Some(last)) => last.saturating_add(1),
            Some(None) => 0,
            None => self.next_index,
        };
        (from..upper.max(from))
            .filter(|&i| !self.is_consumed(i))
            .collect()
    }

    /// The sender device that owns the chain.
    pub fn sender_device(&self) -> DeviceId {
        self.sender_device
    }

    /// The sender's account.
    pub fn sender_account(&self) -> AccountId {
        self.sender_account
    }

    /// The conversation.
    pub fn conversation(&self) -> ConversationId {
        self.conversation
    }

    /// The chain's epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }
}

/// The outcome of accepting a distribution.
#[derive(Debug)]
pub struct DistributionAccepted {
    /// The chain introduced.
    pub chain: ChainId,
    /// The chain was already known with the same key (a harmless re-send).
    pub duplicate: bool,
    /// Indexes of the previous chain that never arrived, now that its end is known (truncation).
    pub missing_in_previous: Vec<u32>,
    /// The distribution names a previous chain this device never received at all.
    pub previous_unknown: bool,
    /// The chain's key at its start, to keep as a history key (§17.2) and to back up or hand
    /// over (§15.1): the receiver state itself keeps only the key at the next index.
    pub history_key: ChainRecord,
    /// The one-time prekey this distribution used, and the SHA-256 of its wire form: the caller
    /// applies [`PrekeyRing::consume`] with them and persists the ring in the same atomic write
    /// as this state (§18.6). `None` for version 1 and for a last-resort prekey.
    pub consumed_prekey: Option<(PrekeyId, [u8; 32])>,
}

/// What [`ReceiverState::take_record`] did with a chain record from a backup or hand-over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordTaken {
    /// The chain was introduced into the receiver state, as its owner's distribution would.
    Introduced,
    /// The chain was already known with the same key.
    Duplicate,
    /// Not for the receiver state (another epoch than the current one, this device's own
    /// chain, an owner no longer a member): keep it as a history key only.
    HistoryOnly,
}

/// A verified, decrypted message not yet recorded; see [`ReceiverState::commit`].
#[derive(Debug)]
pub struct OpenedMessage {
    header: EnvelopeHeader,
    body: MessageBody,
    expected_next_index: u32,
    advance: Option<Advance>,
}

#[derive(Debug)]
struct Advance {
    next_key: Option<ChainKey>,
    next_index: u32,
    skipped: Vec<(u32, MessageKey)>,
}

impl OpenedMessage {
    /// The verified header.
    pub fn header(&self) -> &EnvelopeHeader {
        &self.header
    }

    /// The decrypted content.
    pub fn body(&self) -> &MessageBody {
        &self.body
    }
}

/// A message after it was recorded.
#[derive(Debug)]
pub struct ReceivedMessage {
    /// The verified header.
    pub header: EnvelopeHeader,
    /// The decrypted content.
    pub body: MessageBody,
    /// Indexes of this chain skipped by this message (a gap to show until they arrive).
    pub gap: Vec<u32>,
}

/// Every chain this device receives on, across conversations.
#[derive(Debug, Default)]
pub struct ReceiverState {
    pub(super) chains: BTreeMap<ChainId, ReceiverChain>,
}

impl ReceiverState {
    /// An empty state.
    pub fn new() -> Self {
        Self::default()
    }

    /// Verifies a key distribution from `sender` to this device and introduces its chain.
    pub fn accept_distribution(
        &mut self,
        kdm: &KeyDistribution,
        sender: &VerifiedDevice,
        me: &LocalDevice<'_>,
        group: &GroupState,
        now: Timestamp,
    ) -> Result<DistributionAccepted, Error> {
        let h = kdm.header();
        if sender.device() != h.sender_device || sender.account() != h.sender_account {
            return Err(ReceiveError::SenderMismatch.into());
        }
        kdm.sealed()
            .verify("key distribution", sender.signing_key())?;
        if h.recipient_account != me.account || h.recipient_device != me.device {
            return Err(ReceiveError::WrongRecipient.into());
        }
        let exchange = me
            .exchange_keys
            .iter()
            .find(|k| ExchangeKeyId::from_spki(k.encrypting_key().spki()) == h.recipient_key)
            .ok_or(ReceiveError::WrongRecipient)?;
        // §18.6 step 2 and §18.7: a version-2 distribution only to an exchange key certified as
        // version 2, and a version-1 one never to such a key (its sender had the v2 certificate).
        match (&h.hybrid, me.prekeys.is_v2_exchange_key(&h.recipient_key)) {
            (None, true) => return Err(ReceiveError::Downgrade.into()),
            (Some(_), false) => return Err(ReceiveError::WrongRecipient.into()),
            _ => {}
        }
        check_membership(group, h.conversation, h.epoch, &h.sender_account)?;
        if h.created_at > now.plus(MAX_CLOCK_SKEW_MS) {
            return Err(ReceiveError::FarFuture.into());
        }
        if h.created_at < now.minus(MAX_DISTRIBUTION_AGE_MS) {
            // Chains are forgotten after `CHAIN_RETENTION_MS`; refusing old distributions means a
            // replayed one can never bring a forgotten chain (and its old messages) back.
            return Err(ReceiveError::StaleDistribution.into());
        }
        if h.start_index >= MAX_CHAIN_MESSAGES {
            return Err(ReceiveError::IndexOutOfBounds {
                index: h.start_index,
            }
            .into());
        }
        let (chain, start, key, consumed_prekey) = match &h.hybrid {
            None => {
                let label = DistributionHeader::oaep_label(kdm.sealed().header());
                let payload = exchange.decrypt(kdm.sealed().ciphertext(), &label)?;
                let (chain, start, key) = decode_payload(Domain::KeyDistributionPayload, &payload)?;
                (chain, start, key, None)
            }
            Some(hy) => {
                // §18.6 step 4: the prekey, before any private-key operation.
                let wire_hash = sha256(&kdm.encode());
                let pair = match hy.prekey_kind {
                    PrekeyKind::OneTime => {
                        if let Some(done) = me.prekeys.consumed(&hy.prekey) {
                            return Err(if ct_eq(&done.wire_hash, &wire_hash) {
                                ReceiveError::DuplicateDistribution.into()
                            } else {
                                PrekeyError::Unknown.into()
                            });
                        }
                        me.prekeys.one_time(&hy.prekey)
                    }
                    PrekeyKind::LastResort => me
                        .prekeys
                        .last_resort(&h.recipient_key)
                        .filter(|pair| pair.id() == hy.prekey),
                }
                .ok_or(PrekeyError::Unknown)?;
                // Step 5: one uniform failure for all three secrets.
                let (chain, start, key) = hybrid::open(
                    kdm.sealed().header(),
                    &hy.ephemeral,
                    &hy.kem_ciphertext,
                    kdm.sealed().ciphertext(),
                    exchange,
                    pair,
                )?;
                let consumed =
                    (hy.prekey_kind == PrekeyKind::OneTime).then_some((hy.prekey, wire_hash));
                (chain, start, key, consumed)
            }
        };
        if chain != h.chain || start != h.start_index {
            return Err(Error::DecryptionFailed);
        }
        let duplicate = match self.chains.get(&chain) {
            Some(known) if known.sender_device != h.sender_device => {
                return Err(ReceiveError::ChainOwnerMismatch { chain }.into());
            }
            Some(known) if known.epoch != h.epoch || known.conversation != h.conversation => {
                return Err(ReceiveError::ChainKeyConflict { chain }.into());
            }
            Some(known) => {
                if known.start_index != start || !ct_eq(&known.start_key_hash, &key_hash(&key)) {
                    return Err(ReceiveError::ChainKeyConflict { chain }.into());
                }
                true
            }
            None => false,
        };
        let (missing_in_previous, previous_unknown) = match h.previous {
            Some(end) => match self.chains.get_mut(&end.chain) {
                Some(prev) if prev.sender_device == h.sender_device => {
                    prev.final_index = Some(end.final_index);
                    (prev.missing(), false)
                }
                _ => (Vec::new(), true),
            },
            None => (Vec::new(), false),
        };
        let history_key = key.danger_duplicate();
        if !duplicate {
            self.chains.insert(
                chain,
                ReceiverChain {
                    conversation: h.conversation,
                    epoch: h.epoch,
                    sender_account: h.sender_account,
                    sender_device: h.sender_device,
                    created_at: h.created_at,
                    start_index: start,
                    start_key_hash: key_hash(&key),
                    next_key: Some(key),
                    next_index: start,
                    consumed: 0,
                    skipped: BTreeMap::new(),
                    final_index: None,
                    origin: ChainOrigin::Distribution,
                },
            );
        }
        Ok(DistributionAccepted {
            chain,
            duplicate,
            missing_in_previous,
            previous_unknown,
            history_key: ChainRecord {
                conversation: h.conversation,
                epoch: h.epoch,
                chain,
                owner_account: h.sender_account,
                owner_device: h.sender_device,
                start_index: start,
                key: history_key,
                created_at: h.created_at,
            },
            consumed_prekey,
        })
    }

    /// Takes a chain record from a backup or a hand-over (§15.1 step 2) for this device
    /// (`me`), the conversation's verified state being `group`. A chain already known with
    /// another key, owner or place is `receive/chain-key-conflict` (skip that record only); keys
    /// at different indexes are compared by ratcheting the earlier one forward.
    /// Otherwise the chain is introduced, as a verified distribution from its owner would be,
    /// when its epoch is the conversation's current one, its owner's account a member now and
    /// it is not this device's own chain; else it is for history only. The caller keeps every
    /// record not refused as a history key. An introduced chain reports gaps only from the first
    /// index committed on it ([`ReceiverChain::gaps_from`]): what was sent before is in the
    /// archive, not missing.
    pub fn take_record(
        &mut self,
        record: &ChainRecord,
        group: &GroupState,
        me: DeviceId,
    ) -> Result<RecordTaken, Error> {
        let conflict = || {
            Error::from(ReceiveError::ChainKeyConflict {
                chain: record.chain,
            })
        };
        if let Some(known) = self.chains.get(&record.chain) {
            if known.sender_device != record.owner_device
                || known.sender_account != record.owner_account
                || known.conversation != record.conversation
                || known.epoch != record.epoch
            {
                return Err(conflict());
            }
            return match same_key(known, record) {
                Some(true) => Ok(RecordTaken::Duplicate),
                Some(false) => Err(conflict()),
                // Starts inside what this device already ratcheted past: nothing left here to
                // compare it with. The receiver state keeps its own key; the record can only
                // serve as a history key, whose messages AES-GCM still authenticates.
                None => Ok(RecordTaken::HistoryOnly),
            };
        }
        let live = record.conversation == group.conversation()
            && record.epoch == group.epoch()
            && group.is_member(&record.owner_account)
            && record.owner_device != me
            && record.start_index < MAX_CHAIN_MESSAGES;
        if !live {
            return Ok(RecordTaken::HistoryOnly);
        }
        self.chains.insert(
            record.chain,
            ReceiverChain {
                conversation: record.conversation,
                epoch: record.epoch,
                sender_account: record.owner_account,
                sender_device: record.owner_device,
                created_at: record.created_at,
                start_index: record.start_index,
                start_key_hash: key_hash(&record.key),
                next_key: Some(record.key.danger_duplicate()),
                next_index: record.start_index,
                consumed: 0,
                skipped: BTreeMap::new(),
                final_index: None,
                origin: ChainOrigin::Bundle { first_live: None },
            },
        );
        Ok(RecordTaken::Introduced)
    }

    /// Verifies and decrypts `envelope` from `sender`, changing nothing.
    pub fn open(
        &self,
        envelope: &Envelope,
        sender: &VerifiedDevice,
        group: &GroupState,
        now: Timestamp,
    ) -> Result<OpenedMessage, Error> {
        let h = envelope.header();
        check_envelope_sender(envelope, sender, group, now, Membership::Now)?;
        let chain = self
            .chains
            .get(&h.chain)
            .ok_or(ReceiveError::UnknownChain { chain: h.chain })?;
        if chain.sender_device != h.sender_device || chain.conversation != h.conversation {
            return Err(ReceiveError::ChainOwnerMismatch { chain: h.chain }.into());
        }
        if chain.epoch != h.epoch {
            return Err(ReceiveError::EpochMismatch.into());
        }
        let beyond_end =
            matches!(chain.final_index, Some(end) if end.is_none_or(|last| h.index > last));
        if h.index >= MAX_CHAIN_MESSAGES || beyond_end {
            return Err(ReceiveError::IndexOutOfBounds { index: h.index }.into());
        }
        if chain.is_consumed(h.index) {
            return Err(ReceiveError::Replay {
                chain: h.chain,
                index: h.index,
            }
            .into());
        }
        let (key, advance) = derive_key(chain, h.index)?;
        let padded = key
            .aead_key(h.chain, h.index)?
            .open(envelope.sealed().header(), envelope.sealed().ciphertext())?;
        let body = MessageBody::decode(unpad(&padded)?).map_err(|_| Error::DecryptionFailed)?;
        Ok(OpenedMessage {
            header: h.clone(),
            body,
            expected_next_index: chain.next_index,
            advance,
        })
    }

    /// Records an opened message: marks its index received, deletes its key, keeps the keys of
    /// any indexes it skipped, and reports those from [`ReceiverChain::gaps_from`] on as its gap.
    /// Refuses if the chain moved since it was opened in a way that makes the message a replay.
    pub fn commit(
        &mut self,
        opened: OpenedMessage,
        now: Timestamp,
    ) -> Result<ReceivedMessage, Error> {
        let OpenedMessage {
            header,
            body,
            expected_next_index,
            advance,
        } = opened;
        let chain = self
            .chains
            .get_mut(&header.chain)
            .ok_or(ReceiveError::UnknownChain {
                chain: header.chain,
            })?;
        if chain.next_index != expected_next_index || chain.is_consumed(header.index) {
            return Err(ReceiveError::Replay {
                chain: header.chain,
                index: header.index,
            }
            .into());
        }
        if let ChainOrigin::Bundle { first_live: None } = chain.origin {
            chain.origin = ChainOrigin::Bundle {
                first_live: Some(header.index),
            };
        }
        let gaps_from = chain.gaps_from().unwrap_or(header.index);
        let mut gap = Vec::new();
        match advance {
            Some(advance) => {
                for (index, key) in advance.skipped {
                    // Below `gaps_from` the key is kept all the same, so that a late copy still
                    // opens once, but the index is not reported: it was sent before this device
                    // held the chain.
                    if index >= gaps_from {
                        gap.push(index);
                    }
                    chain.skipped.insert(index, SkippedKey { key, since: now });
                }
                chain.next_key = advance.next_key;
                chain.next_index = advance.next_index;
            }
            None => {
                chain.skipped.remove(&header.index);
            }
        }
        if header.index < 128 {
            chain.consumed |= 1u128 << header.index;
        }
        self.prune(now);
        Ok(ReceivedMessage { header, body, gap })
    }

    /// [`open`](Self::open) then [`commit`](Self::commit).
    pub fn receive(
        &mut self,
        envelope: &Envelope,
        sender: &VerifiedDevice,
        group: &GroupState,
        now: Timestamp,
    ) -> Result<ReceivedMessage, Error> {
        let opened = self.open(envelope, sender, group, now)?;
        self.commit(opened, now)
    }

    /// Forgets chains introduced more than [`CHAIN_RETENTION_MS`] ago, drops skipped keys older than [`MAX_SKIPPED_KEY_AGE_MS`], then the oldest beyond
    /// [`MAX_SKIPPED_KEYS`]. Their messages, if they come, are refused as evicted.
    pub fn prune(&mut self, now: Timestamp) {
        let forget_before = now.minus(CHAIN_RETENTION_MS);
        self.chains.retain(|_, c| c.created_at >= forget_before);
        let cutoff = now.minus(MAX_SKIPPED_KEY_AGE_MS);
        for chain in self.chains.values_mut() {
            chain.skipped.retain(|_, k| k.since >= cutoff);
        }
        let total: usize = self.chains.values().map(|c| c.skipped.len()).sum();
        if total <= MAX_SKIPPED_KEYS {
            return;
        }
        let mut all: Vec<(Timestamp, ChainId, u32)> = self
            .chains
            .iter()
            .flat_map(|(id, c)| c.skipped.iter().map(move |(i, k)| (k.since, *id, *i)))
            .collect();
        all.sort();
        for (_, id, index) in all.into_iter().take(total - MAX_SKIPPED_KEYS) {
            if let Some(chain) = self.chains.get_mut(&id) {
                chain.skipped.remove(&index);
            }
        }
    }

    /// A chain this device knows.
    pub fn chain(&self, id: &ChainId) -> Option<&ReceiverChain> {
        self.chains.get(id)
    }

    /// Missing indexes of a chain (see [`ReceiverChain::missing`]).
    pub fn missing(&self, id: &ChainId) -> Vec<u32> {
        self.chains
            .get(id)
            .map(ReceiverChain::missing)
            .unwrap_or_default()
    }

    /// How many skipped message keys are kept, across chains.
    pub fn skipped_key_count(&self) -> usize {
        self.chains.values().map(|c| c.skipped.len()).sum()
    }
}

/// Whether `record` holds the key `known` was introduced with, ratcheting the one that starts
/// earlier to the other's index: the record's key to the known start (fingerprint), or the
/// known next key to the record's start. `None` when the record starts between the known start
/// and next index, where neither side has a key to compare.
fn same_key(known: &ReceiverChain, record: &ChainRecord) -> Option<bool> {
    if record.start_index <= known.start_index {
        let mut key = record.key.danger_duplicate();
        for _ in record.start_index..known.start_index {
            key = key.next();
        }
        return Some(ct_eq(&known.start_key_hash, &key_hash(&key)));
    }
    let next = known.next_key.as_ref()?;
    if record.start_index < known.next_index {
        return None;
    }
    let mut key = next.danger_duplicate();
    for _ in known.next_index..record.start_index {
        key = key.next();
    }
    Some(key.ct_eq(&record.key))
}

/// `SHA-256(domain("sotto/chain/fingerprint") ‖ chain key)`: a one-way fingerprint of a chain key.
fn key_hash(key: &ChainKey) -> [u8; 32] {
    sha256_parts(&[&Domain::ChainFingerprint.encoded(), key.danger_bytes()])
}

/// Which membership check 5 of §9.2 asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Membership {
    /// The sender's account is a member now (live messages).
    Now,
    /// The sender's account was a member at the envelope's epoch (archived messages, §17.2).
    AtEnvelopeEpoch,
}

/// Checks 1–6 of §9.2, shared by live and archived envelopes: the device presented is the
/// header's sender, the signature verifies, the conversation is the state's, the epoch is known,
/// the sender's account is (or was) a member, and `sent_at` is not in the far future.
pub(crate) fn check_envelope_sender(
    envelope: &Envelope,
    sender: &VerifiedDevice,
    group: &GroupState,
    now: Timestamp,
    membership: Membership,
) -> Result<(), Error> {
    let h = envelope.header();
    if sender.device() != h.sender_device || sender.account() != h.sender_account {
        return Err(ReceiveError::SenderMismatch.into());
    }
    envelope.sealed().verify("message", sender.signing_key())?;
    match membership {
        Membership::Now => check_membership(group, h.conversation, h.epoch, &h.sender_account)?,
        Membership::AtEnvelopeEpoch => {
            if h.conversation != group.conversation() {
                return Err(ReceiveError::WrongConversation.into());
            }
            if h.epoch > group.epoch() {
                return Err(ReceiveError::UnknownEpoch { epoch: h.epoch }.into());
            }
            if !group.was_member_at(&h.sender_account, h.epoch) {
                return Err(ReceiveError::SenderNotMember.into());
            }
        }
    }
    if h.sent_at > now.plus(MAX_CLOCK_SKEW_MS) {
        return Err(ReceiveError::FarFuture.into());
    }
    Ok(())
}

/// The sender must be a member of the conversation now, and the epoch must be known. A chain of
/// an older epoch stays readable only while its owner is still a member, so a removed member's
/// old chain is refused (attack A16).
fn check_membership(
    group: &GroupState,
    conversation: ConversationId,
    epoch: u64,
    sender: &AccountId,
) -> Result<(), ReceiveError> {
    if conversation != group.conversation() {
        return Err(ReceiveError::WrongConversation);
    }
    if epoch > group.epoch() {
        return Err(ReceiveError::UnknownEpoch { epoch });
    }
    if !group.is_member(sender) {
        return Err(ReceiveError::SenderNotMember);
    }
    Ok(())
}

/// The message key for `index`, and how the chain advances if the message is committed.
fn derive_key(chain: &ReceiverChain, index: u32) -> Result<(MessageKey, Option<Advance>), Error> {
    // Below `next_index` only a kept skipped key can open it (indexes before the chain's start
    // were never held, evicted ones are gone).
    if index < chain.next_index {
        let kept = chain
            .skipped
            .get(&index)
            .ok_or(ReceiveError::KeyEvicted { index })?;
        return Ok((kept.key.duplicate(), None));
    }
    // Here `index >= next_index >= start_index`: ratchet forward from the next key.
    let mut key = chain
        .next_key
        .as_ref()
        .ok_or(ReceiveError::IndexOutOfBounds { index })?
        .danger_duplicate();
    let mut skipped = Vec::new();
    for skipped_index in chain.next_index..index {
        skipped.push((skipped_index, key.message_key()));
        key = key.next();
    }
    let message_key = key.message_key();
    let next_index = index + 1;
    let next_key = (next_index < MAX_CHAIN_MESSAGES).then(|| key.next());
    Ok((
        message_key,
        Some(Advance {
            next_key,
            next_index,
            skipped,
        }),
    ))
}
