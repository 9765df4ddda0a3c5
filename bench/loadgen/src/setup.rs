//! Accounts, devices, tickets and 1:1 conversations, written straight into the store before
//! the server starts (no RSA key generation, no sign-up rate limit), and the envelopes the
//! devices send.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use futures_util::StreamExt;
use sotto_proto::envelope::EnvelopeHeader;
use sotto_proto::ids::{AccountId, ChainId, ConversationId, DeviceId, MessageId};
use sotto_proto::signed::SignedSealed;
use sotto_server::auth::tokens::{self, random};
use sotto_server::config::Config;
use sotto_server::store::{
    ChangeRecord, DeviceRecord, DeviceState, NewMember, SessionId, SessionRecord, Store, UserId,
};

/// Store writes in progress at once during setup (the store serialises its own commits; this
/// keeps its connections busy while one of them commits).
const SETUP_CONCURRENCY: usize = 16;
/// Up to this many devices, every pair shares a conversation (the relay figures' workload);
/// above it, each device talks to [`RING_PEERS`] neighbours, so setup stays linear.
pub const ALL_PAIRS_UP_TO: usize = 200;
/// Peers per device above [`ALL_PAIRS_UP_TO`] devices.
pub const RING_PEERS: usize = 16;

pub struct Device {
    pub user: UserId,
    pub account: AccountId,
    pub device: DeviceId,
    pub ticket: String,
}

/// Where the setup writes. Every store write commits with `synchronous = FULL`, so a SQLite
/// setup of tens of thousands of devices would spend minutes in `fsync`: a SQLite database the
/// generator starts a server on is built in memory (`/dev/shm`) and copied into the server's
/// data folder once closed, so the server under load still runs on the real disk.
pub struct Staging {
    /// The configuration the setup opens its store with.
    config: Config,
    /// The in-memory folder, when staged.
    dir: Option<tempfile::TempDir>,
}

