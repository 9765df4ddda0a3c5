//! The sync loop: connect the WebSocket, take every queued payload, handle it, store the result
//! durably, and only then acknowledge it, so a crash never loses a message (it is delivered
//! again and dropped as already seen). Also runs the outbox, the exchange-key rotation, the
//! retry of held envelopes and the key requests for chains that never arrived. Payloads whose
//! sender's identity changed wait for the user in `identity_hold`; the loop goes on. Payloads
//! whose check needed a server answer that does not verify wait with the key-held ones (retried,
//! expired alike); only the transport failing stops the loop (protocol §9.4).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sotto_proto::attachment::decrypt_attachment;
use sotto_proto::envelope::Envelope;
use sotto_proto::ids::{ChainId, ConversationId, MessageId};

use crate::api::unb64;
use crate::client::Client;
use crate::engine::held::Due;
use crate::error::{Error, Result};
use crate::receive::{Opened, Payload, Refused};
use crate::store::state::{Amendment, Delivered, Held, IdentityHold, Notice};
use crate::ws::{ServerFrame, Socket};

/// How often the loop wakes up to check timers when the socket is quiet.
const TICK: Duration = Duration::from_millis(250);
/// How often the socket is pinged.
const KEEPALIVE: Duration = Duration::from_secs(25);
/// How long a ping may go unanswered (no frame at all) before the socket counts as dead.
const DEAD_AFTER: Duration = Duration::from_secs(10);
/// Payloads acknowledged in one frame at most while more are waiting; fewer when the socket has
/// nothing more ready. Well below the server's delivery window (256 by default), so the server
/// always has room to write the next ones while these are processed.
const ACK_BATCH: usize = 64;

/// Something the user should see. Exhaustive, so a new event is a compile error in every
/// front end that must show it.
#[derive(Debug)]
pub enum Event {
    /// The WebSocket is open and authenticated: the device is online (shown to the user).
    Connected,
    /// A decrypted message.
    Message(Box<Delivered>),
    /// An edit, delete or reaction of a stored message, checked and applied (§8.5, §8.6).
    Amended(Box<Amendment>),
    /// A conversation's verified log changed (members, admins, name): front ends refresh it.
    ConversationChanged {
        /// The conversation.
        conversation: ConversationId,
    },
    /// A verified change took this account out of a conversation (or it left from another
    /// device): it stays readable, nothing is sent there any more.
    Removed {
        /// The conversation.
        conversation: ConversationId,
        /// Its name (or the placeholder of an unnamed group).
        group: String,
        /// Who signed the removal.
        by: String,
        /// Whether this account left by itself.
        left: bool,
    },
    /// A message or key that failed verification (never shown as text).
    Failure {
        /// `msg:…` as relayed.
        message_id: String,
        /// `acct:…` of the claimed sender.
        from: String,
        /// The stable reason code.
        reason: &'static str,
    },
    /// A message seen before, dropped.
    Replay {
        /// `msg:…`.
        message_id: String,
    },
    /// Messages missing from a sender's chain.
    Gap {
        /// The sender.
        from: String,
        /// How many.
        missing: usize,
    },
    /// A message waiting for its key.
    Held {
        /// `msg:…`.
        message_id: String,
    },
    /// Payloads claiming to come from one account are held, not shown, until the user reviews
    /// that account's changed identity (by safety number) or the directory shows the pinned
    /// key again. Reported once per account and receive (again only if more were held since),
    /// never once per payload.
    IdentityHeld {
        /// The name the identity was pinned under.
        username: String,
        /// Whether the pinned identity had been confirmed by safety number.
        was_verified: bool,
        /// How many of the held payloads are messages (the others carry keys).
        messages: usize,
        /// How many payloads are held for this account in all.
        payloads: usize,
    },
    /// The sender was asked to send a missing key again.
    KeyRequested {
        /// `msg:…` of the held message.
        message_id: String,
    },
    /// An attachment could not be fetched or decrypted.
    AttachmentFailed {
        /// `msg:…`.
        message_id: String,
        /// Why.
        reason: String,
    },
    /// A message of this device's outbox could not be sent because of the server's answer (a
    /// group log or directory entry that does not verify, a refusal that may pass): it stays in
    /// the outbox, ahead of its conversation's later messages, and is tried again by the next
    /// receive or send.
    NotSentYet {
        /// `msg:…`.
        message_id: String,
        /// Why.
        reason: String,
    },
    /// Another device of the account handed this one its keys (protocol §16): messages sent
    /// before this device existed, and on chains not rotated since, can be read.
    HandedOver {
        /// Hand-overs taken.
        opened: usize,
        /// Hand-overs refused (they did not verify or open).
        refused: usize,
        /// Chain keys new to this device.
        chains: usize,
    },
    /// This device's new exchange key could not be published because of the server's answer;
    /// the next receive tries again (until then, new distributions use the previous key).
    ExchangeKeyNotPublished {
        /// Why.
        reason: String,
    },
    /// New one-time prekeys could not be uploaded because of the server's answer; the next
    /// receive tries again (until then, senders use this device's last-resort prekey).
    PrekeysNotUploaded {
        /// Why.
        reason: String,
    },
    /// A version-1 key distribution to an exchange key this device certified with a version-2
    /// certificate (`receive/downgrade`, §18.7): refused, never used. Whoever sent it had the
    /// version-2 certificate, so the server (or the sender's device) tried to take the
    /// distribution back to version 1: evidence against the server, like a forked group log.
    Downgrade {
        /// `msg:…` as relayed.
        message_id: String,
        /// `acct:…` of the claimed sender.
        from: String,
    },
}

