//! WASM: executors whose futures are `!Send` run through the local runner.
//!
//! On `wasm32` an executor typically awaits a JavaScript promise, whose future holds `Rc`s
//! and JS handles and is therefore not `Send`. The core must not hard-wire `Send`: its
//! bounds are `MaybeSend`/`MaybeSync`, which are empty on `target_family = "wasm"` (and with
//! `--cfg orchestrator_unsync`). These executors hold an `Rc` across an `.await`, so this
//! file would not compile if the core required `Send` there; it only builds where the bound
//! is lifted. CI runs it on `wasm32-wasip1` under Node.js's WASI (see `.ci/run`).

#![cfg(any(target_family = "wasm", orchestrator_unsync))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs, missing_debug_implementations)]

use core::cell::{Cell, RefCell};
use core::future::Future;
use core::pin::{Pin, pin};
use core::task::{Context, Poll, Waker};
use core::time::Duration;
use std::collections::VecDeque;
use std::rc::Rc;

use futures::future::{Either, select};
use orchestrator_core::EventTag::*;
use orchestrator_core::runtime::{Clock, Timer, VirtualClock, run_virtual};
use orchestrator_core::{
    Dispatcher, Event, Executor, Job, JobBuilder, JobContext, JobError, JobResult, RetryPolicy, Subscription,
};

/// A stand-in for a JavaScript promise: a single-threaded, `Rc`-shared slot that a "host"
/// (the test) resolves later. Like `wasm_bindgen_futures::JsFuture`, it is `!Send`.
#[derive(Clone, Default)]
struct Promise {
    inner: Rc<RefCell<PromiseState>>,
}

#[derive(Default)]
struct PromiseState {
    value: Option<u32>,
    waker: Option<Waker>,
}

