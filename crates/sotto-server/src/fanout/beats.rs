//! Beats between nodes: how a node learns that announcements from another node may have been
//! lost inside NATS when nothing else tells it.
//!
//! NATS core delivers at most once. A node that loses its own connection is told by its client
//! and re-reads every socket's queue when it is back (`nats.rs`). Two losses give no such sign:
//! a partition between the servers of a NATS cluster (each node stays connected to its own
//! server, the route between them is cut and what crossed it is gone), and a publisher whose
//! outbox overflowed. So every node publishes a beat on the control subject every
//! [`BEAT_EVERY`]: its instance id, a sequence number and how many events it has dropped so far.
//! A beat travels the same connection, servers and routes as the node's announcements, in order
//! with them; a receiver that finds a sequence number skipped, or the dropped count grown, knows
//! that announcements published since the previous beat may be lost too, and re-reads.
//!
//! What this does not see: a route that is cut and re-established between two beats, losing an
//! announcement but no beat. A beat every second keeps that window short; the envelope is in the
//! store either way, and is read at the device's next announcement or reconnect.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How often a node beats.
pub const BEAT_EVERY: Duration = Duration::from_secs(1);
/// A peer not heard from for this long is forgotten (a node that stopped, or one cut off for
/// longer: it is then first heard again as a stranger, which [`Peers::beat`] treats as a gap).
const FORGET_AFTER: Duration = Duration::from_secs(600);
/// Peers remembered at most: the map is bounded whatever arrives on the control subject.
const MAX_PEERS: usize = 4096;

/// What a beat says about the announcements of the peer that sent it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Heard {
    /// Every beat since the last one arrived, and the peer dropped nothing.
    InOrder,
    /// Beats were skipped or the peer dropped events: announcements may be lost.
    Gap,
}

/// The last beat heard from each other node.
#[derive(Debug)]
pub struct Peers {
    /// When this node's control subscription became live: a peer first heard later than
    /// [`BEAT_EVERY`] twice after it, with a sequence number above 0, beat unheard before.
    listening_since: Instant,
    peers: HashMap<u64, Peer>,
}

#[derive(Debug)]
struct Peer {
    seq: u64,
    dropped: u64,
    heard: Instant,
}

impl Peers {
    /// No peer heard yet; listening from `now`.
    pub fn new(now: Instant) -> Self {
        Self {
            listening_since: now,
            peers: HashMap::new(),
        }
    }

    /// Records beat `seq` of `node`, which had dropped `dropped` events when it beat.
    pub fn beat(&mut self, node: u64, seq: u64, dropped: u64, now: Instant) -> Heard {
        if let Some(peer) = self.peers.get_mut(&node) {
            let in_order = peer.seq.checked_add(1) == Some(seq) && peer.dropped == dropped;
            *peer = Peer {
                seq,
                dropped,
                heard: now,
            };
            return if in_order { Heard::InOrder } else { Heard::Gap };
        }
        if self.peers.len() >= MAX_PEERS {
            self.peers
                .retain(|_, peer| now.saturating_duration_since(peer.heard) < FORGET_AFTER);
        }
        if self.peers.len() < MAX_PEERS {
            self.peers.insert(
                node,
                Peer {
                    seq,
                    dropped,
                    heard: now,
                },
            );
        }
        // A node heard from its first beat on missed nothing of it. A stranger further along
        // either started while this node was starting (its first beats crossed our own
        // subscription; what it announced before that, our sockets read from the store when
        // they subscribed) or beat unheard for a while: a partition, or a peer forgotten.
        let starting = now.saturating_duration_since(self.listening_since) < 2 * BEAT_EVERY;
        if seq == 0 || (starting && dropped == 0) {
            Heard::InOrder
        } else {
            Heard::Gap
        }
    }
}

/// The longest a node waits between two re-reads while gaps keep coming.
pub const MAX_REREAD_WAIT: Duration = Duration::from_secs(60);

/// When a node re-reads after gaps: within a beat of the first, then backing off while gaps keep
/// coming (1, 2, 4 … [`MAX_REREAD_WAIT`] seconds apart), and at once again after a quiet
/// [`MAX_REREAD_WAIT`]. A node whose outbox overflows reports drops in every beat it gets out;
/// re-reading every socket every second would add to the load that made it overflow.
#[derive(Debug)]
pub struct Pacer {
    /// A gap not yet answered by a re-read.
    pending: bool,
    /// No re-read before this.
    next: Instant,
    /// The wait after the next re-read.
    wait: Duration,
    last_gap: Option<Instant>,
}

impl Pacer {
    /// No gap yet.
    pub fn new(now: Instant) -> Self {
        Self {
            pending: false,
            next: now,
            wait: BEAT_EVERY,
            last_gap: None,
        }
    }

    /// A gap was heard at `now`.
    pub fn gap(&mut self, now: Instant) {
        let quiet = self
            .last_gap
            .is_none_or(|last| now.saturating_duration_since(last) > MAX_REREAD_WAIT);
        if quiet {
            self.wait = BEAT_EVERY;
        }
        self.last_gap = Some(now);
        self.pending = true;
    }

