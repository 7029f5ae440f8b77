//! Metrics per job type on the virtual clock: the counts of each outcome, retries, jobs
//! in flight, the queue wait and run time percentiles, and (feature `metrics`) their
//! export through the `metrics` facade to a small recorder.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs, missing_debug_implementations)]

use std::time::Duration;

use orchestrator_core::runtime::VirtualClock;
use orchestrator_core::test_kit::{Script, Step, TestHarness};
use orchestrator_core::{
    CancellationToken, Dispatcher, Job, JobBuilder, JobMetrics, JobResult, RetryPolicy, executor_fn,
};

#[derive(Clone, Debug)]
struct Work;
impl Job for Work {
    type Output = u32;
}

#[derive(Clone, Debug)]
struct Other;
impl Job for Other {
    type Output = ();
}

fn harness() -> TestHarness {
    let clock = VirtualClock::new();
    let dispatcher = Dispatcher::builder().timer(clock.clone()).metrics(true).build().unwrap();
    TestHarness::from_dispatcher(clock, dispatcher)
}

/// `actual` is within the histogram's documented bound (6.25 %) of `exact`.
fn close_to(actual: Duration, exact: Duration) -> bool {
    actual.abs_diff(exact) * 16 <= exact
}

#[test]
fn every_outcome_is_counted_once() {
    let mut h = harness();
    // Without `std`, or where a panic aborts (wasm32-wasip1), nothing is caught: no
    // panicking job then.
    let panics = u64::from(cfg!(all(feature = "std", panic = "unwind")));
    let script = Script::new()
        .ok(1) // succeeds
        .err("flaky") // fails once
        .ok(2) // then succeeds on its retry
        .err("broken"); // fails
    #[cfg(all(feature = "std", panic = "unwind"))]
    let script = script.panic("boom"); // fails by panicking
    h.script::<Work>(script.step(Step::Never).step(Step::Never)); // times out, is cancelled
    let retry = RetryPolicy::new().with_max_retries(1).with_base_delay(Duration::from_millis(10));
    // One job at a time: the script's steps go in order.
    let ok = h.dispatcher().dispatch(Work).unwrap();
    assert!(h.block_on(ok).unwrap().is_success());
    let retried = h.dispatcher().dispatch(JobBuilder::new(Work).retry(retry)).unwrap();
    assert!(h.block_on(retried).unwrap().is_success());
    let failed = h.dispatcher().dispatch(Work).unwrap();
    assert!(matches!(h.block_on(failed).unwrap(), JobResult::Failure(_)));
    #[cfg(all(feature = "std", panic = "unwind"))]
    {
        let panicked = h.dispatcher().dispatch(Work).unwrap();
        assert!(matches!(h.block_on(panicked).unwrap(), JobResult::Failure(_)));
    }
    let timed_out = h.dispatcher().dispatch(JobBuilder::new(Work).timeout(Duration::from_secs(1))).unwrap();
    h.run_until_idle().unwrap();
    let token = CancellationToken::new();
    let cancelled = h.dispatcher().dispatch(JobBuilder::new(Work).cancel_token(token.clone())).unwrap();
    h.run_until_idle().unwrap();

    let running = h.dispatcher().metrics::<Work>();
    assert_eq!((running.dispatched, running.in_flight), (5 + panics, 2), "{running:?}");
    h.advance(Duration::from_secs(2)).unwrap();
    token.cancel();
    h.settle().unwrap();
    assert!(matches!(h.block_on(timed_out).unwrap(), JobResult::TimedOut(_)));
    assert!(matches!(h.block_on(cancelled).unwrap(), JobResult::Cancelled(_)));

    let m = h.dispatcher().metrics::<Work>();
    assert_eq!(
        (m.dispatched, m.succeeded, m.failed, m.timed_out, m.cancelled, m.retried, m.in_flight),
        (5 + panics, 2, 1 + panics, 1, 1, 1, 0),
        "{m:?}"
    );
    assert_eq!(m.ended(), 5 + panics);
    // Every job started, and ended after it started.
    assert_eq!(m.queue_wait.map(|l| l.count), Some(5 + panics));
    assert_eq!(m.run_time.map(|l| l.count), Some(5 + panics));
    // Another type's metrics are its own.
    assert_eq!(h.dispatcher().metrics::<Other>(), JobMetrics::default());
    h.finish().unwrap();
}

