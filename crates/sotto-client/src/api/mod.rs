//! The HTTPS client for the server's API (`docs/api.md`): one typed method per endpoint, errors
//! mapped to [`Error`] in one place. Tokens are passed per call and never logged.
//!
//! A refusal becomes [`Error::Api`] with the server's [`ErrorCode`]; callers match codes, never
//! HTTP status numbers. An answer without the server's JSON error body (a proxy's 502) is
//! given a code from its status here, once ([`ErrorCode::from_status`]).
//!
//! # Layout
//! - this module: [`Api`], the request plumbing and the endpoints.
//! - [`types`]: the JSON bodies (the `sotto-wire` types the server uses).
//! - [`keys`]: the key backup, hand-overs and the history archive.
//! - [`prekeys`]: uploading, counting and claiming one-time prekeys (protocol §18.4).

pub mod keys;
pub mod prekeys;
pub mod types;

use std::time::Duration;

use reqwest::{Method, Url};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sotto_proto::ids::{ConversationId, DeviceId, MessageId};
use sotto_wire::Secret;

use crate::error::{Error, Result};
use crate::tls::Trust;
pub use types::*;

/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Characters of a server's error code or message kept (they are shown to the user).
const MAX_SERVER_TEXT: usize = 300;
/// Bytes of a JSON answer read: far above any honest one (a large group's whole change log is a
/// few hundred kilobytes), far below what would hurt the device. A longer answer, from a server
/// that is broken or hostile, is refused as it streams in, never buffered whole.
const MAX_JSON_ANSWER: u64 = 16 * 1024 * 1024;
/// Bytes of an error answer read (its message is cut to [`MAX_SERVER_TEXT`] characters anyway).
const MAX_ERROR_ANSWER: u64 = 64 * 1024;

/// An API client for one server.
#[derive(Clone, Debug)]
pub struct Api {
    http: reqwest::Client,
    base: Url,
    trust: Trust,
}

