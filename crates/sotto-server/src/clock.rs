//! Wall-clock time in the units the store and the protocol use (milliseconds since the epoch).

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sotto_proto::Timestamp;

/// Milliseconds since the Unix epoch; 0 if the clock is before it.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The clock of the server's periodic work and history windows: the wall clock plus an offset
/// that only code in the same process can move. Tests move it past a retention instead of
/// waiting for it; no request, frame or configuration setting reaches it, so in production it
/// is the wall clock.
#[derive(Debug, Default)]
pub struct ServerClock {
    offset_ms: AtomicI64,
}

impl ServerClock {
    /// Milliseconds since the Unix epoch, offset.
    pub fn now_ms(&self) -> i64 {
        now_ms().saturating_add(self.offset_ms.load(Ordering::Relaxed))
    }

    /// Moves this clock `by` ahead of the wall clock (cumulative).
    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.offset_ms.fetch_add(ms, Ordering::Relaxed);
    }
}

/// The current time as a protocol timestamp.
pub fn now() -> Timestamp {
    Timestamp(u64::try_from(now_ms()).unwrap_or(0))
}

/// `now_ms() + secs` seconds, saturating.
pub fn in_secs(secs: u64) -> i64 {
    now_ms().saturating_add(i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX))
}

/// Resolves once a shutdown flag turns true (or its sender is gone).
pub async fn until_true(flag: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = flag.wait_for(|set| *set).await;
}
