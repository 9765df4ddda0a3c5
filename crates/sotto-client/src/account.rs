//! Accounts and devices: registering (master key, first device, exchange key), logging a new
//! device in and having it approved by a device that holds the master key, listing and revoking
//! devices, and the daily exchange-key rotation.

use std::time::Duration;

use sotto_proto::crypto::prekey::PrekeyPair;
use sotto_proto::crypto::rsa::{ExchangeKeyPair, RsaBits, VerifyingKey};
use sotto_proto::crypto::sha256_parts;
use sotto_proto::identity::{AccountIdentity, DeviceKeys, MasterKey};
use sotto_proto::ids::{DeviceId, PrekeyId};
use sotto_proto::limits::MAX_CERTIFICATE_LEN;
use sotto_proto::signed::Signed;
use sotto_proto::Timestamp;

use crate::api::{self, unb64};
use crate::client::Client;
use crate::error::{Error, Result};
use crate::store::state::{AccountState, DeviceState, ExchangeKeyState, Secret};

/// Exchange keys are replaced after a day (protocol §4.5: rotated daily).
const EXCHANGE_KEY_ROTATE_MS: u64 = Timestamp::DAY;
/// Exchange-key certificates start an hour early, to tolerate clock skew.
const EXCHANGE_KEY_BACKDATE_MS: u64 = Timestamp::HOUR;
/// Validity of an exchange-key certificate (the protocol's maximum).
const EXCHANGE_KEY_VALIDITY_MS: u64 = 30 * Timestamp::DAY;
/// Old exchange keys are kept this long after they expire, for distributions in flight.
const EXCHANGE_KEY_KEEP_MS: u64 = 30 * Timestamp::DAY;

/// The result of starting a login on a new device.
#[derive(Debug)]
pub enum LoginStart {
    /// The device is approved and logged in.
    Ready,
    /// The device waits for approval; show the code on the other device.
    Pending {
        /// The approval code to type on an existing device.
        code: String,
        /// The login token to finish with (valid 10 minutes).
        login_token: zeroize::Zeroizing<String>,
    },
}

/// One device of the account.
#[derive(Debug, Clone)]
pub struct DeviceInfo {
    /// `dev:…`.
    pub device: String,
    /// `pending`, `active` or `revoked`.
    pub state: String,
    /// Display name.
    pub name: String,
    /// Whether it is this device.
    pub current: bool,
    /// The approval code (for pending devices).
    pub code: String,
}

/// A device approved by [`Client::approve`].
#[derive(Debug)]
pub struct Approved {
    /// The device.
    pub device: DeviceId,
    /// Its name.
    pub name: String,
    /// How many hand-overs of this device's keys it was sent, or why none could be.
    pub handovers: Result<usize>,
}

/// The approval code of a device's keys: what the person compares on both screens, so the
/// server cannot substitute keys of its own for the device being approved.
pub fn approval_code(signing_spki: &[u8], auth_spki: &[u8]) -> String {
    let digest = sha256_parts(&[b"sotto approval code v1", signing_spki, auth_spki]);
    let hex = hex::encode(digest.get(..10).unwrap_or_default());
    hex.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("-")
}

