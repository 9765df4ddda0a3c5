//! `loadgen idle N [MESSAGES [RATE]] [--hold SECONDS] [--workers K]`: what a held connection
//! costs. It logs N devices in (the connect rate), holds them while the server pings them (the
//! server's memory per connection and its CPU while idle), then a few sender devices send
//! MESSAGES envelopes at RATE per second to random idle devices (the delivery latency to a
//! device that has been quiet). The idle devices are held by this process, or with `--workers
//! K` by K worker processes, a contiguous slice each (`workers.rs`), so that a run can hold more
//! sockets than one process's open-file limit allows; the senders are this process's either
//! way, and latency is the receiver's wall clock minus the sender's, which both processes share.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use sotto_wire::ServerFrame;
use tokio::sync::mpsc::{self, UnboundedSender};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;

use crate::connect::{self, Socket};
use crate::hold::{hold, Delivery, Held, Totals};
use crate::options::Options;
use crate::pacer::{self, Ticks};
use crate::procfs::{self, clock_ticks};
use crate::relay::send_frame;
use crate::server::Nodes;
use crate::setup::{self, Device};
use crate::stats::{self, message_id, wall_ns, Clock, Rng};
use crate::workers::{Connecting, Pool};

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

/// Who holds the idle sockets.
enum Holders {
    /// Tasks of this process.
    Here { held: Arc<Held>, tasks: JoinSet<()> },
    /// Worker processes.
    Workers(Pool),
}

impl Holders {
    /// Connects the idle devices (`0..idle.len()`) and starts holding them; what they receive
    /// goes to `deliveries`. The connect phase is summed over the workers, if any.
    async fn connect(
        o: &Options,
        nodes: &Nodes,
        idle: &[Device],
        sources: usize,
        deliveries: UnboundedSender<Delivery>,
    ) -> Result<(Connecting, Self), String> {
        if o.workers > 1 {
            let mut pool = Pool::start(
                &nodes.targets,
                idle,
                o.workers,
                sources,
                o.concurrency,
                deliveries,
            )?;
            let connecting = pool.connected().await?;
            return Ok((connecting, Self::Workers(pool)));
        }
        let hz = clock_ticks();
        let cpu0 = procfs::cpu_seconds("self", hz);
        let tickets = setup::tickets(idle);
        let held = Arc::new(Held::default());
        let mut tasks = JoinSet::new();
        let connected = connect::connect(
            "idle",
            &nodes.targets,
            0,
            &tickets,
            o.concurrency,
            sources,
            |ws| {
                tasks.spawn(hold(ws, held.clone(), deliveries.clone()));
                None
            },
        )
        .await;
        let connecting = Connecting::of(&connected, procfs::cpu_seconds("self", hz) - cpu0);
        Ok((connecting, Self::Here { held, tasks }))
    }

    /// Pings answered and sockets dropped so far.
    async fn totals(&mut self) -> Result<Totals, String> {
        match self {
            Self::Here { held, .. } => Ok(held.totals()),
            Self::Workers(pool) => pool.totals().await,
        }
    }

    /// Resolves when a worker ends or misbehaves, saying which and how; never in one process.
    /// Cancel-safe, for a `select!`.
    async fn lost(&mut self) -> String {
        match self {
            Self::Here { .. } => std::future::pending().await,
            Self::Workers(pool) => pool.lost().await,
        }
    }

    /// CPU seconds of the generator so far: this process and its workers.
    fn cpu_seconds(&self, hz: f64) -> f64 {
        procfs::cpu_seconds("self", hz)
            + match self {
                Self::Here { .. } => 0.0,
                Self::Workers(pool) => pool.cpu_seconds(),
            }
    }

    /// Closes the idle sockets (the workers exit) and returns the last totals.
    async fn stop(self) -> Result<Totals, String> {
        match self {
            Self::Here { held, mut tasks } => {
                tasks.abort_all();
                Ok(held.totals())
            }
            Self::Workers(pool) => pool.stop().await,
        }
    }
}

