//! The in-process fan-out: events reach this node's sockets only, envelopes directly (one
//! writer pushes them in commit order, so a socket never sees a later one before an earlier
//! one). The default, and all a single node needs.

use std::sync::Arc;

use sotto_proto::ids::DeviceId;

use crate::fanout::{Event, Fanout};
use crate::hub::Sockets;

/// Delivers to this node's sockets.
#[derive(Debug)]
pub struct LocalFanout {
    /// This node's sockets.
    sockets: Arc<Sockets>,
}

impl LocalFanout {
    /// A backend over this node's `sockets`.
    pub fn new(sockets: Arc<Sockets>) -> Self {
        Self { sockets }
    }
}

#[async_trait::async_trait]
impl Fanout for LocalFanout {
    fn backend(&self) -> &'static str {
        "local"
    }

    fn publish(&self, event: Event) -> usize {
        self.sockets.apply(&event)
    }

    fn watch(&self, _device: &DeviceId) {}

    fn unwatch(&self, _device: &DeviceId) {}
}
