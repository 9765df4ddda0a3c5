//! Consent: who may reach whom (docs/api.md, "Requests and blocks"; docs/threat-model.md,
//! "Contacts"). A member added by someone who is not yet a contact holds the conversation as a
//! request, which takes a bounded number of envelopes until they accept it; declining or
//! blocking stops it. Two users are contacts once both are `accepted` members of one
//! conversation. The statuses are the server's routing state only: the signed group log, which
//! clients verify, is unchanged by them.

use sotto_proto::ids::ConversationId;
use sotto_wire::api::{BlockedView, RequestView};

use crate::clock;
use crate::error::{Error, Result};
use crate::service::sessions::Authed;
use crate::state::AppState;
use crate::store::{MemberStatus, NewMember, UserId, UserRecord};

/// The status `user` gets on joining a conversation by `adder`: declined if they block the
/// adder, accepted if they are contacts already (or it is the adder), a request otherwise.
pub async fn joining(state: &AppState, adder: UserId, user: UserId) -> Result<NewMember> {
    if user == adder {
        return Ok(NewMember::accepted(user));
    }
    let status = if state.store.is_blocked(user, adder).await? {
        MemberStatus::Declined
    } else if state.store.are_contacts(adder, user).await? {
        MemberStatus::Accepted
    } else {
        MemberStatus::Request
    };
    Ok(NewMember {
        user,
        status,
        added_by: Some(adder),
    })
}

/// Refuses a new conversation once `creator` has created `max_conversations_per_day` in the
/// last 24 hours; the answer says when the oldest of them leaves the window.
pub async fn check_creation_rate(state: &AppState, creator: UserId) -> Result<()> {
    const DAY_MS: i64 = 24 * 3600 * 1000;
    let max = state.settings.limits.max_conversations_per_day;
    let now = clock::now_ms();
    let (created, oldest) = state
        .store
        .conversations_created_since(creator, now - DAY_MS)
        .await?;
    if created < max {
        return Ok(());
    }
    let wait_ms = oldest.map_or(DAY_MS, |t| (t + DAY_MS - now).clamp(1000, DAY_MS));
    Err(Error::Throttled {
        retry_after: std::time::Duration::from_millis(u64::try_from(wait_ms).unwrap_or(1000)),
    })
}

/// Sets the caller's status in a conversation they are a member of (404 otherwise).
pub async fn set_status(
    state: &AppState,
    authed: &Authed,
    conversation: ConversationId,
    status: MemberStatus,
) -> Result<()> {
    state
        .store
        .set_member_status(&conversation, authed.user.id, status)
        .await
}

/// The caller's pending requests, oldest first.
pub async fn requests(state: &AppState, authed: &Authed) -> Result<Vec<RequestView>> {
    let mut out = Vec::new();
    for request in state.store.requests_of(authed.user.id).await? {
        let from = match request.from {
            Some(user) => state.store.user_by_id(user).await?,
            None => None,
        };
        // An adder without keys cannot have signed a change; nothing to show.
        let Some((from, account)) = from.and_then(|u| u.account.map(|a| (u, a))) else {
            continue;
        };
        out.push(RequestView {
            conversation: request.conversation,
            from: account,
            from_username: from.username,
            members: usize::try_from(request.members).unwrap_or(0),
            created_at: request.added_at,
            queued: u64::try_from(request.queued).unwrap_or(0),
        });
    }
    Ok(out)
}

/// The account a username names (404 if none).
async fn named(state: &AppState, username: &str) -> Result<UserRecord> {
    let name = crate::auth::username::normalize(username)?;
    state
        .store
        .user_by_name(&name)
        .await?
        .ok_or(Error::NotFound { what: "account" })
}

/// The caller blocks `username`.
pub async fn block(state: &AppState, authed: &Authed, username: &str) -> Result<()> {
    let target = named(state, username).await?;
    if target.id == authed.user.id {
        return Err(Error::InvalidField {
            field: "username",
            reason: "an account cannot block itself",
        });
    }
    state
        .store
        .block(authed.user.id, target.id, clock::now_ms())
        .await
}

/// The caller lifts a block of `username`.
pub async fn unblock(state: &AppState, authed: &Authed, username: &str) -> Result<()> {
    let target = named(state, username).await?;
    state.store.unblock(authed.user.id, target.id).await
}

/// The accounts the caller blocks, by username.
pub async fn blocks(state: &AppState, authed: &Authed) -> Result<Vec<BlockedView>> {
    Ok(state
        .store
        .blocked_by(authed.user.id)
        .await?
        .into_iter()
        .filter_map(|u| {
            u.account.map(|account| BlockedView {
                account,
                username: u.username,
            })
        })
        .collect())
}
