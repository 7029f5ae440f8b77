//! Spawn per job on tokio's multi-thread runtime: an executor that blocks its thread holds
//! up only its own job, while with one resident runner it holds up every queued job.
//!
//! Nothing here measures time. The blocking executor waits (on a std channel, blocking its
//! worker thread) for the test body to tell it that the quick jobs are all done, and
//! reports how many quick jobs had finished when it was let go: all of them when they ran
//! beside it, none when they were stuck behind it. The channel's timeout only guards the
//! resident case, where nobody can let it go: it bounds the test, it is not asserted on.

#![cfg(feature = "tokio")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use futures::channel::oneshot;
use orchestrator_std::tokio::TokioRuntime;
use orchestrator_std::{Dispatcher, DispatcherBuilder, Executor, Job, JobContext, JobError};

const QUICK_JOBS: usize = 20;

/// A job whose executor blocks its thread until it is let go.
struct Block;
impl Job for Block {
    /// Quick jobs finished when it was let go, and whether it was let go by the test
    /// (rather than by the guard's timeout).
    type Output = (usize, bool);
}

struct Blocker {
    started: Mutex<Option<oneshot::Sender<()>>>,
    release: Mutex<mpsc::Receiver<()>>,
    quick_done: Arc<AtomicUsize>,
    guard: Duration,
}

impl Executor<Block> for Blocker {
    async fn process(&self, _: &Block, _: &JobContext) -> Result<(usize, bool), JobError> {
        if let Some(started) = self.started.lock().unwrap().take() {
            let _ = started.send(());
        }
        // Blocks the worker thread: no `.await` until it is let go.
        let released = self.release.lock().unwrap().recv_timeout(self.guard).is_ok();
        Ok((self.quick_done.load(Ordering::SeqCst), released))
    }
}

#[derive(Clone)]
struct Quick;
impl Job for Quick {
    type Output = ();
}

struct Counting(Arc<AtomicUsize>);
impl Executor<Quick> for Counting {
    async fn process(&self, _: &Quick, _: &JobContext) -> Result<(), JobError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_time().build().unwrap()
}

/// Dispatches the blocker, waits until it blocks, dispatches the quick jobs, and returns
/// the blocker's result. With `wait_for_quick`, the quick jobs are awaited before the
/// blocker is let go; without, it is never let go (its guard ends it).
fn run(
    rt: &tokio::runtime::Runtime,
    configure: impl FnOnce(DispatcherBuilder) -> DispatcherBuilder,
    per_type: bool,
    wait_for_quick: bool,
    guard: Duration,
) -> (usize, bool) {
    let adapter = TokioRuntime::with_handle(rt.handle().clone());
    let dispatcher: Dispatcher = configure(adapter.dispatcher_builder()).build().unwrap();
    let quick_done = Arc::new(AtomicUsize::new(0));
    let (started_tx, started_rx) = oneshot::channel();
    let (release_tx, release_rx) = mpsc::channel();
    dispatcher.register(Blocker {
        started: Mutex::new(Some(started_tx)),
        release: Mutex::new(release_rx),
        quick_done: quick_done.clone(),
        guard,
    });
    dispatcher.register(Counting(quick_done));
    if per_type {
        dispatcher.spawn_per_job::<Block>(true).unwrap();
    }
    rt.block_on(async {
        let blocker = dispatcher.dispatch(Block).unwrap();
        started_rx.await.unwrap();
        let quick: Vec<_> = (0..QUICK_JOBS).map(|_| dispatcher.dispatch(Quick).unwrap()).collect();
        if wait_for_quick {
            for handle in quick {
                assert!(handle.await.is_success());
            }
            release_tx.send(()).unwrap();
        }
        let result = blocker.await.ok().expect("the blocker succeeds");
        dispatcher.shutdown();
        result
    })
}

#[test]
fn a_blocking_job_spawned_on_its_own_does_not_delay_the_others() {
    let rt = multi_thread();
    let (quick_done, released) = run(&rt, |b| b.runners(1).spawn_per_job(), false, true, Duration::from_secs(60));
    assert!(released, "the quick jobs finished while the blocker held its thread");
    assert_eq!(quick_done, QUICK_JOBS);
}

#[test]
fn spawning_only_the_blocking_type_frees_the_runner_for_the_others() {
    let rt = multi_thread();
    let (quick_done, released) = run(&rt, |b| b.runners(1), true, true, Duration::from_secs(60));
    assert!(released);
    assert_eq!(quick_done, QUICK_JOBS);
}

/// The contrast: with one resident runner, the quick jobs are queued behind the blocker
/// and none can run until it lets go of the thread (here: its guard's timeout).
#[test]
fn a_blocking_job_on_the_only_resident_runner_holds_up_the_queue() {
    let rt = multi_thread();
    let (quick_done, released) = run(&rt, |b| b.runners(1), false, false, Duration::from_millis(200));
    assert!(!released);
    assert_eq!(quick_done, 0, "no quick job ran while the runner was blocked");
}
