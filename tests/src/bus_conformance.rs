//! The bus conformance suite: what every channel under a [`Bus`] must do (the contract in
//! `orchestrator_core::channel`), written once over a bus factory and instantiated by
//! [`bus_conformance_suite!`](crate::bus_conformance_suite) for the built-in ring and for
//! each other channel (`tests/tests/bus_conformance.rs`).
//!
//! Every check takes a [`MakeBus`]: a bus that retains `capacity` events. Lag counts are
//! exact only for a capacity the channel keeps as asked, so the checks use powers of two
//! (tokio's `broadcast` rounds up to one).

use std::cell::Cell;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use futures::StreamExt;
use orchestrator_core::TryNextError;
use orchestrator_core::{Bus, Event, Lagged, Subscription};

/// Makes a new bus that retains `capacity` events.
pub type MakeBus = fn(NonZeroUsize) -> Bus;

fn cap(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n).unwrap()
}

/// Every event ready now, without waiting.
fn drain(sub: &mut Subscription) -> Vec<Arc<Event>> {
    std::iter::from_fn(|| sub.try_next().ok()).collect()
}

fn numbers(events: &[Arc<Event>]) -> Vec<u32> {
    events.iter().map(|e| *e.data_as::<u32>().unwrap()).collect()
}

/// Counts its wake-ups.
#[derive(Default)]
struct CountWaker(AtomicUsize);