/// The senders' counts.
#[derive(Default)]
struct Sent {
    refused: AtomicU64,
    dropped: AtomicU64,
}

/// One sender: its share of the plan at the instants `ticks` hands it; counts refusals. Each
/// send is stamped with its scheduled time on the wall clock, which a worker process shares.
async fn send(
    ws: Socket,
    me: usize,
    recipients: Vec<usize>,
    mut ticks: Ticks,
    all: Arc<Vec<Device>>,
    clock: Arc<Clock<u64>>,
    sent: Arc<Sent>,
) {
    let (mut sink, mut stream) = ws.split();
    let reader = {
        let sent = sent.clone();
        tokio::spawn(async move {
            while let Some(Ok(message)) = stream.next().await {
                if let Message::Text(text) = message {
                    if let Ok(ServerFrame::Error { .. }) =
                        serde_json::from_str::<ServerFrame<'_>>(text.as_str())
                    {
                        sent.refused.fetch_add(1, Ordering::Relaxed);
                        eprintln!("refused: {text}");
                    }
                }
            }
        })
    };
    let mut rng = Rng::new();
    for (n, peer) in recipients.into_iter().enumerate() {
        let Some(at) = ticks.next().await else { break };
        let id = message_id(&mut rng, me, n as u64);
        clock.put(id, wall_ns().saturating_sub(at.elapsed().as_nanos() as u64));
        let frame = send_frame(n as u64 + 1, &all, me, peer, id);
        if sink.send(Message::Text(frame.into())).await.is_err() {
            sent.dropped.fetch_add(1, Ordering::Relaxed);
            break;
        }
    }
    // Keep the socket open (and its confirmations read) until the run ends.
    let _ = reader.await;
}

/// Runs the measurement; a run that cannot finish has said why on stderr and returns false.
pub async fn run(
    o: &Options,
    nodes: &Nodes,
    all: Arc<Vec<Device>>,
    plan: &[(usize, usize)],
) -> bool {
    match measure(o, nodes, all, plan).await {
        Ok(()) => true,
        Err(why) => {
            eprintln!("loadgen: {why}");
            false
        }
    }
}

