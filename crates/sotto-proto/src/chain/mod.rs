//! Sender chains: the ratchet, the sending side and the receiving side.
//!
//! # Layout
//! - [`ratchet`]: chain key → message key, next chain key, AES key and nonce.
//! - [`sender`]: a chain this device sends on; two-step reserve-then-seal.
//! - [`receiver`]: every chain this device receives on; distributions, messages, replay, gaps.
//! - [`prekeys`]: this device's prekey private keys and the one-time prekeys it consumed.
//! - [`history`]: archived envelopes opened with a history key, without touching the receiver.

pub mod history;
pub mod persist;
pub mod prekeys;
pub mod ratchet;
pub mod receiver;
pub mod sender;

pub use history::{open_archived, ArchivedMessage};
pub use prekeys::{ConsumedPrekey, PrekeyRing};
pub use ratchet::{ChainKey, MessageKey};
pub use receiver::{
    DistributionAccepted, LocalDevice, OpenedMessage, ReceivedMessage, ReceiverChain,
    ReceiverState, RecordTaken,
};
pub use sender::{ReservedMessage, SenderChain};
