//! Section 1: bus fan-out, ours against tokio broadcast, async-broadcast and a `Vec` of
//! callbacks.

use std::future::Future;
use std::hint::black_box;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::Criterion;
use futures::StreamExt;
use orchestrator_benches::{Table, int};
use orchestrator_std::{Bus, Event};
use tokio::sync::Notify;

use crate::harness::{Routine, bench_set, cell, group, measured, ratio_cell};
use crate::runtimes::{Flavor, Rt};

/// Events per burst (the bus capacity is [`CAPACITY`], so a burst never lags).
pub(crate) const BURST: usize = 256;
pub(crate) const CAPACITY: usize = 1024;

/// Counts subscribers that have received a whole burst; wakes the publisher at the last.
struct Done {
    remaining: AtomicUsize,
    notify: Notify,
}

impl Done {
    fn new() -> Arc<Self> {
        Arc::new(Self { remaining: AtomicUsize::new(0), notify: Notify::new() })
    }

    /// Counts one event received by a subscriber; at the end of a burst, it arrives.
    #[inline]
    fn received(&self, count: &mut usize) {
        *count += 1;
        if *count == BURST {
            *count = 0;
            self.arrive();
        }
    }

    #[inline]
    fn arrive(&self) {
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.notify.notify_one();
        }
    }
}

/// The fan-out harness: `n` subscriber tasks, and a publisher task that emits bursts of
/// [`BURST`] events with `publish` and waits until every subscriber has received them.
/// The unit is one event delivered to one subscriber.
fn fanout_routine<P, M, F>(rt: &Rt, n: usize, publish: P, mut subscribe: M) -> impl FnMut(u64) -> Duration + '_
where
    P: Fn() + Send + Sync + Clone + 'static,
    M: FnMut(Arc<Done>) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    let done = Done::new();
    let spawner = rt.spawner();
    for _ in 0..n {
        spawner.spawn(subscribe(done.clone()));
    }
    move |iters| {
        let (done, publish) = (done.clone(), publish.clone());
        rt.run(async move {
            let start = Instant::now();
            for _ in 0..iters {
                done.remaining.store(n, Ordering::Release);
                for _ in 0..BURST {
                    publish();
                }
                done.notify.notified().await;
            }
            start.elapsed()
        })
    }
}

pub(crate) fn cap() -> NonZeroUsize {
    NonZeroUsize::new(CAPACITY).expect("non-zero")
}

pub(crate) fn the_event() -> Arc<Event> {
    Arc::new(Event::custom("tick", 0_u64))
}

pub(crate) fn fanout_ours(rt: &Rt, n: usize) -> impl FnMut(u64) -> Duration + '_ {
    let bus = Bus::with_capacity(cap()).expect("below the maximum");
    let event = the_event();
    let publisher = bus.clone();
    fanout_routine(
        rt,
        n,
        move || {
            let _ = publisher.emit_shared(event.clone());
        },
        move |done| {
            let mut sub = bus.subscribe().expect("open bus");
            async move {
                let mut count = 0;
                while let Some(item) = sub.next().await {
                    black_box(&item);
                    done.received(&mut count);
                }
            }
        },
    )
}

fn fanout_tokio(rt: &Rt, n: usize) -> impl FnMut(u64) -> Duration + '_ {
    let (tx, _) = tokio::sync::broadcast::channel::<Arc<Event>>(CAPACITY);
    let event = the_event();
    let publisher = tx.clone();
    fanout_routine(
        rt,
        n,
        move || {
            let _ = publisher.send(event.clone());
        },
        move |done| {
            let mut rx = tx.subscribe();
            async move {
                let mut count = 0;
                while let Ok(item) = rx.recv().await {
                    black_box(&item);
                    done.received(&mut count);
                }
            }
        },
    )
}

pub(crate) fn fanout_async_broadcast(rt: &Rt, n: usize) -> impl FnMut(u64) -> Duration + '_ {
    let (tx, rx) = async_broadcast::broadcast::<Arc<Event>>(CAPACITY);
    let event = the_event();
    let mut receivers = vec![rx];
    while receivers.len() < n {
        receivers.push(receivers[0].new_receiver());
    }
    fanout_routine(
        rt,
        n,
        move || {
            let _ = tx.try_broadcast(event.clone());
        },
        move |done| {
            let mut rx = receivers.pop().expect("n receivers");
            async move {
                let mut count = 0;
                while let Ok(item) = rx.recv().await {
                    black_box(&item);
                    done.received(&mut count);
                }
            }
        },
    )
}

