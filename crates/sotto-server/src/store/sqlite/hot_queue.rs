//! The hot tier of the SQLite relay queue: envelopes of the recent group commits, kept in memory
//! and made durable as one `relay_log` row per commit (see [`super::relay_log`] and D25).
//!
//! An envelope enters here when it is stored; its copies leave when their devices acknowledge
//! them, which for a connected device is milliseconds later. Once enough envelopes are held,
//! every commit also runs a *settle step* on one slice of the id space (`1/SLICES` of it, by
//! the first byte): each envelope of the slice puts its id into `spent` (refused for good), and
//! one whose copies are still unacknowledged also gets its `messages` and `deliveries` rows.
//! Because a slice's ids are sorted and confined to one part of the `spent` index, a step
//! dirties few index pages however random the ids are, where one insert per envelope at commit
//! time dirtied about one page each.
//!
//! `relay_log` rows are deleted only as a prefix: a row goes once every envelope in it and in
//! every older row is settled, so an acknowledgement record always outlives the copy it
//! acknowledges.
//!
//! State visible to readers (`pending`) is only what has been committed: the writer inserts an
//! envelope before its commit (so a revocation, which waits for the write lock, always finds
//! it) but marks it committed only after.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use sotto_proto::ids::{AccountId, ConversationId, DeviceId, MessageId};

use crate::store::backend::{HotPending, TablesMark};
use crate::store::sqlite::relay_log::LoggedEnvelope;
use crate::store::sqlite::settled_devices::SettledDevices;
use crate::store::Delivery;

/// Slices of the message-id space (by the first byte) that settle steps cycle through.
pub(crate) const SLICES: usize = 256;

/// Envelopes held at which every commit also settles one slice (the default).
pub(crate) const SETTLE_AT: usize = 32_768;

/// Slices one settle step takes at most while only the envelope count is over its threshold.
const MAX_SLICES_PER_STEP: usize = 16;

/// Bytes of bodies the hot queue holds (copies not yet acknowledged, e.g. for offline devices)
/// at which settling starts, and above which a step settles as many slices as it takes to get
/// back under it: envelopes can be ~190 KB, so the envelope count alone would not bound memory.
pub(crate) const SETTLE_BYTES: usize = 64 * 1024 * 1024;

/// Age of the oldest unsettled log row at which every commit also settles one slice (so a quiet
/// server's log does not wait for [`SETTLE_AT`] forever).
pub(crate) const SETTLE_AGE: Duration = Duration::from_secs(60);

struct HotEnvelope {
    envelope: LoggedEnvelope,
    /// The log row that holds it.
    row: i64,
    /// Its copies still unacknowledged (a subset of `envelope.copies`).
    live: Vec<(DeviceId, i64)>,
    /// Readers see it only once its commit has returned.
    committed: bool,
}

struct Row {
    /// Envelopes in the row not yet settled.
    unsettled: usize,
    written: Instant,
}

/// What a settle step will write, planned before its transaction.
pub(crate) struct SettlePlan {
    /// The slices it covers.
    slices: Vec<usize>,
    /// The slices' envelopes, sorted by id, each with the copies still to deliver.
    pub envelopes: Vec<(LoggedEnvelope, Vec<(DeviceId, i64)>)>,
    /// Log rows up to this id can be deleted in the same transaction.
    pub delete_through: Option<i64>,
}

/// The in-memory hot queue (shared between the writer thread and readers behind a mutex).
pub(crate) struct HotQueue {
    envelopes: HashMap<MessageId, HotEnvelope>,
    /// Live copies per device: seq → message.
    devices: HashMap<DeviceId, BTreeMap<i64, MessageId>>,
    rows: BTreeMap<i64, Row>,
    /// Ids by slice, so a settle step reads only its own (unordered; may name envelopes
    /// already rolled back, which are skipped).
    slices: Vec<Vec<MessageId>>,
    /// The next slice a settle step takes.
    next_slice: usize,
    /// Envelopes held at which every commit also settles a slice.
    settle_at: usize,
    /// Bytes of bodies held (envelopes with a live copy).
    body_bytes: usize,
    /// Body bytes at which settling starts (see [`SETTLE_BYTES`]).
    settle_bytes: usize,
    /// Devices that may have settled copies: under the same lock as the hot copies, so a
    /// reader sees both at one moment.
    settled: SettledDevices,
}

impl Default for HotQueue {
    fn default() -> Self {
        Self::new(SETTLE_AT, SETTLE_BYTES)
    }
}

