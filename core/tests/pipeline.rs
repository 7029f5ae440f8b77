//! Event sequences of the executor pipeline (original-behaviour.md §7.5, with our fixes),
//! all on the virtual clock.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs, missing_debug_implementations)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use common::{Harness, tags};
use orchestrator_core::EventTag::*;
use orchestrator_core::runtime::{Clock, Timer};
use orchestrator_core::{
    CancellationToken, EventKind, Executor, Job, JobBuilder, JobContext, JobError, JobResult, RetryPolicy,
};

/// A job whose executor is scripted: it fails `fail_first` times, then succeeds after
/// `work` of virtual time. A drop guard records that the attempt future was dropped.
#[derive(Clone)]
struct Scripted {
    fail_first: u32,
    work: Duration,
}
impl Job for Scripted {
    type Output = u32;
}

#[derive(Default)]
struct Probe {
    calls: AtomicU32,
    dropped_unfinished: AtomicBool,
}

struct ScriptedExec {
    timer: Arc<dyn Timer>,
    probe: Arc<Probe>,
}

struct DropGuard(Arc<Probe>, bool);
impl Drop for DropGuard {
    fn drop(&mut self) {
        if !self.1 {
            self.0.dropped_unfinished.store(true, Ordering::SeqCst);
        }
    }
}

impl Executor<Scripted> for ScriptedExec {
    async fn process(&self, job: &Scripted, _ctx: &JobContext) -> Result<u32, JobError> {
        let call = self.probe.calls.fetch_add(1, Ordering::SeqCst);
        let mut guard = DropGuard(self.probe.clone(), false);
        if !job.work.is_zero() {
            self.timer.sleep(job.work).await;
        }
        guard.1 = true;
        if call < job.fail_first { Err(JobError::msg(format!("attempt {call} failed"))) } else { Ok(call) }
    }
}

fn harness() -> (Harness, Arc<Probe>) {
    let h = Harness::new();
    let probe = Arc::new(Probe::default());
    let timer: Arc<dyn Timer> = Arc::new(h.clock.clone());
    h.dispatcher.register(ScriptedExec { timer, probe: probe.clone() });
    (h, probe)
}

fn quick(fail_first: u32) -> Scripted {
    Scripted { fail_first, work: Duration::ZERO }
}

#[test]
fn success_emits_started_then_success() {
    let (mut h, _) = harness();
    let handle = h.dispatcher.dispatch(quick(0)).unwrap();
    let id = handle.id();
    let result = h.run(handle);
    assert_eq!(result.ok(), Some(0));
    let events = h.drain();
    assert_eq!(tags(&events), [Started, Success]);
    assert!(events.iter().all(|e| e.id() == id && e.job_type() == "Scripted" && e.is_from::<Scripted>()));
    assert_eq!(events[1].data_as::<u32>(), Some(&0));
}

#[test]
fn failure_emits_one_failure_not_retried() {
    let (mut h, _) = harness();
    let result = h.run(h.dispatcher.dispatch(quick(1)).unwrap());
    assert_eq!(result.error().map(JobError::message), Some("attempt 0 failed"));
    let events = h.drain();
    assert_eq!(tags(&events), [Started, Failure]);
    assert!(matches!(events[1].kind(), EventKind::Failure { retried: false, .. }));
}

#[test]
fn k_retries_then_success() {
    let (mut h, probe) = harness();
    let job = JobBuilder::new(quick(2)).retry(RetryPolicy::new().with_max_retries(3));
    let result = h.run(h.dispatcher.dispatch(job).unwrap());
    assert_eq!(result.ok(), Some(2));
    assert_eq!(probe.calls.load(Ordering::SeqCst), 3);
    let events = h.drain();
    assert_eq!(tags(&events), [Started, Retrying, Retrying, Success]);
    let delays: Vec<_> = events
        .iter()
        .filter_map(|e| match e.kind() {
            EventKind::Retrying(r) => Some((r.attempt, r.max, r.delay)),
            _ => None,
        })
        .collect();
    assert_eq!(delays, [(1, 3, Duration::from_secs(1)), (2, 3, Duration::from_secs(2))]);
    // The back-offs really elapsed on the clock: 1 s + 2 s.
    assert_eq!(h.clock.now(), Duration::from_secs(3));
}

