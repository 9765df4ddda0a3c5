//! Handlers for the master key, devices, revocations, exchange keys and the key directory.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::http::extract::{b64, to_b64, Json};
use crate::service::devices;
use crate::service::sessions::Authed;
use crate::state::AppState;
use crate::store::DeviceRecord;

/// A master public key.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MasterKeyRequest {
    master_key: String,
}

/// The account id a master key yields.
#[derive(Serialize)]
pub struct AccountView {
    account: String,
}

/// # `PUT /v1/account/master-key`
pub async fn set_master_key(
    State(state): State<AppState>,
    authed: Authed,
    Json(body): Json<MasterKeyRequest>,
) -> Result<axum::Json<AccountView>, ApiError> {
    let spki = b64("master_key", &body.master_key)?;
    let account = devices::set_master_key(&state, &authed, &spki).await?;
    Ok(axum::Json(AccountView {
        account: account.to_string(),
    }))
}

/// A device announcing itself.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PendingRequest {
    signing_key: String,
    auth_key: String,
    name: String,
}

/// A device id.
#[derive(Serialize)]
pub struct DeviceIdView {
    device: String,
}

/// # `POST /v1/devices/pending`
pub async fn add_pending(
    State(state): State<AppState>,
    authed: Authed,
    Json(body): Json<PendingRequest>,
) -> Result<(StatusCode, axum::Json<DeviceIdView>), ApiError> {
    let signing = b64("signing_key", &body.signing_key)?;
    let auth = b64("auth_key", &body.auth_key)?;
    let device = devices::add_pending(&state, &authed, &signing, &auth, &body.name).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(DeviceIdView {
            device: device.to_string(),
        }),
    ))
}

/// A master-signed device certificate.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateRequest {
    certificate: String,
}

/// # `POST /v1/devices`
pub async fn certify(
    State(state): State<AppState>,
    authed: Authed,
    Json(body): Json<CertificateRequest>,
) -> Result<axum::Json<DeviceIdView>, ApiError> {
    let cert = b64("certificate", &body.certificate)?;
    let device = devices::certify(&state, &authed, &cert).await?;
    Ok(axum::Json(DeviceIdView {
        device: device.to_string(),
    }))
}

/// One device as its owner or the directory sees it.
#[derive(Serialize)]
pub struct DeviceView {
    device: String,
    state: &'static str,
    name: String,
    signing_key: String,
    auth_key: String,
    certificate: Option<String>,
    exchange_key: Option<String>,
    created_at: i64,
}

impl From<DeviceRecord> for DeviceView {
    fn from(d: DeviceRecord) -> Self {
        Self {
            device: d.device.to_string(),
            state: d.state.as_str(),
            name: d.name,
            signing_key: to_b64(&d.signing_key),
            auth_key: to_b64(&d.auth_key),
            certificate: d.certificate.as_deref().map(to_b64),
            exchange_key: d.exchange_cert.as_deref().map(to_b64),
            created_at: d.created_at,
        }
    }
}

/// # `GET /v1/devices`
pub async fn list(
    State(state): State<AppState>,
    authed: Authed,
) -> Result<axum::Json<Vec<DeviceView>>, ApiError> {
    let list = devices::list(&state, &authed).await?;
    Ok(axum::Json(list.into_iter().map(DeviceView::from).collect()))
}

/// A master-signed revocation.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevocationRequest {
    revocation: String,
}

/// # `POST /v1/devices/revoke`
pub async fn revoke(
    State(state): State<AppState>,
    authed: Authed,
    Json(body): Json<RevocationRequest>,
) -> Result<axum::Json<DeviceIdView>, ApiError> {
    let revocation = b64("revocation", &body.revocation)?;
    let device = devices::revoke(&state, &authed, &revocation).await?;
    Ok(axum::Json(DeviceIdView {
        device: device.to_string(),
    }))
}

/// The serial an exchange key was stored with.
#[derive(Serialize)]
pub struct SerialView {
    serial: u64,
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

/// A directory entry.
#[derive(Serialize)]
pub struct DirectoryView {
    username: String,
    account: String,
    master_key: String,
    devices: Vec<DeviceView>,
    revocations: Vec<String>,
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
        account: entry.account.to_string(),
        master_key: to_b64(&entry.master_key),
        devices: entry.devices.into_iter().map(DeviceView::from).collect(),
        revocations: entry.revocations.iter().map(|r| to_b64(r)).collect(),
    }))
}
