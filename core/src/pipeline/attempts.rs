//! The attempt loop: the first try, then retries as the job's policy and its retry
//! budget allow, with a `Retrying` event and a back-off before each; and the panic
//! boundary around a single attempt.

use crate::sync::atomic::Ordering;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use core::time::Duration;

use crate::error::JobError;
use crate::event::{EventKind, Retrying};
use crate::executor::{Executor, JobContext};
use crate::job::Job;
use crate::log::{Level, log_at};
use crate::retry::RetryPolicy;
use crate::retry_budget::RetryBudget;
use crate::runtime::Timer;

/// The attempt loop: the first try, then retries as the policy (and its budget) allows,
/// with a Retrying event and a back-off sleep before each. Returns the last result and
/// whether any retry happened.
///
/// Between two attempts the loop always gives the executor back its thread (one
/// [`YieldNow`]), even with a zero back-off: otherwise a job that fails at once would
/// retry inside a single poll, and neither its stop signal (raced against it by the
/// pipeline), nor the other jobs of its runner, nor the rest of a single-threaded program
/// would run until its retries ran out.
#[allow(clippy::manual_async_fn)] // on purpose: an `async fn` stores its arguments twice
pub(super) fn attempts<'a, J: Job, E: Executor<J> + ?Sized>(
    executor: &'a E,
    job: &'a J,
    ctx: &'a JobContext,
    retry: Option<&'a RetryPolicy>,
    timer: Option<&'a dyn Timer>,
) -> impl Future<Output = (Result<J::Output, JobError>, bool)> + 'a {
    async move {
        // Only a job that may retry takes part in a budget: one that never retries has
        // no say in how many retries its peers make.
        let budget = retry.filter(|p| p.max_retries() > 0).and_then(|p| p.budget().or(ctx.env.retry_budget.as_ref()));
        let mut attempt: u32 = 0;
        loop {
            ctx.attempt.store(attempt, Ordering::Relaxed);
            let error = match guarded(executor.process(job, ctx)).await {
                Ok(value) => {
                    if let Some(budget) = budget {
                        budget.deposit(budget_now(timer));
                    }
                    return (Ok(value), attempt > 0);
                }
                Err(error) => error,
            };
            let Some(policy) = retry.filter(|p| p.should_retry(&error, attempt)) else {
                return (Err(error), attempt > 0);
            };
            if ctx.is_cancelled() {
                // Cancelled during the attempt (by the attempt itself, or from outside):
                // no retry will happen, so none is announced or paid for. The stop signal
                // ends the job as `Cancelled`.
                core::future::pending::<()>().await;
            }
            let retry_number = attempt.saturating_add(1);
            let max = policy.max_retries();
            if let Some(budget) = budget.filter(|b| !b.try_withdraw(budget_now(timer))) {
                return (Err(refuse_retry(ctx, budget, error, retry_number, max)), attempt > 0);
            }
            let delay = policy.delay(attempt);
            super::job_span::retrying(ctx, retry_number, max, &error, delay);
            let _ = ctx.emit_kind(|| EventKind::Retrying(Retrying { attempt: retry_number, max, error, delay }));
            ctx.probe.retried();
            if let (false, Some(timer)) = (delay.is_zero(), timer) {
                timer.sleep(delay).await;
            }
            YieldNow(false).await;
            if ctx.is_cancelled() {
                // No attempt after a cancellation: wait for the stop signal, which the
                // pipeline polls right after this and which resolves as `Cancelled` (the
                // same token).
                core::future::pending::<()>().await;
            }
            attempt = retry_number;
        }
    }
}

/// The time a [`RetryBudget`] is used at: the dispatcher's clock, or a fixed zero without
/// a timer (the budget's window then never rolls over, as its docs say).
fn budget_now(timer: Option<&dyn Timer>) -> Duration {
    timer.map_or(Duration::ZERO, |timer| timer.now())
}

/// A retry its budget refused: counted, logged, and the job's last error marked as given
/// up on the budget (the caller ends the job with it).
#[cold]
fn refuse_retry(ctx: &JobContext, budget: &RetryBudget, error: JobError, retry_number: u32, max: u32) -> JobError {
    ctx.env.retries_refused.fetch_add(1, Ordering::Relaxed);
    log_at!(
        ctx.env.logger,
        Level::Warning,
        "job {} ({}) gave up: retry {} of {} refused by the retry budget ({:?}); last error: {}",
        ctx.id,
        ctx.job_type,
        retry_number,
        max,
        budget,
        error
    );
    JobError::retry_budget_exhausted(error)
}

/// Returns `Pending` once, after waking its task, then `Ready`: lets the executor run
/// whatever else is ready (and the pipeline's race poll the stop signal) without sleeping
/// and without an allocation. (Neither `core` nor `futures-util` without `std` has one.)
struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Runs one attempt; with `std`, a panic inside it becomes a [`JobError::panicked`].
/// (Combinators, not an `async fn`: that would store the attempt future twice.)
pub(super) fn guarded<T>(
    attempt: impl Future<Output = Result<T, JobError>>,
) -> impl Future<Output = Result<T, JobError>> {
    futures_util::FutureExt::map(crate::sync::catch_panic_future(attempt), |outcome| {
        outcome.unwrap_or_else(|payload| Err(JobError::panicked(crate::error::panic_message(&*payload))))
    })
}
