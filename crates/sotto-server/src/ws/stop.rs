//! Why a WebSocket connection ended: one [`Stop`] per cause the connection loop tells apart.
//! The reason is recorded on the connection's tracing span, logged once when the socket closes
//! and counted in `/metrics` (`sotto_ws_closed_total{reason=…}`), so an operator can tell idle
//! clients from slow readers from revocations without any user data in the label.

use crate::hub::CloseReason;

/// Why a connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// No ticket arrived (no cookie, and no `auth` frame within `ws_auth_timeout`).
    NoTicket,
    /// The ticket was unknown, expired or already used.
    BadTicket,
    /// The account already has its maximum number of sockets on this node.
    TooManyConnections,
    /// The client sent a close frame.
    ClientClosed,
    /// The client's stream ended or failed without a close frame (network loss, a protocol
    /// error).
    ClientGone,
    /// The client sent a frame or message over `max_ws_message` (refused before it was
    /// buffered, close code 1009).
    TooLarge,
    /// Nothing arrived from the client within the idle timeout.
    IdleTimeout,
    /// The client sent frames faster than its rate limit.
    FrameRate,
    /// A write did not complete within `ws_send_timeout` (the client reads too slowly).
    SlowReader,
    /// A write failed.
    SendFailed,
    /// The session was logged out or revoked.
    SessionEnded,
    /// The device was revoked.
    DeviceRevoked,
    /// The server is shutting down.
    Shutdown,
    /// The store failed while admitting the socket (its ticket's redemption) or reading the
    /// device's queue (close code 1011).
    StoreFailed,
    /// The hub dropped this socket's queue.
    HubGone,
}

impl Stop {
    /// Whether the server closed the socket with a close frame the client should read, and so
    /// waits for the client's (`conn::linger`). A shutdown does not wait: it has its own grace.
    pub fn server_closed(self) -> bool {
        matches!(
            self,
            Self::IdleTimeout
                | Self::FrameRate
                | Self::SessionEnded
                | Self::DeviceRevoked
                | Self::StoreFailed
        )
    }

    /// Every reason, in the order `/metrics` lists them.
    pub const ALL: [Stop; 15] = [
        Self::NoTicket,
        Self::BadTicket,
        Self::TooManyConnections,
        Self::ClientClosed,
        Self::ClientGone,
        Self::TooLarge,
        Self::IdleTimeout,
        Self::FrameRate,
        Self::SlowReader,
        Self::SendFailed,
        Self::SessionEnded,
        Self::DeviceRevoked,
        Self::Shutdown,
        Self::StoreFailed,
        Self::HubGone,
    ];

    /// The stable name used in logs and as the metric's `reason` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoTicket => "no_ticket",
            Self::BadTicket => "bad_ticket",
            Self::TooManyConnections => "too_many_connections",
            Self::ClientClosed => "client_closed",
            Self::ClientGone => "client_gone",
            Self::TooLarge => "too_large",
            Self::IdleTimeout => "idle_timeout",
            Self::FrameRate => "frame_rate",
            Self::SlowReader => "slow_reader",
            Self::SendFailed => "send_failed",
            Self::SessionEnded => "session_ended",
            Self::DeviceRevoked => "device_revoked",
            Self::Shutdown => "shutdown",
            Self::StoreFailed => "store_failed",
            Self::HubGone => "hub_gone",
        }
    }

    /// This reason's position in [`Stop::ALL`] (its counter in the metrics).
    pub fn index(self) -> usize {
        self as usize
    }
}

impl Stop {
    /// Why the client's stream failed: a message over the cap is told apart (an attack on the
    /// memory bound, pentest D4) from a lost or broken connection.
    pub fn from_stream_error(error: axum::Error) -> Self {
        match error.into_inner().downcast_ref::<tungstenite::Error>() {
            Some(tungstenite::Error::Capacity(_)) => Self::TooLarge,
            _ => Self::ClientGone,
        }
    }
}

impl From<CloseReason> for Stop {
    fn from(reason: CloseReason) -> Self {
        match reason {
            CloseReason::SessionEnded => Self::SessionEnded,
            CloseReason::DeviceRevoked => Self::DeviceRevoked,
            CloseReason::Shutdown => Self::Shutdown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_sits_at_its_index_under_a_distinct_name() {
        let mut names = std::collections::HashSet::new();
        for (i, stop) in Stop::ALL.iter().enumerate() {
            assert_eq!(stop.index(), i);
            assert!(names.insert(stop.as_str()), "{stop:?} repeats a name");
        }
    }
}
