//! Login throttling with exponential backoff, never a hard lockout.
//!
//! Failures are counted under three keys, each with its own free allowance and ceiling:
//! - **(account, address)**: 5 free failures, then 1 s doubling up to 15 min. This is what
//!   stops one attacker guessing one password; the real user, on another address, is untouched.
//! - **account**: 20 free failures, then 1 s doubling up to 60 s. This slows a distributed guess
//!   at one account while keeping the real user's worst case at a one-minute wait.
//! - **address** (IPv6 grouped by /64): 30 free failures, then 1 s doubling up to 15 min. This
//!   stops one address spraying many accounts.
//!
//! A success clears the account's keys. Counts are forgotten an hour after the last failure;
//! the table is bounded and pruned of stale entries when it grows. State is per process (a
//! multi-node deployment throttles per node, which still bounds the rate by the node count).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Entries kept before stale ones are pruned.
const MAX_ENTRIES: usize = 100_000;
/// A key is forgotten this long after its last failure.
const FORGET_AFTER: Duration = Duration::from_secs(3600);

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    Pair(String, IpAddr),
    Account(String),
    Address(IpAddr),
}

impl Key {
    /// (free failures, ceiling of the delay)
    fn rule(&self) -> (u32, Duration) {
        match self {
            Self::Pair(..) => (5, Duration::from_secs(15 * 60)),
            Self::Account(_) => (20, Duration::from_secs(60)),
            Self::Address(_) => (30, Duration::from_secs(15 * 60)),
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    failures: u32,
    blocked_until: Instant,
    last: Instant,
}

/// The throttle table.
#[derive(Debug, Default)]
pub struct Throttle {
    entries: Mutex<HashMap<Key, Entry>>,
}

/// The key one peer is counted under: an IPv4 address as is, an IPv6 address by its /64 (the
/// usual allocation to one customer, who can pick any address inside it). Every per-address
/// count of the auth layer (login throttle, registration limit, password-check slots) uses it.
pub fn peer_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let mut segments = v6.segments();
            for s in segments.iter_mut().skip(4) {
                *s = 0;
            }
            IpAddr::V6(segments.into())
        }
    }
}

fn keys(account: &str, ip: IpAddr) -> [Key; 3] {
    let ip = peer_key(ip);
    [
        Key::Pair(account.to_owned(), ip),
        Key::Account(account.to_owned()),
        Key::Address(ip),
    ]
}

impl Throttle {
    /// How long the caller must wait before trying `account` from `ip`, if at all.
    pub fn check(&self, account: &str, ip: IpAddr) -> Option<Duration> {
        let now = Instant::now();
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        keys(account, ip)
            .iter()
            .filter_map(|k| entries.get(k))
            .filter(|e| e.blocked_until > now)
            .map(|e| e.blocked_until - now)
            .max()
    }

    /// Records a failed attempt.
    pub fn failure(&self, account: &str, ip: IpAddr) {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries
                .retain(|_, e| now.duration_since(e.last) < FORGET_AFTER && e.blocked_until > now);
        }
        for key in keys(account, ip) {
            let (free, ceiling) = key.rule();
            let entry = entries.entry(key).or_insert(Entry {
                failures: 0,
                blocked_until: now,
                last: now,
            });
            if now.duration_since(entry.last) >= FORGET_AFTER {
                entry.failures = 0;
            }
            entry.failures = entry.failures.saturating_add(1);
            entry.last = now;
            if entry.failures > free {
                let exponent = (entry.failures - free - 1).min(20);
                let delay = Duration::from_secs(1u64 << exponent).min(ceiling);
                entry.blocked_until = now + delay;
            }
        }
    }

    /// Records a success: the account's own counters start again.
    pub fn success(&self, account: &str, ip: IpAddr) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let [pair, account, _] = keys(account, ip);
        entries.remove(&pair);
        entries.remove(&account);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_per_pair_spares_other_addresses() {
        let t = Throttle::default();
        let attacker: IpAddr = "203.0.113.9".parse().unwrap();
        let user: IpAddr = "198.51.100.7".parse().unwrap();
        for _ in 0..5 {
            assert!(t.check("alice", attacker).is_none());
            t.failure("alice", attacker);
        }
        t.failure("alice", attacker);
        assert!(t.check("alice", attacker).is_some());
        assert!(
            t.check("alice", user).is_none(),
            "the real user is not locked out"
        );
        assert!(t.check("bob", attacker).is_none());
        t.success("alice", user);
    }

    #[test]
    fn account_wide_delay_is_capped_at_a_minute() {
        let t = Throttle::default();
        for i in 0..1000u32 {
            let ip = IpAddr::from([10, 0, (i / 256) as u8, (i % 256) as u8]);
            t.failure("alice", ip);
        }
        let wait = t.check("alice", "192.0.2.1".parse().unwrap()).unwrap();
        assert!(wait <= Duration::from_secs(60));
    }

    #[test]
    fn ipv6_is_grouped_by_64() {
        let t = Throttle::default();
        for i in 0..40u16 {
            let ip = IpAddr::from([0x2001, 0xdb8, 0, 1, 0, 0, 0, i]);
            t.failure(&format!("user{i}"), ip);
        }
        assert!(t
            .check("new", "2001:db8:0:1::ffff".parse().unwrap())
            .is_some());
        assert!(t.check("new", "2001:db8:0:2::1".parse().unwrap()).is_none());
    }
}
