//! The fault-injecting TCP proxy every client connection goes through.
//!
//! TLS runs end to end through it (the clients pin the server's certificate), so it works on
//! bytes, the way a bad network does. Per chunk read from either side it decides, with a seeded
//! generator per connection, how late the chunk arrives: latency ± jitter, a retransmission delay
//! when the chunk is "lost" (TCP resends it, it is not dropped), and the time a bandwidth cap
//! needs to pass it. Delivery times never go backwards within a connection, so bytes stay in
//! order as TCP keeps them; reordering happens between connections (each HTTP request and each
//! WebSocket has its own delays). On top of that a connection can be cut in the middle of a chunk
//! (a frame arrives half and the connection dies), go half-open (nothing is forwarded any more,
//! nothing is closed: only timeouts notice), or be cut together with every other one (a
//! reconnect storm). A connection to a server that is down is accepted and closed at once.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::error::{Error, Result};

/// How long a half-open connection is kept before the proxy forgets it (the client has long
/// given up on it by then).
const STALL_REAP: Duration = Duration::from_secs(120);
/// Largest chunk read at once.
const CHUNK: usize = 16 * 1024;

/// The faults applied to new chunks; [`Faults::default`] is a clean network.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Added to every chunk, ms.
    pub latency_ms: u64,
    /// Latency varies uniformly by up to this much either way, ms.
    pub jitter_ms: u64,
    /// Probability that a chunk is lost once and arrives after a retransmission timeout.
    pub loss: f64,
    /// The retransmission delay of a lost chunk, ms (uniform between the bounds).
    pub rto_ms: (u64, u64),
    /// Bytes per second per connection and direction (0: unlimited).
    pub bandwidth: u64,
    /// Probability per chunk that the connection is cut inside that chunk.
    pub cut: f64,
    /// Probability per chunk that the connection goes half-open from then on.
    pub stall: f64,
    /// Probability per chunk from the server that the connection is cut inside it: the request
    /// reached the server, the answer is lost (every retry must then be idempotent).
    pub cut_answer: f64,
}

impl Faults {
    /// What happens to a chunk of `len` bytes.
    fn plan(&self, rng: &mut ChaCha8Rng, len: usize, from_server: bool) -> ChunkPlan {
        let jitter = if self.jitter_ms > 0 {
            rng.random_range(0..=2 * self.jitter_ms)
        } else {
            0
        };
        let mut delay_ms = (self.latency_ms + jitter).saturating_sub(self.jitter_ms);
        if chance(rng, self.loss) {
            let (low, high) = self.rto_ms;
            delay_ms += rng.random_range(low..=high.max(low));
        }
        let mut delay = Duration::from_millis(delay_ms);
        if let Some(micros) = (len as u64)
            .saturating_mul(1_000_000)
            .checked_div(self.bandwidth)
        {
            delay += Duration::from_micros(micros);
        }
        let cut = chance(rng, self.cut) || (from_server && chance(rng, self.cut_answer));
        let cut_at = cut.then(|| rng.random_range(0..len.max(1)));
        ChunkPlan {
            delay,
            cut_at,
            stall: chance(rng, self.stall),
        }
    }
}

/// `rng` says yes with probability `p` (clamped to [0, 1]).
fn chance(rng: &mut ChaCha8Rng, p: f64) -> bool {
    p > 0.0 && rng.random_bool(p.clamp(0.0, 1.0))
}

struct ChunkPlan {
    delay: Duration,
    cut_at: Option<usize>,
    stall: bool,
}

/// What a connection is told to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmd {
    Run,
    Stall,
    Cut,
}

/// What the proxy did so far.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ProxyStats {
    /// Connections accepted.
    pub connections: u64,
    /// Connections cut mid-stream (faults and storms).
    pub cuts: u64,
    /// Connections that went half-open.
    pub stalls: u64,
    /// Connections refused because the server was down.
    pub refused: u64,
}

#[derive(Default)]
struct Counters {
    connections: AtomicU64,
    cuts: AtomicU64,
    stalls: AtomicU64,
    refused: AtomicU64,
}

struct Inner {
    upstream: SocketAddr,
    seed: u64,
    faults: Mutex<Faults>,
    conns: Mutex<HashMap<u64, watch::Sender<Cmd>>>,
    next: AtomicU64,
    counters: Counters,
}

impl Inner {
    fn faults(&self) -> Faults {
        self.faults.lock().map(|f| f.clone()).unwrap_or_default()
    }
}

/// A running proxy; it stops when dropped.
pub struct Proxy {
    addr: SocketAddr,
    inner: Arc<Inner>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy").field("addr", &self.addr).finish()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
        self.cut_all();
    }
}

