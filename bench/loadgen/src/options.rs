//! The command line (see the crate documentation for the forms).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// What to run.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A window of unconfirmed sends per device.
    Closed,
    /// A fixed total rate.
    Open,
    /// Many held sockets, then a few messages to them.
    Idle,
    /// One-time prekey uploads and claims.
    Prekeys,
    /// One worker process of `idle --workers K` (`worker.rs`; not in the usage text).
    Worker,
}

pub struct Options {
    pub mode: Mode,
    pub devices: usize,
    pub messages: usize,
    /// Closed: the window; open: the rate; prekeys: the claimers; idle: unused.
    pub knob: usize,
    pub server: Option<PathBuf>,
    pub database_url: Option<String>,
    pub nats_url: Option<String>,
    pub nodes: usize,
    pub attach: Option<String>,
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    /// Idle mode: how long the sockets are held before the messages.
    pub hold: Duration,
    /// Handshakes in progress at once.
    pub concurrency: usize,
    /// Loopback source addresses the sockets are spread over (0: as many as needed).
    pub sources: usize,
    /// Lines added to every started node's `[limits]` table.
    pub limits: String,
    /// Idle mode: processes holding the idle devices (1: this one; more: worker processes).
    pub workers: usize,
    /// Worker mode: the spec file the parent wrote.
    pub spec: Option<PathBuf>,
}

const USAGE: &str =
    "usage: loadgen closed|open|idle|prekeys [DEVICES [MESSAGES [WINDOW|RATE|CLAIMERS]]] \
[--hold SECONDS] [--workers K] [--concurrency N] [--sources N] \
[--nodes N --database-url URL --nats-url URL] [--limit KEY=VALUE]... [--server PATH] \
[--attach PID --listen ADDR --data-dir DIR]";

fn usage(problem: &str) -> ! {
    eprintln!("loadgen: {problem}\n{USAGE}");
    std::process::exit(2)
}

fn number<T: std::str::FromStr>(what: &str, text: &str) -> T {
    text.parse()
        .unwrap_or_else(|_| usage(&format!("{what}: {text:?} is not a number")))
}

pub fn parse() -> Options {
    let mut positional = Vec::new();
    let mut o = Options {
        mode: Mode::Closed,
        devices: 100,
        messages: 100_000,
        knob: 0,
        server: None,
        database_url: None,
        nats_url: None,
        nodes: 1,
        attach: None,
        listen: None,
        data_dir: None,
        hold: Duration::from_secs(60),
        concurrency: 128,
        sources: 0,
        limits: String::new(),
        workers: 1,
        spec: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| usage(&format!("{arg} needs a value")))
        };
        match arg.as_str() {
            "--server" => o.server = Some(PathBuf::from(value())),
            "--database-url" => o.database_url = Some(value()),
            "--nats-url" => o.nats_url = Some(value()),
            "--nodes" => o.nodes = number("--nodes", &value()),
            "--attach" => o.attach = Some(value()),
            "--listen" => o.listen = Some(number("--listen", &value())),
            "--data-dir" => o.data_dir = Some(PathBuf::from(value())),
            "--hold" => o.hold = Duration::from_secs(number("--hold", &value())),
            "--concurrency" => o.concurrency = number::<usize>("--concurrency", &value()).max(1),
            "--sources" => o.sources = number("--sources", &value()),
            "--workers" => o.workers = number("--workers", &value()),
            "--limit" => {
                let v = value();
                let Some((key, val)) = v.split_once('=') else {
                    usage("--limit takes KEY=VALUE (a key of the server's [limits] table)")
                };
                o.limits.push_str(&format!("{key} = {val}\n"));
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0)
            }
            _ if arg.starts_with("--") => usage(&format!("unknown option {arg}")),
            _ => positional.push(arg),
        }
    }
    o.mode = match positional.first().map(String::as_str) {
        None | Some("closed") => Mode::Closed,
        Some("open") => Mode::Open,
        Some("idle") => Mode::Idle,
        Some("prekeys") => Mode::Prekeys,
        Some("worker") => Mode::Worker,
        Some(other) => usage(&format!("unknown mode {other:?}")),
    };
    if o.mode == Mode::Worker {
        let Some(spec) = positional.get(1) else {
            usage("worker takes the path of its spec")
        };
        o.spec = Some(PathBuf::from(spec));
        return o;
    }
    if o.mode == Mode::Idle {
        o.devices = 10_000;
        o.messages = 1_000;
    }
    if let Some(v) = positional.get(1) {
        o.devices = number("devices", v);
    }
    if let Some(v) = positional.get(2) {
        o.messages = number("messages", v);
    } else if o.mode == Mode::Prekeys {
        // The devices one claim names.
        o.messages = 1;
    }
    o.knob = positional
        .get(3)
        .map(|v| number("window, rate or claimers", v))
        .unwrap_or(match o.mode {
            Mode::Open => 5000,
            Mode::Prekeys => 8,
            Mode::Idle => 1000,
            Mode::Closed => 10,
            Mode::Worker => 0,
        });
    if o.devices < 2 {
        usage("at least 2 devices");
    }
    if o.knob == 0 && matches!(o.mode, Mode::Open | Mode::Closed) {
        usage("the window or rate is at least 1");
    }
    if o.nodes == 0 {
        usage("--nodes is at least 1");
    }
    if o.nodes > 1 && (o.database_url.is_none() || o.nats_url.is_none()) {
        usage("--nodes N above 1 needs --database-url (PostgreSQL) and --nats-url");
    }
    if o.workers == 0 {
        usage("--workers is at least 1");
    }
    if o.workers > 1 && o.mode != Mode::Idle {
        usage("--workers spreads the idle devices of `idle`; the other modes run in one process");
    }
    if o.workers > o.devices {
        usage("--workers is at most the number of idle devices");
    }
    if o.nodes > 1 && o.attach.is_some() {
        usage("--attach drives one running server; --nodes starts its own");
    }
    o
}
