//! Retry storms: a job that fails at once, retried with no back-off. It must still yield
//! between attempts (so its timeout, its cancellation and the other jobs of its runner
//! get their turn), and a [`RetryBudget`] must stop it.
//!
//! The runner is polled by hand, with the virtual clock advanced between polls: a job that
//! wakes itself at every poll keeps `run_virtual` busy forever (virtual time only moves
//! when nothing is ready), which is exactly what these tests are about.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs, missing_debug_implementations)]

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Context;
use std::time::Duration;

use common::{drain, tags};
use orchestrator_core::EventTag::*;
use orchestrator_core::log::{Level, Logger};
use orchestrator_core::runtime::{Clock, Timer, VirtualClock};
use orchestrator_core::{
    Dispatcher, DispatcherBuilder, EventKind, Executor, Job, JobBuilder, JobContext, JobError, JobErrorKind, JobHandle,
    JobResult, RetryBudget, RetryPolicy, Runner, Subscription,
};

/// Calls after which the storm's executor succeeds. Only a safety net: with attempts that
/// never yield, the first poll of the runner would otherwise run `u32::MAX` attempts, and
/// a test of that would hang instead of failing. No test here comes near it.
const SAFETY_NET: u32 = 10_000;

/// A job that fails at once (until [`SAFETY_NET`]).
struct Storm;
impl Job for Storm {
    type Output = u32;
}

struct StormExec(Arc<AtomicU32>);
impl Executor<Storm> for StormExec {
    async fn process(&self, _: &Storm, _: &JobContext) -> Result<u32, JobError> {
        let call = self.0.fetch_add(1, Ordering::SeqCst);
        if call >= SAFETY_NET { Ok(call) } else { Err(JobError::msg(format!("storm attempt {call}"))) }
    }
}

/// A job that waits `0` on the clock, then succeeds.
struct Tick(Duration);
impl Job for Tick {
    type Output = ();
}

struct TickExec(VirtualClock);
impl Executor<Tick> for TickExec {
    async fn process(&self, job: &Tick, _: &JobContext) -> Result<(), JobError> {
        self.0.sleep(job.0).await;
        Ok(())
    }
}

/// Records every log line.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<(Level, String)>>>);
impl Logger for Capture {
    fn enabled(&self, _: Level) -> bool {
        true
    }
    fn log(&self, level: Level, message: std::fmt::Arguments<'_>) {
        self.0.lock().unwrap().push((level, message.to_string()));
    }
}
impl Capture {
    fn warnings(&self) -> Vec<String> {
        self.0.lock().unwrap().iter().filter(|(l, _)| *l == Level::Warning).map(|(_, m)| m.clone()).collect()
    }
}

struct Setup {
    clock: VirtualClock,
    dispatcher: Dispatcher,
    events: Subscription,
    /// Calls of the storm's executor.
    calls: Arc<AtomicU32>,
    log: Capture,
    runner: Runner,
}

impl Setup {
    /// A dispatcher on a virtual clock (if `timer`), configured further by `configure`,
    /// with a capturing logger and the executors of this file registered.
    fn new(timer: bool, configure: impl FnOnce(DispatcherBuilder) -> DispatcherBuilder) -> Self {
        let clock = VirtualClock::new();
        let log = Capture::default();
        let mut builder = Dispatcher::builder().logger(log.clone());
        if timer {
            builder = builder.timer(clock.clone());
        }
        let dispatcher = configure(builder).build().unwrap();
        let calls = Arc::new(AtomicU32::new(0));
        dispatcher.register(StormExec(calls.clone()));
        dispatcher.register(TickExec(clock.clone()));
        let events = dispatcher.bus().subscribe().unwrap();
        let runner = dispatcher.runner();
        Self { clock, dispatcher, events, calls, log, runner }
    }

    fn calls(&self) -> u32 {
        self.calls.load(Ordering::SeqCst)
    }

    /// Polls the runner once (it must not end: the dispatcher is not shut down).
    fn poll(&mut self) {
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(Pin::new(&mut self.runner).poll(&mut cx).is_pending());
    }

