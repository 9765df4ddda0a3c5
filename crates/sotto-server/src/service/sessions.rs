//! Sessions: bearer authentication, the device proof, token rotation, WebSocket tickets.
//!
//! A password login yields a *login session*. To become a *device session* the device answers a
//! fresh, single-use [`AuthChallenge`] with its certified auth key; the login token is then
//! void and the device gets a short-lived access token and a rotating refresh token. Reusing a
//! spent refresh token deletes the whole session (the token family) and closes its sockets.
//! Each WebSocket needs a single-use ticket, which again needs a fresh challenge signed by the
//! device, so a stolen access token alone never opens a socket.

use std::net::IpAddr;

use sotto_proto::auth::AuthChallenge;
use sotto_proto::crypto::rsa::VerifyingKey;
use sotto_proto::ids::DeviceId;
use sotto_proto::Timestamp;
use zeroize::Zeroizing;

use crate::auth::tokens::{self, Secret, TokenKind};
use crate::clock;
use crate::error::{Error, Result};
use crate::hub::CloseReason;
use crate::state::AppState;
use crate::store::{
    ChallengeRecord, DeviceState, NewTokenPair, RefreshOutcome, SessionId, SessionRecord,
    UserRecord,
};

/// An authenticated caller.
#[derive(Clone, Debug)]
pub struct Authed {
    /// The session the token belongs to.
    pub session: SessionRecord,
    /// Its user.
    pub user: UserRecord,
}

impl Authed {
    /// The session's device; `Forbidden` for a login session.
    pub fn device(&self) -> Result<DeviceId> {
        self.session.device.ok_or(Error::Forbidden {
            reason: "this needs a device session (log the device in first)",
        })
    }
}

/// Tokens for a device session.
#[derive(Debug)]
pub struct DeviceTokens {
    /// The session's public id.
    pub session: SessionId,
    /// Short-lived bearer token.
    pub access_token: Secret,
    /// Its lifetime in seconds.
    pub expires_in: u64,
    /// Single-use token that obtains the next pair.
    pub refresh_token: Secret,
}

/// Resolves a bearer token (login or access) to its session and user.
pub async fn authenticate(state: &AppState, token: &str) -> Result<Authed> {
    if !tokens::has_kind(token, TokenKind::Access) && !tokens::has_kind(token, TokenKind::Login) {
        return Err(Error::Unauthorized);
    }
    let session = state
        .store
        .session_by_access(&tokens::hash(token))
        .await?
        .ok_or(Error::Unauthorized)?;
    let now = clock::now_ms();
    if session.access_expires <= now {
        return Err(Error::Unauthorized);
    }
    let user = state
        .store
        .user_by_id(session.user)
        .await?
        .ok_or(Error::Unauthorized)?;
    refuse_disabled(&user)?;
    if session.pair_used_at.is_none() {
        // From now on the token the pair was issued for can no longer be retried: its holder
        // evidently received the pair (see `refresh`).
        state.store.mark_pair_used(&session.id, now).await?;
    }
    Ok(Authed { session, user })
}

/// Refuses an account the operator disabled (or deleted). Checked after the password or token
/// was found good, so the refusal tells nothing to someone who holds neither; disabling deleted
/// every session in the same commit, and this check covers a request that read its session
/// just before.
pub fn refuse_disabled(user: &UserRecord) -> Result<()> {
    if user.disabled {
        return Err(Error::AccountDisabled);
    }
    Ok(())
}

/// The auth key of one of the user's active devices.
async fn auth_key(state: &AppState, user: &UserRecord, device: &DeviceId) -> Result<VerifyingKey> {
    let record = state
        .store
        .device(device)
        .await?
        .filter(|d| d.user == user.id && d.state == DeviceState::Active)
        .ok_or(Error::Forbidden {
            reason: "the device is not an approved device of this account",
        })?;
    VerifyingKey::from_spki(&record.auth_key).map_err(|e| Error::rejected("auth key", e))
}

/// Issues a challenge for `device` (a login session may name any of its active devices; a
/// device session only its own). Returns the encoded [`AuthChallenge`] to sign.
pub async fn challenge(state: &AppState, authed: &Authed, device: DeviceId) -> Result<Vec<u8>> {
    if authed.session.device.is_some_and(|own| own != device) {
        return Err(Error::Forbidden {
            reason: "a device session can only ask for its own challenge",
        });
    }
    issue_challenge(state, &authed.session, &authed.user, device).await
}

/// Stores a fresh challenge for `device` on behalf of `session`; returns its encoded form.
async fn issue_challenge(
    state: &AppState,
    session: &SessionRecord,
    user: &UserRecord,
    device: DeviceId,
) -> Result<Vec<u8>> {
    auth_key(state, user, &device).await?;
    let nonce = tokens::random::<32>()?;
    let issued_at = clock::now_ms();
    state
        .store
        .insert_challenge(&ChallengeRecord {
            nonce,
            session: session.id,
            device,
            issued_at,
        })
        .await?;
    Ok(build_challenge(state, user, device, nonce, issued_at).encode())
}

