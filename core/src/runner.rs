//! [`Runner`]: drives dispatched jobs concurrently inside one task.
//!
//! A dispatcher does not spawn a task per job: jobs go into a queue, and a few resident
//! runners pull them and poll them together (a `FuturesUnordered`). With a spawner the
//! dispatcher starts its runners itself; without one (embedded, WASM, tests on the virtual
//! clock) the application awaits [`Dispatcher::runner`](crate::Dispatcher::runner).

use crate::sync::atomic::{AtomicBool, Ordering};
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use crate::sync::Arc;
use alloc::collections::VecDeque;
use futures_core::Stream;
use futures_util::stream::FuturesUnordered;

use crate::handle::Counters;
use crate::job_box::Task;
use crate::sync::Mutex;
use crate::waker_slots::{WakeBatch, WakerSlots};

/// How many queued jobs a runner moves out of the shared queue per lock acquisition.
const TAKE_BATCH: usize = 32;

/// The dispatcher's queue of jobs waiting for a runner: a locked `VecDeque`, and the wakers
/// of the runners that found it empty.
///
/// `push` wakes one waiting runner, only if one is waiting: a dispatch while the runners
/// are busy is a lock, a `push_back` and an unlock (async-channel, used before, also took
/// its listener list's lock on every send). A runner moves up to [`TAKE_BATCH`] jobs out per
/// lock; one that finds the queue empty registers its waker under the same lock, so no
/// wake-up is lost. A runner dropped with jobs it had taken but not started puts them
/// back, and hands a pending wake-up on to another runner.
pub(crate) struct JobQueue {
    state: Mutex<QueueState>,
    /// The dispatcher started its runners on a spawner: once the last of them is gone
    /// (its runtime shut down), nobody will run a queued job (see [`JobQueue::leave`]).
    spawned: bool,
    /// Mirror of `QueueState::closed`, readable without the lock.
    closed: AtomicBool,
}

struct QueueState {
    jobs: VecDeque<Task>,
    closed: bool,
    /// One waker slot per runner, registered while it finds no job.
    waiting: WakerSlots,
    /// Runners alive (registered by `new_runner_id`, gone in `leave`).
    runners: usize,
    /// The last runner of a spawned dispatcher is gone: jobs are refused until a runner
    /// is created again.
    unserved: bool,
    /// A drain's deadline passed: the runners cancel the jobs they hold, with this reason.
    aborted: Option<Arc<str>>,
}

/// Why [`JobQueue::push`] refused a job.
pub(crate) enum PushError {
    /// The dispatcher was shut down.
    Closed,
    /// No runner is left to run it (see [`JobQueue::leave`]).
    Unserved,
}

/// What [`JobQueue::take`] found.
enum Take {
    /// Jobs were moved into the runner's batch.
    Jobs,
    /// None yet; the runner's waker is registered.
    Empty,
    /// Closed, and no job is left.
    Closed,
}

impl JobQueue {
    pub(crate) fn new(spawned: bool) -> Self {
        Self {
            state: Mutex::new(QueueState {
                jobs: VecDeque::new(),
                closed: false,
                waiting: WakerSlots::new(),
                runners: 0,
                unserved: false,
                aborted: None,
            }),
            spawned,
            closed: AtomicBool::new(false),
        }
    }

