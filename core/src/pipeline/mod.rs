//! The executor pipeline: everything that happens to one dispatched job.
//!
//! One skeleton runs every job: Started → cancellation check → the job's work raced
//! against its stop signal → exactly one terminal event (Success, Failure, Cancelled or
//! TimedOut) → the handle's result. What fills it depends on the job's options
//! ([`Stages`]):
//!
//! * without options (its [`JobCore`] alone): the executor's one attempt, stopped only by
//!   cancellation;
//! * with options (a [`Plan`]): Placeholder (if any) right after Started; as the work, the
//!   cache read (CacheHit; a cache-first hit ends the job) then the attempts (Retrying
//!   events and back-off between them); as the stop signal, cancellation or the job's
//!   timeout; after the work, the cache write of a fresh success, still under the stop
//!   signal.
//!
//! Cancellation and timeout **drop** the work (its `Drop` guards run before the terminal
//! event is emitted) and interrupt a back-off sleep. If the pipeline itself is dropped
//! half-way (its runner stopped), its core still emits `Cancelled` and resolves the
//! handle, so no path ends without exactly one terminal event. A panic anywhere in the
//! job's user code ends the job with a `Failure` (see `unwind`).

mod attempts;
mod cache_stage;
pub(crate) mod job_span;
mod plain_job;
mod plan;
mod report;
mod stop_signal;

use crate::sync::Arc;
use core::future::Future;
use core::pin::{Pin, pin};

use futures_util::future::{Either, select};

use crate::event::EventKind;
use crate::executor::{Executor, JobContext};
use crate::handle::{ABANDONED, Completer};
use crate::job::Job;
use crate::job_metrics::{Ended, Mark};
use crate::log::Logger;
use crate::result::JobResult;
use crate::sync::BoxFuture;
use crate::unwind::{self, Orphan};

use report::{Outcome, report, started};

pub(crate) use cache_stage::CacheStage;
pub(crate) use plan::{Extras, Plan};

/// What every job's pipeline needs besides the executor and the job: its context (with
/// the dispatcher's shared bus, timer, logger and counters) and the end of its handle.
pub(crate) struct JobCore<T> {
    pub(crate) ctx: JobContext,
    pub(crate) completer: Completer<T>,
}

impl<T> Drop for JobCore<T> {
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
            self.ctx.probe.ended(|| Ended::Cancelled, Mark::NONE, None);
        }
        job_span::finished(&self.ctx, &JobResult::<()>::Cancelled(Some(reason.clone())));
        // Through the type-erased slot (the same one the completer holds): only it knows
        // how to clone the result for any handles that joined this job.
        self.completer.disarm();
        self.ctx.cancel.abandon(reason, &self.ctx.env.counters);
    }
}

/// What a job's options put into the [`skeleton`]: a [`JobCore`] alone (a job without
/// options) or a [`Plan`]. A trait rather than futures passed in: the skeleton owns the
/// plan and makes the stages' futures from it when their turn comes (the work only after
/// the cancellation check), and they borrow from it, living in the job's future like its
/// own locals, with no extra copy or pointer.
trait Stages<T> {
    /// The job's context and the end of its handle.
    fn core(&self) -> &JobCore<T>;

    fn core_mut(&mut self) -> &mut JobCore<T>;

    /// Whether [`admit`](Self::admit) can ever wait: a constant, so a job without
    /// options has no such step at all in its future.
    const MAY_WAIT: bool;

    /// Waits for the job's turn before `Started`, if flow control applies to it (`None`
    /// for a job without options: nothing to poll); `false` if the job was cancelled (or
    /// superseded) while it waited.
    fn admit(&self) -> Option<BoxFuture<'_, bool>>;

    /// The job has ended: gives back what flow control lent it, before its handles
    /// resolve.
    fn leave(&mut self);

    /// Emits what follows `Started` even for a job cancelled before its work began.
    fn announce(&self);

