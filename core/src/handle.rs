//! [`JobHandle`]: the caller's end of one dispatched job.

use alloc::sync::Arc;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::sync::atomic::{AtomicUsize, Ordering};
use core::task::{Context, Poll, Waker};

use crate::cancel::CancellationToken;
use crate::error::JobError;
use crate::job::JobId;
use crate::result::JobResult;
use crate::sync::Mutex;

/// Reason given to a job's handle when the job was dropped before it could finish
/// (its runner stopped or was dropped).
pub const ABANDONED: &str = "abandoned: the job was dropped before it finished (its runner stopped)";

/// Counters shared by a dispatcher, its runners and its jobs.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Dispatched and not yet finished (queued or running).
    pub(crate) pending: AtomicUsize,
    /// Being polled by a runner.
    pub(crate) running: AtomicUsize,
    /// Finished (any outcome). Wraps on overflow.
    pub(crate) finished: AtomicUsize,
    /// Runner futures alive.
    pub(crate) runners: AtomicUsize,
}

enum State<T> {
    Waiting(Option<Waker>),
    Done(JobResult<T>),
    Taken,
}

struct Slot<T> {
    state: Mutex<State<T>>,
}

/// The job's end of the result slot. Completing it (or dropping it unused) resolves the
/// handle exactly once and updates the dispatcher's counters.
pub(crate) struct Completer<T> {
    slot: Option<Arc<Slot<T>>>,
    counters: Arc<Counters>,
}

impl<T> Completer<T> {
    pub(crate) fn complete(mut self, result: JobResult<T>) {
        self.resolve(result);
    }

    fn resolve(&mut self, result: JobResult<T>) {
        let Some(slot) = self.slot.take() else { return };
        let waker = {
            let mut state = slot.state.lock();
            match core::mem::replace(&mut *state, State::Done(result)) {
                State::Waiting(w) => w,
                // Unreachable in practice: only one completer exists per slot.
                other => {
                    *state = other;
                    None
                }
            }
        };
        self.counters.pending.fetch_sub(1, Ordering::AcqRel);
        self.counters.finished.fetch_add(1, Ordering::Relaxed);
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> Drop for Completer<T> {
    fn drop(&mut self) {
        // Only a job dropped before it completed builds the reason (an allocation).
        if self.slot.is_some() {
            self.resolve(JobResult::Cancelled(Some(Arc::from(ABANDONED))));
        }
    }
}

pub(crate) fn pair<T>(id: JobId, token: CancellationToken, counters: Arc<Counters>) -> (Completer<T>, JobHandle<T>) {
    let slot = Arc::new(Slot { state: Mutex::new(State::Waiting(None)) });
    counters.pending.fetch_add(1, Ordering::AcqRel);
    (Completer { slot: Some(slot.clone()), counters }, JobHandle { id, token, slot })
}

/// The caller's end of a dispatched job: a `Future` of its [`JobResult`], plus
/// [`cancel`](Self::cancel).
///
/// The result is stored for the handle, so it is never missed however late the handle is
/// awaited, and whatever happens to the bus. Dropping the handle does **not** cancel the
/// job (call `cancel` for that). Awaiting a handle again after it returned its result
/// yields a `Failure` saying so (it never panics).
pub struct JobHandle<T> {
    id: JobId,
    token: CancellationToken,
    slot: Arc<Slot<T>>,
}

impl<T> fmt::Debug for JobHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobHandle").field("id", &self.id).field("finished", &self.is_finished()).finish()
    }
}

impl<T> JobHandle<T> {
    /// The job's id (the one on its events).
    pub fn id(&self) -> JobId {
        self.id
    }

    /// Cancels this job only (not other jobs sharing a token given in its options).
    /// Returns `true` if this call cancelled it.
    pub fn cancel(&self) -> bool {
        self.token.cancel()
    }

    /// Cancels this job with a reason, reported in its `Cancelled` event and result.
    pub fn cancel_with_reason(&self, reason: impl Into<Arc<str>>) -> bool {
        self.token.cancel_with_reason(reason)
    }

    /// The job's own cancellation token.
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }

    /// True once the result is available (or was taken).
    pub fn is_finished(&self) -> bool {
        !matches!(*self.slot.state.lock(), State::Waiting(_))
    }

    /// Takes the result if the job has finished, without waiting.
    pub fn try_result(&mut self) -> Option<JobResult<T>> {
        let mut state = self.slot.state.lock();
        match core::mem::replace(&mut *state, State::Taken) {
            State::Done(r) => Some(r),
            other => {
                *state = other;
                None
            }
        }
    }
}

impl<T> Future for JobHandle<T> {
    type Output = JobResult<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<JobResult<T>> {
        let mut state = self.slot.state.lock();
        match &mut *state {
            State::Waiting(waker) => {
                match waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => *waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
            State::Done(_) => match core::mem::replace(&mut *state, State::Taken) {
                State::Done(r) => Poll::Ready(r),
                _ => Poll::Pending,
            },
            State::Taken => {
                Poll::Ready(JobResult::Failure(JobError::msg("job handle polled after it returned its result")))
            }
        }
    }
}
