//! A raw client: what a certified member (carol, whose device keys the test holds) or the server
//! operator builds by hand with the protocol core, skipping every client-side check.

use sotto_proto::body::MessageBody;
use sotto_proto::chain::SenderChain;
use sotto_proto::crypto::rsa::SigningKeyPair;
use sotto_proto::distribution::{DistributionHeader, KeyDistribution};
use sotto_proto::envelope::{Envelope, EnvelopeHeader};
use sotto_proto::group::GroupState;
use sotto_proto::identity::{DeviceKeys, VerifiedExchangeKey};
use sotto_proto::ids::{AccountId, MessageId};
use sotto_proto::signed::SignedSealed;
use sotto_proto::{Env, SystemRng, Timestamp};

use super::{now_ms, rand16, User};

/// The wall clock as a protocol timestamp.
pub fn now() -> Timestamp {
    Timestamp(u64::try_from(now_ms()).unwrap())
}

/// A sender chain driven by hand, outside any client.
pub struct RawChain {
    pub chain: SenderChain,
    keys: DeviceKeys,
}

impl RawChain {
    /// Starts a chain of `user`'s device in `group` at its current epoch.
    pub fn of(user: &User, group: &GroupState) -> Self {
        Self::start(user.account, user.keys(), group)
    }

    /// Starts a chain of the device `keys` (claiming `account`) in `group` at its epoch.
    pub fn start(account: AccountId, keys: DeviceKeys, group: &GroupState) -> Self {
        let mut rng = SystemRng::new();
        let mut env = Env::new(now(), &mut rng);
        let chain = SenderChain::start(
            group.conversation(),
            group.epoch(),
            account,
            keys.device(),
            None,
            &mut env,
        )
        .unwrap();
        Self { chain, keys }
    }

    /// The chain key's distribution to one exchange key.
    pub fn distribute(&mut self, group: &GroupState, to: &VerifiedExchangeKey) -> KeyDistribution {
        self.chain.distribute(group, to, &self.keys, now()).unwrap()
    }

    /// The next message, sealed now but claiming `sent_at`.
    pub fn seal_at(&mut self, text: &str, sent_at: Timestamp) -> Envelope {
        let reserved = self.chain.reserve(now()).unwrap();
        reserved
            .seal(
                &MessageBody::Text(text.to_owned()),
                MessageId::from_bytes(rand16()),
                sent_at,
                &self.keys,
            )
            .unwrap()
    }

    /// The next message, sent now.
    pub fn seal(&mut self, text: &str) -> Envelope {
        self.seal_at(text, now())
    }
}

/// `envelope` with its header replaced by `header` and signed again with `key`.
pub fn resign_envelope(
    envelope: &Envelope,
    header: &EnvelopeHeader,
    key: &SigningKeyPair,
) -> Vec<u8> {
    SignedSealed::sign(
        header.encode(),
        envelope.sealed().ciphertext().to_vec(),
        key,
    )
    .unwrap()
    .encode()
}

/// `envelope`'s header bytes changed by `edit`, signed again with `key` (for edits the typed
/// header cannot express, such as the version byte).
pub fn resign_raw_header(
    envelope: &Envelope,
    edit: impl FnOnce(&mut Vec<u8>),
    key: &SigningKeyPair,
) -> Vec<u8> {
    let mut header = envelope.sealed().header().to_vec();
    edit(&mut header);
    SignedSealed::sign(header, envelope.sealed().ciphertext().to_vec(), key)
        .unwrap()
        .encode()
}

/// A distribution with `header` and `ciphertext`, signed with `key`.
pub fn signed_distribution(
    header: &DistributionHeader,
    ciphertext: Vec<u8>,
    key: &SigningKeyPair,
) -> Vec<u8> {
    SignedSealed::sign(header.encode(), ciphertext, key)
        .unwrap()
        .encode()
}

/// `bytes` with bit 0 of byte `at` flipped.
pub fn flip(bytes: &[u8], at: usize) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[at] ^= 0x01;
    out
}
