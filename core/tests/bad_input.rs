//! Bad input: each case has a typed, documented outcome and never panics.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs, missing_debug_implementations)]

mod common;

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use common::{Harness, tags};
use orchestrator_core::EventTag::*;
use orchestrator_core::MAX_BUS_CAPACITY;
use orchestrator_core::MAX_COMMAND_CAPACITY;
use orchestrator_core::cache::InMemoryCache;
use orchestrator_core::runtime::{Clock as _, VirtualClock};
use orchestrator_core::{
    Bus, BusCapacityError, Context, DispatchError, Dispatcher, Job, JobBuilder, JobContext, JobResult, Orchestrator,
    Payload, ProgressError, RetryPolicy, StartError, WaitError, wait_for_result,
};

#[derive(Clone)]
struct Report(f64, Option<(u32, u32)>);
impl Job for Report {
    type Output = Vec<Result<(), ProgressError>>;
}

fn harness() -> Harness {
    let h = Harness::new();
    h.dispatcher.register(orchestrator_core::executor_fn(|job: Report, ctx: JobContext| async move {
        let mut out = vec![ctx.progress(job.0)];
        if let Some((step, total)) = job.1 {
            out.push(ctx.step(step, total, None));
        }
        Ok(out)
    }));
    h
}

#[test]
fn zero_timeout_is_refused_at_dispatch() {
    let h = harness();
    let err = h.dispatcher.dispatch(JobBuilder::new(Report(0.0, None)).timeout(Duration::ZERO)).unwrap_err();
    assert_eq!(err, DispatchError::ZeroTimeout { job_type: "Report" });
    assert_eq!(h.dispatcher.stats().pending, 0);
}

#[test]
fn max_timeout_means_no_deadline() {
    let mut h = harness();
    let job = JobBuilder::new(Report(0.5, None)).timeout(Duration::MAX);
    assert!(h.run(h.dispatcher.dispatch(job).unwrap()).is_success());
    assert_eq!(tags(&h.drain()), [Started, Progress, Success]);
}

#[test]
fn nan_progress_is_an_error_and_emits_nothing() {
    let mut h = harness();
    let out = h.run(h.dispatcher.dispatch(Report(f64::NAN, None)).unwrap()).ok().unwrap();
    assert_eq!(out, [Err(ProgressError::NotANumber)]);
    assert_eq!(tags(&h.drain()), [Started, Success]);
}

#[test]
fn out_of_range_progress_is_clamped() {
    for (input, expected) in [(-0.5, 0.0), (1.5, 1.0), (f64::INFINITY, 1.0), (f64::NEG_INFINITY, 0.0)] {
        let mut h = harness();
        let out = h.run(h.dispatcher.dispatch(Report(input, None)).unwrap()).ok().unwrap();
        assert_eq!(out, [Ok(())]);
        let events = h.drain();
        assert_eq!(events[1].progress().unwrap().progress, expected, "input {input}");
    }
}

#[test]
fn step_greater_than_total_and_zero_total_are_errors() {
    let mut h = harness();
    let out = h.run(h.dispatcher.dispatch(Report(0.0, Some((5, 4)))).unwrap()).ok().unwrap();
    assert_eq!(out[1], Err(ProgressError::StepOutOfRange { step: 5, total: 4 }));
    let out = h.run(h.dispatcher.dispatch(Report(0.0, Some((0, 0)))).unwrap()).ok().unwrap();
    assert_eq!(out[1], Err(ProgressError::ZeroTotal));
    // Only the two valid progress reports were emitted.
    assert_eq!(tags(&h.drain()), [Started, Progress, Success, Started, Progress, Success]);
}

#[test]
fn unregistered_job_type_is_named_in_the_error() {
    struct Unknown;
    impl Job for Unknown {
        type Output = ();
    }
    let mut h = harness();
    let err = h.dispatcher.dispatch(Unknown).unwrap_err();
    assert_eq!(err, DispatchError::NoExecutor { job_type: "Unknown" });
    assert_eq!(err.to_string(), "no executor registered for job type `Unknown`");
    assert!(h.drain().is_empty(), "nothing is emitted");
}

#[test]
fn awaiting_a_handle_after_its_bus_closed_still_gives_the_result() {
    let h = harness();
    let handle = h.dispatcher.dispatch(Report(0.1, None)).unwrap();
    h.dispatcher.bus().close();
    let result = h.run(handle);
    assert!(result.is_success());
    // And a handle awaited long after the job ended.
    let h2 = harness();
    let handle = h2.dispatcher.dispatch(Report(0.1, None)).unwrap();
    h2.run(async {
        while h2.dispatcher.stats().pending > 0 {
            common::yield_now().await;
        }
    });
    h2.dispatcher.bus().close();
    assert!(h2.run(handle).is_success());
}

