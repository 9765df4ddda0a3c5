//! Serving: the TLS accept loop, per-connection HTTP, caps, and graceful shutdown.
//!
//! Every TCP connection must finish its TLS handshake within `handshake_timeout` and send its
//! first request's headers within `header_timeout` of that (later HTTP/1 requests: each head
//! within `header_timeout`, which also ends an idle HTTP/1 keep-alive connection); once no
//! request has been in progress for `http_idle_timeout` the connection is closed gracefully
//! (HTTP/2: GOAWAY), whatever pings or other frames it exchanges ([`crate::in_flight`]). An
//! HTTP/2 connection has at most `http2_max_concurrent_streams` requests open; hyper pings it
//! every [`H2_PING_INTERVAL`] and drops it when a ping is not answered within
//! [`H2_PING_TIMEOUT`]. Request bodies have their own deadlines (`http::body`). A WebSocket
//! leaves all of this at its upgrade and follows its own timers (`ws/conn.rs`).
//!
//! The server holds at most `max_connections` at once and `max_connections_per_ip` per address
//! (an IPv6 peer counts by /64, [`crate::peer`]); further ones are dropped at accept. A
//! WebSocket counts under `max_connections` for its whole life ([`ConnectionSlot`]) and leaves
//! the per-address cap at its upgrade (it is counted per account). There is no plain-HTTP
//! listener at all.
//!
//! The acceptor and its rustls configuration stay the same for the server's whole life; a
//! certificate reload (SIGHUP) swaps the certificate the configuration reads at each handshake
//! (`tls.rs`), so open connections are untouched and new ones get the new certificate.
//!
//! Shutdown (SIGTERM, Ctrl-C or [`crate::Server::stop`]): stop accepting; tell every connection and
//! socket to finish (HTTP/1 and HTTP/2 graceful shutdown, WebSocket close frames); wait up to
//! `shutdown_grace`; then let the relay writer drain every submitted write and close the store.
//! An envelope is acknowledged only after its commit, so no acknowledged message is lost.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::config::Limits;
use crate::http::extract::ClientAddr;
use crate::in_flight::{CountedBody, InFlight};
use crate::peer::{peer_key, PeerSlot, PerPeer};

/// How often hyper pings an HTTP/2 peer, to find one that is gone (a peer that answers is
/// still closed by the idle timer when it has no request in progress).
pub const H2_PING_INTERVAL: Duration = Duration::from_secs(30);
/// How long a ping may go unanswered before the HTTP/2 connection is dropped.
pub const H2_PING_TIMEOUT: Duration = Duration::from_secs(20);

/// A connection's place under `max_connections`, given back when the last clone is dropped.
/// Every request carries a clone in its extensions: a WebSocket upgrade ends the HTTP
/// connection's task while the socket lives on, so the socket keeps one for its whole life
/// (`ws::upgrade`) and the server-wide cap bounds held sockets too. The per-address place is
/// the task's own and ends at the upgrade: a socket is counted per account instead, so an
/// office behind one address is not limited to `max_connections_per_ip` devices.
#[derive(Clone, Debug)]
pub struct ConnectionSlot(#[allow(dead_code)] Arc<OwnedSemaphorePermit>);

/// The places one accepted connection holds.
struct Places {
    server: ConnectionSlot,
    address: PeerSlot,
}

/// Accepts connections until `shutdown` turns true, then waits for them (up to the grace
/// period).
pub async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    app: Router,
    limits: Limits,
    mut shutdown: watch::Receiver<bool>,
) {
    let global = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let per_peer = Arc::new(PerPeer::default());
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = crate::clock::until_true(&mut shutdown) => break,
        };
        while connections.try_join_next().is_some() {}
        let (tcp, peer) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = global.clone().try_acquire_owned() else {
            continue;
        };
        // IPv6 peers count by /64 (`peer.rs`).
        let Some(slot) = per_peer.acquire(peer_key(peer.ip()), limits.max_connections_per_ip)
        else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let places = Places {
            server: ConnectionSlot(Arc::new(permit)),
            address: slot,
        };
        let task = serve_connection(
            tcp,
            peer,
            places,
            acceptor.clone(),
            app.clone(),
            limits.clone(),
            shutdown.clone(),
        );
        connections.spawn(task);
    }
    let grace = Duration::from_secs(limits.shutdown_grace_secs);
    let drained = tokio::time::timeout(grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        connections.abort_all();
    }
}

async fn serve_connection(
    tcp: TcpStream,
    peer: SocketAddr,
    places: Places,
    acceptor: TlsAcceptor,
    app: Router,
    limits: Limits,
    mut shutdown: watch::Receiver<bool>,
) {
    // The per-address place is held until this task returns: its end, or a WebSocket upgrade.
    let Places {
        server: slot,
        address: _address,
    } = places;
    let handshake = Duration::from_secs(limits.handshake_timeout_secs);
    let tls = match tokio::time::timeout(handshake, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => tls,
        _ => return,
    };
    // Set by the first request: hyper times the header of each HTTP/1 request, but neither the
    // wait for the first byte (the HTTP/1-or-2 sniffing of `auto` has no timer) nor the HTTP/2
    // preface; without this, a client that finishes TLS and then says nothing holds its slot.
    let first_request = Arc::new(Notify::new());
    let seen = first_request.clone();
    let in_flight = Arc::new(InFlight::default());
    let counting = in_flight.clone();
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        seen.notify_one();
        let request = counting.begin();
        let app = app.clone();
        let mut req = req.map(axum::body::Body::new);
        req.extensions_mut().insert(ClientAddr(peer));
        req.extensions_mut().insert(slot.clone());
        async move {
            let response = app.oneshot(req).await?;
            Ok::<_, std::convert::Infallible>(
                response.map(|body| axum::body::Body::new(CountedBody::new(body, request))),
            )
        }
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(limits.header_timeout_secs));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.http2_max_concurrent_streams)
        .keep_alive_interval(Some(H2_PING_INTERVAL))
        .keep_alive_timeout(H2_PING_TIMEOUT);
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
    tokio::pin!(conn);
    let header = Duration::from_secs(limits.header_timeout_secs);
    tokio::select! {
        _ = conn.as_mut() => return,
        _ = first_request.notified() => {}
        // Dropping the connection closes it.
        _ = tokio::time::sleep(header) => return,
        _ = crate::clock::until_true(&mut shutdown) => return,
    }
    let idle = Duration::from_secs(limits.http_idle_timeout_secs);
    tokio::select! {
        _ = conn.as_mut() => return,
        _ = in_flight.idle_for(idle) => {}
        _ = crate::clock::until_true(&mut shutdown) => {}
    }
    // Idle or shutting down: HTTP/1 closes after the request in progress, HTTP/2 sends GOAWAY
    // and finishes the streams it has.
    conn.as_mut().graceful_shutdown();
    let grace = Duration::from_secs(limits.shutdown_grace_secs);
    let _ = tokio::time::timeout(grace, conn).await;
}
