//! The catalogue: every scenario is a function generic over [`Runtime`], run once per
//! runtime by [`conformance_suite!`](crate::conformance_suite).
//!
//! Scenarios never assert on elapsed wall-clock time. Real durations are short and only
//! used where the outcome cannot depend on a race: a 20 ms timeout against work that
//! sleeps forever, a 1 ms retry back-off. To know that something has happened, they wait
//! for a fact (a [`Latch`], an event, the dispatcher's counters); to know that nothing
//! *else* happens, they wait until every job future is gone
//! ([`settle`](crate::util::settle)) and then read the bus up to a marker event
//! ([`Recorder::collect`]).
//!
//! On the virtual-time runtime some scenarios also check the clock's exact readings.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use orchestrator_core::runtime::Timer;
use orchestrator_core::{Dispatcher, Executor, Job, JobContext, JobError};

use crate::runtime::Runtime;
use crate::util::{Latch, Recorder};

mod cache;
mod cancel;
mod events;
mod flow;
mod handle;
mod input;
mod isolation;
mod load;
mod orchestrator;
mod shapes;

pub use cache::*;
pub use cancel::*;
pub use events::*;
pub use flow::*;
pub use handle::*;
pub use input::*;
pub use isolation::*;
pub use load::*;
pub use orchestrator::*;
pub use shapes::*;

/// A scripted job: it fails its first `fail_first` attempts (counted per executor), and
/// each attempt first waits as `wait` says.
#[derive(Clone, Debug)]
pub struct Work {
    /// Attempts (by executor call count) that fail before one succeeds.
    pub fail_first: u32,
    /// What each attempt waits for before returning.
    pub wait: Wait,
}

/// What an attempt of [`Work`] waits for.
#[derive(Clone, Debug)]
pub enum Wait {
    /// Nothing: it returns at once.
    Nothing,
    /// A sleep on the runtime's timer.
    Sleep(Duration),
    /// A sleep of `Duration::MAX` on the runtime's timer: never ends.
    Forever,
    /// Until the latch is opened.
    Latch(Latch),
}

impl Work {
    /// Succeeds at once (after `fail_first` failures).
    pub fn quick(fail_first: u32) -> Self {
        Self { fail_first, wait: Wait::Nothing }
    }

    /// Always fails, at once.
    pub fn failing() -> Self {
        Self::quick(u32::MAX)
    }

    /// Never ends by itself.
    pub fn forever() -> Self {
        Self { fail_first: 0, wait: Wait::Forever }
    }

    /// Succeeds once `latch` is open.
    pub fn gated(latch: &Latch) -> Self {
        Self { fail_first: 0, wait: Wait::Latch(latch.clone()) }
    }
}

impl Job for Work {
    type Output = u32;
}

/// What the [`Work`] executor saw.
#[derive(Debug, Default)]
pub struct Probe {
    /// Attempts started.
    pub calls: AtomicU32,
    /// Attempts whose future was dropped before it returned.
    pub dropped_unfinished: AtomicU32,
    /// Attempts that returned.
    pub returned: AtomicU32,
    /// Opened when an attempt starts (after its drop guard is armed).
    pub entered: Latch,
}

impl Probe {
    /// Attempts started.
    pub fn calls(&self) -> u32 {
        self.calls.load(Ordering::SeqCst)
    }

    /// Attempts dropped before they returned.
    pub fn dropped(&self) -> u32 {
        self.dropped_unfinished.load(Ordering::SeqCst)
    }
}

/// Counts the attempts of [`Work`] that were dropped half-way.
struct DropGuard {
    probe: Arc<Probe>,
    finished: bool,
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        if !self.finished {
            self.probe.dropped_unfinished.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// The executor of [`Work`].
pub struct WorkExecutor {
    timer: Arc<dyn Timer>,
    probe: Arc<Probe>,
}

impl std::fmt::Debug for WorkExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkExecutor").field("probe", &self.probe).finish_non_exhaustive()
    }
}

impl Executor<Work> for WorkExecutor {
    async fn process(&self, job: &Work, _ctx: &JobContext) -> Result<u32, JobError> {
        let call = self.probe.calls.fetch_add(1, Ordering::SeqCst);
        let mut guard = DropGuard { probe: self.probe.clone(), finished: false };
        self.probe.entered.open();
        match &job.wait {
            Wait::Nothing => {}
            Wait::Sleep(d) => self.timer.sleep(*d).await,
            Wait::Forever => self.timer.sleep(Duration::MAX).await,
            Wait::Latch(latch) => latch.wait().await,
        }
        guard.finished = true;
        self.probe.returned.fetch_add(1, Ordering::SeqCst);
        if call < job.fail_first { Err(JobError::msg(format!("attempt {call} failed"))) } else { Ok(call) }
    }
}

/// A dispatcher of `rt` with the [`Work`] executor registered, its probe, and a recorder
/// of its bus.
pub fn setup<R: Runtime>(rt: &R) -> (Dispatcher, Arc<Probe>, Recorder) {
    let dispatcher = rt.dispatcher();
    let probe = register_work(rt, &dispatcher);
    let recorder = Recorder::new(dispatcher.bus());
    (dispatcher, probe, recorder)
}

/// Registers a [`Work`] executor on `dispatcher`, returning its probe.
pub fn register_work<R: Runtime>(rt: &R, dispatcher: &Dispatcher) -> Arc<Probe> {
    let probe = Arc::new(Probe::default());
    dispatcher.register(WorkExecutor { timer: rt.timer(), probe: probe.clone() });
    probe
}
