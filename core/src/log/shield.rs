//! [`shielded`]: a logger's panic never takes a job or an orchestrator down.
//!
//! Every line the library logs is written from inside a runner or a host, outside the
//! executor's and the hooks' panic guards. A panicking logger (or a message whose
//! `Display` panics, such as a user's error) would end that runner or host and leave its
//! jobs unfinished; so with `std` each logger given to a builder is wrapped here, once.
//!
//! A caught panic is swallowed: `enabled` answers `false`, `log` drops the line. It cannot
//! be reported through the logger that panicked, so the first one of each shielded logger
//! writes one line to standard error, and later ones nothing (the panic hook, if it
//! prints, still does). The logger keeps being called: one bad message does not silence
//! it. Without `std` there is no unwinding to catch and the logger is used as is; with
//! `panic = "abort"` nothing can be caught either.

use crate::sync::Arc;

use super::Logger;

/// `logger`, wrapped (with `std`) so that a panic inside it is caught and swallowed.
pub(crate) fn shielded(logger: Arc<dyn Logger>) -> Arc<dyn Logger> {
    #[cfg(feature = "std")]
    {
        Arc::new(guard::Shielded::new(logger))
    }
    #[cfg(not(feature = "std"))]
    {
        logger
    }
}

#[cfg(feature = "std")]
mod guard {
    use alloc::sync::Arc;
    use core::fmt;
    use core::sync::atomic::{AtomicBool, Ordering};
    use std::io::Write;

    use crate::log::{Level, Logger, level_name};

    /// The first-panic notice, after `[ERROR] `.
    pub(super) const NOTICE: &str = "orchestrator: a logger panicked (in its own code or while formatting a \
                                     message); the line was dropped and the program keeps running. Later \
                                     panics of this logger are dropped silently.";

    pub(super) struct Shielded {
        inner: Arc<dyn Logger>,
        /// Whether the notice has been written: at most once per logger.
        reported: AtomicBool,
    }

    impl Shielded {
        pub(super) fn new(inner: Arc<dyn Logger>) -> Self {
            Self { inner, reported: AtomicBool::new(false) }
        }

        /// Runs `call`; `None` when it panicked.
        fn guard<R>(&self, call: impl FnOnce(&dyn Logger) -> R) -> Option<R> {
            // Unwind safety is asserted: a logger left half-updated by its panic can at
            // worst log wrongly later; it holds none of the library's state.
            match crate::sync::catch_panic(|| call(&*self.inner)) {
                Ok(value) => Some(value),
                Err(payload) => {
                    drop(payload);
                    self.report(&mut std::io::stderr().lock());
                    None
                }
            }
        }

        /// Writes the notice to `out` the first time only; returns whether it did.
        pub(super) fn report(&self, out: &mut impl Write) -> bool {
            if self.reported.swap(true, Ordering::Relaxed) {
                return false;
            }
            // Ignored: the notice is best effort, there is nowhere else to send it.
            let _ = writeln!(out, "[{}] {NOTICE}", level_name(Level::Error));
            true
        }
    }

    impl Logger for Shielded {
        fn enabled(&self, level: Level) -> bool {
            self.guard(|logger| logger.enabled(level)).unwrap_or(false)
        }

        fn log(&self, level: Level, message: fmt::Arguments<'_>) {
            let _ = self.guard(|logger| logger.log(level, message));
        }
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use alloc::string::String;
    use alloc::vec::Vec;

    use super::guard::{NOTICE, Shielded};
    use super::*;
    use crate::log::NoopLogger;

    #[test]
    fn the_notice_is_written_once_per_logger() {
        let shield = Shielded::new(Arc::new(NoopLogger));
        let mut out = Vec::new();
        assert!(shield.report(&mut out));
        assert!(!shield.report(&mut out));
        assert_eq!(String::from_utf8(out).unwrap(), alloc::format!("[ERROR] {NOTICE}\n"));
        // Another logger has its own notice.
        assert!(Shielded::new(Arc::new(NoopLogger)).report(&mut Vec::new()));
    }

    /// Panics: only a build that unwinds can catch them (not wasm, not `panic = "abort"`).
    #[cfg(panic = "unwind")]
    mod unwinding {
        use alloc::string::String;
        use alloc::vec::Vec;
        use core::fmt;
        use core::sync::atomic::{AtomicUsize, Ordering};

        use super::super::*;
        use crate::log::{Level, log_at};

        /// Panics on every call, after counting it.
        #[derive(Default)]
        struct Panicking(AtomicUsize);
        impl Logger for Panicking {
            fn enabled(&self, _: Level) -> bool {
                self.0.fetch_add(1, Ordering::Relaxed);
                panic!("a broken logger (enabled)");
            }
            fn log(&self, _: Level, _: fmt::Arguments<'_>) {
                self.0.fetch_add(1, Ordering::Relaxed);
                panic!("a broken logger (log)");
            }
        }

        /// Wants everything, keeps the lines.
        #[derive(Default)]
        struct Keep(spin::Mutex<Vec<String>>);
        impl Logger for Keep {
            fn enabled(&self, _: Level) -> bool {
                true
            }
            fn log(&self, _: Level, message: fmt::Arguments<'_>) {
                self.0.lock().push(alloc::format!("{message}"));
            }
        }

        /// A message argument whose `Display` panics (a user's error, say).
        struct BadDisplay;
        impl fmt::Display for BadDisplay {
            fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
                panic!("a broken Display");
            }
        }

        #[test]
        fn a_panicking_logger_is_swallowed_and_still_called() {
            let inner = Arc::new(Panicking::default());
            let logger = shielded(inner.clone());
            assert!(!logger.enabled(Level::Error), "a panicking `enabled` means not wanted");
            logger.log(Level::Error, format_args!("dropped"));
            assert!(!logger.enabled(Level::Warning));
            // Every call reached the logger: a panic does not disable it.
            assert_eq!(inner.0.load(Ordering::Relaxed), 3);
        }

        #[test]
        fn a_panicking_message_drops_only_that_line() {
            let inner = Arc::new(Keep::default());
            let logger = shielded(inner.clone());
            log_at!(logger, Level::Error, "job 1 failed: {}", BadDisplay);
            log_at!(logger, Level::Error, "job {} failed", 2);
            let lines = inner.0.lock().clone();
            assert_eq!(lines, ["job 2 failed"]);
        }
    }
}
