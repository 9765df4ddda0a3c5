//! One-time prekeys (docs/protocol.md §18.4, docs/api.md "Prekeys"). A device uploads signed
//! prekeys; the server verifies each against the device's certificate (a second line of
//! defence: the sender verifies again) and stores it; a sender claims one prekey of each
//! recipient device, which the store deletes as it hands it out, so each goes to one sender.
//! Only devices the claimer may send to are claimed: the claimer's own, or those of accounts
//! sharing a conversation with it. Prekey bytes are never logged.

use std::collections::{BTreeMap, BTreeSet};

use sotto_proto::identity::VerifiedDevice;
use sotto_proto::ids::DeviceId;
use sotto_proto::signed::Signed;
use sotto_proto::Timestamp;
use sotto_wire::api::{MAX_PREKEY_CLAIM_DEVICES, MAX_PREKEY_UPLOAD};

use crate::clock;
use crate::error::{Error, Result};
use crate::service::devices;
use crate::service::sessions::Authed;
use crate::state::AppState;
use crate::store::NewPrekey;

/// One-time prekeys one device has stored at most (protocol §18.4: a device keeps at most 100
/// uploaded). An upload that would pass it is refused (`409 conflict`), not trimmed: the device
/// holds the private keys of what it uploaded and must know what the server holds.
pub const MAX_PREKEYS_STORED: i64 = 100;

/// Stores the calling device's signed prekeys (after deleting those still stored when
/// `replace`); returns how many it has stored now. Every prekey is verified first; one bad
/// prekey refuses the whole upload and stores nothing.
pub async fn upload(
    state: &AppState,
    authed: &Authed,
    prekeys: &[Vec<u8>],
    replace: bool,
) -> Result<u64> {
    let device = authed.device()?;
    if prekeys.len() > MAX_PREKEY_UPLOAD {
        return Err(Error::Conflict {
            what: "more one-time prekeys than a device may have stored (100)",
        });
    }
    let (verified, _) = devices::verified_device(state, &device).await?;
    let now = clock::now();
    let checked = prekeys
        .iter()
        .map(|bytes| verify(&verified, bytes, now))
        .collect::<Result<Vec<_>>>()?;
    let stored = state
        .store
        .put_prekeys(
            &device,
            &checked,
            replace,
            MAX_PREKEYS_STORED,
            clock::now_ms(),
        )
        .await?;
    tracing::debug!(%device, uploaded = checked.len(), replace, stored, "prekeys stored");
    Ok(u64::try_from(stored).unwrap_or(0))
}

/// How many prekeys the calling device has stored.
pub async fn remaining(state: &AppState, authed: &Authed) -> Result<u64> {
    let device = authed.device()?;
    let stored = state.store.prekey_count(&device).await?;
    Ok(u64::try_from(stored).unwrap_or(0))
}

/// Claims one prekey of each of `devices` for the caller: its signed prekey, or `None` when it
/// has none left or the caller may not claim it (one answer for both, so the answer does not
/// say which devices exist). Costs one token of the caller's claim limit per device named.
pub async fn claim(
    state: &AppState,
    authed: &Authed,
    devices: &[DeviceId],
) -> Result<BTreeMap<DeviceId, Option<Vec<u8>>>> {
    // Claims are for sending, which a device does.
    authed.device()?;
    if devices.len() > MAX_PREKEY_CLAIM_DEVICES {
        return Err(Error::InvalidField {
            field: "devices",
            reason: "at most 1000 devices per claim",
        });
    }
    // A device named twice is claimed once (one answer per device).
    let wanted: Vec<DeviceId> = devices
        .iter()
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let cost = u32::try_from(wanted.len()).unwrap_or(u32::MAX);
    state
        .claim_limit
        .take(authed.user.id, cost, std::time::Instant::now())
        .map_err(|retry_after| Error::Throttled { retry_after })?;
    let bodies = state.store.claim_prekeys(authed.user.id, &wanted).await?;
    let handed = bodies.iter().filter(|b| b.is_some()).count();
    tracing::debug!(claimed = wanted.len(), handed, "prekeys claimed");
    Ok(wanted.into_iter().zip(bodies).collect())
}

/// Verifies one uploaded prekey against the uploading device (§18.4): it names the device's
/// account and the device, carries the device's signature, is not from the far future, and its
/// keys are valid. Returns what the store keeps.
fn verify(device: &VerifiedDevice, bytes: &[u8], now: Timestamp) -> Result<NewPrekey> {
    let what = "one-time prekey";
    let signed = Signed::decode(bytes, interim::MAX_PREKEY_BODY_LEN)
        .map_err(|e| Error::rejected(what, e.into()))?;
    let id = interim::verify_one_time_prekey(device, &signed, now)
        .map_err(|e| Error::rejected(what, e))?;
    Ok(NewPrekey {
        id,
        body: bytes.to_vec(),
    })
}

/// The checks of §18.4 the server can make before `sotto-proto` offers
/// `VerifiedDevice::verify_one_time_prekey`: layout, names, signature and time. The key checks
/// (§18.2) come with that function, which replaces this module.
mod interim {
    use sotto_proto::identity::VerifiedDevice;
    use sotto_proto::limits::MAX_CLOCK_SKEW_MS;
    use sotto_proto::signed::Signed;
    use sotto_proto::{DecodeError, Error, Timestamp};

    /// The largest prekey body read (protocol `MAX_PREKEY_BODY_LEN`).
    pub const MAX_PREKEY_BODY_LEN: usize = 2048;

    /// `domain("sotto/prekey", 2)`.
    const DOMAIN: &[u8] = b"\x0csotto/prekey\x02";
    const EC_LEN: usize = 65;
    const KEM_LEN: usize = 1184;

    pub fn verify_one_time_prekey(
        device: &VerifiedDevice,
        signed: &Signed,
        now: Timestamp,
    ) -> Result<[u8; 16], Error> {
        let body = signed.unverified_body();
        let rest = body
            .strip_prefix(DOMAIN)
            .ok_or(Error::Decode(DecodeError::InvalidValue { field: "domain" }))?;
        let mut reader = sotto_proto::codec::Reader::new(rest);
        let account: [u8; 32] = reader.array()?;
        let device_id: [u8; 32] = reader.array()?;
        let id: [u8; 16] = reader.array()?;
        let created_at = reader.u64()?;
        let ec = reader.take(EC_LEN)?;
        reader.take(KEM_LEN)?;
        reader.finish()?;
        if account != *device.account().as_bytes() || device_id != *device.device().as_bytes() {
            return Err(Error::WrongAccount {
                what: "one-time prekey",
            });
        }
        signed.verify("one-time prekey", device.signing_key())?;
        if created_at > now.plus(MAX_CLOCK_SKEW_MS).millis() {
            return Err(Error::Receive(sotto_proto::ReceiveError::FarFuture));
        }
        if ec.first() != Some(&0x04) {
            return Err(Error::Decode(DecodeError::InvalidValue { field: "ec" }));
        }
        Ok(id)
    }
}