impl Api {
    /// A client for `server` (`https://host:port`) with `trust`.
    pub fn new(server: &str, trust: Trust) -> Result<Self> {
        let bad = || Error::BadServerUrl {
            url: server.to_owned(),
        };
        let base = Url::parse(server).map_err(|_| bad())?;
        if base.scheme() != "https" || base.host_str().is_none() {
            return Err(bad());
        }
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(trust.config().clone())
            .https_only(true)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|source| Error::Unreachable {
                url: server.to_owned(),
                source,
            })?;
        Ok(Self { http, base, trust })
    }

    /// The server URL.
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// The TLS trust settings (shared with the WebSocket).
    pub fn trust(&self) -> &Trust {
        &self.trust
    }

    fn url(&self, path: &str) -> Result<Url> {
        self.base.join(path).map_err(|_| Error::BadServerUrl {
            url: self.base.to_string(),
        })
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response> {
        let response = request.send().await.map_err(|source| {
            self.trust.explain().unwrap_or_else(|| Error::Unreachable {
                url: self.base.to_string(),
                source,
            })
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let body: Option<ErrorBody> = match self
            .read_capped(response, MAX_ERROR_ANSWER, "error answer")
            .await
        {
            Ok(bytes) => serde_json::from_slice(&bytes).ok(),
            Err(_) => None,
        };
        let (code, message, protocol_code) = match body {
            Some(b) => (
                b.error,
                printable(&b.message),
                b.code.map(|c| printable(&c)),
            ),
            None => (ErrorCode::Unknown, String::new(), None),
        };
        // The one place a status number is read: an answer that is not the server's (no JSON
        // body, or a code this client does not know) is given the code its status means.
        let code = match code {
            ErrorCode::Unknown => ErrorCode::from_status(status.as_u16()),
            code => code,
        };
        Err(match code {
            ErrorCode::BadCredentials => Error::BadCredentials,
            ErrorCode::Throttled | ErrorCode::Capacity => Error::Throttled {
                retry_after_secs: retry_after.unwrap_or(1),
            },
            code => Error::Api {
                code,
                protocol_code,
                message,
            },
        })
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&impl Serialize>,
    ) -> Result<T> {
        let mut request = self.http.request(method, self.url(path)?);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = self.send(request).await?;
        self.read_json(response, "a JSON body that does not match the API")
            .await
    }

    /// Reads an answer's body, refusing one longer than `max` bytes before holding more of it.
    async fn read_capped(
        &self,
        mut response: reqwest::Response,
        max: u64,
        what: &'static str,
    ) -> Result<Vec<u8>> {
        if response.content_length().is_some_and(|len| len > max) {
            return Err(Error::BadResponse { what });
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|source| Error::Unreachable {
                url: self.base.to_string(),
                source,
            })?
        {
            if (body.len() + chunk.len()) as u64 > max {
                return Err(Error::BadResponse { what });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// Reads a JSON answer of at most [`MAX_JSON_ANSWER`] bytes as a `T`.
    async fn read_json<T: DeserializeOwned>(
        &self,
        response: reqwest::Response,
        what: &'static str,
    ) -> Result<T> {
        let body = self.read_capped(response, MAX_JSON_ANSWER, what).await?;
        serde_json::from_slice(&body).map_err(|_| Error::BadResponse { what })
    }

    async fn call_empty(
        &self,
        path: &str,
        token: Option<&str>,
        body: &impl Serialize,
    ) -> Result<()> {
        let mut request = self.http.post(self.url(path)?).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        self.send(request).await.map(|_| ())
    }

    /// `POST /v1/accounts`, with an invitation code for a server that asks for one.
    pub async fn register(
        &self,
        username: &str,
        password: &str,
        invite: Option<&InviteCode>,
    ) -> Result<()> {
        let body = Registration {
            username: username.to_owned(),
            password: Secret::new(password),
            invite: invite.map(|code| InviteCode::from_bytes(*code.as_bytes())),
        };
        self.call_empty("/v1/accounts", None, &body).await
    }

    /// `GET /v1/registration` (no authentication): how the server accepts new accounts.
    pub async fn registration(&self) -> Result<RegistrationView> {
        self.call(Method::GET, "/v1/registration", None, None::<&()>)
            .await
    }

    /// `POST /v1/auth/login`.
    pub async fn login(&self, username: &str, password: &str) -> Result<LoginResponse> {
        let body = credentials(username, password);
        self.call(Method::POST, "/v1/auth/login", None, Some(&body))
            .await
    }

    /// `POST /v1/auth/challenge`.
    pub async fn challenge(&self, token: &str, device: DeviceId) -> Result<ChallengeResponse> {
        let body = ChallengeRequest { device };
        self.call(Method::POST, "/v1/auth/challenge", Some(token), Some(&body))
            .await
    }

    /// `POST /v1/auth/device`.
    pub async fn device_login(
        &self,
        token: &str,
        nonce: &str,
        signature: &[u8],
    ) -> Result<TokenResponse> {
        let body = answer(nonce, signature);
        self.call(Method::POST, "/v1/auth/device", Some(token), Some(&body))
            .await
    }

    /// `POST /v1/auth/refresh`; `proof` (nonce, signature) answers a refresh challenge when the
    /// token is retried after a lost answer.
    pub async fn refresh(
        &self,
        refresh_token: &str,
        proof: Option<(&str, &[u8])>,
    ) -> Result<TokenResponse> {
        let body = RefreshRequest {
            refresh_token: Secret::new(refresh_token),
            proof: proof.map(|(nonce, signature)| answer(nonce, signature)),
        };
        self.call(Method::POST, "/v1/auth/refresh", None, Some(&body))
            .await
    }

    /// `POST /v1/auth/refresh/challenge`.
    pub async fn refresh_challenge(&self, refresh_token: &str) -> Result<ChallengeResponse> {
        let body = RefreshChallengeRequest {
            refresh_token: Secret::new(refresh_token),
        };
        self.call(
            Method::POST,
            "/v1/auth/refresh/challenge",
            None,
            Some(&body),
        )
        .await
    }

    /// `POST /v1/ws/ticket`.
    pub async fn ws_ticket(
        &self,
        token: &str,
        nonce: &str,
        signature: &[u8],
    ) -> Result<TicketResponse> {
        let body = answer(nonce, signature);
        self.call(Method::POST, "/v1/ws/ticket", Some(token), Some(&body))
            .await
    }

    /// `PUT /v1/account/master-key`.
    pub async fn set_master_key(&self, token: &str, spki: &[u8]) -> Result<AccountView> {
        let body = MasterKeyRequest {
            master_key: b64(spki),
        };
        self.call(
            Method::PUT,
            "/v1/account/master-key",
            Some(token),
            Some(&body),
        )
        .await
    }

    /// `POST /v1/devices/pending`, with the device's exchange-key certificate when it has one
    /// (so that the approving device can hand it keys at once).
    pub async fn announce_device(
        &self,
        token: &str,
        signing_key: &[u8],
        auth_key: &[u8],
        name: &str,
        exchange_key: Option<&[u8]>,
    ) -> Result<DeviceIdView> {
        let body = PendingRequest {
            signing_key: b64(signing_key),
            auth_key: b64(auth_key),
            name: name.to_owned(),
            exchange_key: exchange_key.map(b64),
        };
        self.call(
            Method::POST,
            "/v1/devices/pending",
            Some(token),
            Some(&body),
        )
        .await
    }

    /// `POST /v1/devices`: a master-signed device certificate.
    pub async fn upload_certificate(
        &self,
        token: &str,
        certificate: &[u8],
    ) -> Result<DeviceIdView> {
        let body = CertificateRequest {
            certificate: b64(certificate),
        };
        self.call(Method::POST, "/v1/devices", Some(token), Some(&body))
            .await
    }

    /// `GET /v1/devices`.
    pub async fn devices(&self, token: &str) -> Result<Vec<DeviceView>> {
        self.call(Method::GET, "/v1/devices", Some(token), None::<&()>)
            .await
    }

    /// `POST /v1/devices/revoke`.
    pub async fn revoke(&self, token: &str, revocation: &[u8]) -> Result<DeviceIdView> {
        let body = RevocationRequest {
            revocation: b64(revocation),
        };
        self.call(Method::POST, "/v1/devices/revoke", Some(token), Some(&body))
            .await
    }

    /// `PUT /v1/devices/current/exchange-key`.
    pub async fn set_exchange_key(&self, token: &str, certificate: &[u8]) -> Result<()> {
        let body = CertificateRequest {
            certificate: b64(certificate),
        };
        let _: SerialView = self
            .call(
                Method::PUT,
                "/v1/devices/current/exchange-key",
                Some(token),
                Some(&body),
            )
            .await?;
        Ok(())
    }

    /// `GET /v1/directory/{who}`; `None` if there is no such account.
    pub async fn directory(&self, token: &str, who: &str) -> Result<Option<DirectoryView>> {
        let mut url = self.url("/v1/directory/")?;
        url.path_segments_mut()
            .map_err(|_| Error::BadServerUrl {
                url: self.base.to_string(),
            })?
            .pop_if_empty()
            .push(who);
        let request = self.http.get(url).bearer_auth(token);
        match self.send(request).await {
            Ok(response) => self.read_json(response, "directory entry").await.map(Some),
            // No such account, or a name that cannot be one.
            Err(Error::Api {
                code: ErrorCode::NotFound | ErrorCode::InvalidField | ErrorCode::InvalidUsername,
                ..
            }) => Ok(None),
            Err(other) => Err(other),
        }
    }

    /// `POST /v1/conversations`.
    pub async fn create_conversation(&self, token: &str, genesis: &[u8]) -> Result<ChangeStored> {
        let body = CreateRequest {
            genesis: b64(genesis),
        };
        self.call(Method::POST, "/v1/conversations", Some(token), Some(&body))
            .await
    }

    /// `GET /v1/conversations`.
    pub async fn conversations(&self, token: &str) -> Result<Vec<ConversationId>> {
        self.call(Method::GET, "/v1/conversations", Some(token), None::<&()>)
            .await
    }

    /// `GET /v1/conversations/{c}?since=EPOCH` (inclusive).
    pub async fn conversation(
        &self,
        token: &str,
        conversation: ConversationId,
        since: u64,
    ) -> Result<ConversationView> {
        let path = format!("/v1/conversations/{conversation}?since={since}");
        self.call(Method::GET, &path, Some(token), None::<&()>)
            .await
    }

    /// `POST /v1/conversations/{c}/changes`.
    pub async fn append_change(
        &self,
        token: &str,
        conversation: ConversationId,
        change: &[u8],
    ) -> Result<ChangeStored> {
        let path = format!("/v1/conversations/{conversation}/changes");
        let body = AppendRequest {
            change: b64(change),
        };
        self.call(Method::POST, &path, Some(token), Some(&body))
            .await
    }

    /// `POST /v1/conversations/{c}/messages`: an envelope, distribution or key request.
    pub async fn send_payload(
        &self,
        token: &str,
        conversation: ConversationId,
        message: MessageId,
        payload: &[u8],
        to: Option<DeviceId>,
    ) -> Result<SentView> {
        let path = format!("/v1/conversations/{conversation}/messages");
        let body = SendRequest {
            message_id: message,
            envelope: b64(payload),
            to,
        };
        self.call(Method::POST, &path, Some(token), Some(&body))
            .await
    }

    /// `GET /v1/requests`: conversations this account was added to by someone not yet a
    /// contact.
    pub async fn requests(&self, token: &str) -> Result<RequestList> {
        self.call(Method::GET, "/v1/requests", Some(token), None::<&()>)
            .await
    }

    /// `POST /v1/conversations/{c}/accept`.
    pub async fn accept(&self, token: &str, conversation: ConversationId) -> Result<()> {
        let path = format!("/v1/conversations/{conversation}/accept");
        self.no_content(Method::POST, &path, token).await
    }

    /// `POST /v1/conversations/{c}/decline`.
    pub async fn decline(&self, token: &str, conversation: ConversationId) -> Result<()> {
        let path = format!("/v1/conversations/{conversation}/decline");
        self.no_content(Method::POST, &path, token).await
    }

    /// `PUT /v1/blocks/{username}`.
    pub async fn block(&self, token: &str, username: &str) -> Result<()> {
        let url = self.block_url(username)?;
        self.send(self.http.put(url).bearer_auth(token))
            .await
            .map(|_| ())
    }

    /// `DELETE /v1/blocks/{username}`.
    pub async fn unblock(&self, token: &str, username: &str) -> Result<()> {
        let url = self.block_url(username)?;
        self.send(self.http.delete(url).bearer_auth(token))
            .await
            .map(|_| ())
    }

    /// `GET /v1/blocks`.
    pub async fn blocks(&self, token: &str) -> Result<BlockList> {
        self.call(Method::GET, "/v1/blocks", Some(token), None::<&()>)
            .await
    }

    /// `/v1/blocks/{username}`, the name one escaped path segment (never a `/` or `..`).
    fn block_url(&self, username: &str) -> Result<Url> {
        let mut url = self.url("/v1/blocks/")?;
        url.path_segments_mut()
            .map_err(|_| Error::BadServerUrl {
                url: self.base.to_string(),
            })?
            .pop_if_empty()
            .push(username);
        Ok(url)
    }

    /// A bodiless request answered with no content (`204`).
    async fn no_content(&self, method: Method, path: &str, token: &str) -> Result<()> {
        let request = self
            .http
            .request(method, self.url(path)?)
            .bearer_auth(token);
        self.send(request).await.map(|_| ())
    }

    /// `POST /v1/conversations/{c}/attachments`.
    pub async fn upload_attachment(
        &self,
        token: &str,
        conversation: ConversationId,
        blob: Vec<u8>,
    ) -> Result<AttachmentView> {
        let path = format!("/v1/conversations/{conversation}/attachments");
        let request = self
            .http
            .post(self.url(&path)?)
            .bearer_auth(token)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(blob);
        let response = self.send(request).await?;
        self.read_json(response, "attachment id").await
    }

    /// `GET /v1/attachments/{a}`: at most `max_len` bytes (the blob of the file size the signed
    /// message names); a longer answer is refused as it streams in.
    pub async fn download_attachment(
        &self,
        token: &str,
        attachment: &str,
        max_len: u64,
    ) -> Result<Vec<u8>> {
        // Only the one spelling of an id goes into the path (never a `/` or `..`).
        let attachment: AttachmentId = attachment.parse().map_err(|_| Error::BadResponse {
            what: "attachment id",
        })?;
        let path = format!("/v1/attachments/{attachment}");
        let request = self.http.get(self.url(&path)?).bearer_auth(token);
        let response = self.send(request).await?;
        self.read_capped(response, max_len, "attachment larger than its message says")
            .await
    }
}

/// `{"username", "password"}`.
fn credentials(username: &str, password: &str) -> Credentials {
    Credentials {
        username: username.to_owned(),
        password: Secret::new(password),
    }
}

/// A signed challenge: `{"nonce", "signature"}`.
fn answer(nonce: &str, signature: &[u8]) -> ChallengeAnswer {
    ChallengeAnswer {
        nonce: nonce.to_owned(),
        signature: b64(signature),
    }
}

/// A server's words as the user will see them (CLI notes, the TUI's status line, `Unsent`
/// reasons): without control characters, so that a malicious server cannot send escape
/// sequences to the user's terminal, and at most [`MAX_SERVER_TEXT`] characters.
fn printable(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control())
        .take(MAX_SERVER_TEXT)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_servers_words_lose_control_characters_and_length() {
        assert_eq!(
            printable("bad\u{1b}[2J\u{1b}]0;owned\u{7}\r\nrequest\u{9b}31m"),
            "bad[2J]0;ownedrequest31m"
        );
        assert_eq!(printable("ok, plain"), "ok, plain");
        assert_eq!(
            printable(&"é".repeat(1000)).chars().count(),
            MAX_SERVER_TEXT
        );
    }
}
