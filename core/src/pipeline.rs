//! The executor pipeline: everything that happens to one dispatched job.
//!
//! Started → Placeholder (if any) → cancellation check → cache read (CacheHit; a
//! cache-first hit ends the job) → attempts (Retrying events and back-off between them) →
//! cache write of a fresh success, all raced against cancellation and the job's timeout →
//! exactly one terminal event: Success, Failure, Cancelled or TimedOut.
//!
//! Cache errors never change the outcome: a failed read is a miss, a failed (or cut
//! short) write leaves the Success standing; both are logged and counted.
//!
//! Cancellation and timeout **drop** the attempt future (its `Drop` guards run before the
//! terminal event is emitted) and interrupt a back-off sleep. If the pipeline itself is
//! dropped half-way (its runner stopped), its core still emits `Cancelled` and resolves the
//! handle, so no path ends without exactly one terminal event. A panic anywhere in the
//! job's user code ends the job with a `Failure` (see `unwind`).

use alloc::boxed::Box;
use alloc::sync::Arc;
use core::future::Future;
use core::pin::pin;
use core::sync::atomic::Ordering;
use core::time::Duration;

use futures_util::future::{Either, select};

use crate::cache::{CachePolicy, CacheProvider};
use crate::error::JobError;
use crate::event::{EventKind, Payload, Retrying};
use crate::executor::{Executor, JobContext};
use crate::handle::{ABANDONED, Completer};
use crate::job::Job;
use crate::log::{Level, Logger, log_at};
use crate::result::JobResult;
use crate::retry::RetryPolicy;
use crate::runtime::Timer;
use crate::sync::{MaybeSend, MaybeSync};
use crate::unwind::{self, Orphan};

/// What every job's pipeline needs besides the executor and the job: its context (with
/// the dispatcher's shared bus, timer, logger and counters) and the end of its handle.
pub(crate) struct Core<T> {
    pub(crate) ctx: JobContext,
    pub(crate) completer: Completer<T>,
}

impl<T> Drop for Core<T> {
    /// A job dropped before it completed still ends with exactly one terminal event and
    /// a result. Dropped by a panic of its own user code, it is handed to the panic
    /// boundary, which ends it with a `Failure`; dropped otherwise (its runner stopped, or
    /// it never ran), it ends `Cancelled` as abandoned. Only then is the reason built (an
    /// allocation).
    ///
    /// The core is the last thing of a job's future to be dropped (after the executor's
    /// future and every other local), so the work's `Drop` guards have run by then.
    fn drop(&mut self) {
        if !self.completer.is_armed() {
            return;
        }
        if unwind::adopt(|| Orphan { ctx: self.ctx.clone() }) {
            self.completer.disarm();
            return;
        }
        let reason: Arc<str> = Arc::from(ABANDONED);
        let gate = self.ctx.cancel.gate();
        // A job refused at dispatch was never accepted: its caller got the error, and no
        // event is owed.
        if gate.accepted() && !gate.terminal_sent() {
            self.ctx.emit_terminal(|| EventKind::Cancelled { reason: Some(reason.clone()) });
        }
        self.completer.complete(JobResult::Cancelled(Some(reason)), &self.ctx.env.counters);
    }
}

/// The plan of a job with options: a timeout, retry, a placeholder or a cache policy.
/// (A job with none of them runs the smaller [`run_plain`] pipeline on its [`Core`].)
pub(crate) struct Plan<T> {
    pub(crate) core: Core<T>,
    /// `None`, or a deadline that can actually expire (`Duration::MAX` is filtered out).
    pub(crate) timeout: Option<Duration>,
    pub(crate) retry: Option<RetryPolicy>,
    /// Placeholder and cache, boxed: fewer jobs have them, and the plan is part of every
    /// job's future (copied into its box, read from memory that has gone cold since the
    /// box's last job). Retry stays inline: a job with retry usually has a timeout too,
    /// and would pay an allocation for it.
    pub(crate) extras: Option<Box<Extras>>,
}

/// The options of a job that fewer jobs have.
pub(crate) struct Extras {
    pub(crate) placeholder: Option<Payload>,
    pub(crate) cache: Option<CacheStage>,
}

impl Extras {
    /// `None` when the job has neither.
    pub(crate) fn new(placeholder: Option<Payload>, cache: Option<CacheStage>) -> Option<Box<Self>> {
        (placeholder.is_some() || cache.is_some()).then(|| Box::new(Self { placeholder, cache }))
    }
}

