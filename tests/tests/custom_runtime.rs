//! Plugging in a runtime the crates know nothing about: a hand-written single-threaded
//! executor and a timer thread, wired to the core by implementing `Clock`, `Timer` and
//! `Spawn` (docs/runtimes.md walks through it). The whole conformance catalogue then runs
//! on it, as `custom_runtime::<scenario>`.
//!
//! Nothing here is specific to tests: an embedded or WASM port has the same three
//! implementations, over its own executor and timer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use futures::task::{ArcWake, waker_ref};
use orchestrator_core::runtime::{Clock, Spawn, SpawnError, Timer};
use orchestrator_core::{BoxFuture, Dispatcher, DispatcherBuilder};
use orchestrator_tests::{Runtime, conformance_suite};

// ---------------------------------------------------------------------------------------
// The executor: one thread polling tasks from a queue.
// ---------------------------------------------------------------------------------------

/// A spawned task: its future, and the queue that re-schedules it when woken.
struct Task {
    future: Mutex<Option<BoxFuture<'static, ()>>>,
    queue: Sender<Arc<Task>>,
}

impl ArcWake for Task {
    fn wake_by_ref(task: &Arc<Self>) {
        // Fails only once the executor has stopped: the task is then dropped.
        let _ = task.queue.send(task.clone());
    }
}

/// A single-threaded executor running on its own thread until dropped.
struct TinyExecutor {
    queue: Option<Sender<Arc<Task>>>,
    thread: Option<JoinHandle<()>>,
}

impl TinyExecutor {
    fn start() -> Self {
        let (queue, ready) = mpsc::channel::<Arc<Task>>();
        let thread = std::thread::Builder::new().name("tiny-executor".into()).spawn(move || run(&ready)).unwrap();
        Self { queue: Some(queue), thread: Some(thread) }
    }

    fn spawner(&self) -> TinySpawner {
        TinySpawner { queue: self.queue.clone().expect("running") }
    }
}

/// The executor loop: poll each woken task once.
fn run(ready: &Receiver<Arc<Task>>) {
    while let Ok(task) = ready.recv() {
        let mut slot = task.future.lock().unwrap();
        if let Some(mut future) = slot.take() {
            let waker = waker_ref(&task);
            if future.as_mut().poll(&mut Context::from_waker(&waker)).is_pending() {
                *slot = Some(future);
            }
        }
    }
}

impl Drop for TinyExecutor {
    fn drop(&mut self) {
        // The loop ends when every sender is gone: ours, the spawners' and the tasks'
        // (tasks hold one to re-schedule themselves), so do not wait for it.
        drop(self.queue.take());
        drop(self.thread.take());
    }
}

/// `Spawn` for the tiny executor: push the task on its queue.
#[derive(Clone)]
struct TinySpawner {
    queue: Sender<Arc<Task>>,
}

impl Spawn for TinySpawner {
    fn spawn(&self, task: BoxFuture<'static, ()>) -> Result<(), SpawnError> {
        let task = Arc::new(Task { future: Mutex::new(Some(task)), queue: self.queue.clone() });
        self.queue.send(task).map_err(|_| SpawnError)
    }
}

// ---------------------------------------------------------------------------------------
// The timer: one thread waking sleeps at their deadlines.
// ---------------------------------------------------------------------------------------

/// One sleep, from its creation to its drop.
#[derive(Default)]
struct Entry {
    due: bool,
    waker: Option<Waker>,
}

#[derive(Default)]
struct Timers {
    /// Deadlines, earliest first, with the sleep's key (dropped sleeps are skipped).
    deadlines: BinaryHeap<Reverse<(Instant, u64)>>,
    /// The live sleeps, by key.
    entries: HashMap<u64, Entry>,
    next_key: u64,
}

struct TimerShared {
    timers: Mutex<Timers>,
    changed: Condvar,
}

/// `Clock` + `Timer` backed by a timer thread; clones share it.
#[derive(Clone)]
struct ThreadTimer {
    origin: Instant,
    shared: Arc<TimerShared>,
}

impl ThreadTimer {
    fn start() -> Self {
        let shared = Arc::new(TimerShared { timers: Mutex::default(), changed: Condvar::new() });
        let weak = Arc::downgrade(&shared);
        std::thread::Builder::new().name("tiny-timer".into()).spawn(move || timer_thread(&weak)).unwrap();
        Self { origin: Instant::now(), shared }
    }
}

