//! In-process relay load generator (for quick profiling; the figures quoted in `bench/README.md`
//! come from `bench/loadgen`, which runs the server as a separate process): starts a server in this process on a loopback port (SQLite in a
//! temporary folder, real TLS), logs in N devices over WSS and has them exchange M envelopes
//! with random 1:1 recipients, then prints delivered messages/s, send-to-receive latency
//! percentiles, and the process's CPU time and peak memory (server and clients together).
//!
//! ```text
//! cargo run --release -p sotto-server --example loadgen -- [closed|open] [devices] [messages] [window|rate]
//! cargo run --release -p sotto-server --example loadgen -- closed 100 100000 10
//! cargo run --release -p sotto-server --example loadgen -- open 100 100000 5000
//! ```
//!
//! Accounts, devices, conversations and tickets are written straight into the store, so setup
//! needs no RSA key generation; envelopes are structurally real `sotto-proto` envelopes (header
//! matching the sender and conversation, padded ciphertext, a 384-byte signature field) with
//! random bytes as ciphertext and signature, which is all the relay can see anyway.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use sotto_proto::envelope::EnvelopeHeader;
use sotto_proto::ids::{AccountId, ChainId, ConversationId, DeviceId, MessageId};
use sotto_proto::signed::SignedSealed;
use sotto_server::auth::tokens::{self, random};
use sotto_server::store::{
    ChangeRecord, DeviceRecord, DeviceState, SessionId, SessionRecord, UserId,
};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

struct Device {
    user: UserId,
    account: AccountId,
    device: DeviceId,
    ticket: String,
}

type Sent = Arc<Mutex<HashMap<MessageId, Instant>>>;

