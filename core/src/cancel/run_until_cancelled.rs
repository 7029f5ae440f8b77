//! [`RunUntilCancelled`]: a future raced against a token's cancellation.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::{CancellationToken, Cancelled, CancelledOwned};

impl CancellationToken {
    /// Runs `future` until it completes (`Some(output)`) or this token is cancelled
    /// (`None`, and `future` is dropped with the returned future). Cancellation wins a
    /// tie: once the token is cancelled, `future` is not polled again, and a token
    /// cancelled before the first poll never polls it.
    ///
    /// ```
    /// use orchestrator_core::CancellationToken;
    /// use futures::executor::block_on;
    ///
    /// let token = CancellationToken::new();
    /// assert_eq!(block_on(token.run_until_cancelled(async { 7 })), Some(7));
    ///
    /// token.cancel();
    /// assert_eq!(block_on(token.run_until_cancelled(async { 7 })), None);
    /// ```
    pub fn run_until_cancelled<F: Future>(&self, future: F) -> RunUntilCancelled<'_, F> {
        RunUntilCancelled { cancelled: self.cancelled(), future }
    }

    /// Like [`run_until_cancelled`](Self::run_until_cancelled), but the returned future
    /// owns this handle to the token, so it is `'static` when `future` is (to spawn it).
    pub fn run_until_cancelled_owned<F: Future>(self, future: F) -> RunUntilCancelledOwned<F> {
        RunUntilCancelledOwned { cancelled: self.cancelled_owned(), future }
    }
}

/// Polls cancellation first, then the future.
fn race<F: Future, C: Future<Output = ()> + Unpin>(
    cancelled: &mut C,
    future: Pin<&mut F>,
    cx: &mut Context<'_>,
) -> Poll<Option<F::Output>> {
    if Pin::new(cancelled).poll(cx).is_ready() {
        return Poll::Ready(None);
    }
    future.poll(cx).map(Some)
}

pin_project! {
    /// The future of [`CancellationToken::run_until_cancelled`].
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct RunUntilCancelled<'a, F> {
        cancelled: Cancelled<'a>,
        #[pin]
        future: F,
    }
}

impl<F: Future> Future for RunUntilCancelled<'_, F> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        race(this.cancelled, this.future, cx)
    }
}

impl<F> fmt::Debug for RunUntilCancelled<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunUntilCancelled").field("cancelled", &self.cancelled).finish_non_exhaustive()
    }
}

pin_project! {
    /// The future of [`CancellationToken::run_until_cancelled_owned`].
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct RunUntilCancelledOwned<F> {
        cancelled: CancelledOwned,
        #[pin]
        future: F,
    }
}

impl<F: Future> Future for RunUntilCancelledOwned<F> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        race(this.cancelled, this.future, cx)
    }
}

impl<F> fmt::Debug for RunUntilCancelledOwned<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunUntilCancelledOwned").field("cancelled", &self.cancelled).finish_non_exhaustive()
    }
}
