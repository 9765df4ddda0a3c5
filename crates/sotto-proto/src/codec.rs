//! The one canonical binary encoding every Sotto structure uses.
//!
//! Integers are big-endian and fixed width; byte strings and text carry a length prefix; lists carry
//! a count prefix. Every structure that is signed, encrypted or hashed begins with its context label
//! and version (see [`crate::domain`]), so two kinds of structure never share bytes. The decoder is
//! bounded: each variable-length field has a maximum checked *before* anything is allocated, there
//! is no recursion (nesting depth is fixed by the structure definitions), and trailing bytes are an
//! error. Nothing here panics on any input.

use crate::domain::Domain;
use crate::error::DecodeError;

/// Appends canonical encodings to a byte buffer.
#[derive(Debug, Default)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// Starts a structure: its context label and the protocol version.
    pub fn for_domain(domain: Domain) -> Self {
        let mut writer = Self::default();
        writer.domain(domain);
        writer
    }

    /// Writes a context label (length-prefixed ASCII) followed by its version byte.
    pub fn domain(&mut self, domain: Domain) {
        let label = domain.label().as_bytes();
        // Labels are compile-time constants far shorter than 255 bytes.
        self.buf.push(label.len() as u8);
        self.buf.extend_from_slice(label);
        self.buf.push(domain.version());
    }

    /// Writes one byte.
    pub fn u8(&mut self, value: u8) {
        self.buf.push(value);
    }

    /// Writes a big-endian `u16`.
    pub fn u16(&mut self, value: u16) {
        self.buf.extend_from_slice(&value.to_be_bytes());
    }

    /// Writes a big-endian `u32`.
    pub fn u32(&mut self, value: u32) {
        self.buf.extend_from_slice(&value.to_be_bytes());
    }

    /// Writes a big-endian `u64`.
    pub fn u64(&mut self, value: u64) {
        self.buf.extend_from_slice(&value.to_be_bytes());
    }

    /// Writes a boolean as `0x00` or `0x01`.
    pub fn bool(&mut self, value: bool) {
        self.buf.push(u8::from(value));
    }

    /// Writes bytes whose length is fixed by the structure (no prefix).
    pub fn fixed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Writes a byte string with a `u32` length prefix.
    ///
    /// Callers only pass values that already respect the field's bound, so the length fits.
    pub fn bytes(&mut self, bytes: &[u8]) {
        self.u32(u32::try_from(bytes.len()).unwrap_or(u32::MAX));
        self.buf.extend_from_slice(bytes);
    }

    /// Writes UTF-8 text with a `u16` length prefix.
    pub fn text(&mut self, text: &str) {
        self.u16(u16::try_from(text.len()).unwrap_or(u16::MAX));
        self.buf.extend_from_slice(text.as_bytes());
    }

    /// Writes a list count as a `u16`.
    pub fn count(&mut self, count: usize) {
        self.u16(u16::try_from(count).unwrap_or(u16::MAX));
    }

    /// Finishes and returns the encoding.
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
}

