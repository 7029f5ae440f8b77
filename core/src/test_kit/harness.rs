//! [`TestHarness`]: a virtual clock, a dispatcher, its runner and orchestrator hosts,
//! owned together and driven phase by phase.

use crate::sync::Arc;
use crate::sync::atomic::{AtomicBool, Ordering};
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;
use core::future::Future;
use core::pin::{Pin, pin};
use core::task::{Context, Poll, Waker};
use core::time::Duration;

use futures_util::task::ArcWake;

use super::calls::{CallLog, Recorded};
use super::recorder::EventRecorder;
use super::run_error::RunError;
use super::scripted::{Script, ScriptedExecutor};
use crate::dispatcher::Dispatcher;
use crate::executor::Executor;
use crate::job::Job;
use crate::log::{Level, log_at};
use crate::orchestrator::{Orchestrator, OrchestratorBuilder, OrchestratorHandle, StartError};
use crate::runtime::{Clock, VirtualClock};

/// A task the harness owns and polls in every phase.
type Task = Pin<Box<dyn Future<Output = ()>>>;

/// Default of [`TestHarness::time_limit`]: one hour of virtual time.
pub const DEFAULT_TIME_LIMIT: Duration = Duration::from_secs(3600);

/// Default of [`TestHarness::poll_limit`]: rounds of polls without time moving.
pub const DEFAULT_POLL_LIMIT: usize = 100_000;

/// Records that a task was woken.
struct WakeFlag(AtomicBool);

impl ArcWake for WakeFlag {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        arc_self.0.store(true, Ordering::Release);
    }
}

/// Drives a dispatcher and its orchestrators on a [`VirtualClock`], one phase at a time.
///
/// It owns the clock, the dispatcher, the dispatcher's runner, every host started with
/// [`start`](Self::start) and every task given to [`spawn`](Self::spawn), and polls them
/// all in each phase: [`run_until_idle`](Self::run_until_idle) (no time passes),
/// [`advance`](Self::advance) (exactly that much virtual time passes, every sleep due on
/// the way ends), [`run_until`](Self::run_until) (until a condition, within a virtual-time
/// limit), [`block_on`](Self::block_on) (until a future is done) and
/// [`settle`](Self::settle) (until nothing is left to happen). Between phases nothing is
/// dropped, so a job running across phases is never abandoned. Dropping the harness (or
/// [`finish`](Self::finish)) shuts the hosts and the dispatcher down and runs what is left
/// to its end; what cannot end is logged at `Warning` (and `finish` returns it).
///
/// Everything its dispatcher emits is recorded ([`recorder`](Self::recorder)); every
/// state its hosts publish is kept ([`take_states`](Self::take_states)); executors
/// registered through it log their calls ([`register`](Self::register),
/// [`script`](Self::script)).
///
/// # Example: an orchestrator test
///
/// ```
/// use orchestrator_core::test_kit::{Script, TestHarness};
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
/// let mut h = TestHarness::new();
/// let calls = h.script::<Fetch>(Script::new().ok(2).ok(3));
/// let counter = h.start(Counter, 0).unwrap();
/// counter.try_send(()).unwrap();
/// counter.try_send(()).unwrap();
/// h.settle().unwrap();
/// assert_eq!(h.take_states(&counter), [2, 5]);
/// assert_eq!(calls.len(), 2);
/// ```
pub struct TestHarness {
    clock: VirtualClock,
    dispatcher: Dispatcher,
    recorder: EventRecorder,
    tasks: Vec<Task>,
    /// Shut the hosts down (each holds a handle of its host).
    closers: Vec<Box<dyn Fn()>>,
    flag: Arc<WakeFlag>,
    waker: Waker,
    time_limit: Duration,
    poll_limit: usize,
    finished: bool,
}

impl fmt::Debug for TestHarness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestHarness")
            .field("now", &self.clock.now())
            .field("tasks", &self.tasks.len())
            .field("dispatcher", &self.dispatcher)
            .field("recorder", &self.recorder)
            .finish_non_exhaustive()
    }
}

