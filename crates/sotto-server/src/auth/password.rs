//! Argon2id password hashing (RFC 9106), run on the blocking pool behind a semaphore so that
//! hashing can neither stall the async workers nor exhaust memory (each hash holds
//! `memory_kib`). Unknown usernames are checked against a dummy hash made at start-up with the
//! same parameters, so a login takes as long whether or not the account exists.

use std::sync::Arc;

use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

use crate::config::Argon2Config;
use crate::error::{Error, Result};

/// Shortest password, in bytes.
pub const MIN_PASSWORD: usize = 8;
/// Longest password, in bytes (a bound on hashing work per request).
pub const MAX_PASSWORD: usize = 1024;

/// Hashes and verifies passwords.
#[derive(Clone)]
pub struct Passwords {
    params: Params,
    gate: Arc<Semaphore>,
    dummy: Arc<String>,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passwords")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl Passwords {
    /// Builds the hasher and its dummy hash.
    pub async fn new(config: &Argon2Config) -> Result<Self> {
        let params = Params::new(
            config.memory_kib,
            config.iterations,
            config.parallelism,
            None,
        )
        .map_err(|_| Error::Config {
            reason: "invalid argon2 parameters".to_owned(),
        })?;
        let mut passwords = Self {
            params,
            gate: Arc::new(Semaphore::new(config.max_concurrent.max(1))),
            dummy: Arc::new(String::new()),
        };
        let filler = hex::encode(crate::auth::tokens::random::<16>()?);
        passwords.dummy = Arc::new(passwords.hash(Zeroizing::new(filler)).await?);
        Ok(passwords)
    }

    fn argon2(params: Params) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
    }

    /// Checks the length rules.
    pub fn check_rules(password: &str) -> Result<()> {
        if (MIN_PASSWORD..=MAX_PASSWORD).contains(&password.len()) {
            Ok(())
        } else {
            Err(Error::InvalidPassword {
                min: MIN_PASSWORD,
                max: MAX_PASSWORD,
            })
        }
    }

    /// Hashes a password into a PHC string.
    pub async fn hash(&self, password: Zeroizing<String>) -> Result<String> {
        let salt = crate::auth::tokens::random::<16>()?;
        let params = self.params.clone();
        self.blocking(move || {
            Self::argon2(params)
                .hash_password_with_salt(password.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|_| Error::PasswordHash)
        })
        .await
    }

    /// Verifies `password` against `stored`, or against the dummy hash when `stored` is `None`
    /// (then always false). Takes the same time either way.
    pub async fn verify(
        &self,
        password: Zeroizing<String>,
        stored: Option<String>,
    ) -> Result<bool> {
        let known = stored.is_some();
        let phc = stored.unwrap_or_else(|| self.dummy.as_str().to_owned());
        let ok = self
            .blocking(move || {
                // The parameters come from the stored PHC string, so old hashes keep verifying
                // after the configured parameters change.
                Ok(Argon2::default()
                    .verify_password(password.as_bytes(), phc.as_str())
                    .is_ok())
            })
            .await?;
        Ok(ok && known)
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let _permit = self.gate.acquire().await.map_err(|_| Error::Unavailable)?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|_| Error::TaskGone)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weak() -> Argon2Config {
        Argon2Config {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
            max_concurrent: 2,
        }
    }

    #[tokio::test]
    async fn hash_verify_and_dummy() {
        let p = Passwords::new(&weak()).await.unwrap();
        let h = p
            .hash(Zeroizing::new("correct horse".into()))
            .await
            .unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert!(p
            .verify(Zeroizing::new("correct horse".into()), Some(h.clone()))
            .await
            .unwrap());
        assert!(!p
            .verify(Zeroizing::new("wrong".into()), Some(h))
            .await
            .unwrap());
        assert!(!p
            .verify(Zeroizing::new("anything".into()), None)
            .await
            .unwrap());
        assert!(Passwords::check_rules("short").is_err());
        assert!(Passwords::check_rules(&"x".repeat(1025)).is_err());
    }

    #[test]
    fn production_defaults_are_strong() {
        let c = Argon2Config::default();
        assert!(c.memory_kib >= 64 * 1024 && c.iterations >= 3);
    }
}
