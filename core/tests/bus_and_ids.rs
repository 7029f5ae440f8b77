//! Scoped bus isolation and a subscription's size; job id uniqueness. What every bus
//! does whatever its channel (delivery, order, lag, closing) is the bus conformance
//! suite, run over each channel by the tests crate (tests/tests/bus_conformance.rs).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs, missing_debug_implementations)]

mod common;

#[cfg(not(target_family = "wasm"))]
use std::collections::HashSet;

use common::{Harness, drain, tags};
use orchestrator_core::EventTag::*;
use orchestrator_core::{Bus, Job, JobId};

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
