//! Logging: the default logger of a dispatcher, and loggers that panic. A logger must
//! never take a job or a host down (with `std`, the builders shield it).

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

/// Panicking loggers: only `std` can catch a panic, and only if it unwinds (not on wasm).
#[cfg(all(feature = "std", panic = "unwind"))]
mod panicking {
    use core::fmt;
    use core::time::Duration;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use futures::StreamExt;
    use orchestrator_core::log::{Level, Logger, NoopLogger};
    use orchestrator_core::runtime::{Timer, VirtualClock, run_virtual};
    use orchestrator_core::{
        Context, Dispatcher, Event, Executor, Job, JobBuilder, JobContext, JobError, JobResult, Orchestrator,
    };

    /// Counts its calls and panics in every one of them.
    #[derive(Clone, Default)]
    struct Panicking(Arc<AtomicUsize>);

    impl Panicking {
        fn calls(&self) -> usize {
            self.0.load(Ordering::SeqCst)
        }
    }

    impl Logger for Panicking {
        fn enabled(&self, level: Level) -> bool {
            self.0.fetch_add(1, Ordering::SeqCst);
            panic!("a broken logger asked about {level:?}");
        }
        fn log(&self, level: Level, _: fmt::Arguments<'_>) {
            self.0.fetch_add(1, Ordering::SeqCst);
            panic!("a broken logger asked to log at {level:?}");
        }
    }

    /// Sleeps `sleep` (virtual), then fails or returns 7.
    #[derive(Clone)]
    struct Work {
        sleep: Duration,
        fail: bool,
    }
    impl Job for Work {
        type Output = u32;
    }

    /// Runs [`Work`] and logs through `logger` (the dispatcher's) as it goes, as an
    /// application's executor would.
    struct Worker {
        clock: VirtualClock,
        logger: Arc<dyn Logger>,
    }

    impl Executor<Work> for Worker {
        async fn process(&self, job: &Work, _: &JobContext) -> Result<u32, JobError> {
            if self.logger.enabled(Level::Info) {
                self.logger.log(Level::Info, format_args!("working for {:?}", job.sleep));
            }
            self.logger.log(Level::Error, format_args!("logged without asking"));
            self.clock.sleep(job.sleep).await;
            if job.fail { Err(JobError::msg("refused")) } else { Ok(7) }
        }
    }

    fn work(fail: bool) -> Work {
        Work { sleep: Duration::from_secs(1), fail }
    }

    #[test]
    fn a_panicking_logger_fails_no_job_and_stops_no_runner() {
        let broken = Panicking::default();
        let clock = VirtualClock::new();
        let dispatcher = Dispatcher::builder().timer(clock.clone()).logger(broken.clone()).build().unwrap();
        dispatcher.register(Worker { clock: clock.clone(), logger: dispatcher.logger().clone() });

        // Each ends in a differently logged way: Debug, Error, Warning.
        let ok = dispatcher.dispatch(work(false)).unwrap();
        let failed = dispatcher.dispatch(work(true)).unwrap();
        let slow = Work { sleep: Duration::from_secs(60), fail: false };
        let timed_out = dispatcher.dispatch(JobBuilder::new(slow).timeout(Duration::from_secs(5))).unwrap();
        dispatcher.shutdown();

        let (ok, failed, timed_out, ()) =
            run_virtual(&clock, async { futures::join!(ok, failed, timed_out, dispatcher.runner()) }).unwrap();
        assert_eq!(ok.ok(), Some(7));
        assert_eq!(failed.error().map(ToString::to_string).as_deref(), Some("refused"));
        assert!(matches!(timed_out, JobResult::TimedOut(after) if after == Duration::from_secs(5)));
        assert_eq!(dispatcher.stats().finished, 3);
        // The logger was really in the way: asked at each start, end and executor line.
        assert!(broken.calls() >= 9, "{} calls", broken.calls());
    }

    /// Dispatches one [`Work`] per command; its state is the last result.
    struct Keeper;

    impl Orchestrator for Keeper {
        type State = Option<u32>;
        type Command = ();

        fn handle(&mut self, (): (), ctx: &mut Context<'_, Self>) {
            ctx.dispatch(work(false)).unwrap();
        }

        fn on_active_success(&mut self, event: &Event, ctx: &mut Context<'_, Self>) {
            ctx.set_state(event.data_as::<u32>().copied());
        }
    }

    #[test]
    fn a_panicking_orchestrator_logger_stops_no_host_and_no_handler() {
        let broken = Panicking::default();
        let clock = VirtualClock::new();
        let dispatcher = Dispatcher::builder().timer(clock.clone()).logger(NoopLogger).build().unwrap();
        dispatcher.register(Worker { clock: clock.clone(), logger: Arc::new(NoopLogger) });
        // The host logs each dispatch (inside the command handler) and its end.
        let (host, handle) = Keeper.builder(None, &dispatcher).logger(broken.clone()).build().unwrap();

        run_virtual(&clock, async {
            let script = async {
                let mut states = handle.states();
                handle.send(()).await.unwrap();
                loop {
                    match states.next().await {
                        Some(Some(7)) => break,
                        Some(_) => {}
                        None => panic!("the host ended before the job's result"),
                    }
                }
                handle.shutdown();
                dispatcher.shutdown();
            };
            futures::join!(host, dispatcher.runner(), script);
        })
        .unwrap();
        assert_eq!(handle.state(), Some(7));
        assert!(handle.is_finished(), "the host ended by its shutdown, not by a panic");
        assert_eq!(handle.stats().hook_panics, 0, "the logger's panic was not the handler's");
        assert!(broken.calls() >= 2, "{} calls", broken.calls());
    }
}
