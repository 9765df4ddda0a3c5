//! The write path for envelopes and acknowledgements: group commit.
//!
//! Socket tasks and HTTP handlers submit a [`WriteOp`] and wait for its outcome. One writer task
//! takes whatever is waiting (up to `max_batch` operations), writes it in **one** transaction,
//! and only after the commit returns answers each submitter and pushes the new envelopes to the
//! recipients' sockets. An envelope is therefore durable before its sender is told it was
//! accepted, yet under load thousands of envelopes share one commit (and one fsync). When idle a
//! batch is a single operation, so there is no added latency.
//!
//! If a batch fails as a whole (a database error), each operation is retried alone so that one
//! bad operation cannot fail its neighbours. On shutdown the writer drains what was submitted
//! before it stops; anything submitted later is refused, never half-written.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::error::{Error, Result};
use crate::hub::{Hub, OutEnvelope, Push};
use crate::metrics::Metrics;
use crate::store::{QueuePolicy, Store, WriteOp, WriteOutcome};

/// Operations waiting for the writer at most (further submitters wait for room).
const CHANNEL: usize = 16_384;
/// Envelope bytes per batch at most (plus the one envelope that crosses it). 2,048 envelopes of
/// the usual ~1 KB are 2 MB; the bound matters for large ones (up to ~190 KB each, which would
/// otherwise make one ~390 MB batch).
const BATCH_BODY_BYTES: usize = 8 << 20;

struct Job {
    op: WriteOp,
    submitted: Instant,
    reply: oneshot::Sender<Result<WriteOutcome>>,
}

/// A handle for submitting writes.
#[derive(Clone, Debug)]
pub struct Relay {
    tx: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Job")
    }
}

/// What the writer needs.
pub struct Writer {
    /// Where batches are written.
    pub store: Arc<dyn Store>,
    /// Where new envelopes are pushed after commit.
    pub hub: Arc<Hub>,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Operations per transaction at most.
    pub max_batch: usize,
    /// What a device's queue takes.
    pub policy: QueuePolicy,
}

impl Relay {
    /// Starts the writer task; it stops after `stop` turns true and the queue is drained.
    pub fn start(writer: Writer, stop: watch::Receiver<bool>) -> (Self, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(CHANNEL);
        let task = tokio::spawn(run(writer, rx, stop));
        (Self { tx }, task)
    }

    /// Submits one operation and waits until it is committed (or refused).
    pub async fn submit(&self, op: WriteOp) -> Result<WriteOutcome> {
        let (reply, rx) = oneshot::channel();
        let job = Job {
            op,
            submitted: Instant::now(),
            reply,
        };
        self.tx.send(job).await.map_err(|_| Error::Unavailable)?;
        rx.await.map_err(|_| Error::Unavailable)?
    }
}

async fn run(writer: Writer, mut rx: mpsc::Receiver<Job>, mut stop: watch::Receiver<bool>) {
    loop {
        let first = tokio::select! {
            job = rx.recv() => job,
            _ = crate::clock::until_true(&mut stop) => {
                // Drain what was already submitted, then refuse the rest.
                rx.close();
                while let Some(job) = rx.recv().await {
                    let jobs = take_batch(job, &mut rx, writer.max_batch);
                    write(&writer, jobs).await;
                }
                return;
            }
        };
        let Some(first) = first else { return };
        let jobs = take_batch(first, &mut rx, writer.max_batch);
        write(&writer, jobs).await;
    }
}

/// `first` and whatever else is waiting, up to `max` operations or [`BATCH_BODY_BYTES`] of
/// envelope bodies: a batch exists several times over while it is written (the jobs, the
/// writer's copy, its log row, SQLite's copy of that), so its size is bounded in bytes as well
/// as in count. The envelope that crosses the byte bound is the batch's last.
fn take_batch(first: Job, rx: &mut mpsc::Receiver<Job>, max: usize) -> Vec<Job> {
    let mut bytes = first.op.body_len();
    let mut jobs = vec![first];
    while jobs.len() < max && bytes < BATCH_BODY_BYTES {
        match rx.try_recv() {
            Ok(job) => {
                bytes = bytes.saturating_add(job.op.body_len());
                jobs.push(job);
            }
            Err(_) => break,
        }
    }
    jobs
}

