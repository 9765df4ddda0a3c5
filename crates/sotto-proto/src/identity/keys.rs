//! The private keys an account and a device hold, and the certificates only they can issue.
//!
//! - [`MasterKey`]: the account's root of trust; certifies and revokes devices.
//! - [`DeviceKeys`]: a device's signing key (messages, distributions, group changes, exchange-key
//!   certificates) and its auth key (server login challenges only, so the server never obtains an
//!   end-to-end signature over bytes it chose).

use crate::crypto::prekey::PrekeyPublic;
use crate::crypto::rsa::{EncryptingKey, RsaBits, SigningKeyPair, VerifyingKey};
use crate::env::Timestamp;
use crate::error::Error;
use crate::identity::certificate::{DeviceCertificate, ExchangeKeyCertificate, Revocation};
use crate::ids::{AccountId, DeviceId};
use crate::prekey::OneTimePrekey;
use crate::signed::Signed;

/// The longest validity an exchange-key certificate may claim.
pub const MAX_EXCHANGE_KEY_VALIDITY_MS: u64 = 30 * Timestamp::DAY;

/// An account's master signing key.
#[derive(Debug)]
pub struct MasterKey {
    key: SigningKeyPair,
    account: AccountId,
}

impl MasterKey {
    /// Generates a new master key (a new account identity).
    pub fn generate(bits: RsaBits) -> Result<Self, Error> {
        Ok(Self::from_key(SigningKeyPair::generate(bits)?))
    }

    /// Wraps an existing signing key pair.
    pub fn from_key(key: SigningKeyPair) -> Self {
        let account = AccountId::from_master_spki(key.verifying_key().spki());
        Self { key, account }
    }

    /// The account this key identifies.
    pub fn account(&self) -> AccountId {
        self.account
    }

    /// The public master key, which peers pin.
    pub fn verifying_key(&self) -> &VerifyingKey {
        self.key.verifying_key()
    }

    /// The key pair, for storage.
    pub fn key_pair(&self) -> &SigningKeyPair {
        &self.key
    }

    /// Certifies a device's public keys: the approval of a new device.
    pub fn certify_device(
        &self,
        signing_key: &VerifyingKey,
        auth_key: &VerifyingKey,
        name: &str,
        issued_at: Timestamp,
    ) -> Result<Signed, Error> {
        let master = self.key.verifying_key().spki();
        if signing_key.spki() == auth_key.spki()
            || signing_key.spki() == master
            || auth_key.spki() == master
        {
            return Err(Error::InvalidInput {
                field: "device keys",
                reason: "signing, auth and master keys must all differ",
            });
        }
        if !crate::codec::is_display_text(name)
            || name.len() > crate::identity::certificate::MAX_DEVICE_NAME_LEN
        {
            return Err(Error::InvalidInput {
                field: "device name",
                reason: "1 to 64 bytes, no control characters",
            });
        }
        let body = DeviceCertificate {
            account: self.account,
            device: DeviceId::from_signing_spki(signing_key.spki()),
            signing_key: signing_key.spki().to_vec(),
            auth_key: auth_key.spki().to_vec(),
            issued_at,
            name: name.to_owned(),
        };
        Signed::sign(body.encode(), &self.key)
    }

    /// Revokes a device. `serial` must exceed every serial this account issued before.
    pub fn revoke(
        &self,
        device: DeviceId,
        serial: u64,
        revoked_at: Timestamp,
    ) -> Result<Signed, Error> {
        let body = Revocation {
            account: self.account,
            device,
            serial,
            revoked_at,
        };
        Signed::sign(body.encode(), &self.key)
    }
}

/// A device's signing and auth keys.
#[derive(Debug)]
pub struct DeviceKeys {
    signing: SigningKeyPair,
    auth: SigningKeyPair,
    device: DeviceId,
}

impl DeviceKeys {
    /// Generates the keys of a new device.
    pub fn generate(bits: RsaBits) -> Result<Self, Error> {
        Self::from_keys(
            SigningKeyPair::generate(bits)?,
            SigningKeyPair::generate(bits)?,
        )
    }

