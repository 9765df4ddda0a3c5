//! [`Client`]: one profile, its server, and the operations every command builds on (saving the
//! snapshot, the clock, randomness, and this device's keys).

use std::path::{Path, PathBuf};

use sotto_proto::crypto::rsa::{ExchangeKeyPair, SigningKeyPair};
use sotto_proto::identity::{DeviceKeys, MasterKey};
use sotto_proto::ids::{AccountId, DeviceId};
use sotto_proto::{Env, SystemRng, Timestamp};
use zeroize::Zeroizing;

use crate::api::Api;
use crate::error::{Error, Result};
use crate::store::file::FileVault;
use crate::store::state::{AccountState, DeviceState, ProfileState};
use crate::store::Vault;
use crate::tls::{Fingerprint, Trust};

/// The server used when none is given.
pub const DEFAULT_SERVER: &str = "https://127.0.0.1:8443";

/// How to open a profile.
pub struct ProfileOptions {
    /// The profile folder.
    pub dir: PathBuf,
    /// The passphrase that encrypts it.
    pub passphrase: Zeroizing<String>,
    /// `--server`, when given explicitly.
    pub server: Option<String>,
    /// `--tls-pin`, when given explicitly (remembered in the profile).
    pub tls_pin: Option<String>,
}

impl std::fmt::Debug for ProfileOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProfileOptions")
            .field("dir", &self.dir)
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

/// A hash of this machine's id and the profile's absolute path.
fn home_of(dir: &Path) -> String {
    let machine = std::fs::read("/etc/machine-id").unwrap_or_default();
    let path = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let digest = sotto_proto::crypto::sha256_parts(&[
        b"sotto profile home v1",
        &machine,
        path.as_os_str().as_encoded_bytes(),
    ]);
    hex::encode(digest)
}

/// One device's client: its profile, held open (and locked) for the life of the value.
pub struct Client {
    pub(crate) dir: PathBuf,
    vault: Box<dyn Vault>,
    pub(crate) state: ProfileState,
    pub(crate) api: Api,
    pub(crate) rng: SystemRng,
    /// Conversations whose group log was fetched during this run (membership is checked
    /// against the current state, so each is brought up to date once per run).
    pub(crate) fresh: std::collections::BTreeSet<String>,
    /// Devices verified and directory entries refused during this run (see
    /// [`Client::take_directory_warnings`]).
    pub(crate) directory: crate::engine::Directory,
    /// Conversations that were pending requests when the server was last asked (see
    /// [`crate::requests`]).
    pub(crate) requests: std::collections::BTreeSet<sotto_proto::ids::ConversationId>,
    /// Added to the wall clock (ms). Zero unless a test sets it: the chaos suite runs clients
    /// whose clocks are off by an hour to check the protocol's skew tolerance.
    clock_offset_ms: i64,
    /// Publish version-1 exchange-key certificates and no prekeys, as a device that does not
    /// run version 2 (§18.1). False unless a test sets it ([`Client::set_protocol_v1`]), to
    /// check that the versions coexist.
    pub(crate) protocol_v1: bool,
    /// The state changed in ways that must be written before the payloads that changed it are
    /// acknowledged ([`Client::save_before_ack`]), and has not been written since.
    unsaved: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Opens (or starts) the profile in `options.dir`.
    pub fn open(options: ProfileOptions) -> Result<Self> {
        let vault = FileVault::open(&options.dir, options.passphrase.as_bytes())?;
        let mut client = Self::with_vault(options, Box::new(vault))?;
        // Nothing past its conversation's retention outlives a restart (protocol §6.7).
        if client.state.account.is_some() {
            client.apply_retention()?;
        }
        Ok(client)
    }