    /// Polls the runner and advances the clock by `step` until `handle` has its result;
    /// returns it with the number of polls. Fails after `max_polls`.
    fn drive<T>(&mut self, handle: &mut JobHandle<T>, step: Duration, max_polls: u32) -> (JobResult<T>, u32) {
        for polls in 1..=max_polls {
            self.poll();
            if let Some(result) = handle.try_result() {
                return (result, polls);
            }
            self.clock.advance(step);
        }
        panic!("no result after {max_polls} polls ({} attempts, clock at {:?})", self.calls(), self.clock.now());
    }
}

/// Unbounded retries with no back-off: the storm.
fn storm_policy() -> RetryPolicy {
    RetryPolicy::new().with_max_retries(u32::MAX).with_base_delay(Duration::ZERO)
}

const MS: Duration = Duration::from_millis(1);

#[test]
fn a_zero_back_off_retry_storm_times_out_at_its_timeout() {
    let mut s = Setup::new(true, |b| b);
    let job = JobBuilder::new(Storm).retry(storm_policy()).timeout(50 * MS);
    let mut handle = s.dispatcher.dispatch(job).unwrap();
    let (result, polls) = s.drive(&mut handle, MS, 200);
    assert!(matches!(result, JobResult::TimedOut(d) if d == 50 * MS), "{result:?}");
    // It ended at its deadline, in the poll right after the clock reached it.
    assert_eq!(s.clock.now(), 50 * MS);
    assert_eq!(polls, 51);
    // It kept retrying all along, a bounded number of times per poll.
    let calls = s.calls();
    assert!(calls >= polls && calls <= 2 * polls, "{calls} attempts in {polls} polls");
    let events = drain(&mut s.events);
    assert_eq!(tags(&events).first(), Some(&Started));
    assert_eq!(tags(&events).last(), Some(&TimedOut));
    assert!(tags(&events).iter().all(|t| matches!(t, Started | Retrying | TimedOut)));
    // Nothing of the job happens after its end.
    for _ in 0..10 {
        s.clock.advance(MS);
        s.poll();
    }
    assert_eq!(s.calls(), calls);
    assert!(drain(&mut s.events).is_empty());
    let stats = s.dispatcher.stats();
    assert_eq!((stats.pending, stats.running, stats.retries_refused), (0, 0, 0));
}

#[test]
fn a_zero_back_off_retry_storm_is_cancelled_at_once() {
    let mut s = Setup::new(true, |b| b);
    let mut handle = s.dispatcher.dispatch(JobBuilder::new(Storm).retry(storm_policy())).unwrap();
    for _ in 0..10 {
        s.poll();
        s.clock.advance(MS);
    }
    assert!(handle.try_result().is_none(), "the storm is still running");
    let before = s.calls();
    assert!(before >= 10, "it retried in every poll: {before}");
    assert!(handle.cancel());
    let (result, polls) = s.drive(&mut handle, MS, 10);
    assert!(matches!(result, JobResult::Cancelled(None)), "{result:?}");
    assert_eq!(polls, 1, "cancelled in the first poll after cancel()");
    assert_eq!(s.calls(), before, "no attempt after the cancellation");
    assert_eq!(tags(&drain(&mut s.events)).last(), Some(&Cancelled));
}

#[test]
fn a_sibling_job_finishes_on_time_while_a_storm_runs_on_the_same_runner() {
    let mut s = Setup::new(true, |b| b);
    let mut storm = s.dispatcher.dispatch(JobBuilder::new(Storm).retry(storm_policy())).unwrap();
    let mut sibling = s.dispatcher.dispatch(Tick(MS)).unwrap();
    let step = Duration::from_micros(100);
    let (result, polls) = s.drive(&mut sibling, step, 100);
    assert!(result.is_success(), "{result:?}");
    // Done as soon as its 1 ms had passed.
    assert_eq!(s.clock.now(), MS);
    assert_eq!(polls, 11);
    // The storm is still running, and it made progress too.
    assert!(storm.try_result().is_none(), "the storm is still running");
    assert!(s.calls() >= polls, "{} attempts in {polls} polls", s.calls());
    storm.cancel();
    assert!(s.drive(&mut storm, step, 10).0.is_cancelled());
}

