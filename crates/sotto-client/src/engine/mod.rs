//! The client's state as types with pure methods: what this device queued, holds, pinned and
//! verified, and the rules that decide over it. Nothing here does I/O, awaits or reads a clock
//! (time is passed in), so each rule is unit-tested where it is written. The `impl Client`
//! methods are the driver around them: fetch from the network, call a method here, persist the
//! snapshot, send. The same split as the web client's engine (`web/src/lib/engine/`: `Outbox`,
//! `HeldPayloads`, `Directory`).
//!
//! # Layout
//! - [`outbox`]: [`Outbox`], messages not yet confirmed by the server and which may go next.
//! - [`held`]: [`HeldPayloads`], payloads waiting for a key, an answer or the user, and when to
//!   retry, ask for or give up each.
//! - [`pins`]: [`Pins`], master keys pinned on first use, confirmed by safety number, and when
//!   the directory shows a changed identity.
//! - [`directory`]: [`Directory`], devices verified during a run and the refused directory
//!   entries to warn about.

pub mod directory;
pub mod held;
pub mod outbox;
pub mod pins;

pub use directory::Directory;
pub use held::HeldPayloads;
pub use outbox::Outbox;
pub use pins::Pins;
