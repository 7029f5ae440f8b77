//! [`StderrLogger`]: `[LEVEL] message` lines on standard error.

use core::fmt;
use std::io::Write;

use super::{Level, Logger, level_name};

/// Writes `[LEVEL] message` lines to standard error, for levels at or above a minimum.
/// At [`Level::Warning`], it is the [`DefaultLogger`](super::DefaultLogger) of `std`
/// builds without the `tracing` and `log` features.
///
/// Write errors (a closed stderr) are ignored: logging never panics.
///
/// ```
/// use orchestrator_core::Dispatcher;
/// use orchestrator_core::log::{Level, StderrLogger};
///
/// let dispatcher = Dispatcher::builder().logger(StderrLogger::new(Level::Debug)).build().unwrap();
/// assert!(dispatcher.logger().enabled(Level::Debug));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StderrLogger {
    min_level: Level,
}

impl Default for StderrLogger {
    /// Logs [`Level::Info`] and above.
    fn default() -> Self {
        Self::new(Level::Info)
    }
}

impl StderrLogger {
    /// Logs `min_level` and above.
    ///
    /// ```
    /// use orchestrator_core::log::{Level, Logger, StderrLogger};
    /// let logger = StderrLogger::new(Level::Warning);
    /// assert!(logger.enabled(Level::Error) && !logger.enabled(Level::Info));
    /// ```
    pub const fn new(min_level: Level) -> Self {
        Self { min_level }
    }

    /// The lowest level logged.
    ///
    /// ```
    /// use orchestrator_core::log::{Level, StderrLogger};
    /// assert_eq!(StderrLogger::default().min_level(), Level::Info);
    /// ```
    pub const fn min_level(&self) -> Level {
        self.min_level
    }

    /// Writes the line for `level` and `message` to `out`, without checking the level:
    /// `[LEVEL] message` and a newline.
    ///
    /// ```
    /// use orchestrator_core::log::{Level, StderrLogger};
    /// let mut out = Vec::new();
    /// StderrLogger::write_line(&mut out, Level::Error, format_args!("job {} failed", 3)).unwrap();
    /// assert_eq!(out, b"[ERROR] job 3 failed\n");
    /// ```
    ///
    /// # Errors
    ///
    /// Those of `out`.
    pub fn write_line(out: &mut impl Write, level: Level, message: fmt::Arguments<'_>) -> std::io::Result<()> {
        writeln!(out, "[{}] {}", level_name(level), message)
    }
}

impl Logger for StderrLogger {
    fn enabled(&self, level: Level) -> bool {
        level >= self.min_level
    }

    fn log(&self, level: Level, message: fmt::Arguments<'_>) {
        if self.enabled(level) {
            // Ignored: there is nowhere left to report a failing stderr.
            let _ = Self::write_line(&mut std::io::stderr().lock(), level, message);
        }
    }
}
