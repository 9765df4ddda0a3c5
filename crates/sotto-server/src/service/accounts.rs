//! Accounts: registration, password login (which yields a short-lived login token, not yet a
//! device session), logout and password change.

use std::net::IpAddr;

use sotto_wire::InviteCode;
use zeroize::Zeroizing;

use crate::auth::password::Passwords;
use crate::auth::tokens::{self, Secret, TokenKind};
use crate::auth::username;
use crate::clock;
use crate::config::RegistrationMode;
use crate::error::{Error, Result};
use crate::hub::CloseReason;
use crate::metrics::Metrics;
use crate::service::sessions::Authed;
use crate::state::AppState;
use crate::store::{SessionId, SessionRecord};

/// What a password login returns.
#[derive(Debug)]
pub struct LoginGrant {
    /// The login token (proves the password; usable only to manage devices and log a device in).
    pub token: Secret,
    /// Its lifetime in seconds.
    pub expires_in: u64,
    /// The normalised username.
    pub username: String,
}

/// What a taken name answers before any hashing (the store answers the same when two sign-ups
/// for one name race past this check).
const TAKEN: Error = Error::Conflict {
    what: "username is taken",
};

/// Registers a new account; returns the normalised username.
///
/// The order bounds the work an attacker can make the server do: the cheap rules first (a
/// closed server refuses here), then the address's allowance (every attempt counts, a refused
/// invitation code and a taken name too, so neither codes nor names can be tried faster than
/// sign-ups are allowed), then on an invite-only server the code (a refused code costs no hash,
/// and is checked before the name, so without a code the `409` lists nothing), then whether
/// the name is taken (a taken name costs no hash; its quicker answer says nothing the `409`
/// does not), then the server-wide allowance of new hashes, and only then Argon2id, in the
/// new-hash slots that logins do not share. The code is spent in the transaction that creates
/// the account, so two sign-ups racing on one code create one account.
pub async fn register(
    state: &AppState,
    username: &str,
    password: Zeroizing<String>,
    invite: Option<InviteCode>,
    ip: IpAddr,
) -> Result<String> {
    if state.settings.registration == RegistrationMode::Closed {
        return Err(Error::RegistrationClosed);
    }
    let name = username::normalize(username)?;
    Passwords::check_rules(&password)?;
    let throttled = |retry_after| {
        Metrics::add(&state.metrics.registrations_throttled, 1);
        Error::Throttled { retry_after }
    };
    let now = std::time::Instant::now();
    state.registrations.attempt(ip, now).map_err(throttled)?;
    // An open server ignores a code: one sent by a client that kept it from an earlier
    // invitation does no harm.
    let code_hash = match (state.settings.registration, invite) {
        (RegistrationMode::Invite, Some(code)) => Some(invite_hash(&code)),
        (RegistrationMode::Invite, None) => {
            tracing::debug!("sign-up refused: no invitation code");
            return Err(Error::InviteInvalid);
        }
        (RegistrationMode::Open | RegistrationMode::Closed, _) => None,
    };
    if let Some(hash) = &code_hash {
        if !state.store.invite_usable(hash, clock::now_ms()).await? {
            // Unknown, used, revoked or expired: one answer; the code is not logged.
            tracing::debug!("sign-up refused: invitation code not usable");
            return Err(Error::InviteInvalid);
        }
    }
    if state.store.user_by_name(&name).await?.is_some() {
        return Err(TAKEN);
    }
    state.registrations.new_hash(now).map_err(throttled)?;
    let hash = state.passwords.hash(password).await?;
    Metrics::add(&state.metrics.password_hashes, 1);
    match &code_hash {
        Some(code) => {
            state
                .store
                .create_user_with_invite(&name, &hash, clock::now_ms(), code)
                .await
                .inspect_err(|e| {
                    if matches!(e, Error::InviteInvalid) {
                        tracing::debug!("sign-up refused: invitation code spent meanwhile");
                    }
                })?;
        }
        None => {
            state
                .store
                .create_user(&name, &hash, clock::now_ms())
                .await?;
        }
    }
    Metrics::add(&state.metrics.registrations, 1);
    tracing::info!(username = %name, invited = code_hash.is_some(), "account registered");
    Ok(name)
}

