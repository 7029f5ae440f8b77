//! [`OrchestratorTest`]: given a state, when these commands and events arrive, then
//! these states and these jobs (after bloc_test's `blocTest`).

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

use super::expect::Expect;
use super::harness::TestHarness;
use crate::event::{Event, EventTag};
use crate::orchestrator::{Orchestrator, SendError};

/// What happens to the orchestrator, in order.
enum Act<C> {
    Command(C),
    Event(Event),
    Wait(Duration),
}

/// Prepares the harness before the orchestrator starts.
type Setup = Box<dyn FnOnce(&mut TestHarness)>;

/// Compares what happened with what was expected; `Some(reason)` when they differ.
type Check<S> = Box<dyn FnOnce(&[S], &[&'static str], &TestHarness) -> Option<String>>;

/// One orchestrator test in one expression: **given** an orchestrator and its state,
/// **when** these commands and events arrive (and this much time passes), **then** it
/// publishes these states, in order, and dispatches these jobs.
///
/// It runs on a [`TestHarness`]: register the executors in [`executors`](Self::executors)
/// (scripted ones, or any other). After the last command or event it runs until
/// nothing is left to happen ([`TestHarness::settle`]), unless the last step was a
/// [`wait`](Self::wait).
///
/// ```
/// use orchestrator_core::test_kit::{OrchestratorTest, Script};
/// # use orchestrator_core::{Context, Event, Job, Orchestrator};
/// # #[derive(Clone)] struct Fetch;
/// # impl Job for Fetch { type Output = u32; }
/// # struct Counter;
/// # impl Orchestrator for Counter {
/// #     type State = u32; type Command = ();
/// #     fn handle(&mut self, _: (), ctx: &mut Context<'_, Self>) { let _ = ctx.dispatch(Fetch); }
/// #     fn on_active_success(&mut self, e: &Event, ctx: &mut Context<'_, Self>) {
/// #         let n = *e.data_or(&0); ctx.update_state(|s| *s += n);
/// #     }
/// # }
///
/// OrchestratorTest::new(Counter, 0)
///     .executors(|h| { h.script::<Fetch>(Script::new().ok(2).ok(3)); })
///     .when(())
///     .when(())
///     .then_states([2, 5])
///     .then_jobs(["Fetch", "Fetch"])
///     .run();
/// ```
#[must_use = "an orchestrator test does nothing until `run` or `check`"]
pub struct OrchestratorTest<O: Orchestrator> {
    orchestrator: O,
    given: O::State,
    setup: Vec<Setup>,
    acts: Vec<Act<O::Command>>,
    checks: Vec<Check<O::State>>,
}

impl<O: Orchestrator> fmt::Debug for OrchestratorTest<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OrchestratorTest")
            .field("acts", &self.acts.len())
            .field("checks", &self.checks.len())
            .finish_non_exhaustive()
    }
}

impl<O: Orchestrator> OrchestratorTest<O> {
    /// Given `orchestrator` in state `given`.
    pub fn new(orchestrator: O, given: O::State) -> Self {
        Self { orchestrator, given, setup: Vec::new(), acts: Vec::new(), checks: Vec::new() }
    }

    /// Prepares the harness before the orchestrator starts: register executors
    /// ([`TestHarness::script`], [`TestHarness::register`]), set limits.
    pub fn executors(mut self, setup: impl FnOnce(&mut TestHarness) + 'static) -> Self {
        self.setup.push(Box::new(setup));
        self
    }

    /// When this command arrives.
    pub fn when(mut self, command: O::Command) -> Self {
        self.acts.push(Act::Command(command));
        self
    }

    /// When this event arrives on the bus (another orchestrator's result, a custom
    /// event...).
    pub fn when_event(mut self, event: Event) -> Self {
        self.acts.push(Act::Event(event));
        self
    }

    /// When this much virtual time passes (see [`TestHarness::advance`]).
    pub fn wait(mut self, d: Duration) -> Self {
        self.acts.push(Act::Wait(d));
        self
    }

    /// Then the orchestrator publishes exactly these states, in this order (the given
    /// state is not one of them).
    pub fn then_states(mut self, states: impl IntoIterator<Item = O::State>) -> Self
    where
        O::State: PartialEq + fmt::Debug,
    {
        let expected: Vec<O::State> = states.into_iter().collect();
        self.checks.push(Box::new(move |states, _, _| {
            (states != expected.as_slice()).then(|| format!("expected states {expected:?}\n   found {states:?}"))
        }));
        self
    }

