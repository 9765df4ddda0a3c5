//! Recovery (`docs/protocol.md` §14–§15): setting up the key backup, writing to it as this
//! device learns new keys, and recovering the account on a new device from it.
//!
//! Set-up makes the recovery secret (a key shown once, or a passphrase), derives the backup and
//! access keys, registers the access key's verifier with the server and uploads the first items
//! (the master key, then every history key, pin and group name). From then on each new key goes
//! into the backlog ([`crate::engine::Recovery`]) and is written out at the end of a receive or
//! a send; a failed upload leaves it for the next one and never stops messaging.
//!
//! Recovery logs in with the password, announces a new device (with its exchange key, so that a
//! device of the account can hand it keys at once), unlocks the items with the access key, opens
//! them with the backup key, certifies the new device with the master key found there, and only
//! then writes anything to the local profile: a wrong key changes nothing here.

use sotto_proto::backup::{open_backup, BackupItem, BackupItemId};
use sotto_proto::bundle::KeyBundle;
use sotto_proto::crypto::rsa::RsaBits;
use sotto_proto::identity::{AccountIdentity, DeviceKeys, MasterKey};
use sotto_proto::ids::DeviceId;
use sotto_proto::limits::MAX_CERTIFICATE_LEN;
use sotto_proto::recovery::{RecoveryId, RecoveryKey, RecoveryKeys, RecoverySecret};
use sotto_proto::signed::Signed;
use zeroize::Zeroizing;

use crate::api::keys::RecoverySetup;
use crate::api::{b64, unb64, DeviceState as ApiDeviceState, ErrorCode};
use crate::bundle::Taken;
use crate::client::Client;
use crate::engine::backup::{Pending, Recovery, RecoveryMethod};
use crate::error::{Error, Result};
use crate::store::state::{AccountState, DeviceState, ExchangeKeyState, Secret};

/// Item batches built per round of uploads.
const ITEMS_PER_ROUND: usize = 16;
/// Bytes of items (before base64) per request: the server's JSON body cap is 512 KiB by default
/// (`limits.max_json_body`), and base64 adds a third.
const ITEM_BYTES_PER_REQUEST: usize = 300 * 1024;
/// History fetched per conversation after a recovery.
const RECOVERED_HISTORY: usize = 5_000;

/// What `recovery setup` made.
#[derive(Debug)]
pub struct SetupReport {
    /// The recovery key to write down (method `key`), shown once and never stored.
    pub key: Option<Zeroizing<String>>,
    /// Records not uploaded yet (a failed upload is retried by later receives and sends).
    pub pending: usize,
}

/// `recovery status`.
#[derive(Debug, Clone)]
pub struct RecoveryReport {
    /// Whether the server holds a set-up.
    pub configured: bool,
    /// `key` or `passphrase`.
    pub method: Option<String>,
    /// Items the server holds.
    pub items: u64,
    /// Records this device has not written to the backup yet.
    pub pending: usize,
}

/// What a recovery did.
#[derive(Debug)]
pub struct Recovered {
    /// The account's other devices, each `(device, state, name)`, revoked or not (see
    /// `revoked`).
    pub other_devices: Vec<(DeviceId, String, String)>,
    /// Whether they were revoked.
    pub revoked: bool,
    /// What the backup's records gave.
    pub taken: Taken,
    /// Backup items refused (skipped), with the reason code.
    pub refused_items: Vec<&'static str>,
    /// Messages fetched from the archive.
    pub history: usize,
}

/// A recovery secret as the person gives it.
pub enum SecretInput {
    /// The recovery key's text.
    Key(Zeroizing<String>),
    /// The recovery passphrase.
    Passphrase(Zeroizing<String>),
}

impl std::fmt::Debug for SecretInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Key(_) => "SecretInput::Key(<secret>)",
            Self::Passphrase(_) => "SecretInput::Passphrase(<secret>)",
        })
    }
}

/// Checks a recovery key's text (its alphabet, length and checksum, §14.1) before anything is
/// sent: a typo is caught here.
pub fn check_recovery_key(text: &str) -> Result<()> {
    RecoveryKey::parse(text).map(|_| ()).map_err(Error::from)
}