impl Proxy {
    /// Listens on `listen` and forwards to `upstream`; `seed` drives every fault decision.
    pub async fn start(listen: SocketAddr, upstream: SocketAddr, seed: u64) -> Result<Self> {
        let listener = TcpListener::bind(listen)
            .await
            .map_err(Error::io("binding the proxy"))?;
        let addr = listener
            .local_addr()
            .map_err(Error::io("reading the proxy address"))?;
        let inner = Arc::new(Inner {
            upstream,
            seed,
            faults: Mutex::new(Faults::default()),
            conns: Mutex::new(HashMap::new()),
            next: AtomicU64::new(0),
            counters: Counters::default(),
        });
        let accepting = inner.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let id = accepting.next.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(connection(accepting.clone(), stream, id));
            }
        });
        Ok(Self { addr, inner, task })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Applies `faults` to every chunk from now on (connections already open included).
    pub fn set(&self, faults: Faults) {
        if let Ok(mut current) = self.inner.faults.lock() {
            *current = faults;
        }
    }

    /// Cuts every open connection at once (a reconnect storm); returns how many.
    pub fn cut_all(&self) -> usize {
        let Ok(conns) = self.inner.conns.lock() else {
            return 0;
        };
        for cmd in conns.values() {
            cmd.send_replace(Cmd::Cut);
        }
        self.inner
            .counters
            .cuts
            .fetch_add(conns.len() as u64, Ordering::Relaxed);
        conns.len()
    }

    /// Turns every open connection half-open at once (new ones are not affected); returns how
    /// many.
    pub fn stall_all(&self) -> usize {
        let Ok(conns) = self.inner.conns.lock() else {
            return 0;
        };
        for cmd in conns.values() {
            cmd.send_replace(Cmd::Stall);
        }
        self.inner
            .counters
            .stalls
            .fetch_add(conns.len() as u64, Ordering::Relaxed);
        conns.len()
    }

    /// What the proxy did so far.
    pub fn stats(&self) -> ProxyStats {
        let c = &self.inner.counters;
        ProxyStats {
            connections: c.connections.load(Ordering::Relaxed),
            cuts: c.cuts.load(Ordering::Relaxed),
            stalls: c.stalls.load(Ordering::Relaxed),
            refused: c.refused.load(Ordering::Relaxed),
        }
    }
}

