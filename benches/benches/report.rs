//! The benchmark report: ours against what users would pick instead, measured in one run
//! with criterion, written to `docs/performance.md`.
//!
//! ```text
//! benches/run-quick.sh                      # quick mode (< 3 min), writes docs/performance.md
//! BENCH_MODE=full cargo bench -p orchestrator-benches --bench report
//! cargo bench -p orchestrator-benches --bench report -- fanout   # a filter: no report written
//! BENCH_MODE=profile-jobs <report binary>   # a fixed workload for valgrind (benches/callgrind.sh)
//! ```
//!
//! Every measured routine is an `iter_custom` that runs `iters` units of work inside one
//! `block_on` and returns the elapsed time, so the runtime's entry cost does not dominate.
//! The samples are also recorded in a [`Recorder`] to compute medians, quartiles and
//! ratios.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    unreachable_pub,
    missing_debug_implementations
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::hint::black_box;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use criterion::{BenchmarkGroup, Criterion, measurement::WallTime};
use futures::StreamExt;
use orchestrator_benches::{Machine, Recorder, Stats, Table, bytes, loadavg, num};
use orchestrator_std::smol::SmolRuntime;
use orchestrator_std::tokio::TokioRuntime;
use orchestrator_std::{
    Bus, Context, Dispatcher, DispatcherBuilder, Event, Executor, Job, JobBuilder, JobContext, JobError, JobResult,
    Orchestrator, RetryPolicy,
};
use tokio::sync::{Notify, oneshot};

// ---------------------------------------------------------------------------------------
// Counting allocator
// ---------------------------------------------------------------------------------------

thread_local! {
    /// Bytes allocated minus bytes freed by this thread. Const-initialised, no destructor:
    /// usable from inside the allocator.
    static NET: Cell<isize> = const { Cell::new(0) };
}

/// The system allocator, counting the bytes each thread allocates and frees (a plain
/// thread-local add, so the timing benches pay about a nanosecond per allocation, ours
/// and the peers' alike). Memory is measured on a current-thread runtime, where every
/// allocation and free of the measured work happens on the measuring thread.
struct Counting;

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
// `GlobalAlloc` contract is `System`'s; the counting touches only a const thread-local
// `Cell` (no allocation, no destructor, no re-entrancy).
#[allow(unsafe_code)] // the benches crate denies unsafe code; this is its only exception
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged (see the impl).
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let _ = NET.try_with(|n| n.set(n.get().wrapping_add(layout.size() as isize)));
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let _ = NET.try_with(|n| n.set(n.get().wrapping_sub(layout.size() as isize)));
        // SAFETY: forwarded unchanged (see the impl).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged (see the impl).
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            let _ = NET.try_with(|n| n.set(n.get().wrapping_add(layout.size() as isize)));
        }
        p
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged (see the impl).
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            let delta = new_size as isize - layout.size() as isize;
            let _ = NET.try_with(|n| n.set(n.get().wrapping_add(delta)));
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Net bytes allocated by this thread so far.
fn live() -> isize {
    NET.with(Cell::get)
}

// ---------------------------------------------------------------------------------------
// Modes
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Quick,
    Full,
}

impl Mode {
    fn criterion(self) -> Criterion {
        let c = Criterion::default().without_plots();
        let c = match self {
            Mode::Quick => {
                c.sample_size(20).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(2))
            }
            Mode::Full => {
                c.sample_size(30).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3))
            }
        };
        c.configure_from_args()
    }

    fn samples(self) -> usize {
        match self {
            Mode::Quick => 20,
            Mode::Full => 40,
        }
    }

    /// Jobs run before the first and the second memory reading of the growth test.
    fn growth(self) -> (u64, u64) {
        match self {
            Mode::Quick => (100_000, 1_000_000),
            Mode::Full => (1_000_000, 10_000_000),
        }
    }
}

static RECORDER: LazyLock<Recorder> = LazyLock::new(Recorder::new);

/// A measured routine: runs `iters` units of work, returns the time they took.
type Routine<'a> = Box<dyn FnMut(u64) -> Duration + 'a>;

/// Benchmarks a set of routines (ours and the peers') as one criterion benchmark `param`
/// of `group`. Every sample runs each routine for the same number of iterations, back to
/// back, in an order that rotates from sample to sample, and records each one's time
/// under `{group}/{name}/{param}`. Ratios are then taken sample by sample between
/// measurements made moments apart, so the load of a shared machine weighs on both sides
/// alike. (Criterion's own figures for the benchmark are for the whole set.)
fn bench_set(
    group: &mut BenchmarkGroup<'_, WallTime>,
    param: &str,
    units: u64,
    mut routines: Vec<(&str, Routine<'_>)>,
) {
    let g = group_name(group);
    let keys: Vec<String> = routines.iter().map(|(name, _)| format!("{g}/{name}/{param}")).collect();
    let mut turn = 0;
    group.bench_function(param, |b| {
        b.iter_custom(|iters| {
            let n = routines.len();
            let mut total = Duration::ZERO;
            for k in 0..n {
                let i = (turn + k) % n;
                let elapsed = (routines[i].1)(iters);
                RECORDER.record(&keys[i], (iters * units) as f64, elapsed);
                total += elapsed;
            }
            turn += 1;
            total
        });
    });
}

/// Criterion does not expose a group's name; we keep it in a thread-local while the group
/// runs.
fn group_name(_: &BenchmarkGroup<'_, WallTime>) -> String {
    GROUP.with(|g| g.borrow().clone())
}

thread_local! {
    static GROUP: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

fn group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    GROUP.with(|g| name.clone_into(&mut g.borrow_mut()));
    c.benchmark_group(name)
}

// ---------------------------------------------------------------------------------------
// Runtimes
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Flavor {
    TokioCurrent,
    TokioMulti,
    Smol,
}

impl Flavor {
    fn label(self) -> &'static str {
        match self {
            Flavor::TokioCurrent => "tokio-ct",
            Flavor::TokioMulti => "tokio-mt",
            Flavor::Smol => "smol",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Flavor::TokioCurrent => "tokio current-thread",
            Flavor::TokioMulti => "tokio multi-thread (2 workers)",
            Flavor::Smol => "smol (one `smol::Executor` run by `block_on`)",
        }
    }
}

/// A runtime: runs a future to completion (as a task, so it runs on the runtime's workers
/// on multi-thread), spawns detached tasks, builds dispatchers.
enum Rt {
    Tokio(tokio::runtime::Runtime),
    Smol(Arc<smol::Executor<'static>>),
}

#[derive(Clone)]
enum Spawner {
    Tokio(tokio::runtime::Handle),
    Smol(Arc<smol::Executor<'static>>),
}

impl Spawner {
    #[inline]
    fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        match self {
            Spawner::Tokio(h) => drop(h.spawn(task)),
            Spawner::Smol(ex) => ex.spawn(task).detach(),
        }
    }
}

impl Rt {
    fn new(flavor: Flavor) -> Self {
        match flavor {
            Flavor::TokioCurrent => {
                Rt::Tokio(tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime"))
            }
            Flavor::TokioMulti => Rt::Tokio(
                tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_time().build().expect("runtime"),
            ),
            Flavor::Smol => Rt::Smol(Arc::new(smol::Executor::new())),
        }
    }

    fn run<T: Send + 'static>(&self, f: impl Future<Output = T> + Send + 'static) -> T {
        match self {
            Rt::Tokio(rt) => rt.block_on(rt.spawn(f)).expect("bench task panicked"),
            Rt::Smol(ex) => smol::block_on(ex.run(f)),
        }
    }

