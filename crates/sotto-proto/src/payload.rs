//! What one device relays to another through the server, told apart in one place: by the domain
//! label its first field starts with (`docs/protocol.md` §2.2, §2.3).
//!
//! Every relayed payload is a signed wire form whose first field is `bytes(x)`, and `x` starts with
//! its domain: an envelope (`sotto/msg`, §8.1), a key distribution (`sotto/kdm`, §7.3) or a key
//! request (`sotto/key-request`, §7.6). [`PayloadKind::of`] reads that label once and
//! [`Payload::decode`] hands the bytes to the one decoder the label names, so a payload is never
//! decoded as something it does not claim to be, and a new kind is one more arm here that every
//! `match` over [`Payload`] must then handle.

use crate::codec::Reader;
use crate::distribution::{KeyDistribution, KeyRequest};
use crate::domain::Domain;
use crate::envelope::Envelope;
use crate::error::{DecodeError, Error};
use crate::ids::{AccountId, ConversationId, MessageId};
use crate::signed::Signed;

/// Bytes of a signed key request's body. The body is fixed-size (about 200 bytes); the bound
/// leaves room and keeps a forged length prefix from allocating more.
pub const MAX_KEY_REQUEST_BODY_LEN: usize = 1024;

/// The labels a relayed payload may start with, and what each one is. A label not listed is
/// `decode/wrong-domain`: bytes made for another purpose (a certificate, a group change).
const KINDS: [(Domain, PayloadKind); 3] = [
    (Domain::Envelope, PayloadKind::Message),
    (Domain::KeyDistribution, PayloadKind::Distribution),
    (Domain::KeyRequest, PayloadKind::KeyRequest),
];

/// The labels a payload may carry, as a decode error names them.
const EXPECTED: &str = "sotto/msg, sotto/kdm or sotto/key-request";

/// What a relayed payload says it is, read from its domain label alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayloadKind {
    /// An envelope (`sotto/msg`).
    Message,
    /// A key distribution (`sotto/kdm`).
    Distribution,
    /// A signed key request (`sotto/key-request`).
    KeyRequest,
}

impl PayloadKind {
    /// Reads the domain label at the start of the payload's first field. Only the label is read;
    /// its version and everything after it are the decoder's to check.
    pub fn of(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        // The first field's length prefix: the label sits right after it, whatever the bound of
        // the field, which the decoder checks.
        r.u32()?;
        let len = usize::from(r.u8()?);
        let label = r.take(len)?;
        KINDS
            .iter()
            .find(|(domain, _)| domain.label().as_bytes() == label)
            .map(|(_, kind)| *kind)
            .ok_or(DecodeError::WrongDomain { expected: EXPECTED })
    }
}

/// A relayed payload, decoded (structure and bounds only: nothing is verified yet).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payload {
    /// An envelope.
    Message(Envelope),
    /// A key distribution.
    Distribution(KeyDistribution),
    /// A key request and the signed form it came in (verified by the chain's owner).
    KeyRequest {
        /// The wire form, whose signature covers `request`'s encoding.
        signed: Signed,
        /// The decoded request.
        request: KeyRequest,
    },
}

impl Payload {
    /// Decodes a payload with the one decoder its domain label names.
    pub fn decode(bytes: &[u8]) -> Result<Self, Error> {
        Ok(match PayloadKind::of(bytes)? {
            PayloadKind::Message => Self::Message(Envelope::decode(bytes)?),
            PayloadKind::Distribution => Self::Distribution(KeyDistribution::decode(bytes)?),
            PayloadKind::KeyRequest => {
                let signed = Signed::decode(bytes, MAX_KEY_REQUEST_BODY_LEN)?;
                let request = KeyRequest::decode(signed.unverified_body())?;
                Self::KeyRequest { signed, request }
            }
        })
    }

    /// Its kind.
    pub fn kind(&self) -> PayloadKind {
        match self {
            Self::Message(_) => PayloadKind::Message,
            Self::Distribution(_) => PayloadKind::Distribution,
            Self::KeyRequest { .. } => PayloadKind::KeyRequest,
        }
    }

    /// The account the payload claims to come from (not verified yet).
    pub fn claimed_sender(&self) -> AccountId {
        match self {
            Self::Message(envelope) => envelope.header().sender_account,
            Self::Distribution(kdm) => kdm.header().sender_account,
            Self::KeyRequest { request, .. } => request.requester_account,
        }
    }

    /// The conversation it names.
    pub fn conversation(&self) -> ConversationId {
        match self {
            Self::Message(envelope) => envelope.header().conversation,
            Self::Distribution(kdm) => kdm.header().conversation,
            Self::KeyRequest { request, .. } => request.conversation,
        }
    }

    /// The message id its signed header carries: a message's only.
    pub fn message_id(&self) -> Option<MessageId> {
        match self {
            Self::Message(envelope) => Some(envelope.header().message_id),
            Self::Distribution(_) | Self::KeyRequest { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Writer;

    fn first_field_with(domain: Domain) -> Vec<u8> {
        let mut w = Writer::default();
        w.bytes(&Writer::for_domain(domain).finish());
        w.finish()
    }

    #[test]
    fn the_kind_is_read_from_the_first_fields_label() {
        assert_eq!(
            PayloadKind::of(&first_field_with(Domain::Envelope)),
            Ok(PayloadKind::Message)
        );
        assert_eq!(
            PayloadKind::of(&first_field_with(Domain::KeyDistribution)),
            Ok(PayloadKind::Distribution)
        );
        assert_eq!(
            PayloadKind::of(&first_field_with(Domain::KeyRequest)),
            Ok(PayloadKind::KeyRequest)
        );
    }

    #[test]
    fn a_label_of_another_structure_is_the_wrong_domain_and_short_input_is_truncated() {
        for other in [
            Domain::MessageBody,
            Domain::GroupChange,
            Domain::DeviceCertificate,
            Domain::KeyDistributionPayload,
        ] {
            let err = PayloadKind::of(&first_field_with(other)).unwrap_err();
            assert_eq!(err.code(), "decode/wrong-domain", "{other:?}");
        }
        assert_eq!(PayloadKind::of(&[0, 0]), Err(DecodeError::Truncated));
        assert_eq!(
            PayloadKind::of(&[0, 0, 0, 9, 9, b's']),
            Err(DecodeError::Truncated)
        );
    }

    #[test]
    fn a_payload_with_a_known_label_and_a_broken_body_is_refused_by_its_own_decoder() {
        let err = Payload::decode(&first_field_with(Domain::Envelope)).unwrap_err();
        assert!(err.code().starts_with("decode/"), "{err:?}");
    }
}
