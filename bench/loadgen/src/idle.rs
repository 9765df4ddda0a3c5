//! `loadgen idle N [MESSAGES [RATE]] [--hold SECONDS]`: what a held connection costs. It logs N
//! devices in (the connect rate), holds them while the server pings them (the server's memory
//! per connection and its CPU while idle), then a few sender devices send MESSAGES envelopes at
//! RATE per second to random idle devices (the delivery latency to a device that has been
//! quiet).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use sotto_wire::ServerFrame;
use tokio_tungstenite::tungstenite::Message;

use crate::connect::{self, Socket};
use crate::options::Options;
use crate::procfs::{self, clock_ticks};
use crate::relay::{ack_frame, send_frame};
use crate::server::Nodes;
use crate::setup::{self, Device};
use crate::stats::{self, message_id, Clock, Rng};

/// Devices that send the messages (besides the N idle ones).
pub const SENDERS: usize = 10;
/// How long delivery may take after the last send.
const DRAIN: Duration = Duration::from_secs(30);

/// The (sender, recipient) pairs of the message phase: senders are the devices after the
/// `idle` idle ones, recipients random idle devices.
pub fn plan(idle: usize, messages: usize) -> Vec<(usize, usize)> {
    let mut rng = Rng::new();
    (0..messages)
        .map(|k| (idle + k % SENDERS, rng.below(idle)))
        .collect()
}

#[derive(Default)]
struct Held {
    pings: AtomicU64,
    dropped: AtomicU64,
    delivered: AtomicU64,
    refused: AtomicU64,
}