type Callback = Box<dyn FnMut(&Arc<Event>) + Send>;

/// The floor: a `Vec` of synchronous callbacks, called in a loop (no runtime).
fn fanout_callbacks(n: usize) -> impl FnMut(u64) -> Duration {
    let mut callbacks: Vec<Callback> = (0..n)
        .map(|_| {
            let mut count = 0_u64;
            Box::new(move |e: &Arc<Event>| {
                black_box(e);
                count += 1;
                black_box(count);
            }) as Callback
        })
        .collect();
    let event = the_event();
    move |iters| {
        let start = Instant::now();
        for _ in 0..iters {
            for _ in 0..BURST {
                for cb in &mut callbacks {
                    cb(&event);
                }
            }
        }
        start.elapsed()
    }
}

const FANOUT_NS: [usize; 4] = [1, 4, 16, 64];

pub(crate) fn bench_fanout(c: &mut Criterion, samples: usize) {
    for (flavor, ns) in [(Flavor::TokioCurrent, &FANOUT_NS[..]), (Flavor::TokioMulti, &FANOUT_NS[3..])] {
        let mut g = group(c, &format!("fanout-{}", flavor.label()), samples);
        for &n in ns {
            let (a, b, t) = (Rt::new(flavor), Rt::new(flavor), Rt::new(flavor));
            let mut set: Vec<(&str, Routine<'_>)> = vec![
                ("ours", Box::new(fanout_ours(&a, n))),
                ("async-broadcast", Box::new(fanout_async_broadcast(&b, n))),
                ("tokio-broadcast", Box::new(fanout_tokio(&t, n))),
            ];
            if flavor == Flavor::TokioCurrent {
                set.push(("callbacks", Box::new(fanout_callbacks(n))));
            }
            bench_set(&mut g, &n.to_string(), (BURST * n) as u64, set);
        }
        g.finish();
    }
}

/// The fan-out table of the report (rows not measured show "—"), also printed by a
/// filtered run (`-- fanout`), which writes no report. `None` when no row was measured.
pub(crate) fn fanout_table() -> Option<String> {
    let mut any = false;
    let mut t = Table::new(&[
        "runtime",
        "N",
        "ours",
        "async-broadcast",
        "tokio broadcast",
        "callbacks (floor)",
        "ours / async-broadcast",
        "ours / tokio broadcast",
    ]);
    for (flavor, ns) in [(Flavor::TokioCurrent, &FANOUT_NS[..]), (Flavor::TokioMulti, &FANOUT_NS[3..])] {
        for &nsubs in ns {
            let g = format!("fanout-{}", flavor.label());
            let (o, a, tk, cb) = (
                format!("{g}/ours/{nsubs}"),
                format!("{g}/async-broadcast/{nsubs}"),
                format!("{g}/tokio-broadcast/{nsubs}"),
                format!("{g}/callbacks/{nsubs}"),
            );
            any |= measured(&o);
            t.row(&[
                flavor.describe().into(),
                int(nsubs as u64),
                cell(&o),
                cell(&a),
                cell(&tk),
                cell(&cb),
                ratio_cell(&o, &a),
                ratio_cell(&o, &tk),
            ]);
        }
    }
    any.then(|| t.finish())
}

/// Section 1 of a profile's report.
pub(crate) fn section() -> String {
    format!(
        "### 1. Bus fan-out\n\nns per event per subscriber. One publisher task emits bursts of {BURST} events (an \
         `Arc<Event>` clone each: `Bus::emit_shared`, `broadcast::Sender::send`, \
         `async_broadcast::Sender::try_broadcast`) into a channel of capacity {CAPACITY}, then waits until every \
         subscriber task (awaiting the stream / `recv()`) has received the burst. The floor is a `Vec` of boxed \
         `FnMut(&Arc<Event>)` called in a loop.\n\n{}\n",
        fanout_table().unwrap_or_default()
    )
}
