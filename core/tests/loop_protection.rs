//! Loop protection: load is never suppressed, feedback loops always are.
//!
//! Every event carries its causal depth (how many hooks lie between it and a command or
//! an outside cause); an orchestrator calls no hook for an event deeper than its limit,
//! and says so (a `HooksSuppressed` event, its stats, a warning). All on virtual time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs, missing_debug_implementations)]

use core::future::Future;
use core::pin::pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use futures::future::{Either, join_all, select};
use orchestrator_core::DEFAULT_CAUSAL_DEPTH_LIMIT;
use orchestrator_core::log::{Level, Logger};
use orchestrator_core::runtime::{Timer, VirtualClock, run_virtual};
use orchestrator_core::{
    Context, Dispatcher, Event, EventKind, EventTag, Host, Job, JobContext, JobError, Orchestrator, OrchestratorHandle,
    SuppressionReason, executor_fn,
};

/// A short job: sleeps `ms` of virtual time, returns its number.
#[derive(Clone)]
struct Work {
    n: u64,
    ms: u64,
}
impl Job for Work {
    type Output = u64;
}

/// What the test orchestrator does in its hooks.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    /// Nothing but counting.
    Count,
    /// On each own success, dispatches the next job until `n` reaches the bound.
    Chain { until: u64 },
    /// On each own success, dispatches another job, forever.
    Redispatch,
    /// On each passive `ping`, emits `ping` (the event it listens to).
    EchoPing,
    /// On each passive `ping`, emits `pong`.
    PingToPong,
    /// On each passive `pong`, emits `ping`.
    PongToPing,
    /// On every other job's success, dispatches a `Work` through the context's dispatcher
    /// (so the job is not its own: its result comes back as a passive event).
    PassiveRedispatch,
}

#[derive(Clone, Default, Debug, PartialEq)]
struct Seen {
    successes: u64,
    passive: u64,
    commands: u64,
}

struct Looper(Mode);

impl Orchestrator for Looper {
    type State = Seen;
    /// How many `Work` jobs to dispatch (0: just count the command).
    type Command = u64;

    fn handle(&mut self, jobs: u64, ctx: &mut Context<'_, Self>) {
        ctx.update_state(|s| s.commands += 1);
        for n in 0..jobs {
            ctx.dispatch(Work { n, ms: 2 + n % 4 }).unwrap();
        }
    }

    fn on_active_success(&mut self, event: &Event, ctx: &mut Context<'_, Self>) {
        ctx.update_state(|s| s.successes += 1);
        let n = *event.data_as::<u64>().unwrap();
        match self.0 {
            Mode::Chain { until } if n + 1 < until => drop(ctx.dispatch(Work { n: n + 1, ms: 1 }).unwrap()),
            Mode::Redispatch => drop(ctx.dispatch(Work { n: n + 1, ms: 1 }).unwrap()),
            _ => {}
        }
    }

    fn on_passive_event(&mut self, event: &Event, ctx: &mut Context<'_, Self>) {
        ctx.update_state(|s| s.passive += 1);
        let name = match event.kind() {
            EventKind::Custom { name, .. } => *name,
            _ => "",
        };
        match (self.0, name) {
            (Mode::EchoPing, "ping") => drop(ctx.bus().emit(Event::custom("ping", ())).unwrap()),
            (Mode::PingToPong, "ping") => drop(ctx.bus().emit(Event::custom("pong", ())).unwrap()),
            (Mode::PongToPing, "pong") => drop(ctx.bus().emit(Event::custom("ping", ())).unwrap()),
            (Mode::PassiveRedispatch, _) if event.is_from::<Work>() => {
                drop(ctx.dispatcher().dispatch(Work { n: 0, ms: 1 }).unwrap());
            }
            _ => {}
        }
    }
}

/// Collects warnings.
#[derive(Default)]
struct Warnings(Mutex<Vec<String>>);
impl Logger for Warnings {
    fn enabled(&self, level: Level) -> bool {
        level >= Level::Warning
    }
    fn log(&self, _level: Level, message: core::fmt::Arguments<'_>) {
        self.0.lock().unwrap().push(message.to_string());
    }
}

