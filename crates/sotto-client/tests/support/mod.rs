//! The malicious-server harness: the real `sotto-server` in-process on a loopback port with
//! real TLS (its self-signed certificate, trusted by pinning its fingerprint, as the CLI does),
//! real `sotto-client` profiles, and an operator who cheats by editing the server's store.
//!
//! Registering four people costs sixteen RSA-3072 key generations, so it happens once per test
//! binary: a *template* (server data folder and four profiles, plus a group "team" of alice
//! (admin), bob and carol) is built on first use, then every test copies it and starts its own
//! server on the copy. The copies keep the certificate (same pin) and the sessions.
//!
//! [`forge`] holds what a raw client — a certified member who ignores client-side checks — builds
//! by hand with the protocol core.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub mod forge;
pub mod operator;
pub mod proxy;

pub use operator::*;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use sotto_client::outbox::SendReport;
use sotto_client::store::file::{FileVault, KdfParams};
use sotto_client::store::state::ProfileState;
use sotto_client::store::Vault;
use sotto_client::sync::{Event, ReceiveOptions, ReceiveSummary};
use sotto_client::{Client, ProfileOptions};
use sotto_proto::crypto::rsa::{ExchangeKeyPair, SigningKeyPair};
use sotto_proto::identity::DeviceKeys;
use sotto_proto::ids::{AccountId, ConversationId, DeviceId};
use sotto_server::config::Config;
use sotto_server::Server;
use zeroize::Zeroizing;

/// Every test user's account password.
pub const PASSWORD: &str = "correct horse battery staple";
/// The four people of every test.
pub const NAMES: [&str; 4] = ["alice", "bob", "carol", "dave"];

/// The registered people and their group, built once per test binary.
struct Template {
    root: PathBuf,
    team: ConversationId,
}

static TEMPLATE: OnceLock<Template> = OnceLock::new();

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn config(data_dir: PathBuf) -> Config {
    let mut config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir,
        ..Config::default()
    };
    config.argon2.memory_kib = 64;
    config.argon2.iterations = 1;
    config.limits.shutdown_grace_secs = 1;
    config
}

fn passphrase(name: &str) -> String {
    format!("passphrase of {name}")
}

/// Opens the profile in `dir` (cheap profile KDF: these are throwaway test profiles).
fn open_client(dir: &Path, name: &str, url: &str, pin: &str) -> Client {
    let vault =
        FileVault::open_with(dir, passphrase(name).as_bytes(), KdfParams::danger_fast()).unwrap();
    Client::with_vault(
        ProfileOptions {
            dir: dir.to_path_buf(),
            passphrase: Zeroizing::new(passphrase(name)),
            server: Some(url.to_owned()),
            tls_pin: Some(pin.to_owned()),
        },
        Box::new(vault),
    )
    .unwrap()
}