impl Event {
    /// The event of a refused payload: a [`Event::Downgrade`] for a downgraded distribution,
    /// else a [`Event::Failure`] with the refusal's code.
    pub(crate) fn refused(message_id: String, from: String, reason: &'static str) -> Self {
        if reason == crate::receive::DOWNGRADE {
            Self::Downgrade { message_id, from }
        } else {
            Self::Failure {
                message_id,
                from,
                reason,
            }
        }
    }
}

/// How long to receive and where to put files.
#[derive(Debug, Clone)]
pub struct ReceiveOptions {
    /// Keep receiving until this much time has passed.
    pub wait: Duration,
    /// Stop once the socket has been quiet this long (after `wait`).
    pub quiet: Duration,
    /// Where attachments are saved.
    pub download_dir: PathBuf,
    /// Ask for a missing key after a message has been held this long.
    pub key_request_after: Duration,
    /// Count a held message as undecryptable after this long.
    pub give_up_after: Duration,
    /// Ping the server this often.
    pub keepalive: Duration,
    /// A ping unanswered this long means a dead (half-open) connection: the receive fails so
    /// the caller reconnects, instead of waiting on a socket that will never deliver again.
    pub dead_after: Duration,
}

impl ReceiveOptions {
    /// Defaults for a one-shot receive into `download_dir`.
    pub fn new(download_dir: PathBuf) -> Self {
        Self {
            wait: Duration::ZERO,
            quiet: Duration::from_millis(1500),
            download_dir,
            key_request_after: Duration::from_secs(3),
            give_up_after: Duration::from_secs(7 * 24 * 3600),
            keepalive: KEEPALIVE,
            dead_after: DEAD_AFTER,
        }
    }
}

/// One payload as relayed, or as taken back out of an identity hold: what
/// [`Client::process`] works on.
#[derive(Clone, Copy)]
pub(crate) struct Incoming<'a> {
    /// `msg:…` as the relay gave it (unauthenticated).
    pub message_id: &'a str,
    /// `acct:…` the relay says sent it (unauthenticated; for a held payload, the sender it
    /// claims).
    pub sender: &'a str,
    /// The payload's wire text (base64), as stored when it is held.
    pub envelope: &'a str,
    /// The decoded payload.
    pub payload: &'a Payload,
}

