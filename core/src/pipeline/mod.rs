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

mod attempts;
mod cache_stage;
mod plan;
mod report;
mod stop_signal;

use alloc::sync::Arc;
use core::future::Future;
use core::pin::pin;

use futures_util::future::{Either, select};

use crate::event::EventKind;
use crate::executor::{Executor, JobContext};
use crate::handle::{ABANDONED, Completer};
use crate::job::Job;
use crate::result::JobResult;
use crate::unwind::{self, Orphan};

use attempts::{attempts, guarded};
use report::{Outcome, report, started};
use stop_signal::{Deadline, stop_signal};

pub(crate) use cache_stage::CacheStage;
pub(crate) use plan::{Extras, Plan};

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
            // The deadline counts from now; its sleep is made only if the job waits.
            let deadline = match (plan.timeout, timer) {
                (Some(after), Some(timer)) => Some(Deadline { timer, start: timer.now(), after }),
                _ => None,
            };
            let mut stop = pin!(stop_signal(ctx, deadline));
            // The work lives in this inner block and `outcome` is bound only after it, so
            // the cache write's state shares the future's memory with the work's instead
            // of adding to it. (A local already in scope during the race, like
            // `let outcome = { .. }`, would keep them apart.)
            let raced = {
                let work = pin!(async {
                    if let Some(stage) = cache.filter(|stage| !stage.policy.get_force_refresh()) {
                        let hit = stage.read::<J::Output>(ctx, logger).await;
                        if let (Some(value), false) = (hit, stage.policy.get_revalidate()) {
                            return Outcome::Finished { result: Ok(value), retried: false, cached: true };
                        }
                    }
                    let (result, retried) = attempts(&*executor, &job, ctx, retry, timer).await;
                    Outcome::Finished { result, retried, cached: false }
                });
                match select(work, stop.as_mut()).await {
                    Either::Left((finished, _)) => finished,
                    Either::Right((stop, _)) => stop,
                }
            };
            let outcome = raced;
            // A fresh success is written, still under the job's cancellation and deadline.
            if let (Outcome::Finished { result: Ok(value), cached: false, .. }, Some(stage)) = (&outcome, cache) {
                stage.write(ctx, logger, value, stop.as_mut()).await;
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
