//! The browser adapter in a real browser: `wasm-bindgen-test` runs these in headless
//! Chromium (`.ci/run`'s `browser` step; see docs/runtimes.md to run them locally).
//!
//! They run on the browser's real clock, which is the point: `performance.now()`,
//! `setTimeout` and `spawn_local` themselves are under test. Every wait is bounded by a
//! watchdog, and no assertion depends on the machine being fast.
#![cfg(all(feature = "browser", target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::time::Duration;

use futures::future::{Either, select};
use orchestrator_std::browser::{self, BrowserRuntime, ConsoleLogger};
use orchestrator_std::log::{Level, Logger};
use orchestrator_std::runtime::{Clock, Spawn, Timer};
use orchestrator_std::{EventTag, Executor, Job, JobBuilder, JobContext, JobError, JobResult, RetryPolicy};
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

/// Fails the test if `fut` has not finished after 20 s: a guard against hangs, not a
/// timing assertion.
async fn watchdog<F: Future>(fut: F) -> F::Output {
    match select(pin!(fut), BrowserRuntime::new().sleep(Duration::from_secs(20))).await {
        Either::Left((out, _)) => out,
        Either::Right(_) => panic!("the test hung"),
    }
}

#[wasm_bindgen_test]
async fn the_clock_is_monotonic_and_sleeps_never_end_early() {
    let runtime = BrowserRuntime::new();
    assert!(format!("{runtime:?}").contains("performance.now()"));
    let mut last = runtime.now();
    for _ in 0..1_000 {
        let now = runtime.now();
        assert!(now >= last);
        last = now;
    }
    for wait in [Duration::ZERO, Duration::from_micros(300), Duration::from_millis(7), Duration::from_millis(25)] {
        let before = runtime.now();
        watchdog(runtime.sleep(wait)).await;
        assert!(runtime.now() - before >= wait, "a sleep of {wait:?} ended early");
    }
    // Clones share the origin.
    let clone = runtime.clone();
    assert!(clone.now() >= runtime.now().saturating_sub(Duration::from_millis(1)));
}

#[wasm_bindgen_test]
async fn huge_sleeps_do_not_end_at_once_nor_panic() {
    let runtime = BrowserRuntime::new();
    // 30 days is past `setTimeout`'s 2^31 - 1 ms: passed through, it would fire at once.
    for huge in [Duration::from_secs(30 * 24 * 3600), Duration::from_secs(u64::MAX), Duration::MAX] {
        let short = runtime.sleep(Duration::from_millis(20));
        match select(runtime.sleep(huge), short).await {
            Either::Right(_) => {}
            Either::Left(_) => panic!("a sleep of {huge:?} ended before one of 20 ms"),
        }
    }
}

#[wasm_bindgen_test]
async fn spawn_runs_not_send_tasks_on_the_event_loop() {
    let runtime = BrowserRuntime::new();
    let ran = Rc::new(Cell::new(0));
    let (done, finished) = futures::channel::oneshot::channel();
    let task_ran = Rc::clone(&ran);
    runtime
        .spawn(Box::pin(async move {
            // A JS promise awaited while an `Rc` is held: not `Send`.
            let value = JsFuture::from(js_sys::Promise::resolve(&JsValue::from(41))).await.unwrap();
            task_ran.set(value.as_f64().unwrap() as i32 + 1);
            done.send(()).unwrap();
        }))
        .unwrap();
    assert_eq!(ran.get(), 0, "spawn_local runs the task later, not inside spawn");
    watchdog(finished).await.unwrap();
    assert_eq!(ran.get(), 42);
}

/// Counts steps in a shared `Rc<RefCell<..>>`, one step per `setTimeout`, awaiting a JS
/// promise on each: an executor that could not be `Send`.
struct Work {
    steps: u32,
    fail_first: bool,
}
impl Job for Work {
    type Output = u32;
}
struct Worker {
    timer: BrowserRuntime,
    log: Rc<RefCell<Vec<u32>>>,
}
impl Executor<Work> for Worker {
    async fn process(&self, job: &Work, ctx: &JobContext) -> Result<u32, JobError> {
        if job.fail_first && ctx.attempt() == 0 {
            return Err(JobError::msg("flaky"));
        }
        for step in 1..=job.steps {
            let log = Rc::clone(&self.log);
            self.timer.sleep(Duration::from_millis(2)).await;
            JsFuture::from(js_sys::Promise::resolve(&JsValue::NULL)).await.unwrap();
            log.borrow_mut().push(step);
            ctx.step(step, job.steps, None)?;
        }
        Ok(job.steps)
    }
}

