//! The only doors to the outside world: a monotonic [`Clock`], a [`Timer`] and a
//! [`Spawn`]er. Everything time-based in the crate takes them as parameters, never a global.
//!
//! `orchestrator-std` implements them for tokio, async-std and smol. On embedded targets
//! or in the browser, implement them yourself (a few lines each), or use no spawner at all
//! and drive jobs with [`Dispatcher::runner`](crate::Dispatcher::runner).

use core::fmt;
use core::time::Duration;

use crate::sync::{BoxFuture, MaybeSend, MaybeSync};

#[cfg(feature = "test-util")]
mod virtual_clock;
#[cfg(feature = "test-util")]
#[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
pub use virtual_clock::{Sleep as VirtualSleep, Stalled, VirtualClock, run_virtual};

/// A monotonic clock.
///
/// `now` is the time elapsed since an arbitrary, fixed origin (the clock's creation, the
/// boot of the device, ...). It must never go backwards.
pub trait Clock: MaybeSend + MaybeSync {
    /// Time elapsed since the clock's origin.
    fn now(&self) -> Duration;
}

/// A timer: a [`Clock`] that can also sleep.
///
/// # Example: a timer for an embedded runtime
///
/// ```
/// use core::time::Duration;
/// use orchestrator_core::runtime::{Clock, Timer};
/// use orchestrator_core::BoxFuture;
///
/// struct MyTimer;
/// impl Clock for MyTimer {
///     fn now(&self) -> Duration { Duration::ZERO /* read a hardware counter */ }
/// }
/// impl Timer for MyTimer {
///     fn sleep(&self, _d: Duration) -> BoxFuture<'static, ()> {
///         Box::pin(async { /* await the runtime's timer */ })
///     }
/// }
/// ```
pub trait Timer: Clock {
    /// A future that completes once `duration` has elapsed on this timer's clock.
    ///
    /// Implementations must not panic for any duration, `Duration::MAX` included: a
    /// duration too large to represent sleeps "forever".
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()>;
}

/// Spawns `'static` background tasks on a runtime.
pub trait Spawn: MaybeSend + MaybeSync {
    /// Starts `task` in the background.
    ///
    /// # Errors
    ///
    /// [`SpawnError`] when the runtime cannot accept the task (for example it is shutting
    /// down).
    fn spawn(&self, task: BoxFuture<'static, ()>) -> Result<(), SpawnError>;
}

/// A runtime refused a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpawnError;

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the runtime refused to spawn a task")
    }
}

impl core::error::Error for SpawnError {}

crate::error::job_error_from!(SpawnError);
