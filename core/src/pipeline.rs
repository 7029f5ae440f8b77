//! The executor pipeline: everything that happens to one dispatched job.
//!
//! Started → Placeholder (if any) → cancellation check → attempts (Retrying events and
//! back-off between them) raced against cancellation and the job's timeout → exactly one
//! terminal event: Success, Failure, Cancelled or TimedOut.
//!
//! Cancellation and timeout **drop** the attempt future (its `Drop` guards run before the
//! terminal event is emitted) and interrupt a back-off sleep. If the pipeline itself is
//! dropped half-way (its runner stopped), a guard still emits `Cancelled` and resolves the
//! handle, so no path ends without exactly one terminal event.

use alloc::sync::Arc;
use core::future::Future;
use core::pin::pin;
use core::time::Duration;

use futures_util::future::{Either, select};

use crate::cancel::CancellationToken;
use crate::error::JobError;
use crate::event::{EventKind, Payload, Retrying};
use crate::executor::{Executor, JobContext};
use crate::handle::{ABANDONED, Completer};
use crate::job::Job;
use crate::log::{Level, Logger, log_at};
use crate::result::JobResult;
use crate::retry::RetryPolicy;
use crate::runtime::Timer;

/// Everything the pipeline needs besides the executor and the job.
pub(crate) struct Plan<T> {
    pub(crate) ctx: JobContext,
    /// `None`, or a deadline that can actually expire (`Duration::MAX` is filtered out).
    pub(crate) timeout: Option<Duration>,
    pub(crate) retry: Option<RetryPolicy>,
    pub(crate) placeholder: Option<Payload>,
    pub(crate) timer: Option<Arc<dyn Timer>>,
    pub(crate) logger: Arc<dyn Logger>,
    pub(crate) completer: Completer<T>,
}

/// How the race between the work and its stop signals ended.
enum Outcome<T> {
    Finished { result: Result<T, JobError>, retried: bool },
    Cancelled,
    TimedOut(Duration),
}

/// Emits `Cancelled` if the pipeline is dropped after `Started` and before its terminal
/// event (the handle side is resolved by the [`Completer`]'s own drop).
struct TerminalGuard<'a> {
    ctx: &'a JobContext,
    armed: bool,
}

impl Drop for TerminalGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            let _ = self.ctx.emit_kind(|| EventKind::Cancelled { reason: Some(Arc::from(ABANDONED)) });
        }
    }
}

pub(crate) async fn run<J: Job, E: Executor<J> + ?Sized>(executor: Arc<E>, job: J, plan: Plan<J::Output>) {
    let Plan { ctx, timeout, retry, placeholder, timer, logger, completer } = plan;
    let mut guard = TerminalGuard { ctx: &ctx, armed: true };
    log_at!(logger, Level::Debug, "job {} ({}) started", ctx.id, ctx.job_type);
    let _ = ctx.emit_kind(|| EventKind::Started);
    if let Some(p) = placeholder {
        let _ = ctx.emit_kind(|| EventKind::Placeholder(p));
    }

    let outcome = if ctx.token.is_cancelled() {
        Outcome::Cancelled
    } else {
        // The work and its stop signal live in this block: when it ends, the losing
        // future has been dropped, before anything is reported.
        let work = pin!(attempts(&*executor, &job, &ctx, retry.as_ref(), timer.as_deref()));
        let sleep = match (timeout, timer.as_deref()) {
            (Some(after), Some(timer)) => Some((timer.sleep(after), after)),
            _ => None,
        };
        let stop = pin!(stop_signal(&ctx.token, sleep));
        match select(work, stop).await {
            Either::Left(((result, retried), _)) => Outcome::Finished { result, retried },
            Either::Right((stop, _)) => stop,
        }
    };

    guard.armed = false;
    let result = match outcome {
        Outcome::Finished { result: Ok(value), .. } => {
            log_at!(logger, Level::Debug, "job {} ({}) succeeded", ctx.id, ctx.job_type);
            let _ = ctx.emit_kind(|| EventKind::Success(Payload::new(value.clone())));
            JobResult::Success(value)
        }
        Outcome::Finished { result: Err(error), retried } => {
            log_at!(logger, Level::Error, "job {} ({}) failed: {}", ctx.id, ctx.job_type, error);
            let _ = ctx.emit_kind(|| EventKind::Failure { error: error.clone(), retried });
            JobResult::Failure(error)
        }
        Outcome::Cancelled => {
            let reason = ctx.token.reason();
            log_at!(logger, Level::Info, "job {} ({}) cancelled", ctx.id, ctx.job_type);
            let _ = ctx.emit_kind(|| EventKind::Cancelled { reason: reason.clone() });
            JobResult::Cancelled(reason)
        }
        Outcome::TimedOut(after) => {
            log_at!(logger, Level::Warning, "job {} ({}) timed out after {:?}", ctx.id, ctx.job_type, after);
            let _ = ctx.emit_kind(|| EventKind::TimedOut { after });
            JobResult::TimedOut(after)
        }
    };
    drop(guard);
    completer.complete(result);
}

/// Resolves when the job must stop: its token is cancelled or its deadline passed.
async fn stop_signal<T>(
    token: &CancellationToken,
    deadline: Option<(crate::BoxFuture<'static, ()>, Duration)>,
) -> Outcome<T> {
    match deadline {
        None => {
            token.cancelled().await;
            Outcome::Cancelled
        }
        Some((sleep, after)) => match select(pin!(token.cancelled()), sleep).await {
            Either::Left(_) => Outcome::Cancelled,
            Either::Right(_) => Outcome::TimedOut(after),
        },
    }
}

/// The attempt loop: the first try, then retries as the policy allows, with a Retrying
/// event and a back-off sleep before each. Returns the last result and whether any retry
/// happened.
async fn attempts<J: Job, E: Executor<J> + ?Sized>(
    executor: &E,
    job: &J,
    ctx: &JobContext,
    retry: Option<&RetryPolicy>,
    timer: Option<&dyn Timer>,
) -> (Result<J::Output, JobError>, bool) {
    let mut attempt: u32 = 0;
    loop {
        ctx.attempt.store(attempt, core::sync::atomic::Ordering::Relaxed);
        let error = match guarded(async { executor.process(job, ctx).await }).await {
            Ok(value) => return (Ok(value), attempt > 0),
            Err(error) => error,
        };
        let Some(policy) = retry.filter(|p| p.should_retry(&error, attempt)) else {
            return (Err(error), attempt > 0);
        };
        let delay = policy.delay(attempt);
        let retry_number = attempt.saturating_add(1);
        let max = policy.get_max_retries();
        let _ = ctx.emit_kind(|| EventKind::Retrying(Retrying { attempt: retry_number, max, error, delay }));
        if let (false, Some(timer)) = (delay.is_zero(), timer) {
            timer.sleep(delay).await;
        }
        attempt = retry_number;
    }
}

/// Runs one attempt; with `std`, a panic inside it becomes a [`JobError::panicked`].
#[cfg(feature = "std")]
async fn guarded<T>(attempt: impl Future<Output = Result<T, JobError>>) -> Result<T, JobError> {
    use futures_util::FutureExt;
    match core::panic::AssertUnwindSafe(attempt).catch_unwind().await {
        Ok(result) => result,
        Err(payload) => Err(JobError::panicked(crate::error::panic_message(&*payload))),
    }
}

/// Runs one attempt (without `std`, a panic aborts as usual).
#[cfg(not(feature = "std"))]
async fn guarded<T>(attempt: impl Future<Output = Result<T, JobError>>) -> Result<T, JobError> {
    attempt.await
}
