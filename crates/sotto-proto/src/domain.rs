//! Domain-separation labels: every signed, encrypted, hashed or derived value in Sotto starts
//! with one of these, so bytes made for one purpose are never accepted for another (a key
//! distribution fed in as a message, a group change signed as a certificate, a message key used
//! as a chain key). The full table is in `docs/protocol.md` §2.

/// The protocol version every v1 structure carries right after its label.
pub const PROTOCOL_VERSION: u8 = 0x01;

/// The version of the structures protocol version 2 adds or redefines (`docs/protocol.md` §18.1).
pub const PROTOCOL_VERSION_2: u8 = 0x02;

/// One domain: a label plus the version of the structure it introduces. Exhaustive: a new domain
/// is a compile error in [`Domain::label`] until it has its label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Domain {
    /// A device certificate signed by the account master key.
    DeviceCertificate,
    /// A device revocation signed by the account master key.
    Revocation,
    /// An exchange-key certificate signed by the device signing key.
    ExchangeKeyCertificate,
    /// A signed change to a conversation's group state.
    GroupChange,
    /// The hash that chains group changes together.
    GroupHash,
    /// The salted commitment to a group's name that the log carries instead of the name.
    GroupName,
    /// The signed header of a key-distribution message.
    KeyDistribution,
    /// The RSA-OAEP plaintext inside a key-distribution message.
    KeyDistributionPayload,
    /// The OAEP label of a key-distribution message (a hash of its header).
    KeyDistributionLabel,
    /// The signed header of a message envelope (also its AES-GCM associated data).
    Envelope,
    /// The padded plaintext inside an envelope.
    MessageBody,
    /// A device's request that a sender re-sends a chain's distribution.
    KeyRequest,
    /// A login challenge signed by a device's auth key.
    AuthChallenge,
    /// The derivation of typed identifiers from public keys.
    Identifier,
    /// Safety-number fingerprints.
    SafetyNumber,
    /// The QR payload that carries a safety number.
    SafetyQr,
    /// Ratchet step: chain key to message key.
    ChainMessageKey,
    /// Ratchet step: chain key to next chain key.
    ChainNextKey,
    /// One-way fingerprint of a chain key (tells a re-sent distribution from a conflicting one).
    ChainFingerprint,
    /// HKDF expansion of a message key into an AES key and nonce.
    MessageAead,
    /// The checksum of a recovery key.
    RecoveryKey,
    /// HKDF: recovery secret to recovery root key.
    RecoveryRoot,
    /// HKDF: recovery root key to backup key.
    RecoveryBackupKey,
    /// HKDF: recovery root key to access key.
    RecoveryAccess,
    /// The hash of the access key that the server keeps.
    RecoveryVerifier,
    /// The plaintext of a backup item or a hand-over: a list of key records.
    KeyBundle,
    /// The signed header of a backup item.
    BackupItem,
    /// HKDF expansion of the backup key into one item's AES key and nonce.
    BackupItemKey,
    /// The signed header of a device hand-over.
    Handover,
    /// The RSA-OAEP plaintext of a hand-over: its wrapping key.
    HandoverKey,
    /// The OAEP label of a hand-over (a hash of its header).
    HandoverLabel,
    /// HKDF expansion of a hand-over's wrapping key into an AES key and nonce.
    HandoverAead,
    /// HKDF expansion of an attachment secret.
    Attachment,
    /// Key commitment of an attachment key.
    AttachmentCommitment,
    /// A sender chain in a device's encrypted local store.
    LocalSenderChain,
    /// A receiver state in a device's encrypted local store.
    LocalReceiverState,
    /// A verified group state in a device's local store.
    LocalGroupState,
    /// Version 2: an exchange-key certificate that also certifies a last-resort prekey.
    ExchangeKeyCertificateV2,
    /// Version 2: a one-time prekey signed by the device signing key.
    Prekey,
    /// Version 2: the signed header of a hybrid key distribution.
    KeyDistributionV2,
    /// Version 2: the OAEP label of a hybrid key distribution.
    KeyDistributionLabelV2,
    /// Version 2: the RSA-OAEP plaintext (the random share `r`) of a hybrid key distribution.
    KeyDistributionRsa,
    /// Version 2: the HKDF info of the hybrid combiner.
    KeyDistributionHybrid,
    /// Version 2: the AES-GCM plaintext of a hybrid key distribution.
    KeyDistributionPayloadV2,
    /// A prekey pair (private keys included) in a device's encrypted local store.
    LocalPrekey,
    /// A device's prekey ring in its encrypted local store.
    LocalPrekeyRing,
}

