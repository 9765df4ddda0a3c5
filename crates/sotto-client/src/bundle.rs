//! Key bundles (`docs/protocol.md` §15.1) to and from the profile: the records this device gives
//! (its history keys, pins and group names, and for the backup the master key), and taking the
//! records of a backup or a hand-over in the protocol's order — chains into the history keys
//! (and into the receiver state when their epoch is current), pins only where none is held,
//! group names only where the verified log commits to them.

use sotto_proto::bundle::{ChainRecord, GroupNameRecord, MasterKeyRecord, PinRecord, Record};
use sotto_proto::chain::ChainKey;
use std::collections::btree_map::Entry;
use std::collections::BTreeMap;

use sotto_proto::group::GroupState;
use sotto_proto::identity::AccountIdentity;
use sotto_proto::ids::{ChainId, ConversationId};
use sotto_proto::Timestamp;

use crate::api::{b64, unb64};
use crate::client::Client;
use crate::engine::backup::Pending;
use crate::engine::history::{Added, HistoryKey};
use crate::error::{Error, Result};
use crate::store::state::Secret;

/// What taking a bundle's records did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Taken {
    /// Chains new to this device.
    pub chains: usize,
    /// Chains refused because this device holds them with another key or place
    /// (`receive/chain-key-conflict`).
    pub conflicts: usize,
    /// Identities pinned from the bundle.
    pub pins: usize,
    /// Group names accepted.
    pub names: usize,
}

/// A history key as a Chain record.
pub(crate) fn chain_record(key: &HistoryKey) -> Result<ChainRecord> {
    let bytes: [u8; 32] =
        key.start_key
            .bytes()?
            .as_slice()
            .try_into()
            .map_err(|_| Error::CorruptStore {
                reason: "a history key is not 32 bytes",
            })?;
    Ok(ChainRecord {
        conversation: key.conversation,
        epoch: key.epoch,
        chain: key.chain,
        owner_account: key.owner_account,
        owner_device: key.owner_device,
        start_index: key.start_index,
        key: ChainKey::from_bytes(bytes),
        created_at: Timestamp(key.created_at),
    })
}

/// A Chain record as a history key.
pub(crate) fn history_key(record: &ChainRecord) -> HistoryKey {
    HistoryKey {
        conversation: record.conversation,
        epoch: record.epoch,
        chain: record.chain,
        owner_account: record.owner_account,
        owner_device: record.owner_device,
        start_index: record.start_index,
        start_key: Secret::new(record.key.danger_bytes()),
        created_at: record.created_at.millis(),
    }
}

impl Client {
    /// Keeps a chain's start key as a history key and, when recovery is set up, notes it for
    /// the backup. Returns what adding it did.
    pub(crate) fn keep_history_key(&mut self, key: HistoryKey) -> Added {
        let chain = key.chain;
        let added = self.state.history_keys.add(key);
        if added == Added::New {
            self.note_for_backup(Pending::Chain(chain));
        }
        added
    }

    /// Notes something new for the key backup, if this device writes one.
    pub(crate) fn note_for_backup(&mut self, pending: Pending) {
        if let Some(recovery) = self.state.recovery.as_mut() {
            recovery.note(pending);
        }
    }

    /// Everything a backup or a hand-over carries, as backlog entries: the master key (when
    /// `with_master_key` and held), every history key, pin and known group name.
    pub(crate) fn everything(&self, with_master_key: bool) -> Vec<Pending> {
        let mut all = Vec::new();
        if with_master_key && self.holds_master_key() {
            all.push(Pending::MasterKey);
        }
        all.extend(
            self.state
                .history_keys
                .iter()
                .map(|k| Pending::Chain(k.chain)),
        );
        all.extend(
            self.state
                .pins
                .iter()
                .map(|(account, _)| Pending::Pin(account)),
        );
        all.extend(
            self.state
                .conversations
                .iter()
                .filter(|(_, c)| c.name.is_some())
                .map(|(id, _)| Pending::GroupName(*id)),
        );
        all
    }

    /// The record of one backlog entry, as the profile holds it now; `None` when it is gone
    /// (a key past its retention, a conversation left).
    pub(crate) fn record_of(&self, pending: Pending) -> Result<Option<Record>> {
        Ok(match pending {
            Pending::MasterKey => match &self.account_state()?.master_key {
                Some(secret) => Some(Record::MasterKey(MasterKeyRecord::new(secret.bytes()?)?)),
                None => None,
            },
            Pending::Chain(chain) => match self.state.history_keys.get(&chain) {
                Some(key) => Some(Record::Chain(chain_record(key)?)),
                None => None,
            },
            Pending::Pin(account) => self.state.pins.get(account).map(|peer| {
                Record::Pin(PinRecord {
                    account,
                    username: peer.username.clone(),
                    verified: peer.verified,
                })
            }),
            Pending::GroupName(conversation) => match self
                .state
                .conversations
                .get(&conversation)
                .and_then(|c| c.name.as_ref())
            {
                Some(known) => Some(Record::GroupName(GroupNameRecord {
                    conversation,
                    reveal: crate::groups::reveal_of(known)?,
                })),
                None => None,
            },
        })
    }

