//! The NATS fan-out, for several nodes behind a load balancer on one PostgreSQL database.
//!
//! Every event is delivered to this node's sockets at once and published on NATS for the
//! others (the connection is `no_echo`, so a node never hears itself):
//! - `<prefix>.dev.<device hex>`: envelope announcements (`{"t":"queued","seq":…}`) and receipt
//!   and typing frames. A node subscribes to the subject of each device that has a socket on it,
//!   from its first socket to its last.
//! - `<prefix>.ctl`: socket closes (device revoked, session logged out or revoked, password
//!   changed). Every node subscribes once, before it accepts sockets, so a close can never slip
//!   past a device subscription that is still being set up; closes are rare, so broadcasting
//!   them costs nothing that matters. Every node also beats there once a second
//!   ([`super::beats`]), so that the others notice announcements lost where NATS says nothing.
//!
//! An envelope crosses NATS as its queue position only: no ciphertext, no token, nothing the
//! store does not already hold. Its recipient's sockets, on every node, are marked lagged and
//! woken, and re-read their queue from the store; that read is what delivers, so an
//! announcement that arrives late, out of order or never costs latency and not an envelope.
//! The store read covers the gaps NATS can open: a node re-reads for a device once its
//! subscription is live on the server (envelopes committed while it was being set up), and for
//! every socket after a reconnect, a slow-consumer drop or a gap in another node's beats. After a
//! reconnect or a gap the node also re-checks each socket's session in the store and closes
//! those that ended meanwhile (a close published while it was cut off never arrives).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use sotto_proto::ids::DeviceId;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::error::{Error, Result};
use crate::fanout::beats::{Heard, Pacer, Peers, BEAT_EVERY};
use crate::fanout::{Event, Fanout};
use crate::hub::{CloseReason, Sockets};
use crate::store::{SessionId, Store, UserId};

/// Events waiting for the NATS client at most; beyond that they are dropped (and counted), and
/// the sockets' next store read makes up for them.
const OUTBOX: usize = 65_536;
/// How long a new subscription waits for the server to confirm it has seen it.
const BARRIER: Duration = Duration::from_secs(2);
/// How long stopping waits for queued events to reach the server.
const DRAIN: Duration = Duration::from_secs(2);

/// The longest message a node decodes: NATS's default `max_payload`, which no message a node
/// publishes reaches (the largest is a close naming many sessions, 35 bytes each).
pub const MAX_WIRE: usize = 1024 * 1024;

/// What crosses NATS (JSON, tagged by `t`). Public for the fuzz target
/// (`fuzz/server_targets.rs`): every node decodes what any NATS client may publish.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Wire {
    /// An envelope was committed to the subject's device.
    Queued {
        /// Its position in the device's queue.
        seq: i64,
    },
    /// A frame for the subject's device.
    Frame {
        /// The frame's JSON text, as the socket sends it.
        frame: String,
    },
    /// Close a device's sockets.
    CloseDevice {
        /// The device id (hex).
        device: String,
        /// Why.
        reason: CloseReason,
    },
    /// Close these sessions' sockets.
    CloseSessions {
        /// The session ids (hex).
        sessions: Vec<String>,
        /// Why.
        reason: CloseReason,
    },
    /// Close a user's sockets except one session's.
    CloseUser {
        /// The user's row id.
        user: i64,
        /// The session whose sockets stay (hex), if any.
        keep: Option<String>,
        /// Why.
        reason: CloseReason,
    },
    /// A node's beat ([`super::beats`]).
    Beat {
        /// The node's instance id (random per process).
        node: u64,
        /// The beat's number: 0, 1, 2, … from the node's start.
        seq: u64,
        /// Events the node had dropped when it beat.
        dropped: u64,
    },
}

impl Wire {
    /// Decodes a message's payload (`None` if it is not one, or is longer than [`MAX_WIRE`]).
    pub fn decode(payload: &[u8]) -> Option<Self> {
        if payload.len() > MAX_WIRE {
            return None;
        }
        serde_json::from_slice(payload).ok()
    }

