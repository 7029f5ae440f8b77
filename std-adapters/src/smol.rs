//! [smol] adapters: [`SmolRuntime`] (clock, timer, spawner) and ready-made
//! dispatchers.
//!
//! By default tasks go to smol's global executor (`smol::spawn`), which runs on its own
//! threads (`SMOL_THREADS`, default 1). To keep them on an executor of yours, use
//! [`SmolRuntime::with_executor`] and run that executor:
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use orchestrator_std::smol::SmolRuntime;
//! use orchestrator_std::{Executor, Job, JobBuilder, JobContext, JobError, JobResult};
//!
//! struct Ping;
//! impl Job for Ping { type Output = &'static str; }
//!
//! struct Pong;
//! impl Executor<Ping> for Pong {
//!     async fn process(&self, _: &Ping, _: &JobContext) -> Result<&'static str, JobError> {
//!         Ok("pong")
//!     }
//! }
//!
//! let executor = Arc::new(smol::Executor::new());
//! let dispatcher = SmolRuntime::with_executor(executor.clone()).dispatcher_builder().build().unwrap();
//! dispatcher.register(Pong);
//! let job = JobBuilder::new(Ping).timeout(Duration::from_secs(1));
//! let handle = dispatcher.dispatch(job).unwrap();
//! let result = smol::block_on(executor.run(handle));
//! assert!(matches!(result, JobResult::Success("pong")));
//! # dispatcher.shutdown();
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use ::smol::{Executor, Timer as SmolTimer};
use orchestrator_core::runtime::{Clock, Spawn, SpawnError, Timer};
use orchestrator_core::{BoxFuture, Dispatcher, DispatcherBuilder};

use crate::time::{self, Origin};

/// Clock, timer and spawner on smol.
///
/// * [`Clock`]: monotonic time elapsed since the adapter was created (clones share it).
/// * [`Timer`]: `smol::Timer` (async-io), which works on any executor. Durations of a
///   century or more (`Duration::MAX` included) sleep forever, without panicking.
/// * [`Spawn`]: detached tasks on the executor given to
///   [`with_executor`](Self::with_executor) (they run while you run it), or on smol's
///   global executor (`smol::spawn`). It always succeeds.
#[derive(Clone)]
pub struct SmolRuntime {
    origin: Origin,
    executor: Option<Arc<Executor<'static>>>,
}

impl fmt::Debug for SmolRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmolRuntime")
            .field("origin", &self.origin)
            .field("executor", &if self.executor.is_some() { "custom" } else { "global" })
            .finish()
    }
}

impl Default for SmolRuntime {
    fn default() -> Self {
        Self::new()
    }
}

impl SmolRuntime {
    /// An adapter that spawns on smol's global executor; its clock starts now.
    pub fn new() -> Self {
        Self { origin: Origin::now(), executor: None }
    }

    /// An adapter that spawns on `executor`. Its tasks (the dispatcher's runners) make
    /// progress only while that executor is run (`executor.run(..)`, possibly on several
    /// threads).
    pub fn with_executor(executor: Arc<Executor<'static>>) -> Self {
        Self { origin: Origin::now(), executor: Some(executor) }
    }

    /// The executor given to [`with_executor`](Self::with_executor), if any.
    pub fn executor(&self) -> Option<&Arc<Executor<'static>>> {
        self.executor.as_ref()
    }

    /// How many runners a dispatcher gets from
    /// [`dispatcher_builder`](Self::dispatcher_builder): the available parallelism, at
    /// most 4.
    pub fn default_runners(&self) -> usize {
        time::default_runners()
    }

    /// A [`DispatcherBuilder`] with this adapter as timer and spawner and
    /// [`default_runners`](Self::default_runners) runners. Add a bus, a logger or limits,
    /// then `build()` it.
    pub fn dispatcher_builder(&self) -> DispatcherBuilder {
        Dispatcher::builder().timer(self.clone()).spawner(self.clone()).runners(self.default_runners())
    }
}

impl Clock for SmolRuntime {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }
}

impl Timer for SmolRuntime {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        time::sleep_or_forever(duration, |duration| {
            let timer = SmolTimer::after(duration);
            async move {
                timer.await;
            }
        })
    }
}

impl Spawn for SmolRuntime {
    fn spawn(&self, task: BoxFuture<'static, ()>) -> Result<(), SpawnError> {
        match &self.executor {
            Some(executor) => executor.spawn(task).detach(),
            None => ::smol::spawn(task).detach(),
        }
        Ok(())
    }
}

/// A dispatcher on smol's global executor, with [`SmolRuntime`] as timer and spawner and
/// its runners already started (the available parallelism, at most 4).
///
/// # Errors
///
/// [`SpawnError`] if a runner cannot be spawned (smol never refuses today).
pub fn dispatcher() -> Result<Dispatcher, SpawnError> {
    dispatcher_builder().build()
}

/// A [`DispatcherBuilder`] pre-filled for smol's global executor (timer, spawner,
/// runners): add a bus, a logger or limits, then `build()` it. For an executor of yours,
/// see [`SmolRuntime::with_executor`].
pub fn dispatcher_builder() -> DispatcherBuilder {
    SmolRuntime::new().dispatcher_builder()
}
