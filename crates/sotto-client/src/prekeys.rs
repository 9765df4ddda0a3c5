//! This device's prekeys (protocol §18.4, §18.8) and the prekeys of the devices it sends to.
//!
//! The ring of one-time prekeys lives in the profile ([`ProfileState::prekeys`]); each
//! last-resort prekey lives with the exchange key it was certified with, so it is kept and
//! dropped with that key. `Client::prekey_ring` puts the two together for a receive, and
//! `Client::store_prekey_ring` takes the last-resort prekeys out again before it is stored.
//! Private keys are saved before the public halves are uploaded; a one-time prekey's private
//! keys go in the same save that commits the distribution that used it (`crate::receive`).
//!
//! [`ProfileState::prekeys`]: crate::store::state::ProfileState::prekeys

use std::collections::BTreeMap;

use sotto_proto::crypto::prekey::PrekeyPair;
use sotto_proto::crypto::rsa::ExchangeKeyPair;
use sotto_proto::identity::VerifiedDevice;
use sotto_proto::ids::{DeviceId, ExchangeKeyId, PrekeyId};
use sotto_proto::limits::{
    MAX_ONE_TIME_PREKEYS, MAX_PREKEY_BODY_LEN, MAX_RING_ONE_TIME_PREKEYS, MIN_ONE_TIME_PREKEYS,
};
use sotto_proto::prekey::VerifiedPrekey;
use sotto_proto::signed::Signed;
use sotto_proto::PrekeyRing;

use crate::api::unb64;
use crate::client::Client;
use crate::engine::directory::Rejected;
use crate::error::{Error, Result};
use crate::store::state::Secret;

/// What `sotto keys status` shows: the protocol version this device publishes, and its
/// one-time prekeys on the server and here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrekeyStatus {
    /// 2, or 1 on a device made to run version 1.
    pub version: u8,
    /// The serial of the newest exchange key.
    pub exchange_key_serial: Option<u64>,
    /// Whether the newest exchange key carries a last-resort prekey (version-2 certificate).
    pub last_resort: bool,
    /// One-time prekeys the server still holds for this device.
    pub server_remaining: u64,
    /// One-time prekeys whose private keys this device holds (uploaded and not yet used by a
    /// committed distribution; claimed ones whose distribution has not arrived included).
    pub held: usize,
    /// Version-1 distributions refused as downgrades (`receive/downgrade`).
    pub downgrades: u64,
    /// Prekeys of other devices the server handed out that failed verification.
    pub bad_prekeys: u64,
}

impl Client {
    /// This device's exchange key pairs and its whole prekey ring: the stored one-time prekeys
    /// and tombstones, and the last-resort prekey of each exchange key that has one.
    pub(crate) fn keys_for_receive(&self) -> Result<(Vec<ExchangeKeyPair>, PrekeyRing)> {
        let mut ring = match &self.state.prekeys {
            Some(secret) => PrekeyRing::decode_local(&secret.bytes()?)?,
            None => PrekeyRing::new(),
        };
        let mut pairs = Vec::new();
        for key in &self.device_state()?.exchange_keys {
            let pair = ExchangeKeyPair::from_pkcs8(&key.key.bytes()?)?;
            if let Some(last_resort) = &key.last_resort {
                let id = ExchangeKeyId::from_spki(pair.encrypting_key().spki());
                ring.add_last_resort(id, PrekeyPair::decode_local(&last_resort.bytes()?)?)?;
            }
            pairs.push(pair);
        }
        Ok((pairs, ring))
    }

    /// The prekey ring as [`Client::keys_for_receive`] builds it.
    pub(crate) fn prekey_ring(&self) -> Result<PrekeyRing> {
        Ok(self.keys_for_receive()?.1)
    }

    /// Puts `ring` in the snapshot (not saved yet), without the last-resort prekeys: those are
    /// stored with their exchange keys.
    pub(crate) fn store_prekey_ring(&mut self, mut ring: PrekeyRing) -> Result<()> {
        for key in &self.device_state()?.exchange_keys {
            if key.last_resort.is_some() {
                let pair = ExchangeKeyPair::from_pkcs8(&key.key.bytes()?)?;
                ring.remove_last_resort(&ExchangeKeyId::from_spki(pair.encrypting_key().spki()));
            }
        }
        self.state.prekeys = Some(Secret::new(&ring.encode_local()));
        Ok(())
    }

    /// Keeps at least [`MIN_ONE_TIME_PREKEYS`] one-time prekeys on the server: when fewer are
    /// left, makes enough for [`MAX_ONE_TIME_PREKEYS`], saves their private keys, and uploads
    /// them (§18.4). Also drops tombstones of consumed prekeys past their 180 days. Nothing on a
    /// device that runs version 1.
    pub async fn ensure_prekeys(&mut self) -> Result<()> {
        if self.protocol_v1 {
            return Ok(());
        }
        let mut ring = self.prekey_ring()?;
        let tombstones = ring.consumed_count();
        ring.prune(self.now()?);
        if ring.consumed_count() != tombstones {
            self.store_prekey_ring(ring)?;
            self.save()?;
        }
        let token = self.access_token().await?;
        let remaining = self.api.prekeys_remaining(&token).await?;
        let (min, max) = (
            count_u64(MIN_ONE_TIME_PREKEYS),
            count_u64(MAX_ONE_TIME_PREKEYS),
        );
        if remaining >= min {
            return Ok(());
        }
        self.upload_new_prekeys(max.saturating_sub(remaining), false)
            .await
            .map(|_| ())
    }