    /// The payload of this message.
    pub fn encode(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|source| Error::Fanout {
            what: "encoding a fan-out event",
            source: Box::new(source),
        })
    }
}

/// Subscription changes, in the order the socket table made them.
#[derive(Debug)]
enum Command {
    Watch(DeviceId),
    Unwatch(DeviceId),
}

/// Publishes on and subscribes to NATS subjects under one prefix.
#[derive(Debug)]
pub struct NatsFanout {
    /// This node's sockets.
    sockets: Arc<Sockets>,
    /// Subject prefix (one per deployment; tests use one each).
    prefix: String,
    /// To the publishing task.
    outbox: mpsc::Sender<(String, Vec<u8>)>,
    /// To the subscription task. Unbounded but small: one command per first or last socket of
    /// a device, and sockets are capped.
    commands: mpsc::UnboundedSender<Command>,
    /// Events dropped because the outbox was full (told to the other nodes in each beat).
    dropped: Arc<AtomicU64>,
    /// Tells the publishing task to drain and stop.
    stopping: watch::Sender<bool>,
    /// The publishing task, awaited on stop.
    publisher: Mutex<Option<JoinHandle<()>>>,
    /// The subscription tasks, aborted on stop.
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl NatsFanout {
    /// Connects to `url`, subscribes to the control subject under `prefix` and starts beating;
    /// with a `store`, sockets whose session ended are closed after a reconnect or a gap in
    /// another node's beats.
    pub async fn connect(
        url: &str,
        prefix: &str,
        sockets: Arc<Sockets>,
        store: Option<Arc<dyn Store>>,
    ) -> Result<Self> {
        check_prefix(prefix)?;
        let for_events = sockets.clone();
        let store_for_events = store.clone();
        let was_disconnected = AtomicBool::new(false);
        let client = async_nats::ConnectOptions::new()
            .name("sotto-server")
            .no_echo()
            .event_callback(move |event| {
                on_connection_event(&for_events, &event);
                if matches!(event, async_nats::Event::Disconnected) {
                    was_disconnected.store(true, Ordering::SeqCst);
                }
                let reconnected = matches!(event, async_nats::Event::Connected)
                    && was_disconnected.swap(false, Ordering::SeqCst);
                if reconnected {
                    revalidate_soon(&for_events, store_for_events.as_ref());
                }
                std::future::ready(())
            })
            .connect(url)
            .await
            .map_err(|e| Error::Fanout {
                what: "connecting to NATS",
                source: Box::new(e),
            })?;
        let control = client
            .subscribe(format!("{prefix}.ctl"))
            .await
            .map_err(|e| Error::Fanout {
                what: "subscribing to the control subject",
                source: Box::new(e),
            })?;
        // The control subscription is live before this node accepts its first socket.
        barrier(&client, prefix).await;
        let peers = Peers::new(Instant::now());

        let (outbox, outbox_rx) = mpsc::channel(OUTBOX);
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let (stopping, stopping_rx) = watch::channel(false);
        let dropped = Arc::new(AtomicU64::new(0));
        let publisher = tokio::spawn(publish_loop(client.clone(), outbox_rx, stopping_rx));
        let tasks = vec![
            tokio::spawn(beat_loop(
                Outbox {
                    queue: outbox.clone(),
                    dropped: dropped.clone(),
                },
                crate::auth::tokens::random::<8>().map(u64::from_le_bytes)?,
                format!("{prefix}.ctl"),
            )),
            tokio::spawn(control_loop(control, sockets.clone(), store, peers)),
            tokio::spawn(subscription_loop(
                client,
                prefix.to_owned(),
                sockets.clone(),
                commands_rx,
            )),
        ];
        tracing::info!(prefix, "fan-out over NATS");
        Ok(Self {
            sockets,
            prefix: prefix.to_owned(),
            outbox,
            commands,
            dropped,
            stopping,
            publisher: Mutex::new(Some(publisher)),
            tasks: Mutex::new(tasks),
        })
    }

    fn send(&self, subject: String, wire: &Wire) {
        enqueue(&self.outbox, &self.dropped, subject, wire);
    }

    fn stop_now(&self) {
        self.stopping.send_replace(true);
        // The publisher drains on its own; the rest only wait for messages.
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        for task in tasks {
            task.abort();
        }
    }
}

impl Drop for NatsFanout {
    fn drop(&mut self) {
        self.stop_now();
    }
}

#[async_trait::async_trait]
impl Fanout for NatsFanout {
    fn backend(&self) -> &'static str {
        "nats"
    }

