//! Handlers for accounts, password and device login, tokens, tickets and sessions.

use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, Error};
use crate::http::extract::{
    b64, b64_fixed, id, parse_json, read_body, to_b64, ClientIp, Json, SecretField,
};
use crate::service::sessions::Authed;
use crate::service::{accounts, sessions};
use crate::state::AppState;
use crate::store::SessionId;

/// The WebSocket ticket cookie (`__Host-`: Secure, no Domain, Path=/).
pub const TICKET_COOKIE: &str = "__Host-sotto-ticket";

/// Username and password.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    username: String,
    password: SecretField,
}

/// `POST /v1/accounts` and `POST /v1/auth/login` answers.
#[derive(Serialize)]
pub struct AccountCreated {
    username: String,
}

/// # `POST /v1/accounts`
pub async fn register(
    State(state): State<AppState>,
    Json(body): Json<Credentials>,
) -> Result<impl IntoResponse, ApiError> {
    let username = accounts::register(&state, &body.username, body.password.0).await?;
    Ok((StatusCode::CREATED, axum::Json(AccountCreated { username })))
}

/// A login token.
#[derive(Serialize)]
pub struct LoginResponse {
    username: String,
    login_token: String,
    expires_in: u64,
}

/// # `POST /v1/auth/login`
pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(body): Json<Credentials>,
) -> Result<axum::Json<LoginResponse>, ApiError> {
    let grant = accounts::login(&state, &body.username, body.password.0, ip).await?;
    Ok(axum::Json(LoginResponse {
        username: grant.username,
        login_token: grant.token.expose().to_owned(),
        expires_in: grant.expires_in,
    }))
}

/// Which device wants a challenge.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChallengeRequest {
    device: String,
}

/// An encoded `AuthChallenge` and its nonce.
#[derive(Serialize)]
pub struct ChallengeResponse {
    challenge: String,
    nonce: String,
}

/// # `POST /v1/auth/challenge`
pub async fn challenge(
    State(state): State<AppState>,
    authed: Authed,
    Json(body): Json<ChallengeRequest>,
) -> Result<axum::Json<ChallengeResponse>, ApiError> {
    let device = id("device", &body.device)?;
    let encoded = sessions::challenge(&state, &authed, device).await?;
    challenge_response(encoded)
}

fn challenge_response(encoded: Vec<u8>) -> Result<axum::Json<ChallengeResponse>, ApiError> {
    let decoded = sotto_proto::auth::AuthChallenge::decode(&encoded)
        .map_err(|e| crate::error::Error::Crypto(e.into()))?;
    Ok(axum::Json(ChallengeResponse {
        challenge: to_b64(&encoded),
        nonce: to_b64(&decoded.nonce),
    }))
}

/// A signed challenge.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChallengeAnswer {
    nonce: String,
    signature: String,
}

/// Device session tokens.
#[derive(Serialize)]
pub struct TokenResponse {
    session: String,
    access_token: String,
    expires_in: u64,
    refresh_token: String,
}

impl From<sessions::DeviceTokens> for TokenResponse {
    fn from(t: sessions::DeviceTokens) -> Self {
        Self {
            session: t.session.to_string(),
            access_token: t.access_token.expose().to_owned(),
            expires_in: t.expires_in,
            refresh_token: t.refresh_token.expose().to_owned(),
        }
    }
}

/// # `POST /v1/auth/device`
pub async fn device_login(
    State(state): State<AppState>,
    authed: Authed,
    Json(body): Json<ChallengeAnswer>,
) -> Result<axum::Json<TokenResponse>, ApiError> {
    let nonce = b64_fixed("nonce", &body.nonce)?;
    let signature = b64("signature", &body.signature)?;
    let tokens = sessions::device_login(&state, &authed, nonce, &signature).await?;
    Ok(axum::Json(tokens.into()))
}

/// A refresh token, with a device proof when it retries a refresh whose answer was lost.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    refresh_token: SecretField,
    #[serde(default)]
    proof: Option<ChallengeAnswer>,
}

/// # `POST /v1/auth/refresh`
pub async fn refresh(
    State(state): State<AppState>,
    Json(body): Json<RefreshRequest>,
) -> Result<axum::Json<TokenResponse>, ApiError> {
    let proof = match body.proof {
        Some(answer) => Some(sessions::DeviceProof {
            nonce: b64_fixed("nonce", &answer.nonce)?,
            signature: b64("signature", &answer.signature)?,
        }),
        None => None,
    };
    Ok(axum::Json(
        sessions::refresh(&state, &body.refresh_token.0, proof)
            .await?
            .into(),
    ))
}

/// A refresh token whose answer may have been lost.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshChallengeRequest {
    refresh_token: SecretField,
}