fn template() -> &'static Template {
    TEMPLATE.get_or_init(|| {
        let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        // A static is never dropped: templates of test processes that are gone are removed here.
        for entry in std::fs::read_dir(&tmp).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix("pentest-template-") {
                if !Path::new("/proc").join(pid).exists() {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
        let root = tmp.join(format!("pentest-template-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let rt = runtime();
        let server = rt
            .block_on(sotto_server::start(config(root.join("data"))))
            .unwrap();
        let url = format!("https://127.0.0.1:{}", server.local_addr.port());
        let pin = server.cert.fingerprint.clone();
        // Key generation dominates: the four registrations run side by side.
        let mut clients: Vec<Client> = std::thread::scope(|s| {
            let handles: Vec<_> = NAMES
                .iter()
                .map(|name| {
                    let (rt, root, url, pin) = (&rt, &root, &url, &pin);
                    s.spawn(move || {
                        let mut client = open_client(&root.join(name), name, url, pin);
                        rt.block_on(client.register(name, PASSWORD, "laptop"))
                            .unwrap();
                        client
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let team = rt
            .block_on(clients[0].create_group("team", &["bob".into(), "carol".into()], false))
            .unwrap();
        // Bob and carol accept the team (alice is no contact of theirs yet, so it starts as a
        // request), then take its name (its first message, protocol §6.5) and alice's chain
        // key, so every test starts from empty queues.
        for client in &mut clients[1..3] {
            rt.block_on(client.accept(team)).unwrap();
            let mut options = ReceiveOptions::new(root.join("downloads"));
            options.quiet = Duration::from_millis(800);
            rt.block_on(client.receive(&options, &mut |_| {})).unwrap();
        }
        drop(clients.drain(..));
        rt.block_on(server.stop()).unwrap();
        Template { root, team }
    })
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else if entry.file_name() != "lock" {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// One person: a `sotto-client` profile, and the keys the test holds for forging as them.
pub struct User {
    pub name: &'static str,
    pub dir: PathBuf,
    url: String,
    pin: String,
    client: Option<Client>,
    /// The device runs protocol version 1 (version-1 certificates, no prekeys).
    v1: bool,
    pub account: AccountId,
    pub device: DeviceId,
    signing_pkcs8: Zeroizing<Vec<u8>>,
    auth_pkcs8: Zeroizing<Vec<u8>>,
    exchange_pkcs8: Zeroizing<Vec<u8>>,
    master_pkcs8: Zeroizing<Vec<u8>>,
}

impl User {
    fn load(name: &'static str, dir: PathBuf, url: &str, pin: &str) -> Self {
        let vault =
            FileVault::open_with(&dir, passphrase(name).as_bytes(), KdfParams::danger_fast())
                .unwrap();
        let state = ProfileState::from_bytes(&vault.load().unwrap().unwrap()).unwrap();
        drop(vault);
        let account = state.account.as_ref().unwrap().account;
        let device_state = state.device.as_ref().unwrap();
        Self {
            name,
            url: url.to_owned(),
            pin: pin.to_owned(),
            client: None,
            v1: false,
            account,
            device: device_state.device,
            signing_pkcs8: device_state.signing_key.bytes().unwrap(),
            auth_pkcs8: device_state.auth_key.bytes().unwrap(),
            exchange_pkcs8: device_state
                .exchange_keys
                .last()
                .unwrap()
                .key
                .bytes()
                .unwrap(),
            master_pkcs8: state
                .account
                .as_ref()
                .and_then(|a| a.master_key.as_ref())
                .unwrap()
                .bytes()
                .unwrap(),
            dir,
        }
    }

    /// The client, opened on first use (and again after [`User::restart`]).
    pub fn c(&mut self) -> &mut Client {
        if self.client.is_none() {
            let mut client = open_client(&self.dir, self.name, &self.url, &self.pin);
            if self.v1 {
                client.set_protocol_v1();
            }
            self.client = Some(client);
        }
        self.client.as_mut().unwrap()
    }

    /// Points this profile at another server URL (a proxy); takes effect from the next use.
    pub fn use_server(&mut self, url: &str) {
        self.restart();
        self.url = url.to_owned();
    }

    /// Closes the client, as when the program exits; the next use opens the profile again.
    pub fn restart(&mut self) {
        self.client = None;
    }

    /// This device's signing and auth keys (what a raw client of this person signs with).
    pub fn keys(&self) -> DeviceKeys {
        DeviceKeys::from_keys(
            SigningKeyPair::from_pkcs8(&self.signing_pkcs8).unwrap(),
            SigningKeyPair::from_pkcs8(&self.auth_pkcs8).unwrap(),
        )
        .unwrap()
    }

    /// The account's master key (every test account's first device holds it).
    pub fn master(&self) -> sotto_proto::identity::MasterKey {
        sotto_proto::identity::MasterKey::from_key(
            SigningKeyPair::from_pkcs8(&self.master_pkcs8).unwrap(),
        )
    }

    /// This device's newest exchange key pair.
    pub fn exchange(&self) -> ExchangeKeyPair {
        ExchangeKeyPair::from_pkcs8(&self.exchange_pkcs8).unwrap()
    }

    /// Receives until the socket is quiet, collecting the events a user would see.
    pub fn recv(&mut self, rt: &tokio::runtime::Runtime) -> Received {
        self.try_recv(rt).unwrap()
    }

    /// [`User::recv`], which may fail.
    pub fn try_recv(&mut self, rt: &tokio::runtime::Runtime) -> sotto_client::Result<Received> {
        let mut options = ReceiveOptions::new(self.dir.join("downloads"));
        // Long enough that a loaded machine handling one payload does not end the run early.
        options.quiet = Duration::from_millis(800);
        let mut events = Vec::new();
        // The connection-state event is not something a message test asserts on.
        let summary = rt.block_on(self.c().receive(&options, &mut |e| {
            if !matches!(e, Event::Connected) {
                events.push(e);
            }
        }))?;
        Ok(Received { events, summary })
    }

    /// Sends `text` to `target` (a `conv:` id or a username).
    pub fn send(
        &mut self,
        rt: &tokio::runtime::Runtime,
        target: &str,
        text: &str,
    ) -> sotto_client::Result<SendReport> {
        rt.block_on(self.c().send_text(target, text, false))
    }

    /// The verified group state of `conversation`, brought up to date.
    pub fn group(
        &mut self,
        rt: &tokio::runtime::Runtime,
        conversation: ConversationId,
    ) -> sotto_proto::group::GroupState {
        rt.block_on(self.c().sync_group(conversation)).unwrap()
    }

    /// What this client's directory lookup of `name` verified and refused.
    pub fn lookup(
        &mut self,
        rt: &tokio::runtime::Runtime,
        name: &str,
    ) -> sotto_client::Result<sotto_client::peers::PeerDevices> {
        rt.block_on(self.c().lookup(sotto_client::peers::Who::Name(name), false))
    }

    /// Texts in this device's history (sent and received), oldest first.
    pub fn history(&mut self) -> Vec<String> {
        self.c().history().map(|d| d.text.to_string()).collect()
    }
}

/// What one receive run reported.
#[derive(Debug, Default)]
pub struct Received {
    pub events: Vec<Event>,
    pub summary: ReceiveSummary,
}

impl Received {
    /// Texts of the messages shown.
    pub fn texts(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Message(m) => Some(m.text.to_string()),
                _ => None,
            })
            .collect()
    }

    /// `(from, text)` of the messages shown.
    pub fn messages(&self) -> Vec<(String, String)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Message(m) => Some((m.from.clone(), m.text.to_string())),
                _ => None,
            })
            .collect()
    }

    /// Reason codes of the failures reported.
    pub fn failures(&self) -> Vec<&'static str> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Failure { reason, .. } => Some(*reason),
                _ => None,
            })
            .collect()
    }

    /// `(from, missing)` of the gaps reported.
    pub fn gaps(&self) -> Vec<(String, usize)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Gap { from, missing } => Some((from.clone(), *missing)),
                _ => None,
            })
            .collect()
    }

    /// How many replays were dropped.
    pub fn replays(&self) -> usize {
        self.events
            .iter()
            .filter(|e| matches!(e, Event::Replay { .. }))
            .count()
    }
}