struct World {
    clock: VirtualClock,
    dispatcher: Dispatcher,
    warnings: Arc<Warnings>,
}

impl World {
    fn new() -> Self {
        let clock = VirtualClock::new();
        let warnings = Arc::new(Warnings::default());
        let dispatcher =
            Dispatcher::builder().timer(clock.clone()).logger(SharedLogger(warnings.clone())).build().unwrap();
        let timer = clock.clone();
        dispatcher.register(executor_fn(move |job: Work, _ctx: JobContext| {
            let timer = timer.clone();
            async move {
                timer.sleep(Duration::from_millis(job.ms)).await;
                Ok::<_, JobError>(job.n)
            }
        }));
        Self { clock, dispatcher, warnings }
    }

    fn start(&self, mode: Mode, limit: Option<u32>) -> (Host<Looper>, OrchestratorHandle<Looper>) {
        let builder = Looper(mode).builder(Seen::default(), &self.dispatcher);
        let builder = match limit {
            Some(limit) => builder.causal_depth_limit(limit),
            None => builder,
        };
        builder.build().unwrap()
    }

    /// Runs `script` with the hosts and the dispatcher's runner, on virtual time.
    fn run<F: Future>(&self, hosts: Vec<Host<Looper>>, script: F) -> F::Output {
        let background = futures::future::join(join_all(hosts), self.dispatcher.runner());
        run_virtual(&self.clock, async move {
            match select(pin!(script), pin!(background)).await {
                Either::Left((out, _)) => out,
                Either::Right((_, script)) => script.await,
            }
        })
        .expect("stalled")
    }
}

struct SharedLogger(Arc<Warnings>);
impl Logger for SharedLogger {
    fn enabled(&self, level: Level) -> bool {
        self.0.enabled(level)
    }
    fn log(&self, level: Level, message: core::fmt::Arguments<'_>) {
        self.0.log(level, message);
    }
}

async fn until(handle: &OrchestratorHandle<Looper>, pred: impl Fn(&Seen) -> bool) -> Seen {
    let mut states = handle.states();
    while let Some(state) = states.next().await {
        if pred(&state) {
            return state;
        }
    }
    panic!("the host ended first");
}

/// Waits until nothing is left running (every chain has ended one way or the other).
async fn settle(world: &World) {
    // Virtual time moves only when every task is idle: right after a sleep, every host
    // has handled everything that happened before.
    loop {
        world.clock.sleep(Duration::from_millis(10)).await;
        if world.dispatcher.stats().pending == 0 {
            return;
        }
    }
}

/// Own jobs dispatched by one command (fewer under Miri, which is about a thousand times
/// slower; still far above the old default's 50 per second).
const OWN_JOBS: u64 = if cfg!(miri) { 300 } else { 10_000 };

#[test]
fn ten_thousand_own_jobs_from_one_command_all_reach_their_hooks() {
    let w = World::new();
    let (host, h) = w.start(Mode::Count, None);
    let seen = w.run(vec![host], async {
        h.send(OWN_JOBS).await.unwrap();
        until(&h, |s| s.successes == OWN_JOBS).await
    });
    assert_eq!(seen.successes, OWN_JOBS);
    let stats = h.stats();
    assert_eq!((stats.loop_suppressed, stats.loop_trips, stats.breaker_suppressed), (0, 0, 0), "{stats:?}");
    assert!(w.warnings.0.lock().unwrap().iter().all(|w| !w.contains("loop")), "no loop warning");
}

/// Unrelated events in one burst (fewer under Miri).
const BURST: u64 = if cfg!(miri) { 250 } else { 2_500 };

#[test]
fn a_burst_of_unrelated_events_all_reach_the_passive_hook() {
    let w = World::new();
    let (host, h) = w.start(Mode::Count, None);
    let bus = w.dispatcher.bus().clone();
    let seen = w.run(vec![host], async {
        for _ in 0..5 {
            for _ in 0..BURST / 5 {
                bus.emit(Event::custom("noise", ())).unwrap();
            }
            w.clock.sleep(Duration::from_millis(1)).await;
        }
        until(&h, |s| s.passive == BURST).await
    });
    assert_eq!(seen.passive, BURST);
    assert_eq!(h.stats().loop_suppressed, 0);
}

