//! The plaintext inside an envelope, and the padding that hides its exact length
//! (`docs/protocol.md` §8).
//!
//! Padding: `body ‖ 0x80 ‖ 0x00…` up to the bucket size, the smallest power of two that is at least
//! 256 and greater than the body's length. The receiver checks the padding after decryption; any
//! malformation is the same uniform [`Error::DecryptionFailed`] as a failed tag.
//!
//! Every field with a rule of its own is a type whose constructor holds the rule ([`fields`]), so
//! whatever [`MessageBody::encode`] accepts, [`MessageBody::decode`] accepts too.

pub mod fields;

use zeroize::Zeroizing;

use crate::codec::{Reader, Writer};
use crate::domain::Domain;
use crate::error::{DecodeError, Error};
use crate::group::NameReveal;
use crate::ids::MessageId;
use crate::limits::{MAX_BODY_LEN, MAX_PADDED_LEN};

pub use fields::{
    BlobId, FileName, MediaType, MAX_BLOB_ID_LEN, MAX_FILE_NAME_LEN, MAX_MEDIA_TYPE_LEN,
};

/// The smallest padding bucket.
pub const MIN_PADDED_LEN: usize = 256;
/// The padding delimiter.
const PAD_MARK: u8 = 0x80;
/// Message ids a receipt may name.
pub const MAX_RECEIPT_IDS: usize = 256;

/// What a receipt reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReceiptKind {
    /// The messages reached a device of the reader.
    Delivered,
    /// The reader displayed the messages.
    Read,
}

/// An attachment reference: everything a recipient needs to fetch and decrypt the blob.
#[derive(Clone, PartialEq, Eq)]
pub struct AttachmentRef {
    /// The server's id for the encrypted blob.
    pub blob_id: BlobId,
    /// The file name to offer on download.
    pub file_name: FileName,
    /// The media type (for previews).
    pub media_type: MediaType,
    /// Plaintext size in bytes.
    pub size: u64,
    /// The attachment secret (see [`crate::attachment`]).
    pub secret: Zeroizing<[u8; 32]>,
    /// SHA-256 of the encrypted blob.
    pub ciphertext_sha256: [u8; 32],
}

impl std::fmt::Debug for AttachmentRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttachmentRef")
            .field("blob_id", &self.blob_id)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

/// The content of a message.
///
/// Exhaustive on purpose: a new kind is a compile error at every `match` that must handle it
/// (the receiver's inbox, the sender's outbox, the debug output), never a silent fallback.
#[derive(Clone, PartialEq, Eq)]
pub enum MessageBody {
    /// A text message.
    Text(String),
    /// A file, with an optional caption.
    Attachment {
        /// The reference to the encrypted blob.
        attachment: AttachmentRef,
        /// A caption (may be empty).
        caption: String,
    },
    /// Delivery or read receipts for earlier messages.
    Receipt {
        /// What the receipt reports.
        kind: ReceiptKind,
        /// The messages it covers.
        messages: Vec<MessageId>,
    },
    /// A group's name and the salt of its commitment in the log (`docs/protocol.md` §6.5):
    /// checked against the verified state, never shown as a message.
    GroupName(NameReveal),
}

impl std::fmt::Debug for MessageBody {
    // The text of a message is never printed, even in debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Text(text) => write!(f, "Text(<{} bytes>)", text.len()),
            Self::Attachment { attachment, .. } => {
                f.debug_tuple("Attachment").field(attachment).finish()
            }
            Self::Receipt { kind, messages } => f
                .debug_struct("Receipt")
                .field("kind", kind)
                .field("messages", &messages.len())
                .finish(),
            Self::GroupName(reveal) => f.debug_tuple("GroupName").field(reveal).finish(),
        }
    }
}

impl MessageBody {
    const TEXT: u8 = 0x01;
    const ATTACHMENT: u8 = 0x02;
    const RECEIPT: u8 = 0x03;
    const GROUP_NAME: u8 = 0x04;

