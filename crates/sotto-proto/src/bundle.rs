//! The key bundle: what a backup item (§15.2) and a device hand-over (§16) carry
//! (`docs/protocol.md` §15.1).
//!
//! ```text
//! bundle = domain("sotto/key-bundle") ‖ list(record)                 -- ≤ 20000 records
//! record = 0x01 ‖ bytes(master key PKCS#8)                           -- MasterKey, ≤ 4096 bytes
//!        | 0x02 ‖ conversation(16) ‖ u64 epoch ‖ chain(16) ‖ owner account(32)
//!               ‖ owner device(32) ‖ u32 start_index ‖ chain key(32) ‖ u64 created_at -- Chain
//!        | 0x03 ‖ account(32) ‖ text(username) ‖ bool verified       -- Pin, username ≤ 64 bytes
//!        | 0x04 ‖ conversation(16) ‖ u64 epoch ‖ salt(32) ‖ text(name) -- GroupName
//! ```
//!
//! Records hold secrets (chain keys, the master key): none is `Clone`, every `Debug` prints ids
//! only, and the encoding is zeroized on drop.

use std::fmt;

use zeroize::Zeroizing;

use crate::chain::ratchet::ChainKey;
use crate::codec::{Reader, Writer};
use crate::crypto::rsa::MAX_PKCS8_LEN;
use crate::domain::Domain;
use crate::env::Timestamp;
use crate::error::{DecodeError, Error};
use crate::group::NameReveal;
use crate::ids::{AccountId, ChainId, ConversationId, DeviceId};
use crate::limits::{MAX_CHAIN_MESSAGES, MAX_USERNAME_LEN};

/// Records in one bundle (a hand-over of a device that holds many chains).
pub const MAX_BUNDLE_RECORDS: usize = 20_000;

/// The master key's PKCS#8 DER, as a MasterKey record carries it. Not `Clone`.
pub struct MasterKeyRecord(Zeroizing<Vec<u8>>);

impl MasterKeyRecord {
    /// Wraps the PKCS#8 DER of the account's master key (at most 4096 bytes).
    pub fn new(pkcs8: Zeroizing<Vec<u8>>) -> Result<Self, Error> {
        if pkcs8.len() > MAX_PKCS8_LEN {
            return Err(Error::InvalidInput {
                field: "master key",
                reason: "PKCS#8 longer than 4096 bytes",
            });
        }
        Ok(Self(pkcs8))
    }

    /// The PKCS#8 DER.
    pub fn danger_pkcs8(&self) -> &[u8] {
        &self.0
    }

    /// The PKCS#8 DER, moved out.
    pub fn into_pkcs8(self) -> Zeroizing<Vec<u8>> {
        self.0
    }
}

impl fmt::Debug for MasterKeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKeyRecord(<secret>)")
    }
}

/// The key of a sender chain at `start_index`: enough to open every message of the chain from
/// that index on (§15.1, §17.2).
#[derive(Debug)]
pub struct ChainRecord {
    /// The conversation.
    pub conversation: ConversationId,
    /// The chain's epoch.
    pub epoch: u64,
    /// The chain.
    pub chain: ChainId,
    /// The owner's account.
    pub owner_account: AccountId,
    /// The owner device (the only device whose signature its messages may carry).
    pub owner_device: DeviceId,
    /// The index `key` is at; below 100.
    pub start_index: u32,
    /// The chain key at `start_index`.
    pub key: ChainKey,
    /// When the chain was started (its distribution's `created_at`).
    pub created_at: Timestamp,
}

impl ChainRecord {
    /// An independent copy (both zeroized on drop), named so every copy of a secret shows.
    pub fn danger_duplicate(&self) -> Self {
        Self {
            conversation: self.conversation,
            epoch: self.epoch,
            chain: self.chain,
            owner_account: self.owner_account,
            owner_device: self.owner_device,
            start_index: self.start_index,
            key: self.key.danger_duplicate(),
            created_at: self.created_at,
        }
    }
}

/// A pinned identity (§5) and whether its safety number was verified.
#[derive(Clone, PartialEq, Eq)]
pub struct PinRecord {
    /// The pinned account.
    pub account: AccountId,
    /// The username the directory listed it under (at most 64 bytes).
    pub username: String,
    /// Whether the user verified its safety number.
    pub verified: bool,
}

