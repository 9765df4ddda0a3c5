//! Configuration: built-in defaults, then an optional TOML file (`--config FILE`), then `SOTTO_*`
//! environment variables, then command-line flags, each layer overriding the one before.
//!
//! With no configuration at all the server listens on `127.0.0.1:8443`, keeps its SQLite
//! database and self-signed certificate in `./data`, and uses production-strength Argon2id
//! parameters. Every numeric limit lives in [`Limits`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::command::{parse_lifetime, Command, CommandFlags};
use crate::error::{Error, Result};

/// Everything the server needs to start.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address and port to listen on (HTTPS and WSS share it).
    pub listen: SocketAddr,
    /// Folder for the SQLite database and the generated certificate.
    pub data_dir: PathBuf,
    /// `postgres://…` to use PostgreSQL; unset means SQLite in `data_dir`.
    pub database_url: Option<String>,
    /// PostgreSQL schema to keep the tables in (created if missing); unset means the
    /// connection's default search path.
    pub database_schema: Option<String>,
    /// Connections one node opens to PostgreSQL at most. PostgreSQL's `max_connections` must
    /// hold every node's (docs/scaling.md).
    pub database_pool_size: u32,
    /// PEM certificate chain; unset means a self-signed certificate in `data_dir/tls/`.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// Extra DNS names for the generated self-signed certificate.
    pub tls_hostnames: Vec<String>,
    /// The origin clients reach the server at (`https://chat.example.com`); it is signed into
    /// every login challenge and allowed as a browser `Origin`. Unset means
    /// `https://localhost:PORT`.
    pub public_origin: Option<String>,
    /// Further browser origins allowed to call the API and open WebSockets.
    pub allowed_origins: Vec<String>,
    /// Folder with the web client's built files, served at `/` when it exists.
    pub web_dir: Option<PathBuf>,
    /// Log filter in `tracing_subscriber::EnvFilter` syntax.
    pub log: String,
    /// Who may create an account: anyone (`open`), holders of an invitation code (`invite`),
    /// or no one (`closed`; accounts that exist keep working).
    pub registration: RegistrationMode,
    /// Password hashing parameters.
    pub argon2: Argon2Config,
    /// Sizes, caps and timeouts.
    pub limits: Limits,
    /// The archive of envelopes and retention (docs/protocol.md §6.7, §17).
    pub history: History,
    /// How events reach connected sockets: `local` (one node) or `nats` (several nodes on one
    /// PostgreSQL database).
    pub fanout: FanoutKind,
    /// `nats://host:port` of the NATS server, for `fanout = "nats"`.
    pub nats_url: Option<String>,
    /// Prefix of every NATS subject; nodes of one deployment share it, deployments on one NATS
    /// server need different ones.
    pub nats_prefix: String,
    /// The bearer token that opens `GET /metrics`; unset means `/metrics` is not served (404).
    pub metrics_token: Option<MetricsToken>,
}

/// The pool sizes a node accepts: a batch's group commit holds one connection while sockets read
/// their queues on others, and past a thousand connections PostgreSQL wants a pooler in front.
const POOL_SIZES: std::ops::RangeInclusive<u32> = 2..=1000;

/// The secret a metrics scraper presents (`Authorization: Bearer …`). Its `Debug` prints no
/// secret, so a logged configuration does not leak it, and it is zeroized when dropped.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct MetricsToken(String);

impl MetricsToken {
    /// Shortest token accepted, in bytes: 128 bits of hex or base64 and then some.
    pub const MIN_LEN: usize = 32;

    /// Wraps a token (checked by [`Config::validate`]).
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The token itself, to compare (by hash, in constant time) with what a scraper sent.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl Drop for MetricsToken {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl std::fmt::Debug for MetricsToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetricsToken(…)")
    }
}

/// Who may create an account (`registration`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RegistrationMode {
    /// Anyone who reaches the server.
    #[default]
    Open,
    /// Only with an unused, unexpired invitation code (`sotto-server admin invite create`).
    Invite,
    /// No one.
    Closed,
}

impl std::str::FromStr for RegistrationMode {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        match text {
            "open" => Ok(Self::Open),
            "invite" => Ok(Self::Invite),
            "closed" => Ok(Self::Closed),
            _ => Err(Error::Config {
                reason: format!("registration: {text:?} is not \"open\", \"invite\" or \"closed\""),
            }),
        }
    }
}

/// The fan-out backend (see [`crate::fanout`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FanoutKind {
    /// In-process: this node's sockets only.
    #[default]
    Local,
    /// NATS subjects per device, for several nodes.
    Nats,
}

