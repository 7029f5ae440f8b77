//! Bus fan-out: ns per event per subscriber (a first, small bench; the full comparison
//! against peers is issue [6/8]).
#![allow(missing_docs, clippy::unwrap_used)]

use std::num::NonZeroUsize;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use orchestrator_core::{Bus, Event};

fn fanout(c: &mut Criterion) {
    let mut group = c.benchmark_group("bus_fanout");
    const EVENTS: u64 = 256;
    for subscribers in [1_usize, 4, 16] {
        group.throughput(Throughput::Elements(EVENTS * subscribers as u64));
        group.bench_with_input(BenchmarkId::from_parameter(subscribers), &subscribers, |b, &n| {
            let bus = Bus::with_capacity(NonZeroUsize::new(EVENTS as usize).unwrap());
            let mut subs: Vec<_> = (0..n).map(|_| bus.subscribe().unwrap()).collect();
            let event = std::sync::Arc::new(Event::custom("tick", 0_u64));
            b.iter(|| {
                for _ in 0..EVENTS {
                    bus.emit_shared(event.clone()).unwrap();
                }
                for sub in &mut subs {
                    while let Ok(e) = sub.try_next() {
                        std::hint::black_box(e);
                    }
                }
            });
        });
    }
    group.finish();
}

criterion_group!(benches, fanout);
criterion_main!(benches);
