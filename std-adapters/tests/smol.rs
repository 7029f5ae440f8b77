//! The smol adapter, on smol's global executor and on an executor of the test's own.
#![cfg(feature = "smol")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use orchestrator_std::smol::{SmolRuntime, dispatcher, dispatcher_builder};

fn expected_runners() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).min(4)
}

#[test]
fn global_executor() {
    smol::block_on(async {
        let dispatcher = dispatcher().unwrap();
        assert_eq!(dispatcher.stats().runners, expected_runners());
        common::run_all(&dispatcher).await;
    });
}

#[test]
fn builder_keeps_the_runtime_settings() {
    let logger = common::CountingLogger::default();
    let dispatcher = dispatcher_builder().logger(logger.clone()).build().unwrap();
    assert!(dispatcher.timer().is_some());
    smol::block_on(common::run_all(&dispatcher));
    assert!(logger.errors() > 0, "failures and the panic are logged");
}

#[test]
fn own_executor() {
    let executor = Arc::new(smol::Executor::new());
    let runtime = SmolRuntime::with_executor(executor.clone());
    assert!(runtime.executor().is_some());
    let _ = format!("{runtime:?}");
    let dispatcher = runtime.dispatcher_builder().build().unwrap();
    assert_eq!(dispatcher.stats().runners, expected_runners());
    // The runners make progress only while the executor runs.
    smol::block_on(executor.run(common::run_all(&dispatcher)));
}

#[test]
fn clock_and_huge_sleeps() {
    let runtime = SmolRuntime::default();
    assert!(runtime.executor().is_none());
    smol::block_on(async {
        common::clock_is_monotonic(&runtime).await;
        common::huge_sleeps_do_not_panic(&runtime).await;
    });
}