/// What the store keeps of an invitation code: SHA-256 of its 16 bytes (the code has 128
/// random bits, so no salt or slow hash is needed for it to be unguessable from the table).
pub fn invite_hash(code: &InviteCode) -> [u8; 32] {
    sotto_proto::crypto::sha256(code.as_bytes())
}

/// Checks a password, throttled per account and address. Unknown users cost the same as known
/// ones (dummy hash) and fail the same way.
pub(crate) async fn check_password(
    state: &AppState,
    name: &str,
    password: Zeroizing<String>,
    ip: IpAddr,
) -> Result<crate::store::UserRecord> {
    if let Some(wait) = state.throttle.check(name, ip) {
        Metrics::add(&state.metrics.login_throttled, 1);
        return Err(Error::Throttled { retry_after: wait });
    }
    let user = state.store.user_by_name(name).await?;
    let ok = state
        .passwords
        .verify(password, user.as_ref().map(|u| u.password_hash.clone()), ip)
        .await
        .inspect_err(|e| {
            if matches!(e, Error::Throttled { .. }) {
                Metrics::add(&state.metrics.login_throttled, 1);
            }
        })?;
    match user {
        Some(user) if ok => {
            state.throttle.success(name, ip);
            Ok(user)
        }
        _ => {
            state.throttle.failure(name, ip);
            Metrics::add(&state.metrics.login_failures, 1);
            Err(Error::BadCredentials)
        }
    }
}

/// Password login: a new login session (any token presented before is irrelevant: a fresh one
/// is always issued, so a fixated token gains nothing).
pub async fn login(
    state: &AppState,
    username: &str,
    password: Zeroizing<String>,
    ip: IpAddr,
) -> Result<LoginGrant> {
    let name = username::normalize(username).map_err(|_| Error::BadCredentials)?;
    if password.len() > crate::auth::password::MAX_PASSWORD {
        return Err(Error::BadCredentials);
    }
    let user = check_password(state, &name, password, ip).await?;
    super::sessions::refuse_disabled(&user)?;
    let (token, hash) = tokens::issue(TokenKind::Login)?;
    let secs = state.settings.limits.login_token_secs;
    let now = clock::now_ms();
    let expires = clock::in_secs(secs);
    state
        .store
        .insert_session(&SessionRecord {
            id: SessionId(tokens::random()?),
            user: user.id,
            device: None,
            access_hash: hash,
            access_expires: expires,
            refresh_hash: None,
            refresh_expires: expires,
            previous_refresh_hash: None,
            pair_used_at: None,
            created_at: now,
        })
        .await?;
    Metrics::add(&state.metrics.logins, 1);
    tracing::info!(username = %name, "password login");
    Ok(LoginGrant {
        token,
        expires_in: secs,
        username: name,
    })
}

/// Ends the caller's session and closes its sockets.
pub async fn logout(state: &AppState, authed: &Authed) -> Result<()> {
    state.store.delete_session(&authed.session.id).await?;
    state
        .hub
        .close_sessions(&[authed.session.id], CloseReason::SessionEnded);
    Ok(())
}

/// Changes the password after checking the current one; optionally ends every other session
/// (and closes their sockets).
pub async fn change_password(
    state: &AppState,
    authed: &Authed,
    current: Zeroizing<String>,
    new: Zeroizing<String>,
    end_other_sessions: bool,
    ip: IpAddr,
) -> Result<u64> {
    Passwords::check_rules(&new)?;
    let user = check_password(state, &authed.user.username, current, ip).await?;
    let hash = state.passwords.hash(new).await?;
    Metrics::add(&state.metrics.password_hashes, 1);
    state.store.set_password_hash(user.id, &hash).await?;
    let mut ended = 0;
    if end_other_sessions {
        let gone = state
            .store
            .delete_sessions_except(user.id, Some(&authed.session.id))
            .await?;
        state.hub.close_sessions(&gone, CloseReason::SessionEnded);
        ended = gone.len() as u64;
    }
    tracing::info!(username = %user.username, ended, "password changed");
    Ok(ended)
}