fn build_challenge(
    state: &AppState,
    user: &UserRecord,
    device: DeviceId,
    nonce: [u8; 32],
    issued_at: i64,
) -> AuthChallenge {
    AuthChallenge {
        origin: state.settings.origin.clone(),
        username: user.username.clone(),
        device,
        nonce,
        issued_at: Timestamp(u64::try_from(issued_at).unwrap_or(0)),
    }
}

/// Consumes the challenge with `nonce` (whatever the outcome) and checks the answer; returns
/// the device that proved itself.
async fn answer(
    state: &AppState,
    authed: &Authed,
    nonce: [u8; 32],
    signature: &[u8],
) -> Result<DeviceId> {
    let record = take_challenge(state, nonce)
        .await?
        .filter(|c| c.session == authed.session.id)
        .ok_or(Error::Forbidden {
            reason: "unknown, expired or already used challenge",
        })?;
    check_answer(state, &authed.user, &record, signature).await?;
    Ok(record.device)
}

/// Consumes the challenge with `nonce` if it exists and has not expired.
async fn take_challenge(state: &AppState, nonce: [u8; 32]) -> Result<Option<ChallengeRecord>> {
    let lifetime = i64::try_from(state.settings.limits.challenge_secs.saturating_mul(1000))
        .unwrap_or(i64::MAX);
    let now = clock::now_ms();
    Ok(state
        .store
        .take_challenge(&nonce)
        .await?
        .filter(|c| c.issued_at.saturating_add(lifetime) > now))
}

/// Checks `signature` over the challenge `record` describes, by its device's auth key.
async fn check_answer(
    state: &AppState,
    user: &UserRecord,
    record: &ChallengeRecord,
    signature: &[u8],
) -> Result<()> {
    let key = auth_key(state, user, &record.device).await?;
    build_challenge(state, user, record.device, record.nonce, record.issued_at)
        .verify(&key, signature)
        .map_err(|_| Error::Forbidden {
            reason: "the challenge signature does not verify",
        })
}

/// Turns a login session into a device session once the device answered its challenge.
pub async fn device_login(
    state: &AppState,
    authed: &Authed,
    nonce: [u8; 32],
    signature: &[u8],
) -> Result<DeviceTokens> {
    if authed.session.device.is_some() {
        return Err(Error::Forbidden {
            reason: "already a device session",
        });
    }
    let device = answer(state, authed, nonce, signature).await?;
    state.store.delete_session(&authed.session.id).await?;
    let limits = &state.settings.limits;
    let (access_token, access_hash) = tokens::issue(TokenKind::Access)?;
    let (refresh_token, refresh_hash) = tokens::issue(TokenKind::Refresh)?;
    let session = SessionId(tokens::random()?);
    state
        .store
        .insert_session(&SessionRecord {
            id: session,
            user: authed.user.id,
            device: Some(device),
            access_hash,
            access_expires: clock::in_secs(limits.access_token_secs),
            refresh_hash: Some(refresh_hash),
            refresh_expires: clock::in_secs(limits.refresh_token_secs),
            previous_refresh_hash: None,
            pair_used_at: None,
            created_at: clock::now_ms(),
        })
        .await?;
    tracing::info!(username = %authed.user.username, %device, "device logged in");
    Ok(DeviceTokens {
        session,
        access_token,
        expires_in: limits.access_token_secs,
        refresh_token,
    })
}

/// A device's signature over a challenge it was given.
#[derive(Debug)]
pub struct DeviceProof {
    /// The challenge's nonce.
    pub nonce: [u8; 32],
    /// The device's signature over the encoded challenge.
    pub signature: Vec<u8>,
}

/// Rotates a refresh token. A spent one revokes its whole session and closes its sockets, with
/// one exception: the token the session's current pair was issued for, while that pair has
/// never been used, is the retry of a refresh whose answer was lost. It is exchanged again, once
/// per proof, only with `proof` from the session's device (`RefreshProofRequired` without one;
/// see [`refresh_challenge`]); the superseded pair is then spent.
pub async fn refresh(
    state: &AppState,
    refresh_token: &str,
    proof: Option<DeviceProof>,
) -> Result<DeviceTokens> {
    if !tokens::has_kind(refresh_token, TokenKind::Refresh) {
        return Err(Error::Unauthorized);
    }
    let proven = match proof {
        Some(proof) => Some(proven_session(state, &proof).await?),
        None => None,
    };
    let limits = &state.settings.limits;
    let (access_token, access_hash) = tokens::issue(TokenKind::Access)?;
    let (new_refresh, refresh_hash) = tokens::issue(TokenKind::Refresh)?;
    let pair = NewTokenPair {
        access_hash,
        access_expires: clock::in_secs(limits.access_token_secs),
        refresh_hash,
        refresh_expires: clock::in_secs(limits.refresh_token_secs),
    };
    let outcome = state
        .store
        .refresh_session(
            &tokens::hash(refresh_token),
            &pair,
            proven.as_ref(),
            clock::now_ms(),
        )
        .await?;
    match outcome {
        RefreshOutcome::Rotated(session) => {
            if proven.is_some_and(|p| p == session.id) {
                tracing::info!(%session.id, "refresh retried with a device proof");
            }
            Ok(DeviceTokens {
                session: session.id,
                access_token,
                expires_in: limits.access_token_secs,
                refresh_token: new_refresh,
            })
        }
        RefreshOutcome::ProofRequired { .. } => Err(Error::RefreshProofRequired),
        RefreshOutcome::Reused { session } => {
            tracing::warn!(%session, "spent refresh token reused; session revoked");
            state
                .hub
                .close_sessions(&[session], CloseReason::SessionEnded);
            Err(Error::Unauthorized)
        }
        RefreshOutcome::Unknown => Err(Error::Unauthorized),
    }
}

