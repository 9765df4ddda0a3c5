//! Handlers for the master key, devices, revocations, exchange keys and the key directory.
//! Their bodies are `sotto_wire::api` types.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use sotto_wire::api::{
    AccountView, CertificateRequest, DeviceIdView, DeviceView, DirectoryView, MasterKeyRequest,
    PendingRequest, RevocationRequest, SerialView,
};

use crate::error::ApiError;
use crate::http::extract::{b64, to_b64, Json};
use crate::service::devices;
use crate::service::sessions::Authed;
use crate::state::AppState;
use crate::store::DeviceRecord;

/// # `PUT /v1/account/master-key`
pub async fn set_master_key(
    State(state): State<AppState>,
    authed: Authed,
    Json(body): Json<MasterKeyRequest>,
) -> Result<axum::Json<AccountView>, ApiError> {
    let spki = b64("master_key", &body.master_key)?;
    let account = devices::set_master_key(&state, &authed, &spki).await?;
    Ok(axum::Json(AccountView { account }))
}

/// # `POST /v1/devices/pending`
pub async fn add_pending(
    State(state): State<AppState>,
    authed: Authed,
    Json(body): Json<PendingRequest>,
) -> Result<(StatusCode, axum::Json<DeviceIdView>), ApiError> {
    let signing = b64("signing_key", &body.signing_key)?;
    let auth = b64("auth_key", &body.auth_key)?;
    let exchange_key = body
        .exchange_key
        .as_deref()
        .map(|k| b64("exchange_key", k))
        .transpose()?;
    let device = devices::add_pending(
        &state,
        &authed,
        &signing,
        &auth,
        &body.name,
        exchange_key.as_deref(),
    )
    .await?;
    Ok((StatusCode::CREATED, axum::Json(DeviceIdView { device })))
}

/// # `POST /v1/devices`
pub async fn certify(
    State(state): State<AppState>,
    authed: Authed,
    Json(body): Json<CertificateRequest>,
) -> Result<axum::Json<DeviceIdView>, ApiError> {
    let cert = b64("certificate", &body.certificate)?;
    let device = devices::certify(&state, &authed, &cert).await?;
    Ok(axum::Json(DeviceIdView { device }))
}

/// One device as its owner or the directory sees it.
fn device_view(d: DeviceRecord) -> DeviceView {
    DeviceView {
        device: d.device,
        state: d.state,
        name: d.name,
        signing_key: to_b64(&d.signing_key),
        auth_key: to_b64(&d.auth_key),
        certificate: d.certificate.as_deref().map(to_b64),
        exchange_key: d.exchange_cert.as_deref().map(to_b64),
        created_at: d.created_at,
    }
}

/// # `GET /v1/devices`
pub async fn list(
    State(state): State<AppState>,
    authed: Authed,
) -> Result<axum::Json<Vec<DeviceView>>, ApiError> {
    let list = devices::list(&state, &authed).await?;
    Ok(axum::Json(list.into_iter().map(device_view).collect()))
}

/// # `POST /v1/devices/revoke`
pub async fn revoke(
    State(state): State<AppState>,
    authed: Authed,
    Json(body): Json<RevocationRequest>,
) -> Result<axum::Json<DeviceIdView>, ApiError> {
    let revocation = b64("revocation", &body.revocation)?;
    let device = devices::revoke(&state, &authed, &revocation).await?;
    Ok(axum::Json(DeviceIdView { device }))
}

/// # `PUT /v1/devices/current/exchange-key`
pub async fn set_exchange_key(
    State(state): State<AppState>,
    authed: Authed,
    Json(body): Json<CertificateRequest>,
) -> Result<axum::Json<SerialView>, ApiError> {
    let cert = b64("certificate", &body.certificate)?;
    let serial = devices::set_exchange_key(&state, &authed, &cert).await?;
    Ok(axum::Json(SerialView { serial }))
}

/// # `GET /v1/directory/{who}`
///
/// `who` is a username or an `acct:` id.
pub async fn directory(
    State(state): State<AppState>,
    _authed: Authed,
    Path(who): Path<String>,
) -> Result<axum::Json<DirectoryView>, ApiError> {
    let entry = devices::directory(&state, &who).await?;
    Ok(axum::Json(DirectoryView {
        username: entry.username,
        account: entry.account,
        master_key: to_b64(&entry.master_key),
        devices: entry.devices.into_iter().map(device_view).collect(),
        revocations: entry.revocations.iter().map(|r| to_b64(r)).collect(),
    }))
}
