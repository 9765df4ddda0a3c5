//! Typed identifiers. Key-derived ids hash the public key's SPKI together with the id's type, so
//! the same key yields unrelated ids of different types, and the text form carries a type prefix
//! (`acct:`, `dev:`, `xkey:`, `auth:`, `conv:`, `chain:`, `msg:`, `pk:`), so one kind of id can never be
//! read as another. Random ids (conversations, chains, messages, prekeys) come from the caller's
//! [`crate::env::Rng`].

use std::fmt;
use std::str::FromStr;

use crate::codec::{Reader, Writer};
use crate::crypto::sha256_parts;
use crate::domain::Domain;
use crate::error::DecodeError;

/// The value of one lower-case hex digit.
const fn hex_digit(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        _ => None,
    }
}

/// The lower-case hex digit of a nibble (`0..16`).
const fn hex_char(nibble: u8) -> u8 {
    if nibble < 10 {
        b'0' + nibble
    } else {
        b'a' + nibble - 10
    }
}

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident, $len:expr, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name([u8; $len]);

        impl $name {
            /// Bytes in the binary form.
            pub const LEN: usize = $len;
            /// The text form's type prefix.
            pub const PREFIX: &'static str = $prefix;

            /// Wraps raw bytes read from a trusted encoding.
            pub const fn from_bytes(bytes: [u8; $len]) -> Self {
                Self(bytes)
            }

            /// The raw bytes.
            pub const fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            /// Writes the binary form.
            pub fn encode(&self, writer: &mut Writer) {
                writer.fixed(&self.0);
            }

            /// Reads the binary form.
            pub fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
                reader.array().map(Self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // One write of the whole hex text instead of one formatted write per byte
                // (ids are written into every relayed frame).
                let mut text = [0u8; $len * 2];
                for (pair, byte) in text.chunks_exact_mut(2).zip(self.0) {
                    if let [high, low] = pair {
                        *high = hex_char(byte >> 4);
                        *low = hex_char(byte & 0x0f);
                    }
                }
                f.write_str($prefix)?;
                f.write_str(core::str::from_utf8(&text).map_err(|_| fmt::Error)?)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        }

        impl FromStr for $name {
            type Err = DecodeError;

            /// Parses the text form; a missing or different type prefix is refused.
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                let invalid = DecodeError::InvalidValue { field: stringify!($name) };
                let hex = text.strip_prefix($prefix).ok_or(invalid.clone())?;
                if hex.len() != 2 * $len {
                    return Err(invalid);
                }
                let mut out = [0u8; $len];
                for (slot, pair) in out.iter_mut().zip(hex.as_bytes().chunks_exact(2)) {
                    // Only lower-case hex digits are canonical, so each id has one text form
                    // (`from_str_radix` alone would also take `+f` and `F`).
                    *slot = match pair {
                        [high, low] => match (hex_digit(*high), hex_digit(*low)) {
                            (Some(high), Some(low)) => high << 4 | low,
                            _ => return Err(invalid),
                        },
                        _ => return Err(invalid),
                    };
                }
                Ok(Self(out))
            }
        }

        #[cfg(feature = "serde")]
        impl serde::Serialize for $name {
            /// The text form, so JSON frames and stored state stay typed and readable.
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        #[cfg(feature = "serde")]
        impl<'de> serde::Deserialize<'de> for $name {
            /// Parses the text form; a wrong prefix or a non-canonical text is refused.
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct Visit;
                impl serde::de::Visitor<'_> for Visit {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        write!(f, "a {} id ({}…)", stringify!($name), $prefix)
                    }
                    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<$name, E> {
                        text.parse().map_err(|_| E::invalid_value(serde::de::Unexpected::Str(text), &self))
                    }
                }
                deserializer.deserialize_str(Visit)
            }
        }
    };
}

