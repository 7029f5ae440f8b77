//! [`AbortOnDropHandle`]: a job handle that cancels its job when dropped.

use crate::sync::Arc;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use super::{JobHandle, ResultSlot, State};
use crate::job_id::JobId;
use crate::result::JobResult;

/// The cancellation reason of a job whose [`AbortOnDropHandle`] was dropped before the
/// job ended (in its `Cancelled` event and result).
pub const HANDLE_DROPPED: &str = "its handle was dropped before the job ended";

impl<T> JobHandle<T> {
    /// This handle, made to cancel its job when it is dropped before the job has ended
    /// (with the reason [`HANDLE_DROPPED`]): an HTTP handler awaiting a job whose client
    /// disconnects, a `select!` that takes another branch, a `tower` timeout. A plain
    /// `JobHandle` leaves the job running when dropped.
    ///
    /// ```
    /// use orchestrator_core::{executor_fn, Dispatcher, Job, JobError, JobResult};
    /// use orchestrator_core::HANDLE_DROPPED;
    ///
    /// #[derive(Clone)]
    /// struct Slow;
    /// impl Job for Slow { type Output = (); }
    ///
    /// let dispatcher = Dispatcher::new();
    /// dispatcher.register(executor_fn(|_: Slow, _| futures::future::pending::<Result<(), JobError>>()));
    /// let mut events = dispatcher.bus().subscribe().unwrap();
    ///
    /// let guarded = dispatcher.dispatch(Slow).unwrap().abort_on_drop();
    /// let id = guarded.id();
    /// drop(guarded); // the caller went away: the job is cancelled
    /// dispatcher.shutdown();
    /// futures::executor::block_on(dispatcher.runner());
    ///
    /// let mut last = None;
    /// while let Ok(event) = events.try_next() { last = Some(event); }
    /// let last = last.unwrap();
    /// assert_eq!(last.id(), id);
    /// assert!(matches!(last.kind(), orchestrator_core::EventKind::Cancelled { reason: Some(r) } if &**r == HANDLE_DROPPED));
    /// ```
    pub fn abort_on_drop(self) -> AbortOnDropHandle<T> {
        AbortOnDropHandle { guard: CancelOnDrop { slot: self.slot.clone(), armed: true }, handle: self }
    }
}

/// A [`JobHandle`] that cancels its job when dropped before the job ended; made by
/// [`JobHandle::abort_on_drop`]. It is a future of the job's [`JobResult`], like the
/// handle; once it returned the result, dropping it does nothing.
#[must_use = "dropping it cancels the job"]
pub struct AbortOnDropHandle<T> {
    // Declared first so that it is dropped first: it must see the slot before the
    // handle's own drop detaches it.
    guard: CancelOnDrop<T>,
    handle: JobHandle<T>,
}

/// Cancels the job of `slot` on drop, if it is armed and the job has not ended.
struct CancelOnDrop<T> {
    slot: Arc<ResultSlot<T>>,
    armed: bool,
}

impl<T> Drop for CancelOnDrop<T> {
    fn drop(&mut self) {
        // A job whose result is in (or was taken) has ended: nothing to cancel.
        let waiting = matches!(*self.slot.state.lock(), State::Waiting(_));
        if self.armed && waiting {
            self.slot.cancel.get().cancel_with_reason(HANDLE_DROPPED);
        }
    }
}

impl<T> AbortOnDropHandle<T> {
    /// The plain handle back: dropping it no longer cancels the job.
    pub fn detach(self) -> JobHandle<T> {
        let Self { mut guard, handle } = self;
        guard.armed = false;
        handle
    }

    /// The plain handle, to read it ([`JobHandle::id`], [`JobHandle::token`], ...).
    pub fn handle(&self) -> &JobHandle<T> {
        &self.handle
    }

    /// The job's id.
    pub fn id(&self) -> JobId {
        self.handle.id()
    }

    /// Cancels the job now (see [`JobHandle::cancel`]).
    pub fn cancel(&self) -> bool {
        self.handle.cancel()
    }

    /// Cancels the job now with a reason (see [`JobHandle::cancel_with_reason`]).
    pub fn cancel_with_reason(&self, reason: impl Into<Arc<str>>) -> bool {
        self.handle.cancel_with_reason(reason)
    }

    /// True once the job's result is available (or was taken).
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }

    /// Takes the result if the job has finished, without waiting.
    pub fn try_result(&mut self) -> Option<JobResult<T>> {
        self.handle.try_result()
    }
}

impl<T> Future for AbortOnDropHandle<T> {
    type Output = JobResult<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<JobResult<T>> {
        Pin::new(&mut self.handle).poll(cx)
    }
}

impl<T> fmt::Debug for AbortOnDropHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AbortOnDropHandle").field("handle", &self.handle).field("armed", &self.guard.armed).finish()
    }
}
