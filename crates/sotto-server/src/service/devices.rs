//! Devices and the key directory. The server verifies every public structure it stores with
//! `sotto-proto` (a second line of defence: clients verify again, against keys they pinned):
//! master keys must be valid RSA-3072+ SPKI, device certificates must chain to the account's
//! master key and not be revoked, revocations must be master-signed, exchange-key certificates
//! must be signed by their certified device, currently valid and not roll the serial back (nor
//! the version: no version-1 certificate after a version-2 one, protocol §18.3), and a
//! version-2 certificate's last-resort prekey must hold valid keys.

use sotto_proto::codec::is_display_text;
use sotto_proto::crypto::rsa::{EncryptingKey, VerifyingKey};
use sotto_proto::identity::certificate::MAX_DEVICE_NAME_LEN;
use sotto_proto::identity::{
    AccountIdentity, DeviceCertificate, ExchangeKeyCertificate, VerifiedDevice, VerifiedRevocation,
};
use sotto_proto::ids::{AccountId, DeviceId};
use sotto_proto::limits::{MAX_CERTIFICATE_LEN, MAX_CLOCK_SKEW_MS};
use sotto_proto::signed::Signed;

use crate::clock;
use crate::error::{Error, Result};
use crate::hub::CloseReason;
use crate::service::sessions::Authed;
use crate::state::AppState;
use crate::store::{DeviceRecord, DeviceState, UserId, UserRecord};

/// One account's public identity as the directory serves it.
#[derive(Clone, Debug)]
pub struct DirectoryEntry {
    /// Normalised username.
    pub username: String,
    /// Account id derived from the master key.
    pub account: AccountId,
    /// Master public key, SPKI DER.
    pub master_key: Vec<u8>,
    /// Active devices.
    pub devices: Vec<DeviceRecord>,
    /// Master-signed revocations.
    pub revocations: Vec<Vec<u8>>,
}

fn decode_signed(bytes: &[u8], what: &'static str) -> Result<Signed> {
    Signed::decode(bytes, MAX_CERTIFICATE_LEN).map_err(|e| Error::rejected(what, e.into()))
}

/// The account identity of a user who uploaded a master key.
pub fn identity(user: &UserRecord) -> Result<AccountIdentity> {
    let spki = user.master_key.as_deref().ok_or(Error::Conflict {
        what: "the account has no master key yet",
    })?;
    AccountIdentity::from_master_spki(spki).map_err(|e| Error::rejected("master key", e))
}

/// The verified revocations of a user.
pub async fn revocations(
    state: &AppState,
    user: UserId,
    identity: &AccountIdentity,
) -> Result<Vec<VerifiedRevocation>> {
    let mut out = Vec::new();
    for bytes in state.store.revocations_of(user).await? {
        let signed = decode_signed(&bytes, "stored revocation")?;
        out.push(
            identity
                .verify_revocation(&signed)
                .map_err(|_| Error::Corrupt { what: "revocation" })?,
        );
    }
    Ok(out)
}

/// Re-verifies a stored active device from its certificate.
pub async fn verified_device(
    state: &AppState,
    device: &DeviceId,
) -> Result<(VerifiedDevice, DeviceRecord)> {
    let record = state
        .store
        .device(device)
        .await?
        .filter(|d| d.state == DeviceState::Active)
        .ok_or(Error::NotFound { what: "device" })?;
    let user = state
        .store
        .user_by_id(record.user)
        .await?
        .ok_or(Error::Corrupt {
            what: "device owner",
        })?;
    let identity = identity(&user)?;
    let revocations = revocations(state, user.id, &identity).await?;
    let cert = record.certificate.as_deref().ok_or(Error::Corrupt {
        what: "certificate",
    })?;
    let verified = identity
        .verify_device(&decode_signed(cert, "stored certificate")?, &revocations)
        .map_err(|e| Error::rejected("device certificate", e))?;
    Ok((verified, record))
}

/// Uploads the account's master public key (once; the same key again is accepted).
pub async fn set_master_key(state: &AppState, authed: &Authed, spki: &[u8]) -> Result<AccountId> {
    let identity =
        AccountIdentity::from_master_spki(spki).map_err(|e| Error::rejected("master key", e))?;
    state
        .store
        .set_master_key(authed.user.id, &identity.account(), spki)
        .await?;
    Ok(identity.account())
}

