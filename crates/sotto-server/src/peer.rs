//! Who a peer counts as: every per-address cap and throttle (connections, request bodies being
//! read, login failures) counts under a [`PeerKey`] made by [`peer_key`], and the slot tables of
//! the caps are [`PerPeer`].
//!
//! An IPv4 address is one key. An IPv6 address counts by its /64 prefix: that is what one
//! customer, one LAN or one cloud instance is usually given, so one host can take any number
//! of addresses inside it; counting exact IPv6 addresses would let it multiply every
//! per-address cap by 2^64. An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, what a dual-stack
//! listener on `[::]` reports for an IPv4 client) is the IPv4 address it carries.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex};

/// The unit a per-address rule counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PeerKey {
    /// One IPv4 address.
    V4(Ipv4Addr),
    /// An IPv6 /64 prefix (the first four 16-bit groups).
    V6Net([u16; 4]),
}

/// The key `ip` counts under.
pub fn peer_key(ip: IpAddr) -> PeerKey {
    match ip {
        IpAddr::V4(v4) => PeerKey::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => PeerKey::V4(v4),
            None => {
                let s = v6.segments();
                PeerKey::V6Net([s[0], s[1], s[2], s[3]])
            }
        },
    }
}

impl std::fmt::Display for PeerKey {
    /// `203.0.113.9` or `2001:db8:0:1::/64`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::V4(v4) => write!(f, "{v4}"),
            Self::V6Net([a, b, c, d]) => {
                write!(f, "{}/64", Ipv6Addr::new(*a, *b, *c, *d, 0, 0, 0, 0))
            }
        }
    }
}

/// Slots held per key, each at most a given number at once; a slot is given back when its
/// [`PeerSlot`] is dropped. Keys holding nothing are removed, so the table holds only keys
/// with something in progress.
#[derive(Debug, Default)]
pub struct PerPeer(Mutex<HashMap<PeerKey, usize>>);

/// One slot of a key in a [`PerPeer`] table, given back on drop.
#[derive(Debug)]
pub struct PeerSlot {
    table: Arc<PerPeer>,
    key: PeerKey,
}

impl PerPeer {
    /// Takes one of `key`'s `max` slots, or `None` if it holds them all.
    pub fn acquire(self: &Arc<Self>, key: PeerKey, max: usize) -> Option<PeerSlot> {
        let mut table = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let held = table.entry(key).or_insert(0);
        if *held >= max {
            if *held == 0 {
                table.remove(&key);
            }
            return None;
        }
        *held += 1;
        Some(PeerSlot {
            table: self.clone(),
            key,
        })
    }

    /// Slots `key` holds now.
    pub fn held(&self, key: PeerKey) -> usize {
        let table = self.0.lock().unwrap_or_else(|p| p.into_inner());
        table.get(&key).copied().unwrap_or(0)
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut table = self.table.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(held) = table.get_mut(&self.key) {
            *held = held.saturating_sub(1);
            if *held == 0 {
                table.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> PeerKey {
        peer_key(text.parse().unwrap())
    }

    #[test]
    fn ipv4_addresses_are_each_their_own_key() {
        assert_eq!(
            key("203.0.113.9"),
            PeerKey::V4(Ipv4Addr::new(203, 0, 113, 9))
        );
        assert_ne!(key("203.0.113.9"), key("203.0.113.10"));
        assert_eq!(key("203.0.113.9").to_string(), "203.0.113.9");
    }

    #[test]
    fn ipv6_addresses_of_one_64_share_a_key_and_other_64s_do_not() {
        let a = key("2001:db8:0:1::1");
        assert_eq!(a, key("2001:db8:0:1:ffff:ffff:ffff:ffff"));
        assert_eq!(a, key("2001:db8:0:1:8a2e:370:7334:1"));
        assert_ne!(a, key("2001:db8:0:2::1"));
        assert_ne!(a, key("2001:db9:0:1::1"));
        assert_eq!(a.to_string(), "2001:db8:0:1::/64");
        assert_eq!(key("::1"), key("::2"), "loopback is in ::/64");
    }

    #[test]
    fn an_ipv4_mapped_ipv6_address_is_the_ipv4_address() {
        assert_eq!(key("::ffff:203.0.113.9"), key("203.0.113.9"));
        assert_ne!(key("::ffff:203.0.113.9"), key("::ffff:203.0.113.10"));
        // Not mapped: an ordinary IPv6 address in ::/64.
        assert_eq!(key("::203.0.113.9"), key("::1"));
    }

    #[test]
    fn a_64_holds_at_most_max_slots_whatever_addresses_it_uses() {
        let table = Arc::new(PerPeer::default());
        let mut held = Vec::new();
        for i in 0..4u16 {
            let ip = IpAddr::from([0x2001, 0xdb8, 0, 1, i, 0, 0, i]);
            held.push(table.acquire(peer_key(ip), 4).expect("within the cap"));
        }
        let same_64 = peer_key("2001:db8:0:1::beef".parse().unwrap());
        assert!(
            table.acquire(same_64, 4).is_none(),
            "a fifth address of the /64"
        );
        let other_64 = peer_key("2001:db8:0:2::1".parse().unwrap());
        assert!(
            table.acquire(other_64, 4).is_some(),
            "another /64 is served"
        );
        assert_eq!(table.held(same_64), 4);
        held.pop();
        assert_eq!(table.held(same_64), 3);
        assert!(
            table.acquire(same_64, 4).is_some(),
            "a freed slot is reusable"
        );
        drop(held);
        assert_eq!(table.held(same_64), 0);
        assert!(
            table.0.lock().unwrap().is_empty(),
            "idle keys are forgotten"
        );
        assert!(table.acquire(same_64, 0).is_none());
        assert!(table.0.lock().unwrap().is_empty());
    }
}