/// A job's cache stage: its policy and the provider.
pub(crate) struct CacheStage {
    pub(crate) policy: CachePolicy,
    pub(crate) provider: Arc<dyn CacheProvider>,
}

impl CacheStage {
    /// A cache error that does not change the job's outcome: counted and logged.
    fn report(&self, ctx: &JobContext, logger: &dyn Logger, op: &str, error: &dyn core::fmt::Display) {
        ctx.env.cache_errors.fetch_add(1, Ordering::Relaxed);
        log_at!(
            logger,
            Level::Warning,
            "job {} ({}) cache {} of `{}` failed: {}",
            ctx.id,
            ctx.job_type,
            op,
            self.policy.key(),
            error
        );
    }
}

/// How the race between the work and its stop signals ended.
enum Outcome<T> {
    /// `cached`: the result is a cache-first hit (nothing to write).
    Finished {
        result: Result<T, JobError>,
        retried: bool,
        cached: bool,
    },
    Cancelled,
    TimedOut(Duration),
}

/// The whole life of one job. A plain `fn` returning an `async move` block rather than an
/// `async fn`: an `async fn` stores its arguments twice in its future (as captured
/// arguments and again as the body's locals), and the plan is most of a job's state. The
/// plan's fields are used in place for the same reason. (The boxed future of a trivial job
/// was 1 200 bytes, past glibc's small bins; it is now well under.)
#[allow(clippy::manual_async_fn)] // on purpose: an `async fn` stores its arguments twice
pub(crate) fn run<J: Job, E: Executor<J> + ?Sized>(
    executor: Arc<E>,
    job: J,
    mut plan: Plan<J::Output>,
) -> impl Future<Output = ()> {
    async move {
        let ctx = &plan.core.ctx;
        let logger = &*ctx.env.logger;
        started(ctx, logger);
        let extras = plan.extras.as_deref();
        if let Some(p) = extras.and_then(|e| e.placeholder.as_ref()) {
            let _ = ctx.emit_kind(|| EventKind::Placeholder(p.clone()));
        }

        let outcome = if ctx.is_cancelled() {
            Outcome::Cancelled
        } else {
            // The work and its stop signal live in this block: when it ends, the losing
            // future has been dropped, before anything is reported.
            let cache = extras.and_then(|e| e.cache.as_ref());
            let retry = plan.retry.as_ref();
            let timer = ctx.env.timer.as_deref();
            let work = pin!(async {
                if let Some(stage) = cache.filter(|stage| !stage.policy.get_force_refresh()) {
                    let hit = read_cached::<J::Output>(stage, ctx, logger).await;
                    if let (Some(value), false) = (hit, stage.policy.get_revalidate()) {
                        return Outcome::Finished { result: Ok(value), retried: false, cached: true };
                    }
                }
                let (result, retried) = attempts(&*executor, &job, ctx, retry, timer).await;
                Outcome::Finished { result, retried, cached: false }
            });
            // The deadline counts from now; its sleep is made only if the job waits.
            let deadline = match (plan.timeout, timer) {
                (Some(after), Some(timer)) => Some(Deadline { timer, start: timer.now(), after }),
                _ => None,
            };
            let mut stop = pin!(stop_signal(ctx, deadline));
            let outcome = match select(work, stop.as_mut()).await {
                Either::Left((finished, _)) => finished,
                Either::Right((stop, _)) => stop,
            };
            // A fresh success is written, still under the job's cancellation and deadline.
            if let (Outcome::Finished { result: Ok(value), cached: false, .. }, Some(stage)) = (&outcome, cache) {
                let write =
                    stage.provider.write(stage.policy.key(), Payload::new(value.clone()), stage.policy.get_ttl());
                match select(write, stop.as_mut()).await {
                    Either::Left((Ok(()), _)) => {}
                    Either::Left((Err(error), _)) => stage.report(ctx, logger, "write", &error),
                    Either::Right((Outcome::TimedOut(_), _)) => {
                        stage.report(ctx, logger, "write", &"the job timed out during the write");
                    }
                    Either::Right(_) => stage.report(ctx, logger, "write", &"the job was cancelled during the write"),
                }
            }
            outcome
        };

        let result = report(ctx, logger, outcome);
        plan.core.completer.complete(result, &ctx.env.counters);
    }
}