/// Checks a pending device's exchange-key certificate (§4.5) as a certified device's is
/// checked, under the signing key the device announces instead of a certified one: it names
/// the account and the device, is signed by that key, is valid now, and its key is an
/// encryption key distinct from the device's other two. Returns its serial.
fn pending_exchange_key(
    account: AccountId,
    device: DeviceId,
    signing: &VerifyingKey,
    auth: &VerifyingKey,
    certificate: &[u8],
) -> Result<u64> {
    let what = "exchange-key certificate";
    let signed = decode_signed(certificate, what)?;
    let body = ExchangeKeyCertificate::decode(signed.unverified_body())
        .map_err(|e| Error::rejected(what, e.into()))?;
    if body.account != account || body.device != device {
        return Err(Error::rejected(
            what,
            sotto_proto::Error::WrongAccount { what },
        ));
    }
    signed
        .verify(what, signing)
        .map_err(|e| Error::rejected(what, e))?;
    let now = clock::now();
    if now.plus(MAX_CLOCK_SKEW_MS) < body.not_before || now >= body.not_after {
        return Err(Error::rejected(
            what,
            sotto_proto::Error::ExchangeKeyNotValidNow,
        ));
    }
    if body.exchange_key == signing.spki() || body.exchange_key == auth.spki() {
        return Err(Error::InvalidField {
            field: "exchange_key",
            reason: "must differ from the device's signing and auth keys",
        });
    }
    EncryptingKey::from_spki(&body.exchange_key).map_err(|e| Error::rejected(what, e))?;
    // A version-2 certificate's last-resort prekey is checked as a verifier checks it (§18.3).
    if let Some(last_resort) = &body.last_resort {
        last_resort
            .validate()
            .map_err(|e| Error::rejected(what, e))?;
    }
    Ok(body.serial)
}

/// Pending devices announced before this (ms, on the server's clock) have expired: a login
/// nobody approved within `limits.pending_device_secs`.
pub fn pending_cutoff(state: &AppState) -> i64 {
    let ttl = i64::try_from(
        state
            .settings
            .limits
            .pending_device_secs
            .saturating_mul(1000),
    )
    .unwrap_or(i64::MAX);
    state.clock.now_ms().saturating_sub(ttl)
}

/// Whether `device` is a pending device whose wait for approval is over.
pub fn expired(device: &DeviceRecord, cutoff: i64) -> bool {
    device.state == DeviceState::Pending && device.created_at < cutoff
}

/// Announces a new device that waits for approval, with the exchange-key certificate it signed
/// when it sent one (so the approving device can send it a hand-over).
pub async fn add_pending(
    state: &AppState,
    authed: &Authed,
    signing_key: &[u8],
    auth_key: &[u8],
    name: &str,
    exchange_key: Option<&[u8]>,
) -> Result<DeviceId> {
    let signing =
        VerifyingKey::from_spki(signing_key).map_err(|e| Error::rejected("signing key", e))?;
    let auth = VerifyingKey::from_spki(auth_key).map_err(|e| Error::rejected("auth key", e))?;
    if signing == auth {
        return Err(Error::InvalidField {
            field: "auth_key",
            reason: "must differ from the signing key",
        });
    }
    // The protocol's display-text rule (§4.8), the one the certificate decoder applies: the
    // name reaches the approving device's screen before any certificate exists.
    if name.len() > MAX_DEVICE_NAME_LEN || !is_display_text(name) {
        return Err(Error::InvalidField {
            field: "name",
            reason: "1 to 64 bytes of display text: no surrounding spaces, no control, \
                     bidirectional or other invisible format characters",
        });
    }
    let device = DeviceId::from_signing_spki(signing.spki());
    let exchange_serial = match exchange_key {
        Some(cert) => {
            let account = authed.user.account.ok_or(Error::Conflict {
                what: "the account has no master key yet",
            })?;
            Some(pending_exchange_key(
                account, device, &signing, &auth, cert,
            )?)
        }
        None => None,
    };
    state
        .store
        .add_pending_device(
            &DeviceRecord {
                device,
                user: authed.user.id,
                state: DeviceState::Pending,
                signing_key: signing_key.to_vec(),
                auth_key: auth_key.to_vec(),
                name: name.to_owned(),
                certificate: None,
                exchange_cert: exchange_key.map(<[u8]>::to_vec),
                exchange_serial,
                // The server's clock, which the expiry is measured on.
                created_at: state.clock.now_ms(),
            },
            state.settings.limits.max_pending_devices_per_account,
            pending_cutoff(state),
        )
        .await?;
    Ok(device)
}

