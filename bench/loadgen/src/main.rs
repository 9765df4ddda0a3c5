//! Relay load generator. It prepares accounts, devices, 1:1 conversations and WebSocket tickets
//! straight in the store (no RSA key generation), starts `sotto-server` as a **separate
//! process** on a loopback port (real TLS), or `--nodes N` of them on one PostgreSQL schema and
//! one NATS, logs the devices in over WSS and drives them. It prints what a reader sizing a
//! deployment needs: delivered messages/s, send-to-receive latency percentiles, and the server
//! processes' CPU time and memory (from `/proc/<pid>/stat` and `/proc/<pid>/status`), next to
//! its own CPU time and the load average.
//!
//! ```text
//! cargo build --release -p sotto-server -p sotto-loadgen
//! target/release/loadgen closed 100 100000 10          # a window of 10 sends per device
//! target/release/loadgen open 100 100000 5000          # 5,000 messages/s in all
//! target/release/loadgen idle 19000 1000 1000 --hold 60
//! target/release/loadgen idle 100000 1000 1000 --hold 60 --nodes 6 --workers 6 --database-url URL --nats-url URL
//! target/release/loadgen closed 100 100000 10 --database-url postgres://postgres@127.0.0.1:5432/test
//! target/release/loadgen closed 300 100000 10 --nodes 3 --database-url URL --nats-url nats://127.0.0.1:4222
//! target/release/loadgen prekeys 200 1 8
//! ```
//!
//! - `closed` / `open DEVICES MESSAGES WINDOW|RATE` (`relay.rs`): every device sends to random
//!   peers (every other device up to 200 devices, 16 ring neighbours above) and acknowledges
//!   what it receives. The open loop's sends arrive as a Poisson process, each at the instant
//!   the pacer's thread hands it (`pacer.rs`), as do the message phase's of `idle`.
//! - `idle DEVICES [MESSAGES [RATE]]` (`idle.rs`): held connections: connect rate, server memory
//!   per connection, server CPU while idle, then MESSAGES envelopes to random idle devices.
//!   `--workers K` holds the idle devices in K worker processes of this executable, a contiguous
//!   slice each (`workers.rs` starts them, `worker.rs` is one; `hold.rs` holds a socket in
//!   either), so that one run holds more sockets than one process's open-file limit.
//! - `prekeys DEVICES BATCH CLAIMERS` (`prekeys.rs`): one-time prekey uploads and claims.
//!
//! Connections (`connect.rs`) come from loopback source addresses 127.0.1.x, 10,000 per
//! address, at most `--concurrency` handshakes at once (128), each step bounded in time; a
//! progress line shows on a terminal, and every failure is counted and printed. A run that
//! cannot finish says why and exits with status 1. The open-file limit bounds the sockets one
//! process holds (the generator raises its soft limit to the hard one; the servers and workers
//! inherit it), so a run whose share for some process (this one, a worker, a node) does not fit
//! is refused before any setup, naming the `--workers` or `--nodes` it needs (`files.rs`).
//!
//! Options: `--server PATH` (default: `sotto-server` next to this binary), `--database-url URL`
//! (PostgreSQL; a fresh schema is created and dropped), `--nodes N --nats-url URL`,
//! `--limit KEY=VALUE` (a line of the started servers' `[limits]` table), `--hold SECONDS`,
//! `--workers K`, `--concurrency N` (per process), `--sources N`, and `--attach PID --listen
//! ADDR --data-dir DIR` to drive a server that is already running with that data folder (the
//! setup rows are written into its database; its CPU and memory are read from PID).
//!
//! Envelopes are structurally real `sotto-proto` envelopes with constant bytes as ciphertext
//! and signature, which is all the relay can see anyway.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod connect;
mod files;
mod hold;
mod idle;
mod options;
mod pacer;
mod prekeys;
mod procfs;
mod relay;
mod server;
mod setup;
mod stats;
mod worker;
mod workers;

use std::sync::Arc;
use std::time::Instant;

use options::Mode;
use server::Nodes;

/// Says why the run cannot go on, and exits with status 1.
pub fn fail(why: &str) -> ! {
    eprintln!("loadgen: {why}");
    std::process::exit(1)
}

#[tokio::main]
async fn main() {
    let o = options::parse();
    match o.mode {
        Mode::Prekeys => return prekeys::run(&o).await,
        Mode::Worker => return worker::run(o.spec.as_deref().unwrap()).await,
        Mode::Idle | Mode::Closed | Mode::Open => {}
    }
    let devices = if o.mode == Mode::Idle {
        o.devices + idle::SENDERS
    } else {
        o.devices
    };
    let spread = files::Spread {
        devices,
        idle: (o.mode == Mode::Idle).then_some(o.devices),
        workers: o.workers,
        nodes: o.nodes,
    };
    if let Err(why) = files::check(&spread, procfs::raise_open_files()) {
        fail(&why);
    }

    // Setup: rows straight into the store, before any server starts.
    let t0 = Instant::now();
    let (config, dirs) = Nodes::prepare(&o);
    let staging = setup::Staging::for_config(&config, o.attach.is_some());
    let store = sotto_server::open_store(staging.config()).await.unwrap();
    let all = Arc::new(setup::devices(store.clone(), devices).await);
    let plan = match o.mode {
        Mode::Idle => idle::plan(o.devices, o.messages),
        _ => (0..devices)
            .flat_map(|a| setup::peers_of(a, devices).into_iter().map(move |b| (a, b)))
            .collect(),
    };
    setup::conversations(store.clone(), &all, &plan).await;
    store.close().await;
    drop(store);
    staging.finish(&config);
    eprintln!(
        "setup: {devices} devices in {:.1}s",
        t0.elapsed().as_secs_f64()
    );

    let extra = format!(
        "max_connections = {}\nmax_connections_per_ip = {}\n{}",
        devices + 1000,
        connect::PER_SOURCE,
        o.limits
    );
    let nodes = Nodes::start(&o, config, dirs, &extra);
    let ok = match o.mode {
        Mode::Idle => idle::run(&o, &nodes, all, &plan).await,
        _ => relay::run(&o, &nodes, all).await,
    };
    nodes.stop().await;
    if !ok {
        std::process::exit(1);
    }
}