#[test]
fn waiting_on_a_closed_bus_ends_with_an_error_instead_of_hanging() {
    let h = harness();
    let mut sub = h.dispatcher.bus().subscribe().unwrap();
    let id = orchestrator_core::JobId::next("never");
    h.dispatcher.bus().close();
    let r = h.run(wait_for_result::<()>(&mut sub, id, None));
    assert_eq!(r.unwrap_err(), WaitError::BusClosed);
}

#[test]
fn waiting_with_a_timeout_ends_on_virtual_time() {
    let h = harness();
    let mut sub = h.dispatcher.bus().subscribe().unwrap();
    let id = orchestrator_core::JobId::next("never");
    let clock = h.clock.clone();
    let r = h.run(wait_for_result::<()>(&mut sub, id, Some((&clock, Duration::from_secs(3)))));
    assert_eq!(r.unwrap_err(), WaitError::TimedOut(Duration::from_secs(3)));
}

#[test]
fn waiting_for_a_result_on_the_bus() {
    let h = harness();
    let mut sub = h.dispatcher.bus().subscribe().unwrap();
    let handle = h.dispatcher.dispatch(Report(0.1, None)).unwrap();
    let id = handle.id();
    let r = h
        .run(async { futures::join!(wait_for_result::<Vec<Result<(), ProgressError>>>(&mut sub, id, None), handle).0 });
    assert!(matches!(r, Ok(JobResult::Success(v)) if v == [Ok(())]));
}

#[test]
fn jobs_that_need_time_are_refused_without_a_timer() {
    let dispatcher = Dispatcher::new();
    dispatcher.register(orchestrator_core::executor_fn(|_: Report, _| async { Ok(vec![]) }));
    let timeout = dispatcher.dispatch(JobBuilder::new(Report(0.0, None)).timeout(Duration::from_secs(1)));
    assert_eq!(timeout.unwrap_err(), DispatchError::NoTimer { job_type: "Report" });
    let retry = dispatcher.dispatch(JobBuilder::new(Report(0.0, None)).retry(RetryPolicy::new()));
    assert_eq!(retry.unwrap_err(), DispatchError::NoTimer { job_type: "Report" });
    // Retrying without back-off needs no timer.
    let no_delay = RetryPolicy::new().with_base_delay(Duration::ZERO);
    assert!(dispatcher.dispatch(JobBuilder::new(Report(0.0, None)).retry(no_delay)).is_ok());
}

#[test]
fn too_many_pending_jobs_are_refused() {
    let clock = VirtualClock::new();
    let dispatcher = Dispatcher::builder().timer(clock).max_pending(2).build().unwrap();
    dispatcher.register(orchestrator_core::executor_fn(|_: Report, _| async { Ok(vec![]) }));
    let _a = dispatcher.dispatch(Report(0.0, None)).unwrap();
    let _b = dispatcher.dispatch(Report(0.0, None)).unwrap();
    assert_eq!(dispatcher.dispatch(Report(0.0, None)).unwrap_err(), DispatchError::Overloaded { limit: 2 });
    let stats = dispatcher.stats();
    assert_eq!((stats.pending, stats.queued, stats.runners), (2, 2, 0), "undriven jobs are visible");
}

#[test]
fn dispatch_after_shutdown_is_refused() {
    let h = harness();
    assert!(h.dispatcher.shutdown());
    assert_eq!(h.dispatcher.dispatch(Report(0.0, None)).unwrap_err(), DispatchError::ShutDown);
}

#[test]
fn re_registering_replaces_and_says_so() {
    let h = harness();
    let r = h.dispatcher.register(orchestrator_core::executor_fn(|_: Report, _| async { Ok(vec![]) }));
    assert_eq!(r, orchestrator_core::Registration::Replaced);
    assert!(h.dispatcher.unregister::<Report>());
    assert!(!h.dispatcher.is_registered::<Report>());
}

/// A spawner that accepts a task and drops it at once, as a runtime that was shut down
/// does with the tasks it held.
struct DroppingSpawner;
impl orchestrator_core::runtime::Spawn for DroppingSpawner {
    fn spawn(
        &self,
        task: orchestrator_core::BoxFuture<'static, ()>,
    ) -> Result<(), orchestrator_core::runtime::SpawnError> {
        drop(task);
        Ok(())
    }
}