    fn spawner(&self) -> Spawner {
        match self {
            Rt::Tokio(rt) => Spawner::Tokio(rt.handle().clone()),
            Rt::Smol(ex) => Spawner::Smol(ex.clone()),
        }
    }

    /// The adapter's ready-made builder (default runners: 1 on current-thread, else the
    /// workers / available parallelism).
    fn dispatcher_builder(&self) -> DispatcherBuilder {
        match self {
            Rt::Tokio(rt) => TokioRuntime::with_handle(rt.handle().clone()).dispatcher_builder(),
            Rt::Smol(ex) => SmolRuntime::with_executor(ex.clone()).dispatcher_builder(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// 1. Bus fan-out
// ---------------------------------------------------------------------------------------

/// Events per burst (the bus capacity is [`CAPACITY`], so a burst never lags).
const BURST: usize = 256;
const CAPACITY: usize = 1024;

/// Counts subscribers that have received a whole burst; wakes the publisher at the last.
struct Done {
    remaining: AtomicUsize,
    notify: Notify,
}

impl Done {
    fn new() -> Arc<Self> {
        Arc::new(Self { remaining: AtomicUsize::new(0), notify: Notify::new() })
    }

    /// Counts one event received by a subscriber; at the end of a burst, it arrives.
    #[inline]
    fn received(&self, count: &mut usize) {
        *count += 1;
        if *count == BURST {
            *count = 0;
            self.arrive();
        }
    }

    #[inline]
    fn arrive(&self) {
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.notify.notify_one();
        }
    }
}

/// The fan-out harness: `n` subscriber tasks, and a publisher task that emits bursts of
/// [`BURST`] events with `publish` and waits until every subscriber has received them.
/// The unit is one event delivered to one subscriber.
fn fanout_routine<P, M, F>(rt: &Rt, n: usize, publish: P, mut subscribe: M) -> impl FnMut(u64) -> Duration + '_
where
    P: Fn() + Send + Sync + Clone + 'static,
    M: FnMut(Arc<Done>) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    let done = Done::new();
    let spawner = rt.spawner();
    for _ in 0..n {
        spawner.spawn(subscribe(done.clone()));
    }
    move |iters| {
        let (done, publish) = (done.clone(), publish.clone());
        rt.run(async move {
            let start = Instant::now();
            for _ in 0..iters {
                done.remaining.store(n, Ordering::Release);
                for _ in 0..BURST {
                    publish();
                }
                done.notify.notified().await;
            }
            start.elapsed()
        })
    }
}

fn cap() -> NonZeroUsize {
    NonZeroUsize::new(CAPACITY).expect("non-zero")
}

fn the_event() -> Arc<Event> {
    Arc::new(Event::custom("tick", 0_u64))
}

fn fanout_ours(rt: &Rt, n: usize) -> impl FnMut(u64) -> Duration + '_ {
    let bus = Bus::with_capacity(cap()).expect("below the maximum");
    let event = the_event();
    let publisher = bus.clone();
    fanout_routine(
        rt,
        n,
        move || {
            let _ = publisher.emit_shared(event.clone());
        },
        move |done| {
            let mut sub = bus.subscribe().expect("open bus");
            async move {
                let mut count = 0;
                while let Some(item) = sub.next().await {
                    black_box(&item);
                    done.received(&mut count);
                }
            }
        },
    )
}

fn fanout_tokio(rt: &Rt, n: usize) -> impl FnMut(u64) -> Duration + '_ {
    let (tx, _) = tokio::sync::broadcast::channel::<Arc<Event>>(CAPACITY);
    let event = the_event();
    let publisher = tx.clone();
    fanout_routine(
        rt,
        n,
        move || {
            let _ = publisher.send(event.clone());
        },
        move |done| {
            let mut rx = tx.subscribe();
            async move {
                let mut count = 0;
                while let Ok(item) = rx.recv().await {
                    black_box(&item);
                    done.received(&mut count);
                }
            }
        },
    )
}

fn fanout_async_broadcast(rt: &Rt, n: usize) -> impl FnMut(u64) -> Duration + '_ {
    let (tx, rx) = async_broadcast::broadcast::<Arc<Event>>(CAPACITY);
    let event = the_event();
    let mut receivers = vec![rx];
    while receivers.len() < n {
        receivers.push(receivers[0].new_receiver());
    }
    fanout_routine(
        rt,
        n,
        move || {
            let _ = tx.try_broadcast(event.clone());
        },
        move |done| {
            let mut rx = receivers.pop().expect("n receivers");
            async move {
                let mut count = 0;
                while let Ok(item) = rx.recv().await {
                    black_box(&item);
                    done.received(&mut count);
                }
            }
        },
    )
}

type Callback = Box<dyn FnMut(&Arc<Event>) + Send>;

/// The floor: a `Vec` of synchronous callbacks, called in a loop (no runtime).
fn fanout_callbacks(n: usize) -> impl FnMut(u64) -> Duration {
    let mut callbacks: Vec<Callback> = (0..n)
        .map(|_| {
            let mut count = 0_u64;
            Box::new(move |e: &Arc<Event>| {
                black_box(e);
                count += 1;
                black_box(count);
            }) as Callback
        })
        .collect();
    let event = the_event();
    move |iters| {
        let start = Instant::now();
        for _ in 0..iters {
            for _ in 0..BURST {
                for cb in &mut callbacks {
                    cb(&event);
                }
            }
        }
        start.elapsed()
    }
}

const FANOUT_NS: [usize; 4] = [1, 4, 16, 64];

fn bench_fanout(c: &mut Criterion) {
    for (flavor, ns) in [(Flavor::TokioCurrent, &FANOUT_NS[..]), (Flavor::TokioMulti, &FANOUT_NS[3..])] {
        let mut g = group(c, &format!("fanout-{}", flavor.label()));
        for &n in ns {
            let (a, b, t) = (Rt::new(flavor), Rt::new(flavor), Rt::new(flavor));
            let mut set: Vec<(&str, Routine<'_>)> = vec![
                ("ours", Box::new(fanout_ours(&a, n))),
                ("async-broadcast", Box::new(fanout_async_broadcast(&b, n))),
                ("tokio-broadcast", Box::new(fanout_tokio(&t, n))),
            ];
            if flavor == Flavor::TokioCurrent {
                set.push(("callbacks", Box::new(fanout_callbacks(n))));
            }
            bench_set(&mut g, &n.to_string(), (BURST * n) as u64, set);
        }
        g.finish();
    }
}

// ---------------------------------------------------------------------------------------
// 2 and 3. Job round trip
// ---------------------------------------------------------------------------------------

/// The trivial job.
struct Work(u64);

impl Job for Work {
    type Output = u64;
}

struct Echo;

impl Executor<Work> for Echo {
    async fn process(&self, job: &Work, _: &JobContext) -> Result<u64, JobError> {
        Ok(work(job.0))
    }
}

