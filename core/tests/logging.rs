//! Logging: the default logger of a dispatcher.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs, missing_debug_implementations)]

use orchestrator_core::Dispatcher;
use orchestrator_core::log::{Level, NoopLogger};

const LEVELS: [Level; 4] = [Level::Debug, Level::Info, Level::Warning, Level::Error];

#[cfg(all(feature = "std", not(any(feature = "log", feature = "tracing"))))]
#[test]
fn by_default_a_std_dispatcher_logs_warnings_and_errors_only() {
    let dispatcher = Dispatcher::new();
    let enabled = LEVELS.map(|level| dispatcher.logger().enabled(level));
    assert_eq!(enabled, [false, false, true, true]);
}

#[cfg(not(any(feature = "std", feature = "log", feature = "tracing")))]
#[test]
fn by_default_a_no_std_dispatcher_logs_nothing() {
    let dispatcher = Dispatcher::new();
    assert_eq!(LEVELS.map(|level| dispatcher.logger().enabled(level)), [false; 4]);
}

#[test]
fn noop_logger_turns_logging_off() {
    let dispatcher = Dispatcher::builder().logger(NoopLogger).build().unwrap();
    assert_eq!(LEVELS.map(|level| dispatcher.logger().enabled(level)), [false; 4]);
}
