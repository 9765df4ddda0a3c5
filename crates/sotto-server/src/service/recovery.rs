//! Recovery (docs/protocol.md §14–§15): an account's recovery set-up, its encrypted backup
//! items, and releasing them to a session that presents the access key.
//!
//! The server keeps the recovery id, the method, a passphrase's salt and the verifier
//! `SHA-256(domain("sotto/recovery/verifier") ‖ access key)`; it never sees the recovery secret,
//! the backup key or the access key except when an unlock presents the latter, which is hashed,
//! compared in constant time with the verifier and dropped. Backup items are SignedSealed under
//! the backup key: the server reads only their public header (account, recovery id, item id) to
//! file them. A wrong access key and an account without a set-up get one answer
//! (`403 recovery_rejected`); failed unlocks are limited per account and per address
//! ([`crate::auth::recovery_limit`]).

use std::net::IpAddr;
use std::time::Instant;

use sotto_wire::api::{MAX_BACKUP_ITEMS_PER_REQUEST, MAX_BACKUP_PAGE};
use zeroize::Zeroizing;

use crate::clock;
use crate::error::{Error, Result};
use crate::service::sessions::Authed;
use crate::state::AppState;
use crate::store::{BackupCaps, NewBackupItem, RecoveryMethod, RecoveryRecord, StoredBackupItem};

/// A set-up as a client uploads it.
#[derive(Clone, Debug)]
pub struct NewSetup {
    /// Random per set-up.
    pub recovery_id: [u8; 16],
    /// Key or passphrase.
    pub method: RecoveryMethod,
    /// A passphrase's Argon2id salt.
    pub salt: Option<[u8; 16]>,
    /// The access key's verifier.
    pub verifier: [u8; 32],
}

/// A page of backup items and where the next one starts.
#[derive(Clone, Debug)]
pub struct UnlockedPage {
    /// Items by sequence number.
    pub items: Vec<StoredBackupItem>,
    /// The `after` of the next page (`None`: this was the last).
    pub next: Option<i64>,
}

/// `SHA-256(domain("sotto/recovery/verifier") ‖ access)` (§14.2).
pub fn verifier_of(access: &[u8; 32]) -> [u8; 32] {
    sotto_proto::recovery::access_verifier(access)
}

/// The caller's set-up (any session of the account, a recovering device's login session too).
pub async fn status(state: &AppState, authed: &Authed) -> Result<Option<RecoveryRecord>> {
    state.store.recovery(authed.user.id).await
}

/// Sets recovery up (a device session), replacing any earlier set-up and deleting its items.
pub async fn set_up(state: &AppState, authed: &Authed, setup: NewSetup) -> Result<()> {
    authed.device()?;
    match (setup.method, setup.salt.is_some()) {
        (RecoveryMethod::Key, false) | (RecoveryMethod::Passphrase, true) => {}
        _ => {
            return Err(Error::InvalidField {
                field: "salt",
                reason: "present exactly when the method is passphrase",
            })
        }
    }
    let record = RecoveryRecord {
        recovery_id: setup.recovery_id,
        method: setup.method,
        salt: setup.salt,
        verifier: setup.verifier,
        items: 0,
        bytes: 0,
        created_at: clock::now_ms(),
    };
    state.store.set_recovery(authed.user.id, &record).await
}

/// Turns recovery off (a device session): the set-up and its items are deleted.
pub async fn remove(state: &AppState, authed: &Authed) -> Result<()> {
    authed.device()?;
    state.store.delete_recovery(authed.user.id).await?;
    Ok(())
}

/// Stores backup items (a device session). Each item's header must decode and name the
/// caller's account (`422 rejected` with the protocol's code) and the current set-up's
/// recovery id (`409 conflict`, as without a set-up); an item id already stored is skipped.
/// Returns how many were new.
pub async fn upload(state: &AppState, authed: &Authed, items: Vec<Vec<u8>>) -> Result<u64> {
    authed.device()?;
    if items.len() > MAX_BACKUP_ITEMS_PER_REQUEST {
        return Err(Error::InvalidField {
            field: "items",
            reason: "at most 64 items per request",
        });
    }
    let account = authed.user.account.ok_or(Error::Conflict {
        what: "the account has no master key yet",
    })?;
    let setup = state
        .store
        .recovery(authed.user.id)
        .await?
        .ok_or(Error::Conflict {
            what: "recovery is not set up",
        })?;
    let mut new = Vec::with_capacity(items.len());
    for body in items {
        let header = sotto_proto::backup::BackupItemHeader::decode_item(&body)
            .map_err(|e| Error::rejected("backup item", e))?;
        if header.account != account {
            return Err(Error::rejected(
                "backup item",
                sotto_proto::Error::WrongAccount {
                    what: "backup item",
                },
            ));
        }
        if *header.recovery_id.as_bytes() != setup.recovery_id {
            return Err(Error::Conflict {
                what: "the item belongs to another recovery set-up",
            });
        }
        new.push(NewBackupItem {
            item_id: *header.item_id.as_bytes(),
            body,
        });
    }
    let limits = &state.settings.limits;
    let caps = BackupCaps {
        items: limits.max_backup_items_per_account,
        bytes: limits.max_backup_bytes_per_account,
    };
    state
        .store
        .put_backup_items(
            authed.user.id,
            &setup.recovery_id,
            &new,
            caps,
            clock::now_ms(),
        )
        .await
}

/// Releases the backup to a session of the account that presents the access key: a page of
/// items after `after`. A wrong key and a missing set-up are both `RecoveryRejected`, and both
/// count as a failure against the account's and the address's limits, checked first.
pub async fn unlock(
    state: &AppState,
    authed: &Authed,
    ip: IpAddr,
    access: Zeroizing<[u8; 32]>,
    after: i64,
) -> Result<UnlockedPage> {
    let user = authed.user.id;
    let turn = state.recovery_limit.turn().await;
    state
        .recovery_limit
        .check(user, ip, Instant::now())
        .map_err(|retry_after| Error::Throttled { retry_after })?;
    let presented = verifier_of(&access);
    drop(access);
    let matches = state
        .store
        .recovery(user)
        .await?
        .is_some_and(|setup| sotto_proto::crypto::ct_eq(&presented, &setup.verifier));
    if !matches {
        state.recovery_limit.failed(user, ip, Instant::now());
        return Err(Error::RecoveryRejected);
    }
    drop(turn);
    let page = i64::try_from(MAX_BACKUP_PAGE).unwrap_or(i64::MAX);
    let mut items = state
        .store
        .backup_items(user, after.max(0), page + 1)
        .await?;
    let more = items.len() > MAX_BACKUP_PAGE;
    items.truncate(MAX_BACKUP_PAGE);
    let next = if more {
        items.last().map(|i| i.seq)
    } else {
        None
    };
    Ok(UnlockedPage { items, next })
}
