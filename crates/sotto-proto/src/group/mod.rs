//! Conversation membership as a signed, hash-chained log of changes.
//!
//! # Layout
//! - [`change`]: the change structure and its operations.
//! - [`name`]: the group name, its commitment in the log and the body that reveals it.
//! - [`retention`]: how long the conversation's messages are kept.
//! - [`state`]: the verified state and the rules that move it forward.

pub mod change;
pub mod name;
pub mod retention;
pub mod state;

pub use change::{CreateKind, GroupChange, GroupOp, Member};
pub use name::{GroupName, NameCheck, NameCommitment, NameReveal, NAME_SALT_LEN};
pub use retention::{Retention, MAX_RETENTION_SECS, MIN_RETENTION_SECS};
pub use state::{
    change_hash, decode_signed_change, ConversationKind, GroupState, MemberState, Naming,
    PastMembership,
};
