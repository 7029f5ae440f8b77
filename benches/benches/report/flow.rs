//! Section 2c: flow control. What a dispatch costs under each policy, against the plain
//! dispatch of section 2, on tokio's current-thread runtime (one runner: every dispatch
//! of a batch happens before the runner polls any of them).

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::Criterion;
use orchestrator_benches::Table;
use orchestrator_std::{Dispatcher, Executor, FlowPolicy, Job, JobBuilder, JobContext, JobError};

use crate::harness::{Routine, bench_set, cell, group, ratio_cell};
use crate::runtimes::{Flavor, Rt};
use crate::work::{BATCH, Echo, expect_success};

const GROUP: &str = "flow-tokio-ct";
/// Rows: (contender, what it is).
const ROWS: [(&str, &str); 6] = [
    (PLAIN, "plain dispatch, no flow control anywhere (section 2's trivial job)"),
    ("plain-beside-a-policy", "plain dispatch on a dispatcher where another job type has a policy"),
    ("own-key-serial", "each job with a key of its own, serial (a ticket taken and given back)"),
    ("capped", "plain dispatch under a global cap it never reaches (a permit taken and given back)"),
    (JOIN, "1 000 dispatches with one key and join: 1 execution, 999 joined handles"),
    (JOIN_CROWDED, "the same, with 10 000 other keys in flight (a lookup is O(1))"),
];
/// Other keys in flight in the crowded join row: jobs waiting out an hour-long debounce.
const CROWD: u64 = 10_000;
const JOIN_CROWDED: &str = "join-beside-10k-keys";
const PLAIN: &str = "plain";
pub(crate) const JOIN: &str = "join";

/// A job type that only exists to carry a policy.
struct Other;
impl Job for Other {
    type Output = ();
}
struct Nothing;
impl Executor<Other> for Nothing {
    async fn process(&self, _: &Other, _: &JobContext) -> Result<(), JobError> {
        Ok(())
    }
}

/// The trivial job, counting its executions.
struct Counted(u64);
impl Job for Counted {
    type Output = u64;
}
struct CountingEcho(Arc<AtomicU64>);
impl Executor<Counted> for CountingEcho {
    async fn process(&self, job: &Counted, _: &JobContext) -> Result<u64, JobError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(black_box(job.0))
    }
}

fn dispatcher(rt: &Rt, row: &str, executions: &Arc<AtomicU64>) -> Dispatcher {
    let b = rt.dispatcher_builder();
    let b = if row == "capped" { b.max_concurrent(1 << 20) } else { b };
    let (row, executions) = (row.to_owned(), executions.clone());
    rt.run(async move {
        let d = b.build().expect("dispatcher");
        d.register(Echo);
        d.register(Nothing);
        d.register(CountingEcho(executions));
        if row == "plain-beside-a-policy" {
            d.set_flow::<Other>(FlowPolicy::drop_while_busy()).expect("a valid policy");
        }
        if row == JOIN_CROWDED {
            // Never run: they wait out their debounce, and are abandoned with the runtime.
            let wait = FlowPolicy::concurrent().with_debounce(Duration::from_secs(3600));
            for key in 1..=CROWD {
                std::mem::forget(d.dispatch(JobBuilder::new(Other).key(key).flow(wait)).expect("dispatch"));
            }
        }
        d
    })
}

/// `BATCH` dispatches of `row`, then their handles awaited.
pub(crate) fn routine<'a>(rt: &'a Rt, row: &'static str) -> impl FnMut(u64) -> Duration + 'a {
    let executions = Arc::new(AtomicU64::new(0));
    let d = dispatcher(rt, row, &executions);
    move |iters| {
        let (d, executions) = (d.clone(), executions.clone());
        rt.run(async move {
            let mut handles = Vec::with_capacity(BATCH);
            let before = executions.load(Ordering::Relaxed);
            let start = Instant::now();
            for _ in 0..iters {
                for i in 0..BATCH as u64 {
                    handles.push(match row {
                        "own-key-serial" => {
                            d.dispatch(JobBuilder::new(Counted(i)).key(i).flow(FlowPolicy::serial())).expect("dispatch")
                        }
                        JOIN | JOIN_CROWDED => d
                            .dispatch(JobBuilder::new(Counted(i)).key(0_u64).flow(FlowPolicy::join()))
                            .expect("dispatch"),
                        _ => d.dispatch(Counted(i)).expect("dispatch"),
                    });
                }
                for h in handles.drain(..) {
                    black_box(expect_success(h.await));
                }
            }
            let elapsed = start.elapsed();
            let ran = executions.load(Ordering::Relaxed) - before;
            let expected = if row == JOIN || row == JOIN_CROWDED { iters } else { iters * BATCH as u64 };
            assert_eq!(ran, expected, "{row}: executions");
            elapsed
        })
    }
}

pub(crate) fn bench_flow(c: &mut Criterion, samples: usize) {
    let mut g = group(c, GROUP, samples);
    let rts: Vec<Rt> = ROWS.iter().map(|_| Rt::new(Flavor::TokioCurrent)).collect();
    let set: Vec<(&str, Routine<'_>)> =
        ROWS.iter().zip(&rts).map(|(&(row, _), rt)| (row, Box::new(routine(rt, row)) as Routine<'_>)).collect();
    bench_set(&mut g, "dispatch", BATCH as u64, set);
    g.finish();
}

fn id(row: &str) -> String {
    format!("{GROUP}/{row}/dispatch")
}

/// True when this section was measured (a filter may skip it).
pub(crate) fn measured_any() -> bool {
    crate::harness::measured(&id(PLAIN))
}

/// The cost of the plain dispatch and of 1 000 joined dispatches, for the goal table.
pub(crate) fn join_ids() -> (String, String) {
    (id(JOIN), id(PLAIN))
}

/// Section 2c of a profile's report.
pub(crate) fn section() -> String {
    let mut out = String::from(
        "### 2c. Flow control\n\nns per dispatch (dispatched, run, result awaited), batches of 1 000, tokio \
         current-thread, one runner. Each row's executions are counted and checked: the join row runs one \
         execution per 1 000 dispatches.\n\n",
    );
    let mut t = Table::new(&["row", "what", "ns per dispatch", "vs plain"]);
    for (row, what) in ROWS {
        t.row(&[row.into(), what.into(), cell(&id(row)), ratio_cell(&id(row), &id(PLAIN))]);
    }
    out.push_str(&t.finish());
    out.push('\n');
    out
}
