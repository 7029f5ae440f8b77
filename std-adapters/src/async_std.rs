//! [async-std](::async_std) adapters: [`AsyncStdRuntime`] (clock, timer, spawner) and
//! ready-made dispatchers.
//!
//! ```
//! use std::time::Duration;
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
//! async_std::task::block_on(async {
//!     let dispatcher = orchestrator_std::async_std::dispatcher().unwrap();
//!     dispatcher.register(Pong);
//!     let job = JobBuilder::new(Ping).timeout(Duration::from_secs(1));
//!     assert!(matches!(dispatcher.dispatch(job).unwrap().await, JobResult::Success("pong")));
//!     dispatcher.shutdown();
//! });
//! ```

use std::time::Duration;

use orchestrator_core::runtime::{Clock, Spawn, SpawnError, Timer};
use orchestrator_core::{BoxFuture, Dispatcher, DispatcherBuilder};

use crate::time::{self, Origin};

/// Clock, timer and spawner on async-std's global executor.
///
/// * [`Clock`]: monotonic time elapsed since the adapter was created (clones share it).
/// * [`Timer`]: `async_std::task::sleep`. Durations of a century or more
///   (`Duration::MAX` included) sleep forever, without panicking.
/// * [`Spawn`]: `async_std::task::spawn` (detached); it always succeeds.
///
/// async-std starts its executor threads on first use: it works from any thread, inside
/// or outside `async_std::task::block_on`.
#[derive(Debug, Clone)]
pub struct AsyncStdRuntime {
    origin: Origin,
}

impl Default for AsyncStdRuntime {
    fn default() -> Self {
        Self::new()
    }
}

impl AsyncStdRuntime {
    /// A new adapter; its clock starts now.
    pub fn new() -> Self {
        Self { origin: Origin::now() }
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

impl Clock for AsyncStdRuntime {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }
}

impl Timer for AsyncStdRuntime {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        time::sleep_or_forever(duration, ::async_std::task::sleep)
    }
}

impl Spawn for AsyncStdRuntime {
    fn spawn(&self, task: BoxFuture<'static, ()>) -> Result<(), SpawnError> {
        // Dropping an async-std JoinHandle detaches the task.
        drop(::async_std::task::spawn(task));
        Ok(())
    }
}

/// A dispatcher on async-std, with [`AsyncStdRuntime`] as timer and spawner and its
/// runners already started (the available parallelism, at most 4).
///
/// # Errors
///
/// [`SpawnError`] if a runner cannot be spawned (async-std never refuses today).
pub fn dispatcher() -> Result<Dispatcher, SpawnError> {
    dispatcher_builder().build()
}

/// A [`DispatcherBuilder`] pre-filled for async-std (timer, spawner, runners): add a bus,
/// a logger or limits, then `build()` it.
pub fn dispatcher_builder() -> DispatcherBuilder {
    AsyncStdRuntime::new().dispatcher_builder()
}
