//! The WebSocket to the server (`GET /v1/ws`), over the same TLS trust as the API. The socket is
//! authorised by a single-use ticket sent as the first frame; frames are JSON text, the
//! `sotto-wire` frames the server uses. A frame of a type this client does not know (from a
//! newer server) is skipped, not an error.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rustls::pki_types::ServerName;
use sotto_proto::ids::MessageId;
use sotto_wire::{ClientFrame, DecodeError, Secret};
use tokio::net::TcpStream;
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

/// An authenticated socket.
#[derive(Debug)]
pub struct Socket {
    stream: WebSocketStream<TlsStream<TcpStream>>,
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
        let (stream, _) = tokio_tungstenite::client_async(request, tls).await?;
        let mut socket = Self { stream };
        socket
            .send_frame(&ClientFrame::Auth {
                ticket: Secret::new(ticket),
            })
            .await?;
        match socket.next(CONNECT_TIMEOUT).await? {
            Some(ServerFrame::Ready { .. }) => Ok(socket),
            _ => Err(Error::BadResponse {
                what: "no ready frame after the ticket",
            }),
        }
    }

    async fn send_frame(&mut self, frame: &ClientFrame<'_>) -> Result<()> {
        self.stream
            .send(Message::Text(frame.to_json().into()))
            .await?;
        Ok(())
    }

    /// The next frame within `wait`; `None` if nothing came. A closed socket is an error.
    pub async fn next(&mut self, wait: Duration) -> Result<Option<ServerFrame>> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let next = match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => return Ok(None),
                Ok(next) => next,
            };
            match next {
                None => {
                    return Err(Error::BadResponse {
                        what: "the server closed the WebSocket",
                    })
                }
                Some(Err(error)) => return Err(error.into()),
                Some(Ok(Message::Text(text))) => {
                    match sotto_wire::from_json::<sotto_wire::ServerFrame<'_>>(&text, MAX_FRAME) {
                        Ok(frame) => return Ok(Some(frame.into_owned())),
                        Err(DecodeError::Malformed { .. }) if unknown_type(&text) => continue,
                        Err(_) => {
                            return Err(Error::BadResponse {
                                what: "a WebSocket frame that does not parse",
                            })
                        }
                    }
                }
                Some(Ok(Message::Close(_))) => {
                    return Err(Error::BadResponse {
                        what: "the server closed the WebSocket",
                    })
                }
                Some(Ok(_)) => continue,
            }
        }
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
        let _ = self.stream.close(None).await;
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
