//! # sotto-server
//!
//! The relay teams run: accounts, devices, the key directory, conversations and real-time
//! delivery over TLS. It stores and forwards ciphertext and public, signed structures only; it
//! never decrypts anything, and it verifies the public signatures it can as a second line of
//! defence (clients verify everything again against keys they pinned).
//!
//! `main.rs` reads the configuration and calls [`run`]; tests call [`start`] on port 0 or drive
//! [`app`] without a socket.
//!
//! # Layout
//! - [`config`]: defaults, TOML file, `SOTTO_*` variables, flags.
//! - [`command`]: serve, or one of the operator's commands ([`ops`]: backup, restore, check,
//!   and the data-folder lock a serving SQLite server holds; [`admin`]: accounts, statistics,
//!   invitations, over the admin socket).
//! - [`tls`]: certificate (configured or self-signed on first start), its reload on SIGHUP and
//!   expiry warnings, and rustls settings.
//! - [`serve`]: the TLS accept loop, connection caps, graceful shutdown.
//! - [`http`]: the router, the Origin allow-list, the `/v1` handlers, `/healthz`, `/metrics`.
//! - [`ws`]: the WebSocket endpoint, the hand-written hot-path frames and why a connection
//!   ended (the frame types themselves are `sotto-wire`'s, as are the HTTP bodies).
//! - [`service`]: the use cases between handlers and the store.
//! - [`auth`]: usernames, Argon2id, login throttling, tokens.
//! - [`relay`]: group commit for envelopes and acknowledgements.
//! - [`hub`]: this node's connected sockets and the hub every push goes through.
//! - [`fanout`]: how events reach sockets on this node (`local`) or on every node (`nats`).
//! - [`store`]: the storage trait, the SQL both backends share (`store/sql/`), and the
//!   backends, each in its folder (`store/sqlite/`, `store/postgres/`).
//! - [`peer`]: the key a peer address counts under (IPv6 by /64) and per-peer slot tables.
//! - [`private_files`]: the data folder and its files, private to the server's user.
//! - [`in_flight`]: the requests in progress on one HTTP connection and its idle timer.
//! - [`metrics`], [`clock`], [`state`], [`error`]: the small shared pieces.

pub mod admin;
pub mod auth;
pub mod clock;
pub mod command;
pub mod config;
pub mod error;
pub mod fanout;
pub mod http;
pub mod hub;
pub mod in_flight;
pub mod metrics;
pub mod ops;
pub mod peer;
pub mod private_files;
pub mod rate;
pub mod relay;
pub mod serve;
pub mod service;
pub mod state;
pub mod store;
pub mod tls;
pub mod ws;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::auth::password::Passwords;
use crate::auth::recovery_limit::RecoveryLimit;
use crate::auth::registration::RegistrationLimit;
use crate::auth::throttle::Throttle;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::http::body::JsonBodies;
use crate::hub::{CloseReason, Hub, Sockets};
use crate::metrics::Metrics;
use crate::relay::{Relay, Writer};
use crate::state::{AppState, Settings, Shared};
use crate::store::Store;
use crate::tls::ServerCert;

/// The HTTP application (API, WebSocket, operational endpoints, web client files).
pub fn app(state: AppState, web_dir: Option<&Path>) -> Router {
    http::router(state, web_dir)
}

/// Opens the configured store: PostgreSQL for a `postgres://` URL, SQLite otherwise.
pub async fn open_store(config: &Config) -> Result<Arc<dyn Store>> {
    Ok(match config.database_url.as_deref() {
        Some(url) if url.starts_with("postgres") => {
            let schema = config.database_schema.as_deref();
            Arc::new(
                store::postgres::PostgresStore::connect_with(
                    url,
                    schema,
                    config.database_pool_size,
                )
                .await?,
            )
        }
        Some(url) => Arc::new(store::sqlite::SqliteStore::open_url(url).await?),
        None => {
            Arc::new(store::sqlite::SqliteStore::open(&config.data_dir.join("sotto.db")).await?)
        }
    })
}

