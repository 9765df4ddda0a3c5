//! The bodies of the three identity structures, byte for byte (`docs/protocol.md` §4).
//!
//! - [`DeviceCertificate`]: the account master key vouches for a device's signing and auth keys.
//! - [`Revocation`]: the master key withdraws a device, with a serial.
//! - [`ExchangeKeyCertificate`]: a device vouches for one of its exchange keys for a period, and
//!   in version 2 (`docs/protocol.md` §18.3) also for its last-resort prekey.

use crate::codec::{Reader, Writer};
use crate::crypto::prekey::PrekeyPublic;
use crate::crypto::rsa::MAX_SPKI_LEN;
use crate::domain::Domain;
use crate::env::Timestamp;
use crate::error::DecodeError;
use crate::ids::{AccountId, DeviceId, PrekeyId};

/// The longest device name, in bytes.
pub const MAX_DEVICE_NAME_LEN: usize = 64;

/// A device certificate body, signed by the account master key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceCertificate {
    /// The account whose master key signs this certificate.
    pub account: AccountId,
    /// The device: the id of `signing_key`.
    pub device: DeviceId,
    /// The device signing key (RSA-PSS), SPKI DER.
    pub signing_key: Vec<u8>,
    /// The device auth key (RSA-PSS, server login challenges only), SPKI DER.
    pub auth_key: Vec<u8>,
    /// When the master key signed it.
    pub issued_at: Timestamp,
    /// A name the owner gave the device ("laptop"), shown in device lists.
    pub name: String,
}

impl DeviceCertificate {
    /// The canonical encoding (what the master key signs).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::for_domain(Domain::DeviceCertificate);
        self.account.encode(&mut w);
        self.device.encode(&mut w);
        w.bytes(&self.signing_key);
        w.bytes(&self.auth_key);
        w.u64(self.issued_at.millis());
        w.text(&self.name);
        w.finish()
    }

    /// Decodes a body.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::for_domain(bytes, Domain::DeviceCertificate)?;
        let cert = Self {
            account: AccountId::decode(&mut r)?,
            device: DeviceId::decode(&mut r)?,
            signing_key: r.bytes("signing key", MAX_SPKI_LEN)?.to_vec(),
            auth_key: r.bytes("auth key", MAX_SPKI_LEN)?.to_vec(),
            issued_at: Timestamp(r.u64()?),
            name: r
                .display_text("device name", MAX_DEVICE_NAME_LEN)?
                .to_owned(),
        };
        r.finish()?;
        Ok(cert)
    }
}

/// A revocation body, signed by the account master key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revocation {
    /// The account whose master key signs it.
    pub account: AccountId,
    /// The device withdrawn.
    pub device: DeviceId,
    /// Increases with each revocation the account issues.
    pub serial: u64,
    /// When it was issued.
    pub revoked_at: Timestamp,
}

impl Revocation {
    /// The canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::for_domain(Domain::Revocation);
        self.account.encode(&mut w);
        self.device.encode(&mut w);
        w.u64(self.serial);
        w.u64(self.revoked_at.millis());
        w.finish()
    }

    /// Decodes a body.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::for_domain(bytes, Domain::Revocation)?;
        let revocation = Self {
            account: AccountId::decode(&mut r)?,
            device: DeviceId::decode(&mut r)?,
            serial: r.u64()?,
            revoked_at: Timestamp(r.u64()?),
        };
        r.finish()?;
        Ok(revocation)
    }
}

/// An exchange-key certificate body, signed by the device signing key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExchangeKeyCertificate {
    /// The device's account.
    pub account: AccountId,
    /// The device whose signing key signs it.
    pub device: DeviceId,
    /// The exchange key (RSA-OAEP), SPKI DER.
    pub exchange_key: Vec<u8>,
    /// Increases with each rotation; senders refuse a lower serial than one seen.
    pub serial: u64,
    /// Start of validity.
    pub not_before: Timestamp,
    /// End of validity (exclusive).
    pub not_after: Timestamp,
    /// The last-resort prekey certified with the exchange key: `Some` exactly for a version-2
    /// certificate (§18.3), which the encoding's version byte tells.
    pub last_resort: Option<PrekeyPublic>,
}

impl ExchangeKeyCertificate {
    /// The canonical encoding: version 1 without a last-resort prekey, version 2 with one.
    pub fn encode(&self) -> Vec<u8> {
        let domain = match self.last_resort {
            None => Domain::ExchangeKeyCertificate,
            Some(_) => Domain::ExchangeKeyCertificateV2,
        };
        let mut w = Writer::for_domain(domain);
        self.account.encode(&mut w);
        self.device.encode(&mut w);
        w.bytes(&self.exchange_key);
        w.u64(self.serial);
        w.u64(self.not_before.millis());
        w.u64(self.not_after.millis());
        if let Some(prekey) = &self.last_resort {
            prekey.id.encode(&mut w);
            prekey.encode_keys(&mut w);
        }
        w.finish()
    }

    /// Whether this is a version-2 certificate.
    pub fn is_v2(&self) -> bool {
        self.last_resort.is_some()
    }

    /// Decodes a body.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let (mut r, version) = Reader::for_versioned_domain(
            bytes,
            Domain::ExchangeKeyCertificate,
            Domain::ExchangeKeyCertificateV2,
        )?;
        let mut cert = Self {
            account: AccountId::decode(&mut r)?,
            device: DeviceId::decode(&mut r)?,
            exchange_key: r.bytes("exchange key", MAX_SPKI_LEN)?.to_vec(),
            serial: r.u64()?,
            not_before: Timestamp(r.u64()?),
            not_after: Timestamp(r.u64()?),
            last_resort: None,
        };
        if version == Domain::ExchangeKeyCertificateV2.version() {
            let id = PrekeyId::decode(&mut r)?;
            cert.last_resort = Some(PrekeyPublic::decode_keys(id, &mut r)?);
        }
        r.finish()?;
        Ok(cert)
    }
}
