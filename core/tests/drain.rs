//! Graceful drain of a dispatcher and of an orchestrator host, on the virtual clock.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs, missing_debug_implementations)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::Harness;
use orchestrator_core::runtime::{Clock, Timer, VirtualClock};
use orchestrator_core::{
    DRAIN_DEADLINE_REASON, DispatchError, Dispatcher, DrainError, DrainReport, EventKind, Job, JobResult,
    executor_fn,
};

/// Sleeps its number of seconds on the virtual clock.
#[derive(Clone)]
struct Nap(u64);
impl Job for Nap {
    type Output = u64;
}

fn register_nap(dispatcher: &Dispatcher, clock: &VirtualClock) {
    let clock = clock.clone();
    dispatcher.register(executor_fn(move |nap: Nap, _| {
        let sleep = clock.sleep(Duration::from_secs(nap.0));
        async move {
            sleep.await;
            Ok(nap.0)
        }
    }));
}

#[test]
fn drain_without_deadline_waits_for_every_job() {
    let h = Harness::new();
    register_nap(&h.dispatcher, &h.clock);
    let handles: Vec<_> = [3, 1, 7].into_iter().map(|s| h.dispatcher.dispatch(Nap(s)).unwrap()).collect();
    let drain = h.dispatcher.drain(None);
    assert!(h.dispatcher.is_shut_down());
    assert_eq!(h.dispatcher.dispatch(Nap(1)).map(|_| ()), Err(DispatchError::ShutDown));
    let report = h.run(drain).unwrap();
    assert_eq!((report.finished, report.cancelled), (3, 0));
    // It resolved when the last job ended, not before.
    assert_eq!(h.clock.now(), Duration::from_secs(7));
    assert_eq!(h.dispatcher.stats().pending, 0);
    for (handle, s) in handles.into_iter().zip([3, 1, 7]) {
        assert_eq!(h.run(handle).ok(), Some(s));
    }
}

#[test]
fn deadline_cancels_the_jobs_still_running_with_a_clear_reason() {
    let mut h = Harness::new();
    register_nap(&h.dispatcher, &h.clock);
    let quick = h.dispatcher.dispatch(Nap(2)).unwrap();
    let slow = h.dispatcher.dispatch(Nap(100)).unwrap();
    let slower = h.dispatcher.dispatch(Nap(200)).unwrap();
    let report = h.run(h.dispatcher.drain(Some(Duration::from_secs(10)))).unwrap();
    assert_eq!((report.finished, report.cancelled), (1, 2));
    assert!(!report.is_clean());
    assert_eq!(h.clock.now(), Duration::from_secs(10), "resolved at the deadline, once the cancelled jobs ended");
    assert_eq!(h.run(quick).ok(), Some(2));
    for handle in [slow, slower] {
        match h.run(handle) {
            JobResult::Cancelled(Some(reason)) => assert_eq!(&*reason, DRAIN_DEADLINE_REASON),
            other => panic!("expected a drain cancellation, got {other:?}"),
        }
    }
    let cancelled: Vec<_> = h
        .drain()
        .into_iter()
        .filter_map(|e| match e.kind() {
            EventKind::Cancelled { reason } => reason.clone(),
            _ => None,
        })
        .collect();
    assert_eq!(cancelled.len(), 2);
    assert!(cancelled.iter().all(|r| &**r == DRAIN_DEADLINE_REASON));
}

#[test]
fn a_deadline_that_is_not_reached_cancels_nothing() {
    let h = Harness::new();
    register_nap(&h.dispatcher, &h.clock);
    let handle = h.dispatcher.dispatch(Nap(4)).unwrap();
    let report = h.run(h.dispatcher.drain(Some(Duration::from_secs(60)))).unwrap();
    assert_eq!((report.finished, report.cancelled), (1, 0));
    assert_eq!(h.clock.now(), Duration::from_secs(4));
    assert_eq!(h.run(handle).ok(), Some(4));
}

#[test]
fn queued_jobs_are_cancelled_too() {
    // No runner runs before the deadline: the jobs are still queued when it passes.
    let clock = VirtualClock::new();
    let dispatcher = Dispatcher::builder().timer(clock.clone()).build().unwrap();
    register_nap(&dispatcher, &clock);
    let ran = Arc::new(AtomicBool::new(false));
    let handle = dispatcher.dispatch(Nap(1)).unwrap();
    let drain = dispatcher.drain(Some(Duration::from_secs(1)));
    let report = orchestrator_core::runtime::run_virtual(&clock, async {
        clock.sleep(Duration::from_secs(2)).await;
        ran.store(true, Ordering::SeqCst);
        futures::join!(drain, dispatcher.runner()).0
    })
    .unwrap()
    .unwrap();
    assert!(ran.load(Ordering::SeqCst));
    // The drain's deadline is measured from the call, so it had passed when it was first polled.
    assert_eq!(report.cancelled, 1);
    match orchestrator_core::runtime::run_virtual(&clock, handle).unwrap() {
        JobResult::Cancelled(Some(reason)) => assert_eq!(&*reason, DRAIN_DEADLINE_REASON),
        other => panic!("expected a drain cancellation, got {other:?}"),
    }
}

#[test]
fn a_deadline_without_a_timer_is_refused_and_changes_nothing() {
    let dispatcher = Dispatcher::new();
    let result = futures::executor::block_on(dispatcher.drain(Some(Duration::from_secs(1))));
    assert_eq!(result, Err(DrainError::NoTimer));
    assert!(!dispatcher.is_shut_down());
}

#[test]
fn draining_an_idle_dispatcher_resolves_at_once() {
    let h = Harness::new();
    let report = h.run(h.dispatcher.drain(Some(Duration::from_secs(5)))).unwrap();
    assert_eq!(report, DrainReport::default());
    assert_eq!(h.clock.now(), Duration::ZERO);
}