impl std::str::FromStr for FanoutKind {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        match text {
            "local" => Ok(Self::Local),
            "nats" => Ok(Self::Nats),
            _ => Err(Error::Config {
                reason: format!("fanout: {text:?} is not \"local\" or \"nats\""),
            }),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            data_dir: PathBuf::from("./data"),
            database_url: None,
            database_schema: None,
            database_pool_size: crate::store::postgres::DEFAULT_POOL_SIZE,
            tls_cert: None,
            tls_key: None,
            tls_hostnames: Vec::new(),
            public_origin: None,
            allowed_origins: Vec::new(),
            web_dir: None,
            log: "info".to_owned(),
            registration: RegistrationMode::Open,
            argon2: Argon2Config::default(),
            limits: Limits::default(),
            history: History::default(),
            fanout: FanoutKind::Local,
            nats_url: None,
            nats_prefix: "sotto".to_owned(),
            metrics_token: None,
        }
    }
}

/// Argon2id parameters (RFC 9106). The defaults — 64 MiB, 3 passes, 1 lane — follow the RFC's
/// memory-constrained recommendation and take roughly 100–200 ms per hash on one core.
#[derive(Clone, Copy, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Argon2Config {
    /// Memory cost in KiB.
    pub memory_kib: u32,
    /// Number of passes.
    pub iterations: u32,
    /// Degree of parallelism (lanes).
    pub parallelism: u32,
    /// Password checks (login, password change, ending another session) that may run at once
    /// (each holds `memory_kib` of memory); further ones wait in arrival order.
    pub max_concurrent: usize,
    /// Password checks one address (IPv6: one /64) may have running or waiting at once; one
    /// more is refused (`429 throttled`), so one address cannot queue ahead of everyone else.
    pub max_concurrent_per_address: usize,
    /// New hashes (registration, a new password) that may run at once, in slots of their own so
    /// sign-ups never delay logins.
    pub max_concurrent_new: usize,
}

impl Default for Argon2Config {
    fn default() -> Self {
        Self {
            memory_kib: 64 * 1024,
            iterations: 3,
            parallelism: 1,
            max_concurrent: 4,
            max_concurrent_per_address: 2,
            max_concurrent_new: 1,
        }
    }
}

/// The history archive and retention.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct History {
    /// Whether every envelope is also kept in its conversation's archive (in the same commit),
    /// from which members' new devices read history. Off: nothing is archived and history
    /// pages are empty.
    pub archive: bool,
    /// The retention of a conversation whose log sets none, in seconds (0: for good); clients
    /// read it from `GET /v1/policy`.
    pub default_retention_secs: u64,
    /// Seconds between two runs of the purge (expired sessions, undelivered records,
    /// hand-overs, and envelopes and attachments past retention).
    pub purge_interval_secs: u64,
}

impl Default for History {
    fn default() -> Self {
        Self {
            archive: true,
            default_retention_secs: 0,
            purge_interval_secs: 60,
        }
    }
}

