//! The relay load of `loadgen` against an XMPP server (`bench/prosody/run.sh` starts Prosody and
//! runs this): USERS accounts, one connection each, MESSAGES chat messages with an 815-byte
//! body to random 1:1 recipients (never the sender), in a closed loop (WINDOW unconfirmed sends
//! per user) or an open loop (Poisson arrivals at RATE per second in total from `loadgen`'s
//! pacer, latency counted from the instant a send was *scheduled*). It prints the lines
//! `loadgen` prints: delivered/s, latency percentiles, the server process's CPU time, peak
//! memory and storage writes (from `/proc/<pid>`), its own CPU time and the load average.
//!
//! ```text
//! xmpp_load closed USERS MESSAGES WINDOW --addr 127.0.0.1:PORT --ca CERT.pem --pid PID
//! xmpp_load open USERS MESSAGES RATE --addr 127.0.0.1:PORT --ca CERT.pem --pid PID
//! ```
//!
//! Options: `--domain` (default `localhost`), accounts `<--user-prefix>0…` (default `user`)
//! with `--password` (default `bench`), `--timeout SECONDS` for the whole run (default 300),
//! `--confirm ack|delivery` (default `ack`, below).
//!
//! The client is a minimal one: direct TLS (XEP-0368, no STARTTLS round trip), SASL PLAIN,
//! resource binding, initial presence, XEP-0198 stream management, `<message type='chat'>` to
//! the recipient's bare JID, and a scanner that cuts the stream into its top-level elements.
//! A send is confirmed by the server's XEP-0198 `<a h='…'/>`: each message goes out with an
//! `<r/>`, and the server's answer counts the stanzas it has handled (routed) from this
//! stream. That is the closest equivalent of Sotto's `sent` frame, the server's word that it
//! has taken the message on, not that the recipient has it; XEP-0184 receipts would be the
//! recipient's word instead, and would double the stanzas routed. The server in turn asks each
//! receiver for `<a/>` of what it got, as Sotto's receivers send `ack` frames.
//!
//! `--confirm delivery` measures without stream management instead: no `<r/>`, no `<a/>`, and
//! the closed loop's window counts a send as confirmed when its recipient has it (the
//! receiving connection tells the sending one in-process). It shows what XEP-0198 costs the
//! server; it is not the same contract as Sotto's, whose server keeps every envelope until the
//! recipient acknowledges it.
//!
//! Every wait is bounded: the login steps by 10 s each, a silent connection by 30 s, the run by
//! `--timeout`. Every failure (a connection that cannot log in, a stream error, an error
//! stanza, a closed stream, an element it cannot read) is counted and printed, and the exit
//! status is 1 unless every message was delivered and nothing failed.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

// The same /proc readings as `loadgen` prints (its open-file helper is not used here).
#[allow(dead_code)]
#[path = "../procfs.rs"]
mod procfs;

use procfs::{clock_ticks, cpu_seconds, load_average, write_bytes};

// The open loop's schedule, the same as `loadgen`'s.
#[path = "../pacer.rs"]
mod pacer;

/// The body's size: the size of the envelope `loadgen` sends (its header, a 272-byte padded
/// ciphertext and a 384-byte signature field).
const BODY_BYTES: usize = 815;
/// A login step the server has not answered by then has failed.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection that hears nothing for this long, while messages are still due, has failed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
const SM: &str = "urn:xmpp:sm:3";

/// Why a connection or the run could not go on.
#[derive(Debug)]
enum Failure {
    Io {
        during: &'static str,
        cause: std::io::Error,
    },
    Timeout {
        waiting_for: &'static str,
    },
    Refused {
        step: &'static str,
        answer: String,
    },
    Closed {
        during: &'static str,
    },
    Usage {
        reason: String,
    },
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Io { during, cause } => write!(f, "{during}: {cause}"),
            Self::Timeout { waiting_for } => write!(f, "no {waiting_for} within the time allowed"),
            Self::Refused { step, answer } => write!(f, "{step} refused: {answer}"),
            Self::Closed { during } => write!(f, "stream closed during {during}"),
            Self::Usage { reason } => write!(f, "{reason}"),
        }
    }
}