#[test]
fn exhausted_retries_emit_exactly_one_failure_and_nothing_after() {
    let (mut h, probe) = harness();
    let job = JobBuilder::new(quick(u32::MAX)).retry(RetryPolicy::new().with_max_retries(3));
    let result = h.run(h.dispatcher.dispatch(job).unwrap());
    assert!(result.is_failure());
    assert_eq!(probe.calls.load(Ordering::SeqCst), 4);
    let events = h.drain();
    assert_eq!(tags(&events), [Started, Retrying, Retrying, Retrying, Failure]);
    assert!(matches!(events[4].kind(), EventKind::Failure { retried: true, .. }));
    assert_eq!(events[4].error().map(JobError::message), Some("attempt 3 failed"));
}

#[test]
fn timeout_emits_only_timed_out_and_drops_the_work() {
    let (mut h, probe) = harness();
    let job =
        JobBuilder::new(Scripted { fail_first: 0, work: Duration::from_secs(60) }).timeout(Duration::from_secs(5));
    let result = h.run(h.dispatcher.dispatch(job).unwrap());
    assert!(matches!(result, JobResult::TimedOut(d) if d == Duration::from_secs(5)));
    assert!(probe.dropped_unfinished.load(Ordering::SeqCst), "the running attempt was dropped");
    assert_eq!(h.clock.now(), Duration::from_secs(5));
    assert_eq!(tags(&h.drain()), [Started, TimedOut]);
    // Nothing of the job happens later, even far in the future.
    h.clock.advance(Duration::from_secs(3600));
    assert!(h.drain().is_empty());
    assert_eq!(probe.calls.load(Ordering::SeqCst), 1);
}

#[test]
fn timeout_covers_retries_and_back_off() {
    let (mut h, probe) = harness();
    let job = JobBuilder::new(quick(u32::MAX))
        .retry(RetryPolicy::new().with_max_retries(10))
        .timeout(Duration::from_millis(3500));
    let result = h.run(h.dispatcher.dispatch(job).unwrap());
    assert!(result.is_timed_out());
    // Attempts at 0 s, 1 s, 3 s; the back-off towards 7 s is interrupted at 3.5 s.
    assert_eq!(probe.calls.load(Ordering::SeqCst), 3);
    assert_eq!(tags(&h.drain()), [Started, Retrying, Retrying, Retrying, TimedOut]);
}

#[test]
fn cancel_while_running_emits_cancelled_and_drops_the_work() {
    let (mut h, probe) = harness();
    let token = CancellationToken::new();
    let job = JobBuilder::new(Scripted { fail_first: 0, work: Duration::from_secs(10) }).cancel_token(token.clone());
    let handle = h.dispatcher.dispatch(job).unwrap();
    let timer = h.clock.clone();
    let result = h.run(async move {
        let cancel = async {
            timer.sleep(Duration::from_secs(2)).await;
            token.cancel_with_reason("user pressed cancel");
        };
        let (result, ()) = futures::join!(handle, cancel);
        result
    });
    assert!(matches!(&result, JobResult::Cancelled(Some(r)) if &**r == "user pressed cancel"));
    assert!(probe.dropped_unfinished.load(Ordering::SeqCst));
    let events = h.drain();
    assert_eq!(tags(&events), [Started, Cancelled]);
    assert_eq!(h.clock.now(), Duration::from_secs(2));
}

#[test]
fn handle_cancel_cancels_only_its_job() {
    let (mut h, _) = harness();
    let shared = CancellationToken::new();
    let slow =
        || JobBuilder::new(Scripted { fail_first: 0, work: Duration::from_secs(10) }).cancel_token(shared.clone());
    let a = h.dispatcher.dispatch(slow()).unwrap();
    let b = h.dispatcher.dispatch(slow()).unwrap();
    let (a_id, b_id) = (a.id(), b.id());
    assert!(a.cancel());
    let (ra, rb) = h.run(async { futures::join!(a, b) });
    assert!(ra.is_cancelled());
    assert!(rb.is_success());
    assert!(!shared.is_cancelled());
    let events = h.drain();
    let of = |id| tags(&events.iter().filter(|e| e.id() == id).cloned().collect::<Vec<_>>());
    assert_eq!(of(a_id), [Started, Cancelled]);
    assert_eq!(of(b_id), [Started, Success]);
}

