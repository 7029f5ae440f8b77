//! [`DefaultLogger`]: what a dispatcher logs through when it is not given a logger.

use crate::sync::Arc;
use crate::sync::dyn_arc;
use core::fmt;

#[cfg(any(feature = "log", feature = "tracing"))]
use super::shielded;
use super::{Level, Logger};

/// The logger of a [`Dispatcher`](crate::Dispatcher) built without
/// [`logger`](crate::DispatcherBuilder::logger), and so of its orchestrators. It forwards
/// to the first of these that the crate's features allow:
///
/// | features | forwards to |
/// | --- | --- |
/// | `tracing` | `TracingLogger`: `tracing` events; the subscriber filters |
/// | `log` (without `tracing`) | `LogLogger`: `log` records; the installed logger filters |
/// | `std` (without `log` and `tracing`) | `StderrLogger` at [`Level::Warning`]: warnings and errors on standard error |
/// | none (`no_std`) | nothing, as [`NoopLogger`](super::NoopLogger) |
///
/// So with `std`, timeouts, failed jobs and the like are never silent unless you say so:
/// to turn logging off, give the builder [`NoopLogger`](super::NoopLogger). (With the
/// `tracing` or `log` feature, lines are only recorded once a subscriber or logger is
/// installed; Cargo enables a feature for the whole build when any crate asks for it.)
///
/// ```
/// use orchestrator_core::Dispatcher;
/// use orchestrator_core::log::{DefaultLogger, Level, Logger, NoopLogger};
///
/// let dispatcher = Dispatcher::new();
/// for level in [Level::Debug, Level::Info, Level::Warning, Level::Error] {
///     assert_eq!(dispatcher.logger().enabled(level), DefaultLogger.enabled(level));
/// }
/// # #[cfg(all(feature = "std", not(any(feature = "log", feature = "tracing"))))]
/// assert!(DefaultLogger.enabled(Level::Warning) && !DefaultLogger.enabled(Level::Info));
///
/// let quiet = Dispatcher::builder().logger(NoopLogger).build().unwrap();
/// assert!(!quiet.logger().enabled(Level::Error));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DefaultLogger;

// The choice is made at compile time: a constant per feature set, so the default costs
// one direct call, as the chosen logger would.
#[cfg(feature = "tracing")]
const CHOSEN: super::TracingLogger = super::TracingLogger;
#[cfg(all(feature = "log", not(feature = "tracing")))]
const CHOSEN: super::LogLogger = super::LogLogger;
#[cfg(all(feature = "std", not(any(feature = "log", feature = "tracing"))))]
const CHOSEN: super::StderrLogger = super::StderrLogger::new(Level::Warning);
#[cfg(not(any(feature = "std", feature = "log", feature = "tracing")))]
const CHOSEN: super::NoopLogger = super::NoopLogger;

impl Logger for DefaultLogger {
    fn enabled(&self, level: Level) -> bool {
        CHOSEN.enabled(level)
    }

    fn log(&self, level: Level, message: fmt::Arguments<'_>) {
        CHOSEN.log(level, message);
    }
}

