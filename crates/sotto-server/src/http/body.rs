//! Reading request bodies: every body the server reads goes through here, with a size cap, a
//! deadline and a minimum rate, and JSON bodies with a cap on how many are read at once.
//!
//! A body is read in full before anything is done with it, so a peer that sends headers and
//! then drips its body holds a connection slot, a stream and a growing buffer for as long as the
//! server waits. Three rules bound that wait and what it holds:
//! - **total deadline** from the body's first read: `body_read_timeout_secs` (30 s) for JSON,
//!   `upload_read_timeout_secs` (600 s) for an attachment, which must fit a 25 MiB upload on a
//!   slow link (25 MiB in 600 s is 44 KB/s, about 350 kbit/s);
//! - **minimum rate**: after [`RATE_GRACE`], a body must have brought at least
//!   `body_min_bytes_per_sec` for every second past the grace, so a body dripped a byte a second
//!   is cut about [`RATE_GRACE`] after it starts, whatever its total deadline;
//! - **bodies at once**: at most `max_concurrent_json_bodies` JSON bodies are read at once, at
//!   most `max_concurrent_json_bodies_per_ip` from one address (IPv6: one /64); one more is
//!   refused at once (`503 unavailable`, `Retry-After: 1`) rather than queued, so buffered JSON
//!   never exceeds the cap times `max_json_body`. (Uploads have their own cap,
//!   `max_concurrent_uploads`, in `http/mod.rs`.)
//!
//! A cut body is answered `408` (`unavailable`, so clients retry) and its connection is not
//! reused: HTTP/1 closes it, HTTP/2 resets the stream.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::Request;
use axum::http::header;
use futures_util::StreamExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::config::Limits;
use crate::error::{ApiError, Error};
use crate::http::extract::ClientAddr;
use crate::peer::{peer_key, PeerSlot, PerPeer};
use crate::state::AppState;

/// Time a body has before the minimum rate counts: room for a slow start (a phone waking its
/// radio, TCP and HTTP/2 windows opening) that never lasts longer. Any JSON body the server
/// accepts arrives well within it on a working link.
pub const RATE_GRACE: Duration = Duration::from_secs(5);

/// When a body must have arrived by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyDeadline {
    /// The total deadline.
    pub within: Duration,
    /// Minimum average bytes per second after [`RATE_GRACE`]; zero means no rate rule.
    pub min_rate: u64,
}

impl BodyDeadline {
    /// The rule for JSON bodies.
    pub fn json(limits: &Limits) -> Self {
        Self {
            within: Duration::from_secs(limits.body_read_timeout_secs),
            min_rate: limits.body_min_bytes_per_sec,
        }
    }

    /// The rule for attachment uploads.
    pub fn upload(limits: &Limits) -> Self {
        Self {
            within: Duration::from_secs(limits.upload_read_timeout_secs),
            min_rate: limits.body_min_bytes_per_sec,
        }
    }

    /// How long after its first read a body that has brought `received` bytes so far may wait
    /// for more: until the total deadline, or sooner, when `received` bytes no longer cover
    /// `min_rate` for every second past [`RATE_GRACE`].
    pub fn allowed(&self, received: u64) -> Duration {
        if self.min_rate == 0 {
            return self.within;
        }
        let earned_ms = received.saturating_mul(1000) / self.min_rate;
        self.within
            .min(RATE_GRACE.saturating_add(Duration::from_millis(earned_ms)))
    }

    fn too_slow(&self) -> Error {
        Error::BodyTooSlow {
            within_secs: self.within.as_secs(),
            min_rate: self.min_rate,
            grace_secs: RATE_GRACE.as_secs(),
        }
    }
}

/// The JSON bodies being read: a server-wide semaphore and a per-address table.
#[derive(Debug)]
pub struct JsonBodies {
    all: Arc<Semaphore>,
    per_peer: Arc<PerPeer>,
    max_per_peer: usize,
}

/// One JSON body's place among those being read, given back on drop.
#[derive(Debug)]
pub struct JsonBodySlot {
    _all: OwnedSemaphorePermit,
    _peer: PeerSlot,
}

impl JsonBodies {
    /// Tables for `limits.max_concurrent_json_bodies` and `…_per_ip`.
    pub fn new(limits: &Limits) -> Self {
        Self {
            // A semaphore cannot hold more than `MAX_PERMITS`; any cap that high is no cap.
            all: Arc::new(Semaphore::new(
                limits
                    .max_concurrent_json_bodies
                    .clamp(1, Semaphore::MAX_PERMITS),
            )),
            per_peer: Arc::new(PerPeer::default()),
            max_per_peer: limits.max_concurrent_json_bodies_per_ip.max(1),
        }
    }

    /// A place for one more body from `req`'s peer, or `Busy` at once.
    fn admit(&self, req: &Request) -> Result<JsonBodySlot, Error> {
        let ip = req
            .extensions()
            .get::<ClientAddr>()
            .map_or(std::net::Ipv4Addr::UNSPECIFIED.into(), |a| a.0.ip());
        let peer = self
            .per_peer
            .acquire(peer_key(ip), self.max_per_peer)
            .ok_or(Error::Busy {
                what: "request bodies from this address in progress",
            })?;
        let all = self
            .all
            .clone()
            .try_acquire_owned()
            .map_err(|_| Error::Busy {
                what: "request bodies in progress",
            })?;
        Ok(JsonBodySlot {
            _all: all,
            _peer: peer,
        })
    }
}

