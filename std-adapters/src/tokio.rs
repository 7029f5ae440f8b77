//! [tokio] adapters: [`TokioRuntime`] (clock, timer, spawner), ready-made dispatchers,
//! and [`TokioBroadcast`], tokio's `broadcast` channel under a bus.
//!
//! ```
//! use std::time::Duration;
//! use orchestrator_std::{Executor, Job, JobBuilder, JobContext, JobError, JobResult, RetryPolicy};
//!
//! struct Resize { width: u32 }
//! impl Job for Resize { type Output = u32; }
//!
//! struct Resizer;
//! impl Executor<Resize> for Resizer {
//!     async fn process(&self, job: &Resize, ctx: &JobContext) -> Result<u32, JobError> {
//!         let _ = ctx.progress(0.5);
//!         Ok(job.width / 2)
//!     }
//! }
//!
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() {
//!     let dispatcher = orchestrator_std::tokio::dispatcher_builder()
//!         .max_pending(1_000) // add a bus, a logger, limits...
//!         .build()
//!         .expect("inside a tokio runtime");
//!     dispatcher.register(Resizer);
//!
//!     let job = JobBuilder::new(Resize { width: 640 })
//!         .timeout(Duration::from_secs(1))
//!         .retry(RetryPolicy::new().with_max_retries(3).with_base_delay(Duration::from_millis(10)));
//!     let handle = dispatcher.dispatch(job).expect("Resizer is registered");
//!     assert!(matches!(handle.await, JobResult::Success(320)));
//!
//!     dispatcher.shutdown();
//! }
//! ```
//!
//! Outside any runtime, give the adapter a [`Handle`] with [`TokioRuntime::with_handle`]:
//!
//! ```
//! use orchestrator_std::tokio::TokioRuntime;
//!
//! let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_time().build().unwrap();
//! let dispatcher = TokioRuntime::with_handle(runtime.handle().clone()).dispatcher_builder().build().unwrap();
//! assert_eq!(dispatcher.stats().runners, 2);
//! # dispatcher.shutdown();
//! ```

use std::fmt;
use std::time::Duration;

use ::tokio::runtime::{Handle, RuntimeFlavor};
use orchestrator_core::runtime::{Clock, Spawn, SpawnError, Timer};
use orchestrator_core::{BoxFuture, Dispatcher, DispatcherBuilder};

use crate::time::{self, Origin};

mod broadcast;

pub use broadcast::{TokioBroadcast, TokioBroadcastReceiver};

/// Clock, timer and spawner on tokio.
///
/// * [`Clock`]: monotonic time elapsed since the adapter was created (clones share it).
/// * [`Timer`]: `tokio::time` sleeps. Durations of a century or more (`Duration::MAX`
///   included) sleep forever, without panicking.
/// * [`Spawn`]: on the runtime whose [`Handle`] was captured at creation (the current one
///   in [`new`](Self::new), or the one given to [`with_handle`](Self::with_handle)), or, if
///   there was none, the runtime current at the time of spawning. With neither, spawning
///   returns [`SpawnError`]; it never panics. (A runtime that has already shut down accepts
///   and drops the task, as tokio does.)
///
/// The runtime must have its time driver enabled (`#[tokio::main]` and `#[tokio::test]`
/// do; a hand-built runtime needs `enable_time()` or `enable_all()`).
#[derive(Clone)]
pub struct TokioRuntime {
    origin: Origin,
    handle: Option<Handle>,
}

impl fmt::Debug for TokioRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokioRuntime")
            .field("origin", &self.origin)
            .field("runtime", &self.handle.as_ref().map(Handle::runtime_flavor))
            .finish()
    }
}

impl Default for TokioRuntime {
    fn default() -> Self {
        Self::new()
    }
}