/// The logger a dispatcher gets when its builder was given none. With a bridge it is
/// shielded like a user's logger: the bridges run the installed subscriber's or logger's
/// code. The stderr and no-op loggers run none (the library's lines format only its own
/// values: ids, names, stored messages), so they go unwrapped, and a job's hot path asks
/// them `enabled` with one call.
pub(crate) fn default_logger() -> Arc<dyn Logger> {
    #[cfg(not(any(feature = "log", feature = "tracing")))]
    {
        dyn_arc!(DefaultLogger)
    }
    #[cfg(any(feature = "log", feature = "tracing"))]
    {
        shielded(dyn_arc!(DefaultLogger))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    const LEVELS: [Level; 4] = [Level::Debug, Level::Info, Level::Warning, Level::Error];

    #[cfg(not(any(feature = "std", feature = "log", feature = "tracing")))]
    #[test]
    fn without_std_log_or_tracing_the_default_is_silent() {
        for level in LEVELS {
            assert!(!DefaultLogger.enabled(level), "{level:?}");
            assert!(!default_logger().enabled(level), "{level:?}");
        }
    }

    #[cfg(all(feature = "std", not(any(feature = "log", feature = "tracing"))))]
    #[test]
    fn with_std_alone_the_default_is_stderr_from_warning_up() {
        assert_eq!(CHOSEN, super::super::StderrLogger::new(Level::Warning));
        for logger in [&DefaultLogger as &dyn Logger, &*default_logger()] {
            let enabled = LEVELS.map(|level| logger.enabled(level));
            assert_eq!(enabled, [false, false, true, true]);
        }
    }

    #[cfg(all(feature = "log", not(feature = "tracing")))]
    #[test]
    fn with_log_and_without_tracing_the_default_forwards_to_log() {
        use alloc::borrow::ToOwned;
        use alloc::string::{String, ToString};
        use alloc::vec::Vec;

        /// Keeps `Info` and above (a `spin` lock: this test also runs without `std`).
        struct Capture(spin::Mutex<Vec<(::log::Level, String, String)>>);
        impl ::log::Log for Capture {
            fn enabled(&self, metadata: &::log::Metadata<'_>) -> bool {
                metadata.level() <= ::log::Level::Info
            }
            fn log(&self, record: &::log::Record<'_>) {
                if self.enabled(record.metadata()) {
                    let target = record.target().to_owned();
                    self.0.lock().push((record.level(), target, record.args().to_string()));
                }
            }
            fn flush(&self) {}
        }
        static CAPTURE: Capture = Capture(spin::Mutex::new(Vec::new()));
        // The only test of this binary that installs a `log` logger.
        ::log::set_logger(&CAPTURE).unwrap();
        ::log::set_max_level(::log::LevelFilter::Trace);

        let logger = default_logger();
        assert_eq!(LEVELS.map(|level| logger.enabled(level)), [false, true, true, true]);
        crate::log::log_at!(logger, Level::Debug, "hidden");
        crate::log::log_at!(logger, Level::Warning, "job {} timed out", 4);
        let got = CAPTURE.0.lock().clone();
        assert_eq!(got, [(::log::Level::Warn, super::super::TARGET.to_owned(), "job 4 timed out".to_owned())]);
    }

    /// Without `std`, `tracing` has no scoped subscriber for a test to install (a global
    /// one would also catch the other tests' lines): only the choice is checked, by
    /// there being no subscriber to want anything, where `stderr` would want warnings.
    #[cfg(all(feature = "tracing", not(feature = "std")))]
    #[test]
    fn with_tracing_and_no_subscriber_nothing_is_wanted() {
        for level in LEVELS {
            assert!(!default_logger().enabled(level), "{level:?}");
        }
    }

    #[cfg(all(feature = "tracing", feature = "std"))]
    #[test]
    fn with_tracing_the_default_forwards_to_the_subscriber() {
        use alloc::borrow::ToOwned;
        use alloc::format;
        use alloc::string::String;
        use alloc::vec::Vec;
        use std::sync::Mutex;

        use ::tracing::field::{Field, Visit};
        use ::tracing::span::{Attributes, Id, Record};
        use ::tracing::subscriber::Interest;
        use ::tracing::{Event, Metadata, Subscriber};

        type Lines = Arc<Mutex<Vec<(::tracing::Level, String, String)>>>;

        /// Keeps `WARN` and above.
        struct Capture(Lines);
        struct Message(String);
        impl Visit for Message {
            fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{value:?}");
                }
            }
        }
        impl Subscriber for Capture {
            fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
                Interest::sometimes()
            }
            fn enabled(&self, metadata: &Metadata<'_>) -> bool {
                *metadata.level() <= ::tracing::Level::WARN
            }
            fn new_span(&self, _: &Attributes<'_>) -> Id {
                Id::from_u64(1)
            }
            fn record(&self, _: &Id, _: &Record<'_>) {}
            fn record_follows_from(&self, _: &Id, _: &Id) {}
            fn event(&self, event: &Event<'_>) {
                let mut message = Message(String::new());
                event.record(&mut message);
                let meta = event.metadata();
                self.0.lock().unwrap().push((*meta.level(), meta.target().to_owned(), message.0));
            }
            fn enter(&self, _: &Id) {}
            fn exit(&self, _: &Id) {}
        }

        let lines = Lines::default();
        let enabled = ::tracing::subscriber::with_default(Capture(lines.clone()), || {
            let logger = default_logger();
            crate::log::log_at!(logger, Level::Info, "hidden");
            crate::log::log_at!(logger, Level::Error, "job {} failed", 2);
            LEVELS.map(|level| logger.enabled(level))
        });
        assert_eq!(enabled, [false, false, true, true]);
        let got = lines.lock().unwrap().clone();
        assert_eq!(got, [(::tracing::Level::ERROR, super::super::TARGET.to_owned(), "job 2 failed".to_owned())]);
        // No subscriber on this thread any more: nothing is wanted.
        assert!(!DefaultLogger.enabled(Level::Error));
    }
}
