//! The test kit's own tests: the harness's phases and limits, scripted executors, the
//! recorder's matchers and messages, orchestrator tests and replay.
#![cfg(feature = "std")]
#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

use core::time::Duration;

use futures::FutureExt;
use orchestrator_core::EventTag::*;
use orchestrator_core::test_kit::{Call, Expect, OrchestratorTest, Replay, RunError, Script, Step, TestHarness};
use orchestrator_core::{Context, Event, Job, JobBuilder, JobError, JobResult, Orchestrator, RetryPolicy, executor_fn};

const fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[derive(Clone)]
struct Fetch(u32);
impl Job for Fetch {
    type Output = u32;
}

/// Adds each fetched value to its state; `Command::Load(n)` fetches `n`.
struct Total;
impl Orchestrator for Total {
    type State = u32;
    type Command = u32;
    fn handle(&mut self, n: u32, ctx: &mut Context<'_, Self>) {
        let _ = ctx.dispatch(Fetch(n));
    }
    fn on_active_success(&mut self, event: &Event, ctx: &mut Context<'_, Self>) {
        let n = *event.data_or(&0);
        ctx.update_state(|total| *total = total.wrapping_add(n));
    }
    fn on_active_failure(&mut self, _: &Event, ctx: &mut Context<'_, Self>) {
        ctx.set_state(u32::MAX);
    }
}

#[test]
fn scripted_steps_run_in_order_and_calls_are_logged_with_virtual_time() {
    let mut h = TestHarness::new();
    let calls = h.script::<Fetch>(Script::new().err("flaky").after(secs(2), Step::Ok(7)));
    let job = JobBuilder::new(Fetch(1)).retry(RetryPolicy::new().with_max_retries(1).with_base_delay(secs(1)));
    let handle = h.dispatcher().dispatch(job).unwrap();
    let id = handle.id();
    assert_eq!(h.block_on(handle).unwrap().ok(), Some(7));
    assert_eq!(h.now(), secs(3)); // 1 s back-off, 2 s scripted delay
    let attempts: Vec<(u32, Duration)> = calls.calls().iter().map(|c: &Call| (c.attempt, c.at)).collect();
    assert_eq!(attempts, [(0, secs(0)), (1, secs(1))]);
    assert!(calls.calls().iter().all(|c| c.job == id));
    h.recorder().assert(Expect::sequence([Started, Retrying, Success]).of_job(id));
}

#[test]
fn a_script_that_runs_out_fails_the_call_with_a_clear_message() {
    let mut h = TestHarness::new();
    h.script::<Fetch>(Script::new().ok(1));
    let first = h.dispatcher().dispatch(Fetch(1)).unwrap();
    let second = h.dispatcher().dispatch(Fetch(2)).unwrap();
    assert_eq!(h.block_on(first).unwrap().ok(), Some(1));
    let error = h.block_on(second).unwrap().into_result().unwrap_err();
    assert!(error.to_string().contains("no step left for call #2"), "{error}");
}

#[test]
#[cfg(panic = "unwind")] // a panic aborts where it cannot unwind (wasm32-wasip1)
fn a_scripted_panic_ends_one_job_and_never_plus_timeout_times_out() {
    let mut h = TestHarness::new();
    h.script::<Fetch>(Script::new().panic("boom").never().otherwise(Step::Ok(3)));
    let panicked = h.dispatcher().dispatch(Fetch(0)).unwrap();
    let hung = h.dispatcher().dispatch(JobBuilder::new(Fetch(0)).timeout(secs(5))).unwrap();
    let later = h.dispatcher().dispatch(Fetch(0)).unwrap();
    assert!(h.block_on(panicked).unwrap().into_result().unwrap_err().to_string().contains("boom"));
    assert!(matches!(h.block_on(hung).unwrap(), JobResult::TimedOut { .. }));
    assert_eq!(h.block_on(later).unwrap().ok(), Some(3));
    assert_eq!(h.now(), secs(5));
    h.recorder().assert(Expect::one_terminal_per_job());
}