impl Default for TestHarness {
    fn default() -> Self {
        Self::new()
    }
}

impl TestHarness {
    /// A harness with a new virtual clock at zero and a dispatcher timed by it.
    pub fn new() -> Self {
        let clock = VirtualClock::new();
        // Without a spawner, building cannot fail.
        let dispatcher = Dispatcher::builder().timer(clock.clone()).build().unwrap_or_default();
        Self::from_dispatcher(clock, dispatcher)
    }

    /// A harness around a dispatcher you built (give it `clock` as its timer:
    /// `Dispatcher::builder().timer(clock.clone())`). The harness runs one runner of its
    /// own, and records the dispatcher's bus from now on (nothing, if it is closed).
    ///
    /// ```
    /// use orchestrator_core::Dispatcher;
    /// use orchestrator_core::runtime::VirtualClock;
    /// use orchestrator_core::test_kit::TestHarness;
    ///
    /// let clock = VirtualClock::new();
    /// let dispatcher = Dispatcher::builder().timer(clock.clone()).max_pending(8).build().unwrap();
    /// let harness = TestHarness::from_dispatcher(clock, dispatcher);
    /// # drop(harness);
    /// ```
    pub fn from_dispatcher(clock: VirtualClock, dispatcher: Dispatcher) -> Self {
        let recorder = EventRecorder::new(dispatcher.bus()).unwrap_or_else(|_| EventRecorder::closed());
        let flag = Arc::new(WakeFlag(AtomicBool::new(false)));
        let waker = futures_util::task::waker(flag.clone());
        let runner: Task = Box::pin(dispatcher.runner());
        Self {
            clock,
            dispatcher,
            recorder,
            tasks: alloc::vec![runner],
            closers: Vec::new(),
            flag,
            waker,
            time_limit: DEFAULT_TIME_LIMIT,
            poll_limit: DEFAULT_POLL_LIMIT,
            finished: false,
        }
    }

    /// The virtual-time limit of [`block_on`](Self::block_on), [`settle`](Self::settle)
    /// and [`finish`](Self::finish) (default [`DEFAULT_TIME_LIMIT`], one hour).
    #[must_use]
    pub fn time_limit(mut self, limit: Duration) -> Self {
        self.time_limit = limit;
        self
    }

    /// How many rounds of polls a phase makes at one virtual time before it reports a
    /// busy loop ([`RunError::Busy`]); default [`DEFAULT_POLL_LIMIT`]. At least 1.
    #[must_use]
    pub fn poll_limit(mut self, rounds: usize) -> Self {
        self.poll_limit = rounds.max(1);
        self
    }

    /// The virtual clock.
    pub fn clock(&self) -> &VirtualClock {
        &self.clock
    }

    /// The virtual time.
    pub fn now(&self) -> Duration {
        self.clock.now()
    }

    /// The dispatcher.
    pub fn dispatcher(&self) -> &Dispatcher {
        &self.dispatcher
    }

    /// The recorder of every event on the dispatcher's bus.
    pub fn recorder(&self) -> &EventRecorder {
        &self.recorder
    }

    /// Registers `executor` for jobs of type `J` (any executor, one made by
    /// [`executor_fn`](crate::executor_fn) included); returns the log of its calls.
    pub fn register<J: Job, E: Executor<J>>(&self, executor: E) -> CallLog {
        let log = CallLog::new();
        self.dispatcher.register::<J, _>(Recorded::new(executor, log.clone()));
        log
    }

    /// Registers a [`ScriptedExecutor`] playing `script` for jobs of type `J`; returns the
    /// log of its calls.
    pub fn script<J: Job>(&self, script: Script<J::Output>) -> CallLog {
        let log = CallLog::new();
        self.dispatcher.register(ScriptedExecutor::<J>::new(script, log.clone()));
        log
    }

