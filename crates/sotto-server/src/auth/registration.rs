//! The registration limit: how many sign-ups the server accepts, per address and in all.
//!
//! Registration is open and each fresh sign-up costs one Argon2id hash (64 MiB, ~150 ms of a
//! core by default), so an unthrottled `POST /v1/accounts` is a cheap way to burn the server's
//! CPU and memory. Two token buckets bound it:
//! - **per address** (IPv6 by /64, [`peer_key`]): `registrations_per_ip_per_hour` attempts, as a
//!   burst, refilled evenly over the hour. Every attempt that passes the cheap checks counts,
//!   a taken name included, so the `409` cannot be used to list accounts faster than this.
//! - **server-wide**: `registrations_per_minute` new hashes, as a burst, refilled evenly over
//!   the minute. Only a fresh name draws on it (a taken name costs no hash), so many addresses
//!   together cannot keep the hashing pool busy for more than this.
//!
//! A refused attempt is `429 throttled` with the time until the next token. The buckets are
//! pure values over a time passed in; the table is bounded and pruned of full buckets. State is
//! per process (several nodes each allow this much).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::peer::{peer_key, PeerKey};
use crate::rate::TokenBucket;

const HOUR: Duration = Duration::from_secs(3600);
const MINUTE: Duration = Duration::from_secs(60);

/// Addresses tracked at once. Past it, buckets that have refilled are dropped; if none has, a
/// new address is refused until one does (memory stays bounded under a flood from many
/// addresses; the server-wide bucket refuses such a flood anyway).
const MAX_ADDRESSES: usize = 100_000;

/// The registration limit of one server.
#[derive(Debug)]
pub struct RegistrationLimit {
    /// Attempts per address and hour.
    per_address: u32,
    /// New hashes per minute, server-wide.
    per_minute: u32,
    addresses: Mutex<HashMap<PeerKey, TokenBucket>>,
    hashes: Mutex<Option<TokenBucket>>,
}

impl RegistrationLimit {
    /// `per_address_per_hour` attempts per address and hour, `per_minute` new hashes per minute
    /// server-wide (both also the burst).
    pub fn new(per_address_per_hour: u32, per_minute: u32) -> Self {
        Self {
            per_address: per_address_per_hour,
            per_minute,
            addresses: Mutex::new(HashMap::new()),
            hashes: Mutex::new(None),
        }
    }

    /// Counts one registration attempt from `ip`; `Err(wait)` if the address has used its
    /// allowance.
    pub fn attempt(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let key = peer_key(ip);
        let mut table = self.addresses.lock().unwrap_or_else(|p| p.into_inner());
        if table.len() >= MAX_ADDRESSES && !table.contains_key(&key) {
            table.retain(|_, b| !b.is_full(now));
            if table.len() >= MAX_ADDRESSES {
                return Err(Duration::from_secs(60));
            }
        }
        table
            .entry(key)
            .or_insert_with(|| TokenBucket::per_period(self.per_address, HOUR, now))
            .take(now)
    }

    /// Counts one new password hash for a fresh name; `Err(wait)` if the server-wide allowance
    /// is used up.
    pub fn new_hash(&self, now: Instant) -> Result<(), Duration> {
        let mut bucket = self.hashes.lock().unwrap_or_else(|p| p.into_inner());
        bucket
            .get_or_insert_with(|| TokenBucket::per_period(self.per_minute, MINUTE, now))
            .take(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_gets_its_burst_then_one_per_refill_interval() {
        let limit = RegistrationLimit::new(20, 60);
        let t0 = Instant::now();
        let ip: IpAddr = "203.0.113.9".parse().unwrap();
        for _ in 0..20 {
            assert!(limit.attempt(ip, t0).is_ok());
        }
        let wait = limit.attempt(ip, t0).unwrap_err();
        // 20 per hour: one every three minutes.
        assert!((179..=180).contains(&wait.as_secs()), "{wait:?}");
        assert!(limit.attempt(ip, t0 + Duration::from_secs(90)).is_err());
        assert!(limit.attempt(ip, t0 + Duration::from_secs(181)).is_ok());
        assert!(limit.attempt(ip, t0 + Duration::from_secs(182)).is_err());
        let other: IpAddr = "198.51.100.7".parse().unwrap();
        assert!(
            limit.attempt(other, t0).is_ok(),
            "other addresses unaffected"
        );
    }

    #[test]
    fn ipv6_addresses_of_one_64_share_an_allowance() {
        let limit = RegistrationLimit::new(3, 60);
        let t0 = Instant::now();
        for i in 0..3u16 {
            let ip = IpAddr::from([0x2001, 0xdb8, 0, 1, 0, 0, 0, i]);
            assert!(limit.attempt(ip, t0).is_ok());
        }
        let same: IpAddr = "2001:db8:0:1::ffff".parse().unwrap();
        assert!(limit.attempt(same, t0).is_err());
        let next: IpAddr = "2001:db8:0:2::1".parse().unwrap();
        assert!(limit.attempt(next, t0).is_ok());
    }

    #[test]
    fn new_hashes_are_bounded_server_wide() {
        let limit = RegistrationLimit::new(20, 60);
        let t0 = Instant::now();
        for _ in 0..60 {
            assert!(limit.new_hash(t0).is_ok());
        }
        let wait = limit.new_hash(t0).unwrap_err();
        assert!(wait <= Duration::from_secs(1), "{wait:?}");
        assert!(limit.new_hash(t0 + Duration::from_secs(1)).is_ok());
    }

    #[test]
    fn the_address_table_stays_bounded_under_a_flood_of_addresses() {
        let limit = RegistrationLimit::new(1, 60);
        let t0 = Instant::now();
        for i in 0..MAX_ADDRESSES as u32 {
            assert!(limit.attempt(IpAddr::from(i.to_be_bytes()), t0).is_ok());
        }
        let late: IpAddr = "198.51.100.7".parse().unwrap();
        assert!(limit.attempt(late, t0).is_err(), "full of live buckets");
        // An hour on, every bucket has refilled and is dropped to make room.
        let later = t0 + Duration::from_secs(3600);
        assert!(limit.attempt(late, later).is_ok());
        let table = limit.addresses.lock().unwrap();
        assert_eq!(table.len(), 1);
    }
}
