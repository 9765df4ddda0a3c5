//! The WebSocket to the server (`GET /v1/ws`), over the same TLS trust as the API. The socket is
//! authorised by a single-use ticket sent as the first frame; frames are JSON text, the
//! `sotto-wire` frames the server uses. A frame of a type this client does not know (from a
//! newer server) is skipped, not an error.
//!
//! Once authenticated, a task of its own reads the socket into a bounded read-ahead (frames and
//! bytes), so the socket is read while the caller verifies and stores what came before: the
//! server's writes never wait on this client's processing (a backlog of thousands of envelopes
//! to verify must not look like a client that stopped reading), and the server's pings are
//! answered meanwhile.

use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use rustls::pki_types::ServerName;
use sotto_proto::ids::MessageId;
use sotto_wire::{ClientFrame, DecodeError, Secret};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::Message;
use tokio_tungstenite::WebSocketStream;

use crate::api::Api;
use crate::error::{Error, Result};

/// How long connecting and the `ready` answer may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// A frame from the server, owning its strings (the `sotto-wire` frame the server writes).
pub type ServerFrame = sotto_wire::ServerFrame<'static>;

/// Bytes of one server frame this client reads: an envelope's base64 with its header fields,
/// with room to spare (the server refuses envelopes over its own, smaller, cap).
const MAX_FRAME: usize = 4 * 1024 * 1024;

/// Frames read ahead of the caller at most. The server writes at most its delivery window
/// (`ws_unacked_envelopes`, 256 by default) of envelopes ahead of the acknowledgements, plus
/// small answers; this is room for that with some to spare.
const READ_AHEAD_FRAMES: usize = 1024;
/// Frame bytes read ahead of the caller at most (a server that ignores its window cannot make
/// this client buffer without bound). A frame larger than this takes the whole budget.
const READ_AHEAD_BYTES: usize = 8 * 1024 * 1024;

type Stream = WebSocketStream<TlsStream<TcpStream>>;

/// One frame read ahead, holding its share of the byte budget until the caller takes it.
type ReadAhead = Result<(ServerFrame, OwnedSemaphorePermit)>;

/// An authenticated socket.
#[derive(Debug)]
pub struct Socket {
    writer: SplitSink<Stream, Message>,
    frames: mpsc::Receiver<ReadAhead>,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// The socket closed (by the server, or the connection ended).
fn closed() -> Error {
    Error::BadResponse {
        what: "the server closed the WebSocket",
    }
}

impl Socket {
    /// Connects to `api`'s server and authenticates with `ticket`.
    pub async fn connect(api: &Api, ticket: &str) -> Result<Self> {
        tokio::time::timeout(CONNECT_TIMEOUT, Self::connect_inner(api, ticket))
            .await
            .map_err(|_| Error::TimedOut {
                what: "the WebSocket to open",
            })?
    }

    async fn connect_inner(api: &Api, ticket: &str) -> Result<Self> {
        let base = api.base();
        let bad = || Error::BadServerUrl {
            url: base.to_string(),
        };
        let host = base.host_str().ok_or_else(bad)?.to_owned();
        let port = base.port_or_known_default().ok_or_else(bad)?;
        let unreachable = |source: std::io::Error| {
            api.trust().explain().unwrap_or(Error::Io {
                what: "connecting the WebSocket",
                source,
            })
        };
        let bare_host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let tcp = TcpStream::connect((bare_host.as_str(), port))
            .await
            .map_err(unreachable)?;
        let connector = TlsConnector::from(Arc::new(api.trust().config().clone()));
        let name = ServerName::try_from(bare_host).map_err(|_| bad())?;
        let tls = connector.connect(name, tcp).await.map_err(unreachable)?;
        let mut url = base.clone();
        url.set_scheme("wss").map_err(|_| bad())?;
        url.set_path("/v1/ws");
        let request = url.as_str().into_client_request()?;
        let (mut stream, _) = tokio_tungstenite::client_async(request, tls).await?;
        let auth = ClientFrame::Auth {
            ticket: Secret::new(ticket),
        };
        stream.send(Message::Text(auth.to_json().into())).await?;
        // `ready` is read here, before the reader starts: nothing else comes before it.
        match read_frame(&mut stream).await? {
            ServerFrame::Ready { .. } => {}
            _ => {
                return Err(Error::BadResponse {
                    what: "no ready frame after the ticket",
                })
            }
        }
        let (writer, stream) = stream.split();
        let (tx, frames) = mpsc::channel(READ_AHEAD_FRAMES);
        let budget = Arc::new(Semaphore::new(READ_AHEAD_BYTES));
        let reader = tokio::spawn(read_ahead(stream, tx, budget));
        Ok(Self {
            writer,
            frames,
            reader,
        })
    }