    /// Whether to re-read at `now` (then the gaps so far are answered, and the next re-read
    /// waits longer).
    pub fn due(&mut self, now: Instant) -> bool {
        if !self.pending || now < self.next {
            return false;
        }
        self.pending = false;
        self.next = now + self.wait;
        self.wait = (self.wait * 2).min(MAX_REREAD_WAIT);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(start: Instant, secs: u64) -> Instant {
        start + Duration::from_secs(secs)
    }

    #[test]
    fn consecutive_beats_are_in_order_and_a_skipped_one_is_a_gap() {
        let start = Instant::now();
        let mut peers = Peers::new(start);
        assert_eq!(peers.beat(7, 0, 0, at(start, 5)), Heard::InOrder);
        assert_eq!(peers.beat(7, 1, 0, at(start, 6)), Heard::InOrder);
        assert_eq!(peers.beat(7, 2, 0, at(start, 7)), Heard::InOrder);
        // Beats 3 and 4 were lost with whatever the peer announced meanwhile.
        assert_eq!(peers.beat(7, 5, 0, at(start, 10)), Heard::Gap);
        assert_eq!(peers.beat(7, 6, 0, at(start, 11)), Heard::InOrder);
        // A repeated or older beat is not the next one either.
        assert_eq!(peers.beat(7, 6, 0, at(start, 11)), Heard::Gap);
        assert_eq!(peers.beat(7, u64::MAX, 0, at(start, 12)), Heard::Gap);
        assert_eq!(peers.beat(7, 0, 0, at(start, 13)), Heard::Gap);
        assert_eq!(peers.peers.len(), 1);
    }

    #[test]
    fn a_peer_that_dropped_events_is_a_gap_even_with_every_beat_heard() {
        let start = Instant::now();
        let mut peers = Peers::new(start);
        assert_eq!(peers.beat(1, 0, 0, at(start, 5)), Heard::InOrder);
        assert_eq!(peers.beat(1, 1, 3, at(start, 6)), Heard::Gap);
        assert_eq!(peers.beat(1, 2, 3, at(start, 7)), Heard::InOrder);
        assert_eq!(peers.beat(1, 3, 4, at(start, 8)), Heard::Gap);
    }

    #[test]
    fn a_stranger_is_a_gap_unless_heard_from_its_start_or_ours() {
        let start = Instant::now();
        let mut peers = Peers::new(start);
        // While this node starts, peers already running are heard mid-sequence: nothing of
        // theirs was missed (the sockets read the store as they subscribe).
        assert_eq!(peers.beat(1, 40, 0, start), Heard::InOrder);
        // ... unless the stranger says it dropped events.
        assert_eq!(peers.beat(2, 40, 1, start), Heard::Gap);
        // Later, a new node is heard from its first beat.
        assert_eq!(peers.beat(3, 0, 0, at(start, 30)), Heard::InOrder);
        // A node heard first mid-sequence, long after this one started, beat unheard.
        assert_eq!(peers.beat(4, 12, 0, at(start, 30)), Heard::Gap);
        assert_eq!(peers.peers.len(), 4);
    }

    #[test]
    fn the_map_is_bounded_and_forgets_the_silent_first() {
        let start = Instant::now();
        let mut peers = Peers::new(start);
        for node in 0..MAX_PEERS as u64 {
            peers.beat(node, 0, 0, start);
        }
        assert_eq!(peers.peers.len(), MAX_PEERS);
        // Full, and nobody silent long enough: the newcomer is not remembered, but still judged.
        assert_eq!(
            peers.beat(u64::MAX, 9, 0, at(start, 60)),
            Heard::Gap,
            "a stranger mid-sequence"
        );
        assert_eq!(peers.peers.len(), MAX_PEERS);
        // Everyone silent past FORGET_AFTER but one: room again.
        let later = start + FORGET_AFTER + Duration::from_secs(1);
        peers.beat(0, 1, 0, later - Duration::from_secs(2));
        assert_eq!(peers.beat(u64::MAX, 0, 0, later), Heard::InOrder);
        assert_eq!(peers.peers.len(), 2);
    }

    #[test]
    fn re_reads_back_off_while_gaps_keep_coming_and_recover_after_a_quiet_minute() {
        let start = Instant::now();
        let mut pacer = Pacer::new(start);
        assert!(!pacer.due(start), "no gap, no re-read");
        // A gap every second for five minutes: re-reads at 0, 1, 3, 7, 15, 31, 63, then every
        // minute.
        let mut reread = Vec::new();
        for second in 0..300 {
            let now = at(start, second);
            pacer.gap(now);
            if pacer.due(now) {
                reread.push(second);
            }
        }
        assert_eq!(reread, [0, 1, 3, 7, 15, 31, 63, 123, 183, 243]);
        // The gaps after the last re-read are answered a minute after it; then nothing is due.
        assert!(!pacer.due(at(start, 302)));
        assert!(pacer.due(at(start, 303)));
        assert!(!pacer.due(at(start, 399)), "nothing pending");
        // Quiet for over a minute: the next gap is answered at once, and backs off again.
        let later = at(start, 400);
        pacer.gap(later);
        assert!(pacer.due(later));
        pacer.gap(at(start, 400));
        assert!(!pacer.due(at(start, 400)));
        assert!(pacer.due(at(start, 401)));
    }
}
