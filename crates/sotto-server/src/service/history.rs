//! History (docs/protocol.md §17): pages of a conversation's archive for its members, from the
//! moment their account joined and within the conversation's retention (§6.7), and the server
//! policy clients read (`GET /v1/policy`). The archive itself is written by the relay's group
//! commit, in the same transaction as each envelope (`store/sqlite/writer.rs`,
//! `store/postgres/bulk.rs`).

use sotto_proto::ids::ConversationId;
use sotto_wire::api::{DEFAULT_HISTORY_PAGE, MAX_HISTORY_PAGE};

use crate::error::{Error, Result};
use crate::service::sessions::Authed;
use crate::state::AppState;
use crate::store::{ArchivedEnvelope, HistoryWindow};

/// One page of history, newest first.
#[derive(Clone, Debug)]
pub struct HistoryPage {
    /// The envelopes.
    pub envelopes: Vec<ArchivedEnvelope>,
    /// Whether older ones follow.
    pub more: bool,
}

/// The retention that applies to `conversation` (seconds; 0 keeps for good).
pub async fn retention_of(state: &AppState, conversation: &ConversationId) -> Result<u64> {
    Ok(state
        .store
        .retention(conversation)
        .await?
        .unwrap_or(state.settings.history.default_retention_secs))
}

/// A page of `conversation`'s archive for a member (`NotFound` for anyone else): envelopes
/// with a sequence number below `before`, received once the caller's account had joined and
/// not past the retention, at most `limit` (1 to 500, default 100).
pub async fn page(
    state: &AppState,
    authed: &Authed,
    conversation: ConversationId,
    before: Option<i64>,
    limit: Option<u32>,
) -> Result<HistoryPage> {
    authed.device()?;
    let limit = limit.unwrap_or(DEFAULT_HISTORY_PAGE);
    if limit == 0 || limit > MAX_HISTORY_PAGE {
        return Err(Error::InvalidField {
            field: "limit",
            reason: "1 to 500",
        });
    }
    let joined = state
        .store
        .member_since(&conversation, authed.user.id)
        .await?
        .ok_or(Error::NotFound {
            what: "conversation",
        })?;
    let retention = retention_of(state, &conversation).await?;
    let kept_from = if retention == 0 {
        i64::MIN
    } else {
        let span = i64::try_from(retention.saturating_mul(1000)).unwrap_or(i64::MAX);
        // Kept while `received_at + retention > now`.
        state.clock.now_ms().saturating_sub(span).saturating_add(1)
    };
    let window = HistoryWindow {
        from: joined.max(kept_from),
        before,
        limit: i64::from(limit) + 1,
    };
    let mut envelopes = state.store.history(&conversation, &window).await?;
    let more = envelopes.len() > limit as usize;
    envelopes.truncate(limit as usize);
    Ok(HistoryPage { envelopes, more })
}