/// A recovery in progress: logged in with the password, this device announced, the server's
/// set-up read. Nothing is stored locally until [`Client::recover_finish`] succeeds.
pub struct RecoveryStart {
    username: String,
    account: sotto_proto::ids::AccountId,
    master_spki: String,
    login_token: Zeroizing<String>,
    keys: DeviceKeys,
    exchange: ExchangeKeyState,
    device_name: String,
    recovery_id: RecoveryId,
    salt: Option<[u8; 16]>,
    /// How the set-up's secret is made: what to ask the person for.
    pub method: RecoveryMethod,
}

impl std::fmt::Debug for RecoveryStart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecoveryStart")
            .field("username", &self.username)
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}

/// Items grouped into requests of at most [`ITEM_BYTES_PER_REQUEST`] (one item alone when it is
/// larger) and the server's 64 items.
fn requests_of(items: &[Vec<u8>]) -> Vec<&[Vec<u8>]> {
    let mut requests = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, item) in items.iter().enumerate() {
        let full = i > start
            && (bytes + item.len() > ITEM_BYTES_PER_REQUEST
                || i - start == crate::api::keys::MAX_BACKUP_ITEMS_PER_REQUEST);
        if full {
            requests.extend(items.get(start..i));
            start = i;
            bytes = 0;
        }
        bytes += item.len();
    }
    if start < items.len() {
        requests.extend(items.get(start..));
    }
    requests
}

fn array16(bytes: &[u8], what: &'static str) -> Result<[u8; 16]> {
    bytes.try_into().map_err(|_| Error::BadResponse { what })
}

impl Client {
    /// Sets recovery up (replacing any earlier set-up on the server), then uploads the first
    /// items. `passphrase` chooses the passphrase method; otherwise a recovery key is made and
    /// returned to be shown once.
    pub async fn setup_recovery(&mut self, passphrase: Option<&str>) -> Result<SetupReport> {
        // The first item carries the master key (§15.2).
        self.master_key()?;
        let account = self.account_id()?;
        let (recovery_id, key, salt, secret) = {
            let mut env = self.env()?;
            let recovery_id = RecoveryId::generate(&mut env)?;
            match passphrase {
                Some(passphrase) => {
                    let salt = env.random::<16>()?;
                    let secret = RecoverySecret::from_passphrase(passphrase, &salt)?;
                    (recovery_id, None, Some(salt), secret)
                }
                None => {
                    let key = RecoveryKey::generate(&mut env)?;
                    let secret = RecoverySecret::from_key(&key);
                    (recovery_id, Some(key.to_text()), None, secret)
                }
            }
        };
        let method = if passphrase.is_some() {
            RecoveryMethod::Passphrase
        } else {
            RecoveryMethod::Key
        };
        let keys = RecoveryKeys::derive(&secret, account, recovery_id)?;
        let token = self.access_token().await?;
        self.api
            .set_up_recovery(
                &token,
                &RecoverySetup {
                    recovery_id: b64(recovery_id.as_bytes()),
                    method,
                    salt: salt.map(|s| b64(&s)),
                    verifier: b64(&keys.verifier()),
                },
            )
            .await?;
        let everything = self.everything(true);
        self.state.recovery = Some(Recovery::new(
            *recovery_id.as_bytes(),
            method,
            Secret::new(keys.backup_key().danger_bytes()),
            everything,
        ));
        self.save()?;
        // The key is shown whatever the upload does: the server's set-up is this one now.
        let pending = match self.flush_backup().await {
            Ok(()) => 0,
            Err(_) => self.state.recovery.as_ref().map_or(0, Recovery::pending),
        };
        Ok(SetupReport { key, pending })
    }

