//! Prometheus metrics: a handful of atomic counters, gauges and latency histograms rendered in
//! the text exposition format at `/metrics`. No label ever carries a user, device or secret.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use crate::store::HotQueueFigures;
use crate::ws::stop::Stop;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// A latency histogram.
#[derive(Debug, Default)]
pub struct Histogram {
    counts: [AtomicU64; 12],
    overflow: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        match BUCKETS.iter().position(|b| secs <= *b) {
            Some(i) => {
                if let Some(c) = self.counts.get(i) {
                    c.fetch_add(1, Ordering::Relaxed);
                }
            }
            None => {
                self.overflow.fetch_add(1, Ordering::Relaxed);
            }
        }
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (bound, count) in BUCKETS.iter().zip(&self.counts) {
            cumulative += count.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        cumulative += self.overflow.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {cumulative}");
    }
}

/// Every metric the server exports.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Open WebSocket connections.
    pub connections: AtomicI64,
    /// WebSocket connections ended, one counter per [`Stop`] reason (indexed by
    /// [`Stop::index`]).
    pub ws_closed: [AtomicU64; Stop::ALL.len()],
    /// Envelopes held in the SQLite hot queue (D25), read when `/metrics` is served.
    pub hot_envelopes: AtomicI64,
    /// Settle steps of the SQLite hot queue so far, read when `/metrics` is served.
    pub settle_steps: AtomicU64,
    /// Envelopes those steps settled, read when `/metrics` is served.
    pub settled_envelopes: AtomicU64,
    /// Envelopes stored for delivery.
    pub envelopes_stored: AtomicU64,
    /// Envelope copies queued (one per recipient device).
    pub copies_queued: AtomicU64,
    /// Envelope copies written to a socket.
    pub copies_delivered: AtomicU64,
    /// Envelope copies acknowledged and deleted.
    pub copies_acked: AtomicU64,
    /// Envelopes refused (duplicate, not a member, malformed).
    pub envelopes_rejected: AtomicU64,
    /// Group commits.
    pub batches: AtomicU64,
    /// Operations written by group commits.
    pub batch_ops: AtomicU64,
    /// Successful logins.
    pub logins: AtomicU64,
    /// Failed logins.
    pub login_failures: AtomicU64,
    /// Logins refused by the throttle or because their address had its share of the password
    /// check slots.
    pub login_throttled: AtomicU64,
    /// Accounts registered.
    pub registrations: AtomicU64,
    /// Registrations refused by the registration limit (per address or server-wide).
    pub registrations_throttled: AtomicU64,
    /// New password hashes made (registrations and password changes; checks not counted).
    pub password_hashes: AtomicU64,
    /// Time from submitting an envelope to its durable commit.
    pub commit_latency: Histogram,
}

impl Metrics {
    /// Adds to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Takes the hot queue's figures (they live in the store; `/metrics` reads them).
    pub fn set_hot_queue(&self, figures: HotQueueFigures) {
        let envelopes = i64::try_from(figures.envelopes).unwrap_or(i64::MAX);
        self.hot_envelopes.store(envelopes, Ordering::Relaxed);
        self.settle_steps
            .store(figures.settle_steps, Ordering::Relaxed);
        self.settled_envelopes
            .store(figures.settled_envelopes, Ordering::Relaxed);
    }

    /// Renders the text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(2048);
        let gauge = |out: &mut String, name: &str, help: &str, v: i64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        };
        let counter = |out: &mut String, name: &str, help: &str, v: &AtomicU64| {
            let v = v.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        };
        gauge(
            &mut out,
            "sotto_ws_connections",
            "Open WebSocket connections.",
            self.connections.load(Ordering::Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP sotto_ws_closed_total WebSocket connections ended, by reason.\n\
             # TYPE sotto_ws_closed_total counter"
        );
        for (stop, count) in Stop::ALL.iter().zip(&self.ws_closed) {
            let _ = writeln!(
                out,
                "sotto_ws_closed_total{{reason=\"{}\"}} {}",
                stop.as_str(),
                count.load(Ordering::Relaxed)
            );
        }
        gauge(
            &mut out,
            "sotto_relay_hot_envelopes",
            "Envelopes in the SQLite hot queue, not yet settled (0 on PostgreSQL).",
            self.hot_envelopes.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "sotto_relay_settle_steps_total",
            "Settle steps of the SQLite hot queue (0 on PostgreSQL).",
            &self.settle_steps,
        );
        counter(
            &mut out,
            "sotto_relay_settled_envelopes_total",
            "Envelopes moved from the SQLite hot queue into its tables (0 on PostgreSQL).",
            &self.settled_envelopes,
        );
        counter(
            &mut out,
            "sotto_envelopes_stored_total",
            "Envelopes accepted.",
            &self.envelopes_stored,
        );
        counter(
            &mut out,
            "sotto_envelope_copies_queued_total",
            "Per-device copies queued.",
            &self.copies_queued,
        );
        counter(
            &mut out,
            "sotto_envelope_copies_delivered_total",
            "Copies written to sockets.",
            &self.copies_delivered,
        );
        counter(
            &mut out,
            "sotto_envelope_copies_acked_total",
            "Copies acknowledged and deleted.",
            &self.copies_acked,
        );
        counter(
            &mut out,
            "sotto_envelopes_rejected_total",
            "Envelopes refused.",
            &self.envelopes_rejected,
        );
        counter(
            &mut out,
            "sotto_group_commits_total",
            "Group-commit transactions.",
            &self.batches,
        );
        counter(
            &mut out,
            "sotto_group_commit_ops_total",
            "Operations written by group commits.",
            &self.batch_ops,
        );
        counter(
            &mut out,
            "sotto_logins_total",
            "Successful password logins.",
            &self.logins,
        );
        counter(
            &mut out,
            "sotto_login_failures_total",
            "Failed password logins.",
            &self.login_failures,
        );
        counter(
            &mut out,
            "sotto_login_throttled_total",
            "Logins refused by the throttle.",
            &self.login_throttled,
        );
        counter(
            &mut out,
            "sotto_registrations_total",
            "Accounts registered.",
            &self.registrations,
        );
        counter(
            &mut out,
            "sotto_registrations_throttled_total",
            "Registrations refused by the registration limit.",
            &self.registrations_throttled,
        );
        counter(
            &mut out,
            "sotto_password_hashes_total",
            "New password hashes made (registrations, password changes).",
            &self.password_hashes,
        );
        self.commit_latency.render(
            &mut out,
            "sotto_envelope_commit_seconds",
            "Time from receiving an envelope to its durable commit.",
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let m = Metrics::default();
        Metrics::add(&m.envelopes_stored, 3);
        m.commit_latency.observe(Duration::from_micros(300));
        m.commit_latency.observe(Duration::from_secs(10));
        Metrics::add(&m.ws_closed[Stop::IdleTimeout.index()], 2);
        let text = m.render();
        assert!(text.contains("sotto_envelopes_stored_total 3"));
        assert!(text.contains("sotto_ws_closed_total{reason=\"idle_timeout\"} 2"));
        assert!(text.contains("sotto_ws_closed_total{reason=\"slow_reader\"} 0"));
        assert!(text.contains("sotto_envelope_commit_seconds_bucket{le=\"0.0005\"} 1"));
        assert!(text.contains("sotto_envelope_commit_seconds_bucket{le=\"+Inf\"} 2"));
    }
}