impl std::fmt::Debug for HotQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HotQueue")
            .field("envelopes", &self.envelopes.len())
            .field("rows", &self.rows.len())
            .finish_non_exhaustive()
    }
}

fn slice_of(message: &MessageId) -> usize {
    usize::from(message.as_bytes().first().copied().unwrap_or(0)) * SLICES / 256
}

impl HotQueue {
    /// An empty queue that settles once it holds `settle_at` envelopes or `settle_bytes` of
    /// bodies (or by age).
    pub(crate) fn new(settle_at: usize, settle_bytes: usize) -> Self {
        Self {
            envelopes: HashMap::new(),
            devices: HashMap::new(),
            rows: BTreeMap::new(),
            slices: (0..SLICES).map(|_| Vec::new()).collect(),
            next_slice: 0,
            settle_at,
            body_bytes: 0,
            settle_bytes,
            settled: SettledDevices::default(),
        }
    }

    /// The devices with settled copies, read from the table by the queue's owner.
    pub(crate) fn know_settled(&mut self, devices: HashSet<DeviceId>) {
        self.settled = SettledDevices::known(devices);
    }

    /// A transaction of the writer is about to add a settled copy for `device` (a retried
    /// copy; a settle step's are named when it is planned).
    pub(crate) fn settling(&mut self, device: &DeviceId) {
        self.settled.adding(device);
    }

    /// The writer's transaction has committed or rolled back.
    pub(crate) fn transaction_ended(&mut self) {
        self.settled.written();
    }

    /// A table read that began after `mark` found no settled copy of `device`.
    pub(crate) fn settled_empty(&mut self, device: &DeviceId, mark: TablesMark) {
        self.settled.emptied(device, mark);
    }

    /// Devices that may have settled copies, `None` until the queue's owner has read them.
    #[cfg(test)]
    pub(crate) fn settled_devices(&self) -> Option<usize> {
        self.settled.len()
    }

    /// Whether the id belongs to an envelope held here (committed or not).
    pub(crate) fn contains(&self, message: &MessageId) -> bool {
        self.envelopes.contains_key(message)
    }

    /// Envelopes held.
    pub(crate) fn len(&self) -> usize {
        self.envelopes.len()
    }

    /// Unacknowledged hot copies for `device` (committed or not: the queue cap counts both).
    pub(crate) fn live(&self, device: &DeviceId) -> i64 {
        self.devices
            .get(device)
            .map_or(0, |copies| i64::try_from(copies.len()).unwrap_or(i64::MAX))
    }

    /// Registers log row `row`, written now with `envelopes` envelopes.
    pub(crate) fn add_row(&mut self, row: i64, envelopes: usize, written: Instant) {
        self.rows.insert(
            row,
            Row {
                unsettled: envelopes,
                written,
            },
        );
    }

    /// Bytes of bodies held.
    #[cfg(test)]
    pub(crate) fn body_bytes(&self) -> usize {
        self.body_bytes
    }

    /// Adds an envelope of log row `row` with every copy live.
    pub(crate) fn insert(&mut self, mut envelope: LoggedEnvelope, row: i64, committed: bool) {
        if envelope.copies.is_empty() {
            // No copy to deliver (every queue full): only the id and metadata are kept.
            envelope.body = Vec::new();
        }
        self.body_bytes = self.body_bytes.saturating_add(envelope.body.len());
        for (device, seq) in &envelope.copies {
            self.devices
                .entry(*device)
                .or_default()
                .insert(*seq, envelope.message);
        }
        let live = envelope.copies.clone();
        if let Some(ids) = self.slices.get_mut(slice_of(&envelope.message)) {
            ids.push(envelope.message);
        }
        self.envelopes.insert(
            envelope.message,
            HotEnvelope {
                envelope,
                row,
                live,
                committed,
            },
        );
    }

    /// Marks what the writer inserted for its current batch as committed.
    pub(crate) fn commit(&mut self, messages: &[MessageId]) {
        for message in messages {
            if let Some(hot) = self.envelopes.get_mut(message) {
                hot.committed = true;
            }
        }
    }

    /// Undoes the inserts and the row of a batch whose transaction failed.
    pub(crate) fn roll_back(&mut self, messages: &[MessageId], row: i64) {
        for message in messages {
            if let Some(hot) = self.envelopes.remove(message) {
                self.body_bytes = self.body_bytes.saturating_sub(hot.envelope.body.len());
                for (device, seq) in &hot.live {
                    self.drop_copy(device, *seq);
                }
            }
        }
        self.rows.remove(&row);
    }

