//! One user's panic ends one job: a panic anywhere in a job's user code (the executor's
//! synchronous part, a retry predicate, a cache provider, the output's `Clone`) ends that
//! job with a panic `Failure` (its terminal event, then its result), and its siblings, its
//! runner and later jobs are unaffected.
#![cfg(all(feature = "std", panic = "unwind"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs, missing_debug_implementations)]

mod common;

use core::future::Future;
use std::sync::Arc;
use std::time::Duration;

use common::{Harness, tags};
use orchestrator_core::EventTag::*;
use orchestrator_core::cache::CacheProvider;
use orchestrator_core::cache::{CacheError, KeyFilter};
use orchestrator_core::{
    BoxFuture, Executor, Job, JobBuilder, JobContext, JobError, JobErrorKind, JobResult, Payload, RetryPolicy,
    executor_fn,
};

/// Indexes a three-element array: index 10 panics *before* the executor's future exists.
#[derive(Clone)]
struct Index(usize);
impl Job for Index {
    type Output = u32;
}

/// Sleeps on the virtual clock, then succeeds: the sibling that must not be disturbed.
#[derive(Clone)]
struct Nap(u64);
impl Job for Nap {
    type Output = u64;
}

fn harness() -> Harness {
    let h = Harness::new();
    h.dispatcher.register(executor_fn(|job: Index, _ctx: JobContext| {
        let v = [1_u32, 2, 3][job.0];
        async move { Ok::<_, JobError>(v) }
    }));
    let timer = h.clock.clone();
    h.dispatcher.register(executor_fn(move |job: Nap, _ctx: JobContext| {
        let timer = timer.clone();
        async move {
            orchestrator_core::runtime::Timer::sleep(&timer, Duration::from_millis(job.0)).await;
            Ok::<_, JobError>(job.0)
        }
    }));
    h
}

/// The panic `Failure` of `result`, whose message contains `needle`.
fn assert_panicked<T: core::fmt::Debug>(result: &JobResult<T>, needle: &str) {
    match result {
        JobResult::Failure(error) => {
            assert_eq!(error.kind(), JobErrorKind::Panicked, "{error}");
            assert!(error.to_string().contains(needle), "message: {error}");
        }
        other => panic!("expected a panic failure, got {other:?}"),
    }
}

/// The tags of the events of job `id`.
fn job_tags(
    events: &[Arc<orchestrator_core::Event>],
    id: orchestrator_core::JobId,
) -> Vec<orchestrator_core::EventTag> {
    events.iter().filter(|e| e.id() == id).map(|e| e.tag()).collect()
}

#[test]
fn a_panic_before_the_executors_future_exists_fails_only_that_job() {
    let mut h = harness();
    let (bad, nap, later) = h.run(async {
        let nap = h.dispatcher.dispatch(Nap(5)).unwrap();
        let nap_id = nap.id();
        common::yield_now().await; // the sibling is running (waiting on its sleep)
        let bad = h.dispatcher.dispatch(Index(10)).unwrap();
        let bad_id = bad.id();
        let bad = bad.await;
        assert_eq!(h.dispatcher.stats().runners, 1, "the runner survived");
        let later = h.dispatcher.dispatch(Index(1)).unwrap().await;
        ((bad_id, bad), (nap_id, nap.await), later)
    });
    assert_panicked(&bad.1, "index out of bounds");
    assert_eq!(nap.1.ok(), Some(5), "the sibling finished normally");
    assert_eq!(later.ok(), Some(2), "later jobs run");
    let events = h.drain();
    assert_eq!(job_tags(&events, bad.0), [Started, Failure]);
    assert_eq!(job_tags(&events, nap.0), [Started, Success]);
    let failure = events.iter().find(|e| e.id() == bad.0 && e.tag() == Failure).unwrap();
    assert_eq!(failure.error().unwrap().kind(), JobErrorKind::Panicked);
    let stats = h.dispatcher.stats();
    assert_eq!((stats.pending, stats.running), (0, 0));
}

/// An executor whose `process` (not its future) panics.
struct SyncPanic;
impl Executor<Index> for SyncPanic {
    #[allow(unreachable_code, clippy::diverging_sub_expression)]
    fn process(&self, _job: &Index, _ctx: &JobContext) -> impl Future<Output = Result<u32, JobError>> + Send {
        panic!("process panicked before returning its future");
        async { Ok(0) }
    }
}

#[test]
fn a_non_async_process_that_panics_fails_its_job_with_options_too() {
    let mut h = harness();
    h.dispatcher.register(SyncPanic);
    let (plain, full) = h.run(async {
        let plain = h.dispatcher.dispatch(Index(0)).unwrap().await;
        let job =
            JobBuilder::new(Index(0)).timeout(Duration::from_secs(1)).retry(RetryPolicy::new().with_max_retries(2));
        let full = h.dispatcher.dispatch(job).unwrap().await;
        (plain, full)
    });
    assert_panicked(&plain, "process panicked");
    assert_panicked(&full, "process panicked");
    assert_eq!(tags(&h.drain()), [Started, Failure, Started, Failure]);
}