    /// Opens a profile kept in `vault`.
    pub fn with_vault(options: ProfileOptions, vault: Box<dyn Vault>) -> Result<Self> {
        let mut state = match vault.load()? {
            Some(bytes) => ProfileState::from_bytes(&bytes)?,
            None => ProfileState::default(),
        };
        if let Some(server) = &options.server {
            state.server = server.trim_end_matches('/').to_owned();
        }
        if state.server.is_empty() {
            state.server = DEFAULT_SERVER.to_owned();
        }
        if let Some(pin) = &options.tls_pin {
            state.tls_pin = Some(Fingerprint::parse(pin)?.to_string());
        }
        let home = home_of(&options.dir);
        if state.home.as_deref() != Some(home.as_str()) {
            // A new profile, or one copied from another machine or folder: never continue a
            // sender chain that another copy may also continue.
            for conversation in state.conversations.values_mut() {
                conversation.chain = None;
            }
            state.home = Some(home);
        }
        let pin = state
            .tls_pin
            .as_deref()
            .map(Fingerprint::parse)
            .transpose()?;
        let api = Api::new(&state.server, Trust::new(pin)?)?;
        Ok(Self {
            dir: options.dir,
            vault,
            state,
            api,
            rng: SystemRng::new(),
            fresh: Default::default(),
            directory: Default::default(),
            requests: Default::default(),
            clock_offset_ms: 0,
            protocol_v1: false,
            unsaved: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Writes the snapshot durably.
    pub fn save(&self) -> Result<()> {
        self.vault.save(&self.state.to_bytes()?)?;
        self.unsaved
            .store(false, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// Marks the state as changed by a payload that is not acknowledged yet: a refusal counted,
    /// a payload held. It is written once for a batch of payloads, by [`Client::save_pending`]
    /// before their acknowledgement, instead of once per payload (a backlog of thousands of
    /// forged envelopes would otherwise cost thousands of synced writes of the whole profile).
    pub(crate) fn save_before_ack(&self) {
        self.unsaved
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Writes the state if a payload changed it since the last write.
    pub(crate) fn save_pending(&self) -> Result<()> {
        if self.unsaved.load(std::sync::atomic::Ordering::Relaxed) {
            self.save()?;
        }
        Ok(())
    }

    /// The profile folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The server URL.
    pub fn server(&self) -> &str {
        &self.state.server
    }

    /// The pinned certificate fingerprint, if any.
    pub fn tls_pin(&self) -> Option<&str> {
        self.state.tls_pin.as_deref()
    }

    /// The account's username, once known.
    pub fn username(&self) -> Option<&str> {
        self.state.account.as_ref().map(|a| a.username.as_str())
    }

    /// Messages this device could not decrypt in the end.
    pub fn undecryptable(&self) -> u64 {
        self.state.undecryptable
    }

    /// Payloads held: for a key or epoch that has not arrived yet, or for a decision about a
    /// changed identity ([`Client::held_for_identity`]).
    pub fn held(&self) -> usize {
        self.state.held.len()
    }

    /// Messages waiting in the outbox.
    pub fn outbox_len(&self) -> usize {
        self.state.outbox.len()
    }

    /// This device's id, once it has keys.
    pub fn device_id(&self) -> Option<DeviceId> {
        self.state.device.as_ref().map(|d| d.device)
    }

    /// Whether this device has been approved.
    pub fn device_active(&self) -> bool {
        self.state.device.as_ref().is_some_and(|d| d.active)
    }

    /// Whether this device holds the master key.
    pub fn holds_master_key(&self) -> bool {
        self.state
            .account
            .as_ref()
            .is_some_and(|a| a.master_key.is_some())
    }

    /// The wall clock (plus the test offset, if one was set).
    pub fn now(&self) -> Result<Timestamp> {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|_| Error::Clock)?;
        let millis = i64::try_from(since.as_millis()).map_err(|_| Error::Clock)?;
        let skewed = millis
            .checked_add(self.clock_offset_ms)
            .ok_or(Error::Clock)?;
        Ok(Timestamp(u64::try_from(skewed).map_err(|_| Error::Clock)?))
    }

    /// Test knob: makes this client's clock run `offset_ms` ahead (negative: behind) of the
    /// machine's, as a device with a badly set clock would. Never set outside tests.
    pub fn set_clock_offset_ms(&mut self, offset_ms: i64) {
        self.clock_offset_ms = offset_ms;
    }

    /// Test knob: makes this device behave as one that runs protocol version 1 (§18.1): it
    /// certifies its exchange keys with version-1 certificates and uploads no prekeys. Set it
    /// before the device registers or logs in.
    #[cfg(feature = "test-util")]
    pub fn set_protocol_v1(&mut self) {
        self.protocol_v1 = true;
    }

    /// The protocol version this device publishes its exchange keys with: 2, or 1 on a device
    /// made to run version 1.
    pub fn protocol_version(&self) -> u8 {
        if self.protocol_v1 {
            1
        } else {
            2
        }
    }

    /// A fresh random prekey id, or none on a device that runs version 1 (it makes no prekeys).
    pub(crate) fn new_prekey_id(&mut self) -> Result<Option<sotto_proto::ids::PrekeyId>> {
        if self.protocol_v1 {
            return Ok(None);
        }
        Ok(Some(sotto_proto::ids::PrekeyId::from_bytes(
            self.random16()?,
        )))
    }

    /// Drops every pooled connection to the server: after a dead (half-open) connection or a
    /// timeout, the pooled ones most likely took the same dead path, and each would otherwise
    /// hold a request for the whole request timeout.
    pub fn reset_connections(&mut self) -> Result<()> {
        self.api = Api::new(&self.state.server, self.api.trust().clone())?;
        Ok(())
    }

    /// Messages waiting in the outbox, oldest first.
    pub fn outbox(&self) -> impl Iterator<Item = &crate::store::state::OutboxItem> {
        self.state.outbox.iter()
    }

    /// A protocol environment (time and randomness).
    pub(crate) fn env(&mut self) -> Result<Env<'_>> {
        let now = self.now()?;
        Ok(Env::new(now, &mut self.rng))
    }

    /// Sixteen fresh random bytes.
    pub(crate) fn random16(&mut self) -> Result<[u8; 16]> {
        Ok(self.env()?.random::<16>()?)
    }

    pub(crate) fn account_state(&self) -> Result<&AccountState> {
        self.state.account.as_ref().ok_or(Error::NoAccount)
    }

    pub(crate) fn account_id(&self) -> Result<AccountId> {
        Ok(self.account_state()?.account)
    }

    pub(crate) fn device_state(&self) -> Result<&DeviceState> {
        self.state.device.as_ref().ok_or(Error::NoAccount)
    }

    pub(crate) fn device(&self) -> Result<DeviceId> {
        Ok(self.device_state()?.device)
    }

    /// This device's signing and auth keys.
    pub(crate) fn device_keys(&self) -> Result<DeviceKeys> {
        let d = self.device_state()?;
        let signing = SigningKeyPair::from_pkcs8(&d.signing_key.bytes()?)?;
        let auth = SigningKeyPair::from_pkcs8(&d.auth_key.bytes()?)?;
        Ok(DeviceKeys::from_keys(signing, auth)?)
    }

    /// The master key, on the device that holds it.
    pub(crate) fn master_key(&self) -> Result<MasterKey> {
        let secret = self
            .account_state()?
            .master_key
            .as_ref()
            .ok_or(Error::NoMasterKey)?;
        Ok(MasterKey::from_key(SigningKeyPair::from_pkcs8(
            &secret.bytes()?,
        )?))
    }

    /// Every exchange key pair this device still holds.
    pub(crate) fn exchange_keys(&self) -> Result<Vec<ExchangeKeyPair>> {
        self.device_state()?
            .exchange_keys
            .iter()
            .map(|k| Ok(ExchangeKeyPair::from_pkcs8(&k.key.bytes()?)?))
            .collect()
    }

    /// Messages sent and received on this device, oldest first.
    pub fn history(&self) -> impl Iterator<Item = &crate::store::state::Delivered> {
        self.state.history.iter()
    }

    /// The API client.
    pub fn api(&self) -> &Api {
        &self.api
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::store::state::{Conversation, Secret};
    use crate::store::MemoryVault;
    use sotto_proto::ids::ConversationId;

    fn options(dir: &Path) -> ProfileOptions {
        ProfileOptions {
            dir: dir.to_path_buf(),
            passphrase: Zeroizing::new("unused".to_owned()),
            server: None,
            tls_pin: None,
        }
    }

    #[test]
    fn a_profile_found_in_another_place_starts_new_sender_chains() {
        let dir = tempfile::tempdir().unwrap();
        let mut state = ProfileState::default();
        state.conversations.insert(
            ConversationId::from_bytes([1; ConversationId::LEN]),
            Conversation {
                group: None,
                chain: Some(Secret::new(b"chain state")),
                member: true,
                ..Conversation::default()
            },
        );
        state.home = Some(home_of(dir.path()));
        let vault = MemoryVault::default();
        vault.save(&state.to_bytes().unwrap()).unwrap();
        let here = Client::with_vault(options(dir.path()), Box::new(vault)).unwrap();
        assert!(here.state.conversations.values().all(|c| c.chain.is_some()));
        assert_eq!(here.server(), DEFAULT_SERVER);

        let elsewhere = tempfile::tempdir().unwrap();
        let vault = MemoryVault::default();
        vault.save(&state.to_bytes().unwrap()).unwrap();
        let copy = Client::with_vault(options(elsewhere.path()), Box::new(vault)).unwrap();
        assert!(copy.state.conversations.values().all(|c| c.chain.is_none()));
    }

    #[test]
    fn an_explicit_pin_is_remembered_and_a_bad_one_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = options(dir.path());
        opts.tls_pin = Some("ab".repeat(32));
        let client = Client::with_vault(opts, Box::new(MemoryVault::default())).unwrap();
        assert_eq!(
            client.tls_pin(),
            Some("AB:".repeat(31).as_str().to_owned() + "AB").as_deref()
        );
        let mut opts = options(dir.path());
        opts.tls_pin = Some("nope".to_owned());
        assert!(matches!(
            Client::with_vault(opts, Box::new(MemoryVault::default())),
            Err(Error::BadPin)
        ));
    }
}