/// Stores a master-signed device certificate: the first device's own, or the approval of a
/// pending device produced on an existing one.
pub async fn certify(state: &AppState, authed: &Authed, certificate: &[u8]) -> Result<DeviceId> {
    let identity = identity(&authed.user)?;
    let signed = decode_signed(certificate, "device certificate")?;
    let revocations = revocations(state, authed.user.id, &identity).await?;
    let verified = identity
        .verify_device(&signed, &revocations)
        .map_err(|e| Error::rejected("device certificate", e))?;
    let body = DeviceCertificate::decode(signed.unverified_body())
        .map_err(|e| Error::rejected("device certificate", e.into()))?;
    // An approval that comes after the login was abandoned is refused; the new device
    // announces itself again (a certificate for a device never announced, such as the first
    // one or a recovered one, is not an approval).
    let existing = state.store.device(&verified.device()).await?;
    if existing.is_some_and(|d| expired(&d, pending_cutoff(state))) {
        return Err(Error::Conflict {
            what: "the device login expired before it was approved",
        });
    }
    state
        .store
        .activate_device(&DeviceRecord {
            device: verified.device(),
            user: authed.user.id,
            state: DeviceState::Active,
            signing_key: body.signing_key,
            auth_key: body.auth_key,
            name: body.name,
            certificate: Some(certificate.to_vec()),
            exchange_cert: None,
            exchange_serial: None,
            created_at: clock::now_ms(),
        })
        .await?;
    tracing::info!(username = %authed.user.username, device = %verified.device(), "device certified");
    Ok(verified.device())
}

/// The caller's devices (pending ones included, so an existing device can approve them,
/// unless they expired).
pub async fn list(state: &AppState, authed: &Authed) -> Result<Vec<DeviceRecord>> {
    let cutoff = pending_cutoff(state);
    let mut devices = state.store.devices_of(authed.user.id).await?;
    devices.retain(|d| !expired(d, cutoff));
    Ok(devices)
}

/// Applies a master-signed revocation: the device's sessions end and its sockets close.
pub async fn revoke(state: &AppState, authed: &Authed, revocation: &[u8]) -> Result<DeviceId> {
    let identity = identity(&authed.user)?;
    let signed = decode_signed(revocation, "revocation")?;
    let verified = identity
        .verify_revocation(&signed)
        .map_err(|e| Error::rejected("revocation", e))?;
    let device = verified.body().device;
    state
        .store
        .revoke_device(authed.user.id, &device, verified.body().serial, revocation)
        .await?;
    state.hub.close_device(&device, CloseReason::DeviceRevoked);
    tracing::info!(username = %authed.user.username, %device, "device revoked");
    Ok(device)
}

/// Publishes (or rotates) the calling device's exchange-key certificate.
pub async fn set_exchange_key(
    state: &AppState,
    authed: &Authed,
    certificate: &[u8],
) -> Result<u64> {
    let device = authed.device()?;
    let (verified, record) = verified_device(state, &device).await?;
    let signed = decode_signed(certificate, "exchange-key certificate")?;
    // A device that published a version-2 certificate never signs a version-1 one again
    // (§18.3): one now is an old certificate replayed, refused as clients refuse it.
    let v2_seen = match record.exchange_cert.as_deref() {
        Some(stored) => ExchangeKeyCertificate::decode(
            decode_signed(stored, "stored exchange-key certificate")?.unverified_body(),
        )
        .map_err(|_| Error::Corrupt {
            what: "exchange-key certificate",
        })?
        .is_v2(),
        None => false,
    };
    let key = verified
        .verify_exchange_key_after_v2(&signed, clock::now(), record.exchange_serial, v2_seen)
        .map_err(|e| Error::rejected("exchange-key certificate", e))?;
    state
        .store
        .set_exchange_key(&device, certificate, key.serial())
        .await?;
    Ok(key.serial())
}

/// Looks an account up by username or by `acct:` id.
pub async fn directory(state: &AppState, who: &str) -> Result<DirectoryEntry> {
    let user = if who.starts_with(AccountId::PREFIX) {
        let account: AccountId = who.parse().map_err(|_| Error::InvalidField {
            field: "account",
            reason: "expected acct: and 64 hex digits",
        })?;
        state.store.user_by_account(&account).await?
    } else {
        let name = crate::auth::username::normalize(who)?;
        state.store.user_by_name(&name).await?
    };
    let user = user.ok_or(Error::NotFound { what: "account" })?;
    let (Some(master_key), Some(account)) = (user.master_key.clone(), user.account) else {
        return Err(Error::NotFound {
            what: "account keys",
        });
    };
    let devices = state
        .store
        .devices_of(user.id)
        .await?
        .into_iter()
        .filter(|d| d.state == DeviceState::Active)
        .collect();
    Ok(DirectoryEntry {
        username: user.username,
        account,
        master_key,
        devices,
        revocations: state.store.revocations_of(user.id).await?,
    })
}
