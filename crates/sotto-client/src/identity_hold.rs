//! Payloads held for the user's decision about one sender's changed identity (protocol §9.4,
//! decision D23). When the directory no longer shows the identity pinned for a payload's sender,
//! the payload is stored here, acknowledged, and the receive goes on: a server that swaps one
//! contact's key stalls that contact, not the inbox. Nothing of a held payload is shown or
//! remembered as seen. It is retried as if it had just arrived on every later receive (so once
//! the user accepted the new identity, or once the directory shows the pinned key again), it
//! never expires and it asks for no key. The user is told once per account, not per payload.

use std::collections::{BTreeMap, BTreeSet};

use sotto_proto::ids::AccountId;

use crate::api::unb64;
use crate::client::Client;
use crate::error::Result;
use crate::receive::Payload;
use crate::store::state::{Held, IdentityHold};
use crate::sync::{Event, Incoming, Pass, ReceiveOptions, ReceiveSummary};

impl Client {
    /// Stores a payload until its sender's identity is settled (after the others, in order).
    pub(crate) fn hold_for_identity(
        &mut self,
        relayed_id: &str,
        envelope: &str,
        payload: &Payload,
        hold: IdentityHold,
        on_event: &mut dyn FnMut(Event),
        summary: &mut ReceiveSummary,
    ) -> Result<()> {
        let sender = hold.sender;
        let entry = self.held_entry(relayed_id, envelope, payload, Some(hold))?;
        if self.state.held.hold_for_identity(entry).is_err() {
            self.state.undecryptable += 1;
            self.save_before_ack();
            summary.failed += 1;
            on_event(Event::Failure {
                message_id: payload.message_id(relayed_id),
                from: sender.to_string(),
                reason: "identity-hold-full",
            });
            return Ok(());
        }
        self.save_before_ack();
        Ok(())
    }

    /// Retries the payloads held for an identity decision (those claiming `only` as sender, or
    /// all), oldest first, exactly as if they had just arrived. A sender whose identity is still
    /// changed is looked up once per pass: all its payloads keep waiting, in their order.
    pub(crate) async fn retry_identity_held(
        &mut self,
        only: Option<AccountId>,
        options: &ReceiveOptions,
        on_event: &mut dyn FnMut(Event),
        summary: &mut ReceiveSummary,
    ) -> Result<()> {
        let held = self.state.held.identity_held(only);
        let mut still_changed = BTreeSet::new();
        for entry in held {
            let Some(hold) = entry.identity.clone() else {
                continue;
            };
            if still_changed.contains(&hold.sender) {
                continue;
            }
            // Out of the hold before processing: whatever the processing stores is saved
            // together with the removal, so a crash never shows it twice nor loses it.
            let Some((index, _)) = self.state.held.take_identity_held(&entry.envelope) else {
                continue;
            };
            let payload = unb64(&entry.envelope, "held payload")
                .ok()
                .and_then(|b| Payload::decode(&b));
            let Some(payload) = payload else {
                // It decoded when it was held: a damaged entry, dropped and counted.
                self.state.undecryptable += 1;
                self.save()?;
                continue;
            };
            let sender = hold.sender.to_string();
            let incoming = Incoming {
                message_id: &entry.message_id,
                sender: &sender,
                envelope: &entry.envelope,
                payload: &payload,
            };
            let mut pass = Pass {
                options,
                on_event,
                summary,
            };
            let outcome = self.process(incoming, &mut pass).await?;
            if let Some(again) = outcome {
                // Nothing was stored for it: back in its place (the pinned identity it waits
                // for may be another one now).
                self.state.held.put_back(
                    index,
                    Held {
                        identity: Some(again),
                        ..entry
                    },
                );
                still_changed.insert(hold.sender);
                self.save()?;
            }
        }
        Ok(())
    }

    /// Tells the user which accounts' payloads wait for an identity decision: once per account
    /// and receive (`told` is the receive's memory), again only if more were held since.
    pub(crate) fn report_identity_holds(
        &self,
        told: &mut BTreeMap<String, usize>,
        on_event: &mut dyn FnMut(Event),
    ) {
        let by_name = self.state.held.identity_held_by_name();
        told.retain(|name, _| by_name.contains_key(name.as_str()));
        for (username, held) in by_name {
            if told.get(username).is_some_and(|&n| n >= held.len()) {
                continue;
            }
            told.insert(username.to_owned(), held.len());
            let messages = held
                .iter()
                .filter(|h| {
                    unb64(&h.envelope, "held payload")
                        .ok()
                        .and_then(|b| Payload::decode(&b))
                        .is_some_and(|p| matches!(p, Payload::Message(_)))
                })
                .count();
            let was_verified = held
                .first()
                .and_then(|h| h.identity.as_ref())
                .is_some_and(|i| self.state.pins.is_verified(i.pinned));
            on_event(Event::IdentityHeld {
                username: username.to_owned(),
                was_verified,
                messages,
                payloads: held.len(),
            });
        }
    }

    /// How many payloads wait for a decision about each pinned username's identity.
    pub fn held_for_identity(&self) -> BTreeMap<String, usize> {
        self.state.held.identity_counts()
    }
}
