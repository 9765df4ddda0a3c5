//! Backup items: key bundles sealed under the backup key and signed by the device that wrote
//! them (`docs/protocol.md` §15.2).
//!
//! ```text
//! header     = domain("sotto/backup-item") ‖ account(32) ‖ recovery id(16) ‖ item id(16)
//!              ‖ writer device(32) ‖ u64 written_at ‖ bytes(writer device certificate)
//! okm        = HKDF(ikm = backup key, info = domain("sotto/backup-item-key") ‖ recovery id
//!              ‖ item id, 44 bytes)
//! ciphertext = AES-256-GCM(okm[0..32], okm[32..44], aad = header, bundle)
//! wire       = SignedSealed(header, ciphertext) by the writer device
//! ```
//!
//! The server decodes the header ([`BackupItemHeader::decode_item`]) to file an item under the
//! right account and set-up; it never has the backup key. [`open_backup`] is the recovering
//! device's side: steps 1–5 of §15.2, refusing items one by one.

use std::fmt;

use zeroize::Zeroizing;

use crate::bundle::{KeyBundle, Record};
use crate::codec::{Reader, Writer};
use crate::crypto::aead::{AeadKey, KEY_LEN, NONCE_LEN};
use crate::crypto::hkdf_sha256;
use crate::crypto::rsa::SigningKeyPair;
use crate::domain::Domain;
use crate::env::Timestamp;
use crate::error::{DecodeError, Error, RecoveryError};
use crate::identity::{AccountIdentity, DeviceKeys, MasterKey, VerifiedRevocation};
use crate::ids::{AccountId, DeviceId};
use crate::limits::MAX_CERTIFICATE_LEN;
use crate::recovery::{BackupKey, RecoveryId};
use crate::signed::{Signed, SignedSealed};

/// Bytes of a backup item's wire form.
pub const MAX_BACKUP_ITEM_LEN: usize = 262_144;
/// Records in one backup item.
pub const MAX_BACKUP_ITEM_RECORDS: usize = 1_000;
/// Bytes of the writer's device certificate (Signed form) inside a header.
pub const MAX_WRITER_CERTIFICATE_LEN: usize = 8_192;
/// Bytes of a header: the fixed fields, the certificate and its prefix.
pub const MAX_BACKUP_HEADER_LEN: usize = 256 + MAX_WRITER_CERTIFICATE_LEN;

/// The 16 random bytes naming one item; fresh per item, so each derived key and nonce seals
/// one item only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BackupItemId([u8; 16]);

impl BackupItemId {
    /// Wraps bytes.
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// A fresh id.
    pub fn generate(env: &mut crate::env::Env<'_>) -> Result<Self, Error> {
        Ok(Self(env.random()?))
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

/// A backup item's header: readable by the server, authenticated by the AEAD and the writer's
/// signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupItemHeader {
    /// The account whose backup this is.
    pub account: AccountId,
    /// The recovery set-up it belongs to.
    pub recovery_id: RecoveryId,
    /// The item.
    pub item_id: BackupItemId,
    /// The device that wrote it.
    pub writer_device: DeviceId,
    /// When it was written (compared with the writer's revocation).
    pub written_at: Timestamp,
    /// The writer's device certificate, Signed wire form (at most 8192 bytes).
    pub writer_certificate: Vec<u8>,
}

impl BackupItemHeader {
    /// The canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::for_domain(Domain::BackupItem);
        self.account.encode(&mut w);
        w.fixed(self.recovery_id.as_bytes());
        w.fixed(self.item_id.as_bytes());
        self.writer_device.encode(&mut w);
        w.u64(self.written_at.millis());
        w.bytes(&self.writer_certificate);
        w.finish()
    }

    /// Decodes a header.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::for_domain(bytes, Domain::BackupItem)?;
        let header = Self {
            account: AccountId::decode(&mut r)?,
            recovery_id: RecoveryId::from_bytes(r.array()?),
            item_id: BackupItemId::from_bytes(r.array()?),
            writer_device: DeviceId::decode(&mut r)?,
            written_at: Timestamp(r.u64()?),
            writer_certificate: r
                .bytes("writer certificate", MAX_WRITER_CERTIFICATE_LEN)?
                .to_vec(),
        };
        r.finish()?;
        Ok(header)
    }

    /// The header of an item's wire form, the whole item checked for structure and bounds: what
    /// the server needs to file it, without any key.
    pub fn decode_item(wire: &[u8]) -> Result<Self, Error> {
        Ok(BackupItem::decode(wire)?.header)
    }
}

/// A decoded (not yet opened) backup item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupItem {
    header: BackupItemHeader,
    sealed: SignedSealed,
}

