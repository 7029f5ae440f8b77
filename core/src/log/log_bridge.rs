//! [`LogLogger`]: the bridge to the `log` facade.

use core::fmt;

use super::{Level, Logger, TARGET};

/// Forwards to the [`log`](::log) facade with target [`TARGET`]:
/// `Debug`→`Debug`, `Info`→`Info`, `Warning`→`Warn`, `Error`→`Error`. Filtering is the
/// installed logger's (`enabled` asks it); with none installed nothing is recorded. It is
/// the [`DefaultLogger`](super::DefaultLogger) when the `log` feature is on and `tracing`
/// is not.
///
/// Builds without `std`.
///
/// ```
/// use orchestrator_core::Dispatcher;
/// use orchestrator_core::log::LogLogger;
///
/// // With a logger installed (env_logger::init(), ...):
/// let dispatcher = Dispatcher::builder().logger(LogLogger).build().unwrap();
/// # let _ = dispatcher;
/// ```
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
