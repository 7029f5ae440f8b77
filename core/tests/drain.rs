//! Graceful drain of a dispatcher and of an orchestrator host, on the virtual clock.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs, missing_debug_implementations)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::Harness;
use orchestrator_core::runtime::{Clock, Timer, VirtualClock};
use orchestrator_core::{
    DRAIN_DEADLINE_REASON, DispatchError, Dispatcher, DrainError, DrainReport, EventKind, Job, JobResult, executor_fn,
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

mod host {
    use super::*;
    use orchestrator_core::{Context, Event, Orchestrator, runtime::run_virtual};

    /// Dispatches a nap per command; records the outcomes its hooks saw.
    #[derive(Default)]
    struct Sleeper {
        follow_up: bool,
    }

    #[derive(Clone, Default, Debug, PartialEq)]
    struct Seen {
        succeeded: usize,
        cancelled: Vec<String>,
    }

    impl Orchestrator for Sleeper {
        type State = Seen;
        type Command = u64;
        fn handle(&mut self, secs: u64, ctx: &mut Context<'_, Self>) {
            ctx.dispatch(Nap(secs)).unwrap();
        }
        fn on_active_success(&mut self, _: &Event, ctx: &mut Context<'_, Self>) {
            ctx.update_state(|s| s.succeeded += 1);
            // A hook may still dispatch while the host drains: that job is waited for too.
            if std::mem::take(&mut self.follow_up) {
                ctx.dispatch(Nap(2)).unwrap();
            }
        }
        fn on_active_cancelled(&mut self, event: &Event, ctx: &mut Context<'_, Self>) {
            if let EventKind::Cancelled { reason } = event.kind() {
                let reason = reason.as_deref().unwrap_or("").to_owned();
                ctx.update_state(|s| s.cancelled.push(reason));
            }
        }
    }

    fn setup() -> (VirtualClock, Dispatcher) {
        let clock = VirtualClock::new();
        let dispatcher = Dispatcher::builder().timer(clock.clone()).build().unwrap();
        register_nap(&dispatcher, &clock);
        (clock, dispatcher)
    }

    #[test]
    fn a_host_drains_its_active_jobs_and_refuses_new_commands() {
        let (clock, dispatcher) = setup();
        let (host, handle) = Sleeper { follow_up: true }.start(Seen::default(), &dispatcher).unwrap();
        handle.try_send(3).unwrap();
        handle.try_send(5).unwrap();
        let drain = handle.drain(None);
        assert!(handle.try_send(1).unwrap_err().is_closed());
        let report = run_virtual(&clock, async {
            let drain = async {
                let report = drain.await;
                dispatcher.shutdown();
                report
            };
            futures::join!(drain, host, dispatcher.runner()).0
        })
        .unwrap()
        .unwrap();
        // The two commands' jobs, and the follow-up a hook dispatched while draining.
        assert_eq!((report.finished, report.cancelled), (3, 0));
        assert_eq!(clock.now(), Duration::from_secs(5));
        assert_eq!(handle.state(), Seen { succeeded: 3, cancelled: vec![] });
        assert!(handle.is_finished());
    }

    #[test]
    fn a_host_drain_deadline_cancels_the_rest_and_the_hooks_see_it() {
        let (clock, dispatcher) = setup();
        let (host, handle) = Sleeper::default().start(Seen::default(), &dispatcher).unwrap();
        for secs in [1, 50, 90] {
            handle.try_send(secs).unwrap();
        }
        let drain = handle.drain(Some(Duration::from_secs(10)));
        let report = run_virtual(&clock, async {
            let drain = async {
                let report = drain.await;
                dispatcher.shutdown();
                report
            };
            futures::join!(drain, host, dispatcher.runner()).0
        })
        .unwrap()
        .unwrap();
        assert_eq!((report.finished, report.cancelled), (1, 2));
        assert_eq!(clock.now(), Duration::from_secs(10));
        let seen = handle.state();
        assert_eq!(seen.succeeded, 1);
        assert_eq!(seen.cancelled, vec![DRAIN_DEADLINE_REASON.to_owned(); 2]);
    }

    #[test]
    fn a_host_drain_deadline_needs_a_timer() {
        let dispatcher = Dispatcher::new();
        let (_host, handle) = Sleeper::default().start(Seen::default(), &dispatcher).unwrap();
        let result = futures::executor::block_on(handle.drain(Some(Duration::from_secs(1))));
        assert_eq!(result, Err(DrainError::NoTimer));
        assert!(!handle.is_closed());
    }
}

/// Jobs spawned on their own (spawn per job) live in tasks of the runtime, not in the
/// runners: the deadline reaches them too.
mod spawned {
    use core::future::Future;
    use core::pin::Pin;
    use core::task::{Context, Poll};

    use futures::channel::mpsc::{UnboundedReceiver, UnboundedSender, unbounded};
    use futures::future::{Either, select};
    use futures::stream::{FuturesUnordered, StreamExt};
    use orchestrator_core::runtime::{Spawn, SpawnError, run_virtual};
    use orchestrator_core::{BoxFuture, DispatcherStats};

    use super::*;

    /// A spawner whose tasks [`Tasks`] runs (on the virtual-clock driver).
    #[derive(Clone)]
    struct Spawner(UnboundedSender<BoxFuture<'static, ()>>);

    impl Spawn for Spawner {
        fn spawn(&self, task: BoxFuture<'static, ()>) -> Result<(), SpawnError> {
            self.0.unbounded_send(task).map_err(|_| SpawnError)
        }
    }

    /// Polls every task spawned on its [`Spawner`]; never ends.
    struct Tasks {
        spawned: UnboundedReceiver<BoxFuture<'static, ()>>,
        running: FuturesUnordered<BoxFuture<'static, ()>>,
    }

    impl Future for Tasks {
        type Output = ();

        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            while let Poll::Ready(Some(task)) = self.spawned.poll_next_unpin(cx) {
                self.running.push(task);
            }
            while let Poll::Ready(Some(())) = self.running.poll_next_unpin(cx) {}
            Poll::Pending
        }
    }

    fn runtime() -> (Spawner, Tasks) {
        let (tx, rx) = unbounded();
        (Spawner(tx), Tasks { spawned: rx, running: FuturesUnordered::new() })
    }

    /// Never ends on its own: only a cancellation ends it.
    #[derive(Clone)]
    struct Stuck;
    impl Job for Stuck {
        type Output = u64;
    }

    #[test]
    fn the_deadline_cancels_jobs_spawned_on_their_own() {
        let clock = VirtualClock::new();
        let (spawner, mut tasks) = runtime();
        let dispatcher = Dispatcher::builder().timer(clock.clone()).spawner(spawner).spawn_per_job().build().unwrap();
        register_nap(&dispatcher, &clock);
        dispatcher.register(executor_fn(|_: Stuck, _| std::future::pending()));
        let quick = dispatcher.dispatch(Nap(2)).unwrap();
        let stuck = [dispatcher.dispatch(Stuck).unwrap(), dispatcher.dispatch(Stuck).unwrap()];
        assert_eq!(dispatcher.stats().queued, 0, "spawned, not queued");

        let drain = dispatcher.drain(Some(Duration::from_secs(10)));
        let report = run_virtual(&clock, async {
            match select(drain, &mut tasks).await {
                Either::Left((report, _)) => report,
                Either::Right(((), _)) => unreachable!("the tasks never end"),
            }
        })
        .expect("the drain must end at its deadline")
        .unwrap();
        assert_eq!((report.finished, report.cancelled), (1, 2));
        assert_eq!(clock.now(), Duration::from_secs(10));
        let stats: DispatcherStats = dispatcher.stats();
        assert_eq!((stats.pending, stats.running), (0, 0), "{stats:?}");
        assert_eq!(run_virtual(&clock, quick).unwrap().ok(), Some(2));
        for handle in stuck {
            match run_virtual(&clock, handle).unwrap() {
                JobResult::Cancelled(Some(reason)) => assert_eq!(&*reason, DRAIN_DEADLINE_REASON),
                other => panic!("expected a drain cancellation, got {other:?}"),
            }
        }
    }

    #[test]
    fn spawned_jobs_that_end_in_time_are_not_cancelled() {
        let clock = VirtualClock::new();
        let (spawner, mut tasks) = runtime();
        let dispatcher = Dispatcher::builder().timer(clock.clone()).spawner(spawner).build().unwrap();
        register_nap(&dispatcher, &clock);
        dispatcher.spawn_per_job::<Nap>(true).unwrap();
        let handles: Vec<_> = [1, 3].into_iter().map(|s| dispatcher.dispatch(Nap(s)).unwrap()).collect();
        let drain = dispatcher.drain(Some(Duration::from_secs(10)));
        let report = run_virtual(&clock, async {
            match select(drain, &mut tasks).await {
                Either::Left((report, _)) => report,
                Either::Right(((), _)) => unreachable!("the tasks never end"),
            }
        })
        .unwrap()
        .unwrap();
        assert_eq!((report.finished, report.cancelled), (2, 0));
        assert_eq!(clock.now(), Duration::from_secs(3));
        for (handle, s) in handles.into_iter().zip([1, 3]) {
            assert_eq!(run_virtual(&clock, handle).unwrap().ok(), Some(s));
        }
    }
}
