//! The requests in progress on one HTTP connection, and the idle timer built on them.
//!
//! A request counts from the moment hyper hands it to the router until its response body has
//! been sent or dropped (an attachment download counts while it streams). A connection with
//! none for `http_idle_timeout_secs` is closed by the accept loop (`serve.rs`). Nothing else
//! counts as activity: an HTTP/2 peer that only answers keep-alive pings, or sends SETTINGS or
//! WINDOW_UPDATE frames, holds no request and so times out; hyper's keep-alive pings only find
//! peers that are gone.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::{Body, Frame, SizeHint};
use tokio::sync::watch;

/// Requests in progress on one connection.
#[derive(Debug)]
pub struct InFlight {
    count: watch::Sender<usize>,
}

/// One request in progress; counted until dropped.
#[derive(Debug)]
pub struct Request {
    on: Arc<InFlight>,
}

impl Default for InFlight {
    fn default() -> Self {
        Self {
            count: watch::Sender::new(0),
        }
    }
}

impl InFlight {
    /// Counts one more request until the returned guard is dropped.
    pub fn begin(self: &Arc<Self>) -> Request {
        self.count.send_modify(|n| *n += 1);
        Request { on: self.clone() }
    }

    /// Requests in progress now.
    pub fn now(&self) -> usize {
        *self.count.borrow()
    }

    /// Resolves once no request has been in progress for `idle` (a request that begins
    /// restarts the wait after it ends).
    pub async fn idle_for(&self, idle: Duration) {
        let mut count = self.count.subscribe();
        loop {
            // The sender lives in `self`, so these waits cannot fail while we borrow it.
            if count.wait_for(|n| *n == 0).await.is_err() {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(idle) => return,
                changed = count.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

impl Drop for Request {
    fn drop(&mut self) {
        self.on.count.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// A response body that keeps its request counted until it has been sent or dropped.
#[derive(Debug)]
pub struct CountedBody<B> {
    inner: B,
    _request: Request,
}

impl<B> CountedBody<B> {
    /// `inner`, counted as `request` until it ends.
    pub fn new(inner: B, request: Request) -> Self {
        Self {
            inner,
            _request: request,
        }
    }
}

impl<B: Body + Unpin> Body for CountedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn idle_only_once_no_request_has_been_in_progress_for_the_whole_timeout() {
        let in_flight = Arc::new(InFlight::default());
        let idle = Duration::from_secs(60);
        let started = tokio::time::Instant::now();
        let request = in_flight.begin();
        assert_eq!(in_flight.now(), 1);
        let watcher = {
            let in_flight = in_flight.clone();
            tokio::spawn(async move { in_flight.idle_for(idle).await })
        };
        // A request held for 100 s: not idle, however long it takes.
        tokio::time::sleep(Duration::from_secs(100)).await;
        assert!(!watcher.is_finished());
        drop(request);
        assert_eq!(in_flight.now(), 0);
        // 50 s later a short request restarts the wait.
        tokio::time::sleep(Duration::from_secs(50)).await;
        drop(in_flight.begin());
        tokio::time::sleep(Duration::from_secs(59)).await;
        assert!(!watcher.is_finished());
        watcher.await.unwrap();
        assert_eq!(started.elapsed(), Duration::from_secs(100 + 50 + 60));
    }

    #[tokio::test]
    async fn a_counted_body_counts_until_it_is_dropped() {
        let in_flight = Arc::new(InFlight::default());
        let body = CountedBody::new(axum::body::Body::from("answer"), in_flight.begin());
        assert_eq!(in_flight.now(), 1);
        assert!(!body.is_end_stream());
        drop(body);
        assert_eq!(in_flight.now(), 0);
    }
}
