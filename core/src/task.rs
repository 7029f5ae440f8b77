//! [`Task`]: a dispatched job as its runner holds it, in a box that is reused.
//!
//! A job's future (the whole pipeline: the executor's future, the stop signal, the plan)
//! is several hundred bytes, too big for the allocator's fast size classes, and
//! allocating and freeing it was the largest single cost of a short job. So the box is
//! kept: the poll that finishes a job drops its future *inside* the box, and the runner hands the
//! empty box back to the dispatcher, which fills it with the next job of the same type
//! and executor registration (see `Registry` in the dispatcher). The number of empty
//! boxes kept is bounded ([`DispatcherBuilder::reuse_limit`]).
//!
//! Reusing a pinned box is safe: `Pin::set` drops the old value in place and moves the
//! new one in, which is exactly what pinning allows.
//!
//! [`DispatcherBuilder::reuse_limit`]: crate::DispatcherBuilder::reuse_limit

use alloc::boxed::Box;
use alloc::sync::Arc;
use core::any::{Any, TypeId};
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use pin_project_lite::pin_project;

use crate::sync::{MaybeSend, MaybeSync};

/// Where a task's box goes back to: the job type and the executor registration it was
/// made for (a box of a replaced executor is not reused), and which pipeline it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Origin {
    pub(crate) job_type: TypeId,
    pub(crate) registration: u64,
    pub(crate) variant: Variant,
}

/// The two pipelines, whose futures differ in type and size: a box holds one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Variant {
    /// `pipeline::run_plain`: a job without options.
    Plain = 0,
    /// `pipeline::run`: a job with a timeout, retry, placeholder or cache policy.
    Full = 1,
}

/// A dispatched job, type-erased for the queue and the runners.
pub(crate) type Task = Pin<Box<dyn RunJob>>;

/// What a runner and the dispatcher do with a [`Task`].
pub(crate) trait RunJob: Future<Output = ()> + MaybeSend {
    /// The registration whose pool the box returns to.
    fn origin(&self) -> Origin;

    /// Puts a new job into an empty box. `input` must be an `Option<(J, P, K)>` of the
    /// box's types (job, plan, kept value), which is taken; anything else is left alone and
    /// `false` returned.
    fn refill(self: Pin<&mut Self>, input: &mut dyn Any) -> bool;

    /// What the box keeps from its last job for the next one (an `Option<K>`): the job's
    /// result slot, reused if nothing else holds it any more.
    fn kept(self: Pin<&mut Self>) -> &mut dyn Any;
}

pin_project! {
    /// The box's content: the executor, how to make a job's future with it, the current
    /// job's future (`None` while the box waits in a pool), and what the box keeps for
    /// the next job.
    struct JobCell<E, J, P, K, F> {
        executor: Arc<E>,
        make: fn(Arc<E>, J, P) -> F,
        origin: Origin,
        kept: Option<K>,
        #[pin]
        future: Option<F>,
    }
}

/// What every part of a box must be: it moves between threads with its task.
pub(crate) trait Part: MaybeSend + 'static {}
impl<T: MaybeSend + 'static> Part for T {}

/// A new task for `job`: `make(executor, job, plan)` is its future; the box keeps `kept`.
pub(crate) fn new_task<E: Part + MaybeSync, J: Part, P: Part, K: Part, F: Future<Output = ()> + Part>(
    executor: Arc<E>,
    make: fn(Arc<E>, J, P) -> F,
    origin: Origin,
    (job, plan, kept): (J, P, K),
) -> Task {
    let future = make(executor.clone(), job, plan);
    Box::pin(JobCell { executor, make, origin, kept: Some(kept), future: Some(future) })
}

impl<E, J, P, K, F> Future for JobCell<E, J, P, K, F>
where
    F: Future<Output = ()>,
{
    type Output = ();

    /// Polls the job inside the panic boundary: a panic in its user code ends this job
    /// (with a `Failure`) and returns `Ready`, never unwinds into the runner.
    ///
    /// A job that finishes is dropped here too, inside the same boundary: its `Drop`s
    /// (the job, the executor's future) are user code as well, and one boundary per poll
    /// is cheaper than two. The box is then empty, ready to be given back.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut slot = self.project().future;
        if slot.is_none() {
            return Poll::Ready(());
        }
        let poll = crate::unwind::poll_job(|| {
            let Some(future) = slot.as_mut().as_pin_mut() else { return Poll::Ready(()) };
            let poll = future.poll(cx);
            if poll.is_ready() {
                slot.set(None);
            }
            poll
        });
        if poll.is_ready() && slot.is_some() {
            // A panic ended the job: its future is poisoned (dropping it drops nothing).
            slot.set(None);
        }
        poll
    }
}

impl<E: Part + MaybeSync, J: Part, P: Part, K: Part, F: Future<Output = ()> + Part> RunJob for JobCell<E, J, P, K, F> {
    fn origin(&self) -> Origin {
        self.origin
    }

    fn refill(self: Pin<&mut Self>, input: &mut dyn Any) -> bool {
        let Some(input) = input.downcast_mut::<Option<(J, P, K)>>() else { return false };
        let Some((job, plan, kept)) = input.take() else { return false };
        let mut this = self.project();
        *this.kept = Some(kept);
        let future = (this.make)(this.executor.clone(), job, plan);
        this.future.set(Some(future));
        true
    }

    fn kept(self: Pin<&mut Self>) -> &mut dyn Any {
        self.project().kept
    }
}