impl Promise {
    fn resolve(&self, value: u32) {
        let waker = {
            let mut state = self.inner.borrow_mut();
            state.value = Some(value);
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl Future for Promise {
    type Output = u32;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u32> {
        let mut state = self.inner.borrow_mut();
        match state.value.take() {
            Some(value) => Poll::Ready(value),
            None => {
                state.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// The "JavaScript side": promises the executor created and the test resolves.
#[derive(Clone, Default)]
struct Host {
    pending: Rc<RefCell<VecDeque<Promise>>>,
    calls: Rc<Cell<u32>>,
}

impl Host {
    /// Starts a "fetch" and returns its promise.
    fn fetch(&self) -> Promise {
        self.calls.set(self.calls.get() + 1);
        let promise = Promise::default();
        self.pending.borrow_mut().push_back(promise.clone());
        promise
    }

    /// Resolves the oldest pending promise, if any.
    fn resolve_next(&self, value: u32) -> bool {
        let next = self.pending.borrow_mut().pop_front();
        next.map(|p| p.resolve(value)).is_some()
    }
}

struct Fetch(u32);
impl Job for Fetch {
    type Output = u32;
}

/// An executor that is itself `!Send` (it owns an `Rc`) and whose future holds an `Rc`
/// across every `.await`.
struct FetchExecutor {
    host: Host,
    clock: VirtualClock,
}

impl Executor<Fetch> for FetchExecutor {
    async fn process(&self, job: &Fetch, ctx: &JobContext) -> Result<u32, JobError> {
        let log: Rc<RefCell<Vec<&'static str>>> = Rc::new(RefCell::new(Vec::new()));
        log.borrow_mut().push("start");
        let _ = ctx.step(1, 2, Some("fetching"));
        let response = self.host.fetch().await; // `log` (an `Rc`) lives across this await
        log.borrow_mut().push("fetched");
        self.clock.sleep(Duration::from_millis(10)).await; // and across a timer await
        log.borrow_mut().push("decoded");
        if response == 0 {
            return Err(JobError::msg("empty response"));
        }
        assert_eq!(*log.borrow(), ["start", "fetched", "decoded"]);
        Ok(job.0 + response)
    }
}

fn tags(sub: &mut Subscription) -> Vec<orchestrator_core::EventTag> {
    let mut out = Vec::new();
    while let Ok(event) = sub.try_next() {
        out.push(Event::tag(&event));
    }
    out
}

/// Runs `fut` next to `dispatcher`'s local runner (no spawner: the WASM / embedded path)
/// on virtual time.
fn run<F: Future>(clock: &VirtualClock, dispatcher: &Dispatcher, fut: F) -> F::Output {
    let runner = dispatcher.runner();
    run_virtual(clock, async move {
        match select(pin!(fut), pin!(runner)).await {
            Either::Left((out, _)) => out,
            Either::Right(((), fut)) => fut.await,
        }
    })
    .expect("the test future stalled")
}

fn setup() -> (VirtualClock, Dispatcher, Host, Subscription) {
    let clock = VirtualClock::new();
    let dispatcher = Dispatcher::builder().timer(clock.clone()).build().unwrap();
    let host = Host::default();
    dispatcher.register(FetchExecutor { host: host.clone(), clock: clock.clone() });
    let events = dispatcher.bus().subscribe().unwrap();
    (clock, dispatcher, host, events)
}

/// Resolves the host's promises from inside the driven future (the way a JS event loop
/// would call back into WASM), each after a yield so the executor is parked first.
async fn answer(host: Host, clock: VirtualClock, values: &[u32]) {
    for &value in values {
        loop {
            if host.resolve_next(value) {
                break;
            }
            // Let the runner poll the job until it is waiting on its promise.
            clock.sleep(Duration::from_millis(1)).await;
        }
    }
}

#[test]
fn a_non_send_executor_runs_to_success_through_the_local_runner() {
    let (clock, dispatcher, host, mut events) = setup();
    let handle = dispatcher.dispatch(Fetch(40)).unwrap();

    let result = run(&clock, &dispatcher, async {
        let (result, ()) = futures::join!(handle, answer(host.clone(), clock.clone(), &[2]));
        result
    });

    assert_eq!(result.ok(), Some(42));
    assert_eq!(host.calls.get(), 1);
    assert_eq!(tags(&mut events), [Started, Progress, Success]);
    assert!(clock.now() >= Duration::from_millis(10), "the executor slept on the virtual clock");
}

#[test]
fn a_non_send_executor_is_retried_with_virtual_back_off() {
    let (clock, dispatcher, host, mut events) = setup();
    let job = JobBuilder::new(Fetch(1))
        .timeout(Duration::from_secs(60))
        .retry(RetryPolicy::new().with_max_retries(2).with_base_delay(Duration::from_secs(5)));
    let handle = dispatcher.dispatch(job).unwrap();

    let result = run(&clock, &dispatcher, async {
        let (result, ()) = futures::join!(handle, answer(host.clone(), clock.clone(), &[0, 0, 7]));
        result
    });

    assert_eq!(result.ok(), Some(8));
    assert_eq!(host.calls.get(), 3);
    assert_eq!(tags(&mut events), [Started, Progress, Retrying, Progress, Retrying, Progress, Success]);
    // Two back-offs (5 s, 10 s) passed on the virtual clock, instantly.
    assert!(clock.now() >= Duration::from_secs(15));
}

#[test]
fn a_non_send_executor_times_out_and_its_future_is_dropped() {
    let (clock, dispatcher, host, mut events) = setup();
    let job = JobBuilder::new(Fetch(1)).timeout(Duration::from_secs(3));
    let handle = dispatcher.dispatch(job).unwrap();

    // Nobody resolves the promise: the job must time out on virtual time.
    let result = run(&clock, &dispatcher, handle);

    assert!(matches!(result, JobResult::TimedOut(d) if d == Duration::from_secs(3)), "{result:?}");
    assert_eq!(tags(&mut events), [Started, Progress, TimedOut]);
    // The timed-out future was dropped: its clone of the promise is gone.
    let promise = host.pending.borrow_mut().pop_front().unwrap();
    assert_eq!(Rc::strong_count(&promise.inner), 1);
}

#[test]
fn many_non_send_jobs_share_one_runner() {
    let (clock, dispatcher, host, _events) = setup();
    let handles: Vec<_> = (0..20).map(|i| dispatcher.dispatch(Fetch(i)).unwrap()).collect();
    dispatcher.shutdown();

    let results = run(&clock, &dispatcher, async {
        let values: Vec<u32> = (0..20).map(|_| 100).collect();
        let (results, ()) =
            futures::join!(futures::future::join_all(handles), answer(host.clone(), clock.clone(), &values));
        results
    });

    let outputs: Vec<u32> = results.into_iter().map(|r| r.ok().unwrap()).collect();
    assert_eq!(outputs, (0..20).map(|i| i + 100).collect::<Vec<_>>());
    assert_eq!(dispatcher.stats().pending, 0);
}
