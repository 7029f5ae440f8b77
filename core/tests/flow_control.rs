//! Flow control, on the virtual clock: one test per policy (join, latest-wins,
//! drop-while-busy, serial per key, caps per type and global, priority lanes with aging,
//! debounce, throttle), their composition and typed refusals, and the contract that every
//! handle, joined and superseded ones included, gets exactly one outcome.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs, missing_debug_implementations)]

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Harness, tags};
use orchestrator_core::EventTag::*;
use orchestrator_core::runtime::{Clock, Timer, VirtualClock};
use orchestrator_core::{
    DispatchError, Dispatcher, Event, EventKind, Executor, FlowConflict, FlowPolicy, Job, JobBuilder, JobContext,
    JobError, JobHandle, JobId, JobResult, Priority, SUPERSEDED,
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Sleeps `ms` on the clock, then returns `tag`.
#[derive(Clone)]
struct Work {
    #[allow(dead_code)] // what the dispatch keys it by; the executor does not read it
    key: u64,
    ms: u64,
    tag: u32,
}
impl Job for Work {
    type Output = u32;
}

/// Every start: (tag, virtual time).
type Starts = Arc<Mutex<Vec<(u32, Duration)>>>;

/// Records every start.
#[derive(Clone)]
struct Sleeper {
    clock: VirtualClock,
    starts: Starts,
}
impl Executor<Work> for Sleeper {
    async fn process(&self, job: &Work, _: &JobContext) -> Result<u32, JobError> {
        self.starts.lock().unwrap().push((job.tag, self.clock.now()));
        self.clock.sleep(ms(job.ms)).await;
        Ok(job.tag)
    }
}

fn setup() -> (Harness, Starts) {
    let h = Harness::new();
    let starts = Arc::new(Mutex::new(Vec::new()));
    h.dispatcher.register(Sleeper { clock: h.clock.clone(), starts: starts.clone() });
    (h, starts)
}

fn work(key: u64, ms: u64, tag: u32, policy: FlowPolicy) -> JobBuilder<Work> {
    JobBuilder::new(Work { key, ms, tag }).key(key).flow(policy)
}

fn starts(s: &Starts) -> Vec<(u32, u64)> {
    s.lock().unwrap().iter().map(|&(tag, at)| (tag, at.as_millis() as u64)).collect()
}

/// The events of each job id, in order.
fn by_job(events: &[Arc<Event>]) -> HashMap<JobId, Vec<orchestrator_core::EventTag>> {
    let mut map: HashMap<JobId, Vec<_>> = HashMap::new();
    for e in events {
        map.entry(e.id()).or_default().push(e.tag());
    }
    map
}

/// Every job's events end with exactly one terminal event.
fn assert_one_terminal_each(events: &[Arc<Event>]) {
    for (id, tags) in by_job(events) {
        let terminals = tags.iter().filter(|t| t.is_terminal()).count();
        assert_eq!(terminals, 1, "job {id}: {tags:?}");
        assert!(tags.last().unwrap().is_terminal(), "job {id}: the terminal event is not last: {tags:?}");
    }
}

/// Runs `fut` with `dispatcher`'s runner alongside, on virtual time.
fn run_with<F: std::future::Future>(clock: &VirtualClock, dispatcher: &Dispatcher, fut: F) -> F::Output {
    let runner = dispatcher.runner();
    orchestrator_core::runtime::run_virtual(clock, async {
        let (out, ()) = futures::join!(
            async {
                let out = fut.await;
                dispatcher.shutdown();
                out
            },
            runner
        );
        out
    })
    .unwrap()
}

fn await_all(h: &Harness, handles: Vec<JobHandle<u32>>) -> Vec<JobResult<u32>> {
    h.run(futures::future::join_all(handles))
}

#[test]
fn join_runs_one_execution_for_every_handle() {
    let (mut h, started) = setup();
    let handles: Vec<_> = (0..5).map(|i| h.dispatcher.dispatch(work(1, 100, i, FlowPolicy::join())).unwrap()).collect();
    let leader = handles[0].id();
    assert!(handles.iter().all(|handle| handle.id() == leader), "a joined handle carries the job's id");
    let results = await_all(&h, handles);
    assert!(results.iter().all(|r| r.clone().ok() == Some(0)), "{results:?}");
    assert_eq!(starts(&started), [(0, 0)], "one execution");
    let events = h.drain();
    assert_eq!(tags(&events), [Joined, Joined, Joined, Joined, Started, Success]);
    assert!(events.iter().all(|e| e.id() == leader));
    let stats = h.dispatcher.flow_stats::<Work>();
    assert_eq!(stats.joined, 4);
    assert_eq!(h.dispatcher.stats().joined, 4);
    assert_eq!(h.dispatcher.stats().pending, 0, "joined handles count as finished too");
}

#[test]
fn join_after_the_job_ended_runs_again_and_other_keys_run_apart() {
    let (h, started) = setup();
    let first = h.dispatcher.dispatch(work(1, 10, 1, FlowPolicy::join())).unwrap();
    let other = h.dispatcher.dispatch(work(2, 10, 2, FlowPolicy::join())).unwrap();
    assert_eq!(await_all(&h, vec![first, other]).len(), 2);
    let again = h.dispatcher.dispatch(work(1, 10, 3, FlowPolicy::join())).unwrap();
    assert_eq!(h.run(again).ok(), Some(3));
    assert_eq!(starts(&started).len(), 3);
}

#[test]
fn cancelling_a_joined_handle_cancels_the_shared_execution() {
    let (mut h, _) = setup();
    let leader = h.dispatcher.dispatch(work(1, 100, 1, FlowPolicy::join())).unwrap();
    let joined = h.dispatcher.dispatch(work(1, 100, 2, FlowPolicy::join())).unwrap();
    assert!(joined.cancel_with_reason("user left"));
    let results = await_all(&h, vec![leader, joined]);
    for r in &results {
        assert!(matches!(r, JobResult::Cancelled(Some(reason)) if &**reason == "user left"), "{r:?}");
    }
    assert_one_terminal_each(&h.drain());
}

#[test]
fn latest_wins_supersedes_the_job_in_flight() {
    let (mut h, started) = setup();
    let first = h.dispatcher.dispatch(work(1, 100, 1, FlowPolicy::latest_wins())).unwrap();
    let (first, second) = h.run(async {
        h.clock.sleep(ms(10)).await;
        let second = h.dispatcher.dispatch(work(1, 100, 2, FlowPolicy::latest_wins())).unwrap();
        futures::join!(first, second)
    });
    assert!(matches!(&first, JobResult::Cancelled(Some(r)) if &**r == SUPERSEDED), "{first:?}");
    assert_eq!(second.ok(), Some(2));
    assert_eq!(starts(&started), [(1, 0), (2, 10)]);
    let events = h.drain();
    assert_one_terminal_each(&events);
    assert_eq!(h.dispatcher.flow_stats::<Work>().superseded, 1);
    assert_eq!(h.dispatcher.stats().superseded, 1);
}

#[test]
fn drop_while_busy_refuses_with_a_typed_error_and_emits_nothing() {
    let (mut h, started) = setup();
    let first = h.dispatcher.dispatch(work(1, 100, 1, FlowPolicy::drop_while_busy())).unwrap();
    let refused = h.dispatcher.dispatch(work(1, 100, 2, FlowPolicy::drop_while_busy()));
    assert_eq!(refused.unwrap_err(), DispatchError::Busy { job_type: "Work" });
    let elsewhere = h.dispatcher.dispatch(work(2, 100, 3, FlowPolicy::drop_while_busy())).unwrap();
    assert_eq!(await_all(&h, vec![first, elsewhere]).len(), 2);
    assert_eq!(starts(&started), [(1, 0), (3, 0)]);
    assert_eq!(tags(&h.drain()), [Started, Started, Success, Success]);
    // Free again once the job ended.
    let again = h.dispatcher.dispatch(work(1, 1, 4, FlowPolicy::drop_while_busy())).unwrap();
    assert_eq!(h.run(again).ok(), Some(4));
    assert_eq!(h.dispatcher.stats().dropped, 1);
    assert_eq!(h.dispatcher.stats().pending, 0);
}

#[test]
fn serial_runs_one_job_per_key_at_a_time_in_order_with_a_bounded_queue() {
    let (mut h, started) = setup();
    let serial = FlowPolicy::serial().with_max_queued(2);
    let handles: Vec<_> = (0..3).map(|i| h.dispatcher.dispatch(work(1, 10, i, serial)).unwrap()).collect();
    let full = h.dispatcher.dispatch(work(1, 10, 9, serial));
    assert_eq!(full.unwrap_err(), DispatchError::KeyQueueFull { job_type: "Work", limit: 2 });
    let other = h.dispatcher.dispatch(work(2, 10, 5, serial)).unwrap();
    let mut all = handles;
    all.push(other);
    let results = await_all(&h, all);
    assert_eq!(results.into_iter().map(|r| r.ok().unwrap()).collect::<Vec<_>>(), [0, 1, 2, 5]);
    let mut s = starts(&started);
    s.sort_by_key(|&(tag, _)| tag);
    assert_eq!(s, [(0, 0), (1, 10), (2, 20), (5, 0)]);
    let events = h.drain();
    assert_one_terminal_each(&events);
    assert_eq!(tags(&events).iter().filter(|t| **t == Queued).count(), 2);
    let stats = h.dispatcher.flow_stats::<Work>();
    assert_eq!((stats.queued, stats.dropped, stats.waiting), (2, 1, 0));
    assert_eq!(stats.total_wait, ms(30), "waits of 10 and 20 ms");
    assert_eq!(stats.max_wait, ms(20));
}

#[test]
fn a_queued_job_cancelled_while_it_waits_ends_alone_and_the_queue_moves_on() {
    let (mut h, started) = setup();
    let serial = FlowPolicy::serial();
    let a = h.dispatcher.dispatch(work(1, 10, 1, serial)).unwrap();
    let b = h.dispatcher.dispatch(work(1, 10, 2, serial)).unwrap();
    let c = h.dispatcher.dispatch(work(1, 10, 3, serial)).unwrap();
    let b_id = b.id();
    b.cancel();
    let results = await_all(&h, vec![a, b, c]);
    assert!(matches!(results[1], JobResult::Cancelled(None)));
    assert_eq!(starts(&started), [(1, 0), (3, 10)]);
    let events = h.drain();
    assert_one_terminal_each(&events);
    assert_eq!(by_job(&events)[&b_id], [Queued, Cancelled], "no Started for a job that never started");
}

#[test]
fn a_cap_per_type_and_a_global_cap_bound_the_jobs_running_at_once() {
    let (h, started) = setup();
    h.dispatcher.set_max_concurrent::<Work>(Some(2));
    let handles: Vec<_> =
        (0..5).map(|i| h.dispatcher.dispatch(Work { key: u64::from(i), ms: 10, tag: i }).unwrap()).collect();
    assert_eq!(await_all(&h, handles).len(), 5);
    let times: Vec<u64> = starts(&started).into_iter().map(|(_, at)| at).collect();
    assert_eq!(times, [0, 0, 10, 10, 20]);

    let clock = VirtualClock::new();
    let dispatcher = Dispatcher::builder().timer(clock.clone()).max_concurrent(1).build().unwrap();
    let global = Arc::new(Mutex::new(Vec::new()));
    dispatcher.register(Sleeper { clock: clock.clone(), starts: global.clone() });
    let handles: Vec<_> = (0..3).map(|i| dispatcher.dispatch(Work { key: 0, ms: 5, tag: i }).unwrap()).collect();
    let results = run_with(&clock, &dispatcher, futures::future::join_all(handles));
    assert!(results.iter().all(JobResult::is_success));
    assert_eq!(starts(&global), [(0, 0), (1, 5), (2, 10)]);
    assert_eq!(dispatcher.stats().waiting, 0);
}

#[test]
fn higher_lanes_go_first_and_aging_lets_a_low_lane_through() {
    let clock = VirtualClock::new();
    let dispatcher = Dispatcher::builder().timer(clock.clone()).priority_aging(2).build().unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    dispatcher.register(Sleeper { clock: clock.clone(), starts: order.clone() });
    dispatcher.set_max_concurrent::<Work>(Some(1));
    let job = |tag, priority| JobBuilder::new(Work { key: 0, ms: 1, tag }).priority(priority);
    let mut handles = vec![dispatcher.dispatch(job(0, Priority::Normal)).unwrap()];
    handles.push(dispatcher.dispatch(job(10, Priority::Low)).unwrap());
    for tag in 1..=4 {
        handles.push(dispatcher.dispatch(job(tag, Priority::High)).unwrap());
    }
    run_with(&clock, &dispatcher, futures::future::join_all(handles));
    let tags: Vec<u32> = order.lock().unwrap().iter().map(|&(tag, _)| tag).collect();
    // The low job is passed over twice (aging 2), then served before the other high ones.
    assert_eq!(tags, [0, 1, 2, 10, 3, 4]);
}

#[test]
fn debounce_runs_only_the_last_dispatch_of_a_burst() {
    let (mut h, started) = setup();
    let debounce = FlowPolicy::concurrent().with_debounce(ms(200));
    let results = h.run(async {
        let a = h.dispatcher.dispatch(work(1, 10, 1, debounce)).unwrap();
        h.clock.sleep(ms(50)).await;
        let b = h.dispatcher.dispatch(work(1, 10, 2, debounce)).unwrap();
        h.clock.sleep(ms(50)).await;
        let c = h.dispatcher.dispatch(work(1, 10, 3, debounce)).unwrap();
        futures::join!(a, b, c)
    });
    assert!(matches!(&results.0, JobResult::Cancelled(Some(r)) if &**r == SUPERSEDED));
    assert!(matches!(&results.1, JobResult::Cancelled(Some(r)) if &**r == SUPERSEDED), "{results:?}");
    assert_eq!(results.2.ok(), Some(3));
    assert_eq!(starts(&started), [(3, 300)], "100 ms + the 200 ms debounce");
    let events = h.drain();
    assert_one_terminal_each(&events);
    let jobs = by_job(&events);
    assert_eq!(jobs.values().filter(|t| **t == [Queued, Cancelled]).count(), 2);
    assert_eq!(jobs.values().filter(|t| **t == [Queued, Started, Success]).count(), 1);
    assert_eq!(h.dispatcher.flow_stats::<Work>().superseded, 2);
}

#[test]
fn throttle_starts_at_most_one_job_per_period() {
    let (h, started) = setup();
    let throttle = FlowPolicy::concurrent().with_throttle(ms(100));
    let handles: Vec<_> = (0..3).map(|i| h.dispatcher.dispatch(work(1, 1, i, throttle)).unwrap()).collect();
    assert!(await_all(&h, handles).iter().all(JobResult::is_success));
    assert_eq!(starts(&started), [(0, 0), (1, 100), (2, 200)]);
    // The period holds after the jobs ended.
    let late = h.dispatcher.dispatch(work(1, 1, 3, throttle)).unwrap();
    assert_eq!(h.run(late).ok(), Some(3));
    assert_eq!(starts(&started)[3], (3, 300));
}

#[test]
fn debounce_then_latest_wins_supersedes_the_running_job_when_the_survivor_starts() {
    let (mut h, started) = setup();
    let policy = FlowPolicy::latest_wins().with_debounce(ms(50));
    let (a, b) = h.run(async {
        let a = h.dispatcher.dispatch(work(1, 1_000, 1, policy)).unwrap();
        h.clock.sleep(ms(100)).await; // a runs from 50
        let b = h.dispatcher.dispatch(work(1, 10, 2, policy)).unwrap();
        futures::join!(a, b)
    });
    assert!(matches!(&a, JobResult::Cancelled(Some(r)) if &**r == SUPERSEDED), "{a:?}");
    assert_eq!(b.ok(), Some(2));
    assert_eq!(starts(&started), [(1, 50), (2, 150)]);
    assert_one_terminal_each(&h.drain());
}

#[test]
fn combinations_that_do_not_compose_are_refused_with_a_typed_error() {
    let (h, _) = setup();
    let refused = h.dispatcher.dispatch(work(1, 1, 1, FlowPolicy::join().with_debounce(ms(10))));
    assert_eq!(
        refused.unwrap_err(),
        DispatchError::FlowConflict { job_type: "Work", conflict: FlowConflict::DebounceWithJoin }
    );
    let refused = h.dispatcher.dispatch(work(1, 1, 1, FlowPolicy::drop_while_busy().with_debounce(ms(10))));
    assert!(matches!(refused, Err(DispatchError::FlowConflict { .. })));
    let both = FlowPolicy::concurrent().with_debounce(ms(10)).with_throttle(ms(10));
    assert_eq!(both.check(), Err(FlowConflict::DebounceWithThrottle));
    assert_eq!(h.dispatcher.set_flow::<Work>(both), Err(FlowConflict::DebounceWithThrottle));
    assert_eq!(FlowPolicy::serial().with_throttle(Duration::ZERO).check(), Err(FlowConflict::ZeroPeriod));
    assert_eq!(h.dispatcher.stats().pending, 0, "nothing was dispatched");

    let no_timer = Dispatcher::new();
    no_timer.register(Sleeper { clock: VirtualClock::new(), starts: Arc::default() });
    let refused = no_timer.dispatch(work(1, 1, 1, FlowPolicy::concurrent().with_throttle(ms(10))));
    assert_eq!(refused.unwrap_err(), DispatchError::NoTimer { job_type: "Work" });
}

#[test]
fn a_type_policy_applies_unless_the_dispatch_sets_its_own() {
    let (h, started) = setup();
    h.dispatcher.set_flow::<Work>(FlowPolicy::join()).unwrap();
    let a = h.dispatcher.dispatch(JobBuilder::new(Work { key: 0, ms: 10, tag: 1 })).unwrap();
    let b = h.dispatcher.dispatch(Work { key: 0, ms: 10, tag: 2 }).unwrap();
    let c =
        h.dispatcher.dispatch(JobBuilder::new(Work { key: 0, ms: 10, tag: 3 }).flow(FlowPolicy::concurrent())).unwrap();
    let results = await_all(&h, vec![a, b, c]);
    assert_eq!(results.into_iter().map(|r| r.ok().unwrap()).collect::<Vec<_>>(), [1, 1, 3]);
    assert_eq!(starts(&started).len(), 2);
}

#[test]
fn a_dispatch_made_on_seeing_the_result_finds_the_key_free() {
    let (h, started) = setup();
    let out = h.run(async {
        let mut last = None;
        for tag in 0..3 {
            let handle = h.dispatcher.dispatch(work(1, 5, tag, FlowPolicy::drop_while_busy())).unwrap();
            last = handle.await.ok();
        }
        last
    });
    assert_eq!(out, Some(2));
    assert_eq!(starts(&started).len(), 3);
}

#[test]
fn a_job_without_a_policy_emits_no_flow_events() {
    let (mut h, _) = setup();
    let handle = h.dispatcher.dispatch(Work { key: 0, ms: 1, tag: 1 }).unwrap();
    assert!(h.run(handle).is_success());
    assert_eq!(tags(&h.drain()), [Started, Success]);
    let kinds_seen = [EventKind::Queued.tag(), EventKind::Joined.tag()];
    assert_eq!(kinds_seen, [Queued, Joined]);
}

#[test]
fn throttle_holds_between_actual_starts_when_a_cap_delays_them() {
    let (h, started) = setup();
    h.dispatcher.set_max_concurrent::<Work>(Some(1));
    let throttle = FlowPolicy::concurrent().with_throttle(ms(100));
    // Another key holds the cap for 250 ms: both throttled jobs get it late.
    let blocker = h.dispatcher.dispatch(Work { key: 2, ms: 250, tag: 9 }).unwrap();
    let a = h.dispatcher.dispatch(work(1, 1, 1, throttle)).unwrap();
    let b = h.dispatcher.dispatch(work(1, 1, 2, throttle)).unwrap();
    assert!(await_all(&h, vec![blocker, a, b]).iter().all(JobResult::is_success));
    assert_eq!(starts(&started), [(9, 0), (1, 250), (2, 350)]);
}
