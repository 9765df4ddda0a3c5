//! Handlers for one-time prekeys (`docs/api.md` "Prekeys"). Their bodies are `sotto_wire::api`
//! types.

use axum::extract::State;
use sotto_wire::api::{PrekeyClaim, PrekeyClaimed, PrekeyCount, PrekeyUpload};

use crate::error::ApiError;
use crate::http::extract::{b64, to_b64, Json};
use crate::service::prekeys;
use crate::service::sessions::Authed;
use crate::state::AppState;

/// # `POST /v1/devices/current/prekeys`
pub async fn upload(
    State(state): State<AppState>,
    authed: Authed,
    Json(body): Json<PrekeyUpload>,
) -> Result<axum::Json<PrekeyCount>, ApiError> {
    let prekeys = body
        .prekeys
        .iter()
        .map(|p| b64("prekeys", p))
        .collect::<Result<Vec<_>, _>>()?;
    let remaining = prekeys::upload(&state, &authed, &prekeys, body.replace).await?;
    Ok(axum::Json(PrekeyCount { remaining }))
}

/// # `GET /v1/devices/current/prekeys`
pub async fn remaining(
    State(state): State<AppState>,
    authed: Authed,
) -> Result<axum::Json<PrekeyCount>, ApiError> {
    let remaining = prekeys::remaining(&state, &authed).await?;
    Ok(axum::Json(PrekeyCount { remaining }))
}

/// # `POST /v1/prekeys/claim`
pub async fn claim(
    State(state): State<AppState>,
    authed: Authed,
    Json(body): Json<PrekeyClaim>,
) -> Result<axum::Json<PrekeyClaimed>, ApiError> {
    let claimed = prekeys::claim(&state, &authed, &body.devices).await?;
    Ok(axum::Json(PrekeyClaimed {
        prekeys: claimed
            .into_iter()
            .map(|(device, body)| (device, body.as_deref().map(to_b64)))
            .collect(),
    }))
}