fn envelope(conv: ConversationId, from: &Device, message: MessageId) -> Vec<u8> {
    let header = EnvelopeHeader {
        conversation: conv,
        epoch: 0,
        sender_account: from.account,
        sender_device: from.device,
        chain: ChainId::from_bytes(random().unwrap()),
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

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
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
    (ticks(11) + ticks(12)) / 100.0
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn rand_below(n: usize) -> usize {
    let bytes: [u8; 8] = random().unwrap();
    (u64::from_le_bytes(bytes) % n as u64) as usize
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = args.first().map_or("closed", String::as_str).to_owned();
    let devices: usize = args.get(1).and_then(|v| v.parse().ok()).unwrap_or(100);
    let messages: usize = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let knob: usize = args
        .get(3)
        .and_then(|v| v.parse().ok())
        .unwrap_or(if mode == "open" { 5000 } else { 10 });

    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            std::env::var("SOTTO_LOG").unwrap_or_else(|_| "warn".to_owned()),
        ))
        .init();
    let dir = tempfile::tempdir().unwrap();
    let mut config = sotto_server::config::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_path_buf(),
        ..Default::default()
    };
    config.argon2.memory_kib = 64;
    config.argon2.iterations = 1;
    config.limits.max_connections_per_ip = 10_000;
    config.limits.ws_frames_per_second = 100_000;
    config.limits.max_queue_per_device = 1_000_000;
    let server = sotto_server::start(config).await.unwrap();
    let store = server.state.store.clone();

    // Setup straight into the store.
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
            store
                .create_conversation(&conv_id(a, b), &genesis, &[all[a].user, all[b].user])
                .await
                .unwrap();
        }
    }

    // TLS client trusting the generated certificate.
    let mut roots = rustls::RootCertStore::empty();
    roots.add(server.cert.chain[0].clone()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tls = Arc::new(tls);
    let port = server.local_addr.port();

    let all = Arc::new(all);
    let sent: Sent = Arc::new(Mutex::new(HashMap::new()));
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(messages)));
    let delivered = Arc::new(AtomicU64::new(0));
    let per_device = messages / devices;
    let total = per_device * devices;
    let rate_per_device = if mode == "open" {
        knob as f64 / devices as f64
    } else {
        0.0
    };

    let cpu0 = cpu_seconds();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for me in 0..devices {
        let tcp = tokio::net::TcpStream::connect(server.local_addr)
            .await
            .unwrap();
        tcp.set_nodelay(true).unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let stream = tokio_rustls::TlsConnector::from(tls.clone())
            .connect(name, tcp)
            .await
            .unwrap();
        let request = format!("wss://localhost:{port}/v1/ws")
            .into_client_request()
            .unwrap();
        let (ws, _) = tokio_tungstenite::client_async(request, stream)
            .await
            .unwrap();
        let (mut sink, mut stream) = ws.split();
        let auth = json!({ "type": "auth", "ticket": all[me].ticket }).to_string();
        sink.send(Message::Text(auth.into())).await.unwrap();
        let all = all.clone();
        let sent = sent.clone();
        let latencies = latencies.clone();
        let delivered = delivered.clone();
        let mode = mode.clone();
        tasks.push(tokio::spawn(async move {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
            // Writer: sends and acks.
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
            let mut next_id = 0u64;
            let mut issued = 0usize;
            let mut in_flight = 0usize;
            let mut send_one = |issued: &mut usize| {
                let peer = loop {
                    let p = rand_below(all.len());
                    if p != me {
                        break p;
                    }
                };
                let message = MessageId::from_bytes(random().unwrap());
                let conv = conv_id(me, peer);
                let body = envelope(conv, &all[me], message);
                sent.lock().unwrap().insert(message, Instant::now());
                next_id += 1;
                let frame = json!({
                    "type": "send", "id": next_id, "conversation": conv.to_string(),
                    "message_id": message.to_string(), "envelope": STANDARD.encode(&body),
                });
                let _ = tx.send(frame.to_string());
                *issued += 1;
            };
            let mut tick =
                tokio::time::interval(Duration::from_secs_f64(1.0 / rate_per_device.max(0.001)));
            let open = mode == "open";
            let mut acks = Vec::new();
            let mut ready = false;
            loop {
                if ready && !open {
                    while in_flight < knob && issued < per_device {
                        send_one(&mut issued);
                        in_flight += 1;
                    }
                }
                let frame = tokio::select! {
                    frame = stream.next() => frame,
                    _ = tick.tick(), if open && ready && issued < per_device => {
                        send_one(&mut issued);
                        continue;
                    }
                    _ = tokio::time::sleep(Duration::from_secs(30)) => break,
                };
                let Some(Ok(Message::Text(text))) = frame else {
                    break;
                };
                let v: Value = serde_json::from_str(text.as_str()).unwrap();
                match v["type"].as_str() {
                    Some("ready") => ready = true,
                    Some("sent") => in_flight = in_flight.saturating_sub(1),
                    Some("envelope") => {
                        let id: MessageId = v["message_id"].as_str().unwrap().parse().unwrap();
                        if let Some(at) = sent.lock().unwrap().remove(&id) {
                            latencies.lock().unwrap().push(at.elapsed());
                        }
                        delivered.fetch_add(1, Ordering::Relaxed);
                        acks.push(v["message_id"].clone());
                        if acks.len() >= 64 {
                            let frame = json!({ "type": "ack", "message_ids": acks });
                            let _ = tx.send(frame.to_string());
                            acks = Vec::new();
                        }
                    }
                    Some("acked") | Some("pong") => {}
                    _ => eprintln!("unexpected frame: {text}"),
                }
                if delivered.load(Ordering::Relaxed) as usize >= total
                    && issued >= per_device
                    && in_flight == 0
                {
                    break;
                }
            }
            drop(tx);
            let _ = writer.await;
        }));
    }
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let d = delivered.load(Ordering::Relaxed) as usize;
        if d >= total || start.elapsed() > Duration::from_secs(600) {
            break;
        }
    }
    let elapsed = start.elapsed();
    let cpu = cpu_seconds() - cpu0;
    for t in tasks {
        t.abort();
    }
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
    println!(
        "mode={mode} devices={devices} messages={total} {}={knob} envelope_bytes={envelope_len}",
        if mode == "open" { "rate" } else { "window" }
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
        "process cpu={:.1}s ({:.0}% of one core) peak_rss={:.0} MiB (server and load generator together)",
        cpu,
        100.0 * cpu / elapsed.as_secs_f64(),
        peak_rss_mib()
    );
    let metrics = server.state.metrics.render();
    for line in metrics.lines().filter(|l| {
        l.starts_with("sotto_group_commit") || l.starts_with("sotto_envelope_commit_seconds")
    }) {
        println!("{line}");
    }
    server.stop().await.unwrap();
}