#[wasm_bindgen_test]
async fn a_dispatcher_runs_retries_times_out_and_cancels() {
    let runtime = BrowserRuntime::new();
    let dispatcher = browser::dispatcher().unwrap();
    assert_eq!(dispatcher.stats().runners, 1);
    let log = Rc::new(RefCell::new(Vec::new()));
    dispatcher.register(Worker { timer: runtime.clone(), log: Rc::clone(&log) });
    let mut events = dispatcher.bus().subscribe().unwrap();

    // A retry after a real back-off, then success.
    let job = JobBuilder::new(Work { steps: 3, fail_first: true })
        .timeout(Duration::from_secs(10))
        .retry(RetryPolicy::new().with_max_retries(1).with_base_delay(Duration::from_millis(5)));
    let result = watchdog(dispatcher.dispatch(job).unwrap()).await;
    assert!(matches!(result, JobResult::Success(3)), "{result:?}");
    let mut tags = Vec::new();
    while let Ok(event) = events.try_next() {
        tags.push(event.tag());
    }
    use EventTag::*;
    assert_eq!(tags, [Started, Retrying, Progress, Progress, Progress, Success]);

    // A timeout on the browser's timer drops the work.
    log.borrow_mut().clear();
    let job = JobBuilder::new(Work { steps: 10_000, fail_first: false }).timeout(Duration::from_millis(30));
    let result = watchdog(dispatcher.dispatch(job).unwrap()).await;
    assert!(matches!(result, JobResult::TimedOut(after) if after == Duration::from_millis(30)), "{result:?}");
    let steps_at_timeout = log.borrow().len();
    watchdog(runtime.sleep(Duration::from_millis(30))).await;
    assert_eq!(log.borrow().len(), steps_at_timeout, "the timed-out work went on");

    // Cancelled while running: the work stops.
    log.borrow_mut().clear();
    let handle = dispatcher.dispatch(Work { steps: 10_000, fail_first: false }).unwrap();
    watchdog(async {
        while log.borrow().len() < 3 {
            runtime.sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    assert!(handle.cancel());
    let result = watchdog(handle).await;
    assert!(matches!(result, JobResult::Cancelled(_)), "{result:?}");
    let steps_at_cancel = log.borrow().len();
    watchdog(runtime.sleep(Duration::from_millis(30))).await;
    assert_eq!(log.borrow().len(), steps_at_cancel, "the cancelled work went on");
    assert!(steps_at_cancel < 10_000);

    dispatcher.shutdown();
}

/// Runs `body` with `console.warn` replaced by a recorder, and returns what was recorded.
async fn recording_console_warnings(body: impl Future<Output = ()>) -> Vec<String> {
    let run = |code: &str| js_sys::Function::new_no_args(code).call0(&JsValue::NULL).unwrap();
    run("globalThis.__warnings = []; globalThis.__warn = console.warn; \
         console.warn = (line) => globalThis.__warnings.push(String(line));");
    body.await;
    run("console.warn = globalThis.__warn;");
    let recorded = js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("__warnings")).unwrap();
    js_sys::Array::from(&recorded).iter().filter_map(|line| line.as_string()).collect()
}

#[wasm_bindgen_test]
async fn warnings_reach_the_console_by_default() {
    let logger = ConsoleLogger::default();
    assert!(logger.enabled(Level::Warning) && logger.enabled(Level::Error) && !logger.enabled(Level::Info));
    assert!(ConsoleLogger::new(Level::Debug).enabled(Level::Debug));

    // std's stderr goes nowhere in a browser: the dispatcher's default logger is the console.
    let warnings = recording_console_warnings(async {
        let dispatcher = browser::dispatcher().unwrap();
        assert!(!dispatcher.logger().enabled(Level::Info));
        dispatcher.register(Worker { timer: BrowserRuntime::new(), log: Rc::default() });
        let job = JobBuilder::new(Work { steps: 10_000, fail_first: false }).timeout(Duration::from_millis(10));
        let result = watchdog(dispatcher.dispatch(job).unwrap()).await;
        assert!(matches!(result, JobResult::TimedOut(_)), "{result:?}");
        dispatcher.shutdown();
    })
    .await;
    assert!(
        warnings.iter().any(|line| line.starts_with("[WARNING] job") && line.contains("(Work) timed out after 10ms")),
        "{warnings:?}"
    );
}
