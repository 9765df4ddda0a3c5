//! The plaintext inside an envelope, and the padding that hides its exact length
//! (`docs/protocol.md` §8).
//!
//! Padding: `body ‖ 0x80 ‖ 0x00…` up to the bucket size, the smallest power of two that is at least
//! 256 and greater than the body's length. The receiver checks the padding after decryption; any
//! malformation is the same uniform [`Error::DecryptionFailed`] as a failed tag.
//!
//! Every field with a rule of its own is a type whose constructor holds the rule ([`fields`],
//! [`refs`]), so whatever [`MessageBody::encode`] accepts, [`MessageBody::decode`] accepts too.
//!
//! # Layout
//! - this file: the body kinds, their encoding and padding.
//! - [`fields`]: the attachment reference's text fields.
//! - [`refs`]: mentions and reactions (§8.4, §8.6).
//! - [`amend`]: the receiver's check of an edit, delete or reaction against its target, and which
//!   amendment wins (§8.5, §8.6).

pub mod amend;
pub mod fields;
pub mod refs;

use zeroize::Zeroizing;

use crate::codec::{Reader, Writer};
use crate::domain::Domain;
use crate::error::{DecodeError, Error};
use crate::group::NameReveal;
use crate::ids::MessageId;
use crate::limits::{MAX_BODY_LEN, MAX_PADDED_LEN};

pub use amend::{
    check_amendment, winning, AmendmentInfo, AmendmentKind, AmendmentOrder, BodyClass, TargetInfo,
};
pub use fields::{
    BlobId, FileName, MediaType, MAX_BLOB_ID_LEN, MAX_FILE_NAME_LEN, MAX_MEDIA_TYPE_LEN,
};
pub use refs::{Mentions, Reaction, MAX_MENTIONS, MAX_REACTION_LEN};

/// The smallest padding bucket.
pub const MIN_PADDED_LEN: usize = 256;
/// The padding delimiter.
const PAD_MARK: u8 = 0x80;
/// Message ids a receipt may name.
pub const MAX_RECEIPT_IDS: usize = 256;
/// Message ids a Message's reply list may name: a message answers at most one other.
pub const MAX_REPLY_IDS: usize = 1;

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
    /// SHA-256 of the whole blob the server stores: commitment and AES-GCM output (§10).
    pub blob_sha256: [u8; 32],
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
    /// A text with a reply or mentions (§8.4). A text with neither is sent as [`Self::Text`].
    Message {
        /// The text.
        text: String,
        /// The earlier content message the text answers.
        reply_to: Option<MessageId>,
        /// The accounts the text addresses.
        mentions: Mentions,
    },
    /// A new text (or caption) for the sender's own content message (§8.5).
    Edit {
        /// The original message (never an earlier edit).
        target: MessageId,
        /// The new text.
        text: String,
        /// The mentions of the new text; they replace the original's.
        mentions: Mentions,
    },
    /// Withdraws the sender's own content message (§8.5).
    Delete {
        /// The message withdrawn.
        target: MessageId,
    },
    /// Adds or takes back a reaction to a content message (§8.6).
    Reaction {
        /// The message reacted to.
        target: MessageId,
        /// The reaction.
        reaction: Reaction,
        /// True when added, false when taken back.
        added: bool,
    },
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
            Self::Message {
                text,
                reply_to,
                mentions,
            } => f
                .debug_struct("Message")
                .field("text", &format_args!("<{} bytes>", text.len()))
                .field("reply_to", reply_to)
                .field("mentions", mentions)
                .finish(),
            Self::Edit {
                target,
                text,
                mentions,
            } => f
                .debug_struct("Edit")
                .field("target", target)
                .field("text", &format_args!("<{} bytes>", text.len()))
                .field("mentions", mentions)
                .finish(),
            Self::Delete { target } => f.debug_struct("Delete").field("target", target).finish(),
            Self::Reaction {
                target,
                reaction,
                added,
            } => f
                .debug_struct("Reaction")
                .field("target", target)
                .field("reaction", reaction)
                .field("added", added)
                .finish(),
        }
    }
}

