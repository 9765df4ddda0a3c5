//! Request extractors with the server's error shape: a strict JSON body (content type checked,
//! read by `http::body`'s rules, unknown fields refused), the bearer-authenticated caller, the
//! client address, and base64/id field decoding.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, Error};
use crate::service::sessions::{self, Authed};
use crate::state::AppState;

/// The peer address, inserted by the accept loop.
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub SocketAddr);

/// The caller's IP address (unspecified when the router runs without a socket, as in tests).
#[derive(Clone, Copy, Debug)]
pub struct ClientIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Ok(Self(
            parts
                .extensions
                .get::<ClientAddr>()
                .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.0.ip()),
        ))
    }
}

/// A JSON request body of type `T`.
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        require_json(&req)?;
        let bytes = crate::http::body::read_json(state, req).await?;
        Ok(Json(parse_json(&bytes)?))
    }
}

/// A JSON request body of type `T` read under the hand-over route's larger cap
/// (`limits.max_handover_json_body`); otherwise as [`Json`].
#[derive(Debug)]
pub struct LargeJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for LargeJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        require_json(&req)?;
        let bytes = crate::http::body::read_large_json(state, req).await?;
        Ok(LargeJson(parse_json(&bytes)?))
    }
}

/// `NotJson` unless the request says its body is `application/json`.
fn require_json(req: &Request) -> Result<(), Error> {
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            let mime = v.split(';').next().unwrap_or("").trim();
            mime.eq_ignore_ascii_case("application/json")
        });
    if is_json {
        Ok(())
    } else {
        Err(Error::NotJson)
    }
}

/// Parses a request body that must be one JSON object of type `T` (the [`Json`] extractor's
/// rules, also what the fuzz target `http_body` feeds arbitrary bytes to).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    // Every request body is a JSON object; serde would also take a struct as an array.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(Error::InvalidField {
            field: "body",
            reason: "expected a JSON object",
        });
    }
    serde_json::from_slice(bytes).map_err(|source| Error::MalformedBody { source })
}

impl FromRequestParts<AppState> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(Error::Unauthorized)?;
        Ok(sessions::authenticate(state, token.trim()).await?)
    }
}

/// Decodes a standard, padded base64 field.
pub fn b64(field: &'static str, text: &str) -> Result<Vec<u8>, Error> {
    STANDARD.decode(text).map_err(|_| Error::InvalidField {
        field,
        reason: "not valid base64 (standard alphabet, padded)",
    })
}

/// Decodes a base64 field that must be exactly `N` bytes.
pub fn b64_fixed<const N: usize>(field: &'static str, text: &str) -> Result<[u8; N], Error> {
    b64(field, text)?
        .try_into()
        .map_err(|_| Error::InvalidField {
            field,
            reason: "wrong length",
        })
}

/// Encodes bytes as standard, padded base64.
pub fn to_b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Parses a typed id (`dev:…`, `conv:…`, …).
pub fn id<T: std::str::FromStr>(field: &'static str, text: &str) -> Result<T, Error> {
    text.parse().map_err(|_| Error::InvalidField {
        field,
        reason: "not a valid id of this type",
    })
}
