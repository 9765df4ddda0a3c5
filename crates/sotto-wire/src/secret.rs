//! [`Secret`]: a password, token or ticket inside a wire type. It lives in a `Zeroizing` buffer,
//! is not `Clone` (a copy is a second place to wipe), and its `Debug` prints no secret, so a
//! request or frame can be logged with `{:?}` without leaking it.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

/// A secret string field (serialized as the plain JSON string). Not `PartialEq`: whoever checks
/// a secret compares it in constant time (the server compares token hashes).
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(Zeroizing::new(secret.into()))
    }

    /// The secret text, for the one place that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The zeroized buffer, for callers that keep the secret.
    pub fn into_inner(self) -> Zeroizing<String> {
        self.0
    }
}

impl From<Zeroizing<String>> for Secret {
    fn from(secret: Zeroizing<String>) -> Self {
        Self(secret)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(|s| Self(Zeroizing::new(s)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_the_secret_and_json_carries_it_plainly() {
        let s = Secret::new("sotto_at_hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, r#""sotto_at_hunter2""#);
        let back: Secret = serde_json::from_str(&json).unwrap();
        assert_eq!(back.expose(), "sotto_at_hunter2");
    }
}