    /// The canonical encoding (before padding).
    pub fn encode(&self) -> Result<Zeroizing<Vec<u8>>, Error> {
        let mut w = Writer::for_domain(Domain::MessageBody);
        match self {
            Self::Text(text) => {
                w.u8(Self::TEXT);
                w.bytes(text.as_bytes());
            }
            Self::Attachment {
                attachment,
                caption,
            } => {
                w.u8(Self::ATTACHMENT);
                attachment.blob_id.encode(&mut w);
                attachment.file_name.encode(&mut w);
                attachment.media_type.encode(&mut w);
                w.u64(attachment.size);
                w.fixed(attachment.secret.as_ref());
                w.fixed(&attachment.ciphertext_sha256);
                w.bytes(caption.as_bytes());
            }
            Self::Receipt { kind, messages } => {
                if messages.len() > MAX_RECEIPT_IDS {
                    return Err(Error::InvalidInput {
                        field: "receipt",
                        reason: "names too many messages",
                    });
                }
                w.u8(Self::RECEIPT);
                w.u8(match kind {
                    ReceiptKind::Delivered => 1,
                    ReceiptKind::Read => 2,
                });
                w.count(messages.len());
                for id in messages {
                    id.encode(&mut w);
                }
            }
            Self::GroupName(reveal) => {
                w.u8(Self::GROUP_NAME);
                reveal.encode(&mut w);
            }
        }
        let bytes = Zeroizing::new(w.finish());
        if bytes.len() > MAX_BODY_LEN {
            return Err(Error::InvalidInput {
                field: "message body",
                reason: "longer than 64 KiB",
            });
        }
        Ok(bytes)
    }

    /// Decodes a body. A body longer than any honest sender can encode is refused.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        if bytes.len() > MAX_BODY_LEN {
            return Err(DecodeError::TooLong {
                field: "message body",
                max: MAX_BODY_LEN,
            });
        }
        let mut r = Reader::for_domain(bytes, Domain::MessageBody)?;
        let body = match r.u8()? {
            Self::TEXT => Self::Text(utf8(r.bytes("text", MAX_BODY_LEN)?, "text")?),
            Self::ATTACHMENT => Self::Attachment {
                attachment: AttachmentRef {
                    blob_id: BlobId::decode(&mut r)?,
                    file_name: FileName::decode(&mut r)?,
                    media_type: MediaType::decode(&mut r)?,
                    size: r.u64()?,
                    secret: Zeroizing::new(r.array()?),
                    ciphertext_sha256: r.array()?,
                },
                caption: utf8(r.bytes("caption", MAX_BODY_LEN)?, "caption")?,
            },
            Self::RECEIPT => {
                let kind = match r.u8()? {
                    1 => ReceiptKind::Delivered,
                    2 => ReceiptKind::Read,
                    tag => {
                        return Err(DecodeError::UnknownTag {
                            field: "receipt kind",
                            tag,
                        })
                    }
                };
                let count = r.count("receipt ids", MAX_RECEIPT_IDS)?;
                let messages = (0..count)
                    .map(|_| MessageId::decode(&mut r))
                    .collect::<Result<_, _>>()?;
                Self::Receipt { kind, messages }
            }
            Self::GROUP_NAME => Self::GroupName(NameReveal::decode(&mut r)?),
            tag => {
                return Err(DecodeError::UnknownTag {
                    field: "body kind",
                    tag,
                })
            }
        };
        r.finish()?;
        Ok(body)
    }
}

fn utf8(bytes: &[u8], field: &'static str) -> Result<String, DecodeError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError::InvalidUtf8 { field })
}

/// The padded length of a body of `len` bytes.
pub fn padded_len(len: usize) -> usize {
    (len + 1).next_power_of_two().max(MIN_PADDED_LEN)
}

