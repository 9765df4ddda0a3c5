//! Handlers for history and the server policy (`docs/api.md` "History"). Their bodies are
//! `sotto_wire::api` types.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use sotto_proto::ids::ConversationId;
use sotto_wire::api::{ArchivedView, HistoryPage, HistoryQuery, PolicyView};

use crate::error::{ApiError, Error};
use crate::http::extract::{id, to_b64};
use crate::service::history;
use crate::service::sessions::Authed;
use crate::state::AppState;

/// # `GET /v1/conversations/{conversation}/history?before=SEQ&limit=N`
pub async fn page(
    State(state): State<AppState>,
    authed: Authed,
    Path(conversation): Path<String>,
    query: Result<Query<HistoryQuery>, QueryRejection>,
) -> Result<axum::Json<HistoryPage>, ApiError> {
    let conv: ConversationId = id("conversation", &conversation)?;
    let Query(query) = query.map_err(|_| Error::InvalidField {
        field: "query",
        reason: "expected ?before=SEQ&limit=N",
    })?;
    let page = history::page(&state, &authed, conv, query.before, query.limit).await?;
    Ok(axum::Json(HistoryPage {
        envelopes: page
            .envelopes
            .into_iter()
            .map(|e| ArchivedView {
                seq: e.seq,
                envelope: to_b64(&e.body),
                received_at: e.received_at,
            })
            .collect(),
        more: page.more,
    }))
}

/// # `GET /v1/policy`
pub async fn policy(State(state): State<AppState>, _authed: Authed) -> axum::Json<PolicyView> {
    // Limits a client checks before sealing or uploading, so nothing it could foresee is
    // refused only after it was sent.
    axum::Json(PolicyView {
        default_retention_secs: state.settings.history.default_retention_secs,
        max_attachment_bytes: u64::try_from(state.settings.limits.max_attachment).ok(),
        max_body_bytes: u64::try_from(sotto_proto::limits::MAX_BODY_LEN).ok(),
    })
}
