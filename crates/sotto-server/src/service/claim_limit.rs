//! The prekey claim limit: how many devices one account may claim a prekey of per hour
//! (`limits.prekey_claims_per_hour`, also the burst), so that one account can neither drain
//! the one-time prekeys of the devices it shares conversations with faster than that nor keep
//! the store's write lock busy with claims. A request costs one token per device it names
//! (whether or not a prekey comes back); one the bucket cannot pay for is `429 throttled`
//! with the time until it can, and costs nothing. State is per process (each node of several
//! allows this much), as for the recovery limit.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::rate::TokenBucket;
use crate::store::UserId;

const HOUR: Duration = Duration::from_secs(3600);

/// Accounts tracked at once; past it, buckets that have refilled are dropped, and if none has,
/// a new account waits a minute (memory stays bounded).
const MAX_ACCOUNTS: usize = 100_000;

/// The claim limit of one server.
#[derive(Debug)]
pub struct ClaimLimit {
    per_hour: u32,
    table: Mutex<HashMap<UserId, TokenBucket>>,
}

impl ClaimLimit {
    /// `per_hour` device claims per account and hour, also the burst.
    pub fn new(per_hour: u32) -> Self {
        Self {
            per_hour,
            table: Mutex::new(HashMap::new()),
        }
    }

    /// Takes `devices` claims from `user`'s bucket, or none and says how long to wait.
    pub fn take(&self, user: UserId, devices: u32, now: Instant) -> Result<(), Duration> {
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        if table.len() >= MAX_ACCOUNTS && !table.contains_key(&user) {
            table.retain(|_, b| !b.is_full(now));
            if table.len() >= MAX_ACCOUNTS {
                return Err(Duration::from_secs(60));
            }
        }
        let per_hour = self.per_hour;
        table
            .entry(user)
            .or_insert_with(|| TokenBucket::per_period(per_hour, HOUR, now))
            .take_n(devices, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_claims_its_hourly_devices_then_waits_and_others_are_not_affected() {
        let limit = ClaimLimit::new(1000);
        let t0 = Instant::now();
        let user = UserId(1);
        assert!(limit.take(user, 600, t0).is_ok());
        let wait = limit.take(user, 600, t0).unwrap_err();
        // 1000 per hour: the 200 missing take 12 minutes.
        assert!((719..=720).contains(&wait.as_secs()), "{wait:?}");
        assert!(limit.take(UserId(2), 1000, t0).is_ok());
        assert!(limit.take(user, 400, t0).is_ok());
        assert!(limit.take(user, 1, t0).is_err());
        assert!(limit
            .take(user, 600, t0 + Duration::from_secs(2160))
            .is_ok());
    }
}
