//! Send times, latency percentiles and a cheap random stream.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use sotto_proto::ids::MessageId;

/// Send times by message id, sharded so many sockets do not queue on one lock: an `Instant`
/// when sender and receiver share this process, [`wall_ns`] when the receiver is another one.
pub struct Clock<T = Instant> {
    shards: Vec<Mutex<HashMap<MessageId, T>>>,
}

impl<T> Clock<T> {
    pub fn new() -> Self {
        Self {
            shards: (0..64).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }
    fn shard(&self, id: &MessageId) -> &Mutex<HashMap<MessageId, T>> {
        &self.shards[usize::from(id.as_bytes()[0]) % self.shards.len()]
    }
    pub fn put(&self, id: MessageId, at: T) {
        self.shard(&id).lock().unwrap().insert(id, at);
    }
    pub fn take(&self, id: &MessageId) -> Option<T> {
        self.shard(id).lock().unwrap().remove(id)
    }
    /// Sends not delivered (yet).
    pub fn outstanding(&self) -> usize {
        self.shards.iter().map(|s| s.lock().unwrap().len()).sum()
    }
}

/// Nanoseconds since the Unix epoch: the time stamp two processes on one machine can compare
/// (`Instant`s do not cross a process boundary).
pub fn wall_ns() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// A cheap per-task pseudo-random stream (xorshift), seeded from the OS.
pub struct Rng(u64);

impl Rng {
    pub fn new() -> Self {
        Self(u64::from_le_bytes(sotto_server::auth::tokens::random().unwrap()) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A message id unique per run (sender, counter) and spread over the id space.
pub fn message_id(rng: &mut Rng, sender: usize, counter: u64) -> MessageId {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&rng.next().to_le_bytes());
    id[8..12].copy_from_slice(&(sender as u32).to_le_bytes());
    id[12..].copy_from_slice(&(counter as u32).to_le_bytes());
    MessageId::from_bytes(id)
}

/// Milliseconds at percentile `p` (0 to 1) of sorted latencies (0 when there are none).
pub fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

/// "p50=… p99=… p99.9=… max=…" of sorted latencies.
pub fn summary(sorted: &[Duration]) -> String {
    format!(
        "p50={:.2} p99={:.2} p99.9={:.2} max={:.2}",
        percentile_ms(sorted, 0.50),
        percentile_ms(sorted, 0.99),
        percentile_ms(sorted, 0.999),
        percentile_ms(sorted, 1.0)
    )
}