impl fmt::Debug for PinRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PinRecord")
            .field("account", &self.account)
            .field("verified", &self.verified)
            .finish_non_exhaustive()
    }
}

/// A group's name, exactly as the GroupName body carries it (§6.5), and for which conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupNameRecord {
    /// The conversation.
    pub conversation: ConversationId,
    /// The epoch, salt and name; accepted by [`crate::group::GroupState::check_name`].
    pub reveal: NameReveal,
}

/// One record of a bundle. Exhaustive: a new record kind is a compile error wherever bundles
/// are taken apart.
#[derive(Debug)]
pub enum Record {
    /// The account's master key (backup only).
    MasterKey(MasterKeyRecord),
    /// A sender chain's key.
    Chain(ChainRecord),
    /// A pinned identity.
    Pin(PinRecord),
    /// A group's name.
    GroupName(GroupNameRecord),
}

impl Record {
    const MASTER_KEY: u8 = 0x01;
    const CHAIN: u8 = 0x02;
    const PIN: u8 = 0x03;
    const GROUP_NAME: u8 = 0x04;

    fn encode(&self, w: &mut Writer) -> Result<(), Error> {
        match self {
            Self::MasterKey(key) => {
                w.u8(Self::MASTER_KEY);
                w.bytes(key.danger_pkcs8());
            }
            Self::Chain(chain) => {
                if chain.start_index >= MAX_CHAIN_MESSAGES {
                    return Err(Error::InvalidInput {
                        field: "chain record start index",
                        reason: "must be below 100",
                    });
                }
                w.u8(Self::CHAIN);
                chain.conversation.encode(w);
                w.u64(chain.epoch);
                chain.chain.encode(w);
                chain.owner_account.encode(w);
                chain.owner_device.encode(w);
                w.u32(chain.start_index);
                w.fixed(chain.key.danger_bytes());
                w.u64(chain.created_at.millis());
            }
            Self::Pin(pin) => {
                if pin.username.len() > MAX_USERNAME_LEN {
                    return Err(Error::InvalidInput {
                        field: "pin username",
                        reason: "longer than 64 bytes",
                    });
                }
                w.u8(Self::PIN);
                pin.account.encode(w);
                w.text(&pin.username);
                w.bool(pin.verified);
            }
            Self::GroupName(name) => {
                w.u8(Self::GROUP_NAME);
                name.conversation.encode(w);
                name.reveal.encode(w);
            }
        }
        Ok(())
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8()? {
            Self::MASTER_KEY => Ok(Self::MasterKey(MasterKeyRecord(Zeroizing::new(
                r.bytes("master key", MAX_PKCS8_LEN)?.to_vec(),
            )))),
            Self::CHAIN => {
                let conversation = ConversationId::decode(r)?;
                let epoch = r.u64()?;
                let chain = ChainId::decode(r)?;
                let owner_account = AccountId::decode(r)?;
                let owner_device = DeviceId::decode(r)?;
                let start_index = r.u32()?;
                if start_index >= MAX_CHAIN_MESSAGES {
                    return Err(DecodeError::InvalidValue {
                        field: "chain record start index",
                    });
                }
                let key = ChainKey::from_bytes(*Zeroizing::new(r.array()?));
                Ok(Self::Chain(ChainRecord {
                    conversation,
                    epoch,
                    chain,
                    owner_account,
                    owner_device,
                    start_index,
                    key,
                    created_at: Timestamp(r.u64()?),
                }))
            }
            Self::PIN => Ok(Self::Pin(PinRecord {
                account: AccountId::decode(r)?,
                username: r.text("username", MAX_USERNAME_LEN)?.to_owned(),
                verified: r.bool()?,
            })),
            Self::GROUP_NAME => Ok(Self::GroupName(GroupNameRecord {
                conversation: ConversationId::decode(r)?,
                reveal: NameReveal::decode(r)?,
            })),
            tag => Err(DecodeError::UnknownTag {
                field: "key bundle record",
                tag,
            }),
        }
    }
}

/// A list of records: the plaintext of a backup item or a hand-over.
#[derive(Debug, Default)]
pub struct KeyBundle {
    /// The records, in order.
    pub records: Vec<Record>,
}

