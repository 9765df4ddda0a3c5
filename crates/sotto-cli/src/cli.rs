//! The command-line grammar (clap).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// End-to-end encrypted chat from a terminal.
///
/// Exit codes: 0 ok, 1 failure, 2 usage, 3 wrong password or passphrase, 4 server unreachable,
/// 5 certificate mismatch, 6 not found or not a member, 7 rate limited, 8 identity changed,
/// 9 login or approval needed, 10 sent but not delivered to every member device (it stays in
/// the outbox), 11 recovery refused (a wrong or mistyped recovery key or passphrase, or no
/// recovery set up). Secrets: SOTTO_PASSPHRASE (profile), SOTTO_PASSWORD (account),
/// SOTTO_RECOVERY_KEY and SOTTO_RECOVERY_PASSPHRASE for scripts; otherwise they are asked for on
/// the terminal.
#[derive(Debug, Parser)]
#[command(name = "sotto", version)]
pub struct Cli {
    /// Server URL (default https://127.0.0.1:8443, or the one the profile remembers).
    #[arg(long, global = true, env = "SOTTO_SERVER")]
    pub server: Option<String>,
    /// Profile folder (default: $XDG_DATA_HOME/sotto/default).
    #[arg(long, global = true, env = "SOTTO_PROFILE")]
    pub profile: Option<PathBuf>,
    /// SHA-256 fingerprint of the server's certificate, for a self-signed server; remembered
    /// in the profile.
    #[arg(long = "tls-pin", global = true, value_name = "SHA256")]
    pub tls_pin: Option<String>,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create an account: master key, this device as its first device (password from
    /// SOTTO_PASSWORD or a prompt).
    Register {
        /// The username (3–32 of a-z 0-9 . _ -).
        username: String,
        /// A name for this device.
        #[arg(long, default_value = "sotto cli")]
        device_name: String,
        /// The invitation code from the server's administrator, for a server that creates
        /// accounts only by invitation (any case, dashes optional).
        #[arg(
            long,
            env = "SOTTO_INVITE",
            value_name = "CODE",
            hide_env_values = true
        )]
        invite: Option<String>,
    },
    /// Log in: on a new profile, adds this device and waits for approval from another device.
    Login {
        /// The username.
        username: String,
        /// A name for this device.
        #[arg(long, default_value = "sotto cli")]
        device_name: String,
        /// How long to wait for approval, in seconds.
        #[arg(long, default_value_t = 600)]
        wait: u64,
    },
    /// Recover the account on this (new) profile from the key backup: the password, then the
    /// recovery key (SOTTO_RECOVERY_KEY or a prompt) or the recovery passphrase
    /// (SOTTO_RECOVERY_PASSPHRASE). Keeps the account's master key, so contacts' safety numbers
    /// stay the same, and fetches the history of every conversation.
    Recover {
        /// The username.
        username: String,
        /// A name for this device.
        #[arg(long, default_value = "sotto cli")]
        device_name: String,
        /// Revoke every other device of the account (the lost one) once this one is in.
        #[arg(long)]
        revoke_others: bool,
    },
    /// The account's key backup.
    #[command(subcommand)]
    Recovery(RecoveryCommand),
    /// Past messages of a conversation, fetched from the server's archive and decrypted here,
    /// oldest first, as the JSON lines `recv` prints.
    History {
        /// A username (the 1:1 with them) or a `conv:` id.
        target: String,
        /// How many of the latest messages to print.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Manage this account's devices.
    #[command(subcommand)]
    Devices(DevicesCommand),
    /// This device's exchange key and prekeys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Send a message (a username means the 1:1 conversation with them).
    Send(SendArgs),
    /// Groups.
    #[command(subcommand)]
    Group(GroupCommand),
    /// Receive new messages as JSON lines, and acknowledge them.
    Recv {
        /// Keep receiving for this many seconds.
        #[arg(long, default_value_t = 0)]
        wait: u64,
        /// Where to save attachments (default: the profile's files/ folder).
        #[arg(long)]
        download_dir: Option<PathBuf>,
        /// Print one readable line per message instead of JSON.
        #[arg(long)]
        human: bool,
    },
    /// Edit one of your messages (every member sees the new text, marked edited).
    Edit {
        /// The `msg:` id.
        message: String,
        /// The new text (`@username` mentions a member).
        text: String,
    },
    /// Delete one of your messages for every member (and on this device).
    Delete {
        /// The `msg:` id.
        message: String,
    },
    /// React to a message (or take your reaction back with --remove).
    React {
        /// The `msg:` id.
        message: String,
        /// The reaction, usually one emoji (1 to 32 bytes).
        emoji: String,
        /// Take the reaction back.
        #[arg(long)]
        remove: bool,
    },
    /// Search the messages stored on this device (current texts, not deleted ones), newest
    /// first.
    Search {
        /// The text to look for (case-insensitive).
        text: String,
        /// Only in this conversation (a `conv:` id or a username: the 1:1 with them).
        #[arg(long)]
        conversation: Option<String>,
        /// JSON lines instead of readable lines.
        #[arg(long)]
        json: bool,
    },
    /// Show the safety number with a user.
    Verify {
        /// The username.
        username: String,
        /// Mark the identity as verified (after comparing the number).
        #[arg(long)]
        confirm: bool,
        /// Accept a changed identity key.
        #[arg(long)]
        accept_new_identity: bool,
    },
    /// List message requests: conversations you were added to by someone who is not a contact
    /// yet (JSON lines). Sending into one accepts it.
    Requests,
    /// Accept a request: its messages flow in full from now on.
    Accept {
        /// The `conv:` id.
        conversation: String,
    },
    /// Decline a request: no further messages of it reach you.
    Decline {
        /// The `conv:` id.
        conversation: String,
    },
    /// Block a user: nothing they send reaches you, and their requests are declined.
    Block {
        /// The username.
        username: String,
    },
    /// Lift a block.
    Unblock {
        /// The username.
        username: String,
    },
    /// List blocked users (JSON lines).
    Blocks,
    /// List messages waiting in the outbox (JSON lines), or drop one.
    Outbox {
        /// What to do (default: list).
        #[command(subcommand)]
        action: Option<OutboxCommand>,
    },
    /// Show the profile's state.
    Status,
    /// Interactive terminal chat.
    Tui,
}

