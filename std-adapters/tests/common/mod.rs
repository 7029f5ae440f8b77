//! Scenarios shared by the per-runtime integration tests. Each one only checks that the
//! adapter is wired (timer, spawner, panic handling): none asserts on elapsed wall time.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use futures::future::{Either, select};
use orchestrator_std::log::{Level, Logger};
use orchestrator_std::runtime::Timer;
use orchestrator_std::{
    Dispatcher, EventTag, Executor, Job, JobBuilder, JobContext, JobError, JobResult, RetryPolicy, Subscription,
};

/// Fails its first `fail_times` attempts, then returns the attempt number.
pub struct Flaky {
    pub fail_times: u32,
}
impl Job for Flaky {
    type Output = u32;
}
struct FlakyExecutor;
impl Executor<Flaky> for FlakyExecutor {
    async fn process(&self, job: &Flaky, ctx: &JobContext) -> Result<u32, JobError> {
        if ctx.attempt() < job.fail_times { Err(JobError::msg("flaky")) } else { Ok(ctx.attempt()) }
    }
}

/// Sleeps `0` on the dispatcher's timer.
pub struct Sleepy(pub Duration);
impl Job for Sleepy {
    type Output = ();
}
struct SleepyExecutor(Arc<dyn Timer>);
impl Executor<Sleepy> for SleepyExecutor {
    async fn process(&self, job: &Sleepy, _: &JobContext) -> Result<(), JobError> {
        self.0.sleep(job.0).await;
        Ok(())
    }
}

/// Panics with "boom".
pub struct Boom;
impl Job for Boom {
    type Output = ();
}
struct BoomExecutor;
impl Executor<Boom> for BoomExecutor {
    async fn process(&self, _: &Boom, _: &JobContext) -> Result<(), JobError> {
        panic!("boom")
    }
}

/// Returns its value.
pub struct Echo(pub u32);
impl Job for Echo {
    type Output = u32;
}
struct EchoExecutor;
impl Executor<Echo> for EchoExecutor {
    async fn process(&self, job: &Echo, _: &JobContext) -> Result<u32, JobError> {
        Ok(job.0)
    }
}

/// Registers every test executor on `dispatcher` (which must have a timer).
pub fn register_all(dispatcher: &Dispatcher) {
    let timer = dispatcher.timer().cloned().expect("the dispatcher has a timer");
    dispatcher.register(FlakyExecutor);
    dispatcher.register(SleepyExecutor(timer));
    dispatcher.register(BoomExecutor);
    dispatcher.register(EchoExecutor);
}

/// Fails the test if `fut` has not finished after a minute: a guard against hangs, not a
/// timing assertion.
pub async fn watchdog<F: Future>(timer: &dyn Timer, fut: F) -> F::Output {
    match select(pin!(fut), timer.sleep(Duration::from_secs(60))).await {
        Either::Left((out, _)) => out,
        Either::Right(_) => panic!("the scenario hung"),
    }
}

/// Collects events of `sub` up to (and including) the first terminal one.
async fn until_terminal(sub: &mut Subscription) -> Vec<EventTag> {
    let mut tags = Vec::new();
    while let Some(event) = sub.next().await {
        let event = event.expect("no lag in these small tests");
        tags.push(event.tag());
        if event.is_terminal() {
            break;
        }
    }
    tags
}

/// A job that fails twice is retried with real (10 ms, 20 ms) back-off sleeps and succeeds.
pub async fn retry_succeeds(dispatcher: &Dispatcher) {
    let mut events = dispatcher.bus().subscribe().unwrap();
    let policy = RetryPolicy::new().with_max_retries(3).with_base_delay(Duration::from_millis(10));
    let handle = dispatcher.dispatch(JobBuilder::new(Flaky { fail_times: 2 }).retry(policy)).unwrap();
    match handle.await {
        JobResult::Success(attempt) => assert_eq!(attempt, 2),
        other => panic!("expected success, got {other:?}"),
    }
    use EventTag::*;
    assert_eq!(until_terminal(&mut events).await, [Started, Retrying, Retrying, Success]);

    // Exhausted retries end in the last failure.
    let policy = RetryPolicy::new().with_max_retries(1).with_base_delay(Duration::from_millis(1));
    let handle = dispatcher.dispatch(JobBuilder::new(Flaky { fail_times: 5 }).retry(policy)).unwrap();
    match handle.await {
        JobResult::Failure(error) => assert_eq!(error.message(), "flaky"),
        other => panic!("expected failure, got {other:?}"),
    }
}