    /// Then exactly these jobs run, by job type name, in the order they started.
    pub fn then_jobs(mut self, job_types: impl IntoIterator<Item = &'static str>) -> Self {
        let expected: Vec<&'static str> = job_types.into_iter().collect();
        self.checks.push(Box::new(move |_, jobs, _| {
            (jobs != expected.as_slice()).then(|| format!("expected jobs {expected:?}\n   found {jobs:?}"))
        }));
        self
    }

    /// Then the recorded events meet `expect`.
    pub fn then_events(mut self, expect: Expect) -> Self {
        self.checks.push(Box::new(move |_, _, harness| {
            harness.recorder().check(&expect).err().map(|m| format!("expected {}\n   found {}", m.expected, m.found))
        }));
        self
    }

    /// Runs the test.
    ///
    /// # Errors
    ///
    /// [`TestFailure`] with every expectation that did not hold (or the reason the run
    /// stopped) and the recorded timeline.
    pub fn check(self) -> Result<(), TestFailure> {
        let Self { orchestrator, given, setup, acts, checks } = self;
        let mut harness = TestHarness::new();
        for step in setup {
            step(&mut harness);
        }
        let fail =
            |harness: &TestHarness, reason: String| TestFailure { reason, timeline: harness.recorder().timeline() };
        let handle = match harness.start(orchestrator, given) {
            Ok(handle) => handle,
            Err(e) => return Err(fail(&harness, format!("the orchestrator could not start: {e}"))),
        };
        let settle = !matches!(acts.last(), Some(Act::Wait(_)));
        for act in acts {
            let done = match act {
                Act::Command(command) => send(&mut harness, &handle, command),
                Act::Event(event) => match harness.dispatcher().bus().emit(event) {
                    Ok(_) => harness.run_until_idle().map_err(|e| format!("{e}")),
                    Err(_) => Err(String::from("the bus is closed: the event could not be sent")),
                },
                Act::Wait(d) => harness.advance(d).map_err(|e| format!("{e}")),
            };
            if let Err(reason) = done {
                return Err(fail(&harness, reason));
            }
        }
        if settle {
            if let Err(e) = harness.settle() {
                return Err(fail(&harness, format!("{e}")));
            }
        }
        let states = harness.take_states(&handle);
        let jobs: Vec<&'static str> =
            harness.recorder().events().iter().filter(|e| e.tag() == EventTag::Started).map(|e| e.job_type()).collect();
        let reasons: Vec<String> = checks.into_iter().filter_map(|check| check(&states, &jobs, &harness)).collect();
        if reasons.is_empty() { Ok(()) } else { Err(fail(&harness, reasons.join("\n"))) }
    }

    /// Runs the test and asserts every expectation.
    ///
    /// # Panics
    ///
    /// When an expectation does not hold, with the [`TestFailure`] as the message (what
    /// was expected, what was found, the recorded timeline). Meant for tests.
    #[track_caller]
    #[allow(clippy::panic)] // an assertion helper: failing the test is its purpose
    pub fn run(self) {
        if let Err(failure) = self.check() {
            panic!("{failure}");
        }
    }
}

/// Sends `command`, running the harness while the queue is full.
fn send<O: Orchestrator>(
    harness: &mut TestHarness,
    handle: &crate::OrchestratorHandle<O>,
    mut command: O::Command,
) -> Result<(), String> {
    loop {
        match handle.try_send(command) {
            Ok(()) => return harness.run_until_idle().map_err(|e| format!("{e}")),
            Err(SendError::Full(back)) => {
                command = back;
                let before = handle.queued_commands();
                harness.run_until_idle().map_err(|e| format!("{e}"))?;
                if handle.queued_commands() >= before {
                    return Err(String::from("the command queue stays full: the host does not take commands"));
                }
            }
            Err(SendError::Closed(_)) => {
                return Err(String::from("the orchestrator has shut down: a command was refused"));
            }
        }
    }
}

/// An [`OrchestratorTest`] that failed: why, and the recorded timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestFailure {
    /// Every expectation that did not hold, or why the run stopped.
    pub reason: String,
    /// Every recorded event, one per line.
    pub timeline: String,
}

impl fmt::Display for TestFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "orchestrator test failed:\n{}\nrecorded timeline:\n{}", self.reason, self.timeline)
    }
}

impl core::error::Error for TestFailure {}
