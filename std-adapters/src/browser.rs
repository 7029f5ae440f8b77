//! Browser adapters (`wasm32-unknown-unknown` with wasm-bindgen): [`BrowserRuntime`]
//! (clock, timer, spawner), [`ConsoleLogger`] (the developer console) and ready-made
//! dispatchers.
//!
//! On `wasm32` the core's `MaybeSend` / `MaybeSync` bounds are empty, so executors may
//! hold `Rc`s, `RefCell`s and JavaScript values (a `JsFuture`) across `.await`, and
//! everything runs on the page's (or the worker's) event loop.
//!
//! ```no_run
//! use std::rc::Rc;
//! use std::time::Duration;
//! use orchestrator_std::browser::{self, BrowserRuntime};
//! use orchestrator_std::runtime::Timer;
//! use orchestrator_std::{Executor, Job, JobBuilder, JobContext, JobError, JobResult};
//!
//! struct Ping;
//! impl Job for Ping { type Output = usize; }
//!
//! /// Holds an `Rc` across an `.await`: not `Send`, fine in the browser.
//! struct Pong { shared: Rc<()>, timer: BrowserRuntime }
//! impl Executor<Ping> for Pong {
//!     async fn process(&self, _: &Ping, _: &JobContext) -> Result<usize, JobError> {
//!         let shared = Rc::clone(&self.shared);
//!         self.timer.sleep(Duration::from_millis(10)).await; // a `setTimeout`
//!         Ok(Rc::strong_count(&shared))
//!     }
//! }
//!
//! wasm_bindgen_futures::spawn_local(async {
//!     // Its runner is already spawned with `spawn_local`.
//!     let dispatcher = browser::dispatcher().expect("spawn_local never refuses");
//!     dispatcher.register(Pong { shared: Rc::new(()), timer: BrowserRuntime::new() });
//!     let job = JobBuilder::new(Ping).timeout(Duration::from_secs(1));
//!     let result = dispatcher.dispatch(job).expect("Pong is registered").await;
//!     assert!(matches!(result, JobResult::Success(2)));
//! });
//! ```

use std::cell::Cell;
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use gloo_timers::future::TimeoutFuture;
use orchestrator_core::log::{Level, Logger, level_name};
use orchestrator_core::runtime::{Clock, Spawn, SpawnError, Timer};
use orchestrator_core::{BoxFuture, Dispatcher, DispatcherBuilder};
use wasm_bindgen::{JsCast, JsValue};

use crate::time::FOREVER;

/// The longest delay `setTimeout` honours: browsers store it in a signed 32-bit integer
/// and fire at once on anything larger, so longer sleeps wait in chunks of this.
const MAX_TIMEOUT_MS: u32 = i32::MAX as u32;

/// Clock, timer and spawner for the browser (and web workers).
///
/// * [`Clock`]: `performance.now()`, as time elapsed since the adapter was created
///   (clones share the origin). Where there is no `performance` object, `Date.now()`,
///   held monotonic (it never goes backwards, even if the system clock does).
/// * [`Timer`]: `setTimeout` (through `gloo-timers`), cleared when the sleep is dropped
///   (a timeout that did not fire leaves no timer behind). A sleep never ends early by
///   this clock: sub-millisecond remainders round up, and delays beyond `setTimeout`'s
///   limit (about 24.8 days) are waited in chunks. Durations of a century or more
///   (`Duration::MAX` included) sleep forever, without panicking.
/// * [`Spawn`]: `wasm_bindgen_futures::spawn_local`, on the current thread's event loop.
///   It always succeeds; tasks need not be `Send`.
#[derive(Clone)]
pub struct BrowserRuntime {
    source: TimeSource,
    /// The source's reading when the adapter was created, in milliseconds.
    origin_ms: f64,
}

/// Where the milliseconds come from.
#[derive(Clone)]
enum TimeSource {
    Performance(web_sys::Performance),
    /// `Date.now()` and the highest value read so far (shared by clones).
    Date(Rc<Cell<f64>>),
}

impl TimeSource {
    fn detect() -> Self {
        // `globalThis.performance` exists in windows and workers alike (`web_sys::window()`
        // would miss workers).
        let performance = js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("performance"))
            .ok()
            .and_then(|value| value.dyn_into::<web_sys::Performance>().ok());
        match performance {
            Some(performance) => Self::Performance(performance),
            None => Self::Date(Rc::new(Cell::new(js_sys::Date::now()))),
        }
    }

    fn now_ms(&self) -> f64 {
        match self {
            Self::Performance(performance) => performance.now(),
            Self::Date(highest) => {
                let now = js_sys::Date::now().max(highest.get());
                highest.set(now);
                now
            }
        }
    }
}

impl fmt::Debug for BrowserRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let source = match self.source {
            TimeSource::Performance(_) => "performance.now()",
            TimeSource::Date(_) => "Date.now()",
        };
        f.debug_struct("BrowserRuntime").field("clock", &source).field("origin_ms", &self.origin_ms).finish()
    }
}

impl Default for BrowserRuntime {
    fn default() -> Self {
        Self::new()
    }
}

impl BrowserRuntime {
    /// An adapter whose clock starts now. Never panics.
    pub fn new() -> Self {
        let source = TimeSource::detect();
        let origin_ms = source.now_ms();
        Self { source, origin_ms }
    }

