//! The sending side of a chain (`docs/protocol.md` §7.4).
//!
//! One [`SenderChain`] per (conversation, epoch, sending device) at a time, replaced on every
//! membership or device change, after [`MAX_CHAIN_MESSAGES`] messages and after
//! [`MAX_CHAIN_AGE_MS`]. Sending is two steps so an index can never be used twice, even across a
//! crash: [`SenderChain::reserve`] advances the chain and hands out the index's key; the caller
//! persists the advanced chain, then [`ReservedMessage::seal`] produces the envelope.

use std::collections::BTreeSet;

use crate::body::{pad, MessageBody};
use crate::bundle::ChainRecord;
use crate::chain::ratchet::{ChainKey, MessageKey};
use crate::crypto::aead::TAG_LEN;
use crate::crypto::prekey::{self as prekey_crypto, PrekeyPublic};
use crate::distribution::hybrid::{self, Secrets, RSA_SHARE_LEN};
use crate::distribution::{
    encode_payload, ChainEnd, DistributionHeader, HybridHeader, KeyDistribution, KeyRequest,
    PrekeyKind,
};
use crate::domain::Domain;
use crate::env::{Env, Rng, Timestamp};
use crate::envelope::{Envelope, EnvelopeHeader};
use crate::error::{Error, ReceiveError};
use crate::group::GroupState;
use crate::identity::{DeviceKeys, VerifiedDevice, VerifiedExchangeKey};
use crate::ids::{AccountId, ChainId, ConversationId, DeviceId, MessageId};
use crate::limits::{MAX_CHAIN_AGE_MS, MAX_CHAIN_MESSAGES};
use crate::prekey::VerifiedPrekey;
use crate::signed::{Signed, SignedSealed};

/// A chain this device sends on. Not `Clone`: two copies could hand out one index twice.
#[derive(Debug)]
pub struct SenderChain {
    pub(super) conversation: ConversationId,
    pub(super) epoch: u64,
    pub(super) chain: ChainId,
    pub(super) account: AccountId,
    pub(super) device: DeviceId,
    /// The key at index 0, kept while the chain lives so a device that missed the distribution
    /// can be sent it again.
    pub(super) initial: ChainKey,
    /// The key at `next_index`.
    pub(super) current: ChainKey,
    pub(super) next_index: u32,
    pub(super) created_at: Timestamp,
    pub(super) previous: Option<ChainEnd>,
    /// The devices the chain key was distributed to; a change in the set means a new chain.
    pub(super) recipients: BTreeSet<DeviceId>,
}

impl SenderChain {
    /// Starts a chain with a fresh random key and id.
    pub fn start(
        conversation: ConversationId,
        epoch: u64,
        account: AccountId,
        device: DeviceId,
        previous: Option<ChainEnd>,
        env: &mut Env<'_>,
    ) -> Result<Self, Error> {
        let chain = ChainId::from_bytes(env.random()?);
        // Held in `Zeroizing` so the fresh key's stack copy is wiped when it goes out of scope.
        let key = zeroize::Zeroizing::new(env.random::<32>()?);
        let initial = ChainKey::from_bytes(*key);
        Ok(Self {
            conversation,
            epoch,
            chain,
            account,
            device,
            current: initial.danger_duplicate(),
            initial,
            next_index: 0,
            created_at: env.now,
            previous,
            recipients: BTreeSet::new(),
        })
    }

    /// Starts the chain that replaces this one, at `epoch`, announcing this one's end.
    pub fn successor(&self, epoch: u64, env: &mut Env<'_>) -> Result<Self, Error> {
        Self::start(
            self.conversation,
            epoch,
            self.account,
            self.device,
            Some(self.end()),
            env,
        )
    }

    /// This chain's id and last used index.
    pub fn end(&self) -> ChainEnd {
        ChainEnd {
            chain: self.chain,
            final_index: self.next_index.checked_sub(1),
        }
    }

    /// Whether the chain must be replaced before the next message: the epoch moved, the set of
    /// recipient devices changed, or it is exhausted or too old.
    pub fn needs_rotation(&self, now: Timestamp, epoch: u64, devices: &BTreeSet<DeviceId>) -> bool {
        epoch != self.epoch
            || *devices != self.recipients
            || self.next_index >= MAX_CHAIN_MESSAGES
            || now >= self.created_at.plus(MAX_CHAIN_AGE_MS)
    }

    /// Takes the next index and its key, advancing the chain. Persist the chain before sealing.
    pub fn reserve(&mut self, now: Timestamp) -> Result<ReservedMessage, Error> {
        if self.next_index >= MAX_CHAIN_MESSAGES || now >= self.created_at.plus(MAX_CHAIN_AGE_MS) {
            return Err(Error::ChainNeedsRotation);
        }
        let key = self.current.message_key();
        self.current = self.current.next();
        let index = self.next_index;
        self.next_index += 1;
        Ok(ReservedMessage {
            conversation: self.conversation,
            epoch: self.epoch,
            account: self.account,
            device: self.device,
            chain: self.chain,
            index,
            key,
        })
    }

