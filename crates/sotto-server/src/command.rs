//! What the `sotto-server` command line asks for: serving (the default) or one of the operator's
//! commands, which read the same configuration (file, `SOTTO_*` variables, flags) and act on the
//! same data.

use std::path::PathBuf;
use std::time::Duration;

use crate::admin::AdminRequest;
use crate::error::{Error, Result};

/// Longest lifetime of an invitation code.
pub const MAX_INVITE_LIFETIME: Duration = Duration::from_secs(365 * 24 * 3600);
/// An invitation's lifetime when `--expires` is not given.
pub const DEFAULT_INVITE_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

/// One command.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Command {
    /// Serve HTTPS and WSS until SIGTERM.
    #[default]
    Serve,
    /// Write a consistent copy of the database to `file` while the server runs.
    Backup {
        /// Where the copy goes (refused if it exists).
        file: PathBuf,
    },
    /// Replace the database with a backup (the server must be stopped).
    Restore {
        /// The backup to restore.
        file: PathBuf,
        /// Replace a database that holds data.
        force: bool,
    },
    /// Check the configuration, the database and the data folder's file modes.
    Check,
    /// An administration request, sent to the running server (or run on the store when none
    /// runs).
    Admin {
        /// What to do.
        request: AdminRequest,
        /// Print JSON instead of text.
        json: bool,
    },
}

/// Usage text of the operator's commands (appended to `--help`).
pub const COMMANDS: &str = "\
commands (default: serve):
  serve                              serve HTTPS and WSS until SIGTERM
  backup FILE                        consistent copy of the SQLite database, while the server runs
  restore FILE [--force]             replace the database with a backup (server stopped)
  check                              configuration, database integrity, migrations, file modes
  admin users list                   accounts, their devices and state
  admin users disable|enable NAME    stop or allow an account's sign-in (disable ends its sessions)
  admin users delete NAME --yes      delete an account's devices, sessions, queues and attachments
  admin stats                        counts of accounts, devices, conversations, queued messages
  admin invite create [--expires 7d] a single-use invitation code (registration = \"invite\")
  admin invite list                  unused invitations
  admin invite revoke ID             withdraw an unused invitation
  --json                             admin output as JSON";

impl Command {
    /// Builds a command from its words (flags already taken out).
    pub fn from_words(words: &[String], flags: &CommandFlags) -> Result<Self> {
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        let admin = |request| Self::Admin {
            request,
            json: flags.json,
        };
        let user = |name: &&str| name.to_string();
        let command = match words.as_slice() {
            [] | ["serve"] => Self::Serve,
            ["backup", file] => Self::Backup {
                file: PathBuf::from(file),
            },
            ["restore", file] => Self::Restore {
                file: PathBuf::from(file),
                force: flags.force,
            },
            ["check"] => Self::Check,
            ["admin", "users", "list"] => admin(AdminRequest::UsersList),
            ["admin", "users", "disable", name] => admin(AdminRequest::UserDisable {
                username: user(name),
            }),
            ["admin", "users", "enable", name] => admin(AdminRequest::UserEnable {
                username: user(name),
            }),
            ["admin", "users", "delete", name] => {
                if !flags.yes {
                    return Err(usage(format!(
                        "deleting {name} removes its devices, sessions, queued messages and \
                         attachments for good; add --yes to go ahead"
                    )));
                }
                admin(AdminRequest::UserDelete {
                    username: user(name),
                })
            }
            ["admin", "stats"] => admin(AdminRequest::Stats),
            ["admin", "invite", "create"] => admin(AdminRequest::InviteCreate {
                expires_secs: flags.expires.unwrap_or(DEFAULT_INVITE_LIFETIME).as_secs(),
            }),
            ["admin", "invite", "list"] => admin(AdminRequest::InviteList),
            ["admin", "invite", "revoke", id] => {
                admin(AdminRequest::InviteRevoke { id: id.to_string() })
            }
            _ => return Err(usage(format!("unknown command {:?}", words.join(" ")))),
        };
        let takes_expires = matches!(
            command,
            Self::Admin {
                request: AdminRequest::InviteCreate { .. },
                ..
            }
        );
        if flags.expires.is_some() && !takes_expires {
            return Err(usage(
                "--expires belongs to `admin invite create`".to_owned(),
            ));
        }
        if flags.force && !matches!(command, Self::Restore { .. }) {
            return Err(usage("--force belongs to `restore`".to_owned()));
        }
        if flags.json && !matches!(command, Self::Admin { .. }) {
            return Err(usage("--json belongs to the admin commands".to_owned()));
        }
        Ok(command)
    }
}

/// The flags of the operator's commands.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommandFlags {
    /// `--json`.
    pub json: bool,
    /// `--force`.
    pub force: bool,
    /// `--yes`.
    pub yes: bool,
    /// `--expires DURATION`.
    pub expires: Option<Duration>,
}

/// Parses `90s`, `30m`, `12h`, `7d` (or bare seconds), at least a minute and at most a year.
pub fn parse_lifetime(text: &str) -> Result<Duration> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 24 * 3600,
        _ => 0,
    };
    let secs = number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .filter(|&s| s >= 60 && s <= MAX_INVITE_LIFETIME.as_secs())
        .ok_or_else(|| {
            usage(format!(
                "--expires: {text:?} is not a lifetime from 1m to 365d (like 90m, 12h or 7d)"
            ))
        })?;
    Ok(Duration::from_secs(secs))
}

fn usage(reason: String) -> Error {
    Error::Config {
        reason: format!("{reason}\n{COMMANDS}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn each_command_has_one_form() {
        let none = CommandFlags::default();
        assert_eq!(Command::from_words(&[], &none).unwrap(), Command::Serve);
        assert_eq!(
            Command::from_words(&words(&["backup", "/tmp/b.db"]), &none).unwrap(),
            Command::Backup {
                file: PathBuf::from("/tmp/b.db")
            }
        );
        assert_eq!(
            Command::from_words(&words(&["admin", "invite", "create"]), &none).unwrap(),
            Command::Admin {
                request: AdminRequest::InviteCreate {
                    expires_secs: 7 * 24 * 3600
                },
                json: false
            }
        );
        assert!(Command::from_words(&words(&["admin", "users"]), &none).is_err());
        assert!(Command::from_words(&words(&["backup"]), &none).is_err());
    }

    #[test]
    fn delete_needs_yes_and_flags_belong_to_their_command() {
        let none = CommandFlags::default();
        let delete = words(&["admin", "users", "delete", "alice"]);
        assert!(Command::from_words(&delete, &none).is_err());
        let yes = CommandFlags {
            yes: true,
            ..CommandFlags::default()
        };
        assert!(Command::from_words(&delete, &yes).is_ok());
        let force = CommandFlags {
            force: true,
            ..CommandFlags::default()
        };
        assert!(Command::from_words(&words(&["check"]), &force).is_err());
    }

    #[test]
    fn lifetimes_are_bounded() {
        assert_eq!(parse_lifetime("7d").unwrap().as_secs(), 7 * 24 * 3600);
        assert_eq!(parse_lifetime("90m").unwrap().as_secs(), 5400);
        assert_eq!(parse_lifetime("3600").unwrap().as_secs(), 3600);
        for bad in [
            "",
            "0d",
            "59s",
            "366d",
            "7w",
            "d",
            "-1h",
            "99999999999999999999d",
        ] {
            assert!(parse_lifetime(bad).is_err(), "{bad:?}");
        }
    }
}