#[test]
fn a_closure_executor_works_with_the_harness_and_its_calls_are_logged() {
    let mut h = TestHarness::new();
    let calls = h.register(executor_fn(|job: Fetch, _| async move { Ok::<_, JobError>(job.0 * 2) }));
    let handle = h.dispatcher().dispatch(Fetch(21)).unwrap();
    assert_eq!(h.block_on(handle).unwrap().ok(), Some(42));
    assert_eq!(calls.len(), 1);
}

#[test]
fn jobs_survive_between_phases_and_advance_stops_exactly_at_its_target() {
    let mut h = TestHarness::new();
    h.script::<Fetch>(Script::new().after(secs(10), Step::Ok(1)));
    let mut handle = h.dispatcher().dispatch(Fetch(0)).unwrap();
    h.advance(secs(4)).unwrap();
    assert_eq!(h.now(), secs(4));
    assert!((&mut handle).now_or_never().is_none());
    h.run_until_idle().unwrap(); // a second phase: the job is still there
    h.advance(secs(4)).unwrap();
    assert!((&mut handle).now_or_never().is_none());
    h.advance(secs(2)).unwrap();
    assert_eq!(h.now(), secs(10));
    assert_eq!(handle.now_or_never().and_then(JobResult::ok), Some(1));
}

#[test]
fn dropping_the_harness_runs_the_jobs_left_to_their_end() {
    let h = TestHarness::new();
    h.script::<Fetch>(Script::new().after(secs(30), Step::Ok(5)));
    let handle = h.dispatcher().dispatch(Fetch(0)).unwrap();
    drop(h);
    assert_eq!(handle.now_or_never().and_then(JobResult::ok), Some(5));
}

#[test]
#[cfg_attr(miri, ignore = "forgets a harness that cannot end, on purpose: Miri reports the leak")]
fn run_until_reports_the_time_limit_stalls_and_busy_loops_with_the_timeline() {
    let mut h = TestHarness::new();
    h.script::<Fetch>(Script::new().after(secs(60), Step::Ok(1)));
    let _handle = h.dispatcher().dispatch(Fetch(0)).unwrap();
    let err = h.run_until(secs(10), |h| h.recorder().tags().contains(&Success)).unwrap_err();
    assert!(matches!(err, RunError::TimeLimit { now, .. } if now == secs(10)), "{err}");
    assert_eq!(h.now(), secs(10));
    let message = err.to_string();
    assert!(message.contains("within 10s") && message.contains("Started"), "{message}");
    h.run_until(secs(60), |h| h.recorder().tags().contains(&Success)).unwrap();
    assert_eq!(h.now(), secs(60));

    let err = h.run_until(secs(1), |_| false).unwrap_err();
    assert!(matches!(err, RunError::Stalled { .. }), "{err}");

    let mut busy = TestHarness::new().poll_limit(50);
    busy.spawn(futures::future::poll_fn(|cx| {
        cx.waker().wake_by_ref();
        core::task::Poll::<()>::Pending
    }));
    assert!(matches!(busy.run_until_idle(), Err(RunError::Busy { rounds: 50, .. })));
    core::mem::forget(busy); // its busy task would make the drop spin to the limit again
}

#[test]
fn the_recorder_matchers_and_their_failure_message() {
    let mut h = TestHarness::new();
    h.script::<Fetch>(Script::new().ok(1).err("down"));
    let a = h.dispatcher().dispatch(Fetch(0)).unwrap().id();
    let b = h.dispatcher().dispatch(Fetch(0)).unwrap().id();
    h.settle().unwrap();
    let r = h.recorder();
    assert_eq!(r.jobs().iter().map(|(id, _)| *id).collect::<Vec<_>>(), [a, b]);
    assert_eq!(r.job_tags(b), [Started, Failure]);
    r.assert(Expect::contains(Failure));
    r.assert(Expect::in_order([Started, Success, Failure]));
    r.assert(Expect::exactly_once(Success));
    r.assert(Expect::one_terminal_per_job());
    assert!(r.check(&Expect::in_order([Failure, Success])).is_err());
    assert!(r.check(&Expect::exactly_once(Started)).is_err());
    assert!(r.check(&Expect::contains(Success).of_job(b)).is_err());
    let mismatch = r.check(&Expect::sequence([Started, Success]).of_job(b)).unwrap_err();
    let text = mismatch.to_string();
    assert!(text.contains("expected exactly the events [Started, Success] for job"), "{text}");
    assert!(text.contains("found [Started, Failure]"), "{text}");
    assert!(text.contains("Failure (down; retried: false)"), "{text}");
    assert_eq!(r.lagged(), 0);
}

