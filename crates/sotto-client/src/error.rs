//! The one error type of the client library. Variants say what went wrong in terms a person (or
//! the CLI's exit code) can act on: a wrong passphrase, an unreachable server, a certificate that
//! does not match its pin, a changed identity, a refusal by the server with its stable code.
//! Messages say what happened, never what to type: what to do about it depends on the program
//! in front of the library (`sotto-cli/src/error.rs` adds its commands and flags).

use sotto_proto::ids::AccountId;

/// Everything the client library can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A local file operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The passphrase does not open the profile.
    #[error("wrong passphrase for this profile (or the profile is damaged)")]
    WrongPassphrase,
    /// The profile's file is not a Sotto profile or is damaged.
    #[error("the profile is damaged: {reason}")]
    CorruptStore {
        /// What is wrong.
        reason: &'static str,
    },
    /// The profile's contents do not parse.
    #[error("the profile is damaged: {0}")]
    StoreFormat(#[source] serde_json::Error),
    /// Another `sotto` process is using the profile.
    #[error("the profile is in use by another sotto process")]
    ProfileBusy,
    /// The profile has no account yet.
    #[error("this profile has no account")]
    NoAccount,
    /// The profile already holds an account.
    #[error("this profile already holds the account {username}")]
    AlreadyRegistered {
        /// The account's username.
        username: String,
    },
    /// The username is taken on the server.
    #[error("the username {username} is already taken on this server")]
    UsernameTaken {
        /// The name asked for.
        username: String,
    },
    /// The server accepts no new accounts.
    #[error("this server does not accept new accounts")]
    RegistrationClosed,
    /// The server creates accounts only with an invitation code, and the one given (or its
    /// absence) was refused: missing, unknown, used, revoked or expired.
    #[error("this server needs a valid invitation code to create an account")]
    InviteInvalid,
    /// This device is waiting for approval from another device.
    #[error("this device is waiting for approval by a device that holds the account's master key")]
    DevicePending,
    /// This device does not hold the account's master key, so it cannot certify devices.
    #[error("this device does not hold the account's master key")]
    NoMasterKey,
    /// The device session ended (revoked, logged out, or the refresh token was reused).
    #[error("the session has ended")]
    SessionEnded,
    /// The server could not be reached.
    #[error("cannot reach the server at {url}: {source}")]
    Unreachable {
        /// The server URL.
        url: String,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },
    /// The server's certificate does not match the pinned fingerprint.
    #[error("the server's certificate does not match the pinned fingerprint (expected {expected}, got {got}); someone may be intercepting the connection")]
    PinMismatch {
        /// The pinned fingerprint.
        expected: String,
        /// The fingerprint the server presented.
        got: String,
    },
    /// No pin is set and the certificate is not trusted by the system.
    #[error("the server's certificate is not trusted by this system (fingerprint {got})")]
    UntrustedCertificate {
        /// The fingerprint the server presented.
        got: String,
    },
    /// A certificate pin is not a SHA-256 fingerprint.
    #[error("a certificate pin must be a SHA-256 fingerprint (64 hex digits, colons allowed)")]
    BadPin,
    /// The server URL is not usable.
    #[error("invalid server URL {url}: expected https://host:port")]
    BadServerUrl {
        /// The URL given.
        url: String,
    },
    /// The server refused a request.
    #[error("the server refused the request ({code}): {message}")]
    Api {
        /// The server's stable error code (`docs/api.md`); for an answer that was not the
        /// server's, the code its HTTP status means.
        code: sotto_wire::ErrorCode,
        /// The protocol's code of a `rejected` refusal (`group/not-admin`, …).
        protocol_code: Option<String>,
        /// The server's explanation.
        message: String,
    },
    /// Wrong username or password.
    #[error("wrong username or password")]
    BadCredentials,
    /// Too many attempts; the server asks to wait.
    #[error("rate limited by the server; try again in {retry_after_secs} s")]
    Throttled {
        /// Seconds to wait.
        retry_after_secs: u64,
    },
    /// The server answered with something that is not what the API promises.
    #[error("unexpected answer from the server: {what}")]
    BadResponse {
        /// What did not match.
        what: &'static str,
    },
    /// The WebSocket failed.
    #[error("WebSocket error: {0}")]
    WebSocket(#[source] Box<tokio_tungstenite::tungstenite::Error>),
    /// TLS setup failed.
    #[error("TLS setup failed: {0}")]
    Tls(#[source] rustls::Error),
    /// A protocol operation or check failed.
    #[error("protocol error: {0} ({code})", code = .0.code())]
    Protocol(#[from] sotto_proto::Error),
    /// A protocol structure did not decode.
    #[error("protocol error: {0}")]
    Decode(#[from] sotto_proto::DecodeError),
    /// No such user on the server.
    #[error("no user named {username} on this server")]
    UnknownUser {
        /// The name looked up.
        username: String,
    },
    /// A pinned identity changed and the change was not accepted.
    #[error("the identity key of {username} ({account}) has CHANGED since it was pinned{verified}", verified = if *.was_verified { " and verified" } else { "" })]
    IdentityChanged {
        /// The username.
        username: String,
        /// The old account id.
        account: AccountId,
        /// Whether the old identity was verified.
        was_verified: bool,
    },
    /// No conversation matches.
    #[error("unknown conversation {what}")]
    UnknownConversation {
        /// What was asked for.
        what: String,
    },
    /// The caller is not (or no longer) a member of the conversation.
    #[error("you are not a member of this conversation")]
    NotMember,
    /// A verified change took this account out of the conversation (or it left): nothing is
    /// sent there any more.
    #[error("{}", if *.left { format!("you left {group}") } else { format!("you were removed from {group} by {by}") })]
    Removed {
        /// The group's name (or the placeholder for an unnamed one).
        group: String,
        /// Who signed the removal.
        by: String,
        /// Whether this account left by itself.
        left: bool,
    },
    /// The last admin of a group with other members cannot leave before another member is
    /// made admin (protocol §6.3).
    #[error("you are the group's only admin: choose a new admin among {}", .members.join(", "))]
    LastAdmin {
        /// The other members' usernames.
        members: Vec<String>,
    },
    /// A file larger than the server accepts as an attachment; nothing was uploaded.
    #[error("the file ({}) is larger than this server's attachment limit ({})", show_size(*.size), show_size(*.max))]
    AttachmentTooLarge {
        /// The file's size, bytes.
        size: u64,
        /// The server's limit, bytes (`GET /v1/policy`).
        max: u64,
    },
    /// Only the author may edit or delete a message (protocol §8.5).
    #[error("you can only {action} your own messages")]
    NotAuthor {
        /// `edit` or `delete`.
        action: &'static str,
    },
    /// No stored message has this id.
    #[error("no message {id} in this profile")]
    UnknownMessage {
        /// The id given.
        id: String,
    },
    /// The message was deleted: it can no longer be edited or reacted to.
    #[error("message {id} was deleted")]
    MessageDeleted {
        /// The id given.
        id: String,
    },
    /// An approval code matched no pending device.
    #[error("no pending device has the approval code {code}")]
    UnknownApprovalCode {
        /// The code given.
        code: String,
    },
    /// A device id matched no device of the account.
    #[error("no device {device} on this account")]
    UnknownDevice {
        /// The device id given.
        device: String,
    },
    /// Waiting for something took too long.
    #[error("timed out waiting for {what}")]
    TimedOut {
        /// What was awaited.
        what: &'static str,
    },
    /// A user-supplied value is not acceptable.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// Which value.
        field: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// The account has no recovery set up on the server.
    #[error("this account has no recovery set up")]
    RecoveryNotSetUp,
    /// The server refused the recovery key or passphrase (a wrong one: the checksum of a key
    /// catches typos before this). Nothing was changed on this device.
    #[error("the recovery key or passphrase does not unlock this account's backup")]
    RecoveryRejected,
    /// A clock before 1970.
    #[error("the system clock is before 1970")]
    Clock,
    /// A value cannot go into a message: no recipient would accept it (an attachment's file name
    /// with a control character, or longer than 255 bytes). Nothing was uploaded or sent.
    #[error("cannot send: {0}")]
    InvalidField(#[from] sotto_proto::FieldError),
}

impl From<tokio_tungstenite::tungstenite::Error> for Error {
    fn from(error: tokio_tungstenite::tungstenite::Error) -> Self {
        Self::WebSocket(Box::new(error))
    }
}

/// A size for people: whole MB (MiB) from 1 MiB on, else KB or bytes.
fn show_size(bytes: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * 1024;
    match bytes {
        b if b >= MIB && b % MIB == 0 => format!("{} MB", b / MIB),
        b if b >= MIB => format!("{:.1} MB", b as f64 / MIB as f64),
        b if b >= KIB => format!("{} KB", b.div_ceil(KIB)),
        b => format!("{b} bytes"),
    }
}

/// Result with the client's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Whether the server answered, and what it answered does not verify or is not what the API
    /// promises: a malformed, foreign or unverifiable directory entry or group log, or a refusal
    /// (a code that is not [`sotto_wire::ErrorCode::is_retryable`]). A receive holds or fails the one payload
    /// whose check needed the answer and goes on (protocol §9.4). Everything else — the server
    /// unreachable or timing out, a `5xx`, an ended session, a local failure — is not about one
    /// payload: the receive fails, nothing more is acknowledged, and the caller reconnects.
    pub(crate) fn is_refused_answer(&self) -> bool {
        match self {
            Self::BadResponse { .. }
            | Self::Protocol(_)
            | Self::Decode(_)
            | Self::UnknownUser { .. }
            | Self::UnknownDevice { .. }
            | Self::UnknownConversation { .. }
            | Self::IdentityChanged { .. }
            | Self::NotMember
            | Self::Removed { .. } => true,
            Self::Api { code, .. } => !code.is_retryable(),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attachment_limit_is_said_in_megabytes_not_bytes() {
        let error = Error::AttachmentTooLarge {
            size: 30 * 1024 * 1024 + 1,
            max: 26_214_400,
        };
        assert_eq!(
            error.to_string(),
            "the file (30.0 MB) is larger than this server's attachment limit (25 MB)"
        );
        assert_eq!(show_size(2048), "2 KB");
        assert_eq!(show_size(10), "10 bytes");
    }
}