    /// The sequence number of `device`'s live copy of `message`.
    pub(crate) fn copy_of(&self, device: &DeviceId, message: &MessageId) -> Option<i64> {
        self.envelopes
            .get(message)?
            .live
            .iter()
            .find(|(d, _)| d == device)
            .map(|(_, seq)| *seq)
    }

    /// Removes `device`'s copy `seq`; whether there was one.
    pub(crate) fn ack(&mut self, device: &DeviceId, seq: i64) -> bool {
        let Some(message) = self.devices.get(device).and_then(|c| c.get(&seq)).copied() else {
            return false;
        };
        self.drop_copy(device, seq);
        if let Some(hot) = self.envelopes.get_mut(&message) {
            hot.live.retain(|(d, s)| !(d == device && *s == seq));
            if hot.live.is_empty() {
                // Nobody waits for the body any more; the id and metadata stay until settled.
                let body = std::mem::take(&mut hot.envelope.body);
                self.body_bytes = self.body_bytes.saturating_sub(body.len());
            }
        }
        true
    }

    /// Drops every copy for `device` (revoked).
    pub(crate) fn forget_device(&mut self, device: &DeviceId) {
        let Some(copies) = self.devices.remove(device) else {
            return;
        };
        for (seq, message) in copies {
            if let Some(hot) = self.envelopes.get_mut(&message) {
                hot.live.retain(|(d, s)| !(d == device && *s == seq));
                if hot.live.is_empty() {
                    let body = std::mem::take(&mut hot.envelope.body);
                    self.body_bytes = self.body_bytes.saturating_sub(body.len());
                }
            }
        }
    }

    /// Live copies for `device` (committed or not) by sender account: the per-sender part of
    /// the queue policy, read only once the device's queue is long.
    pub(crate) fn live_by_sender(&self, device: &DeviceId) -> HashMap<AccountId, i64> {
        let mut counts: HashMap<AccountId, i64> = HashMap::new();
        for message in self
            .devices
            .get(device)
            .into_iter()
            .flat_map(|c| c.values())
        {
            if let Some(hot) = self.envelopes.get(message) {
                *counts.entry(hot.envelope.sender_account).or_insert(0) += 1;
            }
        }
        counts
    }

    /// Drops `device`'s copies of `conversation` (declined).
    pub(crate) fn forget_conversation(&mut self, device: &DeviceId, conversation: &ConversationId) {
        let Some(copies) = self.devices.get(device) else {
            return;
        };
        let gone: Vec<(i64, MessageId)> = copies
            .iter()
            .filter(|(_, m)| {
                self.envelopes
                    .get(*m)
                    .is_some_and(|h| h.envelope.conversation == *conversation)
            })
            .map(|(seq, m)| (*seq, *m))
            .collect();
        for (seq, message) in gone {
            self.drop_copy(device, seq);
            if let Some(hot) = self.envelopes.get_mut(&message) {
                hot.live.retain(|(d, s)| !(d == device && *s == seq));
                if hot.live.is_empty() {
                    let body = std::mem::take(&mut hot.envelope.body);
                    self.body_bytes = self.body_bytes.saturating_sub(body.len());
                }
            }
        }
    }

    /// Keeps only copies for devices in `active` (after a restart: revocations since).
    pub(crate) fn retain_devices(&mut self, active: &HashSet<DeviceId>) {
        let gone: Vec<DeviceId> = self
            .devices
            .keys()
            .filter(|d| !active.contains(*d))
            .copied()
            .collect();
        for device in gone {
            self.forget_device(&device);
        }
    }

    fn drop_copy(&mut self, device: &DeviceId, seq: i64) {
        if let Some(copies) = self.devices.get_mut(device) {
            copies.remove(&seq);
            if copies.is_empty() {
                self.devices.remove(device);
            }
        }
    }

    /// Committed copies for `device` above `after`, oldest first, at most `limit`, and whether
    /// the settled tier must be read too.
    pub(crate) fn pending_with_tables(
        &self,
        device: &DeviceId,
        after: i64,
        limit: usize,
    ) -> HotPending {
        HotPending {
            copies: self.pending(device, after, limit),
            tables: self.settled.read(device),
        }
    }