#[test]
fn cancel_before_start_emits_started_then_cancelled() {
    let (mut h, probe) = harness();
    let token = CancellationToken::new();
    token.cancel();
    let job = JobBuilder::new(quick(0)).cancel_token(token).placeholder(99);
    let result = h.run(h.dispatcher.dispatch(job).unwrap());
    assert!(matches!(result, JobResult::Cancelled(None)));
    assert_eq!(probe.calls.load(Ordering::SeqCst), 0);
    assert_eq!(tags(&h.drain()), [Started, Placeholder, Cancelled]);
}

#[test]
fn cancel_during_back_off_makes_no_further_attempt() {
    let (mut h, probe) = harness();
    let job = JobBuilder::new(quick(u32::MAX)).retry(RetryPolicy::new().with_max_retries(5));
    let handle = h.dispatcher.dispatch(job).unwrap();
    let token = handle.token();
    let timer = h.clock.clone();
    let result = h.run(async move {
        let cancel = async {
            // First attempt fails at 0 s, back-off of 1 s: cancel in the middle of it.
            timer.sleep(Duration::from_millis(500)).await;
            token.cancel();
        };
        futures::join!(handle, cancel).0
    });
    assert!(result.is_cancelled());
    assert_eq!(probe.calls.load(Ordering::SeqCst), 1);
    assert_eq!(tags(&h.drain()), [Started, Retrying, Cancelled]);
    // No attempt happens when the back-off would have ended.
    h.clock.advance(Duration::from_secs(60));
    assert_eq!(probe.calls.load(Ordering::SeqCst), 1);
    assert!(h.drain().is_empty());
}

#[test]
fn placeholder_comes_right_after_started() {
    let (mut h, _) = harness();
    let job = JobBuilder::new(quick(0)).placeholder(42);
    h.run(h.dispatcher.dispatch(job).unwrap());
    let events = h.drain();
    assert_eq!(tags(&events), [Started, Placeholder, Success]);
    assert_eq!(events[1].data_as::<u32>(), Some(&42));
}

#[test]
fn builder_output_runs_on_the_original_executor() {
    let (h, probe) = harness();
    let configured = JobBuilder::new(quick(0)).timeout(Duration::from_secs(1)).metadata([("k", "v")]);
    let result = h.run(h.dispatcher.dispatch(configured).unwrap());
    assert!(result.is_success());
    assert_eq!(probe.calls.load(Ordering::SeqCst), 1);
}

#[test]
fn progress_and_steps_are_reported_in_order() {
    #[derive(Clone)]
    struct Upload;
    impl Job for Upload {
        type Output = ();
    }
    let mut h = Harness::new();
    h.dispatcher.register(orchestrator_core::executor_fn(|_: Upload, ctx: JobContext| async move {
        ctx.progress(0.25).unwrap();
        ctx.progress_with(0.5, "half").unwrap();
        ctx.step(3, 4, Some("chunk 3")).unwrap();
        ctx.emit("chunk_uploaded", 3_u32).unwrap();
        Ok(())
    }));
    h.run(h.dispatcher.dispatch(Upload).unwrap());
    let events = h.drain();
    assert_eq!(tags(&events), [Started, Progress, Progress, Progress, Custom("chunk_uploaded"), Success]);
    let p: Vec<_> = events.iter().filter_map(|e| e.progress().map(|p| (p.progress, p.step, p.total))).collect();
    assert_eq!(p, [(0.25, None, None), (0.5, None, None), (0.75, Some(3), Some(4))]);
    assert_eq!(events[2].progress().and_then(|p| p.message.as_deref()), Some("half"));
    assert_eq!(events[4].data_as::<u32>(), Some(&3));
}

// Needs unwinding: on panic=abort targets (wasm32) the panic ends the process.
#[cfg(all(feature = "std", panic = "unwind"))]
#[test]
fn a_panicking_executor_fails_with_the_panic_message() {
    #[derive(Clone)]
    struct Boom;
    impl Job for Boom {
        type Output = ();
    }
    let mut h = Harness::new();
    h.dispatcher.register(orchestrator_core::executor_fn(|_: Boom, _| async move {
        if true {
            panic!("kaboom");
        }
        Ok(())
    }));
    let job = JobBuilder::new(Boom).retry(RetryPolicy::new());
    let result = h.run(h.dispatcher.dispatch(job).unwrap());
    let error = result.error().cloned().unwrap();
    assert!(error.is_panic());
    assert_eq!(error.message(), "kaboom");
    // Panics are bugs, not transient failures: no retry.
    assert_eq!(tags(&h.drain()), [Started, Failure]);
    // The dispatcher keeps working.
    assert!(h.run(h.dispatcher.dispatch(Boom).unwrap()).is_failure());
}

