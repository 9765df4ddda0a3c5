//! Holding an idle socket, the same in this process and in a worker (`worker.rs`): answer the
//! server's pings, acknowledge envelopes, count what happens, and hand every delivery (message id
//! and wall-clock arrival) to whoever measures latency.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use sotto_proto::ids::MessageId;
use sotto_wire::ServerFrame;
use tokio::sync::mpsc::UnboundedSender;
use tokio_tungstenite::tungstenite::Message;

use crate::connect::Socket;
use crate::relay::ack_frame;
use crate::stats::wall_ns;

/// Counters every held socket of a process shares.
#[derive(Default)]
pub struct Held {
    pings: AtomicU64,
    dropped: AtomicU64,
}

impl Held {
    pub fn totals(&self) -> Totals {
        Totals {
            pings: self.pings.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }
}

/// Pings answered and sockets dropped so far.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct Totals {
    pub pings: u64,
    pub dropped: u64,
}

impl std::ops::Add for Totals {
    type Output = Self;

    fn add(self, other: Self) -> Self {
        Self {
            pings: self.pings + other.pings,
            dropped: self.dropped + other.dropped,
        }
    }
}

/// An envelope that reached an idle device: its id and when, in [`wall_ns`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Delivery {
    pub id: MessageId,
    pub at_ns: u64,
}

/// Holds one idle socket until it ends (counted as dropped) or the task is aborted.
pub async fn hold(mut ws: Socket, held: Arc<Held>, deliveries: UnboundedSender<Delivery>) {
    loop {
        match ws.next().await {
            Some(Ok(Message::Ping(_))) => {
                held.pings.fetch_add(1, Ordering::Relaxed);
            }
            Some(Ok(Message::Text(text))) => {
                if let Ok(ServerFrame::Envelope { message_id, .. }) =
                    serde_json::from_str::<ServerFrame<'_>>(text.as_str())
                {
                    let _ = deliveries.send(Delivery {
                        id: message_id,
                        at_ns: wall_ns(),
                    });
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
