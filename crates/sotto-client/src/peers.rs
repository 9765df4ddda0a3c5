//! Pinned identities: master keys pinned on first use, checked on every later lookup, confirmed
//! by safety number; and the devices and exchange keys of an account, verified against the
//! pinned master key (a device the server adds on its own never verifies).

use sotto_proto::identity::{
    AccountIdentity, VerifiedDevice, VerifiedExchangeKey, VerifiedRevocation,
};
use sotto_proto::ids::{AccountId, DeviceId};
use sotto_proto::limits::MAX_CERTIFICATE_LEN;
use sotto_proto::safety::SafetyNumber;
use sotto_proto::signed::Signed;

use crate::api::types::DeviceView;
use crate::api::{b64, unb64};
use crate::client::Client;
use crate::engine::pins::Changed;
use crate::error::{Error, Result};

pub use crate::engine::directory::{DirectoryWarning, Rejected};

/// Who to look up.
#[derive(Debug, Clone, Copy)]
pub enum Who<'a> {
    /// By username: checked against the pin for that name.
    Name(&'a str),
    /// By account id (self-certifying: the id is the master key's hash).
    Account(AccountId),
}

/// An account's verified identity, devices and exchange keys.
#[derive(Debug)]
pub struct PeerDevices {
    /// The username.
    pub username: String,
    /// The pinned identity.
    pub identity: AccountIdentity,
    /// Devices whose certificates verify under the pinned master key.
    pub devices: Vec<VerifiedDevice>,
    /// Their currently valid exchange keys.
    pub exchange: Vec<VerifiedExchangeKey>,
    /// What the directory listed but this client refuses to use: a device without a valid
    /// master-key certificate (one the server added on its own), a device revoked before (even
    /// if the directory no longer lists the revocation), or an exchange key that is
    /// expired, not yet valid, badly signed or older than one already seen. Nothing is ever
    /// encrypted to these; callers show them as a warning about the account.
    pub rejected: Vec<Rejected>,
}

/// A safety number and whether it was confirmed.
#[derive(Debug)]
pub struct Safety {
    /// The peer's username.
    pub username: String,
    /// 12 groups of 5 digits.
    pub groups: Vec<String>,
    /// Whether the identity is marked verified.
    pub verified: bool,
}

/// The device a directory entry lists, if its certificate verifies under the pinned identity.
pub(crate) fn verify_certificate(
    identity: &AccountIdentity,
    view: &DeviceView,
    revocations: &[VerifiedRevocation],
) -> std::result::Result<VerifiedDevice, &'static str> {
    let cert = view.certificate.as_deref().ok_or("no-certificate")?;
    let bytes = unb64(cert, "certificate").map_err(|_| "decode/base64")?;
    let signed = Signed::decode(&bytes, MAX_CERTIFICATE_LEN).map_err(|e| e.code())?;
    identity
        .verify_device(&signed, revocations)
        .map_err(|e| e.code())
}

/// A verified device's exchange key, if its certificate is valid now, not older than `seen`,
/// and not a version-1 certificate of a device whose version-2 certificate was accepted before
/// (`v2_seen`, §18.3).
pub(crate) fn verify_exchange_key(
    device: &VerifiedDevice,
    view: &DeviceView,
    now: sotto_proto::Timestamp,
    seen: Option<u64>,
    v2_seen: bool,
) -> std::result::Result<VerifiedExchangeKey, &'static str> {
    let xkey = view.exchange_key.as_deref().ok_or("no-exchange-key")?;
    let bytes = unb64(xkey, "exchange key").map_err(|_| "decode/base64")?;
    let signed = Signed::decode(&bytes, MAX_CERTIFICATE_LEN).map_err(|e| e.code())?;
    device
        .verify_exchange_key_after_v2(&signed, now, seen, v2_seen)
        .map_err(|e| e.code())
}

/// The refusal of a directory entry that gives a pinned name to another account.
fn identity_changed(username: &str, change: Changed) -> Error {
    Error::IdentityChanged {
        username: username.to_owned(),
        account: change.pinned,
        was_verified: change.was_verified,
    }
}

