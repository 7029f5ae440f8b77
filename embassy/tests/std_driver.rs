//! The adapters on the host: embassy-time's std driver (real time, a timer thread) and
//! embassy-executor's std executor. The same code runs on a Cortex-M with a HAL's driver
//! (examples/embedded runs it under QEMU).
//!
//! `performance` of the host is not under test: every wait is bounded by a watchdog and no
//! assertion depends on the machine being fast.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::cell::RefCell;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use embassy_executor::{Executor, Spawner};
use futures::future::{Either, select};
use orchestrator_core::runtime::{Clock, Spawn, Timer};
use orchestrator_core::{
    EventTag, Executor as JobExecutor, Job, JobBuilder, JobContext, JobError, JobResult, RetryPolicy,
};
use orchestrator_embassy::{EmbassySpawner, EmbassyTime, TASK_POOL_SIZE};

/// Runs `scenario` as a task on a fresh std executor (its thread never returns, as
/// embassy executors do) and waits for it: a panic in it or a hang fails the test.
fn run_on_embassy(scenario: fn(Spawner, mpsc::Sender<()>)) {
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        let executor: &'static mut Executor = Box::leak(Box::new(Executor::new()));
        executor.run(move |spawner| scenario(spawner, done));
    });
    finished.recv_timeout(Duration::from_secs(30)).expect("the scenario panicked or hung");
}

#[test]
fn the_clock_is_monotonic_and_sleeps_never_end_early() {
    let mut last = EmbassyTime.now();
    for _ in 0..1_000 {
        let now = EmbassyTime.now();
        assert!(now >= last);
        last = now;
    }
    for wait in [Duration::ZERO, Duration::from_micros(300), Duration::from_millis(7)] {
        let before = EmbassyTime.now();
        futures::executor::block_on(EmbassyTime.sleep(wait));
        assert!(EmbassyTime.now() - before >= wait, "a sleep of {wait:?} ended early");
    }
}

#[test]
fn huge_sleeps_do_not_end_nor_panic() {
    for huge in [Duration::from_secs(u64::MAX / 2), Duration::MAX] {
        let short = EmbassyTime.sleep(Duration::from_millis(10));
        match futures::executor::block_on(select(EmbassyTime.sleep(huge), short)) {
            Either::Right(_) => {}
            Either::Left(_) => panic!("a sleep of {huge:?} ended before one of 10 ms"),
        }
    }
}

/// Sends `steps` steps, one per 2 ms sleep, logging each; fails its first attempt when
/// `fail_first`.
struct Work {
    steps: u32,
    fail_first: bool,
}
impl Job for Work {
    type Output = u32;
}
struct Worker(Arc<Mutex<Vec<u32>>>);
impl JobExecutor<Work> for Worker {
    async fn process(&self, job: &Work, ctx: &JobContext) -> Result<u32, JobError> {
        if job.fail_first && ctx.attempt() == 0 {
            return Err(JobError::msg("flaky"));
        }
        for step in 1..=job.steps {
            EmbassyTime.sleep(Duration::from_millis(2)).await;
            self.0.lock().unwrap().push(step);
            ctx.step(step, job.steps, None)?;
        }
        Ok(job.steps)
    }
}

#[embassy_executor::task]
async fn dispatcher_scenario(spawner: Spawner, done: mpsc::Sender<()>) {
    let dispatcher = orchestrator_embassy::dispatcher_builder(spawner).build().unwrap();
    assert_eq!(dispatcher.stats().runners, 1);
    let log = Arc::new(Mutex::new(Vec::new()));
    dispatcher.register(Worker(log.clone()));
    let mut events = dispatcher.bus().subscribe().unwrap();

    // A retry after a real back-off, then success.
    let job = JobBuilder::new(Work { steps: 3, fail_first: true })
        .timeout(Duration::from_secs(10))
        .retry(RetryPolicy::new().with_max_retries(1).with_base_delay(Duration::from_millis(5)));
    let result = dispatcher.dispatch(job).unwrap().await;
    assert!(matches!(result, JobResult::Success(3)), "{result:?}");
    let mut tags = Vec::new();
    while let Ok(event) = events.try_next() {
        tags.push(event.tag());
    }
    use EventTag::*;
    assert_eq!(tags, [Started, Retrying, Progress, Progress, Progress, Success]);

    // A timeout on embassy's timer drops the work.
    log.lock().unwrap().clear();
    let job = JobBuilder::new(Work { steps: 100_000, fail_first: false }).timeout(Duration::from_millis(20));
    let result = dispatcher.dispatch(job).unwrap().await;
    assert!(matches!(result, JobResult::TimedOut(after) if after == Duration::from_millis(20)), "{result:?}");
    let at_timeout = log.lock().unwrap().len();
    EmbassyTime.sleep(Duration::from_millis(20)).await;
    assert_eq!(log.lock().unwrap().len(), at_timeout, "the timed-out work went on");

    // Cancelled while running: the work stops.
    log.lock().unwrap().clear();
    let handle = dispatcher.dispatch(Work { steps: 100_000, fail_first: false }).unwrap();
    while log.lock().unwrap().len() < 3 {
        EmbassyTime.sleep(Duration::from_millis(1)).await;
    }
    assert!(handle.cancel());
    assert!(matches!(handle.await, JobResult::Cancelled(_)));
    let at_cancel = log.lock().unwrap().len();
    EmbassyTime.sleep(Duration::from_millis(20)).await;
    assert_eq!(log.lock().unwrap().len(), at_cancel, "the cancelled work went on");

    // After shutdown the runner ends and gives its pool slot back: the whole pool is free.
    dispatcher.shutdown();
    EmbassyTime.sleep(Duration::from_millis(5)).await;
    pool_scenario(spawner).await;
    done.send(()).unwrap();
}

/// Fills the pool: the task after the last slot is refused with `SpawnError`, not dropped
/// silently, and slots come back when their tasks end.
async fn pool_scenario(spawner: Spawner) {
    let spawn = EmbassySpawner::new(spawner);
    assert!(format!("{spawn:?}").contains(&TASK_POOL_SIZE.to_string()));
    let (release, released) = futures::channel::oneshot::channel::<()>();
    let released = futures::future::FutureExt::shared(released);
    let ran = Arc::new(Mutex::new(0));
    for _ in 0..TASK_POOL_SIZE {
        let (released, ran) = (released.clone(), ran.clone());
        spawn
            .spawn(Box::pin(async move {
                *ran.lock().unwrap() += 1;
                let _ = released.await;
            }))
            .expect("a free slot");
    }
    let refused = RefCell::new(false);
    assert!(spawn.spawn(Box::pin(async move { *refused.borrow_mut() = true })).is_err());
    release.send(()).unwrap();
    EmbassyTime.sleep(Duration::from_millis(5)).await;
    assert_eq!(*ran.lock().unwrap(), TASK_POOL_SIZE);
    let (done, finished) = futures::channel::oneshot::channel();
    spawn.spawn(Box::pin(async move { done.send(()).unwrap() })).expect("slots came back");
    finished.await.unwrap();
}

#[test]
fn a_dispatcher_on_the_embassy_executor_runs_retries_times_out_and_cancels() {
    run_on_embassy(|spawner, done| spawner.spawn(dispatcher_scenario(spawner, done).unwrap()));
}
