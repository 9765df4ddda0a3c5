//! The JSON bodies of the server's API (`docs/api.md`): the `sotto-wire` types the server uses
//! too, re-exported here. Binary fields stay base64 text in them; [`b64`] and [`unb64`] convert
//! at the edge.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
pub use sotto_wire::api::*;
pub use sotto_wire::{AttachmentId, ErrorBody, ErrorCode, InviteCode, SessionId};

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