    fn publish(&self, event: Event) -> usize {
        match event {
            Event::Envelope { device, seq, .. } => {
                // Even here the socket re-reads the store: a direct push could overtake an
                // earlier envelope that another node is still announcing.
                let reached = self.sockets.wake(&device);
                self.send(device_subject(&self.prefix, &device), &Wire::Queued { seq });
                reached
            }
            event @ Event::Frame { .. } => {
                let reached = self.sockets.apply(&event);
                if let Event::Frame { device, frame } = event {
                    let wire = Wire::Frame {
                        frame: frame.to_string(),
                    };
                    self.send(device_subject(&self.prefix, &device), &wire);
                }
                reached
            }
            event @ Event::CloseDevice { .. } => {
                let reached = self.sockets.apply(&event);
                if let Event::CloseDevice { device, reason } = event {
                    let wire = Wire::CloseDevice {
                        device: hex::encode(device.as_bytes()),
                        reason,
                    };
                    self.send(format!("{}.ctl", self.prefix), &wire);
                }
                reached
            }
            event @ Event::CloseSessions { .. } => {
                let reached = self.sockets.apply(&event);
                if let Event::CloseSessions { sessions, reason } = event {
                    let wire = Wire::CloseSessions {
                        sessions: sessions.iter().map(|s| hex::encode(s.0)).collect(),
                        reason,
                    };
                    self.send(format!("{}.ctl", self.prefix), &wire);
                }
                reached
            }
            event @ Event::CloseUser { .. } => {
                let reached = self.sockets.apply(&event);
                if let Event::CloseUser { user, keep, reason } = event {
                    let wire = Wire::CloseUser {
                        user: user.0,
                        keep: keep.map(|s| hex::encode(s.0)),
                        reason,
                    };
                    self.send(format!("{}.ctl", self.prefix), &wire);
                }
                reached
            }
        }
    }

    fn watch(&self, device: &DeviceId) {
        let _ = self.commands.send(Command::Watch(*device));
    }

    fn unwatch(&self, device: &DeviceId) {
        let _ = self.commands.send(Command::Unwatch(*device));
    }

