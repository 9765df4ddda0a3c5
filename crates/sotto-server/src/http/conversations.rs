//! Handlers for conversations, the HTTP send fallback and attachments. Their bodies are
//! `sotto_wire::api` types.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use sotto_proto::ids::{ConversationId, DeviceId};
use sotto_wire::api::{
    AppendRequest, AttachmentView, BlockList, ChangeStored, ChangeView, ConversationView,
    CreateRequest, RequestList, SendRequest, SentView, Since, Undelivered, UndeliveredReason,
};
use sotto_wire::AttachmentId;

use crate::error::{ApiError, Error};
use crate::http::extract::{b64, id, read_body, to_b64, Json};
use crate::service::sessions::Authed;
use crate::service::{consent, conversations};
use crate::state::AppState;
use crate::store::{MemberStatus, WriteOutcome};

/// # `POST /v1/conversations`
pub async fn create(
    State(state): State<AppState>,
    authed: Authed,
    Json(body): Json<CreateRequest>,
) -> Result<(StatusCode, axum::Json<ChangeStored>), ApiError> {
    let genesis = b64("genesis", &body.genesis)?;
    let conversation = conversations::create(&state, &authed, &genesis).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(ChangeStored {
            conversation,
            epoch: 0,
        }),
    ))
}

/// # `GET /v1/conversations`
pub async fn list(
    State(state): State<AppState>,
    authed: Authed,
) -> Result<axum::Json<Vec<ConversationId>>, ApiError> {
    Ok(axum::Json(conversations::list(&state, &authed).await?))
}

/// # `GET /v1/conversations/{conversation}?since=EPOCH`
pub async fn fetch(
    State(state): State<AppState>,
    authed: Authed,
    Path(conversation): Path<String>,
    since: Result<Query<Since>, QueryRejection>,
) -> Result<axum::Json<ConversationView>, ApiError> {
    let conv: ConversationId = id("conversation", &conversation)?;
    let Query(since) = since.map_err(|_| Error::InvalidField {
        field: "since",
        reason: "expected ?since=EPOCH",
    })?;
    let view = conversations::fetch(&state, &authed, conv, since.since).await?;
    Ok(axum::Json(ConversationView {
        conversation: conv,
        members: view.members,
        changes: view
            .changes
            .into_iter()
            .map(|c| ChangeView {
                epoch: c.epoch,
                change: to_b64(&c.change),
                author: c.author,
                created_at: c.created_at,
            })
            .collect(),
    }))
}

/// # `POST /v1/conversations/{conversation}/changes`
pub async fn append(
    State(state): State<AppState>,
    authed: Authed,
    Path(conversation): Path<String>,
    Json(body): Json<AppendRequest>,
) -> Result<(StatusCode, axum::Json<ChangeStored>), ApiError> {
    let conv: ConversationId = id("conversation", &conversation)?;
    let change = b64("change", &body.change)?;
    let epoch = conversations::append(&state, &authed, conv, &change).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(ChangeStored {
            conversation: conv,
            epoch,
        }),
    ))
}

/// # `POST /v1/conversations/{conversation}/messages`
pub async fn send(
    State(state): State<AppState>,
    authed: Authed,
    Path(conversation): Path<String>,
    Json(body): Json<SendRequest>,
) -> Result<(StatusCode, axum::Json<SentView>), ApiError> {
    let conv = id("conversation", &conversation)?;
    let envelope = b64("envelope", &body.envelope)?;
    let outcome =
        conversations::send(&state, &authed, conv, body.message_id, body.to, envelope).await?;
    let (recipients, undelivered) = match outcome {
        WriteOutcome::Stored {
            recipients,
            undelivered: refused,
        } => (recipients.len(), undelivered(&refused)),
        _ => (0, Vec::new()),
    };
    Ok((
        StatusCode::CREATED,
        axum::Json(SentView {
            message_id: body.message_id,
            recipients,
            undelivered,
        }),
    ))
}

/// The member devices that got no copy, and why, as the answer names them.
pub fn undelivered(refused: &[(DeviceId, UndeliveredReason)]) -> Vec<Undelivered> {
    refused
        .iter()
        .map(|&(device, reason)| Undelivered { device, reason })
        .collect()
}

/// # `POST /v1/conversations/{conversation}/accept`
pub async fn accept(
    State(state): State<AppState>,
    authed: Authed,
    Path(conversation): Path<String>,
) -> Result<StatusCode, ApiError> {
    let conv = id("conversation", &conversation)?;
    consent::set_status(&state, &authed, conv, MemberStatus::Accepted).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// # `POST /v1/conversations/{conversation}/decline`
pub async fn decline(
    State(state): State<AppState>,
    authed: Authed,
    Path(conversation): Path<String>,
) -> Result<StatusCode, ApiError> {
    let conv = id("conversation", &conversation)?;
    consent::set_status(&state, &authed, conv, MemberStatus::Declined).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// # `GET /v1/requests`
pub async fn requests(
    State(state): State<AppState>,
    authed: Authed,
) -> Result<axum::Json<RequestList>, ApiError> {
    Ok(axum::Json(RequestList {
        requests: consent::requests(&state, &authed).await?,
    }))
}

/// # `GET /v1/blocks`
pub async fn blocks(
    State(state): State<AppState>,
    authed: Authed,
) -> Result<axum::Json<BlockList>, ApiError> {
    Ok(axum::Json(BlockList {
        blocked: consent::blocks(&state, &authed).await?,
    }))
}

/// # `PUT /v1/blocks/{username}`
pub async fn block(
    State(state): State<AppState>,
    authed: Authed,
    Path(username): Path<String>,
) -> Result<StatusCode, ApiError> {
    consent::block(&state, &authed, &username).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// # `DELETE /v1/blocks/{username}`
pub async fn unblock(
    State(state): State<AppState>,
    authed: Authed,
    Path(username): Path<String>,
) -> Result<StatusCode, ApiError> {
    consent::unblock(&state, &authed, &username).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Parses `att:` and 32 lower-case hex digits; anything else is "not found" (never a path).
pub fn attachment_id(text: &str) -> Result<[u8; 16], Error> {
    text.parse::<AttachmentId>()
        .map(|a| a.0)
        .map_err(|_| Error::NotFound { what: "attachment" })
}

/// # `POST /v1/conversations/{conversation}/attachments`
///
/// The body is the encrypted blob (`application/octet-stream`).
pub async fn upload_attachment(
    State(state): State<AppState>,
    authed: Authed,
    Path(conversation): Path<String>,
    req: Request,
) -> Result<(StatusCode, axum::Json<AttachmentView>), ApiError> {
    let conv = id("conversation", &conversation)?;
    conversations::require_member(&state, &conv, authed.user.id).await?;
    let body = read_body(req, state.settings.limits.max_attachment, "attachment").await?;
    let id = conversations::upload_attachment(&state, &authed, conv, &body).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(AttachmentView {
            attachment: AttachmentId(id),
        }),
    ))
}

/// # `GET /v1/attachments/{attachment}`
pub async fn download_attachment(
    State(state): State<AppState>,
    authed: Authed,
    Path(attachment): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id = attachment_id(&attachment)?;
    let body = conversations::download_attachment(&state, &authed, &id).await?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], body))
}
