//! When a job must stop: its token is cancelled, or its timeout's deadline passed.
//!
//! Both stop signals make the job's token (and the deadline's sleep) on their first poll,
//! so a job that finishes in its first poll (the work is polled first) builds neither.

use core::future::Future;
use core::pin::pin;
use core::time::Duration;

use futures_util::future::{Either, select};

use crate::executor::JobContext;
use crate::runtime::Timer;

use super::report::Outcome;

/// A job's timeout: `after` from `start` on `timer`'s clock.
pub(super) struct Deadline<'a> {
    pub(super) timer: &'a dyn Timer,
    pub(super) start: Duration,
    pub(super) after: Duration,
}

/// Resolves when the job must stop: its token is cancelled or its deadline passed.
#[allow(clippy::manual_async_fn)] // on purpose: an `async fn` stores its arguments twice
pub(super) fn stop_signal<'a, T: 'a>(
    ctx: &'a JobContext,
    deadline: Option<Deadline<'a>>,
) -> impl Future<Output = Outcome<T>> + 'a {
    async move {
        let token = ctx.token();
        match deadline {
            None => {
                token.cancelled().await;
                Outcome::Cancelled
            }
            Some(Deadline { timer, start, after }) => {
                let left = after.saturating_sub(timer.now().saturating_sub(start));
                match select(pin!(token.cancelled()), timer.sleep(left)).await {
                    Either::Left(_) => Outcome::Cancelled,
                    Either::Right(_) => Outcome::TimedOut(after),
                }
            }
        }
    }
}

/// Resolves when the job's token is cancelled: the stop signal of a job without options,
/// in a smaller future than [`stop_signal`] without a deadline.
#[allow(clippy::manual_async_fn)] // on purpose: an `async fn` stores its arguments twice
pub(super) fn cancellation<T>(ctx: &JobContext) -> impl Future<Output = Outcome<T>> + '_ {
    async move {
        let token = ctx.token();
        token.cancelled().await;
        Outcome::Cancelled
    }
}
