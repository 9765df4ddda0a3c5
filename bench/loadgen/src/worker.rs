//! `loadgen worker SPEC` (not in the usage text: `workers.rs` starts it): one worker process of
//! `idle --workers K`. It reads its spec, connects its slice of the idle devices with
//! [`connect::connect`] (the same source addresses, progress line, step timeouts and failure
//! counts as in one process), prints one `connected` line, then holds the sockets (`hold.rs`),
//! printing a `recv` line for every envelope, until `stop` or the end of its stdin, when it
//! prints its totals and exits with status 0. Progress and errors go to stderr, which the parent
//! passes through; the lines it prints and reads are `workers.rs`'s.

use std::io::{BufRead, Write};
use std::path::Path;
use std::sync::Arc;

use tokio::sync::mpsc::{self, UnboundedReceiver};
use tokio::task::JoinSet;

use crate::connect;
use crate::hold::{hold, Held};
use crate::procfs::{self, clock_ticks};
use crate::workers::{Ask, Connecting, Report, Spec};

/// The lines this worker prints, written by a thread of their own (tokio's stdin and stdout need
/// a feature the rest of the workspace does without), one flush for whatever queued meanwhile.
struct Out {
    lines: std::sync::mpsc::Sender<String>,
    writer: std::thread::JoinHandle<()>,
}

impl Out {
    fn start() -> Self {
        let (lines, queued) = std::sync::mpsc::channel::<String>();
        let writer = std::thread::spawn(move || {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            while let Ok(line) = queued.recv() {
                let mut written = writeln!(out, "{line}");
                while let (Ok(()), Ok(line)) = (&written, queued.try_recv()) {
                    written = writeln!(out, "{line}");
                }
                if written.and_then(|()| out.flush()).is_err() {
                    // The parent is gone; its end of stdin tells the worker to stop.
                    return;
                }
            }
        });
        Self { lines, writer }
    }

    fn say(&self, report: &Report) {
        let _ = self.lines.send(report.line());
    }

    /// Writes what is queued and returns.
    fn finish(self) {
        drop(self.lines);
        let _ = self.writer.join();
    }
}

/// The parent's requests, read by a thread of their own; the end of stdin is a `stop`.
fn asks() -> UnboundedReceiver<Ask> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            match Ask::parse(&line) {
                Ok(ask) => {
                    if tx.send(ask).is_err() {
                        return;
                    }
                }
                Err(why) => eprintln!("loadgen worker: {why}"),
            }
        }
        let _ = tx.send(Ask::Stop);
    });
    rx
}

pub async fn run(spec: &Path) {
    procfs::raise_open_files();
    let spec = Spec::read(spec).unwrap_or_else(|why| crate::fail(&why));
    let targets = spec.targets().unwrap_or_else(|why| crate::fail(&why));
    let out = Out::start();
    let mut asks = asks();

    let hz = clock_ticks();
    let cpu0 = procfs::cpu_seconds("self", hz);
    let tickets: Vec<&str> = spec.tickets.iter().map(|t| t.expose()).collect();
    let held = Arc::new(Held::default());
    let (tx, mut deliveries) = mpsc::unbounded_channel();
    let mut tasks = JoinSet::new();
    let connected = connect::connect(
        &format!("worker {}", spec.worker),
        &targets,
        spec.first,
        &tickets,
        spec.concurrency,
        spec.sources,
        |ws| {
            tasks.spawn(hold(ws, held.clone(), tx.clone()));
            None
        },
    )
    .await;
    let cpu = procfs::cpu_seconds("self", hz) - cpu0;
    drop(tickets);
    drop(spec);
    drop(tx);
    out.say(&Report::Connected(Connecting::of(&connected, cpu)));

    loop {
        tokio::select! {
            Some(delivery) = deliveries.recv() => out.say(&Report::Recv(delivery)),
            ask = asks.recv() => match ask {
                Some(Ask::Totals) => out.say(&Report::Totals(held.totals())),
                Some(Ask::Stop) | None => break,
            },
        }
    }
    tasks.abort_all();
    out.say(&Report::Totals(held.totals()));
    out.finish();
}
