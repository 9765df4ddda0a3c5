//! The crate's one error type, [`Error`], and its HTTP face, [`ApiError`].
//!
//! Every failure a handler, a service or the store can produce is a typed variant here. The
//! mapping from a variant to an HTTP status and a stable machine-readable [`ErrorCode`] lives in
//! one place ([`Error::status_and_code`]); a refusal by the protocol verifier also carries the
//! protocol's own code ([`Error::protocol_code`]) to the client. Internal causes (database, I/O,
//! TLS) are logged on the server and answered with a generic 500 that leaks nothing about them.

use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sotto_wire::{ErrorBody, ErrorCode};

/// A username rule that an input broke; shown to the user as is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UsernameRule {
    /// Shorter than the minimum.
    TooShort,
    /// Longer than the maximum.
    TooLong,
    /// Contains a character outside `a-z 0-9 . _ -` (after folding ASCII upper case).
    BadCharacter,
    /// Does not start with a letter or digit.
    BadStart,
}

impl std::fmt::Display for UsernameRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::TooShort => "usernames have at least 3 characters",
            Self::TooLong => "usernames have at most 32 characters",
            Self::BadCharacter => "usernames use only a-z, 0-9, '.', '_' and '-'",
            Self::BadStart => "usernames start with a letter or a digit",
        })
    }
}