/// The work of the trivial job, the same for ours and the peers.
#[inline]
fn work(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

/// Jobs dispatched before the batch is awaited (throughput).
const BATCH: usize = 1000;
const TIMEOUT: Duration = Duration::from_secs(10);

fn retry_policy() -> RetryPolicy {
    RetryPolicy::new().max_retries(3).base_delay(Duration::from_millis(10))
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Options {
    Plain,
    RetryTimeout,
}

fn dispatch(d: &Dispatcher, i: u64, options: Options) -> orchestrator_std::JobHandle<u64> {
    match options {
        Options::Plain => d.dispatch(Work(i)),
        Options::RetryTimeout => d.dispatch(JobBuilder::new(Work(i)).timeout(TIMEOUT).retry(retry_policy())),
    }
    .expect("dispatch")
}

fn expect_success(r: JobResult<u64>) -> u64 {
    match r {
        JobResult::Success(v) => v,
        other => panic!("job did not succeed: {other:?}"),
    }
}

/// Ours: `batch` jobs dispatched, then their handles awaited.
fn jobs_ours(rt: &Rt, batch: usize, options: Options) -> impl FnMut(u64) -> Duration + '_ {
    let d = rt.run({
        let b = rt.dispatcher_builder();
        async move {
            let d = b.build().expect("dispatcher");
            d.register(Echo);
            d
        }
    });
    move |iters| {
        let d = d.clone();
        rt.run(async move {
            let mut handles = Vec::with_capacity(batch);
            let start = Instant::now();
            for _ in 0..iters {
                for i in 0..batch {
                    handles.push(dispatch(&d, i as u64, options));
                }
                for h in handles.drain(..) {
                    black_box(expect_success(h.await));
                }
            }
            start.elapsed()
        })
    }
}

/// The peer: `spawn` + `tokio::sync::oneshot` (runtime-agnostic) per job.
fn jobs_spawn(rt: &Rt, batch: usize) -> impl FnMut(u64) -> Duration + '_ {
    let spawner = rt.spawner();
    move |iters| {
        let spawner = spawner.clone();
        rt.run(async move {
            let mut rxs = Vec::with_capacity(batch);
            let start = Instant::now();
            for _ in 0..iters {
                for i in 0..batch {
                    let (tx, rx) = oneshot::channel();
                    spawner.spawn(async move {
                        let _ = tx.send(work(i as u64));
                    });
                    rxs.push(rx);
                }
                for rx in rxs.drain(..) {
                    black_box(rx.await.expect("sent"));
                }
            }
            start.elapsed()
        })
    }
}

mod tower_peer {
    //! spawn + tower `ServiceBuilder` timeout + retry (+ a oneshot for the result).
    use std::future::Future;
    use std::pin::Pin;
    use std::time::Duration;

    use tower::{BoxError, Service, ServiceBuilder, ServiceExt};

    /// Up to 3 retries with exponential back-off from 10 ms, like `retry_policy()`.
    #[derive(Clone)]
    pub struct Backoff {
        attempt: u32,
    }

    impl<Req: Clone, Res, E> tower::retry::Policy<Req, Res, E> for Backoff {
        type Future = Pin<Box<tokio::time::Sleep>>;

        fn retry(&mut self, _: &mut Req, result: &mut Result<Res, E>) -> Option<Self::Future> {
            match result {
                Ok(_) => None,
                Err(_) if self.attempt < 3 => {
                    let delay = Duration::from_millis(10) * 2_u32.pow(self.attempt);
                    self.attempt += 1;
                    Some(Box::pin(tokio::time::sleep(delay)))
                }
                Err(_) => None,
            }
        }

        fn clone_request(&mut self, req: &Req) -> Option<Req> {
            Some(req.clone())
        }
    }

    pub fn service() -> impl Service<u64, Response = u64, Error = BoxError, Future: Send> + Clone + Send + 'static {
        ServiceBuilder::new()
            .timeout(super::TIMEOUT)
            .retry(Backoff { attempt: 0 })
            .service_fn(|x: u64| async move { Ok::<u64, BoxError>(super::work(x)) })
    }

    pub fn call(
        svc: &(impl Service<u64, Response = u64, Error = BoxError, Future: Send> + Clone + Send + 'static),
        x: u64,
    ) -> impl Future<Output = Result<u64, BoxError>> + Send + 'static {
        svc.clone().oneshot(x)
    }
}

fn jobs_tower(rt: &Rt, batch: usize) -> impl FnMut(u64) -> Duration + '_ {
    let spawner = rt.spawner();
    let svc = tower_peer::service();
    move |iters| {
        let (spawner, svc) = (spawner.clone(), svc.clone());
        rt.run(async move {
            let mut rxs = Vec::with_capacity(batch);
            let start = Instant::now();
            for _ in 0..iters {
                for i in 0..batch {
                    let (tx, rx) = oneshot::channel();
                    let call = tower_peer::call(&svc, i as u64);
                    spawner.spawn(async move {
                        let _ = tx.send(call.await);
                    });
                    rxs.push(rx);
                }
                for rx in rxs.drain(..) {
                    black_box(rx.await.expect("sent").expect("ok"));
                }
            }
            start.elapsed()
        })
    }
}

fn bench_jobs(c: &mut Criterion) {
    for flavor in [Flavor::TokioCurrent, Flavor::TokioMulti, Flavor::Smol] {
        let mut g = group(c, &format!("jobs-{}", flavor.label()));
        for (mode, batch) in [("throughput", BATCH), ("latency", 1)] {
            let rts = [Rt::new(flavor), Rt::new(flavor), Rt::new(flavor), Rt::new(flavor)];
            let mut set: Vec<(&str, Routine<'_>)> = vec![
                ("ours", Box::new(jobs_ours(&rts[0], batch, Options::Plain))),
                ("spawn-oneshot", Box::new(jobs_spawn(&rts[1], batch))),
                ("ours-retry-timeout", Box::new(jobs_ours(&rts[2], batch, Options::RetryTimeout))),
            ];
            if flavor != Flavor::Smol {
                set.push(("spawn-tower", Box::new(jobs_tower(&rts[3], batch))));
            }
            bench_set(&mut g, mode, batch as u64, set);
        }
        g.finish();
    }
}

// ---------------------------------------------------------------------------------------
// 4. Orchestrator round trip
// ---------------------------------------------------------------------------------------

/// Counts completed round trips: each command dispatches a `Work` job; its success
/// increments the state.
struct Counter;

impl Orchestrator for Counter {
    type State = u64;
    type Command = u64;

    fn handle(&mut self, n: u64, ctx: &mut Context<'_, Self>) {
        let _ = ctx.dispatch(Work(n));
    }

    fn on_active_success(&mut self, event: &Event, ctx: &mut Context<'_, Self>) {
        if event.data_as::<u64>().is_some() {
            ctx.update_state(|s| *s += 1);
        }
    }
}

/// `batch` commands sent, then wait until the state shows all of their results. With
/// `protected`, the host has its default loop protection (the causal depth limit); without,
/// none (`no_loop_protection()`): the difference is what loop protection costs.
fn orchestrator_routine(rt: &Rt, batch: u64, protected: bool) -> impl FnMut(u64) -> Duration + '_ {
    let handle = rt.run({
        let b = rt.dispatcher_builder();
        let spawner = match rt {
            Rt::Tokio(rt) => TokioRuntime::with_handle(rt.handle().clone()),
            Rt::Smol(_) => unreachable!("tokio only"),
        };
        async move {
            let d = b.build().expect("dispatcher");
            d.register(Echo);
            let builder = Counter.builder(0, &d);
            let builder = if protected { builder } else { builder.no_loop_protection() };
            builder.spawn(&spawner).expect("host")
        }
    });
    move |iters| {
        let handle = handle.clone();
        rt.run(async move {
            let mut states = handle.states();
            let mut seen = states.next().await.expect("state");
            let start = Instant::now();
            for _ in 0..iters {
                let target = seen + batch;
                for i in 0..batch {
                    handle.send(i).await.expect("host alive");
                }
                while seen < target {
                    seen = states.next().await.expect("state");
                }
            }
            start.elapsed()
        })
    }
}