impl Client {
    /// Looks `who` up in the directory and verifies it against the pin (pinning on first use).
    /// A username whose key changed is [`Error::IdentityChanged`] unless `accept_new`; so is an
    /// account never seen that the directory names with a username pinned to another key. The
    /// username returned is the one the account was pinned under.
    pub async fn lookup(&mut self, who: Who<'_>, accept_new: bool) -> Result<PeerDevices> {
        let token = self.access_token().await?;
        let key = match who {
            Who::Name(name) => name.to_ascii_lowercase(),
            Who::Account(account) => account.to_string(),
        };
        let entry = self
            .api
            .directory(&token, &key)
            .await?
            .ok_or_else(|| Error::UnknownUser {
                username: key.clone(),
            })?;
        let spki = unb64(&entry.master_key, "master key")?;
        let identity = AccountIdentity::from_master_spki(&spki)?;
        let account = identity.account();
        if entry.account != account {
            return Err(Error::BadResponse {
                what: "a directory entry whose account id is not its key's",
            });
        }
        match who {
            Who::Account(wanted) if wanted != account => {
                return Err(Error::BadResponse {
                    what: "a directory entry for another account",
                })
            }
            // Usernames are normalised by lowercasing only: another name is another person.
            Who::Name(_) if entry.username != key => {
                return Err(Error::BadResponse {
                    what: "a directory entry for another username",
                })
            }
            Who::Name(_) => {
                if let Some(change) = self.state.pins.changed(&entry.username, account) {
                    if !accept_new {
                        return Err(identity_changed(&entry.username, change));
                    }
                    self.state.pins.unpin(&entry.username);
                }
            }
            Who::Account(_) => {}
        }
        // A new account under a name pinned to another key: the same warning as a lookup by
        // that name (a message must never be shown under someone else's name).
        let new_pin = self.state.pins.get(account).is_none();
        self.state
            .pins
            .pin_on_first_use(account, &entry.username, b64(&spki))
            .map_err(|change| identity_changed(&entry.username, change))?;
        if new_pin {
            self.note_for_backup(crate::engine::backup::Pending::Pin(account));
        }
        let revocations: Vec<_> = entry
            .revocations
            .iter()
            .filter_map(|r| {
                let bytes = unb64(r, "revocation").ok()?;
                let signed = Signed::decode(&bytes, MAX_CERTIFICATE_LEN).ok()?;
                identity.verify_revocation(&signed).ok()
            })
            .collect();
        // Revocations are remembered: a server that later drops one from the directory (and
        // lists the device as active again) cannot bring a revoked device back.
        let learned = self
            .state
            .pins
            .learn_revocations(account, revocations.iter().map(|r| r.body().device));
        let pinned_name = self
            .state
            .pins
            .username_of(account)
            .map_or_else(|| entry.username.clone(), str::to_owned);
        if learned {
            self.save()?;
        }
        let revoked = self.state.pins.revoked(account);
        let now = self.now()?;
        let mut devices = Vec::new();
        let mut exchange = Vec::new();
        let mut rejected = Vec::new();
        for view in &entry.devices {
            let device = match verify_certificate(&identity, view, &revocations) {
                Ok(device) if revoked.contains(&device.device()) => {
                    rejected.push(Rejected::Device {
                        device: view.device.to_string(),
                        reason: "device-revoked",
                    });
                    continue;
                }
                Ok(device) => device,
                Err(reason) => {
                    rejected.push(Rejected::Device {
                        device: view.device.to_string(),
                        reason,
                    });
                    continue;
                }
            };
            let seen = self.state.pins.seen_serial(account, device.device());
            let v2_seen = self.state.pins.seen_v2(account, device.device());
            match verify_exchange_key(&device, view, now, seen, v2_seen) {
                Ok(key) => {
                    self.state.pins.accept_serial(
                        account,
                        device.device(),
                        key.serial(),
                        key.is_v2(),
                    );
                    exchange.push(key);
                }
                Err(reason) => rejected.push(Rejected::ExchangeKey {
                    device: device.device().to_string(),
                    reason,
                }),
            }
            devices.push(device);
        }
        self.directory.warn(&pinned_name, &rejected);
        Ok(PeerDevices {
            // The name it was pinned under, not the one the directory gives now.
            username: pinned_name,
            identity,
            devices,
            exchange,
            rejected,
        })
    }

    /// Directory entries refused since the last call, each once per run: devices the server
    /// lists without a valid certificate from the account's master key (or revoked before), and
    /// devices without a usable exchange key (they receive nothing new). Sending and receiving
    /// look accounts up on their own, so a caller that shows warnings asks after each command.
    pub fn take_directory_warnings(&mut self) -> Vec<DirectoryWarning> {
        self.directory.take_warnings()
    }

    /// One verified device of `account`.
    pub(crate) async fn verified_device(
        &mut self,
        account: AccountId,
        device: DeviceId,
    ) -> Result<(String, VerifiedDevice)> {
        if let Some(found) = self.directory.device(account, device) {
            return Ok(found);
        }
        let peer = self.lookup(Who::Account(account), false).await?;
        self.directory.remember(&peer.username, &peer.devices);
        let username = peer.username;
        peer.devices
            .into_iter()
            .find(|d| d.device() == device)
            .map(|d| (username, d))
            .ok_or(Error::UnknownDevice {
                device: device.to_string(),
            })
    }

    /// The pinned username of an account, if known.
    pub(crate) fn username_of(&self, account: AccountId) -> Option<String> {
        self.state.pins.username_of(account).map(str::to_owned)
    }

    /// The safety number with `username`; with `confirm`, marks the identity verified.
    pub async fn safety_number(
        &mut self,
        username: &str,
        confirm: bool,
        accept_new: bool,
    ) -> Result<Safety> {
        let peer = self.lookup(Who::Name(username), accept_new).await?;
        let mine = unb64(&self.account_state()?.master_spki, "master key")?;
        let number = SafetyNumber::new(&mine, peer.identity.master_key().spki());
        let account = peer.identity.account();
        if self.state.pins.get(account).is_none() {
            return Err(Error::CorruptStore {
                reason: "pin missing after lookup",
            });
        }
        if confirm {
            self.state.pins.confirm(account);
            self.note_for_backup(crate::engine::backup::Pending::Pin(account));
        }
        let verified = self.state.pins.is_verified(account);
        self.save()?;
        Ok(Safety {
            username: peer.username,
            groups: number.groups().into_iter().map(str::to_owned).collect(),
            verified,
        })
    }
}