/// Every size cap, count cap and timeout the server enforces.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest JSON request body, in bytes.
    pub max_json_body: usize,
    /// Largest WebSocket message, in bytes (checked before the frame is buffered).
    pub max_ws_message: usize,
    /// Largest attachment, in bytes.
    pub max_attachment: usize,
    /// Attachment bytes one account may have stored in all (attachments are kept for their
    /// conversation's retention). An upload that would pass it is refused (`413 quota_exceeded`).
    pub max_attachment_bytes_per_account: u64,
    /// Attachment uploads read at once (server-wide); one more is refused (`429 capacity`)
    /// before its body is read, so buffered uploads never hold more than this times
    /// `max_attachment`.
    pub max_concurrent_uploads: usize,
    /// Copies queued for one device past which a sender already holding its share
    /// (`queue_share_per_sender`) is refused for it (`queue_full`).
    pub max_queue_per_device: i64,
    /// Copies from one sender account that a device's queue always takes, however many others
    /// have queued: a flood from one account cannot keep another's messages out.
    pub queue_share_per_sender: i64,
    /// Copies from one sender account a device's queue holds at most (`sender_share_full`).
    pub max_queue_per_sender: i64,
    /// Envelopes a conversation routes to a member who has not accepted it (a request);
    /// further ones are refused for them (`request_limit`) until they accept.
    pub max_request_envelopes: i64,
    /// Conversations one account may create per rolling 24 hours (`429 throttled`).
    pub max_conversations_per_day: i64,
    /// Seconds a copy refused at send time stays retryable by its sender device.
    pub undelivered_ttl_secs: u64,
    /// WebSocket connections one account may hold at once.
    pub max_connections_per_account: usize,
    /// TCP connections one address may hold at once.
    pub max_connections_per_ip: usize,
    /// TCP connections the server holds at once.
    pub max_connections: usize,
    /// Frames per second a socket may send on average (burst: twice that).
    pub ws_frames_per_second: u32,
    /// Envelopes a real-time delivery queue of one socket holds before it falls back to the store.
    pub ws_queue: usize,
    /// Seconds to finish the TLS handshake.
    pub handshake_timeout_secs: u64,
    /// Seconds to send the request headers.
    pub header_timeout_secs: u64,
    /// Seconds a JSON request body may take to arrive in full (counted from its first read).
    pub body_read_timeout_secs: u64,
    /// Seconds an attachment upload's body may take to arrive in full.
    pub upload_read_timeout_secs: u64,
    /// Bytes per second a request body must average once its first
    /// [`crate::http::body::RATE_GRACE`] have passed; a slower body is cut (`408`). Zero turns the
    /// rate rule off (the total deadlines still hold).
    pub body_min_bytes_per_sec: u64,
    /// JSON request bodies read at once (server-wide); one more is refused (`503 unavailable`,
    /// `Retry-After`) before its body is read.
    pub max_concurrent_json_bodies: usize,
    /// JSON request bodies one address (IPv6: one /64) may have being read at once.
    pub max_concurrent_json_bodies_per_ip: usize,
    /// Seconds an HTTP connection may stay open with no request in progress (HTTP/2 keep-alive
    /// pings do not count as activity); then it is closed gracefully.
    pub http_idle_timeout_secs: u64,
    /// Requests (streams) one HTTP/2 connection may have open at once (its
    /// `SETTINGS_MAX_CONCURRENT_STREAMS`); a stream beyond it is refused (`REFUSED_STREAM`).
    pub http2_max_concurrent_streams: u32,
    /// Seconds to send the WebSocket ticket after the upgrade.
    pub ws_auth_timeout_secs: u64,
    /// Seconds without any frame before a socket is closed (the server pings at a third of it).
    pub ws_idle_timeout_secs: u64,
    /// Seconds a single write to a socket may take before the client counts as too slow.
    pub ws_send_timeout_secs: u64,
    /// Envelopes written to a socket ahead of the client's acknowledgements; when that many
    /// wait, delivery to the socket pauses and resumes from the store as acknowledgements come.
    pub ws_unacked_envelopes: usize,
    /// Envelope body bytes written to a socket ahead of its acknowledgements (one envelope is
    /// always written, however large), as for `ws_unacked_envelopes`.
    pub ws_unacked_bytes: usize,
    /// Lifetime of an access token, in seconds.
    pub access_token_secs: u64,
    /// Lifetime of a refresh token (and so of a device session without use), in seconds.
    pub refresh_token_secs: u64,
    /// Lifetime of the login token a password login returns, in seconds.
    pub login_token_secs: u64,
    /// Lifetime of a login challenge, in seconds.
    pub challenge_secs: u64,
    /// Lifetime of a WebSocket ticket, in seconds.
    pub ticket_secs: u64,
    /// Envelopes written in one database transaction at most (group commit).
    pub max_batch: usize,
    /// Seconds allowed for in-flight work when shutting down.
    pub shutdown_grace_secs: u64,
    /// Registration attempts (fresh or taken names) one address (IPv6: one /64) may make per
    /// hour, also the burst; past it `429 throttled`.
    pub registrations_per_ip_per_hour: u32,
    /// New accounts (password hashes for fresh names) the server makes per minute in all, also
    /// the burst; past it `429 throttled`.
    pub registrations_per_minute: u32,
    /// Pending (not yet approved) devices one account may have; one more is refused
    /// (`429 capacity`).
    pub max_pending_devices_per_account: usize,
    /// Seconds a pending device waits for approval: after it the device is no longer listed,
    /// its approval is refused, and the purge deletes it (an abandoned second-device login).
    pub pending_device_secs: u64,
    /// Backup items one account may store (`429 capacity` past it).
    pub max_backup_items_per_account: i64,
    /// Backup bytes one account may store (`429 capacity` past it).
    pub max_backup_bytes_per_account: i64,
    /// Failed recovery unlocks one account may make per hour, also the burst (`429
    /// throttled`); a success does not count.
    pub recovery_attempts_per_hour: u32,
    /// Failed recovery unlocks one address (IPv6: one /64) may make per hour, also the burst.
    pub recovery_attempts_per_ip_per_hour: u32,
    /// Hand-overs waiting for one device at most (`429 capacity` past it).
    pub max_handovers_per_device: i64,
    /// Seconds a hand-over waits for its recipient before it is deleted.
    pub handover_ttl_secs: u64,
    /// Largest JSON body of `POST /v1/devices/{device}/handovers`, in bytes: a 4 MiB hand-over
    /// in base64 with room for the field name.
    pub max_handover_json_body: usize,
    /// Devices one account may claim a one-time prekey of per hour (`POST /v1/prekeys/claim`
    /// costs one per device it names), also the burst; past it `429 throttled`. At least
    /// 1000, the most one request names.
    pub prekey_claims_per_hour: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_json_body: 512 * 1024,
            max_ws_message: 256 * 1024,
            max_attachment: 25 * 1024 * 1024,
            max_attachment_bytes_per_account: 1024 * 1024 * 1024,
            max_concurrent_uploads: 16,
            max_queue_per_device: 10_000,
            queue_share_per_sender: 500,
            max_queue_per_sender: 5_000,
            max_request_envelopes: 20,
            max_conversations_per_day: 200,
            undelivered_ttl_secs: 7 * 24 * 3600,
            max_connections_per_account: 32,
            max_connections_per_ip: 256,
            max_connections: 20_000,
            ws_frames_per_second: 500,
            ws_queue: 1024,
            handshake_timeout_secs: 10,
            header_timeout_secs: 10,
            body_read_timeout_secs: 30,
            upload_read_timeout_secs: 600,
            body_min_bytes_per_sec: 1024,
            max_concurrent_json_bodies: 256,
            max_concurrent_json_bodies_per_ip: 32,
            http_idle_timeout_secs: 60,
            http2_max_concurrent_streams: 64,
            ws_auth_timeout_secs: 10,
            ws_idle_timeout_secs: 90,
            ws_send_timeout_secs: 15,
            ws_unacked_envelopes: 256,
            ws_unacked_bytes: 1024 * 1024,
            access_token_secs: 15 * 60,
            refresh_token_secs: 30 * 24 * 3600,
            login_token_secs: 10 * 60,
            challenge_secs: 60,
            ticket_secs: 30,
            max_batch: 2048,
            shutdown_grace_secs: 10,
            registrations_per_ip_per_hour: 20,
            registrations_per_minute: 60,
            max_pending_devices_per_account: 10,
            pending_device_secs: 15 * 60,
            max_backup_items_per_account: 100_000,
            max_backup_bytes_per_account: 256 * 1024 * 1024,
            recovery_attempts_per_hour: 5,
            recovery_attempts_per_ip_per_hour: 20,
            max_handovers_per_device: 32,
            handover_ttl_secs: 30 * 24 * 3600,
            max_handover_json_body: 6 * 1024 * 1024,
            // A sender claims for every member device whenever it starts a chain (daily, and
            // on every membership change): a busy sender in a few large groups stays well
            // within this.
            prekey_claims_per_hour: 10_000,
        }
    }
}

