//! Spawn per job on a spawner of the test's own, which keeps the tasks it is given (or
//! refuses, or drops them): what goes where, the counters, the events, refusals.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs, missing_debug_implementations)]

mod common;

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use common::{drain, tags};
use futures::executor::block_on;
use orchestrator_core::EventTag::*;
use orchestrator_core::runtime::{Spawn, SpawnError};
use orchestrator_core::{ABANDONED, BoxFuture, DispatchError, Dispatcher, Job, JobContext, JobResult, executor_fn};

/// What [`Keeper`] does with the next tasks.
const KEEP: u8 = 0;
const REFUSE: u8 = 1;
const ACCEPT_AND_DROP: u8 = 2;

/// A spawner that keeps the tasks it accepts (the test runs them), or refuses them, or
/// accepts and drops them as a runtime shutting down does.
#[derive(Clone, Default)]
struct Keeper {
    tasks: Arc<Mutex<Vec<BoxFuture<'static, ()>>>>,
    mode: Arc<AtomicU8>,
}

impl Keeper {
    fn kept(&self) -> usize {
        self.tasks.lock().unwrap().len()
    }

    /// Runs the tasks kept after the first `skip` (the runners) to their end.
    fn run_after(&self, skip: usize) {
        let tasks: Vec<_> = self.tasks.lock().unwrap().drain(skip..).collect();
        for task in tasks {
            block_on(task);
        }
    }
}

impl Spawn for Keeper {
    fn spawn(&self, task: BoxFuture<'static, ()>) -> Result<(), SpawnError> {
        match self.mode.load(Ordering::SeqCst) {
            REFUSE => Err(SpawnError), // `task` is dropped here, before the dispatcher knows
            ACCEPT_AND_DROP => Ok(()),
            _ => {
                self.tasks.lock().unwrap().push(task);
                Ok(())
            }
        }
    }
}

#[derive(Clone)]
struct Add(u32, u32);
impl Job for Add {
    type Output = u32;
}

#[derive(Clone)]
struct Boom;
impl Job for Boom {
    type Output = ();
}

fn dispatcher(spawner: &Keeper, every_job: bool) -> Dispatcher {
    let builder = Dispatcher::builder().spawner(spawner.clone()).runners(1);
    let dispatcher = if every_job { builder.spawn_per_job() } else { builder }.build().unwrap();
    dispatcher.register(executor_fn(|job: Add, _: JobContext| async move { Ok(job.0 + job.1) }));
    dispatcher.register(executor_fn(|_: Boom, _: JobContext| async move { panic!("boom") }));
    dispatcher
}

#[test]
fn every_job_is_its_own_task_and_the_counters_follow_it() {
    let spawner = Keeper::default();
    let dispatcher = dispatcher(&spawner, true);
    let mut events = dispatcher.bus().subscribe().unwrap();
    assert_eq!(spawner.kept(), 1, "the runner");

    let handles: Vec<_> = (0..5).map(|i| dispatcher.dispatch(Add(i, 1)).unwrap()).collect();
    assert_eq!(spawner.kept(), 6, "one task per job");
    let stats = dispatcher.stats();
    assert_eq!((stats.pending, stats.queued, stats.running, stats.finished), (5, 0, 5, 0));
    assert!(drain(&mut events).is_empty(), "nothing runs before the runtime polls it");

    spawner.run_after(1);
    let results: Vec<_> = handles.into_iter().map(|h| block_on(h).ok()).collect();
    assert_eq!(results, (1..=5).map(Some).collect::<Vec<_>>());
    assert_eq!(tags(&drain(&mut events)), [Started, Success].repeat(5));
    let stats = dispatcher.stats();
    assert_eq!((stats.pending, stats.queued, stats.running, stats.finished), (0, 0, 0, 5));
    assert!(stats.reusable > 0, "a spawned job's box goes back to its pool too");
}

#[test]
#[cfg(panic = "unwind")] // a panic aborts where it cannot unwind (wasm32-wasip1)
fn a_panic_in_a_spawned_job_ends_that_job() {
    let spawner = Keeper::default();
    let dispatcher = dispatcher(&spawner, true);
    let mut events = dispatcher.bus().subscribe().unwrap();
    let boom = dispatcher.dispatch(Boom).unwrap();
    let fine = dispatcher.dispatch(Add(2, 2)).unwrap();
    spawner.run_after(1);
    assert!(matches!(block_on(boom), JobResult::Failure(_)));
    assert_eq!(block_on(fine).ok(), Some(4));
    assert_eq!(tags(&drain(&mut events)), [Started, Failure, Started, Success]);
    assert_eq!((dispatcher.stats().pending, dispatcher.stats().running), (0, 0));
}