fn bench_orchestrator(c: &mut Criterion) {
    let mut g = group(c, "orchestrator-tokio-ct");
    for (mode, batch) in [("throughput", BATCH as u64), ("latency", 1)] {
        let rt = Rt::new(Flavor::TokioCurrent);
        bench_set(
            &mut g,
            mode,
            batch,
            vec![
                ("ours", Box::new(orchestrator_routine(&rt, batch, true))),
                ("unprotected", Box::new(orchestrator_routine(&rt, batch, false))),
            ],
        );
    }
    g.finish();
}

// ---------------------------------------------------------------------------------------
// 6. Cancellation tokens
// ---------------------------------------------------------------------------------------

/// Live siblings beside the child token that is created and dropped.
const SIBLINGS: [usize; 3] = [10, 1_000, 100_000];
/// Jobs in flight at once, all children of one parent token.
const SHARED: [usize; 3] = [1_000, 4_000, 16_000];

/// Ours: a child token of a parent that has `n` other live children, created and dropped.
fn child_ours(n: usize) -> impl FnMut(u64) -> Duration {
    let parent = orchestrator_std::CancellationToken::new();
    let siblings: Vec<_> = (0..n).map(|_| parent.child_token()).collect();
    move |iters| {
        let start = Instant::now();
        for _ in 0..iters {
            drop(black_box(parent.child_token()));
        }
        let elapsed = start.elapsed();
        assert_eq!(parent.listener_count(), siblings.len());
        elapsed
    }
}

/// The peer: the same with `tokio_util::sync::CancellationToken`.
fn child_tokio_util(n: usize) -> impl FnMut(u64) -> Duration {
    let parent = tokio_util::sync::CancellationToken::new();
    let siblings: Vec<_> = (0..n).map(|_| parent.child_token()).collect();
    move |iters| {
        let start = Instant::now();
        for _ in 0..iters {
            drop(black_box(parent.child_token()));
        }
        let elapsed = start.elapsed();
        black_box(&siblings);
        elapsed
    }
}

/// Ours: `k` jobs dispatched with `JobBuilder::cancel_token` of one long-lived parent
/// (each gets a child of it), then their handles awaited.
fn shared_token_ours(rt: &Rt, k: usize) -> impl FnMut(u64) -> Duration + '_ {
    let d = rt.run({
        let b = rt.dispatcher_builder();
        async move {
            let d = b.build().expect("dispatcher");
            d.register(Echo);
            d
        }
    });
    let parent = orchestrator_std::CancellationToken::new();
    move |iters| {
        let (d, parent) = (d.clone(), parent.clone());
        rt.run(async move {
            let mut handles = Vec::with_capacity(k);
            let start = Instant::now();
            for _ in 0..iters {
                for i in 0..k {
                    let job = JobBuilder::new(Work(i as u64)).cancel_token(parent.clone());
                    handles.push(d.dispatch(job).expect("dispatch"));
                }
                for h in handles.drain(..) {
                    black_box(expect_success(h.await));
                }
            }
            let elapsed = start.elapsed();
            assert_eq!(parent.listener_count(), 0, "every job's child token is unlisted");
            elapsed
        })
    }
}

/// spawn + oneshot per job, each task holding a `tokio_util` child token of one parent
/// (checked before sending), so the peer pays for a cancellable job too.
fn shared_token_tokio_util(rt: &Rt, k: usize) -> impl FnMut(u64) -> Duration + '_ {
    let spawner = rt.spawner();
    let parent = tokio_util::sync::CancellationToken::new();
    move |iters| {
        let (spawner, parent) = (spawner.clone(), parent.clone());
        rt.run(async move {
            let mut rxs = Vec::with_capacity(k);
            let start = Instant::now();
            for _ in 0..iters {
                for i in 0..k {
                    let (tx, rx) = oneshot::channel();
                    let token = parent.child_token();
                    spawner.spawn(async move {
                        if !token.is_cancelled() {
                            let _ = tx.send(work(i as u64));
                        }
                    });
                    rxs.push(rx);
                }
                for rx in rxs.drain(..) {
                    black_box(rx.await.expect("sent"));
                }
            }
            start.elapsed()
        })
    }
}

