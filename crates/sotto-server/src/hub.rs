//! The connected-device table of this node and the [`Hub`] every caller pushes through.
//!
//! [`Sockets`] is the table: which devices have a socket on this node, each with a bounded queue
//! into its task. It sits behind a `std` mutex held only for map updates and non-blocking
//! `try_send`s, never across I/O or an `.await`. [`Hub`] puts a [`Fanout`] backend in front of
//! it: the relay, the socket tasks and the services call the hub, and the backend decides which
//! node's table an event reaches (only this one for `local`; every node with a socket of the
//! device for `nats`).
//!
//! The store, not a queue, is the source of truth. A socket is told about a committed envelope
//! in one of two ways:
//! - **direct**: the push carries the envelope and its per-device sequence number (the `local`
//!   backend, where one writer pushes in commit order);
//! - **re-read**: the socket is marked *lagged* and woken, and its task re-reads its queue from
//!   the store above what it already sent (the `nats` backend, where pushes from several nodes
//!   can arrive in any order, or not at all).
//!
//! A socket whose queue is full is marked lagged too, and while it is lagged no direct push is
//! queued for it: the pending store read will include that envelope, and skipping it keeps a
//! later envelope from being written before an earlier one that only the store read would
//! bring. Closing a socket (logout, revocation, password change, shutdown) goes through a
//! separate watch channel, so it works even when the queue is full.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures_channel::mpsc;
use serde::{Deserialize, Serialize};
use sotto_proto::ids::{AccountId, ConversationId, DeviceId, MessageId};
use tokio::sync::watch;

use crate::error::{Error, Result};
use crate::fanout::local::LocalFanout;
use crate::fanout::{Event, Fanout};
use crate::store::{Delivery, SessionId, UserId};

/// An envelope as pushed to sockets: shared by every recipient. Each socket task base64-encodes
/// the body straight into its frame, off the relay's commit path.
#[derive(Debug)]
pub struct OutEnvelope {
    /// Message id.
    pub message: MessageId,
    /// Conversation.
    pub conversation: ConversationId,
    /// Sender account.
    pub sender_account: AccountId,
    /// Sender device.
    pub sender_device: DeviceId,
    /// Server receive time (ms).
    pub received_at: i64,
    /// The ciphertext.
    pub body: Vec<u8>,
}

impl OutEnvelope {
    /// Converts a stored delivery.
    pub fn from_delivery(d: Delivery) -> Self {
        Self {
            message: d.message,
            conversation: d.conversation,
            sender_account: d.sender_account,
            sender_device: d.sender_device,
            received_at: d.received_at,
            body: d.body,
        }
    }
}

/// What a socket task receives from the hub.
#[derive(Clone, Debug)]
pub enum Push {
    /// Something was committed for the device that this push does not carry: the task runs its
    /// loop once, sees the *lagged* flag and re-reads its queue from the store. It writes
    /// nothing by itself.
    Wake,
    /// A queued envelope with its per-device sequence number (positions start at 1).
    Envelope {
        /// Sequence number in the device's queue.
        seq: i64,
        /// The envelope.
        envelope: Arc<OutEnvelope>,
    },
    /// A pre-encoded JSON frame (receipts, typing).
    Frame(Arc<str>),
}

/// Why the server closes a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// The session was logged out or revoked.
    SessionEnded,
    /// The device was revoked.
    DeviceRevoked,
    /// The server is shutting down.
    Shutdown,
}

impl CloseReason {
    /// The text sent in the close frame.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SessionEnded => "session ended",
            Self::DeviceRevoked => "device revoked",
            Self::Shutdown => "server shutting down",
        }
    }
}

#[derive(Debug)]
struct Conn {
    id: u64,
    user: UserId,
    session: SessionId,
    tx: mpsc::Sender<Push>,
    lagged: Arc<AtomicBool>,
    close: watch::Sender<Option<CloseReason>>,
}

#[derive(Debug, Default)]
struct Table {
    by_device: HashMap<DeviceId, Vec<Conn>>,
    per_user: HashMap<UserId, usize>,
}

/// The sockets connected to this node, by device.
#[derive(Debug, Default)]
pub struct Sockets {
    table: Mutex<Table>,
    next_id: AtomicU64,
}

impl Sockets {
    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Delivers `event` to the sockets of this node it targets; returns how many it reached.
    /// Envelopes are pushed directly (see [`Sockets::deliver`]).
    pub fn apply(&self, event: &Event) -> usize {
        match event {
            Event::Envelope {
                device,
                seq,
                envelope,
            } => self.deliver(device, *seq, envelope),
            Event::Frame { device, frame } => self.frame(device, frame),
            Event::CloseDevice { device, reason } => self.close_where(*reason, |d, _| d == device),
            Event::CloseSessions { sessions, reason } => {
                self.close_where(*reason, |_, c| sessions.contains(&c.session))
            }
            Event::CloseUser { user, keep, reason } => self.close_where(*reason, |_, c| {
                c.user == *user && Some(&c.session) != keep.as_ref()
            }),
        }
    }