/// A job sleeping 10 s with a 50 ms timeout times out.
pub async fn timeout_fires(dispatcher: &Dispatcher) {
    let job = JobBuilder::new(Sleepy(Duration::from_secs(10))).timeout(Duration::from_millis(50));
    match dispatcher.dispatch(job).unwrap().await {
        JobResult::TimedOut(after) => assert_eq!(after, Duration::from_millis(50)),
        other => panic!("expected a timeout, got {other:?}"),
    }
}

/// A running job (sleeping `Duration::MAX`) is cancelled through its handle.
pub async fn cancel_running(dispatcher: &Dispatcher) {
    let mut events = dispatcher.bus().subscribe().unwrap();
    let handle = dispatcher.dispatch(Sleepy(Duration::MAX)).unwrap();
    // Wait until it runs, so the cancellation interrupts the executor itself.
    loop {
        let event = events.next().await.expect("bus open").expect("no lag");
        if event.id() == handle.id() && event.tag() == EventTag::Started {
            break;
        }
    }
    assert!(handle.cancel());
    match handle.await {
        JobResult::Cancelled(_) => {}
        other => panic!("expected a cancellation, got {other:?}"),
    }
    assert_eq!(until_terminal(&mut events).await, [EventTag::Cancelled]);
}

/// An executor panic becomes a `Failure` with the panic's message, and the dispatcher
/// keeps working.
pub async fn panic_is_failure(dispatcher: &Dispatcher) {
    match dispatcher.dispatch(Boom).unwrap().await {
        JobResult::Failure(error) => {
            assert!(error.is_panic(), "{error:?}");
            assert_eq!(error.message(), "boom");
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    assert!(matches!(dispatcher.dispatch(Echo(7)).unwrap().await, JobResult::Success(7)));
}

/// Sleeping `Duration::MAX` (and other huge durations) neither panics nor completes
/// before a short sleep.
pub async fn huge_sleeps_do_not_panic(timer: &dyn Timer) {
    let huge = [
        Duration::MAX,
        Duration::from_secs(u64::MAX),
        Duration::from_secs(u64::MAX / 2),
        Duration::from_secs(50 * 365 * 24 * 60 * 60), // below the "forever" threshold: a real timer
    ];
    for duration in huge {
        match select(timer.sleep(duration), timer.sleep(Duration::from_millis(10))).await {
            Either::Right(_) => {}
            Either::Left(_) => panic!("a sleep of {duration:?} completed"),
        }
    }
}

/// The clock never goes backwards, and clones share it.
pub async fn clock_is_monotonic<T: Timer + Clone>(timer: &T) {
    let a = timer.now();
    timer.sleep(Duration::from_millis(1)).await;
    let b = timer.now();
    let c = timer.clone().now();
    assert!(a <= b && b <= c, "{a:?} {b:?} {c:?}");
}

/// Every scenario, on `dispatcher` (built by a runtime adapter, so it has a timer and
/// running runners), under a watchdog; then shuts it down.
pub async fn run_all(dispatcher: &Dispatcher) {
    register_all(dispatcher);
    let timer = dispatcher.timer().cloned().expect("the dispatcher has a timer");
    watchdog(&*timer, async {
        retry_succeeds(dispatcher).await;
        timeout_fires(dispatcher).await;
        cancel_running(dispatcher).await;
        panic_is_failure(dispatcher).await;
        huge_sleeps_do_not_panic(&*timer).await;
        // Several jobs at once, spread over the runners.
        let handles: Vec<_> = (0..32).map(|i| dispatcher.dispatch(Echo(i)).unwrap()).collect();
        let results = futures::future::join_all(handles).await;
        assert!(results.iter().enumerate().all(|(i, r)| matches!(r, JobResult::Success(v) if *v as usize == i)));
    })
    .await;
    assert!(dispatcher.shutdown());
}

/// A logger that counts the error lines it receives.
#[derive(Clone, Default)]
pub struct CountingLogger(pub Arc<AtomicUsize>);

impl CountingLogger {
    pub fn errors(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Logger for CountingLogger {
    fn enabled(&self, level: Level) -> bool {
        level == Level::Error
    }
    fn log(&self, level: Level, _: fmt::Arguments<'_>) {
        if level == Level::Error {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}
