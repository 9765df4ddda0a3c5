//! The relay modes: every device sends envelopes to random peers, in a closed loop (a window
//! of unconfirmed sends per device) or an open loop (Poisson arrivals at a fixed total rate,
//! latency measured from the *scheduled* send time, so a generator that falls behind shows it;
//! the schedule is the pacer's, `pacer.rs`), and acknowledges what it receives.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use sotto_proto::ids::MessageId;
use sotto_wire::{ClientFrame, ServerFrame};
use tokio_tungstenite::tungstenite::Message;

use crate::connect::{self, Socket};
use crate::options::{Mode, Options};
use crate::pacer::{self, Ticks};
use crate::procfs::{self, clock_ticks};
use crate::server::Nodes;
use crate::setup::{self, conv_id, envelope, Device};
use crate::stats::{self, message_id, Clock, Rng};

/// The most a run may take once connected.
const DEADLINE: Duration = Duration::from_secs(300);
/// A socket that hears nothing for this long gives up.
const SILENCE: Duration = Duration::from_secs(30);

/// An `ack` frame for the ids collected so far (and forgets them).
pub fn ack_frame(acks: &mut Vec<MessageId>) -> String {
    ClientFrame::Ack {
        message_ids: std::mem::take(acks),
    }
    .to_json()
}