    /// Pushes an envelope to every socket of `device` that has no store read pending; a full
    /// queue marks its socket lagged instead. Callers must push a device's envelopes in commit
    /// order (one writer does).
    pub fn deliver(&self, device: &DeviceId, seq: i64, envelope: &Arc<OutEnvelope>) -> usize {
        let mut table = self.lock();
        let Some(conns) = table.by_device.get_mut(device) else {
            return 0;
        };
        let mut reached = 0;
        for conn in conns {
            if conn.lagged.load(Ordering::SeqCst) {
                // Its pending store read starts later than this commit, so it brings this one.
                reached += 1;
                continue;
            }
            let push = Push::Envelope {
                seq,
                envelope: envelope.clone(),
            };
            match conn.tx.try_send(push) {
                Ok(()) => reached += 1,
                Err(e) if e.is_full() => {
                    conn.lagged.store(true, Ordering::SeqCst);
                    reached += 1;
                }
                // The socket's task is gone; its registration is being dropped.
                Err(_) => {}
            }
        }
        reached
    }

    /// Tells every socket of `device` to re-read its queue from the store (something was
    /// committed for it); returns how many sockets were told.
    pub fn wake(&self, device: &DeviceId) -> usize {
        let mut table = self.lock();
        table
            .by_device
            .get_mut(device)
            .map_or(0, |conns| conns.iter_mut().map(Self::wake_conn).sum())
    }

    /// Tells every socket of this node to re-read its queue (after fan-out messages may have
    /// been lost, e.g. a reconnect to the message bus).
    pub fn wake_all(&self) -> usize {
        let mut table = self.lock();
        table
            .by_device
            .values_mut()
            .flatten()
            .map(Self::wake_conn)
            .sum()
    }

    fn wake_conn(conn: &mut Conn) -> usize {
        // Already lagged: a push (a wake-up or a full queue) is waiting, and the store read
        // that follows it starts after now.
        if !conn.lagged.swap(true, Ordering::SeqCst) {
            // A full queue wakes the task just as well.
            let _ = conn.tx.try_send(Push::Wake);
        }
        1
    }

    /// Pushes a frame (receipt, typing) to every socket of `device`; frames are not stored, so
    /// a full queue drops it.
    pub fn frame(&self, device: &DeviceId, frame: &Arc<str>) -> usize {
        let mut table = self.lock();
        let Some(conns) = table.by_device.get_mut(device) else {
            return 0;
        };
        conns
            .iter_mut()
            .map(|c| c.tx.try_send(Push::Frame(frame.clone())).is_ok())
            .filter(|&sent| sent)
            .count()
    }

    /// Whether `device` has a socket on this node.
    pub fn is_online(&self, device: &DeviceId) -> bool {
        self.lock().by_device.contains_key(device)
    }

    /// Sockets connected to this node now.
    pub fn connections(&self) -> usize {
        self.lock().by_device.values().map(Vec::len).sum()
    }

    /// The sessions with a socket on this node.
    pub fn sessions(&self) -> Vec<SessionId> {
        let table = self.lock();
        let mut sessions: Vec<SessionId> = table
            .by_device
            .values()
            .flatten()
            .map(|c| c.session)
            .collect();
        sessions.sort_unstable_by_key(|s| s.0);
        sessions.dedup();
        sessions
    }

    /// Closes every socket of this node (shutdown).
    pub fn close_all(&self, reason: CloseReason) -> usize {
        self.close_where(reason, |_, _| true)
    }

    fn close_where(&self, reason: CloseReason, pick: impl Fn(&DeviceId, &Conn) -> bool) -> usize {
        let table = self.lock();
        let mut closed = 0;
        for (device, conns) in &table.by_device {
            for conn in conns.iter().filter(|c| pick(device, c)) {
                conn.close.send_replace(Some(reason));
                closed += 1;
            }
        }
        closed
    }
}

/// The fan-out every caller pushes through: this node's sockets and the backend that carries
/// events to the other nodes' sockets.
#[derive(Debug)]
pub struct Hub {
    /// This node's sockets.
    sockets: Arc<Sockets>,
    /// Where events go (and how envelopes are announced to this node's sockets).
    fanout: Arc<dyn Fanout>,
}

