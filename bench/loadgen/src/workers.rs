//! `idle --workers K`: one process holds only as many sockets as its open-file limit allows, so
//! the idle devices are spread over K processes of this executable, each given a contiguous
//! slice (`worker.rs` is the worker's side). This file owns what passes between the two — the
//! spec a worker starts from, the lines it prints, the lines it reads — and the parent's side:
//! starting the workers, waiting for them to connect, asking for their totals, stopping them,
//! and saying which one ended early and how. Dropping the [`Pool`] kills the workers still
//! running, so a run that gives up leaves none behind; a worker whose stdin ends (its parent
//! gone) stops by itself.
//!
//! ```text
//! parent → worker (stdin)    worker → parent (stdout)
//!                            connected {"ok":…,"failed":…,"elapsed_s":…,"cpu_s":…,"failures":"…"}
//!                            recv <message id> <unix time ns>    (one per envelope received)
//! totals                     totals <pings> <dropped>
//! stop (or end of stdin)     totals <pings> <dropped>, then exit status 0
//! ```

use std::fs::Permissions;
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rustls::pki_types::CertificateDer;
use serde::{Deserialize, Serialize};
use sotto_wire::Secret;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};
use tokio::time::timeout;

use crate::connect::{Connected, Targets};
use crate::hold::{Delivery, Totals};
use crate::procfs;
use crate::setup::Device;

/// How long a worker may take to answer `totals`, or to exit once its output ended or it was
/// told to stop, before the run gives up on it (and kills it).
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// What one worker is given. The parent writes it to a file of mode 0600 in a directory of mode
/// 0700 (the tickets are secrets, even in a benchmark) and removes it once every worker has
/// connected.
#[derive(Serialize, Deserialize)]
pub struct Spec {
    /// The worker's number, for its progress line and the parent's errors.
    pub worker: usize,
    /// Every node's address, in order: device `i` connects to node `i % nodes`.
    pub listens: Vec<SocketAddr>,
    /// Every node's certificate (DER, base64): the worker trusts these and nothing else.
    pub certificates: Vec<String>,
    /// The index of the slice's first device among all devices. A device keeps its index in a
    /// worker, so its node and its loopback source address are the ones it would have in one
    /// process, and the workers' source addresses do not collide.
    pub first: usize,
    /// The slice's single-use tickets, in order.
    pub tickets: Vec<Secret>,
    /// Loopback source addresses over all devices (`connect::sources_for`).
    pub sources: usize,
    /// Handshakes in progress at once, in this worker.
    pub concurrency: usize,
}

impl Spec {
    /// Writes the spec to a new file of mode 0600.
    fn write(&self, path: &Path) -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)?;
        file.write_all(&serde_json::to_vec(self)?)
    }

    pub fn read(path: &Path) -> Result<Self, String> {
        let text = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_json::from_slice(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The nodes, and the TLS configuration that trusts their certificates.
    pub fn targets(&self) -> Result<Targets, String> {
        let certificates = self
            .certificates
            .iter()
            .map(|c| STANDARD.decode(c).map(CertificateDer::from))
            .collect::<Result<_, _>>()
            .map_err(|e| format!("a node's certificate: {e}"))?;
        Ok(Targets::new(self.listens.clone(), certificates))
    }
}

/// A connect phase: one worker's, or the sum over all of them ([`Pool::connected`]).
#[derive(Serialize, Deserialize, Default, Debug, PartialEq)]
pub struct Connecting {
    pub ok: usize,
    pub failed: u64,
    /// Seconds from the first handshake started to the last one done.
    pub elapsed_s: f64,
    /// CPU seconds the generator spent connecting.
    pub cpu_s: f64,
    /// Failures by step with the first error of each, one line per step; empty when none.
    pub failures: String,
}

impl Connecting {
    pub fn of(connected: &Connected, cpu_s: f64) -> Self {
        Self {
            ok: connected.ok(),
            failed: connected.failures.total(),
            elapsed_s: connected.elapsed.as_secs_f64(),
            cpu_s,
            failures: connected.failures.describe(),
        }
    }
}

/// A line a worker prints on stdout.
#[derive(Debug, PartialEq)]
pub enum Report {
    /// Connecting its slice is done (once, first).
    Connected(Connecting),
    /// An envelope reached one of its devices.
    Recv(Delivery),
    /// Its counts so far, when asked or when stopping.
    Totals(Totals),
}

impl Report {
    pub fn line(&self) -> String {
        match self {
            Self::Connected(c) => format!("connected {}", serde_json::to_string(c).unwrap()),
            Self::Recv(d) => format!("recv {} {}", d.id, d.at_ns),
            Self::Totals(t) => format!("totals {} {}", t.pings, t.dropped),
        }
    }

    pub fn parse(line: &str) -> Result<Self, String> {
        let unreadable = || format!("an unreadable line: {line:?}");
        let (word, rest) = line.split_once(' ').ok_or_else(unreadable)?;
        if word == "connected" {
            return serde_json::from_str(rest)
                .map(Self::Connected)
                .map_err(|_| unreadable());
        }
        let (first, second) = rest.split_once(' ').ok_or_else(unreadable)?;
        match word {
            "recv" => Ok(Self::Recv(Delivery {
                id: first.parse().map_err(|_| unreadable())?,
                at_ns: second.parse().map_err(|_| unreadable())?,
            })),
            "totals" => Ok(Self::Totals(Totals {
                pings: first.parse().map_err(|_| unreadable())?,
                dropped: second.parse().map_err(|_| unreadable())?,
            })),
            _ => Err(unreadable()),
        }
    }
}

/// A line the parent writes to a worker's stdin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ask {
    /// Print your totals.
    Totals,
    /// Print your totals and exit.
    Stop,
}