fn bench_tokens(c: &mut Criterion) {
    let mut g = group(c, "tokens-child");
    for n in SIBLINGS {
        let set: Vec<(&str, Routine<'_>)> =
            vec![("ours", Box::new(child_ours(n))), ("tokio-util", Box::new(child_tokio_util(n)))];
        bench_set(&mut g, &n.to_string(), 1, set);
    }
    g.finish();
    let mut g = group(c, "tokens-shared-tokio-ct");
    for k in SHARED {
        let rts = [Rt::new(Flavor::TokioCurrent), Rt::new(Flavor::TokioCurrent), Rt::new(Flavor::TokioCurrent)];
        let set: Vec<(&str, Routine<'_>)> = vec![
            ("ours", Box::new(shared_token_ours(&rts[0], k))),
            ("spawn-oneshot", Box::new(jobs_spawn(&rts[1], k))),
            ("spawn-oneshot-tokio-util", Box::new(shared_token_tokio_util(&rts[2], k))),
        ];
        bench_set(&mut g, &k.to_string(), k as u64, set);
    }
    g.finish();
}

// ---------------------------------------------------------------------------------------
// 5. Memory
// ---------------------------------------------------------------------------------------

/// A job that never finishes by itself (it is cancelled at the end).
struct Park;

impl Job for Park {
    type Output = u64;
}

impl Executor<Park> for Park {
    async fn process(&self, _: &Park, _: &JobContext) -> Result<u64, JobError> {
        std::future::pending().await
    }
}

#[derive(Debug, Default)]
struct Memory {
    /// Bytes per in-flight job: ours (plain), ours (retry + timeout), spawn + oneshot.
    job_ours: f64,
    job_ours_rt: f64,
    job_spawn: f64,
    /// Bytes per idle subscriber: ours, tokio broadcast, async-broadcast.
    sub_ours: f64,
    sub_tokio: f64,
    sub_async_broadcast: f64,
    /// (jobs, live bytes) after the first and the second count of the growth test.
    growth: [(u64, isize); 2],
    /// Seconds the growth test took.
    growth_secs: f64,
}

const IN_FLIGHT: usize = 10_000;

/// The goal for the bytes of an idle subscriber: what the caller holds plus what the bus
/// allocated for it (a tokio broadcast receiver is 16 bytes, an async-broadcast one 24).
const IDLE_SUBSCRIBER_GOAL: f64 = 64.0;

/// Runs on a current-thread runtime on this thread, so the thread-local count sees every
/// allocation and free of the work.
fn measure_memory(mode: Mode) -> Memory {
    let mut m = Memory::default();
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
    rt.block_on(async {
        // In-flight jobs.
        for options in [Options::Plain, Options::RetryTimeout] {
            let d = TokioRuntime::new().dispatcher_builder().build().expect("dispatcher");
            d.register(Park);
            d.register(Echo);
            // Warm up lazily allocated structures (queue blocks, timer wheel levels).
            for i in 0..2 * IN_FLIGHT as u64 {
                let _ = dispatch(&d, i, options).await;
            }
            let mut handles = Vec::with_capacity(IN_FLIGHT);
            let before = live();
            for _ in 0..IN_FLIGHT {
                let h = match options {
                    Options::Plain => d.dispatch(Park),
                    Options::RetryTimeout => d.dispatch(JobBuilder::new(Park).timeout(TIMEOUT).retry(retry_policy())),
                };
                handles.push(h.expect("dispatch"));
            }
            while d.stats().running < IN_FLIGHT {
                tokio::task::yield_now().await;
            }
            let per_job = (live() - before) as f64 / IN_FLIGHT as f64
                + std::mem::size_of::<orchestrator_std::JobHandle<u64>>() as f64;
            match options {
                Options::Plain => m.job_ours = per_job,
                Options::RetryTimeout => m.job_ours_rt = per_job,
            }
            for h in handles.drain(..) {
                h.cancel();
                let _ = h.await;
            }
            d.shutdown();
        }
        {
            let mut rxs = Vec::with_capacity(IN_FLIGHT);
            let before = live();
            for _ in 0..IN_FLIGHT {
                let (tx, rx) = oneshot::channel::<u64>();
                tokio::spawn(async move {
                    std::future::pending::<()>().await;
                    let _ = tx.send(0);
                });
                rxs.push(rx);
            }
            tokio::task::yield_now().await; // the tasks have run until their pending point
            m.job_spawn =
                (live() - before) as f64 / IN_FLIGHT as f64 + std::mem::size_of::<oneshot::Receiver<u64>>() as f64;
        }

        // Idle subscribers.
        {
            let bus = Bus::with_capacity(cap()).expect("below the maximum");
            let mut subs = Vec::with_capacity(IN_FLIGHT);
            let before = live();
            for _ in 0..IN_FLIGHT {
                subs.push(bus.subscribe().expect("open"));
            }
            m.sub_ours = (live() - before) as f64 / IN_FLIGHT as f64
                + std::mem::size_of::<orchestrator_std::Subscription>() as f64;
        }
        {
            let (tx, _) = tokio::sync::broadcast::channel::<Arc<Event>>(CAPACITY);
            let mut subs = Vec::with_capacity(IN_FLIGHT);
            let before = live();
            for _ in 0..IN_FLIGHT {
                subs.push(tx.subscribe());
            }
            m.sub_tokio = (live() - before) as f64 / IN_FLIGHT as f64
                + std::mem::size_of::<tokio::sync::broadcast::Receiver<Arc<Event>>>() as f64;
        }
        {
            let (_tx, rx) = async_broadcast::broadcast::<Arc<Event>>(CAPACITY);
            let mut subs = Vec::with_capacity(IN_FLIGHT);
            let before = live();
            for _ in 0..IN_FLIGHT {
                subs.push(rx.new_receiver());
            }
            m.sub_async_broadcast = (live() - before) as f64 / IN_FLIGHT as f64
                + std::mem::size_of::<async_broadcast::Receiver<Arc<Event>>>() as f64;
        }

        // Growth: the same dispatcher, jobs in batches, live bytes after N1 and N2 jobs.
        let (n1, n2) = mode.growth();
        let d = TokioRuntime::new().dispatcher_builder().build().expect("dispatcher");
        d.register(Echo);
        let mut sub = d.bus().subscribe().expect("open"); // a listener, so events are built too
        let mut handles = Vec::with_capacity(BATCH);
        let mut done = 0_u64;
        let start = Instant::now();
        let base = live();
        for (slot, target) in [n1, n2].into_iter().enumerate() {
            while done < target {
                for i in 0..BATCH as u64 {
                    let options = if i % 2 == 0 { Options::Plain } else { Options::RetryTimeout };
                    handles.push(dispatch(&d, i, options));
                }
                for h in handles.drain(..) {
                    black_box(expect_success(h.await));
                }
                while let Ok(e) = sub.try_next() {
                    black_box(e);
                }
                done += BATCH as u64;
            }
            tokio::task::yield_now().await;
            m.growth[slot] = (done, live() - base);
        }
        m.growth_secs = start.elapsed().as_secs_f64();
        d.shutdown();
    });
    m
}

// ---------------------------------------------------------------------------------------
// Profiling workloads (deterministic, for valgrind --tool=callgrind)
// ---------------------------------------------------------------------------------------

fn profile(what: &str) {
    let rt = Rt::new(Flavor::TokioCurrent);
    let units = 200;
    match what {
        "jobs" => drop(jobs_ours(&rt, BATCH, Options::Plain)(units)),
        "jobs-latency" => drop(jobs_ours(&rt, 1, Options::Plain)(units * 1000)),
        "retry" => drop(jobs_ours(&rt, BATCH, Options::RetryTimeout)(units)),
        "spawn" => drop(jobs_spawn(&rt, BATCH)(units)),
        "tower" => drop(jobs_tower(&rt, BATCH)(units)),
        "fanout" => drop(fanout_ours(&rt, 16)(units * 5)),
        "fanout-async-broadcast" => drop(fanout_async_broadcast(&rt, 16)(units * 5)),
        "fanout-1" => drop(fanout_ours(&rt, 1)(units * 50)),
        "fanout-async-broadcast-1" => drop(fanout_async_broadcast(&rt, 1)(units * 50)),
        "orchestrator" => drop(orchestrator_routine(&rt, BATCH as u64, true)(units)),
        "orchestrator-unprotected" => drop(orchestrator_routine(&rt, BATCH as u64, false)(units)),
        "compare-jobs" => compare(&rt, Options::Plain),
        "compare-retry" => compare(&rt, Options::RetryTimeout),
        other => panic!("unknown profile workload {other}"),
    }
}

/// `BENCH_MODE=profile-compare-jobs` (or `-retry`): a quick look at one goal while working
/// on the hot path. 30 rounds of 20 batches of 1 000 jobs, ours and the peer back to back;
/// prints the medians (ns per job) and the median of the per-round ratios.
fn compare(rt: &Rt, options: Options) {
    let mut ours = jobs_ours(rt, BATCH, options);
    let mut peer: Routine<'_> = match options {
        Options::Plain => Box::new(jobs_spawn(rt, BATCH)),
        Options::RetryTimeout => Box::new(jobs_tower(rt, BATCH)),
    };
    let (mut a, mut b, mut r) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..30 {
        let per_job = |d: Duration| d.as_nanos() as f64 / (20 * BATCH) as f64;
        let (x, y) = if round % 2 == 0 {
            let x = per_job(ours(20));
            (x, per_job(peer(20)))
        } else {
            let y = per_job(peer(20));
            (per_job(ours(20)), y)
        };
        a.push(x);
        b.push(y);
        r.push(x / y);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!("ours {:.0} ns, peer {:.0} ns, ratio {:.2}", median(&mut a), median(&mut b), median(&mut r));
}

// ---------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------

struct Goal {
    what: String,
    ours: String,
    peer: String,
    /// The ratio ours / peer must be at most this.
    max_ratio: f64,
}

fn stats(id: &str, n: usize) -> Option<Stats> {
    RECORDER.take(id, n)
}

fn verdict(ok: bool) -> &'static str {
    if ok { "**met**" } else { "**missed**" }
}

