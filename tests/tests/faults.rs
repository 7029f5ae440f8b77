//! Fault injection: the bus closed while jobs run, an orchestrator host dropped mid-job,
//! an executor re-registered (and unregistered) while its jobs run, subscribers dropped
//! mid-stream, and (on the local runner's virtual clock) the clock jumped ten years or to
//! the end of time.
//!
//! The first four run on every runtime (`<fault>::<runtime>` test names); the clock jumps
//! on the local runner with its virtual clock. "Nothing leaked" is checked with counts
//! that must come back exactly: `Arc` strong counts held by every job and by the
//! orchestrator, payloads that count their own instances, dispatcher and orchestrator
//! stats, token listeners and pending virtual sleeps. Nothing here waits for a duration to
//! let things happen: latches, events and counters say when.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs, missing_debug_implementations)]

use std::num::NonZeroUsize;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::Duration;

use futures::FutureExt;
use futures::future::{Either, join_all, select};
use futures::{StreamExt, join};
use orchestrator_core::EventTag::{self, *};
use orchestrator_core::SHUTDOWN_REASON;
use orchestrator_core::breaker::RateLimiter;
use orchestrator_core::cache::InMemoryCache;
use orchestrator_core::runtime::Timer;
use orchestrator_core::test_kit::{Expect, TestHarness};
use orchestrator_core::{
    Bus, Context, DispatchError, Dispatcher, Event, Executor, Job, JobBuilder, JobContext, JobError, JobId, JobResult,
    Lagged, Orchestrator, OrchestratorHandle, Payload, ProgressError, Registration, RetryPolicy,
};
use orchestrator_tests::util::{Latch, Recorder, settle, tags_of};
use orchestrator_tests::{LocalVirtual, Runtime};

// ---------------------------------------------------------------------------------------
// A scripted job and its executor

/// Counts arrivals (first attempts started) and wakes whoever waits for a number of them.
#[derive(Debug, Default)]
struct Arrivals(std::sync::Mutex<(usize, Vec<(usize, Latch)>)>);

impl Arrivals {
    fn arrive(&self) {
        let ready: Vec<Latch> = {
            let mut state = self.0.lock().unwrap();
            state.0 += 1;
            let count = state.0;
            let (ready, waiting) = std::mem::take(&mut state.1).into_iter().partition(|(n, _)| *n <= count);
            state.1 = waiting;
            ready.into_iter().map(|(_, latch)| latch).collect()
        };
        ready.iter().for_each(Latch::open);
    }

    /// Waits until `n` arrivals in total.
    async fn wait_for(&self, n: usize) {
        let latch = {
            let mut state = self.0.lock().unwrap();
            if state.0 >= n {
                return;
            }
            let latch = Latch::new();
            state.1.push((n, latch.clone()));
            latch
        };
        latch.wait().await;
    }
}

/// What an attempt of [`Task`] does: waits for its gate (if any), never ends if
/// `forever`, reports progress if asked, then fails while `attempt < fail_first` or
/// returns its executor's tag.
#[derive(Clone, Debug, Default)]
struct Task {
    gate: Option<Latch>,
    forever: bool,
    progress: bool,
    fail_first: u32,
    /// Held by the job as long as it exists (an `Arc` census of live jobs), never read.
    #[allow(dead_code)]
    alive: Option<Arc<()>>,
}

impl Job for Task {
    type Output = u32;
}

#[derive(Debug, Default)]
struct Probe {
    calls: AtomicU32,
    dropped: AtomicU32,
    progress_closed: AtomicU32,
    arrivals: Arrivals,
}

struct DropGuard<'a>(&'a Probe, bool);

impl Drop for DropGuard<'_> {
    fn drop(&mut self) {
        if !self.1 {
            self.0.dropped.fetch_add(1, Ordering::SeqCst);
        }
    }
}

struct TaskExec {
    tag: u32,
    timer: Arc<dyn Timer>,
    probe: Arc<Probe>,
}

impl Executor<Task> for TaskExec {
    async fn process(&self, job: &Task, ctx: &JobContext) -> Result<u32, JobError> {
        self.probe.calls.fetch_add(1, Ordering::SeqCst);
        let mut guard = DropGuard(&self.probe, false);
        if ctx.attempt() == 0 {
            self.probe.arrivals.arrive();
        }
        if let Some(gate) = &job.gate {
            gate.wait().await;
        }
        if job.forever {
            self.timer.sleep(Duration::from_secs(3600)).await;
            std::future::pending::<()>().await;
        }
        if job.progress {
            match ctx.progress(0.5) {
                Ok(()) => {}
                Err(ProgressError::BusClosed) => {
                    self.probe.progress_closed.fetch_add(1, Ordering::SeqCst);
                }
                Err(e) => panic!("progress: {e}"),
            }
        }
        guard.1 = true;
        if ctx.attempt() < job.fail_first { Err(JobError::msg("scripted failure")) } else { Ok(self.tag) }
    }
}

