//! Section 2b: spawn per job against resident runners. What a spawn per job costs on the
//! trivial job, and what it buys when one job blocks its thread.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use orchestrator_benches::{Table, int};
use orchestrator_std::{Dispatcher, Executor, Job, JobContext, JobError};

use crate::harness::{Routine, bench_set, cell, group, ratio_cell};
use crate::jobs::{FLAVORS, MODES};
use crate::runtimes::{Flavor, Rt};
use crate::work::{Echo, Options, dispatch, expect_success};

const RESIDENT: &str = "resident";
const SPAWNED: &str = "spawn-per-job";

/// Quick jobs dispatched behind one blocking job in the head-of-line row.
const QUICK: usize = 64;
/// How long the blocking job holds its thread (`std::thread::sleep`).
const BLOCK: Duration = Duration::from_millis(1);

fn id(flavor: Flavor, contender: &str, row: &str) -> String {
    format!("spawn-mode-{}/{contender}/{row}", flavor.label())
}

/// A job whose executor blocks its thread for [`BLOCK`].
struct Blocking;
impl Job for Blocking {
    type Output = ();
}
struct Sleeper;
impl Executor<Blocking> for Sleeper {
    async fn process(&self, _: &Blocking, _: &JobContext) -> Result<(), JobError> {
        std::thread::sleep(BLOCK);
        Ok(())
    }
}

/// The adapter's ready-made dispatcher on `rt`, in spawn-per-job mode or not.
fn dispatcher(rt: &Rt, spawned: bool) -> Dispatcher {
    let b = rt.dispatcher_builder();
    let b = if spawned { b.spawn_per_job() } else { b };
    rt.run(async move {
        let d = b.build().expect("dispatcher");
        d.register(Echo);
        d.register(Sleeper);
        d
    })
}

/// The trivial job: `batch` dispatched, then their handles awaited.
fn trivial(rt: &Rt, batch: usize, spawned: bool) -> impl FnMut(u64) -> Duration + '_ {
    let d = dispatcher(rt, spawned);
    move |iters| {
        let d = d.clone();
        rt.run(async move {
            let mut handles = Vec::with_capacity(batch);
            let start = Instant::now();
            for _ in 0..iters {
                for i in 0..batch {
                    handles.push(dispatch(&d, i as u64, Options::Plain));
                }
                for h in handles.drain(..) {
                    black_box(expect_success(h.await));
                }
            }
            start.elapsed()
        })
    }
}

/// One blocking job, then [`QUICK`] trivial jobs: the time until the quick jobs are all
/// done (the blocking job is awaited after, untimed).
fn head_of_line(rt: &Rt, spawned: bool) -> impl FnMut(u64) -> Duration + '_ {
    let d = dispatcher(rt, spawned);
    move |iters| {
        let d = d.clone();
        rt.run(async move {
            let mut handles = Vec::with_capacity(QUICK);
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let blocker = d.dispatch(Blocking).expect("dispatch");
                let start = Instant::now();
                for i in 0..QUICK {
                    handles.push(dispatch(&d, i as u64, Options::Plain));
                }
                for h in handles.drain(..) {
                    black_box(expect_success(h.await));
                }
                total += start.elapsed();
                assert!(blocker.await.is_success());
            }
            total
        })
    }
}

pub(crate) fn bench_spawn_mode(c: &mut Criterion, samples: usize) {
    for flavor in FLAVORS {
        let mut g = group(c, &format!("spawn-mode-{}", flavor.label()), samples);
        for (mode, batch) in MODES {
            let rts: Vec<Rt> = (0..2).map(|_| Rt::new(flavor)).collect();
            let set: Vec<(&str, Routine<'_>)> = vec![
                (RESIDENT, Box::new(trivial(&rts[0], batch, false))),
                (SPAWNED, Box::new(trivial(&rts[1], batch, true))),
            ];
            bench_set(&mut g, mode, batch as u64, set);
        }
        let rts: Vec<Rt> = (0..2).map(|_| Rt::new(flavor)).collect();
        let set: Vec<(&str, Routine<'_>)> =
            vec![(RESIDENT, Box::new(head_of_line(&rts[0], false))), (SPAWNED, Box::new(head_of_line(&rts[1], true)))];
        bench_set(&mut g, "head-of-line", QUICK as u64, set);
        g.finish();
    }
}

/// True when a row of this section was measured (a filter may skip them all).
pub(crate) fn measured_any() -> bool {
    FLAVORS.iter().any(|&f| crate::harness::measured(&id(f, RESIDENT, "throughput")))
}

/// Section 2b of a profile's report.
pub(crate) fn section() -> String {
    let mut out = format!(
        "### 2b. Spawn per job vs resident runners\n\nns per job. Both columns use the adapter's ready-made \
         dispatcher (1 runner on current-thread, 2 on the 2-worker runtime and on smol); *spawn per job* adds \
         `DispatcherBuilder::spawn_per_job()`, so each job is a task of the runtime instead of an entry in the \
         runners' queue. *throughput* and *latency*: the trivial job of section 2. *head-of-line*: one job that \
         blocks its thread for {block} ms (`std::thread::sleep`), then {quick} trivial jobs; the time until the \
         {quick} are done, per quick job (the blocking job is awaited after, untimed).\n\n",
        block = BLOCK.as_millis(),
        quick = int(QUICK as u64),
    );
    let mut t = Table::new(&["runtime", "row", "resident runners", "spawn per job", "spawn / resident"]);
    for flavor in FLAVORS {
        for row in MODES.iter().map(|(mode, _)| *mode).chain(["head-of-line"]) {
            let (r, s) = (id(flavor, RESIDENT, row), id(flavor, SPAWNED, row));
            t.row(&[flavor.describe().into(), row.into(), cell(&r), cell(&s), ratio_cell(&s, &r)]);
        }
    }
    out.push_str(&t.finish());
    out.push('\n');
    out
}