typed_id!(
    /// An account, identified by its master signing key.
    AccountId, 32, "acct:"
);
typed_id!(
    /// A device, identified by its device signing key.
    DeviceId, 32, "dev:"
);
typed_id!(
    /// A device exchange (RSA-OAEP) key.
    ExchangeKeyId, 32, "xkey:"
);
typed_id!(
    /// A device auth key, used only to answer server login challenges.
    AuthKeyId, 32, "auth:"
);
typed_id!(
    /// A conversation (1:1 or group), chosen at random by its creator.
    ConversationId, 16, "conv:"
);
typed_id!(
    /// A sender chain, chosen at random by its owner.
    ChainId, 16, "chain:"
);
typed_id!(
    /// A message, chosen at random by its sender; the relay's de-duplication key.
    MessageId, 16, "msg:"
);
typed_id!(
    /// A prekey (an ECDH and an ML-KEM key pair made together), chosen at random by the device
    /// that makes it (`docs/protocol.md` §18.2).
    PrekeyId, 16, "pk:"
);

impl PrekeyId {
    /// A fresh random prekey id.
    pub fn random(env: &mut crate::env::Env<'_>) -> Result<Self, crate::error::Error> {
        Ok(Self(env.random()?))
    }
}

/// The type tag hashed into a key-derived id.
#[derive(Clone, Copy)]
enum KeyIdKind {
    Account,
    Device,
    Exchange,
    Auth,
}

impl KeyIdKind {
    fn tag(self) -> &'static [u8] {
        match self {
            Self::Account => b"acct",
            Self::Device => b"dev",
            Self::Exchange => b"xkey",
            Self::Auth => b"auth",
        }
    }
}

/// `SHA-256(domain("sotto/id") ‖ u8 len ‖ kind ‖ u32 len ‖ spki)`.
fn key_id(kind: KeyIdKind, spki: &[u8]) -> [u8; 32] {
    let mut writer = Writer::default();
    writer.domain(Domain::Identifier);
    let tag = kind.tag();
    writer.u8(tag.len() as u8);
    writer.fixed(tag);
    writer.bytes(spki);
    sha256_parts(&[&writer.finish()])
}

impl AccountId {
    /// The id of the account whose master key has this SPKI.
    pub fn from_master_spki(spki: &[u8]) -> Self {
        Self(key_id(KeyIdKind::Account, spki))
    }
}

impl DeviceId {
    /// The id of the device whose signing key has this SPKI.
    pub fn from_signing_spki(spki: &[u8]) -> Self {
        Self(key_id(KeyIdKind::Device, spki))
    }
}

impl ExchangeKeyId {
    /// The id of this exchange key.
    pub fn from_spki(spki: &[u8]) -> Self {
        Self(key_id(KeyIdKind::Exchange, spki))
    }
}

impl AuthKeyId {
    /// The id of this auth key.
    pub fn from_spki(spki: &[u8]) -> Self {
        Self(key_id(KeyIdKind::Auth, spki))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_key_gives_unrelated_ids_per_type() {
        let spki = b"pretend spki";
        let a = AccountId::from_master_spki(spki);
        let d = DeviceId::from_signing_spki(spki);
        let x = ExchangeKeyId::from_spki(spki);
        assert_ne!(a.as_bytes(), d.as_bytes());
        assert_ne!(d.as_bytes(), x.as_bytes());
        assert_ne!(x.as_bytes(), AuthKeyId::from_spki(spki).as_bytes());
    }

    #[test]
    fn text_form_round_trips_and_checks_the_prefix() {
        let d = DeviceId::from_signing_spki(b"k");
        let text = d.to_string();
        assert!(text.starts_with("dev:"));
        assert_eq!(text.parse::<DeviceId>().unwrap(), d);
        let as_account = text.replacen("dev:", "acct:", 1);
        assert!(as_account.parse::<DeviceId>().is_err());
        assert!(as_account.parse::<AccountId>().is_ok());
        assert!(text.to_uppercase().parse::<DeviceId>().is_err());
        assert!("dev:zz".parse::<DeviceId>().is_err());
        assert!("dev:é".parse::<DeviceId>().is_err());
    }

    #[cfg(feature = "serde")]
    #[test]
    fn json_carries_the_text_form_and_refuses_another_type() {
        let d = DeviceId::from_signing_spki(b"k");
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, format!("\"{d}\""));
        assert_eq!(serde_json::from_str::<DeviceId>(&json).unwrap(), d);
        let as_account = json.replacen("dev:", "acct:", 1);
        assert!(serde_json::from_str::<DeviceId>(&as_account).is_err());
        assert!(serde_json::from_str::<DeviceId>(&json.to_uppercase()).is_err());
        assert!(serde_json::from_str::<DeviceId>("7").is_err());
    }
}