struct Options {
    closed: bool,
    /// XEP-0198 on: sends confirmed by `<a/>`. Off: by the recipient's delivery.
    sm: bool,
    users: usize,
    messages: usize,
    knob: usize,
    addr: SocketAddr,
    ca: PathBuf,
    pid: String,
    domain: String,
    user_prefix: String,
    password: String,
    timeout: Duration,
}

const USAGE: &str = "usage: xmpp_load closed|open USERS MESSAGES WINDOW|RATE --addr ADDR --ca CERT.pem --pid PID [--domain D] [--user-prefix P] [--password W] [--timeout SECONDS] [--confirm ack|delivery]";

fn options() -> Result<Options, Failure> {
    let usage = |reason: &str| Failure::Usage {
        reason: format!("{reason}\n{USAGE}"),
    };
    let mut positional = Vec::new();
    let mut named = BTreeMap::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if let Some(name) = arg.strip_prefix("--") {
            let value = args
                .next()
                .ok_or_else(|| usage(&format!("--{name} needs a value")))?;
            named.insert(name.to_owned(), value);
        } else {
            positional.push(arg);
        }
    }
    let number = |i: usize, what: &str| -> Result<usize, Failure> {
        positional
            .get(i)
            .and_then(|v| v.parse().ok())
            .filter(|n| *n > 0)
            .ok_or_else(|| usage(&format!("{what} must be a positive number")))
    };
    let closed = match positional.first().map(String::as_str) {
        Some("closed") => true,
        Some("open") => false,
        _ => return Err(usage("mode is closed or open")),
    };
    let mut take = |name: &str| named.remove(name);
    let o = Options {
        closed,
        sm: match take("confirm").as_deref() {
            None | Some("ack") => true,
            Some("delivery") => false,
            Some(_) => return Err(usage("--confirm is ack or delivery")),
        },
        users: number(1, "USERS")?,
        messages: number(2, "MESSAGES")?,
        knob: number(3, if closed { "WINDOW" } else { "RATE" })?,
        addr: take("addr")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| usage("--addr IP:PORT is required"))?,
        ca: take("ca")
            .map(PathBuf::from)
            .ok_or_else(|| usage("--ca CERT.pem is required"))?,
        pid: take("pid").ok_or_else(|| usage("--pid PID is required"))?,
        domain: take("domain").unwrap_or_else(|| "localhost".into()),
        user_prefix: take("user-prefix").unwrap_or_else(|| "user".into()),
        password: take("password").unwrap_or_else(|| "bench".into()),
        timeout: Duration::from_secs(
            take("timeout")
                .map(|v| v.parse().map_err(|_| usage("--timeout SECONDS")))
                .transpose()?
                .unwrap_or(300),
        ),
    };
    if let Some(name) = named.keys().next() {
        return Err(usage(&format!("unknown option --{name}")));
    }
    if o.users < 2 {
        return Err(usage(
            "USERS must be at least 2 (a recipient is never the sender)",
        ));
    }
    Ok(o)
}

/// One top-level element of the stream, or the stream's own opening and closing tags.
#[derive(Debug)]
enum Item {
    StreamOpen,
    StreamClose,
    /// A complete top-level element: its name and its text (start tag to end tag).
    Element {
        name: String,
        text: String,
    },
}

/// Cuts a byte stream into [`Item`]s. It knows just enough XML for what an XMPP server sends:
/// declarations, start, end and empty tags with quoted attributes, and text without `<`.
#[derive(Default)]
struct Scanner {
    buf: Vec<u8>,
    /// Where scanning resumes.
    pos: usize,
    /// 0 outside the stream, 1 inside it, more inside a top-level element.
    depth: usize,
    /// Where the top-level element being read began.
    start: usize,
}

