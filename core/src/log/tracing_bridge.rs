//! [`TracingLogger`]: the bridge to `tracing`.

use core::fmt;

use ::tracing::{Level as TLevel, enabled, event};

use super::{Level, Logger, TARGET};

/// Forwards to [`tracing`](::tracing) events with target [`TARGET`]:
/// `Debug`→`DEBUG`, `Info`→`INFO`, `Warning`→`WARN`, `Error`→`ERROR`. Filtering is the
/// subscriber's (`enabled` asks it); with no subscriber installed nothing is recorded.
/// It is the [`DefaultLogger`](super::DefaultLogger) when the `tracing` feature is on.
///
/// Builds without `std`; there, only a global subscriber is seen.
///
/// ```
/// use orchestrator_core::Dispatcher;
/// use orchestrator_core::log::TracingLogger;
///
/// // With a subscriber installed (tracing-subscriber's `fmt().init()`, ...):
/// let dispatcher = Dispatcher::builder().logger(TracingLogger).build().unwrap();
/// # let _ = dispatcher;
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TracingLogger;

impl Logger for TracingLogger {
    fn enabled(&self, level: Level) -> bool {
        // One arm per level: `tracing`'s macros need the level as a constant.
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
