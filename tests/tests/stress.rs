//! Multi-thread stress of the bus: 8 publishers × 8 subscribers × 100 000 events each,
//! on tokio multi-thread (2 workers) and on a 2-thread smol executor.
//!
//! Every subscriber must see each publisher's events in that publisher's order, and
//! either all of them or explicit `Lagged(n)` reports that account for exactly the
//! missing ones: per subscriber, seen + lagged == 800 000.
#![cfg(any(feature = "tokio", feature = "smol"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::future::Future;
use std::num::NonZeroUsize;
use std::pin::Pin;

use futures::StreamExt;
use orchestrator_core::{Bus, Event, Lagged, Subscription};
use orchestrator_tests::util::yield_now;

const PUBLISHERS: usize = 8;
const SUBSCRIBERS: usize = 8;
const EVENTS_PER_PUBLISHER: u64 = 100_000;
const TOTAL: u64 = PUBLISHERS as u64 * EVENTS_PER_PUBLISHER;

/// Publishers yield every this many events, so subscribers get the threads too.
const YIELD_EVERY: u64 = 256;

/// Bus capacity: large enough that lag is rare (a subscriber must fall this far behind),
/// small enough that it can happen; the accounting is exact either way.
const CAPACITY: usize = 16 * 1024;

/// The payload of a stress event.
#[derive(Debug, Clone, Copy)]
struct Seq {
    publisher: usize,
    seq: u64,
}

/// What one subscriber saw.
#[derive(Debug, Default)]
struct Tally {
    seen: u64,
    lagged: u64,
    lag_reports: u64,
    seen_per_publisher: [u64; PUBLISHERS],
}

async fn publish(bus: Bus, publisher: usize) {
    for seq in 0..EVENTS_PER_PUBLISHER {
        bus.emit(Event::custom("stress", Seq { publisher, seq })).expect("the bus is open while publishing");
        if seq % YIELD_EVERY == YIELD_EVERY - 1 {
            yield_now().await;
        }
    }
}

async fn subscribe(mut sub: Subscription) -> Tally {
    let mut tally = Tally::default();
    let mut next_expected = [0_u64; PUBLISHERS];
    while let Some(item) = sub.next().await {
        match item {
            Ok(event) => {
                let Seq { publisher, seq } = *event.data_as::<Seq>().expect("a stress event");
                // In the publisher's order: never a step back or a repeat; a gap only
                // after a lag.
                assert!(
                    seq >= next_expected[publisher],
                    "publisher {publisher}: got {seq} after {}",
                    next_expected[publisher]
                );
                if seq > next_expected[publisher] {
                    assert!(tally.lag_reports > 0, "publisher {publisher}: event {seq} skipped without a lag report");
                }
                next_expected[publisher] = seq + 1;
                tally.seen += 1;
                tally.seen_per_publisher[publisher] += 1;
            }
            Err(Lagged(n)) => {
                assert!(n > 0, "a lag of zero events");
                tally.lagged += n;
                tally.lag_reports += 1;
            }
        }
    }
    tally
}

type Task<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Runs the stress with `spawn` (which starts a task on the runtime and returns a future
/// of its output) and `block_on`.
fn stress(
    runtime: &str,
    spawn: impl Fn(Task<Tally>) -> Task<Tally>,
    spawn_unit: impl Fn(Task<()>) -> Task<()>,
    block_on: impl FnOnce(Task<()>),
) {
    let bus = Bus::with_capacity(NonZeroUsize::new(CAPACITY).unwrap()).unwrap();
    // Everybody subscribes before anything is published.
    let subscribers: Vec<_> = (0..SUBSCRIBERS).map(|_| spawn(Box::pin(subscribe(bus.subscribe().unwrap())))).collect();
    let publishers: Vec<_> = (0..PUBLISHERS).map(|p| spawn_unit(Box::pin(publish(bus.clone(), p)))).collect();
    let started = std::time::Instant::now();
    let tallies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let out = tallies.clone();
    block_on(Box::pin(async move {
        futures::future::join_all(publishers).await;
        // Subscriptions end after the events already queued for them.
        assert!(bus.close());
        *out.lock().unwrap() = futures::future::join_all(subscribers).await;
    }));
    let tallies = std::mem::take(&mut *tallies.lock().unwrap());
    assert_eq!(tallies.len(), SUBSCRIBERS);
    for (i, tally) in tallies.iter().enumerate() {
        assert_eq!(tally.seen + tally.lagged, TOTAL, "{runtime}: subscriber {i}: {tally:?}");
        if tally.lagged == 0 {
            assert!(tally.seen_per_publisher.iter().all(|&n| n == EVENTS_PER_PUBLISHER), "{tally:?}");
        }
    }
    let lagged: u64 = tallies.iter().map(|t| t.lagged).sum();
    let reports: u64 = tallies.iter().map(|t| t.lag_reports).sum();
    eprintln!(
        "{runtime}: {SUBSCRIBERS} subscribers × {TOTAL} events in {:?}; lagged {lagged} events in {reports} reports",
        started.elapsed()
    );
}

#[cfg(feature = "tokio")]
#[test]
fn tokio_multi_thread_8x8x100k() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    let handle = rt.handle().clone();
    let spawn_handle = handle.clone();
    stress(
        "tokio_multi",
        move |task| {
            let join = spawn_handle.spawn(task);
            Box::pin(async move { join.await.expect("a subscriber panicked") })
        },
        move |task| {
            let join = handle.spawn(task);
            Box::pin(async move { join.await.expect("a publisher panicked") })
        },
        |main| rt.block_on(main),
    );
}

#[cfg(feature = "smol")]
#[test]
fn smol_two_threads_8x8x100k() {
    use std::sync::Arc;
    let executor = Arc::new(smol::Executor::new());
    let (stop, stopped) = smol::channel::bounded::<()>(1);
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let executor = executor.clone();
            let stopped = stopped.clone();
            std::thread::spawn(move || {
                smol::block_on(executor.run(async move {
                    let _ = stopped.recv().await;
                }));
            })
        })
        .collect();
    let (e1, e2) = (executor.clone(), executor.clone());
    stress("smol_executor", move |task| Box::pin(e1.spawn(task)), move |task| Box::pin(e2.spawn(task)), smol::block_on);
    drop(stop);
    for thread in threads {
        thread.join().unwrap();
    }
}
