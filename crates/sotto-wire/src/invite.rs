//! [`InviteCode`]: a single-use invitation code (`registration = "invite"`), and its text form.
//!
//! A code is 16 random bytes (128 bits, drawn by the server). Its text is Crockford base32 —
//! digits and upper-case letters without I, L, O and U, so nothing reads two ways aloud — in
//! groups of five: `XXXXX-XXXXX-XXXXX-XXXXX-XXXXXX` (26 characters; the last carries two zero
//! bits). Parsing is forgiving where people are: any case, dashes and spaces anywhere or
//! nowhere, `I`/`L` read as `1` and `O` as `0`. It is strict where it matters: exactly 26
//! characters of the alphabet, zero padding bits, so one code has one byte value, and a bounded
//! input length. The code is a secret: zeroized on drop, not `Clone`, redacted in `Debug`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

/// Crockford's base32 alphabet.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Characters of a code's canonical text, without dashes (128 bits in 5-bit digits).
const DIGITS: usize = 26;

/// The longest text accepted: the digits with a separator between every two, plus room for
/// spaces around. Longer input is refused before it is looked at.
pub const MAX_INVITE_TEXT: usize = 64;

/// A text that is not an invitation code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BadInviteCode {
    /// Over [`MAX_INVITE_TEXT`] characters.
    #[error("an invitation code is at most {MAX_INVITE_TEXT} characters")]
    TooLong,
    /// A character outside the alphabet, dashes and spaces.
    #[error("an invitation code has only letters, digits and dashes")]
    BadCharacter,
    /// Not 26 digits, or non-zero padding bits.
    #[error("an invitation code has 26 letters and digits")]
    BadLength,
}

/// A single-use invitation code.
pub struct InviteCode(Zeroizing<[u8; 16]>);

impl InviteCode {
    /// The code for 16 random bytes.
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The code's bytes (what the server hashes).
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// The canonical text, for the one place that shows it.
    pub fn expose(&self) -> Zeroizing<String> {
        let mut text = Zeroizing::new(String::with_capacity(DIGITS + 4));
        let mut push = |value: u32| {
            let count = text.chars().filter(|c| *c != '-').count();
            if count > 0 && count % 5 == 0 && count < 25 {
                text.push('-');
            }
            text.push(symbol(value));
        };
        let mut acc: u32 = 0;
        let mut bits = 0;
        for &byte in self.0.iter() {
            acc = (acc << 8) | u32::from(byte);
            bits += 8;
            while bits >= 5 {
                bits -= 5;
                push(acc >> bits);
            }
            acc &= (1 << bits) - 1;
        }
        // 128 = 25 × 5 + 3: the last digit holds three bits and two zero bits.
        push(acc << (5 - bits));
        text
    }
}

/// The alphabet's symbol for the low 5 bits of `value`.
fn symbol(value: u32) -> char {
    ALPHABET
        .get((value & 31) as usize)
        .map_or('0', |&b| char::from(b))
}

/// One typed character's 5-bit value; `None` for a separator.
fn digit_value(c: u8) -> Result<Option<u8>, BadInviteCode> {
    let c = c.to_ascii_uppercase();
    let c = match c {
        b'-' | b' ' => return Ok(None),
        b'I' | b'L' => b'1',
        b'O' => b'0',
        other => other,
    };
    ALPHABET
        .iter()
        .position(|&a| a == c)
        .map(|p| Some(p as u8))
        .ok_or(BadInviteCode::BadCharacter)
}

impl FromStr for InviteCode {
    type Err = BadInviteCode;

    fn from_str(text: &str) -> Result<Self, BadInviteCode> {
        if text.len() > MAX_INVITE_TEXT {
            return Err(BadInviteCode::TooLong);
        }
        let mut bytes = Zeroizing::new([0u8; 16]);
        let mut acc: u32 = 0;
        let mut bits = 0;
        let mut digits = 0;
        let mut out = 0;
        for c in text.trim().bytes() {
            let Some(v) = digit_value(c)? else { continue };
            digits += 1;
            if digits > DIGITS {
                return Err(BadInviteCode::BadLength);
            }
            acc = (acc << 5) | u32::from(v);
            bits += 5;
            if bits >= 8 {
                bits -= 8;
                if let Some(slot) = bytes.get_mut(out) {
                    *slot = (acc >> bits) as u8;
                    out += 1;
                }
            }
            acc &= (1 << bits) - 1;
        }
        // Two bits remain after 16 bytes; they must be zero for the text to be canonical.
        if digits != DIGITS || out != 16 || bits != 2 || acc != 0 {
            return Err(BadInviteCode::BadLength);
        }
        Ok(Self(bytes))
    }
}

impl fmt::Debug for InviteCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InviteCode(<redacted>)")
    }
}

impl Serialize for InviteCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.expose())
    }
}

impl<'de> Deserialize<'de> for InviteCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = Zeroizing::new(String::deserialize(deserializer)?);
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_reads_back_from_its_text_typed_any_way_a_person_types_it() {
        for seed in [[0u8; 16], [0xff; 16], [0x5a; 16], *b"0123456789abcdef"] {
            let code = InviteCode::from_bytes(seed);
            let text = code.expose();
            assert_eq!(text.len(), 30);
            assert_eq!(text.matches('-').count(), 4);
            for typed in [
                text.to_string(),
                text.to_lowercase(),
                text.replace('-', ""),
                text.replace('-', " "),
                format!("  {}  ", text.replace('0', "o").replace('1', "l")),
            ] {
                let back: InviteCode = typed.parse().unwrap();
                assert_eq!(back.as_bytes(), &seed, "{typed}");
            }
        }
    }

    #[test]
    fn malformed_codes_are_refused_with_a_reason() {
        let text = InviteCode::from_bytes([7; 16]).expose().replace('-', "");
        assert_eq!(
            text[..25].parse::<InviteCode>().unwrap_err(),
            BadInviteCode::BadLength
        );
        assert_eq!(
            format!("{text}0").parse::<InviteCode>().unwrap_err(),
            BadInviteCode::BadLength
        );
        assert_eq!(
            format!("{}U", &text[..25])
                .parse::<InviteCode>()
                .unwrap_err(),
            BadInviteCode::BadCharacter
        );
        // The last digit carries two padding bits; set, they would be a second spelling.
        let last = ALPHABET
            .iter()
            .position(|&a| a == text.as_bytes()[25])
            .unwrap();
        let odd = char::from(ALPHABET[last | 1]);
        assert_eq!(
            format!("{}{odd}", &text[..25])
                .parse::<InviteCode>()
                .unwrap_err(),
            BadInviteCode::BadLength
        );
        assert_eq!(
            "-".repeat(65).parse::<InviteCode>().unwrap_err(),
            BadInviteCode::TooLong
        );
        assert!("é".repeat(10).parse::<InviteCode>().is_err());
    }

    #[test]
    fn debug_never_prints_the_code() {
        let code = InviteCode::from_bytes([0x42; 16]);
        let text = code.expose().to_string();
        assert!(!format!("{code:?}").contains(&text));
        let json = serde_json::to_string(&code).unwrap();
        assert_eq!(json, format!("\"{text}\""));
    }
}
