//! The crate's error type, [`Error`], with narrow enums for the places callers branch on: a
//! malformed encoding ([`DecodeError`]), a body field its constructor refuses ([`FieldError`]),
//! an unacceptable key ([`KeyRejection`]), a group change
//! that must raise an alarm ([`GroupError`]), a recovery key or backup that cannot be used
//! ([`RecoveryError`]), a message or distribution a client refuses to
//! show ([`ReceiveError`]) and an edit, delete or reaction that may not touch its target
//! ([`AmendmentError`]). Every variant is a distinct, displayable reason.

use crate::ids::{ChainId, ConversationId, DeviceId};

/// Anything that can go wrong in the protocol core.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bytes are not a well-formed encoding of the expected structure.
    #[error("malformed input: {0}")]
    Decode(#[from] DecodeError),
    /// A public or private key is not acceptable.
    #[error("key rejected: {0}")]
    KeyRejected(#[from] KeyRejection),
    /// A signature does not verify under the expected key.
    #[error("signature on {what} does not verify")]
    BadSignature {
        /// The structure whose signature failed.
        what: &'static str,
    },
    /// Decryption failed. One uniform error for every cause (tag, key, padding, OAEP), so a
    /// failure reveals nothing about which check tripped.
    #[error("decryption failed")]
    DecryptionFailed,
    /// A primitive failed to run (key generation, random source): not caused by input.
    #[error("cryptographic operation failed: {operation}")]
    Crypto {
        /// The operation that failed.
        operation: &'static str,
    },
    /// A certificate, revocation or device does not chain to the expected account master key.
    #[error("{what} is not signed by this account's master key")]
    WrongAccount {
        /// The structure that names another account.
        what: &'static str,
    },
    /// An identifier inside a structure does not match the key it claims to identify.
    #[error("{what} does not match its key")]
    IdMismatch {
        /// The identifier that was wrong.
        what: &'static str,
    },
    /// The device was revoked by its account's master key.
    #[error("device {device} has been revoked")]
    DeviceRevoked {
        /// The revoked device.
        device: DeviceId,
    },
    /// An exchange-key certificate is outside its validity period.
    #[error("exchange key is not valid at this time")]
    ExchangeKeyNotValidNow,
    /// An exchange-key certificate has a lower serial than one already seen for the device.
    #[error("exchange key serial {got} is older than serial {seen} already seen")]
    ExchangeKeyRollback {
        /// The highest serial seen before.
        seen: u64,
        /// The serial offered now.
        got: u64,
    },
    /// A key distribution was requested for an account that is not a member.
    #[error("recipient is not a member of the conversation")]
    RecipientNotMember,
    /// A group change was refused.
    #[error("group change refused: {0}")]
    Group(#[from] GroupError),
    /// A received message or key distribution was refused.
    #[error("refused: {0}")]
    Receive(#[from] ReceiveError),
    /// A recovery key or a backup was refused.
    #[error("recovery refused: {0}")]
    Recovery(#[from] RecoveryError),
    /// The sending chain has used all its indexes or outlived its lifetime: start a new chain.
    #[error("sending chain must be rotated")]
    ChainNeedsRotation,
    /// A value given to an encoder is out of the protocol's bounds.
    #[error("{field} is out of bounds: {reason}")]
    InvalidInput {
        /// The offending field.
        field: &'static str,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A body field (file name, media type, blob id) was refused by its constructor: the same
    /// refusal as [`Error::InvalidInput`], with the rule that failed.
    #[error(transparent)]
    InvalidField(#[from] FieldError),
    /// An edit, delete or reaction does not apply to the message it names (`docs/protocol.md`
    /// §8.5, §8.6).
    #[error("amendment refused: {0}")]
    Amendment(#[from] AmendmentError),
    /// A prekey is unknown, already used or not acceptable (`docs/protocol.md` §18).
    #[error("prekey refused: {0}")]
    Prekey(#[from] PrekeyError),
}

/// Why a prekey was refused (`docs/protocol.md` §18.2, §18.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PrekeyError {
    /// A distribution names a one-time prekey this device does not hold or already consumed (a
    /// prekey handed out twice, a replayed or re-signed distribution, a made-up id), or a
    /// last-resort prekey that is not the one certified with the named exchange key.
    #[error("the prekey is unknown or already used")]
    Unknown,
    /// The EC point is not a point of P-256, or the ML-KEM-768 encapsulation key fails the
    /// FIPS 203 modulus check, or a stored private key does not match its public key.
    #[error("the prekey's keys are not valid")]
    InvalidKey,
}

impl PrekeyError {
    /// See [`Error::code`].
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unknown => "prekey/unknown",
            Self::InvalidKey => "prekey/invalid-key",
        }
    }
}

/// Why an edit, delete or reaction was refused against its target (`docs/protocol.md` §8.5). A
/// refused amendment changes nothing and is never shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AmendmentError {
    /// The target is in another conversation, or is not a content message (an edit, delete,
    /// reaction, receipt or group name).
    #[error("the target is not a content message of this conversation")]
    WrongTarget,
    /// An edit or delete comes from an account other than the target's author.
    #[error("only the author's account may edit or delete a message")]
    NotAuthor,
}

impl AmendmentError {
    /// See [`Error::code`].
    pub fn code(&self) -> &'static str {
        match self {
            Self::WrongTarget => "message/wrong-target",
            Self::NotAuthor => "message/not-author",
        }
    }
}

/// Why a value cannot be a body field (`docs/protocol.md` §8.2). The constructors of
/// [`crate::body::FileName`], [`crate::body::MediaType`], [`crate::body::BlobId`],
/// [`crate::body::Reaction`] and [`crate::body::Mentions`] return it,
/// and the decoder reports it as the [`DecodeError`] with the same meaning, so a sender learns
/// before sending exactly what a receiver would refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    /// The value is longer than the field's bound, in bytes of UTF-8.
    #[error("{field} is longer than {max} bytes")]
    TooLong {
        /// The field.
        field: &'static str,
        /// Its bound.
        max: usize,
    },
    /// A list has more items than its bound.
    #[error("{field} has more than {max} items")]
    TooMany {
        /// The list.
        field: &'static str,
        /// Its bound.
        max: usize,
    },
    /// A list names the same item twice (an account mentioned twice).
    #[error("{field} names an item twice")]
    Repeated {
        /// The list.
        field: &'static str,
    },
    /// The value is not display text (`docs/protocol.md` §4.8): empty, surrounded by whitespace,
    /// or containing a control character or a bidirectional override.
    #[error("{field} must be non-empty text without control characters, bidirectional overrides or surrounding whitespace")]
    NotDisplayText {
        /// The field.
        field: &'static str,
    },
}

impl From<FieldError> for DecodeError {
    fn from(error: FieldError) -> Self {
        match error {
            FieldError::TooLong { field, max } => Self::TooLong { field, max },
            FieldError::TooMany { field, max } => Self::TooMany { field, max },
            FieldError::Repeated { field } | FieldError::NotDisplayText { field } => {
                Self::InvalidValue { field }
            }
        }
    }
}

/// Why an encoding was refused. The decoder returns these before allocating anything large.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended in the middle of a value.
    #[error("input is truncated")]
    Truncated,
    /// Bytes were left after the structure ended.
    #[error("{count} trailing bytes")]
    TrailingBytes {
        /// How many bytes were left.
        count: usize,
    },
    /// A length prefix exceeds the field's bound.
    #[error("{field} is longer than {max} bytes")]
    TooLong {
        /// The field.
        field: &'static str,
        /// Its bound.
        max: usize,
    },
    /// A count prefix exceeds the list's bound.
    #[error("{field} has more than {max} items")]
    TooMany {
        /// The list.
        field: &'static str,
        /// Its bound.
        max: usize,
    },
    /// Text is not valid UTF-8.
    #[error("{field} is not valid UTF-8")]
    InvalidUtf8 {
        /// The field.
        field: &'static str,
    },
    /// A value is outside the set the field allows (non-canonical bool, zero where forbidden…).
    #[error("{field} has an invalid value")]
    InvalidValue {
        /// The field.
        field: &'static str,
    },
    /// An enumeration tag is unknown.
    #[error("unknown {field} tag {tag:#04x}")]
    UnknownTag {
        /// The enumeration.
        field: &'static str,
        /// The tag found.
        tag: u8,
    },
    /// The structure begins with another structure's label: bytes made for one purpose offered
    /// for another.
    #[error("not a {expected} structure")]
    WrongDomain {
        /// The label that was expected.
        expected: &'static str,
    },
    /// The label is right but the version is not one this implementation speaks. No fallback.
    #[error("unsupported version {got} of {domain}")]
    UnsupportedVersion {
        /// The structure.
        domain: &'static str,
        /// The version found.
        got: u8,
    },
}

/// Why a public or private key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyRejection {
    /// Not a parsable RSA key.
    #[error("not a valid RSA key")]
    Malformed,
    /// A valid RSA key, but not in canonical SubjectPublicKeyInfo DER.
    #[error("public key is not canonical SPKI DER")]
    NotCanonicalSpki,
    /// The modulus is smaller than 3072 bits.
    #[error("RSA modulus of {bits} bits is below the 3072-bit minimum")]
    TooSmall {
        /// The modulus size found.
        bits: usize,
    },
    /// The modulus is larger than 4096 bits.
    #[error("RSA modulus of {bits} bits is above the 4096-bit maximum")]
    TooLarge {
        /// The modulus size found.
        bits: usize,
    },
    /// The public exponent is not 65537.
    #[error("RSA public exponent is not 65537")]
    BadExponent,
}

