//! Section 4: the orchestrator's round trip (command → job → event → state), with and
//! without loop protection.

use std::time::{Duration, Instant};

use criterion::Criterion;
use futures::StreamExt;
use orchestrator_benches::{Table, int};
use orchestrator_std::tokio::TokioRuntime;
use orchestrator_std::{Context, Event, Orchestrator};

use crate::harness::{Routine, bench_set, cell, group, ratio_cell, stats};
use crate::runtimes::{Flavor, Rt};
use crate::work::{BATCH, Echo, Work};

/// Counts completed round trips: each command dispatches a `Work` job; its success
/// increments the state.
struct Counter;

impl Orchestrator for Counter {
    type State = u64;
    type Command = u64;

    fn handle(&mut self, n: u64, ctx: &mut Context<'_, Self>) {
        let _ = ctx.dispatch(Work(n));
    }

    fn on_active_success(&mut self, event: &Event, ctx: &mut Context<'_, Self>) {
        if event.data_as::<u64>().is_some() {
            ctx.update_state(|s| *s += 1);
        }
    }
}

/// `batch` commands sent, then wait until the state shows all of their results. With
/// `protected`, the host has its default loop protection (the causal depth limit); without,
/// none (`no_loop_protection()`): the difference is what loop protection costs.
pub(crate) fn orchestrator_routine(rt: &Rt, batch: u64, protected: bool) -> impl FnMut(u64) -> Duration + '_ {
    crowded_routine(rt, batch, protected, 1)
}

/// Orchestrators on one bus in the scaling row.
pub(crate) const CROWDS: [usize; 4] = [1, 10, 100, 1_000];
/// Their names in the row ids (`orchestrators-tokio-ct/<name>/throughput`).
pub(crate) const CROWD_NAMES: [&str; 4] = ["1", "10", "100", "1000"];

/// [`orchestrator_routine`] with `orchestrators - 1` more hosts on the same bus and
/// dispatcher, idle (they get no command): each of the measured host's events is foreign
/// to them.
fn crowded_routine(rt: &Rt, batch: u64, protected: bool, orchestrators: usize) -> impl FnMut(u64) -> Duration + '_ {
    let handle = rt.run({
        let b = rt.dispatcher_builder();
        let spawner = match rt {
            Rt::Tokio(rt) => TokioRuntime::with_handle(rt.handle().clone()),
            Rt::Smol(_) => unreachable!("tokio only"),
        };
        async move {
            let d = b.build().expect("dispatcher");
            d.register(Echo);
            for _ in 1..orchestrators {
                // Kept alive by their spawned hosts until the runtime goes.
                let _idle = Counter.builder(0, &d).spawn(&spawner).expect("host");
            }
            let builder = Counter.builder(0, &d);
            let builder = if protected { builder } else { builder.no_loop_protection() };
            builder.spawn(&spawner).expect("host")
        }
    });
    move |iters| {
        let handle = handle.clone();
        rt.run(async move {
            let mut states = handle.states();
            let mut seen = states.next().await.expect("state");
            let start = Instant::now();
            for _ in 0..iters {
                let target = seen + batch;
                for i in 0..batch {
                    handle.send(i).await.expect("host alive");
                }
                while seen < target {
                    seen = states.next().await.expect("state");
                }
            }
            start.elapsed()
        })
    }
}

pub(crate) fn bench_orchestrator(c: &mut Criterion, samples: usize) {
    let mut g = group(c, "orchestrator-tokio-ct", samples);
    for (mode, batch) in [("throughput", BATCH as u64), ("latency", 1)] {
        let rt = Rt::new(Flavor::TokioCurrent);
        bench_set(
            &mut g,
            mode,
            batch,
            vec![
                ("ours", Box::new(orchestrator_routine(&rt, batch, true))),
                ("unprotected", Box::new(orchestrator_routine(&rt, batch, false))),
            ],
        );
    }
    g.finish();
    let mut g = group(c, "orchestrators-tokio-ct", samples);
    let rt = Rt::new(Flavor::TokioCurrent);
    let routines: Vec<(&str, Routine<'_>)> = CROWD_NAMES
        .iter()
        .zip(CROWDS)
        .map(|(name, n)| (*name, Box::new(crowded_routine(&rt, BATCH as u64, true, n)) as Routine<'_>))
        .collect();
    bench_set(&mut g, "throughput", BATCH as u64, routines);
    g.finish();
}

/// Section 4 of a profile's report.
pub(crate) fn section() -> String {
    let mut out = format!(
        "### 4. Orchestrator round trip\n\nA command sent through `OrchestratorHandle::send` → \
         `Orchestrator::handle` dispatches a job → the executor → the `Success` event on the bus → \
         `on_active_success` updates the state → the new state seen on `OrchestratorHandle::states()`. Host and \
         dispatcher spawned on tokio current-thread by the tokio adapter; one subscriber (the host) on the bus, \
         so every job's events are built and delivered. *throughput*: {batch} commands sent, then wait for the \
         state that counts all {batch} results; *latency*: one command, then wait for its state. The host has \
         its default loop protection (the causal depth limit; no rate-based breaker). *unprotected* is the same \
         host with `no_loop_protection()`, measured in the same samples: the ratio is what loop protection \
         costs per round trip (4 events: the job's Started and Success reach the host, each checked once).\n\n",
        batch = int(BATCH as u64)
    );
    let mut t = Table::new(&[
        "mode",
        "ns per round trip",
        "round trips per second",
        "unprotected: ns per round trip",
        "protected / unprotected",
    ]);
    for mode in ["throughput", "latency"] {
        let (o, u) =
            (format!("orchestrator-tokio-ct/ours/{mode}"), format!("orchestrator-tokio-ct/unprotected/{mode}"));
        t.row(&[
            mode.into(),
            cell(&o),
            stats(&o).map_or_else(|| "not measured".into(), |o| format!("{:.2} M", 1e3 / o.median())),
            cell(&u),
            ratio_cell(&o, &u),
        ]);
    }
    out.push_str(&t.finish());
    out.push('\n');
    out.push_str(
        "**Orchestrators on one bus.** The throughput round trip of one host while `n - 1` other hosts (the same \
         orchestrator type, idle) share its bus and dispatcher, all measured in the same samples. Each host gets \
         its own jobs' events directly (its route); one whose orchestrator keeps the default `on_passive_event` \
         stops reading the bus after the first event of another job, so the others' events cost it nothing.\n\n",
    );
    let mut t = Table::new(&["orchestrators on the bus", "ns per round trip", "ratio to 1 orchestrator"]);
    let one = "orchestrators-tokio-ct/1/throughput";
    for name in CROWD_NAMES {
        let id = format!("orchestrators-tokio-ct/{name}/throughput");
        t.row(&[name.into(), cell(&id), ratio_cell(&id, one)]);
    }
    out.push_str(&t.finish());
    out.push('\n');
    out
}