    /// Starts `orchestrator` on the dispatcher in `initial_state`, with the default
    /// configuration; the harness owns and drives its host.
    ///
    /// # Errors
    ///
    /// [`StartError`] as [`OrchestratorBuilder::build`] gives it.
    pub fn start<O: Orchestrator>(
        &mut self,
        orchestrator: O,
        initial_state: O::State,
    ) -> Result<OrchestratorHandle<O>, StartError> {
        let builder = orchestrator.builder(initial_state, &self.dispatcher);
        self.start_with(builder)
    }

    /// Starts a host configured with `builder` (made with this harness's dispatcher);
    /// the harness owns and drives it.
    ///
    /// # Errors
    ///
    /// [`StartError`] as [`OrchestratorBuilder::build`] gives it.
    pub fn start_with<O: Orchestrator>(
        &mut self,
        builder: OrchestratorBuilder<O>,
    ) -> Result<OrchestratorHandle<O>, StartError> {
        let (host, handle) = builder.build()?;
        handle.shared.keep_history();
        self.tasks.push(Box::pin(host));
        let closer = handle.clone();
        self.closers.push(Box::new(move || {
            closer.shutdown();
        }));
        Ok(handle)
    }

    /// Every state the host of `handle` published since it was started here, or since the
    /// last call (the initial state is not one of them). Unlike a
    /// [`StateStream`](crate::StateStream), it skips none. Empty for a host the harness did
    /// not start.
    pub fn take_states<O: Orchestrator>(&self, handle: &OrchestratorHandle<O>) -> Vec<O::State> {
        handle.shared.take_history()
    }

    /// Gives the harness a task to poll in every phase (a script sending commands, a
    /// watcher, a second runner...).
    pub fn spawn(&mut self, task: impl Future<Output = ()> + 'static) {
        self.tasks.push(Box::pin(task));
    }

    /// Tasks still running (the runner, hosts, spawned tasks).
    pub fn tasks(&self) -> usize {
        self.tasks.len()
    }

    /// Polls everything until nothing is woken any more, without moving the time.
    ///
    /// # Errors
    ///
    /// [`RunError::Busy`] after [`poll_limit`](Self::poll_limit) rounds.
    pub fn run_until_idle(&mut self) -> Result<(), RunError> {
        self.idle(&mut |_, _| None::<()>).map(|_| ())
    }

    /// Moves the virtual time forward by `d`: every sleep due on the way ends at its own
    /// deadline, and everything runs until idle there; the time then stands at exactly
    /// `now + d`.
    ///
    /// # Errors
    ///
    /// [`RunError::Busy`] as [`run_until_idle`](Self::run_until_idle).
    pub fn advance(&mut self, d: Duration) -> Result<(), RunError> {
        let target = self.clock.now().saturating_add(d);
        loop {
            self.run_until_idle()?;
            match self.clock.next_deadline() {
                Some(next) if next <= target => {
                    self.clock.advance_to_next();
                }
                _ => break,
            }
        }
        self.clock.advance(target.saturating_sub(self.clock.now()));
        self.run_until_idle()
    }

    /// Runs, moving the virtual time to each next sleep deadline whenever everything is
    /// idle, until `condition` holds (checked after every round of polls).
    ///
    /// # Errors
    ///
    /// [`RunError::TimeLimit`] when `limit` of virtual time passed first (the time then
    /// stands at the limit), [`RunError::Stalled`] when nothing can happen any more,
    /// [`RunError::Busy`] on a busy loop. Each carries the recorded timeline.
    pub fn run_until(&mut self, limit: Duration, mut condition: impl FnMut(&Self) -> bool) -> Result<(), RunError> {
        self.drive(limit, &mut |h, _| condition(h).then_some(()))
    }

    /// Runs until `future` is done, with everything else; returns its output. The
    /// future may borrow locals: it is polled in place.
    ///
    /// # Errors
    ///
    /// As [`run_until`](Self::run_until), with [`time_limit`](Self::time_limit) as the
    /// limit.
    pub fn block_on<F: Future>(&mut self, future: F) -> Result<F::Output, RunError> {
        let mut future = pin!(future);
        let limit = self.time_limit;
        self.drive(limit, &mut |_, cx| match future.as_mut().poll(cx) {
            Poll::Ready(output) => Some(output),
            Poll::Pending => None,
        })
    }

