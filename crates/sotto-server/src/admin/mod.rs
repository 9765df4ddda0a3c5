//! Administration: the operator's requests (accounts, statistics, invitations), what runs them,
//! and how the `sotto-server admin …` command reaches them.
//!
//! A request goes to the running server over its admin socket (`DATA_DIR/admin.sock`, private to
//! the server's user), so its effects reach live state at once: a disabled account's sockets
//! close, on every node. With no server running, the command opens the store itself and runs the
//! request there.
//!
//! - [`socket`]: the admin socket, its server side and its client side.
//! - [`users`]: list, disable, enable and delete accounts.
//! - [`stats`]: counts an operator watches.
//! - [`invites`]: single-use invitation codes for `registration = "invite"`.

pub mod invites;
pub mod socket;
pub mod stats;
pub mod users;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::error::Result;
use crate::state::AppState;
use crate::store::Store;

/// One administration request (the admin socket's request line, as JSON).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum AdminRequest {
    /// Every account.
    UsersList,
    /// Refuse the account's sign-ins and end its sessions.
    UserDisable {
        /// The account.
        username: String,
    },
    /// Allow a disabled account to sign in again.
    UserEnable {
        /// The account.
        username: String,
    },
    /// Delete an account's devices, sessions, queues and attachments.
    UserDelete {
        /// The account.
        username: String,
    },
    /// Counts of accounts, devices, conversations, queued messages.
    Stats,
    /// A new single-use invitation code.
    InviteCreate {
        /// Seconds until it expires.
        expires_secs: u64,
    },
    /// The unused, unexpired invitations.
    InviteList,
    /// Withdraw an unused invitation.
    InviteRevoke {
        /// The invitation's id (as `invite list` prints it).
        id: String,
    },
}

/// What a request answers (the admin socket's response line, as JSON).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AdminResponse {
    /// `users list`.
    Users(users::UserList),
    /// `users disable|enable`.
    UserState(users::UserState),
    /// `users delete`.
    Deleted(users::Deleted),
    /// `stats`.
    Stats(stats::Stats),
    /// `invite create`.
    InviteCreated(invites::InviteCreated),
    /// `invite list`.
    Invites(invites::InviteList),
    /// `invite revoke`.
    InviteRevoked(invites::InviteRevoked),
}

impl AdminResponse {
    /// The response as an operator reads it in a terminal.
    pub fn to_text(&self) -> String {
        match self {
            Self::Users(r) => r.to_string(),
            Self::UserState(r) => r.to_string(),
            Self::Deleted(r) => r.to_string(),
            Self::Stats(r) => r.to_string(),
            Self::InviteCreated(r) => r.to_string(),
            Self::Invites(r) => r.to_string(),
            Self::InviteRevoked(r) => r.to_string(),
        }
    }
}

/// What a request runs against.
#[derive(Clone, Debug)]
pub enum AdminTarget {
    /// The running server: its store, and its hub to close sockets on every node.
    Live(AppState),
    /// No server runs: the store alone (nothing is connected).
    Offline(Arc<dyn Store>),
}

impl AdminTarget {
    /// The store either way.
    pub fn store(&self) -> &Arc<dyn Store> {
        match self {
            Self::Live(state) => &state.store,
            Self::Offline(store) => store,
        }
    }
}

/// Runs one request.
pub async fn execute(target: &AdminTarget, request: AdminRequest) -> Result<AdminResponse> {
    Ok(match request {
        AdminRequest::UsersList => AdminResponse::Users(users::list(target).await?),
        AdminRequest::UserDisable { username } => {
            AdminResponse::UserState(users::set_disabled(target, &username, true).await?)
        }
        AdminRequest::UserEnable { username } => {
            AdminResponse::UserState(users::set_disabled(target, &username, false).await?)
        }
        AdminRequest::UserDelete { username } => {
            AdminResponse::Deleted(users::delete(target, &username).await?)
        }
        AdminRequest::Stats => AdminResponse::Stats(stats::collect(target).await?),
        AdminRequest::InviteCreate { expires_secs } => {
            AdminResponse::InviteCreated(invites::create(target, expires_secs).await?)
        }
        AdminRequest::InviteList => AdminResponse::Invites(invites::list(target).await?),
        AdminRequest::InviteRevoke { id } => {
            AdminResponse::InviteRevoked(invites::revoke(target, &id).await?)
        }
    })
}

/// `sotto-server admin …`: sends the request to the running server, or runs it on the store
/// when no server answers on the admin socket. Returns what to print.
pub async fn run_command(config: &Config, request: AdminRequest, json: bool) -> Result<String> {
    let path = socket::path(config);
    let response = match socket::request(&path, &request).await? {
        Some(response) => response,
        None => {
            // A SQLite server that runs without its admin socket keeps live state (sockets, the
            // hot queue) this process cannot reach: refuse rather than write behind its back.
            let _folder = (!crate::ops::is_postgres(config))
                .then(|| crate::ops::lock::DataLock::take(&config.data_dir, "cannot run offline"))
                .transpose()?;
            let store = crate::open_store(config).await?;
            let response = execute(&AdminTarget::Offline(store.clone()), request).await;
            store.close().await;
            response?
        }
    };
    Ok(if json {
        serde_json::to_string_pretty(&response).unwrap_or_default()
    } else {
        response.to_text()
    })
}
