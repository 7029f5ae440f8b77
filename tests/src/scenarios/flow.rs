//! Flow control, one scenario per policy: join, latest-wins, drop-while-busy, serial per
//! key, a cap per type, priority lanes, debounce and throttle. Orders are read from the
//! bus (a job's `Started` after another's terminal event), never from elapsed time;
//! throttle's lower bound is read from the events' own timestamps.

use std::time::Duration;

use orchestrator_core::EventTag::*;
use orchestrator_core::{
    DispatchError, Dispatcher, Event, EventTag, FlowPolicy, JobBuilder, JobId, JobResult, Priority, SUPERSEDED,
};

use super::{Work, setup};
use crate::runtime::Runtime;
use crate::util::{Latch, Recorder, tags_of};

fn keyed(work: Work, key: u64, policy: FlowPolicy) -> JobBuilder<Work> {
    JobBuilder::new(work).key(key).flow(policy)
}

/// Where `job`'s event `tag` is in `events`.
fn position(events: &[std::sync::Arc<Event>], job: JobId, tag: EventTag) -> usize {
    events.iter().position(|e| e.id() == job && e.tag() == tag).unwrap_or_else(|| panic!("no {tag:?} of {job}"))
}

/// Waits until `n` jobs of type `Work` wait for their turn (polled, so their order is
/// fixed before the test lets the job ahead of them go).
async fn wait_until_waiting<R: Runtime>(rt: &R, dispatcher: &orchestrator_core::Dispatcher, n: usize) {
    while dispatcher.flow_stats::<Work>().waiting < n {
        rt.sleep(Duration::from_millis(1)).await;
    }
}

fn superseded(result: &JobResult<u32>) -> bool {
    matches!(result, JobResult::Cancelled(Some(reason)) if &**reason == SUPERSEDED)
}

/// Join: three dispatches with one key while the first runs: one execution, one set of
/// events (plus a `Joined` per joined dispatch), the same result for every handle.
pub fn flow_join<R: Runtime>(rt: &R) {
    let (dispatcher, probe, mut rec) = setup(rt);
    rt.run(async {
        let latch = Latch::new();
        let handles: Vec<_> =
            (0..3).map(|_| dispatcher.dispatch(keyed(Work::gated(&latch), 7, FlowPolicy::join())).unwrap()).collect();
        let id = handles[0].id();
        assert!(handles.iter().all(|h| h.id() == id));
        latch.open();
        for handle in handles {
            assert_eq!(handle.await.ok(), Some(0));
        }
        assert_eq!(probe.calls(), 1);
        let events = rec.collect(rt, &dispatcher).await;
        // The job may start before or between the joins on a multi-threaded runtime.
        let mut seen = tags_of(&events, id);
        assert_eq!(seen.pop(), Some(Success));
        seen.sort();
        assert_eq!(seen, [Joined, Joined, Started]);
        assert_eq!(dispatcher.stats().joined, 2);
        assert_eq!(dispatcher.stats().pending, 0);
    });
}

/// Latest-wins: a second dispatch supersedes the running job, which ends `Cancelled`
/// ("superseded") with its attempt dropped; the second runs.
pub fn flow_latest_wins<R: Runtime>(rt: &R) {
    let (dispatcher, probe, mut rec) = setup(rt);
    rt.run(async {
        let first = dispatcher.dispatch(keyed(Work::forever(), 1, FlowPolicy::latest_wins())).unwrap();
        probe.entered.wait().await;
        let second = dispatcher.dispatch(keyed(Work::quick(0), 1, FlowPolicy::latest_wins())).unwrap();
        let (a, b) = (first.id(), second.id());
        assert!(superseded(&first.await));
        assert!(second.await.is_success());
        assert_eq!(probe.dropped(), 1);
        let events = rec.collect(rt, &dispatcher).await;
        assert_eq!(tags_of(&events, a), [Started, Cancelled]);
        assert_eq!(tags_of(&events, b), [Started, Success]);
        assert_eq!(dispatcher.stats().superseded, 1);
    });
}