#[test]
fn dispatch_with_no_runner_alive_is_refused() {
    let dispatcher = Dispatcher::builder().spawner(DroppingSpawner).runners(2).build().unwrap();
    dispatcher.register(orchestrator_core::executor_fn(|job: Report, _: JobContext| async move {
        Ok(vec![Ok(()); job.0 as usize])
    }));
    assert_eq!(dispatcher.stats().runners, 0);
    assert_eq!(dispatcher.dispatch(Report(1.0, None)).map(|_| ()).unwrap_err(), DispatchError::NoRunners);
    assert_eq!(dispatcher.stats().pending, 0);

    // A runner awaited by hand counts: the job is accepted and runs on it.
    let runner = dispatcher.runner();
    let handle = dispatcher.dispatch(Report(2.0, None)).unwrap();
    dispatcher.shutdown();
    let (result, ()) = futures::executor::block_on(futures::future::join(handle, runner));
    assert_eq!(result.ok().map(|v| v.len()), Some(2));

    // Without a spawner the application drives the runner: no runner yet is normal.
    let manual = Dispatcher::new();
    manual.register(orchestrator_core::executor_fn(|_: Report, _: JobContext| async move { Ok(Vec::new()) }));
    assert!(manual.dispatch(Report(0.0, None)).is_ok());
}

#[test]
fn a_bus_capacity_above_the_maximum_is_an_error_not_a_panic() {
    let err = Bus::with_capacity(NonZeroUsize::MAX).unwrap_err();
    assert_eq!(err, BusCapacityError::TooLarge { requested: usize::MAX, max: MAX_BUS_CAPACITY });
    assert_eq!(err.to_string(), format!("bus capacity {} is above the maximum of 1048576 events", usize::MAX));
    let source: &dyn std::error::Error = &err;
    assert!(source.source().is_none());

    let just_over = NonZeroUsize::new(MAX_BUS_CAPACITY + 1).unwrap();
    let err = Bus::with_capacity(just_over).unwrap_err();
    assert_eq!(err, BusCapacityError::TooLarge { requested: MAX_BUS_CAPACITY + 1, max: MAX_BUS_CAPACITY });

    // The maximum itself is a working bus (a ring of 2^20 slots: too slow under Miri, which
    // checks every byte of it).
    if cfg!(miri) {
        return;
    }
    let bus = Bus::with_capacity(NonZeroUsize::new(MAX_BUS_CAPACITY).unwrap()).unwrap();
    assert_eq!(bus.capacity(), MAX_BUS_CAPACITY);
    let mut sub = bus.subscribe().unwrap();
    assert_eq!(bus.emit(orchestrator_core::Event::custom("ping", ())), Ok(1));
    assert_eq!(sub.try_next().unwrap().job_type(), "ping");
}

struct Quiet;
impl Orchestrator for Quiet {
    type State = ();
    type Command = u8;
    fn handle(&mut self, _: u8, _: &mut Context<'_, Self>) {}
}

/// A spawner that counts what it is given (and drops it).
#[derive(Default)]
struct CountingSpawner(AtomicU32);
impl orchestrator_core::runtime::Spawn for CountingSpawner {
    fn spawn(
        &self,
        task: orchestrator_core::BoxFuture<'static, ()>,
    ) -> Result<(), orchestrator_core::runtime::SpawnError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        drop(task);
        Ok(())
    }
}

#[test]
fn a_command_capacity_above_the_maximum_is_a_start_error_not_a_panic() {
    let dispatcher = Dispatcher::new();
    let refused = StartError::CommandCapacity { requested: usize::MAX, max: MAX_COMMAND_CAPACITY };
    let err = Quiet.builder((), &dispatcher).command_capacity(usize::MAX).build().map(|_| ()).unwrap_err();
    assert_eq!(err, refused);
    assert_eq!(err.to_string(), format!("command capacity {} is above the maximum of 65536 commands", usize::MAX));
    assert!(std::error::Error::source(&err).is_none());
    assert_eq!(dispatcher.bus().subscriber_count(), 0, "refused before subscribing");

    // `spawn` refuses it before the spawner sees anything.
    let spawner = CountingSpawner::default();
    let err = Quiet.builder((), &dispatcher).command_capacity(usize::MAX).spawn(&spawner).map(|_| ()).unwrap_err();
    assert_eq!(err, refused);
    assert_eq!(spawner.0.load(Ordering::SeqCst), 0);

    let just_over = Quiet.builder((), &dispatcher).command_capacity(MAX_COMMAND_CAPACITY + 1).build();
    let expected = StartError::CommandCapacity { requested: MAX_COMMAND_CAPACITY + 1, max: MAX_COMMAND_CAPACITY };
    assert_eq!(just_over.map(|_| ()).unwrap_err(), expected);

    // The maximum itself holds exactly that many commands (too slow to fill under Miri).
    if !cfg!(miri) {
        let (_host, handle) = Quiet.builder((), &dispatcher).command_capacity(MAX_COMMAND_CAPACITY).build().unwrap();
        for _ in 0..MAX_COMMAND_CAPACITY {
            handle.try_send(0).unwrap();
        }
        assert_eq!(handle.try_send(9).unwrap_err(), orchestrator_core::SendError::Full(9));
    }
}