/// Reads canonical encodings from a byte slice, never past its end.
#[derive(Debug)]
pub struct Reader<'a> {
    input: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Reads from `input`.
    pub fn new(input: &'a [u8]) -> Self {
        Self { input }
    }

    /// Opens a structure: checks that it starts with `expected`'s label and version.
    pub fn for_domain(input: &'a [u8], expected: Domain) -> Result<Self, DecodeError> {
        let mut reader = Self::new(input);
        reader.expect_domain(expected)?;
        Ok(reader)
    }

    /// Checks the next label and version against `expected`.
    ///
    /// A label that belongs to another structure is [`DecodeError::WrongDomain`]; the right label
    /// with another version is [`DecodeError::UnsupportedVersion`]: there is no fallback.
    pub fn expect_domain(&mut self, expected: Domain) -> Result<(), DecodeError> {
        let len = usize::from(self.u8()?);
        let label = self.take(len)?;
        let version = self.u8()?;
        if label != expected.label().as_bytes() {
            return Err(DecodeError::WrongDomain {
                expected: expected.label(),
            });
        }
        if version != expected.version() {
            return Err(DecodeError::UnsupportedVersion {
                domain: expected.label(),
                got: version,
            });
        }
        Ok(())
    }

    /// Opens a structure that has two versions (`docs/protocol.md` §18.1): checks the label
    /// (shared by `v1` and `v2`) and returns the version read, 1 or 2. Any other version is
    /// [`DecodeError::UnsupportedVersion`].
    pub fn for_versioned_domain(
        input: &'a [u8],
        v1: Domain,
        v2: Domain,
    ) -> Result<(Self, u8), DecodeError> {
        debug_assert_eq!(v1.label(), v2.label());
        let mut reader = Self::new(input);
        let len = usize::from(reader.u8()?);
        let label = reader.take(len)?;
        let version = reader.u8()?;
        if label != v1.label().as_bytes() {
            return Err(DecodeError::WrongDomain {
                expected: v1.label(),
            });
        }
        if version != v1.version() && version != v2.version() {
            return Err(DecodeError::UnsupportedVersion {
                domain: v1.label(),
                got: version,
            });
        }
        Ok((reader, version))
    }

    /// Takes exactly `len` bytes.
    pub fn take(&mut self, len: usize) -> Result<&'a [u8], DecodeError> {
        if len > self.input.len() {
            return Err(DecodeError::Truncated);
        }
        let (head, tail) = self.input.split_at(len);
        self.input = tail;
        Ok(head)
    }

    /// Takes a fixed-size array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let bytes = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    /// Reads one byte.
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(u8::from_be_bytes(self.array()?))
    }

    /// Reads a big-endian `u16`.
    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    /// Reads a big-endian `u32`.
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// Reads a big-endian `u64`.
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// Reads a boolean; any byte other than `0x00`/`0x01` is non-canonical and rejected.
    pub fn bool(&mut self) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError::InvalidValue { field: "bool" }),
        }
    }

    /// Reads a `u32`-prefixed byte string of at most `max` bytes.
    pub fn bytes(&mut self, field: &'static str, max: usize) -> Result<&'a [u8], DecodeError> {
        let len = usize::try_from(self.u32()?).map_err(|_| DecodeError::TooLong { field, max })?;
        if len > max {
            return Err(DecodeError::TooLong { field, max });
        }
        self.take(len)
    }

    /// Reads `u16`-prefixed UTF-8 text of at most `max` bytes.
    pub fn text(&mut self, field: &'static str, max: usize) -> Result<&'a str, DecodeError> {
        let len = usize::from(self.u16()?);
        if len > max {
            return Err(DecodeError::TooLong { field, max });
        }
        std::str::from_utf8(self.take(len)?).map_err(|_| DecodeError::InvalidUtf8 { field })
    }

    /// Reads display text (a name): UTF-8, 1 to `max` bytes, no control characters, no leading or
    /// trailing whitespace. Names reach other users' screens, so they are checked where decoded.
    pub fn display_text(
        &mut self,
        field: &'static str,
        max: usize,
    ) -> Result<&'a str, DecodeError> {
        let text = self.text(field, max)?;
        if is_display_text(text) {
            Ok(text)
        } else {
            Err(DecodeError::InvalidValue { field })
        }
    }

    /// Reads a `u16` list count of at most `max` items.
    pub fn count(&mut self, field: &'static str, max: usize) -> Result<usize, DecodeError> {
        let count = usize::from(self.u16()?);
        if count > max {
            return Err(DecodeError::TooMany { field, max });
        }
        Ok(count)
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.input.len()
    }

    /// Ends the structure: trailing bytes are an error, so every value has one encoding.
    pub fn finish(self) -> Result<(), DecodeError> {
        if self.input.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes {
                count: self.input.len(),
            })
        }
    }
}

/// Code points refused anywhere in a name (protocol §4.8), as inclusive ranges: control
/// characters (Cc), the line and paragraph separators (Zl, Zp), and every format character
/// (Cf, as of Unicode 17.0) except the zero-width non-joiner and joiner (U+200C, U+200D), which
/// Persian, Indic scripts and emoji sequences need and which reorder and hide nothing. The list
/// is spelled out, not taken from a Unicode table, so every implementation and every Unicode
/// version refuses exactly the same names.
pub const REFUSED_IN_NAMES: [(char, char); 24] = [
    ('\u{0000}', '\u{001f}'),
    ('\u{007f}', '\u{009f}'),
    ('\u{00ad}', '\u{00ad}'),
    ('\u{0600}', '\u{0605}'),
    ('\u{061c}', '\u{061c}'),
    ('\u{06dd}', '\u{06dd}'),
    ('\u{070f}', '\u{070f}'),
    ('\u{0890}', '\u{0891}'),
    ('\u{08e2}', '\u{08e2}'),
    ('\u{180e}', '\u{180e}'),
    ('\u{200b}', '\u{200b}'),
    ('\u{200e}', '\u{200f}'),
    ('\u{2028}', '\u{202e}'), // U+2028 Zl, U+2029 Zp, then the bidi embeddings and overrides
    ('\u{2060}', '\u{2064}'),
    ('\u{2066}', '\u{206f}'),
    ('\u{feff}', '\u{feff}'),
    ('\u{fff9}', '\u{fffb}'),
    ('\u{110bd}', '\u{110bd}'),
    ('\u{110cd}', '\u{110cd}'),
    ('\u{13430}', '\u{1343f}'),
    ('\u{1bca0}', '\u{1bca3}'),
    ('\u{1d173}', '\u{1d17a}'),
    ('\u{e0001}', '\u{e0001}'),
    ('\u{e0020}', '\u{e007f}'),
];