/// Why a group change was refused. Clients show these as an alarm: a refused change is either an
/// attack by the server or a broken peer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GroupError {
    /// The change belongs to another conversation.
    #[error("change belongs to another conversation")]
    WrongConversation {
        /// The conversation the state is for.
        expected: ConversationId,
    },
    /// The first change of a log is not a creation, or a creation appears later.
    #[error("a log starts with exactly one creation")]
    NotGenesis,
    /// The change is for an epoch already applied, with the same hash: a replay.
    #[error("epoch {epoch} was already applied (replay)")]
    Replayed {
        /// The epoch of the replayed change.
        epoch: u64,
    },
    /// The change is for an epoch already applied but differs from the applied one: a fork.
    #[error("epoch {epoch} was already applied with different content (fork)")]
    Fork {
        /// The forked epoch.
        epoch: u64,
    },
    /// The change skips epochs: something between was withheld or reordered.
    #[error("expected epoch {expected}, got {got}")]
    EpochGap {
        /// The next epoch.
        expected: u64,
        /// The epoch in the change.
        got: u64,
    },
    /// The change does not name the hash of the current head.
    #[error("change does not extend the current head (fork)")]
    PreviousHashMismatch,
    /// The signer's account is not a member at the change's epoch.
    #[error("signer is not a member")]
    SignerNotMember,
    /// The signer's account is not an admin at the change's epoch.
    #[error("signer is not an admin")]
    SignerNotAdmin,
    /// The signer device presented is not the device named in the change.
    #[error("change is not signed by the device it names")]
    SignerMismatch,
    /// The account to add is already a member.
    #[error("account is already a member")]
    AlreadyMember,
    /// The account to change is not a member.
    #[error("account is not a member")]
    NotMember,
    /// The change would leave the group without an admin.
    #[error("a group keeps at least one admin")]
    LastAdmin,
    /// The change would exceed the member bound.
    #[error("a group has at most {max} members")]
    TooManyMembers {
        /// The bound.
        max: usize,
    },
    /// The change does nothing (promote an admin, rename to the same name).
    #[error("change has no effect")]
    NoOp,
    /// A group name is empty, too long or not display text.
    #[error("invalid {field}")]
    InvalidText {
        /// The field.
        field: &'static str,
    },
    /// A 1:1 conversation's genesis lists other than two members, or a change would add a
    /// member to a 1:1 or name it.
    #[error("a 1:1 conversation has exactly its two members and no name")]
    DirectConversation,
    /// A group name a member sent does not open the commitment of the verified log.
    #[error("the group name does not match the group's log")]
    NameMismatch,
}

