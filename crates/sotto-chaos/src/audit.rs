//! The audit that ends every scenario: read every device's profile (the durable record of what
//! it displayed, in display order) and compare it with the plans. Every message sent must be
//! confirmed once to its sender and displayed exactly once on every other device of every
//! member, under the sender's message id, in the sender's order; nothing may stay held, queued
//! or undecryptable.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use crate::device::open_profile;
use crate::error::Result;
use crate::plan::Plan;
use crate::world::Device;

/// One scenario's figures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// The scenario.
    pub scenario: String,
    /// Messages in the plans.
    pub sent: usize,
    /// (device, message) displays the plans call for.
    pub expected: usize,
    /// Displays that happened exactly once.
    pub delivered: usize,
    /// Extra displays (and extra confirmations of one send).
    pub duplicated: usize,
    /// Displays that never happened, and sends never confirmed.
    pub lost: usize,
    /// Displays out of the sender's order.
    pub out_of_order: usize,
    /// Messages given up as undecryptable during the scenario.
    pub undecryptable: u64,
    /// Envelopes still held at the end.
    pub held: usize,
    /// Messages still in an outbox at the end.
    pub outbox: usize,
    /// Displays of something not sent to this device, or under another message id.
    pub unexpected: usize,
    /// Time from the end of the faults until every device had everything.
    pub converge: Option<Duration>,
    /// Connections the proxy cut (faults and storms).
    pub cuts: u64,
    /// Connections that went half-open.
    pub stalls: u64,
    /// Times the server was killed or stopped.
    pub server_downs: usize,
    /// Times a client process was killed.
    pub client_kills: usize,
    /// Times a device's session ended and it had to log in again (a user-visible failure).
    pub relogins: u64,
    /// What mallory's flood did (the `flood` scenario).
    pub flood: crate::flood::FloodTally,
    /// What the faults did, as text for the table.
    pub faults: String,
}

impl Tally {
    /// Whether the scenario kept every promise.
    pub fn clean(&self) -> bool {
        self.converge.is_some()
            && self.delivered == self.expected
            && self.duplicated == 0
            && self.lost == 0
            && self.out_of_order == 0
            && self.undecryptable == 0
            && self.held == 0
            && self.outbox == 0
            && self.unexpected == 0
            && self.relogins == 0
            && self.flood_bit()
    }

    /// Whether a flood, if this scenario has one, filled its victim's queue: the server
    /// refused mallory some copies. A flood that never reached the cap would show nothing.
    fn flood_bit(&self) -> bool {
        self.scenario != "flood" || self.flood.refused > 0
    }

    /// Adds `other`'s counts to this one (for totals).
    pub fn add(&mut self, other: &Tally) {
        self.sent += other.sent;
        self.expected += other.expected;
        self.delivered += other.delivered;
        self.duplicated += other.duplicated;
        self.lost += other.lost;
        self.out_of_order += other.out_of_order;
        self.undecryptable += other.undecryptable;
        self.held += other.held;
        self.outbox += other.outbox;
        self.unexpected += other.unexpected;
        self.relogins += other.relogins;
        self.converge = match (self.converge, other.converge) {
            (Some(a), Some(b)) => Some(a.max(b)),
            _ => None,
        };
    }
}

/// The text of message `seq` of `label` in `conversation` during `scenario`.
pub fn message_text(scenario: &str, label: &str, conversation: &str, seq: usize) -> String {
    format!("{scenario}|{label}|{conversation}|{seq:04}")
}

/// `(sender label, conversation label)` and sequence number of a chaos text.
fn parse(text: &str) -> Option<((String, String), usize)> {
    let mut parts = text.split('|').skip(1);
    let label = parts.next()?.to_owned();
    let conversation = parts.next()?.to_owned();
    let seq = parts.next()?.parse().ok()?;
    Some(((label, conversation), seq))
}