#[test]
fn queue_wait_and_run_time_percentiles_follow_the_virtual_clock() {
    let mut h = harness();
    // 20 jobs of 100 ms, one at a time: job i waits i * 100 ms, then runs 100 ms.
    h.script::<Work>(Script::new().otherwise(Step::After(Duration::from_millis(100), Box::new(Step::Ok(0)))));
    h.dispatcher().set_max_concurrent::<Work>(Some(1));
    let handles: Vec<_> = (0..20).map(|_| h.dispatcher().dispatch(Work).unwrap()).collect();
    h.settle().unwrap();
    assert_eq!(h.now(), Duration::from_secs(2));
    for handle in handles {
        assert!(h.block_on(handle).unwrap().is_success());
    }
    let m = h.dispatcher().metrics::<Work>();
    let run = m.run_time.unwrap();
    assert_eq!(run.count, 20);
    for p in [run.p50, run.p95, run.p99] {
        assert!(close_to(p, Duration::from_millis(100)), "{run:?}");
    }
    // Waits 0, 100, ..., 1900 ms: nearest rank 10 of 20 is 900 ms, rank 19 is 1800 ms,
    // rank 20 is 1900 ms.
    let wait = m.queue_wait.unwrap();
    assert_eq!(wait.count, 20);
    assert!(close_to(wait.p50, Duration::from_millis(900)), "{wait:?}");
    assert!(close_to(wait.p95, Duration::from_millis(1800)), "{wait:?}");
    assert!(close_to(wait.p99, Duration::from_millis(1900)), "{wait:?}");
    h.finish().unwrap();
}

#[test]
fn metrics_are_off_by_default() {
    let mut h = TestHarness::new();
    h.script::<Work>(Script::new().ok(1));
    let handle = h.dispatcher().dispatch(Work).unwrap();
    assert!(h.block_on(handle).unwrap().is_success());
    assert_eq!(h.dispatcher().metrics::<Work>(), JobMetrics::default());
    assert!(h.dispatcher().all_metrics().is_empty());
    h.finish().unwrap();
}

#[test]
fn without_a_timer_only_the_counts_are_kept() {
    let dispatcher = Dispatcher::builder().metrics(true).build().unwrap();
    dispatcher.register(executor_fn(|_: Work, _| async { Ok(3) }));
    let handle = dispatcher.dispatch(Work).unwrap();
    let runner = dispatcher.runner();
    dispatcher.shutdown();
    let (result, ()) = futures::executor::block_on(async { futures::join!(handle, runner) });
    assert_eq!(result.ok(), Some(3));
    let m = dispatcher.metrics::<Work>();
    assert_eq!((m.dispatched, m.succeeded, m.in_flight), (1, 1, 0));
    assert_eq!((m.queue_wait, m.run_time), (None, None));
}

#[test]
fn replacing_the_executor_keeps_the_metrics_and_unregistering_drops_them() {
    let mut h = harness();
    h.script::<Work>(Script::new().ok(1));
    h.register(executor_fn(|_: Other, _| async { Ok(()) }));
    let first = h.dispatcher().dispatch(Work).unwrap();
    assert!(h.block_on(first).unwrap().is_success());
    h.script::<Work>(Script::new().ok(2));
    let second = h.dispatcher().dispatch(Work).unwrap();
    assert_eq!(h.block_on(second).unwrap().ok(), Some(2));
    assert_eq!(h.dispatcher().metrics::<Work>().succeeded, 2);
    let names: Vec<_> = h.dispatcher().all_metrics().into_iter().map(|(name, m)| (name, m.succeeded)).collect();
    assert_eq!(names, [("Other", 0), ("Work", 2)]);
    assert!(h.dispatcher().unregister::<Work>());
    assert_eq!(h.dispatcher().metrics::<Work>(), JobMetrics::default());
    assert_eq!(h.dispatcher().all_metrics().len(), 1);
    h.finish().unwrap();
}

#[test]
fn refused_and_abandoned_jobs_leave_nothing_in_flight() {
    let clock = VirtualClock::new();
    let dispatcher = Dispatcher::builder().timer(clock.clone()).metrics(true).max_pending(1).build().unwrap();
    dispatcher.register(executor_fn(|_: Work, _| std::future::pending::<Result<u32, _>>()));
    let held = dispatcher.dispatch(Work).unwrap();
    assert!(dispatcher.dispatch(Work).is_err(), "over max_pending: refused, not counted");
    assert_eq!(dispatcher.metrics::<Work>().dispatched, 1);
    // A runner that polls the job once, then is dropped: the job ends as abandoned.
    let mut runner = Box::pin(dispatcher.runner());
    let waker = futures::task::noop_waker();
    assert!(runner.as_mut().poll(&mut std::task::Context::from_waker(&waker)).is_pending());
    drop(runner);
    assert!(matches!(futures::executor::block_on(held), JobResult::Cancelled(_)));
    let m = dispatcher.metrics::<Work>();
    assert_eq!((m.dispatched, m.cancelled, m.in_flight), (1, 1, 0), "{m:?}");
    assert_eq!(m.queue_wait.map(|l| l.count), Some(1));
    assert_eq!(m.run_time, None, "an abandoned job has no run time");
}

