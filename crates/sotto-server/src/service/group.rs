//! The server's own verification of the group-state log, with `sotto_proto::group::GroupState`:
//! a second line of defence (clients verify the log themselves and alarm on forks and
//! rollbacks), and the source of the membership the server routes by.
//!
//! A genesis must verify under the certified, unrevoked device that uploads it; each later
//! change must be the exact next epoch, name the current head's hash and be signed by a device
//! of a current admin (or a member leaving). Stored changes are replayed to rebuild the state;
//! a replay checks each author's certificate without today's revocations (a change signed by a
//! device that was valid then stays valid), while a new change needs a device valid now. The
//! verified state of each conversation is cached and brought up to date from the store before
//! use, so several nodes sharing one database stay consistent.

use std::collections::HashMap;
use std::sync::Mutex;

use sotto_proto::group::{decode_signed_change, GroupState};
use sotto_proto::identity::VerifiedDevice;
use sotto_proto::ids::{ConversationId, DeviceId};

use crate::error::{Error, Result};
use crate::service::devices::identity;
use crate::state::AppState;
use crate::store::ChangeRecord;

/// Conversations whose state is cached at most (the cache is cleared when it grows past this).
const MAX_CACHED: usize = 10_000;

/// Verified group states by conversation.
#[derive(Debug, Default)]
pub struct GroupCache(Mutex<HashMap<ConversationId, GroupState>>);

impl GroupCache {
    fn get(&self, conversation: &ConversationId) -> Option<GroupState> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(conversation)
            .cloned()
    }

    /// Remembers `state` unless a later epoch is already cached.
    pub fn put(&self, state: GroupState) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_CACHED {
            map.clear();
        }
        match map.get(&state.conversation()) {
            Some(cached) if cached.epoch() >= state.epoch() => {}
            _ => {
                map.insert(state.conversation(), state);
            }
        }
    }
}

/// The author of a stored change, verified against its account's master key as it was
/// certified (revocations since then do not invalidate history).
async fn historical_author(state: &AppState, device: &DeviceId) -> Result<VerifiedDevice> {
    let record = state.store.device(device).await?.ok_or(Error::Corrupt {
        what: "group change author",
    })?;
    let user = state
        .store
        .user_by_id(record.user)
        .await?
        .ok_or(Error::Corrupt {
            what: "group change author",
        })?;
    let cert = record.certificate.as_deref().ok_or(Error::Corrupt {
        what: "group change author",
    })?;
    let signed =
        sotto_proto::signed::Signed::decode(cert, sotto_proto::limits::MAX_CERTIFICATE_LEN)
            .map_err(|_| Error::Corrupt {
                what: "certificate",
            })?;
    identity(&user)?
        .verify_device(&signed, &[])
        .map_err(|_| Error::Corrupt {
            what: "certificate",
        })
}

/// The verified current state of a conversation, or `None` if it does not exist.
pub async fn current(
    state: &AppState,
    conversation: &ConversationId,
) -> Result<Option<GroupState>> {
    let cached = state.groups.get(conversation);
    let from = cached.as_ref().map_or(0, |g| g.epoch() + 1);
    let changes = state.store.changes(conversation, from).await?;
    if changes.is_empty() {
        return Ok(cached);
    }
    let group = replay(state, cached, &changes).await?;
    if let Some(g) = &group {
        state.groups.put(g.clone());
    }
    Ok(group)
}

/// The verified state after the stored change at `epoch` (a former member's view: the
/// members as of the change that removed it), or `None` if the log has no such epoch. Replayed
/// from the genesis, uncached: only former members ask, once each after their removal.
pub async fn at(
    state: &AppState,
    conversation: &ConversationId,
    epoch: u64,
) -> Result<Option<GroupState>> {
    let mut changes = state.store.changes(conversation, 0).await?;
    if !changes.iter().any(|c| c.epoch == epoch) {
        return Ok(None);
    }
    changes.retain(|c| c.epoch <= epoch);
    replay(state, None, &changes).await
}

/// Applies stored `changes` in order on top of `group` (`None`: from the genesis).
async fn replay(
    state: &AppState,
    mut group: Option<GroupState>,
    changes: &[ChangeRecord],
) -> Result<Option<GroupState>> {
    for change in changes {
        let signed = decode_signed_change(&change.change)
            .map_err(|_| Error::Corrupt { what: "group log" })?;
        let author = historical_author(state, &change.author).await?;
        let next = match &group {
            None => GroupState::genesis(&signed, &author),
            Some(g) => g.apply(&signed, &author),
        };
        group = Some(next.map_err(|_| Error::Corrupt { what: "group log" })?);
    }
    Ok(group)
}

/// Verifies a genesis uploaded by `author`.
pub fn verify_genesis(bytes: &[u8], author: &VerifiedDevice) -> Result<GroupState> {
    let signed = decode_signed_change(bytes).map_err(|e| Error::rejected("group change", e))?;
    GroupState::genesis(&signed, author).map_err(|e| Error::rejected("group change", e))
}

/// Verifies the next change uploaded by `author` against `current`.
pub fn verify_next(
    current: &GroupState,
    bytes: &[u8],
    author: &VerifiedDevice,
) -> Result<GroupState> {
    let signed = decode_signed_change(bytes).map_err(|e| Error::rejected("group change", e))?;
    current
        .apply(&signed, author)
        .map_err(|e| Error::rejected("group change", e))
}
