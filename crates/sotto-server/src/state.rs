//! The application state every handler and socket task shares: a few handles, cheap to clone.

use std::ops::Deref;
use std::sync::Arc;

use tokio::sync::watch;

use crate::auth::password::Passwords;
use crate::auth::recovery_limit::RecoveryLimit;
use crate::auth::registration::RegistrationLimit;
use crate::auth::throttle::Throttle;
use crate::clock::ServerClock;
use crate::config::{History, Limits};
use crate::http::body::JsonBodies;
use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::relay::Relay;
use crate::service::claim_limit::ClaimLimit;
use crate::service::group::GroupCache;
use crate::store::Store;

/// What the running server knows about itself once it has bound its port.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The origin signed into login challenges (`https://host:port`).
    pub origin: String,
    /// Browser origins allowed to call the API and open sockets (`origin` included).
    pub allowed_origins: Vec<String>,
    /// Sizes, caps and timeouts.
    pub limits: Limits,
    /// The archive and the default retention.
    pub history: History,
    /// SHA-256 of the token that opens `/metrics`; `None`: `/metrics` is not served.
    pub metrics_token_hash: Option<[u8; 32]>,
    /// Who may create an account: anyone, holders of an invitation code, or no one.
    pub registration: crate::config::RegistrationMode,
}

/// The shared handles.
#[derive(Debug)]
pub struct Shared {
    /// Persistence.
    pub store: Arc<dyn Store>,
    /// Connected sockets on this node, and the fan-out to the others'.
    pub hub: Arc<Hub>,
    /// The group-commit write path.
    pub relay: Relay,
    /// Origin, allowed origins, limits.
    pub settings: Settings,
    /// Password hashing.
    pub passwords: Passwords,
    /// Login throttling.
    pub throttle: Throttle,
    /// The JSON request bodies being read (`http::body`).
    pub json_bodies: JsonBodies,
    /// Sign-ups per address and server-wide.
    pub registrations: RegistrationLimit,
    /// Failed recovery unlocks per account and per address.
    pub recovery_limit: RecoveryLimit,
    /// Prekey claims per account.
    pub claim_limit: ClaimLimit,
    /// The clock of the purge and of history windows (the wall clock outside tests).
    pub clock: ServerClock,
    /// Verified group states.
    pub groups: GroupCache,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Turns true when the server begins shutting down.
    pub shutdown: watch::Receiver<bool>,
}

/// A cheap handle on [`Shared`].
#[derive(Clone, Debug)]
pub struct AppState(pub Arc<Shared>);

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl std::fmt::Debug for dyn Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({})", self.backend())
    }
}