    async fn send_frame(&mut self, frame: &ClientFrame<'_>) -> Result<()> {
        self.writer
            .send(Message::Text(frame.to_json().into()))
            .await?;
        Ok(())
    }

    /// The next frame within `wait`; `None` if nothing came. A closed socket is an error.
    pub async fn next(&mut self, wait: Duration) -> Result<Option<ServerFrame>> {
        match tokio::time::timeout(wait, self.frames.recv()).await {
            Err(_) => Ok(None),
            Ok(None) => Err(closed()),
            Ok(Some(read)) => read.map(|(frame, _budget)| Some(frame)),
        }
    }

    /// Whether a frame has been read and waits to be taken (the caller acknowledges what it
    /// processed before it would wait for more).
    pub fn has_ready(&self) -> bool {
        !self.frames.is_empty()
    }

    /// Acknowledges processed messages (their queued copies are deleted).
    pub async fn ack(&mut self, message_ids: &[MessageId]) -> Result<()> {
        for chunk in message_ids.chunks(sotto_wire::MAX_ACK_IDS) {
            let frame = ClientFrame::Ack {
                message_ids: chunk.to_vec(),
            };
            self.send_frame(&frame).await?;
        }
        Ok(())
    }

    /// Keeps the socket alive (the server closes sockets idle for 90 s).
    pub async fn ping(&mut self) -> Result<()> {
        self.send_frame(&ClientFrame::Ping {}).await
    }

    /// Closes the socket politely.
    pub async fn close(mut self) {
        let _ = self.writer.close().await;
    }
}

/// Reads frames into the read-ahead until the socket ends, fails or the [`Socket`] is dropped;
/// an end or a failure is passed on as the last item.
async fn read_ahead(
    mut stream: SplitStream<Stream>,
    tx: mpsc::Sender<ReadAhead>,
    budget: Arc<Semaphore>,
) {
    loop {
        let read = match stream.next().await {
            None | Some(Ok(Message::Close(_))) => Err(closed()),
            Some(Err(error)) => Err(error.into()),
            Some(Ok(Message::Text(text))) => {
                // Wait for room before parsing, so a server ignoring its delivery window only
                // fills the socket buffers, never this client's memory.
                let share = u32::try_from(text.len().clamp(1, READ_AHEAD_BYTES)).unwrap_or(1);
                let Ok(permit) = budget.clone().acquire_many_owned(share).await else {
                    return;
                };
                match parse(&text) {
                    Ok(Some(frame)) => Ok((frame, permit)),
                    Ok(None) => continue,
                    Err(error) => Err(error),
                }
            }
            Some(Ok(_)) => continue,
        };
        let last = read.is_err();
        if tx.send(read).await.is_err() || last {
            return;
        }
    }
}

/// The first frame on a fresh socket (skipping control frames and frames of unknown types).
async fn read_frame(stream: &mut Stream) -> Result<ServerFrame> {
    loop {
        match stream.next().await {
            None | Some(Ok(Message::Close(_))) => return Err(closed()),
            Some(Err(error)) => return Err(error.into()),
            Some(Ok(Message::Text(text))) => {
                if let Some(frame) = parse(&text)? {
                    return Ok(frame);
                }
            }
            Some(Ok(_)) => {}
        }
    }
}

/// A frame's text: the frame, `None` for a frame of a type this client does not know.
fn parse(text: &str) -> Result<Option<ServerFrame>> {
    match sotto_wire::from_json::<sotto_wire::ServerFrame<'_>>(text, MAX_FRAME) {
        Ok(frame) => Ok(Some(frame.into_owned())),
        Err(DecodeError::Malformed { .. }) if unknown_type(text) => Ok(None),
        Err(_) => Err(Error::BadResponse {
            what: "a WebSocket frame that does not parse",
        }),
    }
}

/// Whether a frame that did not parse is a JSON object of a type this client does not know (a
/// newer server's frame, skipped); a known type that does not parse is a broken frame.
fn unknown_type(text: &str) -> bool {
    #[derive(serde::Deserialize)]
    struct Tag<'a> {
        #[serde(rename = "type", borrow)]
        kind: std::borrow::Cow<'a, str>,
    }
    serde_json::from_str::<Tag<'_>>(text).is_ok_and(|t| {
        !matches!(
            t.kind.as_ref(),
            "ready" | "envelope" | "sent" | "acked" | "signal" | "pong" | "error"
        )
    })
}