#[derive(Clone)]
struct AlwaysFails;
impl Job for AlwaysFails {
    type Output = ();
}

#[test]
fn a_retry_predicate_that_panics_fails_its_job() {
    let mut h = harness();
    h.dispatcher.register(executor_fn(|_: AlwaysFails, _| async { Err::<(), _>(JobError::msg("nope")) }));
    let policy = RetryPolicy::new().with_max_retries(3).retry_if(|_| panic!("the predicate panicked"));
    let (result, sibling) = h.run(async {
        let sibling = h.dispatcher.dispatch(Nap(1)).unwrap();
        let result = h.dispatcher.dispatch(JobBuilder::new(AlwaysFails).retry(policy)).unwrap().await;
        (result, sibling.await)
    });
    assert_panicked(&result, "the predicate panicked");
    assert_eq!(sibling.ok(), Some(1));
    let events = h.drain();
    assert_eq!(events.iter().filter(|e| e.is_terminal()).count(), 2, "one terminal event per job");
}

/// A cache provider that panics on read or on write, as told.
struct PanickyCache {
    on_read: bool,
}

impl CacheProvider for PanickyCache {
    fn read<'a>(&'a self, _key: &'a str) -> BoxFuture<'a, Result<Option<Payload>, CacheError>> {
        assert!(!self.on_read, "the cache read panicked");
        Box::pin(async { Ok(None) })
    }
    fn write<'a>(
        &'a self,
        _key: &'a str,
        _value: Payload,
        _ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<(), CacheError>> {
        Box::pin(async { panic!("the cache write panicked") })
    }
    fn delete<'a>(&'a self, _key: &'a str) -> BoxFuture<'a, Result<bool, CacheError>> {
        Box::pin(async { Ok(false) })
    }
    fn delete_matching<'a>(&'a self, _pred: &'a KeyFilter<'a>) -> BoxFuture<'a, Result<usize, CacheError>> {
        Box::pin(async { Ok(0) })
    }
    fn clear(&self) -> BoxFuture<'_, Result<(), CacheError>> {
        Box::pin(async { Ok(()) })
    }
}

#[test]
fn a_cache_provider_that_panics_fails_its_job() {
    let mut h = harness();
    let (read, write, after) = h.run(async {
        let on_read =
            JobBuilder::new(Index(0)).cache("k", None).cache_provider(Arc::new(PanickyCache { on_read: true }));
        let read = h.dispatcher.dispatch(on_read).unwrap().await;
        let on_write =
            JobBuilder::new(Index(1)).cache("k", None).cache_provider(Arc::new(PanickyCache { on_read: false }));
        let write = h.dispatcher.dispatch(on_write).unwrap().await;
        (read, write, h.dispatcher.dispatch(Index(2)).unwrap().await)
    });
    assert_panicked(&read, "the cache read panicked");
    assert_panicked(&write, "the cache write panicked");
    assert_eq!(after.ok(), Some(3));
    assert_eq!(tags(&h.drain()), [Started, Failure, Started, Failure, Started, Success]);
}

/// An output whose `Clone` panics (the bus's Success event clones the output).
#[derive(Debug)]
struct BadClone;
impl Clone for BadClone {
    fn clone(&self) -> Self {
        panic!("the output's clone panicked")
    }
}

#[derive(Clone)]
struct MakeBadClone;
impl Job for MakeBadClone {
    type Output = BadClone;
}

#[test]
fn an_output_whose_clone_panics_fails_its_job_with_one_terminal_event() {
    let mut h = harness();
    h.dispatcher.register(executor_fn(|_: MakeBadClone, _| async { Ok::<_, JobError>(BadClone) }));
    let (result, after) = h.run(async {
        let result = h.dispatcher.dispatch(MakeBadClone).unwrap().await;
        (result, h.dispatcher.dispatch(Index(0)).unwrap().await)
    });
    assert_panicked(&result, "the output's clone panicked");
    assert_eq!(after.ok(), Some(1));
    assert_eq!(tags(&h.drain()), [Started, Failure, Started, Success]);
}

/// Jobs of the mixed run (fewer under Miri).
const JOBS: usize = if cfg!(miri) { 40 } else { 400 };

#[test]
fn many_panicking_jobs_among_many_good_ones_lose_nothing() {
    let h = harness();
    let results = h.run(async {
        let handles: Vec<_> =
            (0..JOBS).map(|i| h.dispatcher.dispatch(Index(if i % 3 == 0 { 10 } else { 1 })).unwrap()).collect();
        futures::future::join_all(handles).await
    });
    let panicked =
        results.iter().filter(|r| matches!(r, JobResult::Failure(e) if e.kind() == JobErrorKind::Panicked)).count();
    let ok = results.iter().filter(|r| r.is_success()).count();
    assert_eq!((panicked, ok), (JOBS.div_ceil(3), JOBS - JOBS.div_ceil(3)));
    let stats = h.dispatcher.stats();
    assert_eq!((stats.pending, stats.running, stats.runners), (0, 0, 0), "{stats:?}");
}