    /// Takes the records of an opened backup or hand-over (§15.1 steps 2 and 3; the master key
    /// is the caller's). Chains first: each goes into the history keys and, when its epoch is
    /// the conversation's current one and another device owns it, into the receiver state as a
    /// verified distribution would; then pins, then group names.
    pub(crate) async fn take_records(&mut self, records: Vec<Record>) -> Result<Taken> {
        let mut taken = Taken::default();
        let mut pins = Vec::new();
        let mut names = Vec::new();
        let me = self.device()?;
        let mut receiver = self.receiver()?;
        let mut groups: BTreeMap<ConversationId, Option<GroupState>> = BTreeMap::new();
        for record in records {
            match record {
                // Refused by the caller before this point (a hand-over) or taken by it (a
                // backup).
                Record::MasterKey(_) => {}
                Record::Chain(chain) => {
                    if let Entry::Vacant(slot) = groups.entry(chain.conversation) {
                        slot.insert(self.current_group(chain.conversation).await?);
                    }
                    if let Some(Some(group)) = groups.get(&chain.conversation) {
                        // Introduced into the receiver state when its epoch is current; a chain
                        // the receiver knows with another key is skipped.
                        if receiver.take_record(&chain, group, me).is_err() {
                            taken.conflicts += 1;
                            continue;
                        }
                    }
                    match self.keep_history_key(history_key(&chain)) {
                        Added::Conflict => taken.conflicts += 1,
                        Added::New => taken.chains += 1,
                        Added::Duplicate => {}
                    }
                }
                Record::Pin(pin) => pins.push(pin),
                Record::GroupName(name) => names.push(name),
            }
        }
        self.store_receiver(&receiver);
        self.save()?;
        for pin in pins {
            if self.take_pin(&pin).await? {
                taken.pins += 1;
            }
        }
        for name in names {
            if let Entry::Vacant(slot) = groups.entry(name.conversation) {
                slot.insert(self.current_group(name.conversation).await?);
            }
            let Some(Some(group)) = groups.get(&name.conversation) else {
                continue;
            };
            let group = group.clone();
            if self.accept_name(&group, &name.reveal).is_ok()
                && self
                    .state
                    .conversations
                    .get(&name.conversation)
                    .and_then(|c| c.name.as_ref())
                    .is_some_and(|k| k.epoch == name.reveal.epoch)
            {
                taken.names += 1;
            }
        }
        self.save()?;
        Ok(taken)
    }

    /// The verified state of a conversation this account is a member of, its log fetched
    /// during this run; `None` when it cannot be verified or this account is not a member (its
    /// records then only serve history).
    async fn current_group(&mut self, conversation: ConversationId) -> Result<Option<GroupState>> {
        if self.fresh.contains(&conversation.to_string()) {
            return self.load_group(&conversation);
        }
        match self.sync_group(conversation).await {
            Ok(group) => Ok(Some(group)),
            Err(e) if e.is_refused_answer() || matches!(e, Error::NotMember) => Ok(None),
            Err(other) => Err(other),
        }
    }

    /// Pins an identity from a bundle when none is pinned for its account: only if the
    /// directory lists that account under that username with a key whose account id matches.
    /// A name pinned to another account is an identity change, never overwritten. True if
    /// pinned.
    async fn take_pin(&mut self, pin: &PinRecord) -> Result<bool> {
        if self.state.pins.get(pin.account).is_some() {
            return Ok(false);
        }
        let token = self.access_token().await?;
        let Some(entry) = self.api.directory(&token, &pin.account.to_string()).await? else {
            return Ok(false);
        };
        let Ok(spki) = unb64(&entry.master_key, "master key") else {
            return Ok(false);
        };
        let Ok(identity) = AccountIdentity::from_master_spki(&spki) else {
            return Ok(false);
        };
        if identity.account() != pin.account
            || entry.account != pin.account
            || entry.username != pin.username
        {
            return Ok(false);
        }
        if self
            .state
            .pins
            .pin_on_first_use(pin.account, &pin.username, b64(&spki))
            .is_err()
        {
            return Ok(false);
        }
        if pin.verified {
            self.state.pins.confirm(pin.account);
        }
        self.note_for_backup(Pending::Pin(pin.account));
        Ok(true)
    }

    /// Every history key of a chain, by id (for opening archived envelopes).
    pub(crate) fn history_record(&self, chain: &ChainId) -> Result<Option<ChainRecord>> {
        self.state
            .history_keys
            .get(chain)
            .map(chain_record)
            .transpose()
    }
}
