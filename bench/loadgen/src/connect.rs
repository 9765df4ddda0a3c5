//! Logging many devices in over WSS: TCP from a spread of loopback source addresses, TLS, the
//! WebSocket upgrade, the ticket and the `ready` frame, with a bounded number of handshakes in
//! progress, a timeout on every step, a progress line, and every failure counted by step with
//! the first error of each, so a run that cannot connect says why instead of hanging.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use rustls::pki_types::CertificateDer;
use sotto_wire::{ClientFrame, Secret, ServerFrame};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

pub type Socket = WebSocketStream<tokio_rustls::client::TlsStream<TcpStream>>;

/// The most one step of one handshake may take.
const STEP: Duration = Duration::from_secs(10);
/// Sockets per loopback source address: well inside the 28,000 ephemeral ports Linux hands
/// out per address, and the `max_connections_per_ip` the generator gives the server.
pub const PER_SOURCE: usize = 10_000;

/// The servers the devices log in to: every node's address, in order, and a TLS client
/// configuration that trusts each node's certificate (and nothing else).
pub struct Targets {
    pub listens: Vec<SocketAddr>,
    /// Each node's certificate (DER), which is all a worker process needs to trust them too.
    pub certificates: Vec<CertificateDer<'static>>,
    pub tls: Arc<rustls::ClientConfig>,
}

impl Targets {
    pub fn new(listens: Vec<SocketAddr>, certificates: Vec<CertificateDer<'static>>) -> Self {
        let mut roots = rustls::RootCertStore::empty();
        for cert in &certificates {
            roots.add(cert.clone()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        // Every handshake is a full one, as after a server restart (the reconnect storm that
        // matters, and one that finds no session to resume): a client resuming a session the
        // server still remembers skips the certificate's signature and check.
        tls.resumption = rustls::client::Resumption::disabled();
        Self {
            listens,
            certificates,
            tls: Arc::new(tls),
        }
    }

    /// The node device `i` connects to.
    pub fn listen_for(&self, i: usize) -> SocketAddr {
        self.listens[i % self.listens.len()]
    }
}

/// Where a handshake failed.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Step {
    Tcp,
    Tls,
    Upgrade,
    Ticket,
}

/// Failures by step: how many, and the first error's text.
#[derive(Default)]
pub struct Failures(Mutex<BTreeMap<Step, (u64, String)>>);

impl Failures {
    pub fn add(&self, step: Step, error: String) {
        let mut map = self.0.lock().unwrap();
        map.entry(step).or_insert((0, error)).0 += 1;
    }

    pub fn total(&self) -> u64 {
        self.0.lock().unwrap().values().map(|(n, _)| n).sum()
    }

    /// One line per step that failed.
    pub fn describe(&self) -> String {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|(step, (n, first))| format!("  {step:?}: {n} failed; first: {first}\n"))
            .collect()
    }
}

/// The loopback address device `i` connects from: `127.0.1.x` spread over `sources`
/// addresses, or whatever the system picks when the server is not on IPv4 loopback.
fn source_for(i: usize, sources: usize, server: SocketAddr) -> Option<IpAddr> {
    match server.ip() {
        IpAddr::V4(v4) if v4.is_loopback() && sources > 0 => {
            let n = i % sources;
            Some(IpAddr::V4(Ipv4Addr::new(
                127,
                0,
                1 + (n / 250) as u8,
                1 + (n % 250) as u8,
            )))
        }
        _ => None,
    }
}

/// How many source addresses `count` sockets need (`requested` when set).
pub fn sources_for(count: usize, requested: usize) -> usize {
    if requested > 0 {
        requested
    } else {
        count.div_ceil(PER_SOURCE).max(1)
    }
}

async fn step<T, E: std::fmt::Display>(
    which: Step,
    work: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, (Step, String)> {
    match tokio::time::timeout(STEP, work).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err((which, error.to_string())),
        Err(_) => Err((which, format!("no answer within {} s", STEP.as_secs()))),
    }
}

/// One device: TCP, TLS, upgrade, ticket, `ready`.
pub async fn connect_one(
    tls: Arc<rustls::ClientConfig>,
    server: SocketAddr,
    source: Option<IpAddr>,
    ticket: &str,
) -> Result<Socket, (Step, String)> {
    let tcp = step(Step::Tcp, async {
        let socket = TcpSocket::new_v4()?;
        if let Some(ip) = source {
            socket.bind(SocketAddr::new(ip, 0))?;
        }
        socket.connect(server).await
    })
    .await?;
    let _ = tcp.set_nodelay(true);
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let stream = step(
        Step::Tls,
        tokio_rustls::TlsConnector::from(tls).connect(name, tcp),
    )
    .await?;
    let request = format!("wss://localhost:{}/v1/ws", server.port())
        .into_client_request()
        .unwrap();
    // tungstenite zeroes its whole read buffer before every read: keep it small (the
    // default 128 KiB made the generator pay a 128 KiB memset per ~1 KiB frame, and a
    // hundred thousand sockets a gigabyte each 8 KiB).
    let config = WebSocketConfig::default().read_buffer_size(4 * 1024);
    let (mut ws, _) = step(
        Step::Upgrade,
        tokio_tungstenite::client_async_with_config(request, stream, Some(config)),
    )
    .await?;
    let auth = ClientFrame::Auth {
        ticket: Secret::new(ticket),
    }
    .to_json();
    step(Step::Ticket, ws.send(Message::Text(auth.into()))).await?;
    step(Step::Ticket, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(text))) => {
                    if let Ok(ServerFrame::Ready { .. }) = serde_json::from_str(text.as_str()) {
                        return Ok(());
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    return Err(format!(
                        "closed: {}",
                        frame.map_or("no reason".into(), |f| f.reason.to_string())
                    ))
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.to_string()),
                None => return Err("closed before ready".into()),
            }
        }
    })
    .await?;
    Ok(ws)
}