/// Wakes the sleeps that are due, then waits for the next deadline (or a new sleep);
/// ends once every timer handle is gone.
fn timer_thread(weak: &std::sync::Weak<TimerShared>) {
    while let Some(shared) = weak.upgrade() {
        let mut timers = shared.timers.lock().unwrap();
        let now = Instant::now();
        let mut woken = Vec::new();
        while let Some(&Reverse((deadline, key))) = timers.deadlines.peek() {
            if deadline > now {
                break;
            }
            timers.deadlines.pop();
            if let Some(entry) = timers.entries.get_mut(&key) {
                entry.due = true;
                woken.extend(entry.waker.take());
            }
        }
        // Wake up at least every 50 ms to notice that the timer is gone.
        let wait = timers.deadlines.peek().map_or(Duration::MAX, |r| r.0.0 - now).min(Duration::from_millis(50));
        let (timers, _) = shared.changed.wait_timeout(timers, wait).unwrap();
        drop(timers);
        woken.into_iter().for_each(Waker::wake);
    }
}

impl Clock for ThreadTimer {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }
}

impl Timer for ThreadTimer {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        // Never panic: a deadline that does not fit in an `Instant` is "never".
        let Some(deadline) = Instant::now().checked_add(duration) else {
            return Box::pin(std::future::pending());
        };
        let key = {
            let mut timers = self.shared.timers.lock().unwrap();
            let key = timers.next_key;
            timers.next_key += 1;
            timers.deadlines.push(Reverse((deadline, key)));
            timers.entries.insert(key, Entry::default());
            key
        };
        self.shared.changed.notify_one();
        Box::pin(Sleep { shared: self.shared.clone(), key })
    }
}

struct Sleep {
    shared: Arc<TimerShared>,
    key: u64,
}

impl Future for Sleep {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut timers = self.shared.timers.lock().unwrap();
        let entry = timers.entries.entry(self.key).or_default();
        if entry.due {
            return Poll::Ready(());
        }
        entry.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        let entry = self.shared.timers.lock().unwrap().entries.remove(&self.key);
        drop(entry); // its waker is dropped outside the lock
    }
}

// ---------------------------------------------------------------------------------------
// The suite's view of it.
// ---------------------------------------------------------------------------------------

/// The tiny executor and timer, as a runtime of the conformance suite.
struct CustomRuntime {
    executor: TinyExecutor,
    timer: ThreadTimer,
}

impl Runtime for CustomRuntime {
    const NAME: &'static str = "custom_runtime";

    fn new() -> Self {
        Self { executor: TinyExecutor::start(), timer: ThreadTimer::start() }
    }
    fn timer(&self) -> Arc<dyn Timer> {
        Arc::new(self.timer.clone())
    }
    fn builder(&self) -> DispatcherBuilder {
        Dispatcher::builder().timer(self.timer.clone()).spawner(self.executor.spawner())
    }
    fn build_dispatcher(&self, configure: impl FnOnce(DispatcherBuilder) -> DispatcherBuilder) -> Dispatcher {
        configure(self.builder()).build().unwrap()
    }
    fn block_on<F: Future>(&self, future: F) -> F::Output {
        // The test body runs on the test thread; the jobs on the executor thread.
        futures::executor::block_on(future)
    }
}

conformance_suite!(custom_runtime, CustomRuntime);

/// The example of docs/runtimes.md, end to end.
#[test]
fn a_dispatcher_on_the_custom_runtime() {
    use orchestrator_core::{Executor, Job, JobBuilder, JobContext, JobError, JobResult, RetryPolicy};

    struct Fetch(u32);
    impl Job for Fetch {
        type Output = u32;
    }
    struct Fetcher;
    impl Executor<Fetch> for Fetcher {
        async fn process(&self, job: &Fetch, ctx: &JobContext) -> Result<u32, JobError> {
            if ctx.attempt() == 0 { Err(JobError::msg("flaky")) } else { Ok(job.0 * 10) }
        }
    }

    let executor = TinyExecutor::start();
    let timer = ThreadTimer::start();
    let dispatcher = Dispatcher::builder().timer(timer).spawner(executor.spawner()).runners(2).build().unwrap();
    assert_eq!(dispatcher.stats().runners, 2);
    dispatcher.register(Fetcher);
    let job = JobBuilder::new(Fetch(4))
        .timeout(Duration::from_secs(5))
        .retry(RetryPolicy::new().with_max_retries(2).with_base_delay(Duration::from_millis(1)));
    let handle = dispatcher.dispatch(job).unwrap();
    assert!(matches!(futures::executor::block_on(handle), JobResult::Success(40)));
    dispatcher.shutdown();
}
