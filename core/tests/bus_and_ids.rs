//! Bus delivery, lag, closing and scoped isolation; job id uniqueness.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs, missing_debug_implementations)]

mod common;

#[cfg(not(target_family = "wasm"))]
use std::collections::HashSet;
use std::num::NonZeroUsize;

use common::{Harness, drain, tags};
use futures::StreamExt;
use orchestrator_core::EventTag::*;
use orchestrator_core::{Bus, Event, Job, JobId, Lagged};

#[derive(Clone)]
struct Ping;
impl Job for Ping {
    type Output = ();
}

fn harness() -> Harness {
    let h = Harness::new();
    h.dispatcher.register(orchestrator_core::executor_fn(|_: Ping, _| async { Ok(()) }));
    h
}

#[test]
fn scoped_bus_events_never_reach_the_default_bus_and_back() {
    let mut h = harness();
    let scoped = Bus::new();
    let mut scoped_events = scoped.subscribe().unwrap();

    let on_scoped = h.dispatcher.dispatch_on(&scoped, Ping).unwrap();
    let scoped_id = on_scoped.id();
    h.run(on_scoped);
    let on_default = h.dispatcher.dispatch(Ping).unwrap();
    let default_id = on_default.id();
    h.run(on_default);

    let default_events = h.drain();
    let scoped_seen = drain(&mut scoped_events);
    assert_eq!(tags(&default_events), [Started, Success]);
    assert_eq!(tags(&scoped_seen), [Started, Success]);
    assert!(default_events.iter().all(|e| e.id() == default_id));
    assert!(scoped_seen.iter().all(|e| e.id() == scoped_id));
}

#[test]
fn every_subscriber_gets_every_event_in_order() {
    let bus = Bus::new();
    let mut subs: Vec<_> = (0..4).map(|_| bus.subscribe().unwrap()).collect();
    for i in 0..100_u32 {
        assert_eq!(bus.emit(Event::custom("n", i)), Ok(4));
    }
    for sub in &mut subs {
        let seen: Vec<u32> = drain(sub).iter().map(|e| *e.data_as::<u32>().unwrap()).collect();
        assert_eq!(seen, (0..100).collect::<Vec<_>>());
    }
}

#[test]
fn late_subscriber_sees_only_later_events() {
    let bus = Bus::new();
    bus.emit(Event::custom("early", 1_u8)).unwrap();
    let mut sub = bus.subscribe().unwrap();
    bus.emit(Event::custom("late", 2_u8)).unwrap();
    let seen = drain(&mut sub);
    assert_eq!(tags(&seen), [Custom("late")]);
}

#[test]
fn a_slow_subscriber_gets_the_exact_lag_while_others_see_everything() {
    let bus = Bus::with_capacity(NonZeroUsize::new(8).unwrap()).unwrap();
    let mut slow = bus.subscribe().unwrap();
    let mut fast = bus.subscribe().unwrap();
    let mut fast_seen = Vec::new();
    for i in 0..30_u32 {
        bus.emit(Event::custom("n", i)).unwrap();
        fast_seen.extend(drain(&mut fast).iter().map(|e| *e.data_as::<u32>().unwrap()));
    }
    assert_eq!(fast_seen, (0..30).collect::<Vec<_>>());

    let first = futures::executor::block_on(slow.next()).unwrap();
    assert_eq!(first.unwrap_err(), Lagged(22));
    let rest: Vec<u32> = drain(&mut slow).iter().map(|e| *e.data_as::<u32>().unwrap()).collect();
    assert_eq!(rest, (22..30).collect::<Vec<_>>());
}