impl MessageBody {
    const TEXT: u8 = 0x01;
    const ATTACHMENT: u8 = 0x02;
    const RECEIPT: u8 = 0x03;
    const GROUP_NAME: u8 = 0x04;
    const MESSAGE: u8 = 0x05;
    const EDIT: u8 = 0x06;
    const DELETE: u8 = 0x07;
    const REACTION: u8 = 0x08;

    /// Whether this is a content message (§8.2): what a client shows as a message and what
    /// replies, receipts and amendments may name.
    pub fn class(&self) -> BodyClass {
        match self {
            Self::Text(_) | Self::Attachment { .. } | Self::Message { .. } => BodyClass::Content,
            Self::Receipt { .. }
            | Self::GroupName(_)
            | Self::Edit { .. }
            | Self::Delete { .. }
            | Self::Reaction { .. } => BodyClass::NotContent,
        }
    }

    /// What this body amends and how, if it is an Edit, Delete or Reaction.
    pub fn amendment(&self) -> Option<(AmendmentKind, MessageId)> {
        match self {
            Self::Edit { target, .. } => Some((AmendmentKind::Edit, *target)),
            Self::Delete { target } => Some((AmendmentKind::Delete, *target)),
            Self::Reaction { target, .. } => Some((AmendmentKind::Reaction, *target)),
            Self::Text(_)
            | Self::Attachment { .. }
            | Self::Receipt { .. }
            | Self::GroupName(_)
            | Self::Message { .. } => None,
        }
    }

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
                w.fixed(&attachment.blob_sha256);
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
            Self::Message {
                text,
                reply_to,
                mentions,
            } => {
                w.u8(Self::MESSAGE);
                w.bytes(text.as_bytes());
                // The reply is a list of at most one id, so a later version may quote more.
                w.count(usize::from(reply_to.is_some()));
                if let Some(id) = reply_to {
                    id.encode(&mut w);
                }
                mentions.encode(&mut w);
            }
            Self::Edit {
                target,
                text,
                mentions,
            } => {
                w.u8(Self::EDIT);
                target.encode(&mut w);
                w.bytes(text.as_bytes());
                mentions.encode(&mut w);
            }
            Self::Delete { target } => {
                w.u8(Self::DELETE);
                target.encode(&mut w);
            }
            Self::Reaction {
                target,
                reaction,
                added,
            } => {
                w.u8(Self::REACTION);
                target.encode(&mut w);
                reaction.encode(&mut w);
                w.bool(*added);
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
                    blob_sha256: r.array()?,
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
            Self::MESSAGE => {
                let text = utf8(r.bytes("text", MAX_BODY_LEN)?, "text")?;
                let reply_to = match r.count("reply to", MAX_REPLY_IDS)? {
                    0 => None,
                    _ => Some(MessageId::decode(&mut r)?),
                };
                Self::Message {
                    text,
                    reply_to,
                    mentions: Mentions::decode(&mut r)?,
                }
            }
            Self::EDIT => Self::Edit {
                target: MessageId::decode(&mut r)?,
                text: utf8(r.bytes("text", MAX_BODY_LEN)?, "text")?,
                mentions: Mentions::decode(&mut r)?,
            },
            Self::DELETE => Self::Delete {
                target: MessageId::decode(&mut r)?,
            },
            Self::REACTION => Self::Reaction {
                target: MessageId::decode(&mut r)?,
                reaction: Reaction::decode(&mut r)?,
                added: r.bool()?,
            },
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
                    blob_sha256: [2; 32],
                },
                caption: String::new(),
            },
            MessageBody::GroupName(NameReveal {
                epoch: 4,
                salt: [5; 32],
                name: crate::group::GroupName::new("Project Sotto").unwrap(),
            }),
            MessageBody::Message {
                text: "@bob see above".into(),
                reply_to: Some(MessageId::from_bytes([6; 16])),
                mentions: Mentions::new(vec![crate::ids::AccountId::from_bytes([7; 32])]).unwrap(),
            },
            MessageBody::Message {
                text: String::new(),
                reply_to: None,
                mentions: Mentions::none(),
            },
            MessageBody::Edit {
                target: MessageId::from_bytes([8; 16]),
                text: "fixed".into(),
                mentions: Mentions::none(),
            },
            MessageBody::Delete {
                target: MessageId::from_bytes([9; 16]),
            },
            MessageBody::Reaction {
                target: MessageId::from_bytes([10; 16]),
                reaction: Reaction::new("👍").unwrap(),
                added: false,
            },
        ];
        for body in bodies {
            let bytes = body.encode().unwrap();
            assert_eq!(MessageBody::decode(&bytes).unwrap(), body);
        }
    }

    fn message_bytes(replies: u16, mentions: &[[u8; 32]]) -> Vec<u8> {
        let mut w = Writer::for_domain(Domain::MessageBody);
        w.u8(MessageBody::MESSAGE);
        w.bytes(b"hi");
        w.u16(replies);
        for i in 0..replies {
            w.fixed(&[u8::try_from(i).unwrap(); 16]);
        }
        w.u16(u16::try_from(mentions.len()).unwrap());
        for m in mentions {
            w.fixed(m);
        }
        w.finish()
    }

    #[test]
    fn a_message_names_at_most_one_reply_and_64_distinct_accounts() {
        let code = |bytes: &[u8]| MessageBody::decode(bytes).unwrap_err().code();
        assert!(MessageBody::decode(&message_bytes(1, &[[1; 32], [2; 32]])).is_ok());
        assert_eq!(code(&message_bytes(2, &[])), "decode/too-many");
        let many: Vec<[u8; 32]> = (0..65u8).map(|i| [i; 32]).collect();
        assert!(MessageBody::decode(&message_bytes(0, &many[..64])).is_ok());
        assert_eq!(code(&message_bytes(0, &many)), "decode/too-many");
        assert_eq!(
            code(&message_bytes(0, &[[3; 32], [3; 32]])),
            "decode/invalid-value"
        );
    }

    #[test]
    fn a_reaction_that_is_not_short_display_text_or_a_bad_bool_is_refused() {
        let reaction = |text: &str, added: u8| {
            let mut w = Writer::for_domain(Domain::MessageBody);
            w.u8(MessageBody::REACTION);
            w.fixed(&[1; 16]);
            w.text(text);
            w.u8(added);
            MessageBody::decode(&w.finish()).map_err(|e| e.code())
        };
        assert!(reaction("🎉", 1).is_ok());
        assert_eq!(reaction("", 1), Err("decode/invalid-value"));
        assert_eq!(reaction(&"a".repeat(33), 1), Err("decode/too-long"));
        assert_eq!(reaction("a\u{1b}", 1), Err("decode/invalid-value"));
        assert_eq!(reaction("🎉", 2), Err("decode/invalid-value"));
    }

    #[test]
    fn debug_output_never_shows_the_text_of_any_kind() {
        let secret = "the merger is off";
        let bodies = [
            MessageBody::Text(secret.into()),
            MessageBody::Message {
                text: secret.into(),
                reply_to: None,
                mentions: Mentions::none(),
            },
            MessageBody::Edit {
                target: MessageId::from_bytes([1; 16]),
                text: secret.into(),
                mentions: Mentions::none(),
            },
            MessageBody::Reaction {
                target: MessageId::from_bytes([1; 16]),
                reaction: Reaction::new("merger").unwrap(),
                added: true,
            },
        ];
        for body in bodies {
            let debug = format!("{body:?}");
            assert!(!debug.contains("merger"), "{debug}");
        }
    }

    #[test]
    fn content_and_amendments_are_told_apart_by_kind() {
        let target = MessageId::from_bytes([4; 16]);
        assert_eq!(MessageBody::Text(String::new()).class(), BodyClass::Content);
        assert_eq!(
            MessageBody::Delete { target }.class(),
            BodyClass::NotContent
        );
        assert_eq!(
            MessageBody::Delete { target }.amendment(),
            Some((AmendmentKind::Delete, target))
        );
        assert_eq!(MessageBody::Text(String::new()).amendment(), None);
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
