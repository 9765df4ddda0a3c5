//! Handlers for recovery and the key backup (`docs/api.md` "Recovery"). Their bodies are
//! `sotto_wire::api` types.

use axum::extract::State;
use axum::http::StatusCode;
use sotto_wire::api::{
    BackupItemView, BackupPage, BackupStored, BackupUpload, RecoverySetup, RecoverySetupView,
    RecoveryStatus, RecoveryUnlock,
};
use zeroize::Zeroizing;

use crate::error::ApiError;
use crate::http::extract::{b64, b64_fixed, to_b64, ClientIp, Json};
use crate::service::recovery::{self, NewSetup};
use crate::service::sessions::Authed;
use crate::state::AppState;

/// # `GET /v1/recovery`
pub async fn status(
    State(state): State<AppState>,
    authed: Authed,
) -> Result<axum::Json<RecoveryStatus>, ApiError> {
    let setup = recovery::status(&state, &authed).await?;
    Ok(axum::Json(RecoveryStatus {
        configured: setup.is_some(),
        setup: setup.map(|s| RecoverySetupView {
            recovery_id: to_b64(&s.recovery_id),
            method: s.method,
            salt: s.salt.as_ref().map(|salt| to_b64(salt)),
            items: u64::try_from(s.items).unwrap_or(0),
            created_at: s.created_at,
        }),
    }))
}

/// # `PUT /v1/recovery`
pub async fn set_up(
    State(state): State<AppState>,
    authed: Authed,
    Json(body): Json<RecoverySetup>,
) -> Result<StatusCode, ApiError> {
    let setup = NewSetup {
        recovery_id: b64_fixed("recovery_id", &body.recovery_id)?,
        method: body.method,
        salt: body
            .salt
            .as_deref()
            .map(|s| b64_fixed("salt", s))
            .transpose()?,
        verifier: b64_fixed("verifier", &body.verifier)?,
    };
    recovery::set_up(&state, &authed, setup).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// # `DELETE /v1/recovery`
pub async fn remove(State(state): State<AppState>, authed: Authed) -> Result<StatusCode, ApiError> {
    recovery::remove(&state, &authed).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// # `POST /v1/recovery/items`
pub async fn upload(
    State(state): State<AppState>,
    authed: Authed,
    Json(body): Json<BackupUpload>,
) -> Result<axum::Json<BackupStored>, ApiError> {
    let items = body
        .items
        .iter()
        .map(|item| b64("items", item))
        .collect::<Result<Vec<_>, _>>()?;
    let stored = recovery::upload(&state, &authed, items).await?;
    Ok(axum::Json(BackupStored { stored }))
}

/// # `POST /v1/recovery/unlock`
pub async fn unlock(
    State(state): State<AppState>,
    authed: Authed,
    ClientIp(ip): ClientIp,
    Json(body): Json<RecoveryUnlock>,
) -> Result<axum::Json<BackupPage>, ApiError> {
    let access = Zeroizing::new(b64_fixed::<32>("access", body.access.expose())?);
    let page = recovery::unlock(&state, &authed, ip, access, body.after).await?;
    Ok(axum::Json(BackupPage {
        items: page
            .items
            .into_iter()
            .map(|i| BackupItemView {
                seq: i.seq,
                item: to_b64(&i.body),
            })
            .collect(),
        next: page.next,
    }))
}