#[test]
fn a_legitimate_chain_as_deep_as_the_limit_never_trips() {
    let w = World::new();
    // The command's job is at depth 0, the n-th follow-up at depth n: a chain of
    // limit + 1 jobs ends exactly at the limit.
    let jobs = u64::from(DEFAULT_CAUSAL_DEPTH_LIMIT) + 1;
    let (host, h) = w.start(Mode::Chain { until: jobs }, None);
    let seen = w.run(vec![host], async {
        h.send(1).await.unwrap();
        let seen = until(&h, |s| s.successes == jobs).await;
        settle(&w).await;
        seen
    });
    assert_eq!(seen.successes, jobs);
    assert_eq!(h.state().successes, jobs, "nothing more");
    let stats = h.stats();
    assert_eq!((stats.loop_suppressed, stats.loop_trips), (0, 0));
}

/// Runs a looping orchestrator with `limit`, and checks that it tripped, reported it, and
/// that the host and another orchestrator on the same bus go on serving.
fn assert_loop_is_stopped(modes: &[Mode], limit: u32, kick: impl FnOnce(&World, &OrchestratorHandle<Looper>)) {
    let w = World::new();
    let mut trips = w.dispatcher.bus().subscribe().unwrap();
    let mut hosts = Vec::new();
    let mut handles = Vec::new();
    for mode in modes {
        let (host, h) = w.start(*mode, Some(limit));
        hosts.push(host);
        handles.push(h);
    }
    let (bystander_host, bystander) = w.start(Mode::Count, Some(limit));
    hosts.push(bystander_host);
    let first = &handles[0];
    let after = w.run(hosts, async {
        kick(&w, first);
        settle(&w).await;
        // Everybody keeps serving: the looping host takes a command, and the bystander a
        // command and its jobs' results.
        let commands = first.state().commands;
        first.send(0).await.unwrap();
        until(first, |s| s.commands == commands + 1).await;
        bystander.send(3).await.unwrap();
        until(&bystander, |s| s.successes == 3).await
    });
    assert_eq!(after.successes, 3);

    // One report for the loop, by the first host that stopped it (the bystander sees the
    // same events, and may be that host).
    handles.push(bystander.clone());
    let stats: Vec<_> = handles.iter().map(OrchestratorHandle::stats).collect();
    let tripped: u64 = stats.iter().map(|s| s.loop_trips).sum();
    assert_eq!(tripped, 1, "{stats:?}");
    assert!(stats.iter().all(|s| s.loop_suppressed >= s.loop_trips), "{stats:?}");
    // The report on the bus.
    let mut reports = Vec::new();
    while let Ok(event) = trips.try_next() {
        if let EventKind::HooksSuppressed(s) = event.kind() {
            reports.push(s.clone());
        }
    }
    assert_eq!(reports.len() as u64, tripped);
    for report in &reports {
        assert_eq!(report.reason, SuppressionReason::CausalDepth { depth: limit + 1, limit });
        assert_eq!(report.orchestrator, "Looper");
    }
    let warnings = w.warnings.0.lock().unwrap();
    assert_eq!(warnings.iter().filter(|w| w.contains("loop protection")).count() as u64, tripped, "{warnings:?}");
}

#[test]
fn a_hook_that_redispatches_forever_trips_at_the_limit() {
    for limit in [0, 5, DEFAULT_CAUSAL_DEPTH_LIMIT] {
        assert_loop_is_stopped(&[Mode::Redispatch], limit, |_, h| h.try_send(1).unwrap());
    }
}

#[test]
fn a_redispatching_hook_runs_exactly_limit_plus_one_times() {
    let w = World::new();
    let (host, h) = w.start(Mode::Redispatch, Some(7));
    let seen = w.run(vec![host], async {
        h.send(1).await.unwrap();
        settle(&w).await;
        h.state()
    });
    // Depths 0 ..= 7 reach the hook; the job at depth 8 runs, its result reaches none.
    assert_eq!(seen.successes, 8);
    assert_eq!(h.stats().loop_trips, 1, "{:?}", h.stats());
    assert_eq!(h.stats().active_jobs, 0, "the suppressed job's tracking ended");
}

