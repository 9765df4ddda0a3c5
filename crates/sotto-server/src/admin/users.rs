//! Accounts as the operator sees them: list, disable, enable, delete (docs/configuration.md
//! "Administration").
//!
//! Disabling ends every session of the account and closes its sockets (on the running server,
//! through the hub, so on every node); login, refresh and tickets are refused from then on.
//! Deleting revokes its devices and deletes its private state in one store transaction
//! ([`crate::store::Store::delete_account`]); the row stays so the name is never reused.

use serde::{Deserialize, Serialize};

use crate::admin::AdminTarget;
use crate::auth::username;
use crate::clock;
use crate::error::{Error, Result};
use crate::hub::CloseReason;
use crate::store::{UserId, UserRecord};

/// What a deleted account leaves on the server, as `users delete` prints it (the same list as
/// docs/configuration.md "Administration").
pub const DELETE_LEAVES: &[&str] = &[
    "the username and account id, reserved: nobody can register the name again",
    "its devices' public certificates, marked revoked: the group-log entries they signed \
     still verify",
    "the signed group-log entries it wrote and its memberships (other members remove it \
     with a signed change)",
    "envelopes it sent that are still queued for others, and the conversations' archives",
    "others' blocks of it",
];

/// One account in `users list`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRow {
    /// Normalised username.
    pub username: String,
    /// `active`, `disabled` or `deleted`.
    pub state: String,
    /// When it registered (ms since the epoch).
    pub created_at: i64,
    /// Active devices.
    pub devices: i64,
    /// The latest use of one of its sessions (ms), if it has one.
    pub last_active: Option<i64>,
}

/// `users list`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UserList {
    /// Every account, by username.
    pub users: Vec<UserRow>,
}

/// `users disable|enable`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UserState {
    /// The account.
    pub username: String,
    /// Whether it is disabled now.
    pub disabled: bool,
    /// Sessions ended (disable only).
    pub sessions_ended: usize,
    /// Whether its sockets were closed on every node (`false` when no server ran: none were
    /// open).
    pub live: bool,
}

/// `users delete`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Deleted {
    /// The account.
    pub username: String,
    /// Devices revoked.
    pub devices: usize,
    /// Sessions deleted.
    pub sessions: u64,
    /// Envelope copies that were queued for its devices.
    pub queued: u64,
    /// One-time prekeys.
    pub prekeys: u64,
    /// Hand-overs waiting for its devices.
    pub handovers: u64,
    /// Backup items.
    pub backup_items: u64,
    /// Attachments it uploaded.
    pub attachments: u64,
    /// Blocks it had set.
    pub blocks: u64,
    /// What stays on the server ([`DELETE_LEAVES`]).
    pub remains: Vec<String>,
}

impl std::fmt::Display for UserList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let header = ["USERNAME", "STATE", "DEVICES", "CREATED", "LAST ACTIVE"];
        let rows: Vec<[String; 5]> = self
            .users
            .iter()
            .map(|u| {
                [
                    u.username.clone(),
                    u.state.clone(),
                    u.devices.to_string(),
                    crate::clock::utc_minutes(u.created_at),
                    u.last_active
                        .map_or_else(|| "-".to_owned(), crate::clock::utc_minutes),
                ]
            })
            .collect();
        let mut widths = header.map(str::len);
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |f: &mut std::fmt::Formatter<'_>, cells: [&str; 5]| {
            let text: Vec<String> = cells
                .iter()
                .zip(widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            writeln!(f, "{}", text.join("  ").trim_end())
        };
        line(f, header)?;
        for row in &rows {
            line(f, row.each_ref().map(String::as_str))?;
        }
        write!(f, "{} accounts", self.users.len())
    }
}

impl std::fmt::Display for UserState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.disabled {
            write!(
                f,
                "{} is disabled: {} sessions ended{}",
                self.username,
                self.sessions_ended,
                if self.live {
                    ", its sockets closed on every node"
                } else {
                    ""
                }
            )
        } else {
            write!(f, "{} is enabled: it can sign in again", self.username)
        }
    }
}