/// Whether `text` is acceptable as a name (protocol §4.8): non-empty, no leading or trailing
/// white space (Unicode `White_Space`), and none of [`REFUSED_IN_NAMES`] anywhere — no control
/// character, no bidirectional override or isolate that could make it read as something else,
/// no invisible format character.
pub fn is_display_text(text: &str) -> bool {
    !text.is_empty()
        && text.trim() == text
        && !text.chars().any(|c| {
            REFUSED_IN_NAMES
                .iter()
                .any(|(lo, hi)| (*lo..=*hi).contains(&c))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_primitive() {
        let mut w = Writer::for_domain(Domain::DeviceCertificate);
        w.u8(7);
        w.u16(0x0102);
        w.u32(0x0304_0506);
        w.u64(0x0708_090a_0b0c_0d0e);
        w.bool(true);
        w.bytes(b"abc");
        w.text("héllo");
        w.count(2);
        let bytes = w.finish();
        let mut r = Reader::for_domain(&bytes, Domain::DeviceCertificate).unwrap();
        assert_eq!(r.u8().unwrap(), 7);
        assert_eq!(r.u16().unwrap(), 0x0102);
        assert_eq!(r.u32().unwrap(), 0x0304_0506);
        assert_eq!(r.u64().unwrap(), 0x0708_090a_0b0c_0d0e);
        assert!(r.bool().unwrap());
        assert_eq!(r.bytes("b", 3).unwrap(), b"abc");
        assert_eq!(r.text("t", 16).unwrap(), "héllo");
        assert_eq!(r.count("c", 2).unwrap(), 2);
        r.finish().unwrap();
    }

    #[test]
    fn names_refuse_controls_and_format_characters_but_keep_the_joiners() {
        for pair in REFUSED_IN_NAMES.windows(2) {
            assert!(
                pair[0].0 <= pair[0].1 && pair[0].1 < pair[1].0,
                "sorted, disjoint"
            );
        }
        for ok in [
            "alice",
            "a b",
            "\u{644}\u{67e}\u{200c}\u{62a}",
            "\u{1f469}\u{200d}\u{1f4bb}",
        ] {
            assert!(is_display_text(ok), "{ok:?}");
        }
        for bad in [
            "",
            " a",
            "a\u{a0}",
            "a\u{202e}b",
            "a\u{200b}b",
            "\u{feff}a",
            "a\u{2028}b",
            "a\u{e0041}",
            "a\u{7f}b",
        ] {
            assert!(!is_display_text(bad), "{bad:?}");
        }
    }

    #[test]
    fn rejects_wrong_context_and_version() {
        let bytes = Writer::for_domain(Domain::Envelope).finish();
        assert!(matches!(
            Reader::for_domain(&bytes, Domain::KeyDistribution),
            Err(DecodeError::WrongDomain { .. })
        ));
        let mut bad = bytes.clone();
        let last = bad.len() - 1;
        bad[last] = 0;
        assert!(matches!(
            Reader::for_domain(&bad, Domain::Envelope),
            Err(DecodeError::UnsupportedVersion { got: 0, .. })
        ));
    }

    #[test]
    fn length_bound_is_checked_before_reading() {
        let mut w = Writer::default();
        w.u32(u32::MAX);
        let bytes = w.finish();
        assert!(matches!(
            Reader::new(&bytes).bytes("blob", 1024),
            Err(DecodeError::TooLong { max: 1024, .. })
        ));
    }

    #[test]
    fn non_canonical_bool_and_trailing_bytes_are_rejected() {
        assert!(Reader::new(&[2]).bool().is_err());
        let mut r = Reader::new(&[1, 2]);
        r.u8().unwrap();
        assert!(matches!(
            r.finish(),
            Err(DecodeError::TrailingBytes { count: 1 })
        ));
    }
}