impl Limits {
    /// A field in seconds as a [`Duration`].
    pub fn secs(value: u64) -> Duration {
        Duration::from_secs(value)
    }
}

/// Overrides the fields of one configuration section from `<prefix><FIELD>` variables. The field
/// names come from the section's own serde form, so a field added to [`Limits`] or
/// [`Argon2Config`] can be set from the environment without being listed a second time; the
/// value is checked by the field's own type (a number out of its range is refused, naming the
/// variable).
fn apply_section_env<T: Serialize + DeserializeOwned>(
    prefix: &str,
    section: &mut T,
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<()> {
    let internal = |e: serde_json::Error| Error::Config {
        reason: format!("{prefix}*: {e}"),
    };
    let serde_json::Value::Object(mut fields) =
        serde_json::to_value(&*section).map_err(internal)?
    else {
        return Err(Error::Config {
            reason: format!("{prefix}*: not a section of named settings"),
        });
    };
    let keys: Vec<String> = fields.keys().cloned().collect();
    for key in keys {
        let name = format!("{prefix}{}", key.to_ascii_uppercase());
        let Some(text) = lookup(&name) else { continue };
        let refused = || Error::Config {
            reason: format!("{name}: {text:?} is not a valid value"),
        };
        let value = match fields.get(&key) {
            Some(serde_json::Value::Bool(_)) => {
                serde_json::Value::Bool(text.trim().parse().map_err(|_| refused())?)
            }
            Some(serde_json::Value::String(_)) => serde_json::Value::String(text.clone()),
            _ => {
                serde_json::Value::from(text.trim().parse::<u64>().map_err(|_| Error::Config {
                    reason: format!("{name}: {text:?} is not a non-negative number"),
                })?)
            }
        };
        fields.insert(key, value);
        // Checked one variable at a time, so an out-of-range value names its variable.
        *section =
            serde_json::from_value(serde_json::Value::Object(fields.clone())).map_err(|_| {
                Error::Config {
                    reason: format!("{name}: {text:?} is out of range"),
                }
            })?;
    }
    Ok(())
}

/// What the command line asked for.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Args {
    /// `--config FILE`.
    pub config: Option<PathBuf>,
    /// `--data-dir DIR`.
    pub data_dir: Option<PathBuf>,
    /// `--listen ADDR`.
    pub listen: Option<SocketAddr>,
    /// `--help`.
    pub help: bool,
    /// Serve, or one of the operator's commands.
    pub command: Command,
}

/// Usage text for `--help`.
pub const USAGE: &str = "\
usage: sotto-server [COMMAND] [--config FILE] [--data-dir DIR] [--listen ADDR]