/// One client connection: connect upstream, then pump both ways until either side ends or the
/// connection is cut.
async fn connection(inner: Arc<Inner>, client: TcpStream, id: u64) {
    inner.counters.connections.fetch_add(1, Ordering::Relaxed);
    let upstream = match tokio::time::timeout(
        Duration::from_secs(5),
        TcpStream::connect(inner.upstream),
    )
    .await
    {
        Ok(Ok(stream)) => stream,
        _ => {
            inner.counters.refused.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let (cmd, _) = watch::channel(Cmd::Run);
    if let Ok(mut conns) = inner.conns.lock() {
        conns.insert(id, cmd.clone());
    }
    let rng = Arc::new(Mutex::new(ChaCha8Rng::seed_from_u64(
        inner.seed ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15),
    )));
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = upstream.into_split();
    let link = Link {
        inner: inner.clone(),
        rng,
        cmd,
    };
    tokio::join!(
        link.pump(client_read, server_write, false),
        link.pump(server_read, client_write, true)
    );
    if let Ok(mut conns) = inner.conns.lock() {
        conns.remove(&id);
    }
}

/// A chunk on its way, with the time it may be written.
struct Chunk {
    at: Instant,
    data: Vec<u8>,
    cut_at: Option<usize>,
}

/// The state both directions of one connection share.
struct Link {
    inner: Arc<Inner>,
    rng: Arc<Mutex<ChaCha8Rng>>,
    cmd: watch::Sender<Cmd>,
}

impl Link {
    fn cut(&self) {
        if *self.cmd.borrow() != Cmd::Cut {
            self.cmd.send_replace(Cmd::Cut);
        }
    }

    /// Forwards `from` to `to` with the current faults, until either ends or a cut.
    async fn pump(&self, from: OwnedReadHalf, to: OwnedWriteHalf, from_server: bool) {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::join!(self.read(from, tx, from_server), self.write(to, rx));
        // One direction ending ends the connection (neither HTTP nor WebSocket half-closes).
        self.cut();
    }

    async fn read(
        &self,
        mut from: OwnedReadHalf,
        tx: mpsc::UnboundedSender<Chunk>,
        from_server: bool,
    ) {
        let mut cmd = self.cmd.subscribe();
        let mut buf = vec![0u8; CHUNK];
        let mut ready = Instant::now();
        loop {
            let n = tokio::select! {
                read = from.read(&mut buf) => match read {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                },
                _ = cmd.wait_for(|c| *c == Cmd::Cut) => return,
            };
            let faults = self.inner.faults();
            let plan = match self.rng.lock() {
                Ok(mut rng) => faults.plan(&mut rng, n, from_server),
                Err(_) => return,
            };
            if plan.stall && *self.cmd.borrow() == Cmd::Run {
                self.inner.counters.stalls.fetch_add(1, Ordering::Relaxed);
                self.cmd.send_replace(Cmd::Stall);
            }
            ready = ready.max(Instant::now() + plan.delay);
            let data = buf.get(..n).unwrap_or_default().to_vec();
            let cut = plan.cut_at.is_some();
            if tx
                .send(Chunk {
                    at: ready,
                    data,
                    cut_at: plan.cut_at,
                })
                .is_err()
                || cut
            {
                return;
            }
        }
    }

    async fn write(&self, mut to: OwnedWriteHalf, mut rx: mpsc::UnboundedReceiver<Chunk>) {
        let mut cmd = self.cmd.subscribe();
        loop {
            let chunk = tokio::select! {
                chunk = rx.recv() => chunk,
                _ = cmd.wait_for(|c| *c == Cmd::Cut) => return,
            };
            let Some(chunk) = chunk else {
                let _ = to.shutdown().await;
                return;
            };
            tokio::select! {
                _ = tokio::time::sleep_until(chunk.at) => {}
                _ = cmd.wait_for(|c| *c == Cmd::Cut) => return,
            }
            if *self.cmd.borrow() == Cmd::Stall {
                // Half-open: keep both sockets, forward nothing, until cut or forgotten.
                let _ = tokio::time::timeout(STALL_REAP, cmd.wait_for(|c| *c == Cmd::Cut)).await;
                return;
            }
            if let Some(at) = chunk.cut_at {
                let _ = to.write_all(chunk.data.get(..at).unwrap_or_default()).await;
                self.inner.counters.cuts.fetch_add(1, Ordering::Relaxed);
                self.cut();
                return;
            }
            if to.write_all(&chunk.data).await.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    /// An echo server; returns its address.
    async fn echo() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = s.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        addr
    }

    #[tokio::test]
    async fn bytes_arrive_in_order_and_late_under_latency_jitter_and_loss() {
        let proxy = Proxy::start("127.0.0.1:0".parse().unwrap(), echo().await, 7)
            .await
            .unwrap();
        proxy.set(Faults {
            latency_ms: 40,
            jitter_ms: 30,
            loss: 0.3,
            rto_ms: (50, 100),
            ..Faults::default()
        });
        let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
        let sent: Vec<u8> = (0..200u32).flat_map(|i| i.to_be_bytes()).collect();
        let started = Instant::now();
        for part in sent.chunks(40) {
            s.write_all(part).await.unwrap();
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let mut got = vec![0u8; sent.len()];
        s.read_exact(&mut got).await.unwrap();
        assert_eq!(got, sent, "TCP keeps byte order whatever the delays");
        // Two passes through the proxy, at least 10 ms each.
        assert!(started.elapsed() >= Duration::from_millis(20));
    }

    #[tokio::test]
    async fn a_cut_closes_mid_stream_and_a_storm_closes_everything() {
        let proxy = Proxy::start("127.0.0.1:0".parse().unwrap(), echo().await, 1)
            .await
            .unwrap();
        proxy.set(Faults {
            cut: 1.0,
            ..Faults::default()
        });
        let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
        s.write_all(&[1u8; 1000]).await.unwrap();
        let mut got = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut got))
            .await
            .unwrap();
        assert!(got.len() < 1000, "cut mid-chunk, got {}", got.len());

        proxy.set(Faults::default());
        let mut a = TcpStream::connect(proxy.addr()).await.unwrap();
        a.write_all(b"ping").await.unwrap();
        let mut four = [0u8; 4];
        a.read_exact(&mut four).await.unwrap();
        assert_eq!(proxy.cut_all(), 1);
        let mut rest = Vec::new();
        let n = tokio::time::timeout(Duration::from_secs(5), a.read_to_end(&mut rest)).await;
        assert!(matches!(n, Ok(Ok(0)) | Ok(Err(_))), "closed by the storm");
    }

    #[tokio::test]
    async fn a_half_open_connection_forwards_nothing_and_stays_open() {
        let proxy = Proxy::start("127.0.0.1:0".parse().unwrap(), echo().await, 3)
            .await
            .unwrap();
        proxy.set(Faults {
            stall: 1.0,
            ..Faults::default()
        });
        let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
        s.write_all(b"hello").await.unwrap();
        let mut buf = [0u8; 5];
        let read = tokio::time::timeout(Duration::from_millis(500), s.read(&mut buf)).await;
        assert!(read.is_err(), "no answer and no close: {read:?}");
        assert_eq!(proxy.stats().stalls, 1);
    }

    #[tokio::test]
    async fn a_server_that_is_down_means_a_closed_connection() {
        let unused = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let down = unused.local_addr().unwrap();
        drop(unused);
        let proxy = Proxy::start("127.0.0.1:0".parse().unwrap(), down, 0)
            .await
            .unwrap();
        let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
        let mut buf = Vec::new();
        let n = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf))
            .await
            .unwrap();
        assert!(matches!(n, Ok(0) | Err(_)));
        assert_eq!(proxy.stats().refused, 1);
    }
}