impl Staging {
    /// Stages a SQLite setup for a server started here; PostgreSQL and `--attach` write in place.
    pub fn for_config(config: &Config, attached: bool) -> Self {
        let memory = Path::new("/dev/shm");
        let in_place = Self {
            config: config.clone(),
            dir: None,
        };
        if attached || config.database_url.is_some() || !memory.is_dir() {
            return in_place;
        }
        let Ok(dir) = tempfile::tempdir_in(memory) else {
            return in_place;
        };
        let mut staged = config.clone();
        staged.data_dir = dir.path().to_path_buf();
        Self {
            config: staged,
            dir: Some(dir),
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Copies the closed staged database into `config`'s data folder.
    pub fn finish(self, config: &Config) {
        if self.dir.is_none() {
            return;
        }
        for name in ["sotto.db", "sotto.db-wal"] {
            let from = self.config.data_dir.join(name);
            if from.exists() {
                std::fs::copy(&from, config.data_dir.join(name)).unwrap();
            }
        }
    }
}

/// One account with one active device, a session and a single-use WebSocket ticket.
async fn device(store: &dyn Store, i: usize) -> Device {
    let user = store
        .create_user(&format!("user{i}"), "unused", 0)
        .await
        .unwrap();
    let account = AccountId::from_bytes(random().unwrap());
    store
        .set_master_key(user, &account, &random::<32>().unwrap())
        .await
        .unwrap();
    let device = DeviceId::from_bytes(random().unwrap());
    store
        .activate_device(&DeviceRecord {
            device,
            user,
            state: DeviceState::Active,
            signing_key: vec![],
            auth_key: vec![],
            name: "bench".into(),
            certificate: Some(vec![]),
            exchange_cert: None,
            exchange_serial: None,
            created_at: 0,
        })
        .await
        .unwrap();
    let session = SessionId(random().unwrap());
    store
        .insert_session(&SessionRecord {
            id: session,
            user,
            device: Some(device),
            access_hash: random().unwrap(),
            access_expires: i64::MAX,
            refresh_hash: None,
            refresh_expires: i64::MAX,
            previous_refresh_hash: None,
            pair_used_at: None,
            created_at: 0,
        })
        .await
        .unwrap();
    let (ticket, hash) = tokens::issue(tokens::TokenKind::Ticket).unwrap();
    store
        .insert_ticket(&hash, &session, i64::MAX)
        .await
        .unwrap();
    Device {
        user,
        account,
        device,
        ticket: ticket.expose().to_owned(),
    }
}

/// The devices' tickets, in order (what [`crate::connect::connect`] logs them in with).
pub fn tickets(devices: &[Device]) -> Vec<&str> {
    devices.iter().map(|d| d.ticket.as_str()).collect()
}

/// `count` devices, in order, with a progress line every 10,000.
pub async fn devices(store: Arc<dyn Store>, count: usize) -> Vec<Device> {
    let mut made = futures_util::stream::iter(0..count)
        .map(|i| {
            let store = store.clone();
            async move { device(store.as_ref(), i).await }
        })
        .buffered(SETUP_CONCURRENCY);
    let mut all = Vec::with_capacity(count);
    while let Some(d) = made.next().await {
        all.push(d);
        if all.len() % 10_000 == 0 {
            eprintln!("setup: {} of {count} devices", all.len());
        }
    }
    all
}

/// The devices `me` sends to in the relay modes (see [`ALL_PAIRS_UP_TO`]).
pub fn peers_of(me: usize, devices: usize) -> Vec<usize> {
    if devices <= ALL_PAIRS_UP_TO {
        return (0..devices).filter(|&p| p != me).collect();
    }
    let mut peers: Vec<usize> = (1..=RING_PEERS / 2)
        .flat_map(|d| [(me + d) % devices, (me + devices - d) % devices])
        .collect();
    peers.sort_unstable();
    peers.dedup();
    peers
}

/// Creates one accepted 1:1 conversation for every pair (each pair once, in either order).
pub async fn conversations(store: Arc<dyn Store>, all: &[Device], pairs: &[(usize, usize)]) {
    let mut seen = HashSet::new();
    let unique: Vec<(usize, usize)> = pairs
        .iter()
        .map(|&(a, b)| (a.min(b), a.max(b)))
        .filter(|pair| seen.insert(*pair))
        .collect();
    let mut made = futures_util::stream::iter(unique)
        .map(|(a, b)| {
            let store = store.clone();
            let (author, ua, ub) = (all[a].device, all[a].user, all[b].user);
            async move {
                let genesis = ChangeRecord {
                    epoch: 0,
                    change: vec![],
                    author,
                    created_at: 0,
                };
                // Set up as contacts: the load measures the relay, not consent.
                let members = [NewMember::accepted(ua), NewMember::accepted(ub)];
                store
                    .create_conversation(&conv_id(a, b), &genesis, ua, &members)
                    .await
                    .unwrap();
            }
        })
        .buffer_unordered(SETUP_CONCURRENCY);
    while made.next().await.is_some() {}
}

/// The conversation of devices `a` and `b`.
pub fn conv_id(a: usize, b: usize) -> ConversationId {
    let (lo, hi) = if a < b { (a, b) } else { (b, a) };
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&(lo as u64).to_be_bytes());
    bytes[8..].copy_from_slice(&(hi as u64).to_be_bytes());
    ConversationId::from_bytes(bytes)
}

/// A structurally real envelope (header naming the sender, conversation and message id, a
/// padded ciphertext, a 384-byte signature field) with constant bytes as ciphertext and
/// signature, which is all the relay can see anyway.
pub fn envelope(conv: ConversationId, from: &Device, message: MessageId) -> Vec<u8> {
    let header = EnvelopeHeader {
        conversation: conv,
        epoch: 0,
        sender_account: from.account,
        sender_device: from.device,
        chain: ChainId::from_bytes([7; 16]),
        index: 0,
        sent_at: sotto_server::clock::now(),
        message_id: message,
        padded_len: 256,
    };
    let ciphertext = vec![0x5a; 256 + 16];
    SignedSealed::from_parts(header.encode(), ciphertext, vec![0xa5; 384]).encode()
}
