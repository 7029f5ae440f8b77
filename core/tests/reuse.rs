//! Reuse of finished jobs' boxes: a box goes back only to its own job type and executor
//! registration, never beyond the configured limit, and a reused box runs the new job.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs, missing_debug_implementations)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::Harness;
use orchestrator_core::runtime::{Timer, VirtualClock};
use orchestrator_core::{CancellationToken, Dispatcher, Executor, Job, JobBuilder, JobContext, JobError, JobResult};

struct Square(u64);
impl Job for Square {
    type Output = u64;
}

/// Squares the number.
struct Squarer;
impl Executor<Square> for Squarer {
    async fn process(&self, job: &Square, _: &JobContext) -> Result<u64, JobError> {
        Ok(job.0 * job.0)
    }
}

struct Named(&'static str);
impl Job for Named {
    type Output = &'static str;
}

struct Says(&'static str);
impl Executor<Named> for Says {
    async fn process(&self, _: &Named, _: &JobContext) -> Result<&'static str, JobError> {
        Ok(self.0)
    }
}

/// Waits on the dispatcher's timer before answering: does not finish in its first poll.
struct Slow(VirtualClock);
impl Executor<Named> for Slow {
    async fn process(&self, job: &Named, _: &JobContext) -> Result<&'static str, JobError> {
        self.0.sleep(Duration::from_secs(1)).await;
        Ok(job.0)
    }
}

fn harness(reuse_limit: usize) -> Harness {
    let clock = VirtualClock::new();
    let dispatcher = Dispatcher::builder().timer(clock.clone()).reuse_limit(reuse_limit).build().unwrap();
    let events = dispatcher.bus().subscribe().unwrap();
    Harness { clock, dispatcher, events }
}

fn run_all<T: Clone + Send + Sync + 'static>(
    h: &Harness,
    handles: Vec<orchestrator_core::JobHandle<T>>,
) -> Vec<JobResult<T>> {
    h.run(futures::future::join_all(handles))
}

