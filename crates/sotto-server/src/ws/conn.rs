//! One WebSocket connection, from its ticket to its close, over any `Sink`/`Stream` of
//! messages (so tests can drive it with channels).
//!
//! Order of events: the ticket (cookie or first frame, within `ws_auth_timeout`) or a close
//! before any data; registration in the hub (per-account cap); `ready`; the queued envelopes
//! from the store, as many as the delivery window takes; then a loop over pushes from the hub,
//! client frames, replies of in-flight sends, pings and close requests. A push whose sequence
//! number is not above what was already sent is skipped, so the store read and live pushes never
//! duplicate. The delivery window ([`Window`]) bounds the envelopes written ahead of the
//! client's acknowledgements: when it is full the socket is marked lagged (the hub then queues
//! no live push for it) and it reads on from the store as acknowledgements make room, so a
//! client draining a large backlog is paced, not cut. Writes have a timeout (clients that stop
//! reading are dropped), reads an idle timeout, frames (control frames included) a rate limit,
//! and in-flight sends a cap. No lock is held across any of it. Every way out says why
//! ([`Stop`]): the reason goes on the connection's span, in one debug line and in the metrics.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message};
use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, Sink, SinkExt, Stream, StreamExt};
use tracing::Instrument;
use zeroize::Zeroizing;

use crate::error::Error;
use crate::http::extract::b64;
use crate::hub::{OutEnvelope, Push, Registration};
use crate::metrics::Metrics;
use crate::rate::TokenBucket;
use crate::service::conversations;
use crate::service::sessions::{self, Authed};
use crate::state::AppState;
use crate::store::WriteOutcome;
use crate::ws::frames::{self, ClientFrame, ServerFrame, MAX_ACK_IDS, MAX_SIGNAL_PAYLOAD};
use crate::ws::stop::Stop;
use crate::ws::window::Window;

/// Sends awaiting their commit on one socket at most.
const MAX_IN_FLIGHT: usize = 256;
/// Envelopes read from the store per query when catching up (fewer when the window has less
/// room).
const PAGE: usize = 256;
/// How often a socket whose window is full checks whether its unacknowledged envelopes are still
/// queued: another socket of the same device may have acknowledged them.
const WINDOW_RECHECK: Duration = Duration::from_secs(5);

type Reply = Pin<Box<dyn Future<Output = Option<String>> + Send>>;

/// How long a socket the server closed waits for the client's close frame.
const LINGER: Duration = Duration::from_secs(2);
/// Frames a closing socket reads and drops at most while it waits.
const LINGER_FRAMES: usize = 1024;

/// The close reason of a socket the store failed (code 1011): the client reconnects with a new
/// ticket, as after any lost connection.
const STORE_FAILED: &str = "server error, reconnect later";

/// Close codes (RFC 6455 and the private range).
mod code {
    pub const NORMAL: u16 = 1000;
    pub const GOING_AWAY: u16 = 1001;
    pub const POLICY: u16 = 1008;
    pub const SERVER_ERROR: u16 = 1011;
    pub const TRY_LATER: u16 = 1013;
    pub const UNAUTHORIZED: u16 = 4001;
}

/// Serves one socket until it closes. `slot` is whatever must live as long as the socket (its
/// place under `max_connections`); it is dropped last.
///
/// The socket arrives split: a future keeps its arguments for its whole life, and the whole
/// WebSocket (368 bytes) would otherwise stay in every held socket's task beside its halves.
pub async fn serve<K, R, G>(
    state: AppState,
    sink: K,
    mut stream: R,
    cookie_ticket: Option<String>,
    slot: G,
) where
    K: Sink<Message, Error = axum::Error> + Send + Unpin,
    R: Stream<Item = Result<Message, axum::Error>> + Send + Unpin,
    G: Send,
{
    // Admission holds far more (the ticket, the account, the limits, a close frame) than a
    // held socket needs, and only for a moment: boxed, it is freed once done instead of sizing
    // the task that lives as long as the socket (D75).
    let (mut conn, span) = match Box::pin(admit(&state, sink, &mut stream, cookie_ticket)).await {
        Ok(admitted) => admitted,
        Err(stop) => {
            ended(&state, stop);
            drop(slot);
            return;
        }
    };
    state_gauge(&state, 1);
    let stop = conn.run(&mut stream).instrument(span.clone()).await;
    // Unregistered from the hub before lingering: nothing more is pushed to a closing socket.
    drop(conn);
    if stop.server_closed() {
        linger(&mut stream).await;
    }
    state_gauge(&state, -1);
    span.record("stop", stop.as_str());
    // Sends still in flight complete in the writer regardless; their replies are dropped.
    span.in_scope(|| ended(&state, stop));
    drop(slot);
}