#[test]
fn a_hook_that_emits_the_event_it_listens_to_trips_at_the_limit() {
    assert_loop_is_stopped(&[Mode::EchoPing], 10, |w, _| {
        w.dispatcher.bus().emit(Event::custom("ping", ())).unwrap();
    });
}

#[test]
fn a_ping_pong_between_two_orchestrators_trips() {
    assert_loop_is_stopped(&[Mode::PingToPong, Mode::PongToPing], 10, |w, _| {
        w.dispatcher.bus().emit(Event::custom("ping", ())).unwrap();
    });
}

#[test]
fn a_loop_through_the_contexts_dispatcher_trips() {
    assert_loop_is_stopped(&[Mode::PassiveRedispatch], 6, |w, _| {
        drop(w.dispatcher.dispatch(Work { n: 0, ms: 1 }).unwrap());
    });
}

#[test]
fn events_carry_their_causal_depth() {
    let w = World::new();
    let (host, h) = w.start(Mode::Chain { until: 3 }, None);
    let mut events = w.dispatcher.bus().subscribe().unwrap();
    w.run(vec![host], async {
        h.send(1).await.unwrap();
        until(&h, |s| s.successes == 3).await;
    });
    let mut depths = Vec::new();
    while let Ok(event) = events.try_next() {
        if event.tag() == EventTag::Success {
            depths.push(event.causal_depth());
        }
    }
    assert_eq!(depths, [0, 1, 2]);
    assert_eq!(Event::custom("x", ()).causal_depth(), 0);
    assert_eq!(Event::custom("x", ()).with_causal_depth(4).causal_depth(), 4);
}

/// Panics in the host's own calls into user code (only where panics unwind).
#[cfg(all(feature = "std", panic = "unwind"))]
mod panics {
    use super::*;

    /// A breaker that panics on its first call.
    #[derive(Default)]
    struct PanickyBreaker {
        calls: u32,
    }
    impl orchestrator_core::breaker::CircuitBreaker for PanickyBreaker {
        fn admit(&mut self, _: &Event, _: orchestrator_core::breaker::Delivery, _: Duration) -> bool {
            self.calls += 1;
            assert!(self.calls > 1, "the breaker panicked");
            true
        }
    }

    #[test]
    fn a_panicking_breaker_admits_the_event_and_the_host_runs_on() {
        let w = World::new();
        let (host, h) = Looper(Mode::Count)
            .builder(Seen::default(), &w.dispatcher)
            .breaker(PanickyBreaker::default())
            .build()
            .unwrap();
        let seen = w.run(vec![host], async {
            h.send(2).await.unwrap();
            until(&h, |s| s.successes == 2).await
        });
        assert_eq!(seen.successes, 2, "every own result reached its hook");
        assert_eq!(h.stats().hook_panics, 1);
    }

    /// A state whose `Clone` panics once it holds `poison`.
    #[derive(Default, Debug)]
    struct Fragile {
        value: u32,
    }
    impl Clone for Fragile {
        fn clone(&self) -> Self {
            assert!(self.value != 13, "the state's clone panicked");
            Self { value: self.value }
        }
    }

    struct SetTo;
    impl Orchestrator for SetTo {
        type State = Fragile;
        type Command = u32;
        fn handle(&mut self, value: u32, ctx: &mut Context<'_, Self>) {
            ctx.update_state(|s| s.value = value);
        }
    }

    #[test]
    fn a_state_whose_clone_panics_skips_that_publication_only() {
        let clock = VirtualClock::new();
        let dispatcher = Dispatcher::new();
        let (host, h) = SetTo.start(Fragile::default(), &dispatcher).unwrap();
        let script = async {
            h.send(13).await.unwrap(); // cannot be published
            h.send(14).await.unwrap();
            let mut states = h.states();
            while let Some(state) = states.next().await {
                if state.value == 14 {
                    break;
                }
            }
            h.shutdown();
        };
        run_virtual(&clock, async { futures::join!(host, script) }).unwrap();
        assert_eq!(h.state().value, 14);
        assert_eq!(h.stats().hook_panics, 1);
        assert_eq!(h.stats().commands, 2);
    }
}
