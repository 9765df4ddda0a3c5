//! The JSON bodies of the server's API (`docs/api.md`), as the client reads them. Binary fields
//! stay base64 text here; [`b64`] and [`unb64`] convert at the edge.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Standard padded base64.
pub fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Decodes standard padded base64 from the server.
pub fn unb64(text: &str, what: &'static str) -> Result<Vec<u8>> {
    STANDARD
        .decode(text)
        .map_err(|_| Error::BadResponse { what })
}

/// `{"error", "message"}`.
#[derive(Debug, Deserialize)]
pub struct ErrorBody {
    /// Stable code.
    pub error: String,
    /// Explanation.
    #[serde(default)]
    pub message: String,
}

/// `POST /v1/auth/login`.
#[derive(Deserialize)]
pub struct LoginToken {
    /// The normalised username.
    pub username: String,
    /// `sotto_lt_…`.
    pub login_token: Zeroizing<String>,
}

/// `POST /v1/auth/challenge`.
#[derive(Debug, Deserialize)]
pub struct Challenge {
    /// Encoded `AuthChallenge`, base64.
    pub challenge: String,
    /// The nonce, base64, echoed back.
    pub nonce: String,
}

/// `POST /v1/auth/device` and `/v1/auth/refresh`.
#[derive(Deserialize)]
pub struct Tokens {
    /// `sess:…`.
    pub session: String,
    /// `sotto_at_…`.
    pub access_token: Zeroizing<String>,
    /// Seconds the access token lives.
    pub expires_in: u64,
    /// `sotto_rt_…`, single use.
    pub refresh_token: Zeroizing<String>,
}

/// `{"account"}`.
#[derive(Debug, Deserialize)]
pub struct AccountView {
    /// `acct:…`.
    pub account: String,
}

/// `{"device"}`.
#[derive(Debug, Deserialize)]
pub struct DeviceIdView {
    /// `dev:…`.
    pub device: String,
}

/// One device in `GET /v1/devices` or the directory.
#[derive(Debug, Clone, Deserialize)]
pub struct DeviceView {
    /// `dev:…`.
    pub device: String,
    /// `pending`, `active` or `revoked`.
    pub state: String,
    /// Display name (unverified until the certificate is).
    pub name: String,
    /// SPKI, base64.
    pub signing_key: String,
    /// SPKI, base64.
    pub auth_key: String,
    /// Master-signed certificate, base64 (absent while pending).
    pub certificate: Option<String>,
    /// Device-signed exchange-key certificate, base64.
    pub exchange_key: Option<String>,
    /// Milliseconds since the epoch.
    pub created_at: i64,
}

/// `GET /v1/directory/{who}`.
#[derive(Debug, Deserialize)]
pub struct DirectoryView {
    /// Username.
    pub username: String,
    /// `acct:…`.
    pub account: String,
    /// Master key SPKI, base64.
    pub master_key: String,
    /// Active devices.
    pub devices: Vec<DeviceView>,
    /// Master-signed revocations, base64.
    pub revocations: Vec<String>,
}

/// `POST /v1/conversations` and `/changes`.
#[derive(Debug, Deserialize)]
pub struct ChangeStored {
    /// `conv:…`.
    pub conversation: String,
    /// The new epoch.
    pub epoch: u64,
}

/// One entry of a group log.
#[derive(Debug, Deserialize)]
pub struct ChangeView {
    /// Epoch of the change.
    pub epoch: u64,
    /// Signed change, base64.
    pub change: String,
}

/// `GET /v1/conversations/{c}`.
#[derive(Debug, Deserialize)]
pub struct ConversationView {
    /// The log from the requested epoch.
    pub changes: Vec<ChangeView>,
}

/// `POST /v1/conversations/{c}/messages`.
#[derive(Debug, Deserialize)]
pub struct SentView {
    /// Devices that got a copy.
    pub recipients: usize,
    /// Devices whose queue was full.
    #[serde(default)]
    pub queue_full: Vec<String>,
}

/// `POST /v1/conversations/{c}/attachments`.
#[derive(Debug, Deserialize)]
pub struct AttachmentView {
    /// `att:…`.
    pub attachment: String,
}

/// `POST /v1/ws/ticket`.
#[derive(Deserialize)]
pub struct TicketView {
    /// `sotto_wt_…`.
    pub ticket: Zeroizing<String>,
}