    /// The server's set-up and what this device has not written yet.
    pub async fn recovery_status(&mut self) -> Result<RecoveryReport> {
        let token = self.access_token().await?;
        let status = self.api.recovery_status(&token).await?;
        let setup = status.setup.filter(|_| status.configured);
        let ours = self.state.recovery.as_ref().filter(|r| {
            setup
                .as_ref()
                .and_then(|s| unb64(&s.recovery_id, "recovery id").ok())
                .is_some_and(|id| r.recovery_id().is_some_and(|mine| mine.as_slice() == id))
        });
        Ok(RecoveryReport {
            configured: setup.is_some(),
            method: setup.as_ref().map(|s| s.method.as_str().to_owned()),
            items: setup.as_ref().map_or(0, |s| s.items),
            pending: ours.map_or(0, Recovery::pending),
        })
    }

    /// Writes the backlog to the backup as items of at most 1000 records. Entries leave the
    /// backlog only once the server stored their item. Does nothing without a set-up.
    pub async fn flush_backup(&mut self) -> Result<()> {
        let Some(recovery) = self.state.recovery.as_ref() else {
            return Ok(());
        };
        if recovery.pending() == 0 {
            return Ok(());
        }
        let recovery_id =
            RecoveryId::from_bytes(recovery.recovery_id().ok_or(Error::CorruptStore {
                reason: "recovery id",
            })?);
        let backup_key = sotto_proto::recovery::BackupKey::from_bytes(
            recovery
                .backup_key
                .bytes()?
                .as_slice()
                .try_into()
                .map_err(|_| Error::CorruptStore {
                    reason: "backup key",
                })?,
        );
        let certificate = self.own_certificate().await?;
        let account = self.account_id()?;
        let keys = self.device_keys()?;
        loop {
            let batches = self.backlog_batches(ITEMS_PER_ROUND);
            if batches.is_empty() {
                return Ok(());
            }
            let mut items = Vec::new();
            for batch in &batches {
                let records = batch
                    .iter()
                    .map(|p| self.record_of(*p))
                    .collect::<Result<Vec<_>>>()?
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>();
                if records.is_empty() {
                    continue;
                }
                let bundle = KeyBundle::new(records);
                let now = self.now()?;
                let item_id = BackupItemId::generate(&mut self.env()?)?;
                let item = BackupItem::seal(
                    &backup_key,
                    account,
                    recovery_id,
                    item_id,
                    &keys,
                    &certificate,
                    now,
                    &bundle,
                )?;
                items.push(item.encode());
            }
            let token = self.access_token().await?;
            for request in requests_of(&items) {
                self.api.store_backup_items(&token, request).await?;
            }
            if let Some(recovery) = self.state.recovery.as_mut() {
                for batch in &batches {
                    recovery.written(batch);
                }
            }
            self.save()?;
        }
    }

    /// Up to `n` item-sized batches of the backlog, without taking them out of it.
    fn backlog_batches(&self, n: usize) -> Vec<Vec<Pending>> {
        let Some(recovery) = self.state.recovery.as_ref() else {
            return Vec::new();
        };
        let all = recovery.backlog();
        all.chunks(crate::engine::backup::MAX_ITEM_RECORDS)
            .take(n)
            .map(<[Pending]>::to_vec)
            .collect()
    }

    /// Writes the backlog, if any, without letting a failure reach the caller: messaging goes
    /// on, and the next receive or send tries again.
    pub(crate) async fn flush_backup_quietly(&mut self) {
        let _ = self.flush_backup().await;
    }

    /// This device's certificate, as the server lists it.
    async fn own_certificate(&mut self) -> Result<Signed> {
        let token = self.access_token().await?;
        let me = self.device()?;
        let devices = self.api.devices(&token).await?;
        let certificate = devices
            .iter()
            .find(|d| d.device == me)
            .and_then(|d| d.certificate.as_deref())
            .ok_or(Error::BadResponse {
                what: "this device without its certificate",
            })?;
        let signed = Signed::decode(&unb64(certificate, "certificate")?, MAX_CERTIFICATE_LEN)?;
        // The certificate goes into every item this device writes: it must be this device's,
        // signed by the account.
        self.own_identity()?.verify_device(&signed, &[])?;
        Ok(signed)
    }