impl std::fmt::Display for Deleted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{} is deleted. Removed:", self.username)?;
        writeln!(f, "  devices revoked   {}", self.devices)?;
        writeln!(f, "  sessions          {}", self.sessions)?;
        writeln!(f, "  queued copies     {}", self.queued)?;
        writeln!(f, "  prekeys           {}", self.prekeys)?;
        writeln!(f, "  hand-overs        {}", self.handovers)?;
        writeln!(
            f,
            "  backup items      {} (and its recovery set-up)",
            self.backup_items
        )?;
        writeln!(f, "  attachments       {}", self.attachments)?;
        writeln!(f, "  blocks it set     {}", self.blocks)?;
        write!(f, "Kept:")?;
        for item in &self.remains {
            write!(f, "\n  - {item}")?;
        }
        Ok(())
    }
}

/// The account named `name`; `NotFound` ("no account named …") otherwise.
async fn account(target: &AdminTarget, name: &str) -> Result<UserRecord> {
    let unknown = || Error::NotFound {
        what: "account (no such username)",
    };
    let normalized = username::normalize(name).map_err(|_| unknown())?;
    target
        .store()
        .user_by_name(&normalized)
        .await?
        .ok_or_else(unknown)
}

/// Every account.
pub async fn list(target: &AdminTarget) -> Result<UserList> {
    let users = target
        .store()
        .accounts()
        .await?
        .into_iter()
        .map(|a| UserRow {
            state: match (a.deleted_at, a.disabled_at) {
                (Some(_), _) => "deleted",
                (None, Some(_)) => "disabled",
                (None, None) => "active",
            }
            .to_owned(),
            username: a.username,
            created_at: a.created_at,
            devices: a.active_devices,
            last_active: a.last_active,
        })
        .collect();
    Ok(UserList { users })
}

/// Disables or enables `username`.
pub async fn set_disabled(
    target: &AdminTarget,
    username: &str,
    disabled: bool,
) -> Result<UserState> {
    let user = account(target, username).await?;
    let ended = target
        .store()
        .set_account_disabled(user.id, disabled, clock::now_ms())
        .await?;
    let live = disabled && close(target, user.id, &ended);
    tracing::info!(username = %user.username, disabled, "account state set by the operator");
    Ok(UserState {
        username: user.username,
        disabled,
        sessions_ended: ended.len(),
        live,
    })
}

/// Closes the sockets of the ended sessions, and any other of the account's, on every node;
/// `false` offline (no server, so no socket).
fn close(target: &AdminTarget, user: UserId, sessions: &[crate::store::SessionId]) -> bool {
    match target {
        AdminTarget::Live(state) => {
            if !sessions.is_empty() {
                state
                    .hub
                    .close_sessions(sessions, CloseReason::SessionEnded);
            }
            // A socket whose session was deleted by an earlier disable on a server that was
            // not running then is caught by the user too.
            state.hub.close_user(user, None, CloseReason::SessionEnded);
            true
        }
        AdminTarget::Offline(_) => false,
    }
}

/// Deletes `username`'s devices, sessions, queues and attachments.
pub async fn delete(target: &AdminTarget, username: &str) -> Result<Deleted> {
    let user = account(target, username).await?;
    let gone = target
        .store()
        .delete_account(user.id, clock::now_ms())
        .await?;
    if let AdminTarget::Live(state) = target {
        for device in &gone.devices {
            state.hub.close_device(device, CloseReason::DeviceRevoked);
        }
        state
            .hub
            .close_user(user.id, None, CloseReason::SessionEnded);
    }
    tracing::info!(username = %user.username, devices = gone.devices.len(), "account deleted by the operator");
    Ok(Deleted {
        username: user.username,
        devices: gone.devices.len(),
        sessions: gone.sessions,
        queued: gone.queued,
        prekeys: gone.prekeys,
        handovers: gone.handovers,
        backup_items: gone.backup_items,
        attachments: gone.attachments,
        blocks: gone.blocks,
        remains: DELETE_LEAVES.iter().map(|s| (*s).to_owned()).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_an_aligned_table() {
        let list = UserList {
            users: vec![
                UserRow {
                    username: "alice".into(),
                    state: "active".into(),
                    created_at: 0,
                    devices: 2,
                    last_active: None,
                },
                UserRow {
                    username: "bartholomew".into(),
                    state: "disabled".into(),
                    created_at: 0,
                    devices: 0,
                    last_active: Some(60_000),
                },
            ],
        };
        let text = list.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4);
        let col = lines[0].find("STATE").unwrap();
        assert_eq!(lines[1].find("active"), Some(col));
        assert_eq!(lines[2].find("disabled"), Some(col));
        assert!(lines[2].ends_with("1970-01-01 00:01 UTC"));
        assert_eq!(lines[3], "2 accounts");
    }
}