fn register<R: Runtime>(rt: &R, dispatcher: &Dispatcher, tag: u32) -> Arc<Probe> {
    let probe = Arc::new(Probe::default());
    dispatcher.register(TaskExec { tag, timer: rt.timer(), probe: probe.clone() });
    probe
}

/// An orchestrator that dispatches the tasks it is sent and records their ids; it holds
/// `alive` (an `Arc` census of the orchestrator itself).
struct Holder {
    _alive: Arc<()>,
}

impl Orchestrator for Holder {
    type State = Vec<JobId>;
    type Command = orchestrator_core::JobBuilder<Task>;

    fn handle(&mut self, job: Self::Command, ctx: &mut Context<'_, Self>) {
        let id = ctx.dispatch(job).expect("Task is registered");
        ctx.update_state(|ids| ids.push(id));
    }
}

async fn wait_ids(handle: &OrchestratorHandle<Holder>, n: usize) -> Vec<JobId> {
    let mut states = handle.states();
    while let Some(ids) = states.next().await {
        if ids.len() >= n {
            return ids;
        }
    }
    panic!("the host ended before dispatching {n} jobs");
}

/// The terminal events among `tags`.
fn terminals(tags: &[EventTag]) -> usize {
    tags.iter().filter(|t| t.is_terminal()).count()
}

// ---------------------------------------------------------------------------------------
// 1. The bus is closed while jobs run and their handles are awaited

/// Five jobs run (gated, timing out, cancelled later, retrying with a back-off, reporting
/// progress) and an orchestrator's job too, with every handle already awaited, when the
/// bus is closed. The subscriptions end, the host ends and cancels its job; every handle
/// still resolves to its real result (progress on the closed bus is `BusClosed`, retries
/// go on without their events); a job dispatched afterwards is refused; nothing is left.
fn bus_closed_while_jobs_run<R: Runtime>(rt: &R) {
    let dispatcher = rt.dispatcher();
    let probe = register(rt, &dispatcher, 7);
    let alive = Arc::new(());
    let orchestrator_alive = Arc::new(());
    let (mut host, orch) = Holder { _alive: orchestrator_alive.clone() }.start(Vec::new(), &dispatcher).unwrap();
    let mut sub = dispatcher.bus().subscribe().unwrap();
    rt.run(async {
        let gate = Latch::new();
        let task = |t: Task| Task { alive: Some(alive.clone()), ..t };
        let gated = dispatcher.dispatch(task(Task { gate: Some(gate.clone()), ..Task::default() })).unwrap();
        let timing_out = dispatcher
            .dispatch(
                JobBuilder::new(task(Task { forever: true, ..Task::default() })).timeout(Duration::from_millis(20)),
            )
            .unwrap();
        let cancelled = dispatcher.dispatch(task(Task { forever: true, ..Task::default() })).unwrap();
        let retrying = dispatcher
            .dispatch(
                JobBuilder::new(task(Task { gate: Some(gate.clone()), fail_first: 2, ..Task::default() }))
                    .retry(RetryPolicy::new().with_max_retries(2).with_base_delay(Duration::from_millis(1))),
            )
            .unwrap();
        let progress =
            dispatcher.dispatch(task(Task { gate: Some(gate.clone()), progress: true, ..Task::default() })).unwrap();
        let cancel_token = cancelled.token();

        let awaited = join_all([gated, timing_out, cancelled, retrying, progress]);
        let fault = async {
            // The orchestrator's job: never ends by itself.
            orch.send(JobBuilder::new(task(Task { forever: true, ..Task::default() }))).await.unwrap();
            wait_ids(&orch, 1).await;
            // Everybody runs (the timing-out job may already be gone: it counts anyway).
            probe.arrivals.wait_for(6).await;
            assert!(dispatcher.bus().close());
            assert!(!dispatcher.bus().close(), "closed once");
            // The subscription ends after the events already sent to it.
            let mut seen = Vec::new();
            while let Some(item) = sub.next().await {
                seen.push(item.expect("no lag").tag());
            }
            assert!(seen.contains(&Started));
            assert!(dispatcher.bus().emit(Event::custom("late", ())).is_err());
            assert!(dispatcher.bus().subscribe().is_err());
            gate.open();
            assert!(cancel_token.cancel_with_reason("after the close"));
        };
        // The host ends by itself when its bus closes (cancelling its job).
        let (results, (), ()) = join!(awaited, fault, &mut host);
        assert!(host.is_finished() && orch.is_finished());
        assert_eq!(orch.stats().active_jobs, 0);
        assert!(orch.send(Task::default().into_configured()).await.unwrap_err().is_closed());

        let [gated, timing_out, cancelled, retrying, progress] = <[_; 5]>::try_from(results).unwrap();
        assert!(matches!(gated, JobResult::Success(7)), "{gated:?}");
        assert!(matches!(timing_out, JobResult::TimedOut(d) if d == Duration::from_millis(20)), "{timing_out:?}");
        assert!(matches!(&cancelled, JobResult::Cancelled(Some(r)) if &**r == "after the close"), "{cancelled:?}");
        assert!(matches!(retrying, JobResult::Success(7)), "{retrying:?}");
        assert!(matches!(progress, JobResult::Success(7)), "{progress:?}");
        assert_eq!(probe.progress_closed.load(Ordering::SeqCst), 1, "progress on a closed bus says so");

        // A job dispatched after the close is refused: nobody could see its events.
        let late = dispatcher.dispatch(task(Task::default())).map(|_| ());
        assert_eq!(late, Err(DispatchError::BusClosed));

        settle(rt, &dispatcher).await;
    });
    let stats = dispatcher.stats();
    assert_eq!((stats.pending, stats.queued, stats.running), (0, 0, 0), "{stats:?}");
    // Attempts: 5 + 2 retries + the orchestrator's job (the late job was refused); dropped
    // unfinished: the timed-out, the cancelled and the orchestrator's job.
    assert_eq!(probe.calls.load(Ordering::SeqCst), 8);
    assert_eq!(probe.dropped.load(Ordering::SeqCst), 3);
    assert_eq!(Arc::strong_count(&alive), 1, "every job was freed");
    drop(host);
    assert_eq!(Arc::strong_count(&orchestrator_alive), 1, "the orchestrator was freed with its host");
}