impl BackupItem {
    /// Seals `bundle` (at most 1000 records) as item `item_id` of `account`'s set-up
    /// `recovery_id`, signed by the writing device. `writer_certificate` is the writer's device
    /// certificate.
    #[allow(clippy::too_many_arguments)]
    pub fn seal(
        backup_key: &BackupKey,
        account: AccountId,
        recovery_id: RecoveryId,
        item_id: BackupItemId,
        writer: &DeviceKeys,
        writer_certificate: &Signed,
        written_at: Timestamp,
        bundle: &KeyBundle,
    ) -> Result<Self, Error> {
        let writer_certificate = writer_certificate.encode();
        if writer_certificate.len() > MAX_WRITER_CERTIFICATE_LEN {
            return Err(Error::InvalidInput {
                field: "writer certificate",
                reason: "longer than 8192 bytes",
            });
        }
        let header = BackupItemHeader {
            account,
            recovery_id,
            item_id,
            writer_device: writer.device(),
            written_at,
            writer_certificate,
        };
        let header_bytes = header.encode();
        let plaintext = bundle.encode_bounded(MAX_BACKUP_ITEM_RECORDS)?;
        let ciphertext =
            item_key(backup_key, recovery_id, item_id)?.seal(&header_bytes, &plaintext)?;
        let sealed = SignedSealed::sign(header_bytes, ciphertext, writer.signing())?;
        let item = Self { header, sealed };
        if item.encode().len() > MAX_BACKUP_ITEM_LEN {
            return Err(Error::InvalidInput {
                field: "backup item",
                reason: "longer than 262144 bytes: split the records over more items",
            });
        }
        Ok(item)
    }

    /// Decodes the wire form (at most 262144 bytes), checking structure and bounds only.
    pub fn decode(wire: &[u8]) -> Result<Self, Error> {
        if wire.len() > MAX_BACKUP_ITEM_LEN {
            return Err(DecodeError::TooLong {
                field: "backup item",
                max: MAX_BACKUP_ITEM_LEN,
            }
            .into());
        }
        let sealed = SignedSealed::decode(wire, MAX_BACKUP_HEADER_LEN, MAX_BACKUP_ITEM_LEN)?;
        let header = BackupItemHeader::decode(sealed.header())?;
        Ok(Self { header, sealed })
    }

    /// The decoded header (unverified until opened).
    pub fn header(&self) -> &BackupItemHeader {
        &self.header
    }

    /// The signed parts.
    pub fn sealed(&self) -> &SignedSealed {
        &self.sealed
    }

    /// The wire form.
    pub fn encode(&self) -> Vec<u8> {
        self.sealed.encode()
    }
}

/// `HKDF(ikm = backup key, info = domain("sotto/backup-item-key") ‖ recovery id ‖ item id, 44)`.
fn item_key(
    backup_key: &BackupKey,
    recovery_id: RecoveryId,
    item_id: BackupItemId,
) -> Result<AeadKey, Error> {
    let mut info = Writer::for_domain(Domain::BackupItemKey);
    info.fixed(recovery_id.as_bytes());
    info.fixed(item_id.as_bytes());
    let mut okm = Zeroizing::new([0u8; KEY_LEN + NONCE_LEN]);
    hkdf_sha256(&[], backup_key.danger_bytes(), &info.finish(), okm.as_mut())?;
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    let mut nonce = [0u8; NONCE_LEN];
    for (dst, src) in key.iter_mut().chain(nonce.iter_mut()).zip(okm.iter()) {
        *dst = *src;
    }
    Ok(AeadKey::new(key, nonce))
}

/// An item [`open_backup`] skipped, and why.
#[derive(Debug)]
pub struct ItemRefusal {
    /// The item's position in the input.
    pub position: usize,
    /// Its id, when its header decoded.
    pub item_id: Option<BackupItemId>,
    /// Why it was skipped (`decode/*`, `wrong-account`, `decryption-failed`, `id-mismatch`,
    /// `bad-signature`, `device-revoked`, a `key/*` of its writer certificate).
    pub error: Error,
}

/// What a backup gives back.
pub struct OpenedBackup {
    /// The account's master key.
    pub master: MasterKey,
    /// Its PKCS#8 DER (for the recovering device's store).
    pub master_pkcs8: Zeroizing<Vec<u8>>,
    /// The records of every accepted item, MasterKey records left out, in item order.
    pub records: Vec<Record>,
    /// The items skipped.
    pub refused: Vec<ItemRefusal>,
}

impl fmt::Debug for OpenedBackup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenedBackup")
            .field("account", &self.master.account())
            .field("records", &self.records.len())
            .field("refused", &self.refused)
            .finish_non_exhaustive()
    }
}