/// Prints `connected / target, failed, handshakes per second` every second on a terminal,
/// every ten seconds otherwise, until `done` reaches `target` or the task is dropped.
fn progress(
    label: String,
    target: usize,
    done: Arc<AtomicU64>,
    failures: Arc<Failures>,
) -> tokio::task::JoinHandle<()> {
    let terminal = std::io::stderr().is_terminal();
    let every = if terminal {
        Duration::from_secs(1)
    } else {
        Duration::from_secs(10)
    };
    tokio::spawn(async move {
        let start = Instant::now();
        let mut last = 0;
        loop {
            tokio::time::sleep(every).await;
            let now = done.load(Ordering::Relaxed);
            let line = format!(
                "{label}: {now}/{target} connected, {} failed, {:.0} handshakes/s, {:.0} s",
                failures.total(),
                (now - last) as f64 / every.as_secs_f64(),
                start.elapsed().as_secs_f64()
            );
            last = now;
            if terminal {
                eprint!("\r{line}   ");
            } else {
                eprintln!("{line}");
            }
        }
    })
}

/// The outcome of connecting a set of devices.
pub struct Connected {
    /// One socket per device asked for, in order (`None` where it failed, or where the
    /// caller took it as it connected).
    pub sockets: Vec<Option<Socket>>,
    /// Devices logged in.
    connected: usize,
    pub failures: Arc<Failures>,
    pub elapsed: Duration,
}

impl Connected {
    pub fn ok(&self) -> usize {
        self.connected
    }

    /// Handshakes (TCP, TLS, upgrade, ticket, ready) per second.
    pub fn rate(&self) -> f64 {
        self.ok() as f64 / self.elapsed.as_secs_f64()
    }
}

/// Connects the devices `first..first + tickets.len()` (device `first + k` logs in with
/// `tickets[k]`), each to its node, at most `concurrency` at once, from `sources` loopback
/// addresses. A device keeps its index wherever it is connected from, so its node and source
/// address are the same in one process or spread over workers. Each socket goes to `take` as
/// soon as it is logged in, and what `take` returns into [`Connected::sockets`] (`Some` keeps
/// them all). A socket held idle must be read from the moment it connects: the server closes
/// one that has not answered its pings for `ws_idle_timeout` (90 s), less than connecting
/// 100,000 devices takes.
pub async fn connect(
    label: &str,
    targets: &Targets,
    first: usize,
    tickets: &[&str],
    concurrency: usize,
    sources: usize,
    mut take: impl FnMut(Socket) -> Option<Socket>,
) -> Connected {
    let failures = Arc::new(Failures::default());
    let done = Arc::new(AtomicU64::new(0));
    let count = tickets.len();
    let reporter = progress(label.to_owned(), count, done.clone(), failures.clone());
    let start = Instant::now();
    let mut results = futures_util::stream::iter(tickets.iter().enumerate())
        .map(|(k, ticket)| {
            let tls = targets.tls.clone();
            let server = targets.listen_for(first + k);
            let source = source_for(first + k, sources, server);
            let (failures, done) = (failures.clone(), done.clone());
            async move {
                let outcome = connect_one(tls, server, source, ticket).await;
                match outcome {
                    Ok(socket) => {
                        done.fetch_add(1, Ordering::Relaxed);
                        (k, Some(socket))
                    }
                    Err((step, error)) => {
                        failures.add(step, error);
                        (k, None)
                    }
                }
            }
        })
        .buffer_unordered(concurrency);
    let mut sockets: Vec<Option<Socket>> = (0..count).map(|_| None).collect();
    let mut connected = 0;
    while let Some((k, socket)) = results.next().await {
        if let Some(socket) = socket {
            connected += 1;
            sockets[k] = take(socket);
        }
    }
    drop(results);
    let elapsed = start.elapsed();
    reporter.abort();
    if std::io::stderr().is_terminal() {
        eprintln!();
    }
    Connected {
        sockets,
        connected,
        failures,
        elapsed,
    }
}