    /// Committed copies for `device` above `after`, oldest first, at most `limit`.
    pub(crate) fn pending(&self, device: &DeviceId, after: i64, limit: usize) -> Vec<Delivery> {
        let Some(copies) = self.devices.get(device) else {
            return Vec::new();
        };
        let Some(from) = after.checked_add(1) else {
            return Vec::new();
        };
        copies
            .range(from..)
            .filter_map(|(seq, message)| {
                let hot = self.envelopes.get(message).filter(|h| h.committed)?;
                let e = &hot.envelope;
                Some(Delivery {
                    seq: *seq,
                    message: e.message,
                    conversation: e.conversation,
                    sender_account: e.sender_account,
                    sender_device: e.sender_device,
                    received_at: e.received_at,
                    body: e.body.clone(),
                })
            })
            .take(limit)
            .collect()
    }

    /// Whether a commit should also settle a slice.
    pub(crate) fn settle_due(&self, now: Instant) -> bool {
        self.envelopes.len() >= self.settle_at
            || self.body_bytes >= self.settle_bytes
            || self
                .rows
                .values()
                .next()
                .is_some_and(|row| now.saturating_duration_since(row.written) >= SETTLE_AGE)
    }

    /// Plans the next settle step: the committed envelopes of the next slice, or of the next
    /// few when the queue holds several times [`SETTLE_AT`] (so that it shrinks back however
    /// large the batches are), or of as many as it takes to bring the bodies held back under
    /// [`SETTLE_BYTES`] (slices hold about equal shares), with the copies still to deliver (those named in `acking` are
    /// acknowledged in the same transaction and count as gone), and the log rows that will
    /// then be wholly settled, with every older one.
    pub(crate) fn plan_settle(&mut self, acking: &HashSet<(DeviceId, i64)>) -> SettlePlan {
        let by_count = (self.envelopes.len() / self.settle_at.max(1)).min(MAX_SLICES_PER_STEP);
        let by_bytes = match self.body_bytes.checked_sub(self.settle_bytes) {
            Some(excess) if excess > 0 => {
                (excess.saturating_mul(SLICES)).div_ceil(self.body_bytes.max(1))
            }
            _ => 0,
        };
        let count = by_count.max(by_bytes).clamp(1, SLICES);
        let slices: Vec<usize> = (0..count).map(|i| (self.next_slice + i) % SLICES).collect();
        self.next_slice = (self.next_slice + count) % SLICES;
        let mut envelopes: Vec<(LoggedEnvelope, Vec<(DeviceId, i64)>)> = Vec::new();
        let mut settling: HashMap<i64, usize> = HashMap::new();
        for slice in &slices {
            let ids = self.slices.get(*slice).map_or(&[][..], Vec::as_slice);
            for id in ids {
                let Some(hot) = self.envelopes.get(id).filter(|h| h.committed) else {
                    continue;
                };
                let live: Vec<(DeviceId, i64)> = hot
                    .live
                    .iter()
                    .filter(|copy| !acking.contains(copy))
                    .copied()
                    .collect();
                // Named before the step commits (see `settled_devices`).
                for (device, _) in &live {
                    self.settled.adding(device);
                }
                *settling.entry(hot.row).or_insert(0) += 1;
                envelopes.push((hot.envelope.clone(), live));
            }
        }
        envelopes.sort_by(|a, b| a.0.message.as_bytes().cmp(b.0.message.as_bytes()));
        let mut delete_through = None;
        for (id, row) in &self.rows {
            if row.unsettled > settling.get(id).copied().unwrap_or(0) {
                break;
            }
            delete_through = Some(*id);
        }
        SettlePlan {
            slices,
            envelopes,
            delete_through,
        }
    }

