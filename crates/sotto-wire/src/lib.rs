//! Sotto's JSON wire types: every WebSocket frame and HTTP API body, in the one place the
//! server (which parses requests strictly and writes answers), the Rust client, the load
//! generator and the chaos harness all take them from. `docs/api.md` is their contract and the
//! web client's zod schemas (`web/src/lib/schemas.ts`) parse the same JSON.
//!
//! Ids in these types are the typed ids of `sotto-proto` (and [`SessionId`], [`AttachmentId`]
//! here), serialized as their text forms (`dev:…`), so a value is checked once at the edge and
//! stays typed inward. Binary fields are standard padded base64 text. Secrets (passwords,
//! tokens, tickets) are [`Secret`]s: zeroized on drop, never `Clone`, redacted in `Debug`.
//!
//! Types that a client sends (requests, client frames) refuse unknown fields, as the server
//! parses them; types the server sends are read by clients without that rule, so a newer
//! server may add fields.
//!
//! # Layout
//! - [`frames`]: the WebSocket frames ([`ClientFrame`], [`ServerFrame`]) and their limits.
//! - [`api`]: the HTTP request and response bodies.
//! - [`error`]: the error body and its stable [`ErrorCode`]s, shared by HTTP and `error` frames.
//! - [`ids`]: the server's own ids ([`SessionId`], [`AttachmentId`]).
//! - [`secret`]: [`Secret`], a zeroized string field.
//! - [`invite`]: [`InviteCode`], a single-use invitation code and its text form.
//! - [`decode`]: bounded decoding with a typed [`DecodeError`].

pub mod api;
pub mod decode;
pub mod error;
pub mod frames;
pub mod ids;
pub mod invite;
pub mod secret;

pub use decode::{from_json, DecodeError};
pub use error::{ErrorBody, ErrorCode};
pub use frames::{ClientFrame, ServerFrame, SignalKind, MAX_ACK_IDS, MAX_SIGNAL_PAYLOAD};
pub use ids::{AttachmentId, HandoverId, SessionId};
pub use invite::{BadInviteCode, InviteCode};
pub use secret::Secret;
