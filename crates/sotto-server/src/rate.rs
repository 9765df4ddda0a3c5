//! The server's one rate limiter, a token bucket: a socket's frames, sign-ups per address and
//! server-wide, and failed recovery unlocks per account and per address each hold one. It is a plain value over a time passed in, so its
//! arithmetic is tested without sleeping.

use std::time::{Duration, Instant};

/// `capacity` tokens (the burst), refilled continuously at `per_sec` tokens a second.
#[derive(Clone, Copy, Debug)]
pub struct TokenBucket {
    capacity: f64,
    per_sec: f64,
    tokens: f64,
    at: Instant,
}

impl TokenBucket {
    /// A full bucket of `capacity` tokens (at least one) refilled at `per_sec` a second.
    pub fn full(capacity: f64, per_sec: f64, now: Instant) -> Self {
        let capacity = capacity.max(1.0);
        Self {
            capacity,
            per_sec: per_sec.max(f64::MIN_POSITIVE),
            tokens: capacity,
            at: now,
        }
    }

    /// A full bucket of `capacity` tokens refilled evenly over `period` (`capacity` per period).
    pub fn per_period(capacity: u32, period: Duration, now: Instant) -> Self {
        let capacity = f64::from(capacity.max(1));
        Self::full(
            capacity,
            capacity / period.as_secs_f64().max(f64::MIN_POSITIVE),
            now,
        )
    }

    fn refilled(&self, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        (self.tokens + elapsed * self.per_sec).min(self.capacity)
    }

    /// Whether the bucket has refilled completely by `now` (its holder may be forgotten).
    pub fn is_full(&self, now: Instant) -> bool {
        self.refilled(now) >= self.capacity
    }

    /// Whether a token is there by `now` (taking none), or how long until one is: for limits
    /// that count only failures, checked before the attempt and taken after it failed.
    pub fn ready(&self, now: Instant) -> Result<(), Duration> {
        let tokens = self.refilled(now);
        if tokens >= 1.0 {
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - tokens) / self.per_sec))
        }
    }

    /// Takes one token, or says how long until one is there.
    pub fn take(&mut self, now: Instant) -> Result<(), Duration> {
        self.take_n(1, now)
    }

    /// Takes `n` tokens at once, or none and says how long until `n` are there (a request
    /// that costs more than one unit, such as a prekey claim for several devices). `n` above
    /// the capacity is never granted; callers bound it below.
    pub fn take_n(&mut self, n: u32, now: Instant) -> Result<(), Duration> {
        let want = f64::from(n);
        let tokens = self.refilled(now);
        self.at = now;
        if tokens >= want {
            self.tokens = tokens - want;
            Ok(())
        } else {
            self.tokens = tokens;
            Err(Duration::from_secs_f64((want - tokens) / self.per_sec))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_gives_its_burst_then_refills_at_its_rate() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::full(4.0, 2.0, t0);
        for _ in 0..4 {
            assert!(bucket.take(t0).is_ok());
        }
        let wait = bucket.take(t0).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        assert!(bucket.take(t0 + Duration::from_millis(499)).is_err());
        // Looking takes nothing: still short at 499 ms, one token by 500 ms.
        assert!(bucket.ready(t0 + Duration::from_millis(499)).is_err());
        assert!(bucket.ready(t0 + Duration::from_millis(500)).is_ok());
        assert!(bucket.take(t0 + Duration::from_millis(1000)).is_ok());
        assert!(!bucket.is_full(t0 + Duration::from_secs(2)));
        assert!(bucket.is_full(t0 + Duration::from_secs(3)));
    }

    #[test]
    fn a_costly_request_takes_all_its_tokens_or_none() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::full(10.0, 1.0, t0);
        assert!(bucket.take_n(6, t0).is_ok());
        // Four left: a request for six waits two seconds and takes nothing.
        assert_eq!(bucket.take_n(6, t0).unwrap_err(), Duration::from_secs(2));
        assert!(bucket.take_n(4, t0).is_ok());
        assert!(bucket.take(t0).is_err());
    }

    #[test]
    fn a_period_rate_spreads_its_capacity_over_the_period() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::per_period(20, Duration::from_secs(3600), t0);
        for _ in 0..20 {
            assert!(bucket.take(t0).is_ok());
        }
        // 20 per hour: one every three minutes.
        let wait = bucket.take(t0).unwrap_err();
        assert!((179..=180).contains(&wait.as_secs()), "{wait:?}");
    }
}