/// A `send` frame, written by hand: the generator must not be the bottleneck it measures.
pub fn send_frame(request: u64, all: &[Device], me: usize, peer: usize, id: MessageId) -> String {
    let conv = conv_id(me, peer);
    let body = envelope(conv, &all[me], id);
    let mut frame = String::with_capacity(200 + body.len().div_ceil(3) * 4);
    frame.push_str(r#"{"type":"send","id":"#);
    frame.push_str(&request.to_string());
    frame.push_str(r#","conversation":""#);
    frame.push_str(&conv.to_string());
    frame.push_str(r#"","message_id":""#);
    frame.push_str(&id.to_string());
    frame.push_str(r#"","envelope":""#);
    STANDARD.encode_string(&body, &mut frame);
    frame.push_str(r#""}"#);
    frame
}

/// Counters shared by every device task.
#[derive(Default)]
struct Totals {
    delivered: AtomicU64,
    refused: AtomicU64,
    closed_early: AtomicU64,
}

struct Run {
    all: Arc<Vec<Device>>,
    clock: Arc<Clock>,
    latencies: Arc<Mutex<Vec<Duration>>>,
    totals: Arc<Totals>,
    per_device: usize,
    total: usize,
    open: bool,
    window: usize,
    start: Instant,
}

impl Run {
    /// One device: sends its share and acknowledges what it receives, until everything was
    /// delivered (or the socket ends). In an open loop it sends at the instants `ticks` hands it.
    async fn device(self: Arc<Self>, me: usize, ws: Socket, mut ticks: Option<Ticks>) {
        let (mut sink, mut stream) = ws.split();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
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
        let peers = setup::peers_of(me, self.all.len());
        let mut rng = Rng::new();
        let mut counter = 0u64;
        let mut issued = 0usize;
        let mut in_flight = 0usize;
        let mut send_one = |issued: &mut usize, at: Instant| {
            let peer = peers[rng.below(peers.len())];
            let id = message_id(&mut rng, me, counter);
            self.clock.put(id, at);
            counter += 1;
            let _ = tx.send(send_frame(counter, &self.all, me, peer, id));
            *issued += 1;
        };
        let mut acks: Vec<MessageId> = Vec::new();
        loop {
            if !self.open {
                while in_flight < self.window && issued < self.per_device {
                    send_one(&mut issued, Instant::now());
                    in_flight += 1;
                }
            }
            let frame = tokio::select! {
                frame = stream.next() => frame,
                at = pacer::next_or_never(&mut ticks), if self.open && issued < self.per_device => {
                    match at {
                        Some(at) => send_one(&mut issued, at),
                        // The schedule is over (it ends only with the run).
                        None => issued = self.per_device,
                    }
                    continue;
                }
                _ = tokio::time::sleep(SILENCE) => break,
            };
            let text = match frame {
                Some(Ok(Message::Text(text))) => text,
                // The server pings every socket (tungstenite answers).
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                _ => {
                    self.totals.closed_early.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            };
            let Ok(v) = serde_json::from_str::<ServerFrame<'_>>(text.as_str()) else {
                eprintln!("unparsable frame: {text}");
                continue;
            };
            match v {
                ServerFrame::Sent { .. } => in_flight = in_flight.saturating_sub(1),
                ServerFrame::Envelope { message_id, .. } => {
                    if let Some(at) = self.clock.take(&message_id) {
                        self.latencies.lock().unwrap().push(at.elapsed());
                    }
                    self.totals.delivered.fetch_add(1, Ordering::Relaxed);
                    acks.push(message_id);
                    if acks.len() >= 64 {
                        let _ = tx.send(ack_frame(&mut acks));
                    }
                }
                ServerFrame::Error { .. } => {
                    // A refused send is never confirmed: count it and free its window slot.
                    in_flight = in_flight.saturating_sub(1);
                    // The first few say why; the count says how many.
                    if self.totals.refused.fetch_add(1, Ordering::Relaxed) < 5 {
                        eprintln!("refused: {text}");
                    }
                }
                // Group-log notices are not load traffic.
                ServerFrame::Acked { .. }
                | ServerFrame::Pong
                | ServerFrame::Ready { .. }
                | ServerFrame::Conversation { .. } => {}
                ServerFrame::Signal { .. } | ServerFrame::Handover => {
                    eprintln!("unexpected frame: {text}")
                }
            }
            if self.totals.delivered.load(Ordering::Relaxed) as usize >= self.total
                && issued >= self.per_device
                && in_flight == 0
            {
                break;
            }
        }
        if !acks.is_empty() {
            let _ = tx.send(ack_frame(&mut acks));
        }
        drop(tx);
        let _ = writer.await;
    }
}

pub async fn run(o: &Options, nodes: &Nodes, all: Arc<Vec<Device>>) -> bool {
    let hz = clock_ticks();
    let sources = connect::sources_for(all.len(), o.sources);
    let connected = connect::connect(
        "connecting",
        &nodes.targets,
        0,
        &setup::tickets(&all),
        o.concurrency,
        sources,
        Some,
    )
    .await;
    if connected.failures.total() > 0 {
        eprintln!(
            "loadgen: {} of {} devices could not connect:\n{}",
            connected.failures.total(),
            all.len(),
            connected.failures.describe()
        );
        return false;
    }
    eprintln!(
        "connected {} devices in {:.1} s ({:.0} handshakes/s)",
        connected.ok(),
        connected.elapsed.as_secs_f64(),
        connected.rate()
    );

    let per_device = o.messages / o.devices;
    let open = o.mode == Mode::Open;
    let run = Arc::new(Run {
        all: all.clone(),
        clock: Arc::new(Clock::new()),
        latencies: Arc::new(Mutex::new(Vec::with_capacity(o.messages))),
        totals: Arc::new(Totals::default()),
        per_device,
        total: per_device * o.devices,
        open,
        window: o.knob,
        start: Instant::now(),
    });
    let server_cpu0 = nodes.cpu_seconds(hz);
    let written0 = nodes.write_bytes();
    let own_cpu0 = procfs::cpu_seconds("self", hz);
    // Send k of the open loop is device k mod N's, at the k-th instant of the pacer's Poisson
    // schedule.
    let mut ticks: Vec<Option<Ticks>> = if open {
        pacer::start(run.start, o.knob as f64, o.devices, run.total)
            .expect("starting the pacer")
            .into_iter()
            .map(Some)
            .collect()
    } else {
        (0..o.devices).map(|_| None).collect()
    };
    let mut tasks = Vec::new();
    for (me, ws) in connected.sockets.into_iter().enumerate() {
        let Some(ws) = ws else { continue };
        tasks.push(tokio::spawn(run.clone().device(me, ws, ticks[me].take())));
    }
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        // A refused send is never delivered: the run is over once every send is accounted for.
        let d = run.totals.delivered.load(Ordering::Relaxed) as usize
            + run.totals.refused.load(Ordering::Relaxed) as usize;
        if d >= run.total || run.start.elapsed() > DEADLINE || tasks.iter().all(|t| t.is_finished())
        {
            break;
        }
    }
    let elapsed = run.start.elapsed();
    let server_cpu = nodes.cpu_seconds(hz) - server_cpu0;
    let written = nodes.write_bytes().saturating_sub(written0);
    let own_cpu = procfs::cpu_seconds("self", hz) - own_cpu0;
    let load = procfs::load_average();
    // Let the last acknowledgements reach the server, then stop.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for t in tasks {
        t.abort();
    }
    let peak = nodes.memory_kib("VmHWM:") / 1024.0;
    let rss = nodes.memory_kib("VmRSS:") / 1024.0;
    let mut lat = run.latencies.lock().unwrap().clone();
    lat.sort();
    let d = run.totals.delivered.load(Ordering::Relaxed);
    let envelope_len = envelope(conv_id(0, 1), &all[0], MessageId::from_bytes([0; 16])).len();
    println!(
        "mode={} backend={} nodes={} devices={} messages={} {}={} envelope_bytes={envelope_len}",
        if open { "open" } else { "closed" },
        nodes.backend(),
        nodes.pids.len(),
        o.devices,
        run.total,
        if open { "rate" } else { "window" },
        o.knob
    );
    println!(
        "delivered={d} in {:.2}s => {:.0} delivered/s",
        elapsed.as_secs_f64(),
        d as f64 / elapsed.as_secs_f64()
    );
    println!("latency ms: {}", stats::summary(&lat));
    println!(
        "server pids={} cpu={server_cpu:.1}s ({:.0}% of one core, {:.1} us/message) peak_rss={peak:.0} MiB rss_now={rss:.0} MiB",
        nodes.pids.join(","),
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
    let refused = run.totals.refused.load(Ordering::Relaxed);
    let closed = run.totals.closed_early.load(Ordering::Relaxed);
    if (d as usize) < run.total || refused > 0 {
        eprintln!(
            "loadgen: incomplete: {d} of {} delivered after {:.0} s; {refused} sends refused, \
             {closed} sockets closed early, {} sends never delivered",
            run.total,
            elapsed.as_secs_f64(),
            run.clock.outstanding()
        );
        return false;
    }
    true
}