/// Why a recovery key or a backup cannot be used (`docs/protocol.md` §14, §15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecoveryError {
    /// The text is not a recovery key: a character outside the alphabet, or not 48 of them.
    #[error("not a recovery key (48 characters of 0-9 and A-Z without I, L, O, U)")]
    Malformed,
    /// The text is a recovery key with a typo: its checksum does not match.
    #[error("the recovery key's checksum does not match (a typo?)")]
    BadChecksum,
    /// No item of the backup holds the account's master key.
    #[error("the backup holds no master key")]
    NoMasterKey,
}

/// Why a message or key distribution was refused. Each is a distinct reason a client can show;
/// none of them ever yields plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReceiveError {
    /// This (chain, index) was already received: a replay.
    #[error("message {index} of chain {chain} was already received (replay)")]
    Replay {
        /// The chain.
        chain: ChainId,
        /// The index.
        index: u32,
    },
    /// The chain was never introduced by a verified key distribution (the message is held).
    #[error("no verified key distribution for chain {chain} yet")]
    UnknownChain {
        /// The chain.
        chain: ChainId,
    },
    /// The message claims a chain that belongs to another sender device.
    #[error("chain {chain} belongs to another device")]
    ChainOwnerMismatch {
        /// The chain.
        chain: ChainId,
    },
    /// The message or distribution names an epoch other than its chain's.
    #[error("epoch does not match the chain's epoch")]
    EpochMismatch,
    /// The group state at that epoch is not known yet (the message is held until it is).
    #[error("group epoch {epoch} is not known yet")]
    UnknownEpoch {
        /// The epoch named.
        epoch: u64,
    },
    /// The sender's account is not a member of the conversation.
    #[error("sender is not a member of the conversation")]
    SenderNotMember,
    /// The sender device presented is not the device named in the header.
    #[error("sender device does not match the header")]
    SenderMismatch,
    /// The structure is for another conversation.
    #[error("structure belongs to another conversation")]
    WrongConversation,
    /// The key distribution is addressed to another device or exchange key.
    #[error("key distribution is addressed to another device or key")]
    WrongRecipient,
    /// The index is at or beyond the chain length bound.
    #[error("index {index} is beyond the chain bound")]
    IndexOutOfBounds {
        /// The index.
        index: u32,
    },
    /// The message key for this index was evicted (too old or too many skipped).
    #[error("message key for index {index} is no longer kept")]
    KeyEvicted {
        /// The index.
        index: u32,
    },
    /// The timestamp is further in the future than the allowed clock skew.
    #[error("timestamp is too far in the future")]
    FarFuture,
    /// The distribution is older than the protocol accepts (a replay of a forgotten chain's).
    #[error("key distribution is too old")]
    StaleDistribution,
    /// A distribution for a known chain carries a different chain key.
    #[error("chain {chain} was already introduced with another key")]
    ChainKeyConflict {
        /// The chain.
        chain: ChainId,
    },
    /// A version-1 distribution to an exchange key this device certified with a version-2
    /// certificate: whoever sent it had the version-2 certificate (`docs/protocol.md` §18.7).
    #[error("version-1 key distribution to a version-2 exchange key (downgrade)")]
    Downgrade,
    /// The very distribution (same wire form) that already consumed its one-time prekey: a
    /// harmless duplicate that changes nothing (`docs/protocol.md` §18.6 step 4). Drop it
    /// silently, as a relay duplicate.
    #[error("key distribution already received (duplicate)")]
    DuplicateDistribution,
}

