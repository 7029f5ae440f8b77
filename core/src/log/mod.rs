//! A small logging facade: a [`Logger`] trait with levels, and its implementations.
//!
//! A [`Dispatcher`](crate::Dispatcher) not given a logger uses the [`DefaultLogger`]: with
//! `std`, warnings and errors reach standard error (or `tracing` / `log` when their
//! feature is on); without `std`, nothing is logged. To turn logging off, give the builder
//! [`NoopLogger`]:
//!
//! ```
//! use orchestrator_core::Dispatcher;
//! use orchestrator_core::log::{Level, NoopLogger};
//!
//! let quiet = Dispatcher::builder().logger(NoopLogger).build().unwrap();
//! assert!(!quiet.logger().enabled(Level::Error));
//! ```
//!
//! | type | feature | does |
//! | --- | --- | --- |
//! | [`DefaultLogger`] | | one of the below, by features |
//! | [`NoopLogger`] | | nothing |
//! | `StderrLogger` | `std` | `[LEVEL] message` lines on standard error |
//! | `TracingLogger` | `tracing` | `tracing` events with target [`TARGET`] |
//! | `LogLogger` | `log` | `log` records with target [`TARGET`] |
//!
//! With `std`, a logger given to a builder is wrapped so that a panic inside it (or in the
//! formatting of a message) is caught: a logger never takes a job or an orchestrator down.
//!
//! ## `--cfg orchestrator_no_log`: no log messages at all
//!
//! The messages are formatted only when a logger is enabled, but their formatting code is
//! linked in either way, since the logger is chosen at run time. On a microcontroller
//! with no logger that is flash spent for nothing: about 27 KB of `core::fmt` and float
//! formatting on a Cortex-M4 (docs/portability.md). Whoever builds the final binary can
//! set `--cfg orchestrator_no_log` (in its `.cargo/config.toml`: `rustflags = ["--cfg",
//! "orchestrator_no_log"]`): the core then never calls a logger, and loggers given to
//! builders receive nothing. Everything a log line reports is still an event, a typed
//! result or a counter in the stats. It is a cfg rather than a feature for the same reason
//! as `orchestrator_unsync`: a feature could be turned on by any crate in the graph,
//! silencing logs that the application relies on.

use core::fmt;

mod default;
#[cfg(feature = "log")]
mod log_bridge;
mod noop;
mod shield;
#[cfg(feature = "std")]
mod stderr;
#[cfg(feature = "tracing")]
mod tracing_bridge;

pub use self::default::DefaultLogger;
pub(crate) use self::default::default_logger;
#[cfg(feature = "log")]
#[cfg_attr(docsrs, doc(cfg(feature = "log")))]
pub use self::log_bridge::LogLogger;
pub use self::noop::NoopLogger;
pub(crate) use self::shield::shielded;
#[cfg(feature = "std")]
#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
pub use self::stderr::StderrLogger;
#[cfg(feature = "tracing")]
#[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
pub use self::tracing_bridge::TracingLogger;

/// Severity, ordered `Debug < Info < Warning < Error`.
///
/// ```
/// use orchestrator_core::log::Level;
/// assert!(Level::Debug < Level::Info && Level::Info < Level::Warning && Level::Warning < Level::Error);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Start and success of jobs, cache hits, an orchestrator's dispatches.
    Debug,
    /// Cancelled jobs, an orchestrator's end. (Retries are not logged: they are
    /// [`Retrying`](crate::EventKind::Retrying) events.)
    Info,
    /// Timeouts, cache read and write errors, chains of events stopped by loop
    /// protection, circuit-breaker trips, an orchestrator that fell behind its bus, retries
    /// refused by a retry budget.
    Warning,
    /// Failed jobs (retries exhausted or not retried, panics in executors included),
    /// panics in hooks and command handlers.
    Error,
}

/// Receives the library's log lines.
///
/// ```
/// use orchestrator_core::log::{Level, Logger};
/// struct Stderr;
/// impl Logger for Stderr {
///     fn enabled(&self, level: Level) -> bool { level >= Level::Info }
///     fn log(&self, level: Level, message: core::fmt::Arguments<'_>) {
///         # let _ = (level, message);
///         // eprintln!("[{level:?}] {message}");
///     }
/// }
/// ```
pub trait Logger: crate::MaybeSend + crate::MaybeSync {
    /// Whether lines of `level` are wanted (checked before formatting anything).
    fn enabled(&self, level: Level) -> bool;
    /// Records one line.
    fn log(&self, level: Level, message: fmt::Arguments<'_>);
}

/// The target of the events and records sent by `TracingLogger` and `LogLogger`, for
/// filtering (`RUST_LOG=orchestrator=debug`, a `tracing` `Targets` filter).
///
/// ```
/// assert_eq!(orchestrator_core::log::TARGET, "orchestrator");
/// ```
pub const TARGET: &str = "orchestrator";

/// The upper-case name of `level`: `DEBUG`, `INFO`, `WARNING` or `ERROR`.
///
/// ```
/// use orchestrator_core::log::{Level, level_name};
/// assert_eq!(level_name(Level::Warning), "WARNING");
/// ```
pub fn level_name(level: Level) -> &'static str {
    match level {
        Level::Debug => "DEBUG",
        Level::Info => "INFO",
        Level::Warning => "WARNING",
        Level::Error => "ERROR",
    }
}

/// Logs through `logger` when `level` is enabled, formatting lazily.
macro_rules! log_at {
    ($logger:expr, $level:expr, $($arg:tt)+) => {{
        let logger: &dyn $crate::log::Logger = &*$logger;
        // Under `--cfg orchestrator_no_log` the condition is a constant `false`, so the
        // message's formatting code (and with it most of `core::fmt`) is never linked in.
        if !cfg!(orchestrator_no_log) && logger.enabled($level) {
            logger.log($level, format_args!($($arg)+));
        }
    }};
}
pub(crate) use log_at;
