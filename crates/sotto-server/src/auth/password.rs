//! Argon2id password hashing (RFC 9106), run on the blocking pool so that hashing can neither
//! stall the async workers nor exhaust memory (each hash holds `memory_kib`). Unknown usernames
//! are checked against a dummy hash made at start-up with the same parameters, so a login takes
//! as long whether or not the account exists.
//!
//! Two pools of slots, so that one kind of work cannot starve the other:
//! - **checks** (login, password change, ending another session): `max_concurrent` at once,
//!   waiting in arrival order; one address (IPv6 by /64) may have at most
//!   `max_concurrent_per_address` checks running or waiting, and one more is refused at once
//!   (`429 throttled`). A flood of logins from one place therefore sits at most that many places
//!   ahead of an honest login from elsewhere.
//! - **new hashes** (registration, a new password): `max_concurrent_new` at once, apart from the
//!   checks, so a sign-up flood (already rate-limited, [`crate::auth::registration`]) waits for
//!   its own slots and never delays a login.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

use crate::config::Argon2Config;
use crate::error::{Error, Result};
use crate::peer::{peer_key, PerPeer};

/// Shortest password, in bytes.
pub const MIN_PASSWORD: usize = 8;
/// Longest password, in bytes (a bound on hashing work per request).
pub const MAX_PASSWORD: usize = 1024;

/// How long an address refused a check slot is told to wait: about one hash, after which one
/// of its own checks has finished.
const BUSY_RETRY: Duration = Duration::from_secs(1);

/// Hashes and verifies passwords.
#[derive(Clone)]
pub struct Passwords {
    params: Params,
    /// Slots for checking a password against a stored hash.
    checks: Arc<Semaphore>,
    /// Checks running or waiting, per address (IPv6 per /64).
    per_address: Arc<PerPeer>,
    /// Places one address may hold among the checks.
    max_per_address: usize,
    /// Slots for making new hashes.
    new_hashes: Arc<Semaphore>,
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
            checks: Arc::new(Semaphore::new(config.max_concurrent.max(1))),
            per_address: Arc::default(),
            max_per_address: config.max_concurrent_per_address.max(1),
            new_hashes: Arc::new(Semaphore::new(config.max_concurrent_new.max(1))),
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

    /// Hashes a password into a PHC string, in a slot of the new-hash pool.
    pub async fn hash(&self, password: Zeroizing<String>) -> Result<String> {
        let salt = crate::auth::tokens::random::<16>()?;
        let params = self.params.clone();
        let permit = self
            .new_hashes
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::Unavailable)?;
        Self::blocking(permit, move || {
            Self::argon2(params)
                .hash_password_with_salt(password.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|_| Error::PasswordHash)
        })
        .await
    }

    /// Verifies `password` against `stored`, or against the dummy hash when `stored` is `None`
    /// (then always false). Takes the same time either way. `from` is the caller's address:
    /// past its share of the check slots the check is refused at once (`Throttled`), before any
    /// hashing, whether or not the account exists.
    pub async fn verify(
        &self,
        password: Zeroizing<String>,
        stored: Option<String>,
        from: IpAddr,
    ) -> Result<bool> {
        let known = stored.is_some();
        let phc = stored.unwrap_or_else(|| self.dummy.as_str().to_owned());
        let place = self
            .per_address
            .acquire(peer_key(from), self.max_per_address)
            .ok_or(Error::Throttled {
                retry_after: BUSY_RETRY,
            })?;
        let permit = self
            .checks
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::Unavailable)?;
        let ok = Self::blocking((place, permit), move || {
            // The parameters come from the stored PHC string, so old hashes keep verifying
            // after the configured parameters change.
            Ok(Argon2::default()
                .verify_password(password.as_bytes(), phc.as_str())
                .is_ok())
        })
        .await?;
        Ok(ok && known)
    }

    /// Runs `work` on the blocking pool holding `slots` until it ends: a caller that goes away
    /// (a dropped request) does not free its slot while its hash still runs, so closing
    /// connections cannot run more hashes at once than there are slots.
    async fn blocking<T: Send + 'static>(
        slots: impl Send + 'static,
        work: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Result<T> {
        tokio::task::spawn_blocking(move || {
            let result = work();
            drop(slots);
            result
        })
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
            max_concurrent_per_address: 1,
            max_concurrent_new: 1,
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
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        assert!(p
            .verify(Zeroizing::new("correct horse".into()), Some(h.clone()), ip)
            .await
            .unwrap());
        assert!(!p
            .verify(Zeroizing::new("wrong".into()), Some(h), ip)
            .await
            .unwrap());
        assert!(!p
            .verify(Zeroizing::new("anything".into()), None, ip)
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