/// Reads a JSON request's body (at most `max_json_body`), holding a place among the JSON bodies
/// being read while it arrives.
pub async fn read_json(state: &AppState, req: Request) -> Result<Bytes, ApiError> {
    let limits = &state.settings.limits;
    let _slot = state.json_bodies.admit(&req)?;
    read_within(
        req,
        limits.max_json_body,
        "request body",
        BodyDeadline::json(limits),
    )
    .await
}

/// Reads the JSON body of the one route with a larger cap, the hand-over upload
/// (`max_handover_json_body`: a 4 MiB hand-over in base64), under the upload deadline, holding
/// a place among the JSON bodies being read as any JSON body does.
pub async fn read_large_json(state: &AppState, req: Request) -> Result<Bytes, ApiError> {
    let limits = &state.settings.limits;
    let _slot = state.json_bodies.admit(&req)?;
    read_within(
        req,
        limits.max_handover_json_body.max(limits.max_json_body),
        "request body",
        BodyDeadline::upload(limits),
    )
    .await
}

/// Reads an attachment upload's body (at most `max_attachment`); the upload route's own
/// concurrency limit bounds how many are read at once.
pub async fn read_upload(state: &AppState, req: Request) -> Result<Bytes, ApiError> {
    let limits = &state.settings.limits;
    read_within(
        req,
        limits.max_attachment,
        "attachment",
        BodyDeadline::upload(limits),
    )
    .await
}

/// Reads a body of at most `max` bytes (refused with 413 before more is buffered) that must
/// arrive by `deadline`.
async fn read_within(
    req: Request,
    max: usize,
    what: &'static str,
    deadline: BodyDeadline,
) -> Result<Bytes, ApiError> {
    let too_large = || Error::TooLarge { what, max };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max as u64) {
        return Err(too_large().into());
    }
    let mut chunks = req.into_body().into_data_stream();
    let started = Instant::now();
    let mut body = Vec::new();
    loop {
        let cut = started + deadline.allowed(body.len() as u64);
        let chunk = match tokio::time::timeout_at(cut, chunks.next()).await {
            Err(_) => return Err(deadline.too_slow().into()),
            Ok(None) => break,
            Ok(Some(Err(_))) => {
                return Err(Error::InvalidField {
                    field: "body",
                    reason: "the request body ended before it was complete",
                }
                .into())
            }
            Ok(Some(Ok(chunk))) => chunk,
        };
        if body.len().saturating_add(chunk.len()) > max {
            return Err(too_large().into());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn a_body_at_the_minimum_rate_may_take_until_the_total_deadline() {
        let rule = BodyDeadline {
            within: secs(30),
            min_rate: 1024,
        };
        // Nothing yet: the grace.
        assert_eq!(rule.allowed(0), RATE_GRACE);
        // Each KiB buys a second past the grace…
        assert_eq!(rule.allowed(1024), RATE_GRACE + secs(1));
        assert_eq!(rule.allowed(10 * 1024), RATE_GRACE + secs(10));
        assert_eq!(rule.allowed(512), RATE_GRACE + Duration::from_millis(500));
        // …up to the total deadline.
        assert_eq!(rule.allowed(25 * 1024), secs(30));
        assert_eq!(rule.allowed(u64::MAX), secs(30));
    }

    #[test]
    fn a_dripped_body_is_cut_soon_after_the_grace() {
        let rule = BodyDeadline {
            within: secs(600),
            min_rate: 1024,
        };
        // A byte a second: after 6 s it has 6 bytes, which buy 6 ms past the grace.
        assert!(rule.allowed(6) < secs(6));
        // An upload at 100 KiB/s keeps ahead of the rule all the way to 25 MiB (256 s).
        for second in 1..=256u64 {
            assert!(rule.allowed(second * 100 * 1024) > secs(second + 1));
        }
    }

    #[test]
    fn without_a_rate_only_the_total_deadline_counts() {
        let rule = BodyDeadline {
            within: secs(30),
            min_rate: 0,
        };
        assert_eq!(rule.allowed(0), secs(30));
    }

    #[test]
    fn the_defaults_fit_a_full_upload_on_a_350_kbit_link() {
        let limits = Limits::default();
        let rule = BodyDeadline::upload(&limits);
        let bytes_per_sec = 350_000 / 8;
        let needed = limits.max_attachment as u64 / bytes_per_sec;
        assert!(needed < rule.within.as_secs(), "{needed} s");
        assert!(rule.min_rate < bytes_per_sec);
        let json = BodyDeadline::json(&limits);
        // The largest JSON body at the minimum rate needs the grace plus 512 s: the total
        // deadline is what ends it.
        assert_eq!(json.allowed(limits.max_json_body as u64), json.within);
    }
}
