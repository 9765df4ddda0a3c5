//! Relay load generator. It prepares accounts, devices, 1:1 conversations and WebSocket tickets
//! straight in the store (no RSA key generation), starts `sotto-server` as a **separate
//! process** on a loopback port (real TLS), logs N devices in over WSS and has them exchange M
//! envelopes with random 1:1 recipients, in a closed loop (a window of unacknowledged sends per
//! device) or an open loop (a fixed total rate). It prints delivered messages/s, send-to-receive
//! latency percentiles, and the server process's CPU time and peak memory (from
//! `/proc/<pid>/stat` and `/proc/<pid>/status`), next to its own CPU time.
//!
//! ```text
//! cargo build --release -p sotto-server -p sotto-loadgen
//! target/release/loadgen closed 100 100000 10
//! target/release/loadgen open 100 100000 5000
//! target/release/loadgen closed 100 100000 10 --database-url postgres://postgres@127.0.0.1:5432/test
//! target/release/loadgen prekeys 200 1 8
//! ```
//!
//! `prekeys DEVICES BATCH CLAIMERS` measures one-time prekeys instead (`prekeys.rs`): uploads
//! of 100 signed prekeys by real devices, and claims naming BATCH devices each by CLAIMERS
//! concurrent clients until the DEVICES devices' prekeys are gone.
//!
//! Options: `--server PATH` (default: `sotto-server` next to this binary), `--database-url URL`
//! (PostgreSQL; a fresh schema is created and dropped), `--attach PID --listen ADDR
//! --data-dir DIR` to drive a server that is already running with that data folder (the
//! setup rows are written into its database; its CPU and memory are read from PID).
//!
//! Envelopes are structurally real `sotto-proto` envelopes (header naming the sender,
//! conversation and message id, a padded ciphertext, a 384-byte signature field) with
//! constant bytes as ciphertext and signature, which is all the relay can see anyway. In the
//! open loop, latency is measured from the time a send was *scheduled*, so a generator that
//! falls behind shows it in the figures instead of hiding it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod prekeys;

use std::collections::HashMap;
use std::io::BufRead;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use sotto_proto::envelope::EnvelopeHeader;
use sotto_proto::ids::{AccountId, ChainId, ConversationId, DeviceId, MessageId};
use sotto_proto::signed::SignedSealed;
use sotto_server::auth::tokens::{self, random};
use sotto_server::store::{
    ChangeRecord, DeviceRecord, DeviceState, NewMember, SessionId, SessionRecord, Store, UserId,
};
use sotto_wire::{ClientFrame, Secret, ServerFrame};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

struct Device {
    user: UserId,
    account: AccountId,
    device: DeviceId,
    ticket: String,
}

/// Send times by message id, sharded so 100 sockets do not queue on one lock.
struct Clock {
    shards: Vec<Mutex<HashMap<MessageId, Instant>>>,
}

impl Clock {
    fn new() -> Self {
        Self {
            shards: (0..64).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }
    fn shard(&self, id: &MessageId) -> &Mutex<HashMap<MessageId, Instant>> {
        &self.shards[usize::from(id.as_bytes()[0]) % self.shards.len()]
    }
    fn put(&self, id: MessageId, at: Instant) {
        self.shard(&id).lock().unwrap().insert(id, at);
    }
    fn take(&self, id: &MessageId) -> Option<Instant> {
        self.shard(id).lock().unwrap().remove(id)
    }
}

fn envelope(conv: ConversationId, from: &Device, message: MessageId) -> Vec<u8> {
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

fn conv_id(a: usize, b: usize) -> ConversationId {
    let (lo, hi) = if a < b { (a, b) } else { (b, a) };
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&(lo as u64).to_be_bytes());
    bytes[8..].copy_from_slice(&(hi as u64).to_be_bytes());
    ConversationId::from_bytes(bytes)
}

fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// User plus system CPU seconds of a process.
fn cpu_seconds(pid: &str, hz: f64) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / hz
}

