//! Single-use invitation codes for `registration = "invite"`: `invite create`, `invite list`,
//! `invite revoke`.
//!
//! A code is 128 bits from the system generator, shown once, in the text form of
//! [`sotto_wire::InviteCode`] (Crockford base32 in groups, typed in any case, dashes optional).
//! The store keeps only its SHA-256 ([`crate::service::accounts::invite_hash`]) and an id, the
//! hash's first 8 bytes in hex, that names it here; nothing prints or logs the code after
//! `create` returned it. Sign-up spends it (`service/accounts.rs`); the purge deletes used,
//! revoked and expired ones after 30 days (`service/purge.rs`).

use std::fmt;

use serde::{Deserialize, Serialize};
use sotto_wire::InviteCode;

use crate::admin::AdminTarget;
use crate::auth::tokens;
use crate::clock;
use crate::error::{Error, Result};
use crate::service::accounts::invite_hash;
use crate::store::InviteRecord;

/// The longest validity an invitation may have (a year): an invitation is for someone about to
/// join, and a code that lives for good is a standing way in.
pub const MAX_EXPIRES_SECS: u64 = 365 * 24 * 3600;

/// `invite create`: the code, shown this once.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InviteCreated {
    /// The id that names it in `invite list` and `invite revoke`.
    pub id: String,
    /// The code to hand to the invitee.
    pub code: String,
    /// When it was created (ms since the epoch).
    pub created_at: i64,
    /// When it stops being usable (ms since the epoch).
    pub expires_at: i64,
    /// The server's origin, when the running server answered (an offline store does not know
    /// it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
}

/// One invitation as `invite list` shows it (never its code).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InviteView {
    /// The id.
    pub id: String,
    /// When it was created (ms since the epoch).
    pub created_at: i64,
    /// When it stops being usable (ms since the epoch).
    pub expires_at: i64,
}

/// `invite list`: the unused, unexpired invitations, oldest first.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InviteList {
    /// The invitations.
    pub invites: Vec<InviteView>,
}

/// `invite revoke`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InviteRevoked {
    /// The id of the revoked invitation.
    pub id: String,
}

impl fmt::Display for InviteCreated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "invitation {} (expires {})",
            self.id,
            crate::clock::utc_minutes(self.expires_at)
        )?;
        writeln!(
            f,
            "code: {}  (shown once; only its hash is kept)",
            self.code
        )?;
        match &self.server {
            Some(server) => {
                writeln!(
                    f,
                    "send: sotto --server {server} register NAME --invite {}",
                    self.code
                )?;
                write!(
                    f,
                    "  or: open {server} and sign up with the invitation code"
                )
            }
            None => write!(
                f,
                "send: sotto --server https://SERVER register NAME --invite {}",
                self.code
            ),
        }
    }
}

impl fmt::Display for InviteList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.invites.is_empty() {
            return write!(f, "no open invitations");
        }
        write!(f, "{:<16}  {:<20}  {:<20}", "id", "created", "expires")?;
        for invite in &self.invites {
            write!(
                f,
                "\n{:<16}  {:<20}  {:<20}",
                invite.id,
                crate::clock::utc_minutes(invite.created_at),
                crate::clock::utc_minutes(invite.expires_at)
            )?;
        }
        Ok(())
    }
}

impl fmt::Display for InviteRevoked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invitation {} revoked", self.id)
    }
}

/// A new code valid for `expires_secs` (1 s to a year).
pub async fn create(target: &AdminTarget, expires_secs: u64) -> Result<InviteCreated> {
    if expires_secs == 0 || expires_secs > MAX_EXPIRES_SECS {
        return Err(Error::InvalidField {
            field: "expires",
            reason: "an invitation lasts from one second to a year",
        });
    }
    let code = InviteCode::from_bytes(tokens::random::<16>()?);
    let code_hash = invite_hash(&code);
    let mut id = [0u8; 8];
    id.copy_from_slice(&code_hash[..8]);
    let now = clock::now_ms();
    let expires_at =
        now.saturating_add(i64::try_from(expires_secs.saturating_mul(1000)).unwrap_or(i64::MAX));
    target
        .store()
        .create_invite(&InviteRecord {
            id,
            code_hash,
            created_at: now,
            expires_at,
            used_at: None,
            used_by: None,
            revoked_at: None,
        })
        .await?;
    let id = hex::encode(id);
    tracing::info!(invite = %id, expires_at, "invitation created");
    Ok(InviteCreated {
        id,
        code: code.expose().to_string(),
        created_at: now,
        expires_at,
        server: match target {
            AdminTarget::Live(state) => Some(state.settings.origin.clone()),
            AdminTarget::Offline(_) => None,
        },
    })
}

/// The unused, unexpired invitations.
pub async fn list(target: &AdminTarget) -> Result<InviteList> {
    let invites = target.store().list_invites(clock::now_ms()).await?;
    Ok(InviteList {
        invites: invites
            .into_iter()
            .map(|i| InviteView {
                id: hex::encode(i.id),
                created_at: i.created_at,
                expires_at: i.expires_at,
            })
            .collect(),
    })
}

/// Withdraws an unused invitation; `NotFound` if no unused, unrevoked invitation has `id`.
pub async fn revoke(target: &AdminTarget, id: &str) -> Result<InviteRevoked> {
    let bytes = parse_id(id)?;
    if !target
        .store()
        .revoke_invite(&bytes, clock::now_ms())
        .await?
    {
        return Err(Error::NotFound {
            what: "unused invitation with this id",
        });
    }
    tracing::info!(invite = %id.to_ascii_lowercase(), "invitation revoked");
    Ok(InviteRevoked {
        id: hex::encode(bytes),
    })
}

/// An id as `invite list` prints it: 16 hex digits.
fn parse_id(text: &str) -> Result<[u8; 8]> {
    let bad = Error::InvalidField {
        field: "id",
        reason: "an invitation id is 16 hex digits, as `invite list` prints it",
    };
    let text = text.trim();
    if text.len() != 16 {
        return Err(bad);
    }
    let mut id = [0u8; 8];
    hex::decode_to_slice(text.to_ascii_lowercase(), &mut id).map_err(|_| bad)?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_16_hex_digits_in_either_case() {
        assert_eq!(
            parse_id("00112233AABBccdd").unwrap(),
            [0, 0x11, 0x22, 0x33, 0xaa, 0xbb, 0xcc, 0xdd]
        );
        assert!(parse_id("0011").is_err());
        assert!(parse_id("zz112233aabbccdd").is_err());
    }
}