    /// How many runners a dispatcher gets from
    /// [`dispatcher_builder`](Self::dispatcher_builder): 1, as there is one thread. (A
    /// runner polls many jobs at once; more runners on one thread add nothing.)
    pub fn default_runners(&self) -> usize {
        1
    }

    /// A [`DispatcherBuilder`] with this adapter as timer and spawner, one runner, and
    /// (unless the `tracing` or `log` feature provides the default logger) a
    /// [`ConsoleLogger`] at [`Level::Warning`]: `std`'s standard error, where the default
    /// logger writes elsewhere, goes nowhere in a browser. Add a bus, a logger or limits,
    /// then `build()` it.
    pub fn dispatcher_builder(&self) -> DispatcherBuilder {
        let builder = Dispatcher::builder().timer(self.clone()).spawner(self.clone()).runners(self.default_runners());
        if cfg!(any(feature = "tracing", feature = "log")) { builder } else { builder.logger(ConsoleLogger::default()) }
    }
}

impl Clock for BrowserRuntime {
    fn now(&self) -> Duration {
        let elapsed_ms = (self.source.now_ms() - self.origin_ms).max(0.0);
        // NaN (no usable reading) and absurd values read as zero rather than panicking.
        Duration::try_from_secs_f64(elapsed_ms / 1000.0).unwrap_or(Duration::ZERO)
    }
}

impl Timer for BrowserRuntime {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        if duration >= FOREVER {
            return Box::pin(std::future::pending());
        }
        let clock = self.clone();
        let deadline = self.now().saturating_add(duration);
        Box::pin(async move {
            // `setTimeout` may fire a little early by `performance.now()`, and waits at
            // most `MAX_TIMEOUT_MS`: wait again until the deadline has really passed.
            loop {
                let remaining = deadline.saturating_sub(clock.now());
                if remaining.is_zero() {
                    break;
                }
                TimeoutFuture::new(timeout_ms(remaining)).await;
            }
        })
    }
}

/// `remaining` as a `setTimeout` delay: rounded up to whole milliseconds, at least 1 and
/// at most [`MAX_TIMEOUT_MS`].
fn timeout_ms(remaining: Duration) -> u32 {
    let ms = remaining.as_micros().div_ceil(1000).max(1);
    u32::try_from(ms).map_or(MAX_TIMEOUT_MS, |ms| ms.min(MAX_TIMEOUT_MS))
}

/// A [`Logger`] for the browser: `[LEVEL] message` lines on the developer console
/// (`console.error` for errors, `console.warn` for warnings, `console.info`, `console.debug`),
/// for levels at or above a minimum. `std`'s standard error goes nowhere in the browser, so
/// [`dispatcher_builder`](BrowserRuntime::dispatcher_builder) gives dispatchers this logger at
/// [`Level::Warning`] (the level of `StderrLogger`, the default logger elsewhere), unless the
/// `tracing` or `log` feature makes theirs the default.
///
/// ```no_run
/// use orchestrator_std::browser::ConsoleLogger;
/// use orchestrator_std::log::{Level, Logger};
///
/// let logger = ConsoleLogger::new(Level::Info);
/// assert!(logger.enabled(Level::Warning) && !logger.enabled(Level::Debug));
/// let dispatcher = orchestrator_std::browser::dispatcher_builder().logger(logger).build();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsoleLogger {
    min_level: Level,
}

impl Default for ConsoleLogger {
    /// Logs [`Level::Warning`] and above.
    fn default() -> Self {
        Self::new(Level::Warning)
    }
}

impl ConsoleLogger {
    /// Logs `min_level` and above.
    pub const fn new(min_level: Level) -> Self {
        Self { min_level }
    }
}

impl Logger for ConsoleLogger {
    fn enabled(&self, level: Level) -> bool {
        level >= self.min_level
    }

    fn log(&self, level: Level, message: fmt::Arguments<'_>) {
        if !self.enabled(level) {
            return;
        }
        let line = JsValue::from_str(&format!("[{}] {message}", level_name(level)));
        match level {
            Level::Error => web_sys::console::error_1(&line),
            Level::Warning => web_sys::console::warn_1(&line),
            Level::Info => web_sys::console::info_1(&line),
            Level::Debug => web_sys::console::debug_1(&line),
        }
    }
}

impl Spawn for BrowserRuntime {
    fn spawn(&self, task: BoxFuture<'static, ()>) -> Result<(), SpawnError> {
        wasm_bindgen_futures::spawn_local(task);
        Ok(())
    }
}

/// A dispatcher with [`BrowserRuntime`] as timer and spawner and its runner already
/// started with `spawn_local`.
///
/// # Errors
///
/// [`SpawnError`] if the runner cannot be spawned (`spawn_local` never refuses today).
pub fn dispatcher() -> Result<Dispatcher, SpawnError> {
    dispatcher_builder().build()
}

/// A [`DispatcherBuilder`] pre-filled for the browser (timer, spawner, one runner): add a
/// bus, a logger or limits, then `build()` it. See [`BrowserRuntime::dispatcher_builder`].
pub fn dispatcher_builder() -> DispatcherBuilder {
    BrowserRuntime::new().dispatcher_builder()
}
