//! The orchestrator layer: routing (original-behaviour.md §8.3 with our fixes), job
//! tracking, state watching, cancellation, the circuit breaker, panics, lag recovery,
//! shutdown. Everything runs on the virtual clock with the dispatcher's runner alongside.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs, missing_debug_implementations)]

mod common;

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;
use std::time::Duration;

use futures::future::{Either, join, join_all, select};
use futures::{FutureExt as _, StreamExt};
use orchestrator_core::EventTag::{self, *};
use orchestrator_core::runtime::{Clock, Timer, VirtualClock, run_virtual};
use orchestrator_core::{
    AsyncState, Bus, Context, DispatchError, Dispatcher, Event, EventKind, Executor, Host, Job, JobBuilder, JobContext,
    JobError, JobId, MaybeSend, Orchestrator, OrchestratorHandle, Payload, RetryPolicy, SendError,
};

// ---------------------------------------------------------------------------------------
// Jobs

/// A scripted job: sleeps `sleep` (virtual), then fails or returns 42. A `chatty` job's
/// first attempt reports progress, emits a cache hit and a custom event, then fails (so a
/// retry follows). `dropped` is set when the work is dropped before it finished.
#[derive(Clone, Default)]
struct Task {
    sleep: Duration,
    fail: bool,
    chatty: bool,
    dropped: Option<Arc<AtomicBool>>,
}
impl Job for Task {
    type Output = u32;
}

/// A second job type, to tell types apart.
#[derive(Clone)]
struct Other;
impl Job for Other {
    type Output = ();
}

/// Never registered.
struct Unregistered;
impl Job for Unregistered {
    type Output = ();
}

struct Guard(Option<Arc<AtomicBool>>, bool);
impl Drop for Guard {
    fn drop(&mut self) {
        if let (Some(flag), false) = (&self.0, self.1) {
            flag.store(true, Ordering::SeqCst);
        }
    }
}

struct TaskExec {
    timer: Arc<dyn Timer>,
}
impl Executor<Task> for TaskExec {
    async fn process(&self, job: &Task, ctx: &JobContext) -> Result<u32, JobError> {
        if job.chatty && ctx.attempt() == 0 {
            ctx.progress(0.5).unwrap();
            let hit = Event::new(ctx.id(), "Task", None, EventKind::CacheHit(Payload::new(7_u32)));
            ctx.bus().emit(hit).unwrap();
            ctx.emit("note", 1_u32).unwrap();
            return Err(JobError::msg("first attempt fails"));
        }
        let mut guard = Guard(job.dropped.clone(), false);
        if !job.sleep.is_zero() {
            self.timer.sleep(job.sleep).await;
        }
        guard.1 = true;
        if job.fail { Err(JobError::msg("boom")) } else { Ok(42) }
    }
}

struct OtherExec;
impl Executor<Other> for OtherExec {
    async fn process(&self, _: &Other, _: &JobContext) -> Result<(), JobError> {
        Ok(())
    }
}

/// A job that emits `0` custom events, then succeeds: it floods its orchestrator's route.
#[derive(Clone)]
struct Noisy(u32);
impl Job for Noisy {
    type Output = ();
}

struct NoisyExec;
impl Executor<Noisy> for NoisyExec {
    async fn process(&self, job: &Noisy, ctx: &JobContext) -> Result<(), JobError> {
        for i in 0..job.0 {
            ctx.emit("noise", i).unwrap();
        }
        Ok(())
    }
}

fn quick() -> Task {
    Task::default()
}

fn sleeping(secs: u64) -> Task {
    Task { sleep: Duration::from_secs(secs), ..Task::default() }
}

fn failing() -> Task {
    Task { fail: true, ..Task::default() }
}

// ---------------------------------------------------------------------------------------
// A recording orchestrator: its state is the list of hook calls; its commands are closures
// run inside the host with the context.

#[derive(Debug, Clone, Copy, PartialEq)]
struct Call {
    hook: &'static str,
    tag: EventTag,
    id: JobId,
    /// `ctx.is_job_running(id)` during the hook.
    running: bool,
    /// `ctx.job_progress(id)` during the hook.
    progress: Option<f64>,
}

