//! The client's state as types with pure methods: what this device queued, holds, pinned and
//! verified, and the rules that decide over it. Nothing here does I/O, awaits or reads a clock
//! (time is passed in), so each rule is unit-tested where it is written. The `impl Client`
//! methods are the driver around them: fetch from the network, call a method here, persist the
//! snapshot, send. The same split as the web client's engine (`web/src/lib/engine/`: `Outbox`,
//! `HeldPayloads`, `Directory`).
//!
//! # Layout
//! - [`amend`]: edits, deletes and reactions of stored messages, checked and applied, and
//!   those waiting for their target ([`WaitingAmendments`]).
//! - [`outbox`]: [`Outbox`], messages not yet confirmed by the server and which may go next.
//! - [`held`]: [`HeldPayloads`], payloads waiting for a key, an answer or the user, and when to
//!   retry, ask for or give up each.
//! - [`pins`]: [`Pins`], master keys pinned on first use, confirmed by safety number, and when
//!   the directory shows a changed identity.
//! - [`directory`]: [`Directory`], devices verified during a run and the refused directory
//!   entries to warn about.
//! - [`history`]: [`HistoryKeys`], the start keys of every chain held, to open archived
//!   envelopes and to hand to the account's other devices.
//! - [`backup`]: [`Recovery`], the key-backup set-up this device writes to and its backlog.
//! - [`retention`]: retention as people write it (`7d`, `forever`).
//! - [`search`]: search over the stored messages' current texts.

pub mod amend;
pub mod backup;
pub mod directory;
pub mod held;
pub mod history;
pub mod outbox;
pub mod pins;
pub mod retention;
pub mod search;

pub use amend::WaitingAmendments;
pub use backup::Recovery;
pub use directory::Directory;
pub use held::HeldPayloads;
pub use history::HistoryKeys;
pub use outbox::Outbox;
pub use pins::Pins;