trait IntoConfigured: Job + Sized {
    fn into_configured(self) -> JobBuilder<Self> {
        JobBuilder::new(self)
    }
}
impl IntoConfigured for Task {}

// ---------------------------------------------------------------------------------------
// 2. An orchestrator host is dropped mid-job

/// An orchestrator runs four jobs (one with a timeout, one on a timer, one gated, one in
/// an hour-long retry back-off) and its host future is dropped. Every job ends exactly
/// once, `Cancelled` with [`SHUTDOWN_REASON`]; every attempt future is dropped; the
/// orchestrator and every job are freed; the handle reports the end; nothing is pending.
fn host_dropped_mid_job<R: Runtime>(rt: &R) {
    let dispatcher = rt.dispatcher();
    let probe = register(rt, &dispatcher, 1);
    let alive = Arc::new(());
    let orchestrator_alive = Arc::new(());
    let (host, orch) = Holder { _alive: orchestrator_alive.clone() }.start(Vec::new(), &dispatcher).unwrap();
    let mut rec = Recorder::new(dispatcher.bus());
    let mut watch = Recorder::new(dispatcher.bus());
    let mut host = Some(host);
    rt.run(async {
        let never = Latch::new();
        let task = |t: Task| Task { alive: Some(alive.clone()), ..t };
        let jobs = [
            JobBuilder::new(task(Task { forever: true, ..Task::default() })).timeout(Duration::from_secs(3600)),
            task(Task { forever: true, ..Task::default() }).into_configured(),
            task(Task { gate: Some(never.clone()), ..Task::default() }).into_configured(),
            JobBuilder::new(task(Task { fail_first: 10, ..Task::default() }))
                .retry(RetryPolicy::new().with_max_retries(10).with_base_delay(Duration::from_secs(3600))),
        ];
        let prepare = async {
            for job in jobs {
                orch.send(job).await.unwrap();
            }
            let ids = wait_ids(&orch, 4).await;
            probe.arrivals.wait_for(4).await;
            watch.wait_for(ids[3], Retrying).await;
            assert_eq!(orch.stats().active_jobs, 4);
            ids
        };
        let ids = match select(pin!(prepare), host.as_mut().unwrap()).await {
            Either::Left((ids, _)) => ids,
            Either::Right(((), _)) => panic!("the host ended by itself"),
        };
        drop(host.take());

        let events = rec.collect(rt, &dispatcher).await;
        for id in &ids {
            let tags = tags_of(&events, *id);
            assert_eq!(terminals(&tags), 1, "job {id}: {tags:?}");
            let last = events.iter().rev().find(|e| e.id() == *id).unwrap();
            assert!(
                matches!(last.kind(), orchestrator_core::EventKind::Cancelled { reason: Some(r) } if &**r == SHUTDOWN_REASON),
                "job {id} ended with {:?}",
                last.kind()
            );
        }
        assert!(orch.is_finished());
        assert_eq!(orch.stats().active_jobs, 0);
        assert!(orch.send(Task::default().into_configured()).await.unwrap_err().is_closed());
        // The state stream ends (after the final state).
        assert_eq!(orch.states().collect::<Vec<_>>().await.last().map(Vec::len), Some(4));
    });
    let stats = dispatcher.stats();
    assert_eq!((stats.pending, stats.queued, stats.running), (0, 0, 0), "{stats:?}");
    assert_eq!(probe.calls.load(Ordering::SeqCst), 4, "no retry after the cancellation");
    assert_eq!(probe.dropped.load(Ordering::SeqCst), 3, "the three running attempts were dropped");
    assert_eq!(Arc::strong_count(&alive), 1, "every job was freed");
    assert_eq!(Arc::strong_count(&orchestrator_alive), 1, "the orchestrator was freed");
}

