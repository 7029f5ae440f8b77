//! Typed results (`Context::dispatch_then`), request-reply commands
//! (`OrchestratorHandle::ask`) and event times. All on virtual time, with the test kit.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs, missing_debug_implementations)]

use core::time::Duration;

use orchestrator_core::runtime::Timer;
use orchestrator_core::test_kit::{OrchestratorTest, TestHarness};
use orchestrator_core::{AskError, Context, Job, JobContext, JobError, JobResult, Orchestrator, Reply, executor_fn};

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
    // Sent only by the panic test, which needs `std` and unwinding.
    #[cfg_attr(not(all(feature = "std", panic = "unwind")), allow(dead_code))]
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

/// Registers the executor of `Compute` on the harness's clock.
fn compute(h: &mut TestHarness) {
    let timer = h.clock().clone();
    h.register(executor_fn(move |job: Compute, _: JobContext| {
        let timer = timer.clone();
        async move {
            timer.sleep(Duration::from_millis(job.ms)).await;
            if job.n == 0 { Err(JobError::msg("zero")) } else { Ok(job.n * 10) }
        }
    }));
}

fn lines(lines: &[&str]) -> Vec<String> {
    lines.iter().map(|line| line.to_string()).collect()
}

#[test]
fn dispatch_then_gets_each_outcome_typed() {
    let (cancelled, ok, failed) = ("cancelled Some(\"user\")", "ok 40", "failed zero");
    OrchestratorTest::new(Calc::default(), Vec::new())
        .executors(compute)
        .when(Command::Compute(4, 5))
        .when(Command::Compute(0, 5))
        .when(Command::Compute(9, 1_000))
        .when(Command::Cancel)
        .then_states([lines(&[cancelled]), lines(&[cancelled, ok]), lines(&[cancelled, ok, failed])])
        .run();
}

#[test]
fn a_continuation_can_dispatch_with_its_own_continuation() {
    OrchestratorTest::new(Calc::default(), Vec::new())
        .executors(compute)
        .when(Command::Chain(2))
        .then_states([lines(&["chain 20 200"])])
        .then_jobs(["Compute", "Compute"])
        .run();
}

#[cfg(all(feature = "std", panic = "unwind"))]
#[test]
fn a_panicking_continuation_is_caught_and_counted() {
    let mut h = TestHarness::new();
    compute(&mut h);
    let calc = h.start(Calc::default(), Vec::new()).unwrap();
    calc.try_send(Command::Panic).unwrap();
    calc.try_send(Command::Compute(1, 10)).unwrap();
    h.settle().unwrap();
    assert_eq!(calc.state(), ["ok 10"], "the host went on");
    assert_eq!(calc.stats().hook_panics, 1);
    assert_eq!(calc.stats().active_jobs, 0);
}

#[test]
fn ask_answers_or_says_why_not() {
    let mut h = TestHarness::new();
    let calc = h.start(Calc::default(), vec!["start".into()]).unwrap();
    assert_eq!(h.block_on(calc.ask(Command::Results)).unwrap(), Ok(vec!["start".to_string()]));
    assert_eq!(h.block_on(calc.ask(Command::Ignore)).unwrap(), Err(AskError::NoReply));
    calc.shutdown();
    assert_eq!(h.block_on(calc.ask(Command::Results)).unwrap(), Err(AskError::Closed));
}

#[test]
fn a_jobs_events_carry_the_dispatcher_clock_time() {
    let mut h = TestHarness::new();
    compute(&mut h);
    h.clock().advance(Duration::from_secs(10));
    let handle = h.dispatcher().dispatch(Compute { n: 1, ms: 250 }).unwrap();
    assert_eq!(h.block_on(handle).unwrap().ok(), Some(10));
    let times: Vec<Duration> = h.recorder().events().iter().map(|e| e.time()).collect();
    assert_eq!(times, [Duration::from_secs(10), Duration::from_millis(10_250)]);
}