impl KeyBundle {
    /// A bundle of `records`.
    pub fn new(records: Vec<Record>) -> Self {
        Self { records }
    }

    /// The canonical encoding, refusing (`invalid-input`) what a receiver would refuse: more
    /// than [`MAX_BUNDLE_RECORDS`] records, a chain start index of 100 or more, a username over
    /// 64 bytes, a master key over 4096 bytes.
    pub fn encode(&self) -> Result<Zeroizing<Vec<u8>>, Error> {
        self.encode_bounded(MAX_BUNDLE_RECORDS)
    }

    /// [`encode`](Self::encode) with a tighter record bound (1000 in a backup item).
    pub(crate) fn encode_bounded(&self, max_records: usize) -> Result<Zeroizing<Vec<u8>>, Error> {
        if self.records.len() > max_records {
            return Err(Error::InvalidInput {
                field: "key bundle",
                reason: "too many records",
            });
        }
        let mut w = Writer::for_domain(Domain::KeyBundle);
        w.count(self.records.len());
        for record in &self.records {
            record.encode(&mut w)?;
        }
        Ok(Zeroizing::new(w.finish()))
    }

    /// Decodes a bundle of at most [`MAX_BUNDLE_RECORDS`] records.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::decode_bounded(bytes, MAX_BUNDLE_RECORDS)
    }

    /// Decodes a bundle of at most `max_records` records (checked before any is read).
    pub fn decode_bounded(bytes: &[u8], max_records: usize) -> Result<Self, DecodeError> {
        let mut r = Reader::for_domain(bytes, Domain::KeyBundle)?;
        let count = r.count("key bundle records", max_records)?;
        let records = (0..count)
            .map(|_| Record::decode(&mut r))
            .collect::<Result<Vec<_>, _>>()?;
        r.finish()?;
        Ok(Self { records })
    }

    /// Whether a MasterKey record is among the records.
    pub fn has_master_key(&self) -> bool {
        self.records
            .iter()
            .any(|r| matches!(r, Record::MasterKey(_)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::GroupName;

    fn sample() -> KeyBundle {
        KeyBundle::new(vec![
            Record::MasterKey(MasterKeyRecord::new(Zeroizing::new(vec![1, 2, 3])).unwrap()),
            Record::Chain(ChainRecord {
                conversation: ConversationId::from_bytes([1; 16]),
                epoch: 3,
                chain: ChainId::from_bytes([2; 16]),
                owner_account: AccountId::from_bytes([3; 32]),
                owner_device: DeviceId::from_bytes([4; 32]),
                start_index: 7,
                key: ChainKey::from_bytes([5; 32]),
                created_at: Timestamp(9),
            }),
            Record::Pin(PinRecord {
                account: AccountId::from_bytes([6; 32]),
                username: "bob".into(),
                verified: true,
            }),
            Record::GroupName(GroupNameRecord {
                conversation: ConversationId::from_bytes([1; 16]),
                reveal: NameReveal {
                    epoch: 2,
                    salt: [7; 32],
                    name: GroupName::new("team").unwrap(),
                },
            }),
        ])
    }

    #[test]
    fn every_record_kind_round_trips() {
        let bytes = sample().encode().unwrap();
        let back = KeyBundle::decode(&bytes).unwrap();
        assert_eq!(back.records.len(), 4);
        assert_eq!(*back.encode().unwrap(), *bytes);
        assert!(back.has_master_key());
    }

    #[test]
    fn a_start_index_of_100_or_an_unknown_tag_is_refused() {
        let mut bad = sample();
        if let Some(Record::Chain(chain)) = bad.records.get_mut(1) {
            chain.start_index = 100;
        }
        assert_eq!(bad.encode().unwrap_err().code(), "invalid-input");
        let mut bytes = sample().encode().unwrap().to_vec();
        let tag_at = Domain::KeyBundle.encoded().len() + 2;
        bytes[tag_at] = 0x05;
        assert!(matches!(
            KeyBundle::decode(&bytes),
            Err(DecodeError::UnknownTag { tag: 0x05, .. })
        ));
    }

    #[test]
    fn debug_output_holds_no_secret() {
        let text = format!("{:?}", sample());
        assert!(!text.contains("bob") && !text.contains("team"));
    }
}
