//! Which devices may have copies in the settled tier (`deliveries` rows), so that reading a
//! queue skips the table for the others (D78).
//!
//! Most queues are empty or wholly hot: a connected device acknowledges its copies before they
//! settle. Reading such a queue from the table as well costs a statement on the sqlx pool's
//! thread and two thread switches: about a tenth of the server's time to admit a socket.
//!
//! The set is exact enough to skip a read only while this process owns the queue (only the
//! owner's writer thread adds settled copies). It is read from the table when the process takes
//! the queue ([`SettledDevices::known`]); before that every read goes to the table. From then on:
//!
//! - a transaction that may add settled copies for a device names it here **before** it commits
//!   ([`SettledDevices::adding`]), under the hot queue's lock, so a reader that finds a device
//!   absent has seen, in the same locked moment, every hot copy the device still has;
//! - a device leaves the set only when a reader found no row for it in a read that began after
//!   a moment when no such transaction was in flight and none began since
//!   ([`SettledDevices::emptied`] with the [`TablesMark`] of that moment). A transaction that
//!   began in between changes the epoch, and the reader's mark no longer counts.
//!
//! Deleting rows (acknowledgements, revocations, declines) never needs an update: a device left
//! in the set costs one read, never a missed copy.

use std::collections::HashSet;

use sotto_proto::ids::DeviceId;

use crate::store::backend::{TablesMark, TablesRead};

/// The devices that may have settled copies.
#[derive(Debug, Default)]
pub(crate) struct SettledDevices {
    /// `None` until this process owns the queue and has read the table.
    devices: Option<HashSet<DeviceId>>,
    /// Changes whenever a transaction that may add settled copies begins.
    epoch: u64,
    /// Whether such a transaction has begun and not yet ended.
    writing: bool,
}

impl SettledDevices {
    /// Known: exactly `devices` have rows in the table (read while owning the queue, before
    /// any transaction of this process could add one).
    pub(crate) fn known(devices: HashSet<DeviceId>) -> Self {
        Self {
            devices: Some(devices),
            epoch: 0,
            writing: false,
        }
    }

    /// What reading `device`'s queue must do about the table.
    pub(crate) fn read(&self, device: &DeviceId) -> TablesRead {
        match &self.devices {
            Some(devices) if !devices.contains(device) => TablesRead::Skip,
            Some(_) => TablesRead::Read((!self.writing).then_some(TablesMark(self.epoch))),
            None => TablesRead::Read(None),
        }
    }

    /// A transaction is about to add settled copies for `device` (called before its commit).
    pub(crate) fn adding(&mut self, device: &DeviceId) {
        self.epoch = self.epoch.wrapping_add(1);
        self.writing = true;
        if let Some(devices) = &mut self.devices {
            devices.insert(*device);
        }
    }

    /// The writer's transaction has committed or rolled back.
    pub(crate) fn written(&mut self) {
        self.writing = false;
    }

    /// A read that began after `mark` found no settled copy of `device`.
    pub(crate) fn emptied(&mut self, device: &DeviceId, mark: TablesMark) {
        if mark.0 != self.epoch || self.writing {
            return;
        }
        if let Some(devices) = &mut self.devices {
            devices.remove(device);
        }
    }

    /// Devices in the set; `None` while unknown.
    #[cfg(test)]
    pub(crate) fn len(&self) -> Option<usize> {
        self.devices.as_ref().map(HashSet::len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(n: u8) -> DeviceId {
        DeviceId::from_bytes([n; 32])
    }

    #[test]
    fn unknown_always_reads_the_table_and_never_learns() {
        let mut set = SettledDevices::default();
        assert_eq!(set.read(&device(1)), TablesRead::Read(None));
        set.adding(&device(1));
        set.written();
        assert_eq!(set.read(&device(1)), TablesRead::Read(None));
        assert_eq!(set.read(&device(2)), TablesRead::Read(None));
        assert_eq!(set.len(), None);
    }

    #[test]
    fn a_device_without_settled_copies_skips_the_table() {
        let set = SettledDevices::known(HashSet::from([device(1)]));
        assert!(matches!(set.read(&device(1)), TablesRead::Read(Some(_))));
        assert_eq!(set.read(&device(2)), TablesRead::Skip);
    }

    #[test]
    fn a_device_is_named_before_its_copies_commit() {
        let mut set = SettledDevices::known(HashSet::new());
        set.adding(&device(2));
        // Not committed yet: a reader must already read the table, and cannot clear it.
        assert_eq!(set.read(&device(2)), TablesRead::Read(None));
        set.written();
        let TablesRead::Read(Some(mark)) = set.read(&device(2)) else {
            panic!("the device must be read with a mark");
        };
        set.emptied(&device(2), mark);
        assert_eq!(set.read(&device(2)), TablesRead::Skip);
    }

    #[test]
    fn a_transaction_begun_after_the_mark_keeps_the_device() {
        let mut set = SettledDevices::known(HashSet::from([device(3)]));
        let TablesRead::Read(Some(mark)) = set.read(&device(3)) else {
            panic!("the device must be read with a mark");
        };
        // The reader found nothing, but meanwhile a settle step began (for any device) and may
        // have committed copies of device 3 after the read's snapshot.
        set.adding(&device(4));
        set.written();
        set.emptied(&device(3), mark);
        assert!(matches!(set.read(&device(3)), TablesRead::Read(Some(_))));
        assert_eq!(set.len(), Some(2));
    }

    #[test]
    fn a_mark_taken_while_writing_does_not_exist() {
        let mut set = SettledDevices::known(HashSet::from([device(5)]));
        set.adding(&device(6));
        assert_eq!(set.read(&device(5)), TablesRead::Read(None));
        set.written();
        assert!(matches!(set.read(&device(5)), TablesRead::Read(Some(_))));
    }
}