    async fn stop(&self) {
        self.stop_now();
        let publisher = self
            .publisher
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(publisher) = publisher {
            let abort = publisher.abort_handle();
            if tokio::time::timeout(DRAIN + DRAIN, publisher)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

/// Refuses prefixes that are not plain NATS tokens (no wildcards, spaces or empty tokens).
pub(crate) fn check_prefix(prefix: &str) -> Result<()> {
    let ok = !prefix.is_empty()
        && prefix.split('.').all(|token| {
            !token.is_empty()
                && token
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(Error::Config {
            reason: "nats_prefix is dot-separated tokens of A-Z a-z 0-9 _ -".to_owned(),
        })
    }
}

/// `<prefix>.dev.<device hex>`.
pub fn device_subject(prefix: &str, device: &DeviceId) -> String {
    format!("{prefix}.dev.{}", hex::encode(device.as_bytes()))
}

fn on_connection_event(sockets: &Sockets, event: &async_nats::Event) {
    match event {
        async_nats::Event::Connected => {
            // Announcements may have been lost while disconnected: every socket re-reads.
            let n = sockets.wake_all();
            tracing::info!(sockets = n, "connected to NATS");
        }
        async_nats::Event::SlowConsumer(_) => {
            let n = sockets.wake_all();
            tracing::warn!(
                sockets = n,
                "NATS dropped messages for this node; re-reading"
            );
        }
        async_nats::Event::Disconnected => {
            tracing::warn!("disconnected from NATS; delivery to other nodes waits for reconnect")
        }
        other => tracing::warn!(event = %other, "NATS"),
    }
}

/// Closes this node's sockets whose session no longer exists in the store (logged out, revoked,
/// ended by a password change or a device revocation); returns how many closed.
pub async fn revalidate(sockets: &Sockets, store: &dyn Store) -> usize {
    let mut gone = Vec::new();
    for session in sockets.sessions() {
        match store.session(&session).await {
            Ok(Some(_)) => {}
            Ok(None) => gone.push(session),
            Err(error) => tracing::warn!(?error, "re-checking a socket's session failed"),
        }
    }
    if gone.is_empty() {
        return 0;
    }
    let closed = sockets.apply(&Event::CloseSessions {
        sessions: gone,
        reason: CloseReason::SessionEnded,
    });
    tracing::info!(
        closed,
        "closed sockets whose session ended while NATS was away"
    );
    closed
}

/// Runs [`revalidate`] on its own task, when there is a store to check against.
fn revalidate_soon(sockets: &Arc<Sockets>, store: Option<&Arc<dyn Store>>) {
    if let Some(store) = store {
        let (sockets, store) = (sockets.clone(), store.clone());
        tokio::spawn(async move { revalidate(&sockets, &*store).await });
    }
}

/// Queues `wire` for the publishing task; if the outbox is full, drops it and counts it.
fn enqueue(
    outbox: &mpsc::Sender<(String, Vec<u8>)>,
    dropped: &AtomicU64,
    subject: String,
    wire: &Wire,
) {
    let payload = match wire.encode() {
        Ok(payload) => payload,
        Err(error) => {
            tracing::warn!(%error, "encoding a fan-out event failed");
            return;
        }
    };
    if outbox.try_send((subject, payload)).is_err() {
        let n = dropped.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_power_of_two() {
            tracing::warn!(
                dropped = n,
                "fan-out outbox full or closed; events dropped (sockets catch up from the store)"
            );
        }
    }
}

/// The publishing task's queue, and the count of what it dropped.
struct Outbox {
    queue: mpsc::Sender<(String, Vec<u8>)>,
    dropped: Arc<AtomicU64>,
}

/// Beats on `subject` every [`BEAT_EVERY`], through the outbox: in order with the node's
/// announcements, and a beat the outbox drops is a gap the others see.
async fn beat_loop(outbox: Outbox, node: u64, subject: String) {
    let mut tick = tokio::time::interval(BEAT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for seq in 0u64.. {
        tick.tick().await;
        let beat = Wire::Beat {
            node,
            seq,
            dropped: outbox.dropped.load(Ordering::Relaxed),
        };
        enqueue(&outbox.queue, &outbox.dropped, subject.clone(), &beat);
    }
}

/// Returns once the server has processed everything this client sent before (a request nobody
/// answers: the server's "no responders" reply comes after it), or after [`BARRIER`].
async fn barrier(client: &async_nats::Client, prefix: &str) {
    let request = client.request(format!("{prefix}.sync"), Vec::new().into());
    let _ = tokio::time::timeout(BARRIER, request).await;
}

async fn publish_loop(
    client: async_nats::Client,
    mut outbox: mpsc::Receiver<(String, Vec<u8>)>,
    mut stopping: watch::Receiver<bool>,
) {
    loop {
        let next = tokio::select! {
            next = outbox.recv() => next,
            _ = crate::clock::until_true(&mut stopping) => break,
        };
        let Some((subject, payload)) = next else {
            return;
        };
        if let Err(error) = client.publish(subject, payload.into()).await {
            tracing::warn!(%error, "publishing a fan-out event failed");
        }
    }
    // Stopping: hand over what is queued, then make sure it left.
    let drain = async {
        while let Ok((subject, payload)) = outbox.try_recv() {
            let _ = client.publish(subject, payload.into()).await;
        }
        let _ = client.flush().await;
    };
    let _ = tokio::time::timeout(DRAIN, drain).await;
}

/// Applies the closes other nodes publish, and re-reads every socket's queue (and re-checks its
/// session) when another node's beats show a gap, as often as the [`Pacer`] allows.
async fn control_loop(
    mut control: async_nats::Subscriber,
    sockets: Arc<Sockets>,
    store: Option<Arc<dyn Store>>,
    mut peers: Peers,
) {
    // Ticks every beat, to answer gaps when the pacer allows.
    let mut recheck = tokio::time::interval(BEAT_EVERY);
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut pacer = Pacer::new(Instant::now());
    let mut gap_from = None;
    loop {
        let message = tokio::select! {
            message = control.next() => message,
            _ = recheck.tick() => {
                if pacer.due(Instant::now()) {
                    let n = sockets.wake_all();
                    tracing::warn!(
                        node = gap_from.take(),
                        sockets = n,
                        "another node's announcements may have been lost in NATS; re-reading"
                    );
                    revalidate_soon(&sockets, store.as_ref());
                }
                continue;
            }
        };
        let Some(message) = message else {
            return;
        };
        let event = match Wire::decode(&message.payload) {
            Some(Wire::Beat { node, seq, dropped }) => {
                let now = Instant::now();
                if peers.beat(node, seq, dropped, now) == Heard::Gap {
                    gap_from = Some(node);
                    pacer.gap(now);
                }
                continue;
            }
            Some(Wire::CloseSessions { sessions, reason }) => Event::CloseSessions {
                sessions: sessions.iter().filter_map(|s| session_id(s)).collect(),
                reason,
            },
            Some(Wire::CloseDevice { device, reason }) => match device_id(&device) {
                Some(device) => Event::CloseDevice { device, reason },
                None => {
                    tracing::warn!("ignoring a malformed fan-out control message");
                    continue;
                }
            },
            Some(Wire::CloseUser { user, keep, reason }) => Event::CloseUser {
                user: UserId(user),
                keep: keep.as_deref().and_then(session_id),
                reason,
            },
            Some(_) | None => {
                tracing::warn!("ignoring a malformed fan-out control message");
                continue;
            }
        };
        sockets.apply(&event);
    }
}

fn device_id(text: &str) -> Option<DeviceId> {
    let bytes = hex::decode(text).ok()?;
    bytes.try_into().ok().map(DeviceId::from_bytes)
}

fn session_id(text: &str) -> Option<SessionId> {
    let bytes = hex::decode(text).ok()?;
    bytes.try_into().ok().map(SessionId)
}

/// The per-device subscriptions of this node; dropping it ends them.
#[derive(Debug, Default)]
struct Follows(HashMap<DeviceId, JoinHandle<()>>);

impl Drop for Follows {
    fn drop(&mut self) {
        for task in self.0.values() {
            task.abort();
        }
    }
}

async fn subscription_loop(
    client: async_nats::Client,
    prefix: String,
    sockets: Arc<Sockets>,
    mut commands: mpsc::UnboundedReceiver<Command>,
) {
    let mut follows = Follows::default();
    while let Some(command) = commands.recv().await {
        match command {
            Command::Watch(device) => {
                let task = tokio::spawn(follow(
                    client.clone(),
                    prefix.clone(),
                    device,
                    sockets.clone(),
                ));
                if let Some(old) = follows.0.insert(device, task) {
                    old.abort();
                }
            }
            Command::Unwatch(device) => {
                // Dropping the subscriber (with its task) unsubscribes.
                if let Some(task) = follows.0.remove(&device) {
                    task.abort();
                }
            }
        }
    }
}

/// Receives one device's events for as long as it has a socket here.
async fn follow(
    client: async_nats::Client,
    prefix: String,
    device: DeviceId,
    sockets: Arc<Sockets>,
) {
    // One of these tasks lives per connected device: setting up takes far more state (the
    // subscribe and barrier requests) than receiving, so it runs boxed and its memory is freed
    // once done instead of sizing every device's task for good (about 1.6 KiB per device).
    let Some(mut subscriber) = Box::pin(subscribe_live(client, prefix, device)).await else {
        return;
    };
    // Envelopes announced before the server saw the subscription are in the store.
    sockets.wake(&device);
    while let Some(message) = subscriber.next().await {
        match Wire::decode(&message.payload) {
            Some(Wire::Queued { .. }) => {
                sockets.wake(&device);
            }
            Some(Wire::Frame { frame }) => {
                sockets.frame(&device, &Arc::from(frame));
            }
            Some(_) | None => tracing::warn!(%device, "ignoring a malformed fan-out message"),
        }
    }
}

/// Subscribes to `device`'s subject and returns once the server has seen the subscription.
async fn subscribe_live(
    client: async_nats::Client,
    prefix: String,
    device: DeviceId,
) -> Option<async_nats::Subscriber> {
    let subscriber = match client.subscribe(device_subject(&prefix, &device)).await {
        Ok(subscriber) => subscriber,
        Err(error) => {
            tracing::warn!(%error, %device, "subscribing to a device failed");
            return None;
        }
    };
    barrier(&client, &prefix).await;
    Some(subscriber)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_is_small_tagged_json() {
        let wire = Wire::Queued { seq: 7 };
        let text = serde_json::to_string(&wire).unwrap();
        assert_eq!(text, r#"{"t":"queued","seq":7}"#);
        let beat = Wire::Beat {
            node: u64::MAX,
            seq: 3,
            dropped: 0,
        };
        let bytes = beat.encode().unwrap();
        assert_eq!(
            bytes,
            br#"{"t":"beat","node":18446744073709551615,"seq":3,"dropped":0}"#
        );
        assert_eq!(Wire::decode(&bytes), Some(beat));
        assert_eq!(
            Wire::decode(br#"{"t":"beat","node":-1,"seq":3,"dropped":0}"#),
            None
        );
        let mut long = br#"{"t":"frame","frame":""#.to_vec();
        long.resize(MAX_WIRE - 2, b'x');
        long.extend_from_slice(br#""}"#);
        assert!(Wire::decode(&long).is_some());
        long.insert(long.len() - 2, b'x');
        assert_eq!(Wire::decode(&long), None);
        assert_eq!(serde_json::from_str::<Wire>(&text).unwrap(), wire);
        let close = Wire::CloseSessions {
            sessions: vec![hex::encode([1u8; 16])],
            reason: CloseReason::SessionEnded,
        };
        let text = serde_json::to_string(&close).unwrap();
        assert!(text.contains(r#""reason":"session_ended""#), "{text}");
        assert_eq!(
            session_id(&hex::encode([1u8; 16])),
            Some(SessionId([1; 16]))
        );
        assert_eq!(session_id("zz"), None);
        assert_eq!(
            device_id(&hex::encode([2u8; 32])),
            Some(DeviceId::from_bytes([2; 32]))
        );
        assert_eq!(device_id(&hex::encode([2u8; 16])), None);
    }

    #[tokio::test]
    async fn revalidation_closes_sockets_whose_session_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::sqlite::SqliteStore::open(&dir.path().join("t.db"))
            .await
            .unwrap();
        let hub = Arc::new(crate::hub::Hub::default());
        let reg = hub
            .register(
                UserId(1),
                DeviceId::from_bytes([1; 32]),
                SessionId([1; 16]),
                4,
                4,
            )
            .unwrap();
        assert_eq!(hub.sockets().sessions(), vec![SessionId([1; 16])]);
        assert_eq!(revalidate(hub.sockets(), &store).await, 1);
        assert_eq!(*reg.close.borrow(), Some(CloseReason::SessionEnded));
    }

    #[test]
    fn prefixes_are_plain_tokens() {
        assert!(check_prefix("sotto").is_ok());
        assert!(check_prefix("acme.sotto-1").is_ok());
        for bad in ["", "a..b", "a.*", "a.>", "a b", ".a"] {
            assert!(check_prefix(bad).is_err(), "{bad}");
        }
    }
}
