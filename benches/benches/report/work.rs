//! The trivial job every job row runs, and ours: a dispatcher of the runtime's adapter.

use std::hint::black_box;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use orchestrator_std::{
    Dispatcher, Executor, Job, JobBuilder, JobContext, JobError, JobHandle, JobResult, RetryPolicy,
};

use crate::runtimes::Rt;

/// The trivial job.
pub(crate) struct Work(pub(crate) u64);

impl Job for Work {
    type Output = u64;
}

/// Its executor.
pub(crate) struct Echo;

impl Executor<Work> for Echo {
    async fn process(&self, job: &Work, _: &JobContext) -> Result<u64, JobError> {
        Ok(work(job.0))
    }
}

/// The work of the trivial job, the same for ours and the peers.
#[inline]
pub(crate) fn work(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

/// Jobs dispatched before the batch is awaited (throughput).
pub(crate) const BATCH: usize = 1000;
pub(crate) const TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) fn retry_policy() -> RetryPolicy {
    RetryPolicy::new().with_max_retries(3).with_base_delay(Duration::from_millis(10))
}

/// A plain job, or one with retry + timeout.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Options {
    Plain,
    RetryTimeout,
}

pub(crate) fn dispatch(d: &Dispatcher, i: u64, options: Options) -> JobHandle<u64> {
    match options {
        Options::Plain => d.dispatch(Work(i)),
        Options::RetryTimeout => d.dispatch(JobBuilder::new(Work(i)).timeout(TIMEOUT).retry(retry_policy())),
    }
    .expect("dispatch")
}

pub(crate) fn expect_success(r: JobResult<u64>) -> u64 {
    match r {
        JobResult::Success(v) => v,
        other => panic!("job did not succeed: {other:?}"),
    }
}

/// The adapter's ready-made dispatcher on `rt` with [`Echo`] registered, admitting at
/// least `in_flight` jobs at once.
pub(crate) fn dispatcher(rt: &Rt, in_flight: usize) -> Dispatcher {
    let b = rt.dispatcher_builder();
    let b =
        if in_flight > orchestrator_std::DispatcherBuilder::DEFAULT_MAX_PENDING { b.max_pending(in_flight) } else { b };
    rt.run(async move {
        let d = b.build().expect("dispatcher");
        d.register(Echo);
        d
    })
}

/// Ours: `batch` jobs dispatched, then their handles awaited.
pub(crate) fn jobs_ours(rt: &Rt, batch: usize, options: Options) -> impl FnMut(u64) -> Duration + '_ {
    let d = dispatcher(rt, batch);
    move |iters| {
        let d = d.clone();
        rt.run(async move {
            let mut handles = Vec::with_capacity(batch);
            let start = Instant::now();
            for _ in 0..iters {
                for i in 0..batch {
                    handles.push(dispatch(&d, i as u64, options));
                }
                for h in handles.drain(..) {
                    black_box(expect_success(h.await));
                }
            }
            start.elapsed()
        })
    }
}

/// A job whose executor keeps a clone of its context.
struct Grab(Arc<Mutex<Option<JobContext>>>);

impl Job for Grab {
    type Output = ();
}

struct Grabber;

impl Executor<Grab> for Grabber {
    async fn process(&self, job: &Grab, ctx: &JobContext) -> Result<(), JobError> {
        *job.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(ctx.clone());
        Ok(())
    }
}

/// A real job context (a `JobContext` is only made by a dispatcher): the peers that
/// call [`Echo`] directly pass it, as a dispatcher would.
pub(crate) fn job_context(rt: &Rt) -> JobContext {
    let b = rt.dispatcher_builder();
    rt.run(async move {
        let d = b.build().expect("dispatcher");
        d.register(Grabber);
        let slot = Arc::new(Mutex::new(None));
        let _ = d.dispatch(Grab(slot.clone())).expect("dispatch").await;
        d.shutdown();
        let ctx = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
        ctx.expect("the job ran")
    })
}

/// The executor's future for job `x`, awaited directly: what each job costs without any
/// machinery around it.
#[inline]
pub(crate) async fn echo(x: u64, ctx: &JobContext) -> u64 {
    Echo.process(&Work(x), ctx).await.expect("the trivial job succeeds")
}
