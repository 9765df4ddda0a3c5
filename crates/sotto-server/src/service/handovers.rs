//! Device hand-overs (docs/protocol.md §16): when a device approves a new device of its own
//! account, it sends the new device the keys of its chains, sealed to the new device's exchange
//! key and signed. The server stores the SignedSealed bytes for the recipient, tells its sockets
//! (`{"type": "handover"}`), and deletes them when the recipient says so or after
//! `limits.handover_ttl_secs`. It checks only what it can read: the header names the account,
//! the calling device as sender and the addressed device as recipient.

use std::sync::Arc;

use sotto_proto::ids::DeviceId;
use sotto_wire::ServerFrame;

use crate::auth::tokens;
use crate::clock;
use crate::error::{Error, Result};
use crate::hub::Push;
use crate::service::devices;
use crate::service::sessions::Authed;
use crate::state::AppState;
use crate::store::{DeviceState, HandoverRecord};

/// The largest hand-over wire form (docs/protocol.md §16.1: a larger set of records is sent as
/// several hand-overs).
pub const MAX_HANDOVER_LEN: usize = 4 * 1024 * 1024;

/// Stores a hand-over from the caller's (active) device to `recipient`, an active or pending
/// device of the same account; returns its id. Anyone else's device looks like one that does
/// not exist.
pub async fn send(
    state: &AppState,
    authed: &Authed,
    recipient: DeviceId,
    body: Vec<u8>,
) -> Result<[u8; 16]> {
    let sender = authed.device()?;
    let account = authed.user.account.ok_or(Error::Conflict {
        what: "the account has no master key yet",
    })?;
    if body.len() > MAX_HANDOVER_LEN {
        return Err(Error::TooLarge {
            what: "hand-over",
            max: MAX_HANDOVER_LEN,
        });
    }
    let target = state
        .store
        .device(&recipient)
        .await?
        .filter(|d| {
            d.user == authed.user.id
                && d.state != DeviceState::Revoked
                && !devices::expired(d, devices::pending_cutoff(state))
        })
        .ok_or(Error::NotFound { what: "device" })?;
    let header = sotto_proto::handover::HandoverHeader::decode_handover(&body)
        .map_err(|e| Error::rejected("hand-over", e))?;
    if header.account != account {
        return Err(mismatch("the hand-over names another account"));
    }
    if header.sender_device != sender {
        return Err(mismatch("the hand-over names another sender device"));
    }
    if header.recipient_device != target.device {
        return Err(mismatch("the hand-over names another recipient device"));
    }
    let id = tokens::random::<16>()?;
    let record = HandoverRecord {
        id,
        recipient,
        sender,
        body,
        created_at: clock::now_ms(),
    };
    state
        .store
        .put_handover(&record, state.settings.limits.max_handovers_per_device)
        .await?;
    let frame: Arc<str> = Arc::from(ServerFrame::Handover.to_json());
    state.hub.push(&recipient, &Push::Frame(frame));
    Ok(id)
}

fn mismatch(reason: &'static str) -> Error {
    Error::InvalidField {
        field: "handover",
        reason,
    }
}

/// The hand-overs waiting for the caller's device, oldest first.
pub async fn list(state: &AppState, authed: &Authed) -> Result<Vec<HandoverRecord>> {
    let device = authed.device()?;
    let ttl = i64::try_from(state.settings.limits.handover_ttl_secs.saturating_mul(1000))
        .unwrap_or(i64::MAX);
    let since = clock::now_ms().saturating_sub(ttl);
    state.store.handovers_for(&device, since).await
}

/// Deletes one of the caller's device's hand-overs (`NotFound` for any other).
pub async fn delete(state: &AppState, authed: &Authed, id: &[u8; 16]) -> Result<()> {
    let device = authed.device()?;
    if state.store.delete_handover(id, &device).await? {
        Ok(())
    } else {
        Err(Error::NotFound { what: "hand-over" })
    }
}