    /// The exchange keys a distribution goes to: certified devices of accounts that are members
    /// of `group` now, other than this device. Anything else the caller holds is ignored.
    pub fn recipients_in<'k>(
        &self,
        group: &GroupState,
        keys: &'k [VerifiedExchangeKey],
    ) -> Vec<&'k VerifiedExchangeKey> {
        keys.iter()
            .filter(|k| group.is_member(&k.account()) && k.device() != self.device)
            .collect()
    }

    /// Makes the key distribution of this chain for one recipient device: [`Self::distribute_with`]
    /// without a one-time prekey (a version-2 recipient gets its last-resort prekey).
    pub fn distribute(
        &mut self,
        group: &GroupState,
        recipient: &VerifiedExchangeKey,
        signer: &DeviceKeys,
        now: Timestamp,
    ) -> Result<KeyDistribution, Error> {
        self.distribute_with(group, recipient, None, signer, now)
    }

    /// Makes the key distribution of this chain for one recipient device (`docs/protocol.md`
    /// §7.3, §18.7). A recipient whose certificate is version 2 gets a version-2 distribution
    /// under the hybrid of its exchange key and `prekey` (a one-time prekey claimed for it and
    /// verified) or, when `prekey` is `None`, the last-resort prekey of its certificate. A
    /// version-1 recipient gets a version-1 distribution, and `prekey` must be `None`.
    /// Records the device as a recipient of this chain.
    pub fn distribute_with(
        &mut self,
        group: &GroupState,
        recipient: &VerifiedExchangeKey,
        prekey: Option<&VerifiedPrekey>,
        signer: &DeviceKeys,
        now: Timestamp,
    ) -> Result<KeyDistribution, Error> {
        self.check_distribution(group, recipient, signer, now)?;
        let (kind, public) = choose_prekey(recipient, prekey)?;
        let sealed = match (kind, public) {
            (Some(kind), Some(public)) => {
                let (ephemeral, ss_e) = prekey_crypto::ephemeral_agree(&public.ec)?;
                let (kem_ciphertext, ss_k) = prekey_crypto::encapsulate(&public.kem)?;
                let mut r = zeroize::Zeroizing::new([0u8; RSA_SHARE_LEN]);
                crate::env::SystemRng::new().fill(r.as_mut())?;
                let secrets = Secrets { r, ss_e, ss_k };
                let hybrid_header = HybridHeader {
                    prekey_kind: kind,
                    prekey: public.id,
                    ephemeral,
                    kem_ciphertext,
                };
                self.seal_v2(
                    recipient,
                    public,
                    hybrid_header,
                    &secrets.r,
                    &secrets,
                    signer,
                    now,
                )?
            }
            _ => {
                let header = self.header(recipient, None, now).encode();
                let payload =
                    encode_payload(Domain::KeyDistributionPayload, self.chain, 0, &self.initial);
                let label = DistributionHeader::oaep_label(&header);
                let ciphertext = recipient.key().encrypt(&payload, &label)?;
                SignedSealed::sign(header, ciphertext, signer.signing())?
            }
        };
        self.recipients.insert(recipient.device());
        KeyDistribution::from_sealed(sealed)
    }

    /// The checks every distribution passes before anything is encrypted.
    fn check_distribution(
        &self,
        group: &GroupState,
        recipient: &VerifiedExchangeKey,
        signer: &DeviceKeys,
        now: Timestamp,
    ) -> Result<(), Error> {
        if group.conversation() != self.conversation || group.epoch() != self.epoch {
            return Err(Error::ChainNeedsRotation);
        }
        if !group.is_member(&recipient.account()) {
            return Err(Error::RecipientNotMember);
        }
        if now
            < recipient
                .not_before()
                .minus(crate::limits::MAX_CLOCK_SKEW_MS)
            || now >= recipient.not_after()
        {
            return Err(Error::ExchangeKeyNotValidNow);
        }
        if signer.device() != self.device {
            return Err(Error::InvalidInput {
                field: "signer",
                reason: "only the chain's owner distributes its key",
            });
        }
        Ok(())
    }

    fn header(
        &self,
        recipient: &VerifiedExchangeKey,
        hybrid: Option<HybridHeader>,
        now: Timestamp,
    ) -> DistributionHeader {
        DistributionHeader {
            conversation: self.conversation,
            epoch: self.epoch,
            chain: self.chain,
            sender_account: self.account,
            sender_device: self.device,
            recipient_account: recipient.account(),
            recipient_device: recipient.device(),
            recipient_key: recipient.key_id(),
            hybrid,
            created_at: now,
            start_index: 0,
            previous: self.previous,
        }
    }

    /// Encrypts and signs a version-2 distribution whose header carries `hybrid_header`.
    #[allow(clippy::too_many_arguments)]
    fn seal_v2(
        &self,
        recipient: &VerifiedExchangeKey,
        public: &PrekeyPublic,
        hybrid_header: HybridHeader,
        rsa_share: &[u8; RSA_SHARE_LEN],
        secrets: &Secrets,
        signer: &DeviceKeys,
        now: Timestamp,
    ) -> Result<SignedSealed, Error> {
        let header = self.header(recipient, Some(hybrid_header), now).encode();
        let ciphertext = hybrid::seal(
            &header,
            recipient.key(),
            public,
            rsa_share,
            secrets,
            self.chain,
            0,
            &self.initial,
        )?;
        SignedSealed::sign(header, ciphertext, signer.signing())
    }

    /// A version-2 distribution whose key derivation uses other secrets than the ones sent
    /// (each `Some` replaces the secret the receiver recovers), for tests that show every one
    /// of the three secrets is needed. Not for production.
    #[cfg(any(test, feature = "test-util"))]
    #[allow(clippy::too_many_arguments)]
    pub fn danger_distribute_with_wrong_secrets(
        &mut self,
        group: &GroupState,
        recipient: &VerifiedExchangeKey,
        prekey: Option<&VerifiedPrekey>,
        signer: &DeviceKeys,
        now: Timestamp,
        wrong_r: Option<[u8; 32]>,
        wrong_ss_e: Option<[u8; 32]>,
        wrong_ss_k: Option<[u8; 32]>,
    ) -> Result<KeyDistribution, Error> {
        use zeroize::Zeroizing;
        self.check_distribution(group, recipient, signer, now)?;
        let (Some(kind), Some(public)) = choose_prekey(recipient, prekey)? else {
            return Err(Error::InvalidInput {
                field: "recipient",
                reason: "not a version-2 exchange key",
            });
        };
        let (ephemeral, ss_e) = prekey_crypto::ephemeral_agree(&public.ec)?;
        let (kem_ciphertext, ss_k) = prekey_crypto::encapsulate(&public.kem)?;
        let mut r = Zeroizing::new([0u8; RSA_SHARE_LEN]);
        crate::env::SystemRng::new().fill(r.as_mut())?;
        let sent_r = r.clone();
        let secrets = Secrets {
            r: wrong_r.map(Zeroizing::new).unwrap_or(r),
            ss_e: wrong_ss_e.map(Zeroizing::new).unwrap_or(ss_e),
            ss_k: wrong_ss_k.map(Zeroizing::new).unwrap_or(ss_k),
        };
        let hybrid_header = HybridHeader {
            prekey_kind: kind,
            prekey: public.id,
            ephemeral,
            kem_ciphertext,
        };
        let sealed = self.seal_v2(
            recipient,
            public,
            hybrid_header,
            &sent_r,
            &secrets,
            signer,
            now,
        )?;
        self.recipients.insert(recipient.device());
        KeyDistribution::from_sealed(sealed)
    }

    /// Answers a signed [`KeyRequest`] with a fresh distribution of this chain's key. Only a
    /// certified device (`requester`) of a current member whose account was among the chain's
    /// intended recipients gets one, encrypted to the exchange key it named; anything else is
    /// refused.
    pub fn answer_key_request(
        &mut self,
        request: &Signed,
        requester: &VerifiedDevice,
        requester_key: &VerifiedExchangeKey,
        group: &GroupState,
        signer: &DeviceKeys,
        now: Timestamp,
    ) -> Result<KeyDistribution, Error> {
        self.answer_key_request_with(request, requester, requester_key, None, group, signer, now)
    }

    /// [`Self::answer_key_request`] with a one-time prekey of the requesting device: the answer
    /// is made as [`Self::distribute_with`] makes it, by the version of the certificate of the
    /// exchange key the request names (§18.7).
    #[allow(clippy::too_many_arguments)]
    pub fn answer_key_request_with(
        &mut self,
        request: &Signed,
        requester: &VerifiedDevice,
        requester_key: &VerifiedExchangeKey,
        prekey: Option<&VerifiedPrekey>,
        group: &GroupState,
        signer: &DeviceKeys,
        now: Timestamp,
    ) -> Result<KeyDistribution, Error> {
        let body = KeyRequest::decode(request.unverified_body())?;
        if body.requester_device != requester.device()
            || body.requester_account != requester.account()
        {
            return Err(ReceiveError::SenderMismatch.into());
        }
        request.verify("key request", requester.signing_key())?;
        if body.conversation != self.conversation
            || body.chain != self.chain
            || body.epoch != self.epoch
        {
            return Err(ReceiveError::UnknownChain { chain: body.chain }.into());
        }
        if body.owner_device != self.device {
            return Err(ReceiveError::ChainOwnerMismatch { chain: body.chain }.into());
        }
        if body.requested_at > now.plus(crate::limits::MAX_CLOCK_SKEW_MS) {
            return Err(ReceiveError::FarFuture.into());
        }
        if requester_key.device() != requester.device()
            || requester_key.key_id() != body.requester_key
        {
            return Err(ReceiveError::WrongRecipient.into());
        }
        // The requester's *account* must have been meant to read the chain (§7.6): a device its
        // account certified after the chain started is answered, since the account's other
        // devices could hand it the chain anyway (§16). An account that was not a member at the
        // chain's epoch (added later) waits for the next chain.
        let account_intended = group.conversation() == self.conversation
            && group.was_member_at(&requester.account(), self.epoch);
        if !(self.recipients.contains(&requester.device()) || account_intended) {
            return Err(ReceiveError::WrongRecipient.into());
        }
        self.distribute_with(group, requester_key, prekey, signer, now)
    }

    /// This chain's key at index 0, as a history key (§17.2) to keep, back up and hand over:
    /// another device of the account reads the messages sent on it with this.
    pub fn history_record(&self) -> ChainRecord {
        ChainRecord {
            conversation: self.conversation,
            epoch: self.epoch,
            chain: self.chain,
            owner_account: self.account,
            owner_device: self.device,
            start_index: 0,
            key: self.initial.danger_duplicate(),
            created_at: self.created_at,
        }
    }

    /// The chain id.
    pub fn chain(&self) -> ChainId {
        self.chain
    }

    /// The epoch the chain belongs to.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The conversation.
    pub fn conversation(&self) -> ConversationId {
        self.conversation
    }

    /// The next index to be used.
    pub fn next_index(&self) -> u32 {
        self.next_index
    }

    /// The devices the key was distributed to.
    pub fn recipients(&self) -> &BTreeSet<DeviceId> {
        &self.recipients
    }
}