/// The fan-out table of the report (rows not measured show "—"), also printed by a
/// filtered run (`-- fanout`), which writes no report. `None` when no row was measured.
fn fanout_table(n: usize) -> Option<String> {
    let mut measured = false;
    let mut t = Table::new(&[
        "runtime",
        "N",
        "ours",
        "async-broadcast",
        "tokio broadcast",
        "callbacks (floor)",
        "ours / async-broadcast",
        "ours / tokio broadcast",
    ]);
    for (flavor, ns) in [(Flavor::TokioCurrent, &FANOUT_NS[..]), (Flavor::TokioMulti, &FANOUT_NS[3..])] {
        for &nsubs in ns {
            let g = format!("fanout-{}", flavor.label());
            let o = stats(&format!("{g}/ours/{nsubs}"), n);
            let a = stats(&format!("{g}/async-broadcast/{nsubs}"), n);
            let tk = stats(&format!("{g}/tokio-broadcast/{nsubs}"), n);
            let cb = stats(&format!("{g}/callbacks/{nsubs}"), n);
            measured |= o.is_some();
            t.row(&[
                flavor.describe().into(),
                nsubs.to_string(),
                cell(&o),
                cell(&a),
                cell(&tk),
                cell(&cb),
                ratio_cell(&format!("{g}/ours/{nsubs}"), &format!("{g}/async-broadcast/{nsubs}"), n),
                ratio_cell(&format!("{g}/ours/{nsubs}"), &format!("{g}/tokio-broadcast/{nsubs}"), n),
            ]);
        }
    }
    measured.then(|| t.finish())
}