#[test]
#[cfg_attr(miri, ignore = "forgets a harness that cannot end, on purpose: Miri reports the leak")]
fn one_terminal_per_job_catches_a_job_with_none() {
    let mut h = TestHarness::new();
    h.script::<Fetch>(Script::new().never());
    let _hung = h.dispatcher().dispatch(Fetch(0)).unwrap();
    h.settle().unwrap();
    let mismatch = h.recorder().check(&Expect::one_terminal_per_job()).unwrap_err();
    assert!(mismatch.found.contains("[Started]"), "{mismatch}");
    // Drop: shutting down lets the runner end only once the hung job does; it never will.
    core::mem::forget(h);
}

#[test]
fn an_orchestrator_test_passes_and_a_wrong_one_says_what_happened() {
    OrchestratorTest::new(Total, 0)
        .executors(|h| {
            h.script::<Fetch>(Script::new().ok(2).after(secs(1), Step::Ok(3)));
        })
        .when(2)
        .when(3)
        .then_states([2, 5])
        .then_jobs(["Fetch", "Fetch"])
        .then_events(Expect::one_terminal_per_job())
        .run();

    let failure = OrchestratorTest::new(Total, 0)
        .executors(|h| {
            h.script::<Fetch>(Script::new().err("down"));
        })
        .when(1)
        .then_states([1])
        .check()
        .unwrap_err();
    let text = failure.to_string();
    assert!(text.contains("expected states [1]") && text.contains(&format!("found [{}]", u32::MAX)), "{text}");
    assert!(text.contains("Failure (down"), "{text}");
}

#[test]
fn an_orchestrator_test_waits_and_takes_events() {
    struct Listener;
    impl Orchestrator for Listener {
        type State = Vec<&'static str>;
        type Command = ();
        fn handle(&mut self, (): (), _: &mut Context<'_, Self>) {}
        fn on_passive_event(&mut self, event: &Event, ctx: &mut Context<'_, Self>) {
            let name = event.job_type();
            ctx.update_state(|seen| seen.push(name));
        }
    }
    OrchestratorTest::new(Listener, vec![])
        .when_event(Event::custom("ping", ()))
        .wait(secs(5))
        .when_event(Event::custom("pong", ()))
        .then_states([vec!["ping"], vec!["ping", "pong"]])
        .then_jobs([])
        .run();
}

#[test]
fn a_recorded_run_replays_to_the_same_states_without_executors() {
    // Record a real run.
    let mut h = TestHarness::new();
    let calls = h.script::<Fetch>(Script::new().ok(2).err("down").ok(4));
    let total = h.start(Total, 0).unwrap();
    for n in [2, 3, 4] {
        total.try_send(n).unwrap();
        h.settle().unwrap();
    }
    let live = h.take_states(&total);
    assert_eq!(live, [2, u32::MAX, u32::MAX.wrapping_add(4)]);
    let log = h.recorder().events();

    // Replay it: the same commands, the recorded events, no executor.
    let mut replay = Replay::new(Total, 0).unwrap().job::<Fetch>();
    let mut events = log.iter();
    for n in [2, 3, 4] {
        replay.command(n);
        // Each command's job: Started then its outcome.
        replay.events(events.by_ref().take(2));
    }
    assert_eq!(replay.states(), live.as_slice());
    assert_eq!(replay.state(), *live.last().unwrap());
    assert_eq!(calls.len(), 3); // only the recording ran the executor
    assert!(!replay.is_finished());
}

#[test]
fn replayed_events_of_unknown_jobs_are_passive() {
    let mut replay = Replay::new(Total, 1).unwrap().job::<Fetch>();
    let foreign = Event::new(
        orchestrator_core::JobId::next("Fetch"),
        "Fetch",
        None,
        orchestrator_core::EventKind::Success(orchestrator_core::Payload::new(9_u32)),
    );
    replay.event(&foreign);
    assert!(replay.states().is_empty()); // Total ignores others' results
}