#[derive(Clone)]
struct Store;
impl Job for Store {
    type Output = u32;
}

/// Every way a TTL of `Duration::MAX` reaches a cache (given to `InMemoryCache` directly,
/// as its default TTL, in a job's cache policy, through `JobContext::write_cache`) means
/// "never expires", even with the virtual clock at `Duration::MAX` itself.
#[test]
fn a_max_cache_ttl_never_expires_even_at_the_end_of_time() {
    let clock = VirtualClock::new();
    let cache = Arc::new(InMemoryCache::new(clock.clone()));
    let defaulted = InMemoryCache::new(clock.clone()).default_ttl(Duration::MAX);
    let dispatcher = Dispatcher::builder().timer(clock.clone()).cache_shared(cache.clone()).build().unwrap();
    dispatcher.register(orchestrator_core::executor_fn(|_: Store, ctx: JobContext| async move {
        ctx.write_cache("context", 2_u32, Some(Duration::MAX)).await?;
        Ok(1_u32)
    }));
    let mut h = Harness { events: dispatcher.bus().subscribe().unwrap(), clock: clock.clone(), dispatcher };

    // Written at time zero, where `now + Duration::MAX` does not overflow.
    assert_eq!(clock.now(), Duration::ZERO);
    cache.insert("direct", Payload::new(3_u32), Some(Duration::MAX));
    cache.insert("one second", Payload::new(4_u32), Some(Duration::from_secs(1)));
    defaulted.insert("default", Payload::new(5_u32), None);
    let job = JobBuilder::new(Store).cache("policy", Duration::MAX).revalidate(false);
    assert!(matches!(h.run(h.dispatcher.dispatch(job).unwrap()), JobResult::Success(1)));
    assert_eq!(tags(&h.drain()), [Started, Success]);
    assert_eq!(cache.len(), 4);

    clock.advance(Duration::MAX);
    assert_eq!(clock.now(), Duration::MAX);
    let read = |cache: &InMemoryCache, key: &str| cache.get(key).and_then(|p| p.get::<u32>().copied());
    assert_eq!(read(&cache, "one second"), None, "the clock did move: a finite TTL expired");
    assert_eq!(read(&cache, "direct"), Some(3));
    assert_eq!(read(&cache, "policy"), Some(1));
    assert_eq!(read(&cache, "context"), Some(2));
    assert_eq!(read(&defaulted, "default"), Some(5));
    assert_eq!((cache.evict_expired(), defaulted.evict_expired()), (0, 0));

    // And the cache-first job is served from the cache at the end of time.
    let job = JobBuilder::new(Store).cache("policy", Duration::MAX).revalidate(false);
    assert!(matches!(h.run(h.dispatcher.dispatch(job).unwrap()), JobResult::Success(1)));
    assert_eq!(tags(&h.drain()), [Started, CacheHit, Success]);
}

/// A counting executor for [`Report`] jobs.
fn counting_harness() -> (Harness, Arc<AtomicU32>) {
    let h = Harness::new();
    let calls = Arc::new(AtomicU32::new(0));
    let counter = calls.clone();
    h.dispatcher.register(orchestrator_core::executor_fn(move |_: Report, _: JobContext| {
        counter.fetch_add(1, Ordering::SeqCst);
        async { Ok(Vec::new()) }
    }));
    (h, calls)
}