#[cfg(not(any(target_family = "wasm", orchestrator_unsync)))]
type Cmd = Box<dyn FnOnce(&mut Recorder, &mut Context<'_, Recorder>) + Send>;
/// Where `MaybeSend` is empty, so are commands' bounds.
#[cfg(any(target_family = "wasm", orchestrator_unsync))]
type Cmd = Box<dyn FnOnce(&mut Recorder, &mut Context<'_, Recorder>)>;

#[derive(Default)]
struct Recorder {
    /// Panic (once) in this hook.
    panic_once_in: Option<&'static str>,
}

impl Recorder {
    fn record(&mut self, hook: &'static str, event: &Event, ctx: &mut Context<'_, Self>) {
        let id = event.id();
        let call = Call { hook, tag: event.tag(), id, running: ctx.is_job_running(id), progress: ctx.job_progress(id) };
        ctx.update_state(|calls| calls.push(call));
        if self.panic_once_in == Some(hook) {
            self.panic_once_in = None;
            panic!("test panic in {hook}");
        }
    }
}

impl Orchestrator for Recorder {
    type State = Vec<Call>;
    type Command = Cmd;

    fn handle(&mut self, command: Cmd, ctx: &mut Context<'_, Self>) {
        command(self, ctx);
    }
    fn on_active_success(&mut self, e: &Event, ctx: &mut Context<'_, Self>) {
        self.record("on_active_success", e, ctx);
    }
    fn on_active_failure(&mut self, e: &Event, ctx: &mut Context<'_, Self>) {
        self.record("on_active_failure", e, ctx);
    }
    fn on_active_cancelled(&mut self, e: &Event, ctx: &mut Context<'_, Self>) {
        self.record("on_active_cancelled", e, ctx);
    }
    fn on_active_timeout(&mut self, e: &Event, ctx: &mut Context<'_, Self>) {
        self.record("on_active_timeout", e, ctx);
    }
    fn on_progress(&mut self, e: &Event, ctx: &mut Context<'_, Self>) {
        self.record("on_progress", e, ctx);
    }
    fn on_job_started(&mut self, e: &Event, ctx: &mut Context<'_, Self>) {
        self.record("on_job_started", e, ctx);
    }
    fn on_job_retrying(&mut self, e: &Event, ctx: &mut Context<'_, Self>) {
        self.record("on_job_retrying", e, ctx);
    }
    fn on_active_event(&mut self, e: &Event, ctx: &mut Context<'_, Self>) {
        self.record("on_active_event", e, ctx);
    }
    fn on_passive_event(&mut self, e: &Event, ctx: &mut Context<'_, Self>) {
        self.record("on_passive_event", e, ctx);
    }
}

type Handle = OrchestratorHandle<Recorder>;

/// Runs `f` inside the host and returns its result.
async fn call<R: MaybeSend + 'static>(
    handle: &Handle,
    f: impl FnOnce(&mut Context<'_, Recorder>) -> R + MaybeSend + 'static,
) -> R {
    let (tx, rx) = futures::channel::oneshot::channel();
    let cmd: Cmd = Box::new(move |_, ctx| {
        let _ = tx.send(f(ctx));
    });
    handle.send(cmd).await.map_err(|_| "host closed").unwrap();
    rx.await.expect("the command was dropped")
}

/// Dispatches `job` from inside the orchestrator.
async fn dispatch<T: orchestrator_core::IntoJob + MaybeSend + 'static>(handle: &Handle, job: T) -> JobId {
    call(handle, move |ctx| ctx.dispatch(job)).await.unwrap()
}

/// Waits until the state satisfies `pred`.
async fn until(handle: &Handle, pred: impl Fn(&[Call]) -> bool) -> Vec<Call> {
    let mut states = handle.states();
    while let Some(calls) = states.next().await {
        if pred(&calls) {
            return calls;
        }
    }
    panic!("the host ended first");
}

/// Waits until a hook of `hook` was called for `id`.
async fn until_hook(handle: &Handle, hook: &'static str, id: JobId) -> Vec<Call> {
    until(handle, |calls| calls.iter().any(|c| c.hook == hook && c.id == id)).await
}

fn of(calls: &[Call], id: JobId) -> Vec<(&'static str, EventTag)> {
    calls.iter().filter(|c| c.id == id).map(|c| (c.hook, c.tag)).collect()
}

// ---------------------------------------------------------------------------------------
// The world: a virtual clock, a dispatcher on it, hosts and runner driven together.

struct World {
    clock: VirtualClock,
    dispatcher: Dispatcher,
}

impl World {
    fn new() -> Self {
        Self::with_bus(Bus::new())
    }

    fn with_bus(bus: Bus) -> Self {
        let clock = VirtualClock::new();
        let dispatcher = Dispatcher::builder().timer(clock.clone()).bus(bus).build().unwrap();
        dispatcher.register(TaskExec { timer: Arc::new(clock.clone()) });
        dispatcher.register(OtherExec);
        dispatcher.register(NoisyExec);
        Self { clock, dispatcher }
    }

    fn recorder(&self) -> (Host<Recorder>, Handle) {
        Recorder::default().start(Vec::new(), &self.dispatcher).unwrap()
    }

    /// Runs `script` with `hosts` and the dispatcher's runner in the background, on virtual
    /// time. Panics if everything stalls.
    fn run<F: Future>(&self, hosts: Vec<Host<Recorder>>, script: F) -> F::Output {
        let background = join(join_all(hosts), self.dispatcher.runner());
        run_virtual(&self.clock, async move {
            match select(pin!(script), pin!(background)).await {
                Either::Left((out, _)) => out,
                Either::Right((_, script)) => script.await,
            }
        })
        .expect("the test stalled")
    }
}

// ---------------------------------------------------------------------------------------
// Routing

#[test]
fn own_job_events_go_to_the_active_hooks() {
    let w = World::new();
    let (host, h) = w.recorder();
    let calls = w.run(vec![host], async {
        let job = JobBuilder::new(Task { chatty: true, ..Task::default() })
            .placeholder(0)
            .retry(RetryPolicy::new().with_max_retries(1));
        let id = dispatch(&h, job).await;
        let calls =
            until(&h, |c| c.iter().any(|c| c.id == id && c.tag == Success && c.hook == "on_active_event")).await;
        (id, calls)
    });
    let (id, calls) = calls;
    assert_eq!(
        of(&calls, id),
        [
            ("on_job_started", Started),
            ("on_active_event", Placeholder),
            ("on_progress", Progress),
            ("on_active_event", CacheHit),
            ("on_active_event", Custom("note")),
            ("on_job_retrying", Retrying),
            ("on_active_success", Success),
            ("on_active_event", Success),
        ]
    );
    // Inside every hook, even the terminal ones, the job still counts as running.
    assert!(calls.iter().filter(|c| c.id == id).all(|c| c.running));
    // Progress was recorded before `on_progress` ran; it starts at 0.0.
    let progress: Vec<_> = calls.iter().filter(|c| c.id == id).map(|c| c.progress).collect();
    assert_eq!(progress[0], Some(0.0));
    assert_eq!(progress[2], Some(0.5));
    assert_eq!(h.stats().active_jobs, 0);
    assert_eq!(h.stats().passive_events, 0);
}

#[test]
fn foreign_jobs_and_custom_events_go_to_the_passive_hook_only() {
    let w = World::new();
    let (host, h) = w.recorder();
    let dispatcher = w.dispatcher.clone();
    let (id, custom_id, calls) = w.run(vec![host], async {
        // A job dispatched by someone else on the same bus.
        let job = JobBuilder::new(Task { chatty: true, ..Task::default() })
            .placeholder(0)
            .retry(RetryPolicy::new().with_max_retries(1));
        let handle = dispatcher.dispatch(job).unwrap();
        let id = handle.id();
        assert_eq!(handle.await.ok(), Some(42));
        // A custom event that belongs to no job.
        let custom = Event::custom("user_logged_out", ());
        let custom_id = custom.id();
        dispatcher.bus().emit(custom).unwrap();
        let calls = until_hook(&h, "on_passive_event", custom_id).await;
        // The recorder never saw the job's progress.
        assert_eq!(call(&h, move |ctx| ctx.job_progress(id)).await, None);
        (id, custom_id, calls)
    });
    assert_eq!(
        of(&calls, id),
        [
            ("on_passive_event", Placeholder),
            ("on_passive_event", CacheHit),
            ("on_passive_event", Custom("note")),
            ("on_passive_event", Success),
        ],
        "no Started / Progress / Retrying, nothing active"
    );
    assert_eq!(of(&calls, custom_id), [("on_passive_event", Custom("user_logged_out"))]);
    assert!(calls.iter().all(|c| !c.running && c.progress.is_none()));
    let stats = h.stats();
    assert_eq!((stats.active_events, stats.passive_events, stats.ignored_events), (0, 5, 3));
}

/// For each terminal kind: `is_job_type_running` is true while the job runs and inside
/// its hooks, and false right after; the kind reaches its own hook then `on_active_event`.
#[test]
fn each_terminal_kind_reaches_its_hook_and_ends_tracking() {
    type Start = fn(&mut Context<'_, Recorder>) -> JobId;
    let cases: [(&str, EventTag, Start); 4] = [
        ("on_active_success", Success, |ctx| ctx.dispatch(sleeping(1)).unwrap()),
        ("on_active_failure", Failure, |ctx| ctx.dispatch(Task { fail: true, ..sleeping(1) }).unwrap()),
        ("on_active_cancelled", Cancelled, |ctx| {
            let id = ctx.dispatch(sleeping(10)).unwrap();
            assert!(ctx.cancel_job(id));
            id
        }),
        ("on_active_timeout", TimedOut, |ctx| {
            ctx.dispatch(JobBuilder::new(sleeping(10)).timeout(Duration::from_secs(2))).unwrap()
        }),
    ];
    for (hook, tag, start) in cases {
        let w = World::new();
        let (host, h) = w.recorder();
        let calls = w.run(vec![host], async {
            let (id, running_at_dispatch) = call(&h, move |ctx| {
                let id = start(ctx);
                (id, (ctx.is_job_type_running::<Task>(), ctx.is_job_running(id), ctx.has_active_jobs()))
            })
            .await;
            assert_eq!(running_at_dispatch, (true, true, true), "{hook}");
            assert!(!call(&h, |ctx| ctx.is_job_type_running::<Other>()).await, "other types do not count");
            let calls = until_hook(&h, "on_active_event", id).await;
            let after = call(&h, move |ctx| {
                (ctx.is_job_type_running::<Task>(), ctx.is_job_running(id), ctx.has_active_jobs(), ctx.job_progress(id))
            })
            .await;
            assert_eq!(after, (false, false, false, None), "{hook}: tracking ended");
            calls.into_iter().filter(|c| c.id == id).collect::<Vec<_>>()
        });
        let ends: Vec<_> = calls.iter().filter(|c| c.tag.is_terminal()).map(|c| (c.hook, c.tag, c.running)).collect();
        assert_eq!(ends, [(hook, tag, true), ("on_active_event", tag, true)]);
        assert_eq!(h.stats().active_jobs, 0);
    }
}

#[test]
fn cancel_job_drops_the_executor_future() {
    let w = World::new();
    let (host, h) = w.recorder();
    let dropped = Arc::new(AtomicBool::new(false));
    let job = Task { dropped: Some(dropped.clone()), ..sleeping(3600) };
    let (first, second, foreign, calls) = w.run(vec![host], async {
        let id = dispatch(&h, job).await;
        until_hook(&h, "on_job_started", id).await; // the executor is running
        let (first, second) = call(&h, move |ctx| (ctx.cancel_job(id), ctx.cancel_job(id))).await;
        let calls = until_hook(&h, "on_active_cancelled", id).await;
        let foreign = w.dispatcher.dispatch(sleeping(1)).unwrap().id();
        let foreign = call(&h, move |ctx| ctx.cancel_job(foreign)).await;
        (first, second, foreign, of(&calls, id))
    });
    assert!(dropped.load(Ordering::SeqCst), "the running future was dropped");
    assert_eq!(w.clock.now(), Duration::ZERO, "no time passed: the job did not run to its end");
    assert!(first, "the first cancel cancels");
    assert!(!second, "the second one has nothing to do");
    assert!(!foreign, "a foreign job cannot be cancelled through the orchestrator");
    assert_eq!(
        calls,
        [("on_job_started", Started), ("on_active_cancelled", Cancelled), ("on_active_event", Cancelled)]
    );
}

#[test]
fn progress_is_kept_for_own_jobs_only() {
    let w = World::new();
    let (host, h) = w.recorder();
    let dispatcher = w.dispatcher.clone();
    w.run(vec![host], async {
        // Tracked from its dispatch, at 0 (read in the same input, before the job reports).
        let job = JobBuilder::new(Task { chatty: true, ..sleeping(5) }).retry(RetryPolicy::new());
        let (own, progress) = call(&h, move |ctx| {
            let id = ctx.dispatch(job).unwrap();
            (id, ctx.job_progress(id))
        })
        .await;
        assert_eq!(progress, Some(0.0));
        let foreign =
            dispatcher.dispatch(JobBuilder::new(Task { chatty: true, ..sleeping(5) }).retry(RetryPolicy::new()));
        let foreign = foreign.unwrap().id();
        until_hook(&h, "on_job_retrying", own).await;
        assert_eq!(call(&h, move |ctx| (ctx.job_progress(own), ctx.job_progress(foreign))).await, (Some(0.5), None));
        until_hook(&h, "on_active_success", own).await;
        assert_eq!(call(&h, move |ctx| ctx.job_progress(own)).await, None);
    });
}

#[test]
fn a_failed_dispatch_tracks_nothing() {
    let w = World::new();
    let (host, h) = w.recorder();
    w.run(vec![host], async {
        let (result, active) = call(&h, |ctx| (ctx.dispatch(Unregistered), ctx.has_active_jobs())).await;
        assert_eq!(result, Err(DispatchError::NoExecutor { job_type: "Unregistered" }));
        assert!(!active);
    });
    assert_eq!(h.stats().active_jobs, 0);
}

// ---------------------------------------------------------------------------------------
// State, commands, round trip

/// The round trip: command → dispatch → executor → `on_active_success` → new state on
/// the handle.
#[test]
fn round_trip_from_command_to_state() {
    #[derive(Clone)]
    struct Double(u32);
    impl Job for Double {
        type Output = u32;
    }

    struct Doubler;
    impl Orchestrator for Doubler {
        type State = AsyncState<u32>;
        type Command = u32;
        fn handle(&mut self, n: u32, ctx: &mut Context<'_, Self>) {
            ctx.dispatch(Double(n)).unwrap();
            ctx.update_state(AsyncState::set_loading);
        }
        fn on_active_success(&mut self, event: &Event, ctx: &mut Context<'_, Self>) {
            let n = *event.data_as::<u32>().unwrap();
            ctx.update_state(|s| s.set_success(n));
        }
    }

    let clock = VirtualClock::new();
    let dispatcher = Dispatcher::builder().timer(clock.clone()).build().unwrap();
    dispatcher.register(orchestrator_core::executor_fn(|job: Double, _| async move { Ok::<_, JobError>(job.0 * 2) }));
    let (host, handle) = Doubler.start(AsyncState::new(), &dispatcher).unwrap();
    let runner = dispatcher.runner();
    let seen = run_virtual(&clock, async {
        let script = async {
            let mut states = handle.states();
            let mut seen = vec![states.next().await.unwrap()];
            for n in [1, 2, 3] {
                handle.send(n).await.unwrap();
                loop {
                    let s = states.next().await.unwrap();
                    seen.push(s.clone());
                    if s.data() == Some(&(n * 2)) && s.status().is_success() {
                        break;
                    }
                }
            }
            handle.shutdown();
            dispatcher.shutdown();
            seen
        };
        let ((), (), seen) = futures::join!(host, runner, script);
        seen
    })
    .unwrap();
    assert_eq!(seen.first(), Some(&AsyncState::new()));
    assert_eq!(seen.last(), Some(&AsyncState::success(6)));
    // Loading kept the previous data.
    assert!(seen.contains(&AsyncState::success(2).to_loading()));
    assert_eq!(handle.state(), AsyncState::success(6));
    let stats = handle.stats();
    assert_eq!((stats.commands, stats.active_events, stats.active_jobs), (3, 6, 0));
}

/// A burst of commands, each dispatching a job (two events each: Started and Success),
/// on a bus of 256 events (two per input of a host's turn): the host reads events faster
/// than it takes commands, so its subscription keeps up and nothing is lost to a lag or
/// recovered from handles. (Reading one event per command, it fell behind.)
#[test]
fn a_burst_of_commands_does_not_make_the_host_fall_behind_its_bus() {
    #[derive(Clone)]
    struct Tick;
    impl Job for Tick {
        type Output = ();
    }

    struct Counter;
    impl Orchestrator for Counter {
        type State = u32;
        type Command = ();
        fn handle(&mut self, (): (), ctx: &mut Context<'_, Self>) {
            ctx.dispatch(Tick).unwrap();
        }
        fn on_active_success(&mut self, _: &Event, ctx: &mut Context<'_, Self>) {
            ctx.update_state(|n| *n += 1);
        }
    }

    const BURST: u32 = 600;
    let clock = VirtualClock::new();
    let bus = Bus::with_capacity(std::num::NonZeroUsize::new(256).unwrap()).unwrap();
    let dispatcher = Dispatcher::builder().timer(clock.clone()).bus(bus).build().unwrap();
    dispatcher.register(orchestrator_core::executor_fn(|_: Tick, _| async { Ok::<_, JobError>(()) }));
    let (host, handle) = Counter.builder(0, &dispatcher).no_breaker().command_capacity(1024).build().unwrap();
    for _ in 0..BURST {
        handle.try_send(()).unwrap();
    }
    let runner = dispatcher.runner();
    run_virtual(&clock, async {
        let script = async {
            let mut states = handle.states();
            while states.next().await != Some(BURST) {}
            handle.shutdown();
            dispatcher.shutdown();
        };
        futures::join!(host, runner, script);
    })
    .unwrap();
    let stats = handle.stats();
    assert_eq!((stats.commands, stats.active_jobs), (u64::from(BURST), 0), "{stats:?}");
    assert_eq!((stats.lagged_events, stats.recovered_jobs), (0, 0), "{stats:?}");
}

#[test]
fn a_late_subscriber_gets_the_current_state_first_and_slow_ones_skip_to_the_latest() {
    struct Counter;
    impl Orchestrator for Counter {
        type State = u32;
        type Command = u32;
        fn handle(&mut self, n: u32, ctx: &mut Context<'_, Self>) {
            ctx.update_state(|s| *s += n);
        }
    }
    let dispatcher = Dispatcher::new();
    let (mut host, handle) = Counter.start(10, &dispatcher).unwrap();
    let mut early = handle.states();
    assert_eq!(handle.state(), 10);

    for n in 1..=5 {
        handle.try_send(n).unwrap();
    }
    let waker = futures::task::noop_waker();
    let mut cx = std::task::Context::from_waker(&waker);
    assert_eq!(Pin::new(&mut host).poll(&mut cx), Poll::Pending);
    assert_eq!(handle.state(), 25);
    assert_eq!(handle.stats().states_published, 5);

    // Created after every change: the current state comes first, then nothing new.
    let mut late = handle.states();
    assert_eq!(late.next().now_or_never(), Some(Some(25)));
    assert!(late.next().now_or_never().is_none(), "pending: nothing changed");
    // The early stream never polled: it skips 11, 13, 16, 20 and yields the latest.
    assert_eq!(early.next().now_or_never(), Some(Some(25)));

    handle.try_send(1).unwrap();
    handle.shutdown();
    assert_eq!(Pin::new(&mut host).poll(&mut cx), Poll::Ready(()));
    // Both end on the final state, then end.
    assert_eq!(futures::executor::block_on(late.collect::<Vec<_>>()), [26]);
    assert_eq!(futures::executor::block_on(early.collect::<Vec<_>>()), [26]);
    assert_eq!(futures::executor::block_on(handle.states().collect::<Vec<_>>()), [26]);
    assert!(handle.is_finished());
}

#[test]
fn every_watcher_is_woken_and_dropped_watchers_free_their_slot() {
    use std::sync::atomic::AtomicUsize;

    struct Count(AtomicUsize);
    impl futures::task::ArcWake for Count {
        fn wake_by_ref(arc_self: &Arc<Self>) {
            arc_self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    struct Set;
    impl Orchestrator for Set {
        type State = u32;
        type Command = u32;
        fn handle(&mut self, n: u32, ctx: &mut Context<'_, Self>) {
            ctx.set_state(n);
        }
    }

    let (mut host, handle) = Set.start(0, &Dispatcher::new()).unwrap();
    let count = Arc::new(Count(AtomicUsize::new(0)));
    let waker = futures::task::waker(count.clone());
    let mut cx = std::task::Context::from_waker(&waker);
    // 20 watchers (more than the wakers a publish collects inline), each waiting.
    let mut streams: Vec<_> = (0..20).map(|_| handle.states()).collect();
    for s in &mut streams {
        assert_eq!(s.poll_next_unpin(&mut cx), Poll::Ready(Some(0)));
        assert_eq!(s.poll_next_unpin(&mut cx), Poll::Pending);
        assert_eq!(s.poll_next_unpin(&mut cx), Poll::Pending, "polling again registers nothing new");
    }
    handle.try_send(1).unwrap();
    assert!(poll_once(&mut host).is_pending());
    assert_eq!(count.0.load(Ordering::SeqCst), 20, "each waiting watcher woken once");
    // Dropped watchers give their slot back; new ones reuse it and work the same.
    streams.truncate(5);
    streams.extend((0..15).map(|_| handle.states()));
    for s in &mut streams {
        assert_eq!(s.poll_next_unpin(&mut cx), Poll::Ready(Some(1)));
        assert_eq!(s.poll_next_unpin(&mut cx), Poll::Pending);
    }
    handle.shutdown();
    assert!(poll_once(&mut host).is_ready());
    assert_eq!(count.0.load(Ordering::SeqCst), 40, "closing wakes them all");
    for s in &mut streams {
        assert_eq!(s.poll_next_unpin(&mut cx), Poll::Ready(None));
        assert!(futures::stream::FusedStream::is_terminated(s));
    }
}

#[test]
fn commands_have_back_pressure() {
    struct Sink;
    impl Orchestrator for Sink {
        type State = Vec<u8>;
        type Command = u8;
        fn handle(&mut self, n: u8, ctx: &mut Context<'_, Self>) {
            ctx.update_state(|s| s.push(n));
        }
    }
    let dispatcher = Dispatcher::new();
    let (mut host, handle) = Sink.builder(Vec::new(), &dispatcher).command_capacity(2).build().unwrap();
    handle.try_send(1).unwrap();
    handle.try_send(2).unwrap();
    assert!(matches!(handle.try_send(3), Err(SendError::Full(3))));
    assert_eq!(handle.queued_commands(), 2);
    // `send` waits for room.
    let mut send = Box::pin(handle.send(3));
    assert!(send.as_mut().now_or_never().is_none());
    drop(send);

    let waker = futures::task::noop_waker();
    let mut cx = std::task::Context::from_waker(&waker);
    assert!(Pin::new(&mut host).poll(&mut cx).is_pending());
    assert_eq!(handle.state(), [1, 2]);
    assert_eq!(futures::executor::block_on(handle.send(3)), Ok(()));
    handle.shutdown();
    assert!(matches!(handle.try_send(4), Err(SendError::Closed(4))));
    assert!(Pin::new(&mut host).poll(&mut cx).is_ready());
    assert_eq!(handle.state(), [1, 2, 3], "queued commands are handled before the host ends");
    assert_eq!(futures::executor::block_on(handle.send(5)).map_err(SendError::into_inner), Err(5));
}

// ---------------------------------------------------------------------------------------
// Circuit breaker

/// With a rate limiter installed (it is opt-in): 51 own successes at t = 0: the 51st one's
/// hooks are suppressed, but its tracking ends; a Failure in the same second is
/// unaffected; after one second the window resets.
#[test]
fn breaker_suppresses_the_51st_event_of_a_kind_but_tracking_ends() {
    let w = World::new();
    let (host, h) = Recorder::default()
        .builder(Vec::new(), &w.dispatcher)
        .breaker(orchestrator_core::breaker::RateLimiter::new())
        .build()
        .unwrap();
    let clock = w.clock.clone();
    let (calls, after_burst, stats_burst) = w.run(vec![host], async {
        let ids = call(&h, |ctx| {
            let mut ids: Vec<JobId> = (0..51).map(|_| ctx.dispatch(quick()).unwrap()).collect();
            ids.push(ctx.dispatch(failing()).unwrap());
            ids
        })
        .await;
        let failure_id = ids[51];
        until_hook(&h, "on_active_failure", failure_id).await;
        let after_burst = call(&h, |ctx| (ctx.has_active_jobs(), ctx.is_job_type_running::<Task>())).await;
        assert_eq!(clock.now(), Duration::ZERO, "all inside one virtual second");
        let stats_burst = h.stats();

        // One second later the window has reset.
        clock.sleep(Duration::from_secs(1)).await;
        let late = dispatch(&h, quick()).await;
        let calls = until_hook(&h, "on_active_success", late).await;
        (calls, after_burst, stats_burst)
    });

    let count = |hook: &str, tag: EventTag| calls.iter().filter(|c| c.hook == hook && c.tag == tag).count();
    // Burst: 52 Started (2 suppressed), 51 Success (1 suppressed), 1 Failure; then 1 + 1.
    assert_eq!(count("on_job_started", Started), 50 + 1);
    assert_eq!(count("on_active_success", Success), 50 + 1);
    assert_eq!(count("on_active_event", Success), 50 + 1, "on_active_event is suppressed too");
    assert_eq!(count("on_active_failure", Failure), 1, "other kinds are unaffected");
    assert_eq!(after_burst, (false, false), "the suppressed success still ended its job's tracking");
    assert_eq!((stats_burst.breaker_suppressed, stats_burst.breaker_trips, stats_burst.active_jobs), (3, 2, 0));
    assert_eq!(h.stats().breaker_suppressed, 3, "nothing suppressed after the reset");
}

#[test]
fn passive_floods_do_not_count_against_own_events() {
    let w = World::new();
    let (host, h) = Recorder::default()
        .builder(Vec::new(), &w.dispatcher)
        .breaker(orchestrator_core::breaker::RateLimiter::new())
        .build()
        .unwrap();
    let bus = w.dispatcher.bus().clone();
    let calls = w.run(vec![host], async {
        for _ in 0..100 {
            bus.emit(Event::custom("noise", ())).unwrap();
        }
        let id = dispatch(&h, quick()).await;
        until_hook(&h, "on_active_success", id).await
    });
    assert_eq!(calls.iter().filter(|c| c.hook == "on_passive_event").count(), 50);
    assert_eq!(calls.iter().filter(|c| c.hook == "on_active_success").count(), 1);
    assert_eq!(h.stats().breaker_trips, 1);
}

// ---------------------------------------------------------------------------------------
// Panics

#[cfg(all(feature = "std", panic = "unwind"))]
#[test]
fn a_panicking_hook_does_not_stop_later_events() {
    let w = World::new();
    let (host, h) = Recorder { panic_once_in: Some("on_active_success") }.start(Vec::new(), &w.dispatcher).unwrap();
    let (first, second, calls) = w.run(vec![host], async {
        let first = dispatch(&h, quick()).await;
        until_hook(&h, "on_active_event", first).await;
        assert!(!call(&h, move |ctx| ctx.is_job_running(first)).await, "tracking ended despite the panic");
        // A panicking command handler does not stop the host either.
        let cmd: Cmd = Box::new(|_, _| panic!("test panic in a command"));
        h.send(cmd).await.unwrap();
        let second = dispatch(&h, quick()).await;
        let calls = until_hook(&h, "on_active_event", second).await;
        (first, second, calls)
    });
    assert_eq!(
        of(&calls, first),
        [("on_job_started", Started), ("on_active_success", Success), ("on_active_event", Success)],
        "the panicking hook ran (and recorded) once; on_active_event still ran"
    );
    assert_eq!(
        of(&calls, second),
        [("on_job_started", Started), ("on_active_success", Success), ("on_active_event", Success)]
    );
    let stats = h.stats();
    assert_eq!((stats.hook_panics, stats.active_jobs), (2, 0));
}

// ---------------------------------------------------------------------------------------
// Several orchestrators

#[test]
fn two_orchestrators_on_one_bus_see_each_other_only_as_passive() {
    let w = World::new();
    let (host_a, a) = w.recorder();
    let (host_b, b) = w.recorder();
    let (id_a, id_b, calls_a, calls_b) = w.run(vec![host_a, host_b], async {
        let id_a = dispatch(&a, quick()).await;
        let id_b = dispatch(&b, failing()).await;
        let seen = |own: JobId, other: JobId| {
            move |c: &[Call]| {
                c.iter().any(|c| c.hook == "on_active_event" && c.id == own)
                    && c.iter().any(|c| c.hook == "on_passive_event" && c.id == other)
            }
        };
        let calls_a = until(&a, seen(id_a, id_b)).await;
        let calls_b = until(&b, seen(id_b, id_a)).await;
        (id_a, id_b, calls_a, calls_b)
    });
    assert_eq!(
        of(&calls_a, id_a),
        [("on_job_started", Started), ("on_active_success", Success), ("on_active_event", Success)]
    );
    assert_eq!(of(&calls_a, id_b), [("on_passive_event", Failure)]);
    assert_eq!(
        of(&calls_b, id_b),
        [("on_job_started", Started), ("on_active_failure", Failure), ("on_active_event", Failure)]
    );
    assert_eq!(of(&calls_b, id_a), [("on_passive_event", Success)]);
}

#[test]
fn orchestrators_on_different_scoped_buses_never_see_each_other() {
    let w = World::new();
    let (bus_a, bus_b) = (Bus::new(), Bus::new());
    let (host_a, a) = Recorder::default().builder(Vec::new(), &w.dispatcher).bus(bus_a.clone()).build().unwrap();
    let (host_b, b) = Recorder::default().builder(Vec::new(), &w.dispatcher).bus(bus_b.clone()).build().unwrap();
    let (calls_a, calls_b, ids) = w.run(vec![host_a, host_b], async {
        let id_a = dispatch(&a, quick()).await;
        let id_b = dispatch(&b, quick()).await;
        bus_a.emit(Event::custom("only_a", ())).unwrap();
        bus_b.emit(Event::custom("only_b", ())).unwrap();
        until(&a, |c| c.iter().any(|c| c.tag == Custom("only_a"))).await;
        until(&b, |c| c.iter().any(|c| c.tag == Custom("only_b"))).await;
        until_hook(&a, "on_active_event", id_a).await;
        until_hook(&b, "on_active_event", id_b).await;
        (a.state(), b.state(), (id_a, id_b))
    });
    let (id_a, id_b) = ids;
    assert!(calls_a.iter().all(|c| c.id != id_b && c.tag != Custom("only_b")), "{calls_a:?}");
    assert!(calls_b.iter().all(|c| c.id != id_a && c.tag != Custom("only_a")), "{calls_b:?}");
    assert_eq!(of(&calls_a, id_a).last(), Some(&("on_active_event", Success)));
    assert_eq!(of(&calls_b, id_b).last(), Some(&("on_active_event", Success)));
    // Nothing reached the dispatcher's own bus either.
    assert_eq!(calls_a.iter().filter(|c| c.hook == "on_passive_event").count(), 1);
}

// ---------------------------------------------------------------------------------------
// End of a host

#[test]
fn shutdown_cancels_the_active_jobs() {
    let w = World::new();
    let (host, h) = w.recorder();
    let dropped = Arc::new(AtomicBool::new(false));
    let job = Task { dropped: Some(dropped.clone()), ..sleeping(3600) };
    let mut events = w.dispatcher.bus().subscribe().unwrap();
    w.run(vec![host], async {
        let id = dispatch(&h, job).await;
        until_hook(&h, "on_job_started", id).await;
        h.shutdown();
        // The stream ends once the host has ended.
        let last = h.states().collect::<Vec<_>>().await;
        assert_eq!(last.len(), 1);
        // Let the runner see the cancellation.
        common::yield_now().await;
        common::yield_now().await;
    });
    assert!(h.is_finished());
    assert!(dropped.load(Ordering::SeqCst), "the job's future was dropped");
    let cancelled = common::drain(&mut events).into_iter().find(|e| e.tag() == Cancelled).expect("a Cancelled event");
    assert!(matches!(cancelled.kind(), EventKind::Cancelled { reason: Some(r) } if &**r == "orchestrator shut down"));
    assert!(matches!(futures::executor::block_on(h.send(Box::new(|_, _| {}))), Err(SendError::Closed(_))));
}

#[test]
fn dropping_the_host_cancels_the_active_jobs() {
    let w = World::new();
    let (mut host, h) = w.recorder();
    let dropped = Arc::new(AtomicBool::new(false));
    let job = Task { dropped: Some(dropped.clone()), ..sleeping(3600) };
    let waker = futures::task::noop_waker();
    let mut cx = std::task::Context::from_waker(&waker);
    let cmd: Cmd = Box::new(move |_, ctx| {
        ctx.dispatch(job).unwrap();
    });
    h.try_send(cmd).unwrap();
    assert!(Pin::new(&mut host).poll(&mut cx).is_pending());
    let mut runner = Box::pin(w.dispatcher.runner());
    assert!(runner.as_mut().poll(&mut cx).is_pending()); // the job is running (asleep)
    assert_eq!(h.stats().active_jobs, 1);
    drop(host);
    assert!(h.is_finished());
    assert!(runner.as_mut().poll(&mut cx).is_pending()); // the runner sees the cancellation
    assert!(dropped.load(Ordering::SeqCst), "the job's future was dropped");
    assert_eq!(h.stats().active_jobs, 0);
}

#[test]
fn a_closed_bus_ends_the_host_and_refuses_new_ones() {
    let w = World::new();
    let (mut host, h) = w.recorder();
    let waker = futures::task::noop_waker();
    let mut cx = std::task::Context::from_waker(&waker);
    assert!(Pin::new(&mut host).poll(&mut cx).is_pending());
    w.dispatcher.bus().close();
    assert!(Pin::new(&mut host).poll(&mut cx).is_ready());
    assert!(h.is_closed() && h.is_finished());
    assert_eq!(w.recorder_err(), orchestrator_core::StartError::BusClosed);
}

impl World {
    fn recorder_err(&self) -> orchestrator_core::StartError {
        Recorder::default().start(Vec::new(), &self.dispatcher).map(|_| ()).unwrap_err()
    }
}

#[test]
fn context_shutdown_ends_the_host_after_the_current_input() {
    let w = World::new();
    let (host, h) = w.recorder();
    w.run(vec![host], async {
        let cmd: Cmd = Box::new(|_, ctx| ctx.shutdown());
        h.send(cmd).await.unwrap();
        assert_eq!(h.states().collect::<Vec<_>>().await, [Vec::new()]);
    });
    assert!(h.is_finished());
}

// ---------------------------------------------------------------------------------------
// Lag

/// Polls a future once with a no-op waker.
fn poll_once<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
    let waker = futures::task::noop_waker();
    Pin::new(f).poll(&mut std::task::Context::from_waker(&waker))
}

#[test]
fn a_terminal_event_lost_to_lag_is_rebuilt_from_the_job_handle() {
    let w = World::with_bus(Bus::with_capacity(std::num::NonZeroUsize::new(4).unwrap()).unwrap());
    let (mut host, h) = w.recorder();
    let mut runner = Box::pin(w.dispatcher.runner());
    let (tx, mut rx) = futures::channel::oneshot::channel();
    let cmd: Cmd = Box::new(move |_, ctx| {
        let _ = tx.send((ctx.dispatch(quick()).unwrap(), ctx.dispatch(Noisy(10)).unwrap()));
    });
    h.try_send(cmd).unwrap();
    assert!(poll_once(&mut host).is_pending());
    let (id, noisy) = rx.try_recv().unwrap().unwrap();

    // The first job runs to its end (Started, Success), then the second one's 12 events
    // overflow the host's route (capacity 4) before the host is polled again: the first
    // job's Started and Success are lost, with 8 more. (This orchestrator handles other
    // jobs' events, so its host reads the bus, where it finds its own jobs' events too.)
    assert!(poll_once(&mut runner).is_pending());
    assert!(poll_once(&mut host).is_pending());

    let calls = h.state();
    assert_eq!(of(&calls, id), [("on_active_success", Success), ("on_active_event", Success)]);
    let noise = ("on_active_event", EventTag::Custom("noise"));
    assert_eq!(of(&calls, noisy), [noise, noise, noise, ("on_active_success", Success), ("on_active_event", Success)]);
    let stats = h.stats();
    assert_eq!((stats.lagged_events, stats.recovered_jobs, stats.active_jobs, stats.lag_suspects), (10, 1, 0, 0));
}

#[test]
fn a_terminal_event_lost_to_foreign_events_is_rebuilt_from_the_job_handle() {
    let w = World::with_bus(Bus::with_capacity(std::num::NonZeroUsize::new(4).unwrap()).unwrap());
    let (mut host, h) = w.recorder();
    let mut runner = Box::pin(w.dispatcher.runner());
    let (tx, mut rx) = futures::channel::oneshot::channel();
    let cmd: Cmd = Box::new(move |_, ctx| {
        let _ = tx.send(ctx.dispatch(quick()).unwrap());
    });
    h.try_send(cmd).unwrap();
    assert!(poll_once(&mut host).is_pending());
    let id = rx.try_recv().unwrap().unwrap();

    // The job runs to its end (Started, Success), then 10 foreign events overflow the
    // host's subscription before the host is polled again: Started and Success are lost.
    // (This orchestrator handles other jobs' events, so its host reads the bus, where it
    // finds its own jobs' events too.)
    assert!(poll_once(&mut runner).is_pending());
    for _ in 0..10 {
        w.dispatcher.bus().emit(Event::custom("noise", ())).unwrap();
    }
    assert!(poll_once(&mut host).is_pending());

    let calls = h.state();
    assert_eq!(of(&calls, id), [("on_active_success", Success), ("on_active_event", Success)]);
    let stats = h.stats();
    assert_eq!((stats.lagged_events, stats.recovered_jobs, stats.active_jobs, stats.lag_suspects), (8, 1, 0, 0));
    assert_eq!(calls.iter().filter(|c| c.hook == "on_passive_event").count(), 4);
}

#[test]
fn a_terminal_event_that_survived_the_lag_is_routed_once() {
    let w = World::with_bus(Bus::with_capacity(std::num::NonZeroUsize::new(4).unwrap()).unwrap());
    let (mut host, h) = w.recorder();
    let mut runner = Box::pin(w.dispatcher.runner());
    let (tx, mut rx) = futures::channel::oneshot::channel();
    let cmd: Cmd = Box::new(move |_, ctx| {
        let _ = tx.send(ctx.dispatch(quick()).unwrap());
    });
    h.try_send(cmd).unwrap();
    assert!(poll_once(&mut host).is_pending());
    let id = rx.try_recv().unwrap().unwrap();

    // Noise first, then the job's events: the ring keeps the last 4 (noise ×2, Started,
    // Success).
    for _ in 0..10 {
        w.dispatcher.bus().emit(Event::custom("noise", ())).unwrap();
    }
    assert!(poll_once(&mut runner).is_pending());
    assert!(poll_once(&mut host).is_pending());

    let calls = h.state();
    assert_eq!(
        of(&calls, id),
        [("on_job_started", Started), ("on_active_success", Success), ("on_active_event", Success)]
    );
    let stats = h.stats();
    assert_eq!((stats.lagged_events, stats.recovered_jobs, stats.active_jobs, stats.lag_suspects), (8, 0, 0, 0));
}

/// A job still running when the host lags stays a lag suspect (per-job memory, shown in
/// the stats) until it ends; then nothing is left.
#[test]
fn a_job_running_through_a_lag_is_a_suspect_until_it_ends() {
    let w = World::with_bus(Bus::with_capacity(std::num::NonZeroUsize::new(4).unwrap()).unwrap());
    let (mut host, h) = w.recorder();
    let mut runner = Box::pin(w.dispatcher.runner());
    let (tx, mut rx) = futures::channel::oneshot::channel();
    let cmd: Cmd = Box::new(move |_, ctx| {
        let _ = tx.send(ctx.dispatch(sleeping(5)).unwrap());
        ctx.dispatch(Noisy(10)).unwrap();
    });
    h.try_send(cmd).unwrap();
    assert!(poll_once(&mut host).is_pending());
    let id = rx.try_recv().unwrap().unwrap();
    // The sleeping job's Started, then the noisy job's 12 events: 9 are lost.
    assert!(poll_once(&mut runner).is_pending());
    assert!(poll_once(&mut host).is_pending());
    let stats = h.stats();
    assert_eq!((stats.lagged_events, stats.active_jobs, stats.lag_suspects), (9, 1, 1));

    w.clock.advance(Duration::from_secs(5));
    assert!(poll_once(&mut runner).is_pending()); // Success
    assert!(poll_once(&mut host).is_pending());
    assert_eq!(of(&h.state(), id), [("on_active_success", Success), ("on_active_event", Success)]);
    let stats = h.stats();
    assert_eq!((stats.recovered_jobs, stats.active_jobs, stats.lag_suspects), (0, 0, 0));
}

// ---------------------------------------------------------------------------------------
// Spawning

#[test]
fn the_builder_spawns_the_host_with_a_spawner() {
    use orchestrator_core::runtime::{Spawn, SpawnError};
    use std::sync::Mutex;

    #[derive(Default, Clone)]
    struct Collect(Arc<Mutex<Vec<orchestrator_core::BoxFuture<'static, ()>>>>);
    impl Spawn for Collect {
        fn spawn(&self, task: orchestrator_core::BoxFuture<'static, ()>) -> Result<(), SpawnError> {
            self.0.lock().unwrap().push(task);
            Ok(())
        }
    }
    struct Refuse;
    impl Spawn for Refuse {
        fn spawn(&self, _: orchestrator_core::BoxFuture<'static, ()>) -> Result<(), SpawnError> {
            Err(SpawnError)
        }
    }

    let w = World::new();
    let spawner = Collect::default();
    let h = Recorder::default().builder(Vec::new(), &w.dispatcher).spawn(&spawner).unwrap();
    let mut task = spawner.0.lock().unwrap().pop().expect("the host was spawned");
    let (tx, mut rx) = futures::channel::oneshot::channel();
    let cmd: Cmd = Box::new(move |_, ctx| {
        let _ = tx.send(ctx.has_active_jobs());
    });
    h.try_send(cmd).unwrap();
    assert!(poll_once(&mut task).is_pending());
    assert_eq!(rx.try_recv().unwrap(), Some(false));

    let refused = Recorder::default().builder(Vec::new(), &w.dispatcher).spawn(&Refuse);
    assert_eq!(refused.map(|_| ()).unwrap_err(), orchestrator_core::StartError::Spawn(SpawnError));
}