#[cfg(feature = "metrics")]
mod facade {
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    use metrics::{Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder};
    use metrics::{SharedString, Unit};

    use super::*;

    /// What the recorder saw, by metric name and its labels (`k=v,k=v`).
    #[derive(Default)]
    struct Seen {
        counters: BTreeMap<String, u64>,
        gauges: BTreeMap<String, f64>,
        histograms: BTreeMap<String, Vec<f64>>,
    }

    #[derive(Clone, Default)]
    struct SmallRecorder(Arc<Mutex<Seen>>);

    struct Handle(Arc<Mutex<Seen>>, String);

    fn name(key: &Key) -> String {
        let labels: Vec<String> = key.labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
        format!("{}{{{}}}", key.name(), labels.join(","))
    }

    impl CounterFn for Handle {
        fn increment(&self, value: u64) {
            *self.0.lock().unwrap().counters.entry(self.1.clone()).or_default() += value;
        }
        fn absolute(&self, value: u64) {
            self.0.lock().unwrap().counters.insert(self.1.clone(), value);
        }
    }

    impl GaugeFn for Handle {
        fn increment(&self, value: f64) {
            *self.0.lock().unwrap().gauges.entry(self.1.clone()).or_default() += value;
        }
        fn decrement(&self, value: f64) {
            *self.0.lock().unwrap().gauges.entry(self.1.clone()).or_default() -= value;
        }
        fn set(&self, value: f64) {
            self.0.lock().unwrap().gauges.insert(self.1.clone(), value);
        }
    }

    impl HistogramFn for Handle {
        fn record(&self, value: f64) {
            self.0.lock().unwrap().histograms.entry(self.1.clone()).or_default().push(value);
        }
    }

    impl Recorder for SmallRecorder {
        fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
            Counter::from_arc(Arc::new(Handle(self.0.clone(), name(key))))
        }
        fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
            Gauge::from_arc(Arc::new(Handle(self.0.clone(), name(key))))
        }
        fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
            Histogram::from_arc(Arc::new(Handle(self.0.clone(), name(key))))
        }
    }

    #[test]
    fn the_metrics_feature_exports_them_through_the_facade() {
        let recorder = SmallRecorder::default();
        // Thread-local: the harness runs every job on this thread.
        metrics::with_local_recorder(&recorder, || {
            let mut h = harness();
            h.script::<Work>(
                Script::new().err("flaky").after(Duration::from_millis(250), Step::Ok(1)).step(Step::Never),
            );
            let retry = RetryPolicy::new().with_max_retries(1).with_base_delay(Duration::from_millis(50));
            let retried = h.dispatcher().dispatch(JobBuilder::new(Work).retry(retry)).unwrap();
            assert!(h.block_on(retried).unwrap().is_success());
            let token = CancellationToken::new();
            let cancelled = h.dispatcher().dispatch(JobBuilder::new(Work).cancel_token(token.clone())).unwrap();
            h.run_until_idle().unwrap();
            token.cancel();
            assert!(matches!(h.block_on(cancelled).unwrap(), JobResult::Cancelled(_)));
            h.finish().unwrap();
        });
        let seen = recorder.0.lock().unwrap();
        let counter = |name: &str| seen.counters.get(name).copied();
        assert_eq!(counter("orchestrator_jobs_dispatched_total{job_type=Work}"), Some(2));
        assert_eq!(counter("orchestrator_jobs_retried_total{job_type=Work}"), Some(1));
        assert_eq!(counter("orchestrator_jobs_ended_total{job_type=Work,outcome=succeeded}"), Some(1));
        assert_eq!(counter("orchestrator_jobs_ended_total{job_type=Work,outcome=cancelled}"), Some(1));
        assert_eq!(seen.gauges.get("orchestrator_jobs_in_flight{job_type=Work}"), Some(&0.0));
        let run_times = &seen.histograms["orchestrator_job_run_time_seconds{job_type=Work}"];
        // The retried job: 50 ms of back-off, then 250 ms; the cancelled one: no time.
        assert_eq!(run_times, &[0.3, 0.0]);
        assert_eq!(seen.histograms["orchestrator_job_queue_wait_seconds{job_type=Work}"], [0.0, 0.0]);
    }
}