/// A test's world: its own server (a copy of the template) and the four people.
pub struct World {
    pub rt: tokio::runtime::Runtime,
    server: Option<Server>,
    pub dir: tempfile::TempDir,
    pub url: String,
    pub pin: String,
    /// The group "team": alice (admin), bob, carol.
    pub team: ConversationId,
    pub alice: User,
    pub bob: User,
    pub carol: User,
    pub dave: User,
}

impl Drop for World {
    fn drop(&mut self) {
        for user in [
            &mut self.alice,
            &mut self.bob,
            &mut self.carol,
            &mut self.dave,
        ] {
            user.restart();
        }
        if let Some(server) = self.server.take() {
            let _ = self.rt.block_on(server.stop());
        }
    }
}

impl World {
    /// The server's socket address.
    pub fn server_addr(&self) -> std::net::SocketAddr {
        self.server.as_ref().unwrap().local_addr
    }

    /// Registers `name` on this world's server (four RSA keys: slow); with `v1`, as a device
    /// that runs protocol version 1 (version-1 certificates, no prekeys).
    pub fn register(&self, name: &'static str, v1: bool) -> User {
        let dir = self.dir.path().join(name);
        let mut client = open_client(&dir, name, &self.url, &self.pin);
        if v1 {
            client.set_protocol_v1();
        }
        self.rt
            .block_on(client.register(name, PASSWORD, "laptop"))
            .unwrap();
        drop(client);
        let mut user = User::load(name, dir, &self.url, &self.pin);
        user.v1 = v1;
        user
    }

    /// A fresh copy of the template with its own server.
    pub fn new() -> Self {
        let template = template();
        let dir = tempfile::tempdir().unwrap();
        copy_dir(&template.root, dir.path());
        let rt = runtime();
        let server = rt
            .block_on(sotto_server::start(config(dir.path().join("data"))))
            .unwrap();
        let url = format!("https://127.0.0.1:{}", server.local_addr.port());
        let pin = server.cert.fingerprint.clone();
        let user = |name: &'static str| User::load(name, dir.path().join(name), &url, &pin);
        let (alice, bob, carol, dave) = (user("alice"), user("bob"), user("carol"), user("dave"));
        Self {
            rt,
            server: Some(server),
            url: url.clone(),
            pin: pin.clone(),
            team: template.team,
            alice,
            bob,
            carol,
            dave,
            dir,
        }
    }
}