    /// Starts recovering `username` on this fresh profile: logs in with the password, announces
    /// a new device with its exchange key, and reads the server's set-up. Stores nothing.
    pub async fn recover_start(
        &mut self,
        username: &str,
        password: &str,
        device_name: &str,
    ) -> Result<RecoveryStart> {
        if let Some(account) = &self.state.account {
            return Err(Error::AlreadyRegistered {
                username: account.username.clone(),
            });
        }
        let login = self.api.login(username, password).await?;
        let login_token = login.login_token.into_inner();
        let entry = self
            .api
            .directory(&login_token, &login.username)
            .await?
            .ok_or_else(|| Error::UnknownUser {
                username: login.username.clone(),
            })?;
        let identity = AccountIdentity::from_master_spki(&unb64(&entry.master_key, "master key")?)?;
        let account = identity.account();
        let status = self.api.recovery_status(&login_token).await?;
        let Some(setup) = status.setup.filter(|_| status.configured) else {
            return Err(Error::RecoveryNotSetUp);
        };
        let recovery_id = RecoveryId::from_bytes(array16(
            &unb64(&setup.recovery_id, "recovery id")?,
            "a recovery id that is not 16 bytes",
        )?);
        let method = setup.method;
        let salt = match (method, setup.salt.as_deref()) {
            (RecoveryMethod::Passphrase, Some(salt)) => Some(array16(
                &unb64(salt, "salt")?,
                "a recovery salt that is not 16 bytes",
            )?),
            (RecoveryMethod::Passphrase, None) => {
                return Err(Error::BadResponse {
                    what: "a passphrase set-up without its salt",
                })
            }
            (RecoveryMethod::Key, _) => None,
        };
        let keys = DeviceKeys::generate(RsaBits::Rsa3072)?;
        let prekey = self.new_prekey_id()?;
        let (exchange, exchange_certificate) =
            crate::account::new_exchange_key(&keys, account, self.now()?, prekey)?;
        let announced = self
            .api
            .announce_device(
                &login_token,
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
        Ok(RecoveryStart {
            username: login.username,
            account,
            master_spki: entry.master_key,
            login_token,
            keys,
            exchange,
            device_name: device_name.to_owned(),
            recovery_id,
            salt,
            method,
        })
    }

    /// Finishes a recovery with the person's secret: unlocks and opens the backup, certifies
    /// this device with the master key found in it, stores the account, takes the records,
    /// revokes the other devices if asked, and fetches the history of every conversation.
    pub async fn recover_finish(
        &mut self,
        start: RecoveryStart,
        secret: SecretInput,
        revoke_others: bool,
    ) -> Result<Recovered> {
        let secret = match (&secret, start.method, start.salt) {
            (SecretInput::Key(text), RecoveryMethod::Key, _) => {
                RecoverySecret::from_key(&RecoveryKey::parse(text)?)
            }
            (SecretInput::Passphrase(text), RecoveryMethod::Passphrase, Some(salt)) => {
                RecoverySecret::from_passphrase(text, &salt)?
            }
            _ => {
                return Err(Error::InvalidInput {
                    field: "recovery secret",
                    reason: "the account's recovery uses the other method",
                })
            }
        };
        let keys = RecoveryKeys::derive(&secret, start.account, start.recovery_id)?;
        let access = keys.access_key().danger_bytes();
        let mut wires: Vec<Vec<u8>> = Vec::new();
        let mut after: i64 = 0;
        loop {
            let page = match self
                .api
                .unlock_recovery(&start.login_token, access, after)
                .await
            {
                Ok(page) => page,
                Err(Error::Api {
                    code: ErrorCode::RecoveryRejected,
                    ..
                }) => return Err(Error::RecoveryRejected),
                Err(other) => return Err(other),
            };
            for item in &page.items {
                wires.push(unb64(&item.item, "backup item")?);
            }
            match page.next {
                Some(next) if next > after => after = next,
                _ => break,
            }
        }
        let revocations: Vec<Signed> = match self
            .api
            .directory(&start.login_token, &start.username)
            .await?
        {
            Some(entry) => entry
                .revocations
                .iter()
                .filter_map(|r| unb64(r, "revocation").ok())
                .filter_map(|r| Signed::decode(&r, MAX_CERTIFICATE_LEN).ok())
                .collect(),
            None => Vec::new(),
        };
        let items: Vec<&[u8]> = wires.iter().map(Vec::as_slice).collect();
        let opened = open_backup(
            &items,
            start.account,
            start.recovery_id,
            keys.backup_key(),
            &revocations,
        )?;
        let master: MasterKey = opened.master;
        let now = self.now()?;
        let certificate = master.certify_device(
            start.keys.signing().verifying_key(),
            start.keys.auth().verifying_key(),
            &start.device_name,
            now,
        )?;
        self.api
            .upload_certificate(&start.login_token, &certificate.encode())
            .await?;
        // From here on the device exists: the profile takes the account.
        self.state.account = Some(AccountState {
            username: start.username.clone(),
            account: start.account,
            master_spki: start.master_spki.clone(),
            master_key: Some(Secret::new(&opened.master_pkcs8)),
            revocation_serial: 0,
        });
        self.state.device = Some(DeviceState {
            device: start.keys.device(),
            name: start.device_name.clone(),
            signing_key: Secret::new(&start.keys.signing().to_pkcs8()?),
            auth_key: Secret::new(&start.keys.auth().to_pkcs8()?),
            active: true,
            // Announced with the device; the server keeps it as published.
            exchange_keys: vec![start.exchange],
        });
        self.state
            .pins
            .pin_own(start.account, &start.username, start.master_spki.clone());
        // This device writes to the backup from now on: it holds the backup key.
        self.state.recovery = Some(Recovery::new(
            *start.recovery_id.as_bytes(),
            start.method,
            Secret::new(keys.backup_key().danger_bytes()),
            [],
        ));
        self.save()?;
        self.device_login(&start.login_token).await?;
        self.ensure_exchange_key().await?;
        self.ensure_prekeys().await?;
        let refused_items = opened.refused.iter().map(|r| r.error.code()).collect();
        let taken = self.take_records(opened.records).await?;
        // History first: an archived envelope is opened only under a device that verifies,
        // and a revoked device no longer does (protocol §4.6).
        let mut history = 0;
        self.refresh_conversations().await?;
        let conversations: Vec<_> = self
            .state
            .conversations
            .iter()
            .filter(|(_, c)| c.member)
            .map(|(id, _)| *id)
            .collect();
        for conversation in conversations {
            match self.fetch_history(conversation, RECOVERED_HISTORY).await {
                Ok(report) => history += report.added,
                Err(e) if e.is_refused_answer() || matches!(e, Error::NotMember) => {}
                Err(other) => return Err(other),
            }
        }
        let me = self.device()?;
        let token = self.access_token().await?;
        let others: Vec<(DeviceId, String, String)> = self
            .api
            .devices(&token)
            .await?
            .into_iter()
            // Pending announcements (an earlier attempt's) are never certified and expire.
            .filter(|d| d.device != me && d.state == ApiDeviceState::Active)
            .map(|d| (d.device, d.state.as_str().to_owned(), d.name))
            .collect();
        if revoke_others {
            for (device, _, _) in &others {
                self.revoke(&device.to_string()).await?;
            }
        }
        Ok(Recovered {
            other_devices: others,
            revoked: revoke_others,
            taken,
            refused_items,
            history,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_go_in_requests_under_the_servers_body_cap() {
        let items = vec![
            vec![0u8; 200 * 1024],
            vec![0; 200 * 1024],
            vec![0; 10],
            vec![0; 400 * 1024],
        ];
        let sizes: Vec<usize> = requests_of(&items).iter().map(|r| r.len()).collect();
        assert_eq!(sizes, vec![1, 2, 1]);
        assert!(requests_of(&[]).is_empty());
        let small = vec![vec![0u8; 10]; 100];
        let sizes: Vec<usize> = requests_of(&small).iter().map(|r| r.len()).collect();
        assert_eq!(sizes, vec![64, 36]);
    }
}