impl Error {
    /// A stable, machine-readable code for this error: what test vectors name as the expected
    /// outcome and what clients map to messages. Codes never change meaning between versions.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Decode(e) => e.code(),
            Self::KeyRejected(e) => e.code(),
            Self::BadSignature { .. } => "bad-signature",
            Self::DecryptionFailed => "decryption-failed",
            Self::Crypto { .. } => "crypto-failure",
            Self::WrongAccount { .. } => "wrong-account",
            Self::IdMismatch { .. } => "id-mismatch",
            Self::DeviceRevoked { .. } => "device-revoked",
            Self::ExchangeKeyNotValidNow => "exchange-key-not-valid-now",
            Self::ExchangeKeyRollback { .. } => "exchange-key-rollback",
            Self::RecipientNotMember => "recipient-not-member",
            Self::Group(e) => e.code(),
            Self::Receive(e) => e.code(),
            Self::Recovery(e) => e.code(),
            Self::ChainNeedsRotation => "chain-needs-rotation",
            Self::InvalidInput { .. } | Self::InvalidField(_) => "invalid-input",
            Self::Amendment(e) => e.code(),
            Self::Prekey(e) => e.code(),
        }
    }
}

impl DecodeError {
    /// See [`Error::code`].
    pub fn code(&self) -> &'static str {
        match self {
            Self::Truncated => "decode/truncated",
            Self::TrailingBytes { .. } => "decode/trailing-bytes",
            Self::TooLong { .. } => "decode/too-long",
            Self::TooMany { .. } => "decode/too-many",
            Self::InvalidUtf8 { .. } => "decode/invalid-utf8",
            Self::InvalidValue { .. } => "decode/invalid-value",
            Self::UnknownTag { .. } => "decode/unknown-tag",
            Self::WrongDomain { .. } => "decode/wrong-domain",
            Self::UnsupportedVersion { .. } => "decode/unsupported-version",
        }
    }
}