Serves Sotto over HTTPS and WSS (default https://localhost:8443, data in ./data).
Environment: SOTTO_LISTEN, SOTTO_DATA_DIR, SOTTO_DATABASE_URL, SOTTO_DATABASE_SCHEMA, SOTTO_DATABASE_POOL_SIZE,
SOTTO_TLS_CERT, SOTTO_TLS_KEY, SOTTO_PUBLIC_ORIGIN, SOTTO_WEB_DIR, SOTTO_LOG, SOTTO_REGISTRATION, SOTTO_FANOUT, SOTTO_NATS_URL, SOTTO_NATS_PREFIX,
SOTTO_METRICS_TOKEN,
SOTTO_LIMITS_<FIELD>, SOTTO_HISTORY_<FIELD> and SOTTO_ARGON2_<FIELD> (docs/configuration.md lists every field)
override the config file; flags override both.";

impl Args {
    /// Parses `std::env::args()`-style arguments (without the program name).
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Self> {
        let mut out = Self::default();
        let mut words = Vec::new();
        let mut flags = CommandFlags::default();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            if !arg.starts_with('-') {
                words.push(arg);
                continue;
            }
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) => (f.to_owned(), Some(v.to_owned())),
                None => (arg.clone(), None),
            };
            let mut value = |name: &str| -> Result<String> {
                inline
                    .clone()
                    .or_else(|| args.next())
                    .ok_or_else(|| Error::Config {
                        reason: format!("{name} needs a value"),
                    })
            };
            match flag.as_str() {
                "--config" => out.config = Some(PathBuf::from(value("--config")?)),
                "--data-dir" => out.data_dir = Some(PathBuf::from(value("--data-dir")?)),
                "--listen" => out.listen = Some(parse_addr("--listen", &value("--listen")?)?),
                "-h" | "--help" => out.help = true,
                "--json" => flags.json = true,
                "--force" => flags.force = true,
                "--yes" => flags.yes = true,
                "--expires" => flags.expires = Some(parse_lifetime(&value("--expires")?)?),
                other => {
                    return Err(Error::Config {
                        reason: format!("unknown argument {other:?}\n{USAGE}"),
                    })
                }
            }
        }
        if !out.help {
            out.command = Command::from_words(&words, &flags)?;
        }
        Ok(out)
    }
}

fn parse_addr(what: &str, text: &str) -> Result<SocketAddr> {
    text.parse().map_err(|_| Error::Config {
        reason: format!("{what}: {text:?} is not an address like 127.0.0.1:8443"),
    })
}

impl Config {
    /// Builds the configuration from defaults, the file named by `args`, the environment
    /// (`lookup` is `std::env::var` in production) and the flags.
    pub fn load(args: &Args, lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let mut config = match &args.config {
            Some(path) => Self::from_file(path)?,
            None => Self::default(),
        };
        config.apply_env(lookup)?;
        if let Some(dir) = &args.data_dir {
            config.data_dir = dir.clone();
        }
        if let Some(listen) = args.listen {
            config.listen = listen;
        }
        config.validate()?;
        Ok(config)
    }

