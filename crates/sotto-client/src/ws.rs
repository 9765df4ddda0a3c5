//! The WebSocket to the server (`GET /v1/ws`), over the same TLS trust as the API. The socket is
//! authorised by a single-use ticket sent as the first frame; frames are JSON text.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rustls::pki_types::ServerName;
use serde::Deserialize;
use serde_json::json;
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

/// A frame from the server (unknown kinds are kept as [`ServerFrame::Other`]).
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// Authenticated.
    Ready {
        /// `dev:…`.
        device: String,
    },
    /// A queued envelope, distribution or key request.
    Envelope {
        /// `conv:…`.
        conversation: String,
        /// `msg:…`.
        message_id: String,
        /// `acct:…`.
        sender_account: String,
        /// `dev:…`.
        sender_device: String,
        /// Base64 payload.
        envelope: String,
    },
    /// An `ack` was applied.
    Acked {
        /// Copies deleted.
        count: u64,
    },
    /// A refused frame.
    Error {
        /// Stable code.
        error: String,
        /// Explanation.
        #[serde(default)]
        message: String,
    },
    /// Anything else (signals, pongs).
    #[serde(other)]
    Other,
}

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
            .send_json(&json!({ "type": "auth", "ticket": ticket }))
            .await?;
        match socket.next(CONNECT_TIMEOUT).await? {
            Some(ServerFrame::Ready { .. }) => Ok(socket),
            _ => Err(Error::BadResponse {
                what: "no ready frame after the ticket",
            }),
        }
    }

    async fn send_json(&mut self, value: &serde_json::Value) -> Result<()> {
        self.stream
            .send(Message::Text(value.to_string().into()))
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
                    let frame =
                        serde_json::from_str(text.as_str()).map_err(|_| Error::BadResponse {
                            what: "a WebSocket frame that does not parse",
                        })?;
                    return Ok(Some(frame));
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
    pub async fn ack(&mut self, message_ids: &[String]) -> Result<()> {
        for chunk in message_ids.chunks(512) {
            self.send_json(&json!({ "type": "ack", "message_ids": chunk }))
                .await?;
        }
        Ok(())
    }

    /// Keeps the socket alive (the server closes sockets idle for 90 s).
    pub async fn ping(&mut self) -> Result<()> {
        self.send_json(&json!({ "type": "ping" })).await
    }

    /// Closes the socket politely.
    pub async fn close(mut self) {
        let _ = self.stream.close(None).await;
    }
}