#[test]
fn closing_the_bus_ends_subscriptions_and_emit_says_so() {
    let bus = Bus::new();
    let mut sub = bus.subscribe().unwrap();
    bus.emit(Event::custom("before", ())).unwrap();
    assert!(bus.close());
    assert!(!bus.close(), "closing twice is harmless and reported");
    assert!(bus.emit(Event::custom("after", ())).is_err());
    assert!(bus.subscribe().is_err());
    // Already queued events are still delivered, then the stream ends.
    let rest: Vec<_> = futures::executor::block_on(sub.by_ref().collect::<Vec<_>>());
    assert_eq!(rest.len(), 1);
    assert!(futures::executor::block_on(sub.next()).is_none());
}

#[test]
fn emit_without_subscribers_reports_zero_and_keeps_nothing() {
    let bus = Bus::new();
    assert_eq!(bus.emit(Event::custom("nobody", ())), Ok(0));
    let mut sub = bus.subscribe().unwrap();
    assert!(drain(&mut sub).is_empty());
}

#[test]
fn no_event_is_built_when_nobody_listens() {
    let bus = Bus::new();
    let built = std::cell::Cell::new(0);
    let make = || {
        built.set(built.get() + 1);
        Event::custom("built", ())
    };
    assert_eq!(bus.emit_with(make), Ok(0));
    assert_eq!(built.get(), 0, "no subscriber, no event");
    let mut sub = bus.subscribe().unwrap();
    assert_eq!(bus.emit_with(make), Ok(1));
    assert_eq!(built.get(), 1);
    assert_eq!(sub.try_next().unwrap().job_type(), "built");
    drop(sub);
    assert_eq!(bus.emit_with(make), Ok(0));
    assert_eq!(built.get(), 1, "the last subscriber left");
    assert!(bus.close());
    assert!(bus.emit_with(make).is_err());
    assert_eq!(built.get(), 1, "a closed bus builds nothing either");
}

/// An idle subscriber costs its `Subscription` plus a waker slot (two words) in the bus's
/// shared state. The slots are in a `Vec`, which can hold up to twice that after growing.
/// Together at most 64 bytes on a 64-bit target (a tokio broadcast receiver is 16, an
/// async-broadcast one 24); the bench measures the real figure ("bytes per idle
/// subscriber" in docs/performance.md).
#[cfg(target_pointer_width = "64")]
#[test]
fn an_idle_subscription_costs_at_most_64_bytes() {
    use std::mem::size_of;
    let slot = size_of::<Option<std::task::Waker>>();
    assert!(size_of::<orchestrator_core::Subscription>() + 2 * slot <= 64);
}

#[test]
fn events_are_shared_not_cloned() {
    let bus = Bus::new();
    let mut a = bus.subscribe().unwrap();
    let mut b = bus.subscribe().unwrap();
    bus.emit(Event::custom("x", vec![1_u8; 1024])).unwrap();
    let ea = a.try_next().unwrap();
    let eb = b.try_next().unwrap();
    assert!(std::sync::Arc::ptr_eq(&ea, &eb));
}

#[cfg(not(target_family = "wasm"))] // no threads on wasm32
#[cfg_attr(miri, ignore = "800_000 ids: too slow under Miri")]
#[test]
fn job_ids_are_unique_across_threads() {
    let threads: Vec<_> = (0..8)
        .map(|_| std::thread::spawn(|| (0..100_000).map(|_| JobId::next("t").seq()).collect::<Vec<_>>()))
        .collect();
    let mut all = HashSet::with_capacity(800_000);
    for t in threads {
        for id in t.join().unwrap() {
            assert!(all.insert(id), "duplicate id {id}");
        }
    }
    assert_eq!(all.len(), 800_000);
}

#[test]
fn job_id_display_has_prefix_and_counter() {
    let id = JobId::next("fetch_user");
    assert_eq!(id.to_string(), format!("fetch_user-{}", id.seq()));
    let h = harness();
    let handle = h.dispatcher.dispatch(Ping).unwrap();
    assert!(handle.id().to_string().starts_with("Ping-"));
    let prefixed = h.dispatcher.dispatch(orchestrator_core::JobBuilder::new(Ping).id_prefix("ping")).unwrap();
    assert!(prefixed.id().to_string().starts_with("ping-"));
}