/// The pipeline of a job without options (no timeout, retry, placeholder or cache): the
/// same events and outcomes as [`run`], in a future about half its size. (Most jobs are
/// like this; a job's future is its main memory cost.)
#[allow(clippy::manual_async_fn)] // on purpose: an `async fn` stores its arguments twice
pub(crate) fn run_plain<J: Job, E: Executor<J> + ?Sized>(
    executor: Arc<E>,
    job: J,
    mut core: Core<J::Output>,
) -> impl Future<Output = ()> {
    async move {
        let ctx = &core.ctx;
        let logger = &*ctx.env.logger;
        started(ctx, logger);
        let outcome = if ctx.is_cancelled() {
            Outcome::Cancelled
        } else {
            let work = pin!(guarded(executor.process(&job, ctx)));
            // Only cancellation stops it; the token is made only if the work waits.
            let stop = pin!(async {
                let token = ctx.token();
                token.cancelled().await;
                Outcome::Cancelled
            });
            match select(work, stop).await {
                Either::Left((result, _)) => Outcome::Finished { result, retried: false, cached: false },
                Either::Right((stop, _)) => stop,
            }
        };
        let result = report(ctx, logger, outcome);
        core.completer.complete(result, &ctx.env.counters);
    }
}

/// Logs and emits `Started`. (If the job is dropped before its terminal event, its
/// [`Core`] emits one.)
fn started(ctx: &JobContext, logger: &dyn Logger) {
    log_at!(logger, Level::Debug, "job {} ({}) started", ctx.id, ctx.job_type);
    let _ = ctx.emit_kind(|| EventKind::Started);
}

/// Logs and emits the job's terminal event; returns its result.
fn report<T: Clone + MaybeSend + MaybeSync + 'static>(
    ctx: &JobContext,
    logger: &dyn Logger,
    outcome: Outcome<T>,
) -> JobResult<T> {
    match outcome {
        Outcome::Finished { result: Ok(value), .. } => {
            log_at!(logger, Level::Debug, "job {} ({}) succeeded", ctx.id, ctx.job_type);
            ctx.emit_terminal(|| EventKind::Success(Payload::new(value.clone())));
            JobResult::Success(value)
        }
        Outcome::Finished { result: Err(error), retried, .. } => {
            log_at!(logger, Level::Error, "job {} ({}) failed: {}", ctx.id, ctx.job_type, error);
            ctx.emit_terminal(|| EventKind::Failure { error: error.clone(), retried });
            JobResult::Failure(error)
        }
        Outcome::Cancelled => {
            let reason = ctx.cancel.token().reason();
            log_at!(logger, Level::Info, "job {} ({}) cancelled", ctx.id, ctx.job_type);
            ctx.emit_terminal(|| EventKind::Cancelled { reason: reason.clone() });
            JobResult::Cancelled(reason)
        }
        Outcome::TimedOut(after) => {
            log_at!(logger, Level::Warning, "job {} ({}) timed out after {:?}", ctx.id, ctx.job_type, after);
            ctx.emit_terminal(|| EventKind::TimedOut { after });
            JobResult::TimedOut(after)
        }
    }
}

/// Reads the job's cache entry. A value of the job's output type is emitted as CacheHit
/// and returned; anything else (no value, a value of another type, a read error) is a
/// miss.
async fn read_cached<T: Clone + 'static>(stage: &CacheStage, ctx: &JobContext, logger: &dyn Logger) -> Option<T> {
    match stage.provider.read(stage.policy.key()).await {
        Ok(Some(payload)) => {
            let value = payload.get::<T>().cloned();
            match value {
                Some(_) => {
                    log_at!(
                        logger,
                        Level::Debug,
                        "job {} ({}) cache hit `{}`",
                        ctx.id,
                        ctx.job_type,
                        stage.policy.key()
                    );
                    let _ = ctx.emit_kind(|| EventKind::CacheHit(payload));
                }
                None => log_at!(
                    logger,
                    Level::Warning,
                    "job {} ({}) cache entry `{}` holds another type than the job's output; treated as a miss",
                    ctx.id,
                    ctx.job_type,
                    stage.policy.key()
                ),
            }
            value
        }
        Ok(None) => None,
        Err(error) => {
            stage.report(ctx, logger, "read", &error);
            None
        }
    }
}

/// A job's timeout: `after` from `start` on `timer`'s clock.
struct Deadline<'a> {
    timer: &'a dyn Timer,
    start: Duration,
    after: Duration,
}