    /// Makes `count` one-time prekeys, saves their private keys, and uploads them (with
    /// `replace`, instead of every unclaimed one the server holds). Returns how many the server
    /// then holds.
    async fn upload_new_prekeys(&mut self, count: u64, mut replace: bool) -> Result<u64> {
        let keys = self.device_keys()?;
        let account = self.account_id()?;
        let now = self.now()?;
        let mut ring = self.prekey_ring()?;
        let room = count_u64(MAX_RING_ONE_TIME_PREKEYS.saturating_sub(ring.one_time_count()));
        if count > room {
            // The ring is full of prekeys the server no longer hands out (deleted or withheld
            // by it, or claimed by senders that never sent): renew them all, as a re-key does.
            // A distribution still in flight for one of them is refused (`prekey/unknown`) and
            // its messages come with the key its sender sends again when asked.
            let _dropped = ring.replace_all_one_time();
            replace = true;
        }
        let mut signed = Vec::new();
        for _ in 0..count {
            let pair = PrekeyPair::generate(PrekeyId::from_bytes(self.random16()?))?;
            signed.push(
                keys.sign_one_time_prekey(account, pair.public(), now)?
                    .encode(),
            );
            ring.add_one_time(pair)?;
        }
        self.store_prekey_ring(ring)?;
        // The private keys are on disk before the server can hand out the public halves.
        self.save()?;
        let token = self.access_token().await?;
        self.api.upload_prekeys(&token, &signed, replace).await
    }

    /// Re-keys this device (§18.8), after it was cleaned of a compromise or on request: a new
    /// exchange key and last-resort prekey (the next serial), published; every one-time
    /// prekey's private keys deleted and a fresh set uploaded in place of the old ones; and a
    /// new sending chain in every conversation at its next message. Refused on a device that
    /// runs version 1 (it has no prekeys to renew).
    pub async fn rekey(&mut self) -> Result<PrekeyStatus> {
        if self.protocol_v1 {
            return Err(Error::InvalidInput {
                field: "rekey",
                reason: "this device runs protocol version 1",
            });
        }
        let now = self.now()?;
        self.add_exchange_key(now)?;
        self.ensure_exchange_key().await?;
        let mut ring = self.prekey_ring()?;
        // The old private keys go now, whatever the upload does: a distribution to one of
        // them after a compromise is one an attacker may read too.
        let _dropped = ring.replace_all_one_time();
        self.store_prekey_ring(ring)?;
        for conversation in self.state.conversations.values_mut() {
            if conversation.chain.is_some() {
                conversation.rotate = true;
            }
        }
        self.save()?;
        self.upload_new_prekeys(count_u64(MAX_ONE_TIME_PREKEYS), true)
            .await?;
        self.prekey_status().await
    }

    /// This device's prekey status (one request to the server).
    pub async fn prekey_status(&mut self) -> Result<PrekeyStatus> {
        let server_remaining = if self.protocol_v1 {
            0
        } else {
            let token = self.access_token().await?;
            self.api.prekeys_remaining(&token).await?
        };
        let newest = self.device_state()?.exchange_keys.last();
        Ok(PrekeyStatus {
            version: self.protocol_version(),
            exchange_key_serial: newest.map(|k| k.serial),
            last_resort: newest.is_some_and(|k| k.last_resort.is_some()),
            server_remaining,
            held: self.prekey_ring()?.one_time_count(),
            downgrades: self.state.downgrades,
            bad_prekeys: self.state.bad_prekeys,
        })
    }

    /// Claims one one-time prekey of each of `devices` in one request and verifies each
    /// (§18.4, §18.7). A device the server has none for is missing from the answer (the caller
    /// uses its last-resort prekey); so is one whose prekey fails verification, which is
    /// counted and reported like any refused directory entry. A refusal of the whole request
    /// (throttled, say) leaves every device to its last-resort prekey; only a transport failure
    /// is an error.
    pub(crate) async fn claim_prekeys(
        &mut self,
        devices: &[&VerifiedDevice],
    ) -> Result<BTreeMap<DeviceId, VerifiedPrekey>> {
        let mut verified = BTreeMap::new();
        if devices.is_empty() {
            return Ok(verified);
        }
        let ids: Vec<DeviceId> = devices.iter().map(|d| d.device()).collect();
        let token = self.access_token().await?;
        let claimed = match self.api.claim_prekeys(&token, &ids).await {
            Ok(claimed) => claimed,
            Err(error) if error.is_refused_answer() => return Ok(verified),
            Err(error) => return Err(error),
        };
        let now = self.now()?;
        for device in devices {
            let Some(Some(text)) = claimed.get(&device.device()) else {
                continue;
            };
            match verify_prekey(device, text, now) {
                Ok(prekey) => {
                    verified.insert(device.device(), prekey);
                }
                Err(reason) => {
                    self.state.bad_prekeys += 1;
                    let username = self
                        .username_of(device.account())
                        .unwrap_or_else(|| device.account().to_string());
                    self.directory.warn(
                        &username,
                        &[Rejected::Prekey {
                            device: device.device().to_string(),
                            reason,
                        }],
                    );
                }
            }
        }
        Ok(verified)
    }
}

/// A claimed one-time prekey of `device`, verified (§18.4), or the refusal's code.
fn verify_prekey(
    device: &VerifiedDevice,
    text: &str,
    now: sotto_proto::Timestamp,
) -> std::result::Result<VerifiedPrekey, &'static str> {
    let bytes = unb64(text, "prekey").map_err(|_| "decode/base64")?;
    let signed = Signed::decode(&bytes, MAX_PREKEY_BODY_LEN).map_err(|e| e.code())?;
    device
        .verify_one_time_prekey(&signed, now)
        .map_err(|e| e.code())
}

/// A prekey count as the server's counts are given.
fn count_u64(count: usize) -> u64 {
    u64::try_from(count).unwrap_or(u64::MAX)
}
