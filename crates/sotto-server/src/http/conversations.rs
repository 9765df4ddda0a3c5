//! Handlers for conversations, the HTTP send fallback and attachments.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use sotto_proto::ids::ConversationId;

use crate::error::{ApiError, Error};
use crate::http::extract::{b64, id, read_body, to_b64, Json};
use crate::service::conversations;
use crate::service::sessions::Authed;
use crate::state::AppState;
use crate::store::WriteOutcome;

/// A new conversation.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    genesis: String,
}

/// A stored change's position.
#[derive(Serialize)]
pub struct ChangeStored {
    conversation: String,
    epoch: u64,
}

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
            conversation: conversation.to_string(),
            epoch: 0,
        }),
    ))
}

/// # `GET /v1/conversations`
pub async fn list(
    State(state): State<AppState>,
    authed: Authed,
) -> Result<axum::Json<Vec<String>>, ApiError> {
    let list = conversations::list(&state, &authed).await?;
    Ok(axum::Json(list.iter().map(ToString::to_string).collect()))
}

/// `?since=EPOCH`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Since {
    #[serde(default)]
    since: u64,
}

/// One log entry.
#[derive(Serialize)]
pub struct ChangeView {
    epoch: u64,
    change: String,
    author: String,
    created_at: i64,
}

/// A conversation's log and members.
#[derive(Serialize)]
pub struct ConversationView {
    conversation: String,
    members: Vec<String>,
    changes: Vec<ChangeView>,
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
        conversation: conv.to_string(),
        members: view.members.iter().map(ToString::to_string).collect(),
        changes: view
            .changes
            .into_iter()
            .map(|c| ChangeView {
                epoch: c.epoch,
                change: to_b64(&c.change),
                author: c.author.to_string(),
                created_at: c.created_at,
            })
            .collect(),
    }))
}

/// A change to append.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppendRequest {
    change: String,
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
            conversation: conv.to_string(),
            epoch,
        }),
    ))
}

/// An envelope sent over HTTP.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    message_id: String,
    envelope: String,
    #[serde(default)]
    to: Option<String>,
}

/// Where an envelope went.
#[derive(Serialize)]
pub struct SentView {
    message_id: String,
    recipients: usize,
    queue_full: Vec<String>,
}

/// # `POST /v1/conversations/{conversation}/messages`
pub async fn send(
    State(state): State<AppState>,
    authed: Authed,
    Path(conversation): Path<String>,
    Json(body): Json<SendRequest>,
) -> Result<(StatusCode, axum::Json<SentView>), ApiError> {
    let conv = id("conversation", &conversation)?;
    let message = id("message_id", &body.message_id)?;
    let to = body.to.as_deref().map(|t| id("to", t)).transpose()?;
    let envelope = b64("envelope", &body.envelope)?;
    let outcome = conversations::send(&state, &authed, conv, message, to, envelope).await?;
    let (recipients, full) = match outcome {
        WriteOutcome::Stored { recipients, full } => (recipients.len(), full),
        _ => (0, Vec::new()),
    };
    Ok((
        StatusCode::CREATED,
        axum::Json(SentView {
            message_id: body.message_id,
            recipients,
            queue_full: full.iter().map(ToString::to_string).collect(),
        }),
    ))
}

/// An attachment id.
#[derive(Serialize)]
pub struct AttachmentView {
    attachment: String,
}

/// Parses `att:` and 32 lower-case hex digits; anything else is "not found" (never a path).
pub fn attachment_id(text: &str) -> Result<[u8; 16], Error> {
    let invalid = || Error::NotFound { what: "attachment" };
    let hex_part = text.strip_prefix("att:").ok_or_else(invalid)?;
    if hex_part.len() != 32
        || !hex_part
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(invalid());
    }
    hex::decode(hex_part)
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or_else(invalid)
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
            attachment: format!("att:{}", hex::encode(id)),
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