impl Wake for CountWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl CountWaker {
    fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// Every subscriber gets every event, in emit order, and the emit says how many will.
pub fn every_subscriber_gets_every_event_in_order(make: MakeBus) {
    let bus = make(cap(256));
    let mut subs: Vec<_> = (0..4).map(|_| bus.subscribe().unwrap()).collect();
    for i in 0..100_u32 {
        assert_eq!(bus.emit(Event::custom("n", i)), Ok(4));
    }
    for sub in &mut subs {
        assert_eq!(numbers(&drain(sub)), (0..100).collect::<Vec<_>>());
    }
}

/// A subscription sees only the events emitted after it was made.
pub fn a_late_subscriber_sees_only_later_events(make: MakeBus) {
    let bus = make(cap(8));
    let mut early = bus.subscribe().unwrap();
    bus.emit(Event::custom("n", 1_u32)).unwrap();
    let mut late = bus.subscribe().unwrap();
    bus.emit(Event::custom("n", 2_u32)).unwrap();
    assert_eq!(numbers(&drain(&mut early)), [1, 2]);
    assert_eq!(numbers(&drain(&mut late)), [2]);
}

/// A subscriber more than `capacity` events behind gets `Lagged(n)` with the exact count,
/// once, then the oldest retained events; the others see everything.
pub fn lag_is_reported_as_a_value_then_the_oldest_retained_follow(make: MakeBus) {
    let bus = make(cap(8));
    assert_eq!(bus.capacity(), 8);
    let mut slow_stream = bus.subscribe().unwrap();
    let mut slow_try = bus.subscribe().unwrap();
    let mut fast = bus.subscribe().unwrap();
    let mut fast_seen = Vec::new();
    for i in 0..30_u32 {
        assert_eq!(bus.emit(Event::custom("n", i)), Ok(3));
        fast_seen.extend(numbers(&drain(&mut fast)));
    }
    assert_eq!(fast_seen, (0..30).collect::<Vec<_>>());

    // As a stream item ...
    let first = futures::executor::block_on(slow_stream.next()).unwrap();
    assert_eq!(first.unwrap_err(), Lagged(22));
    assert_eq!(numbers(&drain(&mut slow_stream)), (22..30).collect::<Vec<_>>());
    // ... and from `try_next`.
    assert_eq!(slow_try.try_next().unwrap_err(), TryNextError::Lagged(22));
    assert_eq!(numbers(&drain(&mut slow_try)), (22..30).collect::<Vec<_>>());

    // Caught up: no further lag.
    bus.emit(Event::custom("n", 30_u32)).unwrap();
    assert_eq!(numbers(&drain(&mut slow_stream)), [30]);
}

/// Closing: emits and subscribes fail, every subscription gets what was already emitted
/// to it, then ends; closing again says it was closed already.
pub fn close_ends_streams_after_the_queued_events(make: MakeBus) {
    let bus = make(cap(8));
    let mut streamed = bus.subscribe().unwrap();
    let mut tried = bus.subscribe().unwrap();
    bus.emit(Event::custom("n", 1_u32)).unwrap();
    bus.emit(Event::custom("n", 2_u32)).unwrap();
    assert!(!bus.is_closed());
    assert!(bus.close());
    assert!(!bus.close(), "closing twice is harmless and reported");
    assert!(bus.is_closed());
    assert!(bus.emit(Event::custom("after", 3_u32)).is_err());
    assert!(bus.subscribe().is_err());

    let rest: Vec<_> = futures::executor::block_on(streamed.by_ref().collect::<Vec<_>>());
    assert_eq!(rest.into_iter().map(|e| *e.unwrap().data_as::<u32>().unwrap()).collect::<Vec<_>>(), [1, 2]);
    assert!(futures::executor::block_on(streamed.next()).is_none(), "the end is final");

    assert_eq!(numbers(&[tried.try_next().unwrap(), tried.try_next().unwrap()]), [1, 2]);
    assert_eq!(tried.try_next().unwrap_err(), TryNextError::Closed);
    assert_eq!(tried.try_next().unwrap_err(), TryNextError::Closed);
}

/// Dropping every handle of a bus closes it too.
pub fn dropping_the_last_handle_closes(make: MakeBus) {
    let bus = make(cap(8));
    let sub = bus.subscribe().unwrap();
    let other = bus.clone();
    bus.emit(Event::custom("n", 1_u32)).unwrap();
    drop(bus);
    assert!(!other.is_closed(), "a clone is still alive");
    other.emit(Event::custom("n", 2_u32)).unwrap();
    drop(other);
    let rest: Vec<_> = futures::executor::block_on(sub.collect::<Vec<_>>());
    assert_eq!(rest.len(), 2);
}

/// A waiting subscriber is woken by an emit and by the close.
pub fn emit_and_close_wake_waiting_subscribers(make: MakeBus) {
    let bus = make(cap(8));
    let mut sub = bus.subscribe().unwrap();
    let counter = Arc::new(CountWaker::default());
    let waker = Waker::from(Arc::clone(&counter));
    let mut cx = Context::from_waker(&waker);
    assert!(sub.poll_next_unpin(&mut cx).is_pending());
    bus.emit(Event::custom("n", 1_u32)).unwrap();
    assert!(counter.count() >= 1, "the emit woke the subscriber");
    let Poll::Ready(Some(Ok(event))) = sub.poll_next_unpin(&mut cx) else { panic!("the event is ready") };
    assert_eq!(numbers(&[event]), [1]);
    assert!(sub.poll_next_unpin(&mut cx).is_pending());
    let before = counter.count();
    bus.close();
    assert!(counter.count() > before, "the close woke the subscriber");
    assert!(matches!(sub.poll_next_unpin(&mut cx), Poll::Ready(None)));
}

/// An emit with no subscriber reports 0 and keeps nothing for later subscribers, and
/// `subscriber_count` follows subscriptions as they come and go.
pub fn subscriber_count_and_emit_without_subscribers(make: MakeBus) {
    let bus = make(cap(8));
    assert_eq!(bus.subscriber_count(), 0);
    assert_eq!(bus.emit(Event::custom("nobody", ())), Ok(0));
    let mut a = bus.subscribe().unwrap();
    let b = bus.subscribe().unwrap();
    assert_eq!(bus.subscriber_count(), 2);
    assert!(drain(&mut a).is_empty(), "the earlier event was not kept");
    drop(b);
    assert_eq!(bus.subscriber_count(), 1);
    assert_eq!(bus.emit(Event::custom("n", 1_u32)), Ok(1));
    drop(a);
    assert_eq!(bus.subscriber_count(), 0);
    assert_eq!(bus.emit(Event::custom("n", 2_u32)), Ok(0));
}

/// `emit_with` builds no event when nobody listens or the bus is closed.
pub fn no_event_is_built_when_nobody_listens(make: MakeBus) {
    let bus = make(cap(8));
    let built = Cell::new(0);
    let make_event = || {
        built.set(built.get() + 1);
        Event::custom("built", ())
    };
    assert_eq!(bus.emit_with(make_event), Ok(0));
    assert_eq!(built.get(), 0, "no subscriber, no event");
    let mut sub = bus.subscribe().unwrap();
    assert_eq!(bus.emit_with(make_event), Ok(1));
    assert_eq!(built.get(), 1);
    assert_eq!(sub.try_next().unwrap().job_type(), "built");
    drop(sub);
    assert_eq!(bus.emit_with(make_event), Ok(0));
    assert_eq!(built.get(), 1, "the last subscriber left");
    assert!(bus.close());
    assert!(bus.emit_with(make_event).is_err());
    assert_eq!(built.get(), 1, "a closed bus builds nothing either");
}

/// Subscribers share one event; none is cloned.
pub fn events_are_shared_not_cloned(make: MakeBus) {
    let bus = make(cap(8));
    let mut a = bus.subscribe().unwrap();
    let mut b = bus.subscribe().unwrap();
    bus.emit(Event::custom("x", vec![1_u8; 1024])).unwrap();
    assert!(Arc::ptr_eq(&a.try_next().unwrap(), &b.try_next().unwrap()));
}

/// Clones are the same bus, another bus is not.
pub fn clones_are_the_same_bus(make: MakeBus) {
    let bus = make(cap(8));
    assert!(bus.same_bus(&bus.clone()));
    assert!(!bus.same_bus(&make(cap(8))));
    assert!(!bus.same_bus(&Bus::new()));
}

/// Emitters on several threads, subscribers on others: every subscriber sees each
/// emitter's events in order, and what it saw plus what it lost is everything emitted.
pub fn threads_see_ordered_events_and_exact_lag_counts(make: MakeBus) {
    const EMITTERS: usize = 4;
    const PER_EMITTER: u32 = 2_000;
    let bus = make(cap(64));
    let subscribers: Vec<_> = (0..3)
        .map(|_| {
            let mut sub = bus.subscribe().unwrap();
            std::thread::spawn(move || {
                futures::executor::block_on(async move {
                    let mut last = [None::<u32>; EMITTERS];
                    let (mut seen, mut lost) = (0_u64, 0_u64);
                    while let Some(item) = sub.next().await {
                        match item {
                            Ok(event) => {
                                let &(emitter, seq) = event.data_as::<(usize, u32)>().unwrap();
                                assert!(last[emitter].is_none_or(|prev| prev < seq), "out of order");
                                last[emitter] = Some(seq);
                                seen += 1;
                            }
                            Err(Lagged(n)) => lost += n,
                        }
                    }
                    (seen, lost)
                })
            })
        })
        .collect();
    let emitters: Vec<_> = (0..EMITTERS)
        .map(|emitter| {
            let bus = bus.clone();
            std::thread::spawn(move || {
                for seq in 0..PER_EMITTER {
                    assert_eq!(bus.emit(Event::custom("n", (emitter, seq))), Ok(3));
                }
            })
        })
        .collect();
    for emitter in emitters {
        emitter.join().unwrap();
    }
    bus.close();
    for subscriber in subscribers {
        let (seen, lost) = subscriber.join().unwrap();
        assert_eq!(seen + lost, EMITTERS as u64 * u64::from(PER_EMITTER));
    }
}

/// Instantiates the suite for a bus factory: `bus_conformance_suite!(name, make)` expands
/// to `mod name { #[test] fn <check>() { ... } ... }`, `make` being a
/// `fn(NonZeroUsize) -> Bus` resolved from the invoking module.
///
/// ```ignore
/// orchestrator_tests::bus_conformance_suite!(ring, |capacity| Bus::with_capacity(capacity).unwrap());
/// ```
#[macro_export]
macro_rules! bus_conformance_suite {
    ($module:ident, $make:expr) => {
        $crate::bus_conformance_suite!(@expand $module, $make, [
            every_subscriber_gets_every_event_in_order,
            a_late_subscriber_sees_only_later_events,
            lag_is_reported_as_a_value_then_the_oldest_retained_follow,
            close_ends_streams_after_the_queued_events,
            dropping_the_last_handle_closes,
            emit_and_close_wake_waiting_subscribers,
            subscriber_count_and_emit_without_subscribers,
            no_event_is_built_when_nobody_listens,
            events_are_shared_not_cloned,
            clones_are_the_same_bus,
            threads_see_ordered_events_and_exact_lag_counts,
        ]);
    };
    (@expand $module:ident, $make:expr, [$($check:ident),* $(,)?]) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[test]
                fn $check() {
                    $crate::bus_conformance::$check($make);
                }
            )*
        }
    };
}