#[test]
fn dropping_the_runner_mid_job_still_ends_the_job_once() {
    let (mut h, probe) = harness();
    let handle = h.dispatcher.dispatch(Scripted { fail_first: 0, work: Duration::from_secs(10) }).unwrap();
    {
        // Poll the runner once (the job starts and sleeps), then drop it.
        let mut runner = h.dispatcher.runner();
        let waker = futures::task::noop_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        assert!(std::pin::Pin::new(&mut runner).poll(&mut cx).is_pending());
        assert_eq!(h.dispatcher.stats().running, 1);
    }
    assert!(probe.dropped_unfinished.load(Ordering::SeqCst));
    let result = h.run(handle);
    assert!(matches!(&result, JobResult::Cancelled(Some(r)) if r.starts_with("abandoned")));
    assert_eq!(tags(&h.drain()), [Started, Cancelled]);
    let stats = h.dispatcher.stats();
    assert_eq!((stats.pending, stats.running, stats.runners), (0, 0, 0));
}

use std::future::Future;

/// A job that reads the dispatcher's stats when it is dropped (as part of its future).
struct Watched {
    dispatcher: orchestrator_core::Dispatcher,
    yield_first: bool,
    seen: Arc<std::sync::Mutex<Option<orchestrator_core::DispatcherStats>>>,
}
impl Job for Watched {
    type Output = ();
}
impl Drop for Watched {
    fn drop(&mut self) {
        *self.seen.lock().unwrap() = Some(self.dispatcher.stats());
    }
}
struct WatchedExec;
impl Executor<Watched> for WatchedExec {
    async fn process(&self, job: &Watched, _: &JobContext) -> Result<(), JobError> {
        if job.yield_first {
            common::yield_now().await;
        }
        Ok(())
    }
}

/// A finished job counts as running until its future (and what it holds) is dropped,
/// whether it finished in its first poll or later: `pending == 0 && running == 0` means
/// no job future is left. (Regression: a job finishing in its runner's first poll was
/// dropped after both counters read 0.)
#[test]
fn a_finished_job_counts_as_running_until_its_future_is_dropped() {
    let h = Harness::new();
    h.dispatcher.register(WatchedExec);
    for yield_first in [false, true] {
        let seen = Arc::new(std::sync::Mutex::new(None));
        let job = Watched { dispatcher: h.dispatcher.clone(), yield_first, seen: seen.clone() };
        assert!(h.run(h.dispatcher.dispatch(job).unwrap()).is_success());
        let stats = seen.lock().unwrap().expect("the job was dropped");
        assert_eq!((stats.pending, stats.running), (0, 1), "yield_first: {yield_first}: {stats:?}");
        let stats = h.dispatcher.stats();
        assert_eq!((stats.pending, stats.running), (0, 0), "{stats:?}");
    }
}

/// Busy for `busy` (the virtual clock is moved forward inside the first poll, as long
/// synchronous work would), then waits for `then`.
struct Busy {
    busy: Duration,
    then: Duration,
}
impl Job for Busy {
    type Output = ();
}

struct BusyExec(orchestrator_core::runtime::VirtualClock);
impl Executor<Busy> for BusyExec {
    async fn process(&self, job: &Busy, _: &JobContext) -> Result<(), JobError> {
        self.0.advance(job.busy);
        self.0.sleep(job.then).await;
        Ok(())
    }
}

#[test]
fn the_deadline_counts_from_the_start_even_when_the_first_poll_takes_time() {
    let mut h = Harness::new();
    h.dispatcher.register(BusyExec(h.clock.clone()));
    let job = JobBuilder::new(Busy { busy: Duration::from_secs(3), then: Duration::from_secs(10) })
        .timeout(Duration::from_secs(5));
    let result = h.run(h.dispatcher.dispatch(job).unwrap());
    assert!(matches!(result, JobResult::TimedOut(d) if d == Duration::from_secs(5)));
    assert_eq!(h.clock.now(), Duration::from_secs(5), "3 s in the first poll + 2 s of the 5 s left");
    assert_eq!(tags(&h.drain()), [Started, TimedOut]);
}