/// Holds one idle socket: answers pings, acknowledges envelopes, counts what happens.
async fn hold(mut ws: Socket, held: Arc<Held>, clock: Arc<Clock>, lat: Arc<Mutex<Vec<Duration>>>) {
    loop {
        match ws.next().await {
            Some(Ok(Message::Ping(_))) => {
                held.pings.fetch_add(1, Ordering::Relaxed);
            }
            Some(Ok(Message::Text(text))) => {
                if let Ok(ServerFrame::Envelope { message_id, .. }) =
                    serde_json::from_str::<ServerFrame<'_>>(text.as_str())
                {
                    if let Some(at) = clock.take(&message_id) {
                        lat.lock().unwrap().push(at.elapsed());
                    }
                    held.delivered.fetch_add(1, Ordering::Relaxed);
                    let ack = ack_frame(&mut vec![message_id]);
                    if ws.send(Message::Text(ack.into())).await.is_err() {
                        held.dropped.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                }
            }
            Some(Ok(_)) => {}
            Some(Err(_)) | None => {
                held.dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
    }
}

/// One sender: its share of the plan at its share of the rate; counts refusals.
async fn send(
    ws: Socket,
    me: usize,
    recipients: Vec<usize>,
    period: Duration,
    all: Arc<Vec<Device>>,
    clock: Arc<Clock>,
    held: Arc<Held>,
) {
    let (mut sink, mut stream) = ws.split();
    let reader = {
        let held = held.clone();
        tokio::spawn(async move {
            while let Some(Ok(message)) = stream.next().await {
                if let Message::Text(text) = message {
                    if let Ok(ServerFrame::Error { .. }) =
                        serde_json::from_str::<ServerFrame<'_>>(text.as_str())
                    {
                        held.refused.fetch_add(1, Ordering::Relaxed);
                        eprintln!("refused: {text}");
                    }
                }
            }
        })
    };
    let mut rng = Rng::new();
    let mut tick = tokio::time::interval(period);
    for (n, peer) in recipients.into_iter().enumerate() {
        let at = tick.tick().await.into_std();
        let id = message_id(&mut rng, me, n as u64);
        clock.put(id, at);
        let frame = send_frame(n as u64 + 1, &all, me, peer, id);
        if sink.send(Message::Text(frame.into())).await.is_err() {
            held.dropped.fetch_add(1, Ordering::Relaxed);
            break;
        }
    }
    // Keep the socket open (and its confirmations read) until the run ends.
    let _ = reader.await;
}

pub async fn run(
    o: &Options,
    nodes: &Nodes,
    all: Arc<Vec<Device>>,
    plan: &[(usize, usize)],
) -> bool {
    let hz = clock_ticks();
    let idle = all.len() - SENDERS;
    let sources = connect::sources_for(all.len(), o.sources);
    let rss0 = nodes.memory_kib("VmRSS:");
    let (server0, own0) = (nodes.cpu_seconds(hz), procfs::cpu_seconds("self", hz));
    let connected = connect::connect(
        "idle",
        &nodes.targets,
        0,
        &setup::tickets(&all[..idle]),
        o.concurrency,
        sources,
    )
    .await;
    let (server1, own1) = (nodes.cpu_seconds(hz), procfs::cpu_seconds("self", hz));
    let rss1 = nodes.memory_kib("VmRSS:");
    let ok = connected.ok();
    println!(
        "mode=idle backend={} nodes={} idle={idle} connected={ok} sources={sources} concurrency={}",
        nodes.backend(),
        nodes.pids.len(),
        o.concurrency
    );
    println!(
        "connect: {ok} in {:.1} s => {:.0} handshakes/s (TCP + TLS 1.3 + WebSocket upgrade + ticket + ready)",
        connected.elapsed.as_secs_f64(),
        connected.rate()
    );
    println!(
        "connect cpu: server {:.0} us per handshake, loadgen {:.0} us per handshake",
        1e6 * (server1 - server0) / ok.max(1) as f64,
        1e6 * (own1 - own0) / ok.max(1) as f64
    );
    if connected.failures.total() > 0 {
        eprintln!(
            "loadgen: {} of {idle} idle devices could not connect:\n{}",
            connected.failures.total(),
            connected.failures.describe()
        );
        return false;
    }
    let senders = connect::connect(
        "senders",
        &nodes.targets,
        idle,
        &setup::tickets(&all[idle..]),
        o.concurrency,
        sources,
    )
    .await;
    if senders.failures.total() > 0 {
        eprintln!(
            "loadgen: senders could not connect:\n{}",
            senders.failures.describe()
        );
        return false;
    }

    let held = Arc::new(Held::default());
    let clock = Arc::new(Clock::new());
    let lat = Arc::new(Mutex::new(Vec::with_capacity(plan.len())));
    let mut tasks = Vec::with_capacity(all.len());
    for ws in connected.sockets.into_iter().flatten() {
        tasks.push(tokio::spawn(hold(
            ws,
            held.clone(),
            clock.clone(),
            lat.clone(),
        )));
    }

    // Hold: nothing but the server's pings.
    let cpu0 = nodes.cpu_seconds(hz);
    let own0 = procfs::cpu_seconds("self", hz);
    tokio::time::sleep(o.hold).await;
    let idle_cpu = nodes.cpu_seconds(hz) - cpu0;
    let own_idle_cpu = procfs::cpu_seconds("self", hz) - own0;
    let rss2 = nodes.memory_kib("VmRSS:");
    let per_conn = |rss: f64| (rss - rss0) / ok.max(1) as f64;
    println!(
        "server memory: rss {:.0} MiB before, {:.0} MiB connected, {:.0} MiB after the hold => \
         {:.1} KiB per connection connected, {:.1} KiB after the hold",
        rss0 / 1024.0,
        rss1 / 1024.0,
        rss2 / 1024.0,
        per_conn(rss1),
        per_conn(rss2)
    );
    println!(
        "hold {} s: server cpu {:.2} s ({:.2}% of one core), {} pings answered, {} sockets dropped; \
         loadgen cpu {:.2} s",
        o.hold.as_secs(),
        idle_cpu,
        100.0 * idle_cpu / o.hold.as_secs_f64(),
        held.pings.load(Ordering::Relaxed),
        held.dropped.load(Ordering::Relaxed),
        own_idle_cpu
    );

    // Messages to random idle devices.
    let rate = o.knob.max(1) as f64;
    let period = Duration::from_secs_f64(SENDERS as f64 / rate);
    let start = Instant::now();
    for (k, ws) in senders.sockets.into_iter().enumerate() {
        let Some(ws) = ws else { continue };
        let me = idle + k;
        let recipients: Vec<usize> = plan
            .iter()
            .filter(|(s, _)| *s == me)
            .map(|&(_, r)| r)
            .collect();
        tasks.push(tokio::spawn(send(
            ws,
            me,
            recipients,
            period,
            all.clone(),
            clock.clone(),
            held.clone(),
        )));
    }
    let sending = Duration::from_secs_f64(plan.len() as f64 / rate);
    while (held.delivered.load(Ordering::Relaxed) as usize) < plan.len()
        && start.elapsed() < sending + DRAIN
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let delivered = held.delivered.load(Ordering::Relaxed) as usize;
    let mut sorted = lat.lock().unwrap().clone();
    sorted.sort();
    println!(
        "messages: {delivered} of {} delivered to idle devices at {rate:.0}/s; latency ms: {}",
        plan.len(),
        stats::summary(&sorted)
    );
    println!(
        "server peak_rss={:.0} MiB; load average at end {}",
        nodes.memory_kib("VmHWM:") / 1024.0,
        procfs::load_average()
    );
    for t in tasks {
        t.abort();
    }
    let refused = held.refused.load(Ordering::Relaxed);
    let dropped = held.dropped.load(Ordering::Relaxed);
    if delivered < plan.len() || refused > 0 || dropped > 0 {
        eprintln!(
            "loadgen: incomplete: {delivered} of {} delivered, {refused} sends refused, \
             {dropped} sockets dropped",
            plan.len()
        );
        return false;
    }
    true
}