impl Scanner {
    fn push(&mut self, bytes: &[u8]) {
        // Forget what has been handed out; keep the element being read.
        if self.depth <= 1 {
            self.buf.drain(..self.pos);
            self.pos = 0;
            self.start = 0;
        } else if self.start > 0 {
            self.buf.drain(..self.start);
            self.pos -= self.start;
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete item, or `None` until more bytes arrive.
    fn next(&mut self) -> Option<Item> {
        loop {
            let rest = self.buf.get(self.pos..)?;
            let lt = rest.iter().position(|b| *b == b'<')?;
            let tag_start = self.pos + lt;
            let mut quote = None;
            let mut end = None;
            for (i, b) in self.buf.get(tag_start..)?.iter().enumerate() {
                match (quote, *b) {
                    (None, b'\'' | b'"') => quote = Some(*b),
                    (Some(q), b) if b == q => quote = None,
                    (None, b'>') => {
                        end = Some(tag_start + i);
                        break;
                    }
                    _ => {}
                }
            }
            let end = end?;
            self.pos = end + 1;
            let tag = self.buf.get(tag_start + 1..end)?;
            match tag.first() {
                Some(b'?' | b'!') => continue,
                Some(b'/') => {
                    if tag.starts_with(b"/stream:stream") {
                        self.depth = 0;
                        return Some(Item::StreamClose);
                    }
                    self.depth = self.depth.saturating_sub(1);
                    if self.depth == 1 {
                        return Some(self.element());
                    }
                }
                _ => {
                    if tag.starts_with(b"stream:stream") {
                        // Also a restart after SASL: a new stream, inside nothing.
                        self.depth = 1;
                        return Some(Item::StreamOpen);
                    }
                    if self.depth == 1 {
                        self.start = tag_start;
                    }
                    if tag.ends_with(b"/") {
                        if self.depth == 1 {
                            return Some(self.element());
                        }
                    } else {
                        self.depth += 1;
                    }
                }
            }
        }
    }

    fn element(&self) -> Item {
        let text = String::from_utf8_lossy(self.buf.get(self.start..self.pos).unwrap_or_default())
            .into_owned();
        let name = text
            .get(1..)
            .unwrap_or_default()
            .split(|c: char| c.is_whitespace() || c == '/' || c == '>')
            .next()
            .unwrap_or_default()
            .to_owned();
        Item::Element { name, text }
    }
}

/// The value of attribute `name` in an element's start tag.
fn attribute<'a>(element: &'a str, name: &str) -> Option<&'a str> {
    let head = element.get(..element.find('>')?)?;
    for quote in ['\'', '"'] {
        let key = format!(" {name}={quote}");
        if let Some(at) = head.find(&key) {
            let value = head.get(at + key.len()..)?;
            return value.get(..value.find(quote)?);
        }
    }
    None
}

/// Failures by kind, printed at the end.
#[derive(Default)]
struct Failures(Mutex<BTreeMap<String, u64>>);

impl Failures {
    fn add(&self, kind: impl Into<String>) {
        if let Ok(mut map) = self.0.lock() {
            *map.entry(kind.into()).or_default() += 1;
        }
    }
    fn total(&self) -> u64 {
        self.0.lock().map(|m| m.values().sum()).unwrap_or(1)
    }
}

/// The reading side of one logged-in connection.
struct Reader {
    half: ReadHalf<TlsStream<TcpStream>>,
    scanner: Scanner,
    chunk: Vec<u8>,
}

impl Reader {
    /// The next item, waiting at most `limit`.
    async fn item(&mut self, limit: Duration, during: &'static str) -> Result<Item, Failure> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(item) = self.scanner.next() {
                return Ok(item);
            }
            let n = tokio::time::timeout_at(deadline, self.half.read(&mut self.chunk))
                .await
                .map_err(|_| Failure::Timeout {
                    waiting_for: during,
                })?
                .map_err(|cause| Failure::Io { during, cause })?;
            if n == 0 {
                return Err(Failure::Closed { during });
            }
            self.scanner.push(self.chunk.get(..n).unwrap_or_default());
        }
    }

    /// Reads until an element named `name`; `<failure>` and stream errors end the wait.
    async fn expect(&mut self, name: &str, step: &'static str) -> Result<String, Failure> {
        loop {
            match self.item(STEP_TIMEOUT, step).await? {
                Item::Element { name: n, text } if n == name => return Ok(text),
                Item::Element { name: n, text } if n == "failure" || n == "stream:error" => {
                    return Err(Failure::Refused { step, answer: text })
                }
                Item::StreamClose => return Err(Failure::Closed { during: step }),
                _ => {}
            }
        }
    }
}

fn stream_header(domain: &str) -> String {
    format!(
        "<?xml version='1.0'?><stream:stream to='{domain}' version='1.0' xmlns='jabber:client' \
         xmlns:stream='http://etherx.jabber.org/streams'>"
    )
}

