//! Conversation membership as a signed, hash-chained log of changes.
//!
//! # Layout
//! - [`change`]: the change structure and its operations.
//! - [`state`]: the verified state and the rules that move it forward.

pub mod change;
pub mod state;

pub use change::{GroupChange, GroupOp, Member};
pub use state::{change_hash, decode_signed_change, GroupState, MemberState};