    /// Reads a TOML file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            what: "reading the config file",
            source,
        })?;
        Ok(toml::from_str(&text)?)
    }

    fn apply_env(&mut self, lookup: impl Fn(&str) -> Option<String>) -> Result<()> {
        if let Some(v) = lookup("SOTTO_LISTEN") {
            self.listen = parse_addr("SOTTO_LISTEN", &v)?;
        }
        if let Some(v) = lookup("SOTTO_DATA_DIR") {
            self.data_dir = PathBuf::from(v);
        }
        if let Some(v) = lookup("SOTTO_DATABASE_URL") {
            self.database_url = Some(v);
        }
        if let Some(v) = lookup("SOTTO_DATABASE_SCHEMA") {
            self.database_schema = Some(v);
        }
        if let Some(v) = lookup("SOTTO_DATABASE_POOL_SIZE") {
            self.database_pool_size = v.trim().parse().map_err(|_| Error::Config {
                reason: format!("SOTTO_DATABASE_POOL_SIZE: {v:?} is not a whole number"),
            })?;
        }
        if let Some(v) = lookup("SOTTO_TLS_CERT") {
            self.tls_cert = Some(PathBuf::from(v));
        }
        if let Some(v) = lookup("SOTTO_TLS_KEY") {
            self.tls_key = Some(PathBuf::from(v));
        }
        if let Some(v) = lookup("SOTTO_PUBLIC_ORIGIN") {
            self.public_origin = Some(v);
        }
        if let Some(v) = lookup("SOTTO_WEB_DIR") {
            self.web_dir = Some(PathBuf::from(v));
        }
        if let Some(v) = lookup("SOTTO_LOG") {
            self.log = v;
        }
        if let Some(v) = lookup("SOTTO_REGISTRATION") {
            self.registration = v.parse()?;
        }
        if let Some(v) = lookup("SOTTO_FANOUT") {
            self.fanout = v.parse()?;
        }
        if let Some(v) = lookup("SOTTO_NATS_URL") {
            self.nats_url = Some(v);
        }
        if let Some(v) = lookup("SOTTO_NATS_PREFIX") {
            self.nats_prefix = v;
        }
        if let Some(v) = lookup("SOTTO_METRICS_TOKEN") {
            self.metrics_token = Some(MetricsToken(v));
        }
        self.apply_numeric_env(&lookup)?;
        Ok(())
    }

    /// `SOTTO_LIMITS_<FIELD>` and `SOTTO_ARGON2_<FIELD>` for every setting of those sections
    /// (e.g. `SOTTO_LIMITS_MAX_CONNECTIONS_PER_IP=64`), so containers can tune caps without a
    /// file.
    fn apply_numeric_env(&mut self, lookup: &impl Fn(&str) -> Option<String>) -> Result<()> {
        apply_section_env("SOTTO_LIMITS_", &mut self.limits, lookup)?;
        apply_section_env("SOTTO_HISTORY_", &mut self.history, lookup)?;
        apply_section_env("SOTTO_ARGON2_", &mut self.argon2, lookup)
    }

    /// Refuses combinations that cannot work.
    pub fn validate(&self) -> Result<()> {
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(Error::Config {
                reason: "tls_cert and tls_key must be set together".to_owned(),
            });
        }
        if let Some(url) = &self.database_url {
            if !(url.starts_with("postgres://")
                || url.starts_with("postgresql://")
                || url.starts_with("sqlite:"))
            {
                return Err(Error::Config {
                    reason: "database_url must start with postgres:// or sqlite:".to_owned(),
                });
            }
        }
        if !POOL_SIZES.contains(&self.database_pool_size) {
            return Err(Error::Config {
                reason: format!(
                    "database_pool_size must be between {} and {}",
                    POOL_SIZES.start(),
                    POOL_SIZES.end()
                ),
            });
        }
        if let Some(origin) = &self.public_origin {
            if !origin.starts_with("https://") || origin.ends_with('/') {
                return Err(Error::Config {
                    reason: "public_origin looks like https://host[:port], without a path"
                        .to_owned(),
                });
            }
        }
        if self.fanout == FanoutKind::Nats {
            if self.nats_url.is_none() {
                return Err(Error::Config {
                    reason: "fanout = \"nats\" needs nats_url (nats://host:port)".to_owned(),
                });
            }
            let shared = self
                .database_url
                .as_deref()
                .is_some_and(|u| u.starts_with("postgres"));
            if !shared {
                return Err(Error::Config {
                    reason: "fanout = \"nats\" runs several nodes on one PostgreSQL database; \
                             set database_url to postgres://…"
                        .to_owned(),
                });
            }
            crate::fanout::nats::check_prefix(&self.nats_prefix)?;
        }
        if let Some(token) = &self.metrics_token {
            let t = token.expose();
            if t.len() < MetricsToken::MIN_LEN || !t.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(Error::Config {
                    reason: format!(
                        "metrics_token needs at least {} printable ASCII characters without \
                         spaces (e.g. `openssl rand -hex 32`)",
                        MetricsToken::MIN_LEN
                    ),
                });
            }
        }
        let a = &self.argon2;
        if a.memory_kib < 8 * a.parallelism.max(1) || a.iterations == 0 || a.parallelism == 0 {
            return Err(Error::Config {
                reason: "argon2 needs iterations >= 1, parallelism >= 1, memory >= 8 KiB/lane"
                    .to_owned(),
            });
        }
        let l = &self.limits;
        if l.max_batch == 0 || l.ws_queue == 0 {
            return Err(Error::Config {
                reason: "limits.max_batch and limits.ws_queue must be positive".to_owned(),
            });
        }
        // A quota below one attachment would refuse the largest upload the server accepts.
        if l.max_attachment_bytes_per_account < l.max_attachment as u64 {
            return Err(Error::Config {
                reason: "limits.max_attachment_bytes_per_account must be at least max_attachment"
                    .to_owned(),
            });
        }
        // A zero cap would refuse everyone; a zero timeout would cut every connection at once.
        if l.registrations_per_ip_per_hour == 0
            || l.registrations_per_minute == 0
            || l.max_pending_devices_per_account == 0
            || l.pending_device_secs == 0
            || a.max_concurrent == 0
            || a.max_concurrent_per_address == 0
            || a.max_concurrent_new == 0
        {
            return Err(Error::Config {
                reason: "limits.registrations_per_ip_per_hour, registrations_per_minute, \
                         max_pending_devices_per_account, pending_device_secs and \
                         argon2.max_concurrent, \
                         max_concurrent_per_address, max_concurrent_new must be positive"
                    .to_owned(),
            });
        }
        if self.history.purge_interval_secs == 0
            || l.recovery_attempts_per_hour == 0
            || l.recovery_attempts_per_ip_per_hour == 0
            || l.max_handovers_per_device <= 0
            || l.max_backup_items_per_account <= 0
            || l.max_backup_bytes_per_account <= 0
        {
            return Err(Error::Config {
                reason: "history.purge_interval_secs and limits.recovery_attempts_per_hour, \
                         recovery_attempts_per_ip_per_hour, max_handovers_per_device, \
                         max_backup_items_per_account, max_backup_bytes_per_account must be \
                         positive"
                    .to_owned(),
            });
        }
        if usize::try_from(l.prekey_claims_per_hour)
            .is_ok_and(|n| n < sotto_wire::api::MAX_PREKEY_CLAIM_DEVICES)
        {
            return Err(Error::Config {
                reason: format!(
                    "limits.prekey_claims_per_hour must be at least {}, the most devices one \
                     claim names",
                    sotto_wire::api::MAX_PREKEY_CLAIM_DEVICES
                ),
            });
        }
        if l.max_connections == 0
            || l.max_connections_per_ip == 0
            || l.max_concurrent_uploads == 0
            || l.handshake_timeout_secs == 0
            || l.header_timeout_secs == 0
        {
            return Err(Error::Config {
                reason: "limits.max_connections, max_connections_per_ip, max_concurrent_uploads, \
                         handshake_timeout_secs and header_timeout_secs must be positive"
                    .to_owned(),
            });
        }
        if l.body_read_timeout_secs == 0
            || l.upload_read_timeout_secs == 0
            || l.max_concurrent_json_bodies == 0
            || l.max_concurrent_json_bodies_per_ip == 0
            || l.http_idle_timeout_secs == 0
            || l.http2_max_concurrent_streams == 0
        {
            return Err(Error::Config {
                reason: "limits.body_read_timeout_secs, upload_read_timeout_secs, \
                         max_concurrent_json_bodies, max_concurrent_json_bodies_per_ip, \
                         http_idle_timeout_secs and http2_max_concurrent_streams must be positive"
                    .to_owned(),
            });
        }
        Ok(())
    }

    /// The origin to sign into challenges, once the real port is known.
    pub fn origin_for(&self, bound: SocketAddr) -> String {
        match &self.public_origin {
            Some(origin) => origin.clone(),
            None => format!("https://localhost:{}", bound.port()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Args {
        Args::parse(list.iter().map(|s| s.to_string())).unwrap()
    }

    #[test]
    fn defaults_then_env_then_flags() {
        let c = Config::load(&args(&[]), |_| None).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8443");
        assert_eq!(c.data_dir, PathBuf::from("./data"));
        let env = |k: &str| match k {
            "SOTTO_LISTEN" => Some("127.0.0.1:9000".to_owned()),
            "SOTTO_DATA_DIR" => Some("/tmp/env".to_owned()),
            _ => None,
        };
        let c = Config::load(&args(&["--data-dir", "/tmp/flag"]), env).unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.data_dir, PathBuf::from("/tmp/flag"));
        let c = Config::load(&args(&["--listen=127.0.0.1:1"]), env).unwrap();
        assert_eq!(c.listen.port(), 1);
    }

    #[test]
    fn bad_input_is_refused_clearly() {
        assert!(Args::parse(["--nope".to_owned()]).is_err());
        assert!(Args::parse(["--listen".to_owned()]).is_err());
        assert!(Args::parse(["--listen".to_owned(), "x".to_owned()]).is_err());
        assert!(toml::from_str::<Config>("unknown = 1").is_err());
        let c: Config = toml::from_str("listen = \"0.0.0.0:1\"\n[limits]\nmax_batch = 7").unwrap();
        assert_eq!(c.limits.max_batch, 7);
        let c = Config {
            tls_cert: Some(PathBuf::from("a")),
            ..Config::default()
        };
        assert!(c.validate().is_err());
        let mut c = Config::default();
        c.limits.max_attachment_bytes_per_account = c.limits.max_attachment as u64 - 1;
        assert!(c.validate().is_err(), "a quota below one attachment");
    }

    #[test]
    fn limits_and_argon2_come_from_the_environment_too() {
        let env = |k: &str| match k {
            "SOTTO_LIMITS_MAX_CONNECTIONS_PER_IP" => Some("64".to_owned()),
            "SOTTO_LIMITS_HANDSHAKE_TIMEOUT_SECS" => Some(" 3 ".to_owned()),
            "SOTTO_ARGON2_MAX_CONCURRENT" => Some("2".to_owned()),
            _ => None,
        };
        let c = Config::load(&args(&[]), env).unwrap();
        assert_eq!(c.limits.max_connections_per_ip, 64);
        assert_eq!(c.limits.handshake_timeout_secs, 3);
        assert_eq!(c.argon2.max_concurrent, 2);
        assert_eq!(c.limits.max_connections, Limits::default().max_connections);
        let bad = |k: &str| (k == "SOTTO_LIMITS_MAX_BATCH").then(|| "-1".to_owned());
        assert!(Config::load(&args(&[]), bad).is_err());
        let too_big = |k: &str| (k == "SOTTO_ARGON2_ITERATIONS").then(|| "4294967296".to_owned());
        let error = Config::load(&args(&[]), too_big).unwrap_err().to_string();
        assert!(error.contains("SOTTO_ARGON2_ITERATIONS"), "{error}");
    }

    #[test]
    fn the_database_pool_size_comes_from_the_file_or_the_environment_within_bounds() {
        let pool = |value: &'static str| {
            move |k: &str| (k == "SOTTO_DATABASE_POOL_SIZE").then(|| value.to_owned())
        };
        assert_eq!(
            Config::load(&args(&[]), |_| None)
                .unwrap()
                .database_pool_size,
            16
        );
        assert_eq!(
            Config::load(&args(&[]), pool(" 48 "))
                .unwrap()
                .database_pool_size,
            48
        );
        for refused in ["0", "1", "1001", "-3", "sixteen"] {
            let error = Config::load(&args(&[]), pool(refused))
                .unwrap_err()
                .to_string();
            assert!(
                error.contains("database_pool_size") || error.contains("SOTTO_DATABASE_POOL_SIZE"),
                "{refused}: {error}"
            );
        }
        let c: Config = toml::from_str("database_pool_size = 4").unwrap();
        assert_eq!(c.database_pool_size, 4);
        assert!(c.validate().is_ok());
    }

    #[test]
    fn a_claim_limit_below_one_full_claim_is_refused() {
        let limit = |value: &'static str| {
            move |k: &str| (k == "SOTTO_LIMITS_PREKEY_CLAIMS_PER_HOUR").then(|| value.to_owned())
        };
        let error = Config::load(&args(&[]), limit("999"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("prekey_claims_per_hour"), "{error}");
        let c = Config::load(&args(&[]), limit("1000")).unwrap();
        assert_eq!(c.limits.prekey_claims_per_hour, 1000);
    }

    /// Every field of `[limits]` and `[argon2]` has its row in docs/configuration.md, with its
    /// variable and its default, so a new limit cannot ship undocumented.
    #[test]
    fn every_limit_is_documented_with_its_variable_and_default() {
        let doc = include_str!("../../../docs/configuration.md");
        let sections = [
            (
                "SOTTO_LIMITS_",
                serde_json::to_value(Limits::default()).unwrap(),
            ),
            (
                "SOTTO_ARGON2_",
                serde_json::to_value(Argon2Config::default()).unwrap(),
            ),
            (
                "SOTTO_HISTORY_",
                serde_json::to_value(History::default()).unwrap(),
            ),
        ];
        for (prefix, fields) in sections {
            for (key, default) in fields.as_object().unwrap() {
                let row = format!(
                    "| `{key}` | `{prefix}{}` | {default}",
                    key.to_ascii_uppercase()
                );
                assert!(
                    doc.lines().any(|line| line.starts_with(&row)),
                    "docs/configuration.md has no row starting {row:?}"
                );
            }
        }
    }

    #[test]
    fn metrics_are_off_unless_a_long_token_is_set_and_the_token_is_never_printed() {
        assert!(Config::load(&args(&[]), |_| None)
            .unwrap()
            .metrics_token
            .is_none());
        let token = "0123456789abcdef0123456789abcdef";
        let env = |k: &str| (k == "SOTTO_METRICS_TOKEN").then(|| token.to_owned());
        let c = Config::load(&args(&[]), env).unwrap();
        assert_eq!(c.metrics_token.as_ref().unwrap().expose(), token);
        assert!(!format!("{c:?}").contains(token));
        let short = |k: &str| (k == "SOTTO_METRICS_TOKEN").then(|| "secret".to_owned());
        assert!(Config::load(&args(&[]), short).is_err());
        let spaced = |k: &str| {
            (k == "SOTTO_METRICS_TOKEN").then(|| "0123456789abcdef 123456789abcdef0".to_owned())
        };
        assert!(Config::load(&args(&[]), spaced).is_err());
        let c: Config = toml::from_str(&format!("metrics_token = \"{token}\"")).unwrap();
        assert!(c.validate().is_ok() && c.metrics_token.is_some());
    }

    #[test]
    fn fanout_defaults_to_local_and_nats_needs_a_bus_and_postgres() {
        let c = Config::load(&args(&[]), |_| None).unwrap();
        assert_eq!(c.fanout, FanoutKind::Local);
        assert_eq!(c.nats_prefix, "sotto");
        let env = |k: &str| match k {
            "SOTTO_FANOUT" => Some("nats".to_owned()),
            "SOTTO_NATS_URL" => Some("nats://127.0.0.1:4222".to_owned()),
            "SOTTO_NATS_PREFIX" => Some("acme".to_owned()),
            "SOTTO_DATABASE_URL" => Some("postgres://db/sotto".to_owned()),
            _ => None,
        };
        let c = Config::load(&args(&[]), env).unwrap();
        assert_eq!(c.fanout, FanoutKind::Nats);
        assert_eq!(c.nats_url.as_deref(), Some("nats://127.0.0.1:4222"));
        assert_eq!(c.nats_prefix, "acme");
        let no_url = |k: &str| (k != "SOTTO_NATS_URL").then(|| env(k)).flatten();
        assert!(Config::load(&args(&[]), no_url).is_err());
        let sqlite = |k: &str| (k != "SOTTO_DATABASE_URL").then(|| env(k)).flatten();
        assert!(Config::load(&args(&[]), sqlite).is_err());
        assert!(Config::load(&args(&[]), |k| (k == "SOTTO_FANOUT")
            .then(|| "redis".to_owned()))
        .is_err());
        let c: Config = toml::from_str("fanout = \"nats\"\nnats_url = \"nats://n:4222\"").unwrap();
        assert_eq!(c.fanout, FanoutKind::Nats);
    }
}