fn normalise_code(code: &str) -> String {
    code.chars()
        .filter(char::is_ascii_hexdigit)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn new_device_state(keys: &DeviceKeys, name: &str, active: bool) -> Result<DeviceState> {
    Ok(DeviceState {
        device: keys.device(),
        name: name.to_owned(),
        signing_key: Secret::new(&keys.signing().to_pkcs8()?),
        auth_key: Secret::new(&keys.auth().to_pkcs8()?),
        active,
        exchange_keys: Vec::new(),
    })
}

/// The certificate of an exchange key: version 2 with its last-resort prekey (§18.3), or
/// version 1 when there is none (a device made to run version 1, for tests only).
pub(crate) fn certify_exchange_key(
    keys: &DeviceKeys,
    account: sotto_proto::ids::AccountId,
    pair: &ExchangeKeyPair,
    last_resort: Option<&PrekeyPair>,
    serial: u64,
    not_before: u64,
    not_after: u64,
) -> Result<Signed> {
    let (not_before, not_after) = (Timestamp(not_before), Timestamp(not_after));
    Ok(match last_resort {
        Some(prekey) => keys.certify_exchange_key_v2(
            account,
            pair.encrypting_key(),
            prekey.public(),
            serial,
            not_before,
            not_after,
        )?,
        None => keys.certify_exchange_key(
            account,
            pair.encrypting_key(),
            serial,
            not_before,
            not_after,
        )?,
    })
}

/// A new exchange key of `keys`' device with serial `serial`, valid from (an hour before)
/// `now`, and its last-resort prekey named `prekey` (none for a version-1 device): its state,
/// not yet published.
pub(crate) fn fresh_exchange_key(
    serial: u64,
    now: Timestamp,
    prekey: Option<PrekeyId>,
) -> Result<(ExchangeKeyState, ExchangeKeyPair, Option<PrekeyPair>)> {
    let pair = ExchangeKeyPair::generate(RsaBits::Rsa3072)?;
    let last_resort = prekey.map(PrekeyPair::generate).transpose()?;
    let not_before = now.millis().saturating_sub(EXCHANGE_KEY_BACKDATE_MS);
    let state = ExchangeKeyState {
        key: Secret::new(&pair.to_pkcs8()),
        serial,
        not_before,
        not_after: not_before + EXCHANGE_KEY_VALIDITY_MS,
        published: false,
        last_resort: last_resort.as_ref().map(|p| Secret::new(&p.encode_local())),
    };
    Ok((state, pair, last_resort))
}

/// A new exchange key of `keys`' device, its state as published, and its certificate (serial
/// 1: the device's first), with a last-resort prekey named `prekey` unless the device runs
/// version 1.
pub(crate) fn new_exchange_key(
    keys: &DeviceKeys,
    account: sotto_proto::ids::AccountId,
    now: Timestamp,
    prekey: Option<PrekeyId>,
) -> Result<(ExchangeKeyState, Signed)> {
    let (mut state, pair, last_resort) = fresh_exchange_key(1, now, prekey)?;
    let certificate = certify_exchange_key(
        keys,
        account,
        &pair,
        last_resort.as_ref(),
        state.serial,
        state.not_before,
        state.not_after,
    )?;
    state.published = true;
    Ok((state, certificate))
}

impl Client {
    /// Creates the account `username` on the server: a new master key, this device as its
    /// first device, and an exchange key. Generates four RSA keys (slow).
    pub async fn register(
        &mut self,
        username: &str,
        password: &str,
        device_name: &str,
    ) -> Result<()> {
        self.register_invited(username, password, device_name, None)
            .await
    }

    /// [`Client::register`] with an invitation code, for a server with
    /// `registration = "invite"` (an open server ignores it).
    pub async fn register_invited(
        &mut self,
        username: &str,
        password: &str,
        device_name: &str,
        invite: Option<&crate::api::InviteCode>,
    ) -> Result<()> {
        if let Some(account) = &self.state.account {
            return Err(Error::AlreadyRegistered {
                username: account.username.clone(),
            });
        }
        let master = MasterKey::generate(RsaBits::Rsa3072)?;
        let keys = DeviceKeys::generate(RsaBits::Rsa3072)?;
        let now = self.now()?;
        let certificate = master.certify_device(
            keys.signing().verifying_key(),
            keys.auth().verifying_key(),
            device_name,
            now,
        )?;
        match self.api.register(username, password, invite).await {
            Err(Error::Api {
                code: crate::api::ErrorCode::Conflict,
                ..
            }) => {
                return Err(Error::UsernameTaken {
                    username: username.to_owned(),
                })
            }
            Err(Error::Api {
                code: crate::api::ErrorCode::RegistrationClosed,
                ..
            }) => return Err(Error::RegistrationClosed),
            Err(Error::Api {
                code: crate::api::ErrorCode::InviteInvalid,
                ..
            }) => return Err(Error::InviteInvalid),
            other => other?,
        }
        let login = self.api.login(username, password).await?;
        let token = login.login_token.into_inner();
        let account = self
            .api
            .set_master_key(&token, master.verifying_key().spki())
            .await?;
        if account.account != master.account() {
            return Err(Error::BadResponse {
                what: "the server derived another account id",
            });
        }
        self.api
            .upload_certificate(&token, &certificate.encode())
            .await?;
        let master_spki = crate::api::b64(master.verifying_key().spki());
        self.state.account = Some(AccountState {
            username: login.username.clone(),
            account: master.account(),
            master_spki: master_spki.clone(),
            master_key: Some(Secret::new(&master.key_pair().to_pkcs8()?)),
            revocation_serial: 0,
        });
        self.state.device = Some(new_device_state(&keys, device_name, true)?);
        self.state
            .pins
            .pin_own(master.account(), &login.username, master_spki.clone());
        self.save()?;
        self.device_login(&token).await?;
        self.ensure_exchange_key().await?;
        self.ensure_prekeys().await
    }

    /// Logs in as `username`: on a fresh profile, announces a new device that must be approved;
    /// on a profile whose device exists, logs that device in again.
    pub async fn login_start(
        &mut self,
        username: &str,
        password: &str,
        device_name: &str,
    ) -> Result<LoginStart> {
        if let Some(account) = &self.state.account {
            if account.username != username.to_ascii_lowercase() {
                return Err(Error::AlreadyRegistered {
                    username: account.username.clone(),
                });
            }
        }
        let login = self.api.login(username, password).await?;
        let token = login.login_token.into_inner();
        if self.state.device.is_none() {
            let keys = DeviceKeys::generate(RsaBits::Rsa3072)?;
            let entry = self
                .api
                .directory(&token, &login.username)
                .await?
                .ok_or_else(|| Error::UnknownUser {
                    username: login.username.clone(),
                })?;
            let identity =
                AccountIdentity::from_master_spki(&unb64(&entry.master_key, "master key")?)?;
            let account = identity.account();
            // The exchange key is announced with the device, so that the device approving it
            // can seal the hand-over of its keys to it at once (protocol §16).
            let prekey = self.new_prekey_id()?;
            let (exchange, exchange_certificate) =
                new_exchange_key(&keys, account, self.now()?, prekey)?;
            let announced = self
                .api
                .announce_device(
                    &token,
                    keys.signing().verifying_key().spki(),
                    keys.auth().verifying_key().spki(),
                    device_name,
                    Some(&exchange_certificate.encode()),
                )
                .await?;
            if announced.device != keys.device() {
                return Err(Error::BadResponse {
                    what: "the server derived another device id",
                });
            }
            self.state.account = Some(AccountState {
                username: login.username.clone(),
                account,
                master_spki: entry.master_key.clone(),
                master_key: None,
                revocation_serial: 0,
            });
            let mut device = new_device_state(&keys, device_name, false)?;
            // Published with the announcement.
            device.exchange_keys.push(exchange);
            self.state.device = Some(device);
            self.state.pins.pin_own(
                identity.account(),
                &login.username,
                entry.master_key.clone(),
            );
            self.save()?;
        }
        if self.device_active() {
            self.device_login(&token).await?;
            self.ensure_exchange_key().await?;
            self.ensure_prekeys().await?;
            return Ok(LoginStart::Ready);
        }
        let keys = self.device_keys()?;
        Ok(LoginStart::Pending {
            code: approval_code(
                keys.signing().verifying_key().spki(),
                keys.auth().verifying_key().spki(),
            ),
            login_token: token,
        })
    }

    /// Waits (up to `timeout`) until another device approves this one, then logs it in.
    pub async fn login_wait(&mut self, login_token: &str, timeout: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        let me = self.device()?;
        let identity = self.own_identity()?;
        loop {
            let devices = self.api.devices(login_token).await?;
            if let Some(view) = devices
                .iter()
                .find(|d| d.device == me && d.state == api::DeviceState::Active)
            {
                let cert = view.certificate.as_deref().ok_or(Error::BadResponse {
                    what: "an active device without a certificate",
                })?;
                let signed = Signed::decode(&unb64(cert, "certificate")?, MAX_CERTIFICATE_LEN)?;
                identity.verify_device(&signed, &[])?;
                if let Some(device) = self.state.device.as_mut() {
                    device.active = true;
                }
                self.save()?;
                self.device_login(login_token).await?;
                self.ensure_exchange_key().await?;
                self.ensure_prekeys().await?;
                // The approving device's keys, if its hand-over is there already (otherwise the
                // next receive takes it).
                if let Err(error) = self.receive_handovers().await {
                    if !error.is_refused_answer() {
                        return Err(error);
                    }
                }
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::TimedOut {
                    what: "approval from another device",
                });
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    pub(crate) fn own_identity(&self) -> Result<AccountIdentity> {
        let spki = unb64(&self.account_state()?.master_spki, "master key")?;
        Ok(AccountIdentity::from_master_spki(&spki)?)
    }

    /// The account's devices.
    pub async fn devices(&mut self) -> Result<Vec<DeviceInfo>> {
        let token = self.access_token().await?;
        let me = self.device()?;
        let list = self.api.devices(&token).await?;
        Ok(list
            .into_iter()
            .map(|d| {
                let code = match (unb64(&d.signing_key, "key"), unb64(&d.auth_key, "key")) {
                    (Ok(s), Ok(a)) => approval_code(&s, &a),
                    _ => String::new(),
                };
                DeviceInfo {
                    current: d.device == me,
                    device: d.device.to_string(),
                    state: d.state.as_str().to_owned(),
                    name: d.name,
                    code,
                }
            })
            .collect())
    }

    /// Approves the pending device whose approval code is `code` and hands it this device's
    /// keys.
    pub async fn approve(&mut self, code: &str) -> Result<Approved> {
        let master = self.master_key()?;
        let token = self.access_token().await?;
        let wanted = normalise_code(code);
        for d in self.api.devices(&token).await? {
            if d.state != api::DeviceState::Pending {
                continue;
            }
            let signing = unb64(&d.signing_key, "signing key")?;
            let auth = unb64(&d.auth_key, "auth key")?;
            if normalise_code(&approval_code(&signing, &auth)) != wanted {
                continue;
            }
            let certificate = master.certify_device(
                &VerifyingKey::from_spki(&signing)?,
                &VerifyingKey::from_spki(&auth)?,
                &d.name,
                self.now()?,
            )?;
            let done = self
                .api
                .upload_certificate(&token, &certificate.encode())
                .await?;
            // The new device is certified; the hand-over of this device's keys follows
            // (protocol §16). A failure there does not undo the approval: the new device then
            // reads from the next chains on, as any device approved without one.
            let certified = self.own_identity()?.verify_device(&certificate, &[])?;
            let handovers = self.hand_over_to(&certified, &d).await;
            return Ok(Approved {
                device: done.device,
                name: d.name,
                handovers,
            });
        }
        Err(Error::UnknownApprovalCode {
            code: code.to_owned(),
        })
    }

    /// Revokes one of the account's devices (master key needed).
    pub async fn revoke(&mut self, device: &str) -> Result<()> {
        let target: DeviceId = device.parse().map_err(|_| Error::UnknownDevice {
            device: device.to_owned(),
        })?;
        let master = self.master_key()?;
        let token = self.access_token().await?;
        let username = self.account_state()?.username.clone();
        let identity = self.own_identity()?;
        let mut serial = self.account_state()?.revocation_serial;
        if let Some(entry) = self.api.directory(&token, &username).await? {
            for r in entry.revocations {
                let signed = Signed::decode(&unb64(&r, "revocation")?, MAX_CERTIFICATE_LEN)?;
                if let Ok(v) = identity.verify_revocation(&signed) {
                    serial = serial.max(v.body().serial);
                }
            }
        }
        let serial = serial + 1;
        let revocation = master.revoke(target, serial, self.now()?)?;
        if let Some(account) = self.state.account.as_mut() {
            account.revocation_serial = serial;
        }
        self.save()?;
        self.api.revoke(&token, &revocation.encode()).await?;
        Ok(())
    }

    /// Makes sure a current exchange key is published: a new one daily (with a new
    /// last-resort prekey, §18.3), old ones dropped a month after they expire (their last-resort
    /// prekeys with them).
    pub async fn ensure_exchange_key(&mut self) -> Result<()> {
        let now = self.now()?;
        let device = self.state.device.as_mut().ok_or(Error::NoAccount)?;
        device
            .exchange_keys
            .retain(|k| k.not_after.saturating_add(EXCHANGE_KEY_KEEP_MS) > now.millis());
        // A key certified by version 1 (a profile from before version 2) is replaced at once:
        // a device that runs version 2 publishes only version-2 certificates (§18.1).
        let v1 = self.protocol_v1;
        let fresh = device.exchange_keys.last().is_some_and(|k| {
            k.not_before
                .saturating_add(EXCHANGE_KEY_BACKDATE_MS + EXCHANGE_KEY_ROTATE_MS)
                > now.millis()
                && (v1 || k.last_resort.is_some())
        });
        if !fresh {
            self.add_exchange_key(now)?;
        }
        self.publish_exchange_key().await
    }

    /// Makes a new exchange key (the next serial) and its last-resort prekey, and saves it
    /// unpublished: the private keys are on disk before anything refers to them.
    pub(crate) fn add_exchange_key(&mut self, now: Timestamp) -> Result<()> {
        let prekey = self.new_prekey_id()?;
        let device = self.state.device.as_mut().ok_or(Error::NoAccount)?;
        let serial = device.exchange_keys.last().map_or(1, |k| k.serial + 1);
        let (state, _, _) = fresh_exchange_key(serial, now, prekey)?;
        device.exchange_keys.push(state);
        self.save()
    }

    /// Publishes the newest exchange key if the server has not accepted it yet.
    async fn publish_exchange_key(&mut self) -> Result<()> {
        let Some(newest) = self.device_state()?.exchange_keys.last() else {
            return Ok(());
        };
        if newest.published {
            return Ok(());
        }
        let pair = ExchangeKeyPair::from_pkcs8(&newest.key.bytes()?)?;
        let last_resort = newest
            .last_resort
            .as_ref()
            .map(|s| s.bytes().and_then(|b| Ok(PrekeyPair::decode_local(&b)?)))
            .transpose()?;
        let certificate = certify_exchange_key(
            &self.device_keys()?,
            self.account_id()?,
            &pair,
            last_resort.as_ref(),
            newest.serial,
            newest.not_before,
            newest.not_after,
        )?;
        let token = self.access_token().await?;
        self.api
            .set_exchange_key(&token, &certificate.encode())
            .await?;
        if let Some(last) = self
            .state
            .device
            .as_mut()
            .and_then(|d| d.exchange_keys.last_mut())
        {
            last.published = true;
        }
        self.save()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn approval_codes_are_grouped_and_normalise() {
        let code = approval_code(b"signing", b"auth");
        assert_eq!(code.len(), 24);
        assert_eq!(normalise_code(&code.to_uppercase()), normalise_code(&code));
        assert_ne!(code, approval_code(b"signing", b"other"));
    }
}