fn report(mode: Mode, machine: &Machine, mem: &Memory, elapsed: Duration) -> String {
    let n = mode.samples();
    let mut out = String::new();
    let push = |out: &mut String, s: &str| {
        out.push_str(s);
        out.push('\n');
    };
    push(&mut out, "# Performance");
    push(&mut out, "");
    push(
        &mut out,
        "Generated by `benches/run-quick.sh` (quick mode) or `BENCH_MODE=full benches/run-quick.sh` \
         (full mode); do not edit by hand. Ours and the peers are measured in the same samples: each \
         criterion sample runs every contender of a row back to back (in a rotating order), so a ratio is \
         computed sample by sample from measurements taken moments apart, and the load of this shared \
         machine weighs on both sides alike. A time cell is the median of the samples with the first and \
         third quartiles in brackets; a ratio cell is the median of the per-sample ratios ours / peer, with \
         their quartiles.",
    );
    push(&mut out, "");
    push(&mut out, "## Machine and run");
    push(&mut out, "");
    push(
        &mut out,
        &format!("* mode: **{mode:?}** ({n} criterion samples per row); run took {:.0} s", elapsed.as_secs_f64()),
    );
    push(&mut out, &format!("* `nproc`: {}; CPU: {}", machine.cpus, machine.cpu_model));
    push(&mut out, &format!("* {}; profile `bench` (release, debug = 1)", machine.rustc));
    push(&mut out, &format!("* load average at start: {}; at end: {}", machine.load_start, loadavg()));
    push(
        &mut out,
        "* the machine is shared with other builds: absolute times move by ±20 % and more between runs; \
         the ratios, taken within each sample, are much steadier. Instruction counts (below) do not move.",
    );
    push(&mut out, "");

    // Goals.
    let mut goals = Vec::new();
    for (nsubs, peer, max) in [(16, "async-broadcast", 0.65), (1, "async-broadcast", 0.8), (4, "async-broadcast", 0.8)]
    {
        goals.push(Goal {
            what: format!("fan-out, N = {nsubs}, tokio current-thread, vs {peer}"),
            ours: format!("fanout-tokio-ct/ours/{nsubs}"),
            peer: format!("fanout-tokio-ct/{peer}/{nsubs}"),
            max_ratio: max,
        });
    }
    goals.push(Goal {
        what: "fan-out, N = 64, tokio multi-thread, vs tokio broadcast".into(),
        ours: "fanout-tokio-mt/ours/64".into(),
        peer: "fanout-tokio-mt/tokio-broadcast/64".into(),
        max_ratio: 1.0,
    });
    goals.push(Goal {
        what: "job round trip (batches of 1 000), tokio current-thread, vs spawn + oneshot".into(),
        ours: "jobs-tokio-ct/ours/throughput".into(),
        peer: "jobs-tokio-ct/spawn-oneshot/throughput".into(),
        max_ratio: 0.6,
    });
    goals.push(Goal {
        what: "job round trip with retry + timeout (batches of 1 000), tokio current-thread, vs spawn + tower".into(),
        ours: "jobs-tokio-ct/ours-retry-timeout/throughput".into(),
        peer: "jobs-tokio-ct/spawn-tower/throughput".into(),
        max_ratio: 0.6,
    });

    goals.push(Goal {
        what: "create + drop a child token beside 100 000 live siblings, vs tokio-util".into(),
        ours: "tokens-child/ours/100000".into(),
        peer: "tokens-child/tokio-util/100000".into(),
        max_ratio: 1.5,
    });

    push(&mut out, "## Goals");
    push(&mut out, "");
    let mut t = Table::new(&["goal", "ours, ns", "peer, ns", "ratio (range)", "goal", "verdict"]);
    for g in &goals {
        match (stats(&g.ours, n), stats(&g.peer, n)) {
            (Some(o), Some(p)) => {
                let ratios = RECORDER.paired_ratio(&g.ours, &g.peer, n).expect("both measured");
                let (r, lo, hi) = (ratios.median(), ratios.p25(), ratios.p75());
                t.row(&[
                    g.what.clone(),
                    o.cell(),
                    p.cell(),
                    format!("{:.2} ({:.2}–{:.2})", r, lo, hi),
                    format!("≤ {:.2}", g.max_ratio),
                    verdict(r <= g.max_ratio).into(),
                ]);
            }
            _ => t.row(&[
                g.what.clone(),
                "not measured".into(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
            ]),
        }
    }
    // Linear in K: the per-job ratio to spawn + oneshot must not grow with K.
    let shared = |k: usize| {
        RECORDER
            .paired_ratio(
                &format!("tokens-shared-tokio-ct/ours/{k}"),
                &format!("tokens-shared-tokio-ct/spawn-oneshot/{k}"),
                n,
            )
            .map(|r| r.median())
    };
    if let (Some(small), Some(large)) = (shared(SHARED[0]), shared(SHARED[2])) {
        let growth = large / small;
        t.row(&[
            format!(
                "{} vs {} jobs sharing one parent token, tokio current-thread: (ours / spawn + oneshot) at the larger K \
                 over the same at the smaller",
                SHARED[2], SHARED[0]
            ),
            format!("{large:.2}×"),
            format!("{small:.2}×"),
            format!("{growth:.2}"),
            "≤ 1.50".into(),
            verdict(growth <= 1.5).into(),
        ]);
    }
    if let Some(o) = stats("orchestrator-tokio-ct/ours/throughput", n) {
        let per_sec = 1e9 / o.median();
        t.row(&[
            "orchestrator round trip (command → job → `on_active_success` → state), tokio current-thread".into(),
            o.cell(),
            "—".into(),
            format!("{:.2} M/s ({:.2}–{:.2})", per_sec / 1e6, 1e3 / o.p75(), 1e3 / o.p25()),
            "≥ 1 M/s".into(),
            verdict(per_sec >= 1e6).into(),
        ]);
    }
    let growth = mem.growth[1].1 - mem.growth[0].1;
    t.row(&[
        format!("memory after {} M jobs vs after {} M", mem.growth[1].0 as f64 / 1e6, mem.growth[0].0 as f64 / 1e6),
        bytes(mem.growth[1].1 as f64),
        bytes(mem.growth[0].1 as f64),
        format!("{} growth", bytes(growth as f64)),
        "no growth".into(),
        verdict(growth <= 4096).into(),
    ]);
    t.row(&[
        format!("memory per idle subscriber ({IN_FLIGHT} subscribed, never polled), vs tokio broadcast"),
        bytes(mem.sub_ours),
        bytes(mem.sub_tokio),
        format!("{:.2}", mem.sub_ours / mem.sub_tokio),
        format!("≤ {}", bytes(IDLE_SUBSCRIBER_GOAL)),
        verdict(mem.sub_ours <= IDLE_SUBSCRIBER_GOAL).into(),
    ]);
    out.push_str(&t.finish());
    push(&mut out, "");

    // Fan-out.
    push(&mut out, "## 1. Bus fan-out");
    push(&mut out, "");
    push(
        &mut out,
        &format!(
            "ns per event per subscriber. One publisher task emits bursts of {BURST} events (an `Arc<Event>` clone \
             each: `Bus::emit_shared`, `broadcast::Sender::send`, `async_broadcast::Sender::try_broadcast`) into a \
             channel of capacity {CAPACITY}, then waits until every subscriber task (awaiting the stream / `recv()`) \
             has received the burst. The floor is a `Vec` of boxed `FnMut(&Arc<Event>)` called in a loop."
        ),
    );
    push(&mut out, "");
    out.push_str(&fanout_table(n).unwrap_or_default());
    push(&mut out, "");

    // Jobs.
    push(&mut out, "## 2 and 3. Job round trip: dispatch → execute → typed result");
    push(&mut out, "");
    push(
        &mut out,
        &format!(
            "ns per job. The job's work is `x + 1`. *throughput*: {BATCH} jobs dispatched, then their handles \
             awaited in order; *latency*: one job dispatched and awaited at a time. Ours uses the adapter's \
             ready-made dispatcher (1 runner on current-thread, 2 on the 2-worker runtime and on smol). The peer \
             spawns a task per job that sends the result on a `tokio::sync::oneshot`. With retry + timeout: ours \
             `JobBuilder::timeout(10 s).retry(3 retries, 10 ms base)`; the peer spawns \
             `ServiceBuilder::new().timeout(10 s).retry(3 retries, 10 ms exponential back-off).service_fn(..)` \
             (`oneshot` call) and sends the result on a oneshot. tower's timeout needs tokio's timer, so there is \
             no tower row on smol."
        ),
    );
    push(&mut out, "");
    let mut t = Table::new(&[
        "runtime",
        "mode",
        "ours",
        "spawn + oneshot",
        "ours / spawn",
        "ours, retry + timeout",
        "spawn + tower retry + timeout",
        "ours / tower",
    ]);
    for flavor in [Flavor::TokioCurrent, Flavor::TokioMulti, Flavor::Smol] {
        for mode in ["throughput", "latency"] {
            let g = format!("jobs-{}", flavor.label());
            let o = stats(&format!("{g}/ours/{mode}"), n);
            let s = stats(&format!("{g}/spawn-oneshot/{mode}"), n);
            let ort = stats(&format!("{g}/ours-retry-timeout/{mode}"), n);
            let tw = stats(&format!("{g}/spawn-tower/{mode}"), n);
            t.row(&[
                flavor.describe().into(),
                mode.into(),
                cell(&o),
                cell(&s),
                ratio_cell(&format!("{g}/ours/{mode}"), &format!("{g}/spawn-oneshot/{mode}"), n),
                cell(&ort),
                cell(&tw),
                ratio_cell(&format!("{g}/ours-retry-timeout/{mode}"), &format!("{g}/spawn-tower/{mode}"), n),
            ]);
        }
    }
    out.push_str(&t.finish());
    push(&mut out, "");

    // Orchestrator.
    push(&mut out, "## 4. Orchestrator round trip");
    push(&mut out, "");
    push(
        &mut out,
        &format!(
            "A command sent through `OrchestratorHandle::send` → `Orchestrator::handle` dispatches a job → the \
             executor → the `Success` event on the bus → `on_active_success` updates the state → the new state \
             seen on `OrchestratorHandle::states()`. Host and dispatcher spawned on tokio current-thread by the \
             tokio adapter; one subscriber (the host) on the bus, so every job's events are built and delivered. \
             *throughput*: {BATCH} commands sent, then wait for the state that counts all {BATCH} results; \
             *latency*: one command, then wait for its state. The host has its default loop protection (the \
             causal depth limit; no rate-based breaker). *unprotected* is the same host with \
             `no_loop_protection()`, measured in the same samples: the ratio is what loop protection costs \
             per round trip (4 events: the job's Started and Success reach the host, each checked once)."
        ),
    );
    push(&mut out, "");
    let mut t = Table::new(&[
        "mode",
        "ns per round trip",
        "round trips per second",
        "unprotected: ns per round trip",
        "protected / unprotected",
    ]);
    for mode in ["throughput", "latency"] {
        let o = stats(&format!("orchestrator-tokio-ct/ours/{mode}"), n);
        let u = stats(&format!("orchestrator-tokio-ct/unprotected/{mode}"), n);
        t.row(&[
            mode.into(),
            cell(&o),
            o.as_ref().map_or_else(|| "not measured".into(), |o| format!("{:.2} M", 1e3 / o.median())),
            cell(&u),
            ratio_cell(
                &format!("orchestrator-tokio-ct/ours/{mode}"),
                &format!("orchestrator-tokio-ct/unprotected/{mode}"),
                n,
            ),
        ]);
    }
    out.push_str(&t.finish());
    push(&mut out, "");

    // Memory.
    push(&mut out, "## 5. Memory");
    push(&mut out, "");
    push(
        &mut out,
        &format!(
            "Counted by a global allocator in the bench binary (net bytes allocated by the measuring thread; \
             everything runs on a tokio current-thread runtime), plus the inline size of what the caller holds \
             (the handle, the receiver). {IN_FLIGHT} jobs in flight (an executor that never finishes, polled once \
             by the runner), {IN_FLIGHT} idle subscribers (subscribed, never polled): the \
             subscription's `size_of` plus what the channel allocated for it (ours: a waker slot each, in a \
             `Vec` whose spare capacity after doubling is counted too)."
        ),
    );
    push(&mut out, "");
    let mut t = Table::new(&["what", "ours", "peer", "ours / peer"]);
    t.row(&[
        "bytes per in-flight job (peer: spawn + oneshot)".into(),
        bytes(mem.job_ours),
        bytes(mem.job_spawn),
        format!("{:.2}", mem.job_ours / mem.job_spawn),
    ]);
    t.row(&[
        "bytes per in-flight job with retry + timeout (timer armed)".into(),
        bytes(mem.job_ours_rt),
        "—".into(),
        String::new(),
    ]);
    t.row(&[
        "bytes per idle subscriber (peer: tokio broadcast)".into(),
        bytes(mem.sub_ours),
        bytes(mem.sub_tokio),
        format!("{:.2}", mem.sub_ours / mem.sub_tokio),
    ]);
    t.row(&[
        "bytes per idle subscriber (peer: async-broadcast)".into(),
        bytes(mem.sub_ours),
        bytes(mem.sub_async_broadcast),
        format!("{:.2}", mem.sub_ours / mem.sub_async_broadcast),
    ]);
    out.push_str(&t.finish());
    push(&mut out, "");
    push(
        &mut out,
        &format!(
            "Growth: one dispatcher with one bus subscriber runs jobs in batches of {BATCH} (half plain, half with \
             retry + timeout) on tokio current-thread. Live bytes since the start of the test: {} after {} jobs, {} \
             after {} jobs ({:.1} s in all).",
            bytes(mem.growth[0].1 as f64),
            mem.growth[0].0,
            bytes(mem.growth[1].1 as f64),
            mem.growth[1].0,
            mem.growth_secs
        ),
    );
    push(&mut out, "");

    out.push_str(&tokens_section(n));
    out
}

/// Section 6 of the report, alone so a filtered run (`-- token`) can print it.
fn tokens_section(n: usize) -> String {
    let mut out = String::new();
    let push = |out: &mut String, s: &str| {
        out.push_str(s);
        out.push('\n');
    };
    push(&mut out, "## 6. Cancellation tokens");
    push(&mut out, "");
    push(
        &mut out,
        "*child*: ns to create a child token of a parent that has N other live children, and drop it (ours: \
         `CancellationToken::child_token`; the peer: `tokio_util::sync::CancellationToken::child_token`). \
         *shared*: ns per job for K jobs in flight that share one long-lived parent token, dispatched then \
         awaited, on tokio current-thread: ours `JobBuilder::cancel_token(parent.clone())` (each job gets a \
         child of the parent, unlisted when the job ends); the peers spawn a task per job that sends on a \
         `tokio::sync::oneshot`, without a token and with a `tokio-util` child token of one parent.",
    );
    push(&mut out, "");
    let mut t = Table::new(&["N live siblings", "ours", "tokio-util", "ours / tokio-util"]);
    for k in SIBLINGS {
        let (o, p) = (format!("tokens-child/ours/{k}"), format!("tokens-child/tokio-util/{k}"));
        t.row(&[k.to_string(), cell(&stats(&o, n)), cell(&stats(&p, n)), ratio_cell(&o, &p, n)]);
    }
    out.push_str(&t.finish());
    push(&mut out, "");
    let mut t = Table::new(&[
        "K jobs sharing a parent",
        "ours",
        "spawn + oneshot",
        "ours / spawn",
        "spawn + oneshot + tokio-util child",
        "ours / that",
    ]);
    for k in SHARED {
        let g = "tokens-shared-tokio-ct";
        let (o, s, u) =
            (format!("{g}/ours/{k}"), format!("{g}/spawn-oneshot/{k}"), format!("{g}/spawn-oneshot-tokio-util/{k}"));
        t.row(&[
            k.to_string(),
            cell(&stats(&o, n)),
            cell(&stats(&s, n)),
            ratio_cell(&o, &s, n),
            cell(&stats(&u, n)),
            ratio_cell(&o, &u, n),
        ]);
    }
    out.push_str(&t.finish());
    push(&mut out, "");
    let shared = |k: usize| {
        let g = "tokens-shared-tokio-ct";
        RECORDER.paired_ratio(&format!("{g}/ours/{k}"), &format!("{g}/spawn-oneshot/{k}"), n).map(|r| r.median())
    };
    if let (Some(small), Some(large)) = (shared(SHARED[0]), shared(SHARED[2])) {
        push(
            &mut out,
            &format!(
                "Linear in K: ours / spawn + oneshot is {large:.2} at K = {} and {small:.2} at K = {} (growth {:.2}).",
                SHARED[2],
                SHARED[0],
                large / small
            ),
        );
        push(&mut out, "");
    }
    out
}

fn cell(s: &Option<Stats>) -> String {
    s.as_ref().map_or_else(|| "—".into(), Stats::cell)
}

/// The median of the sample-by-sample ratios `ours / peer`, with their quartiles.
fn ratio_cell(ours: &str, peer: &str, n: usize) -> String {
    match RECORDER.paired_ratio(ours, peer, n) {
        Some(r) => format!("{} ({}–{})", num(r.median()), num(r.p25()), num(r.p75())),
        None => "—".into(),
    }
}

fn main() {
    let mode_var = std::env::var("BENCH_MODE").unwrap_or_else(|_| "quick".into());
    if let Some(what) = mode_var.strip_prefix("profile-") {
        profile(what);
        return;
    }
    if mode_var == "memory-full" {
        // Only the memory measurements of the full mode (1 M vs 10 M jobs), printed.
        let m = measure_memory(Mode::Full);
        println!("{m:#?}");
        return;
    }
    let mode = match mode_var.as_str() {
        "full" => Mode::Full,
        _ => Mode::Quick,
    };
    let start = Instant::now();
    let machine = Machine::detect();
    let mut c = mode.criterion();
    bench_fanout(&mut c);
    bench_jobs(&mut c);
    bench_orchestrator(&mut c);
    bench_tokens(&mut c);
    c.final_summary();
    // A filter on the command line (`-- fanout`) measures a subset: no report then.
    let filtered = std::env::args().skip(1).any(|a| !a.starts_with('-'));
    if filtered || std::env::var_os("BENCH_NO_REPORT").is_some() {
        let measured = |id: &str| RECORDER.raw(id, 1).is_some();
        if measured("tokens-child/ours/10") || measured("tokens-shared-tokio-ct/ours/1000") {
            println!("{}", tokens_section(mode.samples()));
        }
        if let Some(table) = fanout_table(mode.samples()) {
            eprintln!("\nfan-out, ns per event per subscriber (median, quartiles):\n{table}");
        }
        if measured("orchestrator-tokio-ct/ours/throughput") {
            for m in ["throughput", "latency"] {
                let (ours, bare) =
                    (format!("orchestrator-tokio-ct/ours/{m}"), format!("orchestrator-tokio-ct/unprotected/{m}"));
                let n = mode.samples();
                eprintln!(
                    "orchestrator round trip, {m}: protected {} ns, unprotected {} ns, protected / unprotected {}",
                    cell(&stats(&ours, n)),
                    cell(&stats(&bare, n)),
                    ratio_cell(&ours, &bare, n)
                );
            }
        }
        return;
    }
    eprintln!("measuring memory...");
    let mem = measure_memory(mode);
    let mut text = report(mode, &machine, &mem, start.elapsed());
    let notes = concat!(env!("CARGO_MANIFEST_DIR"), "/NOTES.md");
    if let Ok(extra) = std::fs::read_to_string(notes) {
        text.push_str(&extra);
    }
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/performance.md");
    std::fs::write(path, text).expect("write docs/performance.md");
    eprintln!("wrote docs/performance.md in {:.0} s", start.elapsed().as_secs_f64());
}