/// A running server.
#[derive(Debug)]
pub struct Server {
    /// The bound address.
    pub local_addr: SocketAddr,
    /// `https://…` origin clients use (signed into login challenges).
    pub origin: String,
    /// The certificate served at start and its fingerprint ([`Server::current_cert`] after a
    /// reload).
    pub cert: ServerCert,
    /// The shared state (tests inspect the store through it).
    pub state: AppState,
    tls: Arc<tls::Tls>,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Server {
    /// Begins a graceful shutdown.
    pub fn shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// Waits until the server has stopped.
    pub async fn wait(self) -> Result<()> {
        self.task.await.map_err(|_| Error::TaskGone)
    }

    /// Reads the certificate and key files again and serves them to new TLS handshakes
    /// (connections already open are untouched). A pair that is unreadable, holds no
    /// certificate, or whose key does not match is refused, logged, and the certificate in
    /// service stays.
    pub fn reload_tls(&self) -> Result<ServerCert> {
        match self.tls.reload() {
            Ok(cert) => {
                tracing::info!(
                    "TLS certificate {} reloaded: SHA-256 fingerprint {}, valid until {}",
                    cert.cert_path.display(),
                    cert.fingerprint,
                    tls::utc(cert.not_after)
                );
                tls::log_expiry(&cert, std::time::SystemTime::now());
                Ok(cert)
            }
            Err(error) => {
                tracing::error!(
                    %error,
                    "TLS reload refused; the certificate in service stays ({})",
                    self.tls.current().fingerprint
                );
                Err(error)
            }
        }
    }

    /// The certificate new TLS handshakes get.
    pub fn current_cert(&self) -> ServerCert {
        self.tls.current()
    }

    /// Shuts down and waits.
    pub async fn stop(self) -> Result<()> {
        self.shutdown();
        self.wait().await
    }
}

/// Starts serving in the background with `config`; returns once the port is bound.
pub async fn start(config: Config) -> Result<Server> {
    config.validate()?;
    private_files::dir(&config.data_dir)?;
    // One server per data folder on SQLite (released when the serving task below ends);
    // PostgreSQL nodes share a database by design and lock nothing here.
    let folder_lock = if ops::is_postgres(&config) {
        None
    } else {
        Some(ops::lock::DataLock::take(&config.data_dir, "cannot start")?)
    };
    let tls = Arc::new(tls::Tls::open(&config)?);
    let cert = tls.current();
    tracing::info!(
        "TLS certificate {}: SHA-256 fingerprint {}, valid until {}",
        cert.cert_path.display(),
        cert.fingerprint,
        tls::utc(cert.not_after)
    );
    tls::log_expiry(&cert, std::time::SystemTime::now());
    let store = open_store(&config).await?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| Error::Io {
            what: "binding the listen address",
            source,
        })?;
    let local_addr = listener.local_addr().map_err(|source| Error::Io {
        what: "reading the bound address",
        source,
    })?;
    let origin = config.origin_for(local_addr);
    let mut allowed_origins = vec![origin.clone()];
    allowed_origins.extend(config.allowed_origins.iter().cloned());

