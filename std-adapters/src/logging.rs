//! [`Logger`]s for `std` programs: [`StderrLogger`] (always available), `TracingLogger`
//! (feature `tracing`) and `LogLogger` (feature `log`).
//!
//! Give one to a dispatcher with
//! [`DispatcherBuilder::logger`](orchestrator_core::DispatcherBuilder::logger):
//!
//! ```
//! use orchestrator_std::{Dispatcher, StderrLogger};
//! use orchestrator_std::log::Level;
//!
//! let dispatcher = Dispatcher::builder().logger(StderrLogger::new(Level::Warning)).build().unwrap();
//! assert!(dispatcher.logger().enabled(Level::Error));
//! assert!(!dispatcher.logger().enabled(Level::Info));
//! ```

use std::fmt;
use std::io::Write;

use orchestrator_core::log::{Level, Logger};

/// The target of the events and records sent by `TracingLogger` and `LogLogger`.
pub const TARGET: &str = "orchestrator";

/// The upper-case name of `level`: `DEBUG`, `INFO`, `WARNING` or `ERROR`.
pub fn level_name(level: Level) -> &'static str {
    match level {
        Level::Debug => "DEBUG",
        Level::Info => "INFO",
        Level::Warning => "WARNING",
        Level::Error => "ERROR",
    }
}

/// Writes `[LEVEL] message` lines to standard error, for levels at or above a minimum.
///
/// Write errors (a closed stderr) are ignored: logging never panics.
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
    pub const fn new(min_level: Level) -> Self {
        Self { min_level }
    }

    /// The lowest level logged.
    pub const fn min_level(&self) -> Level {
        self.min_level
    }

    /// Writes the line for `level` and `message` to `out`, without checking the level:
    /// `[LEVEL] message` and a newline.
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
            let _ = Self::write_line(&mut std::io::stderr().lock(), level, message);
        }
    }
}

#[cfg(feature = "tracing")]
#[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
pub use self::tracing_logger::TracingLogger;

#[cfg(feature = "tracing")]
mod tracing_logger {
    use std::fmt;

    use ::tracing::{Level as TLevel, enabled, event};
    use orchestrator_core::log::{Level, Logger};

    use super::TARGET;

    /// Forwards to [`tracing`](::tracing) events with target [`TARGET`](super::TARGET):
    /// `Debug`→`DEBUG`, `Info`→`INFO`, `Warning`→`WARN`, `Error`→`ERROR`. Filtering is the
    /// subscriber's (`enabled` asks it).
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    pub struct TracingLogger;

    impl Logger for TracingLogger {
        fn enabled(&self, level: Level) -> bool {
            match level {
                Level::Debug => enabled!(target: TARGET, TLevel::DEBUG),
                Level::Info => enabled!(target: TARGET, TLevel::INFO),
                Level::Warning => enabled!(target: TARGET, TLevel::WARN),
                Level::Error => enabled!(target: TARGET, TLevel::ERROR),
            }
        }

        fn log(&self, level: Level, message: fmt::Arguments<'_>) {
            match level {
                Level::Debug => event!(target: TARGET, TLevel::DEBUG, "{}", message),
                Level::Info => event!(target: TARGET, TLevel::INFO, "{}", message),
                Level::Warning => event!(target: TARGET, TLevel::WARN, "{}", message),
                Level::Error => event!(target: TARGET, TLevel::ERROR, "{}", message),
            }
        }
    }
}

#[cfg(feature = "log")]
#[cfg_attr(docsrs, doc(cfg(feature = "log")))]
pub use self::log_logger::LogLogger;

#[cfg(feature = "log")]
mod log_logger {
    use std::fmt;

    use orchestrator_core::log::{Level, Logger};

    use super::TARGET;

    /// Forwards to the [`log`](::log) facade with target [`TARGET`](super::TARGET):
    /// `Debug`→`Debug`, `Info`→`Info`, `Warning`→`Warn`, `Error`→`Error`. Filtering is the
    /// installed logger's (`enabled` asks it).
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    pub struct LogLogger;

    fn to_log(level: Level) -> ::log::Level {
        match level {
            Level::Debug => ::log::Level::Debug,
            Level::Info => ::log::Level::Info,
            Level::Warning => ::log::Level::Warn,
            Level::Error => ::log::Level::Error,
        }
    }

    impl Logger for LogLogger {
        fn enabled(&self, level: Level) -> bool {
            ::log::log_enabled!(target: TARGET, to_log(level))
        }

        fn log(&self, level: Level, message: fmt::Arguments<'_>) {
            ::log::log!(target: TARGET, to_log(level), "{}", message);
        }
    }
}
