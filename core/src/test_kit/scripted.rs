//! [`ScriptedExecutor`]: an executor that plays a [`Script`], one [`Step`] per call.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::String;
use core::fmt;
use core::marker::PhantomData;
use core::time::Duration;

use super::calls::CallLog;
use crate::error::JobError;
use crate::executor::{Executor, JobContext};
use crate::job::Job;
use crate::sync::Mutex;

/// What one call of a [`ScriptedExecutor`] does.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Step<T> {
    /// Succeed with this output.
    Ok(T),
    /// Fail with this error.
    Err(JobError),
    /// Panic with this message (with `std` the panic boundary turns it into a `Failure`).
    Panic(String),
    /// Wait this long on the dispatcher's timer (the harness's virtual clock), then do
    /// the inner step.
    After(Duration, Box<Step<T>>),
    /// Never finish: until the job is cancelled or times out.
    Never,
}

/// The steps of a [`ScriptedExecutor`], one per call in order, and what to do once they
/// are used up (by default: fail with a message saying the script ran out).
///
/// ```
/// use core::time::Duration;
/// use orchestrator_core::test_kit::{Script, Step};
///
/// let script: Script<u32> = Script::new()
///     .err("flaky")                                // call 1 fails
///     .after(Duration::from_secs(2), Step::Ok(7))  // call 2 succeeds 2 s later
///     .otherwise(Step::Never);                     // every later call hangs
/// # let _ = script;
/// ```
#[derive(Debug, Clone)]
pub struct Script<T> {
    steps: VecDeque<Step<T>>,
    otherwise: Option<Step<T>>,
}

impl<T> Default for Script<T> {
    fn default() -> Self {
        Self { steps: VecDeque::new(), otherwise: None }
    }
}

impl<T> Script<T> {
    /// An empty script.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a step.
    #[must_use]
    pub fn step(mut self, step: Step<T>) -> Self {
        self.steps.push_back(step);
        self
    }

    /// Adds a success.
    #[must_use]
    pub fn ok(self, output: T) -> Self {
        self.step(Step::Ok(output))
    }

    /// Adds a failure with `error` (a [`JobError`] or a message).
    #[must_use]
    pub fn err(self, error: impl Into<JobError>) -> Self {
        self.step(Step::Err(error.into()))
    }

    /// Adds a panic with `message`.
    #[must_use]
    pub fn panic(self, message: impl Into<String>) -> Self {
        self.step(Step::Panic(message.into()))
    }

    /// Adds `then`, after a wait of `delay` on the virtual clock.
    #[must_use]
    pub fn after(self, delay: Duration, then: Step<T>) -> Self {
        self.step(Step::After(delay, Box::new(then)))
    }

    /// Adds a call that never finishes by itself.
    #[must_use]
    pub fn never(self) -> Self {
        self.step(Step::Never)
    }

    /// What every call after the listed steps does (a clone of `step` each time).
    #[must_use]
    pub fn otherwise(mut self, step: Step<T>) -> Self {
        self.otherwise = Some(step);
        self
    }
}

/// An executor for jobs of type `J` that plays a [`Script`]: call `n` does step `n`, and
/// every call is logged (job, attempt, virtual time) in its [`CallLog`].
///
/// [`TestHarness::script`](super::TestHarness::script) registers one; build one yourself
/// for a dispatcher of your own. Delays run on the dispatcher's timer: without one, a
/// delayed step fails the call with a message saying so.
///
/// ```
/// use orchestrator_core::test_kit::{CallLog, Script, ScriptedExecutor};
/// use orchestrator_core::{Dispatcher, Job};
///
/// #[derive(Clone)]
/// struct Ping;
/// impl Job for Ping { type Output = (); }
///
/// let calls = CallLog::new();
/// let dispatcher = Dispatcher::new();
/// dispatcher.register(ScriptedExecutor::<Ping>::new(Script::new().ok(()), calls.clone()));
/// assert!(calls.is_empty());
/// ```
pub struct ScriptedExecutor<J: Job> {
    script: Mutex<Script<J::Output>>,
    log: CallLog,
    _job: PhantomData<fn() -> J>,
}

impl<J: Job> fmt::Debug for ScriptedExecutor<J> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScriptedExecutor")
            .field("steps_left", &self.script.lock().steps.len())
            .field("calls", &self.log.len())
            .finish()
    }
}

impl<J: Job> ScriptedExecutor<J> {
    /// An executor playing `script`, logging its calls into `log`.
    pub fn new(script: Script<J::Output>, log: CallLog) -> Self {
        Self { script: Mutex::new(script), log, _job: PhantomData }
    }

    /// The next step, or the fallback, or a failure saying the script ran out.
    fn next_step(&self, call: usize, ctx: &JobContext) -> Step<J::Output> {
        let mut script = self.script.lock();
        script.steps.pop_front().or_else(|| script.otherwise.clone()).unwrap_or_else(|| {
            Step::Err(JobError::msg(format!(
                "scripted executor of {}: no step left for call #{} (job {}, attempt {})",
                ctx.job_type(),
                call.saturating_add(1),
                ctx.id(),
                ctx.attempt()
            )))
        })
    }
}

impl<J: Job> Executor<J> for ScriptedExecutor<J> {
    async fn process(&self, _job: &J, ctx: &JobContext) -> Result<J::Output, JobError> {
        let call = self.log.record(ctx);
        let mut step = self.next_step(call, ctx);
        loop {
            match step {
                Step::Ok(output) => return Ok(output),
                Step::Err(error) => return Err(error),
                Step::Panic(message) => scripted_panic(&message),
                Step::Never => core::future::pending::<()>().await,
                Step::After(delay, then) => {
                    let Some(timer) = ctx.env.timer.clone() else {
                        return Err(JobError::msg("scripted executor: a delayed step needs a dispatcher with a timer"));
                    };
                    timer.sleep(delay).await;
                    step = *then;
                }
            }
        }
    }
}

/// The panic a script asked for.
#[allow(clippy::panic)] // the scripted outcome: the test wants the panic boundary exercised
fn scripted_panic(message: &str) -> ! {
    panic!("{message}")
}