/// A `/proc/<pid>/status` field in MiB (`VmHWM` is the peak resident set).
fn status_mib(pid: &str, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Bytes a process caused to be written to storage so far (`write_bytes` of `/proc/<pid>/io`).
fn write_bytes(pid: &str) -> u64 {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).unwrap_or_default();
    io.lines()
        .find_map(|l| l.strip_prefix("write_bytes:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

struct Cell(u64);

impl Cell {
    /// A cheap per-task pseudo-random stream (xorshift), seeded from the OS.
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// An `ack` frame for the ids collected so far (and forgets them).
fn ack_frame(acks: &mut Vec<MessageId>) -> String {
    ClientFrame::Ack {
        message_ids: std::mem::take(acks),
    }
    .to_json()
}

struct Options {
    mode: String,
    devices: usize,
    messages: usize,
    knob: usize,
    server: Option<PathBuf>,
    database_url: Option<String>,
    attach: Option<String>,
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
}

fn options() -> Options {
    let mut positional = Vec::new();
    let mut o = Options {
        mode: String::new(),
        devices: 100,
        messages: 100_000,
        knob: 0,
        server: None,
        database_url: None,
        attach: None,
        listen: None,
        data_dir: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--server" => o.server = Some(PathBuf::from(value())),
            "--database-url" => o.database_url = Some(value()),
            "--attach" => o.attach = Some(value()),
            "--listen" => o.listen = Some(value().parse().expect("--listen ADDR")),
            "--data-dir" => o.data_dir = Some(PathBuf::from(value())),
            _ => positional.push(arg),
        }
    }
    o.mode = positional
        .first()
        .cloned()
        .unwrap_or_else(|| "closed".into());
    assert!(
        o.mode == "closed" || o.mode == "open" || o.mode == "prekeys",
        "mode is closed, open or prekeys"
    );
    if let Some(v) = positional.get(1) {
        o.devices = v.parse().expect("devices");
    }
    if let Some(v) = positional.get(2) {
        o.messages = v.parse().expect("messages");
    } else if o.mode == "prekeys" {
        // The devices one claim names.
        o.messages = 1;
    }
    o.knob = positional
        .get(3)
        .map(|v| v.parse().expect("window or rate"))
        .unwrap_or(match o.mode.as_str() {
            "open" => 5000,
            "prekeys" => 8,
            _ => 10,
        });
    o
}

async fn setup(store: &dyn Store, devices: usize) -> Vec<Device> {
    let mut all = Vec::with_capacity(devices);
    for i in 0..devices {
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
        all.push(Device {
            user,
            account,
            device,
            ticket: ticket.expose().to_owned(),
        });
    }
    for a in 0..devices {
        for b in a + 1..devices {
            let genesis = ChangeRecord {
                epoch: 0,
                change: vec![],
                author: all[a].device,
                created_at: 0,
            };
            // Set up as contacts: the closed loop measures the relay, not consent.
            let members = [
                NewMember::accepted(all[a].user),
                NewMember::accepted(all[b].user),
            ];
            store
                .create_conversation(&conv_id(a, b), &genesis, all[a].user, &members)
                .await
                .unwrap();
        }
    }
    all
}

fn write_config(path: &Path, config: &sotto_server::config::Config, extra_limits: &str) {
    let mut text = format!(
        "listen = \"{}\"\ndata_dir = \"{}\"\nlog = \"warn\"\n",
        config.listen,
        config.data_dir.display()
    );
    if let Some(url) = &config.database_url {
        text.push_str(&format!("database_url = \"{url}\"\n"));
    }
    if let Some(schema) = &config.database_schema {
        text.push_str(&format!("database_schema = \"{schema}\"\n"));
    }
    text.push_str(
        "[argon2]\nmemory_kib = 64\niterations = 1\n\
         [limits]\nmax_connections_per_ip = 10000\nws_frames_per_second = 100000\n\
         max_queue_per_device = 1000000\n",
    );
    text.push_str(extra_limits);
    std::fs::write(path, text).unwrap();
}

/// Starts `sotto-server` on `config` (plus `extra_limits`, lines of its `[limits]` table), or
/// takes the one `--attach` names; the child (if started here) and the pid to measure.
fn spawn_server(
    o: &Options,
    config: &sotto_server::config::Config,
    extra_limits: &str,
) -> (Option<std::process::Child>, String) {
    if let Some(pid) = &o.attach {
        return (None, pid.clone());
    }
    let config_path = config.data_dir.join("loadgen.toml");
    write_config(&config_path, config, extra_limits);
    let bin = o.server.clone().unwrap_or_else(|| {
        std::env::current_exe()
            .unwrap()
            .with_file_name("sotto-server")
    });
    let mut c = std::process::Command::new(&bin)
        .arg("--config")
        .arg(&config_path)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
    let stdout = c.stdout.take().unwrap();
    let mut lines = std::io::BufReader::new(stdout).lines();
    loop {
        let line = lines.next().expect("server exited").unwrap();
        if line.contains("listening") {
            break;
        }
    }
    // Keep draining its stdout so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    let pid = c.id().to_string();
    (Some(c), pid)
}

/// Stops a server started here (`SIGTERM`, then waits for it).
fn stop_server(child: Option<std::process::Child>, pid: &str) {
    if let Some(mut c) = child {
        let _ = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(pid)
            .status();
        let _ = c.wait();
    }
}

fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

#[tokio::main]
async fn main() {
    let o = options();
    if o.mode == "prekeys" {
        prekeys::run(&o).await;
        return;
    }
    let hz = clock_ticks();
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = o
        .data_dir
        .clone()
        .unwrap_or_else(|| tmp.path().to_path_buf());
    let schema = o
        .database_url
        .as_ref()
        .map(|_| format!("loadgen_{}", std::process::id()));
    let listen = o.listen.unwrap_or_else(free_port);
    let config = sotto_server::config::Config {
        listen,
        data_dir: data_dir.clone(),
        database_url: o.database_url.clone(),
        database_schema: schema.clone(),
        ..Default::default()
    };

    // Setup: rows straight into the store, then the certificate the server will load.
    let t0 = Instant::now();
    let store = sotto_server::open_store(&config).await.unwrap();
    let all = Arc::new(setup(store.as_ref(), o.devices).await);
    store.close().await;
    drop(store);
    let (_, cert) = sotto_server::tls::load_or_create(&config).unwrap();
    eprintln!("setup: {:.1}s", t0.elapsed().as_secs_f64());

    // The server: started here, or the one we were told about.
    let (child, pid) = spawn_server(&o, &config, "");

    // TLS client trusting the server's certificate.
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.chain[0].clone()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tls = Arc::new(tls);

    let clock = Arc::new(Clock::new());
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(o.messages)));
    let delivered = Arc::new(AtomicU64::new(0));
    let per_device = o.messages / o.devices;
    let total = per_device * o.devices;
    let open = o.mode == "open";
    let period = if open {
        Duration::from_secs_f64(o.devices as f64 / o.knob as f64)
    } else {
        Duration::ZERO
    };
    let window = o.knob;

    // Connect everyone first, then start the clock.
    let mut sockets = Vec::with_capacity(o.devices);
    for me in 0..o.devices {
        let tcp = tokio::net::TcpStream::connect(listen).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let stream = tokio_rustls::TlsConnector::from(tls.clone())
            .connect(name, tcp)
            .await
            .unwrap();
        let request = format!("wss://localhost:{}/v1/ws", listen.port())
            .into_client_request()
            .unwrap();
        // tungstenite zeroes its whole read buffer before every read: keep it small (the
        // default 128 KiB made the generator pay a 128 KiB memset per ~1 KiB frame).
        let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
            .read_buffer_size(16 * 1024);
        let (mut ws, _) =
            tokio_tungstenite::client_async_with_config(request, stream, Some(config))
                .await
                .unwrap();
        let auth = ClientFrame::Auth {
            ticket: Secret::new(all[me].ticket.as_str()),
        }
        .to_json();
        ws.send(Message::Text(auth.into())).await.unwrap();
        loop {
            let Some(Ok(Message::Text(text))) = ws.next().await else {
                panic!("no ready frame")
            };
            if let Ok(ServerFrame::Ready { .. }) = serde_json::from_str(text.as_str()) {
                break;
            }
        }
        sockets.push(ws);
    }

    let server_cpu0 = cpu_seconds(&pid, hz);
    let written0 = write_bytes(&pid);
    let own_cpu0 = cpu_seconds("self", hz);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (me, ws) in sockets.into_iter().enumerate() {
        let (mut sink, mut stream) = ws.split();
        let all = all.clone();
        let clock = clock.clone();
        let latencies = latencies.clone();
        let delivered = delivered.clone();
        tasks.push(tokio::spawn(async move {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
            let writer = tokio::spawn(async move {
                while let Some(text) = rx.recv().await {
                    if sink.feed(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                    while let Ok(more) = rx.try_recv() {
                        if sink.feed(Message::Text(more.into())).await.is_err() {
                            return;
                        }
                    }
                    if sink.flush().await.is_err() {
                        return;
                    }
                }
            });
            let mut rng = Cell(u64::from_le_bytes(random().unwrap()) | 1);
            let mut next_id = 0u64;
            let mut issued = 0usize;
            let mut in_flight = 0usize;
            let mut send_one = |issued: &mut usize, at: Instant| {
                let peer = loop {
                    let p = rng.below(all.len());
                    if p != me {
                        break p;
                    }
                };
                // Unique per run (sender, counter) and spread over the id space (the xorshift
                // stream), without a system random call per message.
                let mut id = [0u8; 16];
                id[..8].copy_from_slice(&rng.next().to_le_bytes());
                id[8..12].copy_from_slice(&(me as u32).to_le_bytes());
                id[12..].copy_from_slice(&(next_id as u32).to_le_bytes());
                let message = MessageId::from_bytes(id);
                let conv = conv_id(me, peer);
                let body = envelope(conv, &all[me], message);
                clock.put(message, at);
                next_id += 1;
                let mut frame = String::with_capacity(200 + body.len().div_ceil(3) * 4);
                frame.push_str(r#"{"type":"send","id":"#);
                frame.push_str(&next_id.to_string());
                frame.push_str(r#","conversation":""#);
                frame.push_str(&conv.to_string());
                frame.push_str(r#"","message_id":""#);
                frame.push_str(&message.to_string());
                frame.push_str(r#"","envelope":""#);
                STANDARD.encode_string(&body, &mut frame);
                frame.push_str(r#""}"#);
                let _ = tx.send(frame);
                *issued += 1;
            };
            // Spread the open-loop senders' phases over one period.
            let first = start + period.mul_f64(me as f64 / all.len() as f64);
            let mut tick =
                tokio::time::interval_at(first.into(), period.max(Duration::from_micros(1)));
            let mut acks: Vec<MessageId> = Vec::new();
            let mut received = 0usize;
            loop {
                if !open {
                    while in_flight < window && issued < per_device {
                        send_one(&mut issued, Instant::now());
                        in_flight += 1;
                    }
                }
                let frame = tokio::select! {
                    frame = stream.next() => frame,
                    at = tick.tick(), if open && issued < per_device => {
                        send_one(&mut issued, at.into_std());
                        continue;
                    }
                    _ = tokio::time::sleep(Duration::from_secs(30)) => break,
                };
                let text = match frame {
                    Some(Ok(Message::Text(text))) => text,
                    // The server pings every socket every 30 s (tungstenite answers). The
                    // generator used to stop at the first ping, so a run longer than that
                    // (a slow database, an open loop of 150,000 messages) never finished.
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    _ => break,
                };
                let Ok(v) = serde_json::from_str::<ServerFrame<'_>>(text.as_str()) else {
                    eprintln!("unparsable frame: {text}");
                    continue;
                };
                match v {
                    ServerFrame::Sent { .. } => in_flight = in_flight.saturating_sub(1),
                    ServerFrame::Envelope { message_id, .. } => {
                        if let Some(at) = clock.take(&message_id) {
                            latencies.lock().unwrap().push(at.elapsed());
                        }
                        delivered.fetch_add(1, Ordering::Relaxed);
                        received += 1;
                        acks.push(message_id);
                        if acks.len() >= 64 {
                            let _ = tx.send(ack_frame(&mut acks));
                        }
                    }
                    // Group-log notices are not load traffic.
                    ServerFrame::Acked { .. }
                    | ServerFrame::Pong
                    | ServerFrame::Ready { .. }
                    | ServerFrame::Conversation { .. } => {}
                    ServerFrame::Signal { .. }
                    | ServerFrame::Error { .. }
                    | ServerFrame::Handover => {
                        eprintln!("unexpected frame: {text}")
                    }
                }
                let _ = received;
                if delivered.load(Ordering::Relaxed) as usize >= total
                    && issued >= per_device
                    && in_flight == 0
                {
                    break;
                }
            }
            if !acks.is_empty() {
                let _ = tx.send(ack_frame(&mut acks));
            }
            drop(tx);
            let _ = writer.await;
        }));
    }
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let d = delivered.load(Ordering::Relaxed) as usize;
        if d >= total || start.elapsed() > Duration::from_secs(300) {
            break;
        }
    }
    let elapsed = start.elapsed();
    let server_cpu = cpu_seconds(&pid, hz) - server_cpu0;
    let written = write_bytes(&pid).saturating_sub(written0);
    let own_cpu = cpu_seconds("self", hz) - own_cpu0;
    let load = load_average();
    // Let the last acknowledgements reach the server, then stop.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for t in tasks {
        t.abort();
    }
    let peak = status_mib(&pid, "VmHWM:");
    let rss = status_mib(&pid, "VmRSS:");

    let mut lat = latencies.lock().unwrap().clone();
    lat.sort();
    let pct = |p: f64| -> f64 {
        if lat.is_empty() {
            return 0.0;
        }
        let i = ((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1;
        lat[i].as_secs_f64() * 1000.0
    };
    let d = delivered.load(Ordering::Relaxed);
    let envelope_len = envelope(conv_id(0, 1), &all[0], MessageId::from_bytes([0; 16])).len();
    let backend = if o.database_url.is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    println!(
        "mode={} backend={backend} devices={} messages={total} {}={} envelope_bytes={envelope_len}",
        o.mode,
        o.devices,
        if open { "rate" } else { "window" },
        o.knob
    );
    println!(
        "delivered={d} in {:.2}s => {:.0} delivered/s",
        elapsed.as_secs_f64(),
        d as f64 / elapsed.as_secs_f64()
    );
    println!(
        "latency ms: p50={:.2} p99={:.2} p99.9={:.2} max={:.2}",
        pct(0.50),
        pct(0.99),
        pct(0.999),
        pct(1.0)
    );
    println!(
        "server pid={pid} cpu={server_cpu:.1}s ({:.0}% of one core, {:.1} us/message) peak_rss={peak:.0} MiB rss_now={rss:.0} MiB",
        100.0 * server_cpu / elapsed.as_secs_f64(),
        1e6 * server_cpu / d.max(1) as f64
    );
    println!(
        "server wrote {:.1} MB to storage, {:.1} KB/message",
        written as f64 / 1e6,
        written as f64 / 1e3 / d.max(1) as f64
    );
    println!(
        "loadgen cpu={own_cpu:.1}s ({:.0}% of one core); load average at end {load}",
        100.0 * own_cpu / elapsed.as_secs_f64()
    );

    stop_server(child, &pid);
    if let (Some(url), Some(schema)) = (&o.database_url, &schema) {
        let _ = sotto_server::store::postgres::PostgresStore::drop_schema(url, schema).await;
    }
}