/// # `POST /v1/auth/refresh/challenge`
pub async fn refresh_challenge(
    State(state): State<AppState>,
    Json(body): Json<RefreshChallengeRequest>,
) -> Result<axum::Json<ChallengeResponse>, ApiError> {
    let encoded = sessions::refresh_challenge(&state, &body.refresh_token.0).await?;
    challenge_response(encoded)
}

/// # `POST /v1/auth/logout`
pub async fn logout(State(state): State<AppState>, authed: Authed) -> Result<StatusCode, ApiError> {
    accounts::logout(&state, &authed).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A password change.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    current_password: SecretField,
    new_password: SecretField,
    #[serde(default)]
    end_other_sessions: bool,
}

/// How many sessions a password change ended.
#[derive(Serialize)]
pub struct PasswordChanged {
    sessions_ended: u64,
}

/// # `POST /v1/account/password`
pub async fn change_password(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    authed: Authed,
    Json(body): Json<PasswordChange>,
) -> Result<axum::Json<PasswordChanged>, ApiError> {
    let ended = accounts::change_password(
        &state,
        &authed,
        body.current_password.0,
        body.new_password.0,
        body.end_other_sessions,
        ip,
    )
    .await?;
    Ok(axum::Json(PasswordChanged {
        sessions_ended: ended,
    }))
}

/// A WebSocket ticket.
#[derive(Serialize)]
pub struct TicketResponse {
    ticket: String,
    expires_in: u64,
}

/// # `POST /v1/ws/ticket`
///
/// Also sets the ticket as an HttpOnly, Secure, SameSite=Strict `__Host-` cookie for browsers.
pub async fn ws_ticket(
    State(state): State<AppState>,
    authed: Authed,
    Json(body): Json<ChallengeAnswer>,
) -> Result<Response, ApiError> {
    let nonce = b64_fixed("nonce", &body.nonce)?;
    let signature = b64("signature", &body.signature)?;
    let (ticket, secs) = sessions::ws_ticket(&state, &authed, nonce, &signature).await?;
    let cookie = format!(
        "{TICKET_COOKIE}={}; Max-Age={secs}; Path=/; Secure; HttpOnly; SameSite=Strict",
        ticket.expose()
    );
    let mut response = axum::Json(TicketResponse {
        ticket: ticket.expose().to_owned(),
        expires_in: secs,
    })
    .into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}

/// One session in a listing.
#[derive(Serialize)]
pub struct SessionView {
    session: String,
    device: Option<String>,
    kind: &'static str,
    created_at: i64,
    current: bool,
}

/// # `GET /v1/sessions`
pub async fn list_sessions(
    State(state): State<AppState>,
    authed: Authed,
) -> Result<axum::Json<Vec<SessionView>>, ApiError> {
    let sessions = sessions::list(&state, &authed).await?;
    Ok(axum::Json(
        sessions
            .into_iter()
            .map(|s| SessionView {
                session: s.id.to_string(),
                device: s.device.map(|d| d.to_string()),
                kind: if s.device.is_some() {
                    "device"
                } else {
                    "login"
                },
                created_at: s.created_at,
                current: s.id == authed.session.id,
            })
            .collect(),
    ))
}

/// Parses `sess:` and 32 lower-case hex digits, the one spelling the server writes (found by
/// the `server_text` fuzz target: upper-case digits named the same session too).
pub fn session_id(text: &str) -> Result<SessionId, Error> {
    let canonical = text.strip_prefix("sess:").is_some_and(|hex| {
        hex.len() == 32
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    });
    if !canonical {
        return Err(Error::InvalidField {
            field: "session",
            reason: "expected sess: and 32 lower-case hex digits",
        });
    }
    text.parse()
}

/// The proof a token thief lacks: the account password.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordProof {
    current_password: SecretField,
}

/// # `DELETE /v1/sessions/{session}`
///
/// Ending the caller's own session needs nothing more (it is a logout). Ending another session
/// needs `{"current_password": …}` as well, so a stolen access token cannot sign the real user
/// out of their other devices.
pub async fn revoke_session(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    authed: Authed,
    Path(session): Path<String>,
    req: Request,
) -> Result<StatusCode, ApiError> {
    let session = session_id(&session)?;
    let max = state.settings.limits.max_json_body;
    let has_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/json")
        });
    let bytes = read_body(req, max, "request body").await?;
    let password = match (bytes.is_empty(), has_json) {
        (true, _) => None,
        (false, true) => Some(parse_json::<PasswordProof>(&bytes)?.current_password.0),
        (false, false) => return Err(Error::NotJson.into()),
    };
    sessions::revoke(&state, &authed, session, password, ip).await?;
    Ok(StatusCode::NO_CONTENT)
}