/// Resolves when the job must stop: its token is cancelled or its deadline passed. The
/// job's token and the deadline's sleep are made here, on the first poll, so a job that
/// finishes in its first poll (the work is polled first) builds neither.
#[allow(clippy::manual_async_fn)] // on purpose: an `async fn` stores its arguments twice
fn stop_signal<'a, T: 'a>(
    ctx: &'a JobContext,
    deadline: Option<Deadline<'a>>,
) -> impl Future<Output = Outcome<T>> + 'a {
    // Not an `async fn`, which would store its arguments twice (see `run`).
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

/// The attempt loop: the first try, then retries as the policy (and its budget) allows,
/// with a Retrying event and a back-off sleep before each. Returns the last result and
/// whether any retry happened.
///
/// Between two attempts the loop always gives the executor back its thread (one
/// [`YieldNow`]), even with a zero back-off: otherwise a job that fails at once would
/// retry inside a single poll, and neither its stop signal (raced against it in `run`),
/// nor the other jobs of its runner, nor the rest of a single-threaded program would run
/// until its retries ran out.
#[allow(clippy::manual_async_fn)] // on purpose: an `async fn` stores its arguments twice
fn attempts<'a, J: Job, E: Executor<J> + ?Sized>(
    executor: &'a E,
    job: &'a J,
    ctx: &'a JobContext,
    retry: Option<&'a RetryPolicy>,
    timer: Option<&'a dyn Timer>,
) -> impl Future<Output = (Result<J::Output, JobError>, bool)> + 'a {
    // Not an `async fn`, which would store its arguments twice (see `run`).
    async move {
        // Only a job that may retry takes part in a budget: one that never retries has
        // no say in how many retries its peers make.
        let budget =
            retry.filter(|p| p.get_max_retries() > 0).and_then(|p| p.get_budget().or(ctx.env.retry_budget.as_ref()));
        let mut attempt: u32 = 0;
        loop {
            ctx.attempt.store(attempt, core::sync::atomic::Ordering::Relaxed);
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
            let max = policy.get_max_retries();
            if let Some(budget) = budget.filter(|b| !b.try_withdraw(budget_now(timer))) {
                return (Err(refuse_retry(ctx, budget, error, retry_number, max)), attempt > 0);
            }
            let delay = policy.delay(attempt);
            let _ = ctx.emit_kind(|| EventKind::Retrying(Retrying { attempt: retry_number, max, error, delay }));
            if let (false, Some(timer)) = (delay.is_zero(), timer) {
                timer.sleep(delay).await;
            }
            YieldNow(false).await;
            if ctx.is_cancelled() {
                // No attempt after a cancellation: wait for the stop signal, which `run`
                // polls right after this and which resolves as `Cancelled` (the same
                // token).
                core::future::pending::<()>().await;
            }
            attempt = retry_number;
        }
    }
}

/// The time a [`RetryBudget`](crate::RetryBudget) is used at: the dispatcher's clock, or
/// a fixed zero without a timer (the budget's window then never rolls over, as its docs
/// say).
fn budget_now(timer: Option<&dyn Timer>) -> Duration {
    timer.map_or(Duration::ZERO, |timer| timer.now())
}

/// A retry its budget refused: counted, logged, and the job's last error marked as given
/// up on the budget (the caller ends the job with it).
#[cold]
fn refuse_retry(
    ctx: &JobContext,
    budget: &crate::retry_budget::RetryBudget,
    error: JobError,
    retry_number: u32,
    max: u32,
) -> JobError {
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
/// whatever else is ready (and the `select` in `run` poll the stop signal) without
/// sleeping and without an allocation. (Neither `core` nor `futures-util` without `std`
/// has one.)
struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: core::pin::Pin<&mut Self>, cx: &mut core::task::Context<'_>) -> core::task::Poll<()> {
        if self.0 {
            return core::task::Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        core::task::Poll::Pending
    }
}

/// Runs one attempt; with `std`, a panic inside it becomes a [`JobError::panicked`].
/// (Combinators, not an `async fn`: that would store the attempt future twice.)
fn guarded<T>(attempt: impl Future<Output = Result<T, JobError>>) -> impl Future<Output = Result<T, JobError>> {
    futures_util::FutureExt::map(crate::sync::catch_panic_future(attempt), |outcome| {
        outcome.unwrap_or_else(|payload| Err(JobError::panicked(crate::error::panic_message(&*payload))))
    })
}
