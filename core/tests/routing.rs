//! Routing at scale: an orchestrator's own jobs' events come to its host directly; a host
//! whose orchestrator does not handle other jobs' events stops reading the bus, so an
//! event costs the same however many orchestrators share the bus. Own-vs-others
//! semantics are unchanged. All on virtual time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs, missing_debug_implementations)]

use core::time::Duration;

use futures::StreamExt;
use futures::future::join_all;
use orchestrator_core::runtime::{Timer, VirtualClock, run_virtual};
use orchestrator_core::{
    Context, Dispatcher, Event, Host, Job, JobContext, JobError, Orchestrator, OrchestratorHandle, executor_fn,
};

#[derive(Clone)]
struct Tick;
impl Job for Tick {
    type Output = u32;
}

/// Counts its own successes; handles no other job's events (the default).
struct Counter;
impl Orchestrator for Counter {
    type State = u32;
    type Command = ();
    fn handle(&mut self, (): (), ctx: &mut Context<'_, Self>) {
        ctx.dispatch(Tick).unwrap();
    }
    fn on_active_success(&mut self, event: &Event, ctx: &mut Context<'_, Self>) {
        assert_eq!(event.data_as::<u32>(), Some(&7));
        ctx.update_state(|n| *n += 1);
    }
}

/// Counts other jobs' successes.
struct Watcher;
impl Orchestrator for Watcher {
    type State = u32;
    type Command = ();
    fn handle(&mut self, (): (), _: &mut Context<'_, Self>) {}
    fn on_passive_event(&mut self, event: &Event, ctx: &mut Context<'_, Self>) {
        if event.data_as::<u32>().is_some() {
            ctx.update_state(|n| *n += 1);
        }
    }
}

fn world() -> (VirtualClock, Dispatcher) {
    let clock = VirtualClock::new();
    let dispatcher = Dispatcher::builder().timer(clock.clone()).build().unwrap();
    let timer = clock.clone();
    dispatcher.register(executor_fn(move |_: Tick, _: JobContext| {
        let timer = timer.clone();
        async move {
            timer.sleep(Duration::from_millis(10)).await;
            Ok::<_, JobError>(7)
        }
    }));
    (clock, dispatcher)
}

/// Waits until `handle`'s state is `want`.
async fn state_is<O: Orchestrator<State = u32>>(handle: &OrchestratorHandle<O>, want: u32) {
    let mut states = handle.states();
    while states.next().await != Some(want) {}
}

#[test]
fn hosts_without_passive_interest_stop_reading_the_bus_and_still_get_their_jobs_events() {
    const HOSTS: usize = 20;
    let (clock, dispatcher) = world();
    let (hosts, handles): (Vec<Host<Counter>>, Vec<_>) =
        (0..HOSTS).map(|_| Counter.start(0, &dispatcher).unwrap()).unzip();
    assert_eq!(dispatcher.bus().subscriber_count(), HOSTS, "every host starts reading the bus");
    let (watcher, watched) = Watcher.start(0, &dispatcher).unwrap();
    let runner = dispatcher.runner();
    let bus = dispatcher.bus().clone();
    run_virtual(&clock, async {
        let script = async {
            // The first host's job: foreign to every other host, which then stops reading.
            handles[0].send(()).await.unwrap();
            state_is(&handles[0], 1).await;
            assert_eq!(bus.subscriber_count(), 2, "the first host (nothing foreign seen yet) and the watcher");
            // Every host's job still reaches its own host, and only it.
            for handle in &handles {
                handle.send(()).await.unwrap();
            }
            for (i, handle) in handles.iter().enumerate() {
                state_is(handle, if i == 0 { 2 } else { 1 }).await;
            }
            assert_eq!(bus.subscriber_count(), 1, "only the watcher reads the bus");
            state_is(&watched, 21).await;
            // A host that stopped reading the bus still ends with it.
            bus.close();
            dispatcher.shutdown();
        };
        let hosts = join_all(hosts);
        futures::join!(hosts, watcher, runner, script);
    })
    .unwrap();
    assert!(handles.iter().all(|h| h.is_finished()));
    let stats = handles[1].stats();
    assert_eq!((stats.active_events, stats.passive_events, stats.active_jobs), (2, 1, 0), "{stats:?}");
}

#[test]
fn an_event_marked_for_one_host_is_still_seen_by_the_others_that_read_the_bus() {
    let (clock, dispatcher) = world();
    let (counter, counted) = Counter.start(0, &dispatcher).unwrap();
    let (watcher, watched) = Watcher.start(0, &dispatcher).unwrap();
    let mut events = dispatcher.bus().subscribe().unwrap();
    let runner = dispatcher.runner();
    run_virtual(&clock, async {
        let script = async {
            counted.send(()).await.unwrap();
            state_is(&counted, 1).await;
            state_is(&watched, 1).await;
            counted.shutdown();
            watched.shutdown();
            dispatcher.shutdown();
        };
        futures::join!(counter, watcher, runner, script);
    })
    .unwrap();
    // A plain subscriber sees the job's events too, once each.
    let mut seen = Vec::new();
    while let Ok(event) = events.try_next() {
        seen.push(event.tag());
    }
    assert_eq!(seen, [orchestrator_core::EventTag::Started, orchestrator_core::EventTag::Success]);
    assert_eq!(counted.stats().active_events, 2);
}

/// Polls a future once with a no-op waker.
fn poll_once<F: core::future::Future + Unpin>(f: &mut F) -> core::task::Poll<F::Output> {
    core::pin::Pin::new(f).poll(&mut core::task::Context::from_waker(core::task::Waker::noop()))
}

#[test]
fn a_host_reading_only_its_route_loses_nothing_to_foreign_events() {
    let clock = VirtualClock::new();
    let bus = orchestrator_core::Bus::with_capacity(core::num::NonZeroUsize::new(4).unwrap()).unwrap();
    let dispatcher = Dispatcher::builder().timer(clock.clone()).bus(bus.clone()).build().unwrap();
    dispatcher.register(executor_fn(|_: Tick, _: JobContext| async { Ok::<_, JobError>(7) }));
    let (mut host, handle) = Counter.start(0, &dispatcher).unwrap();
    let mut runner = Box::pin(dispatcher.runner());

    // One foreign event: the orchestrator ignores it (the default), so its host stops
    // reading the bus.
    bus.emit(Event::custom("hello", ())).unwrap();
    assert!(poll_once(&mut host).is_pending());
    assert_eq!(bus.subscriber_count(), 0);

    // Its job runs to its end, then 10 foreign events would overflow a subscription of
    // the bus (capacity 4): the host gets its job's events all the same.
    handle.try_send(()).unwrap();
    assert!(poll_once(&mut host).is_pending());
    assert!(poll_once(&mut runner).is_pending());
    for _ in 0..10 {
        bus.emit(Event::custom("noise", ())).unwrap();
    }
    assert!(poll_once(&mut host).is_pending());
    assert_eq!(handle.state(), 1);
    let stats = handle.stats();
    assert_eq!((stats.active_events, stats.lagged_events, stats.recovered_jobs), (2, 0, 0), "{stats:?}");

    // And it still ends when the bus closes.
    bus.close();
    assert!(poll_once(&mut host).is_ready());
}
