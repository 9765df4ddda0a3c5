//! Device sessions: the challenge a device signs with its auth key, access tokens renewed with
//! single-use refresh tokens (the new one is saved before it is used; a refresh whose answer was
//! lost is retried with a device proof), and WebSocket tickets.

use reqwest::Url;
use sotto_proto::auth::AuthChallenge;
use zeroize::Zeroizing;

use crate::api::{unb64, ErrorCode};
use crate::client::Client;
use crate::error::{Error, Result};
use crate::store::state::{SessionState, Token};

/// An access token is renewed when it has less than this left.
const RENEW_MARGIN_MS: u64 = 60_000;

impl Client {
    /// Answers the server's challenge for this device with `token`; returns `(nonce, signature)`.
    pub(crate) async fn answer_challenge(&self, token: &str) -> Result<(String, Vec<u8>)> {
        let challenge = self.api.challenge(token, self.device()?).await?;
        self.sign_challenge(challenge)
    }

    /// Checks that a challenge names this server, user and device, and signs it with the
    /// device's auth key; returns (nonce, signature).
    fn sign_challenge(
        &self,
        challenge: crate::api::ChallengeResponse,
    ) -> Result<(String, Vec<u8>)> {
        let device = self.device()?;
        let bytes = unb64(&challenge.challenge, "challenge")?;
        let decoded = AuthChallenge::decode(&bytes)?;
        let username = &self.account_state()?.username;
        if decoded.device != device
            || &decoded.username != username
            || !same_origin(self.api.base(), &decoded.origin)
        {
            return Err(Error::BadResponse {
                what: "a login challenge for another server, user or device",
            });
        }
        let signature = self.device_keys()?.sign_auth_challenge(&decoded)?;
        Ok((challenge.nonce, signature))
    }

    /// Logs this (approved) device in with a login token and stores the session.
    pub(crate) async fn device_login(&mut self, login_token: &str) -> Result<()> {
        let (nonce, signature) = self.answer_challenge(login_token).await?;
        let tokens = self
            .api
            .device_login(login_token, &nonce, &signature)
            .await?;
        self.store_tokens(tokens)?;
        self.save()
    }

    fn store_tokens(&mut self, tokens: crate::api::TokenResponse) -> Result<()> {
        let now = self.now()?.millis();
        self.state.session = Some(SessionState {
            session: tokens.session.to_string(),
            access_token: Token(tokens.access_token.into_inner()),
            access_expires_at: now.saturating_add(tokens.expires_in.saturating_mul(1000)),
            access_issued_at: now,
            refresh_token: Token(tokens.refresh_token.into_inner()),
        });
        Ok(())
    }

    /// A valid access token, renewing (and saving) the session when needed.
    pub(crate) async fn access_token(&mut self) -> Result<Zeroizing<String>> {
        let now = self.now()?.millis();
        let session = self.state.session.clone().ok_or_else(|| {
            if self.state.device.as_ref().is_some_and(|d| !d.active) {
                Error::DevicePending
            } else {
                Error::SessionEnded
            }
        })?;
        if usable(&session, now) {
            return Ok(session.access_token.0.clone());
        }
        let refreshed = match self.api.refresh(&session.refresh_token.0, None).await {
            Err(Error::Api {
                code: ErrorCode::RefreshProofRequired,
                ..
            }) => self.retry_refresh(&session.refresh_token.0).await,
            other => other,
        };
        match refreshed {
            Ok(tokens) => {
                let access = Zeroizing::new(tokens.access_token.expose().to_owned());
                self.store_tokens(tokens)?;
                self.save()?;
                Ok(access)
            }
            Err(Error::Api {
                code: ErrorCode::Unauthorized | ErrorCode::RefreshProofRequired,
                ..
            }) => {
                self.state.session = None;
                self.save()?;
                Err(Error::SessionEnded)
            }
            Err(other) => Err(other),
        }
    }