    let (shutdown, shutdown_rx) = watch::channel(false);
    let (stop_writer, stop_writer_rx) = watch::channel(false);
    let metrics = Arc::new(Metrics::default());
    let sockets = Arc::new(Sockets::default());
    let fanout = fanout::open(&config, sockets.clone(), store.clone()).await?;
    let hub = Arc::new(Hub::new(sockets, fanout));
    let limits = config.limits.clone();
    let (relay, writer_task) = Relay::start(
        Writer {
            store: store.clone(),
            hub: hub.clone(),
            metrics: metrics.clone(),
            max_batch: limits.max_batch,
            policy: crate::store::QueuePolicy::from_limits(&limits)
                .archiving(config.history.archive),
        },
        stop_writer_rx,
    );
    let state = AppState(Arc::new(Shared {
        store: store.clone(),
        hub: hub.clone(),
        relay,
        settings: Settings {
            origin: origin.clone(),
            allowed_origins,
            limits: limits.clone(),
            history: config.history.clone(),
            metrics_token_hash: config
                .metrics_token
                .as_ref()
                .map(|t| sotto_proto::crypto::sha256(t.expose().as_bytes())),
            registration: config.registration,
        },
        passwords: Passwords::new(&config.argon2).await?,
        throttle: Throttle::default(),
        json_bodies: JsonBodies::new(&limits),
        registrations: RegistrationLimit::new(
            limits.registrations_per_ip_per_hour,
            limits.registrations_per_minute,
        ),
        recovery_limit: RecoveryLimit::new(
            limits.recovery_attempts_per_hour,
            limits.recovery_attempts_per_ip_per_hour,
        ),
        claim_limit: service::claim_limit::ClaimLimit::new(limits.prekey_claims_per_hour),
        clock: Default::default(),
        groups: Default::default(),
        metrics,
        shutdown: shutdown_rx.clone(),
    }));
    let router = app(state.clone(), config.web_dir.as_deref());
    let purge = tokio::spawn(service::purge::run(state.clone(), shutdown_rx.clone()));
    let expiry = tokio::spawn(tls::watch_expiry(tls.clone(), shutdown_rx.clone()));
    // Without its admin socket the server still serves: `sotto-server admin` then runs on the
    // store directly (what needs live state, closing sockets, waits for their next request),
    // and a socket path too long for Unix (about 107 bytes) must not stop a server.
    admin::stats::mark_started();
    let admin_socket = match admin::socket::serve(
        &admin::socket::path(&config),
        state.clone(),
        shutdown_rx.clone(),
    )
    .await
    {
        Ok(socket) => Some(socket),
        Err(error) => {
            tracing::warn!(%error, "the admin socket is off");
            None
        }
    };
    // The configuration never changes: a reload swaps the certificate it reads (`tls.rs`).
    let acceptor = TlsAcceptor::from(tls.server_config());
    let task = tokio::spawn(async move {
        let accept = serve::accept_loop(listener, acceptor, router, limits.clone(), shutdown_rx);
        accept.await;
        if let Some(socket) = admin_socket {
            socket.stop().await;
        }
        // Sockets close themselves on the shutdown signal; nudge and wait for them.
        hub.close_all(CloseReason::Shutdown);
        let grace = Duration::from_secs(limits.shutdown_grace_secs);
        let _ = tokio::time::timeout(grace, async {
            while hub.connections() > 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        stop_writer.send_replace(true);
        let _ = writer_task.await;
        // Announcements of the last commits go out before the bus connection closes.
        hub.fanout().stop().await;
        purge.abort();
        expiry.abort();
        store.close().await;
        drop(folder_lock);
        tracing::info!("server stopped");
    });
    tracing::info!(
        %local_addr,
        backend = state.store.backend(),
        fanout = state.hub.fanout().backend(),
        "listening"
    );
    log_web_client(config.web_dir.as_deref(), &origin);
    Ok(Server {
        local_addr,
        origin,
        cert,
        state,
        tls,
        shutdown,
        task,
    })
}

/// Says where the web client is served from, or that this binary has none and how to get it.
fn log_web_client(web_dir: Option<&Path>, origin: &str) {
    if let Some(dir) = web_dir.filter(|d| !d.is_dir()) {
        tracing::warn!(web_dir = %dir.display(), "web_dir is not a folder; ignored");
    }
    match http::web::WebClient::select(web_dir) {
        Some(http::web::WebClient::Embedded(_)) => {
            tracing::info!("web client at {origin}/ (built in)");
        }
        Some(http::web::WebClient::Folder(dir)) => {
            tracing::info!("web client at {origin}/ (from web_dir {})", dir.display());
        }
        None => tracing::warn!(
            "the web client is not built into this server and web_dir is not set: only the API \
             is served; build it with `cd web && npm ci && npm run build`, then rebuild the server"
        ),
    }
}

/// Runs the server until SIGTERM or Ctrl-C, printing the URL and certificate fingerprint;
/// SIGHUP reloads the TLS certificate ([`Server::reload_tls`]).
pub async fn run(config: Config) -> Result<()> {
    // Installed before anything else: a SIGHUP that arrives before its handler would end the
    // process (the default action).
    let mut signals = Signals::install();
    let server = start(config).await?;
    println!(
        "Sotto is listening on {} ({})",
        server.origin, server.local_addr
    );
    println!(
        "TLS certificate {}{}",
        server.cert.cert_path.display(),
        if server.cert.generated {
            " (generated now, self-signed)"
        } else {
            ""
        }
    );
    println!("SHA-256 fingerprint {}", server.cert.fingerprint);
    loop {
        match signals.next().await {
            Wake::Stop => break,
            // The outcome is logged by `reload_tls`; a refused pair leaves the server as it was.
            Wake::Reload => {
                let _ = server.reload_tls();
            }
        }
    }
    tracing::info!("shutting down");
    server.stop().await
}

/// What a signal asks of the running server.
enum Wake {
    /// SIGTERM or Ctrl-C: shut down gracefully.
    Stop,
    /// SIGHUP: reload the TLS certificate.
    Reload,
}

/// The process signals `run` answers to.
struct Signals {
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    hangup: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn install() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let listen = |kind: SignalKind, name: &str| match signal(kind) {
                Ok(stream) => Some(stream),
                Err(error) => {
                    tracing::warn!(%error, "cannot listen for {name}");
                    None
                }
            };
            Self {
                terminate: listen(SignalKind::terminate(), "SIGTERM"),
                hangup: listen(SignalKind::hangup(), "SIGHUP"),
            }
        }
        #[cfg(not(unix))]
        {
            Self {}
        }
    }

    async fn next(&mut self) -> Wake {
        #[cfg(unix)]
        {
            let Self { terminate, hangup } = self;
            tokio::select! {
                _ = next_of(terminate) => Wake::Stop,
                _ = tokio::signal::ctrl_c() => Wake::Stop,
                _ = next_of(hangup) => Wake::Reload,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            Wake::Stop
        }
    }
}

/// The next delivery of a signal; never, for one that could not be listened for.
#[cfg(unix)]
async fn next_of(stream: &mut Option<tokio::signal::unix::Signal>) {
    match stream {
        Some(stream) => {
            if stream.recv().await.is_none() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending::<()>().await,
    }
}
