//! The fan-out seam: how an event for a device (a committed envelope, a receipt or typing
//! frame, a socket close) reaches the sockets it targets, on this node or on others.
//!
//! One node needs nothing more than its own socket table ([`local`]). Several nodes behind a
//! load balancer on one PostgreSQL database publish each event on a NATS subject per device
//! and subscribe, per node, to the devices connected to that node ([`nats`]). Either way the
//! store stays the source of truth: a lost event only delays delivery until the socket's next
//! store read, never loses an envelope (see [`crate::hub`] for how sockets re-read).
//!
//! # Layout
//! - this module: [`Event`], the [`Fanout`] trait, [`open`] from the configuration.
//! - [`local`]: in-process, this node's sockets only.
//! - [`nats`]: NATS subjects per device (`<prefix>.dev.<device hex>`) and one control subject
//!   for session and account closes.

pub mod beats;
pub mod local;
pub mod nats;

use std::sync::Arc;

use sotto_proto::ids::DeviceId;

use crate::config::{Config, FanoutKind};
use crate::error::{Error, Result};
use crate::hub::{CloseReason, OutEnvelope, Sockets};
use crate::store::{SessionId, Store, UserId};

/// Something to deliver to connected sockets.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Event {
    /// An envelope was committed to `device`'s queue at `seq`.
    Envelope {
        /// The recipient device.
        device: DeviceId,
        /// Its position in the device's queue.
        seq: i64,
        /// The envelope (a backend that crosses nodes announces only `seq`; the sockets there
        /// read the envelope from the store).
        envelope: Arc<OutEnvelope>,
    },
    /// A pre-encoded frame (receipt, typing) for the sockets of `device`.
    Frame {
        /// The recipient device.
        device: DeviceId,
        /// The JSON frame as sent to the socket.
        frame: Arc<str>,
    },
    /// Close every socket of `device`.
    CloseDevice {
        /// The device.
        device: DeviceId,
        /// Why.
        reason: CloseReason,
    },
    /// Close the sockets of these sessions.
    CloseSessions {
        /// The sessions.
        sessions: Vec<SessionId>,
        /// Why.
        reason: CloseReason,
    },
    /// Close every socket of `user` except those of `keep`.
    CloseUser {
        /// The user.
        user: UserId,
        /// A session whose sockets stay open.
        keep: Option<SessionId>,
        /// Why.
        reason: CloseReason,
    },
}

/// A fan-out backend. Calls never block and never fail: what cannot be carried is logged and
/// dropped, and the sockets' store reads make up for it.
#[async_trait::async_trait]
pub trait Fanout: Send + Sync + std::fmt::Debug {
    /// The backend's name (`local`, `nats`), for logs and `/metrics`.
    fn backend(&self) -> &'static str;

    /// Delivers `event` to the sockets it targets on every node, this one included; returns how
    /// many sockets on this node it reached.
    fn publish(&self, event: Event) -> usize;

    /// This node now has a socket of `device` (its first): start receiving its events.
    fn watch(&self, device: &DeviceId);

    /// This node has no socket of `device` any more: stop receiving its events.
    fn unwatch(&self, device: &DeviceId);

    /// Stops background work once this node's sockets have closed, handing over what is still
    /// queued first.
    async fn stop(&self) {}
}

/// Opens the configured backend over this node's `sockets`; `store` re-checks sockets' sessions
/// when close events may have been lost.
pub async fn open(
    config: &Config,
    sockets: Arc<Sockets>,
    store: Arc<dyn Store>,
) -> Result<Arc<dyn Fanout>> {
    Ok(match config.fanout {
        FanoutKind::Local => Arc::new(local::LocalFanout::new(sockets)),
        FanoutKind::Nats => {
            let url = config.nats_url.as_deref().ok_or_else(|| Error::Config {
                reason: "fanout = \"nats\" needs nats_url".to_owned(),
            })?;
            let fanout =
                nats::NatsFanout::connect(url, &config.nats_prefix, sockets, Some(store)).await?;
            Arc::new(fanout)
        }
    })
}
