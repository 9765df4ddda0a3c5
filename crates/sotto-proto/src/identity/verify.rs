//! The verifier: the only way to obtain a [`VerifiedDevice`] or a [`VerifiedExchangeKey`], and so
//! the only way to address a key distribution to anyone. A device counts only through a valid
//! chain `pinned master key → device certificate → exchange-key certificate`; a device the server
//! adds with valid RSA keys but no master signature never yields a `VerifiedDevice` (attack A1).

use crate::crypto::prekey::PrekeyPublic;
use crate::crypto::rsa::{EncryptingKey, VerifyingKey};
use crate::env::Timestamp;
use crate::error::Error;
use crate::identity::certificate::{DeviceCertificate, ExchangeKeyCertificate, Revocation};
use crate::identity::keys::check_validity;
use crate::ids::{AccountId, AuthKeyId, DeviceId, ExchangeKeyId};
use crate::limits::{MAX_CLOCK_SKEW_MS, MAX_PREKEY_BODY_LEN};
use crate::prekey::{OneTimePrekey, VerifiedPrekey};
use crate::signed::Signed;

/// An account's master public key, as pinned by a peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountIdentity {
    account: AccountId,
    master: VerifyingKey,
}

impl AccountIdentity {
    /// Pins a master public key (SPKI DER), validating it.
    pub fn from_master_spki(spki: &[u8]) -> Result<Self, Error> {
        let master = VerifyingKey::from_spki(spki)?;
        Ok(Self::from_key(master))
    }

    /// Pins an already-validated master key.
    pub fn from_key(master: VerifyingKey) -> Self {
        Self {
            account: AccountId::from_master_spki(master.spki()),
            master,
        }
    }

    /// The account id (derived from the master key).
    pub fn account(&self) -> AccountId {
        self.account
    }

    /// The master public key.
    pub fn master_key(&self) -> &VerifyingKey {
        &self.master
    }

    /// Verifies a revocation issued by this account.
    pub fn verify_revocation(&self, signed: &Signed) -> Result<VerifiedRevocation, Error> {
        let body = Revocation::decode(signed.unverified_body())?;
        if body.account != self.account {
            return Err(Error::WrongAccount { what: "revocation" });
        }
        signed.verify("revocation", &self.master)?;
        Ok(VerifiedRevocation(body))
    }

    /// Verifies a device certificate against this pinned master key and the account's verified
    /// revocations.
    pub fn verify_device(
        &self,
        signed: &Signed,
        revocations: &[VerifiedRevocation],
    ) -> Result<VerifiedDevice, Error> {
        let body = DeviceCertificate::decode(signed.unverified_body())?;
        if body.account != self.account {
            return Err(Error::WrongAccount {
                what: "device certificate",
            });
        }
        signed.verify("device certificate", &self.master)?;
        if DeviceId::from_signing_spki(&body.signing_key) != body.device {
            return Err(Error::IdMismatch { what: "device id" });
        }
        let master = self.master.spki();
        if body.signing_key == body.auth_key
            || body.signing_key == master
            || body.auth_key == master
        {
            return Err(Error::InvalidInput {
                field: "device keys",
                reason: "signing, auth and master keys must all differ",
            });
        }
        let signing_key = VerifyingKey::from_spki(&body.signing_key)?;
        let auth_key = VerifyingKey::from_spki(&body.auth_key)?;
        if revocations
            .iter()
            .any(|r| r.0.account == self.account && r.0.device == body.device)
        {
            return Err(Error::DeviceRevoked {
                device: body.device,
            });
        }
        Ok(VerifiedDevice {
            account: self.account,
            device: body.device,
            auth_key_id: AuthKeyId::from_spki(auth_key.spki()),
            signing_key,
            auth_key,
            name: body.name,
            issued_at: body.issued_at,
        })
    }
}

/// A revocation whose master signature verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedRevocation(Revocation);

impl VerifiedRevocation {
    /// The verified content.
    pub fn body(&self) -> &Revocation {
        &self.0
    }
}

/// A device whose certificate chains to its account's pinned master key and is not revoked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedDevice {
    account: AccountId,
    device: DeviceId,
    signing_key: VerifyingKey,
    auth_key: VerifyingKey,
    auth_key_id: AuthKeyId,
    name: String,
    issued_at: Timestamp,
}

impl VerifiedDevice {
    /// The account the device belongs to.
    pub fn account(&self) -> AccountId {
        self.account
    }

    /// The device id.
    pub fn device(&self) -> DeviceId {
        self.device
    }

    /// The device signing key.
    pub fn signing_key(&self) -> &VerifyingKey {
        &self.signing_key
    }

    /// The device auth key (verifies login challenges).
    pub fn auth_key(&self) -> &VerifyingKey {
        &self.auth_key
    }

    /// The auth key's id.
    pub fn auth_key_id(&self) -> AuthKeyId {
        self.auth_key_id
    }

    /// The device's display name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// When the device was certified.
    pub fn issued_at(&self) -> Timestamp {
        self.issued_at
    }

