//! [`NoopLogger`]: the explicit way to turn logging off.

use core::fmt;

use super::{Level, Logger};

/// Discards everything. Give it to a builder to turn logging off
/// (`Dispatcher::builder().logger(NoopLogger)`); it is also what the [`DefaultLogger`]
/// does without `std`, `log` and `tracing`.
///
/// [`DefaultLogger`]: super::DefaultLogger
///
/// ```
/// use orchestrator_core::Dispatcher;
/// use orchestrator_core::log::{Level, Logger, NoopLogger};
///
/// assert!(!NoopLogger.enabled(Level::Error));
/// let quiet = Dispatcher::builder().logger(NoopLogger).build().unwrap();
/// assert!(!quiet.logger().enabled(Level::Error));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopLogger;

impl Logger for NoopLogger {
    fn enabled(&self, _level: Level) -> bool {
        false
    }
    fn log(&self, _level: Level, _message: fmt::Arguments<'_>) {}
}