/// One receive in progress: its options, where its events go, its running totals.
pub(crate) struct Pass<'a> {
    /// How long to receive and where to put files.
    pub options: &'a ReceiveOptions,
    /// Where events for the user go.
    pub on_event: &'a mut dyn FnMut(Event),
    /// What the receive did so far.
    pub summary: &'a mut ReceiveSummary,
}

/// What a receive did.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReceiveSummary {
    /// Messages shown.
    pub delivered: usize,
    /// Payloads refused.
    pub failed: usize,
}

impl Client {
    /// Receives until `options.wait` has passed and the socket is quiet, reporting `Event`s.
    pub async fn receive(
        &mut self,
        options: &ReceiveOptions,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<ReceiveSummary> {
        let mut result = self.receive_inner(options, on_event).await;
        if result.is_ok() {
            // What this receive learned goes to the key backup; a failure waits for the next.
            self.flush_backup_quietly().await;
        }
        // Whatever ended the receive, what it recorded is kept (a payload not acknowledged is
        // delivered again and meets its own record: held once, replayed, refused again).
        if let Err(error) = self.save_pending() {
            if result.is_ok() {
                result = Err(error);
            }
        }
        if matches!(
            result,
            Err(Error::Api {
                code: crate::api::ErrorCode::Unauthorized,
                ..
            })
        ) {
            self.forget_access_token();
        }
        result
    }

    async fn receive_inner(
        &mut self,
        options: &ReceiveOptions,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<ReceiveSummary> {
        let mut summary = ReceiveSummary::default();
        // Each run checks groups and devices afresh (a long-lived caller polls repeatedly).
        self.fresh.clear();
        self.directory.forget_devices();
        // Which conversations are requests, so that their messages say so.
        self.learn_requests().await?;
        // What this device publishes and sends first must not keep it from reading: an answer
        // that refuses it (anything but a transport failure, §9.4) is reported and left for
        // the next receive.
        if let Err(error) = self.ensure_exchange_key().await {
            if !error.is_refused_answer() {
                return Err(error);
            }
            on_event(Event::ExchangeKeyNotPublished {
                reason: error.to_string(),
            });
        }
        if let Err(error) = self.ensure_prekeys().await {
            if !error.is_refused_answer() {
                return Err(error);
            }
            on_event(Event::PrekeysNotUploaded {
                reason: error.to_string(),
            });
        }
        if let Err((message_id, error)) = self.flush_outbox_items().await {
            if !error.is_refused_answer() {
                return Err(error);
            }
            on_event(Event::NotSentYet {
                message_id: message_id.to_string(),
                reason: error.to_string(),
            });
        }
        // Keys handed over by another device of the account, before the held envelopes that
        // may need them are retried (protocol §16.1 step 4).
        self.take_handovers(on_event).await?;
        self.drain_inbox(&options.download_dir, on_event, &mut summary)
            .await?;
        // Identity holds first: a released distribution may be what a key-held envelope needs.
        self.retry_identity_held(None, options, on_event, &mut summary)
            .await?;
        self.retry_held(None, options, on_event, &mut summary)
            .await?;
        let mut told = BTreeMap::new();
        self.report_identity_holds(&mut told, on_event);
        let ticket = self.ws_ticket().await?;
        let mut socket = Socket::connect(&self.api, &ticket).await?;
        on_event(Event::Connected);
        let start = tokio::time::Instant::now();
        let deadline = start + options.wait;
        let mut last_frame = start;
        let mut last_ping = start;
        // When the oldest ping not followed by any frame was sent.
        let mut unanswered: Option<tokio::time::Instant> = None;
        // Processed payloads not acknowledged yet: they are acknowledged together, after one
        // write of the state that records them (§9.4: stored durably, then acknowledged).
        let mut done: Vec<MessageId> = Vec::new();
        loop {
            if last_ping.elapsed() >= options.keepalive {
                socket.ping().await?;
                last_ping = tokio::time::Instant::now();
                unanswered.get_or_insert(last_ping);
            }
            if unanswered.is_some_and(|at| at.elapsed() >= options.dead_after) {
                // Writes still succeed on a half-open connection; only silence shows it. The
                // pooled HTTP connections took the same dead path: start a fresh pool, or the
                // next requests would each wait out the request timeout.
                self.reset_connections()?;
                return Err(Error::TimedOut {
                    what: "the server to answer a ping (the connection is dead)",
                });
            }
            // Acknowledged in batches while more is ready, and always before waiting: the
            // server writes no more than its window ahead of the acknowledgements.
            if done.len() >= ACK_BATCH || !socket.has_ready() {
                self.acknowledge(&mut socket, &mut done).await?;
            }
            let frame = socket.next(TICK).await?;
            if frame.is_some() {
                unanswered = None;
            }
            match frame {
                Some(ServerFrame::Envelope {
                    message_id,
                    sender_account,
                    envelope,
                    ..
                }) => {
                    last_frame = tokio::time::Instant::now();
                    self.handle(
                        &message_id.to_string(),
                        &sender_account.to_string(),
                        &envelope,
                        options,
                        on_event,
                        &mut summary,
                    )
                    .await?;
                    done.push(message_id);
                }
                Some(ServerFrame::Error {
                    error: crate::api::ErrorCode::Unauthorized,
                    ..
                }) => return Err(Error::SessionEnded),
                // Another device of the account handed this one its keys: take them, then
                // retry what was held for want of them.
                Some(ServerFrame::Handover) => {
                    self.take_handovers(on_event).await?;
                    self.retry_held(None, options, on_event, &mut summary)
                        .await?;
                }
                // A group log changed (a member added or removed, this account among them, a
                // rename): the log is fetched and verified at once, so an invitee sees the group
                // and a removed member learns who removed it.
                Some(ServerFrame::Conversation { conversation }) => {
                    self.conversation_changed(conversation, on_event).await?;
                }
                // Pongs and signals prove the socket alive but are not traffic: counting them
                // would keep a receive with a short keep-alive from ever going quiet.
                Some(_) => {}
                None => {
                    self.held_timers(options, on_event, &mut summary).await?;
                    // Told when the socket goes quiet, so a burst of held payloads is one notice.
                    self.report_identity_holds(&mut told, on_event);
                    let now = tokio::time::Instant::now();
                    if now >= deadline && now.duration_since(last_frame) >= options.quiet {
                        break;
                    }
                }
            }
        }
        self.acknowledge(&mut socket, &mut done).await?;
        socket.close().await;
        // What the retention of each conversation no longer allows to keep (§6.7).
        self.apply_retention()?;
        Ok(summary)
    }

    /// Takes the hand-overs waiting for this device; a server answer that refuses them is
    /// reported and left for the next receive.
    async fn take_handovers(&mut self, on_event: &mut dyn FnMut(Event)) -> Result<()> {
        match self.receive_handovers().await {
            Ok(report) => {
                if report.opened > 0 || report.refused > 0 {
                    on_event(Event::HandedOver {
                        opened: report.opened,
                        refused: report.refused,
                        chains: report.taken.chains,
                    });
                }
                Ok(())
            }
            Err(error) if error.is_refused_answer() => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// Brings the log of `conversation` up to date after the server said it changed, and
    /// tells the user when the verified log took this account out. A log that does not verify
    /// is left for the next fetch (it is checked again whenever the conversation is used).
    async fn conversation_changed(
        &mut self,
        conversation: ConversationId,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<()> {
        let before = self.removal(conversation);
        self.fresh.remove(&conversation.to_string());
        match self.sync_group(conversation).await {
            Ok(_) => {}
            Err(error) if error.is_refused_answer() => return Ok(()),
            Err(error) => return Err(error),
        }
        // Invited: the conversation may be a request (its messages say so).
        self.learn_requests().await?;
        match self.removal(conversation) {
            Some(removal) if before != Some(removal) => {
                let Error::Removed { group, by, left } = self.removed_error(conversation, removal)
                else {
                    return Ok(());
                };
                on_event(Event::Removed {
                    conversation,
                    group,
                    by,
                    left,
                });
            }
            _ => on_event(Event::ConversationChanged { conversation }),
        }
        Ok(())
    }

    /// Writes what the processed payloads changed, then acknowledges them (their copies are
    /// deleted from the server's queue and the server may write the next ones).
    async fn acknowledge(&mut self, socket: &mut Socket, done: &mut Vec<MessageId>) -> Result<()> {
        if done.is_empty() {
            return Ok(());
        }
        self.save_pending()?;
        socket.ack(done).await?;
        done.clear();
        Ok(())
    }

    async fn handle(
        &mut self,
        message_id: &str,
        sender: &str,
        envelope: &str,
        options: &ReceiveOptions,
        on_event: &mut dyn FnMut(Event),
        summary: &mut ReceiveSummary,
    ) -> Result<()> {
        let Some(payload) = unb64(envelope, "payload")
            .ok()
            .and_then(|b| Payload::decode(&b))
        else {
            self.state.undecryptable += 1;
            self.save_before_ack();
            summary.failed += 1;
            on_event(Event::Failure {
                message_id: message_id.to_owned(),
                from: sender.to_owned(),
                reason: "decode",
            });
            return Ok(());
        };
        if self.state.held.is_held(envelope) {
            // The same bytes again: one copy waits. A copy that differs (a tampered one) is held
            // on its own, and whichever verifies when retried is the one shown.
            on_event(Event::Replay {
                message_id: payload.message_id(message_id),
            });
            return Ok(());
        }
        let claimed = payload.claimed_sender();
        let mut hold = None;
        if self.state.held.identity_held_from(claimed).is_some() {
            // A sender's payloads stay in order: earlier ones waiting for an identity decision
            // go first (the directory may show the pinned key again), and while they still wait
            // a later one waits behind them.
            self.retry_identity_held(Some(claimed), options, on_event, summary)
                .await?;
            hold = self.state.held.identity_held_from(claimed).cloned();
        }
        if hold.is_none() {
            let incoming = Incoming {
                message_id,
                sender,
                envelope,
                payload: &payload,
            };
            let mut pass = Pass {
                options,
                on_event,
                summary,
            };
            hold = self.process(incoming, &mut pass).await?;
        }
        if let Some(hold) = hold {
            self.hold_for_identity(message_id, envelope, &payload, hold, on_event, summary)?;
        }
        Ok(())
    }

    /// Processes one payload, as it arrives or as it is retried from an identity hold; stores
    /// the result. Returns why it must wait for the user instead, if it must: the caller decides
    /// where it waits.
    pub(crate) async fn process(
        &mut self,
        incoming: Incoming<'_>,
        pass: &mut Pass<'_>,
    ) -> Result<Option<IdentityHold>> {
        let Incoming {
            message_id,
            sender,
            envelope,
            payload,
        } = incoming;
        let options = pass.options;
        let on_event = &mut *pass.on_event;
        let summary = &mut *pass.summary;
        let failure = |reason| Event::refused(message_id.to_owned(), sender.to_owned(), reason);
        match payload {
            Payload::Message(env) => {
                // The header's id is authenticated; the relay's may not match it.
                let id = env.header().message_id;
                if self.state.has_seen(id) {
                    on_event(Event::Replay {
                        message_id: id.to_string(),
                    });
                    return Ok(None);
                }
                match self.open_message(env).await? {
                    Opened::Delivered { gap } => {
                        self.state.remember(id);
                        self.save()?;
                        if gap > 0 {
                            // The signed sender, not the relay's unauthenticated metadata.
                            let signed = env.header().sender_account;
                            let from = self.username_of(signed).unwrap_or(signed.to_string());
                            on_event(Event::Gap { from, missing: gap });
                        }
                        self.drain_inbox(&options.download_dir, on_event, summary)
                            .await?;
                    }
                    Opened::Hold => {
                        let held_at = self.now()?.millis();
                        self.state.held.hold(Held::new(
                            id.to_string(),
                            env.header().conversation,
                            envelope.to_owned(),
                            held_at,
                            None,
                        ));
                        self.state.remember(id);
                        self.save_before_ack();
                        on_event(Event::Held {
                            message_id: id.to_string(),
                        });
                    }
                    Opened::Wait => {
                        self.hold_for_answer(message_id, envelope, payload)?;
                        on_event(Event::Held {
                            message_id: id.to_string(),
                        });
                    }
                    // Nothing of it was verified: its id is not remembered (see `Failed`).
                    Opened::Identity(hold) => return Ok(Some(hold)),
                    Opened::Replay => on_event(Event::Replay {
                        message_id: id.to_string(),
                    }),
                    Opened::Failed(reason) => {
                        // The id of a refused envelope is not authenticated: remembering it
                        // would let a relay drop the genuine message by sending a tampered
                        // copy first.
                        self.state.undecryptable += 1;
                        self.save_before_ack();
                        summary.failed += 1;
                        on_event(failure(reason));
                    }
                }
            }
            Payload::Distribution(kdm) => match self.accept_distribution(kdm).await? {
                Ok(accepted) => {
                    self.save()?;
                    if accepted.missing > 0 {
                        on_event(Event::Gap {
                            from: accepted.from,
                            missing: accepted.missing,
                        });
                    }
                    self.retry_held(Some(accepted.chain), options, on_event, summary)
                        .await?;
                }
                Err(Refused::Failed(reason)) => {
                    summary.failed += 1;
                    on_event(failure(reason));
                }
                Err(Refused::Identity(hold)) => return Ok(Some(hold)),
                Err(Refused::Wait) => {
                    self.hold_for_answer(message_id, envelope, payload)?;
                    on_event(Event::Held {
                        message_id: payload.message_id(message_id),
                    });
                }
            },
            Payload::Request(signed, request) => {
                match self.answer_request(signed, request).await? {
                    Ok(()) => {}
                    Err(Refused::Failed(reason)) => on_event(failure(reason)),
                    Err(Refused::Identity(hold)) => return Ok(Some(hold)),
                    Err(Refused::Wait) => {
                        self.hold_for_answer(message_id, envelope, payload)?;
                        on_event(Event::Held {
                            message_id: payload.message_id(message_id),
                        });
                    }
                }
            }
        }
        Ok(None)
    }

    /// Stores a payload that waits for a server answer that verifies ([`Opened::Wait`]) with the
    /// key-held ones: retried on later receives, given up like them. Nothing of it was verified,
    /// so its id is not remembered as seen (a tampered copy relayed first must not shadow the
    /// genuine payload); the same bytes are not held twice.
    fn hold_for_answer(
        &mut self,
        relayed_id: &str,
        envelope: &str,
        payload: &Payload,
    ) -> Result<()> {
        if !self.state.held.is_held(envelope) {
            let entry = self.held_entry(relayed_id, envelope, payload, None)?;
            self.state.held.hold_for_answer(entry);
        }
        self.save_before_ack();
        Ok(())
    }

    /// A new held entry for `payload` (relayed as `relayed_id`, wire text `envelope`), held from
    /// now, waiting for a decision about `identity` if given.
    pub(crate) fn held_entry(
        &self,
        relayed_id: &str,
        envelope: &str,
        payload: &Payload,
        identity: Option<IdentityHold>,
    ) -> Result<Held> {
        Ok(Held::new(
            payload.message_id(relayed_id),
            payload.conversation(),
            envelope.to_owned(),
            self.now()?.millis(),
            identity,
        ))
    }

    /// Retries payloads held for a key, an epoch or a server answer: the envelopes of `chain`,
    /// or (with `None`) everything, distributions and key requests before envelopes so that an
    /// envelope finds the key a released distribution carries.
    async fn retry_held(
        &mut self,
        chain: Option<ChainId>,
        options: &ReceiveOptions,
        on_event: &mut dyn FnMut(Event),
        summary: &mut ReceiveSummary,
    ) -> Result<()> {
        let mut held: Vec<(Held, Payload)> = Vec::new();
        for entry in self
            .state
            .held
            .waiting_for_key()
            .cloned()
            .collect::<Vec<_>>()
        {
            match unb64(&entry.envelope, "held")
                .ok()
                .and_then(|b| Payload::decode(&b))
            {
                Some(payload) => held.push((entry, payload)),
                None => self.state.held.forget_key_held(&entry.message_id),
            }
        }
        held.sort_by_key(|(_, payload)| matches!(payload, Payload::Message(_)));
        for (entry, payload) in held {
            let from = payload.claimed_sender().to_string();
            let outcome = match &payload {
                Payload::Message(env) if chain.is_none_or(|c| c == env.header().chain) => {
                    self.open_message(env).await?
                }
                Payload::Distribution(kdm) if chain.is_none() => {
                    match self.accept_distribution(kdm).await? {
                        Ok(accepted) => {
                            if accepted.missing > 0 {
                                on_event(Event::Gap {
                                    from: accepted.from,
                                    missing: accepted.missing,
                                });
                            }
                            Opened::Delivered { gap: 0 }
                        }
                        Err(refused) => refused.into(),
                    }
                }
                Payload::Request(signed, request) if chain.is_none() => {
                    match self.answer_request(signed, request).await? {
                        Ok(()) => Opened::Delivered { gap: 0 },
                        Err(refused) => refused.into(),
                    }
                }
                _ => continue,
            };
            if matches!(outcome, Opened::Hold | Opened::Wait) {
                continue;
            }
            self.state.held.forget_key_held(&entry.message_id);
            match outcome {
                // A message held for a server answer was not remembered as seen; now it is.
                Opened::Delivered { .. } => {
                    if let Payload::Message(env) = &payload {
                        self.state.remember(env.header().message_id);
                    }
                }
                // Its sender verified when it was held; now the directory shows another key.
                // It moves from the key wait to the identity wait, and its id is forgotten as
                // for any payload held for an identity (it is checked again when retried).
                Opened::Identity(hold) => {
                    // Only a message's (signed) id is ever remembered.
                    if let Payload::Message(env) = &payload {
                        self.state.forget(env.header().message_id);
                    }
                    self.state.held.move_to_identity_wait(entry.clone(), hold);
                }
                Opened::Failed(reason) => {
                    // As when it arrived: a refused key request is reported, not counted.
                    if !matches!(payload, Payload::Request(..)) {
                        self.state.undecryptable += 1;
                        summary.failed += 1;
                    }
                    on_event(Event::refused(entry.message_id.clone(), from, reason));
                }
                Opened::Replay => on_event(Event::Replay {
                    message_id: entry.message_id.clone(),
                }),
                _ => {}
            }
            self.save()?;
        }
        self.drain_inbox(&options.download_dir, on_event, summary)
            .await
    }

    /// Sends key requests for long-held envelopes; gives up on very old ones.
    async fn held_timers(
        &mut self,
        options: &ReceiveOptions,
        on_event: &mut dyn FnMut(Event),
        summary: &mut ReceiveSummary,
    ) -> Result<()> {
        let now = self.now()?.millis();
        let due = self
            .state
            .held
            .due(now, options.key_request_after, options.give_up_after);
        for due in due {
            match due {
                Due::GiveUp(entry) => {
                    self.state.held.forget_key_held(&entry.message_id);
                    self.state.undecryptable += 1;
                    self.save()?;
                    summary.failed += 1;
                    on_event(Event::Failure {
                        message_id: entry.message_id.clone(),
                        from: String::new(),
                        reason: "no-key-arrived",
                    });
                }
                Due::AskForKey(entry) => {
                    // Only an envelope has a chain whose key can be asked for; a distribution
                    // or a key request waiting for a server answer just waits.
                    let is_envelope = unb64(&entry.envelope, "held")
                        .ok()
                        .is_some_and(|b| Envelope::decode(&b).is_ok());
                    let asked = if is_envelope {
                        match self.request_key(&entry).await {
                            Ok(()) => true,
                            // A server that refuses to relay the request stalls this one
                            // message (it is given up in time), not the receive.
                            Err(error) if error.is_refused_answer() => false,
                            Err(error) => return Err(error),
                        }
                    } else {
                        false
                    };
                    self.state.held.mark_requested(&entry.message_id);
                    self.save()?;
                    if asked {
                        on_event(Event::KeyRequested {
                            message_id: entry.message_id.clone(),
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// Hands every stored, not yet shown message to the user, then moves it to the history.
    async fn drain_inbox(
        &mut self,
        dir: &Path,
        on_event: &mut dyn FnMut(Event),
        summary: &mut ReceiveSummary,
    ) -> Result<()> {
        while let Some(mut message) = self.state.inbox.front().cloned() {
            if let Some(attachment) = message.attachment.as_mut() {
                if attachment.path.is_none() {
                    match self.fetch_attachment(message.id, attachment, dir).await {
                        Ok(path) => attachment.path = Some(path),
                        Err(error) => on_event(Event::AttachmentFailed {
                            message_id: message.id.to_string(),
                            reason: error.to_string(),
                        }),
                    }
                }
            }
            on_event(Event::Message(Box::new(message.clone())));
            summary.delivered += 1;
            self.state.inbox.pop_front();
            self.state.archive(message);
            self.save()?;
        }
        // After the messages they may name: what amendments did, and which were refused.
        while let Some(notice) = self.state.notices.pop_front() {
            match notice {
                Notice::Amended(amendment) => on_event(Event::Amended(amendment)),
                Notice::Refused {
                    message_id,
                    from,
                    reason,
                } => {
                    summary.failed += 1;
                    on_event(Event::Failure {
                        message_id: message_id.to_string(),
                        from: from.to_string(),
                        reason: reason.code(),
                    });
                }
            }
            self.save()?;
        }
        Ok(())
    }

    async fn fetch_attachment(
        &mut self,
        message_id: MessageId,
        attachment: &crate::store::state::IncomingAttachment,
        dir: &Path,
    ) -> Result<String> {
        let token = self.access_token().await?;
        let blob = self
            .api
            .download_attachment(
                &token,
                &attachment.blob_id,
                sotto_proto::attachment::blob_len(attachment.size),
            )
            .await?;
        let secret: [u8; 32] = attachment
            .secret
            .bytes()?
            .as_slice()
            .try_into()
            .map_err(|_| Error::CorruptStore {
                reason: "attachment secret",
            })?;
        let digest: [u8; 32] = hex::decode(&attachment.sha256)
            .ok()
            .and_then(|d| d.try_into().ok())
            .ok_or(Error::CorruptStore {
                reason: "attachment hash",
            })?;
        let plain = decrypt_attachment(&blob, &secret, &digest)?;
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            what: "creating the download folder",
            source,
        })?;
        // The id's first four bytes: the 8 hex digits after `msg:`.
        let short = message_id
            .as_bytes()
            .get(..4)
            .map_or_else(|| "file".to_owned(), hex::encode);
        let path = dir.join(format!("{short}-{}", safe_file_name(&attachment.file_name)));
        crate::store::file::write_atomically(&path, &plain)?;
        Ok(path.display().to_string())
    }
}

/// A file name that cannot leave the download folder or hide itself.
fn safe_file_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    let cleaned = cleaned.trim_start_matches('.').to_owned();
    if cleaned.is_empty() {
        "file".to_owned()
    } else {
        cleaned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_stay_in_the_folder() {
        assert_eq!(safe_file_name("../../etc/passwd"), "_.._etc_passwd");
        assert_eq!(safe_file_name(".hidden"), "hidden");
        assert_eq!(safe_file_name(""), "file");
        assert_eq!(safe_file_name("report.pdf"), "report.pdf");
    }
}
