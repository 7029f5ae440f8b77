//! [`Task`]: a dispatched job's future in a box that goes back to its pool when the job
//! ends, so that the next job of its type moves in instead of allocating (see
//! `box_pool`).
//!
//! The box holds everything one job's life needs besides its handle: the executor, the
//! job's future (the whole pipeline), and the result slot its last job used, which the
//! next job reuses if nothing else holds it any more. Only this module knows the box's
//! content: a runner sees a [`Task`] (a future it polls, then [`recycle`s](RunJob::recycle));
//! a dispatcher sees an empty box as a [`Refill`] of its job type, which it refills.
//!
//! Reusing a pinned box is safe: `Pin::set` drops the old value in place and moves the
//! new one in, which is exactly what pinning allows.

use crate::sync::Arc;
use alloc::boxed::Box;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use pin_project_lite::pin_project;

use crate::box_pool::BoxPool;
use crate::handle::SlotRef;
use crate::job::Job;
use crate::sync::{MaybeSend, MaybeSync};

/// A dispatched job, type-erased for the queue and the runners.
pub(crate) type Task = Pin<Box<dyn RunJob>>;

/// What a runner does with a [`Task`]: poll it to its end, then give its box back.
pub(crate) trait RunJob: Future<Output = ()> + MaybeSend {
    /// Gives the box, emptied by the poll that finished its job, back to its pool (which
    /// may drop it).
    fn recycle(self: Pin<Box<Self>>);

    /// Cancels the job in the box, if one is there, with `reason`.
    fn cancel(&self, reason: &Arc<str>);
}

/// An empty box for jobs of type `J` run with plan `P` (their pipeline's input).
pub(crate) trait Refill<J: Job, P>: MaybeSend {
    /// The result slot of the box's last job, for the next job to reuse if it is free.
    fn take_slot(self: Pin<&mut Self>) -> Option<SlotRef<J::Output>>;

    /// Moves the next job in: the box is a task again.
    fn refill(self: Pin<Box<Self>>, job: J, plan: P, slot: SlotRef<J::Output>) -> Task;
}

/// The empty boxes of jobs of type `J` run with plan `P`.
pub(crate) type JobBoxes<J, P> = BoxPool<dyn Refill<J, P>>;

pin_project! {
    /// The box's content: the executor, how to make a job's future with it, the pool the
    /// box returns to, the result slot kept for the next job, and the current job's future
    /// (`None` once it ended).
    struct JobCell<E, J, P, K, F> {
        executor: Arc<E>,
        make: fn(Arc<E>, J, P) -> F,
        pool: Arc<BoxPool<dyn Refill<J, P>>>,
        kept: Option<K>,
        #[pin]
        future: Option<F>,
    }
}

/// What every part of a box must be: it moves between threads with its task.
pub(crate) trait Part: MaybeSend + 'static {}
impl<T: MaybeSend + 'static> Part for T {}

/// A new box for `job`, whose future is `make(executor, job, plan)`; it returns to `pool`.
pub(crate) fn new_task<E, J, P, F>(
    executor: Arc<E>,
    make: fn(Arc<E>, J, P) -> F,
    pool: &Arc<JobBoxes<J, P>>,
    job: J,
    plan: P,
    slot: SlotRef<J::Output>,
) -> Task
where
    E: Part + MaybeSync,
    J: Job,
    P: Part,
    F: Future<Output = ()> + Part,
{
    let future = make(executor.clone(), job, plan);
    Box::pin(JobCell { executor, make, pool: pool.clone(), kept: Some(slot), future: Some(future) })
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

impl<E, J, P, F> RunJob for JobCell<E, J, P, SlotRef<J::Output>, F>
where
    E: Part + MaybeSync,
    J: Job,
    P: Part,
    F: Future<Output = ()> + Part,
{
    fn recycle(self: Pin<Box<Self>>) {
        let pool = self.pool.clone();
        pool.put(self);
    }

    fn cancel(&self, reason: &Arc<str>) {
        if let (Some(_), Some(slot)) = (&self.future, &self.kept) {
            slot.cancel_with(reason);
        }
    }
}

impl<E, J, P, F> Refill<J, P> for JobCell<E, J, P, SlotRef<J::Output>, F>
where
    E: Part + MaybeSync,
    J: Job,
    P: Part,
    F: Future<Output = ()> + Part,
{
    fn take_slot(self: Pin<&mut Self>) -> Option<SlotRef<J::Output>> {
        self.project().kept.take()
    }

    fn refill(mut self: Pin<Box<Self>>, job: J, plan: P, slot: SlotRef<J::Output>) -> Task {
        let mut this = self.as_mut().project();
        *this.kept = Some(slot);
        let future = (this.make)(this.executor.clone(), job, plan);
        this.future.set(Some(future));
        self
    }
}