// ---------------------------------------------------------------------------------------
// 3. An executor is re-registered (then unregistered) while its jobs run

/// Jobs running on executor A keep running on A when B replaces it; jobs dispatched
/// afterwards run on B, and finish while A's are still running; A is freed once its last
/// job ended. Unregistering B while one of its jobs runs lets that job finish and refuses
/// new ones.
fn executor_re_registered_while_its_jobs_run<R: Runtime>(rt: &R) {
    let dispatcher = rt.dispatcher();
    let probe_a = Arc::new(Probe::default());
    let exec_a = Arc::new(TaskExec { tag: 1, timer: rt.timer(), probe: probe_a.clone() });
    assert_eq!(dispatcher.register_shared::<Task, _>(exec_a.clone()), Registration::Added);
    rt.run(async {
        let gate_a = Latch::new();
        let on_a: Vec<_> = (0..8)
            .map(|_| dispatcher.dispatch(Task { gate: Some(gate_a.clone()), ..Task::default() }).unwrap())
            .collect();
        probe_a.arrivals.wait_for(8).await;
        assert!(Arc::strong_count(&exec_a) > 2, "A's running jobs hold it");

        let probe_b = Arc::new(Probe::default());
        let exec_b = Arc::new(TaskExec { tag: 2, timer: rt.timer(), probe: probe_b.clone() });
        assert_eq!(dispatcher.register_shared::<Task, _>(exec_b.clone()), Registration::Replaced);
        let on_b: Vec<_> = (0..8).map(|_| dispatcher.dispatch(Task::default()).unwrap()).collect();
        for handle in on_b {
            assert!(matches!(handle.await, JobResult::Success(2)), "new jobs run on the new executor");
        }
        assert!(on_a.iter().all(|h| !h.is_finished()), "A's jobs are still running");
        assert_eq!(probe_a.calls.load(Ordering::SeqCst), 8);
        gate_a.open();
        for handle in on_a {
            assert!(matches!(handle.await, JobResult::Success(1)), "running jobs finish on the old executor");
        }
        settle(rt, &dispatcher).await;
        assert_eq!(Arc::strong_count(&exec_a), 1, "the replaced executor is freed after its last job");

        // Unregistered while one of its jobs runs: that job finishes, new ones are refused.
        let gate_b = Latch::new();
        let running = dispatcher.dispatch(Task { gate: Some(gate_b.clone()), ..Task::default() }).unwrap();
        probe_b.arrivals.wait_for(9).await;
        assert!(dispatcher.unregister::<Task>());
        assert!(matches!(dispatcher.dispatch(Task::default()), Err(DispatchError::NoExecutor { .. })));
        gate_b.open();
        assert!(matches!(running.await, JobResult::Success(2)));
        settle(rt, &dispatcher).await;
        assert_eq!(Arc::strong_count(&exec_b), 1, "the unregistered executor is freed after its last job");
        assert_eq!(probe_b.calls.load(Ordering::SeqCst), 9);
    });
    let stats = dispatcher.stats();
    assert_eq!((stats.pending, stats.running, stats.finished), (0, 0, 17), "{stats:?}");
}

// ---------------------------------------------------------------------------------------
// 4. Subscribers are dropped mid-stream

/// A payload that counts its live instances.
struct Counted(Arc<AtomicUsize>);

