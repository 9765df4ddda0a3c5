//! The WebSocket endpoint: one socket per connected device, for real-time delivery, sending,
//! acknowledgements, receipts and typing notices.
//!
//! # Layout
//! - this module: the upgrade (`GET /v1/ws`) with its size caps; the Origin allow-list is the
//!   router's middleware.
//! - [`conn`]: a connection's life, written over any `Sink`/`Stream` of messages.
//! - [`frames`]: the JSON frames.
//! - [`stop`]: why a connection ended.
//! - [`window`]: delivery flow control (envelopes written ahead of the acknowledgements).

pub mod conn;
pub mod frames;
pub mod stop;
pub mod window;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{State, WebSocketUpgrade};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use futures_util::StreamExt;

use crate::error::{ApiError, Error};
use crate::http::accounts::TICKET_COOKIE;
use crate::serve::ConnectionSlot;
use crate::state::AppState;

/// Bytes one socket read may fill, and what an idle socket keeps allocated for reading.
/// tungstenite zeroes this much of its buffer before every read (its 128 KiB default cost a
/// 128 KiB `memset` per ~1 KiB frame), and every held socket keeps it: 2 KiB holds a typical
/// frame (an 815-byte envelope is a 1.2 KB `send`) at an eighth of the 16 KiB it was. Larger
/// frames still arrive whole, over several reads of what rustls already decrypted (D71).
const READ_BUFFER: usize = 2 * 1024;
/// Frames written are gathered up to this many bytes before they go to TLS: a socket keeps
/// its write buffer's largest size, so this bounds what a burst (a backlog read at 256
/// envelopes a page) leaves allocated behind it.
const WRITE_BUFFER: usize = 16 * 1024;

/// # `GET /v1/ws`
///
/// Upgrades to a WebSocket. The ticket comes in the `__Host-sotto-ticket` cookie or as the first
/// frame; frames and messages above `limits.max_ws_message` close the socket before they are
/// buffered. The socket keeps its connection's place under `max_connections`
/// ([`ConnectionSlot`]) until it closes.
pub async fn upgrade(
    State(state): State<AppState>,
    slot: Option<Extension<ConnectionSlot>>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let Ok(ws) = ws else {
        return ApiError(Error::InvalidField {
            field: "upgrade",
            reason: "expected a WebSocket upgrade request",
        })
        .into_response();
    };
    if *state.shutdown.borrow() {
        return ApiError(Error::Unavailable).into_response();
    }
    let cookie_ticket = ticket_cookie(&headers);
    let max = state.settings.limits.max_ws_message;
    ws.max_message_size(max)
        .max_frame_size(max)
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .on_upgrade(move |socket| {
            // Split here, not inside the future: a future keeps its arguments for its life.
            let (sink, stream) = socket.split();
            conn::serve(state, sink, stream, cookie_ticket, slot)
        })
        .into_response()
}

/// The ticket from the `Cookie` header, if any.
fn ticket_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == TICKET_COOKIE)
        .map(|(_, value)| value.to_owned())
}

#[cfg(test)]
mod tests {
    use std::future::Future;

    use axum::extract::ws::{Message, WebSocket};
    use futures_util::stream::{SplitSink, SplitStream};

    use super::*;

    /// What a held socket's task may take: 1,480 bytes now, with room for a field or two but
    /// not for admission inline (1,768) or a copy of the WebSocket.
    const MAX_SOCKET_FUTURE: usize = 1664;

    /// The size of the future `f` returns, without calling it.
    fn future_size<A, B, C, D, E, F: Future>(_: impl FnOnce(A, B, C, D, E) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    /// Every held socket keeps this future (its task) for as long as it is open; with a copy of
    /// the WebSocket in its arguments and admission's state inline it was 4.4 KiB (D75).
    #[test]
    fn a_held_socket_task_stays_small() {
        let size = future_size(
            conn::serve::<
                SplitSink<WebSocket, Message>,
                SplitStream<WebSocket>,
                Option<Extension<ConnectionSlot>>,
            >,
        );
        assert!(size <= MAX_SOCKET_FUTURE, "{size} bytes");
    }
}