impl FieldError {
    /// See [`Error::code`]: what an encoder reports for it. A decoder reports the
    /// [`DecodeError`] it converts to.
    pub fn code(&self) -> &'static str {
        "invalid-input"
    }
}

impl KeyRejection {
    /// See [`Error::code`].
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed => "key/malformed",
            Self::NotCanonicalSpki => "key/not-canonical-spki",
            Self::TooSmall { .. } => "key/too-small",
            Self::TooLarge { .. } => "key/too-large",
            Self::BadExponent => "key/bad-exponent",
        }
    }
}

impl GroupError {
    /// See [`Error::code`].
    pub fn code(&self) -> &'static str {
        match self {
            Self::WrongConversation { .. } => "group/wrong-conversation",
            Self::NotGenesis => "group/not-genesis",
            Self::Replayed { .. } => "group/replayed",
            Self::Fork { .. } => "group/fork",
            Self::EpochGap { .. } => "group/epoch-gap",
            Self::PreviousHashMismatch => "group/previous-hash-mismatch",
            Self::SignerNotMember => "group/signer-not-member",
            Self::SignerNotAdmin => "group/signer-not-admin",
            Self::SignerMismatch => "group/signer-mismatch",
            Self::AlreadyMember => "group/already-member",
            Self::NotMember => "group/not-member",
            Self::LastAdmin => "group/last-admin",
            Self::TooManyMembers { .. } => "group/too-many-members",
            Self::NoOp => "group/no-op",
            Self::InvalidText { .. } => "group/invalid-text",
            Self::DirectConversation => "group/direct-conversation",
            Self::NameMismatch => "group/name-mismatch",
        }
    }
}

impl RecoveryError {
    /// See [`Error::code`].
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed => "recovery/malformed",
            Self::BadChecksum => "recovery/bad-checksum",
            Self::NoMasterKey => "recovery/no-master-key",
        }
    }
}

impl ReceiveError {
    /// See [`Error::code`].
    pub fn code(&self) -> &'static str {
        match self {
            Self::Replay { .. } => "receive/replay",
            Self::UnknownChain { .. } => "receive/unknown-chain",
            Self::ChainOwnerMismatch { .. } => "receive/chain-owner-mismatch",
            Self::EpochMismatch => "receive/epoch-mismatch",
            Self::UnknownEpoch { .. } => "receive/unknown-epoch",
            Self::SenderNotMember => "receive/sender-not-member",
            Self::SenderMismatch => "receive/sender-mismatch",
            Self::WrongConversation => "receive/wrong-conversation",
            Self::WrongRecipient => "receive/wrong-recipient",
            Self::IndexOutOfBounds { .. } => "receive/index-out-of-bounds",
            Self::KeyEvicted { .. } => "receive/key-evicted",
            Self::FarFuture => "receive/far-future",
            Self::StaleDistribution => "receive/stale-distribution",
            Self::ChainKeyConflict { .. } => "receive/chain-key-conflict",
            Self::Downgrade => "receive/downgrade",
            Self::DuplicateDistribution => "receive/duplicate",
        }
    }
}
