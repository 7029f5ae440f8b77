//! The tokio adapter, on current-thread and multi-thread runtimes and outside any runtime.
#![cfg(feature = "tokio")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use futures::future::{Either, select};
use orchestrator_std::JobResult;
use orchestrator_std::runtime::{Clock, Spawn, SpawnError, Timer};
use orchestrator_std::tokio::{TokioRuntime, dispatcher, dispatcher_builder};

fn expected_multi_thread_runners(workers: usize) -> usize {
    workers.min(std::thread::available_parallelism().map_or(1, |n| n.get())).min(4)
}

#[tokio::test]
async fn current_thread_runtime() {
    let dispatcher = dispatcher().unwrap();
    assert_eq!(dispatcher.stats().runners, 1);
    common::run_all(&dispatcher).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_thread_runtime() {
    let dispatcher = dispatcher().unwrap();
    assert_eq!(dispatcher.stats().runners, expected_multi_thread_runners(2));
    common::run_all(&dispatcher).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builder_keeps_the_runtime_settings() {
    let logger = common::CountingLogger::default();
    let dispatcher = dispatcher_builder().logger(logger.clone()).max_pending(100).build().unwrap();
    assert!(dispatcher.timer().is_some());
    assert_eq!(dispatcher.stats().runners, expected_multi_thread_runners(2));
    common::run_all(&dispatcher).await;
    assert!(logger.errors() > 0, "failures and the panic are logged");
}

#[tokio::test]
async fn clock_and_huge_sleeps() {
    let runtime = TokioRuntime::new();
    assert!(runtime.handle().is_some());
    common::clock_is_monotonic(&runtime).await;
    common::huge_sleeps_do_not_panic(&runtime).await;
}

#[test]
fn outside_any_runtime_dispatcher_is_an_error_not_a_panic() {
    assert!(matches!(dispatcher(), Err(SpawnError)));
    assert!(matches!(dispatcher_builder().build(), Err(SpawnError)));

    let runtime = TokioRuntime::default();
    assert!(runtime.handle().is_none());
    assert_eq!(runtime.default_runners(), 1);
    assert_eq!(runtime.spawn(Box::pin(async {})), Err(SpawnError));
    let _ = runtime.now();
    let _ = format!("{runtime:?}");
    // A "forever" sleep is created (and polled) without a runtime, and never completes.
    let never = futures::executor::block_on(select(runtime.sleep(Duration::MAX), std::future::ready(())));
    assert!(matches!(never, Either::Right(_)));
}

#[test]
fn with_handle_works_from_outside_the_runtime() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_time().build().unwrap();
    let adapter = TokioRuntime::with_handle(rt.handle().clone());
    assert_eq!(adapter.default_runners(), expected_multi_thread_runners(2));

    // Built from a thread that is not a runtime thread.
    let dispatcher = adapter.dispatcher_builder().build().unwrap();
    assert_eq!(dispatcher.stats().runners, expected_multi_thread_runners(2));

    // The timer is bound to the runtime, so its sleeps can be awaited on another executor.
    futures::executor::block_on(adapter.sleep(Duration::from_millis(5)));

    // Jobs run on the runtime; their handles can be awaited anywhere.
    common::register_all(&dispatcher);
    let handle = dispatcher.dispatch(common::Echo(3)).unwrap();
    assert!(matches!(futures::executor::block_on(handle), JobResult::Success(3)));
    rt.block_on(common::run_all(&dispatcher));
}

#[test]
fn current_thread_runtime_built_by_hand() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let adapter = TokioRuntime::with_handle(rt.handle().clone());
    assert_eq!(adapter.default_runners(), 1);
    let dispatcher = adapter.dispatcher_builder().build().unwrap();
    rt.block_on(common::run_all(&dispatcher));
}

/// The runtime a dispatcher's runners were spawned on is shut down: the runners are
/// dropped with it, and a dispatch says so instead of queueing a job nobody will run.
#[test]
fn dispatch_after_the_runtime_shut_down_is_refused() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let dispatcher = rt.block_on(async { dispatcher().unwrap() });
    common::register_all(&dispatcher);
    assert_eq!(dispatcher.stats().runners, 1);
    drop(rt);
    assert_eq!(dispatcher.stats().runners, 0);
    let refused = dispatcher.dispatch(common::Echo(1)).map(|_| ());
    assert_eq!(refused, Err(orchestrator_std::DispatchError::NoRunners));
    assert_eq!(dispatcher.stats().pending, 0, "nothing was queued");
}
