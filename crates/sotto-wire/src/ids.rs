//! The ids the server mints that are not protocol ids: a session (`sess:…`) and an attachment
//! (`att:…`), each 16 random bytes written as their prefix and 32 lower-case hex digits. One
//! spelling per id: upper-case digits would name the same session a second way (found by the
//! `server_text` fuzz target), so parsing refuses them. The protocol's ids (`dev:…`, `conv:…`,
//! `msg:…`, …) live in `sotto_proto::ids` and serialize the same way.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A text that is not an id of the expected kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("expected {prefix} and 32 lower-case hex digits")]
pub struct BadId {
    /// The prefix that was expected.
    pub prefix: &'static str,
}

/// A session's public identifier (not a secret, unlike its tokens).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub [u8; 16]);

/// An attachment's identifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AttachmentId(pub [u8; 16]);

/// A device hand-over waiting for its recipient.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HandoverId(pub [u8; 16]);

impl HandoverId {
    /// The text prefix.
    pub const PREFIX: &'static str = "ho:";
}

impl fmt::Display for HandoverId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", Self::PREFIX, hex::encode(self.0))
    }
}

impl FromStr for HandoverId {
    type Err = BadId;

    fn from_str(text: &str) -> Result<Self, BadId> {
        parse_hex16(text, Self::PREFIX).map(Self)
    }
}

impl Serialize for HandoverId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HandoverId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        id_from_text(deserializer)
    }
}

impl SessionId {
    /// The text prefix.
    pub const PREFIX: &'static str = "sess:";
}

impl AttachmentId {
    /// The text prefix.
    pub const PREFIX: &'static str = "att:";
}

/// Parses `prefix` and exactly 32 lower-case hex digits.
fn parse_hex16(text: &str, prefix: &'static str) -> Result<[u8; 16], BadId> {
    let bad = BadId { prefix };
    let digits = text.strip_prefix(prefix).ok_or(bad)?;
    let canonical = digits.len() == 32
        && digits
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !canonical {
        return Err(bad);
    }
    let mut out = [0u8; 16];
    hex::decode_to_slice(digits, &mut out).map_err(|_| bad)?;
    Ok(out)
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", Self::PREFIX, hex::encode(self.0))
    }
}

impl fmt::Display for AttachmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", Self::PREFIX, hex::encode(self.0))
    }
}

impl FromStr for SessionId {
    type Err = BadId;

    fn from_str(text: &str) -> Result<Self, BadId> {
        parse_hex16(text, Self::PREFIX).map(Self)
    }
}

impl FromStr for AttachmentId {
    type Err = BadId;

    fn from_str(text: &str) -> Result<Self, BadId> {
        parse_hex16(text, Self::PREFIX).map(Self)
    }
}

impl Serialize for SessionId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl Serialize for AttachmentId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Deserializes an id from a (possibly borrowed) string through its `FromStr`.
fn id_from_text<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr<Err = BadId>,
{
    let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
    text.parse().map_err(serde::de::Error::custom)
}

impl<'de> Deserialize<'de> for SessionId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        id_from_text(deserializer)
    }
}

impl<'de> Deserialize<'de> for AttachmentId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        id_from_text(deserializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_one_spelling_and_round_trip_through_json() {
        let s = SessionId([0xab; 16]);
        let text = s.to_string();
        assert_eq!(text, format!("sess:{}", "ab".repeat(16)));
        assert_eq!(text.parse::<SessionId>().unwrap(), s);
        assert!(text.to_uppercase().parse::<SessionId>().is_err());
        assert!(format!("sess:{}", "AB".repeat(16))
            .parse::<SessionId>()
            .is_err());
        assert!(text.replace("sess:", "att:").parse::<SessionId>().is_err());
        assert!("sess:ab".parse::<SessionId>().is_err());
        let a = AttachmentId([7; 16]);
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(serde_json::from_str::<AttachmentId>(&json).unwrap(), a);
        assert!(serde_json::from_str::<AttachmentId>(r#""att:/etc/passwd""#).is_err());
        let h = HandoverId([0xab; 16]);
        assert_eq!(h.to_string(), format!("ho:{}", "ab".repeat(16)));
        assert_eq!(h.to_string().parse::<HandoverId>().unwrap(), h);
        assert!("ho:AB".parse::<HandoverId>().is_err());
    }
}
