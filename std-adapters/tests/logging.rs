//! The loggers: stderr formatting and levels, forwarding to `log` and `tracing`, and
//! which of them a dispatcher uses by default (the first of `tracing`, `log`, stderr).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use orchestrator_std::log::{Level, Logger};
use orchestrator_std::logging::level_name;
use orchestrator_std::{Dispatcher, StderrLogger};

const LEVELS: [Level; 4] = [Level::Debug, Level::Info, Level::Warning, Level::Error];

#[test]
fn stderr_logger_levels_and_format() {
    let logger = StderrLogger::new(Level::Warning);
    assert_eq!(logger.min_level(), Level::Warning);
    assert!(!logger.enabled(Level::Debug));
    assert!(!logger.enabled(Level::Info));
    assert!(logger.enabled(Level::Warning));
    assert!(logger.enabled(Level::Error));
    assert_eq!(StderrLogger::default().min_level(), Level::Info);

    let mut out = Vec::new();
    StderrLogger::write_line(&mut out, Level::Error, format_args!("job {} failed", 3)).unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), "[ERROR] job 3 failed\n");

    let names: Vec<_> = [Level::Debug, Level::Info, Level::Warning, Level::Error].map(level_name).into();
    assert_eq!(names, ["DEBUG", "INFO", "WARNING", "ERROR"]);

    // Goes to the real stderr; must not panic.
    logger.log(Level::Error, format_args!("a test line"));
    logger.log(Level::Debug, format_args!("filtered out"));
}

#[cfg(not(any(feature = "log", feature = "tracing")))]
#[test]
fn without_log_and_tracing_the_default_dispatcher_logs_warnings_and_errors_to_stderr() {
    let dispatcher = Dispatcher::new();
    assert_eq!(LEVELS.map(|level| dispatcher.logger().enabled(level)), [false, false, true, true]);
    // Unless turned off.
    let quiet = Dispatcher::builder().logger(orchestrator_std::log::NoopLogger).build().unwrap();
    assert_eq!(LEVELS.map(|level| quiet.logger().enabled(level)), [false; 4]);
}

#[cfg(feature = "log")]
#[test]
fn log_logger_forwards_to_the_log_facade() {
    use std::sync::Mutex;

    use orchestrator_std::LogLogger;
    use orchestrator_std::logging::TARGET;

    struct Capture(Mutex<Vec<(log::Level, String, String)>>);
    impl log::Log for Capture {
        fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
            metadata.level() <= log::Level::Info
        }
        fn log(&self, record: &log::Record<'_>) {
            if self.enabled(record.metadata()) {
                let entry = (record.level(), record.target().to_owned(), record.args().to_string());
                self.0.lock().unwrap().push(entry);
            }
        }
        fn flush(&self) {}
    }
    static CAPTURE: Capture = Capture(Mutex::new(Vec::new()));
    log::set_logger(&CAPTURE).unwrap();
    log::set_max_level(log::LevelFilter::Trace);

    let logger = LogLogger;
    assert!(!logger.enabled(Level::Debug));
    assert!(logger.enabled(Level::Info));
    assert!(logger.enabled(Level::Error));
    logger.log(Level::Debug, format_args!("hidden"));
    logger.log(Level::Info, format_args!("job {} cancelled", 1));
    logger.log(Level::Warning, format_args!("timed out"));
    logger.log(Level::Error, format_args!("failed"));

    let got = CAPTURE.0.lock().unwrap().clone();
    let expected = [
        (log::Level::Info, TARGET.to_owned(), "job 1 cancelled".to_owned()),
        (log::Level::Warn, TARGET.to_owned(), "timed out".to_owned()),
        (log::Level::Error, TARGET.to_owned(), "failed".to_owned()),
    ];
    assert_eq!(got, expected);

    // A dispatcher's default: `log` without `tracing`, which comes first when on (and
    // with no subscriber on this thread, wants nothing).
    CAPTURE.0.lock().unwrap().clear();
    let default = Dispatcher::new();
    let wanted = LEVELS.map(|level| default.logger().enabled(level));
    default.logger().log(Level::Error, format_args!("job {} failed", 2));
    let got = CAPTURE.0.lock().unwrap().clone();
    if cfg!(feature = "tracing") {
        assert_eq!(wanted, [false; 4]);
        assert_eq!(got, []);
    } else {
        assert_eq!(wanted, [false, true, true, true]);
        assert_eq!(got, [(log::Level::Error, TARGET.to_owned(), "job 2 failed".to_owned())]);
    }
}