/// Connects and logs `user` in: TLS, SASL PLAIN, a new stream, resource binding, initial
/// presence, stream management. Bounded by [`STEP_TIMEOUT`] per step.
async fn login(
    o: &Options,
    tls: &tokio_rustls::TlsConnector,
    user: &str,
) -> Result<(Reader, tokio::io::WriteHalf<TlsStream<TcpStream>>), Failure> {
    let tcp = tokio::time::timeout(STEP_TIMEOUT, TcpStream::connect(o.addr))
        .await
        .map_err(|_| Failure::Timeout {
            waiting_for: "TCP connection",
        })?
        .map_err(|cause| Failure::Io {
            during: "connect",
            cause,
        })?;
    tcp.set_nodelay(true).map_err(|cause| Failure::Io {
        during: "connect",
        cause,
    })?;
    let name = ServerName::try_from(o.domain.clone()).map_err(|_| Failure::Usage {
        reason: format!("{} is not a server name", o.domain),
    })?;
    let stream = tokio::time::timeout(STEP_TIMEOUT, tls.connect(name, tcp))
        .await
        .map_err(|_| Failure::Timeout {
            waiting_for: "TLS handshake",
        })?
        .map_err(|cause| Failure::Io {
            during: "TLS handshake",
            cause,
        })?;
    let (half, mut w) = tokio::io::split(stream);
    let mut r = Reader {
        half,
        scanner: Scanner::default(),
        chunk: vec![0; 64 * 1024],
    };
    fn io(during: &'static str) -> impl Fn(std::io::Error) -> Failure {
        move |cause| Failure::Io { during, cause }
    }

    w.write_all(stream_header(&o.domain).as_bytes())
        .await
        .map_err(io("stream header"))?;
    r.expect("stream:features", "stream features").await?;
    let secret = STANDARD.encode(format!("\0{user}\0{}", o.password));
    let auth =
        format!("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{secret}</auth>");
    w.write_all(auth.as_bytes()).await.map_err(io("SASL"))?;
    r.expect("success", "SASL PLAIN").await?;

    w.write_all(stream_header(&o.domain).as_bytes())
        .await
        .map_err(io("stream restart"))?;
    r.expect("stream:features", "stream features after SASL")
        .await?;
    w.write_all(
        b"<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>\
          <resource>load</resource></bind></iq>",
    )
    .await
    .map_err(io("bind"))?;
    let bound = r.expect("iq", "resource binding").await?;
    if attribute(&bound, "type") != Some("result") {
        return Err(Failure::Refused {
            step: "resource binding",
            answer: bound,
        });
    }
    // Available, so that messages to the bare JID reach this resource. Sent before stream
    // management is enabled, so the server's `h` counts messages only.
    if o.sm {
        w.write_all(format!("<presence/><enable xmlns='{SM}'/>").as_bytes())
            .await
            .map_err(io("presence"))?;
        r.expect("enabled", "stream management").await?;
    } else {
        w.write_all(b"<presence/>").await.map_err(io("presence"))?;
        // The server sends the new presence back to this resource.
        r.expect("presence", "initial presence").await?;
    }
    w.flush().await.map_err(io("login"))?;
    Ok((r, w))
}

/// Figures shared by the connections.
struct Shared {
    start: Instant,
    delivered: AtomicU64,
    latencies: Mutex<Vec<Duration>>,
    failures: Failures,
    /// Without stream management: messages of each sender delivered so far, and a wake-up for
    /// the sender when one is.
    delivered_from: Vec<AtomicU64>,
    wake: Vec<tokio::sync::Notify>,
    /// Set once every message is delivered (or the run is given up): connections close.
    done: tokio::sync::watch::Receiver<bool>,
}

struct Plan {
    me: usize,
    users: usize,
    per_user: usize,
    closed: bool,
    sm: bool,
    window: usize,
    /// The open loop's send instants for this connection (none in a closed loop).
    ticks: Option<pacer::Ticks>,
    total: u64,
    domain: String,
    prefix: String,
    body: Arc<str>,
}

/// A cheap per-connection pseudo-random stream (xorshift), seeded per connection.
struct Xorshift(u64);