    /// The job's work, up to its result (an [`Outcome::Finished`]). Called only once the
    /// job is known not to be cancelled: making it may call the executor.
    fn work<'a, J, E>(
        &'a self,
        executor: &'a E,
        job: &'a J,
        logger: &'a dyn Logger,
    ) -> impl Future<Output = impl Into<Outcome<T>>> + 'a
    where
        J: Job<Output = T>,
        E: Executor<J> + ?Sized;

    /// Resolves when the job must stop: `Cancelled` or `TimedOut`.
    fn stop(&self) -> impl Future<Output = Outcome<T>> + '_;

    /// What follows the work when it finished first (`outcome` is the work's), before
    /// the outcome is reported, if anything: raced against the `stop` signal, which can
    /// cut it short but not change the outcome. (`None` rather than an empty future: a
    /// job that has nothing to do here polls nothing for it.)
    fn after_work<'a, S: Future<Output = Outcome<T>>>(
        &'a self,
        outcome: &'a Outcome<T>,
        stop: Pin<&'a mut S>,
        logger: &'a dyn Logger,
    ) -> Option<impl Future<Output = ()> + 'a>;
}

/// The pipeline of a job with options (a timeout, retry, placeholder or cache).
pub(crate) fn run<J: Job, E: Executor<J> + ?Sized>(
    executor: Arc<E>,
    job: J,
    plan: Plan<J::Output>,
) -> impl Future<Output = ()> {
    skeleton(executor, job, plan)
}

/// The pipeline of a job without options: the same events and outcomes as [`run`], in a
/// future about half its size. (Most jobs are like this; a job's future is its main
/// memory cost.)
pub(crate) fn run_plain<J: Job, E: Executor<J> + ?Sized>(
    executor: Arc<E>,
    job: J,
    core: JobCore<J::Output>,
) -> impl Future<Output = ()> {
    skeleton(executor, job, core)
}

/// The whole life of one job, whichever its stages. A plain `fn` returning an `async move`
/// block rather than an `async fn`: an `async fn` stores its arguments twice in its future
/// (as captured arguments and again as the body's locals), and the plan is most of a job's
/// state. The plan is used in place for the same reason. (A job's future is its main
/// memory cost: it is copied into its box and read back from memory gone cold.)
#[allow(clippy::manual_async_fn)] // on purpose: an `async fn` stores its arguments twice
fn skeleton<J: Job, E: Executor<J> + ?Sized, S: Stages<J::Output>>(
    executor: Arc<E>,
    job: J,
    mut stages: S,
) -> impl Future<Output = ()> {
    let span = job_span::span_of(&stages.core().ctx);
    // The future is made when the job is dispatched: the time, for its type's metrics
    // (the start replaces it once the job starts).
    let ctx = &stages.core().ctx;
    let mut since = ctx.probe.dispatched(ctx.env.timer.as_ref());
    job_span::instrument(span, async move {
        let ctx = &stages.core().ctx;
        let logger = &*ctx.env.logger;
        // A job under flow control waits for its turn first; cancelled (or superseded)
        // while it waits, it ends with its terminal event alone.
        let admitted = if S::MAY_WAIT {
            match stages.admit() {
                None => true,
                Some(admit) => admit.await,
            }
        } else {
            true
        };
        if admitted {
            since = started(ctx, logger, since);
            stages.announce();
        } else {
            since = Mark::NONE;
        }
        let outcome = if !admitted || ctx.is_cancelled() {
            Outcome::Cancelled
        } else {
            // The work and its stop signal live in this block: when it ends, the losing
            // future has been dropped, before anything is reported.
            let stop = pin!(stages.stop());
            // The work lives in this inner block, and what follows it holds only what the
            // race handed back, bound after it: the state of the cache write then shares
            // the future's memory with the work's instead of adding to it. (A local in
            // scope during the race, such as `let outcome = { .. }` or a kept reference to
            // the pinned stop signal, would keep them apart, and grow every job's future.)
            let (outcome, stop) = {
                let work = pin!(stages.work(&*executor, &job, logger));
                match select(work, stop).await {
                    Either::Left((finished, stop)) => (finished.into(), Some(stop)),
                    Either::Right((stopped, _)) => (stopped, None),
                }
            };
            if let Some(after_work) = stop.and_then(|stop| stages.after_work(&outcome, stop, logger)) {
                after_work.await;
            }
            outcome
        };
        let result = report(ctx, logger, outcome, since);
        job_span::finished(ctx, &result);
        stages.leave();
        let core = stages.core_mut();
        core.completer.complete(result, &core.ctx.env.counters);
    })
}