/// Which prekey a distribution to `recipient` uses (§18.7): for a version-2 certificate the
/// given one-time prekey (which must be the recipient device's) or else the certificate's
/// last-resort prekey; for a version-1 certificate none, and a given prekey is an error.
type PrekeyChoice<'a> = (Option<PrekeyKind>, Option<&'a PrekeyPublic>);

fn choose_prekey<'a>(
    recipient: &'a VerifiedExchangeKey,
    prekey: Option<&'a VerifiedPrekey>,
) -> Result<PrekeyChoice<'a>, Error> {
    match (recipient.last_resort(), prekey) {
        (None, None) => Ok((None, None)),
        (None, Some(_)) => Err(Error::InvalidInput {
            field: "prekey",
            reason: "a version-1 exchange key takes no prekey",
        }),
        (Some(last_resort), None) => Ok((Some(PrekeyKind::LastResort), Some(last_resort))),
        (Some(_), Some(one_time)) => {
            if one_time.account() != recipient.account() || one_time.device() != recipient.device()
            {
                return Err(Error::WrongAccount {
                    what: "one-time prekey",
                });
            }
            Ok((Some(PrekeyKind::OneTime), Some(one_time.public())))
        }
    }
}

/// One reserved index of a chain and its message key. Not `Clone`; consumed by sealing, so a key
/// encrypts one message.
#[derive(Debug)]
pub struct ReservedMessage {
    conversation: ConversationId,
    epoch: u64,
    account: AccountId,
    device: DeviceId,
    chain: ChainId,
    index: u32,
    key: MessageKey,
}

impl ReservedMessage {
    /// The reserved index.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// Encrypts and signs `body` as message `message_id`.
    pub fn seal(
        self,
        body: &MessageBody,
        message_id: MessageId,
        sent_at: Timestamp,
        signer: &DeviceKeys,
    ) -> Result<Envelope, Error> {
        if signer.device() != self.device {
            return Err(Error::InvalidInput {
                field: "signer",
                reason: "only the chain's owner signs its messages",
            });
        }
        let padded = pad(&body.encode()?)?;
        let header = EnvelopeHeader {
            conversation: self.conversation,
            epoch: self.epoch,
            sender_account: self.account,
            sender_device: self.device,
            chain: self.chain,
            index: self.index,
            sent_at,
            message_id,
            padded_len: u32::try_from(padded.len()).map_err(|_| Error::InvalidInput {
                field: "message body",
                reason: "too long",
            })?,
        }
        .encode();
        let ciphertext = self
            .key
            .aead_key(self.chain, self.index)?
            .seal(&header, &padded)?;
        debug_assert_eq!(ciphertext.len(), padded.len() + TAG_LEN);
        let sealed = SignedSealed::sign(header, ciphertext, signer.signing())?;
        Envelope::from_sealed(sealed)
    }
}