/// Pads an encoded body to its bucket.
pub fn pad(body: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
    let target = padded_len(body.len());
    if target > MAX_PADDED_LEN {
        return Err(Error::InvalidInput {
            field: "message body",
            reason: "too long to pad",
        });
    }
    let mut out = Zeroizing::new(Vec::with_capacity(target));
    out.extend_from_slice(body);
    out.push(PAD_MARK);
    out.resize(target, 0);
    Ok(out)
}

/// Removes the padding, checking it is exactly what [`pad`] produces.
pub fn unpad(padded: &[u8]) -> Result<&[u8], Error> {
    let mark = padded
        .iter()
        .rposition(|&b| b != 0)
        .ok_or(Error::DecryptionFailed)?;
    let (body, rest) = padded.split_at(mark);
    if rest.first() != Some(&PAD_MARK) || padded.len() != padded_len(body.len()) {
        return Err(Error::DecryptionFailed);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_hides_length_within_a_bucket() {
        assert_eq!(padded_len(0), 256);
        assert_eq!(padded_len(255), 256);
        assert_eq!(padded_len(256), 512);
        let a = pad(b"hi").unwrap();
        let b = pad(&[7u8; 200]).unwrap();
        assert_eq!(a.len(), b.len());
        assert_eq!(unpad(&a).unwrap(), b"hi");
        assert_eq!(unpad(&pad(&[]).unwrap()).unwrap(), b"");
    }

    #[test]
    fn malformed_padding_is_refused() {
        let mut p = pad(b"hi").unwrap().to_vec();
        let last = p.len() - 1;
        p[last] = 1;
        assert!(unpad(&p).is_err());
        assert!(unpad(&[0u8; 256]).is_err());
        let mut short = pad(b"hi").unwrap().to_vec();
        short.truncate(128);
        assert!(unpad(&short).is_err());
    }

    #[test]
    fn bodies_round_trip() {
        let bodies = [
            MessageBody::Text("héllo".into()),
            MessageBody::Receipt {
                kind: ReceiptKind::Read,
                messages: vec![MessageId::from_bytes([3; 16])],
            },
            MessageBody::Attachment {
                attachment: AttachmentRef {
                    blob_id: BlobId::new("blob1").unwrap(),
                    file_name: FileName::new("a.png").unwrap(),
                    media_type: MediaType::new("image/png").unwrap(),
                    size: 10,
                    secret: Zeroizing::new([1; 32]),
                    ciphertext_sha256: [2; 32],
                },
                caption: String::new(),
            },
            MessageBody::GroupName(NameReveal {
                epoch: 4,
                salt: [5; 32],
                name: crate::group::GroupName::new("Project Sotto").unwrap(),
            }),
        ];
        for body in bodies {
            let bytes = body.encode().unwrap();
            assert_eq!(MessageBody::decode(&bytes).unwrap(), body);
        }
    }

    /// The bytes an encoder without the field types wrote for a file name with a newline: the
    /// attachment body exactly as before, with `name` in place of the file name.
    fn attachment_bytes_named(name: &str) -> Vec<u8> {
        let mut w = Writer::for_domain(Domain::MessageBody);
        w.u8(MessageBody::ATTACHMENT);
        w.text("blob1");
        w.text(name);
        w.text("text/plain");
        w.u64(1);
        w.fixed(&[1; 32]);
        w.fixed(&[2; 32]);
        w.bytes(b"");
        w.finish()
    }

    #[test]
    fn a_file_name_the_decoder_refuses_cannot_be_built_so_cannot_be_encoded() {
        for name in ["a\nb.txt".to_owned(), "x".repeat(256), " a.txt".to_owned()] {
            // What the receiver does with such a name on the wire...
            assert!(MessageBody::decode(&attachment_bytes_named(&name)).is_err());
            // ...is what the sender meets when it builds the field, before any encoding.
            assert!(FileName::new(name).is_err());
        }
        let fine = attachment_bytes_named("a b.txt");
        let body = MessageBody::decode(&fine).unwrap();
        assert_eq!(body.encode().unwrap().as_slice(), fine.as_slice());
    }
}