    /// Verifies one of this device's exchange-key certificates at time `now`. `highest_serial_seen`
    /// is the highest serial the caller accepted before for this device: a lower one is a rollback
    /// (attack A4), the same one is fine.
    pub fn verify_exchange_key(
        &self,
        signed: &Signed,
        now: Timestamp,
        highest_serial_seen: Option<u64>,
    ) -> Result<VerifiedExchangeKey, Error> {
        self.verify_exchange_key_after_v2(signed, now, highest_serial_seen, false)
    }

    /// [`Self::verify_exchange_key`] with the rule of `docs/protocol.md` §18.3: once a version-2
    /// certificate of this device was accepted (`v2_seen`), a version-1 certificate is refused
    /// (`exchange-key-rollback`), since a device that runs version 2 never signs one again. A
    /// version-2 certificate's last-resort prekey is validated last (`prekey/invalid-key`).
    pub fn verify_exchange_key_after_v2(
        &self,
        signed: &Signed,
        now: Timestamp,
        highest_serial_seen: Option<u64>,
        v2_seen: bool,
    ) -> Result<VerifiedExchangeKey, Error> {
        let body = ExchangeKeyCertificate::decode(signed.unverified_body())?;
        if body.account != self.account || body.device != self.device {
            return Err(Error::WrongAccount {
                what: "exchange-key certificate",
            });
        }
        signed.verify("exchange-key certificate", &self.signing_key)?;
        check_validity(body.not_before, body.not_after)?;
        if now.plus(MAX_CLOCK_SKEW_MS) < body.not_before || now >= body.not_after {
            return Err(Error::ExchangeKeyNotValidNow);
        }
        if let Some(seen) = highest_serial_seen {
            if body.serial < seen {
                return Err(Error::ExchangeKeyRollback {
                    seen,
                    got: body.serial,
                });
            }
        }
        if v2_seen && !body.is_v2() {
            return Err(Error::ExchangeKeyRollback {
                seen: highest_serial_seen.unwrap_or(body.serial),
                got: body.serial,
            });
        }
        if body.exchange_key == self.signing_key.spki() || body.exchange_key == self.auth_key.spki()
        {
            return Err(Error::InvalidInput {
                field: "exchange key",
                reason: "must differ from the device's signing and auth keys",
            });
        }
        let key = EncryptingKey::from_spki(&body.exchange_key)?;
        if let Some(prekey) = &body.last_resort {
            prekey.validate()?;
        }
        Ok(VerifiedExchangeKey {
            account: self.account,
            device: self.device,
            key_id: ExchangeKeyId::from_spki(key.spki()),
            key,
            serial: body.serial,
            not_before: body.not_before,
            not_after: body.not_after,
            last_resort: body.last_resort,
        })
    }

    /// Verifies a one-time prekey of this device (`docs/protocol.md` §18.4), in this order:
    /// decode; account and device are this device's (`wrong-account`); the signature verifies
    /// under its signing key (`bad-signature`); `created_at ≤ now + 3 h` (`receive/far-future`);
    /// the keys pass §18.2 (`prekey/invalid-key`).
    pub fn verify_one_time_prekey(
        &self,
        signed: &Signed,
        now: Timestamp,
    ) -> Result<VerifiedPrekey, Error> {
        let bytes = signed.unverified_body();
        if bytes.len() > MAX_PREKEY_BODY_LEN {
            return Err(crate::error::DecodeError::TooLong {
                field: "prekey",
                max: MAX_PREKEY_BODY_LEN,
            }
            .into());
        }
        let body = OneTimePrekey::decode(bytes)?;
        if body.account != self.account || body.device != self.device {
            return Err(Error::WrongAccount {
                what: "one-time prekey",
            });
        }
        signed.verify("one-time prekey", &self.signing_key)?;
        if body.created_at > now.plus(MAX_CLOCK_SKEW_MS) {
            return Err(crate::error::ReceiveError::FarFuture.into());
        }
        body.public.validate()?;
        Ok(VerifiedPrekey { body })
    }
}

/// An exchange key certified by a verified device and valid when it was checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedExchangeKey {
    account: AccountId,
    device: DeviceId,
    key_id: ExchangeKeyId,
    key: EncryptingKey,
    serial: u64,
    not_before: Timestamp,
    not_after: Timestamp,
    last_resort: Option<PrekeyPublic>,
}

impl VerifiedExchangeKey {
    /// The owning account.
    pub fn account(&self) -> AccountId {
        self.account
    }

    /// The owning device.
    pub fn device(&self) -> DeviceId {
        self.device
    }

    /// The key's id.
    pub fn key_id(&self) -> ExchangeKeyId {
        self.key_id
    }

    /// The public key.
    pub fn key(&self) -> &EncryptingKey {
        &self.key
    }

    /// The certificate serial.
    pub fn serial(&self) -> u64 {
        self.serial
    }

    /// Start of validity.
    pub fn not_before(&self) -> Timestamp {
        self.not_before
    }

    /// End of validity.
    pub fn not_after(&self) -> Timestamp {
        self.not_after
    }

    /// The last-resort prekey certified with this key: `Some` exactly for a version-2
    /// certificate, validated (§18.2).
    pub fn last_resort(&self) -> Option<&PrekeyPublic> {
        self.last_resort.as_ref()
    }

    /// Whether the certificate was version 2, so a sender owes the device a version-2
    /// distribution (§18.7).
    pub fn is_v2(&self) -> bool {
        self.last_resort.is_some()
    }
}