impl Default for Hub {
    /// A single-node hub (the `local` backend).
    fn default() -> Self {
        let sockets = Arc::new(Sockets::default());
        let fanout = Arc::new(LocalFanout::new(sockets.clone()));
        Self { sockets, fanout }
    }
}

/// A registered socket's receiving side; unregisters on drop.
#[derive(Debug)]
pub struct Registration {
    hub: Arc<Hub>,
    id: u64,
    device: DeviceId,
    user: UserId,
    /// Envelopes and frames for this socket.
    pub rx: mpsc::Receiver<Push>,
    /// Set when the socket must re-read its queue from the store (a push was dropped because
    /// `rx` was full, or the fan-out announced an envelope without carrying it).
    pub lagged: Arc<AtomicBool>,
    /// Becomes `Some` when the server wants the socket closed.
    pub close: watch::Receiver<Option<CloseReason>>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut table = self.hub.sockets.lock();
        if let Some(conns) = table.by_device.get_mut(&self.device) {
            conns.retain(|c| c.id != self.id);
            if conns.is_empty() {
                table.by_device.remove(&self.device);
                // Under the table lock, so watch/unwatch reach the backend in table order.
                self.hub.fanout.unwatch(&self.device);
            }
        }
        if let Some(n) = table.per_user.get_mut(&self.user) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                table.per_user.remove(&self.user);
            }
        }
    }
}

impl Hub {
    /// A hub over `sockets` with `fanout` (which must deliver to the same `sockets`).
    pub fn new(sockets: Arc<Sockets>, fanout: Arc<dyn Fanout>) -> Self {
        Self { sockets, fanout }
    }

    /// This node's sockets.
    pub fn sockets(&self) -> &Arc<Sockets> {
        &self.sockets
    }

    /// The fan-out backend.
    pub fn fanout(&self) -> &Arc<dyn Fanout> {
        &self.fanout
    }

    /// Registers a socket; `Capacity` if the account already has `max_per_user` sockets on
    /// this node.
    pub fn register(
        self: &Arc<Self>,
        user: UserId,
        device: DeviceId,
        session: SessionId,
        queue: usize,
        max_per_user: usize,
    ) -> Result<Registration> {
        // A bounded channel of `futures-channel` holds `buffer` pushes plus one per sender (the
        // hub is the only one), so `queue - 1` makes room for exactly `queue`. Unlike tokio's,
        // it allocates per push, not a block of 32 slots up front: about 1.1 KiB less for each
        // held socket, which is idle nearly all the time (D75).
        let (tx, rx) = mpsc::channel(queue.saturating_sub(1));
        let (close_tx, close_rx) = watch::channel(None);
        let lagged = Arc::new(AtomicBool::new(false));
        let id = self.sockets.next_id.fetch_add(1, Ordering::Relaxed);
        let mut table = self.sockets.lock();
        let count = table.per_user.entry(user).or_insert(0);
        if *count >= max_per_user {
            return Err(Error::Capacity {
                what: "connections per account",
            });
        }
        *count += 1;
        let conns = table.by_device.entry(device).or_default();
        if conns.is_empty() {
            self.fanout.watch(&device);
        }
        conns.push(Conn {
            id,
            user,
            session,
            tx,
            lagged: lagged.clone(),
            close: close_tx,
        });
        drop(table);
        Ok(Registration {
            hub: self.clone(),
            id,
            device,
            user,
            rx,
            lagged,
            close: close_rx,
        })
    }

    /// Announces a push to every socket of `device` on every node; returns how many sockets on
    /// this node it reached.
    pub fn push(&self, device: &DeviceId, push: &Push) -> usize {
        let event = match push {
            // Only this node's sockets: every backend wakes its own when it hears of an
            // envelope, so a wake-up never crosses nodes.
            Push::Wake => return self.sockets.wake(device),
            Push::Envelope { seq, envelope } => Event::Envelope {
                device: *device,
                seq: *seq,
                envelope: envelope.clone(),
            },
            Push::Frame(frame) => Event::Frame {
                device: *device,
                frame: frame.clone(),
            },
        };
        self.fanout.publish(event)
    }

    /// Whether `device` has a socket on this node.
    pub fn is_online(&self, device: &DeviceId) -> bool {
        self.sockets.is_online(device)
    }

    /// Sockets connected to this node now.
    pub fn connections(&self) -> usize {
        self.sockets.connections()
    }

    /// Closes the sockets of these sessions, on every node; returns how many closed here.
    pub fn close_sessions(&self, sessions: &[SessionId], reason: CloseReason) -> usize {
        self.fanout.publish(Event::CloseSessions {
            sessions: sessions.to_vec(),
            reason,
        })
    }