#[test]
fn a_retry_budget_stops_a_storm_after_its_allowance() {
    let budget = RetryBudget::builder().min_retries(5).retry_percent(0).build();
    let mut s = Setup::new(true, |b| b.retry_budget(budget.clone()));
    let mut handle = s.dispatcher.dispatch(JobBuilder::new(Storm).retry(storm_policy())).unwrap();
    let id = handle.id();
    let (result, _) = s.drive(&mut handle, MS, 100);

    // The typed result: a Failure with the last error, marked as given up on the budget.
    let error = result.error().cloned().expect("a failure");
    assert_eq!(error.kind(), JobErrorKind::RetryBudgetExhausted);
    assert_eq!(error.message(), "storm attempt 5");
    assert_eq!(error.cause().map(JobError::kind), Some(JobErrorKind::Failed));
    assert_eq!(error.cause().map(JobError::message), Some("storm attempt 5"));
    // One first try and the five retries of the reserve.
    assert_eq!(s.calls(), 6);
    assert_eq!(budget.available(s.clock.now()), 0);

    // The events: five retries, then the Failure with the same error.
    let events = drain(&mut s.events);
    assert_eq!(tags(&events), [Started, Retrying, Retrying, Retrying, Retrying, Retrying, Failure]);
    match events[6].kind() {
        EventKind::Failure { error, retried: true } => assert_eq!(error.kind(), JobErrorKind::RetryBudgetExhausted),
        other => panic!("{other:?}"),
    }

    // The stat and the log line.
    assert_eq!(s.dispatcher.stats().retries_refused, 1);
    let warnings = s.log.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let line = &warnings[0];
    assert!(line.contains(&id.to_string()) && line.contains("retry 6 of"), "{line}");
    assert!(line.contains("refused by the retry budget") && line.contains("storm attempt 5"), "{line}");
}

#[test]
fn successes_buy_retries_for_jobs_sharing_a_policy_budget() {
    // A share of 50 %: two successes pay for one retry, on top of a reserve of 2.
    let budget = RetryBudget::builder().min_retries(2).retry_percent(50).build();
    let mut s = Setup::new(true, |b| b);
    let policy = storm_policy().with_budget(budget.clone());

    // Jobs without a retry policy (or that may not retry) neither deposit nor withdraw.
    for job in
        [JobBuilder::new(Tick(MS)), JobBuilder::new(Tick(MS)).retry(RetryPolicy::none().with_budget(budget.clone()))]
    {
        let mut handle = s.dispatcher.dispatch(job).unwrap();
        assert!(s.drive(&mut handle, MS, 10).0.is_success());
    }
    assert_eq!(budget.available(s.clock.now()), 2);

    for _ in 0..10 {
        let mut handle = s.dispatcher.dispatch(JobBuilder::new(Tick(MS)).retry(policy.clone())).unwrap();
        assert!(s.drive(&mut handle, MS, 10).0.is_success());
    }
    assert_eq!(budget.available(s.clock.now()), 7);

    let mut handle = s.dispatcher.dispatch(JobBuilder::new(Storm).retry(policy)).unwrap();
    let (result, _) = s.drive(&mut handle, MS, 100);
    assert_eq!(result.error().map(JobError::kind), Some(JobErrorKind::RetryBudgetExhausted));
    assert_eq!(s.calls(), 1 + 7);
    assert_eq!(s.dispatcher.stats().retries_refused, 1);
}

#[test]
fn the_budget_refills_a_window_later_and_a_policy_budget_overrides_the_dispatchers() {
    let shared = RetryBudget::builder().window(Duration::from_secs(10)).min_retries(3).retry_percent(0).build();
    let mut s = Setup::new(true, |b| b.retry_budget(shared.clone()));

    let mut first = s.dispatcher.dispatch(JobBuilder::new(Storm).retry(storm_policy())).unwrap();
    assert!(s.drive(&mut first, MS, 100).0.is_failure());
    assert_eq!(s.calls(), 4);
    // Spent: the next storm fails at its first attempt.
    let mut second = s.dispatcher.dispatch(JobBuilder::new(Storm).retry(storm_policy())).unwrap();
    let (result, _) = s.drive(&mut second, MS, 100);
    assert_eq!(result.error().map(JobError::kind), Some(JobErrorKind::RetryBudgetExhausted));
    assert_eq!(s.calls(), 5);

    // A policy with its own budget does not touch the dispatcher's.
    let own = RetryBudget::builder().min_retries(1).retry_percent(0).build();
    let mut third =
        s.dispatcher.dispatch(JobBuilder::new(Storm).retry(storm_policy().with_budget(own.clone()))).unwrap();
    assert!(s.drive(&mut third, MS, 100).0.is_failure());
    assert_eq!(s.calls(), 7);
    assert_eq!(own.available(s.clock.now()), 0);

    // A window later the reserve is back.
    s.clock.advance(Duration::from_secs(10));
    assert_eq!(shared.available(s.clock.now()), 3);
    let mut fourth = s.dispatcher.dispatch(JobBuilder::new(Storm).retry(storm_policy())).unwrap();
    assert!(s.drive(&mut fourth, MS, 100).0.is_failure());
    assert_eq!(s.calls(), 11);
    assert_eq!(s.dispatcher.stats().retries_refused, 4);
    assert_eq!(s.log.warnings().len(), 4);
}