/// Runs the dispatcher's runner until no job is pending.
fn settle(h: &Harness) {
    let dispatcher = h.dispatcher.clone();
    h.run(futures::future::poll_fn(move |cx| {
        if dispatcher.stats().pending == 0 {
            std::task::Poll::Ready(())
        } else {
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    }));
}

#[test]
fn a_finished_box_is_kept_and_runs_the_next_job() {
    let h = harness(16);
    h.dispatcher.register(Squarer);
    assert_eq!(h.dispatcher.stats().reusable, 0);
    assert_eq!(h.run(h.dispatcher.dispatch(Square(3)).unwrap()).ok(), Some(9));
    assert_eq!(h.dispatcher.stats().reusable, 1);

    let handle = h.dispatcher.dispatch(Square(4)).unwrap();
    assert_eq!(h.dispatcher.stats().reusable, 0, "the queued job took the box");
    assert_eq!(h.run(handle).ok(), Some(16));
    assert_eq!(h.dispatcher.stats().reusable, 1);
}

#[test]
fn no_more_boxes_than_the_limit_are_kept() {
    let h = harness(2);
    h.dispatcher.register(Squarer);
    let handles = (0..5).map(|i| h.dispatcher.dispatch(Square(i)).unwrap()).collect();
    let results: Vec<_> = run_all(&h, handles).into_iter().map(|r| r.ok().unwrap()).collect();
    assert_eq!(results, [0, 1, 4, 9, 16]);
    assert_eq!(h.dispatcher.stats().reusable, 2);
}

#[test]
fn a_zero_limit_keeps_nothing() {
    let h = harness(0);
    h.dispatcher.register(Squarer);
    for i in 0..3 {
        assert_eq!(h.run(h.dispatcher.dispatch(Square(i)).unwrap()).ok(), Some(i * i));
        assert_eq!(h.dispatcher.stats().reusable, 0);
    }
}

#[test]
fn boxes_of_a_replaced_executor_are_not_reused() {
    let h = harness(16);
    h.dispatcher.register(Says("one"));
    assert_eq!(h.run(h.dispatcher.dispatch(Named("")).unwrap()).ok(), Some("one"));
    assert_eq!(h.dispatcher.stats().reusable, 1);

    // A job dispatched before the replacement still runs on the old executor; neither
    // the kept box nor its box goes to the new registration.
    let in_flight = h.dispatcher.dispatch(Named("")).unwrap();
    h.dispatcher.register(Says("two"));
    assert_eq!(h.dispatcher.stats().reusable, 0);
    assert_eq!(h.run(in_flight).ok(), Some("one"));
    assert_eq!(h.dispatcher.stats().reusable, 0);

    assert_eq!(h.run(h.dispatcher.dispatch(Named("")).unwrap()).ok(), Some("two"));
    assert_eq!(h.dispatcher.stats().reusable, 1);
    assert!(h.dispatcher.unregister::<Named>());
    assert_eq!(h.dispatcher.stats().reusable, 0);
}

#[test]
fn boxes_go_back_to_their_own_job_type_only() {
    let h = harness(16);
    h.dispatcher.register(Squarer);
    h.dispatcher.register(Says("named"));
    assert_eq!(h.run(h.dispatcher.dispatch(Square(2)).unwrap()).ok(), Some(4));
    assert_eq!(h.dispatcher.stats().reusable, 1);
    let named = h.dispatcher.dispatch(Named("")).unwrap();
    assert_eq!(h.dispatcher.stats().reusable, 1, "a Named job cannot take a Square box");
    assert_eq!(h.run(named).ok(), Some("named"));
    assert_eq!(h.dispatcher.stats().reusable, 2);
}

#[test]
fn a_job_that_waited_gives_its_box_back_too() {
    let h = harness(16);
    h.dispatcher.register(Slow(h.clock.clone()));
    let handles = ["a", "b", "c"].map(|s| h.dispatcher.dispatch(Named(s)).unwrap()).into();
    let results: Vec<_> = run_all(&h, handles).into_iter().map(|r| r.ok().unwrap()).collect();
    assert_eq!(results, ["a", "b", "c"]);
    assert_eq!(h.dispatcher.stats().reusable, 3);
    let stats = h.dispatcher.stats();
    assert_eq!((stats.pending, stats.running, stats.finished), (0, 0, 3));
}

/// Its output holds a probe: the probe's count shows whether the result is still alive.
struct Held(Arc<()>);
impl Job for Held {
    type Output = Arc<()>;
}

struct Hold;
impl Executor<Held> for Hold {
    async fn process(&self, job: &Held, _: &JobContext) -> Result<Arc<()>, JobError> {
        Ok(job.0.clone())
    }
}

#[test]
fn a_result_nobody_takes_is_not_kept_with_the_box() {
    let mut h = harness(16);
    h.dispatcher.register(Hold);
    let probe = Arc::new(());

    // The handle is dropped before the job runs: the result is dropped when it comes.
    drop(h.dispatcher.dispatch(Held(probe.clone())).unwrap());
    settle(&h);
    assert_eq!(h.dispatcher.stats().finished, 1);
    assert_eq!(h.dispatcher.stats().reusable, 1);
    h.drain(); // the Success event carries the value too
    assert_eq!(Arc::strong_count(&probe), 1, "the result of a dropped handle was kept");

    // The handle is dropped after the job ended, unread.
    let handle = h.dispatcher.dispatch(Held(probe.clone())).unwrap();
    settle(&h);
    assert!(handle.is_finished());
    h.drain();
    assert_eq!(Arc::strong_count(&probe), 2, "the result waits for its handle");
    drop(handle);
    assert_eq!(Arc::strong_count(&probe), 1, "the unread result was kept after its handle");
}

#[test]
fn a_finished_job_leaves_no_child_on_its_parent_token_while_its_box_is_kept() {
    let h = harness(16);
    h.dispatcher.register(Squarer);
    let parent = CancellationToken::new();
    let handle = h.dispatcher.dispatch(JobBuilder::new(Square(5)).cancel_token(parent.clone())).unwrap();
    assert_eq!(parent.listener_count(), 1, "the job's child token");
    assert_eq!(h.run(handle).ok(), Some(25));
    assert_eq!(h.dispatcher.stats().reusable, 1);
    assert_eq!(parent.listener_count(), 0);

    // Also when the handle goes first.
    drop(h.dispatcher.dispatch(JobBuilder::new(Square(6)).cancel_token(parent.clone())).unwrap());
    assert_eq!(parent.listener_count(), 1, "the job still runs: its child token stays");
    settle(&h);
    assert_eq!(parent.listener_count(), 0);
    assert_eq!(h.dispatcher.stats().finished, 2);
}