async fn measure(
    o: &Options,
    nodes: &Nodes,
    all: Arc<Vec<Device>>,
    plan: &[(usize, usize)],
) -> Result<(), String> {
    let hz = clock_ticks();
    let idle = all.len() - SENDERS;
    let sources = connect::sources_for(all.len(), o.sources);
    let rss0 = nodes.memory_kib("VmRSS:");
    let server0 = nodes.cpu_seconds(hz);
    let (deliveries_tx, mut deliveries) = mpsc::unbounded_channel();
    let (connected, mut holders) =
        Holders::connect(o, nodes, &all[..idle], sources, deliveries_tx).await?;
    let server1 = nodes.cpu_seconds(hz);
    let rss1 = nodes.memory_kib("VmRSS:");
    let ok = connected.ok;
    println!(
        "mode=idle backend={} nodes={} workers={} idle={idle} connected={ok} sources={sources} \
         concurrency={}",
        nodes.backend(),
        nodes.pids.len(),
        o.workers,
        o.concurrency
    );
    println!(
        "connect: {ok} in {:.1} s => {:.0} handshakes/s (TCP + TLS 1.3 + WebSocket upgrade + ticket + ready)",
        connected.elapsed_s,
        ok as f64 / connected.elapsed_s
    );
    println!(
        "connect cpu: server {:.0} us per handshake, loadgen {:.0} us per handshake",
        1e6 * (server1 - server0) / ok.max(1) as f64,
        1e6 * connected.cpu_s / ok.max(1) as f64
    );
    if connected.failed > 0 {
        return Err(format!(
            "{} of {idle} idle devices could not connect:\n{}",
            connected.failed, connected.failures
        ));
    }
    let senders = connect::connect(
        "senders",
        &nodes.targets,
        idle,
        &setup::tickets(&all[idle..]),
        o.concurrency,
        sources,
        Some,
    )
    .await;
    if senders.failures.total() > 0 {
        return Err(format!(
            "senders could not connect:\n{}",
            senders.failures.describe()
        ));
    }

    // Hold: nothing but the server's pings (answered since each socket connected).
    let before = holders.totals().await?;
    let cpu0 = nodes.cpu_seconds(hz);
    let own0 = holders.cpu_seconds(hz);
    tokio::select! {
        () = tokio::time::sleep(o.hold) => {}
        why = holders.lost() => return Err(format!("{why}, during the hold")),
    }
    let idle_cpu = nodes.cpu_seconds(hz) - cpu0;
    let own_idle_cpu = holders.cpu_seconds(hz) - own0;
    let rss2 = nodes.memory_kib("VmRSS:");
    let held = holders.totals().await?;
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
        "hold {} s: server cpu {:.2} s ({:.2}% of one core), {} pings answered; {} sockets \
         dropped since connecting; loadgen cpu {:.2} s",
        o.hold.as_secs(),
        idle_cpu,
        100.0 * idle_cpu / o.hold.as_secs_f64(),
        held.pings - before.pings,
        held.dropped,
        own_idle_cpu
    );

    // Messages to random idle devices.
    let rate = o.knob.max(1) as f64;
    let clock = Arc::new(Clock::<u64>::new());
    let sent = Arc::new(Sent::default());
    let mut tasks = JoinSet::new();
    let start = Instant::now();
    // Message k of the plan is sender k mod SENDERS's, at the k-th instant of the pacer's
    // Poisson schedule.
    let schedules = pacer::start(start, rate, SENDERS, plan.len())
        .map_err(|e| format!("starting the pacer: {e}"))?;
    for ((k, ws), ticks) in senders.sockets.into_iter().enumerate().zip(schedules) {
        let Some(ws) = ws else { continue };
        let me = idle + k;
        let recipients: Vec<usize> = plan
            .iter()
            .filter(|(s, _)| *s == me)
            .map(|&(_, r)| r)
            .collect();
        tasks.spawn(send(
            ws,
            me,
            recipients,
            ticks,
            all.clone(),
            clock.clone(),
            sent.clone(),
        ));
    }
    let sending = Duration::from_secs_f64(plan.len() as f64 / rate);
    let drain = tokio::time::sleep_until((start + sending + DRAIN).into());
    tokio::pin!(drain);
    let mut delivered = 0;
    let mut latencies = Vec::with_capacity(plan.len());
    while delivered < plan.len() {
        tokio::select! {
            delivery = deliveries.recv() => {
                let Some(Delivery { id, at_ns }) = delivery else { break };
                delivered += 1;
                if let Some(sent_ns) = clock.take(&id) {
                    latencies.push(Duration::from_nanos(at_ns.saturating_sub(sent_ns)));
                }
            }
            () = &mut drain => break,
            why = holders.lost() => return Err(format!("{why}, while the messages were sent")),
        }
    }
    latencies.sort();
    println!(
        "messages: {delivered} of {} delivered to idle devices at {rate:.0}/s; latency ms: {}",
        plan.len(),
        stats::summary(&latencies)
    );
    println!(
        "server peak_rss={:.0} MiB; load average at end {}",
        nodes.memory_kib("VmHWM:") / 1024.0,
        procfs::load_average()
    );
    tasks.abort_all();
    let held = holders.stop().await?;
    let refused = sent.refused.load(Ordering::Relaxed);
    let dropped = held.dropped + sent.dropped.load(Ordering::Relaxed);
    if delivered < plan.len() || refused > 0 || dropped > 0 {
        return Err(format!(
            "incomplete: {delivered} of {} delivered, {refused} sends refused, {dropped} sockets \
             dropped",
            plan.len()
        ));
    }
    Ok(())
}