    /// Runs until nothing is left to happen: everything idle and no virtual sleep
    /// pending (except ones that never end), within [`time_limit`](Self::time_limit).
    ///
    /// # Errors
    ///
    /// As [`run_until`](Self::run_until).
    pub fn settle(&mut self) -> Result<(), RunError> {
        let limit = self.time_limit;
        // Only once a round woke nothing: a dispatch in this round may start a sleep in
        // the next.
        self.run_until(limit, |h| !h.flag.0.load(Ordering::Acquire) && h.clock.next_deadline().is_none())
    }

    /// Shuts the hosts and the dispatcher down and runs until every task has ended (the
    /// hosts cancel their orchestrators' active jobs; other jobs run to their end),
    /// within [`time_limit`](Self::time_limit).
    ///
    /// # Errors
    ///
    /// As [`run_until`](Self::run_until): some task could not end.
    pub fn finish(mut self) -> Result<(), RunError> {
        self.wind_down()
    }

    fn wind_down(&mut self) -> Result<(), RunError> {
        self.finished = true;
        for close in &self.closers {
            close();
        }
        self.dispatcher.shutdown();
        let limit = self.time_limit;
        self.run_until(limit, |h| h.tasks.is_empty())
    }

    /// Polls every task (and `check`) round after round until no task was woken; returns
    /// what `check` found, if it found something.
    fn idle<R>(&mut self, check: &mut dyn FnMut(&Self, &mut Context<'_>) -> Option<R>) -> Result<Option<R>, RunError> {
        let waker = self.waker.clone();
        let mut cx = Context::from_waker(&waker);
        let mut rounds = 0_usize;
        loop {
            self.flag.0.store(false, Ordering::Release);
            self.tasks.retain_mut(|task| task.as_mut().poll(&mut cx).is_pending());
            self.recorder.sync();
            if let Some(found) = check(self, &mut cx) {
                return Ok(Some(found));
            }
            if !self.flag.0.load(Ordering::Acquire) {
                return Ok(None);
            }
            rounds = rounds.saturating_add(1);
            if rounds >= self.poll_limit {
                return Err(RunError::Busy { rounds, now: self.clock.now(), timeline: self.recorder.timeline() });
            }
        }
    }

    /// Runs until `check` finds something, moving the time whenever everything is idle.
    fn drive<R>(
        &mut self,
        limit: Duration,
        check: &mut dyn FnMut(&Self, &mut Context<'_>) -> Option<R>,
    ) -> Result<R, RunError> {
        let deadline = self.clock.now().saturating_add(limit);
        loop {
            if let Some(found) = self.idle(check)? {
                return Ok(found);
            }
            let now = self.clock.now();
            match self.clock.next_deadline() {
                None => return Err(RunError::Stalled { now, timeline: self.recorder.timeline() }),
                Some(next) if next > deadline => {
                    // Stop at the limit, not past it, and look one last time.
                    self.clock.advance(deadline.saturating_sub(now));
                    return match self.idle(check)? {
                        Some(found) => Ok(found),
                        None => Err(RunError::TimeLimit { limit, now: deadline, timeline: self.recorder.timeline() }),
                    };
                }
                Some(_) => {
                    self.clock.advance_to_next();
                }
            }
        }
    }
}

impl Drop for TestHarness {
    /// Runs what is left to its end, so that no job is silently abandoned; what cannot
    /// end is logged. Skipped while a test is already panicking.
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        #[cfg(feature = "std")]
        if std::thread::panicking() {
            return;
        }
        if let Err(error) = self.wind_down() {
            let left = self.tasks.len();
            let stats = self.dispatcher.stats();
            log_at!(
                *self.dispatcher.logger(),
                Level::Warning,
                "test harness dropped: {left} tasks could not end ({} jobs still pending): {error}",
                stats.pending
            );
        }
    }
}
