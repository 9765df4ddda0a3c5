//! The HTTP face: the router, the Origin allow-list, security headers and the operational
//! endpoints. Handlers parse and shape; the work is in [`crate::service`].
//!
//! # Layout
//! - [`body`]: reading request bodies: size caps, deadlines, a minimum rate, bodies at once.
//! - [`extract`]: strict JSON bodies, bearer authentication, base64 and id fields.
//! - [`accounts`], [`devices`], [`prekeys`], [`conversations`], [`recovery`], [`handovers`],
//!   [`history`]: the `/v1` API (see `docs/api.md`).
//! - [`web`]: the web client's files, built in or from `web_dir`.
//! - this module: routing, middleware, `/healthz`, `/metrics`.

pub mod accounts;
pub mod body;
pub mod conversations;
pub mod devices;
pub mod extract;
pub mod handovers;
pub mod history;
pub mod prekeys;
pub mod recovery;
pub mod web;

use std::path::Path;

use axum::error_handling::HandleErrorLayer;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::Router;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::error::{ApiError, Error};
use crate::state::AppState;

/// The Content-Security-Policy on every response: same-origin scripts only, no inline script,
/// no `eval`, no framing (the web client is served from here, so this is what keeps a stored
/// message from running as code). `'wasm-unsafe-eval'` lets those same-origin scripts compile
/// WebAssembly, which the web client's Argon2id (a recovery passphrase, protocol §14.2) needs;
/// it does not allow `eval` of JavaScript (decisions D46). `frame-src blob:` lets the client show
/// a decrypted PDF attachment in a frame: the client builds that blob itself and types it
/// `application/pdf` whatever the sender claimed, so the frame holds the browser's PDF viewer,
/// never a document of the sender's choosing; no other source can be framed.
pub const CSP: &str =
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; \
    img-src 'self' blob: data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
    form-action 'self'; frame-src blob:; frame-ancestors 'none'";

/// Builds the router: the API, the operational endpoints and the web client's files (from
/// `web_dir` when it is a folder, otherwise the ones built in, see [`web`]).
pub fn router(state: AppState, web_dir: Option<&Path>) -> Router {
    let api = Router::new()
        .route("/v1/accounts", post(accounts::register))
        .route("/v1/registration", get(accounts::registration))
        .route("/v1/auth/login", post(accounts::login))
        .route("/v1/auth/challenge", post(accounts::challenge))
        .route("/v1/auth/device", post(accounts::device_login))
        .route("/v1/auth/refresh", post(accounts::refresh))
        .route(
            "/v1/auth/refresh/challenge",
            post(accounts::refresh_challenge),
        )
        .route("/v1/auth/logout", post(accounts::logout))
        .route("/v1/account/password", post(accounts::change_password))
        .route("/v1/account/master-key", put(devices::set_master_key))
        .route("/v1/sessions", get(accounts::list_sessions))
        .route("/v1/sessions/{session}", delete(accounts::revoke_session))
        .route("/v1/devices", get(devices::list).post(devices::certify))
        .route("/v1/devices/pending", post(devices::add_pending))
        .route("/v1/devices/revoke", post(devices::revoke))
        .route(
            "/v1/devices/current/exchange-key",
            put(devices::set_exchange_key),
        )
        .route(
            "/v1/devices/current/prekeys",
            get(prekeys::remaining).post(prekeys::upload),
        )
        .route("/v1/prekeys/claim", post(prekeys::claim))
        .route("/v1/devices/{device}/handovers", post(handovers::send))
        .route("/v1/handovers", get(handovers::list))
        .route("/v1/handovers/{handover}", delete(handovers::delete))
        .route(
            "/v1/recovery",
            get(recovery::status)
                .put(recovery::set_up)
                .delete(recovery::remove),
        )
        .route("/v1/recovery/items", post(recovery::upload))
        .route("/v1/recovery/unlock", post(recovery::unlock))
        .route("/v1/policy", get(history::policy))
        .route("/v1/directory/{who}", get(devices::directory))
        .route(
            "/v1/conversations",
            get(conversations::list).post(conversations::create),
        )
        .route(
            "/v1/conversations/{conversation}",
            get(conversations::fetch),
        )
        .route(
            "/v1/conversations/{conversation}/changes",
            post(conversations::append),
        )
        .route(
            "/v1/conversations/{conversation}/messages",
            post(conversations::send),
        )
        .route(
            "/v1/conversations/{conversation}/accept",
            post(conversations::accept),
        )
        .route(
            "/v1/conversations/{conversation}/decline",
            post(conversations::decline),
        )
        .route(
            "/v1/conversations/{conversation}/history",
            get(history::page),
        )
        .route("/v1/requests", get(conversations::requests))
        .route("/v1/blocks", get(conversations::blocks))
        .route(
            "/v1/blocks/{username}",
            put(conversations::block).delete(conversations::unblock),
        )
        .route(
            "/v1/conversations/{conversation}/attachments",
            // At most `max_concurrent_uploads` bodies are read at once; one more is refused
            // at once (429) rather than queued. Queuing is unsafe on HTTP/2: a waiting stream's
            // unread body holds the connection's flow-control window and can stall the
            // uploads that hold the slots.
            post(conversations::upload_attachment).layer(
                tower::ServiceBuilder::new()
                    .layer(HandleErrorLayer::new(upload_refused))
                    .load_shed()
                    .concurrency_limit(state.settings.limits.max_concurrent_uploads.max(1)),
            ),
        )
        .route(
            "/v1/attachments/{attachment}",
            get(conversations::download_attachment),
        )
        .route("/v1/ws/ticket", post(accounts::ws_ticket))
        .route("/v1/ws", get(crate::ws::upgrade))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), origin_guard))
        .layer(axum::extract::DefaultBodyLimit::disable())
        // API answers carry tokens, tickets, keys and ciphertext: no browser or proxy cache may
        // keep them. The web client's files (the fallback below) are not covered.
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .with_state(state);
    let router = match web::WebClient::select(web_dir) {
        Some(client) => {
            let client = std::sync::Arc::new(client);
            api.fallback(move |req: Request| async move { client.serve(req).await })
        }
        None => api.fallback(not_found),
    };
    router
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
}