/// Drop-while-busy: a dispatch while the key's job runs is refused with `Busy`, runs
/// nothing and emits nothing; the key is free again once the job ended.
pub fn flow_drop_while_busy<R: Runtime>(rt: &R) {
    let (dispatcher, probe, mut rec) = setup(rt);
    rt.run(async {
        let latch = Latch::new();
        let first = dispatcher.dispatch(keyed(Work::gated(&latch), 1, FlowPolicy::drop_while_busy())).unwrap();
        let refused = dispatcher.dispatch(keyed(Work::quick(0), 1, FlowPolicy::drop_while_busy()));
        assert_eq!(refused.unwrap_err(), DispatchError::Busy { job_type: "Work" });
        latch.open();
        assert!(first.await.is_success());
        let again = dispatcher.dispatch(keyed(Work::quick(0), 1, FlowPolicy::drop_while_busy())).unwrap();
        assert!(again.await.is_success());
        assert_eq!(probe.calls(), 2);
        let events = rec.collect(rt, &dispatcher).await;
        assert_eq!(events.iter().filter(|e| e.tag() == Started).count(), 2);
        assert_eq!(dispatcher.stats().dropped, 1);
    });
}

/// Dispatches a gated job then `second`, waits until `second` waits for its turn, lets
/// the first end, and returns the bus's events and the two ids: the shape of every
/// "the second starts after the first ended" scenario.
async fn second_after_first<R: Runtime>(
    rt: &R,
    dispatcher: &Dispatcher,
    rec: &mut Recorder,
    first: impl FnOnce(&Latch) -> JobBuilder<Work>,
    second: JobBuilder<Work>,
) -> (Vec<std::sync::Arc<Event>>, JobId, JobId) {
    let latch = Latch::new();
    let first = dispatcher.dispatch(first(&latch)).unwrap();
    let second = dispatcher.dispatch(second).unwrap();
    let (a, b) = (first.id(), second.id());
    wait_until_waiting(rt, dispatcher, 1).await;
    latch.open();
    assert!(first.await.is_success() && second.await.is_success());
    let events = rec.collect(rt, dispatcher).await;
    assert!(position(&events, a, Success) < position(&events, b, Started));
    (events, a, b)
}

/// Serial: the second job of a key waits (`Queued`) and starts only after the first
/// ended; a full queue refuses with `KeyQueueFull`.
pub fn flow_serial<R: Runtime>(rt: &R) {
    let (dispatcher, _, mut rec) = setup(rt);
    rt.run(async {
        let serial = FlowPolicy::serial().with_max_queued(1);
        let gated = |latch: &Latch| keyed(Work::gated(latch), 1, serial);
        let run = second_after_first(rt, &dispatcher, &mut rec, gated, keyed(Work::quick(0), 1, serial));
        // The queue holds one: a third dispatch, made while both are in flight, is refused.
        let (events, _, b) = futures::join!(run, async {
            let full = dispatcher.dispatch(keyed(Work::quick(0), 1, serial));
            assert_eq!(full.unwrap_err(), DispatchError::KeyQueueFull { job_type: "Work", limit: 1 });
        })
        .0;
        assert_eq!(tags_of(&events, b), [Queued, Started, Success]);
    });
}

/// A cap per job type: with a cap of 1 the second job starts after the first ended.
pub fn flow_cap_per_type<R: Runtime>(rt: &R) {
    let (dispatcher, _, mut rec) = setup(rt);
    dispatcher.set_max_concurrent::<Work>(Some(1));
    rt.run(async {
        let gated = |latch: &Latch| JobBuilder::new(Work::gated(latch));
        second_after_first(rt, &dispatcher, &mut rec, gated, JobBuilder::new(Work::quick(0))).await;
        assert_eq!(dispatcher.flow_stats::<Work>().queued, 1);
    });
}

