//! Bearer secrets: 256 random bits from the operating system (aws-lc), written as a short type
//! prefix and unpadded base64url. The server stores only SHA-256 of a token, looks tokens up by
//! that hash, and never logs them ([`Secret`] has a redacting `Debug`).

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// What a token is for; its text prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// A password login waiting for the device proof.
    Login,
    /// A device session's access token.
    Access,
    /// A device session's refresh token.
    Refresh,
    /// A single-use WebSocket ticket.
    Ticket,
}

impl TokenKind {
    fn prefix(self) -> &'static str {
        match self {
            Self::Login => "sotto_lt_",
            Self::Access => "sotto_at_",
            Self::Refresh => "sotto_rt_",
            Self::Ticket => "sotto_wt_",
        }
    }
}

/// A token's text, zeroized on drop and never printed.
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// The text to hand to the client.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// `N` random bytes from the system generator.
pub fn random<const N: usize>() -> Result<[u8; N]> {
    let mut out = [0u8; N];
    SystemRandom::new().fill(&mut out).map_err(|_| {
        Error::Crypto(sotto_proto::Error::Crypto {
            operation: "random",
        })
    })?;
    Ok(out)
}

/// A fresh token of `kind` and the hash to store.
pub fn issue(kind: TokenKind) -> Result<(Secret, [u8; 32])> {
    let bytes = Zeroizing::new(random::<32>()?);
    let text = Zeroizing::new(format!(
        "{}{}",
        kind.prefix(),
        URL_SAFE_NO_PAD.encode(*bytes)
    ));
    let hash = hash(&text);
    Ok((Secret(text), hash))
}

/// The stored form of a presented token.
pub fn hash(token: &str) -> [u8; 32] {
    sotto_proto::crypto::sha256(token.as_bytes())
}

/// Whether `token` looks like one of `kind` (cheap pre-check before a database lookup).
pub fn has_kind(token: &str, kind: TokenKind) -> bool {
    token.len() == kind.prefix().len() + 43 && token.starts_with(kind.prefix())
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn tokens_are_unique_typed_and_hashed() {
        let mut seen = HashSet::new();
        for _ in 0..10_000 {
            let (secret, hash_) = issue(TokenKind::Access).unwrap();
            assert!(has_kind(secret.expose(), TokenKind::Access));
            assert!(!has_kind(secret.expose(), TokenKind::Refresh));
            assert_eq!(hash(secret.expose()), hash_);
            assert!(seen.insert(secret.expose().to_owned()));
        }
        let (secret, _) = issue(TokenKind::Login).unwrap();
        assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
    }
}
