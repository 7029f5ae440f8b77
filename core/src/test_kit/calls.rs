//! [`CallLog`]: the calls an executor received (job, attempt, virtual time), and
//! [`Recorded`], any executor wrapped so that its calls are logged.

use crate::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use core::future::Future;
use core::time::Duration;

use crate::error::JobError;
use crate::executor::{Executor, JobContext};
use crate::job::Job;
use crate::job_id::JobId;
use crate::sync::{MaybeSend, Mutex};

/// One call of an executor: one attempt of one job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Call {
    /// The job.
    pub job: JobId,
    /// The attempt: 0 for the first, then 1, 2, ... for the retries.
    pub attempt: u32,
    /// When the call was made, on the dispatcher's timer (`Duration::ZERO` without one).
    pub at: Duration,
}

/// The calls an executor received, in order. Clones share the log.
///
/// ```
/// use orchestrator_core::test_kit::{Script, TestHarness};
/// use orchestrator_core::{Job, JobResult};
///
/// #[derive(Clone)]
/// struct Ping;
/// impl Job for Ping { type Output = (); }
///
/// let mut harness = TestHarness::new();
/// let calls = harness.script::<Ping>(Script::new().ok(()));
/// let handle = harness.dispatcher().dispatch(Ping).unwrap();
/// let result = harness.block_on(handle).unwrap();
/// assert!(matches!(result, JobResult::Success(())));
/// assert_eq!(calls.len(), 1);
/// assert_eq!(calls.calls()[0].attempt, 0);
/// ```
#[derive(Clone, Default)]
pub struct CallLog {
    calls: Arc<Mutex<Vec<Call>>>,
}

impl fmt::Debug for CallLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallLog").field("calls", &*self.calls.lock()).finish()
    }
}

impl CallLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().clone()
    }

    /// How many calls so far.
    pub fn len(&self) -> usize {
        self.calls.lock().len()
    }

    /// True before the first call.
    pub fn is_empty(&self) -> bool {
        self.calls.lock().is_empty()
    }

    /// Logs a call made with `ctx`; returns its index (0 for the first call).
    pub(crate) fn record(&self, ctx: &JobContext) -> usize {
        let at = ctx.env.timer.as_ref().map_or(Duration::ZERO, |timer| timer.now());
        let mut calls = self.calls.lock();
        calls.push(Call { job: ctx.id(), attempt: ctx.attempt(), at });
        calls.len().saturating_sub(1)
    }
}

/// An executor whose calls are logged in a [`CallLog`]; it does what `E` does. Made by
/// [`TestHarness::register`](super::TestHarness::register), so an executor built from a
/// closure ([`executor_fn`](crate::executor_fn)) works with the harness as it is.
#[derive(Debug)]
pub struct Recorded<E> {
    inner: E,
    log: CallLog,
}

impl<E> Recorded<E> {
    /// `executor`, logging its calls into `log`.
    pub fn new(executor: E, log: CallLog) -> Self {
        Self { inner: executor, log }
    }
}

impl<J: Job, E: Executor<J>> Executor<J> for Recorded<E> {
    fn process(&self, job: &J, ctx: &JobContext) -> impl Future<Output = Result<J::Output, JobError>> + MaybeSend {
        self.log.record(ctx);
        self.inner.process(job, ctx)
    }
}
