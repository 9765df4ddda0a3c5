//! Delivery across three real `sotto-server` processes on one PostgreSQL schema with the NATS
//! fan-out (`support/cluster.rs`): six devices, two homed on each node, each send a few hundred
//! real envelopes to peers on the other nodes in 1:1 conversations while receiving and
//! acknowledging their own. An audit then holds the cluster to docs/api.md: every envelope the
//! server confirmed (`sent`, or `conflict` for a re-sent id) reaches its one recipient; nothing
//! unconfirmed, misrouted or altered appears; a device's `seq` increases on each socket; a send
//! confirmed before the next one was sent is delivered before it. In the second test one node is
//! SIGKILLed mid-run: its devices reconnect through another node, re-send what was not
//! confirmed (same message id and bytes) and go on; an envelope may come again only if its `ack`
//! was never confirmed, and then once. Two smaller tests hold what such a cluster needs of
//! PostgreSQL: nodes started at the same moment on a new schema all start, and two nodes' group
//! commits that mix envelopes and acknowledgements never deadlock. Needs
//! `SOTTO_TEST_DATABASE_URL` and `SOTTO_TEST_NATS_URL` (skipped loudly without them, a failure
//! under `CI=true`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sotto_proto::ids::{ConversationId, MessageId};
use support::cluster::{Cluster, Endpoint};
use support::*;

const NODES: usize = 3;
/// Two devices per node.
const DEVICES: usize = 6;
/// Envelopes each device sends.
const PER_DEVICE: usize = 300;
/// Sends pipelined on a socket before the client waits for all their answers; the next batch
/// is sent after, so batches are ordered for every receiver (commit order is queue order).
const BATCH: usize = 16;
/// Message ids per `ack` frame; one `ack` is in flight at a time, so each `acked` answer names
/// exactly the ids of the frame before it.
const ACK_BATCH: usize = 64;
/// No frame for this long once every device has had all its sends confirmed: the run is over.
const QUIET: Duration = Duration::from_secs(2);
/// How long a device whose node died may take to be connected again.
const RECONNECT_WAIT: Duration = Duration::from_secs(20);
/// How long the traffic may take at most (a debug build on a loaded two-core machine).
const TRAFFIC_LIMIT: Duration = Duration::from_secs(50);
/// The node killed in the second test, once this fraction of all envelopes is confirmed.
const VICTIM: usize = 2;
const KILL_AT: f64 = 1.0 / 3.0;

/// Both tests start three nodes and load them; run one at a time on a two-core machine.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// One envelope a device will send.
struct Planned {
    conversation: ConversationId,
    message: MessageId,
    envelope: Vec<u8>,
    /// The receiving device's index.
    to: usize,
    /// Which batch of its sender it goes in.
    batch: usize,
}

/// What the devices share while the traffic runs.
struct Shared {
    /// Devices whose every send is confirmed.
    senders_done: AtomicUsize,
    /// Confirmed envelopes, all devices together.
    confirmed: AtomicUsize,
    /// Nodes that were killed (a client never calls them again).
    dead: Vec<AtomicBool>,
}

/// How a send was confirmed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Confirmed {
    /// A `sent` frame.
    Sent,
    /// `conflict` for a re-sent id: the first send was stored, its answer lost.
    Conflict,
}

/// One `envelope` frame a device received.
#[derive(Debug)]
struct Delivery {
    message: String,
    envelope: String,
    /// Which socket of the device (0 first; each reconnect adds one).
    session: usize,
    /// Received on the last check after the traffic, not while it ran.
    late: bool,
    /// How many times it had come before.
    earlier: usize,
    /// The socket it came on last time, if it did.
    earlier_session: Option<usize>,
    /// Whether an `acked` answer covering it had arrived before this delivery.
    ack_confirmed: bool,
}

/// What one device saw.
#[derive(Default)]
struct Log {
    confirmed: HashMap<String, Confirmed>,
    deliveries: Vec<Delivery>,
    /// Sends repeated on a new socket after the one they went out on ended unanswered.
    resent: usize,
    reconnects: usize,
    /// `seq` not increasing on one socket.
    seq_regressions: Vec<String>,
    /// `send` and `ack` frames answered with a failed commit (`internal`, `unavailable`).
    write_errors: Vec<String>,
}

