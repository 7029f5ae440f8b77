//! A small logging facade: a [`Logger`] trait with levels and a no-op default.
//! `orchestrator-std` bridges it to `tracing` and `log`.

use core::fmt;

/// Severity, ordered `Debug < Info < Warning < Error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Start and success of jobs, cache hits, an orchestrator's dispatches.
    Debug,
    /// Cancelled jobs, an orchestrator's end. (Retries are not logged: they are
    /// [`Retrying`](crate::EventKind::Retrying) events.)
    Info,
    /// Timeouts, cache read and write errors, retries refused by a
    /// [`RetryBudget`](crate::RetryBudget), circuit-breaker trips, an orchestrator that
    /// fell behind its bus or has no clock.
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

/// Discards everything (the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopLogger;

impl Logger for NoopLogger {
    fn enabled(&self, _level: Level) -> bool {
        false
    }
    fn log(&self, _level: Level, _message: fmt::Arguments<'_>) {}
}

/// Logs through `logger` when `level` is enabled, formatting lazily.
macro_rules! log_at {
    ($logger:expr, $level:expr, $($arg:tt)+) => {{
        let logger: &dyn $crate::log::Logger = &*$logger;
        if logger.enabled($level) {
            logger.log($level, format_args!($($arg)+));
        }
    }};
}
pub(crate) use log_at;