    /// Wraps existing key pairs; the two must differ.
    pub fn from_keys(signing: SigningKeyPair, auth: SigningKeyPair) -> Result<Self, Error> {
        if signing.verifying_key() == auth.verifying_key() {
            return Err(Error::InvalidInput {
                field: "auth key",
                reason: "must differ from the signing key",
            });
        }
        let device = DeviceId::from_signing_spki(signing.verifying_key().spki());
        Ok(Self {
            signing,
            auth,
            device,
        })
    }

    /// This device's id.
    pub fn device(&self) -> DeviceId {
        self.device
    }

    /// The signing key pair.
    pub fn signing(&self) -> &SigningKeyPair {
        &self.signing
    }

    /// The auth key pair (server login challenges only).
    pub fn auth(&self) -> &SigningKeyPair {
        &self.auth
    }

    /// Certifies one of this device's exchange keys for `[not_before, not_after)`.
    pub fn certify_exchange_key(
        &self,
        account: AccountId,
        exchange_key: &EncryptingKey,
        serial: u64,
        not_before: Timestamp,
        not_after: Timestamp,
    ) -> Result<Signed, Error> {
        self.certify(account, exchange_key, serial, not_before, not_after, None)
    }

    /// Certifies one of this device's exchange keys together with its last-resort prekey: a
    /// version-2 certificate (`docs/protocol.md` §18.3). The prekey is validated first, so the
    /// device never signs a key every verifier would refuse.
    pub fn certify_exchange_key_v2(
        &self,
        account: AccountId,
        exchange_key: &EncryptingKey,
        last_resort: &PrekeyPublic,
        serial: u64,
        not_before: Timestamp,
        not_after: Timestamp,
    ) -> Result<Signed, Error> {
        last_resort.check_lengths()?;
        last_resort.validate()?;
        let last_resort = Some(last_resort.clone());
        self.certify(
            account,
            exchange_key,
            serial,
            not_before,
            not_after,
            last_resort,
        )
    }

    /// Signs an exchange-key certificate of either version (version 2 when it carries a
    /// last-resort prekey).
    fn certify(
        &self,
        account: AccountId,
        exchange_key: &EncryptingKey,
        serial: u64,
        not_before: Timestamp,
        not_after: Timestamp,
        last_resort: Option<PrekeyPublic>,
    ) -> Result<Signed, Error> {
        check_validity(not_before, not_after)?;
        let body = ExchangeKeyCertificate {
            account,
            device: self.device,
            exchange_key: exchange_key.spki().to_vec(),
            serial,
            not_before,
            not_after,
            last_resort,
        };
        Signed::sign(body.encode(), &self.signing)
    }

    /// Signs a one-time prekey of this device (`docs/protocol.md` §18.4), for upload.
    pub fn sign_one_time_prekey(
        &self,
        account: AccountId,
        prekey: &PrekeyPublic,
        created_at: Timestamp,
    ) -> Result<Signed, Error> {
        prekey.check_lengths()?;
        prekey.validate()?;
        let body = OneTimePrekey {
            account,
            device: self.device,
            created_at,
            public: prekey.clone(),
        };
        Signed::sign(body.encode(), &self.signing)
    }

    /// Signs a server login challenge with the auth key (see [`crate::auth`]).
    pub fn sign_auth_challenge(
        &self,
        challenge: &crate::auth::AuthChallenge,
    ) -> Result<Vec<u8>, Error> {
        self.auth.sign(&challenge.encode())
    }
}

/// Validity must be a non-empty interval no longer than [`MAX_EXCHANGE_KEY_VALIDITY_MS`].
pub(crate) fn check_validity(not_before: Timestamp, not_after: Timestamp) -> Result<(), Error> {
    if not_after <= not_before
        || not_after.millis() - not_before.millis() > MAX_EXCHANGE_KEY_VALIDITY_MS
    {
        return Err(Error::InvalidInput {
            field: "exchange key validity",
            reason: "must be a non-empty period of at most 30 days",
        });
    }
    Ok(())
}
