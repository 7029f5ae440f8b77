//! Typed results (`Context::dispatch_then`), request-reply commands
//! (`OrchestratorHandle::ask`) and event times. All on virtual time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs, missing_debug_implementations)]

use core::time::Duration;

use futures::StreamExt;
use orchestrator_core::runtime::{Timer, VirtualClock, run_virtual};
use orchestrator_core::{
    AskError, Context, Dispatcher, Job, JobContext, JobError, JobResult, Orchestrator, Reply, executor_fn,
};

/// Sleeps `ms` of virtual time, then returns `n * 10`, or fails when `n` is 0.
#[derive(Clone)]
struct Compute {
    n: u32,
    ms: u64,
}
impl Job for Compute {
    type Output = u32;
}

enum Command {
    Compute(u32, u64),
    Cancel,
    Chain(u32),
    Panic,
    Results(Reply<Vec<String>>),
    Ignore(Reply<()>),
}

#[derive(Default)]
struct Calc {
    last: Option<orchestrator_core::JobId>,
}

impl Orchestrator for Calc {
    type State = Vec<String>;
    type Command = Command;

    fn handle(&mut self, command: Command, ctx: &mut Context<'_, Self>) {
        match command {
            Command::Compute(n, ms) => {
                let id = ctx
                    .dispatch_then(Compute { n, ms }, |this: &mut Self, result: JobResult<u32>, ctx| {
                        assert!(this.last.is_some());
                        let line = match result {
                            JobResult::Success(v) => format!("ok {v}"),
                            JobResult::Failure(e) => format!("failed {e}"),
                            JobResult::Cancelled(reason) => format!("cancelled {reason:?}"),
                            JobResult::TimedOut(after) => format!("timed out {after:?}"),
                        };
                        ctx.update_state(|s| s.push(line));
                    })
                    .unwrap();
                self.last = Some(id);
            }
            Command::Cancel => {
                let id = self.last.unwrap();
                ctx.cancel_job_with_reason(id, "user");
            }
            Command::Chain(n) => {
                // A continuation that dispatches the next step with its own continuation.
                ctx.dispatch_then(Compute { n, ms: 1 }, |_, first: JobResult<u32>, ctx| {
                    let first = first.ok().unwrap();
                    ctx.dispatch_then(Compute { n: first, ms: 1 }, move |_, second: JobResult<u32>, ctx| {
                        ctx.update_state(|s| s.push(format!("chain {first} {}", second.ok().unwrap())));
                    })
                    .unwrap();
                })
                .unwrap();
            }
            Command::Panic => {
                ctx.dispatch_then(Compute { n: 1, ms: 1 }, |_, _: JobResult<u32>, _| panic!("continuation panics"))
                    .unwrap();
            }
            Command::Results(reply) => {
                reply.send(ctx.state().clone());
            }
            Command::Ignore(reply) => drop(reply),
        }
    }
}

fn world() -> (VirtualClock, Dispatcher) {
    let clock = VirtualClock::new();
    let dispatcher = Dispatcher::builder().timer(clock.clone()).build().unwrap();
    let timer = clock.clone();
    dispatcher.register(executor_fn(move |job: Compute, _: JobContext| {
        let timer = timer.clone();
        async move {
            timer.sleep(Duration::from_millis(job.ms)).await;
            if job.n == 0 { Err(JobError::msg("zero")) } else { Ok(job.n * 10) }
        }
    }));
    (clock, dispatcher)
}

/// Runs `script` with the host and the runner on virtual time.
fn run<F: core::future::Future<Output = ()>>(
    clock: &VirtualClock,
    dispatcher: &Dispatcher,
    host: orchestrator_core::Host<Calc>,
    script: F,
) {
    let runner = dispatcher.runner();
    run_virtual(clock, async {
        futures::join!(host, runner, script);
    })
    .unwrap();
}

#[test]
fn dispatch_then_gets_each_outcome_typed() {
    let (clock, dispatcher) = world();
    let (host, handle) = Calc::default().start(Vec::new(), &dispatcher).unwrap();
    let d = dispatcher.clone();
    run(&clock, &dispatcher, host, async move {
        let mut states = handle.states();
        handle.send(Command::Compute(4, 5)).await.unwrap();
        handle.send(Command::Compute(0, 5)).await.unwrap();
        handle.send(Command::Compute(9, 1_000)).await.unwrap();
        handle.send(Command::Cancel).await.unwrap();
        while states.next().await.unwrap().len() < 3 {}
        let results = handle.ask(Command::Results).await.unwrap();
        assert_eq!(results, ["cancelled Some(\"user\")", "ok 40", "failed zero"]);
        handle.shutdown();
        d.shutdown();
    });
}

#[test]
fn a_continuation_can_dispatch_with_its_own_continuation() {
    let (clock, dispatcher) = world();
    let (host, handle) = Calc::default().start(Vec::new(), &dispatcher).unwrap();
    let d = dispatcher.clone();
    run(&clock, &dispatcher, host, async move {
        let mut states = handle.states();
        handle.send(Command::Chain(2)).await.unwrap();
        while states.next().await.unwrap().is_empty() {}
        assert_eq!(handle.state(), ["chain 20 200"]);
        handle.shutdown();
        d.shutdown();
    });
}

#[cfg(all(feature = "std", panic = "unwind"))]
#[test]
fn a_panicking_continuation_is_caught_and_counted() {
    let (clock, dispatcher) = world();
    let (host, handle) = Calc::default().start(Vec::new(), &dispatcher).unwrap();
    let d = dispatcher.clone();
    run(&clock, &dispatcher, host, async move {
        handle.send(Command::Panic).await.unwrap();
        handle.send(Command::Compute(1, 10)).await.unwrap();
        let mut states = handle.states();
        while states.next().await.unwrap().is_empty() {}
        assert_eq!(handle.state(), ["ok 10"], "the host went on");
        assert_eq!(handle.stats().hook_panics, 1);
        assert_eq!(handle.stats().active_jobs, 0);
        handle.shutdown();
        d.shutdown();
    });
}

#[test]
fn ask_answers_or_says_why_not() {
    let (clock, dispatcher) = world();
    let (host, handle) = Calc::default().start(vec!["start".into()], &dispatcher).unwrap();
    let d = dispatcher.clone();
    run(&clock, &dispatcher, host, async move {
        assert_eq!(handle.ask(Command::Results).await, Ok(vec!["start".to_string()]));
        assert_eq!(handle.ask(Command::Ignore).await, Err(AskError::NoReply));
        handle.shutdown();
        assert_eq!(handle.ask(Command::Results).await, Err(AskError::Closed));
        d.shutdown();
    });
}

#[test]
fn a_jobs_events_carry_the_dispatcher_clock_time() {
    let (clock, dispatcher) = world();
    clock.advance(Duration::from_secs(10));
    let mut events = dispatcher.bus().subscribe().unwrap();
    let handle = dispatcher.dispatch(Compute { n: 1, ms: 250 }).unwrap();
    let runner = dispatcher.runner();
    let d = dispatcher.clone();
    run_virtual(&clock, async move {
        let script = async {
            assert_eq!(handle.await.ok(), Some(10));
            d.shutdown();
        };
        futures::join!(runner, script);
    })
    .unwrap();
    let started = events.try_next().unwrap();
    let success = events.try_next().unwrap();
    assert_eq!(started.time(), Duration::from_secs(10));
    assert_eq!(success.time(), Duration::from_millis(10_250));
}
