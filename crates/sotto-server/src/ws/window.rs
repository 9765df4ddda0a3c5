//! Delivery flow control of one socket: the envelopes written to it that its client has not
//! acknowledged yet.
//!
//! A socket is written at most `ws_unacked_envelopes` envelopes, and at most `ws_unacked_bytes`
//! of envelope bodies, ahead of the client's acknowledgements (one envelope always fits an empty
//! window, however large). When the window is full the connection stops writing and marks
//! itself behind; the queue is durable, so it resumes from the store once acknowledgements make
//! room. A client working through a large backlog therefore never has more than a window's
//! worth of frames sitting in the socket buffers, and the write timeout (`ws_send_timeout_secs`)
//! only cuts a client that stops reading, never one that reads and acknowledges slowly.

use std::collections::HashMap;

use sotto_proto::ids::MessageId;

/// The unacknowledged envelopes of one socket, with their body sizes.
#[derive(Debug)]
pub struct Window {
    max_envelopes: usize,
    max_bytes: usize,
    outstanding: HashMap<MessageId, usize>,
    bytes: usize,
    /// The body size of the envelope that did not fit last (1 when none did): the window counts
    /// as full until that one fits, so that a store read is not tried for nothing.
    waiting: usize,
}

impl Window {
    /// An empty window of at most `max_envelopes` envelopes and `max_bytes` body bytes (a zero
    /// is read as one envelope at a time).
    pub fn new(max_envelopes: usize, max_bytes: usize) -> Self {
        Self {
            max_envelopes: max_envelopes.max(1),
            max_bytes,
            outstanding: HashMap::new(),
            bytes: 0,
            waiting: 1,
        }
    }

    /// Whether an envelope of `body_len` bytes may be written now.
    pub fn fits(&self, body_len: usize) -> bool {
        self.outstanding.is_empty()
            || (self.outstanding.len() < self.max_envelopes
                && self.bytes.saturating_add(body_len) <= self.max_bytes)
    }

    /// Envelopes that may still be written, counting only the envelope bound (the byte bound is
    /// checked per envelope by [`Window::fits`]); the size of the next store read.
    pub fn room(&self) -> usize {
        self.max_envelopes.saturating_sub(self.outstanding.len())
    }

    /// Whether the next envelope does not fit (nothing more is read from the store until an
    /// acknowledgement makes room for it).
    pub fn is_full(&self) -> bool {
        !self.fits(self.waiting)
    }

    /// Records that an envelope of `body_len` bytes did not fit.
    pub fn blocked(&mut self, body_len: usize) {
        self.waiting = body_len.max(1);
    }

    /// Records an envelope written to the socket. The same id twice (a copy sent again) counts
    /// once.
    pub fn sent(&mut self, message: MessageId, body_len: usize) {
        self.waiting = 1;
        if let Some(old) = self.outstanding.insert(message, body_len) {
            self.bytes = self.bytes.saturating_sub(old);
        }
        self.bytes = self.bytes.saturating_add(body_len);
    }

    /// Frees the acknowledged envelopes; ids this socket was not written are ignored.
    pub fn acked(&mut self, messages: &[MessageId]) {
        for message in messages {
            if let Some(len) = self.outstanding.remove(message) {
                self.bytes = self.bytes.saturating_sub(len);
            }
        }
    }

    /// Keeps only the envelopes `still_queued` says are still in the device's queue: another
    /// socket of the same device may have acknowledged them, and an acknowledgement this socket
    /// never sees must not hold its window shut.
    pub fn retain_queued(&mut self, still_queued: impl Fn(&MessageId) -> bool) {
        let mut freed = 0usize;
        self.outstanding.retain(|message, len| {
            let keep = still_queued(message);
            if !keep {
                freed = freed.saturating_add(*len);
            }
            keep
        });
        self.bytes = self.bytes.saturating_sub(freed);
    }

    /// How many envelopes are unacknowledged.
    pub fn len(&self) -> usize {
        self.outstanding.len()
    }

    /// Whether every written envelope was acknowledged.
    pub fn is_empty(&self) -> bool {
        self.outstanding.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> MessageId {
        MessageId::from_bytes([n; 16])
    }

    #[test]
    fn the_envelope_bound_stops_writing_until_an_ack_makes_room() {
        let mut w = Window::new(2, 1_000_000);
        assert!(w.fits(10));
        w.sent(id(1), 10);
        w.sent(id(2), 10);
        assert!(w.is_full());
        assert!(!w.fits(10));
        assert_eq!(w.room(), 0);
        w.acked(&[id(1)]);
        assert!(w.fits(10));
        assert_eq!(w.room(), 1);
    }

    #[test]
    fn the_byte_bound_stops_writing_but_one_large_envelope_always_fits_an_empty_window() {
        let mut w = Window::new(100, 1000);
        assert!(w.fits(5000), "an empty window takes any envelope");
        w.sent(id(1), 5000);
        assert!(w.is_full());
        assert!(!w.fits(1));
        w.acked(&[id(1)]);
        w.sent(id(2), 600);
        assert!(!w.is_full());
        assert!(!w.fits(500));
        assert!(w.fits(400));
        assert!(!w.is_full());
        w.blocked(500);
        assert!(w.is_full(), "full for the envelope that waits");
        w.acked(&[id(2)]);
        assert!(!w.is_full());
    }

    #[test]
    fn acks_for_unknown_or_repeated_ids_free_nothing_twice() {
        let mut w = Window::new(3, 1000);
        w.sent(id(1), 100);
        w.sent(id(1), 100);
        assert_eq!(w.len(), 1);
        w.acked(&[id(9), id(1), id(1)]);
        assert!(w.is_empty());
        w.sent(id(2), 900);
        assert!(
            !w.fits(200),
            "the bytes of the first envelope were freed exactly once"
        );
    }

    #[test]
    fn envelopes_no_longer_queued_leave_the_window() {
        let mut w = Window::new(2, 1000);
        w.sent(id(1), 500);
        w.sent(id(2), 500);
        assert!(w.is_full());
        w.retain_queued(|m| *m == id(2));
        assert_eq!(w.len(), 1);
        assert!(w.fits(500));
    }
}