/// Takes the socket's ticket (cookie or first frame), redeems it and registers the device in
/// the hub: the connection and its span, or why it was refused (after closing it).
async fn admit<K, R>(
    state: &AppState,
    mut sink: K,
    stream: &mut R,
    cookie_ticket: Option<String>,
) -> Result<(Conn<K>, tracing::Span), Stop>
where
    K: Sink<Message, Error = axum::Error> + Send + Unpin,
    R: Stream<Item = Result<Message, axum::Error>> + Send + Unpin,
{
    let limits = &state.settings.limits;
    let ticket = match cookie_ticket {
        Some(ticket) => Some(Zeroizing::new(ticket)),
        None => first_frame_ticket(stream, Duration::from_secs(limits.ws_auth_timeout_secs)).await,
    };
    let Some(ticket) = ticket else {
        close(&mut sink, code::UNAUTHORIZED, "authentication required").await;
        return Err(Stop::NoTicket);
    };
    let (authed, device) = match sessions::redeem_ticket(state, &ticket).await {
        Ok(found) => found,
        Err(Error::Unauthorized | Error::AccountDisabled) => {
            close(&mut sink, code::UNAUTHORIZED, "invalid or used ticket").await;
            return Err(Stop::BadTicket);
        }
        // The server's fault, not the ticket's: the client must not take it for a refusal of
        // its session, and the operator sees it apart from bad tickets.
        Err(error) => {
            tracing::error!(?error, "redeeming a socket ticket failed");
            close(&mut sink, code::SERVER_ERROR, STORE_FAILED).await;
            return Err(Stop::StoreFailed);
        }
    };
    let registration = match state.hub.register(
        authed.user.id,
        device,
        authed.session.id,
        limits.ws_queue,
        limits.max_connections_per_account,
    ) {
        Ok(r) => r,
        Err(_) => {
            close(
                &mut sink,
                code::TRY_LATER,
                "too many connections for this account",
            )
            .await;
            return Err(Stop::TooManyConnections);
        }
    };
    let span = tracing::info_span!(
        "ws",
        username = %authed.user.username,
        %device,
        stop = tracing::field::Empty
    );
    let conn = Conn {
        bucket: {
            // `ws_frames_per_second` on average, bursts of twice that.
            let rate = f64::from(limits.ws_frames_per_second.max(1));
            TokenBucket::full(2.0 * rate, rate, Instant::now())
        },
        send_timeout: Duration::from_secs(limits.ws_send_timeout_secs),
        idle: Duration::from_secs(limits.ws_idle_timeout_secs.max(3)),
        state: state.clone(),
        authed: Arc::new(authed),
        device,
        sink,
        registration,
        cursor: 0,
        unflushed: false,
        window: Window::new(limits.ws_unacked_envelopes, limits.ws_unacked_bytes),
        last_ack: Instant::now(),
    };
    Ok((conn, span))
}