/// The session whose device produced `proof` (consuming its challenge).
async fn proven_session(state: &AppState, proof: &DeviceProof) -> Result<SessionId> {
    let unknown = || Error::Forbidden {
        reason: "unknown, expired or already used challenge",
    };
    let record = take_challenge(state, proof.nonce)
        .await?
        .ok_or_else(unknown)?;
    let session = state
        .store
        .session(&record.session)
        .await?
        .filter(|s| s.device == Some(record.device))
        .ok_or_else(unknown)?;
    let user = state
        .store
        .user_by_id(session.user)
        .await?
        .ok_or(Error::Unauthorized)?;
    check_answer(state, &user, &record, &proof.signature).await?;
    Ok(session.id)
}

/// A challenge for retrying a refresh whose answer was lost: issued only for the session's
/// retryable spent token (see [`refresh`]), to that session's device; `Unauthorized` for any
/// other token. Changes nothing else.
pub async fn refresh_challenge(state: &AppState, refresh_token: &str) -> Result<Vec<u8>> {
    if !tokens::has_kind(refresh_token, TokenKind::Refresh) {
        return Err(Error::Unauthorized);
    }
    let session = state
        .store
        .session_for_refresh_retry(&tokens::hash(refresh_token), clock::now_ms())
        .await?
        .ok_or(Error::Unauthorized)?;
    let (device, user) = device_and_user(state, &session).await?;
    issue_challenge(state, &session, &user, device).await
}

/// The device and user of a device session; `Unauthorized` for a login session or a user gone.
async fn device_and_user(
    state: &AppState,
    session: &SessionRecord,
) -> Result<(DeviceId, UserRecord)> {
    let device = session.device.ok_or(Error::Unauthorized)?;
    let user = state
        .store
        .user_by_id(session.user)
        .await?
        .ok_or(Error::Unauthorized)?;
    refuse_disabled(&user)?;
    Ok((device, user))
}

/// Issues a single-use WebSocket ticket after the session's device answered a fresh challenge.
pub async fn ws_ticket(
    state: &AppState,
    authed: &Authed,
    nonce: [u8; 32],
    signature: &[u8],
) -> Result<(Secret, u64)> {
    let own = authed.device()?;
    let device = answer(state, authed, nonce, signature).await?;
    if device != own {
        return Err(Error::Forbidden {
            reason: "the challenge was for another device",
        });
    }
    let (ticket, hash) = tokens::issue(TokenKind::Ticket)?;
    let secs = state.settings.limits.ticket_secs;
    state
        .store
        .insert_ticket(&hash, &authed.session.id, clock::in_secs(secs))
        .await?;
    Ok((ticket, secs))
}

/// Redeems a ticket (single use) for the session and user it was issued to.
pub async fn redeem_ticket(state: &AppState, ticket: &str) -> Result<(Authed, DeviceId)> {
    if !tokens::has_kind(ticket, TokenKind::Ticket) {
        return Err(Error::Unauthorized);
    }
    let (session, user) = state
        .store
        .redeem_ticket(&tokens::hash(ticket), clock::now_ms())
        .await?
        .ok_or(Error::Unauthorized)?;
    let device = session.device.ok_or(Error::Unauthorized)?;
    refuse_disabled(&user)?;
    Ok((Authed { session, user }, device))
}

/// The caller's sessions.
pub async fn list(state: &AppState, authed: &Authed) -> Result<Vec<SessionRecord>> {
    state.store.sessions_of(authed.user.id).await
}

/// Revokes one of the caller's sessions and closes its sockets. Another session than the
/// caller's own needs the account password (`password`, checked and throttled like a login):
/// a bearer token alone — perhaps stolen — only ends itself.
pub async fn revoke(
    state: &AppState,
    authed: &Authed,
    session: SessionId,
    password: Option<Zeroizing<String>>,
    ip: IpAddr,
) -> Result<()> {
    if session != authed.session.id {
        let password = password.ok_or(Error::Forbidden {
            reason: "ending another session needs current_password",
        })?;
        crate::service::accounts::check_password(state, &authed.user.username, password, ip)
            .await?;
    }
    let owned = state
        .store
        .session(&session)
        .await?
        .is_some_and(|s| s.user == authed.user.id);
    if !owned || !state.store.delete_session(&session).await? {
        return Err(Error::NotFound { what: "session" });
    }
    state
        .hub
        .close_sessions(&[session], CloseReason::SessionEnded);
    Ok(())
}