    /// Applies a committed settle step.
    pub(crate) fn settled(&mut self, plan: &SettlePlan) {
        for (envelope, _) in &plan.envelopes {
            if let Some(hot) = self.envelopes.remove(&envelope.message) {
                self.body_bytes = self.body_bytes.saturating_sub(hot.envelope.body.len());
                for (device, seq) in &hot.live {
                    self.drop_copy(device, *seq);
                }
                if let Some(row) = self.rows.get_mut(&hot.row) {
                    row.unsettled = row.unsettled.saturating_sub(1);
                }
            }
        }
        if let Some(through) = plan.delete_through {
            self.rows.retain(|id, _| *id > through);
        }
        let envelopes = &self.envelopes;
        for slice in &plan.slices {
            if let Some(ids) = self.slices.get_mut(*slice) {
                // Also forgets ids of envelopes rolled back since they were listed.
                ids.retain(|id| envelopes.contains_key(id));
            }
        }
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    /// Envelope `n`: in slice `n / 4` (so 0–3 share slice 0).
    fn envelope(n: u8, copies: &[(u8, i64)]) -> LoggedEnvelope {
        let mut id = [7u8; 16];
        id[0] = n / 4;
        id[1] = n;
        LoggedEnvelope {
            message: MessageId::from_bytes(id),
            conversation: ConversationId::from_bytes([1; 16]),
            sender_account: AccountId::from_bytes([2; 32]),
            sender_device: DeviceId::from_bytes([3; 32]),
            received_at: 5,
            copies: copies
                .iter()
                .map(|(d, s)| (DeviceId::from_bytes([*d; 32]), *s))
                .collect(),
            body: vec![n; 10],
        }
    }

    fn dev(d: u8) -> DeviceId {
        DeviceId::from_bytes([d; 32])
    }

    #[test]
    fn readers_see_committed_copies_in_order_and_acks_remove_them() {
        let mut hot = HotQueue::default();
        hot.add_row(1, 2, Instant::now());
        hot.insert(envelope(0, &[(9, 11), (8, 12)]), 1, false);
        hot.insert(envelope(4, &[(9, 10)]), 1, false);
        assert!(hot.pending(&dev(9), 0, 10).is_empty(), "not committed yet");
        assert_eq!(hot.live(&dev(9)), 2, "the cap counts uncommitted copies");
        hot.commit(&[envelope(0, &[]).message, envelope(4, &[]).message]);
        let seqs: Vec<i64> = hot.pending(&dev(9), 0, 10).iter().map(|d| d.seq).collect();
        assert_eq!(seqs, vec![10, 11]);
        assert_eq!(hot.pending(&dev(9), 10, 10).len(), 1);
        assert_eq!(hot.pending(&dev(9), 0, 1).len(), 1);
        assert_eq!(hot.copy_of(&dev(9), &envelope(0, &[]).message), Some(11));
        assert!(hot.ack(&dev(9), 11));
        assert!(!hot.ack(&dev(9), 11), "a second ack finds nothing");
        assert_eq!(hot.copy_of(&dev(9), &envelope(0, &[]).message), None);
        assert_eq!(hot.pending(&dev(8), 0, 10)[0].body, vec![0; 10]);
        assert!(
            hot.contains(&envelope(0, &[]).message),
            "the id stays spent"
        );
    }

    #[test]
    fn a_rolled_back_batch_leaves_nothing() {
        let mut hot = HotQueue::default();
        hot.add_row(3, 1, Instant::now());
        hot.insert(envelope(0, &[(9, 1)]), 3, false);
        hot.roll_back(&[envelope(0, &[]).message], 3);
        assert_eq!(hot.len(), 0);
        assert_eq!(hot.live(&dev(9)), 0);
        assert!(hot.rows.is_empty());
    }

    #[test]
    fn settling_cycles_through_slices_and_deletes_only_a_settled_prefix() {
        let mut hot = HotQueue::default();
        // Row 1 holds an envelope of slice 0 and one of slice 1; row 2 one of slice 0.
        hot.add_row(1, 2, Instant::now());
        hot.insert(envelope(0, &[(9, 1)]), 1, true);
        hot.insert(envelope(4, &[(9, 2)]), 1, true);
        hot.add_row(2, 1, Instant::now());
        hot.insert(envelope(1, &[(9, 3), (8, 4)]), 2, true);
        let acking: HashSet<(DeviceId, i64)> = [(dev(8), 4)].into_iter().collect();
        let plan = hot.plan_settle(&acking);
        let ids: Vec<u8> = plan
            .envelopes
            .iter()
            .map(|e| e.0.message.as_bytes()[1])
            .collect();
        assert_eq!(ids, vec![0, 1], "slice 0, sorted by id");
        assert_eq!(
            plan.envelopes[1].1,
            vec![(dev(9), 3)],
            "the copy being acked is left out"
        );
        assert_eq!(plan.delete_through, None, "row 1 still holds slice 1");
        hot.settled(&plan);
        assert_eq!(hot.len(), 1);
        assert_eq!(hot.live(&dev(9)), 1);

        let plan = hot.plan_settle(&HashSet::new());
        assert_eq!(plan.envelopes.len(), 1);
        assert_eq!(
            plan.delete_through,
            Some(2),
            "both rows are now wholly settled"
        );
        hot.settled(&plan);
        assert!(hot.rows.is_empty());
        assert_eq!(hot.len(), 0);
    }

    #[test]
    fn a_queue_several_times_the_threshold_settles_several_slices_per_step() {
        let mut hot = HotQueue::new(2, SETTLE_BYTES);
        hot.add_row(1, 8, Instant::now());
        // Eight envelopes in slices 0, 1, .., 7 (two per slice would also do).
        for n in 0..8u8 {
            hot.insert(envelope(n * 4, &[(9, i64::from(n))]), 1, true);
        }
        let plan = hot.plan_settle(&HashSet::new());
        assert_eq!(plan.envelopes.len(), 4, "8 held / 2 = 4 slices");
        hot.settled(&plan);
        let plan = hot.plan_settle(&HashSet::new());
        assert_eq!(plan.envelopes.len(), 2, "4 held / 2 = 2 slices");
        assert_eq!(plan.delete_through, None);
        hot.settled(&plan);
        let plan = hot.plan_settle(&HashSet::new());
        assert_eq!(plan.envelopes.len(), 1);
        hot.settled(&plan);
        let plan = hot.plan_settle(&HashSet::new());
        assert_eq!(plan.delete_through, Some(1));
        hot.settled(&plan);
        assert_eq!(hot.len(), 0);
        assert!(hot.slices.iter().all(Vec::is_empty));
    }

    #[test]
    fn bodies_waiting_for_offline_devices_are_bounded_in_bytes() {
        // An envelope of 10 body bytes whose id starts with `first` (slice `first`), seq `first`.
        let spread = |first: u8| {
            let mut e = envelope(0, &[(9, i64::from(first))]);
            let mut id = *e.message.as_bytes();
            id[0] = first;
            id[1] = first;
            e.message = MessageId::from_bytes(id);
            e
        };
        // Budget 100 bytes; 40 envelopes over the id space hold 400.
        let mut hot = HotQueue::new(usize::MAX, 100);
        hot.add_row(1, 0, Instant::now());
        for n in 0..40u8 {
            hot.insert(spread(n * 6), 1, true);
        }
        assert_eq!(hot.body_bytes(), 400);
        assert!(hot.settle_due(Instant::now()), "over the byte budget");
        // 300 of 400 bytes over: 3/4 of the slices in one step (ids starting 0..=191).
        let plan = hot.plan_settle(&HashSet::new());
        assert_eq!(plan.slices.len(), SLICES * 3 / 4);
        assert_eq!(plan.envelopes.len(), 32);
        hot.settled(&plan);
        assert_eq!(hot.body_bytes(), 80);
        assert!(!hot.settle_due(Instant::now()));
        // Acknowledged or revoked copies give their bytes back; with no copy, no body is kept.
        assert!(hot.ack(&dev(9), 234));
        assert_eq!(hot.body_bytes(), 70);
        hot.forget_device(&dev(9));
        assert_eq!(hot.body_bytes(), 0);
        hot.insert(envelope(200, &[]), 1, true);
        assert_eq!(hot.body_bytes(), 0);
    }

    #[test]
    fn uncommitted_envelopes_are_not_settled_and_keep_their_row() {
        let mut hot = HotQueue::default();
        hot.add_row(1, 1, Instant::now());
        hot.insert(envelope(0, &[(9, 1)]), 1, false);
        let plan = hot.plan_settle(&HashSet::new());
        assert!(plan.envelopes.is_empty());
        assert_eq!(plan.delete_through, None);
    }

    #[test]
    fn a_revoked_device_loses_its_copies() {
        let mut hot = HotQueue::default();
        hot.add_row(1, 1, Instant::now());
        hot.insert(envelope(0, &[(9, 1), (8, 2)]), 1, true);
        hot.retain_devices(&[dev(8)].into_iter().collect());
        assert_eq!(hot.live(&dev(9)), 0);
        assert!(hot.pending(&dev(9), 0, 10).is_empty());
        assert_eq!(hot.pending(&dev(8), 0, 10).len(), 1);
    }

    #[test]
    fn settling_is_due_by_size_or_by_age() {
        let mut hot = HotQueue::default();
        let now = Instant::now();
        assert!(!hot.settle_due(now));
        hot.add_row(1, 0, now);
        assert!(!hot.settle_due(now));
        assert!(hot.settle_due(now + SETTLE_AGE));
    }
}
