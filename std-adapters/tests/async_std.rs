//! The async-std adapter.
#![cfg(feature = "async-std")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use orchestrator_std::async_std::{AsyncStdRuntime, dispatcher, dispatcher_builder};

fn expected_runners() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).min(4)
}

#[test]
fn scenarios() {
    async_std::task::block_on(async {
        let dispatcher = dispatcher().unwrap();
        assert_eq!(dispatcher.stats().runners, expected_runners());
        common::run_all(&dispatcher).await;
    });
}

#[test]
fn builder_keeps_the_runtime_settings() {
    async_std::task::block_on(async {
        let logger = common::CountingLogger::default();
        let dispatcher = dispatcher_builder().logger(logger.clone()).build().unwrap();
        assert!(dispatcher.timer().is_some());
        assert_eq!(dispatcher.stats().runners, expected_runners());
        common::run_all(&dispatcher).await;
        assert!(logger.errors() > 0, "failures and the panic are logged");
    });
}

#[test]
fn built_outside_block_on() {
    // async-std's executor threads start on demand: no context needed to build.
    let dispatcher = AsyncStdRuntime::default().dispatcher_builder().build().unwrap();
    async_std::task::block_on(common::run_all(&dispatcher));
}

#[test]
fn clock_and_huge_sleeps() {
    let runtime = AsyncStdRuntime::new();
    let _ = format!("{runtime:?}");
    async_std::task::block_on(async {
        common::clock_is_monotonic(&runtime).await;
        common::huge_sleeps_do_not_panic(&runtime).await;
    });
}