#[test]
fn a_refused_spawn_is_the_dispatch_error_and_the_job_emits_nothing() {
    let spawner = Keeper::default();
    let dispatcher = dispatcher(&spawner, true);
    let mut events = dispatcher.bus().subscribe().unwrap();
    spawner.mode.store(REFUSE, Ordering::SeqCst);
    assert_eq!(dispatcher.dispatch(Add(1, 1)).map(|_| ()), Err(DispatchError::SpawnRefused));
    assert!(drain(&mut events).is_empty());
    let stats = dispatcher.stats();
    assert_eq!((stats.pending, stats.running), (0, 0));

    // The next accepted job runs as usual.
    spawner.mode.store(KEEP, Ordering::SeqCst);
    let handle = dispatcher.dispatch(Add(1, 1)).unwrap();
    spawner.run_after(1);
    assert_eq!(block_on(handle).ok(), Some(2));
    assert_eq!(tags(&drain(&mut events)), [Started, Success]);
}

#[test]
fn a_job_the_runtime_drops_unpolled_ends_as_abandoned() {
    let spawner = Keeper::default();
    let dispatcher = dispatcher(&spawner, true);
    let mut events = dispatcher.bus().subscribe().unwrap();
    spawner.mode.store(ACCEPT_AND_DROP, Ordering::SeqCst);
    let handle = dispatcher.dispatch(Add(1, 1)).unwrap();
    match block_on(handle) {
        JobResult::Cancelled(reason) => assert_eq!(reason.as_deref(), Some(ABANDONED)),
        other => panic!("expected an abandoned job, got {other:?}"),
    }
    assert_eq!(tags(&drain(&mut events)), [Cancelled]);
    let stats = dispatcher.stats();
    assert_eq!((stats.pending, stats.running, stats.finished), (0, 0, 1));
}

#[test]
fn one_job_type_at_a_time() {
    let spawner = Keeper::default();
    let dispatcher = dispatcher(&spawner, false);
    dispatcher.spawn_per_job::<Add>(true).unwrap();
    let spawned = dispatcher.dispatch(Add(1, 2)).unwrap();
    assert_eq!((spawner.kept(), dispatcher.stats().queued), (2, 0));
    let _queued = dispatcher.dispatch(Boom).unwrap();
    assert_eq!((spawner.kept(), dispatcher.stats().queued), (2, 1), "Boom goes to the runners' queue");

    // The setting stays with the type when its executor is replaced...
    dispatcher.register(executor_fn(|job: Add, _: JobContext| async move { Ok(job.0 * job.1) }));
    let replaced = dispatcher.dispatch(Add(3, 4)).unwrap();
    assert_eq!(spawner.kept(), 3);
    spawner.run_after(1);
    assert_eq!(block_on(spawned).ok(), Some(3));
    assert_eq!(block_on(replaced).ok(), Some(12));

    // ... and can be turned off.
    dispatcher.spawn_per_job::<Add>(false).unwrap();
    let _queued = dispatcher.dispatch(Add(1, 1)).unwrap();
    assert_eq!((spawner.kept(), dispatcher.stats().queued), (1, 2));

    #[derive(Clone)]
    struct Unknown;
    impl Job for Unknown {
        type Output = ();
    }
    assert_eq!(dispatcher.spawn_per_job::<Unknown>(true), Err(DispatchError::NoExecutor { job_type: "Unknown" }));
}

#[test]
fn spawn_per_job_needs_a_spawner() {
    let dispatcher = Dispatcher::builder().spawn_per_job().build().unwrap();
    dispatcher.register(executor_fn(|job: Add, _: JobContext| async move { Ok(job.0 + job.1) }));
    assert_eq!(dispatcher.dispatch(Add(1, 1)).map(|_| ()), Err(DispatchError::NoSpawner { job_type: "Add" }));
    assert_eq!(dispatcher.stats().pending, 0);

    let resident = Dispatcher::new();
    resident.register(executor_fn(|job: Add, _: JobContext| async move { Ok(job.0 + job.1) }));
    assert_eq!(resident.spawn_per_job::<Add>(true), Err(DispatchError::NoSpawner { job_type: "Add" }));
    assert!(resident.dispatch(Add(1, 1)).is_ok(), "the job goes to the queue as before");
}