/// After the server's close frame: reads (and drops) what the client still sends until its own
/// close frame or the end of the stream, for [`LINGER`] at most. Closing the TCP connection with
/// unread data in it makes the kernel send a reset, which can destroy the close frame (and the
/// replies before it) before the client reads them: a client cut off for flooding would see a
/// lost connection instead of the code that says why (RFC 6455 §7.1.1: wait for the peer's close).
async fn linger<R>(stream: &mut R)
where
    R: Stream<Item = Result<Message, axum::Error>> + Unpin,
{
    let _ = tokio::time::timeout(LINGER, async {
        for _ in 0..LINGER_FRAMES {
            match stream.next().await {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
}

/// Logs and counts why a connection ended (no secrets: the span carries only the username and
/// device).
fn ended(state: &AppState, stop: Stop) {
    tracing::debug!(stop = stop.as_str(), "socket closed");
    if let Some(counter) = state.metrics.ws_closed.get(stop.index()) {
        Metrics::add(counter, 1);
    }
}

fn state_gauge(state: &AppState, delta: i64) {
    state
        .metrics
        .connections
        .fetch_add(delta, Ordering::Relaxed);
}

/// Waits for `{"type":"auth","ticket":…}`; anything else (or nothing in time) is `None`.
async fn first_frame_ticket<R>(stream: &mut R, wait: Duration) -> Option<Zeroizing<String>>
where
    R: Stream<Item = Result<Message, axum::Error>> + Unpin,
{
    let first = tokio::time::timeout(wait, stream.next())
        .await
        .ok()??
        .ok()?;
    let Message::Text(text) = first else {
        return None;
    };
    match serde_json::from_str::<ClientFrame>(text.as_str()) {
        Ok(ClientFrame::Auth { ticket }) => Some(ticket.into_inner()),
        _ => None,
    }
}

async fn close<K>(sink: &mut K, code: u16, reason: &'static str)
where
    K: Sink<Message, Error = axum::Error> + Unpin,
{
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let _ = tokio::time::timeout(
        Duration::from_secs(2),
        sink.send(Message::Close(Some(frame))),
    )
    .await;
}

struct Conn<K> {
    state: AppState,
    /// Shared with every in-flight request of this socket (cloned per frame otherwise).
    authed: Arc<Authed>,
    device: sotto_proto::ids::DeviceId,
    sink: K,
    registration: Registration,
    /// Highest sequence number written to the socket.
    cursor: i64,
    /// Frames were fed since the last flush.
    unflushed: bool,
    /// Envelopes written and not acknowledged yet.
    window: Window,
    /// When the client last acknowledged something.
    last_ack: Instant,
    /// Frames of every kind the client may send (`ws_frames_per_second`).
    bucket: TokenBucket,
    send_timeout: Duration,
    idle: Duration,
}

/// A write's outcome: a timeout means the client reads too slowly, an error that the socket
/// failed.
fn written(
    outcome: Result<Result<(), axum::Error>, tokio::time::error::Elapsed>,
) -> Result<(), Stop> {
    match outcome {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(Stop::SendFailed),
        Err(_) => Err(Stop::SlowReader),
    }
}

fn error_frame(id: Option<u64>, error: &Error) -> String {
    let body = error.body();
    ServerFrame::Error {
        id,
        error: body.error,
        message: body.message,
        code: body.code,
    }
    .to_json()
}

impl<K> Conn<K>
where
    K: Sink<Message, Error = axum::Error> + Unpin + Send,
{
    async fn run<R>(&mut self, mut stream: R) -> Stop
    where
        R: Stream<Item = Result<Message, axum::Error>> + Unpin + Send,
    {
        let ready = ServerFrame::Ready {
            account: self.authed.user.account,
            device: self.device,
            session: sotto_wire::SessionId(self.authed.session.id.0),
        };
        if let Err(stop) = self.feed(ready.to_json()).await {
            return stop;
        }
        // The store reads and a client frame's handling are boxed where they are awaited: they
        // are larger than the loop's waiting state and would otherwise size every held socket's
        // task for its whole life (D75).
        if let Err(stop) = Box::pin(self.catch_up()).await {
            return stop;
        }
        let mut in_flight: FuturesUnordered<Reply> = FuturesUnordered::new();
        let mut shutdown = self.state.shutdown.clone();
        let mut ping = tokio::time::interval(self.idle / 3);
        ping.tick().await;
        let mut recheck = tokio::time::interval(WINDOW_RECHECK);
        recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut deadline = Instant::now() + self.idle;
        loop {
            let step = tokio::select! {
                biased;
                _ = self.registration.close.changed() => {
                    let reason = *self.registration.close.borrow();
                    let text = reason.map_or("closed", |r| r.as_str());
                    close(&mut self.sink, code::POLICY, text).await;
                    // No reason: the hub dropped the sender, so nobody can close it any more.
                    break reason.map_or(Stop::HubGone, Stop::from);
                }
                _ = crate::clock::until_true(&mut shutdown) => {
                    close(&mut self.sink, code::GOING_AWAY, "server shutting down").await;
                    break Stop::Shutdown;
                }
                Some(reply) = in_flight.next(), if !in_flight.is_empty() => match reply {
                    Some(text) => self.feed(text).await,
                    None => Ok(()),
                },
                push = self.registration.rx.recv() => match push {
                    Ok(push) => self.deliver(push).await,
                    Err(_) => Err(Stop::HubGone),
                },
                message = tokio::time::timeout_at(deadline.into(), stream.next()) => match message {
                    Err(_) => {
                        close(&mut self.sink, code::NORMAL, "idle timeout").await;
                        Err(Stop::IdleTimeout)
                    }
                    Ok(None) => Err(Stop::ClientGone),
                    Ok(Some(Err(error))) => Err(Stop::from_stream_error(error)),
                    Ok(Some(Ok(message))) => {
                        deadline = Instant::now() + self.idle;
                        Box::pin(self.incoming(message, &mut in_flight)).await
                    }
                },
                _ = ping.tick() => self.send_message(Message::Ping(Default::default())).await,
                _ = recheck.tick(), if self.window.is_full() => Box::pin(self.recheck_window()).await,
            };
            if let Err(stop) = step {
                break stop;
            }
            if let Err(stop) = self.drain_ready(&mut in_flight).await {
                break stop;
            }
            // A store read is due (the hub's queue overflowed, a wake-up, or the window filled)
            // and the window has room again.
            if !self.window.is_full() && self.registration.lagged.swap(false, Ordering::SeqCst) {
                if let Err(stop) = Box::pin(self.catch_up()).await {
                    break stop;
                }
            }
            // Everything fed in this turn (replies, envelopes, errors) goes out in one flush:
            // one TLS record batch and one write instead of one per frame.
            if self.unflushed {
                if let Err(stop) = self.flush().await {
                    break stop;
                }
            }
        }
    }

    async fn send_message(&mut self, message: Message) -> Result<(), Stop> {
        written(tokio::time::timeout(self.send_timeout, self.sink.send(message)).await)
    }

    /// Queues a frame without flushing (the loop flushes once per turn).
    async fn feed(&mut self, text: String) -> Result<(), Stop> {
        self.unflushed = true;
        written(
            tokio::time::timeout(
                self.send_timeout,
                self.sink.feed(Message::Text(text.into())),
            )
            .await,
        )
    }

    async fn flush(&mut self) -> Result<(), Stop> {
        self.unflushed = false;
        written(tokio::time::timeout(self.send_timeout, self.sink.flush()).await)
    }

    /// Feeds every reply and push that is ready now, without waiting for more.
    async fn drain_ready(&mut self, in_flight: &mut FuturesUnordered<Reply>) -> Result<(), Stop> {
        loop {
            let mut progressed = false;
            // `Some(None)` is an empty set, `None` a set with nothing ready yet.
            while let Some(Some(reply)) = in_flight.next().now_or_never() {
                progressed = true;
                if let Some(text) = reply {
                    self.feed(text).await?;
                }
            }
            if let Ok(push) = self.registration.rx.try_recv() {
                progressed = true;
                self.deliver(push).await?;
            }
            if !progressed {
                return Ok(());
            }
        }
    }

    fn envelope_frame(seq: i64, e: &OutEnvelope) -> String {
        frames::envelope_json(seq, e)
    }

    /// Feeds one push and whatever else is already waiting (the loop flushes).
    async fn deliver(&mut self, first: Push) -> Result<(), Stop> {
        let mut next = Some(first);
        let mut written = 0u64;
        while let Some(push) = next.take() {
            match push {
                // The loop sees the lagged flag after this turn and re-reads the store.
                Push::Wake => {}
                // A store read is due: it brings this envelope, in order after the ones before it.
                Push::Envelope { seq, .. } if seq > self.cursor && self.store_read_due() => {}
                Push::Envelope { seq, envelope } if seq > self.cursor => {
                    if self.window.fits(envelope.body.len()) {
                        self.feed(Self::envelope_frame(seq, &envelope)).await?;
                        self.cursor = seq;
                        self.window.sent(envelope.message, envelope.body.len());
                        written += 1;
                    } else {
                        self.window.blocked(envelope.body.len());
                        self.fall_behind();
                    }
                }
                Push::Envelope { .. } => {}
                Push::Frame(text) => self.feed(text.to_string()).await?,
            }
            if written < 512 {
                next = self.registration.rx.try_recv().ok();
            }
        }
        Metrics::add(&self.state.metrics.copies_delivered, written);
        Ok(())
    }

    /// Whether envelopes from the hub wait for a store read instead of being written.
    fn store_read_due(&self) -> bool {
        self.registration.lagged.load(Ordering::SeqCst)
    }

    /// The window is full: write nothing more until acknowledgements make room, then read on
    /// from the store. The lagged flag keeps the hub from queueing live pushes meanwhile (the
    /// store read brings them, in order).
    fn fall_behind(&self) {
        self.registration.lagged.store(true, Ordering::SeqCst);
    }

    /// Writes the queued envelopes above the cursor, from the store, until the queue or the
    /// window ends; a full window leaves the rest for later ([`Conn::fall_behind`]).
    async fn catch_up(&mut self) -> Result<(), Stop> {
        loop {
            let want = self.window.room().min(PAGE);
            if want == 0 {
                self.fall_behind();
                return Ok(());
            }
            let page = match self
                .state
                .store
                .pending(&self.device, self.cursor, want as i64)
                .await
            {
                Ok(page) => page,
                Err(error) => {
                    tracing::error!(?error, "reading the queue failed");
                    close(&mut self.sink, code::SERVER_ERROR, STORE_FAILED).await;
                    return Err(Stop::StoreFailed);
                }
            };
            let n = page.len();
            let mut written = 0u64;
            let mut full = false;
            for delivery in page {
                if !self.window.fits(delivery.body.len()) {
                    self.window.blocked(delivery.body.len());
                    full = true;
                    break;
                }
                let seq = delivery.seq;
                let envelope = OutEnvelope::from_delivery(delivery);
                self.feed(Self::envelope_frame(seq, &envelope)).await?;
                self.cursor = seq;
                self.window.sent(envelope.message, envelope.body.len());
                written += 1;
            }
            Metrics::add(&self.state.metrics.copies_delivered, written);
            self.flush().await?;
            if full {
                self.fall_behind();
                return Ok(());
            }
            if n < want {
                return Ok(());
            }
        }
    }

    /// With the window full and no acknowledgement for a while: frees the envelopes that are no
    /// longer queued (another socket of this device acknowledged them), so that delivery to this
    /// socket cannot stall on acknowledgements it never sees. The unacknowledged envelopes are
    /// the oldest queued ones, so one read of the window's size finds them.
    async fn recheck_window(&mut self) -> Result<(), Stop> {
        if self.last_ack.elapsed() < WINDOW_RECHECK {
            return Ok(());
        }
        let limit = i64::try_from(self.window.len()).unwrap_or(i64::MAX);
        let queued = match self.state.store.pending(&self.device, 0, limit).await {
            Ok(queued) => queued,
            Err(error) => {
                tracing::error!(?error, "reading the queue failed");
                close(&mut self.sink, code::SERVER_ERROR, STORE_FAILED).await;
                return Err(Stop::StoreFailed);
            }
        };
        let queued: std::collections::HashSet<_> = queued
            .into_iter()
            .filter(|d| d.seq <= self.cursor)
            .map(|d| d.message)
            .collect();
        self.window.retain_queued(|m| queued.contains(m));
        Ok(())
    }

    async fn incoming(
        &mut self,
        message: Message,
        in_flight: &mut FuturesUnordered<Reply>,
    ) -> Result<(), Stop> {
        if let Message::Close(_) = message {
            return Err(Stop::ClientClosed);
        }
        // Every frame counts, control frames too: a ping costs a pong, and a flood of them is
        // as much work as a flood of data frames.
        if self.bucket.take(Instant::now()).is_err() {
            close(&mut self.sink, code::POLICY, "rate limit exceeded").await;
            return Err(Stop::FrameRate);
        }
        let text = match message {
            Message::Text(text) => text,
            Message::Binary(_) => {
                let e = Error::InvalidField {
                    field: "frame",
                    reason: "binary frames are not used; send JSON text frames",
                };
                return self.feed(error_frame(None, &e)).await;
            }
            Message::Ping(_) | Message::Pong(_) | Message::Close(_) => return Ok(()),
        };
        let frame = match serde_json::from_str::<ClientFrame>(text.as_str()) {
            Ok(frame) => frame,
            Err(source) => {
                let e = Error::MalformedBody { source };
                return self.feed(error_frame(None, &e)).await;
            }
        };
        if let ClientFrame::Ack { message_ids } = &frame {
            if message_ids.len() <= MAX_ACK_IDS {
                self.window.acked(message_ids);
                self.last_ack = Instant::now();
            }
        }
        // A refusal names the request it refuses, so a client pipelining sends knows which to
        // repeat.
        let request = match &frame {
            ClientFrame::Send { id, .. } => Some(*id),
            _ => None,
        };
        match self.handle(frame) {
            Ok(Some(reply)) if in_flight.len() < MAX_IN_FLIGHT => {
                in_flight.push(reply);
                Ok(())
            }
            Ok(Some(_)) => {
                let e = Error::Capacity {
                    what: "requests in flight on this socket",
                };
                self.feed(error_frame(request, &e)).await
            }
            Ok(None) => self.feed(ServerFrame::Pong.to_json()).await,
            Err((id, e)) => self.feed(error_frame(id, &e)).await,
        }
    }

    /// Turns a frame into the future that produces its reply (`None` for `ping`).
    fn handle(&self, frame: ClientFrame) -> Result<Option<Reply>, (Option<u64>, Error)> {
        let state = self.state.clone();
        let authed = self.authed.clone();
        match frame {
            ClientFrame::Ping {} => Ok(None),
            ClientFrame::Auth { .. } => Err((
                None,
                Error::Conflict {
                    what: "already authenticated",
                },
            )),
            ClientFrame::Send {
                id: req,
                conversation,
                message_id,
                envelope,
                to,
            } => {
                let message = message_id;
                let body = b64("envelope", &envelope).map_err(|e| (Some(req), e))?;
                Ok(Some(Box::pin(async move {
                    let result =
                        conversations::send(&state, &authed, conversation, message, to, body).await;
                    Some(match result {
                        Ok(WriteOutcome::Stored {
                            recipients,
                            undelivered,
                        }) => frames::sent_json(
                            req,
                            &message,
                            recipients.len(),
                            &crate::http::conversations::undelivered(&undelivered),
                        ),
                        Ok(_) => error_frame(Some(req), &Error::TaskGone),
                        Err(e) => error_frame(Some(req), &e),
                    })
                })))
            }
            ClientFrame::Ack { message_ids } => {
                if message_ids.len() > MAX_ACK_IDS {
                    return Err((
                        None,
                        Error::TooLarge {
                            what: "ack list",
                            max: MAX_ACK_IDS,
                        },
                    ));
                }
                let device = self.device;
                Ok(Some(Box::pin(async move {
                    Some(
                        match conversations::ack(&state, device, message_ids).await {
                            Ok(count) => ServerFrame::Acked { count }.to_json(),
                            Err(e) => error_frame(None, &e),
                        },
                    )
                })))
            }
            ClientFrame::Signal {
                conversation,
                kind,
                payload,
            } => {
                // Only a device of an account has a socket; the check keeps the frame typed.
                let from_account = self.authed.user.account.ok_or((
                    None,
                    Error::Forbidden {
                        reason: "signals need an account",
                    },
                ))?;
                if let Some(p) = &payload {
                    let bytes = b64("payload", p).map_err(|e| (None, e))?;
                    if bytes.len() > MAX_SIGNAL_PAYLOAD {
                        return Err((
                            None,
                            Error::TooLarge {
                                what: "signal payload",
                                max: MAX_SIGNAL_PAYLOAD,
                            },
                        ));
                    }
                }
                let payload = payload.map(|p| std::borrow::Cow::Owned(p.into_owned()));
                let device = self.device;
                Ok(Some(Box::pin(async move {
                    let targets =
                        conversations::signal_targets(&state, &authed, device, conversation).await;
                    let targets = match targets {
                        Ok(targets) => targets,
                        Err(e) => return Some(error_frame(None, &e)),
                    };
                    let frame = ServerFrame::Signal {
                        conversation,
                        kind,
                        from_account,
                        from_device: device,
                        payload,
                    };
                    let push = Push::Frame(frame.to_json().into());
                    for target in &targets {
                        state.hub.push(target, &push);
                    }
                    None
                })))
            }
        }
    }
}