/// `sotto send`.
#[derive(Debug, Args)]
pub struct SendArgs {
    /// A username or a `conv:` id.
    pub to: String,
    /// The text (the caption with --file).
    pub text: Option<String>,
    /// Send this file as an encrypted attachment.
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// Reply to this message (a `msg:` id).
    #[arg(long, value_name = "MSG")]
    pub reply_to: Option<String>,
    /// Accept a changed identity key of the recipient.
    #[arg(long)]
    pub accept_new_identity: bool,
}

/// `sotto outbox …`.
#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// List the waiting and partly delivered messages.
    List,
    /// Give up on a message: take it out of the outbox (the devices it did not reach never get
    /// it).
    Drop {
        /// The `msg:` id.
        message: String,
    },
}

/// `sotto recovery …`.
#[derive(Debug, Subcommand)]
pub enum RecoveryCommand {
    /// Set up recovery (replacing any earlier set-up): prints a recovery key once, to write
    /// down; or, with --passphrase, uses a passphrase (SOTTO_RECOVERY_PASSPHRASE or a prompt)
    /// instead. Needs the master key on this device.
    Setup {
        /// Use a passphrase (at least 12 characters) instead of a generated key. Weaker: whoever
        /// holds the server's database can test guesses of it.
        #[arg(long)]
        passphrase: bool,
    },
    /// Whether recovery is set up: a JSON line `{"configured", "method", "items", "pending"}`.
    Status,
}

/// `sotto devices …`.
#[derive(Debug, Subcommand)]
pub enum DevicesCommand {
    /// List the account's devices.
    List,
    /// Approve a new device by the code it printed.
    Approve {
        /// The approval code.
        code: String,
    },
    /// Revoke a device.
    Revoke {
        /// The `dev:` id.
        device: String,
    },
}

/// `sotto keys …`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// The protocol version this device publishes and its one-time prekeys: a JSON line
    /// `{"version", "exchange_key_serial", "last_resort", "server_remaining", "held",
    /// "downgrades", "bad_prekeys"}`.
    Status,
    /// Re-key this device (after it was cleaned of a compromise, or at will): a new exchange
    /// key and last-resort prekey, a fresh set of one-time prekeys in place of the old ones
    /// (whose private keys are deleted), and new sending chains in every conversation. Prints
    /// the status line afterwards.
    Rekey,
}

/// `sotto group …`.
#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// Create a group with these members.
    Create {
        /// The group's name.
        name: String,
        /// Usernames to add.
        #[arg(required = true)]
        usernames: Vec<String>,
        /// Accept changed identity keys.
        #[arg(long)]
        accept_new_identity: bool,
    },
    /// Add a member.
    Add {
        /// The `conv:` id.
        conversation: String,
        /// The username.
        username: String,
        /// Accept a changed identity key.
        #[arg(long)]
        accept_new_identity: bool,
    },
    /// Rename a group (admins). The server keeps a salted commitment; members get the name
    /// encrypted.
    Rename {
        /// The `conv:` id.
        conversation: String,
        /// The new name.
        name: String,
    },
    /// Remove a member.
    Remove {
        /// The `conv:` id.
        conversation: String,
        /// The username.
        username: String,
    },
    /// Leave a group. Its only admin names a member to make admin first (--admin).
    Leave {
        /// The `conv:` id.
        conversation: String,
        /// Make this member an admin before leaving.
        #[arg(long, value_name = "USERNAME")]
        admin: Option<String>,
    },
    /// Make a member an admin (admins), or take the right back with --revoke.
    Admin {
        /// The `conv:` id.
        conversation: String,
        /// The member's username.
        username: String,
        /// Take the admin right back.
        #[arg(long)]
        revoke: bool,
    },
    /// List conversations (and those whose log this device refused, with the reason).
    List,
    /// List a conversation's members.
    Members {
        /// The `conv:` id.
        conversation: String,
    },
    /// Set how long the conversation's messages are kept, by the server and every member's
    /// devices (admins; either member of a 1:1): `forever`, or 60s to 10y (`5m`, `7d`, `1y`).
    Retention {
        /// A `conv:` id or a username (the 1:1 with them).
        target: String,
        /// `forever` or a duration.
        duration: String,
    },
}