    /// Queues a job and wakes a waiting runner; gives the job back if the queue is closed
    /// or nobody is left to run it.
    pub(crate) fn push(&self, job: Task) -> Result<(), (Task, PushError)> {
        let waker = {
            let mut st = self.state.lock();
            if st.closed {
                return Err((job, PushError::Closed));
            }
            if st.unserved {
                return Err((job, PushError::Unserved));
            }
            st.jobs.push_back(job);
            st.waiting.take_one()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }

    /// Closes the queue (jobs already queued are still run) and wakes every waiting runner.
    /// Returns `true` if this call closed it.
    pub(crate) fn close(&self) -> bool {
        let mut waiting = WakeBatch::new();
        {
            let mut st = self.state.lock();
            if st.closed {
                return false;
            }
            st.closed = true;
            self.closed.store(true, Ordering::Release);
            st.waiting.take_all(&mut waiting);
        }
        waiting.wake_all();
        true
    }

    /// A drain's deadline passed: cancels the queued jobs with `reason`, and wakes the
    /// runners so they cancel those they hold (see [`Runner`]'s poll).
    pub(crate) fn abort(&self, reason: Arc<str>) {
        let mut waiting = WakeBatch::new();
        {
            let mut st = self.state.lock();
            for job in &st.jobs {
                job.cancel(&reason);
            }
            st.aborted = Some(reason);
            st.waiting.take_all(&mut waiting);
        }
        waiting.wake_all();
    }

    /// For a runner that has seen the queue closed: the abort reason if a drain's
    /// deadline passed, else registers `waker` for runner `id` to hear of one.
    fn aborted_or_register(&self, id: usize, waker: &Waker) -> Option<Arc<str>> {
        let mut st = self.state.lock();
        if st.aborted.is_none() {
            st.waiting.register(id, waker);
        }
        st.aborted.clone()
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Jobs waiting for a runner.
    pub(crate) fn len(&self) -> usize {
        self.state.lock().jobs.len()
    }

    fn new_runner_id(&self) -> usize {
        let mut st = self.state.lock();
        let id = st.waiting.add();
        st.runners = st.runners.saturating_add(1);
        st.unserved = false;
        id
    }

    /// Moves up to [`TAKE_BATCH`] jobs into `batch`; with none, registers `waker` for
    /// runner `id` (under the same lock).
    fn take(&self, id: usize, batch: &mut VecDeque<Task>, waker: &Waker) -> Take {
        let mut st = self.state.lock();
        if !st.jobs.is_empty() {
            let n = st.jobs.len().min(TAKE_BATCH);
            batch.extend(st.jobs.drain(..n));
            return Take::Jobs;
        }
        if st.closed {
            return Take::Closed;
        }
        st.waiting.register(id, waker);
        Take::Empty
    }

    /// A runner goes away: its untaken jobs go back to the front of the queue, its waker
    /// is removed, and if jobs are left another waiting runner is woken in its place.
    ///
    /// If it was the last runner of a spawned dispatcher (its runtime shut down), nobody
    /// will ever take the queued jobs: they are dropped, each ending as abandoned (its
    /// terminal event and its handle), and later dispatches are refused until a runner is
    /// created again. (Without a spawner the application awaits runners itself, and may
    /// await another one later: the jobs wait for it.)
    fn leave(&self, id: usize, batch: &mut VecDeque<Task>) {
        let (waker, orphans) = {
            let mut st = self.state.lock();
            while let Some(job) = batch.pop_back() {
                st.jobs.push_front(job);
            }
            st.waiting.remove(id);
            st.runners = st.runners.saturating_sub(1);
            if self.spawned && st.runners == 0 && !st.closed {
                st.unserved = true;
                (None, core::mem::take(&mut st.jobs))
            } else if st.jobs.is_empty() {
                (None, VecDeque::new())
            } else {
                (st.waiting.take_one(), VecDeque::new())
            }
        };
        // Outside the lock: dropping a job emits its terminal event and wakes its handle.
        drop(orphans);
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

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
    queue: Arc<JobQueue>,
    /// This runner's id in the queue's waiting list.
    id: usize,
    /// Jobs taken from the queue and not polled yet.
    batch: VecDeque<Task>,
    jobs: FuturesUnordered<Running>,
    /// Jobs finished in this poll: `running` is updated once, at its end.
    finished: usize,
    queue_closed: bool,
    /// A drain's deadline cancelled this runner's jobs.
    aborted: bool,
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
    pub(crate) fn new(queue: Arc<JobQueue>, counters: Arc<Counters>) -> Self {
        counters.runners.fetch_add(1, Ordering::AcqRel);
        Self {
            id: queue.new_runner_id(),
            queue,
            batch: VecDeque::new(),
            jobs: FuturesUnordered::new(),
            finished: 0,
            queue_closed: false,
            aborted: false,
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
        let poll = this.run(cx);
        // One update of the shared counter per poll, not one per job. Until it is made,
        // `running` over-counts the jobs finished in this poll, never under-counts: their
        // boxes went back to their pools (or were freed, and with them their hold on the
        // executor) as each finished, so whoever sees it at 0 knows nothing of those jobs
        // is left.
        let finished = core::mem::take(&mut this.finished);
        if finished > 0 {
            this.counters.running.fetch_sub(finished, Ordering::AcqRel);
        }
        poll
    }
}

impl Runner {
    /// Polls the jobs; those that finish give their boxes back and are counted in
    /// `self.finished`.
    fn run(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            // Take every queued job first, so a job dispatched by a finishing job is
            // picked up in the same poll.
            while !self.queue_closed {
                if self.batch.is_empty() {
                    match self.queue.take(self.id, &mut self.batch, cx.waker()) {
                        // Taken jobs count as running from now until their futures are
                        // dropped (here, by the `FuturesUnordered`, or by the runner's
                        // drop): their handles resolve (and `pending` drops) inside a
                        // poll, so whoever sees `pending` and `running` at 0 knows no job
                        // future, nor anything it holds, is left.
                        Take::Jobs => drop(self.counters.running.fetch_add(self.batch.len(), Ordering::AcqRel)),
                        Take::Empty => break,
                        Take::Closed => {
                            self.queue_closed = true;
                            break;
                        }
                    }
                }
                while let Some(mut job) = self.batch.pop_front() {
                    // Poll a new job once right away: one that finishes in its first poll
                    // never enters the `FuturesUnordered` (no task allocation, no
                    // ready-queue round trip). One that does not is polled again there,
                    // with its own waker; the runner's waker it registered now can only
                    // cause a spurious wake-up of the runner.
                    // A job that finished has emptied its box itself (see `Task`).
                    if job.as_mut().poll(cx).is_ready() {
                        job.recycle();
                        self.finished += 1;
                        if self.finished >= COMPLETIONS_PER_POLL {
                            cx.waker().wake_by_ref();
                            return Poll::Pending;
                        }
                    } else {
                        self.jobs.push(Running(Some(job)));
                    }
                }
            }
            match Pin::new(&mut self.jobs).poll_next(cx) {
                Poll::Ready(Some(job)) => {
                    job.recycle();
                    self.finished += 1;
                    if self.finished >= COMPLETIONS_PER_POLL {
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                }
                Poll::Ready(None) if self.queue_closed => return Poll::Ready(()),
                Poll::Pending if self.queue_closed && !self.aborted => {
                    // Shut down, jobs still running: a drain's deadline may cancel them
                    // (only now is the queue asked, so running normally costs nothing).
                    if let Some(reason) = self.queue.aborted_or_register(self.id, cx.waker()) {
                        self.aborted = true;
                        for job in self.jobs.iter().filter_map(|job| job.0.as_ref()) {
                            job.cancel(&reason);
                        }
                        for job in &self.batch {
                            job.cancel(&reason);
                        }
                        continue;
                    }
                    return Poll::Pending;
                }
                Poll::Ready(None) | Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// A job that did not finish in its first poll, in the runner's `FuturesUnordered`. It
/// yields its emptied box when the job finishes.
struct Running(Option<Task>);

impl Future for Running {
    type Output = Task;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Task> {
        let Some(job) = self.0.as_mut() else { return Poll::Pending };
        core::task::ready!(job.as_mut().poll(cx));
        // Finished: the box is empty already (see `Task`).
        self.0.take().map_or(Poll::Pending, Poll::Ready)
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        // The jobs it took and had not started go back to the queue; those it was running
        // are dropped with it (each resolves its handle as abandoned).
        let n = self.jobs.len() + self.batch.len();
        self.jobs.clear();
        self.queue.leave(self.id, &mut self.batch);
        self.counters.running.fetch_sub(n, Ordering::AcqRel);
    }
}