#[test]
fn dispatch_on_a_closed_scoped_bus_is_refused() {
    let (mut h, calls) = counting_harness();
    let scoped = Bus::new();
    let mut watcher = scoped.subscribe().unwrap();
    scoped.close();
    let err = h.dispatcher.dispatch_on(&scoped, Report(0.0, None)).map(|_| ()).unwrap_err();
    assert_eq!(err, DispatchError::BusClosed);
    assert_eq!(err.to_string(), "the job's bus is closed: nobody could see its events");
    let stats = h.dispatcher.stats();
    assert_eq!((stats.pending, stats.queued), (0, 0), "nothing counted as pending");

    // The dispatcher still works: a job on its own bus runs, and it is the only one.
    assert!(h.run(h.dispatcher.dispatch(Report(0.0, None)).unwrap()).is_success());
    assert_eq!(calls.load(Ordering::SeqCst), 1, "the refused job never ran");
    assert_eq!(tags(&h.drain()), [Started, Success]);
    assert!(matches!(watcher.try_next(), Err(orchestrator_core::TryNextError::Closed)), "nothing emitted");
    assert_eq!(h.dispatcher.stats().finished, 1);
}

#[test]
fn dispatch_on_the_dispatchers_own_closed_bus_is_refused() {
    let (mut h, calls) = counting_harness();
    h.dispatcher.bus().close();
    assert_eq!(h.dispatcher.dispatch(Report(0.0, None)).map(|_| ()).unwrap_err(), DispatchError::BusClosed);
    // `dispatch_on` with the dispatcher's own bus is the same dispatch.
    let own = h.dispatcher.bus().clone();
    assert_eq!(h.dispatcher.dispatch_on(&own, Report(0.0, None)).map(|_| ()).unwrap_err(), DispatchError::BusClosed);
    assert_eq!(h.dispatcher.stats().pending, 0);

    // An open scoped bus still takes jobs: the job runs and reports there.
    let scoped = Bus::new();
    let mut sub = scoped.subscribe().unwrap();
    assert!(h.run(h.dispatcher.dispatch_on(&scoped, Report(0.0, None)).unwrap()).is_success());
    assert_eq!(tags(&common::drain(&mut sub)), [Started, Success]);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(h.drain().is_empty());
}

/// A spawner that keeps the tasks it is given without running them, until it is told to
/// drop them all, as a runtime that is shut down does.
#[derive(Clone, Default)]
struct HoldingSpawner(std::sync::Arc<std::sync::Mutex<Vec<orchestrator_core::BoxFuture<'static, ()>>>>);
impl orchestrator_core::runtime::Spawn for HoldingSpawner {
    fn spawn(
        &self,
        task: orchestrator_core::BoxFuture<'static, ()>,
    ) -> Result<(), orchestrator_core::runtime::SpawnError> {
        self.0.lock().unwrap().push(task);
        Ok(())
    }
}

/// The runtime of a dispatcher's runners shuts down while jobs wait in its queue: nobody
/// will ever run them, so they end at once, each with its one terminal event and its
/// result, and later dispatches are refused instead of queued.
#[test]
fn queued_jobs_end_when_the_last_spawned_runner_is_gone() {
    let spawner = HoldingSpawner::default();
    let dispatcher = Dispatcher::builder().spawner(spawner.clone()).runners(2).build().unwrap();
    dispatcher.register(orchestrator_core::executor_fn(|_: Report, _: JobContext| async move { Ok(vec![]) }));
    let mut events = dispatcher.bus().subscribe().unwrap();
    let handles: Vec<_> = (0..3).map(|_| dispatcher.dispatch(Report(1.0, None)).unwrap()).collect();
    assert_eq!((dispatcher.stats().queued, dispatcher.stats().runners), (3, 2));

    spawner.0.lock().unwrap().clear(); // the runtime is gone, and its tasks with it
    assert_eq!(dispatcher.stats().runners, 0);
    for handle in handles {
        let result = futures::executor::block_on(handle);
        assert!(matches!(&result, JobResult::Cancelled(Some(r)) if r.contains("abandoned")), "{result:?}");
    }
    let tags: Vec<_> = std::iter::from_fn(|| events.try_next().ok()).map(|e| e.tag()).collect();
    assert_eq!(tags, [Cancelled, Cancelled, Cancelled], "one terminal event per accepted job");
    let stats = dispatcher.stats();
    assert_eq!((stats.pending, stats.queued), (0, 0));
    assert_eq!(dispatcher.dispatch(Report(1.0, None)).map(|_| ()).unwrap_err(), DispatchError::NoRunners);
    assert!(events.try_next().is_err(), "a refused dispatch emits nothing");
}
