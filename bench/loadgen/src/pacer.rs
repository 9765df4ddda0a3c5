//! The open loops' schedule, kept to the microsecond: one thread hands each send its instant.
//!
//! **Arrivals.** Sends arrive as a Poisson process at the asked rate (independent gaps drawn
//! from the exponential distribution), as from many people typing independently: neither evenly
//! spaced nor in lockstep. The gaps come from a fixed seed, so every run of a given rate and
//! count follows the same schedule and two builds compare on the same one.
//!
//! **Timing.** An open loop measures latency from every send's *scheduled* instant, so a
//! generator that falls behind shows it. tokio's timers fire on whole milliseconds of the
//! runtime's clock (a deadline is rounded up to the next one): a task woken by its own
//! `interval` sends up to a millisecond after the instant its latency is counted from, and
//! every sender due within one millisecond sends at the same moment. The pacer's thread sleeps
//! on the operating system's high-resolution timer instead (late by the thread's timer slack,
//! 50 µs by default) and hands instant k to receiver `k mod n` when it is due, never before. An
//! instant that reaches its task late still carries its scheduled value, so that lateness is
//! measured.

use std::time::{Duration, Instant};

use tokio::sync::mpsc;

/// The instants one sender is due to send at, in order.
pub struct Ticks(mpsc::UnboundedReceiver<Instant>);

impl Ticks {
    /// The next scheduled instant, once it is due; `None` when the schedule is over.
    pub async fn next(&mut self) -> Option<Instant> {
        self.0.recv().await
    }
}

/// The next instant of `ticks`, or never when there is no schedule (a closed loop's sender).
pub async fn next_or_never(ticks: &mut Option<Ticks>) -> Option<Instant> {
    match ticks {
        Some(ticks) => ticks.next().await,
        None => std::future::pending().await,
    }
}

/// Starts the schedule: `total` Poisson arrivals at `rate` per second from `start`, the k-th to
/// receiver `k % receivers`. The thread ends with the schedule, or once every receiver is gone.
pub fn start(
    start: Instant,
    rate: f64,
    receivers: usize,
    total: usize,
) -> std::io::Result<Vec<Ticks>> {
    let (senders, ticks): (Vec<_>, Vec<_>) = (0..receivers)
        .map(|_| {
            let (tx, rx) = mpsc::unbounded_channel();
            (tx, Ticks(rx))
        })
        .unzip();
    let mut arrivals = Arrivals::new(rate);
    std::thread::Builder::new()
        .name("pacer".into())
        .spawn(move || {
            for to in senders.iter().cycle().take(total) {
                let at = start + arrivals.next_offset();
                let now = Instant::now();
                if at > now {
                    // `sleep` sleeps at least this long (it resumes after a signal).
                    std::thread::sleep(at - now);
                }
                if to.send(at).is_err() && senders.iter().all(mpsc::UnboundedSender::is_closed) {
                    return;
                }
            }
        })?;
    Ok(ticks)
}

/// Offsets from the start of a Poisson process: each gap is `-ln(u) / rate` for a uniform `u`
/// in (0, 1] from a fixed-seed xorshift.
struct Arrivals {
    rate: f64,
    seconds: f64,
    state: u64,
}

impl Arrivals {
    fn new(rate: f64) -> Self {
        Self {
            rate: rate.max(f64::MIN_POSITIVE),
            seconds: 0.0,
            state: 0x9e37_79b9_7f4a_7c15,
        }
    }

    /// The next arrival's offset (the first one is at the start).
    fn next_offset(&mut self) -> Duration {
        let at = Duration::from_secs_f64(self.seconds);
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        // The top 53 bits as a float in (0, 1].
        let u = ((self.state >> 11) + 1) as f64 / (1u64 << 53) as f64;
        self.seconds += -u.ln() / self.rate;
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn instants_follow_the_schedule_round_robin_and_never_early() {
        let start = Instant::now() + Duration::from_millis(5);
        let receivers = super::start(start, 2_000.0, 3, 30)
            .unwrap()
            .into_iter()
            .map(|mut t| {
                tokio::spawn(async move {
                    let mut got = Vec::new();
                    while let Some(at) = t.next().await {
                        got.push((at, Instant::now()));
                    }
                    got
                })
            });
        let got: Vec<_> = futures_util::future::join_all(receivers).await;
        let mut schedule = Arrivals::new(2_000.0);
        let expected: Vec<Instant> = (0..30).map(|_| start + schedule.next_offset()).collect();
        for (r, got) in got.into_iter().enumerate() {
            let got = got.unwrap();
            assert_eq!(got.len(), 10, "receiver {r}");
            for (j, (at, seen)) in got.iter().enumerate() {
                let k = j * 3 + r;
                assert_eq!(*at, expected[k], "instant {k}");
                assert!(seen >= at, "instant {k} handed out before it was due");
            }
        }
    }

    #[test]
    fn arrivals_keep_the_rate_with_exponential_gaps() {
        let mut arrivals = Arrivals::new(10_000.0);
        let offsets: Vec<f64> = (0..100_001)
            .map(|_| arrivals.next_offset().as_secs_f64())
            .collect();
        assert_eq!(offsets[0], 0.0);
        // 100,000 gaps at 10,000/s: 10 s, with a standard deviation of 0.03 s.
        let span = offsets[100_000];
        assert!((9.9..10.1).contains(&span), "{span} s");
        let gaps: Vec<f64> = offsets.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(gaps.iter().all(|&g| g >= 0.0));
        // An exponential distribution's standard deviation equals its mean (evenly spaced
        // sends would have none).
        let mean = span / gaps.len() as f64;
        let var = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64;
        let cv = var.sqrt() / mean;
        assert!((0.97..1.03).contains(&cv), "coefficient of variation {cv}");
    }
}
