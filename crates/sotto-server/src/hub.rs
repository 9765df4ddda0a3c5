//! The in-process fan-out: which devices have a socket on this node, and a bounded queue into
//! each socket's task.
//!
//! The table sits behind a `std` mutex held only for map updates and non-blocking `try_send`s,
//! never across I/O or an `.await`. When a socket's queue is full the push is dropped and the
//! socket is marked *lagged*: its task then re-reads its queue from the store, where every
//! envelope already is (the store, not this queue, is the source of truth). Closing a socket
//! (logout, revocation, password change, shutdown) goes through a separate watch channel, so it
//! works even when the queue is full.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use sotto_proto::ids::{AccountId, ConversationId, DeviceId, MessageId};
use tokio::sync::{mpsc, watch};

use crate::error::{Error, Result};
use crate::store::{Delivery, SessionId, UserId};

/// An envelope as pushed to sockets: shared by every recipient, body already base64.
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
    /// The ciphertext, base64 (standard alphabet, padded).
    pub body_b64: Arc<str>,
}

impl OutEnvelope {
    /// Converts a stored delivery.
    pub fn from_delivery(d: &Delivery) -> Self {
        use base64::Engine;
        Self {
            message: d.message,
            conversation: d.conversation,
            sender_account: d.sender_account,
            sender_device: d.sender_device,
            received_at: d.received_at,
            body_b64: base64::engine::general_purpose::STANDARD
                .encode(&d.body)
                .into(),
        }
    }
}

/// What a socket task receives from the hub.
#[derive(Clone, Debug)]
pub enum Push {
    /// A queued envelope with its per-device sequence number.
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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

/// The connected-device table.
#[derive(Debug, Default)]
pub struct Hub {
    table: Mutex<Table>,
    next_id: AtomicU64,
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
    /// Set when a push was dropped because `rx` was full.
    pub lagged: Arc<AtomicBool>,
    /// Becomes `Some` when the server wants the socket closed.
    pub close: watch::Receiver<Option<CloseReason>>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut table = self.hub.lock();
        if let Some(conns) = table.by_device.get_mut(&self.device) {
            conns.retain(|c| c.id != self.id);
            if conns.is_empty() {
                table.by_device.remove(&self.device);
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
    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a socket; `Capacity` if the account already has `max_per_user` sockets.
    pub fn register(
        self: &Arc<Self>,
        user: UserId,
        device: DeviceId,
        session: SessionId,
        queue: usize,
        max_per_user: usize,
    ) -> Result<Registration> {
        let (tx, rx) = mpsc::channel(queue);
        let (close_tx, close_rx) = watch::channel(None);
        let lagged = Arc::new(AtomicBool::new(false));
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut table = self.lock();
        let count = table.per_user.entry(user).or_insert(0);
        if *count >= max_per_user {
            return Err(Error::Capacity {
                what: "connections per account",
            });
        }
        *count += 1;
        table.by_device.entry(device).or_default().push(Conn {
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

    /// Pushes to every socket of `device`; returns how many took it.
    pub fn push(&self, device: &DeviceId, push: &Push) -> usize {
        let table = self.lock();
        let Some(conns) = table.by_device.get(device) else {
            return 0;
        };
        let mut sent = 0;
        for conn in conns {
            match conn.tx.try_send(push.clone()) {
                Ok(()) => sent += 1,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    conn.lagged.store(true, Ordering::Release)
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
        sent
    }

    /// Whether `device` has a socket here.
    pub fn is_online(&self, device: &DeviceId) -> bool {
        self.lock().by_device.contains_key(device)
    }

    /// Sockets connected now.
    pub fn connections(&self) -> usize {
        self.lock().by_device.values().map(Vec::len).sum()
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

    /// Closes the sockets of these sessions.
    pub fn close_sessions(&self, sessions: &[SessionId], reason: CloseReason) -> usize {
        self.close_where(reason, |_, c| sessions.contains(&c.session))
    }

    /// Closes every socket of a device.
    pub fn close_device(&self, device: &DeviceId, reason: CloseReason) -> usize {
        self.close_where(reason, |d, _| d == device)
    }

    /// Closes every socket of a user except those of `keep`.
    pub fn close_user(&self, user: UserId, keep: Option<&SessionId>, reason: CloseReason) -> usize {
        self.close_where(reason, |_, c| c.user == user && Some(&c.session) != keep)
    }

    /// Closes every socket (shutdown).
    pub fn close_all(&self, reason: CloseReason) -> usize {
        self.close_where(reason, |_, _| true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(i: u8) -> DeviceId {
        DeviceId::from_bytes([i; 32])
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
        assert!(reg.lagged.load(Ordering::Acquire));
        assert!(reg.rx.recv().await.is_some());
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
}
