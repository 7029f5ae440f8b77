//! The `tracing` bridge, alone in its own test binary: `tracing` caches per call site
//! whether anybody listens, and another test of the same binary logging on a thread without
//! a subscriber can make this one's capturing subscriber miss events (a race in that cache).
#![cfg(feature = "tracing")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use orchestrator_std::Dispatcher;
use orchestrator_std::log::{Level, Logger};

const LEVELS: [Level; 4] = [Level::Debug, Level::Info, Level::Warning, Level::Error];

#[test]
fn tracing_logger_forwards_to_the_current_subscriber() {
    use std::fmt;
    use std::sync::{Arc, Mutex};

    use orchestrator_std::TracingLogger;
    use orchestrator_std::logging::TARGET;
    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::subscriber::Interest;
    use tracing::{Event, Metadata, Subscriber};

    type Lines = Arc<Mutex<Vec<(tracing::Level, String, String)>>>;

    /// Keeps INFO and above.
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
            *metadata.level() <= tracing::Level::INFO
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
    tracing::subscriber::with_default(Capture(lines.clone()), || {
        let logger = TracingLogger;
        assert!(!logger.enabled(Level::Debug));
        assert!(logger.enabled(Level::Info));
        assert!(logger.enabled(Level::Warning));
        assert!(logger.enabled(Level::Error));
        logger.log(Level::Info, format_args!("job {} cancelled", 1));
        logger.log(Level::Warning, format_args!("timed out"));
        logger.log(Level::Error, format_args!("failed"));

        // A dispatcher's default, whatever `log` says: `tracing` comes first.
        let default = Dispatcher::new();
        assert_eq!(LEVELS.map(|level| default.logger().enabled(level)), [false, true, true, true]);
        default.logger().log(Level::Warning, format_args!("job {} timed out", 2));
    });
    let got = lines.lock().unwrap().clone();
    let expected = [
        (tracing::Level::INFO, TARGET.to_owned(), "job 1 cancelled".to_owned()),
        (tracing::Level::WARN, TARGET.to_owned(), "timed out".to_owned()),
        (tracing::Level::ERROR, TARGET.to_owned(), "failed".to_owned()),
        (tracing::Level::WARN, TARGET.to_owned(), "job 2 timed out".to_owned()),
    ];
    assert_eq!(got, expected);
}
