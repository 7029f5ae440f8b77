//! [`Runner`]: drives dispatched jobs concurrently inside one task.
//!
//! A dispatcher does not spawn a task per job: jobs go into a queue, and a few resident
//! runners pull them and poll them together (a `FuturesUnordered`). With a spawner the
//! dispatcher starts its runners itself; without one (embedded, WASM, tests on the virtual
//! clock) the application awaits [`Dispatcher::runner`](crate::Dispatcher::runner).

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::sync::atomic::Ordering;
use core::task::{Context, Poll};

use alloc::sync::Arc;
use futures_core::Stream;
use futures_util::stream::FuturesUnordered;

use crate::handle::Counters;
use crate::sync::BoxFuture;

/// How many completions a runner handles in one poll before yielding to its executor, so
/// one busy runner cannot starve the other tasks of a single-threaded runtime.
const COMPLETIONS_PER_POLL: usize = 256;

/// A future that runs the jobs of one dispatcher until the dispatcher is shut down (or
/// dropped) and every job it took has finished. Several runners may serve one dispatcher;
/// each job runs on exactly one of them.
///
/// Dropping a runner drops the jobs it was running: each of them emits `Cancelled` and
/// resolves its handle as cancelled ([`ABANDONED`](crate::handle::ABANDONED)).
#[must_use = "a runner does nothing unless awaited or spawned"]
pub struct Runner {
    queue: Pin<alloc::boxed::Box<async_channel::Receiver<BoxFuture<'static, ()>>>>,
    jobs: FuturesUnordered<BoxFuture<'static, ()>>,
    queue_closed: bool,
    counters: Arc<Counters>,
    _registered: RunnerToken,
}

/// Keeps the dispatcher's live-runner count while a runner exists.
struct RunnerToken(Arc<Counters>);

impl Drop for RunnerToken {
    fn drop(&mut self) {
        self.0.runners.fetch_sub(1, Ordering::AcqRel);
    }
}

impl fmt::Debug for Runner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runner").field("jobs", &self.jobs.len()).field("queue_closed", &self.queue_closed).finish()
    }
}

impl Runner {
    pub(crate) fn new(queue: async_channel::Receiver<BoxFuture<'static, ()>>, counters: Arc<Counters>) -> Self {
        counters.runners.fetch_add(1, Ordering::AcqRel);
        Self {
            queue: alloc::boxed::Box::pin(queue),
            jobs: FuturesUnordered::new(),
            queue_closed: false,
            _registered: RunnerToken(counters.clone()),
            counters,
        }
    }

    /// Jobs this runner is currently running.
    pub fn running(&self) -> usize {
        self.jobs.len()
    }
}

impl Future for Runner {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let mut completions = 0;
        loop {
            // Take every queued job first, so a job dispatched by a finishing job is
            // picked up in the same poll.
            while !this.queue_closed {
                match this.queue.as_mut().poll_next(cx) {
                    Poll::Ready(Some(job)) => {
                        this.counters.running.fetch_add(1, Ordering::AcqRel);
                        this.jobs.push(job);
                    }
                    Poll::Ready(None) => this.queue_closed = true,
                    Poll::Pending => break,
                }
            }
            match Pin::new(&mut this.jobs).poll_next(cx) {
                Poll::Ready(Some(())) => {
                    this.counters.running.fetch_sub(1, Ordering::AcqRel);
                    completions += 1;
                    if completions >= COMPLETIONS_PER_POLL {
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                }
                Poll::Ready(None) if this.queue_closed => return Poll::Ready(()),
                Poll::Ready(None) | Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        let n = self.jobs.len();
        self.counters.running.fetch_sub(n, Ordering::AcqRel);
    }
}