/// Opens a backup's items (`docs/protocol.md` §15.2 steps 1–5) for the account `account`, set-up
/// `recovery_id`. `revocations` are the account's revocations as the server lists them; they are
/// verified under the master key the backup holds, and one that does not verify is ignored.
///
/// A refused item is skipped and reported in [`OpenedBackup::refused`]. The whole backup fails
/// only when no opened item holds a usable master key: `recovery/no-master-key` when none holds
/// one, `wrong-account` (or the key's `key/*`) when the only ones found are not the account's.
pub fn open_backup(
    items: &[&[u8]],
    account: AccountId,
    recovery_id: RecoveryId,
    backup_key: &BackupKey,
    revocations: &[Signed],
) -> Result<OpenedBackup, Error> {
    let mut refused = Vec::new();
    let mut opened: Vec<(usize, BackupItem, KeyBundle)> = Vec::new();
    for (position, wire) in items.iter().enumerate() {
        match open_item(wire, account, recovery_id, backup_key) {
            Ok((item, bundle)) => opened.push((position, item, bundle)),
            Err((item_id, error)) => refused.push(ItemRefusal {
                position,
                item_id,
                error,
            }),
        }
    }
    let (master, master_pkcs8) = find_master_key(&opened, account)?;
    let identity = AccountIdentity::from_key(master.verifying_key().clone());
    let revocations: Vec<VerifiedRevocation> = revocations
        .iter()
        .filter_map(|r| identity.verify_revocation(r).ok())
        .collect();
    let mut records = Vec::new();
    for (position, item, bundle) in opened {
        match check_writer(&item, &identity, &revocations) {
            Ok(()) => records.extend(
                bundle
                    .records
                    .into_iter()
                    .filter(|r| !matches!(r, Record::MasterKey(_))),
            ),
            Err(error) => refused.push(ItemRefusal {
                position,
                item_id: Some(item.header.item_id),
                error,
            }),
        }
    }
    refused.sort_by_key(|r| r.position);
    Ok(OpenedBackup {
        master,
        master_pkcs8,
        records,
        refused,
    })
}

type Refused = (Option<BackupItemId>, Error);

/// Steps 1 and 2: decode, check account and set-up, derive the key, open, decode the bundle.
fn open_item(
    wire: &[u8],
    account: AccountId,
    recovery_id: RecoveryId,
    backup_key: &BackupKey,
) -> Result<(BackupItem, KeyBundle), Refused> {
    let item = BackupItem::decode(wire).map_err(|e| (None, e))?;
    let id = Some(item.header.item_id);
    if item.header.account != account || item.header.recovery_id != recovery_id {
        return Err((
            id,
            Error::WrongAccount {
                what: "backup item",
            },
        ));
    }
    let plaintext = item_key(backup_key, recovery_id, item.header.item_id)
        .and_then(|key| key.open(item.sealed.header(), item.sealed.ciphertext()))
        .map_err(|_| (id, Error::DecryptionFailed))?;
    // Sealed by a holder of the backup key, so a malformed bundle is a broken writer; still one
    // code for every failure after the header, as for any decryption.
    let bundle = KeyBundle::decode_bounded(&plaintext, MAX_BACKUP_ITEM_RECORDS)
        .map_err(|_| (id, Error::DecryptionFailed))?;
    Ok((item, bundle))
}

/// Step 3: the first MasterKey record, among the opened items, that is the account's.
fn find_master_key(
    opened: &[(usize, BackupItem, KeyBundle)],
    account: AccountId,
) -> Result<(MasterKey, Zeroizing<Vec<u8>>), Error> {
    let mut refusal = None;
    for (_, _, bundle) in opened.iter() {
        for record in &bundle.records {
            let Record::MasterKey(key) = record else {
                continue;
            };
            let parsed = SigningKeyPair::from_pkcs8(key.danger_pkcs8()).map(MasterKey::from_key);
            match parsed {
                Ok(master) if master.account() == account => {
                    return Ok((master, Zeroizing::new(key.danger_pkcs8().to_vec())));
                }
                Ok(_) => refusal = Some(Error::WrongAccount { what: "master key" }),
                Err(error) => refusal = Some(error),
            }
        }
    }
    Err(refusal.unwrap_or_else(|| RecoveryError::NoMasterKey.into()))
}

/// Step 4: the writer certificate verifies under the master key and names the writer, the
/// signature verifies under the writer's key, and the item was written before any revocation of
/// the writer.
fn check_writer(
    item: &BackupItem,
    identity: &AccountIdentity,
    revocations: &[VerifiedRevocation],
) -> Result<(), Error> {
    let certificate = Signed::decode(&item.header.writer_certificate, MAX_CERTIFICATE_LEN)?;
    let writer = identity.verify_device(&certificate, &[])?;
    if writer.device() != item.header.writer_device {
        return Err(Error::IdMismatch {
            what: "backup item writer",
        });
    }
    item.sealed.verify("backup item", writer.signing_key())?;
    let revoked = revocations.iter().any(|r| {
        r.body().device == writer.device() && item.header.written_at >= r.body().revoked_at
    });
    if revoked {
        return Err(Error::DeviceRevoked {
            device: writer.device(),
        });
    }
    Ok(())
}