async fn write(writer: &Writer, jobs: Vec<Job>) {
    let mut ops = Vec::with_capacity(jobs.len());
    let mut waiters = Vec::with_capacity(jobs.len());
    for job in jobs {
        ops.push(job.op);
        waiters.push((job.submitted, job.reply));
    }
    match writer.store.write_batch_with(&ops, &writer.policy).await {
        Ok(outcomes) => {
            Metrics::add(&writer.metrics.batches, 1);
            Metrics::add(&writer.metrics.batch_ops, ops.len() as u64);
            for ((op, waiter), outcome) in ops.into_iter().zip(waiters).zip(outcomes) {
                finish(writer, op, waiter, Ok(outcome));
            }
        }
        Err(error) if ops.len() > 1 => {
            tracing::warn!(
                ?error,
                ops = ops.len(),
                "group commit failed; retrying one by one"
            );
            for (op, waiter) in ops.into_iter().zip(waiters) {
                let result = writer
                    .store
                    .write_batch_with(std::slice::from_ref(&op), &writer.policy)
                    .await
                    .and_then(|mut o| o.pop().ok_or(Error::TaskGone));
                finish(writer, op, waiter, result);
            }
        }
        Err(error) => {
            tracing::error!(?error, "write failed");
            for (op, waiter) in ops.into_iter().zip(waiters) {
                finish(writer, op, waiter, Err(Error::Unavailable));
            }
        }
    }
}

type Waiter = (Instant, oneshot::Sender<Result<WriteOutcome>>);

/// Pushes a committed envelope to its recipients, records metrics and answers the submitter.
/// The envelope's body moves into the push as it is: each recipient's socket task encodes it
/// into its frame, so no base64 work sits on this (serial) commit path.
fn finish(writer: &Writer, op: WriteOp, waiter: Waiter, result: Result<WriteOutcome>) {
    let (submitted, reply) = waiter;
    let m = &writer.metrics;
    match (op, &result) {
        (WriteOp::Enqueue(env), Ok(WriteOutcome::Stored { recipients, .. })) => {
            m.commit_latency.observe(submitted.elapsed());
            Metrics::add(&m.envelopes_stored, 1);
            Metrics::add(&m.copies_queued, recipients.len() as u64);
            if !recipients.is_empty() {
                let out = Arc::new(OutEnvelope {
                    message: env.message,
                    conversation: env.conversation,
                    sender_account: env.sender_account,
                    sender_device: env.sender_device,
                    received_at: env.received_at,
                    body: env.body,
                });
                for (device, seq) in recipients {
                    let push = Push::Envelope {
                        seq: *seq,
                        envelope: out.clone(),
                    };
                    writer.hub.push(device, &push);
                }
            }
        }
        (WriteOp::Enqueue(_), Ok(_)) => Metrics::add(&m.envelopes_rejected, 1),
        (WriteOp::Ack { .. }, Ok(WriteOutcome::Acked(n))) => Metrics::add(&m.copies_acked, *n),
        _ => {}
    }
    // The submitter may have gone away (socket closed); the write stands regardless.
    let _ = reply.send(result);
}

#[cfg(test)]
mod tests {
    use sotto_proto::ids::{AccountId, ConversationId, DeviceId, MessageId};

    use super::*;
    use crate::store::{NewEnvelope, UserId};

    fn job(op: WriteOp) -> Job {
        Job {
            op,
            submitted: Instant::now(),
            reply: oneshot::channel().0,
        }
    }

    fn envelope(body_len: usize) -> Job {
        job(WriteOp::Enqueue(NewEnvelope {
            message: MessageId::from_bytes([1; 16]),
            conversation: ConversationId::from_bytes([2; 16]),
            sender_user: UserId(1),
            sender_account: AccountId::from_bytes([3; 32]),
            sender_device: DeviceId::from_bytes([4; 32]),
            received_at: 0,
            to: None,
            body: vec![0; body_len],
        }))
    }

    fn ack() -> Job {
        job(WriteOp::Ack {
            device: DeviceId::from_bytes([4; 32]),
            messages: Vec::new(),
        })
    }

    #[test]
    fn a_batch_ends_with_the_envelope_that_crosses_the_byte_bound() {
        let (tx, mut rx) = mpsc::channel(16);
        for _ in 0..5 {
            tx.try_send(envelope(3 << 20)).unwrap();
        }
        let first = rx.try_recv().unwrap();
        // 3 + 3 + 3 MiB crosses 8 MiB with the third.
        assert_eq!(take_batch(first, &mut rx, 2048).len(), 3);
        let first = rx.try_recv().unwrap();
        assert_eq!(take_batch(first, &mut rx, 2048).len(), 2);
    }

    #[test]
    fn a_batch_of_small_operations_is_bounded_by_count() {
        let (tx, mut rx) = mpsc::channel(64);
        for i in 0..40 {
            tx.try_send(if i % 2 == 0 { envelope(1000) } else { ack() })
                .unwrap();
        }
        let first = rx.try_recv().unwrap();
        assert_eq!(take_batch(first, &mut rx, 16).len(), 16);
        let first = rx.try_recv().unwrap();
        assert_eq!(take_batch(first, &mut rx, 64).len(), 24);
    }
}