    /// Closes every socket of a device, on every node; returns how many closed here.
    pub fn close_device(&self, device: &DeviceId, reason: CloseReason) -> usize {
        self.fanout.publish(Event::CloseDevice {
            device: *device,
            reason,
        })
    }

    /// Closes every socket of a user except those of `keep`, on every node; returns how many
    /// closed here.
    pub fn close_user(&self, user: UserId, keep: Option<&SessionId>, reason: CloseReason) -> usize {
        self.fanout.publish(Event::CloseUser {
            user,
            keep: keep.copied(),
            reason,
        })
    }

    /// Closes every socket of this node only (shutdown).
    pub fn close_all(&self, reason: CloseReason) -> usize {
        self.sockets.close_all(reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(i: u8) -> DeviceId {
        DeviceId::from_bytes([i; 32])
    }

    fn envelope() -> Arc<OutEnvelope> {
        Arc::new(OutEnvelope {
            message: MessageId::from_bytes([1; 16]),
            conversation: ConversationId::from_bytes([2; 16]),
            sender_account: AccountId::from_bytes([3; 32]),
            sender_device: DeviceId::from_bytes([4; 32]),
            received_at: 1,
            body: Vec::new(),
        })
    }

    #[tokio::test]
    async fn full_queue_marks_lagged_and_registration_cleans_up() {
        let hub = Arc::new(Hub::default());
        let mut reg = hub
            .register(UserId(1), dev(1), SessionId([1; 16]), 1, 2)
            .unwrap();
        let push = Push::Frame(Arc::from("{}"));
        assert_eq!(hub.push(&dev(1), &push), 1);
        assert_eq!(hub.push(&dev(1), &push), 0);
        assert!(reg.rx.recv().await.is_ok());
        let env = Push::Envelope {
            seq: 1,
            envelope: envelope(),
        };
        hub.push(&dev(1), &env);
        hub.push(&dev(1), &env);
        assert!(reg.lagged.load(Ordering::Acquire));
        assert!(reg.rx.recv().await.is_ok());
        let _second = hub
            .register(UserId(1), dev(2), SessionId([2; 16]), 1, 2)
            .unwrap();
        assert!(hub
            .register(UserId(1), dev(3), SessionId([3; 16]), 1, 2)
            .is_err());
        assert_eq!(
            hub.close_sessions(&[SessionId([1; 16])], CloseReason::SessionEnded),
            1
        );
        assert_eq!(*reg.close.borrow(), Some(CloseReason::SessionEnded));
        drop(reg);
        assert!(!hub.is_online(&dev(1)));
        assert_eq!(hub.connections(), 1);
    }

    #[tokio::test]
    async fn a_lagged_socket_gets_no_direct_push_until_it_re_reads() {
        let hub = Arc::new(Hub::default());
        let mut reg = hub
            .register(UserId(1), dev(1), SessionId([1; 16]), 2, 2)
            .unwrap();
        let push = |seq| Push::Envelope {
            seq,
            envelope: envelope(),
        };
        hub.push(&dev(1), &push(1));
        hub.push(&dev(1), &push(2));
        hub.push(&dev(1), &push(3)); // dropped: full
        assert!(reg.lagged.load(Ordering::SeqCst));
        let _ = reg.rx.recv().await;
        // Room again, but 3 is only in the store: 4 must wait for the same store read.
        hub.push(&dev(1), &push(4));
        assert!(matches!(
            reg.rx.try_recv(),
            Ok(Push::Envelope { seq: 2, .. })
        ));
        assert!(reg.rx.try_recv().is_err());
        // The task re-reads (clears the flag); direct pushes resume.
        assert!(reg.lagged.swap(false, Ordering::SeqCst));
        hub.push(&dev(1), &push(5));
        assert!(matches!(
            reg.rx.try_recv(),
            Ok(Push::Envelope { seq: 5, .. })
        ));
    }

    #[tokio::test]
    async fn wake_marks_lagged_once_and_never_carries_a_position() {
        let sockets = Arc::new(Sockets::default());
        let hub = Arc::new(Hub::new(
            sockets.clone(),
            Arc::new(LocalFanout::new(sockets.clone())),
        ));
        let mut reg = hub
            .register(UserId(1), dev(1), SessionId([1; 16]), 8, 2)
            .unwrap();
        assert_eq!(sockets.wake(&dev(1)), 1);
        assert_eq!(sockets.wake(&dev(1)), 1);
        assert!(reg.lagged.load(Ordering::SeqCst));
        assert!(matches!(reg.rx.try_recv(), Ok(Push::Wake)));
        assert!(reg.rx.try_recv().is_err(), "one wake-up while lagged");
        assert_eq!(sockets.wake_all(), 1);
        assert_eq!(sockets.wake(&dev(2)), 0);
    }
}
