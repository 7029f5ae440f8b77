//! Graceful drain: wait for every dispatched job to end, with an optional deadline after
//! which the jobs still running are cancelled.
//!
//! A dispatcher's counters know how many jobs are pending but not which ones; the jobs
//! themselves live in the runners. So the drain waits on [`DrainSignal`] (notified by
//! each job's end once somebody drains, see `drain_signal`), and at its deadline asks the runners, through
//! their queue, to cancel the jobs they hold (see `JobQueue::abort`). Before a drain
//! starts a job's end costs one load and a branch here.

use crate::sync::Arc;
use crate::sync::atomic::Ordering;
use core::fmt;
use core::future::Future;
use core::pin::{Pin, pin};
use core::task::{Context, Poll};

use futures_util::future::{Either, select};

use crate::handle::Counters;
use crate::sync::BoxFuture;

/// The reason given to the jobs a drain cancels when its deadline passes (their
/// `Cancelled` event and their [`JobResult::Cancelled`](crate::JobResult::Cancelled)
/// carry it).
pub const DRAIN_DEADLINE_REASON: &str = "drain deadline passed";

/// What a drain saw: how the jobs that were pending when it started ended.
///
/// ```
/// use orchestrator_core::DrainReport;
/// let report = DrainReport::default();
/// assert_eq!((report.finished, report.cancelled), (0, 0));
/// assert!(report.is_clean());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct DrainReport {
    /// Jobs that ended on their own (any outcome) before the deadline, or without one.
    pub finished: usize,
    /// Jobs still running when the deadline passed: each was cancelled with
    /// [`DRAIN_DEADLINE_REASON`] (one that was completing at that instant may still have
    /// ended with its own result).
    pub cancelled: usize,
}

impl DrainReport {
    /// True when no job had to be cancelled.
    pub fn is_clean(&self) -> bool {
        self.cancelled == 0
    }
}

/// Why a drain could not start.
///
/// ```
/// use core::time::Duration;
/// use orchestrator_core::{Dispatcher, DrainError};
///
/// let dispatcher = Dispatcher::new(); // no timer
/// let drain = dispatcher.drain(Some(Duration::from_secs(1)));
/// assert_eq!(futures::executor::block_on(drain), Err(DrainError::NoTimer));
/// assert!(!dispatcher.is_shut_down()); // nothing was changed
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DrainError {
    /// A deadline was given, but the dispatcher has no timer to measure it.
    NoTimer,
}

impl fmt::Display for DrainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoTimer => f.write_str("a drain deadline needs a timer, and the dispatcher has none"),
        }
    }
}

impl core::error::Error for DrainError {}

/// Dispatched jobs not yet ended, read in the order [`DrainSignal::job_ended`] pairs
/// with (a job's end increments `finished`, then reads `watching`; a drain sets
/// `watching`, listens, then reads `finished`: one of the two sees the other).
fn pending_now(counters: &Counters) -> usize {
    let finished = counters.finished.load(Ordering::SeqCst);
    counters.dispatched.load(Ordering::SeqCst).wrapping_sub(finished)
}

/// Resolves once no dispatched job is pending.
pub(crate) async fn all_ended(counters: &Counters) {
    counters.drain.watch();
    loop {
        let listener = counters.drain.listen();
        if pending_now(counters) == 0 {
            return;
        }
        listener.await;
    }
}

/// The future of [`Dispatcher::drain`](crate::Dispatcher::drain): resolves when every
/// job dispatched before it started has ended.
#[must_use = "a drain does nothing unless awaited"]
pub struct Drain(pub(crate) BoxFuture<'static, Result<DrainReport, DrainError>>);

impl fmt::Debug for Drain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Drain(..)")
    }
}

impl Future for Drain {
    type Output = Result<DrainReport, DrainError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.as_mut().poll(cx)
    }
}

/// The drain's work once the dispatcher is shut down: `abort` cancels the jobs still
/// running (called once, when `deadline` passes).
pub(crate) async fn run(
    counters: Arc<Counters>,
    deadline: Option<BoxFuture<'static, ()>>,
    abort: impl FnOnce(Arc<str>),
) -> Result<DrainReport, DrainError> {
    let at_start = pending_now(&counters);
    let ended = pin!(all_ended(&counters));
    let Some(deadline) = deadline else {
        ended.await;
        return Ok(DrainReport { finished: at_start, cancelled: 0 });
    };
    match select(ended, deadline).await {
        Either::Left(((), _)) => Ok(DrainReport { finished: at_start, cancelled: 0 }),
        Either::Right(((), ended)) => {
            let left = pending_now(&counters);
            if left > 0 {
                abort(Arc::from(DRAIN_DEADLINE_REASON));
            }
            ended.await;
            Ok(DrainReport { finished: at_start.saturating_sub(left), cancelled: left })
        }
    }
}