impl Ask {
    pub fn line(self) -> &'static str {
        match self {
            Self::Totals => "totals\n",
            Self::Stop => "stop\n",
        }
    }

    pub fn parse(line: &str) -> Result<Self, String> {
        match line.trim_end() {
            "totals" => Ok(Self::Totals),
            "stop" => Ok(Self::Stop),
            other => Err(format!("unknown request {other:?}")),
        }
    }
}

/// What a worker's stdout reader passes on (deliveries go straight to the latency count).
enum Event {
    Said(Report),
    Unreadable(String),
    /// Its stdout ended.
    Closed,
}

struct Worker {
    /// Killed when dropped.
    child: Child,
    pid: u32,
    stdin: ChildStdin,
}

/// The running workers.
pub struct Pool {
    workers: Vec<Worker>,
    events: UnboundedReceiver<(usize, Event)>,
    /// A worker whose output ended while its exit status was awaited, kept so that a caller
    /// cancelled meanwhile ([`Pool::lost`] in a `select!`) finds it again.
    closing: Option<usize>,
    /// The spec files, until every worker has connected.
    specs: Option<tempfile::TempDir>,
    started: Instant,
    /// This process's CPU seconds when the first worker started.
    cpu0: f64,
    hz: f64,
}

/// Reads worker `k`'s stdout: deliveries to `deliveries`, everything else to `events`.
async fn read(
    k: usize,
    stdout: ChildStdout,
    events: UnboundedSender<(usize, Event)>,
    deliveries: UnboundedSender<Delivery>,
) {
    let mut lines = BufReader::new(stdout).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let event = match Report::parse(&line) {
            Ok(Report::Recv(delivery)) => {
                let _ = deliveries.send(delivery);
                continue;
            }
            Ok(report) => Event::Said(report),
            Err(why) => Event::Unreadable(why),
        };
        if events.send((k, event)).is_err() {
            return;
        }
    }
    let _ = events.send((k, Event::Closed));
}