/// What a device task needs.
struct Device {
    me: usize,
    person: Arc<Person>,
    endpoints: Arc<Vec<Endpoint>>,
    plan: Arc<Vec<Planned>>,
    shared: Arc<Shared>,
    may_reconnect: bool,
}

/// The audit's counts.
#[derive(Debug, Default, PartialEq, Eq)]
struct Audit {
    sent: usize,
    confirmed: usize,
    confirmed_by_conflict: usize,
    resent: usize,
    reconnects: usize,
    delivered: usize,
    redelivered_allowed: usize,
    lost: usize,
    duplicated: usize,
    unconfirmed_delivered: usize,
    misrouted: usize,
    altered: usize,
    late: usize,
    seq_regressions: usize,
    batch_order_violations: usize,
    /// `send` and `ack` frames answered with a failed commit, then sent again.
    write_errors: usize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_confirmed_envelope_reaches_its_recipient_exactly_once_across_three_nodes() {
    let _serial = SERIAL.lock().await;
    let Some(cluster) = Cluster::start(NODES).await else {
        return;
    };
    let audit = traffic(cluster, None).await;
    assert_eq!(audit.write_errors, 0, "no commit fails: {audit:?}");
    assert_eq!(audit.redelivered_allowed, 0, "{audit:?}");
    assert_eq!(audit.reconnects, 0, "{audit:?}");
    assert_eq!(audit.confirmed_by_conflict, 0, "{audit:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_run_loses_nothing_and_repeats_only_unconfirmed_acks() {
    let _serial = SERIAL.lock().await;
    let Some(cluster) = Cluster::start(NODES).await else {
        return;
    };
    let audit = traffic(cluster, Some(VICTIM)).await;
    // Both devices homed on the victim had to move.
    assert!(audit.reconnects >= 2, "{audit:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_started_at_the_same_moment_on_a_new_schema_all_start() {
    let _serial = SERIAL.lock().await;
    let Some((cluster, failures)) = Cluster::start_together(NODES).await else {
        return;
    };
    let started = cluster.nodes.len();
    cluster.stop().await;
    assert!(
        failures.is_empty(),
        "{started} of {NODES} nodes started; the others:\n{}",
        failures.join("\n")
    );
}

/// Onboards the devices, runs the traffic (killing `kill` part-way), audits and stops the
/// cluster. Fails on any lost, duplicated, unconfirmed, misrouted, altered or late envelope and
/// on any order the API promises broken.
async fn traffic(mut cluster: Cluster, kill: Option<usize>) -> Audit {
    let endpoints: Arc<Vec<Endpoint>> =
        Arc::new(cluster.nodes.iter().map(|n| n.endpoint.clone()).collect());
    let home = |device: usize| device / 2;
    let names = ["ann", "ben", "cat", "dan", "eve", "fay"];
    let mut people = Vec::new();
    for (slot, name) in names.iter().enumerate() {
        people.push(Arc::new(endpoints[home(slot)].onboard(slot, name).await));
    }
    // A 1:1 conversation for every pair of devices on different nodes, made on the creator's
    // node and accepted on the other's.
    let mut conversations = HashMap::new();
    for a in 0..DEVICES {
        for b in a + 1..DEVICES {
            if home(a) != home(b) {
                let conv = create_conversation(&people[a], &[&people[b]]).await;
                conversations.insert((a, b), conv);
                conversations.insert((b, a), conv);
            }
        }
    }
    let mut plans = Vec::new();
    let mut rng = 0x5eed_u64;
    for (me, person) in people.iter().enumerate() {
        let peers: Vec<usize> = (0..DEVICES).filter(|&p| home(p) != home(me)).collect();
        let mut plan = Vec::with_capacity(PER_DEVICE);
        for k in 0..PER_DEVICE {
            // xorshift: a fixed, spread-out choice of peers.
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let to = peers[(rng % peers.len() as u64) as usize];
            let conversation = conversations[&(me, to)];
            let (message, envelope) = seal(person, conversation, &format!("{me}→{to} #{k}"));
            plan.push(Planned {
                conversation,
                message,
                envelope,
                to,
                batch: k / BATCH,
            });
        }
        plans.push(Arc::new(plan));
    }

    let shared = Arc::new(Shared {
        senders_done: AtomicUsize::new(0),
        confirmed: AtomicUsize::new(0),
        dead: (0..NODES).map(|_| AtomicBool::new(false)).collect(),
    });
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (me, person) in people.iter().enumerate() {
        tasks.push(tokio::spawn(run_device(Device {
            me,
            person: person.clone(),
            endpoints: endpoints.clone(),
            plan: plans[me].clone(),
            shared: shared.clone(),
            may_reconnect: kill.is_some(),
        })));
    }
    if let Some(victim) = kill {
        let threshold = (KILL_AT * (DEVICES * PER_DEVICE) as f64) as usize;
        while shared.confirmed.load(Ordering::SeqCst) < threshold {
            assert!(started.elapsed() < TRAFFIC_LIMIT, "the traffic stalled");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        shared.dead[victim].store(true, Ordering::SeqCst);
        cluster.nodes[victim].kill();
        report(&format!(
            "killed node {victim} (SIGKILL) after {} of {} envelopes were confirmed, {:?} in",
            shared.confirmed.load(Ordering::SeqCst),
            DEVICES * PER_DEVICE,
            started.elapsed()
        ));
    }
    let mut logs = Vec::new();
    let mut failed = Vec::new();
    for (me, task) in tasks.into_iter().enumerate() {
        match task.await {
            Ok(log) => logs.push(log),
            Err(error) => failed.push(format!("device {me}: {error}")),
        }
    }
    let took = started.elapsed();
    let mut dead = Vec::new();
    for (i, node) in cluster.nodes.iter_mut().enumerate() {
        if kill != Some(i) && !node.alive() {
            dead.push(i);
        }
    }
    if !failed.is_empty() || !dead.is_empty() {
        for (i, node) in cluster.nodes.iter().enumerate() {
            report(&format!(
                "node {i} ({}) printed:\n{}",
                node.endpoint.addr,
                node.printed()
            ));
        }
        panic!("devices failed: {failed:?}; nodes that died by themselves: {dead:?}");
    }

    let audit = audit(&plans, &logs);
    report(&format!("cluster audit after {took:?}: {audit:?}"));
    if audit.write_errors > 0 {
        // A failed commit is survivable (the client sends again) but says something went wrong
        // on a node: show what the nodes logged.
        for (i, node) in cluster.nodes.iter().enumerate() {
            report(&format!("node {i} printed:\n{}", node.printed()));
        }
    }
    let refused = resend_confirmed(&endpoints, &people, &plans, &shared).await;
    report(&format!(
        "confirmed envelopes sent again through another node: {refused} of {refused} refused as \
         conflict, 0 delivered again"
    ));
    cluster.stop().await;
    let sent = DEVICES * PER_DEVICE;
    assert_eq!(audit.sent, sent, "{audit:?}");
    assert_eq!(audit.confirmed, sent, "every send is confirmed: {audit:?}");
    assert_eq!(
        audit.delivered, sent,
        "distinct delivered = sent: {audit:?}"
    );
    assert_eq!(audit.lost, 0, "{audit:?}");
    assert_eq!(audit.duplicated, 0, "{audit:?}");
    assert_eq!(audit.unconfirmed_delivered, 0, "{audit:?}");
    assert_eq!(audit.misrouted, 0, "{audit:?}");
    assert_eq!(audit.altered, 0, "{audit:?}");
    assert_eq!(
        audit.late, 0,
        "delivered only on the check after: {audit:?}"
    );
    assert_eq!(audit.seq_regressions, 0, "{audit:?}");
    assert_eq!(audit.batch_order_violations, 0, "{audit:?}");
    audit
}

/// Sends the first batch of every device's plan again (the same ids and bytes, all confirmed
/// and delivered by now), each through the node after its home: every send must be refused as
/// `conflict` and no recipient may get any of them again. Returns how many were refused.
async fn resend_confirmed(
    endpoints: &[Endpoint],
    people: &[Arc<Person>],
    plans: &[Arc<Vec<Planned>>],
    shared: &Shared,
) -> usize {
    let mut refused = 0;
    for (me, person) in people.iter().enumerate() {
        let (_, mut ws) = connect_live(me, person, endpoints, shared, me / 2 + 1).await;
        for (req, p) in (1u64..).zip(plans[me].iter().take(BATCH)) {
            ws.send(send_frame(req, p.conversation, p.message, &p.envelope))
                .await;
        }
        for _ in 0..BATCH {
            let frame = ws.next().await;
            assert_eq!(frame["type"], "error", "device {me}: {frame}");
            assert_eq!(frame["error"], "conflict", "device {me}: {frame}");
            refused += 1;
        }
    }
    for (me, person) in people.iter().enumerate() {
        let (_, mut ws) = connect_live(me, person, endpoints, shared, me / 2).await;
        ws.quiet(Duration::from_millis(500)).await;
    }
    refused
}

/// One line on stderr past the harness's capture: the figures are the point of the run.
fn report(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Holds the logs against the plans.
fn audit(plans: &[Arc<Vec<Planned>>], logs: &[Log]) -> Audit {
    // message → (sender, recipient, envelope, batch)
    let mut planned: HashMap<String, (usize, usize, String, usize)> = HashMap::new();
    for (sender, plan) in plans.iter().enumerate() {
        for p in plan.iter() {
            planned.insert(
                p.message.to_string(),
                (sender, p.to, b64(&p.envelope), p.batch),
            );
        }
    }
    let mut audit = Audit {
        sent: planned.len(),
        ..Audit::default()
    };
    let mut confirmed: HashSet<&str> = HashSet::new();
    for log in logs {
        audit.resent += log.resent;
        audit.reconnects += log.reconnects;
        audit.seq_regressions += log.seq_regressions.len();
        audit.write_errors += log.write_errors.len();
        for (message, how) in &log.confirmed {
            confirmed.insert(message);
            if *how == Confirmed::Conflict {
                audit.confirmed_by_conflict += 1;
            }
        }
    }
    audit.confirmed = confirmed.len();
    let mut delivered: HashSet<&str> = HashSet::new();
    for (me, log) in logs.iter().enumerate() {
        // sender → the highest batch delivered so far from it
        let mut batches: HashMap<usize, usize> = HashMap::new();
        for d in &log.deliveries {
            audit.late += usize::from(d.late);
            let Some((sender, to, envelope, batch)) = planned.get(&d.message) else {
                audit.unconfirmed_delivered += 1;
                continue;
            };
            if *to != me {
                audit.misrouted += 1;
                continue;
            }
            if *envelope != d.envelope {
                audit.altered += 1;
            }
            if !confirmed.contains(d.message.as_str()) {
                audit.unconfirmed_delivered += 1;
            }
            if d.earlier == 0 {
                delivered.insert(&d.message);
                let highest = batches.entry(*sender).or_insert(0);
                if *batch < *highest {
                    audit.batch_order_violations += 1;
                }
                *highest = (*highest).max(*batch);
            } else if d.earlier == 1
                && !d.ack_confirmed
                && d.earlier_session.is_some_and(|s| s < d.session)
            {
                // Received on a socket that ended before the ack was confirmed: the queue still
                // held it, and the next socket gets it once more.
                audit.redelivered_allowed += 1;
            } else {
                audit.duplicated += 1;
            }
        }
    }
    audit.delivered = delivered.len();
    audit.lost = confirmed.iter().filter(|m| !delivered.contains(*m)).count();
    audit
}

/// One device's client: sends its plan in batches over its socket, acknowledges what it
/// receives, and, when its socket ends and `may_reconnect`, gets a ticket from another live node
/// and goes on there, re-sending what was unanswered. Ends when every device's sends are
/// confirmed and nothing arrived for [`QUIET`], after one last look at its queue on a fresh
/// socket.
async fn run_device(device: Device) -> Log {
    let Device {
        me,
        person,
        endpoints,
        plan,
        shared,
        may_reconnect,
    } = device;
    let mut log = Log::default();
    let mut node = me / 2;
    let mut ws = endpoints[node]
        .connect(&endpoints[node].through(&person), person.keys())
        .await
        .unwrap();
    let mut session = 0usize;
    let mut next_req = 1u64;
    // request id → plan index, on the current socket
    let mut in_flight: HashMap<u64, usize> = HashMap::new();
    let mut resend: Vec<usize> = Vec::new();
    let mut times_sent = vec![0u32; plan.len()];
    let mut cursor = 0usize;
    let mut to_ack: Vec<String> = Vec::new();
    let mut ack_in_flight: Option<Vec<String>> = None;
    let mut acked: HashSet<String> = HashSet::new();
    // message → (times received, last socket)
    let mut seen: HashMap<String, (usize, usize)> = HashMap::new();
    let mut last_seq: Option<i64> = None;
    let mut done_sending = false;
    let mut last_frame = Instant::now();
    let deadline = Instant::now() + TRAFFIC_LIMIT;
    loop {
        assert!(
            Instant::now() < deadline,
            "device {me}: the traffic did not finish: {cursor} of {} sent, {} unanswered, {} to \
             re-send, {} devices done",
            plan.len(),
            in_flight.len(),
            resend.len(),
            shared.senders_done.load(Ordering::SeqCst)
        );
        let mut dropped = false;
        if in_flight.is_empty() {
            let batch: Vec<usize> = if !resend.is_empty() {
                std::mem::take(&mut resend)
            } else {
                let end = (cursor + BATCH).min(plan.len());
                let batch = (cursor..end).collect();
                cursor = end;
                batch
            };
            if batch.is_empty() && !done_sending {
                done_sending = true;
                shared.senders_done.fetch_add(1, Ordering::SeqCst);
            }
            for i in batch {
                if dropped {
                    // Not written: goes out on the next socket.
                    resend.push(i);
                    continue;
                }
                let p = &plan[i];
                if times_sent[i] > 0 {
                    log.resent += 1;
                }
                times_sent[i] += 1;
                in_flight.insert(next_req, i);
                let frame = send_frame(next_req, p.conversation, p.message, &p.envelope);
                next_req += 1;
                if !ws.send_text(frame.to_string()).await {
                    dropped = true;
                }
            }
        }
        if !dropped && ack_in_flight.is_none() && !to_ack.is_empty() {
            let ids: Vec<String> = to_ack.drain(..to_ack.len().min(ACK_BATCH)).collect();
            let frame = json!({ "type": "ack", "message_ids": ids });
            if ws.send_text(frame.to_string()).await {
                ack_in_flight = Some(ids);
            } else {
                dropped = true;
            }
        }
        if !dropped {
            match ws.next_within(Duration::from_millis(100)).await {
                Ok(Some(frame)) => {
                    last_frame = Instant::now();
                    match frame["type"].as_str() {
                        Some("sent") => {
                            let req = frame["id"].as_u64().unwrap();
                            let i = in_flight.remove(&req).expect("a sent frame for no send");
                            let message = plan[i].message.to_string();
                            assert_eq!(frame["message_id"], message, "{frame}");
                            assert_eq!(frame["recipients"], 1, "{frame}");
                            assert_eq!(frame["undelivered"], json!([]), "{frame}");
                            log.confirmed.insert(message, Confirmed::Sent);
                            shared.confirmed.fetch_add(1, Ordering::SeqCst);
                        }
                        Some("error") => {
                            let req = frame["id"].as_u64();
                            let i = req.and_then(|r| in_flight.remove(&r));
                            match i {
                                // A re-sent id that the first send stored reads `conflict`
                                // (docs/api.md: "reads conflict as already stored").
                                Some(i) if times_sent[i] > 1 && frame["error"] == "conflict" => {
                                    log.confirmed
                                        .insert(plan[i].message.to_string(), Confirmed::Conflict);
                                    shared.confirmed.fetch_add(1, Ordering::SeqCst);
                                }
                                // A send the node could not store (a failed commit): nothing
                                // is confirmed; it goes again with the same id and bytes.
                                Some(i) if transient(&frame) => {
                                    log.write_errors.push(frame.to_string());
                                    resend.push(i);
                                }
                                // The one `ack` in flight failed (an error without an id):
                                // nothing of it is confirmed; it goes again.
                                None if req.is_none() && transient(&frame) => {
                                    let ids = ack_in_flight.take().expect("an error for no ack");
                                    log.write_errors.push(frame.to_string());
                                    to_ack.splice(0..0, ids);
                                }
                                _ => panic!("device {me}: {frame}"),
                            }
                        }
                        Some("envelope") => {
                            let seq = frame["seq"].as_i64().unwrap();
                            if last_seq.is_some_and(|last| seq <= last) {
                                log.seq_regressions.push(format!("{last_seq:?} then {seq}"));
                            }
                            last_seq = Some(seq);
                            let message = frame["message_id"].as_str().unwrap().to_owned();
                            log.deliveries
                                .push(delivery(&frame, session, false, &mut seen, &acked));
                            to_ack.push(message);
                        }
                        Some("acked") => {
                            let ids = ack_in_flight.take().expect("an acked frame for no ack");
                            acked.extend(ids);
                        }
                        _ => panic!("device {me}: unexpected {frame}"),
                    }
                }
                Ok(None) => {
                    let idle = in_flight.is_empty()
                        && resend.is_empty()
                        && to_ack.is_empty()
                        && ack_in_flight.is_none();
                    if idle
                        && shared.senders_done.load(Ordering::SeqCst) == DEVICES
                        && last_frame.elapsed() >= QUIET
                    {
                        break;
                    }
                }
                Err(_) => dropped = true,
            }
        }
        if dropped {
            assert!(
                may_reconnect,
                "device {me}: its socket on node {node} ended"
            );
            // Unanswered sends go again, on the next socket, with the same ids and bytes. What
            // was received but not acknowledged (or whose `acked` never came) is still queued.
            resend.extend(in_flight.drain().map(|(_, i)| i));
            resend.sort_unstable();
            to_ack.clear();
            ack_in_flight = None;
            session += 1;
            last_seq = None;
            log.reconnects += 1;
            (node, ws) = connect_live(me, &person, &endpoints, &shared, node + 1).await;
            last_frame = Instant::now();
        }
    }
    // One last look at the queue on a fresh socket: anything there was never delivered live.
    drop(ws);
    session += 1;
    let (_, mut ws) = connect_live(me, &person, &endpoints, &shared, node).await;
    while let Ok(Some(frame)) = ws.next_within(Duration::from_millis(500)).await {
        if frame["type"] == "envelope" {
            log.deliveries
                .push(delivery(&frame, session, true, &mut seen, &acked));
        }
    }
    log
}

/// An `error` answer that says the node failed to commit, not that the request was refused.
fn transient(frame: &Value) -> bool {
    frame["error"] == "internal" || frame["error"] == "unavailable"
}

/// Records an `envelope` frame.
fn delivery(
    frame: &Value,
    session: usize,
    late: bool,
    seen: &mut HashMap<String, (usize, usize)>,
    acked: &HashSet<String>,
) -> Delivery {
    let message = frame["message_id"].as_str().unwrap().to_owned();
    let before = seen.get(&message).copied();
    seen.insert(message.clone(), (before.map_or(0, |(n, _)| n) + 1, session));
    Delivery {
        ack_confirmed: acked.contains(&message),
        message,
        envelope: frame["envelope"].as_str().unwrap().to_owned(),
        session,
        late,
        earlier: before.map_or(0, |(n, _)| n),
        earlier_session: before.map(|(_, s)| s),
    }
}

/// A socket on the first live node from `start` on (round the ring); retried until
/// [`RECONNECT_WAIT`].
async fn connect_live(
    me: usize,
    person: &Person,
    endpoints: &[Endpoint],
    shared: &Shared,
    start: usize,
) -> (usize, Ws) {
    let deadline = Instant::now() + RECONNECT_WAIT;
    let mut attempt = 0usize;
    loop {
        let node = (start + attempt) % endpoints.len();
        attempt += 1;
        if shared.dead[node].load(Ordering::SeqCst) {
            continue;
        }
        let endpoint = &endpoints[node];
        match endpoint
            .connect(&endpoint.through(person), person.keys())
            .await
        {
            Ok(ws) => return (node, ws),
            Err(why) => {
                assert!(
                    Instant::now() < deadline,
                    "device {me} could not reconnect: {why}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Two nodes' group commits, each holding an envelope for one device and an acknowledgement by
/// the other, as every busy node's batches do. PostgreSQL locks a device's queue row for both;
/// taken in one order across a whole batch they cannot deadlock. Each deadlock PostgreSQL
/// breaks costs a second (`deadlock_timeout`) and fails a commit, whose sends and acks the
/// clients must then repeat.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_batches_of_envelopes_and_acks_on_two_nodes_never_deadlock() {
    use sotto_proto::ids::AccountId;
    use sotto_server::store::{DeviceRecord, NewEnvelope, Store, WriteOp};

    /// Rounds per node: each commits one mixed batch per round.
    const ROUNDS: u32 = 300;
    let _serial = SERIAL.lock().await;
    let Some(pg) = support::pg::Schema::fresh().await else {
        return;
    };
    let node_a: Arc<dyn Store> = Arc::new(pg.store().await);
    let node_b: Arc<dyn Store> = Arc::new(pg.store().await);
    let (a1, b1, conv) = support::pg::two_devices_one_conversation(node_a.as_ref()).await;
    let policy = support::pg::roomy_policy();
    // Message `n` of `sender` (the first byte tells the senders apart).
    let envelope = move |n: u32, sender: &DeviceRecord| {
        let mut id = [0u8; 16];
        id[0] = sender.device.as_bytes()[0];
        id[1..5].copy_from_slice(&n.to_be_bytes());
        NewEnvelope {
            message: MessageId::from_bytes(id),
            conversation: conv,
            sender_user: sender.user,
            sender_account: AccountId::from_bytes([7; 32]),
            sender_device: sender.device,
            received_at: 5,
            to: None,
            body: vec![1; 32],
        }
    };
    // Round `n` on a node: `from` sends message `n + 1` to the other device and acknowledges
    // message `n` the other device sent it (queued before the rounds, or by the other node's
    // round `n - 1`; if that has not committed yet the ack finds nothing, which is allowed).
    let rounds = |store: Arc<dyn Store>, from: DeviceRecord, other: DeviceRecord| {
        // Copies the task owns.
        let (policy, envelope) = (policy, envelope);
        tokio::spawn(async move {
            let mut failures = Vec::new();
            for n in 0..ROUNDS {
                let ops = [
                    WriteOp::Enqueue(envelope(n + 1, &from)),
                    WriteOp::Ack {
                        device: from.device,
                        messages: vec![envelope(n, &other).message],
                    },
                ];
                if let Err(error) = store.write_batch_with(&ops, &policy).await {
                    failures.push(format!("round {n}: {error:?}"));
                }
            }
            failures
        })
    };
    // Message 0 of each, queued for the other, so the first acks find a copy.
    for (store, from) in [(&node_a, &a1), (&node_b, &b1)] {
        store
            .write_batch_with(&[WriteOp::Enqueue(envelope(0, from))], &policy)
            .await
            .unwrap();
    }
    let started = Instant::now();
    let on_a = rounds(node_a.clone(), a1.clone(), b1.clone());
    let on_b = rounds(node_b.clone(), b1.clone(), a1.clone());
    let mut failures = on_a.await.unwrap();
    failures.extend(on_b.await.unwrap());
    report(&format!(
        "mixed batches: {} of {} commits failed in {:?}",
        failures.len(),
        2 * ROUNDS,
        started.elapsed()
    ));
    node_a.close().await;
    node_b.close().await;
    pg.drop().await;
    assert!(
        failures.is_empty(),
        "{} of {} commits failed: {:?}",
        failures.len(),
        2 * ROUNDS,
        &failures[..failures.len().min(3)]
    );
}
