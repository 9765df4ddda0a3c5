//! The periodic purge, every `history.purge_interval_secs` on the server's clock
//! ([`crate::clock::ServerClock`]): expired sessions, challenges and tickets; undelivered
//! records past `limits.undelivered_ttl_secs`; hand-overs past `limits.handover_ttl_secs`;
//! pending devices nobody approved within `limits.pending_device_secs`; invitations used,
//! revoked or expired 30 days ago; and
//! archived envelopes and attachments past their conversation's retention (docs/protocol.md
//! §6.7; the server default where the log set none). Each step runs on its own, so one that
//! fails is logged and the others still run.

use std::time::Duration;

use tokio::sync::watch;

use crate::state::AppState;

/// How long a used, revoked or expired invitation is kept (30 days): long enough to answer
/// who was invited and when, short enough that the table does not grow for good.
const INVITE_RECORD_SECS: u64 = 30 * 24 * 3600;

/// `secs` seconds in milliseconds, saturating.
fn ms(secs: u64) -> i64 {
    i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX)
}

/// One pass of every purge step at `now` (ms).
pub async fn once(state: &AppState, now: i64) {
    let limits = &state.settings.limits;
    if let Err(error) = state.store.purge_expired(now).await {
        tracing::warn!(?error, "purging expired sessions failed");
    }
    let undelivered_before = now.saturating_sub(ms(limits.undelivered_ttl_secs));
    if let Err(error) = state.store.purge_undelivered(undelivered_before).await {
        tracing::warn!(?error, "purging expired undelivered records failed");
    }
    let handovers_before = now.saturating_sub(ms(limits.handover_ttl_secs));
    if let Err(error) = state.store.purge_handovers(handovers_before).await {
        tracing::warn!(?error, "purging expired hand-overs failed");
    }
    let pending_before = now.saturating_sub(ms(limits.pending_device_secs));
    if let Err(error) = state.store.purge_pending_devices(pending_before).await {
        tracing::warn!(?error, "purging expired pending devices failed");
    }
    let invites_before = now.saturating_sub(ms(INVITE_RECORD_SECS));
    if let Err(error) = state.store.purge_invites(invites_before).await {
        tracing::warn!(?error, "purging old invitations failed");
    }
    let default_retention = state.settings.history.default_retention_secs;
    match state.store.purge_retention(now, default_retention).await {
        Ok(purged) if purged.envelopes > 0 || purged.attachments > 0 => {
            tracing::debug!(
                envelopes = purged.envelopes,
                attachments = purged.attachments,
                "deleted past retention"
            );
        }
        Ok(_) => {}
        Err(error) => tracing::warn!(?error, "purging past retention failed"),
    }
}

/// Runs [`once`] every `history.purge_interval_secs` until shutdown.
pub async fn run(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let every = Duration::from_secs(state.settings.history.purge_interval_secs.max(1));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => once(&state, state.clock.now_ms()).await,
            _ = crate::clock::until_true(&mut shutdown) => return,
        }
    }
}