impl TokioRuntime {
    /// An adapter bound to the current tokio runtime, if called inside one; otherwise to
    /// whichever runtime is current when it spawns or sleeps. Never panics.
    pub fn new() -> Self {
        Self { origin: Origin::now(), handle: Handle::try_current().ok() }
    }

    /// An adapter bound to the runtime of `handle`: it can be used (spawn, sleep) from
    /// any thread, inside or outside a runtime.
    pub fn with_handle(handle: Handle) -> Self {
        Self { origin: Origin::now(), handle: Some(handle) }
    }

    /// The runtime this adapter is bound to, if any.
    pub fn handle(&self) -> Option<&Handle> {
        self.handle.as_ref()
    }

    /// The handle to use now: the bound one, else the current one.
    fn resolve(&self) -> Option<Handle> {
        self.handle.clone().or_else(|| Handle::try_current().ok())
    }

    /// How many runners a dispatcher on this runtime gets from
    /// [`dispatcher_builder`](Self::dispatcher_builder): 1 on a current-thread runtime
    /// (or when there is no runtime yet), otherwise the number of worker threads, at most
    /// the available parallelism and at most 4.
    pub fn default_runners(&self) -> usize {
        match self.resolve() {
            Some(handle) => match handle.runtime_flavor() {
                RuntimeFlavor::CurrentThread => 1,
                _ => handle.metrics().num_workers().clamp(1, time::default_runners()),
            },
            None => 1,
        }
    }

    /// A [`DispatcherBuilder`] with this adapter as timer and spawner and
    /// [`default_runners`](Self::default_runners) runners. Add a bus, a logger or limits,
    /// then `build()` it.
    pub fn dispatcher_builder(&self) -> DispatcherBuilder {
        Dispatcher::builder().timer(self.clone()).spawner(self.clone()).runners(self.default_runners())
    }
}

impl Clock for TokioRuntime {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }
}

impl Timer for TokioRuntime {
    /// A `tokio::time::sleep`, registered on the bound runtime when there is one (so the
    /// future may be polled anywhere while that runtime runs), otherwise on the runtime
    /// current when it is first polled.
    ///
    /// # Panics
    ///
    /// Like `tokio::time::sleep`, when first polled with no bound runtime and outside any
    /// tokio runtime, on a runtime whose time driver is disabled, or after the runtime has
    /// shut down.
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        let handle = self.resolve();
        time::sleep_or_forever(duration, move |duration| {
            // Created (and so bound to a timer driver) inside `handle`'s context when there
            // is one; otherwise lazily, on the first poll.
            let sleep = handle.map(|handle| {
                let _entered = handle.enter();
                ::tokio::time::sleep(duration)
            });
            async move {
                match sleep {
                    Some(sleep) => sleep.await,
                    None => ::tokio::time::sleep(duration).await,
                }
            }
        })
    }
}

impl Spawn for TokioRuntime {
    fn spawn(&self, task: BoxFuture<'static, ()>) -> Result<(), SpawnError> {
        let handle = self.resolve().ok_or(SpawnError)?;
        // Dropping the JoinHandle detaches the task.
        drop(handle.spawn(task));
        Ok(())
    }
}

/// A dispatcher on the current tokio runtime, with [`TokioRuntime`] as timer and spawner
/// and its runners already started (1 on a current-thread runtime, else one per worker
/// thread, at most the available parallelism and at most 4).
///
/// # Errors
///
/// [`SpawnError`] when called outside a tokio runtime (it does not panic). Use
/// [`TokioRuntime::with_handle`] there.
pub fn dispatcher() -> Result<Dispatcher, SpawnError> {
    dispatcher_builder().build()
}

/// A [`DispatcherBuilder`] pre-filled for the current tokio runtime (timer, spawner,
/// runners): add a bus, a logger or limits, then `build()` it. See
/// [`TokioRuntime::dispatcher_builder`].
pub fn dispatcher_builder() -> DispatcherBuilder {
    TokioRuntime::new().dispatcher_builder()
}
