//! The recovery limit: how many failed recovery unlocks (`POST /v1/recovery/unlock` with a wrong
//! access key, or for an account without a set-up) the server answers, per account and per
//! address.
//!
//! A recovery key has 224 bits, so guessing it online is hopeless anyway; a passphrase may be
//! weak, and this limit is what keeps online guessing of it slow (offline guessing by whoever
//! holds the database is bounded only by Argon2id, docs/protocol.md §14.2). Two token buckets:
//! - **per account**: `recovery_attempts_per_hour` failures, as a burst, refilled evenly over
//!   the hour;
//! - **per address** (IPv6 by /64, [`peer_key`]): `recovery_attempts_per_ip_per_hour` failures,
//!   so one address cannot try many accounts quickly.
//!
//! Only failures count: an attempt is allowed while both buckets hold a token, and a failure
//! takes one from each. A refused attempt is `429 throttled` with the time until both have one
//! again. State is per process (several nodes each allow this much).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::peer::{peer_key, PeerKey};
use crate::rate::TokenBucket;
use crate::store::UserId;

const HOUR: Duration = Duration::from_secs(3600);

/// Accounts or addresses tracked at once; past it, buckets that have refilled are dropped, and
/// if none has, a new key is refused until one does (memory stays bounded).
const MAX_KEYS: usize = 100_000;

/// Buckets by key, bounded by [`MAX_KEYS`].
#[derive(Debug)]
struct Buckets<K> {
    per_hour: u32,
    table: Mutex<HashMap<K, TokenBucket>>,
}

impl<K: std::hash::Hash + Eq + Copy> Buckets<K> {
    fn new(per_hour: u32) -> Self {
        Self {
            per_hour,
            table: Mutex::new(HashMap::new()),
        }
    }

    fn ready(&self, key: K, now: Instant) -> Result<(), Duration> {
        let table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        match table.get(&key) {
            Some(bucket) => bucket.ready(now),
            None if table.len() >= MAX_KEYS => Err(Duration::from_secs(60)),
            None => Ok(()),
        }
    }

    fn fail(&self, key: K, now: Instant) {
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        if table.len() >= MAX_KEYS && !table.contains_key(&key) {
            table.retain(|_, b| !b.is_full(now));
        }
        let per_hour = self.per_hour;
        // A failure admitted by `ready` finds a token; one racing past it just empties the
        // bucket further (the wait grows).
        let _ = table
            .entry(key)
            .or_insert_with(|| TokenBucket::per_period(per_hour, HOUR, now))
            .take(now);
    }
}

/// The recovery limit of one server.
#[derive(Debug)]
pub struct RecoveryLimit {
    accounts: Buckets<UserId>,
    addresses: Buckets<PeerKey>,
    /// One attempt is judged at a time: without it, attempts sent at once would all pass
    /// [`RecoveryLimit::check`] before the first of them recorded its failure, and a burst could
    /// test many passphrase guesses. Attempts are rare and each holds this for one store read.
    turn: tokio::sync::Mutex<()>,
}

impl RecoveryLimit {
    /// `per_account` and `per_address` failures per hour (both also the burst).
    pub fn new(per_account: u32, per_address: u32) -> Self {
        Self {
            accounts: Buckets::new(per_account),
            addresses: Buckets::new(per_address),
            turn: tokio::sync::Mutex::new(()),
        }
    }

    /// Waits for the turn to judge one attempt; hold it from [`RecoveryLimit::check`] until the
    /// attempt is known to have failed ([`RecoveryLimit::failed`]) or succeeded.
    pub async fn turn(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.turn.lock().await
    }

    /// Whether `user` may try an unlock from `ip` now; `Err(wait)` if either has used its
    /// failures.
    pub fn check(&self, user: UserId, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let account = self.accounts.ready(user, now);
        let address = self.addresses.ready(peer_key(ip), now);
        match (account, address) {
            (Ok(()), Ok(())) => Ok(()),
            (Err(a), Err(b)) => Err(a.max(b)),
            (Err(wait), Ok(())) | (Ok(()), Err(wait)) => Err(wait),
        }
    }

    /// Counts a failed unlock by `user` from `ip`.
    pub fn failed(&self, user: UserId, ip: IpAddr, now: Instant) {
        self.accounts.fail(user, now);
        self.addresses.fail(peer_key(ip), now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_gets_its_failures_then_waits_and_successes_cost_nothing() {
        let limit = RecoveryLimit::new(5, 20);
        let t0 = Instant::now();
        let ip: IpAddr = "203.0.113.9".parse().unwrap();
        let user = UserId(1);
        for _ in 0..5 {
            assert!(limit.check(user, ip, t0).is_ok());
            limit.failed(user, ip, t0);
        }
        let wait = limit.check(user, ip, t0).unwrap_err();
        // 5 per hour: one every twelve minutes.
        assert!((719..=720).contains(&wait.as_secs()), "{wait:?}");
        // Checking (as a success would) takes nothing.
        let other = UserId(2);
        for _ in 0..100 {
            assert!(limit.check(other, ip, t0).is_ok());
        }
        assert!(limit.check(user, ip, t0 + Duration::from_secs(720)).is_ok());
    }

    #[test]
    fn an_address_is_limited_across_accounts() {
        let limit = RecoveryLimit::new(5, 20);
        let t0 = Instant::now();
        let ip: IpAddr = "2001:db8:0:1::1".parse().unwrap();
        for i in 0..20 {
            let user = UserId(i);
            assert!(limit.check(user, ip, t0).is_ok());
            limit.failed(user, ip, t0);
        }
        let same_64: IpAddr = "2001:db8:0:1::2".parse().unwrap();
        assert!(limit.check(UserId(100), same_64, t0).is_err());
        let elsewhere: IpAddr = "2001:db8:0:2::1".parse().unwrap();
        assert!(limit.check(UserId(100), elsewhere, t0).is_ok());
    }
}
