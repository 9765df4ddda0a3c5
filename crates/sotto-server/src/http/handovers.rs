//! Handlers for device hand-overs (`docs/api.md` "Hand-over"). Their bodies are
//! `sotto_wire::api` types.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use sotto_proto::ids::DeviceId;
use sotto_wire::api::{HandoverList, HandoverRequest, HandoverStored, HandoverView};
use sotto_wire::HandoverId;

use crate::error::{ApiError, Error};
use crate::http::extract::{b64, id, to_b64, LargeJson};
use crate::service::handovers;
use crate::service::sessions::Authed;
use crate::state::AppState;

/// # `POST /v1/devices/{device}/handovers`
///
/// The one JSON route with a larger body cap (`limits.max_handover_json_body`).
pub async fn send(
    State(state): State<AppState>,
    authed: Authed,
    Path(device): Path<String>,
    LargeJson(body): LargeJson<HandoverRequest>,
) -> Result<(StatusCode, axum::Json<HandoverStored>), ApiError> {
    let device: DeviceId = id("device", &device)?;
    let handover = b64("handover", &body.handover)?;
    let stored = handovers::send(&state, &authed, device, handover).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(HandoverStored {
            id: HandoverId(stored),
        }),
    ))
}

/// # `GET /v1/handovers`
pub async fn list(
    State(state): State<AppState>,
    authed: Authed,
) -> Result<axum::Json<HandoverList>, ApiError> {
    let list = handovers::list(&state, &authed).await?;
    Ok(axum::Json(HandoverList {
        handovers: list
            .into_iter()
            .map(|h| HandoverView {
                id: HandoverId(h.id),
                from: h.sender,
                handover: to_b64(&h.body),
                created_at: h.created_at,
            })
            .collect(),
    }))
}

/// # `DELETE /v1/handovers/{id}`
pub async fn delete(
    State(state): State<AppState>,
    authed: Authed,
    Path(handover): Path<String>,
) -> Result<StatusCode, ApiError> {
    // Anything but `ho:` and 32 lower-case hex digits is "not found".
    let handover: HandoverId = handover
        .parse()
        .map_err(|_| Error::NotFound { what: "hand-over" })?;
    handovers::delete(&state, &authed, &handover.0).await?;
    Ok(StatusCode::NO_CONTENT)
}
