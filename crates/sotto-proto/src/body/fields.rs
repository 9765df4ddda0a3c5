//! The validated text fields of an attachment reference (`docs/protocol.md` §8.2): [`FileName`],
//! [`MediaType`] and [`BlobId`].
//!
//! Each field's rule lives in its constructor, and both directions go through it: the decoder
//! builds the field with the same constructor it hands to callers, and the encoder only ever sees
//! a constructed field. So an encoder cannot write a value its own decoder refuses (a file name
//! with a newline used to reach the recipient as `decryption-failed`), and a sender learns that a
//! value cannot be sent before anything is uploaded.

use std::fmt;

use crate::codec::{is_display_text, Reader, Writer};
use crate::error::{DecodeError, FieldError};

/// Bytes of an attachment's file name.
pub const MAX_FILE_NAME_LEN: usize = 255;
/// Bytes of an attachment's media type.
pub const MAX_MEDIA_TYPE_LEN: usize = 127;
/// Bytes of an attachment's blob id on the server.
pub const MAX_BLOB_ID_LEN: usize = 64;

/// `text` if it is at most `max` bytes long: the bound every field has.
pub(super) fn within(text: String, field: &'static str, max: usize) -> Result<String, FieldError> {
    if text.len() > max {
        return Err(FieldError::TooLong { field, max });
    }
    Ok(text)
}

/// The file name a recipient is offered on download: display text (`docs/protocol.md` §4.8) of 1
/// to 255 bytes. It reaches another user's screen and file system, so no control character
/// (a newline, an escape sequence), no bidirectional override and no surrounding whitespace.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct FileName(String);

impl FileName {
    const FIELD: &'static str = "file name";

    /// Checks `name` against the rule of §4.8 and the 255-byte bound.
    pub fn new(name: impl Into<String>) -> Result<Self, FieldError> {
        let name = within(name.into(), Self::FIELD, MAX_FILE_NAME_LEN)?;
        if !is_display_text(&name) {
            return Err(FieldError::NotDisplayText { field: Self::FIELD });
        }
        Ok(Self(name))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name, as an owned string.
    pub fn into_string(self) -> String {
        self.0
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        w.text(&self.0);
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self::new(r.text(Self::FIELD, MAX_FILE_NAME_LEN)?)?)
    }
}

// A file name is message content: debug output shows its length only.
impl fmt::Debug for FileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FileName(<{} bytes>)", self.0.len())
    }
}

/// The media type of an attachment (for previews): UTF-8 of at most 127 bytes. The receiver only
/// compares it with the types it can preview, so the protocol asks nothing more of it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct MediaType(String);

impl MediaType {
    const FIELD: &'static str = "media type";

    /// Checks `media_type` against the 127-byte bound.
    pub fn new(media_type: impl Into<String>) -> Result<Self, FieldError> {
        within(media_type.into(), Self::FIELD, MAX_MEDIA_TYPE_LEN).map(Self)
    }

    /// The media type.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The media type, as an owned string.
    pub fn into_string(self) -> String {
        self.0
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        w.text(&self.0);
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self::new(r.text(Self::FIELD, MAX_MEDIA_TYPE_LEN)?)?)
    }
}

impl fmt::Debug for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("MediaType").field(&self.0).finish()
    }
}

/// The server's id for an encrypted attachment blob: UTF-8 of at most 64 bytes. The server
/// chooses it; the receiver only sends it back to download the blob, whose hash the message
/// carries, so a wrong id fails the hash check and nothing more.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct BlobId(String);

impl BlobId {
    const FIELD: &'static str = "blob id";

    /// Checks `id` against the 64-byte bound.
    pub fn new(id: impl Into<String>) -> Result<Self, FieldError> {
        within(id.into(), Self::FIELD, MAX_BLOB_ID_LEN).map(Self)
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id, as an owned string.
    pub fn into_string(self) -> String {
        self.0
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        w.text(&self.0);
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self::new(r.text(Self::FIELD, MAX_BLOB_ID_LEN)?)?)
    }
}

impl fmt::Debug for BlobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("BlobId").field(&self.0).finish()
    }
}

impl TryFrom<String> for FileName {
    type Error = FieldError;
    fn try_from(value: String) -> Result<Self, FieldError> {
        Self::new(value)
    }
}

impl AsRef<str> for FileName {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl TryFrom<String> for MediaType {
    type Error = FieldError;
    fn try_from(value: String) -> Result<Self, FieldError> {
        Self::new(value)
    }
}

impl AsRef<str> for MediaType {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl TryFrom<String> for BlobId {
    type Error = FieldError;
    fn try_from(value: String) -> Result<Self, FieldError> {
        Self::new(value)
    }
}

impl AsRef<str> for BlobId {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_name_with_a_control_character_or_surrounding_space_is_refused() {
        for bad in [
            "a\nb.txt",
            "a\rb.txt",
            "tab\there",
            "esc\u{1b}[31m.txt",
            "nul\0.txt",
            "evil\u{202e}fdp.exe",
            " lead.txt",
            "trail.txt ",
            "",
        ] {
            assert_eq!(
                FileName::new(bad),
                Err(FieldError::NotDisplayText { field: "file name" }),
                "{bad:?}"
            );
        }
        assert_eq!(
            FileName::new("report 2026.pdf").unwrap().as_str(),
            "report 2026.pdf"
        );
    }

    #[test]
    fn every_field_is_bounded_in_bytes_not_characters() {
        // 128 characters of two bytes each: 256 bytes.
        assert!(FileName::new(format!("{}a", "é".repeat(127))).is_ok());
        assert_eq!(
            FileName::new("é".repeat(128)),
            Err(FieldError::TooLong {
                field: "file name",
                max: 255
            })
        );
        assert!(MediaType::new("a".repeat(127)).is_ok());
        assert!(MediaType::new("a".repeat(128)).is_err());
        assert!(BlobId::new("a".repeat(64)).is_ok());
        assert!(BlobId::new("a".repeat(65)).is_err());
    }

    #[test]
    fn a_refused_field_is_refused_by_the_decoder_with_the_matching_code() {
        let too_long = FileName::new("a".repeat(256)).unwrap_err();
        assert_eq!(DecodeError::from(too_long).code(), "decode/too-long");
        let control = FileName::new("a\nb").unwrap_err();
        assert_eq!(DecodeError::from(control).code(), "decode/invalid-value");
        assert_eq!(crate::Error::from(control).code(), "invalid-input");
    }

    #[test]
    fn debug_output_does_not_show_the_file_name() {
        let name = FileName::new("secret-merger-plan.pdf").unwrap();
        assert_eq!(format!("{name:?}"), "FileName(<22 bytes>)");
    }
}
