//! Handlers for accounts, password and device login, tokens, tickets and sessions. Their bodies
//! are `sotto_wire::api` types.

use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sotto_wire::api::{
    AccountCreated, ChallengeAnswer, ChallengeRequest, ChallengeResponse, Credentials,
    LoginResponse, PasswordChange, PasswordChanged, PasswordProof, RefreshChallengeRequest,
    RefreshRequest, Registration, RegistrationMode as WireMode, RegistrationView, SessionKind,
    SessionView, TicketResponse, TokenResponse,
};
use sotto_wire::Secret;

use crate::error::{ApiError, Error};
use crate::http::body::read_json;
use crate::http::extract::{b64, b64_fixed, parse_json, to_b64, ClientIp, Json};
use crate::service::sessions::Authed;
use crate::service::{accounts, sessions};
use crate::state::AppState;
use crate::store::SessionId;

/// The WebSocket ticket cookie (`__Host-`: Secure, no Domain, Path=/).
pub const TICKET_COOKIE: &str = "__Host-sotto-ticket";

/// # `POST /v1/accounts`
pub async fn register(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(body): Json<Registration>,
) -> Result<impl IntoResponse, ApiError> {
    let username = accounts::register(
        &state,
        &body.username,
        body.password.into_inner(),
        body.invite,
        ip,
    )
    .await?;
    Ok((StatusCode::CREATED, axum::Json(AccountCreated { username })))
}

/// # `GET /v1/registration`
///
/// No authentication: a sign-up form reads it before there is an account.
pub async fn registration(State(state): State<AppState>) -> axum::Json<RegistrationView> {
    use crate::config::RegistrationMode as Mode;
    axum::Json(RegistrationView {
        mode: match state.settings.registration {
            Mode::Open => WireMode::Open,
            Mode::Invite => WireMode::Invite,
            Mode::Closed => WireMode::Closed,
        },
    })
}

/// # `POST /v1/auth/login`
pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(body): Json<Credentials>,
) -> Result<axum::Json<LoginResponse>, ApiError> {
    let grant = accounts::login(&state, &body.username, body.password.into_inner(), ip).await?;
    Ok(axum::Json(LoginResponse {
        username: grant.username,
        login_token: Secret::new(grant.token.expose()),
        expires_in: grant.expires_in,
    }))
}

/// # `POST /v1/auth/challenge`
pub async fn challenge(
    State(state): State<AppState>,
    authed: Authed,
    Json(body): Json<ChallengeRequest>,
) -> Result<axum::Json<ChallengeResponse>, ApiError> {
    let encoded = sessions::challenge(&state, &authed, body.device).await?;
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

fn token_response(t: sessions::DeviceTokens) -> TokenResponse {
    TokenResponse {
        session: t.session,
        access_token: Secret::new(t.access_token.expose()),
        expires_in: t.expires_in,
        refresh_token: Secret::new(t.refresh_token.expose()),
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
    Ok(axum::Json(token_response(tokens)))
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
    let tokens = sessions::refresh(&state, body.refresh_token.expose(), proof).await?;
    Ok(axum::Json(token_response(tokens)))
}

/// # `POST /v1/auth/refresh/challenge`
pub async fn refresh_challenge(
    State(state): State<AppState>,
    Json(body): Json<RefreshChallengeRequest>,
) -> Result<axum::Json<ChallengeResponse>, ApiError> {
    let encoded = sessions::refresh_challenge(&state, body.refresh_token.expose()).await?;
    challenge_response(encoded)
}

/// # `POST /v1/auth/logout`
pub async fn logout(State(state): State<AppState>, authed: Authed) -> Result<StatusCode, ApiError> {
    accounts::logout(&state, &authed).await?;
    Ok(StatusCode::NO_CONTENT)
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
        body.current_password.into_inner(),
        body.new_password.into_inner(),
        body.end_other_sessions,
        ip,
    )
    .await?;
    Ok(axum::Json(PasswordChanged {
        sessions_ended: ended,
    }))
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
        ticket: Secret::new(ticket.expose()),
        expires_in: secs,
    })
    .into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
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
                session: s.id,
                device: s.device,
                kind: if s.device.is_some() {
                    SessionKind::Device
                } else {
                    SessionKind::Login
                },
                created_at: s.created_at,
                current: s.id == authed.session.id,
            })
            .collect(),
    ))
}

/// Parses `sess:` and 32 lower-case hex digits, the one spelling the server writes (found by
/// the `server_text` fuzz target: upper-case digits named the same session too); the rule is
/// `sotto_wire::SessionId`'s own.
pub fn session_id(text: &str) -> Result<SessionId, Error> {
    text.parse().map_err(|_| Error::InvalidField {
        field: "session",
        reason: "expected sess: and 32 lower-case hex digits",
    })
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
    let has_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/json")
        });
    let bytes = read_json(&state, req).await?;
    let password = match (bytes.is_empty(), has_json) {
        (true, _) => None,
        (false, true) => Some(
            parse_json::<PasswordProof>(&bytes)?
                .current_password
                .into_inner(),
        ),
        (false, false) => return Err(Error::NotJson.into()),
    };
    sessions::revoke(&state, &authed, session, password, ip).await?;
    Ok(StatusCode::NO_CONTENT)
}
