//! The error answer shared by HTTP responses and WebSocket `error` frames: a stable
//! [`ErrorCode`] (`"error"`), a sentence for people (`"message"`), and for a `rejected` answer
//! the protocol's own code (`"code"`, `sotto_proto::Error::code()`, e.g. `group/not-admin`).
//! Clients branch on these codes, never on HTTP status numbers or message text; where a status
//! is the only signal (a proxy's bare 502), [`ErrorCode::from_status`] turns it into a code once,
//! at the client's edge.

use serde::{Deserialize, Serialize};

/// The stable machine-readable code of a refusal (`docs/api.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// A username breaks the rules.
    InvalidUsername,
    /// A password is too short or too long.
    InvalidPassword,
    /// A field is malformed (bad base64, out of range, wrong shape).
    InvalidField,
    /// The body is not the JSON this endpoint expects (unknown field, bad id, wrong type).
    MalformedBody,
    /// The body is not JSON at all.
    NotJson,
    /// A body, frame or field is over its cap.
    TooLarge,
    /// An account's storage quota would be exceeded.
    QuotaExceeded,
    /// The protocol verifier refused a structure; the body's `code` says why.
    Rejected,
    /// Missing, unknown, expired or revoked credentials.
    Unauthorized,
    /// Wrong username or password.
    BadCredentials,
    /// A spent refresh token retried without a device proof.
    RefreshProofRequired,
    /// Valid credentials that do not allow this.
    Forbidden,
    /// A cross-origin request was refused.
    OriginNotAllowed,
    /// No such thing (or the caller may not know that it exists).
    NotFound,
    /// The method is not served on this path.
    MethodNotAllowed,
    /// Conflicts with the current state (exists already, stale epoch).
    Conflict,
    /// A recovery unlock was refused: wrong access key, or no recovery set up (one answer for
    /// both).
    RecoveryRejected,
    /// Too many attempts; retry later (`Retry-After`).
    Throttled,
    /// A per-device or per-account capacity is exhausted.
    Capacity,
    /// The server is shutting down or overloaded, or (mapped by a client) an answer that is not
    /// the server's: a proxy's `5xx` or `408` without a JSON body.
    Unavailable,
    /// The server failed; the cause is in its log only.
    Internal,
    /// The operator disabled the account: sign-ins are refused until it is enabled again.
    AccountDisabled,
    /// The server accepts no new accounts (`registration = "closed"`).
    RegistrationClosed,
    /// A sign-up on a server with `registration = "invite"` came without a usable invitation
    /// code: missing, unknown, used, revoked or expired (one answer for all).
    InviteInvalid,
    /// A code this client does not know (a newer server), or a bare `4xx` with no JSON body
    /// that [`ErrorCode::from_status`] has no better code for. Never sent by this server.
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// The code's text, as on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidUsername => "invalid_username",
            Self::InvalidPassword => "invalid_password",
            Self::InvalidField => "invalid_field",
            Self::MalformedBody => "malformed_body",
            Self::NotJson => "not_json",
            Self::TooLarge => "too_large",
            Self::QuotaExceeded => "quota_exceeded",
            Self::Rejected => "rejected",
            Self::Unauthorized => "unauthorized",
            Self::BadCredentials => "bad_credentials",
            Self::RefreshProofRequired => "refresh_proof_required",
            Self::Forbidden => "forbidden",
            Self::OriginNotAllowed => "origin_not_allowed",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Conflict => "conflict",
            Self::RecoveryRejected => "recovery_rejected",
            Self::Throttled => "throttled",
            Self::Capacity => "capacity",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
            Self::AccountDisabled => "account_disabled",
            Self::RegistrationClosed => "registration_closed",
            Self::InviteInvalid => "invite_invalid",
            Self::Unknown => "unknown",
        }
    }

    /// The code for an answer whose status is the only signal (no JSON error body): what a
    /// proxy or load balancer in front of the server may send. Used once, where the answer
    /// enters a client.
    pub fn from_status(status: u16) -> Self {
        match status {
            401 => Self::Unauthorized,
            403 => Self::Forbidden,
            404 => Self::NotFound,
            405 => Self::MethodNotAllowed,
            409 => Self::Conflict,
            413 => Self::TooLarge,
            429 => Self::Throttled,
            // Request Timeout and Too Early: the same request may succeed later.
            408 | 425 | 500..=599 => Self::Unavailable,
            _ => Self::Unknown,
        }
    }
}

impl ErrorCode {
    /// Whether the same request may succeed later (after renewing a token, waiting, or the
    /// server coming back); `false` when the request itself was refused. A conflict is a
    /// refusal here: what a conflict means (stored before, a stale epoch) is for the caller.
    pub fn is_retryable(self) -> bool {
        match self {
            Self::Unauthorized
            | Self::RefreshProofRequired
            | Self::Throttled
            | Self::Capacity
            | Self::Unavailable
            | Self::Internal => true,
            Self::InvalidUsername
            | Self::InvalidPassword
            | Self::InvalidField
            | Self::MalformedBody
            | Self::NotJson
            | Self::TooLarge
            | Self::QuotaExceeded
            | Self::Rejected
            | Self::BadCredentials
            | Self::Forbidden
            | Self::OriginNotAllowed
            | Self::NotFound
            | Self::MethodNotAllowed
            | Self::Conflict
            | Self::RecoveryRejected
            | Self::AccountDisabled
            | Self::RegistrationClosed
            | Self::InviteInvalid
            | Self::Unknown => false,
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The JSON body of every error response: `{"error", "message"}`, plus `"code"` on a
/// `rejected` answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Stable machine-readable code.
    pub error: ErrorCode,
    /// Human-readable explanation (never a secret, never an internal cause).
    #[serde(default)]
    pub message: String,
    /// The protocol's code for a `rejected` answer (`sotto_proto::Error::code()`); absent
    /// otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_read_and_write_as_their_text_and_unknown_ones_do_not_fail() {
        for code in [ErrorCode::Rejected, ErrorCode::RefreshProofRequired] {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), code);
        }
        let body: ErrorBody =
            serde_json::from_str(r#"{"error":"brand_new","message":"m","extra":1}"#).unwrap();
        assert_eq!(body.error, ErrorCode::Unknown);
    }

    #[test]
    fn the_protocol_code_is_written_only_when_there_is_one() {
        let plain = ErrorBody {
            error: ErrorCode::NotFound,
            message: "device not found".into(),
            code: None,
        };
        assert_eq!(
            serde_json::to_string(&plain).unwrap(),
            r#"{"error":"not_found","message":"device not found"}"#
        );
        let rejected = ErrorBody {
            error: ErrorCode::Rejected,
            message: "group change rejected".into(),
            code: Some("group/not-admin".into()),
        };
        assert_eq!(
            serde_json::to_string(&rejected).unwrap(),
            r#"{"error":"rejected","message":"group change rejected","code":"group/not-admin"}"#
        );
    }

    #[test]
    fn a_bare_status_maps_to_one_code() {
        assert_eq!(ErrorCode::from_status(502), ErrorCode::Unavailable);
        assert_eq!(ErrorCode::from_status(408), ErrorCode::Unavailable);
        assert_eq!(ErrorCode::from_status(401), ErrorCode::Unauthorized);
        assert_eq!(ErrorCode::from_status(429), ErrorCode::Throttled);
        assert_eq!(ErrorCode::from_status(418), ErrorCode::Unknown);
    }
}
