//! Bounded decoding: every JSON text a peer sends is checked against a size cap before the
//! parser sees it, and a refusal is a typed [`DecodeError`] with a stable code. The server's
//! transport caps WebSocket messages and request bodies before they are buffered; this is the
//! same rule for everyone else that reads these types (clients, tools, fuzz targets).

use serde::Deserialize;

/// Why a JSON text was refused.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The text is longer than the cap.
    #[error("JSON text of {len} bytes is over the cap of {max}")]
    TooLarge {
        /// The text's length in bytes.
        len: usize,
        /// The cap.
        max: usize,
    },
    /// The text is not the JSON of this type.
    #[error("malformed JSON: {source}")]
    Malformed {
        /// The parser's complaint.
        #[source]
        source: serde_json::Error,
    },
}

impl DecodeError {
    /// A stable code for logs and tests.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "wire/too-large",
            Self::Malformed { .. } => "wire/malformed",
        }
    }
}

/// Parses `text` as a `T` if it is at most `max` bytes long (borrowing from `text` where the
/// type allows).
pub fn from_json<'a, T: Deserialize<'a>>(text: &'a str, max: usize) -> Result<T, DecodeError> {
    if text.len() > max {
        return Err(DecodeError::TooLarge {
            len: text.len(),
            max,
        });
    }
    serde_json::from_str(text).map_err(|source| DecodeError::Malformed { source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frames::ClientFrame;

    #[test]
    fn a_text_over_the_cap_is_refused_before_parsing() {
        let ping = r#"{"type":"ping"}"#;
        assert!(from_json::<ClientFrame<'_>>(ping, ping.len()).is_ok());
        let e = from_json::<ClientFrame<'_>>(ping, ping.len() - 1).unwrap_err();
        assert_eq!(e.code(), "wire/too-large");
        let e = from_json::<ClientFrame<'_>>(r#"{"type":"pong"}"#, 100).unwrap_err();
        assert_eq!(e.code(), "wire/malformed");
    }
}