impl Xorshift {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// Drives one logged-in connection: sends its share, answers the server's `<r/>`, counts
/// what it receives, until everything is delivered, or a failure.
async fn drive(
    plan: Plan,
    mut r: Reader,
    mut w: tokio::io::WriteHalf<TlsStream<TcpStream>>,
    shared: Arc<Shared>,
) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    // The writer coalesces whatever is queued into one TLS write.
    let writer_shared = shared.clone();
    let writer = tokio::spawn(async move {
        let mut out = Vec::with_capacity(64 * 1024);
        while let Some(first) = rx.recv().await {
            out.clear();
            out.extend_from_slice(first.as_bytes());
            while let Ok(more) = rx.try_recv() {
                out.extend_from_slice(more.as_bytes());
            }
            if let Err(e) = w.write_all(&out).await {
                writer_shared.failures.add(format!("write: {}", e.kind()));
                return;
            }
        }
        let _ = w.write_all(b"</stream:stream>").await;
        let _ = w.shutdown().await;
    });

    let mut rng = Xorshift(0x9e37_79b9_7f4a_7c15 ^ ((plan.me as u64 + 1) << 17) | 1);
    let mut issued = 0usize;
    let mut confirmed = 0usize;
    let mut received = 0u64;
    let mut ticks = plan.ticks;
    let mut done = shared.done.clone();
    let ack_request = format!("<r xmlns='{SM}'/>");
    let mut send = |issued: &mut usize, at: Instant| {
        let peer = loop {
            let p = rng.below(plan.users);
            if p != plan.me {
                break p;
            }
        };
        // The scheduled time rides in the id, so the receiver needs no shared table.
        let micros = at.saturating_duration_since(shared.start).as_micros();
        let stanza = format!(
            "<message to='{}{peer}@{}' type='chat' id='{}-{}-{micros}'><body>{}</body></message>\
             {}",
            plan.prefix,
            plan.domain,
            plan.me,
            *issued,
            plan.body,
            if plan.sm { ack_request.as_str() } else { "" }
        );
        *issued += 1;
        let _ = tx.send(stanza);
    };
    let wake = shared.wake.get(plan.me);
    loop {
        if !plan.sm {
            confirmed = shared
                .delivered_from
                .get(plan.me)
                .map_or(0, |d| d.load(Ordering::Relaxed) as usize);
        }
        if plan.closed {
            while issued - confirmed < plan.window && issued < plan.per_user {
                send(&mut issued, Instant::now());
            }
        }
        if issued >= plan.per_user
            && confirmed >= issued
            && shared.delivered.load(Ordering::Relaxed) >= plan.total
        {
            break;
        }
        let item = tokio::select! {
            item = r.item(IDLE_TIMEOUT, "the run") => item,
            at = pacer::next_or_never(&mut ticks), if !plan.closed && issued < plan.per_user => {
                match at {
                    Some(at) => send(&mut issued, at),
                    // The schedule is over (it ends only with the run).
                    None => issued = plan.per_user,
                }
                continue;
            }
            _ = done.wait_for(|d| *d) => break,
            () = async { if let Some(w) = wake { w.notified().await } }, if !plan.sm => continue,
        };
        let (name, text) = match item {
            Ok(Item::Element { name, text }) => (name, text),
            Ok(Item::StreamOpen) => {
                shared.failures.add("unexpected stream restart");
                continue;
            }
            Ok(Item::StreamClose) => {
                shared.failures.add("stream closed by the server");
                break;
            }
            Err(e) => {
                // A connection that is done sending and has heard everything it will hear
                // may idle until the others finish: not a failure.
                if !(issued >= plan.per_user && confirmed >= issued) {
                    shared.failures.add(e.to_string());
                }
                break;
            }
        };
        match name.as_str() {
            "message" => {
                received += 1;
                if attribute(&text, "type") == Some("error") {
                    shared.failures.add("error stanza for a message");
                    continue;
                }
                let id = attribute(&text, "id").unwrap_or_default();
                let mut parts = id.split('-');
                let sender = parts.next().and_then(|s| s.parse::<usize>().ok());
                let sent_at = parts.nth(1).and_then(|micros| micros.parse::<u64>().ok());
                match (sender, sent_at) {
                    (Some(sender), Some(micros)) => {
                        if !plan.sm {
                            if let Some(d) = shared.delivered_from.get(sender) {
                                d.fetch_add(1, Ordering::Relaxed);
                            }
                            if let Some(w) = shared.wake.get(sender) {
                                w.notify_one();
                            }
                        }
                        let latency = shared
                            .start
                            .elapsed()
                            .saturating_sub(Duration::from_micros(micros));
                        if let Ok(mut l) = shared.latencies.lock() {
                            l.push(latency);
                        }
                        shared.delivered.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => shared.failures.add("message without a load id"),
                }
            }
            "presence" | "iq" => received += 1,
            "r" => {
                let _ = tx.send(format!("<a xmlns='{SM}' h='{received}'/>"));
            }
            "a" => match attribute(&text, "h").and_then(|h| h.parse::<usize>().ok()) {
                Some(h) => confirmed = confirmed.max(h),
                None => shared.failures.add("<a/> without h"),
            },
            "stream:error" => {
                shared.failures.add(format!("stream error: {text}"));
                break;
            }
            other => shared.failures.add(format!("unexpected <{other}>")),
        }
    }
    drop(tx);
    let _ = writer.await;
}

/// Resident memory fields in MiB (`VmHWM`, `VmRSS`).
fn status_mib(pid: &str, field: &str) -> f64 {
    procfs::status_kib(pid, field) / 1024.0
}

fn tls_connector(ca: &std::path::Path) -> Result<tokio_rustls::TlsConnector, Failure> {
    let cert = CertificateDer::from_pem_file(ca).map_err(|e| Failure::Usage {
        reason: format!("reading {}: {e}", ca.display()),
    })?;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).map_err(|e| Failure::Usage {
        reason: format!("{} is not a usable certificate: {e}", ca.display()),
    })?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Failure::Usage {
            reason: format!("TLS: {e}"),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"xmpp-client".to_vec()];
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

#[tokio::main]
async fn main() -> ExitCode {
    let o = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let tls = match tls_connector(&o.ca) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let hz = clock_ticks();
    let per_user = o.messages / o.users;
    let total = (per_user * o.users) as u64;
    // An ASCII body: nothing in it needs escaping, as nothing in a base64 envelope would.
    let body: Arc<str> = "sotto-bench-"
        .chars()
        .cycle()
        .take(BODY_BYTES)
        .collect::<String>()
        .into();

    // Log everyone in first, then start the clock.
    let t0 = Instant::now();
    let mut connections = Vec::with_capacity(o.users);
    for me in 0..o.users {
        let user = format!("{}{me}", o.user_prefix);
        match login(&o, &tls, &user).await {
            Ok(c) => connections.push(c),
            Err(e) => {
                eprintln!("login of {user}@{} failed: {e}", o.domain);
                println!(
                    "failures: {} of {} logins; no load was run",
                    o.users - me,
                    o.users
                );
                return ExitCode::FAILURE;
            }
        }
    }
    eprintln!(
        "login of {} users: {:.1}s",
        o.users,
        t0.elapsed().as_secs_f64()
    );

    let server_cpu0 = cpu_seconds(&o.pid, hz);
    let written0 = write_bytes(&o.pid);
    let own_cpu0 = cpu_seconds("self", hz);
    let (done_tx, done) = tokio::sync::watch::channel(false);
    let shared = Arc::new(Shared {
        done,
        delivered_from: (0..o.users).map(|_| AtomicU64::new(0)).collect(),
        wake: (0..o.users).map(|_| tokio::sync::Notify::new()).collect(),
        start: Instant::now(),
        delivered: AtomicU64::new(0),
        latencies: Mutex::new(Vec::with_capacity(total as usize)),
        failures: Failures::default(),
    });
    // Message k of the open loop is user k mod N's, at the k-th instant of the pacer's Poisson
    // schedule.
    let schedules = if o.closed {
        Ok(Vec::new())
    } else {
        pacer::start(shared.start, o.knob as f64, o.users, total as usize)
    };
    let mut schedules = match schedules {
        Ok(schedules) => schedules.into_iter(),
        Err(e) => {
            eprintln!("starting the pacer: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut tasks = Vec::with_capacity(o.users);
    for (me, (r, w)) in connections.into_iter().enumerate() {
        let plan = Plan {
            me,
            users: o.users,
            per_user,
            closed: o.closed,
            sm: o.sm,
            window: o.knob,
            ticks: schedules.next(),
            total,
            domain: o.domain.clone(),
            prefix: o.user_prefix.clone(),
            body: body.clone(),
        };
        tasks.push(tokio::spawn(drive(plan, r, w, shared.clone())));
    }
    let mut timed_out = false;
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if shared.delivered.load(Ordering::Relaxed) >= total
            || tasks.iter().all(|t| t.is_finished())
        {
            break;
        }
        if shared.start.elapsed() > o.timeout {
            timed_out = true;
            break;
        }
    }
    let elapsed = shared.start.elapsed();
    if !std::path::Path::new(&format!("/proc/{}/stat", o.pid)).exists() {
        shared
            .failures
            .add("the server process was gone at the end (its figures are missing)");
    }
    let server_cpu = (cpu_seconds(&o.pid, hz) - server_cpu0).max(0.0);
    let written = write_bytes(&o.pid).saturating_sub(written0);
    let own_cpu = cpu_seconds("self", hz) - own_cpu0;
    let load = load_average();
    let _ = done_tx.send(true);
    // Let the last confirmations and acknowledgements cross, then close the streams.
    let grace = tokio::time::Instant::now() + Duration::from_secs(5);
    for t in &mut tasks {
        if tokio::time::timeout_at(grace, &mut *t).await.is_err() {
            t.abort();
        }
    }
    let peak = status_mib(&o.pid, "VmHWM:");
    let rss = status_mib(&o.pid, "VmRSS:");

    let mut lat = shared
        .latencies
        .lock()
        .map(|l| l.clone())
        .unwrap_or_default();
    lat.sort();
    let pct = |p: f64| -> f64 {
        let i = ((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len().max(1)) - 1;
        lat.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    let d = shared.delivered.load(Ordering::Relaxed);
    println!(
        "mode={} backend=prosody-memory confirm={} users={} messages={total} {}={} body_bytes={BODY_BYTES}",
        if o.closed { "closed" } else { "open" },
        if o.sm { "xep0198-ack" } else { "delivery" },
        o.users,
        if o.closed { "window" } else { "rate" },
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
        "server pid={} cpu={server_cpu:.1}s ({:.0}% of one core, {:.1} us/message) peak_rss={peak:.0} MiB rss_now={rss:.0} MiB",
        o.pid,
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
    let failures = shared
        .failures
        .0
        .lock()
        .map(|m| m.clone())
        .unwrap_or_default();
    if failures.is_empty() {
        println!("failures: none");
    } else {
        for (kind, n) in &failures {
            println!("failure: {n} x {kind}");
        }
    }
    if timed_out {
        println!(
            "failure: the run did not finish within {} s",
            o.timeout.as_secs()
        );
    }
    if d < total || timed_out || shared.failures.total() > 0 {
        println!("incomplete: {d} of {total} messages delivered");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(chunks: &[&str]) -> Vec<String> {
        let mut s = Scanner::default();
        let mut out = Vec::new();
        for c in chunks {
            s.push(c.as_bytes());
            while let Some(item) = s.next() {
                out.push(match item {
                    Item::StreamOpen => "open".to_owned(),
                    Item::StreamClose => "close".to_owned(),
                    Item::Element { name, text } => format!("{name}|{text}"),
                });
            }
        }
        out
    }

    #[test]
    fn the_scanner_cuts_top_level_elements_at_any_chunk_boundary() {
        let stream = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' id='a>b'>\
                      <stream:features><bind/></stream:features><a h='3' xmlns='urn:xmpp:sm:3'/>\
                      <message id='1-2-30' type='chat'><body>x &gt; y</body></message>\
                      <stream:stream id='restart'><r/></stream:stream>";
        let whole = items(&[stream]);
        assert_eq!(
            whole,
            vec![
                "open".to_owned(),
                "stream:features|<stream:features><bind/></stream:features>".to_owned(),
                "a|<a h='3' xmlns='urn:xmpp:sm:3'/>".to_owned(),
                "message|<message id='1-2-30' type='chat'><body>x &gt; y</body></message>"
                    .to_owned(),
                "open".to_owned(),
                "r|<r/>".to_owned(),
                "close".to_owned(),
            ]
        );
        for cut in 1..stream.len() {
            let (a, b) = stream.split_at(cut);
            assert_eq!(items(&[a, b]), whole, "cut at {cut}");
        }
    }

    #[test]
    fn attributes_are_read_from_the_start_tag_only() {
        let m = "<message type=\"chat\" id='1-2-30'><body id='no'>x</body></message>";
        assert_eq!(attribute(m, "type"), Some("chat"));
        assert_eq!(attribute(m, "id"), Some("1-2-30"));
        assert_eq!(attribute(m, "from"), None);
    }
}