/// A global cap (every job type together): with a cap of 1 the second job starts after
/// the first ended.
pub fn flow_global_cap<R: Runtime>(rt: &R) {
    let dispatcher = rt.build_dispatcher(|b| b.max_concurrent(1));
    let _probe = super::register_work(rt, &dispatcher);
    let mut rec = Recorder::new(dispatcher.bus());
    rt.run(async {
        let gated = |latch: &Latch| JobBuilder::new(Work::gated(latch));
        second_after_first(rt, &dispatcher, &mut rec, gated, JobBuilder::new(Work::quick(0))).await;
        assert_eq!(dispatcher.stats().waiting, 0);
    });
}

/// Priority lanes: behind a cap of 1, a high-priority job queued after a low one starts
/// first.
pub fn flow_priority<R: Runtime>(rt: &R) {
    let (dispatcher, _, mut rec) = setup(rt);
    dispatcher.set_max_concurrent::<Work>(Some(1));
    rt.run(async {
        let latch = Latch::new();
        let first = dispatcher.dispatch(Work::gated(&latch)).unwrap();
        let low = dispatcher.dispatch(JobBuilder::new(Work::quick(0)).priority(Priority::Low)).unwrap();
        let high = dispatcher.dispatch(JobBuilder::new(Work::quick(0)).priority(Priority::High)).unwrap();
        // Both wait for the permit before it is given back.
        wait_until_waiting(rt, &dispatcher, 2).await;
        let (l, h) = (low.id(), high.id());
        latch.open();
        assert!(first.await.is_success() && low.await.is_success() && high.await.is_success());
        let events = rec.collect(rt, &dispatcher).await;
        assert!(position(&events, h, Started) < position(&events, l, Started));
    });
}

/// Debounce: of two dispatches made together, only the last runs; the first resolves
/// superseded with `Queued` then `Cancelled`.
pub fn flow_debounce<R: Runtime>(rt: &R) {
    let (dispatcher, probe, mut rec) = setup(rt);
    rt.run(async {
        let debounce = FlowPolicy::concurrent().with_debounce(Duration::from_millis(300));
        let first = dispatcher.dispatch(keyed(Work::quick(0), 1, debounce)).unwrap();
        let second = dispatcher.dispatch(keyed(Work::quick(0), 1, debounce)).unwrap();
        let (a, b) = (first.id(), second.id());
        assert!(superseded(&first.await));
        assert!(second.await.is_success());
        assert_eq!(probe.calls(), 1);
        let events = rec.collect(rt, &dispatcher).await;
        assert_eq!(tags_of(&events, a), [Queued, Cancelled]);
        assert_eq!(tags_of(&events, b), [Queued, Started, Success]);
    });
}

/// Throttle: two jobs of one key start at least the period apart (by their events' own
/// timestamps).
pub fn flow_throttle<R: Runtime>(rt: &R) {
    let (dispatcher, _, mut rec) = setup(rt);
    rt.run(async {
        let period = Duration::from_millis(50);
        let throttle = FlowPolicy::concurrent().with_throttle(period);
        let first = dispatcher.dispatch(keyed(Work::quick(0), 1, throttle)).unwrap();
        let second = dispatcher.dispatch(keyed(Work::quick(0), 1, throttle)).unwrap();
        let (a, b) = (first.id(), second.id());
        assert!(first.await.is_success() && second.await.is_success());
        let events = rec.collect(rt, &dispatcher).await;
        let started = |id| events[position(&events, id, Started)].time();
        // The period holds between the jobs' starts; their `Started` events are stamped a
        // moment after (a thread switch in between on a real runtime): 1 ms of slack.
        let slack = if R::VIRTUAL_TIME { Duration::ZERO } else { Duration::from_millis(1) };
        assert!(started(b) + slack >= started(a) + period, "{:?} then {:?}", started(a), started(b));
        if R::VIRTUAL_TIME {
            assert_eq!(started(b), started(a) + period);
        }
    });
}