/// Anything that can go wrong in the server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A username does not follow the rules.
    #[error("invalid username: {rule}")]
    InvalidUsername {
        /// The rule broken.
        rule: UsernameRule,
    },
    /// A password is too short or too long.
    #[error("passwords have {min} to {max} bytes")]
    InvalidPassword {
        /// Minimum length in bytes.
        min: usize,
        /// Maximum length in bytes.
        max: usize,
    },
    /// A request field is malformed (bad base64, bad id, out of range).
    #[error("invalid {field}: {reason}")]
    InvalidField {
        /// The JSON field.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The request body is not the JSON this endpoint expects.
    #[error("malformed request body")]
    MalformedBody {
        /// The parser's complaint (kept for the log; the client gets a generic message).
        #[source]
        source: serde_json::Error,
    },
    /// The request body is not JSON at all (wrong or missing content type).
    #[error("expected a JSON body with content type application/json")]
    NotJson,
    /// A body, frame or field is larger than its cap.
    #[error("{what} is larger than {max} bytes")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// The cap in bytes.
        max: usize,
    },
    /// A public structure (key, certificate, group change, revocation) was refused by the
    /// protocol verifier.
    #[error("{what} rejected: {source}")]
    Rejected {
        /// What was refused.
        what: &'static str,
        /// The verifier's reason.
        #[source]
        source: sotto_proto::Error,
    },
    /// Missing, unknown, expired or revoked credentials.
    #[error("authentication required")]
    Unauthorized,
    /// A spent refresh token that may be retried, presented without a device proof.
    #[error("this refresh token was already used; retry it with a device proof")]
    RefreshProofRequired,
    /// Wrong username or password (one error for both, so nobody learns who exists).
    #[error("wrong username or password")]
    BadCredentials,
    /// The credentials are valid but do not allow this action.
    #[error("not allowed: {reason}")]
    Forbidden {
        /// Why.
        reason: &'static str,
    },
    /// A recovery unlock presented a wrong access key, or the account has no recovery set
    /// up: one error for both, so the answer does not say which.
    #[error("recovery refused: wrong key, or no recovery set up")]
    RecoveryRejected,
    /// The cross-origin request was refused.
    #[error("origin not allowed")]
    OriginNotAllowed,
    /// Nothing of that kind exists (or the caller may not know that it does).
    #[error("{what} not found")]
    NotFound {
        /// What was looked up.
        what: &'static str,
    },
    /// The request conflicts with the current state (already exists, stale epoch).
    #[error("conflict: {what}")]
    Conflict {
        /// What conflicts.
        what: &'static str,
    },
    /// Too many attempts; retry later.
    #[error("too many attempts; retry in {} s", retry_after.as_secs().max(1))]
    Throttled {
        /// How long to wait.
        retry_after: Duration,
    },
    /// An account's storage quota would be exceeded.
    #[error("{what} quota of {max} bytes per account would be exceeded")]
    QuotaExceeded {
        /// Which quota.
        what: &'static str,
        /// The quota.
        max: u64,
    },
    /// A per-device or per-account capacity is exhausted.
    #[error("capacity exhausted: {what}")]
    Capacity {
        /// Which cap.
        what: &'static str,
    },
    /// A request body did not arrive within its deadline or at the minimum rate
    /// (`http::body`).
    #[error(
        "request body not received in time: it must arrive within {within_secs} s, \
         at {min_rate} bytes/s or more after the first {grace_secs} s"
    )]
    BodyTooSlow {
        /// The total deadline of this kind of body.
        within_secs: u64,
        /// The minimum average rate.
        min_rate: u64,
        /// Seconds before the rate counts.
        grace_secs: u64,
    },
    /// A server-wide or per-address cap on work in progress is reached; retry in a second.
    #[error("server busy: {what}; retry shortly")]
    Busy {
        /// Which cap.
        what: &'static str,
    },
    /// The server is shutting down or overloaded.
    #[error("service unavailable")]
    Unavailable,
    /// The database failed.
    #[error("database error")]
    Database(#[from] sqlx::Error),
    /// The SQLite group-commit connection failed (it runs on `rusqlite`, not sqlx).
    #[error("database error")]
    Sqlite(#[from] rusqlite::Error),
    /// A file or socket operation failed.
    #[error("i/o error on {what}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The TLS configuration could not be built.
    #[error("tls configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// A certificate could not be generated.
    #[error("certificate generation: {0}")]
    CertGen(#[from] rcgen::Error),
    /// A PEM file could not be read.
    #[error("pem file {path}: {source}")]
    Pem {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    /// The configuration is invalid.
    #[error("configuration: {reason}")]
    Config {
        /// What is wrong.
        reason: String,
    },
    /// The configuration file could not be parsed.
    #[error("configuration file: {0}")]
    ConfigFile(#[from] toml::de::Error),
    /// Password hashing failed (not caused by input).
    #[error("password hashing failed")]
    PasswordHash,
    /// A protocol primitive failed for a reason not caused by input (randomness).
    #[error("internal cryptographic failure: {0}")]
    Crypto(#[source] sotto_proto::Error),
    /// The database holds a value this server cannot read back (corruption or a newer schema).
    #[error("stored {what} is corrupt")]
    Corrupt {
        /// The value.
        what: &'static str,
    },
    /// A background task is gone (only during shutdown).
    #[error("internal task stopped")]
    TaskGone,
    /// The fan-out message bus could not be reached or subscribed to.
    #[error("fan-out: {what}")]
    Fanout {
        /// What was being done.
        what: &'static str,
        /// The cause.
        #[source]
        source: async_nats::Error,
    },
    /// An operator's command (`backup`, `restore`, `check`) refused or failed; the reason says
    /// what to do.
    #[error("{reason}")]
    Ops {
        /// What is wrong and what to do.
        reason: String,
    },

    // TLS certificate files (`tls.rs`).
    /// A certificate or key file is not usable: no certificate in it, an unreadable leaf, or a
    /// key that does not match the certificate.
    #[error("certificate {path}: {reason}")]
    Certificate {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The operator disabled the account (`sotto-server admin users disable`).
    #[error("this account is disabled")]
    AccountDisabled,
    /// The running server refused or failed an admin request (`sotto-server admin …`, the
    /// client side of the admin socket); never sent over HTTP.
    #[error("{message} ({code})")]
    AdminRefused {
        /// The reply's code.
        code: String,
        /// The reply's message.
        message: String,
    },
    // ---- registration modes and invitations ----
    /// The server accepts no new accounts (`registration = "closed"`).
    #[error("this server does not accept new accounts")]
    RegistrationClosed,
    /// A sign-up needs a usable invitation code: missing, unknown, used, revoked and expired
    /// codes all answer this, so a guesser learns nothing from the answer.
    #[error("a valid invitation code is required to create an account here")]
    InviteInvalid,
}

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The HTTP status and stable error code of this error; the one mapping in the crate.
    pub fn status_and_code(&self) -> (StatusCode, ErrorCode) {
        match self {
            Self::InvalidUsername { .. } => (StatusCode::BAD_REQUEST, ErrorCode::InvalidUsername),
            Self::InvalidPassword { .. } => (StatusCode::BAD_REQUEST, ErrorCode::InvalidPassword),
            Self::InvalidField { .. } => (StatusCode::BAD_REQUEST, ErrorCode::InvalidField),
            Self::MalformedBody { .. } => (StatusCode::BAD_REQUEST, ErrorCode::MalformedBody),
            Self::NotJson => (StatusCode::UNSUPPORTED_MEDIA_TYPE, ErrorCode::NotJson),
            Self::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::TooLarge),
            Self::QuotaExceeded { .. } => (StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::QuotaExceeded),
            Self::Rejected { .. } => (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::Rejected),
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized),
            Self::BadCredentials => (StatusCode::UNAUTHORIZED, ErrorCode::BadCredentials),
            Self::RefreshProofRequired => {
                (StatusCode::UNAUTHORIZED, ErrorCode::RefreshProofRequired)
            }
            Self::Forbidden { .. } => (StatusCode::FORBIDDEN, ErrorCode::Forbidden),
            Self::OriginNotAllowed => (StatusCode::FORBIDDEN, ErrorCode::OriginNotAllowed),
            Self::RecoveryRejected => (StatusCode::FORBIDDEN, ErrorCode::RecoveryRejected),
            Self::NotFound { .. } => (StatusCode::NOT_FOUND, ErrorCode::NotFound),
            Self::Conflict { .. } => (StatusCode::CONFLICT, ErrorCode::Conflict),
            Self::Throttled { .. } => (StatusCode::TOO_MANY_REQUESTS, ErrorCode::Throttled),
            Self::Capacity { .. } => (StatusCode::TOO_MANY_REQUESTS, ErrorCode::Capacity),
            Self::BodyTooSlow { .. } => (StatusCode::REQUEST_TIMEOUT, ErrorCode::Unavailable),
            Self::Unavailable | Self::TaskGone | Self::Busy { .. } => {
                (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Unavailable)
            }
            Self::Database(_)
            | Self::Sqlite(_)
            | Self::Io { .. }
            | Self::Tls(_)
            | Self::CertGen(_)
            | Self::Pem { .. }
            | Self::Config { .. }
            | Self::ConfigFile(_)
            | Self::PasswordHash
            | Self::Crypto(_)
            | Self::Corrupt { .. }
            | Self::Fanout { .. }
            | Self::Ops { .. }
            | Self::Certificate { .. }
            | Self::AdminRefused { .. } => (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal),
            Self::AccountDisabled => (StatusCode::FORBIDDEN, ErrorCode::AccountDisabled),
            Self::RegistrationClosed => (StatusCode::FORBIDDEN, ErrorCode::RegistrationClosed),
            Self::InviteInvalid => (StatusCode::FORBIDDEN, ErrorCode::InviteInvalid),
        }
    }

    /// The protocol's code of a refusal by its verifier (`group/not-admin`,
    /// `decode/truncated`, …), sent beside `"error":"rejected"` so a client can tell why;
    /// `None` for every other error.
    pub fn protocol_code(&self) -> Option<&'static str> {
        match self {
            Self::Rejected { source, .. } => Some(source.code()),
            _ => None,
        }
    }

    /// The JSON error answer for this error (HTTP body; the WebSocket `error` frame has the
    /// same fields).
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: self.status_and_code().1,
            message: self.public_message(),
            code: self.protocol_code().map(str::to_owned),
        }
    }

    /// Whether this error is the server's fault (logged at error level, detail hidden).
    pub fn is_internal(&self) -> bool {
        self.status_and_code().0.is_server_error()
    }

    /// The message safe to show a client: the error's own text for client errors, a generic
    /// sentence for internal ones.
    pub fn public_message(&self) -> String {
        match self {
            Self::MalformedBody { .. } => "malformed request body".to_owned(),
            e if e.is_internal() => "internal server error".to_owned(),
            e => e.to_string(),
        }
    }

    /// Maps a protocol error on client-supplied input: crypto failures are internal, anything
    /// else means the input was refused.
    pub fn rejected(what: &'static str, source: sotto_proto::Error) -> Self {
        match source {
            sotto_proto::Error::Crypto { .. } => Self::Crypto(source),
            source => Self::Rejected { what, source },
        }
    }
}