/// Answers an attachment upload beyond `limits.max_concurrent_uploads`.
async fn upload_refused(_: tower::BoxError) -> ApiError {
    ApiError(Error::Capacity {
        what: "attachment uploads in progress; retry shortly",
    })
}

/// Refuses requests whose `Origin` (sent by browsers) is not allowed: a page on another site
/// can neither call the API with a victim's credentials nor open a WebSocket with the ticket
/// cookie. Requests without `Origin` (native clients) pass; they carry no ambient credentials.
/// State-changing endpoints also need a JSON (or octet-stream) body and a bearer token, which a
/// cross-site form cannot produce.
async fn origin_guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let allowed = origin
            .to_str()
            .is_ok_and(|o| state.settings.allowed_origins.iter().any(|a| a == o));
        if !allowed {
            return ApiError(Error::OriginNotAllowed).into_response();
        }
    }
    next.run(req).await
}

/// # `GET /healthz`
async fn healthz(State(state): State<AppState>) -> Response {
    if *state.shutdown.borrow() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
    }
    (StatusCode::OK, "ok\n").into_response()
}

/// # `GET /metrics`
///
/// Served only when `metrics_token` is configured, and only to a request that presents it as
/// `Authorization: Bearer …`: the figures (connections, queue depths, login failures, sign-ups)
/// tell an outsider how busy the server is and when an attack works. Without a token the route
/// answers like any unknown one (404); a missing or wrong token is `401`. The token is compared
/// by its SHA-256 in constant time, so the comparison leaks neither its content nor its length.
async fn metrics(State(state): State<AppState>, req: Request) -> Response {
    let Some(expected) = state.settings.metrics_token_hash else {
        return not_found().await.into_response();
    };
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| sotto_proto::crypto::sha256(t.trim().as_bytes()));
    if !presented.is_some_and(|p| sotto_proto::crypto::ct_eq(&p, &expected)) {
        return ApiError(Error::Unauthorized).into_response();
    }
    state.metrics.connections.store(
        i64::try_from(state.hub.connections()).unwrap_or(i64::MAX),
        std::sync::atomic::Ordering::Relaxed,
    );
    state.metrics.set_hot_queue(state.store.hot_queue());
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

async fn not_found() -> ApiError {
    ApiError(Error::NotFound { what: "route" })
}

async fn method_not_allowed() -> Response {
    let body = sotto_wire::ErrorBody {
        error: sotto_wire::ErrorCode::MethodNotAllowed,
        message: "method not allowed on this route".to_owned(),
        code: None,
    };
    (StatusCode::METHOD_NOT_ALLOWED, axum::Json(body)).into_response()
}