/// Audits `scenario` over `devices` and their plans; `before` is each device's undecryptable
/// count when the scenario started.
pub fn audit(
    scenario: &str,
    devices: &[(Device, Plan)],
    before: &BTreeMap<String, u64>,
) -> Result<Tally> {
    let prefix = format!("{scenario}|");
    let mut tally = Tally {
        scenario: scenario.to_owned(),
        ..Tally::default()
    };
    // What each device shows, in order: (device id of the sender, message id, text).
    let mut shown = Vec::new();
    let mut sender_ids = BTreeMap::new();
    for (device, plan) in devices {
        let client = open_profile(&device.profile, &device.label, None)?;
        // No device yet: none of the history is this device's own.
        let me = client.device_id();
        let entries: Vec<_> = client
            .history()
            .filter(|m| m.text.starts_with(&prefix))
            .map(|m| (m.device, m.id, m.text.to_string()))
            .collect();
        for (from, id, text) in &entries {
            if Some(*from) == me {
                sender_ids.insert(text.clone(), *id);
            }
        }
        tally.undecryptable += client
            .undecryptable()
            .saturating_sub(before.get(&device.label).copied().unwrap_or(0));
        tally.held += client.held();
        tally.outbox += client.outbox_len();
        shown.push((me, plan, entries));
    }
    for (me, plan, entries) in &shown {
        tally.sent += plan.sends.len();
        tally.expected += plan.expect.len();
        let mut own: BTreeMap<&str, usize> = BTreeMap::new();
        let mut got: BTreeMap<&str, usize> = BTreeMap::new();
        let mut last: BTreeMap<(String, String), usize> = BTreeMap::new();
        for (from, id, text) in entries {
            if Some(*from) == *me {
                *own.entry(text).or_default() += 1;
                continue;
            }
            let count = got.entry(text).or_default();
            *count += 1;
            if !plan.expect.contains(text) || sender_ids.get(text) != Some(id) {
                tally.unexpected += 1;
            }
            if *count == 1 {
                if let Some((key, seq)) = parse(text) {
                    if last.get(&key).is_some_and(|&previous| previous >= seq) {
                        tally.out_of_order += 1;
                    }
                    last.insert(key, seq);
                }
            }
        }
        for sent in &plan.sends {
            match own.get(sent.text.as_str()).copied().unwrap_or(0) {
                0 => tally.lost += 1,
                n => tally.duplicated += n - 1,
            }
        }
        for text in &plan.expect {
            match got.get(text.as_str()).copied().unwrap_or(0) {
                0 => tally.lost += 1,
                n => {
                    tally.delivered += 1;
                    tally.duplicated += n - 1;
                }
            }
        }
    }
    Ok(tally)
}

/// The figures as a table.
pub fn table(tallies: &[Tally]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<15} {:>5} {:>9} {:>9} {:>5} {:>5} {:>5} {:>7} {:>4} {:>6} {:>9}  faults",
        "scenario",
        "sent",
        "expected",
        "delivered",
        "dup",
        "lost",
        "order",
        "undecr",
        "held",
        "outbox",
        "converge"
    );
    for t in tallies {
        let converge = t
            .converge
            .map(|d| format!("{:.1}s", d.as_secs_f64()))
            .unwrap_or_else(|| "NEVER".to_owned());
        let _ = writeln!(
            out,
            "{:<15} {:>5} {:>9} {:>9} {:>5} {:>5} {:>5} {:>7} {:>4} {:>6} {:>9}  {}",
            t.scenario,
            t.sent,
            t.expected,
            t.delivered,
            t.duplicated,
            t.lost,
            t.out_of_order,
            t.undecryptable,
            t.held,
            t.outbox,
            converge,
            t.faults
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_carry_sender_conversation_and_order() {
        let text = message_text("storm", "alice1", "group", 7);
        assert_eq!(text, "storm|alice1|group|0007");
        assert_eq!(
            parse(&text),
            Some((("alice1".to_owned(), "group".to_owned()), 7))
        );
        assert_eq!(parse("storm|bad"), None);
    }

    #[test]
    fn a_tally_is_clean_only_when_every_promise_holds() {
        let good = Tally {
            sent: 3,
            expected: 6,
            delivered: 6,
            converge: Some(Duration::from_secs(1)),
            ..Tally::default()
        };
        assert!(good.clean());
        for bad in [
            Tally {
                duplicated: 1,
                ..good.clone()
            },
            Tally {
                lost: 1,
                ..good.clone()
            },
            Tally {
                undecryptable: 1,
                ..good.clone()
            },
            Tally {
                out_of_order: 1,
                ..good.clone()
            },
            Tally {
                converge: None,
                ..good.clone()
            },
            Tally {
                delivered: 5,
                ..good.clone()
            },
            Tally {
                relogins: 1,
                ..good.clone()
            },
        ] {
            assert!(!bad.clean(), "{bad:?}");
        }
    }
}