/// An [`Error`] on its way out of a handler.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        Self(error)
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        Self(Error::Database(error))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.0.status_and_code();
        if self.0.is_internal() {
            tracing::error!(error = ?self.0, "request failed");
        } else {
            tracing::debug!(code = code.as_str(), "request refused");
        }
        let body = self.0.body();
        let mut response = (status, axum::Json(body)).into_response();
        let retry_after = match &self.0 {
            Error::Throttled { retry_after } => Some(*retry_after),
            // Slots free as bodies finish, within seconds.
            Error::Busy { .. } => Some(Duration::from_secs(1)),
            _ => None,
        };
        if let Some(retry_after) = retry_after {
            let secs = retry_after.as_secs().max(1).to_string();
            if let Ok(value) = HeaderValue::from_str(&secs) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_hide_their_cause() {
        let e = Error::Corrupt { what: "device" };
        assert_eq!(e.status_and_code().0, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(e.public_message(), "internal server error");
        let e = Error::InvalidUsername {
            rule: UsernameRule::TooShort,
        };
        assert!(e.public_message().contains("at least 3"));
    }

    #[test]
    fn a_rejected_answer_carries_the_protocols_code_and_no_other_does() {
        let e = Error::rejected(
            "group change",
            sotto_proto::Error::Decode(sotto_proto::DecodeError::Truncated),
        );
        let body = serde_json::to_value(e.body()).unwrap();
        assert_eq!(body["error"], "rejected");
        assert_eq!(body["code"], "decode/truncated");
        let body = serde_json::to_value(Error::NotFound { what: "device" }.body()).unwrap();
        assert_eq!(body["error"], "not_found");
        assert!(body.get("code").is_none());
    }
}
