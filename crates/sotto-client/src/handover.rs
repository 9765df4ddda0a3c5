//! Device hand-over (`docs/protocol.md` §16): when this device approves a new device of its
//! account, it seals every chain key it holds, its pins and its groups' names to the new
//! device's exchange key; the new device opens what it is sent, takes the records (§15.1) and
//! retries the envelopes it held for want of a key. So a new device reads the messages sent
//! before it existed, and those sent on a chain its owner has not rotated yet.

use sotto_proto::bundle::{KeyBundle, Record, MAX_BUNDLE_RECORDS};
use sotto_proto::chain::LocalDevice;
use sotto_proto::handover::{open_handover, Handover, HandoverId};
use sotto_proto::identity::VerifiedDevice;
use sotto_proto::ids::DeviceId;

use crate::api::{unb64, DeviceView};
use crate::bundle::Taken;
use crate::client::Client;
use crate::error::Result;

/// Records per hand-over: the bundle's bound, far below 4 MiB for chains, pins and names (a
/// Chain record is 170 bytes); a hand-over that still comes out too long is split in two.
const HANDOVER_RECORDS: usize = MAX_BUNDLE_RECORDS;

/// What receiving hand-overs did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct HandoversTaken {
    /// Hand-overs opened and taken.
    pub opened: usize,
    /// Hand-overs refused (deleted unread).
    pub refused: usize,
    /// What their records gave.
    pub taken: Taken,
}

impl Client {
    /// Sends `device` (a device of this account just approved, whose certificate `certified`
    /// is) a hand-over of every chain key, pin and group name this device holds. Returns how
    /// many hand-overs went out; none when the device announced no exchange key (it is then
    /// sent keys as any new device is, by the next chains).
    pub(crate) async fn hand_over_to(
        &mut self,
        certified: &VerifiedDevice,
        view: &DeviceView,
    ) -> Result<usize> {
        let (account, device) = (certified.account(), certified.device());
        let seen = self.state.pins.seen_serial(account, device);
        let v2_seen = self.state.pins.seen_v2(account, device);
        let Ok(key) =
            crate::peers::verify_exchange_key(certified, view, self.now()?, seen, v2_seen)
        else {
            return Ok(0);
        };
        let mut records = Vec::new();
        for pending in self.everything(false) {
            if let Some(record) = self.record_of(pending)? {
                records.push(record);
            }
        }
        if records.is_empty() {
            return Ok(0);
        }
        let keys = self.device_keys()?;
        let token = self.access_token().await?;
        let mut sent = 0;
        let mut queue: Vec<Vec<Record>> = Vec::new();
        while !records.is_empty() {
            let rest = records.split_off(records.len().min(HANDOVER_RECORDS));
            queue.push(std::mem::replace(&mut records, rest));
        }
        while let Some(part) = queue.pop() {
            let bundle = KeyBundle::new(part);
            let sealed = {
                let mut env = self.env()?;
                let id = HandoverId::generate(&mut env)?;
                Handover::seal(&keys, certified, &key, id, &bundle, &mut env)
            };
            let handover = match sealed {
                Ok(handover) => handover,
                // Over 4 MiB: the same records in two hand-overs.
                Err(sotto_proto::Error::InvalidInput { .. }) if bundle.records.len() > 1 => {
                    let mut first = bundle.records;
                    let second = first.split_off(first.len() / 2);
                    queue.push(first);
                    queue.push(second);
                    continue;
                }
                Err(other) => return Err(other.into()),
            };
            self.api
                .send_handover(&token, certified.device(), &handover.encode())
                .await?;
            sent += 1;
        }
        Ok(sent)
    }

    /// Fetches, opens and takes the hand-overs addressed to this device, deleting each once
    /// taken (or refused: a hand-over that does not open never will).
    pub async fn receive_handovers(&mut self) -> Result<HandoversTaken> {
        let mut report = HandoversTaken::default();
        if !self.device_active() {
            return Ok(report);
        }
        let token = self.access_token().await?;
        let handovers = self.api.handovers(&token).await?;
        if handovers.is_empty() {
            return Ok(report);
        }
        let account = self.account_id()?;
        for view in handovers {
            match self.open_one(account, view.from, &view.handover).await? {
                Some(records) => {
                    let taken = self.take_records(records).await?;
                    report.opened += 1;
                    report.taken.chains += taken.chains;
                    report.taken.conflicts += taken.conflicts;
                    report.taken.pins += taken.pins;
                    report.taken.names += taken.names;
                }
                None => report.refused += 1,
            }
            let token = self.access_token().await?;
            self.api.delete_handover(&token, view.id).await?;
        }
        Ok(report)
    }

    /// Opens one hand-over (§16.1); `None` when it is refused.
    async fn open_one(
        &mut self,
        account: sotto_proto::ids::AccountId,
        from: DeviceId,
        wire: &str,
    ) -> Result<Option<Vec<Record>>> {
        let Ok(bytes) = unb64(wire, "hand-over") else {
            return Ok(None);
        };
        let Ok(handover) = Handover::decode(&bytes) else {
            return Ok(None);
        };
        if handover.header().sender_device != from {
            return Ok(None);
        }
        // The sender must be a verified, unrevoked device of this device's own account.
        let sender = match self.verified_device(account, from).await {
            Ok((_, sender)) => sender,
            Err(error) if error.is_refused_answer() => return Ok(None),
            Err(error) => return Err(error),
        };
        let (exchange_keys, prekeys) = self.keys_for_receive()?;
        let me = LocalDevice {
            account,
            device: self.device()?,
            exchange_keys: &exchange_keys,
            prekeys: &prekeys,
        };
        match open_handover(&handover, &sender, &me, self.now()?) {
            Ok(bundle) => Ok(Some(bundle.records)),
            Err(_) => Ok(None),
        }
    }
}
