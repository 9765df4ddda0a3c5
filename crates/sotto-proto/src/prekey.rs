//! One-time prekeys (`docs/protocol.md` §18.4): a prekey's public half, signed by the device
//! signing key of the device that made it, uploaded to the server and handed out once.
//!
//! ```text
//! body = domain("sotto/prekey", version 2) ‖ account id [32] ‖ device id [32] ‖ prekey id [16]
//!      ‖ u64 created_at ‖ EC public key [65] ‖ ML-KEM encapsulation key [1184]
//! ```
//!
//! Signing is [`crate::identity::DeviceKeys::sign_one_time_prekey`], verification
//! [`crate::identity::VerifiedDevice::verify_one_time_prekey`], which yields a [`VerifiedPrekey`]:
//! the only form a sender can distribute to.

use crate::codec::{Reader, Writer};
use crate::crypto::prekey::PrekeyPublic;
use crate::domain::Domain;
use crate::env::Timestamp;
use crate::error::DecodeError;
use crate::ids::{AccountId, DeviceId, PrekeyId};

/// Bytes of an encoded one-time prekey body (every field is fixed-size).
pub const PREKEY_BODY_LEN: usize = 14 + 32 + 32 + 16 + 8 + 65 + 1184;

/// The body of a one-time prekey.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OneTimePrekey {
    /// The account of the device that made it.
    pub account: AccountId,
    /// The device that made it.
    pub device: DeviceId,
    /// When it was made.
    pub created_at: Timestamp,
    /// The public keys and the id.
    pub public: PrekeyPublic,
}

impl OneTimePrekey {
    /// The canonical encoding (what the device signs). The keys' lengths are checked by the
    /// signer before it encodes.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::for_domain(Domain::Prekey);
        self.account.encode(&mut w);
        self.device.encode(&mut w);
        self.public.id.encode(&mut w);
        w.u64(self.created_at.millis());
        self.public.encode_keys(&mut w);
        w.finish()
    }

    /// Decodes a body: structure only; the keys are validated by the verifier.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::for_domain(bytes, Domain::Prekey)?;
        let account = AccountId::decode(&mut r)?;
        let device = DeviceId::decode(&mut r)?;
        let id = PrekeyId::decode(&mut r)?;
        let created_at = Timestamp(r.u64()?);
        let public = PrekeyPublic::decode_keys(id, &mut r)?;
        r.finish()?;
        Ok(Self {
            account,
            device,
            created_at,
            public,
        })
    }
}

/// A one-time prekey whose signature, owner, time and keys were checked (§18.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedPrekey {
    pub(crate) body: OneTimePrekey,
}

impl VerifiedPrekey {
    /// The prekey's id.
    pub fn id(&self) -> PrekeyId {
        self.body.public.id
    }

    /// The validated public keys.
    pub fn public(&self) -> &PrekeyPublic {
        &self.body.public
    }

    /// The account of the device that made it.
    pub fn account(&self) -> AccountId {
        self.body.account
    }

    /// The device that made it.
    pub fn device(&self) -> DeviceId {
        self.body.device
    }

    /// When it was made.
    pub fn created_at(&self) -> Timestamp {
        self.body.created_at
    }
}