    /// Retries a refresh whose answer was lost (the server saw the token but this client never
    /// got the pair): the server exchanges the spent token once more only for a signature of
    /// this device over a fresh challenge (`docs/protocol.md` "Token refresh").
    async fn retry_refresh(&self, refresh_token: &str) -> Result<crate::api::TokenResponse> {
        let challenge = self.api.refresh_challenge(refresh_token).await?;
        let (nonce, signature) = self.sign_challenge(challenge)?;
        self.api
            .refresh(refresh_token, Some((&nonce, &signature)))
            .await
    }

    /// Forgets the access token (the server refused it), so the next request renews it; a
    /// session the server ended then shows as [`Error::SessionEnded`] instead of endless 401s.
    pub(crate) fn forget_access_token(&mut self) {
        if let Some(session) = self.state.session.as_mut() {
            session.access_expires_at = 0;
        }
    }

    /// A single-use WebSocket ticket.
    pub(crate) async fn ws_ticket(&mut self) -> Result<Zeroizing<String>> {
        let token = self.access_token().await?;
        let (nonce, signature) = self.answer_challenge(&token).await?;
        Ok(self
            .api
            .ws_ticket(&token, &nonce, &signature)
            .await?
            .ticket
            .into_inner())
    }
}

/// Whether the stored access token may still be used at `now` (client clock, ms). Its expiry
/// was computed with this client's clock: if that clock has since been set back (a device whose
/// clock ran an hour ahead, then corrected), the expiry lies too far ahead and the server would
/// refuse the token for up to that long, so a clock earlier than the issue time means renew.
fn usable(session: &SessionState, now: u64) -> bool {
    now >= session.access_issued_at
        && session.access_expires_at > now.saturating_add(RENEW_MARGIN_MS)
}

/// Whether the origin signed into a challenge names the server we connect to. The server signs
/// `https://localhost:PORT` unless configured otherwise, so loopback names are treated as one.
fn same_origin(base: &Url, origin: &str) -> bool {
    let Ok(origin) = Url::parse(origin) else {
        return false;
    };
    let loopback = |host: Option<&str>| {
        matches!(
            host,
            Some("localhost") | Some("127.0.0.1") | Some("[::1]") | Some("::1")
        )
    };
    origin.scheme() == base.scheme()
        && origin.port_or_known_default() == base.port_or_known_default()
        && (origin.host_str() == base.host_str()
            || (loopback(origin.host_str()) && loopback(base.host_str())))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_clock_set_back_after_the_token_was_issued_renews_it() {
        let hour = 3_600_000;
        let now = 1_800_000_000_000u64;
        let session = SessionState {
            session: "sess:1".to_owned(),
            access_token: Token::default(),
            access_issued_at: now,
            access_expires_at: now + 15 * 60_000,
            refresh_token: Token::default(),
        };
        assert!(usable(&session, now));
        assert!(usable(&session, now + 10 * 60_000));
        assert!(
            !usable(&session, now + 14 * 60_000 + 1),
            "renewed a minute early"
        );
        // Issued while the clock ran an hour ahead; the clock is then corrected.
        assert!(!usable(&session, now - hour));
        // Profiles from before the issue time was stored keep working.
        let old = SessionState {
            access_issued_at: 0,
            ..session
        };
        assert!(usable(&old, now));
    }

    #[test]
    fn origins_match_on_scheme_host_and_port_with_loopback_aliases() {
        let base = Url::parse("https://127.0.0.1:8443").unwrap();
        assert!(same_origin(&base, "https://localhost:8443"));
        assert!(same_origin(&base, "https://127.0.0.1:8443"));
        assert!(!same_origin(&base, "https://localhost:9443"));
        assert!(!same_origin(&base, "https://evil.example:8443"));
        let real = Url::parse("https://chat.example.com").unwrap();
        assert!(same_origin(&real, "https://chat.example.com"));
        assert!(!same_origin(&real, "https://localhost"));
    }
}