impl Domain {
    /// The ASCII label, written length-prefixed.
    pub const fn label(self) -> &'static str {
        match self {
            Self::DeviceCertificate => "sotto/device-cert",
            Self::Revocation => "sotto/revocation",
            Self::ExchangeKeyCertificate => "sotto/xkey-cert",
            Self::GroupChange => "sotto/group-change",
            Self::GroupHash => "sotto/group-hash",
            Self::GroupName => "sotto/group-name",
            Self::KeyDistribution => "sotto/kdm",
            Self::KeyDistributionPayload => "sotto/kdm-payload",
            Self::KeyDistributionLabel => "sotto/kdm-label",
            Self::Envelope => "sotto/msg",
            Self::MessageBody => "sotto/body",
            Self::KeyRequest => "sotto/key-request",
            Self::AuthChallenge => "sotto/auth-challenge",
            Self::Identifier => "sotto/id",
            Self::SafetyNumber => "sotto/safety-number",
            Self::SafetyQr => "sotto/safety-qr",
            Self::ChainMessageKey => "sotto/chain/message-key",
            Self::ChainNextKey => "sotto/chain/next",
            Self::ChainFingerprint => "sotto/chain/fingerprint",
            Self::MessageAead => "sotto/msg-aead",
            Self::RecoveryKey => "sotto/recovery-key",
            Self::RecoveryRoot => "sotto/recovery/root",
            Self::RecoveryBackupKey => "sotto/recovery/backup-key",
            Self::RecoveryAccess => "sotto/recovery/access",
            Self::RecoveryVerifier => "sotto/recovery/verifier",
            Self::KeyBundle => "sotto/key-bundle",
            Self::BackupItem => "sotto/backup-item",
            Self::BackupItemKey => "sotto/backup-item-key",
            Self::Handover => "sotto/handover",
            Self::HandoverKey => "sotto/handover-key",
            Self::HandoverLabel => "sotto/handover-label",
            Self::HandoverAead => "sotto/handover-aead",
            Self::Attachment => "sotto/attachment",
            Self::AttachmentCommitment => "sotto/attachment-commit",
            Self::LocalSenderChain => "sotto/local/sender-chain",
            Self::LocalReceiverState => "sotto/local/receiver-state",
            Self::LocalGroupState => "sotto/local/group-state",
            Self::ExchangeKeyCertificateV2 => "sotto/xkey-cert",
            Self::Prekey => "sotto/prekey",
            Self::KeyDistributionV2 => "sotto/kdm",
            Self::KeyDistributionLabelV2 => "sotto/kdm-label",
            Self::KeyDistributionRsa => "sotto/kdm-rsa",
            Self::KeyDistributionHybrid => "sotto/kdm-hybrid",
            Self::KeyDistributionPayloadV2 => "sotto/kdm-payload",
            Self::LocalPrekey => "sotto/local/prekey",
            Self::LocalPrekeyRing => "sotto/local/prekey-ring",
        }
    }

    /// The structure version: 2 for the structures protocol version 2 defines (§18.1), 1 for
    /// every other. A label with two versions is two variants, so a caller always says which.
    pub const fn version(self) -> u8 {
        match self {
            Self::ExchangeKeyCertificateV2
            | Self::Prekey
            | Self::KeyDistributionV2
            | Self::KeyDistributionLabelV2
            | Self::KeyDistributionRsa
            | Self::KeyDistributionHybrid
            | Self::KeyDistributionPayloadV2 => PROTOCOL_VERSION_2,
            _ => PROTOCOL_VERSION,
        }
    }

    /// The label and version as they are written: `len ‖ label ‖ version`.
    pub fn encoded(self) -> Vec<u8> {
        let mut writer = crate::codec::Writer::default();
        writer.domain(self);
        writer.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_2_encodings_match_the_table_of_section_18_1() {
        let table = [
            (
                Domain::ExchangeKeyCertificateV2,
                "0f736f74746f2f786b65792d6365727402",
            ),
            (Domain::Prekey, "0c736f74746f2f7072656b657902"),
            (Domain::KeyDistributionV2, "09736f74746f2f6b646d02"),
            (
                Domain::KeyDistributionLabelV2,
                "0f736f74746f2f6b646d2d6c6162656c02",
            ),
            (Domain::KeyDistributionRsa, "0d736f74746f2f6b646d2d72736102"),
            (
                Domain::KeyDistributionHybrid,
                "10736f74746f2f6b646d2d68796272696402",
            ),
            (
                Domain::KeyDistributionPayloadV2,
                "11736f74746f2f6b646d2d7061796c6f616402",
            ),
        ];
        for (domain, hex) in table {
            assert_eq!(hex::encode(domain.encoded()), hex, "{domain:?}");
        }
        assert_eq!(
            Domain::KeyDistribution.encoded()[..10],
            Domain::KeyDistributionV2.encoded()[..10]
        );
    }

    #[test]
    fn labels_are_unique_and_none_is_a_prefix_of_another_encoding() {
        let all = [
            Domain::DeviceCertificate,
            Domain::Revocation,
            Domain::ExchangeKeyCertificate,
            Domain::GroupChange,
            Domain::GroupHash,
            Domain::GroupName,
            Domain::KeyDistribution,
            Domain::KeyDistributionPayload,
            Domain::KeyDistributionLabel,
            Domain::Envelope,
            Domain::MessageBody,
            Domain::KeyRequest,
            Domain::AuthChallenge,
            Domain::Identifier,
            Domain::SafetyNumber,
            Domain::SafetyQr,
            Domain::ChainMessageKey,
            Domain::ChainNextKey,
            Domain::ChainFingerprint,
            Domain::MessageAead,
            Domain::RecoveryKey,
            Domain::RecoveryRoot,
            Domain::RecoveryBackupKey,
            Domain::RecoveryAccess,
            Domain::RecoveryVerifier,
            Domain::KeyBundle,
            Domain::BackupItem,
            Domain::BackupItemKey,
            Domain::Handover,
            Domain::HandoverKey,
            Domain::HandoverLabel,
            Domain::HandoverAead,
            Domain::Attachment,
            Domain::AttachmentCommitment,
            Domain::LocalSenderChain,
            Domain::LocalReceiverState,
            Domain::LocalGroupState,
            Domain::ExchangeKeyCertificateV2,
            Domain::Prekey,
            Domain::KeyDistributionV2,
            Domain::KeyDistributionLabelV2,
            Domain::KeyDistributionRsa,
            Domain::KeyDistributionHybrid,
            Domain::KeyDistributionPayloadV2,
            Domain::LocalPrekey,
            Domain::LocalPrekeyRing,
        ];
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                let (ea, eb) = (a.encoded(), b.encoded());
                assert!(
                    !ea.starts_with(&eb) && !eb.starts_with(&ea),
                    "{a:?} vs {b:?}"
                );
            }
        }
    }
}