impl Pool {
    /// Starts `count` workers of this executable, worker `k` holding the `k`-th contiguous
    /// slice of `idle` (the idle devices, from index 0); what they receive goes to `deliveries`.
    pub fn start(
        targets: &Targets,
        idle: &[Device],
        count: usize,
        sources: usize,
        concurrency: usize,
        deliveries: UnboundedSender<Delivery>,
    ) -> Result<Self, String> {
        let hz = procfs::clock_ticks();
        let exe = std::env::current_exe().map_err(|e| format!("this executable: {e}"))?;
        let specs = tempfile::Builder::new()
            .prefix("loadgen-workers-")
            .permissions(Permissions::from_mode(0o700))
            .tempdir()
            .map_err(|e| format!("a folder for the workers' specs: {e}"))?;
        let certificates: Vec<String> = targets
            .certificates
            .iter()
            .map(|c| STANDARD.encode(c))
            .collect();
        let (tx, events) = mpsc::unbounded_channel();
        let started = Instant::now();
        let cpu0 = procfs::cpu_seconds("self", hz);
        let mut workers = Vec::with_capacity(count);
        for k in 0..count {
            let slice = k * idle.len() / count..(k + 1) * idle.len() / count;
            let spec = Spec {
                worker: k,
                listens: targets.listens.clone(),
                certificates: certificates.clone(),
                first: slice.start,
                tickets: idle[slice]
                    .iter()
                    .map(|d| Secret::new(d.ticket.as_str()))
                    .collect(),
                sources,
                concurrency,
            };
            let path = specs.path().join(format!("worker{k}.json"));
            spec.write(&path)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            let mut child = tokio::process::Command::new(&exe)
                .arg("worker")
                .arg(&path)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| format!("starting worker {k} ({}): {e}", exe.display()))?;
            let (Some(stdin), Some(stdout), Some(pid)) =
                (child.stdin.take(), child.stdout.take(), child.id())
            else {
                return Err(format!("worker {k} started without its pipes"));
            };
            tokio::spawn(read(k, stdout, tx.clone(), deliveries.clone()));
            workers.push(Worker { child, pid, stdin });
        }
        Ok(Self {
            workers,
            events,
            closing: None,
            specs: Some(specs),
            started,
            cpu0,
            hz,
        })
    }

    /// Waits for every worker's `connected` line and sums them: the elapsed time runs from the
    /// first worker's start to the last one's line, the CPU time is the workers' plus this
    /// process's meanwhile.
    pub async fn connected(&mut self) -> Result<Connecting, String> {
        let mut reports: Vec<Option<Connecting>> = self.workers.iter().map(|_| None).collect();
        while reports.iter().any(Option::is_none) {
            let (k, event) = self.next().await?;
            match event {
                Event::Said(Report::Connected(c)) => reports[k] = Some(c),
                other => return Err(self.unexpected(k, other).await),
            }
        }
        // Every worker has read its spec and spent its tickets.
        self.specs = None;
        let mut sum = Connecting {
            elapsed_s: self.started.elapsed().as_secs_f64(),
            cpu_s: procfs::cpu_seconds("self", self.hz) - self.cpu0,
            ..Connecting::default()
        };
        for (k, c) in reports.into_iter().flatten().enumerate() {
            sum.ok += c.ok;
            sum.failed += c.failed;
            sum.cpu_s += c.cpu_s;
            if !c.failures.is_empty() {
                sum.failures
                    .push_str(&format!("worker {k}:\n{}", c.failures));
            }
        }
        Ok(sum)
    }

    /// The workers' totals so far, summed.
    pub async fn totals(&mut self) -> Result<Totals, String> {
        self.ask(Ask::Totals).await?;
        self.collect_totals(false).await
    }

    /// Resolves when a worker ends or says something unasked, and says which and how (it never
    /// resolves while all is well). Cancel-safe, for a `select!`.
    pub async fn lost(&mut self) -> String {
        match self.next().await {
            Ok((k, event)) => self.unexpected(k, event).await,
            Err(why) => why,
        }
    }

    /// CPU seconds of every worker so far.
    pub fn cpu_seconds(&self) -> f64 {
        self.workers
            .iter()
            .map(|w| procfs::cpu_seconds(&w.pid.to_string(), self.hz))
            .sum()
    }

    /// Tells every worker to stop, sums their last totals and waits for each to exit; one that
    /// exits with a failure status, or not at all, fails the run.
    pub async fn stop(mut self) -> Result<Totals, String> {
        self.ask(Ask::Stop).await?;
        let totals = self.collect_totals(true).await?;
        for (k, w) in self.workers.iter_mut().enumerate() {
            match timeout(ANSWER_WITHIN, w.child.wait()).await {
                Ok(Ok(status)) if status.success() => {}
                Ok(Ok(status)) => return Err(format!("worker {k} (pid {}): {status}", w.pid)),
                Ok(Err(e)) => return Err(format!("worker {k} (pid {}): {e}", w.pid)),
                Err(_) => {
                    return Err(format!(
                        "worker {k} (pid {}) did not exit within {} s of `stop`",
                        w.pid,
                        ANSWER_WITHIN.as_secs()
                    ))
                }
            }
        }
        Ok(totals)
    }

    async fn ask(&mut self, ask: Ask) -> Result<(), String> {
        for k in 0..self.workers.len() {
            if self.workers[k]
                .stdin
                .write_all(ask.line().as_bytes())
                .await
                .is_err()
            {
                return Err(self.ended(k).await);
            }
        }
        Ok(())
    }

    /// One `totals` line from every worker, summed. When `stopping`, a worker's output may end
    /// once it has given its totals.
    async fn collect_totals(&mut self, stopping: bool) -> Result<Totals, String> {
        let mut got: Vec<Option<Totals>> = self.workers.iter().map(|_| None).collect();
        while got.iter().any(Option::is_none) {
            let Ok(next) = timeout(ANSWER_WITHIN, self.next()).await else {
                let silent = got.iter().position(Option::is_none).unwrap_or(0);
                return Err(format!(
                    "worker {silent} gave no totals within {} s",
                    ANSWER_WITHIN.as_secs()
                ));
            };
            let (k, event) = next?;
            match event {
                Event::Said(Report::Totals(t)) => got[k] = Some(t),
                Event::Closed if stopping && got[k].is_some() => {}
                other => return Err(self.unexpected(k, other).await),
            }
        }
        Ok(got
            .into_iter()
            .flatten()
            .fold(Totals::default(), |a, b| a + b))
    }

    /// The next event (a worker whose exit was being awaited first).
    async fn next(&mut self) -> Result<(usize, Event), String> {
        if let Some(k) = self.closing {
            return Ok((k, Event::Closed));
        }
        self.events
            .recv()
            .await
            .ok_or_else(|| "every worker's output ended".to_owned())
    }

    /// Says what went wrong with worker `k`, given an event the caller did not expect.
    async fn unexpected(&mut self, k: usize, event: Event) -> String {
        match event {
            Event::Said(report) => format!("worker {k} said {:?} out of turn", report.line()),
            Event::Unreadable(why) => format!("worker {k} printed {why}"),
            Event::Closed => {
                self.closing = Some(k);
                let why = self.ended(k).await;
                self.closing = None;
                why
            }
        }
    }

    /// Worker `k`'s exit status, once its output ended or its stdin refused a line (killed
    /// when it does not exit within [`ANSWER_WITHIN`]).
    async fn ended(&mut self, k: usize) -> String {
        let w = &mut self.workers[k];
        let status = match timeout(ANSWER_WITHIN, w.child.wait()).await {
            Ok(Ok(status)) => status.to_string(),
            Ok(Err(e)) => format!("no exit status ({e})"),
            Err(_) => {
                let _ = w.child.start_kill();
                format!(
                    "its output ended but it did not exit within {} s (killed)",
                    ANSWER_WITHIN.as_secs()
                )
            }
        };
        format!("worker {k} (pid {}) ended: {status}", w.pid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sotto_proto::ids::MessageId;

    #[test]
    fn every_report_reads_back_from_its_line() {
        let reports = [
            Report::Connected(Connecting {
                ok: 16_000,
                failed: 2,
                elapsed_s: 31.5,
                cpu_s: 8.25,
                failures: "  Tls: 2 failed; first: \"reset\"\n".into(),
            }),
            Report::Recv(Delivery {
                id: MessageId::from_bytes([0xab; 16]),
                at_ns: 1_765_000_000_123_456_789,
            }),
            Report::Totals(Totals {
                pings: 40_000,
                dropped: 1,
            }),
        ];
        for report in reports {
            let line = report.line();
            assert!(!line.contains('\n'), "{line}");
            assert_eq!(Report::parse(&line).unwrap(), report);
        }
    }

    #[test]
    fn a_line_that_is_no_report_is_refused() {
        for line in [
            "",
            "recv",
            "recv abc 12",
            "totals 1",
            "totals 1 x",
            "hello there",
        ] {
            assert!(Report::parse(line).is_err(), "{line:?}");
        }
    }

    #[test]
    fn asks_read_back_and_unknown_ones_are_refused() {
        for ask in [Ask::Totals, Ask::Stop] {
            assert_eq!(Ask::parse(ask.line()).unwrap(), ask);
        }
        assert!(Ask::parse("quit").is_err());
    }

    #[test]
    fn a_spec_file_is_readable_by_its_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spec.json");
        let spec = Spec {
            worker: 1,
            listens: vec!["127.0.0.1:4433".parse().unwrap()],
            certificates: vec![STANDARD.encode([1, 2, 3])],
            first: 5000,
            tickets: vec![Secret::new("sotto_tk_secret")],
            sources: 2,
            concurrency: 64,
        };
        spec.write(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let back = Spec::read(&path).unwrap();
        assert_eq!(back.first, 5000);
        assert_eq!(back.tickets[0].expose(), "sotto_tk_secret");
    }
}