#[test]
fn without_a_timer_the_budget_window_never_rolls_over() {
    let budget = RetryBudget::builder().window(Duration::from_millis(1)).min_retries(2).retry_percent(0).build();
    let mut s = Setup::new(false, |b| b.retry_budget(budget.clone()));
    let mut first = s.dispatcher.dispatch(JobBuilder::new(Storm).retry(storm_policy())).unwrap();
    assert!(s.drive(&mut first, MS, 100).0.is_failure());
    assert_eq!(s.calls(), 3);
    // However much time passes on other clocks, the dispatcher's budget sees none.
    s.clock.advance(Duration::from_secs(3600));
    let mut second = s.dispatcher.dispatch(JobBuilder::new(Storm).retry(storm_policy())).unwrap();
    assert!(s.drive(&mut second, MS, 100).0.is_failure());
    assert_eq!(s.calls(), 4);
    assert_eq!(s.dispatcher.stats().retries_refused, 2);
}

#[test]
fn without_a_budget_every_retry_of_the_policy_happens() {
    let mut s = Setup::new(true, |b| b);
    assert!(s.dispatcher.retry_budget().is_none());
    let policy = RetryPolicy::new().with_max_retries(300).with_base_delay(Duration::ZERO);
    let mut handle = s.dispatcher.dispatch(JobBuilder::new(Storm).retry(policy)).unwrap();
    let (result, _) = s.drive(&mut handle, MS, 1000);
    let error = result.error().cloned().expect("a failure");
    assert_eq!(error.kind(), JobErrorKind::Failed);
    assert_eq!(error.message(), "storm attempt 300");
    assert!(error.cause().is_none());
    assert_eq!(s.calls(), 301);
    assert_eq!(s.dispatcher.stats().retries_refused, 0);
    assert!(s.log.warnings().is_empty());
}

/// An attempt that cancels its own job, then fails: no retry is announced or paid for
/// after the cancellation.
#[test]
fn an_attempt_that_cancels_its_job_announces_no_retry() {
    use orchestrator_core::{EventTag, Job, JobBuilder, JobContext, JobError, RetryBudget, RetryPolicy, executor_fn};

    #[derive(Clone)]
    struct SelfCancel;
    impl Job for SelfCancel {
        type Output = ();
    }

    let mut h = common::Harness::new();
    h.dispatcher.register(executor_fn(|_: SelfCancel, ctx: JobContext| async move {
        if ctx.attempt() == 2 {
            ctx.token().cancel_with_reason("x");
        }
        Err::<(), _>(JobError::msg("fails"))
    }));
    let budget = RetryBudget::builder().min_retries(100).build();
    let policy =
        RetryPolicy::new().with_max_retries(10).with_base_delay(std::time::Duration::ZERO).with_budget(budget.clone());
    let result = h.run(h.dispatcher.dispatch(JobBuilder::new(SelfCancel).retry(policy)).unwrap());
    assert!(matches!(&result, orchestrator_core::JobResult::Cancelled(Some(r)) if &**r == "x"), "{result:?}");
    let tags = common::tags(&h.drain());
    assert_eq!(tags, [EventTag::Started, EventTag::Retrying, EventTag::Retrying, EventTag::Cancelled]);
    assert_eq!(budget.available(std::time::Duration::ZERO), 98, "two retries paid for, not three");
}