impl Counted {
    fn new(live: &Arc<AtomicUsize>) -> Self {
        live.fetch_add(1, Ordering::SeqCst);
        Self(live.clone())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Subscribers dropped mid-stream (one that read part of the stream, one that never
/// read, one parked waiting with its waker registered) leave the others unaffected (every
/// event, in order, no lag) and release their claims on the ring: once the remaining
/// subscriber has read everything, no event payload is alive although the bus is.
/// Then the same with a publisher and three subscribers on their own threads, one of
/// them dropped after 1 000 events.
fn subscribers_dropped_mid_stream<R: Runtime>(rt: &R) {
    let live = Arc::new(AtomicUsize::new(0));
    let bus = Bus::with_capacity(NonZeroUsize::new(64).unwrap()).unwrap();
    rt.run(async {
        let mut keep = bus.subscribe().unwrap();
        let mut quitter = bus.subscribe().unwrap();
        let idle = bus.subscribe().unwrap();
        let mut parked = bus.subscribe().unwrap();
        // `parked` waits with its waker registered.
        let waker = futures::task::noop_waker();
        assert!(parked.poll_next_unpin(&mut std::task::Context::from_waker(&waker)).is_pending());
        for seq in 0..40_u32 {
            bus.emit(Event::custom("counted", (seq, Counted::new(&live)))).unwrap();
        }
        for seq in 0..10_u32 {
            let event = quitter.next().await.unwrap().unwrap();
            assert_eq!(event.data_as::<(u32, Counted)>().map(|d| d.0), Some(seq));
        }
        drop((quitter, idle, parked));
        assert_eq!(bus.subscriber_count(), 1);
        for seq in 0..40_u32 {
            let event = keep.next().await.unwrap().unwrap();
            assert_eq!(event.data_as::<(u32, Counted)>().map(|d| d.0), Some(seq));
        }
        assert_eq!(live.load(Ordering::SeqCst), 0, "the ring still holds payloads of dropped subscribers");

        // A new subscriber reuses the freed slot; more events flow, and are freed.
        let mut late = bus.subscribe().unwrap();
        for seq in 40..200_u32 {
            bus.emit(Event::custom("counted", (seq, Counted::new(&live)))).unwrap();
            for sub in [&mut keep, &mut late] {
                let event = sub.next().await.unwrap().unwrap();
                assert_eq!(event.data_as::<(u32, Counted)>().map(|d| d.0), Some(seq));
            }
        }
        assert_eq!(live.load(Ordering::SeqCst), 0);
    });
    drop(bus);

    // Threads: a publisher and three subscribers, one dropped after 1 000 events.
    const EVENTS: u32 = 10_000;
    let bus = Bus::with_capacity(NonZeroUsize::new(EVENTS as usize * 2).unwrap()).unwrap();
    let subs: Vec<_> = (0..3).map(|_| bus.subscribe().unwrap()).collect();
    let readers: Vec<_> = subs
        .into_iter()
        .enumerate()
        .map(|(i, mut sub)| {
            std::thread::spawn(move || {
                futures::executor::block_on(async move {
                    let limit = if i == 0 { 1_000 } else { EVENTS };
                    for seq in 0..limit {
                        match sub.next().await {
                            Some(Ok(event)) => assert_eq!(event.data_as::<(u32, Counted)>().map(|d| d.0), Some(seq)),
                            Some(Err(Lagged(n))) => panic!("subscriber {i} lagged by {n}"),
                            None => panic!("subscriber {i}: the bus closed at {seq}"),
                        }
                    }
                    limit
                })
            })
        })
        .collect();
    let publisher = {
        let (bus, live) = (bus.clone(), live.clone());
        std::thread::spawn(move || {
            for seq in 0..EVENTS {
                bus.emit(Event::custom("counted", (seq, Counted::new(&live)))).unwrap();
            }
        })
    };
    publisher.join().unwrap();
    let read: Vec<u32> = readers.into_iter().map(|r| r.join().unwrap()).collect();
    assert_eq!(read, [1_000, EVENTS, EVENTS]);
    assert_eq!(bus.subscriber_count(), 0);
    assert_eq!(live.load(Ordering::SeqCst), 0, "every payload was released with the bus still open");
    assert!(!bus.is_closed());
}

// ---------------------------------------------------------------------------------------
// The faults on every runtime

macro_rules! on_every_runtime {
    ($($fault:ident),* $(,)?) => {$(
        mod $fault {
            #[test]
            fn local_virtual() {
                super::$fault(&<orchestrator_tests::LocalVirtual as orchestrator_tests::Runtime>::new());
            }
            #[cfg(feature = "tokio")]
            #[test]
            fn tokio_current() {
                super::$fault(&<orchestrator_tests::TokioCurrentThread as orchestrator_tests::Runtime>::new());
            }
            #[cfg(feature = "tokio")]
            #[test]
            fn tokio_multi() {
                super::$fault(&<orchestrator_tests::TokioMultiThread as orchestrator_tests::Runtime>::new());
            }
            #[cfg(feature = "async-std")]
            #[test]
            fn async_std() {
                super::$fault(&<orchestrator_tests::AsyncStd as orchestrator_tests::Runtime>::new());
            }
            #[cfg(feature = "smol")]
            #[test]
            fn smol_executor() {
                super::$fault(&<orchestrator_tests::SmolExecutor as orchestrator_tests::Runtime>::new());
            }
        }
    )*};
}

on_every_runtime!(
    bus_closed_while_jobs_run,
    host_dropped_mid_job,
    executor_re_registered_while_its_jobs_run,
    subscribers_dropped_mid_stream,
);

// ---------------------------------------------------------------------------------------
// 5. The virtual clock jumps far ahead (local runner)

const YEAR: Duration = Duration::from_secs(365 * 86_400);
const TEN_YEARS: Duration = Duration::from_secs(10 * 365 * 86_400);

/// Registers the [`TaskExec`] on a harness's dispatcher, timed by its virtual clock.
fn probe_on(h: &TestHarness, tag: u32) -> Arc<Probe> {
    let probe = Arc::new(Probe::default());
    h.dispatcher().register(TaskExec { tag, timer: Arc::new(h.clock().clone()), probe: probe.clone() });
    probe
}

/// Jobs that never end, with timeouts from 1 ms to 9 years, are all running when the
/// clock jumps ten years: each times out exactly once, with its own timeout; a later
/// jump emits nothing; no sleep is left behind.
#[test]
fn clock_jump_fires_each_timeout_exactly_once() {
    let mut h = TestHarness::new();
    let probe = probe_on(&h, 0);
    let timeouts =
        [Duration::from_millis(1), Duration::from_secs(1), Duration::from_secs(3600), YEAR, 9 * YEAR, TEN_YEARS];
    let forever = |t| JobBuilder::new(Task { forever: true, ..Task::default() }).timeout(t);
    let handles: Vec<_> = timeouts.iter().map(|&t| h.dispatcher().dispatch(forever(t)).unwrap()).collect();
    h.run_until_idle().unwrap();
    assert_eq!(probe.calls.load(Ordering::SeqCst), 6, "every job is running before the jump");
    h.clock().advance(TEN_YEARS);
    h.run_until_idle().unwrap();
    for (handle, &t) in handles.into_iter().zip(&timeouts) {
        h.recorder().assert(Expect::sequence([Started, TimedOut]).of_job(handle.id()));
        assert!(matches!(handle.now_or_never(), Some(JobResult::TimedOut(d)) if d == t));
    }
    let seen = h.recorder().events().len();
    h.clock().advance(TEN_YEARS);
    h.run_until_idle().unwrap();
    assert_eq!(h.recorder().events().len(), seen, "a second jump fires nothing");
    assert_eq!(h.now(), 2 * TEN_YEARS);
    assert_eq!(probe.dropped.load(Ordering::SeqCst), timeouts.len() as u32);
    assert_eq!(h.clock().pending_sleeps(), 0);
}

/// A jump of ten years during an hour-long retry back-off ends that back-off once: one
/// more attempt, then the next back-off (two hours) as usual; no burst of "missed"
/// retries. Then 100 retries with exponential back-off capped at a year run to their end
/// without overflow (attempt numbers past 64 and 128 bits of shift included), and the
/// clock reads exactly the sum of the delays.
#[test]
fn clock_jump_during_back_off_and_retries_past_overflow() {
    let mut h = TestHarness::new().time_limit(Duration::MAX);
    let probe = probe_on(&h, 5);
    let hour = Duration::from_secs(3600);
    let policy = RetryPolicy::new().with_max_retries(3).with_base_delay(hour).with_max_delay(Duration::MAX);
    let handle = h.dispatcher().dispatch(JobBuilder::new(Task { fail_first: 3, ..Task::default() }).retry(policy));
    let handle = handle.unwrap();
    let id = handle.id();
    h.run_until_idle().unwrap();
    h.recorder().assert(Expect::sequence([Started, Retrying]).of_job(id));
    let t0 = h.now();
    h.clock().advance(TEN_YEARS);
    // Back-offs after the jump: 2 h, then 4 h; the job succeeds on its 4th attempt.
    assert!(matches!(h.block_on(handle).unwrap(), JobResult::Success(5)));
    assert_eq!(h.now(), t0 + TEN_YEARS + 2 * hour + 4 * hour);
    h.recorder().assert(Expect::sequence([Started, Retrying, Retrying, Retrying, Success]).of_job(id));
    assert_eq!(probe.calls.load(Ordering::SeqCst), 4);

    // 100 retries, exponential from 1 s, capped at one year.
    let policy = RetryPolicy::new().with_max_retries(100).with_base_delay(Duration::from_secs(1)).with_max_delay(YEAR);
    let start = h.now();
    let task = JobBuilder::new(Task { fail_first: 100, ..Task::default() }).retry(policy.clone());
    let handle = h.dispatcher().dispatch(task).unwrap();
    let id = handle.id();
    assert!(matches!(h.block_on(handle).unwrap(), JobResult::Success(5)));
    let expected: Duration = (0..100).map(|a| policy.delay(a)).sum();
    assert_eq!(h.now() - start, expected);
    let delays: Vec<Duration> = (h.recorder().events().iter())
        .filter(|e| e.id() == id)
        .filter_map(|e| match e.kind() {
            orchestrator_core::EventKind::Retrying(r) => Some(r.delay),
            _ => None,
        })
        .collect();
    assert_eq!(delays.len(), 100);
    assert!(delays.windows(2).all(|w| w[0] <= w[1]) && delays.iter().all(|d| *d <= YEAR));
    assert_eq!(delays[99], YEAR);
    assert_eq!(h.clock().pending_sleeps(), 0);
}

/// Near the end of time (`Duration::MAX` minus a day): a 1 h timeout still fires once,
/// a 1 min retry back-off still works, cache entries expire by their TTL (a TTL past the
/// end never expires, no overflow), the breaker's window resets. At `Duration::MAX`
/// itself (the clock saturates), sleeps armed before fire exactly once.
#[test]
fn clock_jump_to_the_end_of_time() {
    use orchestrator_core::breaker::{CircuitBreaker, Delivery};
    let mut h = TestHarness::new().time_limit(Duration::MAX);
    probe_on(&h, 3);
    let day = Duration::from_secs(86_400);
    let cache = InMemoryCache::with_capacity(h.clock().clone(), 16).unwrap();
    let mut breaker = RateLimiter::new().limit(1).window(Duration::from_secs(1));
    let custom = Event::custom("tick", ());
    h.clock().advance(Duration::MAX - day);
    let near_end = h.now();
    assert!(breaker.admit(&custom, Delivery::Passive, near_end));
    assert!(!breaker.admit(&custom, Delivery::Passive, near_end));

    let hour = Duration::from_secs(3600);
    let forever = |t| JobBuilder::new(Task { forever: true, ..Task::default() }).timeout(t);
    let timing_out = h.dispatcher().dispatch(forever(hour)).unwrap();
    let minute = Duration::from_secs(60);
    let policy = RetryPolicy::new().with_max_retries(2).with_base_delay(minute).with_max_delay(Duration::MAX);
    let retrying =
        h.dispatcher().dispatch(JobBuilder::new(Task { fail_first: 2, ..Task::default() }).retry(policy)).unwrap();
    cache.insert("one second", Payload::new(1_u8), Some(Duration::from_secs(1)));
    cache.insert("two days", Payload::new(2_u8), Some(2 * day));
    cache.insert("forever", Payload::new(3_u8), None);
    let ids = [timing_out.id(), retrying.id()];
    assert!(matches!(h.block_on(timing_out).unwrap(), JobResult::TimedOut(d) if d == hour));
    assert!(matches!(h.block_on(retrying).unwrap(), JobResult::Success(3)));
    h.recorder().assert(Expect::sequence([Started, TimedOut]).of_job(ids[0]));
    h.recorder().assert(Expect::sequence([Started, Retrying, Retrying, Success]).of_job(ids[1]));
    assert!(cache.get("one second").is_none(), "expired");
    assert!(cache.get("two days").is_some(), "a TTL past the end of time never expires");
    assert!(breaker.admit(&custom, Delivery::Passive, h.now()), "the window reset");

    // To the end of time itself: a timeout armed before fires exactly once.
    let last = h.dispatcher().dispatch(forever(Duration::from_secs(10))).unwrap();
    h.run_until_idle().unwrap();
    h.clock().advance(Duration::MAX);
    assert_eq!(h.now(), Duration::MAX);
    let id = last.id();
    assert!(matches!(h.block_on(last).unwrap(), JobResult::TimedOut(_)));
    h.recorder().assert(Expect::sequence([Started, TimedOut]).of_job(id));
    assert!(cache.get("one second").is_none() && cache.get("forever").is_some());
    assert_eq!(cache.evict_expired(), 0);
    assert_eq!(h.clock().pending_sleeps(), 0);
}

/// Ten years ahead: cache entries expire by their TTL and only those, and the circuit
/// breaker of an orchestrator (1 hook call per second) admits again after the jump.
#[test]
fn clock_jump_expires_cache_entries_and_resets_breaker_windows() {
    let mut h = TestHarness::new();
    let cache = InMemoryCache::with_capacity(h.clock().clone(), 16).unwrap();
    for (key, ttl) in [
        ("1 s", Some(Duration::from_secs(1))),
        ("1 h", Some(Duration::from_secs(3600))),
        ("1 y", Some(YEAR)),
        ("11 y", Some(11 * YEAR)),
        ("none", None),
        ("max", Some(Duration::MAX)),
    ] {
        cache.insert(key, Payload::new(key.len()), ttl);
    }
    h.clock().advance(TEN_YEARS);
    let present: Vec<_> =
        ["1 s", "1 h", "1 y", "11 y", "none", "max"].into_iter().filter(|k| cache.get(k).is_some()).collect();
    assert_eq!(present, ["11 y", "none", "max"]);
    let stats = cache.stats();
    assert_eq!((stats.entries, stats.expired), (3, 3));

    /// Counts the custom events its hooks see.
    struct Counter;
    impl Orchestrator for Counter {
        type State = u32;
        type Command = ();
        fn handle(&mut self, (): (), _: &mut Context<'_, Self>) {}
        fn on_passive_event(&mut self, _: &Event, ctx: &mut Context<'_, Self>) {
            ctx.update_state(|n| *n += 1);
        }
    }
    let breaker = RateLimiter::new().limit(1).window(Duration::from_secs(1));
    let counter = h.start_with(Counter.builder(0, h.dispatcher()).breaker(breaker)).unwrap();
    for _ in 0..3 {
        h.dispatcher().bus().emit(Event::custom("tick", ())).unwrap();
    }
    h.run_until_idle().unwrap();
    assert_eq!((counter.state(), counter.stats().breaker_suppressed), (1, 2), "1 per window");
    h.clock().advance(TEN_YEARS);
    h.dispatcher().bus().emit(Event::custom("tick", ())).unwrap();
    h.run_until_idle().unwrap();
    assert_eq!(h.take_states(&counter), [1, 2]);
    let stats = counter.stats();
    assert_eq!((stats.breaker_suppressed, stats.breaker_trips), (2, 1));
}

// ---------------------------------------------------------------------------------------
// 6. Bad input at the edges (catalogue rows of docs/reliability.md not checked elsewhere)

/// Limits of zero are raised to one (`max_pending`, `runners`, `command_capacity`); a
/// timeout below any timer's resolution still lets the work have its first poll; a
/// late `cancel` changes no result; `cancel_job` of an unknown or foreign job is refused.
#[test]
fn zero_limits_tiny_timeouts_and_late_cancels() {
    use orchestrator_core::runtime::{Spawn, SpawnError};
    use orchestrator_core::{BoxFuture, executor_fn};

    /// Keeps what it is given to spawn (never runs it).
    #[derive(Default)]
    struct Keeper(std::sync::Mutex<Vec<BoxFuture<'static, ()>>>);
    impl Spawn for Keeper {
        fn spawn(&self, task: BoxFuture<'static, ()>) -> Result<(), SpawnError> {
            self.0.lock().unwrap().push(task);
            Ok(())
        }
    }
    let keeper = Arc::new(Keeper::default());
    let dispatcher = Dispatcher::builder().spawner_shared(keeper.clone()).runners(0).max_pending(0).build().unwrap();
    assert_eq!(dispatcher.stats().runners, 1, "runners(0) starts one");
    assert_eq!(keeper.0.lock().unwrap().len(), 1);
    dispatcher.register(executor_fn(|_: Task, _| async { Ok::<u32, JobError>(0) }));
    let _first = dispatcher.dispatch(Task::default()).unwrap();
    assert_eq!(dispatcher.dispatch(Task::default()).unwrap_err(), DispatchError::Overloaded { limit: 1 });

    let rt = LocalVirtual::new();
    let dispatcher = rt.dispatcher();
    register(&rt, &dispatcher, 9);
    struct Quiet;
    impl Orchestrator for Quiet {
        type State = ();
        type Command = u8;
        fn handle(&mut self, _: u8, _: &mut Context<'_, Self>) {}
    }
    let (_host, quiet) = Quiet.builder((), &dispatcher).command_capacity(0).build().unwrap();
    assert!(quiet.try_send(1).is_ok(), "command_capacity(0) holds one");
    assert!(matches!(quiet.try_send(2), Err(orchestrator_core::SendError::Full(2))));

    rt.block_on(async {
        // 1 ns: a job that finishes in its first poll wins; one that waits times out.
        let quick = dispatcher.dispatch(JobBuilder::new(Task::default()).timeout(Duration::from_nanos(1))).unwrap();
        assert!(matches!(quick.await, JobResult::Success(9)));
        let gate = Latch::new();
        let waiting = dispatcher
            .dispatch(JobBuilder::new(Task { gate: Some(gate), ..Task::default() }).timeout(Duration::from_nanos(1)))
            .unwrap();
        assert!(matches!(waiting.await, JobResult::TimedOut(d) if d == Duration::from_nanos(1)));

        // Cancelling a finished job: the token is cancelled, the result stays.
        let mut done = dispatcher.dispatch(Task::default()).unwrap();
        settle(&rt, &dispatcher).await;
        assert!(done.is_finished());
        assert!(done.cancel(), "the job's token was not cancelled yet");
        assert!(matches!(done.try_result(), Some(JobResult::Success(9))));
        assert!((&mut done).await.is_failure(), "polled again: a Failure saying so");
    });

    /// Tries `cancel_job` on ids it did not dispatch.
    struct Canceller(Vec<bool>);
    impl Orchestrator for Canceller {
        type State = Vec<bool>;
        type Command = JobId;
        fn handle(&mut self, id: JobId, ctx: &mut Context<'_, Self>) {
            let refused = !ctx.cancel_job(id) && !ctx.cancel_job_with_reason(id, "no");
            self.0.push(refused);
            let seen = self.0.clone();
            ctx.set_state(seen);
        }
    }
    let (mut host, canceller) = Canceller(Vec::new()).start(Vec::new(), &dispatcher).unwrap();
    rt.block_on(async {
        let gate = Latch::new();
        let foreign = dispatcher.dispatch(Task { gate: Some(gate.clone()), ..Task::default() }).unwrap();
        let script = async {
            canceller.send(JobId::next("unknown")).await.unwrap();
            canceller.send(foreign.id()).await.unwrap();
            let mut states = canceller.states();
            while let Some(seen) = states.next().await {
                if seen.len() == 2 {
                    assert_eq!(seen, [true, true], "unknown and foreign jobs are not cancelled");
                    break;
                }
            }
            gate.open();
            assert!(matches!(foreign.await, JobResult::Success(9)));
            canceller.shutdown();
        };
        let ((), ()) = join!(script, &mut host);
    });
}
